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

    @Flag(name: .customShort("R"), help: "Tell all instances of corosync in this cluster to reload corosync.conf.")
    var reload = false

    @Option(name: .customShort("k"), help: ArgumentHelp("Kill a node identified by node id.", valueName: "nodeid"))
    var kill: String?

    @Option(name: .long, help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR"))
    var root: String?

    /// corosyncd's reason for refusing (its CS_ERR_ name first).
    static func reason(_ error: any Error) -> String {
        // corosyncd's own refusal reads "corosyncd: CS_ERR_...": its reason without the name.
        let text = "\(error)"
        return text.hasPrefix("corosyncd: CS_ERR_") ? String(text.dropFirst("corosyncd: ".count)) : text
    }

    func run() async throws {
        let env = NodeEnvironment(root: root)
        var killTarget: UInt32?
        if let kill {
            guard let n = UInt32(kill), n >= 1 else {
                FileHandle.standardError.write(Data("The nodeid was not valid, try a positive number\n".utf8))
                throw ExitCode(1)
            }
            killTarget = n
            print("Killing node \(n)")
        }
        if reload { print("Reloading corosync.conf...") }
        let client: CorosyncClient
        do {
            client = try await CorosyncClient.connect(root: env.root, timeout: .seconds(5))
        } catch {
            FileHandle.standardError.write(Data("Could not initialize corosync configuration API: \(error)\n".utf8))
            throw ExitCode(1)
        }
        defer { Task { await client.close() } }
        if let killTarget {
            do {
                try await client.killNode(killTarget, reason: "Killed by corosync-cfgtool")
            } catch {
                FileHandle.standardError.write(Data("Could not kill node (error = \(Self.reason(error)))\n".utf8))
                throw ExitCode(1)
            }
            return
        }
        if reload {
            do {
                try await client.reloadConfig()
                print("Done")
            } catch {
                FileHandle.standardError.write(Data("Could not reload configuration. Error \(Self.reason(error))\n".utf8))
                throw ExitCode(1)
            }
            return
        }
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
