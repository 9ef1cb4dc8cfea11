#!/usr/bin/env python3
"""crm_mon beside Pacemaker 2.1.5's on the scheduler suite's inputs.

For each option set, runs both crm_mons on every input (CIB_file=FILE, TZ=UTC) and counts
the inputs whose stdout+stderr are identical, the "Last updated" line (text, HTML) or the
last_update element and the program's path (XML) left out. Pacemaker's outputs are cached
(they do not change) under $CRM_MON_CACHE (default /tmp/crm-mon-compare-cache).

--node takes the first node of the CIB's <nodes> section (its uname), --resource the first
top-level resource of <resources> (its id): written NODE and RSC in an option set.

  scripts/crm-mon-compare.py [--ours .build/debug/crm_mon] [--sets "-1" "-1 -R" ...]
                             [--show-diff CASE] [--list]
  scripts/crm-mon-compare.py --write-golden CASE "-1 -R"   (Tests/ToolTests/CrmMonGolden)
Default sets: the ones the crm_mon work is measured with (see README).
"""
import argparse
import concurrent.futures
import difflib
import hashlib
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

DEFAULT_SETS = [
    "-1", "-1 -Q", "-1 -b", "-1 -U summary", "-1 --node NODE", "-1 --resource RSC",
    "-1 -R", "-1 -R -r", "-1 -b -r", "-1 -n", "-1 -n -r", "-1 -n --node NODE",
    "-1 -n --resource RSC", "-1 -c", "--output-as xml",
]
PACEMAKER = "/usr/sbin/crm_mon"


def suite_dir():
    shared = os.environ.get("SWIFTHA_SHARED", "/work/shared")
    return os.path.join(shared, "conformance", "pacemaker-scheduler", "xml")


def first_names(path):
    node = rsc = None
    try:
        root = ET.parse(path).getroot()
        nodes = root.find("configuration/nodes")
        if nodes is not None:
            for n in nodes:
                if n.tag == "node":
                    node = n.get("uname")
                    break
        resources = root.find("configuration/resources")
        if resources is not None:
            for r in resources:
                if r.tag in ("primitive", "group", "clone", "master", "bundle"):
                    rsc = r.get("id")
                    break
    except ET.ParseError:
        pass
    return node or "none", rsc or "none"


def argv(optset, path):
    node, rsc = first_names(path)
    return [a.replace("NODE", node).replace("RSC", rsc) for a in optset.split()]


def clean(text, xml):
    lines = text.split("\n")
    if xml:
        lines = [re.sub(r'request="[^"]*crm_mon ', 'request="crm_mon ', l) for l in lines if "<last_update " not in l]
    else:
        # (HTML: the line after the "Last updated" label holds the time.)
        lines = [l for l in lines if not l.startswith("  * Last updated:") and not l.startswith('<span class="bold">Last updated: </span>')]
    return "\n".join(lines)


def run(binary, args, path):
    env = dict(os.environ, CIB_file=path, TZ="UTC")
    p = subprocess.run([binary] + args, env=env, capture_output=True, text=True, errors="replace", timeout=60)
    xml = "xml" in args
    return f"{p.returncode}\n" + clean(p.stdout + p.stderr, xml)


def pacemaker(optset, path, cache):
    key = hashlib.sha1(optset.encode()).hexdigest()[:12]
    d = os.path.join(cache, key)
    os.makedirs(d, exist_ok=True)
    f = os.path.join(d, os.path.basename(path) + ".out")
    if os.path.exists(f):
        with open(f) as h:
            return h.read()
    out = run(PACEMAKER, argv(optset, path), path)
    with open(f, "w") as h:
        h.write(out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", default=".build/debug/crm_mon")
    ap.add_argument("--sets", nargs="*", default=DEFAULT_SETS)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--list", action="store_true", help="name the differing inputs")
    ap.add_argument("--show-diff", metavar="CASE", help="print the diff for one input (with the first set)")
    ap.add_argument("--write-golden", nargs=2, metavar=("CASE", "ARGS"),
                    help="record Pacemaker's output for one input and option set in Tests/ToolTests/CrmMonGolden")
    a = ap.parse_args()
    cache = os.environ.get("CRM_MON_CACHE", "/tmp/crm-mon-compare-cache")
    d = suite_dir()
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".xml"))
    if a.write_golden:
        case, optset = a.write_golden
        path = os.path.join(d, case + ".xml")
        args = argv(optset, path)
        slug = re.sub(r"[^A-Za-z0-9]+", "_", " ".join(args)).strip("_")
        out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ToolTests", "CrmMonGolden")
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, f"{case}@{slug}.txt"), "w") as h:
            h.write("crm_mon " + " ".join(args) + "\n" + run(PACEMAKER, args, path))
        return
    if a.show_diff:
        path = os.path.join(d, a.show_diff + ".xml")
        optset = a.sets[0]
        theirs, ours = pacemaker(optset, path, cache), run(a.ours, argv(optset, path), path)
        print(" ".join(argv(optset, path)))
        sys.stdout.writelines(difflib.unified_diff(theirs.splitlines(True), ours.splitlines(True), "pacemaker", "ours"))
        return
    for optset in a.sets:
        def one(path):
            return os.path.basename(path)[:-4], pacemaker(optset, path, cache) == run(a.ours, argv(optset, path), path)
        with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
            results = list(ex.map(one, files))
        same = sum(1 for _, ok in results if ok)
        print(f"{optset}: {same} of {len(files)}", flush=True)
        if a.list:
            print("  differ: " + " ".join(n for n, ok in results if not ok), flush=True)


if __name__ == "__main__":
    main()
