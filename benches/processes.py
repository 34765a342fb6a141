"""Worker processes for the replica benchmarks: start N copies of a script in worker mode,
read the JSON line each prints once it is ready, and sum their proportional set size (PSS:
shared pages split between the processes that map them) while all are alive."""
import json, subprocess, sys


def pss_kb(pid):
    """PSS of process `pid` in KiB (Linux: /proc/PID/smaps_rollup)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def run_workers(argv, count, env=None):
    """Starts `count` processes of `python *argv`; returns (total PSS in MB, the JSON each
    printed). Each worker waits for its stdin to close before it exits."""
    procs = [subprocess.Popen([sys.executable, *argv], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(count)]
    out = [json.loads(p.stdout.readline()) for p in procs]
    total = sum(pss_kb(p.pid) for p in procs) / 1024
    for p in procs:
        p.stdin.close()
        p.wait()
    return total, out
