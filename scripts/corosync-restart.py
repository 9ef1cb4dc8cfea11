#!/usr/bin/env python3
"""SIGKILL of one node's corosyncd, again and again: does the node survive?

A real 3-node SwiftHA cluster on 127.0.0.1-3 (failover.py's: pacemakerd and its five daemons
per node, fencing through fence_swiftha, a web server grouped after a dummy address). Each
round SIGKILLs the corosyncd of the node that serves the page, nothing else. pacemakerd starts
a new corosyncd at once; when its join reaches the other nodes before they give up on the old
one (token + consensus), the node never leaves the ring and is not fenced, and the web server
keeps running (same process). Otherwise the node is fenced (safe, but the service moves).

  corosync-restart.py [--kills 20] [--token 300 --coefficient 0] [--load 4] [--bin DIR]

For each round it reports: survived or fenced; whether the others saw the token lost first;
the times from the SIGKILL to
  spawn   the new corosyncd's process start (kernel start time, 10 ms steps),
  join    its first join sent (its own log line, from builds that print it),
  ring    the new corosyncd's first membership (its log line, as it reached this script).
--load N runs N busy loops (python, in a process group of their own) for the whole run.
Only processes this script started are stopped (failover.py's rules), and the work directory
is removed at the end.
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import failover  # noqa: E402
from failover import log, serving_node, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def boottime():
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def started_at(pid):
    """When the process started, in CLOCK_BOOTTIME seconds (the kernel counts in clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[19]) / TICK


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Cluster(failover.Cluster):
    def __init__(self, bin_dir, token, coefficient, work=None, system=""):
        super().__init__(bin_dir, token, work=work)
        self.coefficient = coefficient
        self.system = system

    def corosync_conf(self):
        conf = super().corosync_conf()
        if self.token:
            conf = conf.replace("token_coefficient: 0", f"token_coefficient: {self.coefficient}")
        if self.system:
            conf += f"system {{\n    {self.system}\n}}\n"
        return conf


def web_server_pid(node):
    for pid in node.processes():
        if "http.server" in cmdline(pid) and "python" in cmdline(pid):
            return pid
    return None


def lines_since(node, since_epoch):
    """(epoch time, text) of the node's pacemakerd output lines stamped at or after since_epoch."""
    out = []
    try:
        with open(node.out) as f:
            for line in f:
                t, _, text = line.partition(" ")
                try:
                    t = float(t)
                except ValueError:
                    continue
                if t >= since_epoch:
                    out.append((t, text.rstrip()))
    except (OSError, TypeError):
        pass
    return out


KILLED = {}


def one_kill(c, i):
    holder = wait_for(60, serving_node)
    if not holder:
        raise RuntimeError("the web server does not answer")
    victim = c.node(holder)
    # pacemakerd gives up on a daemon that dies more than 5 times within 60 s: at most 5 kills
    # of one node's corosyncd within 60 s, so that only the race is measured.
    recent = [t for t in KILLED.get(victim.name, []) if time.monotonic() - t < 61]
    if len(recent) >= 5:
        time.sleep(61 - (time.monotonic() - recent[0]))
    KILLED[victim.name] = recent + [time.monotonic()]
    others = [n for n in c.nodes if n is not victim]
    web = web_server_pid(victim)
    old = victim.daemons().get("corosyncd")
    if not old or not web:
        raise RuntimeError(f"{victim.name}: no corosyncd ({old}) or web server ({web}) found")
    backs = {n.name: n.tail(100000).count(f"{victim.name}'s controller is back") for n in others}
    epoch = time.time()
    t0 = boottime()
    os.kill(old, signal.SIGKILL)

    def new_pid():
        p = victim.daemons().get("corosyncd")
        return p if p and p != old else None
    pid = wait_for(20, new_pid, 0.005)
    spawn = started_at(pid) - t0 if pid else None

    def outcome():
        if victim.proc is None or victim.proc.poll() is not None:
            return "fenced"
        back = all(n.tail(100000).count(f"{victim.name}'s controller is back") > backs[n.name] for n in others)
        if back and c.all_online(others[0]):
            return "survived"
        return None
    result = wait_for(60, outcome, 0.1) or "undecided"
    mine = lines_since(victim, epoch)
    join = ring = steps = None
    for t, text in mine:
        m = re.search(r"first join sent (\d+) ms after the process started", text)
        if m and join is None and spawn is not None:
            join = spawn + int(m.group(1)) / 1000
            steps = text[m.end():].strip()
        if "A new membership" in text and ring is None:
            ring = t - epoch
    token_lost = any("A processor failed" in text for n in others for _, text in lines_since(n, epoch))
    same_web = result == "survived" and web_server_pid(victim) == web
    if result == "survived" and not same_web:
        result = "survived, service restarted"
    fmt = lambda v: f"{v * 1000:6.0f}" if v is not None else "     -"  # noqa: E731
    log(f"  kill {i + 1:2}: {victim.name} {result:<12} token lost first: {'yes' if token_lost else 'no ':3}"
        f"  spawn {fmt(spawn)} ms  join {fmt(join)} ms  ring {fmt(ring)} ms")
    if steps:
        log(f"           new corosyncd's start-up: {steps}")
    if result == "fenced":
        victim.power_cut()
        # Wait for the survivors to settle (the service running on one) before it comes back.
        wait_for(60, serving_node, 0.2)
        c.rejoin(victim, others[0])
    else:
        time.sleep(2)
    return {"result": result, "token_lost": token_lost, "spawn": spawn, "join": join, "ring": ring}


def summary(label, rounds):
    n = len(rounds)
    ok = sum(1 for r in rounds if r["result"] == "survived")
    lost = sum(1 for r in rounds if r["token_lost"])

    def stat(key):
        v = [r[key] * 1000 for r in rounds if r[key] is not None]
        if not v:
            return "     -"
        return f"median {statistics.median(v):5.0f} max {max(v):5.0f}"
    log(f"{label}: survived {ok}/{n} (token lost first {lost}/{n}); ms from SIGKILL: spawn {stat('spawn')}, "
        f"join {stat('join')}, ring {stat('ring')}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=None, help="where the SwiftHA executables are (default: swift build --show-bin-path)")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--token", type=int, default=300, help="totem token in ms (0: corosync's default)")
    p.add_argument("--coefficient", type=int, default=0, help="totem token_coefficient in ms")
    p.add_argument("--load", type=int, default=0, help="busy-loop processes to run meanwhile")
    p.add_argument("--io", type=int, default=0, help="processes writing and fsyncing 8 MB files meanwhile (disk load)")
    p.add_argument("--system", default="", help="a line for corosync.conf's system section (e.g. 'sched_rr: no')")
    p.add_argument("--work", default=None)
    args = p.parse_args()
    if args.bin is None:
        args.bin = subprocess.run(["swift", "build", "--show-bin-path"], capture_output=True, text=True, check=True).stdout.strip()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    load = None
    c = Cluster(args.bin, args.token, args.coefficient, work=args.work, system=args.system)
    rounds = []
    try:
        label = (f"token {args.token} ms, token_coefficient {args.coefficient}" if args.token else "corosync's default timers") \
            + (f", {args.system}" if args.system else "") + f", {args.load} busy loops" + (f", {args.io} disk writers" if args.io else "")
        log(f"== {label}: {args.kills} SIGKILLs of the serving node's corosyncd (work dir {c.work})")
        c.start()
        c.configure()
        if args.load or args.io:
            # One process group, started in a session of its own: stopped with one killpg.
            # args.load busy loops, args.io writers (an 8 MB file each, written and fsynced
            # again and again, under the work directory).
            script = ("import os, sys\n"
                      "jobs = ['cpu'] * %d + ['io%%d' %% i for i in range(%d)]\n"
                      "job = jobs[0]\n"
                      "for j in jobs[1:]:\n"
                      "    if os.fork() == 0:\n"
                      "        job = j\n"
                      "        break\n"
                      "if job == 'cpu':\n"
                      "    while True: pass\n"
                      "path = os.path.join(%r, 'load-' + job)\n"
                      "block = os.urandom(1 << 20)\n"
                      "while True:\n"
                      "    with open(path, 'wb') as f:\n"
                      "        for _ in range(8): f.write(block)\n"
                      "        f.flush(); os.fsync(f.fileno())\n") % (args.load, args.io, c.work)
            if not args.load:
                script = script.replace("['cpu'] * 0 + ", "")
            load = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
        for i in range(args.kills):
            rounds.append(one_kill(c, i))
        summary(label, rounds)
    except RuntimeError as e:
        print(f"corosync-restart.py: {e}", file=sys.stderr)
        if rounds:
            summary("so far", rounds)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        if load is not None:
            try:
                os.killpg(load.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            load.wait()
        c.tear_down()


if __name__ == "__main__":
    main()
