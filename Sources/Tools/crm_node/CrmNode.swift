import ArgumentParser
import Foundation
import HASupport
import Messaging

/// crm_node: this node's name and id, the cluster's nodes, the partition and its quorum, as
/// Pacemaker's crm_node prints them. It asks the node's corosyncd (--root or SWIFTHA_ROOT).
@main
struct CrmNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm_node",
        abstract: "Tool for displaying low-level node information.",
        discussion: """
        EXIT STATUS: 0 ok; 64 usage; 102 corosyncd is not reachable (not connected); 105 no such node.
        """)

    @Flag(name: [.customShort("n"), .customLong("name")], help: "Show the name of the local node.") var name = false
    @Option(name: [.customShort("N"), .customLong("name-for-id")], help: "Show the name of the node with this id.") var nameForID: UInt32?
    @Flag(name: [.customShort("i"), .customLong("cluster-id")], help: "Show the local node's cluster id.") var clusterID = false
    @Flag(name: [.customShort("l"), .customLong("list")], help: "List the cluster's nodes: id, name and state.") var list = false
    @Flag(name: [.customShort("p"), .customLong("partition")], help: "List the names of the nodes in this node's partition.") var partition = false
    @Flag(name: [.customShort("q"), .customLong("quorum")], help: "Show whether this node's partition is quorate (1) or not (0).") var quorum = false
    @Option(name: [.customShort("R"), .customLong("remove")], help: "Remove a node from the cluster's configuration (needs cibd).") var remove: String?
    @Option(help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR")) var root: String?

    func run() async throws {
        let chosen = [name, nameForID != nil, clusterID, list, partition, quorum, remove != nil].filter { $0 }.count
        guard chosen == 1 else {
            FileHandle.standardError.write(Data("crm_node: give exactly one of -n, -N ID, -i, -l, -p, -q, -R NODE (see --help)\n".utf8))
            throw ExitCode(64)
        }
        if let remove {
            FileHandle.standardError.write(Data("crm_node: removing \(remove) needs cibd, which is not available in this build yet (issue #6)\n".utf8))
            throw ExitCode(3)
        }
        let env = NodeEnvironment(root: root)
        let state: QuorumState
        let nodelist: [(id: UInt32, name: String)]
        do {
            let client = try await CorosyncClient.connect(root: env.root, timeout: .seconds(5))
            defer { Task { await client.close() } }
            state = try await client.quorumState()
            nodelist = Self.nodelist(try await client.cmapList(prefix: "nodelist.node."))
        } catch {
            FileHandle.standardError.write(Data("crm_node: could not connect to corosyncd for \(env.root == "/" ? "this node" : env.root): \(error). Is corosyncd (or pacemakerd) running?\n".utf8))
            throw ExitCode(102)
        }
        func nameOf(_ id: UInt32) -> String? {
            state.members.first { $0.nodeID == id }?.name ?? nodelist.first { $0.id == id }?.name
        }
        if self.name {
            print(env.node ?? nameOf(state.nodeID) ?? ProcessInfo.processInfo.hostName)
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
            for id in ids.sorted() {
                print("\(id) \(nameOf(id) ?? "(null)") \(members.contains(id) ? "member" : "lost")")
            }
        } else if partition {
            print(state.members.map { $0.name ?? String($0.nodeID) }.joined(separator: " "))
        } else if quorum {
            print(state.quorate ? "1" : "0")
        }
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
