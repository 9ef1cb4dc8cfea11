import ArgumentParser
import Foundation
import HASupport
import Messaging

/// corosync-cpgtool: the closed process groups and their members, as corosync 3.1's.
@main
struct CpgTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corosync-cpgtool",
        abstract: "A tool for displaying cpg groups and members.",
        discussion: """
        Asks the corosyncd of the node (--root DIR or SWIFTHA_ROOT, default /) over its local \
        socket. EXIT STATUS: 0 no problem; 1 an error (no corosyncd).
        """)

    @Option(name: .customShort("d"), help: ArgumentHelp("Delimiter between fields.", valueName: "delimiter"))
    var delimiter: String?

    @Flag(name: .customShort("e"), help: "Don't escape unprintable characters in group name.")
    var noEscape = false

    @Flag(name: .customShort("n"), help: "Display only all existing group names.")
    var namesOnly = false

    @Option(name: .long, help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR"))
    var root: String?

    func run() async throws {
        let env = NodeEnvironment(root: root)
        let groups: [CPGGroup]
        var addresses: [UInt32: String] = [:]
        do {
            let client = try await CorosyncClient.connect(root: env.root, timeout: .seconds(5))
            defer { Task { await client.close() } }
            groups = try await client.groups()
            // nodelist.node.N.nodeid and nodelist.node.N.ring0_addr, from the node's cmap.
            let entries = try await client.cmapList(prefix: "nodelist.node.")
            var ids: [String: UInt32] = [:], rings: [String: String] = [:]
            for e in entries {
                let parts = e.key.split(separator: ".")
                guard parts.count == 4 else { continue }
                if parts[3] == "nodeid", case .u32(let id) = e.value { ids[String(parts[2])] = id }
                if parts[3] == "ring0_addr", case .string(let a) = e.value { rings[String(parts[2])] = a }
            }
            for (slot, id) in ids { addresses[id] = rings[slot] }
        } catch {
            FileHandle.standardError.write(Data("Could not initialize corosync cpg API: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print(CorosyncToolOutput.processGroups(groups, addresses: addresses, delimiter: delimiter, namesOnly: namesOnly,
                                               escape: !noEscape), terminator: "")
    }
}
