import ArgumentParser
import Foundation
import HASupport
import Messaging
import CIB
import ToolSupport
#if canImport(Glibc)
import Glibc
#endif

/// crm_node: this node's name and id, the cluster's nodes, the partition and its quorum, as
/// Pacemaker's crm_node prints them. It asks the node's corosyncd (--root or SWIFTHA_ROOT).
@main
struct CrmNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm_node",
        abstract: "Tool for displaying low-level node information.",
        discussion: """
        EXIT STATUS: 0 ok; 64 usage; 102 corosyncd or cibd is not reachable (not connected); 105 no such node; 106 (-q) the partition has no quorum; 107 (--remove) the node is still a member.
        """)

    @Flag(name: [.customShort("n"), .customLong("name")], help: "Show the name of the local node.") var name = false
    @Option(name: [.customShort("N"), .customLong("name-for-id")], help: "Show the name of the node with this id.") var nameForID: UInt32?
    @Flag(name: [.customShort("i"), .customLong("cluster-id")], help: "Show the local node's cluster id.") var clusterID = false
    @Flag(name: [.customShort("l"), .customLong("list")], help: "List the cluster's nodes: id, name and state.") var list = false
    @Flag(name: [.customShort("p"), .customLong("partition")], help: "List the names of the nodes in this node's partition.") var partition = false
    @Flag(name: [.customShort("q"), .customLong("quorum")], help: "Show whether this node's partition is quorate (1) or not (0).") var quorum = false
    @Option(name: [.customShort("R"), .customLong("remove")], help: "Remove a node that left the cluster from the CIB (its nodes entry and status), on CIB_file or through cibd; refused while it is still a member.") var remove: String?
    @Option(help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR")) var root: String?
    @Flag(name: [.customShort("V"), .customLong("verbose")], help: "Say more (where corosyncd was looked for when it cannot be reached).") var verbose: Int

    /// As Pacemaker's crm_node: a wrong option is one line, `crm_node: Unknown option --bogus`,
    /// and exit 64.
    static func main() async {
        do {
            guard var command = try parseAsRoot() as? CrmNode else { HASupport.exit(.usage) }
            try await command.run()
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .validationFailure {
                let message = ToolSupport.pacemakerUnknownOption(self.message(for: error))
                FileHandle.standardError.write(Data("crm_node: \(message)\n".utf8))
                HASupport.exit(.usage)
            }
            exit(withError: error)
        }
    }

    func run() async throws {
        let chosen = [name, nameForID != nil, clusterID, list, partition, quorum, remove != nil].filter { $0 }.count
        guard chosen == 1 else {
            FileHandle.standardError.write(Data("crm_node: give exactly one of -n, -N ID, -i, -l, -p, -q, -R NODE (see --help)\n".utf8))
            throw ExitCode(64)
        }
        let env = NodeEnvironment(root: root)
        // Called from a resource agent: the cluster passes the node's name.
        if name, let n = ProcessInfo.processInfo.environment["OCF_RESKEY_CRM_meta_on_node"] {
            print(n)
            return
        }
        if let remove { throw ExitCode(await Self.remove(remove, env: env).rawValue) }
        let state: QuorumState
        let nodelist: [(id: UInt32, name: String)]
        do {
            let client = try await CorosyncClient.connect(root: env.root, timeout: .seconds(5))
            defer { Task { await client.close() } }
            state = try await client.quorumState()
            nodelist = Self.nodelist(try await client.cmapList(prefix: "nodelist.node."))
        } catch {
            // Pacemaker's line (its crm_node asks the controller), then, with -V, where we
            // looked (the client's error already asks whether corosyncd runs when it cannot
            // connect).
            FileHandle.standardError.write(Data("error: Could not connect to controller: Connection refused\n".utf8))
            if verbose > 0 {
                let text = "\(error)"
                let hint = text.hasSuffix("?") ? "" : "; is corosyncd (or pacemakerd) running for this node?"
                FileHandle.standardError.write(Data("crm_node: could not connect to corosyncd for \(env.root == "/" ? "this node" : env.root): \(text)\(hint)\n".utf8))
            }
            throw ExitCode(102)
        }
        func nameOf(_ id: UInt32) -> String? {
            state.members.first { $0.nodeID == id }?.name ?? nodelist.first { $0.id == id }?.name
        }
        if self.name {
            print(env.node ?? nameOf(state.nodeID) ?? ProcessInfo.processInfo.hostName)
            return
        } else if let id = nameForID {
            guard let n = nameOf(id) else {
                FileHandle.standardError.write(Data("crm_node: no node with id \(id)\n".utf8))
                throw ExitCode(105)
            }
            print(n)
        } else if clusterID {
            print(state.nodeID)
        } else if list {
            let members = Set(state.members.map(\.nodeID))
            var ids = Set(nodelist.map(\.id))
            ids.formUnion(members)
            // Sorted by name as Pacemaker's (case aside, digit runs as numbers).
            for id in ids.sorted(by: { Self.numericLess(nameOf($0) ?? "", nameOf($1) ?? "") }) {
                print("\(id) \(nameOf(id) ?? "") \(members.contains(id) ? "member" : "lost")")
            }
        } else if partition {
            // As Pacemaker's: each name followed by a space, then the end of the line.
            let names = state.members.map { nameOf($0.nodeID) ?? "" }.sorted(by: Self.numericLess)
            print(names.map { $0 + " " }.joined())
        } else if quorum {
            print(state.quorate ? "1" : "0")
            // Pacemaker's crm_node -q exits CRM_EX_QUORUM (106) without quorum.
            if !state.quorate { throw ExitCode(106) }
        }
    }

    /// `--remove NAME`: takes a node that has left the cluster out of the CIB (its nodes entry
    /// and its status), on CIB_file or through cibd. On a live cluster it first asks corosyncd
    /// whether the node is still a member (then it refuses), and afterwards says what to change
    /// in corosync.conf, which corosyncd cannot change at run time.
    static func remove(_ name: String, env: NodeEnvironment) async -> CRMExit {
        let location = CIBLocation.fromEnvironment()
        var nodelistEntry: String?
        if location == .live {
            if let client = try? await CorosyncClient.connect(root: env.root, timeout: .seconds(5)) {
                let state = try? await client.quorumState()
                let nodes = (try? await client.cmapList(prefix: "nodelist.node.")).map(nodelist) ?? []
                await client.close()
                let id = UInt32(name)
                let member = state?.members.first { $0.name == name || (id != nil && $0.nodeID == id) }
                if let member {
                    FileHandle.standardError.write(Data("crm_node: not removing \(name): it is still a member of the cluster (node id \(member.nodeID)); stop the cluster on it first (systemctl stop pacemaker corosync, or pacemakerd's SIGTERM), then run crm_node --remove \(name) again\n".utf8))
                    return .unsafe
                }
                nodelistEntry = nodes.first { $0.name == name || (id != nil && $0.id == id) }.map { "nodelist { node { name: \($0.name) nodeid: \($0.id) ... } }" }
            }
        }
        var cib = location.load(program: "crm_node", root: env.root)
        let original = cib
        if cib.removeNode(name) == 0 {
            FileHandle.standardError.write(Data("crm_node: no node named \(name) in the CIB (neither in configuration/nodes nor in status); crm_node -l lists the cluster's nodes\n".utf8))
            return .noSuchObject
        }
        location.save(cib, original: original, program: "crm_node", root: env.root)
        if location == .live {
            let conf = env.corosyncConf
            print("Removed \(name) from the CIB.")
            print("To take it out of the membership for good, delete its entry \(nodelistEntry ?? "(node { name: \(name) ... })") from the nodelist of \(conf) on every remaining node, then restart corosyncd there one node at a time: corosyncd reads its nodelist from corosync.conf only when it starts.")
        }
        return .ok
    }

    /// Pacemaker's order for node names: case-insensitive, runs of digits compared as numbers
    /// (node2 before node10).
    static func numericLess(_ a: String, _ b: String) -> Bool {
        let x = Array(a.lowercased().unicodeScalars), y = Array(b.lowercased().unicodeScalars)
        var i = 0, j = 0
        func digit(_ c: Unicode.Scalar) -> Bool { c.properties.numericType == .decimal && c.isASCII }
        while i < x.count && j < y.count {
            if digit(x[i]) && digit(y[j]) {
                var m = i, n = j
                while m < x.count && digit(x[m]) { m += 1 }
                while n < y.count && digit(y[n]) { n += 1 }
                let p = String(String.UnicodeScalarView(x[i..<m])), q = String(String.UnicodeScalarView(y[j..<n]))
                let (pv, qv) = (Int(p.drop { $0 == "0" }.prefix(18)) ?? 0, Int(q.drop { $0 == "0" }.prefix(18)) ?? 0)
                if pv != qv { return pv < qv }
                i = m
                j = n
            } else {
                if x[i] != y[j] { return x[i].value < y[j].value }
                i += 1
                j += 1
            }
        }
        return x.count - i < y.count - j
    }

    /// `nodelist.node.N.nodeid` and `nodelist.node.N.name` from cmap.
    static func nodelist(_ entries: [CMapEntry]) -> [(id: UInt32, name: String)] {
        var ids: [String: UInt32] = [:], names: [String: String] = [:]
        for e in entries {
            let parts = e.key.split(separator: ".")
            guard parts.count == 4 else { continue }
            let index = String(parts[2])
            switch (parts[3], e.value) {
            case ("nodeid", .u32(let v)): ids[index] = v
            case ("name", .string(let s)): names[index] = s
            default: break
            }
        }
        return ids.compactMap { index, id in names[index].map { (id, $0) } }.sorted { $0.id < $1.id }
    }
}
