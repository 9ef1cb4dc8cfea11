#!/usr/bin/env python3
"""Load-insensitive counters of lrmd's own cost per operation, side by side with Pacemaker's
pacemaker-execd on the same workload (N no-op OCF starts, one at a time, over 16 resources).

Where wall-clock figures (scripts/bench-lrmd.py) are noisy because the machine is busy, these
are much less so: perf stat counts the daemon's CPU time (task-clock), context switches, page
faults and, where the machine has hardware counters, instructions; strace counts its system
calls, per operation.

  perf (daemon only):  perf stat -e instructions,task-clock,context-switches,page-faults --no-inherit -p PID
                       (the daemon's threads; not the agent processes it starts)
  perf (with agents):  the same without --no-inherit: the daemon, its forked children before
                       exec, and the agents; minus a bare posix_spawn+waitpid loop of the same
                       agent this gives the daemon's overhead over a bare fork/exec
  strace:              strace -f -qq -o FILE -p PID; system calls of the daemon's threads, of
                       its children before execve (the spawn), and of the agent after it

Usage: bench-lrmd-counters.py [--lrmd PATH] [--ops N] [--no-peer] [--record FILE]
  --record FILE  also `perf record -g` lrmd during a run and write `perf report` to FILE.
Needs root (perf, strace; and execd only runs agents from /usr/lib/ocf/resource.d).
"""
import argparse, collections, importlib.util, os, re, signal, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_lrmd", os.path.join(HERE, "bench-lrmd.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

EVENTS = "instructions,task-clock,context-switches,page-faults"


def perf_stat(pid, run, inherit):
    out = tempfile.NamedTemporaryFile(prefix="perfstat-", delete=False).name
    cmd = ["perf", "stat", "-x", ",", "-e", EVENTS, "-o", out, "-p", str(pid)]
    if not inherit:
        cmd.insert(2, "--no-inherit")
    p = subprocess.Popen(cmd)
    time.sleep(0.5)
    run()
    p.send_signal(signal.SIGINT)
    p.wait()
    values = {}
    for line in open(out):
        f = line.strip().split(",")
        if len(f) >= 3 and f[0] and not line.startswith("#"):
            try:
                values[f[2]] = float(f[0])
            except ValueError:
                pass
    os.remove(out)
    return values


def strace_counts(pid, run):
    """System calls: (daemon threads, children before execve, agents after execve)."""
    out = tempfile.NamedTemporaryFile(prefix="strace-", delete=False).name
    p = subprocess.Popen(["strace", "-f", "-qq", "-o", out, "-p", str(pid)])
    time.sleep(1.0)
    run()
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    p.wait()
    calls = []
    line_re = re.compile(r"^(\d+)\s+(?:<\.\.\. )?([a-z_0-9]+)")
    for line in open(out):
        m = line_re.match(line)
        if not m or line.startswith(m.group(1) + " <..."):
            # "<... x resumed>" ends a call already counted at its start.
            continue
        calls.append((int(m.group(1)), m.group(2)))
    os.remove(out)
    # A pid that calls execve is a child: its calls up to that execve are the spawn's (the
    # daemon's cost), those after it the agent's own.
    exec_pids = {who for who, name in calls if name == "execve"}
    execd = set()
    daemon, prexec, agent = collections.Counter(), collections.Counter(), collections.Counter()
    for who, name in calls:
        if who not in exec_pids:
            daemon[name] += 1
        elif who in execd:
            agent[name] += 1
        else:
            prexec[name] += 1
            if name == "execve":
                execd.add(who)
    return daemon, prexec, agent


def bare_spawn(agent, n, base):
    """perf stat of a C loop of posix_spawn + waitpid of the agent: what a bare fork/exec costs."""
    src, exe = os.path.join(base, "spawn.c"), os.path.join(base, "spawn")
    with open(src, "w") as f:
        f.write(r'''#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
extern char **environ;
int main(int c, char **v) { int n = atoi(v[1]); char *a[] = {v[2], "start", 0};
  for (int i = 0; i < n; i++) { pid_t p; if (posix_spawn(&p, v[2], 0, 0, a, environ)) return 1;
    int s; waitpid(p, &s, 0); } return 0; }
''')
    subprocess.run(["cc", "-O2", "-o", exe, src], check=True)
    out = os.path.join(base, "bare.perf")
    subprocess.run(["perf", "stat", "-x", ",", "-e", EVENTS, "-o", out, exe, str(n), agent], check=True)
    values = {}
    for line in open(out):
        f = line.strip().split(",")
        if len(f) >= 3 and f[0] and not line.startswith("#"):
            try:
                values[f[2]] = float(f[0])
            except ValueError:
                pass
    return values


def report(who, n, daemon_only, with_children, bare, sc, instructions=None):
    d, pre, ag = sc
    print(f"{who}: per operation ({n} sequential no-op starts)")
    if instructions:
        print(f"  instructions:     {instructions / n:10.0f} (daemon threads)")
    else:
        print("  instructions:     not counted (no hardware counters here: perf reports <not supported>)")
    print(f"  daemon threads:   {daemon_only.get('task-clock', 0) / n:7.3f} ms task-clock "
          f"{daemon_only.get('context-switches', 0) / n:6.1f} context switches "
          f"{daemon_only.get('page-faults', 0) / n:6.1f} page faults")
    over_ms = with_children.get("task-clock", 0) / n - bare.get("task-clock", 0) / n
    print(f"  with agents:      {with_children.get('task-clock', 0) / n:7.3f} ms task-clock, "
          f"{with_children.get('page-faults', 0) / n:6.1f} page faults; over a bare spawn: {over_ms:7.3f} ms")
    ds, ps, as_ = sum(d.values()), sum(pre.values()), sum(ag.values())
    print(f"  syscalls:         {ds / n:6.1f} daemon threads + {ps / n:5.1f} child before exec "
          f"(+ {as_ / n:5.1f} in the agent)")
    top = ", ".join(f"{k} {v / n:.1f}" for k, v in (d + pre).most_common(12))
    print(f"  top syscalls/op:  {top}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrmd", default=os.path.join(HERE, "..", ".build", "release", "lrmd"))
    ap.add_argument("--ops", type=int, default=500)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--record", help="perf record -g lrmd during one run; write perf report here")
    args = ap.parse_args()
    n = args.ops
    base = tempfile.mkdtemp(prefix="swiftha-lrmd-counters-")
    ocf = os.path.join(base, "ocf")
    os.makedirs(os.path.join(ocf, "resource.d", "bench"))
    agent = os.path.join(ocf, "resource.d", "bench", "Noop")
    with open(agent, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(agent, 0o755)
    try:
        bare = bare_spawn(agent, n, base)
        print(f"bare posix_spawn+waitpid of the agent: {bare.get('task-clock', 0) / n:7.3f} ms task-clock, "
              f"{bare.get('page-faults', 0) / n:6.1f} page faults per run")
        def measure(pid, run):
            own = perf_stat(pid, run, inherit=False)
            total = perf_stat(pid, run, inherit=True)
            sc = strace_counts(pid, run)
            report("lrmd", n, own, total, bare, sc, own.get("instructions"))
            if args.record:
                record(pid, run, base, args.record)
        lrmd_session(args, base, ocf, "perf", measure)
        if not args.no_peer:
            peer(args, base, agent, bare)
    finally:
        subprocess.run(["rm", "-rf", base])


def record(pid, run, base, report_file):
    data = os.path.join(base, "perf.data")
    p = subprocess.Popen(["perf", "record", "-g", "--no-inherit", "-o", data, "-p", str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    run()
    p.send_signal(signal.SIGINT)
    p.wait()
    with open(report_file, "w") as f:
        subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "--sort", "dso,sym",
                        "-g", "none", "--percent-limit", "0.3"], stdout=f, stderr=subprocess.DEVNULL)
        subprocess.run(["perf", "report", "-i", data, "--children", "--stdio", "--sort", "sym",
                        "-g", "none", "--percent-limit", "2"], stdout=f, stderr=subprocess.DEVNULL)
    print(f"perf report: {report_file}")


def lrmd_session(args, base, ocf, name, body):
    """Starts lrmd, registers 16 resources, warms up, and calls
    body(pid, run) where run(k) runs k sequential no-op starts."""
    root = os.path.join(base, "root-" + name)
    log = open(os.path.join(base, f"lrmd-{name}.log"), "w")
    cmd = [args.lrmd, "--root", root, "--ocf-root", ocf, "--parallel-limit", "8"]
    daemon = subprocess.Popen(cmd, stdout=log, stderr=log)
    sock = os.path.join(root, "run", "swiftha", "lrmd.sock")
    for _ in range(12000):
        if os.path.exists(sock):
            break
        time.sleep(0.01)
    try:
        lrmd = bench.LRMD(sock)
        lrmd.call({"subscribe": {}})
        for i in range(16):
            lrmd.call({"register": {"_0": {"id": f"r{i}", "agent": "ocf:bench:Noop", "parameters": {"p": str(i)}, "meta": {}}}})

        def run(k=args.ops):
            for i in range(k):
                lrmd.wait_result(lrmd.call(bench.op(f"r{i % 16}"))["callID"]["_0"])
        run(100)  # warm up: threads and caches exist before counting
        return body(daemon.pid, run)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)


def peer(args, base, agent, bare):
    n = args.ops
    if not os.access(bench.EXECD, os.X_OK):
        return print(f"peer: SKIPPED: {bench.EXECD} is not installed")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "pacemaker-lrmd", "glib-2.0"], capture_output=True, text=True)
    client = os.path.join(base, "execd-bench")
    subprocess.run(["cc", "-O2", "-o", client, os.path.join(HERE, "execd-bench.c")] + flags.stdout.split(), check=True)
    if subprocess.run([client, "register", "0", "probe", "x", "y"], capture_output=True).returncode == 0:
        return print("peer: SKIPPED: a pacemaker-execd is already running here; not disturbing it")
    made_dir = not os.path.isdir(bench.PEER_AGENT_DIR)
    os.makedirs(bench.PEER_AGENT_DIR, exist_ok=True)
    peer_agent = os.path.join(bench.PEER_AGENT_DIR, "Noop")
    subprocess.run(["cp", agent, peer_agent], check=True)

    def session(body):
        log = os.path.join(base, "execd.log")
        cmd = [bench.EXECD, "-l", log]
        execd = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            for _ in range(3000):
                if subprocess.run([client, "register", "16", "r", "swiftha-bench", "Noop"], capture_output=True).returncode == 0:
                    break
                time.sleep(0.02)

            def run(k=n):
                subprocess.run([client, "seq", str(k), "16", "r"], check=True, capture_output=True)
            run(100)
            return body(execd.pid, run)
        finally:
            execd.send_signal(signal.SIGTERM)
            try:
                execd.wait(timeout=60)
            except subprocess.TimeoutExpired:
                execd.kill()
                execd.wait()

    try:
        def measure(pid, run):
            own = perf_stat(pid, run, inherit=False)
            total = perf_stat(pid, run, inherit=True)
            sc = strace_counts(pid, run)
            report("pacemaker-execd", n, own, total, bare, sc, own.get("instructions"))
        session(measure)
    finally:
        os.remove(peer_agent)
        if made_dir:
            os.rmdir(bench.PEER_AGENT_DIR)


if __name__ == "__main__":
    main()
