import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The tutorial's network, made for one test: one namespace per node, each with an `eth0`
/// addressed `<prefix>.<10+i>/24`, all linked through a bridge in a namespace of their own
/// (no link to the machine's network). Everything it creates is deleted by ``tearDown()``.
final class TutorialNetwork: @unchecked Sendable {
    static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    let tag: String
    let prefix: String
    let nodes: Int
    private(set) var created: [String] = []

    var bridge: String { "swha\(tag)b" }
    func namespace(_ i: Int) -> String { "swha\(tag)n\(i)" }
    func address(_ i: Int) -> String { "\(prefix).\(10 + i)" }

    /// Why this machine cannot run it, or nil.
    static var unavailable: String? {
        guard getuid() == 0 else { return "network namespaces need root (uid is \(getuid()))" }
        guard let ip else { return "no `ip` command (iproute2) found" }
        guard let r = try? Tool.run(executable: ip, ["netns", "list"]), r.status == 0 else { return "`ip netns` does not work here" }
        return nil
    }

    init(nodes: Int, prefix: String) throws {
        var rng = SystemRandomNumberGenerator()
        tag = String(UInt32.random(in: 0x1000...0xFFFF, using: &rng), radix: 16)
        self.prefix = prefix
        self.nodes = nodes
        do {
            try add(bridge)
            try run(["-n", bridge, "link", "set", "lo", "up"])
            try run(["-n", bridge, "link", "add", "br0", "type", "bridge"])
            try run(["-n", bridge, "link", "set", "br0", "up"])
            for i in 1...nodes {
                let ns = namespace(i), port = "sw\(tag)p\(i)"
                try add(ns)
                try run(["-n", ns, "link", "set", "lo", "up"])
                // Made under a name unique on the machine, then called eth0 inside the namespace.
                try run(["link", "add", "sw\(tag)e\(i)", "netns", ns, "type", "veth", "peer", "name", port, "netns", bridge])
                try run(["-n", ns, "link", "set", "sw\(tag)e\(i)", "name", "eth0"])
                try run(["-n", bridge, "link", "set", port, "master", "br0"])
                try run(["-n", bridge, "link", "set", port, "up"])
                try run(["-n", ns, "addr", "add", "\(address(i))/24", "dev", "eth0"])
                try run(["-n", ns, "link", "set", "eth0", "up"])
            }
        } catch {
            tearDown()
            throw error
        }
    }

    private func add(_ ns: String) throws {
        try run(["netns", "add", ns])
        created.append(ns)
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    func run(_ args: [String]) throws {
        let r = try Tool.run(executable: Self.ip!, args)
        guard r.status == 0 else { throw Failure(description: "ip \(args.joined(separator: " ")): \(r.stderr)") }
    }

    /// Runs a command inside node i's namespace.
    func exec(_ i: Int, _ command: [String], env: [String: String] = [:]) throws -> Tool.Result {
        try Tool.run(executable: Self.ip!, ["netns", "exec", namespace(i)] + command, env: env)
    }

    /// The IPv4 addresses on node i's eth0, as `ip netns exec NS ip addr` shows them.
    func addresses(_ i: Int) -> [String] {
        guard let r = try? exec(i, [Self.ip!, "-o", "-4", "addr", "show", "dev", "eth0"]), r.status == 0 else { return [] }
        return r.stdout.split(separator: "\n").compactMap { line in
            let w = line.split(separator: " ")
            return w.firstIndex(of: "inet").flatMap { $0 + 1 < w.count ? String(w[$0 + 1]) : nil }
        }
    }

    /// Deletes every namespace it created (the veth pairs go with them).
    func tearDown() {
        for ns in created.reversed() { _ = try? Tool.run(executable: Self.ip!, ["netns", "del", ns]) }
        created = []
    }
}

/// The tutorial's `lsb:httpd`: Debian has no httpd, so the test brings an LSB init script of
/// that name (in each node root's etc/init.d, read before /etc/init.d) that runs a small real
/// web server, python3's http.server, on port 80 of every address of the node, serving
/// `$SWIFTHA_ROOT/var/www/html`. Its pid file is under the node's HA_RSCTMP, so each node
/// knows only its own server; start returns once the server listens.
enum TutorialHTTPD {
    static let script = #"""
#!/bin/sh
### BEGIN INIT INFO
# Provides:          httpd
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: a small web server (python3 -m http.server on port 80)
# Description:       Serves ${SWIFTHA_ROOT}/var/www/html on every address of the node, port 80.
### END INIT INFO
# LSB exit codes: start/stop 0 ok, 1 failed; status 0 running, 1 dead with a pid file, 3 not running.
PIDFILE="${HA_RSCTMP:-/run}/httpd.pid"
DOCROOT="${SWIFTHA_ROOT:-}/var/www/html"
PYTHON=/usr/bin/python3
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
listening() { "$PYTHON" -c 'import socket; socket.create_connection(("127.0.0.1", 80), 0.5).close()' 2>/dev/null; }
case "$1" in
start)
    running && exit 0
    [ -d "$DOCROOT" ] || { echo "httpd: $DOCROOT does not exist" >&2; exit 6; }
    setsid "$PYTHON" -m http.server 80 --bind 0.0.0.0 --directory "$DOCROOT" >/dev/null 2>&1 </dev/null &
    echo $! > "$PIDFILE"
    i=0
    while [ $i -lt 50 ]; do
        listening && exit 0
        running || break
        sleep 0.1; i=$((i + 1))
    done
    echo "httpd: the server did not listen on port 80" >&2
    kill "$(cat "$PIDFILE")" 2>/dev/null; rm -f "$PIDFILE"
    exit 1 ;;
stop)
    if running; then
        pid=$(cat "$PIDFILE"); kill "$pid"
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -0 "$pid" 2>/dev/null && { kill -9 "$pid"; sleep 0.1; }
    fi
    rm -f "$PIDFILE"
    exit 0 ;;
status)
    running && { echo "httpd is running"; exit 0; }
    [ -f "$PIDFILE" ] && { echo "httpd is dead, $PIDFILE exists"; exit 1; }
    echo "httpd is not running"; exit 3 ;;
restart|force-reload)
    "$0" stop && exec "$0" start ;;
*)
    echo "usage: $0 {start|stop|status|restart|force-reload}" >&2; exit 2 ;;
esac
"""#
}
