#!/usr/bin/env python3
"""Scheduler benchmark (make bench): our crm_simulate beside Pacemaker's on the same large
CIBs, run the way the issue states: `crm_simulate -x FILE -R -Q -G out.xml`. Prints wall
time and peak memory of each, and the ratio. Pacemaker's is /usr/sbin/crm_simulate
(pacemaker-cli-utils); when it is missing its column says so.

The cold start (everything to probe and start) takes Pacemaker about six minutes, so it runs
only with --big; otherwise its row shows ours beside the figure measured in ../shared/bench.

Usage: bench-scheduler.py --ours PATH --dir DIR --shared SHARED [--big]
"""
import argparse, os, subprocess, sys

CASES = [
    # name, gen_cib arguments, Pacemaker figure from ../shared/bench/README.md (s, MB), big?
    ("16 x 500, running", ["-n", "16", "-m", "500"], (0.97, 148), False),
    ("32 x 2000, running", ["-n", "32", "-m", "2000"], (9.2, 972), False),
    ("32 x 2000, cold start", ["-n", "32", "-m", "2000", "--running-frac", "0", "--probe-frac", "0"], (353, 778), True),
    ("64 x 5000, running", ["-n", "64", "-m", "5000"], (98, 4600), True),
]


def measure(binary, cib, out):
    """Wall seconds and peak RSS in MB of one run, through /usr/bin/time."""
    r = subprocess.run(["/usr/bin/time", "-f", "%e %M", binary, "-x", cib, "-R", "-Q", "-G", out],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    if r.returncode != 0:
        return None, f"exit {r.returncode}: {r.stderr.strip().splitlines()[:2]}"
    wall, kb = last.split()
    return (float(wall), int(kb) / 1024), None


def synapses(path):
    with open(path, errors="replace") as f:
        return sum(line.count("<synapse") for line in f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ours", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--shared", required=True)
    p.add_argument("--big", action="store_true")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    theirs = "/usr/sbin/crm_simulate" if os.access("/usr/sbin/crm_simulate", os.X_OK) else None
    print("Scheduler: crm_simulate -x FILE -R -Q -G out.xml (wall time, peak memory)")
    print(f"{'CIB':24} {'SwiftHA':>20} {'Pacemaker 2.1.5':>24} {'time ratio':>11} {'actions':>9}")
    for name, args, published, big in CASES:
        cib = os.path.join(a.dir, "cib-" + "-".join(x.strip("-") for x in args) + ".xml")
        if not os.path.exists(cib):
            subprocess.run([sys.executable, os.path.join(a.shared, "bench", "gen_cib.py"), *args, "--seed", "11", "-o", cib], check=True)
        if big and not a.big and name.startswith("64"):
            print(f"{name:24} {'(run with --big)':>20}")
            continue
        ours, err = measure(a.ours, cib, os.path.join(a.dir, "ours.xml"))
        if ours is None:
            print(f"{name:24} ours failed: {err}")
            continue
        n = synapses(os.path.join(a.dir, "ours.xml"))
        if theirs and (a.big or not big):
            peer, perr = measure(theirs, cib, os.path.join(a.dir, "theirs.xml"))
            label = "measured now"
        else:
            peer, perr, label = published, None, "published"
        if peer is None:
            print(f"{name:24} {ours[0]:8.2f} s {ours[1]:7.0f} MB   Pacemaker failed: {perr}")
            continue
        print(f"{name:24} {ours[0]:8.2f} s {ours[1]:7.0f} MB {peer[0]:9.2f} s {peer[1]:7.0f} MB "
              f"{peer[0] / max(ours[0], 0.001):9.1f}x {n:9d}   ({label})")


if __name__ == "__main__":
    main()
