import ArgumentParser
import Foundation
import HASupport
import Messaging

/// corosync-cfgtool: the ring's link status, and shutdown, as corosync 3.1's.
@main
struct CfgTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corosync-cfgtool",
        abstract: "Show the status of this node's links, or shut corosyncd down.",
        discussion: """
        Asks the corosyncd of the node (--root DIR or SWIFTHA_ROOT, default /) over its local \
        socket. EXIT STATUS: 0 no problem; 1 an error (no corosyncd).
        """)

    @Flag(name: .customShort("s"), help: "Show the status of the current links on this node (the default).")
    var status = false

    @Flag(name: .customShort("H"), help: "Shut corosyncd down on this node (it leaves the ring cleanly).")
    var shutdown = false

    @Option(name: .long, help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR"))
    var root: String?

    func run() async throws {
        let env = NodeEnvironment(root: root)
        let client: CorosyncClient
        do {
            client = try await CorosyncClient.connect(root: env.root, timeout: .seconds(5))
        } catch {
            FileHandle.standardError.write(Data("Could not initialize corosync configuration API: \(error)\n".utf8))
            throw ExitCode(1)
        }
        defer { Task { await client.close() } }
        if shutdown {
            do {
                try await client.shutdown()
                print("Shutting down corosync")
            } catch {
                FileHandle.standardError.write(Data("Could not shutdown: \(error)\n".utf8))
                throw ExitCode(1)
            }
            return
        }
        let ring: RingStatus
        do {
            ring = try await client.ringStatus()
        } catch {
            FileHandle.standardError.write(Data("Could not get the link status: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print(CorosyncToolOutput.ringStatus(ring), terminator: "")
    }
}
