#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import HASupport
import Messaging
import NIOCore

/// A reason corosyncd cannot start: one line naming what, where and the fix, and the exit code.
struct StartupError: Error, CustomStringConvertible {
    var message: String
    var code: CRMExit

    init(_ code: CRMExit, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }
}

/// Everything corosyncd needs before it opens a socket, read and checked in one place.
struct Startup {
    var config: CorosyncConfig
    var configFile: String
    var node: NodeEntry
    /// The link numbers (ringX_addr), lowest first; only 0 unless transport knet has more.
    var links: [Int]
    /// This node's address on each link.
    var bindAddresses: [Int: SocketAddress]
    /// Every other node's address on each link.
    var peers: [UInt32: [Int: SocketAddress]]
    /// The port of link 0 (mcastport, default 5405).
    var port: Int

    /// The address on link 0.
    var bindAddress: SocketAddress { bindAddresses[links[0]]! }
    var key: AuthKey?
    var keyFile: String?

    /// Reads corosync.conf, finds this node, resolves the addresses and reads the authkey.
    static func load(environment env: NodeEnvironment, configFile: String?) throws(StartupError) -> Startup {
        let file = configFile ?? env.corosyncConf
        guard let data = FileManager.default.contents(atPath: file) else {
            let exists = FileManager.default.fileExists(atPath: file)
            throw StartupError(.config, exists
                ? "\(file): cannot read corosync.conf; make it readable by root"
                : "\(file): there is no corosync.conf; write one (see corosync.conf(5)) or point to it with -c FILE or --root DIR")
        }
        let config: CorosyncConfig
        do {
            config = try CorosyncConfig.parse(String(decoding: data, as: UTF8.self), file: file)
        } catch {
            throw StartupError(.config, error.description)
        }
        guard !config.nodes.isEmpty else {
            throw StartupError(.config, "\(file): the nodelist is empty; add a `nodelist { node { ring0_addr: ADDRESS  nodeid: N  name: NAME } }` for every node")
        }
        let node = try chooseNode(config: config, name: env.node, file: file)
        let port = config.totem.interfaces.first { $0.linkNumber == 0 }?.multicastPort ?? 5405
        // Each link uses its interface's mcastport, else link 0's.
        let links = node.addresses.keys.sorted()
        func portOf(_ link: Int) -> Int { config.totem.interfaces.first { $0.linkNumber == link }?.multicastPort ?? port }
        var bind: [Int: SocketAddress] = [:]
        for link in links { bind[link] = try resolve(node.addresses[link]!, port: portOf(link), file: file, line: node.line) }
        var peers: [UInt32: [Int: SocketAddress]] = [:]
        for other in config.nodes where other.nodeID != node.nodeID {
            for link in links {
                guard let a = other.addresses[link] else { continue }
                peers[other.nodeID, default: [:]][link] = try resolve(a, port: portOf(link), file: file, line: other.line)
            }
        }
        var key: AuthKey?
        var keyFile: String?
        if config.totem.isSecure {
            let path = config.totem.keyFile ?? env.authkey
            keyFile = path
            do {
                key = try AuthKey.load(path: path)
            } catch {
                throw StartupError(.config, error.message)
            }
        }
        return Startup(config: config, configFile: file, node: node, links: links, bindAddresses: bind, peers: peers,
                       port: port, key: key, keyFile: keyFile)
    }

    /// This node: the one named by --node / SWIFTHA_NODE, else the one whose ring0_addr is an
    /// address of this machine (any 127.x.y.z counts as local when the loopback has 127.0.0.1/8).
    static func chooseNode(config: CorosyncConfig, name: String?, file: String) throws(StartupError) -> NodeEntry {
        let described = config.nodes.map { "\($0.name ?? "(no name)") \($0.ring0 ?? "")" }.joined(separator: ", ")
        if let name {
            if let n = config.node(named: name) { return n }
            if let id = UInt32(name), let n = config.node(id: id) { return n }
            throw StartupError(.config, "\(file): no node is named '\(name)' in the nodelist (it has: \(described)); pass a name from it with --node or SWIFTHA_NODE, or add `name: \(name)` to this node's entry")
        }
        let local = localAddresses()
        let matches = config.nodes.filter { n in
            guard let addr = n.ring0, let ip = try? SocketAddress.makeAddressResolvingHost(addr, port: 0) else { return false }
            return local.contains { $0(ip) }
        }
        switch matches.count {
        case 1: return matches[0]
        case 0:
            throw StartupError(.config, "\(file): no nodelist address is an address of this machine (the nodelist has: \(described)); fix ring0_addr for this node, or name the node with --node NAME")
        default:
            let names = matches.map { $0.name ?? $0.ring0 ?? "" }.joined(separator: ", ")
            throw StartupError(.config, "\(file): several nodelist addresses are local to this machine (\(names)); say which node this is with --node NAME or SWIFTHA_NODE")
        }
    }

    /// Predicates that say whether an address is one of this machine's.
    static func localAddresses() -> [(SocketAddress) -> Bool] {
        var tests: [(SocketAddress) -> Bool] = []
        for device in (try? System.enumerateDevices()) ?? [] {
            guard let address = device.address, let ip = address.ipAddress else { continue }
            tests.append { $0.ipAddress == ip }
            if ip.hasPrefix("127.") {
                tests.append { $0.ipAddress?.hasPrefix("127.") == true }
            }
        }
        return tests
    }

    static func resolve(_ host: String, port: Int, file: String, line: Int) throws(StartupError) -> SocketAddress {
        do {
            return try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw StartupError(.config, "\(file):\(line): cannot resolve ring0_addr '\(host)' (\(error)); write an IP address or a name this machine can resolve")
        }
    }
}

extension Startup {
    /// Why corosync.conf cannot be reloaded now, or nil: it must parse, and keep this node's
    /// id, the transport and every node's addresses (those need a restart, as in corosync).
    static func checkReload(_ running: Startup) -> String? {
        let file = running.configFile
        guard let data = FileManager.default.contents(atPath: file) else { return "\(file) cannot be read" }
        let fresh: CorosyncConfig
        do {
            fresh = try CorosyncConfig.parse(String(decoding: data, as: UTF8.self), file: file)
        } catch {
            return error.description
        }
        if fresh.totem.transport != running.config.totem.transport {
            return "\(file): the transport changed; restart corosyncd on every node to change it"
        }
        let before = Dictionary(running.config.nodes.map { ($0.nodeID, $0.addresses) }, uniquingKeysWith: { a, _ in a })
        for n in fresh.nodes where before[n.nodeID].map({ $0 != n.addresses }) ?? false {
            return "\(file): the addresses of node \(n.nodeID) changed; restart corosyncd to change them"
        }
        guard fresh.nodes.contains(where: { $0.nodeID == running.node.nodeID }) else {
            return "\(file): this node (id \(running.node.nodeID)) is no longer in the nodelist; put it back or stop corosyncd here"
        }
        return nil
    }
}
