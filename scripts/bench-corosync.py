#!/usr/bin/env python3
"""Benchmark of corosyncd against the real corosync 3.1.7 (make bench), 3 nodes on one machine,
each node in a network namespace of its own (a bridge and veth pairs, 10.99.S.1-3), the same
corosync.conf for both (knet, token 300, token_coefficient 0, crypto off as in ../shared/peer):

  - formation: seconds from starting the three daemons until all three report one ring of 3;
  - failure detection: seconds from SIGKILL of node 3 until nodes 1 and 2 both report {1, 2}
    (polled every 10 ms: through corosyncd's status file, and corosync-quorumtool for corosync),
    then node 3 is restarted and the time until it is back in a ring of 3 (rejoin);
  - CPG throughput: one sender on node 1 multicasts N messages of SIZE bytes (64, 1600, 8000)
    to a group that a receiver on each of the three nodes joined; messages/s and MB/s from the
    first send to the last delivery at the slowest receiver;
  - CPG latency: the sender multicasts at a steady 100 messages/s; p50 and p99 of the time from
    each send to the sender's own delivery of it (after 100 messages of warm-up);
  - peak resident memory (VmHWM) of each daemon after the run.

corosync's CPG clients are Benchmarks/corosync-cpg/cpgbench.c, compiled here with cc and linked
against Debian's libcpg.so.4. corosyncd's are its twin Benchmarks/corosync-cpg/swiftcpgbench.c,
which speaks corosyncd's local IPC (4-byte length frames, binary for the CPG data path, JSON
otherwise, as CorosyncClient); with --python-client (or without cc), this script itself.

Needs root and `ip netns`; the corosync side also needs corosync and libcpg4 (apt-get install
corosync) and a C compiler. Usage: bench-corosync.py [--corosyncd PATH] [--messages N]
[--sizes 64,1600,8000] [--kills K] [--latency-messages N] [--rate R] [--only ours|peer]
"""
import argparse, base64, json, os, random, shutil, signal, socket, struct, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def sh(*args, check=True, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


class Network:
    """A bridge namespace and three node namespaces; deleted by down()."""

    def __init__(self, n=3):
        self.tag = "%04x" % random.randint(0x1000, 0xFFFF)
        self.subnet = random.randint(1, 250)
        self.n = n
        self.created = []
        try:
            br = self.ns("b")
            self.add(br)
            sh("ip", "-n", br, "link", "set", "lo", "up")
            sh("ip", "-n", br, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", br, "link", "set", "br0", "up")
            for i in range(1, n + 1):
                ns = self.ns(i)
                self.add(ns)
                sh("ip", "-n", ns, "link", "set", "lo", "up")
                sh("ip", "link", "add", f"sb{self.tag}e{i}", "netns", ns, "type", "veth", "peer", "name", f"sb{self.tag}p{i}", "netns", br)
                sh("ip", "-n", br, "link", "set", f"sb{self.tag}p{i}", "master", "br0")
                sh("ip", "-n", br, "link", "set", f"sb{self.tag}p{i}", "up")
                sh("ip", "-n", ns, "addr", "add", f"{self.addr(i)}/24", "dev", f"sb{self.tag}e{i}")
                sh("ip", "-n", ns, "link", "set", f"sb{self.tag}e{i}", "up")
        except Exception:
            self.down()
            raise

    def ns(self, i):
        return f"swbench{self.tag}{i}"

    def addr(self, i):
        return f"10.99.{self.subnet}.{i}"

    def add(self, ns):
        sh("ip", "netns", "add", ns)
        self.created.append(ns)

    def down(self):
        for ns in reversed(self.created):
            sh("ip", "netns", "del", ns, check=False)
        self.created = []


def config(net, extra=""):
    nodes = "".join(f"    node {{\n        name: node{i}\n        nodeid: {i}\n        ring0_addr: {net.addr(i)}\n    }}\n" for i in range(1, 4))
    return f"""totem {{
    version: 2
    cluster_name: bench3
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    token: 300
    token_coefficient: 0
}}
quorum {{
    provider: corosync_votequorum
}}
{extra}nodelist {{
{nodes}}}
"""


def wait(cond, timeout, step=0.01):
    start = time.time()
    while time.time() - start < timeout:
        if cond():
            return time.time() - start
        time.sleep(step)
    return None


def peak_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- the two clusters


class Ours:
    name = "corosyncd"

    def __init__(self, net, corosyncd, scratch, cbench=None):
        self.net, self.bin, self.dir, self.cbench = net, corosyncd, scratch, cbench
        self.procs = {}
        for i in range(1, 4):
            etc = f"{self.root(i)}/etc/corosync"
            os.makedirs(etc, exist_ok=True)
            open(f"{etc}/corosync.conf", "w").write(config(net, "logging {\n    to_stderr: yes\n}\n"))

    def root(self, i):
        return f"{self.dir}/ours{i}"

    def start(self, i):
        log = open(f"{self.root(i)}/corosyncd.log", "a")
        self.procs[i] = subprocess.Popen(["ip", "netns", "exec", self.net.ns(i), self.bin, "-f", "--root", self.root(i), "--node", f"node{i}"],
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def members(self, i):
        try:
            for line in open(f"{self.root(i)}/run/swiftha/corosyncd.status"):
                if line.startswith("members="):
                    return [int(x) for x in line[8:].split()]
        except OSError:
            pass
        return None

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()
        try:
            os.unlink(f"{self.root(i)}/run/swiftha/corosyncd.status")
        except OSError:
            pass

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def client(self, i, args):
        sock = f"{self.root(i)}/run/swiftha/corosyncd.sock"
        if self.cbench:
            return subprocess.Popen([self.cbench, sock] + args, stdout=subprocess.PIPE, text=True)
        return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--client", sock] + args,
                                stdout=subprocess.PIPE, text=True)


class Corosync:
    name = "corosync 3.1.7"

    def __init__(self, net, scratch, cpgbench):
        self.net, self.dir, self.cpgbench = net, scratch, cpgbench
        self.procs = {}
        self.conf = f"{scratch}/corosync.conf"
        open(self.conf, "w").write(config(net, "logging {\n    to_stderr: no\n    to_logfile: yes\n    logfile: /var/log/corosync/corosync.log\n    timestamp: hires\n}\n"))

    def node_dir(self, i):
        return f"{self.dir}/peer{i}"

    def start(self, i):
        d = self.node_dir(i)
        for sub in ("vlc", "log", "run", "shm"):
            os.makedirs(f"{d}/{sub}", exist_ok=True)
        # corosync uses fixed paths (/var/lib/corosync, /dev/shm for its IPC): a mount namespace each.
        script = (f"mount --bind {d}/vlc /var/lib/corosync && mount --bind {d}/log /var/log/corosync && "
                  f"mount -t tmpfs -o mode=755 tmpfs /run && mount -t tmpfs -o mode=1777 tmpfs /dev/shm && exec corosync -f -c {self.conf}")
        out = open(f"{d}/corosync.out", "a")
        self.procs[i] = subprocess.Popen(["ip", "netns", "exec", self.net.ns(i), "unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                         stdout=out, stderr=out, stdin=subprocess.DEVNULL)

    def enter(self, i):
        return ["nsenter", f"--net=/run/netns/{self.net.ns(i)}", f"--mount=/proc/{self.procs[i].pid}/ns/mnt"]

    def members(self, i):
        p = self.procs.get(i)
        if p is None or p.poll() is not None:
            return None
        r = subprocess.run(self.enter(i) + ["corosync-quorumtool", "-l", "-p"], capture_output=True, text=True)
        ids = []
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) >= 2 and f[0].isdigit():
                ids.append(int(f[0]))
        return sorted(ids) or None

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def client(self, i, args):
        return subprocess.Popen(self.enter(i) + [self.cpgbench] + args, stdout=subprocess.PIPE, text=True)


# ---------------------------------------------------------------- measurements


def throughput(c, messages, size):
    group = f"bench{random.randint(0, 99999)}"
    receivers = [c.client(i, ["recv", group, str(messages)]) for i in range(1, 4)]
    for r in receivers:
        if r.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{c.name}: a receiver did not join")
    sender = c.client(1, ["send", group, str(messages), str(size), "4"])
    sent = sender.stdout.read().split()
    sender.wait()
    ends = []
    for r in receivers:
        words = finish(r)
        if len(words) != 4 or int(words[1]) != messages:
            print(f"{c.name}: a receiver of the {size} B run did not get all {messages} messages within 60 s of the sender's end ({words}); not counted")
            return None
        ends.append(float(words[3]))
    if len(sent) != 4:
        raise RuntimeError(f"{c.name}: the sender ended with {sent}")
    elapsed = max(ends) - float(sent[2])
    return messages / elapsed, messages * size / elapsed / 1e6


def finish(r, timeout=60):
    """A receiver's output words; a receiver still waiting after `timeout` s is stopped."""
    try:
        out = r.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        r.kill()
        out = r.communicate()[0]
    return (out or "").split()


def latency(c, messages, size, rate):
    """p50 and p99 (ms) from send to the sender's own delivery at RATE messages/s, with a
    receiver on each node; the first 100 messages (a second of warm-up) are not counted."""
    group = f"lat{random.randint(0, 99999)}"
    receivers = [c.client(i, ["recv", group, str(messages)]) for i in range(1, 4)]
    for r in receivers:
        if r.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{c.name}: a receiver did not join")
    sender = c.client(1, ["lat", group, str(messages), str(size), "4", str(rate)])
    words = sender.stdout.read().split()
    sender.wait()
    for r in receivers:
        finish(r, 30)
    if len(words) != 4 or int(words[1]) != messages - 100:
        raise RuntimeError(f"{c.name}: the latency sender ended with {words}")
    return float(words[2]), float(words[3])


def measure(c, messages, sizes, kills, lat_messages, lat_size, rate):
    out = {}
    t0 = time.time()
    for i in range(1, 4):
        c.start(i)
    formed = wait(lambda: all(c.members(i) == [1, 2, 3] for i in range(1, 4)), 60)
    if formed is None:
        raise RuntimeError(f"{c.name}: no ring of 3 within 60 s")
    out["formation"] = time.time() - t0
    detect, rejoin = [], []
    for _ in range(kills):
        time.sleep(1.0)
        c.kill(3)
        t = wait(lambda: c.members(1) == [1, 2] and c.members(2) == [1, 2], 30)
        if t is None:
            raise RuntimeError(f"{c.name}: nodes 1 and 2 did not drop node 3 within 30 s")
        detect.append(t)
        t1 = time.time()
        c.start(3)
        if wait(lambda: all(c.members(i) == [1, 2, 3] for i in range(1, 4)), 60) is None:
            raise RuntimeError(f"{c.name}: node 3 did not rejoin within 60 s")
        rejoin.append(time.time() - t1)
    out["detect"], out["rejoin"] = detect, rejoin
    time.sleep(1.0)
    if lat_messages:
        out["lat"] = latency(c, lat_messages, lat_size, rate)
    for size in sizes:
        out[size] = throughput(c, messages, size)
    out["rss"] = [peak_kib(c.procs[i].pid) for i in range(1, 4)]
    return out


# ---------------------------------------------------------------- corosyncd's IPC client


class IPC:
    """corosyncd's local IPC: 4-byte length frames; JSON for the control messages, binary for
    the CPG data path (0, kind 1 request / 2 reply / 4 event, id for requests and replies, body;
    see CorosyncAPI.swift)."""

    def __init__(self, path):
        for _ in range(100):
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit(f"cannot connect to {path}")
        self.buf = b""
        self.pos = 0
        self.next = 1
        if self.frame()["kind"] != "welcome":
            sys.exit("corosyncd refused the connection")

    def raw(self):
        while True:
            b, p = self.buf, self.pos
            if len(b) - p >= 4:
                n = int.from_bytes(b[p:p + 4], "big")
                if len(b) - p >= 4 + n:
                    self.pos = p + 4 + n
                    return b[p + 4:p + 4 + n]
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                sys.exit("corosyncd closed the connection")
            self.buf = b[p:] + chunk
            self.pos = 0

    def frame(self):
        f = self.raw()
        if f[0] == 0:
            return {"kind": {2: "reply", 4: "event"}.get(f[1], "binary"), "binary": f}
        return json.loads(f)

    def send(self, request):
        i = self.next
        self.next += 1
        body = json.dumps({"kind": "request", "id": i, "request": request}).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        return i

    def multicast_frame(self, group, payload):
        """A binary cpgMulticast request, not yet sent: (id, frame)."""
        i = self.next
        self.next += 1
        g = group.encode()
        body = b"\x00\x01" + i.to_bytes(8, "big") + b"\x01" + bytes([len(g)]) + g + payload
        return i, len(body).to_bytes(4, "big") + body


def is_delivery(f):
    return f[0] == 0 and f[1] == 4 and f[2] == 1


def delivery_payload(f):
    n = f[3]
    return f[4 + n + 8:]


def wait_members(c, want):
    members = 0
    while members < want:
        m = c.frame()
        if m["kind"] == "event" and "cpgConfigurationChange" in m.get("event", {}):
            members = len(m["event"]["cpgConfigurationChange"]["members"])


def client(path, args):
    """--client SOCKET recv GROUP N | send GROUP N SIZE MEMBERS | lat GROUP N SIZE MEMBERS RATE
    (same output as cpgbench)."""
    c = IPC(path)
    mode, group, n = args[0], args[1], int(args[2])
    c.send({"cpgJoin": {"group": group}})
    if mode == "recv":
        print("ready", flush=True)
        got, first, last = 0, 0.0, 0.0
        while got < n:
            f = c.raw()
            if is_delivery(f):
                last = time.time()
                if got == 0:
                    first = last
                got += 1
        print(f"recv {got} {first:.6f} {last:.6f}", flush=True)
        return
    size, want = int(args[3]), int(args[4])
    wait_members(c, want)
    if mode == "lat":
        rate = float(args[5])
        sent_at, lat = {}, []
        t0 = time.monotonic()
        k = 0
        answered = 0
        while answered < n:
            now = time.monotonic()
            if k < n and now >= t0 + k / rate:
                payload = struct.pack(">Q", k) + bytes(max(0, size - 8))
                _, fr = c.multicast_frame(group, payload)
                sent_at[k] = time.monotonic()
                c.sock.sendall(fr)
                k += 1
                continue
            timeout = (t0 + k / rate - now) if k < n else 1.0
            if c.pos >= len(c.buf):
                import select
                r, _, _ = select.select([c.sock], [], [], max(0.0, timeout))
                if not r:
                    continue
            f = c.raw()
            if is_delivery(f):
                seq = struct.unpack(">Q", delivery_payload(f)[:8])[0]
                if seq in sent_at:
                    t = time.monotonic() - sent_at.pop(seq)
                    answered += 1
                    if seq >= 100:
                        lat.append(t)
        lat.sort()
        print(f"lat {len(lat)} {lat[len(lat) // 2] * 1000:.3f} {lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000:.3f}", flush=True)
        return
    window, outstanding, sent, delivered = 256, {}, 0, 0
    start = time.time()
    while sent < n or outstanding:
        batch = []
        while sent < n and len(outstanding) < window:
            payload = struct.pack(">Q", sent) + bytes(max(0, size - 8))
            i, fr = c.multicast_frame(group, payload)
            outstanding[i] = payload
            batch.append(fr)
            sent += 1
        if batch:
            c.sock.sendall(b"".join(batch))
        f = c.raw()
        if f[0] == 0:
            if f[1] == 4:
                delivered += 1
                continue
            if f[1] == 2:
                i = int.from_bytes(f[2:10], "big")
                payload = outstanding.pop(i, None)
                if f[10] == 2 and payload is not None:
                    time.sleep(0.001)
                    j, fr = c.multicast_frame(group, payload)
                    outstanding[j] = payload
                    c.sock.sendall(fr)
                continue
        m = json.loads(f)
        if m["kind"] == "failure":
            sys.exit(f"corosyncd: {m.get('message')}")
    end = time.time()
    while delivered < n:
        if is_delivery(c.raw()):
            delivered += 1
    print(f"sent {n} {start:.6f} {end:.6f}", flush=True)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--client":
        return client(sys.argv[2], sys.argv[3:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corosyncd", default=f"{ROOT}/.build/release/corosyncd")
    ap.add_argument("--messages", type=int, default=30000, help="messages per throughput run")
    ap.add_argument("--sizes", default="64,1600,8000", help="message sizes in bytes, comma-separated")
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--latency-messages", type=int, default=1000, help="messages of the latency run (0: none)")
    ap.add_argument("--latency-size", type=int, default=64)
    ap.add_argument("--rate", type=float, default=100, help="messages/s of the latency run")
    ap.add_argument("--only", choices=["ours", "peer"], help="run one side only")
    ap.add_argument("--python-client", action="store_true", help="corosyncd's clients in Python (this script) instead of C")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",") if x]
    print(f"== corosyncd against corosync 3.1.7: 3 nodes in network namespaces, knet, token 300, token_coefficient 0, crypto off")
    if os.geteuid() != 0 or shutil.which("ip") is None or sh("ip", "netns", "list", check=False).returncode != 0:
        print("SKIPPED: needs root and `ip netns` (three namespaces, a bridge and veth pairs)")
        return
    scratch = tempfile.mkdtemp(prefix="swiftha-bench-corosync-")
    results = {}
    net = Network()
    try:
        args = (a.messages, sizes, a.kills, a.latency_messages, a.latency_size, a.rate)
        cbench = None
        if shutil.which("cc") and not a.python_client:
            cbench = f"{scratch}/swiftcpgbench"
            sh("cc", "-O2", "-o", cbench, f"{ROOT}/Benchmarks/corosync-cpg/swiftcpgbench.c")
        print(f"corosyncd's clients: {'Benchmarks/corosync-cpg/swiftcpgbench.c (C)' if cbench else 'this script (Python)'}; corosync's: cpgbench.c (C, libcpg)")
        if a.only != "peer":
            ours = Ours(net, a.corosyncd, scratch, cbench)
            try:
                results["ours"] = measure(ours, *args)
            finally:
                ours.stop()
        peer_missing = "--only ours" if a.only == "ours" else None
        if peer_missing:
            pass
        elif shutil.which("corosync") is None or not os.path.exists("/usr/lib/x86_64-linux-gnu/libcpg.so.4"):
            peer_missing = "corosync or libcpg4 is not installed (apt-get install corosync)"
        elif shutil.which("cc") is None:
            peer_missing = "no C compiler for the libcpg client (apt-get install gcc)"
        if peer_missing is None:
            cpgbench = f"{scratch}/cpgbench"
            sh("cc", "-O2", "-o", cpgbench, f"{ROOT}/Benchmarks/corosync-cpg/cpgbench.c", "/usr/lib/x86_64-linux-gnu/libcpg.so.4")
            peer = Corosync(net, scratch, cpgbench)
            try:
                results["peer"] = measure(peer, *args)
            finally:
                peer.stop()
        else:
            print(f"corosync side SKIPPED: {peer_missing}")
    finally:
        net.down()
        shutil.rmtree(scratch, ignore_errors=True)

    def ms(xs):
        return "/".join(f"{x * 1000:.0f}" for x in xs)

    o, p = results.get("ours"), results.get("peer")
    rows = [("formation (s)", lambda r: f"{r['formation']:.2f}", lambda: p["formation"] / o["formation"])]
    if a.kills:
        rows += [("failure detection after SIGKILL (ms, each run)", lambda r: ms(r["detect"]), lambda: (sum(p["detect"]) / sum(o["detect"]))),
                 ("rejoin after restart (ms, each run)", lambda r: ms(r["rejoin"]), lambda: (sum(p["rejoin"]) / sum(o["rejoin"])))]
    for size in sizes:
        rows += [(f"CPG {size} B msgs/s (1 sender, 3 receivers)", lambda r, s=size: f"{r[s][0]:.0f}" if r[s] else "stalled",
                  lambda s=size: o[s][0] / p[s][0] if o[s] and p[s] else float("nan")),
                 (f"CPG {size} B MB/s", lambda r, s=size: f"{r[s][1]:.1f}" if r[s] else "stalled",
                  lambda s=size: o[s][1] / p[s][1] if o[s] and p[s] else float("nan"))]
    if a.latency_messages:
        rows += [(f"latency p50 at {a.rate:.0f} msg/s, {a.latency_size} B (ms)", lambda r: f"{r['lat'][0]:.3f}", lambda: p["lat"][0] / o["lat"][0]),
                 (f"latency p99 at {a.rate:.0f} msg/s, {a.latency_size} B (ms)", lambda r: f"{r['lat'][1]:.3f}", lambda: p["lat"][1] / o["lat"][1])]
    rows += [("peak RSS per daemon (MiB)", lambda r: "/".join(f"{(k or 0) / 1024:.0f}" for k in r["rss"]),
              lambda: sum(k or 0 for k in p["rss"]) / max(1, sum(k or 0 for k in o["rss"])))]
    print(f"{'':48} {'corosyncd':>16} {'corosync':>16} {'advantage':>10}")
    for label, fmt, ratio in rows:
        print(f"{label:48} {fmt(o) if o else 'n/a':>16} {fmt(p) if p else 'n/a':>16} {('%.2fx' % ratio()) if o and p else '':>10}")
    print("advantage: corosync's time or memory / corosyncd's, corosyncd's rate / corosync's (above 1: corosyncd is better)")


if __name__ == "__main__":
    main()
