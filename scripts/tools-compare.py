#!/usr/bin/env python3
"""The operator tools beside Pacemaker 2.1.5's on the scheduler suite's inputs.

crm_resource, crm_attribute, crm_node, crm_standby, crm_failcount and crm_ticket: for each
command line below, runs ours (.build/debug/TOOL) and Pacemaker's (/usr/sbin/TOOL) on a fresh
copy of each input (CIB_file=COPY, TZ=UTC) and counts the inputs where exit code, stdout,
stderr and, for the commands that write, the CIB left behind (versions and write stamps
aside, attributes in canonical order) are identical. Pacemaker's results are cached under
$TOOLS_COMPARE_CACHE (default /tmp/tools-compare-cache).

Placeholders in a command, taken from each input:
  NODE  the first node of <nodes> (uname)       RSC   the first top-level resource (id)
  PRIM  the first primitive, anywhere (id)      PARAM PRIM's first instance attribute (name)
  TICKET the first ticket (status ticket_state, else an rsc_ticket's ticket)

  scripts/tools-compare.py                      every command, a sample of inputs (every 7th)
  scripts/tools-compare.py --all                every input
  scripts/tools-compare.py --only crm_attribute --classes   the mismatch classes, with an example
  scripts/tools-compare.py --show CASE "crm_resource --list"  the diff for one input
"""
import argparse
import collections
import concurrent.futures
import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

# (command line, writes): "writes" also compares the CIB left behind.
COMMANDS = [
    ("crm_resource --list", False),
    ("crm_resource --list-raw", False),
    ("crm_resource --list --output-as xml", False),
    ("crm_resource --locate -r RSC", False),
    ("crm_resource --locate -r PRIM -Q", False),
    ("crm_resource --why -r RSC", False),
    ("crm_resource --why -N NODE", False),
    ("crm_resource --constraints -r RSC", False),
    ("crm_resource -A -r RSC", False),
    ("crm_resource --get-parameter PARAM -r PRIM", False),
    ("crm_resource --meta --get-parameter target-role -r RSC", False),
    ("crm_resource --list-operations", False),
    ("crm_resource --list-operations -r PRIM", False),
    ("crm_resource --query-xml -r RSC", False),
    ("crm_resource --query-xml-raw -r RSC", False),
    ("crm_resource --set-parameter fake -v 1 -r PRIM", True),
    ("crm_resource --meta --set-parameter target-role -v Stopped -r RSC", True),
    ("crm_resource --delete-parameter PARAM -r PRIM", True),
    ("crm_resource --bogus", False),
    ("crm_resource --locate", False),
    ("crm_resource --locate -r no-such-rsc", False),
    ("crm_resource --why -r RSC -N no-such-node", False),
    ("crm_attribute -G -n stonith-enabled", False),
    ("crm_attribute -G -n no-quorum-policy -q", False),
    ("crm_attribute -G -n symmetric-cluster -d true", False),
    ("crm_attribute -G -N NODE -n standby", False),
    ("crm_attribute -G -N NODE -l reboot -n probe_complete", False),
    ("crm_attribute -G -t rsc_defaults -n resource-stickiness", False),
    ("crm_attribute -G -t op_defaults -n timeout", False),
    ("crm_attribute -n stonith-enabled -v false", True),
    ("crm_attribute -N NODE -n site -v a", True),
    ("crm_attribute -N NODE -l reboot -n site -v b", True),
    ("crm_attribute -t rsc_defaults -n resource-stickiness -v 100", True),
    ("crm_attribute -D -n stonith-enabled", True),
    ("crm_attribute -D -N NODE -n standby", True),
    ("crm_attribute --bogus", False),
    ("crm_attribute -G", False),
    ("crm_attribute -G -N no-such-node -n x", False),
    ("crm_attribute -G -t bogus -n x", False),
    ("crm_node -l", False),
    ("crm_node -n", False),
    ("crm_node -q", False),
    ("crm_node -p", False),
    ("crm_node --bogus", False),
    ("crm_failcount -G -r PRIM -N NODE", False),
    ("crm_failcount -G -r PRIM -N NODE -q", False),
    # (crm_failcount -D is not compared: with CIB_file, Pacemaker's crm_resource says "Dry run"
    # and crashes, SIGSEGV.)
    ("crm_failcount -G -N NODE", False),
    ("crm_failcount -G -r no-such-rsc -N NODE", False),
    ("crm_standby -G -N NODE", False),
    ("crm_standby -v on -N NODE", True),
    ("crm_standby -D -N NODE", True),
    ("crm_standby -G -N no-such-node", False),
    ("crm_ticket -l", False),
    ("crm_ticket -L", False),
    ("crm_ticket -c", False),
    ("crm_ticket -t TICKET -G granted", False),
    ("crm_ticket -t TICKET -q", False),
    ("crm_ticket -t TICKET -g --force", True),
    ("crm_ticket -t TICKET -r --force", True),
    ("crm_ticket -t TICKET -S owner -v me", True),
    ("crm_ticket -t no-such-ticket -G granted", False),
    ("crm_ticket --bogus", False),
]


def suite_dir():
    shared = os.environ.get("SWIFTHA_SHARED", "/work/shared")
    return os.path.join(shared, "conformance", "pacemaker-scheduler", "xml")


def names(path):
    v = {"NODE": None, "RSC": None, "PRIM": None, "PARAM": None, "TICKET": None}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        root = None
    if root is not None:
        for n in root.iterfind("configuration/nodes/node"):
            v["NODE"] = n.get("uname")
            break
        res = root.find("configuration/resources")
        if res is not None:
            for r in res:
                if r.tag in ("primitive", "group", "clone", "master", "bundle"):
                    v["RSC"] = r.get("id")
                    break
            for p in res.iter("primitive"):
                v["PRIM"] = p.get("id")
                for nv in p.iterfind("instance_attributes/nvpair"):
                    v["PARAM"] = nv.get("name")
                    break
                break
        for t in root.iterfind("status/tickets/ticket_state"):
            v["TICKET"] = t.get("id")
            break
        if v["TICKET"] is None:
            for t in root.iter("rsc_ticket"):
                v["TICKET"] = t.get("ticket")
                break
    return {k: (x or "none") for k, x in v.items()}


def argv(command, path):
    v = names(path)
    return [re.sub(r"\b(NODE|RSC|PRIM|PARAM|TICKET)\b", lambda m: v[m.group(1)], a) for a in command.split()]


DROP = ("epoch", "num_updates", "admin_epoch", "cib-last-written", "update-origin", "update-client",
        "update-user", "crm_feature_set", "have-quorum", "dc-uuid")


def canonical_cib(path):
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        return f"<unreadable: {e.__class__.__name__}>"
    for a in DROP:
        root.attrib.pop(a, None)
    for e in root.iter():
        for k in ("last-granted",):
            if k in e.attrib:
                e.set(k, "<t>")
    return ET.canonicalize(ET.tostring(root, encoding="unicode"), strip_text=True)


def clean(text):
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(Z| [+-]\d\d:\d\d)?", "<time>", text)
    text = re.sub(r'request="[^"]*/(crm_\w+) ', r'request="\1 ', text)
    text = re.sub(r"last-granted=\S+", "last-granted=<t>", text)
    return text


def run(binary, command, path, writes):
    tool = command.split()[0]
    d = tempfile.mkdtemp(prefix="tools-compare-")
    try:
        copy = os.path.join(d, "cib.xml")
        shutil.copyfile(path, copy)
        env = dict(os.environ, CIB_file=copy, TZ="UTC", LC_ALL="C")
        env.pop("SWIFTHA_ROOT", None)
        try:
            p = subprocess.run([binary] + argv(command, path)[1:], env=env, capture_output=True, text=True,
                               errors="replace", timeout=60, stdin=subprocess.DEVNULL, cwd=d)
            out = f"exit {p.returncode}\n--stdout--\n{clean(p.stdout)}--stderr--\n{clean(p.stderr)}"
        except subprocess.TimeoutExpired:
            out = "timeout\n"
        if writes:
            out += "--cib--\n" + canonical_cib(copy) + "\n"
        return out.replace(binary, tool)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def pacemaker(command, writes, path, cache):
    key = hashlib.sha1(command.encode()).hexdigest()[:12]
    d = os.path.join(cache, key)
    os.makedirs(d, exist_ok=True)
    f = os.path.join(d, os.path.basename(path) + ".out")
    if os.path.exists(f):
        with open(f) as h:
            return h.read()
    out = run("/usr/sbin/" + command.split()[0], command, path, writes)
    with open(f, "w") as h:
        h.write(out)
    return out


def ours(command, writes, path, build):
    return run(os.path.join(os.path.abspath(build), command.split()[0]), command, path, writes)


def mismatch_class(theirs, mine):
    """What differs first, with ids and numbers blurred, so that like mismatches group."""
    a, b = theirs.split("\n"), mine.split("\n")
    if a[0] != b[0]:
        head = f"{a[0]} vs {b[0]}"
    else:
        head = "same exit"
    section = ""
    for x, y in zip(a + [""] * (len(b) - len(a)), b + [""] * (len(a) - len(b))):
        if x.startswith("--") and x.endswith("--"):
            section = x.strip("-")
        if x != y:
            blur = lambda s: re.sub(r"'[^']*'|\"[^\"]*\"|\b[\w.:-]*\d[\w.:-]*\b", "…", s)[:90]
            return f"{head}; {section}: pacemaker «{blur(x)}» ours «{blur(y)}»"
    return head


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=".build/debug")
    ap.add_argument("--all", action="store_true", help="every input (default: every 7th)")
    ap.add_argument("--every", type=int, default=7)
    ap.add_argument("--only", help="the commands that start with this (e.g. crm_ticket)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--classes", action="store_true", help="group the mismatches of each command")
    ap.add_argument("--show", nargs=2, metavar=("CASE", "COMMAND"), help="the diff for one input and command")
    a = ap.parse_args()
    cache = os.environ.get("TOOLS_COMPARE_CACHE", "/tmp/tools-compare-cache")
    d = suite_dir()
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".xml"))
    if not a.all:
        files = files[::a.every]
    if a.show:
        case, command = a.show
        path = os.path.join(d, case + ".xml")
        writes = dict(COMMANDS).get(command, True)
        t, o = pacemaker(command, writes, path, cache), ours(command, writes, path, a.build)
        print(" ".join(argv(command, path)))
        sys.stdout.writelines(difflib.unified_diff(t.splitlines(True), o.splitlines(True), "pacemaker", "ours"))
        return
    commands = [(c, w) for c, w in COMMANDS if not a.only or c.startswith(a.only)]
    total_same = 0
    for command, writes in commands:
        def one(path):
            t = pacemaker(command, writes, path, cache)
            o = ours(command, writes, path, a.build)
            return os.path.basename(path)[:-4], t == o, (None if t == o else mismatch_class(t, o))
        with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
            results = list(ex.map(one, files))
        same = sum(1 for _, ok, _ in results if ok)
        total_same += same
        print(f"{same:4d} of {len(files)}  {command}", flush=True)
        if a.classes:
            groups = collections.Counter(c for _, ok, c in results if not ok)
            example = {}
            for n, ok, c in results:
                if not ok:
                    example.setdefault(c, n)
            for c, k in groups.most_common(6):
                print(f"        {k:4d}x {c}  (e.g. {example[c]})", flush=True)
    print(f"total: {total_same} of {len(files) * len(commands)} identical ({len(commands)} commands, {len(files)} inputs)")


if __name__ == "__main__":
    main()
