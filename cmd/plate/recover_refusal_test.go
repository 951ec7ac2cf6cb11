package main

import (
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/lock"
)

// Recover refuses while an operation may still be running: a live plate
// run holds the release's lock, or the pending revision is younger than the
// window and no lock says that its run died.
func TestRecoverRefusals(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pending := func(age time.Duration) helm.Revision {
		return helm.Revision{Revision: 2, Status: helm.StatusPendingUpgrade, Updated: now.Add(-age)}
	}
	holder := func(started time.Time) lock.Holder {
		return lock.Holder{User: "ci", Host: "runner-1", PID: 42, Plan: "deploy.star", Since: started}
	}
	live := &lock.Status{Lease: "prod/plate-release-api", Live: true, Holder: holder(now.Add(-time.Hour))}
	deadBefore := &lock.Status{Lease: "prod/plate-release-api", Dead: true, Holder: holder(now.Add(-time.Minute))}
	deadAfter := &lock.Status{Lease: "prod/plate-release-api", Dead: true, Holder: holder(now.Add(-time.Second))}
	expired := &lock.Status{Lease: "prod/plate-release-api", Holder: holder(now.Add(-time.Hour))}
	for _, tc := range []struct {
		name   string
		latest helm.Revision
		locks  []*lock.Status
		want   []string
	}{
		{"live lock, old revision", pending(time.Hour), []*lock.Status{live}, []string{"a plate run holds the release's lock and may still be working on rev 2: ci@runner-1 (pid 42)"}},
		{"live lock, recent revision", pending(30 * time.Second), []*lock.Status{live}, []string{"a plate run holds the release's lock", "rev 2 became pending-upgrade 30s ago, less than 5 minutes ago"}},
		{"recent revision, no lock", pending(4 * time.Minute), nil, []string{"rev 2 became pending-upgrade 4m0s ago, less than 5 minutes ago: the operation may still be running"}},
		{"recent revision, expired lock", pending(2 * time.Minute), []*lock.Status{expired}, []string{"less than 5 minutes ago"}},
		{"recent revision of a run that died here", pending(30 * time.Second), []*lock.Status{deadBefore}, nil},
		{"recent revision, a dead run that began after it", pending(30 * time.Second), []*lock.Status{deadAfter}, []string{"less than 5 minutes ago"}},
		{"old revision, no lock", pending(5 * time.Minute), nil, nil},
		{"old revision, expired lock", pending(time.Hour), []*lock.Status{expired}, nil},
	} {
		got := recoverRefusals(tc.latest, tc.locks, now)
		joined := strings.Join(got, "\n")
		if len(tc.want) == 0 && len(got) != 0 {
			t.Errorf("%s: refused: %s", tc.name, joined)
		}
		for _, w := range tc.want {
			if !strings.Contains(joined, w) {
				t.Errorf("%s: refusal %q lacks %q", tc.name, joined, w)
			}
		}
	}
}
