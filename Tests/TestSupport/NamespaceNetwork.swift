import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A network of its own for one test: one namespace per node, each with an `eth0` addressed
/// `<prefix>.<hostBase + i>/24`, all linked through a bridge in a namespace of their own (no
/// link to the machine's network). Everything it creates is deleted by ``tearDown()``.
public final class NamespaceNetwork: @unchecked Sendable {
    public static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    public let tag: String
    public let prefix: String
    public let hostBase: Int
    public let nodes: Int
    private(set) var created: [String] = []

    public var bridge: String { "swha\(tag)b" }
    public func namespace(_ i: Int) -> String { "swha\(tag)n\(i)" }
    public func address(_ i: Int) -> String { "\(prefix).\(hostBase + i)" }
    /// The bridge side of node i's link (what a partition takes down).
    public func bridgePort(_ i: Int) -> String { "sw\(tag)p\(i)" }

    /// Why this machine cannot make one, or nil.
    public static var unavailable: String? {
        guard getuid() == 0 else { return "network namespaces need root (uid is \(getuid()))" }
        guard let ip else { return "no `ip` command (iproute2) found" }
        guard let r = try? Tool.run(executable: ip, ["netns", "list"]), r.status == 0 else { return "`ip netns` does not work here" }
        return nil
    }

    public init(nodes: Int, prefix: String, hostBase: Int) throws {
        var rng = SystemRandomNumberGenerator()
        tag = String(UInt32.random(in: 0x1000...0xFFFF, using: &rng), radix: 16)
        self.prefix = prefix
        self.hostBase = hostBase
        self.nodes = nodes
        do {
            try add(bridge)
            try run(["-n", bridge, "link", "set", "lo", "up"])
            try run(["-n", bridge, "link", "add", "br0", "type", "bridge"])
            try run(["-n", bridge, "link", "set", "br0", "up"])
            for i in 1...nodes {
                let ns = namespace(i)
                try add(ns)
                try run(["-n", ns, "link", "set", "lo", "up"])
                // Made under a name unique on the machine, then called eth0 inside the namespace.
                try run(["link", "add", "sw\(tag)e\(i)", "netns", ns, "type", "veth", "peer", "name", bridgePort(i), "netns", bridge])
                try run(["-n", ns, "link", "set", "sw\(tag)e\(i)", "name", "eth0"])
                try run(["-n", bridge, "link", "set", bridgePort(i), "master", "br0"])
                try run(["-n", bridge, "link", "set", bridgePort(i), "up"])
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

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    public func run(_ args: [String]) throws {
        let r = try Tool.run(executable: Self.ip!, args)
        guard r.status == 0 else { throw Failure(description: "ip \(args.joined(separator: " ")): \(r.stderr)") }
    }

    /// Cuts node i off from the others (its bridge port goes down), or heals it.
    public func cut(_ i: Int, _ down: Bool) throws {
        try run(["-n", bridge, "link", "set", bridgePort(i), down ? "down" : "up"])
    }

    /// The launcher that runs a command inside node i's namespace.
    public func launcher(_ i: Int) -> [String] { [Self.ip!, "netns", "exec", namespace(i)] }

    /// Runs a command inside node i's namespace.
    public func exec(_ i: Int, _ command: [String], env: [String: String] = [:]) throws -> Tool.Result {
        try Tool.run(executable: Self.ip!, ["netns", "exec", namespace(i)] + command, env: env)
    }

    /// The IPv4 addresses on node i's eth0, as `ip netns exec NS ip addr` shows them.
    public func addresses(_ i: Int) -> [String] {
        guard let r = try? exec(i, [Self.ip!, "-o", "-4", "addr", "show", "dev", "eth0"]), r.status == 0 else { return [] }
        return r.stdout.split(separator: "\n").compactMap { line in
            let w = line.split(separator: " ")
            return w.firstIndex(of: "inet").flatMap { $0 + 1 < w.count ? String(w[$0 + 1]) : nil }
        }
    }

    /// Deletes every namespace it created (the veth pairs go with them).
    public func tearDown() {
        for ns in created.reversed() { _ = try? Tool.run(executable: Self.ip!, ["netns", "del", ns]) }
        created = []
    }
}
