package builtins

// ObjectRef names one Kubernetes object.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// ObjectSet is implemented by Starlark values that stand for a set of
// objects in the cluster, such as the release value helm_install returns.
// wait_ready, backup and friends accept any ObjectSet.
type ObjectSet interface {
	// Objects lists the objects, in the order they were applied.
	Objects() []ObjectRef
	// Describe names the set for messages ("release plate-api in plate-stg").
	Describe() string
	// Release names the Helm release the set is, "" when it is none.
	Release() string
}

// ReleaseRevision is implemented by values that stand for one revision of
// a Helm release (the release value helm_install returns).
type ReleaseRevision interface {
	ReleaseRevision() (name, namespace string, revision int)
}

// StepValue is implemented by values an effectful builtin returns, so that
// needs= can name the step that produced them.
type StepValue interface {
	// StepID is the id of the step that produced the value.
	StepID() string
}
