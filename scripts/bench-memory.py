#!/usr/bin/env python3
"""Memory of one SwiftHA node (make bench): pacemakerd --root DIR starts corosyncd, cibd,
stonithd, lrmd and crmd; the node is configured as a one-node cluster with fencing on
(fence_swiftha) and --resources Dummy resources with 10 s monitors; once they run, each daemon's
memory is sampled for --seconds and printed beside Pacemaker + Corosync's figures (issue 6).

Per daemon: RSS (VmRSS, what `ps` shows: every resident page, the shared libraries' included),
its peak (VmHWM), RssAnon (the process's own heap and stacks), RssFile (mapped files: the
executable and the shared libraries, whose pages the node's processes share) and PSS (the
process's share of it all: the PSS of the daemons add up to what the node really costs).
--maps also lists, per daemon, the mapped files holding the most resident memory.

Only processes this script started are stopped (pacemakerd's process group, then whatever
carries the node's SWIFTHA_ROOT, a directory this script made), on failure and Ctrl-C too.
Usage: bench-memory.py [--bin DIR] [--resources N] [--seconds S] [--maps] [--keep]
"""
import argparse, os, random, shutil, signal, subprocess, sys, tempfile, time

DAEMONS = ("corosyncd", "cibd", "stonithd", "lrmd", "crmd")
# Issue 6: measured for Pacemaker 2.1.5 + Corosync 3.1.7.
PEER = "Pacemaker 2.1.5 + Corosync 3.1.7: about 100 MB for corosync plus 10-25 MB for each Pacemaker daemon"


def kb_fields(path, names):
    out = dict.fromkeys(names, 0)
    try:
        with open(path) as f:
            for line in f:
                key = line.split(":")[0]
                if key in out:
                    out[key] = int(line.split()[1])
    except OSError:
        pass
    return out


def memory(pid):
    m = kb_fields(f"/proc/{pid}/status", ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"))
    m.update(kb_fields(f"/proc/{pid}/smaps_rollup", ("Pss",)))
    return m


def mappings(pid, top):
    """The mapped files (and [heap], [stack], anonymous) with the most resident kB."""
    rss, name = {}, "?"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                parts = line.split()
                if parts and "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                    name = os.path.basename(parts[5]) if len(parts) > 5 else "[anonymous]"
                elif parts and parts[0] == "Rss:":
                    rss[name] = rss.get(name, 0) + int(parts[1])
    except OSError:
        pass
    return sorted(rss.items(), key=lambda kv: -kv[1])[:top]


class Node:
    def __init__(self, bin_dir, work):
        self.bin = bin_dir
        self.root = tempfile.mkdtemp(prefix="swiftha-bench-memory.", dir=work)
        self.proc = None
        self.out = os.path.join(self.root, "pacemakerd.out")

    def env(self):
        e = {k: v for k, v in os.environ.items() if k not in ("SWIFTHA_NODE", "NOTIFY_SOCKET", "CIB_file")}
        e["SWIFTHA_ROOT"] = self.root
        return e

    def prepare(self):
        os.makedirs(os.path.join(self.root, "etc/corosync"))
        port = random.randint(20000, 59000)
        with open(os.path.join(self.root, "etc/corosync/corosync.conf"), "w") as f:
            f.write(f"""totem {{
    version: 2
    cluster_name: swiftha-bench-memory
    transport: knet
    interface {{
        linknumber: 0
        mcastport: {port}
    }}
}}
quorum {{
    provider: corosync_votequorum
}}
logging {{
    to_stderr: yes
}}
nodelist {{
    node {{
        ring0_addr: 127.0.0.1
        name: node1
        nodeid: 1
    }}
}}
""")
        self.tool(["corosync-keygen", "--root", self.root], check=True)

    def start(self):
        env = self.env()
        # The daemons stop with this script, however it ends (HASupport's ParentWatch).
        env["SWIFTHA_DIE_WITH_PARENT"] = str(os.getpid())
        log = open(self.out, "w")
        self.proc = subprocess.Popen([os.path.join(self.bin, "pacemakerd"), "--root", self.root, "--node", "node1"],
                                     env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def started(self):
        try:
            with open(self.out) as f:
                return "all daemons started" in f.read()
        except OSError:
            return False

    def tool(self, args, check=False):
        r = subprocess.run([os.path.join(self.bin, args[0])] + args[1:], env=self.env(),
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    def cib(self, args):
        """A CIB change, again while the cluster says it lost to a newer one (103)."""
        for _ in range(40):
            r = self.tool(args)
            if r.returncode != 103:
                break
            time.sleep(0.5)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])}: exit {r.returncode}: {r.stderr.strip()}")

    def configure(self, resources):
        self.cib(["crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--update", "true"])
        self.cib(["cibadmin", "--create", "--scope", "resources", "--xml-text",
                  '<primitive id="fence" class="stonith" type="fence_swiftha"><instance_attributes id="fence-ia">'
                  f'<nvpair id="fence-roots" name="roots" value="node1:{self.root}"/>'
                  '<nvpair id="fence-host-list" name="pcmk_host_list" value="node1"/></instance_attributes>'
                  '<operations><op id="fence-monitor" name="monitor" interval="60s"/></operations></primitive>'])
        for i in range(resources):
            self.cib(["cibadmin", "--create", "--scope", "resources", "--xml-text",
                      f'<primitive id="d{i}" class="ocf" provider="heartbeat" type="Dummy">'
                      f'<operations><op id="d{i}-monitor" name="monitor" interval="10s"/></operations></primitive>'])

    def running(self):
        r = self.tool(["crm_mon", "-1"])
        return r.stdout.count("Started") if r.returncode == 0 else 0

    def daemons(self):
        """pid of each of the node's daemons: pacemakerd's children, by name."""
        out = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == self.proc.pid and comm in DAEMONS:
                out[comm] = int(name)
        return out

    def processes(self):
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

    def stop(self, keep):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
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
            time.sleep(0.05)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)


def wait_for(seconds, condition, step=0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def mb(kb):
    return f"{kb / 1024:8.1f}"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Memory of one SwiftHA node's daemons, beside Pacemaker + Corosync's")
    ap.add_argument("--bin", default=os.path.join(here, "..", ".build", "release"),
                    help="where pacemakerd, the daemons and the tools are (default .build/release)")
    ap.add_argument("--resources", type=int, default=20, help="Dummy resources to run (default 20)")
    ap.add_argument("--seconds", type=float, default=10, help="how long to sample once they run (default 10)")
    ap.add_argument("--maps", action="store_true", help="also list each daemon's largest mappings")
    ap.add_argument("--work", default=None, help="where to make the node root (default: the temp directory)")
    ap.add_argument("--keep", action="store_true", help="keep the node root")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    for exe in ("pacemakerd",) + DAEMONS + ("fence_swiftha", "cibadmin", "crm_attribute", "crm_mon", "corosync-keygen"):
        if not os.access(os.path.join(args.bin, exe), os.X_OK):
            sys.exit(f"bench-memory.py: {exe} is not in {args.bin}; build first (swift build -c release) or pass --bin DIR")

    node = Node(args.bin, args.work)
    try:
        node.prepare()
        node.start()
        if not wait_for(120, node.started):
            sys.exit(f"bench-memory.py: the node did not start; see {node.out}")
        node.configure(args.resources)
        want = args.resources + 1
        if not wait_for(120, lambda: node.running() >= want, 0.5):
            sys.exit(f"bench-memory.py: {node.running()} of {want} resources started within 120 s; see {node.out}")
        pids = node.daemons()
        missing = [d for d in DAEMONS if d not in pids]
        if missing:
            sys.exit(f"bench-memory.py: {', '.join(missing)} not running; see {node.out}")
        peak = {d: 0 for d in DAEMONS}
        deadline = time.monotonic() + args.seconds
        while True:
            for d, pid in pids.items():
                peak[d] = max(peak[d], memory(pid)["VmRSS"])
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        last = {d: memory(pid) for d, pid in pids.items()}
        pmd = memory(node.proc.pid)
        binaries = {d: os.path.getsize(os.path.join(args.bin, d)) for d in DAEMONS + ("pacemakerd",)}

        print(f"Memory of one node's daemons: {args.resources} Dummy resources and a fence device running, "
              f"sampled every 0.5 s for {args.seconds:g} s (MB)")
        print(f"{'':12}{'RSS':>8} {'peak':>8} {'anon':>8} {'file':>8} {'PSS':>8}   binary")
        tot = dict.fromkeys(("VmRSS", "VmHWM", "RssAnon", "RssFile", "Pss", "peak"), 0)
        for d in DAEMONS:
            m = last[d]
            m["peak"] = max(peak[d], m["VmRSS"])
            for k in tot:
                tot[k] += m[k]
            print(f"{d:12}{mb(m['VmRSS'])} {mb(max(m['VmHWM'], m['peak']))} {mb(m['RssAnon'])} {mb(m['RssFile'])} {mb(m['Pss'])}"
                  f"   {binaries[d] / 1e6:.1f} MB")
        print(f"{'5 daemons':12}{mb(tot['VmRSS'])} {mb(tot['VmHWM'])} {mb(tot['RssAnon'])} {mb(tot['RssFile'])} {mb(tot['Pss'])}")
        print(f"{'pacemakerd':12}{mb(pmd['VmRSS'])} {mb(pmd['VmHWM'])} {mb(pmd['RssAnon'])} {mb(pmd['RssFile'])} {mb(pmd['Pss'])}"
              f"   {binaries['pacemakerd'] / 1e6:.1f} MB")
        print(f"All six: RSS {(tot['VmRSS'] + pmd['VmRSS']) / 1024:.1f} MB, peak {(tot['VmHWM'] + pmd['VmHWM']) / 1024:.1f} MB,"
              f" PSS {(tot['Pss'] + pmd['Pss']) / 1024:.1f} MB")
        print(PEER)
        if args.maps:
            for d, pid in list(pids.items()) + [("pacemakerd", node.proc.pid)]:
                print(f"{d}: " + ", ".join(f"{name} {kb / 1024:.1f}" for name, kb in mappings(pid, 8)))
    finally:
        node.stop(args.keep)


if __name__ == "__main__":
    main()
