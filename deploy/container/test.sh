#!/usr/bin/env bash
# The Rask image, built and run with Debian's podman:
#   1. build it with no base image (build.sh): FROM scratch, the rask
#      binary and the libraries it links; check its size and entry point;
#   2. run a cluster of containers on the host's loopback: a scheduler
#      (with /metrics and /health), two supervised workers, and
#      `rask check` in a fourth container;
#   3. stop them: each must end on SIGTERM within 5 s (PID 1 has no
#      default action for it).
# Prints one summary line last.
#
# Where podman cannot run a container here, the build is still tested and
# the reason is printed. Two settings this machine needs are applied when
# the defaults fail (both said in the output): the runc runtime (crun
# refuses cgroups in hybrid mode) and lowered ulimits (no CAP_SYS_RESOURCE
# to set them as high as the host's).
set -euo pipefail
cd "$(dirname "$0")/../.."

passed=0
failed=0
t0=$(date +%s)
step() { echo "== container: $*"; }
ok() { passed=$((passed + 1)); echo "   ok: $*"; }
bad() { failed=$((failed + 1)); echo "   FAILED: $*"; }

. deploy/testlib.sh
need_packages podman runc

# The rask binary with the features `cargo test --workspace` built with (so
# that build is reused).
cargo test -q --workspace --test slurm --no-run 2>/dev/null
tag=localhost/rask:test-$$
names=()
cleanup() {
    for n in "${names[@]}"; do podman rm -f "$n" >/dev/null 2>&1 || true; done
    podman rmi -f "$tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "1. build (FROM scratch)"
deploy/container/build.sh --binary "${CARGO_TARGET_DIR:-target}/debug/rask" --tag "$tag" >/dev/null
size=$(podman image inspect "$tag" --format '{{.Size}}')
entry=$(podman image inspect "$tag" --format '{{json .Config.Entrypoint}}')
layers=$(podman image inspect "$tag" --format '{{len .RootFS.Layers}}')
if [ "$entry" = '["/usr/local/bin/rask"]' ] && [ "$layers" = 1 ]; then
    ok "$tag: one layer, $((size / 1048576)) MiB, entry point $entry"
else
    bad "entry point $entry, $layers layers"
fi

# How this machine runs containers.
run_flags=()
if ! out=$(podman run --rm "$tag" --version 2>&1); then
    run_flags=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
    echo "   podman's defaults fail here ($(echo "$out" | tail -1));"
    echo "   running with: ${run_flags[*]}"
    if ! out=$(podman "${run_flags[@]:0:2}" run --rm "${run_flags[@]:2}" "$tag" --version 2>&1); then
        echo "   podman cannot run a container on this machine: $(echo "$out" | tail -1)"
        echo "   (the image was built and inspected; running it was not possible here)"
        echo "container: $passed passed, $failed failed"
        [ "$failed" = 0 ]
        exit
    fi
fi
pod() {
    if [ "${#run_flags[@]}" -gt 0 ]; then
        podman "${run_flags[@]:0:2}" run "${run_flags[@]:2}" "$@"
    else
        podman run "$@"
    fi
}

port=$(free_port)
mport=$(free_port)
RASK_SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export RASK_SECRET

step "2. a scheduler, two workers and a check, each in a container"
s=rask-s-$$ w1=rask-w1-$$ w2=rask-w2-$$
names=("$s" "$w1" "$w2")
pod -d --name "$s" --network host -e RASK_SECRET "$tag" \
    scheduler --listen "127.0.0.1:$port" --metrics "127.0.0.1:$mport" >/dev/null
for w in "$w1" "$w2"; do
    pod -d --name "$w" --network host -e RASK_SECRET "$tag" \
        worker "127.0.0.1:$port" --threads 1 --name "$w" --restart >/dev/null
done
if out=$(pod --rm --network host -e RASK_SECRET "$tag" \
    check --cluster "127.0.0.1:$port" --wait-workers 2 --timeout 60 2>&1); then
    ok "$out"
else
    bad "rask check: $out"
    podman logs "$s" | tail -5
fi
# /metrics asks for the token derived from the secret (`rask token`).
token=$(pod --rm -e RASK_SECRET "$tag" token 2>/dev/null || true)
without=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/metrics" || true)
metrics=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$mport/metrics" || true)
health=$(curl -fsS "http://127.0.0.1:$mport/health" || true)
if echo "$metrics" | grep -qx 'rask_workers 2' && [ "$without" = 401 ] && [ "${health%%:*}" = ok ]; then
    ok "/metrics says rask_workers 2 with the token (401 without); /health says ${health}"
else
    bad "metrics: $(echo "$metrics" | grep '^rask_workers ' || echo none) (without the token: $without); health: $health"
fi

step "3. podman stop: each ends on SIGTERM"
for n in "$w1" "$w2" "$s"; do
    a=$(date +%s%N)
    podman stop -t 5 "$n" >/dev/null 2>&1
    ms=$(( ($(date +%s%N) - a) / 1000000 ))
    code=$(podman inspect "$n" --format '{{.State.ExitCode}}')
    if [ "$ms" -lt 4500 ]; then
        ok "$n stopped in $ms ms (exit $code)"
    else
        bad "$n took $ms ms to stop (SIGKILL after the grace period?)"
    fi
done

echo "== container: finished in $(( $(date +%s) - t0 )) s"
echo "container: $passed passed, $failed failed"
[ "$failed" = 0 ]
