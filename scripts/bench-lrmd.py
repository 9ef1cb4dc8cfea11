#!/usr/bin/env python3
"""Benchmark of lrmd (make bench): operations per second through lrmd's IPC API for a no-op
OCF agent, lrmd's overhead per operation against a bare fork/exec of the same agent, IPC
round trips, and lrmd's memory with 1000 registered resources.

It speaks lrmd's wire protocol directly (4-byte big-endian length + JSON), so it measures
the daemon, not a client library. Usage: bench-lrmd.py [--lrmd PATH] [--ops N]
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


def op(resource, timeout_s=20):
    # Durations travel as Swift's Duration encoding: [seconds, attoseconds].
    return {"execute": {"_0": {"resource": resource, "action": "start", "interval": [0, 0],
                               "timeout": [timeout_s, 0], "parameters": {}, "meta": {}}}}


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrmd", default=os.path.join(here, "..", ".build", "release", "lrmd"))
    ap.add_argument("--ops", type=int, default=2000)
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
        ids = [lrmd.call(op(f"r{i % 16}"))["callID"]["_0"] for i in range(args.ops)]
        for i in ids:
            lrmd.wait_result(i)
        par = time.perf_counter() - t
        print(f"no-op agent through lrmd, 16 resources:  {args.ops / par:8.0f} ops/s (parallel limit 8)")

        t = time.perf_counter()
        for _ in range(args.ops // 4):
            subprocess.run([agent, "start"], check=True)
        bare = (time.perf_counter() - t) / (args.ops // 4)
        print(f"bare fork/exec of the agent:             {bare * 1e3:8.2f} ms/run")
        print(f"lrmd overhead per operation:             {(seq - bare) * 1e3:8.2f} ms")

        before = rss_kb(daemon.pid)
        for i in range(1000):
            lrmd.call({"register": {"_0": {"id": f"m{i}", "agent": "ocf:bench:Noop", "parameters": {"p": str(i)}, "meta": {}}}})
        after = rss_kb(daemon.pid)
        print(f"lrmd RSS: {before} kB with 16 resources, {after} kB with 1016")
        if subprocess.run(["sh", "-c", "command -v pacemaker-execd || test -x /usr/lib/pacemaker/pacemaker-execd"],
                          stdout=subprocess.DEVNULL).returncode != 0:
            print("peer: SKIPPED: pacemaker-execd is not installed (apt-get install pacemaker) — no side-by-side figure")
        else:
            print("peer: SKIPPED: pacemaker-execd needs a running cluster stack to be driven; no side-by-side figure yet")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        subprocess.run(["rm", "-rf", base])


if __name__ == "__main__":
    main()
