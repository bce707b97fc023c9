"""What every reference runner shares: the one JSON line it prints.

A runner prints exactly one JSON object (keys sorted) as its last line of
stdout: the workload's metric under the name bench/README.md gives it,
`system` naming the reference, `peak_rss_mib` (this process or its largest
child, from getrusage) and `threads` (the cores it may use). It exits
non-zero, printing nothing, when its own result check fails.
"""
import json
import os
import resource
import sys


def peak_rss_mib():
    """Peak resident set size in MiB: this process's or its largest child's
    (the process schedulers run the tasks in children). Linux reports KiB."""
    usage = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return round(max(usage) / 1024.0, 1)


def emit(**fields):
    """Prints the run's one JSON line."""
    fields.setdefault("peak_rss_mib", peak_rss_mib())
    fields.setdefault("threads", os.cpu_count())
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


def fail(msg):
    """A wrong answer measures nothing: stop with a message, print no JSON."""
    sys.stderr.write(f"{os.path.basename(sys.argv[0])}: {msg}\n")
    raise SystemExit(1)


def per_task_us(seconds, tasks):
    return round(1e6 * seconds / tasks, 3)
