#!/usr/bin/env python3
"""Benchmark of lrmd (make bench): operations per second through lrmd's IPC API for a no-op
OCF agent, lrmd's overhead per operation against a bare fork/exec of the same agent, IPC
round trips, and lrmd's memory with 1000 registered resources; then the same figures for
Pacemaker's executor, pacemaker-execd, side by side, where it can be driven here.

It speaks lrmd's wire protocol directly (4-byte big-endian length + JSON), so it measures
the daemon, not a client library. pacemaker-execd is driven through its own client library
(liblrmd) by scripts/execd-bench.c, compiled here; that needs pacemaker (the daemon),
pacemaker-dev (headers), a C compiler, and root (execd only runs OCF agents from
/usr/lib/ocf/resource.d, where the no-op agent is put for the run and removed after).
Usage: bench-lrmd.py [--lrmd PATH] [--ops N] [--no-peer]
"""
import argparse, json, os, signal, socket, struct, subprocess, sys, tempfile, time


class LRMD:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.next_id = 1
        self.results = {}
        kind = self.recv()["kind"]
        if kind != "welcome":
            sys.exit(f"lrmd refused the connection ({kind})")

    def recv(self):
        head = self.read(4)
        return json.loads(self.read(struct.unpack(">I", head)[0]))

    def read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                sys.exit("lrmd closed the connection")
            data += chunk
        return data

    def send(self, request):
        i = self.next_id
        self.next_id += 1
        body = json.dumps({"kind": "request", "id": i, "request": request}).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        return i

    def call(self, request):
        i = self.send(request)
        while True:
            m = self.recv()
            if m["kind"] == "event":
                rec = m["event"]["result"]["_0"]
                self.results[rec["callID"]] = rec
            elif m.get("id") == i:
                if m["kind"] == "failure":
                    sys.exit(f"lrmd: {m.get('message')}")
                return m["reply"]

    def wait_result(self, call_id):
        while call_id not in self.results:
            m = self.recv()
            if m["kind"] == "event":
                rec = m["event"]["result"]["_0"]
                self.results[rec["callID"]] = rec
        return self.results.pop(call_id)


    def wait_any(self):
        """Waits for the next result; returns its call id."""
        while True:
            m = self.recv()
            if m["kind"] == "event":
                rec = m["event"]["result"]["_0"]
                self.results[rec["callID"]] = rec
                return rec["callID"]


def duration(seconds):
    # Swift's Duration encodes as its 128-bit count of attoseconds: [high 64 bits, low 64 bits].
    atto = int(seconds * 10**18)
    return [atto >> 64, atto & (2**64 - 1)]


def op(resource, timeout_s=20):
    return {"execute": {"_0": {"resource": resource, "action": "start", "interval": duration(0),
                               "timeout": duration(timeout_s), "parameters": {}, "meta": {}}}}


WINDOW = 64  # operations in flight in the parallel runs (execd evicts a client ~500 behind)


def memory_kb(pid):
    """VmRSS (every resident page, shared libraries' included, as `ps` shows it) and RssAnon
    (the process's own heap and stacks, what it costs beyond the libraries every process of
    the node shares), in kB."""
    out = {"VmRSS": 0, "RssAnon": 0}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in out:
                out[key] = int(line.split()[1])
    return out


def memory_line(who, pid, before):
    after = memory_kb(pid)
    return (f"{who} RSS: {before['VmRSS']} kB with 16 resources, {after['VmRSS']} kB with 1016; "
            f"own memory (RssAnon): {before['RssAnon']} kB, {after['RssAnon']} kB")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrmd", default=os.path.join(here, "..", ".build", "release", "lrmd"))
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--no-peer", action="store_true", help="leave out pacemaker-execd")
    args = ap.parse_args()
    if not os.access(args.lrmd, os.X_OK):
        sys.exit(f"{args.lrmd} is not built: swift build -c release --product lrmd")

    base = tempfile.mkdtemp(prefix="swiftha-bench-lrmd-")
    root, ocf = os.path.join(base, "root"), os.path.join(base, "ocf")
    os.makedirs(os.path.join(ocf, "resource.d", "bench"))
    agent = os.path.join(ocf, "resource.d", "bench", "Noop")
    with open(agent, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(agent, 0o755)
    log = open(os.path.join(base, "lrmd.log"), "w")
    daemon = subprocess.Popen([args.lrmd, "--root", root, "--ocf-root", ocf, "--parallel-limit", "8"],
                              stdout=log, stderr=log)
    sock = os.path.join(root, "run", "swiftha", "lrmd.sock")
    for _ in range(500):
        if os.path.exists(sock):
            break
        time.sleep(0.01)
    try:
        lrmd = LRMD(sock)
        lrmd.call({"subscribe": {}})
        n = 2000
        bare = 0.0
        t = time.perf_counter()
        for _ in range(n):
            lrmd.call({"status": {}})
        rt = (time.perf_counter() - t) / n
        print(f"IPC round trip (status):                 {rt * 1e6:8.0f} us")

        for i in range(16):
            lrmd.call({"register": {"_0": {"id": f"r{i}", "agent": "ocf:bench:Noop", "parameters": {}, "meta": {}}}})
        t = time.perf_counter()
        for i in range(args.ops // 4):
            lrmd.wait_result(lrmd.call(op(f"r{i % 16}"))["callID"]["_0"])
        seq = (time.perf_counter() - t) / (args.ops // 4)
        print(f"no-op agent through lrmd, one at a time: {seq * 1e3:8.2f} ms/op")

        t = time.perf_counter()
        issued = done = 0
        while issued < min(WINDOW, args.ops):
            lrmd.call(op(f"r{issued % 16}"))
            issued += 1
        while done < args.ops:
            # Results that came in while a request was answered are already in lrmd.results.
            if not lrmd.results:
                lrmd.wait_any()
            lrmd.results.popitem()
            done += 1
            if issued < args.ops:
                lrmd.call(op(f"r{issued % 16}"))
                issued += 1
        par = time.perf_counter() - t
        print(f"no-op agent through lrmd, 16 resources:  {args.ops / par:8.0f} ops/s ({WINDOW} in flight, parallel limit 8)")

        t = time.perf_counter()
        for _ in range(args.ops // 4):
            subprocess.run([agent, "start"], check=True)
        bare = (time.perf_counter() - t) / (args.ops // 4)
        print(f"bare fork/exec of the agent:             {bare * 1e3:8.2f} ms/run")
        print(f"lrmd overhead per operation:             {(seq - bare) * 1e3:8.2f} ms")

        before = memory_kb(daemon.pid)
        for i in range(1000):
            lrmd.call({"register": {"_0": {"id": f"m{i}", "agent": "ocf:bench:Noop", "parameters": {"p": str(i)}, "meta": {}}}})
        print(memory_line("lrmd", daemon.pid, before))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    try:
        if not args.no_peer:
            peer(args, base, seq_ops=args.ops // 4, bare=bare, agent=agent)
    finally:
        subprocess.run(["rm", "-rf", base])


EXECD = "/usr/lib/pacemaker/pacemaker-execd"
PEER_AGENT_DIR = "/usr/lib/ocf/resource.d/swiftha-bench"


def peer(args, base, seq_ops, bare, agent):
    """The same figures for pacemaker-execd, or one line saying why they cannot be had here."""
    here = os.path.dirname(os.path.abspath(__file__))
    if not os.access(EXECD, os.X_OK):
        return print(f"peer: SKIPPED: {EXECD} is not installed (apt-get install pacemaker)")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "pacemaker-lrmd", "glib-2.0"], capture_output=True, text=True)
    if flags.returncode != 0:
        return print("peer: SKIPPED: liblrmd's headers are not installed (apt-get install pacemaker-dev)")
    client = os.path.join(base, "execd-bench")
    cc = subprocess.run(["cc", "-O2", "-o", client, os.path.join(here, "execd-bench.c")] + flags.stdout.split(),
                        capture_output=True, text=True)
    if cc.returncode != 0:
        return print(f"peer: SKIPPED: cannot compile scripts/execd-bench.c: {cc.stderr.strip()[:300]}")
    if os.geteuid() != 0:
        return print(f"peer: SKIPPED: pacemaker-execd runs OCF agents only from /usr/lib/ocf/resource.d; putting the no-op agent there needs root")
    if subprocess.run([client, "register", "0", "probe", "x", "y"], capture_output=True).returncode == 0:
        return print("peer: SKIPPED: a pacemaker-execd is already running on this machine (its IPC name is machine-wide); not disturbing it")
    made_dir = not os.path.isdir(PEER_AGENT_DIR)
    os.makedirs(PEER_AGENT_DIR, exist_ok=True)
    peer_agent = os.path.join(PEER_AGENT_DIR, "Noop")
    subprocess.run(["cp", agent, peer_agent], check=True)
    log = os.path.join(base, "execd.log")
    execd = subprocess.Popen([EXECD, "-l", log], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(500):
            if subprocess.run([client, "register", "16", "r", "swiftha-bench", "Noop"], capture_output=True).returncode == 0:
                break
            if execd.poll() is not None:
                return print(f"peer: SKIPPED: pacemaker-execd exited at start (status {execd.returncode}); see {log}")
            time.sleep(0.02)
        else:
            return print("peer: SKIPPED: pacemaker-execd did not accept a connection within 10 s")

        def timed(mode, n):
            r = subprocess.run([client, mode, str(n), "16", "r"], capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                raise RuntimeError(f"execd-bench {mode}: {r.stderr.strip()}")
            return float(r.stdout)

        seq = timed("seq", seq_ops) / seq_ops
        print(f"peer pacemaker-execd, one at a time:     {seq * 1e3:8.2f} ms/op")
        par = timed("par", args.ops)
        print(f"peer pacemaker-execd, 16 resources:      {args.ops / par:8.0f} ops/s ({WINDOW} in flight, no parallel limit)")
        print(f"peer pacemaker-execd overhead per op:    {(seq - bare) * 1e3:8.2f} ms")
        before = memory_kb(execd.pid)
        r = subprocess.run([client, "register", "1000", "m", "swiftha-bench", "Noop"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"execd-bench register: {r.stderr.strip()}")
        print(memory_line("peer pacemaker-execd", execd.pid, before))
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"peer: FAILED: {e}; see {log}")
    finally:
        execd.send_signal(signal.SIGTERM)
        try:
            execd.wait(timeout=30)
        except subprocess.TimeoutExpired:
            execd.kill()
            execd.wait()
        os.remove(peer_agent)
        if made_dir:
            os.rmdir(PEER_AGENT_DIR)


if __name__ == "__main__":
    main()
