// Package lock keeps two plate runs from changing the same thing at once.
//
// A run that writes takes coordination.k8s.io/v1 Leases in the target
// cluster: one per Helm release its preflight says it will change, in the
// release's namespace (so a user confined to that namespace can take it),
// named after the release. Any second run (any plan, any parameters) that
// would change a locked release is refused with the holder's user, host,
// pid, plan, parameters and start time. A run that changes no release locks
// its plan in its namespace instead. Leases are taken in a fixed order,
// renewed while the run lasts, released at its end, and a lease whose
// holder stopped renewing it (a killed run) expires and is taken over; the
// takeover is reported. A dry run takes no lock.
//
// A lock fences its run: Check, called before each write, fails once the
// lease was taken by another holder or deleted, or once it went longer
// than its TTL without a successful renewal (failed renewals, or a process
// that was paused); from then on the lock stays lost.
package lock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/plate-dev/plate/internal/exit"
)

// DefaultTTL is how long a lease lives without renewal.
const DefaultTTL = 60 * time.Second

// HolderAnnotation holds the JSON Holder on the Lease.
const HolderAnnotation = "plate.dev/holder"

// Holder describes who holds a lease.
type Holder struct {
	User  string    `json:"user"`
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Plan  string    `json:"plan"`
	Env   string    `json:"env"`
	Since time.Time `json:"since"`
}

func (h Holder) String() string {
	return fmt.Sprintf("%s@%s (pid %d), running %s%s since %s", h.User, h.Host, h.PID, h.Plan, h.Env, h.Since.UTC().Format(time.RFC3339))
}

// Me describes this process as a holder.
func Me(plan, env string, now time.Time) Holder {
	h := Holder{PID: os.Getpid(), Plan: plan, Env: env, Since: now}
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	}
	h.Host, _ = os.Hostname()
	return h
}

// ReleaseKey names the Lease of release name (in the release's namespace).
// Helm release names are DNS labels of at most 53 characters, so the name
// is a valid Lease name.
func ReleaseKey(release string) string { return "plate-release-" + release }

// PlanKey names the lock of a run that changes no Helm release: its plan
// in its default namespace. Parameters do not take part: two runs of a
// plan with different -p values would change the same objects.
func PlanKey(plan, namespace string) string {
	sum := sha256.Sum256([]byte(plan + "\x00" + namespace))
	base := strings.ToLower(plan)
	base = strings.TrimSuffix(base, ".star")
	var b strings.Builder
	for _, r := range base {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	short := strings.Trim(b.String(), "-")
	if len(short) > 40 {
		short = short[len(short)-40:]
	}
	return "plate-run-" + strings.Trim(short, "-") + "-" + hex.EncodeToString(sum[:5])
}

// Env describes a run's environment for its holder record: the default
// namespace and the parameters, sorted, each value replaced by a short
// digest: a lock tells runs apart without storing a value (a -p may carry
// a password).
func Env(namespace string, params []string) string {
	ps := append([]string(nil), params...)
	sort.Strings(ps)
	env := ""
	if namespace != "" {
		env = " -n " + namespace
	}
	for _, p := range ps {
		name, value, _ := strings.Cut(p, "=")
		sum := sha256.Sum256([]byte(value))
		env += " -p " + name + "=#" + hex.EncodeToString(sum[:4])
	}
	return env
}

// Target is one lease to take.
type Target struct {
	Namespace, Name string
	// Force takes the lease even from a live holder (plate recover
	// --force); that holder's run then stops before its next write.
	Force bool
	// Guard, when set, is a lease that must not be held by another live
	// run either; it is read, not taken (see ReleaseTargets).
	Guard *Target
}

// ReleaseTargets are the leases of release name in namespace. The lease
// lives in the release's namespace; a namespace that does not exist yet (the
// run creates it) cannot hold one, so the lease is then taken in
// fallbackNamespace under a name that includes the namespace. A run that
// finds the namespace takes the lease there and checks the fallback one
// too, so that a run which created the namespace is still seen.
func ReleaseTargets(namespace, name string, exists bool, fallbackNamespace string) Target {
	fallback := Target{Namespace: fallbackNamespace, Name: "plate-release-" + namespace + "." + name}
	if !exists {
		return fallback
	}
	return Target{Namespace: namespace, Name: ReleaseKey(name), Guard: &fallback}
}

// Set is the leases of one run.
type Set struct {
	Locks []*Lock

	// The reads of Check are shared: concurrent writes that ask while a
	// check is in flight wait for it and take its answer.
	checkMu  sync.Mutex
	inflight chan struct{}
	lastErr  error
}

// AcquireAll takes every target's lease, in a fixed order (namespace, then
// name), so that two runs wanting overlapping sets cannot each hold a part
// and wait for the other. When one is held by another live run it releases
// the ones it took and returns *HeldError. TTL and Now are as for Acquire.
func AcquireAll(ctx context.Context, cs kubernetes.Interface, targets []Target, holder Holder, ttl time.Duration, now func() time.Time) (*Set, error) {
	ts := append([]Target(nil), targets...)
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Namespace != ts[j].Namespace {
			return ts[i].Namespace < ts[j].Namespace
		}
		return ts[i].Name < ts[j].Name
	})
	if now == nil {
		now = time.Now
	}
	set := &Set{}
	for i, t := range ts {
		if i > 0 && t.Namespace == ts[i-1].Namespace && t.Name == ts[i-1].Name {
			continue
		}
		if g := t.Guard; g != nil && !t.Force {
			if err := checkFree(ctx, cs, *g, now()); err != nil {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				set.Release(rctx)
				cancel()
				return nil, err
			}
		}
		l, err := Acquire(ctx, cs, Options{Namespace: t.Namespace, Name: t.Name, Holder: holder, TTL: ttl, Now: now, Force: t.Force})
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			set.Release(rctx)
			cancel()
			return nil, err
		}
		set.Locks = append(set.Locks, l)
	}
	return set, nil
}

// checkFree returns *HeldError when lease t is held by another live run. A
// lease that does not exist, or that the user may not read (a
// namespace-scoped user and the fallback namespace), is free.
func checkFree(ctx context.Context, cs kubernetes.Interface, t Target, now time.Time) error {
	cur, err := cs.CoordinationV1().Leases(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the run lock %s/%s: %w", t.Namespace, t.Name, err)
	}
	if h := holderOf(cur); held(cur, now) && !deadHere(h) {
		return &HeldError{Lease: t.Namespace + "/" + t.Name, Holder: h}
	}
	return nil
}

// Refused is the error of a run or command that could not take its locks:
// exit code 1, the holder named, and what the caller did not do ("nothing
// was written").
func Refused(err error, nothing string) error {
	var held *HeldError
	if errors.As(err, &held) {
		return &exit.Error{Code: exit.PlanFailed, Msg: err.Error() + "; " + nothing, Err: err,
			Hint: "wait for that run to finish; a lock whose run was killed expires after " + DefaultTTL.String()}
	}
	return exit.Wrap(exit.PlanFailed, err)
}

// Release frees every lease of the set, in reverse order; it returns the
// first error.
func (s *Set) Release(ctx context.Context) error {
	var first error
	for i := len(s.Locks) - 1; i >= 0; i-- {
		if err := s.Locks[i].Release(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Check returns the *LostError of the first lock of the set that is lost
// (see Lock.Check), nil while the run holds them all. The locks are
// checked at once.
func (s *Set) Check(ctx context.Context) error {
	if err := s.Lost(); err != nil {
		return err
	}
	s.checkMu.Lock()
	if s.inflight != nil {
		ch := s.inflight
		s.checkMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
		s.checkMu.Lock()
		err := s.lastErr
		s.checkMu.Unlock()
		return err
	}
	ch := make(chan struct{})
	s.inflight = ch
	s.checkMu.Unlock()
	err := s.checkAll(ctx)
	s.checkMu.Lock()
	s.inflight, s.lastErr = nil, err
	s.checkMu.Unlock()
	close(ch)
	return err
}

// checkAll reads the leases of the set with one list per namespace (a run
// of many releases holds as many leases: reading each before every write
// would grow with their square), at once, and judges each lock as
// Lock.Check does.
func (s *Set) checkAll(ctx context.Context) error {
	type group struct {
		cs    kubernetes.Interface
		ns    string
		locks []*Lock
	}
	var groups []*group
	for _, l := range s.Locks {
		if err := l.Lost(); err != nil {
			return err
		}
		if lost := l.expired(); lost != nil {
			return lost
		}
		var g *group
		for _, x := range groups {
			if x.cs == l.cs && x.ns == l.namespace {
				g = x
			}
		}
		if g == nil {
			g = &group{cs: l.cs, ns: l.namespace}
			groups = append(groups, g)
		}
		g.locks = append(g.locks, l)
	}
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ttl := g.locks[0].ttl
			rctx, cancel := context.WithTimeout(ctx, min(ttl/3, checkTimeout))
			defer cancel()
			list, err := g.cs.CoordinationV1().Leases(g.ns).List(rctx, metav1.ListOptions{})
			if err != nil && ctx.Err() != nil {
				return // interrupted: the write does not happen either
			}
			if apierrors.IsForbidden(err) {
				// A user who may get leases but not list them: one read
				// per lock.
				for _, l := range g.locks {
					if lerr := l.Check(ctx); lerr != nil {
						errs[i] = lerr
						return
					}
				}
				return
			}
			byName := map[string]*coordinationv1.Lease{}
			if err == nil {
				for j := range list.Items {
					byName[list.Items[j].Name] = &list.Items[j]
				}
			}
			for _, l := range g.locks {
				cur, lerr := byName[l.name], err
				if lerr == nil && cur == nil {
					lerr = apierrors.NewNotFound(coordinationv1.Resource("leases"), l.name)
				}
				if lost := l.judge(cur, lerr); lost != nil {
					errs[i] = lost
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Lost returns the *LostError of the first lock of the set that its
// renewals found lost, without asking the cluster; nil otherwise.
func (s *Set) Lost() error {
	for _, l := range s.Locks {
		if err := l.Lost(); err != nil {
			return err
		}
	}
	return nil
}

// OnLost calls fn once, from the renewal goroutine, when a renewal finds a
// lock of the set lost, and warn when a renewal fails (once per run of
// failures). Either may be nil.
func (s *Set) OnLost(fn func(*LostError), warn func(error)) {
	for _, l := range s.Locks {
		l.mu.Lock()
		l.onLost, l.onWarn = fn, warn
		l.mu.Unlock()
	}
}

// HeldError is returned when another live run holds the lock.
type HeldError struct {
	Lease  string
	Holder Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("another plate run holds the lock %s: %s", e.Lease, e.Holder)
}

// LostError says that a run no longer holds a lock: another holder took
// the lease, the lease was deleted, or it went longer than its TTL without
// a successful renewal (then another run may have taken it in between).
type LostError struct {
	Lease string
	// Holder is the lease's new holder, when another run took it.
	Holder *Holder
	// Reason says how it was lost.
	Reason string
	// At is when this run found it lost.
	At time.Time
}

func (e *LostError) Error() string {
	return fmt.Sprintf("this run lost its lock %s: %s", e.Lease, e.Reason)
}

// Lock is a held lease.
type Lock struct {
	cs        kubernetes.Interface
	namespace string
	name      string
	identity  string
	ttl       time.Duration
	now       func() time.Time
	// TookOver is the previous holder when an expired lease was taken over
	// (or, with Force, a live one).
	TookOver *Holder
	// TookOverLive is true when TookOver was still renewing its lease
	// (Force).
	TookOverLive bool

	mu sync.Mutex
	// renewed is when the lease was last renewed (the RenewTime this run
	// wrote; the clock's reading, with its monotonic part).
	renewed time.Time
	// failing is the error of the renewals that failed since the last
	// success (nil: the last one succeeded).
	failing error
	lost    *LostError
	onLost  func(*LostError)
	onWarn  func(error)

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// Options configure Acquire.
type Options struct {
	Namespace string // where the Lease lives
	Name      string // the Lease name (Key)
	Holder    Holder
	TTL       time.Duration    // default DefaultTTL
	Now       func() time.Time // default time.Now
	// Force takes the lease even from a live holder.
	Force bool
}

// Acquire takes the lease or returns *HeldError naming its live holder. The
// lease is renewed in the background until Release.
func Acquire(ctx context.Context, cs kubernetes.Interface, o Options) (*Lock, error) {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	hb, _ := json.Marshal(o.Holder)
	identity := fmt.Sprintf("%s/%d/%d", o.Holder.Host, o.Holder.PID, o.Holder.Since.UnixNano())
	l := &Lock{cs: cs, namespace: o.Namespace, name: o.Name, identity: identity, ttl: o.TTL, now: o.Now, stop: make(chan struct{})}
	leases := cs.CoordinationV1().Leases(o.Namespace)
	secs := int32(o.TTL / time.Second)
	for attempt := 0; attempt < 3; attempt++ {
		taken := o.Now()
		now := metav1.NewMicroTime(taken)
		cur, err := leases.Get(ctx, o.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace,
					Labels:      map[string]string{"app.kubernetes.io/managed-by": "plate"},
					Annotations: map[string]string{HolderAnnotation: string(hb)}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &identity, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now},
			}, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("taking the run lock %s/%s: %w", o.Namespace, o.Name, err)
			}
			l.renewed = taken
			l.start()
			return l, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the run lock %s/%s: %w", o.Namespace, o.Name, err)
		}
		prev := holderOf(cur)
		live := held(cur, o.Now()) && !deadHere(prev)
		if live && !o.Force {
			return nil, &HeldError{Lease: o.Namespace + "/" + o.Name, Holder: prev}
		}
		l.TookOver, l.TookOverLive = nil, false
		if cur.Spec.HolderIdentity != nil && *cur.Spec.HolderIdentity != "" {
			l.TookOver, l.TookOverLive = &prev, live
		}
		cur.Spec.HolderIdentity = &identity
		cur.Spec.LeaseDurationSeconds = &secs
		cur.Spec.AcquireTime, cur.Spec.RenewTime = &now, &now
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[HolderAnnotation] = string(hb)
		if _, err := leases.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				continue
			}
			return nil, fmt.Errorf("taking over the run lock %s/%s: %w", o.Namespace, o.Name, err)
		}
		l.renewed = taken
		l.start()
		return l, nil
	}
	return nil, fmt.Errorf("the run lock %s/%s is contended; try again", o.Namespace, o.Name)
}

// held reports whether the lease has a holder that renewed it recently.
func held(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || l.Spec.RenewTime == nil {
		return false
	}
	ttl := DefaultTTL
	if l.Spec.LeaseDurationSeconds != nil {
		ttl = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return now.Before(l.Spec.RenewTime.Add(ttl))
}

// deadHere reports whether h is a process of this host that no longer
// runs (a killed run): its lease is taken over at once instead of after
// its TTL.
func deadHere(h Holder) bool {
	host, err := os.Hostname()
	if err != nil || h.Host == "" || h.Host != host || h.PID <= 0 || h.PID == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(h.PID, 0), syscall.ESRCH)
}

func holderOf(l *coordinationv1.Lease) Holder {
	var h Holder
	_ = json.Unmarshal([]byte(l.Annotations[HolderAnnotation]), &h)
	if h.User == "" && l.Spec.HolderIdentity != nil {
		h.User = *l.Spec.HolderIdentity
	}
	return h
}

func (l *Lock) start() {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			every := l.ttl / 3
			if l.failingNow() {
				// Retry sooner after a failure, so that one lost
				// request does not cost a third of the TTL.
				every = l.ttl / 10
			}
			t := time.NewTimer(every)
			select {
			case <-l.stop:
				t.Stop()
				return
			case <-t.C:
			}
			if l.renew() != nil {
				return
			}
		}
	}()
}

func (l *Lock) failingNow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failing != nil
}

// renew renews the lease. It returns the *LostError once the lock is lost:
// the lease has another holder or is gone, or renewals have failed (or not
// happened) for longer than the TTL. A failed renewal is remembered (and
// warned about once), never ignored.
func (l *Lock) renew() *LostError {
	if lost := l.Lost(); lost != nil {
		return lost.(*LostError)
	}
	if lost := l.expired(); lost != nil {
		return lost
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
	defer cancel()
	leases := l.cs.CoordinationV1().Leases(l.namespace)
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if lost := l.judge(cur, err); lost != nil || err != nil {
		return lost
	}
	at := l.now()
	now := metav1.NewMicroTime(at)
	cur.Spec.RenewTime = &now
	// The update carries the lease's resourceVersion: if another run took
	// it since the read, it fails with a conflict and the next renewal
	// finds the other holder.
	if _, err := leases.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		l.failed(err)
		return l.expired()
	}
	l.mu.Lock()
	l.renewed, l.failing = at, nil
	l.mu.Unlock()
	return nil
}

// judge reads the answer to a read of the lease: another holder or no
// lease is a lost lock; a failed read is a failed renewal.
func (l *Lock) judge(cur *coordinationv1.Lease, err error) *LostError {
	switch {
	case apierrors.IsNotFound(err):
		return l.lose(nil, "its Lease was deleted")
	case err != nil:
		l.failed(err)
		return l.expired()
	case cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != l.identity:
		h := holderOf(cur)
		return l.lose(&h, "another run took it: "+h.String())
	}
	return nil
}

// failed records a failed renewal.
func (l *Lock) failed(err error) {
	l.mu.Lock()
	first := l.failing == nil
	l.failing = err
	warn := l.onWarn
	l.mu.Unlock()
	if first && warn != nil {
		warn(fmt.Errorf("renewing the run lock %s failed (retrying): %w", l.Name(), err))
	}
}

// expired loses the lock when it went longer than its TTL without a
// successful renewal. The time since is read on both the monotonic and the
// wall clock (the monotonic clock stops while a machine sleeps), the
// longer counting.
func (l *Lock) expired() *LostError {
	l.mu.Lock()
	since, failing := l.renewed, l.failing
	l.mu.Unlock()
	now := l.now()
	d := now.Sub(since)
	if w := now.Round(0).Sub(since.Round(0)); w > d {
		d = w
	}
	if d <= l.ttl {
		return nil
	}
	why := fmt.Sprintf("it was not renewed for %s, longer than its TTL of %s (the process was paused or the cluster did not answer)", d.Round(time.Second), l.ttl)
	if failing != nil {
		why = fmt.Sprintf("its renewals failed for %s, longer than its TTL of %s: %v", d.Round(time.Second), l.ttl, failing)
	}
	return l.lose(nil, why)
}

// lose marks the lock lost (once) and tells the OnLost callback.
func (l *Lock) lose(h *Holder, reason string) *LostError {
	l.mu.Lock()
	if l.lost != nil {
		lost := l.lost
		l.mu.Unlock()
		return lost
	}
	l.lost = &LostError{Lease: l.Name(), Holder: h, Reason: reason, At: l.now()}
	lost, fn := l.lost, l.onLost
	l.mu.Unlock()
	if fn != nil {
		fn(lost)
	}
	return lost
}

// Lost returns the *LostError once the lock is known to be lost, without
// asking the cluster; nil otherwise.
func (l *Lock) Lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil {
		return nil
	}
	return l.lost
}

// checkTimeout bounds the read of Check: an API server that does not
// answer delays a write by at most this long (the write then meets the
// same server, bounded by its own timeout).
const checkTimeout = 3 * time.Second

// Check is the fence of a write: it returns a *LostError when the run no
// longer holds the lock. It reads the lease (a failed read counts as a
// failed renewal: the write goes on while the lease is younger than its
// TTL, and the write itself then meets the same cluster) and finds it lost
// when another run holds it, when it is gone, or when it went longer than
// its TTL without a successful renewal. A lost lock stays lost.
func (l *Lock) Check(ctx context.Context) error {
	if err := l.Lost(); err != nil {
		return err
	}
	if lost := l.expired(); lost != nil {
		return lost
	}
	rctx, cancel := context.WithTimeout(ctx, min(l.ttl/3, checkTimeout))
	defer cancel()
	cur, err := l.cs.CoordinationV1().Leases(l.namespace).Get(rctx, l.name, metav1.GetOptions{})
	if err != nil && ctx.Err() != nil {
		// Interrupted: the write does not happen either.
		return nil
	}
	if lost := l.judge(cur, err); lost != nil {
		return lost
	}
	return nil
}

// Release stops renewing and frees the lease (only if this run still holds
// it). It is safe to call more than once.
func (l *Lock) Release(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		l.wg.Wait()
		leases := l.cs.CoordinationV1().Leases(l.namespace)
		cur, gerr := leases.Get(ctx, l.name, metav1.GetOptions{})
		if gerr != nil {
			if !apierrors.IsNotFound(gerr) {
				err = gerr
			}
			return
		}
		if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != l.identity {
			// Another run holds it now: its lease is not ours to free.
			return
		}
		rv := cur.ResourceVersion
		err = leases.Delete(ctx, l.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			err = nil
		}
	})
	return err
}

// Name returns namespace/name of the lease.
func (l *Lock) Name() string { return l.namespace + "/" + l.name }

// Status is what a lease says about the run that holds (or held) it.
type Status struct {
	Lease  string
	Holder Holder
	// Live is true when the lease was renewed within its TTL and its
	// holder is not known to be dead.
	Live bool
	// Dead is true when the holder is a process of this host that no
	// longer runs (a killed run).
	Dead bool
	// Renewed is the lease's last renewal.
	Renewed time.Time
}

func (s *Status) String() string {
	switch {
	case s.Live:
		return fmt.Sprintf("%s (a live plate run: its lock %s is renewed)", s.Holder, s.Lease)
	case s.Dead:
		return fmt.Sprintf("%s (its process no longer runs on this host)", s.Holder)
	}
	return fmt.Sprintf("%s (its lock %s expired: last renewed %s)", s.Holder, s.Lease, s.Renewed.UTC().Format(time.RFC3339))
}

// Inspect reads the lease of t. It returns nil, nil when there is none, or
// when the user may not read it (a namespace-scoped user and the lock
// namespace).
func Inspect(ctx context.Context, cs kubernetes.Interface, t Target, now time.Time) (*Status, error) {
	cur, err := cs.CoordinationV1().Leases(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the run lock %s/%s: %w", t.Namespace, t.Name, err)
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity == "" {
		return nil, nil
	}
	h := holderOf(cur)
	st := &Status{Lease: t.Namespace + "/" + t.Name, Holder: h, Dead: deadHere(h)}
	st.Live = held(cur, now) && !st.Dead
	if cur.Spec.RenewTime != nil {
		st.Renewed = cur.Spec.RenewTime.Time
	}
	return st, nil
}
