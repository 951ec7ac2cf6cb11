package wait

import (
	"context"
	"fmt"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
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
		if got := exit.Code(waitError(tc.err)); got != tc.code {
			t.Errorf("waitError(%v) code %d; want %d", tc.err, got, tc.code)
		}
	}
}
