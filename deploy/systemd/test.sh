#!/usr/bin/env bash
# The systemd units, as far as this machine allows: systemd is not its
# first process, so no unit can be started here. What is tested:
#   1. `systemd-analyze verify` of both units (a warning fails the test);
#   2. the units' own command lines (ExecStart, ExecStop), expanded as
#      systemd would (${VAR} from the environment file, %i, %H), run by
#      hand: a scheduler, two workers, `rask check`; the worker's ExecStop
#      retires it and it exits 0 (so Restart=on-failure leaves it ended);
#      SIGTERM ends the others with 143 (in SuccessExitStatus);
#   3. the restart limit is the nanny's (StartLimitBurst = MAX_QUICK_DEATHS).
# Prints one summary line last.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "   ok: $*"; }
bad() { failed=$((failed + 1)); echo "   FAILED: $*"; }

. deploy/testlib.sh
need_packages systemd

# The features `cargo test --workspace` built with (its build is reused).
cargo test -q --workspace --test slurm --no-run 2>/dev/null
rask="${CARGO_TARGET_DIR:-$root/target}/debug/rask"

D=$(mktemp -d /tmp/rask-systemd.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$D"
}
trap cleanup EXIT

echo "== systemd: 1. systemd-analyze verify"
for u in rask-scheduler.service rask-worker@.service; do
    sed "s#/usr/local/bin/rask#$rask#g" "deploy/systemd/$u" > "$D/$u"
done
for u in rask-scheduler.service rask-worker@1.service; do
    if out=$(cd "$D" && systemd-analyze verify "./$u" 2>&1) && [ -z "$out" ]; then
        ok "$u verifies cleanly"
    else
        bad "$u: $out"
    fi
done

echo "== systemd: 2. the units' command lines, run by hand"
port=$(free_port)
cat > "$D/rask.env" <<EOF
RASK_SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
RASK_LISTEN=127.0.0.1:$port
RASK_METRICS=127.0.0.1:$(free_port)
RASK_SCHEDULER=127.0.0.1:$port
RASK_THREADS=1
RASK_HOST=127.0.0.1
EOF
host=$(hostname)
# The value of KEY= in unit file $1, expanded: %i -> $2, %H, ${VAR}.
line() {
    local v
    v=$(sed -n "s/^$3=//p" "$D/$1" | head -n 1)
    v=${v//%i/$2}
    v=${v//%H/$host}
    ( set -a; . "$D/rask.env"; set +a; eval "printf '%s\n' \"$v\"" )
}
run() { # unit instance key: runs the command in the unit's environment,
    # as this process (call it in a subshell or with &)
    local cmd
    cmd=$(line "$1" "$2" "$3")
    set -a; . "$D/rask.env"; set +a
    # shellcheck disable=SC2086
    exec $cmd
}
run rask-scheduler.service "" ExecStart > "$D/scheduler.log" 2>&1 &
pids+=($!); sched=$!
run rask-worker@.service 1 ExecStart > "$D/w1.log" 2>&1 &
pids+=($!); w1=$!
run rask-worker@.service 2 ExecStart > "$D/w2.log" 2>&1 &
pids+=($!); w2=$!
if out=$( set -a; . "$D/rask.env"; set +a; timeout 60 "$rask" check --cluster "127.0.0.1:$port" --wait-workers 2 --timeout 30 2>"$D/check.err"); then
    ok "ExecStart lines: a scheduler and workers $host-1, $host-2; $out"
else
    bad "rask check: $out $(cat "$D/check.err")"; cat "$D"/*.log
fi
# /metrics asks for the token (`rask token`, from RASK_SECRET); /health is open.
mport=$( set -a; . "$D/rask.env"; set +a; echo "${RASK_METRICS##*:}" )
token=$( set -a; . "$D/rask.env"; set +a; "$rask" token "127.0.0.1:$port" )
without=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/metrics" || true)
with=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$mport/metrics" | grep '^rask_workers ' || true)
health=$(curl -fsS "http://127.0.0.1:$mport/health" || true)
if [ "$without" = 401 ] && [ "$with" = "rask_workers 2" ] && [ "$health" = ok ]; then
    ok "/metrics: 401 without the token, \"$with\" with it (rask token); /health open"
else
    bad "/metrics without the token: $without; with it: ${with:-nothing}; /health: $health"
fi
if out=$(run rask-worker@.service 1 ExecStop 2>&1); then
    code=0
    timeout 10 tail --pid="$w1" -f /dev/null || true
    wait "$w1" || code=$?
    if [ "$code" = 0 ]; then
        ok "ExecStop of $host-1: $out; the worker exited 0 (Restart=on-failure leaves it ended)"
    else
        bad "after ExecStop the worker exited $code"
    fi
else
    bad "ExecStop: $out"
fi
for p in "$w2" "$sched"; do
    kill -TERM "$p"
    code=0
    wait "$p" || code=$?
    if [ "$code" = 143 ] && grep -qx 'SuccessExitStatus=143' deploy/systemd/rask-scheduler.service deploy/systemd/rask-worker@.service; then
        ok "SIGTERM ($( [ "$p" = "$sched" ] && echo scheduler || echo "$host-2")): exit 143, a success for systemd"
    else
        bad "SIGTERM: exit $code"
    fi
done
pids=()

echo "== systemd: 3. the restart limit is the nanny's"
burst=$(sed -n 's/^StartLimitBurst=//p' deploy/systemd/rask-worker@.service)
quick=$(sed -n 's/^pub const MAX_QUICK_DEATHS: u32 = \([0-9]*\);/\1/p' crates/rask-distributed/src/deploy.rs)
if [ -n "$burst" ] && [ "$burst" = "$quick" ]; then
    ok "StartLimitBurst=$burst = MAX_QUICK_DEATHS"
else
    bad "StartLimitBurst=$burst, MAX_QUICK_DEATHS=$quick"
fi

echo "systemd: $passed passed, $failed failed"
[ "$failed" = 0 ]
