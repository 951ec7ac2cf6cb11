package wait

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/kube/readiness"
)

// The first line of a wait's error (what the trace line, the stop report
// and a CI log show) carries the last known reason of every object that was
// not ready, whatever ended the wait; the blocks below keep the details.
func TestErrorFirstLineCarriesEveryReason(t *testing.T) {
	pvc := ObjectStatus{ID: "PersistentVolumeClaim/ns/data", Result: readiness.Result{State: readiness.Failed,
		Reason: readiness.ReasonStorageClassNotFound, Message: `storage class "nope" does not exist`,
		Events: []string{`Warning ProvisioningFailed PersistentVolumeClaim/data: storageclass.storage.k8s.io "nope" not found`}}}
	job := ObjectStatus{ID: "Job/ns/migrate", Result: readiness.Result{State: readiness.Failed, Reason: "BackoffLimitExceeded",
		Message: "Job has reached the specified backoff limit; pod migrate-q7x2m failed: container migrate exited with code 1",
		Pod:     "migrate-q7x2m", Container: "migrate", LastTermination: "Error, exit code 1: relation \"orders\" does not exist"}}
	api := ObjectStatus{ID: "Deployment/ns/api", Result: readiness.Result{State: readiness.Progressing,
		Reason: "ReplicasUnavailable", Message: "0/2 updated replicas available"}}
	web := ObjectStatus{ID: "Service/ns/web", Result: readiness.Result{State: readiness.Ready}}
	missing := ObjectStatus{ID: "ConfigMap/ns/later", Result: readiness.Result{State: readiness.NotFound, Reason: "NotFound", Message: "object does not exist"}}
	lb := ObjectStatus{ID: "Service/ns/edge", Result: readiness.Result{State: readiness.Progressing, Reason: readiness.ReasonAwaitingLoadBalancer, Message: "no address"}}
	report := func(objs ...ObjectStatus) *Report {
		return &Report{Objects: objs, Elapsed: 2100 * time.Millisecond}
	}
	for _, tt := range []struct {
		name string
		err  *Error
		want string
	}{
		{"one failed", &Error{Cause: CauseFailed, Report: report(pvc, web)},
			`PersistentVolumeClaim/ns/data failed after 2.1s (1/2 ready): StorageClassNotFound: storage class "nope" does not exist`},
		{"failed, with the others not ready yet", &Error{Cause: CauseFailed, Report: report(job, api, web, missing)},
			`Job/ns/migrate failed after 2.1s (1/4 ready): BackoffLimitExceeded: Job has reached the specified backoff limit; ` +
				`pod migrate-q7x2m failed: container migrate exited with code 1 (last termination: Error, exit code 1: relation "orders" does not exist); ` +
				`not ready yet: Deployment/ns/api (ReplicasUnavailable: 0/2 updated replicas available); ConfigMap/ns/later (NotFound: object does not exist)`},
		{"two failed", &Error{Cause: CauseFailed, Report: report(pvc, job)},
			`2 objects failed after 2.1s (0/2 ready): PersistentVolumeClaim/ns/data: StorageClassNotFound: storage class "nope" does not exist; ` +
				`Job/ns/migrate: BackoffLimitExceeded: Job has reached the specified backoff limit; pod migrate-q7x2m failed: container migrate exited with code 1 ` +
				`(last termination: Error, exit code 1: relation "orders" does not exist)`},
		{"timeout", &Error{Cause: CauseTimeout, Timeout: 5 * time.Minute, Report: report(api, web, missing)},
			`timed out after 5m0s: 1/3 ready, not ready: Deployment/ns/api (ReplicasUnavailable: 0/2 updated replicas available); ConfigMap/ns/later (NotFound: object does not exist)`},
		{"load balancer", &Error{Cause: CauseLoadBalancer, Timeout: time.Minute, Report: report(lb, api)},
			`no load balancer address after 1m0s for Service/ns/edge (0/2 ready); not ready yet: Deployment/ns/api (ReplicasUnavailable: 0/2 updated replicas available)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := tt.err.Error()
			first, rest, _ := strings.Cut(msg, "\n")
			if first != tt.want {
				t.Errorf("first line:\n%s\nwant:\n%s", first, tt.want)
			}
			if !strings.HasPrefix(rest, "  ") {
				t.Errorf("no detail blocks under the first line:\n%s", msg)
			}
		})
	}

	long := api
	long.Result.Message = strings.Repeat("é", 400)
	if got := reasonOf(long); len(got) > maxReason || !strings.HasSuffix(got, "...") {
		t.Errorf("a long reason is not cut: %d bytes", len(got))
	}
}

// The JSON detail of a wait (the trace's detail of a failed wait_ready)
// carries each object's state and reason.
func TestReportJSONCarriesReasons(t *testing.T) {
	r := &Report{Objects: []ObjectStatus{{ID: "PersistentVolumeClaim/ns/data", Kind: "PersistentVolumeClaim", Namespace: "ns", Name: "data",
		Result: readiness.Result{State: readiness.Failed, Reason: readiness.ReasonStorageClassNotFound, Message: `storage class "nope" does not exist`}}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `"state":"Failed","reason":"StorageClassNotFound","message":"storage class \"nope\" does not exist"`
	if !strings.Contains(string(b), want) {
		t.Errorf("JSON %s lacks %s", b, want)
	}
}
