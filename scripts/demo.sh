#!/usr/bin/env bash
# make demo: three SwiftHA nodes on 127.0.0.1-3 with fencing (fence_swiftha) and a web server
# (ocf:heartbeat:anything running python3 -m http.server) grouped with a dummy address; the
# node serving the page loses power (SIGKILL of all its processes); the demo shows it fenced
# and the page served by another node, with the time it took; then it stops everything and
# removes what it made. scripts/failover.py does the work.
#
# Cleanup, whatever happens (failure, Ctrl-C, the script killed): the EXIT trap stops every
# process whose SWIFTHA_ROOT lies in this demo's own directory (by PID, never by name), then
# removes the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SWIFTHA_BIN:-$(swift build --show-bin-path)}
work=$(mktemp -d /tmp/swiftha-demo.XXXXXX)

cleanup() {
    local rc=$?
    # A second Ctrl-C or TERM does not cut the cleanup short.
    trap '' INT TERM
    trap - EXIT
    if [[ -n "${demo_pid:-}" ]] && kill -0 "$demo_pid" 2>/dev/null; then
        kill -TERM "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    fi
    local pids=() e p
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}; p=${p%/environ}
        if { tr '\0' '\n' < "$e"; } 2>/dev/null | grep -q "^SWIFTHA_ROOT=$work/"; then pids+=("$p"); fi
    done
    if ((${#pids[@]})); then
        echo "demo: stopping ${#pids[@]} leftover process(es) of the demo: ${pids[*]}"
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! command -v python3 >/dev/null; then echo "demo: python3 is needed (apt-get install python3)" >&2; exit 1; fi
if [[ ! -x /usr/lib/ocf/resource.d/heartbeat/anything ]]; then
    echo "demo: resource-agents is needed (apt-get install resource-agents)" >&2; exit 1
fi
python3 scripts/failover.py demo --bin "$bin" --work "$work" --token "${TOKEN:-300}" &
demo_pid=$!
wait "$demo_pid"
