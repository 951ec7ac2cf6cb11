// Package lock keeps two plate runs from changing the same thing at once.
//
// A run that writes takes a coordination.k8s.io/v1 Lease in the target
// cluster, named after the plan and its environment (namespace and
// parameters). A second run of the same plan for the same environment is
// refused with the holder's user, host, pid, plan and start time. A lease
// whose holder stopped renewing it (a killed run) expires and is taken over;
// the takeover is reported. A dry run takes no lock.
package lock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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

// Key names the lock of a plan in an environment: the plan's name, the
// default namespace and the sorted parameters.
func Key(plan, namespace string, params []string) (name, env string) {
	ps := append([]string(nil), params...)
	sort.Strings(ps)
	env = ""
	if namespace != "" {
		env = " -n " + namespace
	}
	for _, p := range ps {
		env += " -p " + p
	}
	sum := sha256.Sum256([]byte(plan + "\x00" + env))
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
	return "plate-run-" + strings.Trim(short, "-") + "-" + hex.EncodeToString(sum[:5]), env
}

// HeldError is returned when another live run holds the lock.
type HeldError struct {
	Lease  string
	Holder Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("another plate run holds the lock %s: %s", e.Lease, e.Holder)
}

// Lock is a held lease.
type Lock struct {
	cs        kubernetes.Interface
	namespace string
	name      string
	identity  string
	ttl       time.Duration
	now       func() time.Time
	// TookOver is the previous holder when an expired lease was taken over.
	TookOver *Holder

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
		now := metav1.NewMicroTime(o.Now())
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
			l.start()
			return l, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the run lock %s/%s: %w", o.Namespace, o.Name, err)
		}
		prev := holderOf(cur)
		if held(cur, o.Now()) {
			return nil, &HeldError{Lease: o.Namespace + "/" + o.Name, Holder: prev}
		}
		if cur.Spec.HolderIdentity != nil && *cur.Spec.HolderIdentity != "" {
			l.TookOver = &prev
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
		t := time.NewTicker(l.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.renew()
			}
		}
	}()
}

func (l *Lock) renew() {
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
	defer cancel()
	leases := l.cs.CoordinationV1().Leases(l.namespace)
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if err != nil || cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != l.identity {
		return
	}
	now := metav1.NewMicroTime(l.now())
	cur.Spec.RenewTime = &now
	_, _ = leases.Update(ctx, cur, metav1.UpdateOptions{})
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
