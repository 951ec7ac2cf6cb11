#!/usr/bin/env bash
# make demo: start (or reuse) the local control plane, serve the stand-in
# library charts as a chart repository mirror on 127.0.0.1, and really deploy
# the plate platform to it with plans/deploy_all.star; then show the status.
set -euo pipefail
cd "$(dirname "$0")/.."

PLATE=${PLATE:-bin/plate}
LC="go run ./internal/localcluster/cmd/plate-localcluster"

if [ -n "${PLATE_LOCALCLUSTER_KUBECONFIG:-}" ]; then
  kubeconfig=$PLATE_LOCALCLUSTER_KUBECONFIG
else
  $LC up >/dev/null
  kubeconfig=$($LC env | sed -n 's/^export KUBECONFIG=//p' | tr -d "'\"")
fi
echo "== local control plane: KUBECONFIG=$kubeconfig (context plate-local)"

# The library charts come from a mirror: the stand-ins of testdata/, packaged
# and served on loopback (there is no other network here).
mirror_dir=$(mktemp -d)
mirror_log=$mirror_dir/mirror.log
go build -o "$mirror_dir/plate-mirror" ./internal/platform/standin/cmd/plate-mirror
"$mirror_dir/plate-mirror" -dir "$mirror_dir/charts" -serve 127.0.0.1:0 >"$mirror_log" 2>&1 &
mirror_pid=$!
trap 'kill $mirror_pid 2>/dev/null || true; rm -rf "$mirror_dir"' EXIT
for _ in $(seq 1 100); do
  grep -q '^PLATE_MIRROR=' "$mirror_log" && break
  sleep 0.1
done
mirror=$(sed -n 's/^PLATE_MIRROR=//p' "$mirror_log")
[ -n "$mirror" ] || { cat "$mirror_log"; echo "the chart mirror did not start" >&2; exit 1; }
echo "== library chart mirror: $mirror"

"$PLATE" run --kubeconfig "$kubeconfig" --yes plans/deploy_all.star \
  -p env=staging -p mirror="$mirror" -p placeholder_secrets=true "$@"

admission_log=$(dirname "$kubeconfig")/admission.log
if [ -f "$admission_log" ]; then
  echo
  echo "== admission webhooks: the local control plane's webhook backend answered $(grep -c . "$admission_log") AdmissionReviews (${admission_log}):"
  sed -n 's/.*"host":"\([^"]*\)".*"kind":"\([^"]*\)".*"name":"\([^"]*\)".*"allowed":\(true\|false\).*/  \2\/\3 via \1: allowed=\4/p' "$admission_log" | sort | uniq -c | sed 's/^ */  /' | head -20
fi

echo
"$PLATE" status --kubeconfig "$kubeconfig" -n plate-stg
echo
echo "The platform runs on the local control plane. Try:"
echo "  export KUBECONFIG=$kubeconfig"
echo "  $PLATE run --dry-run plans/deploy_all.star -p mirror=$mirror   # (the mirror stops with this script)"
echo "  $PLATE status -n plate-stg"
echo "  make cluster-down"
