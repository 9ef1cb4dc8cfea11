#!/usr/bin/env python3
"""A real SwiftHA cluster on one machine, failed over by power cuts.

Three nodes on 127.0.0.1-3, each a pacemakerd (corosyncd, cibd, stonithd, lrmd, crmd) with its
own root directory; fencing on, through fence_swiftha; a web server (ocf:heartbeat:anything
running `python3 -m http.server` on 127.0.0.10) grouped after a dummy address resource.

  failover.py bench [--failovers 20] [--token 300] ...   measure failovers
  failover.py demo                                       the `make demo` walk-through

A failover is a power cut of the node that serves the page: SIGKILL, at once, of every process
carrying that node's SWIFTHA_ROOT (its pacemakerd, daemons, agents and the web server). It is
measured from the SIGKILL to the first answer of the web server from another node. The killed
node is then started again and rejoins before the next one.

Only processes this script started are stopped (by process group and by their SWIFTHA_ROOT,
which names a directory this script created), and the directory is removed at the end, on
failure and on Ctrl-C too.
"""
import argparse
import fcntl
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

VIP = "127.0.0.10"
HTTP_PORT = 8080
# Measured for the real Pacemaker 2.1.5 + Corosync 3.1.7 in network namespaces (issue 6).
PACEMAKER_DEFAULTS = "7.6-8.4 s (corosync's default timers)"
PACEMAKER_TOKEN_1000 = "4.8 s (token 1000 ms)"


# The steps of a failover in the survivors' logs: (label, test on a line's text and the victim).
TIMELINE_STEPS = [
    ("token lost", lambda t, v: "A processor failed" in t),
    ("membership formed", lambda t, v: "A new membership" in t and "Members left" in t),
    ("crmd sees the loss", lambda t, v: t.startswith("crmd:") and f"left: {v}" in t),
    ("new DC", lambda t, v: t.startswith("crmd:") and "is the DC" in t),
    ("join complete", lambda t, v: "join complete" in t),
    ("scheduler run", lambda t, v: "scheduler run" in t),
    ("fencing asked", lambda t, v: f"fencing {v}" in t),
    ("fence agent runs", lambda t, v: "running fence_swiftha" in t),
    ("fenced (recorded)", lambda t, v: f"{v} was fenced" in t),
    ("web-ip start sent", lambda t, v: "running web-ip_start_0" in t),
    ("web-ip started", lambda t, v: "web-ip_start_0 on" in t and "rc=" in t),
    ("web-server start sent", lambda t, v: "running web-server_start_0" in t),
    ("web-server started", lambda t, v: "web-server_start_0 on" in t and "rc=" in t),
]


def log(msg):
    print(msg, flush=True)


class Node:
    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = f"node{index}"
        self.root = os.path.join(cluster.work, self.name)
        self.proc = None
        self.starts = 0
        self.out = None

    def env(self):
        e = {k: v for k, v in os.environ.items() if k not in ("SWIFTHA_ROOT", "SWIFTHA_NODE", "NOTIFY_SOCKET", "CIB_file")}
        return e

    def tool_env(self):
        e = self.env()
        e["SWIFTHA_ROOT"] = self.root
        return e

    def start(self):
        self.starts += 1
        self.out = os.path.join(self.root, f"pacemakerd-{self.starts}.out")
        # A session (and process group) of its own: stopping it never touches anything else.
        # Its log lines get the time they arrived (seconds since the Unix epoch).
        self.proc = subprocess.Popen([os.path.join(self.cluster.bin, "pacemakerd"), "--root", self.root, "--node", self.name],
                                     env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=stamp, args=(self.proc.stdout, self.out), daemon=True).start()

    def started(self):
        try:
            with open(self.out) as f:
                return "all daemons started" in f.read()
        except OSError:
            return False

    def processes(self):
        """The processes carrying this node's SWIFTHA_ROOT (a directory this script made)."""
        want = ("SWIFTHA_ROOT=" + self.root).encode()
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if want in f.read().split(b"\0"):
                        found.append(int(name))
            except OSError:
                pass
        return found

    def daemons(self):
        """pid of each of the node's five daemons (children of its pacemakerd)."""
        out = {}
        if self.proc is None:
            return out
        for pid in self.processes():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
                comm = stat[stat.index("(") + 1:stat.rindex(")")]
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                continue
            if ppid == self.proc.pid and comm in ("corosyncd", "cibd", "stonithd", "lrmd", "crmd"):
                out[comm] = pid
        return out

    def peak_rss_kb(self):
        """Sum of the five daemons' peak resident sets (VmHWM), and pacemakerd's."""
        total = 0
        for pid in self.daemons().values():
            total += status_kb(pid, "VmHWM")
        return total, (status_kb(self.proc.pid, "VmHWM") if self.proc else 0)

    def power_cut(self):
        """SIGKILL of all the node's processes at once."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in range(50):
            left = self.processes()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        # A power cut also loses the node's volatile state, as a reboot empties /run (a tmpfs):
        # agents' state and pid files, sockets. Left there, the node's probes would report the
        # resources it ran before the cut as still active once it is back.
        shutil.rmtree(os.path.join(self.root, "run"), ignore_errors=True)

    def stop(self):
        """A clean stop (SIGTERM to pacemakerd), then SIGKILL of whatever is left."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        self.power_cut()

    def tool(self, args, check=False):
        r = subprocess.run([os.path.join(self.cluster.bin, args[0])] + args[1:], env=self.tool_env(),
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} on {self.name}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    def tail(self, n=40):
        try:
            with open(self.out) as f:
                return "".join(f.readlines()[-n:])
        except (OSError, TypeError):
            return ""


def stamp(stream, path):
    with open(path, "w") as out:
        for line in iter(stream.readline, b""):
            out.write(f"{time.time():.3f} {line.decode(errors='replace')}")
            out.flush()


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_for(seconds, condition, step=0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = condition()
        if v:
            return v
        time.sleep(step)
    return condition()


def serving_node():
    """The node whose web server answers on the service address, or None."""
    try:
        with urllib.request.urlopen(f"http://{VIP}:{HTTP_PORT}/", timeout=0.25) as r:
            return r.read().decode().strip() or None
    except Exception:
        return None


# UDP ports are reserved as the tests reserve theirs (Tests/TestSupport/TestPorts.swift): an
# exclusive flock on PORT_LOCKS/udp-PORT, held while the cluster runs (the kernel drops it when
# this script ends), on a port below Linux's ephemeral range that is free to bind right now.
PORT_LOCKS = "/tmp/swiftha-test-ports"
PORT_RANGE = range(20000, 32000)


def reserve_port(addresses):
    os.makedirs(PORT_LOCKS, mode=0o777, exist_ok=True)
    start = random.randrange(len(PORT_RANGE))
    for step in range(len(PORT_RANGE)):
        port = PORT_RANGE[(start + step) % len(PORT_RANGE)]
        fd = os.open(os.path.join(PORT_LOCKS, f"udp-{port}"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        free = True
        for a in addresses:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind((a, port))
                except OSError:
                    free = False
                    break
        if free:
            return port, fd
        os.close(fd)
    raise SystemExit(f"failover.py: no free UDP port in {PORT_RANGE.start}-{PORT_RANGE.stop - 1} on {addresses}")


class Cluster:
    def __init__(self, bin_dir, token, keep=False, work=None):
        self.bin = os.path.abspath(bin_dir)
        self.token = token
        self.work = tempfile.mkdtemp(prefix="swiftha-failover.", dir=work)
        self.keep = keep
        self.port, self.port_lock = reserve_port([f"127.0.0.{i}" for i in (1, 2, 3)])
        self.nodes = [Node(self, i) for i in (1, 2, 3)]
        for exe in ("pacemakerd", "corosyncd", "cibd", "stonithd", "lrmd", "crmd", "fence_swiftha", "cibadmin", "crm_mon", "corosync-keygen"):
            if not os.access(os.path.join(self.bin, exe), os.X_OK):
                raise SystemExit(f"failover.py: {exe} is not in {self.bin}; build first (swift build) or pass --bin DIR")

    def corosync_conf(self):
        timers = f"token: {self.token}\n    token_coefficient: 0" if self.token else ""
        nodes = "".join(f"    node {{\n        ring0_addr: 127.0.0.{n.index}\n        name: {n.name}\n        nodeid: {n.index}\n    }}\n"
                        for n in self.nodes)
        return f"""totem {{
    version: 2
    cluster_name: swiftha-demo
    transport: knet
    {timers}
    interface {{
        linknumber: 0
        mcastport: {self.port}
    }}
}}
quorum {{
    provider: corosync_votequorum
}}
logging {{
    to_stderr: yes
}}
nodelist {{
{nodes}}}
"""

    def prepare(self):
        conf = self.corosync_conf()
        for n in self.nodes:
            os.makedirs(os.path.join(n.root, "etc/corosync"))
            os.makedirs(os.path.join(n.root, "www"))
            with open(os.path.join(n.root, "etc/corosync/corosync.conf"), "w") as f:
                f.write(conf)
            with open(os.path.join(n.root, "www/index.html"), "w") as f:
                f.write(n.name + "\n")
        first = self.nodes[0]
        r = first.tool(["corosync-keygen", "--root", first.root])
        if r.returncode != 0:
            raise RuntimeError(f"corosync-keygen: {r.stderr.strip()}")
        key = os.path.join(first.root, "etc/corosync/authkey")
        for n in self.nodes[1:]:
            shutil.copy(key, os.path.join(n.root, "etc/corosync/authkey"))

    def start(self):
        self.prepare()
        for n in self.nodes:
            n.start()
        if not wait_for(120, lambda: all(n.started() for n in self.nodes), 0.2):
            raise RuntimeError("the nodes did not start:\n" + "\n".join(f"--- {n.name}\n{n.tail()}" for n in self.nodes))

    # Exit codes worth trying again for a while: the change lost to a newer one (103), or
    # this node's cibd has not seen the quorum yet just after the start (106).
    AGAIN = (103, 106)

    def cib(self, node, args):
        """cibadmin, again while the cluster says try again (AGAIN), for at most 30 s."""
        for _ in range(60):
            r = node.tool(["cibadmin"] + args)
            if r.returncode not in self.AGAIN:
                break
            time.sleep(0.5)
        if r.returncode != 0:
            raise RuntimeError(f"cibadmin {' '.join(args[:3])}: exit {r.returncode}: {r.stderr.strip()}")

    def configure(self):
        n = self.nodes[0]
        roots = ";".join(f"{m.name}:{m.root}" for m in self.nodes)
        for _ in range(60):
            r = n.tool(["crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--update", "true"])
            if r.returncode not in self.AGAIN:
                break
            time.sleep(0.5)
        if r.returncode != 0:
            raise RuntimeError(f"crm_attribute stonith-enabled: exit {r.returncode}: {r.stderr.strip()}")
        self.cib(n, ["--create", "--scope", "rsc_defaults", "--xml-text",
                     '<meta_attributes id="rsc-options"><nvpair id="rsc-options-resource-stickiness" name="resource-stickiness" value="100"/></meta_attributes>'])
        self.cib(n, ["--create", "--scope", "resources", "--xml-text",
                     f'<primitive id="fence" class="stonith" type="fence_swiftha"><instance_attributes id="fence-ia">'
                     f'<nvpair id="fence-roots" name="roots" value="{roots}"/>'
                     f'<nvpair id="fence-host-list" name="pcmk_host_list" value="{" ".join(m.name for m in self.nodes)}"/></instance_attributes>'
                     f'<operations><op id="fence-monitor" name="monitor" interval="60s"/></operations></primitive>'])
        # The web server runs through ocf:heartbeat:anything, unchanged. The agent starts it
        # with `su -`, which clears the environment; /usr/bin/env puts the node's SWIFTHA_ROOT
        # back (the agent expands $SWIFTHA_ROOT), so fence_swiftha finds and kills it.
        cmdline = f"SWIFTHA_ROOT=$SWIFTHA_ROOT /usr/bin/python3 -m http.server {HTTP_PORT} --bind {VIP} --directory $SWIFTHA_ROOT/www"
        self.cib(n, ["--create", "--scope", "resources", "--xml-text",
                     '<group id="web">'
                     '<primitive id="web-ip" class="ocf" provider="heartbeat" type="Dummy"><instance_attributes id="web-ip-ia">'
                     f'<nvpair id="web-ip-fake" name="fake" value="{VIP}"/></instance_attributes>'
                     '<operations><op id="web-ip-monitor" name="monitor" interval="10s"/></operations></primitive>'
                     '<primitive id="web-server" class="ocf" provider="heartbeat" type="anything"><instance_attributes id="web-server-ia">'
                     '<nvpair id="web-server-binfile" name="binfile" value="/usr/bin/env"/>'
                     f'<nvpair id="web-server-cmdline" name="cmdline_options" value="{cmdline}"/></instance_attributes>'
                     '<operations><op id="web-server-monitor" name="monitor" interval="2s" timeout="20s"/></operations></primitive>'
                     '</group>'])

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def all_online(self, via):
        r = via.tool(["crm_mon", "-1"])
        return r.returncode == 0 and "Online: [ node1 node2 node3 ]" in r.stdout

    def failover(self):
        """One power cut of the serving node; seconds until another node answers, and who."""
        holder = wait_for(60, serving_node)
        if not holder:
            raise RuntimeError("the web server does not answer:\n" + "\n".join(f"--- {n.name}\n{n.tail()}" for n in self.nodes))
        victim = self.node(holder)
        self.last_cut = time.time()
        cut = time.monotonic()
        victim.power_cut()
        back = wait_for(60, lambda: (lambda s: s if s and s != holder else None)(serving_node()), 0.01)
        took = time.monotonic() - cut
        self.last_answer = self.last_cut + took
        if not back:
            raise RuntimeError(f"the web server did not answer again after the power cut of {holder}:\n"
                               + "\n".join(f"--- {n.name}\n{n.tail()}" for n in self.nodes))
        return victim, back, took

    def timeline(self, victim):
        """The survivors' log lines of the last failover that mark its steps, as offsets from the
        power cut (the daemons' lines carry the time they reached this script)."""
        lines = []
        for n in self.nodes:
            if n is victim:
                continue
            try:
                with open(n.out) as f:
                    for line in f:
                        t, _, text = line.partition(" ")
                        try:
                            t = float(t)
                        except ValueError:
                            continue
                        if self.last_cut <= t <= self.last_answer + 0.05:
                            lines.append((t, n.name, text.rstrip()))
            except OSError:
                pass
        steps = []
        for label, needle in TIMELINE_STEPS:
            hit = min((l for l in lines if needle(l[2], victim.name)), default=None)
            if hit:
                m = re.search(r"exec=(\d+)ms", hit[2])
                steps.append((hit[0] - self.last_cut, label + (f", its agent ran {m.group(1)} ms" if m else ""), hit[1]))
        steps.append((self.last_answer - self.last_cut, "http answer", ""))
        return sorted(steps)

    def rejoin(self, victim, via):
        victim.start()
        if not wait_for(120, victim.started, 0.2):
            raise RuntimeError(f"{victim.name} did not start again:\n{victim.tail()}")
        if not wait_for(60, lambda: self.all_online(via), 0.3):
            raise RuntimeError(f"{victim.name} did not rejoin:\n{via.tool(['crm_mon', '-1']).stdout}")
        # Let the DC settle (probes on the node that came back).
        time.sleep(1.5)

    def tear_down(self):
        # Nothing interrupts the cleanup: a Ctrl-C or TERM now would leave processes behind.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        for n in self.nodes:
            n.stop()
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def bench(args):
    results = {}
    rss_peak = (0, 0)
    for token, count in ((args.token, args.failovers), (args.token2, args.failovers2)):
        if count <= 0:
            continue
        c = Cluster(args.bin, token, keep=args.keep, work=args.work)
        try:
            log(f"== token {token} ms, token_coefficient 0: {count} failovers (work dir {c.work})")
            c.start()
            c.configure()
            times = []
            for i in range(count):
                for n in c.nodes:
                    total, pmd = n.peak_rss_kb()
                    if total > rss_peak[0]:
                        rss_peak = (total, pmd)
                victim, back, took = c.failover()
                times.append(took)
                log(f"  failover {i + 1}: power cut of {victim.name}, served by {back} after {took:.3f} s")
                if args.timeline:
                    for at, label, where in c.timeline(victim):
                        log(f"      {at:7.3f}  {label}{f' ({where})' if where else ''}")
                if i + 1 < count:
                    c.rejoin(victim, c.node(back))
            results[token] = times
        finally:
            c.tear_down()
    log("")
    log("Failover: SIGKILL of the serving node (all its processes) to the web server answering on a survivor, fencing on")
    log(f"{'':24}{'median':>9}{'p90':>9}{'min':>9}{'max':>9}   n   Pacemaker 2.1.5 + Corosync 3.1.7")
    for token, times in results.items():
        peer = PACEMAKER_TOKEN_1000 if token == 1000 else PACEMAKER_DEFAULTS
        log(f"  SwiftHA token {token:>4} ms {statistics.median(times):8.3f}s{p90(times):8.3f}s{min(times):8.3f}s{max(times):8.3f}s {len(times):3}   {peer}")
    log(f"Peak RSS of one node's five daemons (corosyncd, cibd, stonithd, lrmd, crmd): {rss_peak[0] / 1024:.1f} MB"
        f" (+ pacemakerd {rss_peak[1] / 1024:.1f} MB); Pacemaker + Corosync: about 100 MB for corosync plus 10-25 MB per Pacemaker daemon")


def p90(times):
    """The 90th percentile (nearest rank)."""
    ordered = sorted(times)
    return ordered[max(0, -(-9 * len(ordered) // 10) - 1)]


def demo(args):
    c = Cluster(args.bin, args.token, keep=args.keep, work=args.work)
    try:
        log(f"== 1. Three nodes on 127.0.0.1-3 (token {args.token} ms), each: pacemakerd -> corosyncd, cibd, stonithd, lrmd, crmd")
        log(f"   roots under {c.work}")
        c.start()
        log("== 2. A fence device (fence_swiftha) and a web server (ocf:heartbeat:anything: python3 -m http.server) grouped with a dummy address")
        c.configure()
        holder = wait_for(60, serving_node)
        if not holder:
            raise RuntimeError("the web server did not start:\n" + "\n".join(f"--- {n.name}\n{n.tail()}" for n in c.nodes))
        wait_for(10, lambda: "Started" in c.nodes[0].tool(["crm_mon", "-1"]).stdout.split("web-server")[-1], 0.3)
        log("== 3. crm_mon -1")
        log(c.nodes[0].tool(["crm_mon", "-1"]).stdout)
        log(f"$ curl http://{VIP}:{HTTP_PORT}/   ->  {holder}")
        log(f"== 4. Power cut of {holder}: SIGKILL of all its processes")
        victim, back, took = c.failover()
        log(f"== 5. The web server answers again, now from {back}: {took:.3f} s after the power cut")
        survivor = c.node(back)
        log(f"$ stonith_admin --history {victim.name}")
        log(survivor.tool(["stonith_admin", "--history", victim.name]).stdout.rstrip())
        wait_for(10, lambda: f"Started {back}" in survivor.tool(["crm_mon", "-1"]).stdout, 0.3)
        log("$ crm_mon -1")
        log(survivor.tool(["crm_mon", "-1"]).stdout)
        log(f"$ curl http://{VIP}:{HTTP_PORT}/   ->  {serving_node()}")
        log("== 6. Stopping everything and removing what the demo made")
    finally:
        c.tear_down()
    log("done")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["bench", "demo"])
    p.add_argument("--bin", default=None, help="where the SwiftHA executables are (default: swift build --show-bin-path)")
    p.add_argument("--token", type=int, default=300, help="totem token in ms (token_coefficient 0)")
    p.add_argument("--failovers", type=int, default=20)
    p.add_argument("--token2", type=int, default=1000, help="a second round with this token (bench)")
    p.add_argument("--failovers2", type=int, default=20)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--timeline", action="store_true", help="print each failover's steps from the survivors' logs (bench)")
    p.add_argument("--work", default=None, help="make the work directory in this directory (default: the system's temporary one)")
    args = p.parse_args()
    if args.bin is None:
        args.bin = subprocess.run(["swift", "build", "--show-bin-path"], capture_output=True, text=True, check=True).stdout.strip()
    # Ctrl-C or a TERM: raise, so that the finally blocks stop the nodes and remove the files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        bench(args) if args.mode == "bench" else demo(args)
    except RuntimeError as e:
        print(f"failover.py: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
