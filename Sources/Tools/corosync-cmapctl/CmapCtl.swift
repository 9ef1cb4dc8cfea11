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
        abstract: "Show or change keys of corosyncd's runtime configuration and statistics.",
        discussion: """
        Without arguments every key is shown; with a PREFIX the keys starting with it (for \
        example runtime.members. or totem.). -s KEY TYPE VALUE sets a key, -d KEY... deletes \
        keys, -D PREFIX... deletes the keys under prefixes, on this node only (as corosync's \
        cmap, which is each node's own). Asks the corosyncd of the node (--root DIR or \
        SWIFTHA_ROOT, default /). EXIT STATUS: 0 no problem; 1 an error (no corosyncd, no such key).
        """)

    @Option(name: .customShort("g"), help: ArgumentHelp("Show the value of one key.", valueName: "key"))
    var key: String?

    @Flag(name: .customShort("s"), help: "Set a key: corosync-cmapctl -s KEY TYPE VALUE, TYPE one of [i|u][8|16|32|64], flt, dbl, str.")
    var set = false

    @Flag(name: .customShort("d"), help: "Delete the keys named: corosync-cmapctl -d KEY...")
    var delete = false

    @Flag(name: .customShort("D"), help: "Delete the keys starting with each prefix: corosync-cmapctl -D PREFIX...")
    var deletePrefix = false

    @Argument(help: ArgumentHelp("Show only the keys starting with this prefix; with -s, -d or -D what they act on.", valueName: "params"))
    var params: [String] = []

    @Option(name: .long, help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR"))
    var root: String?

    func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        return ExitCode(1)
    }

    /// corosync's error name from corosyncd's failure text.
    static func errorName(_ error: Error) -> String {
        let text = "\(error)"
        for name in ["CS_ERR_NOT_EXIST", "CS_ERR_INVALID_PARAM", "CS_ERR_ACCESS"] where text.contains(name) { return name }
        return text
    }

    func run() async throws {
        // What corosync-cmapctl checks before it connects.
        var value: CMapValue?
        if set {
            guard params.count >= 3 else { throw fail("At least 3 parameters are expected for set") }
            switch CMapValue.parse(type: params[1], value: params[2]) {
            case .success(let v): value = v
            case .failure(let e): throw fail(e.message)
            }
        }
        let env = NodeEnvironment(root: root)
        let client: CorosyncClient
        do {
            client = try await CorosyncClient.connect(root: env.root, timeout: .seconds(5))
        } catch {
            FileHandle.standardError.write(Data("Failed to initialize the cmap API: \(error)\n".utf8))
            throw ExitCode(1)
        }
        defer { Task { await client.close() } }
        if let value {
            do {
                try await client.cmapSet(params[0], value)
            } catch {
                throw fail("Can't set key \(params[0]). Error \(Self.errorName(error))")
            }
            return
        }
        if delete || deletePrefix {
            var failed = false
            for p in params {
                do {
                    if delete { try await client.cmapDelete(p) } else { try await client.cmapDelete(prefix: p) }
                } catch {
                    FileHandle.standardError.write(Data("Can't delete key \(p). Error \(Self.errorName(error))\n".utf8))
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
            return
        }
        if let key {
            do {
                let value = try await client.cmapGet(key)
                print(CorosyncToolOutput.cmap([CMapEntry(key: key, value: value)]), terminator: "")
            } catch {
                throw fail("Can't get key \(key). Error \(Self.errorName(error))")
            }
            return
        }
        do {
            let entries = try await client.cmapList(prefix: params.first ?? "")
            print(CorosyncToolOutput.cmap(entries), terminator: "")
            // corosync-cmapctl exits 1 when a prefix matches nothing.
            if entries.isEmpty, !params.isEmpty { throw ExitCode(1) }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw fail("Can't get key \(params.first ?? ""): \(error)")
        }
    }
}
