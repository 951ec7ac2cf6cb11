#!/usr/bin/env bash
# make demo: start (or reuse) the local control plane and really deploy to it
# with plate, then show what is running.
set -euo pipefail
cd "$(dirname "$0")/.."

PLATE=${PLATE:-bin/plate}
if [ -n "${PLATE_LOCALCLUSTER_KUBECONFIG:-}" ]; then
  kubeconfig=$PLATE_LOCALCLUSTER_KUBECONFIG
else
  go run ./internal/localcluster/cmd/plate-localcluster up >/tmp/plate-demo-cluster.log
  kubeconfig=$(go run ./internal/localcluster/cmd/plate-localcluster env | sed -n 's/^export KUBECONFIG=//p' | tr -d "'\"")
fi
echo "== local control plane: KUBECONFIG=$kubeconfig (context plate-local)"

plan=${DEMO_PLAN:-testdata/plans/sample.star}
"$PLATE" run --kubeconfig "$kubeconfig" --yes "$plan" "$@"
