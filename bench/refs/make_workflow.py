"""W11 on GNU make: a DAG of shell commands.

G groups of M leaf jobs: leaf (g, i) runs `echo g-i > leaf/g-i.txt`; group g's
merge job `cat leaf/g-*.txt > group/g.txt` needs its M leaves; the final job
`cat group/*.txt | wc -l > total.txt` needs every group: G*M + G + 1 jobs.
Run with `make -jJOBS` in a fresh directory (cold, `seconds`), then again
with everything up to date (`up_to_date_s`; nothing may run). Check:
total.txt holds G*M. Standard library and `make` only.
usage: make_workflow.py G M JOBS
"""
import os
import subprocess
import sys
import tempfile
import time

from common import emit, fail


def makefile(groups, leaves):
    rules = [f"total.txt: {' '.join(f'group/{g}.txt' for g in range(groups))}",
             "\tcat group/*.txt | wc -l > total.txt"]
    for g in range(groups):
        names = [f"leaf/{g}-{i}.txt" for i in range(leaves)]
        rules += [f"group/{g}.txt: {' '.join(names)}", f"\tcat leaf/{g}-*.txt > group/{g}.txt"]
        for i, name in enumerate(names):
            rules += [f"{name}:", f"\techo {g}-{i} > {name}"]
    return "\n".join(rules) + "\n"


def make(cwd, jobs, *flags):
    """One `make` run, timed; returns (seconds, stdout). Fails the run if
    make fails."""
    t0 = time.perf_counter()
    out = subprocess.run(["make", *flags, "-j", str(jobs)], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        fail(f"make failed ({out.returncode}): {out.stderr[-2000:]}")
    return seconds, out.stdout


def main():
    if len(sys.argv) != 4:
        fail(__doc__)
    groups, leaves, jobs = (int(a) for a in sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="rask-w11-make-") as d:
        os.mkdir(os.path.join(d, "leaf"))
        os.mkdir(os.path.join(d, "group"))
        with open(os.path.join(d, "Makefile"), "w") as f:
            f.write(makefile(groups, leaves))
        cold, _ = make(d, jobs, "-s")  # silent: no echo of 10,000 commands
        warm, said = make(d, jobs)  # says that everything is up to date
        with open(os.path.join(d, "total.txt")) as f:
            total = int(f.read())
    if total != groups * leaves:
        fail(f"total.txt holds {total}, expected {groups * leaves}")
    if "up to date" not in said and "Nothing to be done" not in said:
        fail(f"the second run was not a no-op: {said[:300]!r}")
    n = groups * leaves + groups + 1
    emit(workload="W11", system="make", jobs=n, seconds=round(cold, 4), up_to_date_s=round(warm, 4),
         us_per_job=round(1e6 * cold / n, 1))


if __name__ == "__main__":
    main()
