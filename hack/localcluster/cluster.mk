# Local Kubernetes control plane for tests, benchmarks and demos
# (internal/localcluster). Included from the root Makefile.
#
#   make cluster-build   build/cache etcd, kube-apiserver, kube-controller-manager,
#                        kube-scheduler and kwok (cold: several minutes; then cached)
#   make cluster-up      start one on 127.0.0.1 (context "plate-local"); prints
#                        the KUBECONFIG and export lines
#   make cluster-down    stop it (LOCALCLUSTER_DOWN_FLAGS=-all also stops
#                        leftovers of killed test runs)
#
# Cache: $PLATE_LOCALCLUSTER_CACHE, else $XDG_CACHE_HOME/plate/localcluster,
# else ~/.cache/plate/localcluster.

LOCALCLUSTER_GO ?= go
LOCALCLUSTER_CMD ?= $(LOCALCLUSTER_GO) run ./internal/localcluster/cmd/plate-localcluster
LOCALCLUSTER_NODES ?= 1
LOCALCLUSTER_DOWN_FLAGS ?=

.PHONY: cluster-build cluster-up cluster-down cluster-env cluster-status

cluster-build:
	$(LOCALCLUSTER_CMD) build

cluster-up:
	$(LOCALCLUSTER_CMD) up -nodes $(LOCALCLUSTER_NODES)

cluster-down:
	$(LOCALCLUSTER_CMD) down $(LOCALCLUSTER_DOWN_FLAGS)

cluster-env:
	@$(LOCALCLUSTER_CMD) env

cluster-status:
	@$(LOCALCLUSTER_CMD) status
