# plate: see README.md. The two commands a new machine needs:
#   make demo   build plate and the local control plane, deploy the platform to it
#   make test   every test, end-to-end tests on the local control plane included

GO ?= go
BIN := bin/plate
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: build test test-short stress lint demo bench fmt docs

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/plate

# The cluster binaries are built (or taken from the cache) once, before the
# test packages start, so that packages running in parallel share them.
test: lint cluster-build
	$(GO) test -count=1 -timeout 60m ./...
	$(GO) run ./cmd/plate test plans/

# The fast tier: no cluster, seconds.
test-short:
	$(GO) test -short ./...
	$(GO) run ./cmd/plate test plans/

# The stress suite: the end-to-end cases of faults and limits (a hung or
# lost API server, interrupts, records too large for Helm's storage, plan
# memory), with PLATE_STRESS=1 for their longer variants. See
# docs/safety.md, "Stress suite". STRESS_TESTS names them; add new cases
# there.
STRESS_TESTS ?= TestE2EInstallTimeoutHoldsWhenAPIServerHangs|TestE2EInterruptActsWhenAPIServerHangs|TestE2EInterruptLeavesNoPendingRelease|TestE2ELostClusterMidRun|TestE2EWaitRidesOutAnAPIServerRestart|TestE2ERecordTooLargeRefusedBeforeAnyWrite|TestRecordTooLargeOffline|TestE2ECountsAfterFailedFirstInstall|TestMaxMemory|TestE2EMaxMemoryWritesNothing|TestE2ELock|TestE2EInterrupt|Canary|Secret|CleanSource|PlanBytesAreChecked

stress: cluster-build
	PLATE_STRESS=1 $(GO) test -count=1 -timeout 60m -run '$(STRESS_TESTS)' ./cmd/plate ./interp

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

docs:
	$(GO) run ./cmd/plate docs

fmt:
	gofmt -w $$(git ls-files '*.go')

demo: build cluster-build
	bash hack/demo.sh

# BENCHTIME=3x for a quicker, rougher run.
BENCHTIME ?= 5x
bench: cluster-build
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 90m ./...

include hack/localcluster/cluster.mk
