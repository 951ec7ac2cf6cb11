package wait

import (
	"context"
	"fmt"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube/readiness"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
)

func TestWaitErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{&kwait.Error{Cause: kwait.CauseTimeout, Report: &kwait.Report{}}, exit.Timeout},
		{&kwait.Error{Cause: kwait.CauseLoadBalancer, Report: &kwait.Report{}}, exit.Timeout},
		{&kwait.Error{Cause: kwait.CauseFailed, Report: &kwait.Report{}}, exit.PlanFailed},
		{fmt.Errorf("x: %w", kwait.ErrUnknownKind), exit.Usage},
		{context.Canceled, exit.Interrupted},
		{fmt.Errorf("cannot watch the objects: forbidden"), exit.PlanFailed},
	} {
		if got := exit.Code(waitError(tc.err, nil)); got != tc.code {
			t.Errorf("waitError(%v) code %d; want %d", tc.err, got, tc.code)
		}
	}
}

// An interrupted wait says what was not ready yet, and why.
func TestInterruptedWaitNamesWhatWasNotReady(t *testing.T) {
	last := &kwait.Report{Objects: []kwait.ObjectStatus{
		{ID: "Deployment/ns/web", Result: readiness.Result{State: readiness.Ready}},
		{ID: "PersistentVolumeClaim/ns/data", Result: readiness.Result{State: readiness.Progressing, Reason: "Pending",
			Message: "waiting for a volume from storage class standard"}},
	}}
	err := waitError(context.Canceled, last)
	want := "wait_ready: interrupted; not ready: PersistentVolumeClaim/ns/data (Pending: waiting for a volume from storage class standard)"
	if exit.Code(err) != exit.Interrupted || err.Error() != want {
		t.Errorf("got %q (code %d)\nwant %q", err, exit.Code(err), want)
	}
}
