import ArgumentParser
import Foundation
import HASupport
import Messaging

/// corosync-cmapctl: reads corosyncd's runtime key-value store (configuration, membership,
/// votequorum, statistics), printing `key (type) = value` lines as corosync 3.1's does.
@main
struct CmapCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corosync-cmapctl",
        abstract: "Show keys of corosyncd's runtime configuration and statistics.",
        discussion: """
        Without arguments every key is shown; with a PREFIX the keys starting with it (for \
        example runtime.members. or totem.). Asks the corosyncd of the node (--root DIR or \
        SWIFTHA_ROOT, default /). EXIT STATUS: 0 no problem; 1 an error (no corosyncd, no such key).
        """)

    @Option(name: .customShort("g"), help: ArgumentHelp("Show the value of one key.", valueName: "key"))
    var key: String?

    @Argument(help: ArgumentHelp("Show only the keys starting with this prefix.", valueName: "prefix"))
    var prefix: String?

    @Option(name: .long, help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR"))
    var root: String?

    func run() async throws {
        let env = NodeEnvironment(root: root)
        let client: CorosyncClient
        do {
            client = try await CorosyncClient.connect(root: env.root, timeout: .seconds(5))
        } catch {
            FileHandle.standardError.write(Data("Failed to initialize the cmap API: \(error)\n".utf8))
            throw ExitCode(1)
        }
        defer { Task { await client.close() } }
        do {
            if let key {
                let value = try await client.cmapGet(key)
                print(CorosyncToolOutput.cmap([CMapEntry(key: key, value: value)]), terminator: "")
            } else {
                print(CorosyncToolOutput.cmap(try await client.cmapList(prefix: prefix ?? "")), terminator: "")
            }
        } catch {
            FileHandle.standardError.write(Data("Can't get key \(key ?? prefix ?? ""): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
