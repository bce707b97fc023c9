"""Shared by the Python benchmarks."""


def peak_rss_mib():
    """This process's peak resident set size, in MiB, from /proc (VmHWM):
    ``resource.getrusage`` would count the parent's pages too when the
    process was started by a big one (Linux keeps the high-water mark of the
    forked image across ``exec``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0
