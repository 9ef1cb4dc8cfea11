import ArgumentParser
import Foundation
import HASupport
import Messaging

#if canImport(Glibc)
import Glibc
#endif

/// corosync-quorumtool: the quorum state of this node's partition, as corosync 3.1 prints it.
@main
struct QuorumTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corosync-quorumtool",
        abstract: "Show the quorum state and the members of this node's partition.",
        discussion: """
        Asks the corosyncd of the node (--root DIR or SWIFTHA_ROOT, default /) over its local \
        socket. EXIT STATUS: 0 no problem (for -s: quorate); 1 an error (no corosyncd); 2 not \
        quorate (-s only).
        """)

    @Flag(name: .customShort("s"), help: "Show the quorum status (the default).")
    var status = false

    @Flag(name: .customShort("l"), help: "List the members of the partition.")
    var list = false

    @Option(name: .long, help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR"))
    var root: String?

    func run() async throws {
        let env = NodeEnvironment(root: root)
        let state: QuorumState
        do {
            let client = try await CorosyncClient.connect(root: env.root, timeout: .seconds(5))
            defer { Task { await client.close() } }
            state = try await client.quorumState()
        } catch {
            FileHandle.standardError.write(Data("Cannot initialize QUORUM service: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if list && !status {
            print(CorosyncToolOutput.membership(state), terminator: "")
            return
        }
        print(CorosyncToolOutput.quorumStatus(state, date: Self.ctime()), terminator: "")
        if !state.quorate { throw ExitCode(2) }
    }

    /// The local time as ctime(3) prints it, without the newline.
    static func ctime() -> String {
        var t = time(nil)
        var tm = tm()
        localtime_r(&t, &tm)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S %Y", &tm)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
