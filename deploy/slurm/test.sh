#!/usr/bin/env bash
# Rask on a real Slurm: installs Debian's slurm-wlm and munge, starts a
# one-node cluster on this machine (munged, slurmctld, slurmd, all private:
# their own config, ports, sockets and state under a temporary directory;
# nothing in /etc is changed), then
#   1. the API: SlurmCluster runs workers in Slurm jobs, computes a graph
#      and an array, scales up and down (retired workers' values kept),
#      restarts a crashed worker inside its job, adapts, tears down
#      (crates/rask-cli/tests/slurm.rs);
#   2. the CLI: `rask slurm --jobs 2`, `rask check` against it, then
#      SIGTERM: every job cancelled;
#   3. the whole-allocation script (rask-cluster.sbatch) under `sbatch
#      --wait`: scheduler, workers and client in one job;
# tears everything down and prints one summary line last.
#
# Needs root (to run the daemons as they are packaged). Bounded: every
# step has a time limit.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

passed=0
failed=0
t0=$(date +%s)
step() { echo "== slurm: $*"; }

# --- packages -------------------------------------------------------------
. deploy/testlib.sh
need_packages slurm-wlm munge

# --- a private one-node cluster -------------------------------------------
D=$(mktemp -d /tmp/rask-slurm.XXXXXX)
mkdir -p "$D/state" "$D/spool" "$D/munge" "$D/jobs"
chmod 755 "$D"
cleanup() {
    set +e
    if [ -f "$D/slurm.conf" ]; then
        SLURM_CONF="$D/slurm.conf" scancel --user=root >/dev/null 2>&1
        sleep 1
    fi
    for p in slurmd slurmctld; do
        [ -f "$D/$p.pid" ] && kill "$(cat "$D/$p.pid")" 2>/dev/null
    done
    [ -f "$D/munge/munged.pid" ] && kill "$(cat "$D/munge/munged.pid")" 2>/dev/null
    sleep 1
    rm -rf "$D"
}
trap cleanup EXIT

port=$(free_port)
host=$(hostname -s)

dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$D/munge/munge.key"
munged --force --key-file="$D/munge/munge.key" -S "$D/munge/munge.socket" \
    --pid-file="$D/munge/munged.pid" --log-file="$D/munge/munged.log" \
    --seed-file="$D/munge/seed"

cat > "$D/slurm.conf" <<EOF
ClusterName=rasktest
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$D/munge/munge.socket
CryptoType=crypto/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
SlurmUser=root
ReturnToService=2
MpiDefault=none
KillWait=5
NodeName=$host CPUs=4 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$D/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 60); do
    sinfo --noheader --format=%t 2>/dev/null | grep -qx idle && break
    sleep 0.5
done
sinfo --noheader --format=%t | grep -qx idle || {
    echo "slurm: the node did not come up"; tail -20 "$D/slurmctld.log" "$D/slurmd.log"; exit 1;
}
step "a one-node Slurm $(sinfo --version | awk '{print $2}') is up on $host (ports $port, $((port + 1)))"

# --- 1. the API -----------------------------------------------------------
step "1. SlurmCluster: compute, scale, retire, a crash, adapt, teardown"
# `--workspace`: the features `cargo test --workspace` built with, so its
# build is reused (the `rask` binary comes with the test).
cargo test -q --workspace --test slurm --no-run 2>/dev/null
rask="${CARGO_TARGET_DIR:-$root/target}/debug/rask"
if timeout 600 cargo test -q --workspace --test slurm -- --ignored --nocapture --test-threads 1; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    tail -20 "$D/slurmctld.log"
fi

# --- 2. the CLI -----------------------------------------------------------
step "2. rask slurm --jobs 2, rask check, SIGTERM"
cli_ok=0
name="rask-cli-$$"
"$rask" slurm --jobs 2 --cores 1 --memory 300MiB --walltime 00:10:00 --partition debug \
    --listen 127.0.0.1:0 --address 127.0.0.1 --worker-host 127.0.0.1 \
    --job-name "$name" --dir "$D/jobs/cli" --wait 120 > "$D/cli.out" 2>"$D/cli.err" &
cli=$!
for _ in $(seq 1 1200); do
    grep -q "rask slurm: ready" "$D/cli.out" 2>/dev/null && break
    kill -0 "$cli" 2>/dev/null || break
    sleep 0.1
done
addr=$(sed -n 's/^rask slurm: scheduler at //p' "$D/cli.out")
if grep -q "rask slurm: ready" "$D/cli.out" && [ -n "$addr" ] &&
    [ "$(squeue --noheader --name="$name" --states=R | wc -l)" = 2 ] &&
    RASK_SECRET=$(cat "$D/jobs/cli/secret") timeout 120 "$rask" check --cluster "$addr" --wait-workers 2; then
    kill -TERM "$cli"
    if timeout 60 tail --pid="$cli" -f /dev/null; then
        for _ in $(seq 1 100); do
            [ -z "$(squeue --noheader --name="$name")" ] && break
            sleep 0.2
        done
        [ -z "$(squeue --noheader --name="$name")" ] && cli_ok=1
    fi
fi
kill "$cli" 2>/dev/null || true
if [ "$cli_ok" = 1 ]; then
    passed=$((passed + 1))
    echo "rask slurm: ok (2 jobs, rask check passed, jobs cancelled on SIGTERM)"
else
    failed=$((failed + 1))
    echo "rask slurm: FAILED"; cat "$D/cli.out" "$D/cli.err"
fi

# --- 3. the whole-allocation script ---------------------------------------
step "3. sbatch --wait rask-cluster.sbatch (scheduler, 2 workers, rask check in one job)"
if RASK="$rask" RASK_PORT=$(free_port) RASK_SCHEDULER_HOST=127.0.0.1 RASK_WORKER_HOST=127.0.0.1 \
    timeout 300 sbatch --wait --quiet --output="$D/alloc-%j.out" deploy/slurm/rask-cluster.sbatch &&
    grep -q "rask check: ok" "$D"/alloc-*.out; then
    passed=$((passed + 1))
    grep "rask check: ok" "$D"/alloc-*.out
else
    failed=$((failed + 1))
    echo "rask-cluster.sbatch: FAILED"; cat "$D"/alloc-*.out 2>/dev/null || true
fi

echo "== slurm: finished in $(( $(date +%s) - t0 )) s"
echo "slurm: $passed passed, $failed failed"
[ "$failed" = 0 ]
