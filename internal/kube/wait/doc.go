// Package wait is plate's live readiness watcher: it watches objects on the
// API server and judges them with readiness.Evaluate until every one is
// ready, one fails, or time runs out. It backs the wait_ready and
// health_check builtins.
//
// # Watching, not polling
//
// Wait starts one informer (list, then watch) per resource and namespace of
// its targets — restricted by field selector to the object's name when the
// target is a single object — plus the related objects Evaluate needs: the
// pods, ReplicaSets and events of each namespace involved, and the storage
// classes when a PersistentVolumeClaim is waited for. Every watch event
// wakes one evaluation loop that judges all targets again from the
// informers' caches (Evaluate is cheap and pure), so a verdict changes
// within milliseconds of the change on the API server. The only timers are
// the ones the verdicts ask for: Result.RecheckAfter, when a grace period
// (an image pull back-off, an unschedulable pod) ends with no new event, and
// the load balancer timeout.
//
// # What ends a wait
//
//   - every object Ready (waived results such as a paused Deployment or a
//     claim awaiting its first consumer count as Ready and keep their
//     Reason): Wait returns the report and nil. If a CustomResourceDefinition
//     was among the targets, the REST mapper is reset so the next step can
//     use the new kinds.
//   - an object Failed, or a plan rule that returned an error: Wait returns
//     at once with an *Error of CauseFailed.
//   - a LoadBalancer Service without an address for LoadBalancerTimeout
//     (60 s by default, from the moment it is first seen without one): an
//     *Error of CauseLoadBalancer, with a hint about MetalLB address pools.
//   - the overall Timeout: an *Error of CauseTimeout naming what was not
//     ready and why.
//
// An object that does not exist yet is waited for (NotFound is "not yet").
// Terminating pods are not waited for. A selector target stands for the
// Deployments, StatefulSets, DaemonSets and Jobs whose labels match, the
// workloads owning pods whose labels match, and matching pods no workload
// owns; it is re-expanded on every event.
//
// List and watch errors are recorded instead of logged; Forbidden and
// Unauthorized end the wait at once, since they will not heal.
package wait
