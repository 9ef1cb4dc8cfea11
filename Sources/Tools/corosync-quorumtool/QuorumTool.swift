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
        socket. -e and -v change the votes of the whole cluster (every member applies the change); \
        -m prints the status again at every change until interrupted. EXIT STATUS: 0 no problem \
        (for -s: quorate); 1 an error (no corosyncd, a value refused); 2 not quorate (-s only).
        """)

    @Flag(name: .customShort("s"), help: "Show the quorum status (the default).")
    var status = false

    @Flag(name: .customShort("l"), help: "List the members of the partition.")
    var list = false

    @Flag(name: .customShort("m"), help: "Constantly monitor the quorum status (printed again at every change).")
    var monitor = false

    @Option(name: .customShort("e"), help: ArgumentHelp("Change the expected votes of the cluster.", valueName: "expected"))
    var expected: String?

    @Option(name: .customShort("v"), help: ArgumentHelp("Change the number of votes of a node (this one, or -n).", valueName: "votes"))
    var votes: String?

    @Option(name: .customShort("n"), help: ArgumentHelp("The node id for -v.", valueName: "nodeid"))
    var nodeID: String?

    @Option(name: .long, help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR"))
    var root: String?

    /// corosync's checks of the numbers, with its messages.
    static func number(_ text: String?, min: Int, message: String) throws -> Int? {
        guard let text else { return nil }
        guard let n = Int(text), n >= min, n <= Int(Int32.max) else {
            FileHandle.standardError.write(Data((message + "\n").utf8))
            throw ExitCode(1)
        }
        return n
    }

    func run() async throws {
        let env = NodeEnvironment(root: root)
        let newExpected = try Self.number(expected, min: 1, message: "New expected votes value was not valid, try a positive number")
        let newVotes = try Self.number(votes, min: 0, message: "New votes value was not valid, try a positive number or zero")
        let node = try Self.number(nodeID, min: 1, message: "The nodeid was not valid, try a positive number")
        let state: QuorumState
        let client: CorosyncClient
        do {
            client = try await CorosyncClient.connect(root: env.root, timeout: .seconds(5))
            state = try await client.quorumState()
        } catch {
            FileHandle.standardError.write(Data("Cannot initialize QUORUM service: \(error)\n".utf8))
            throw ExitCode(1)
        }
        defer { Task { await client.close() } }
        if let newVotes {
            guard state.providerConfigured else {
                FileHandle.standardError.write(Data("You cannot change node votes, corosync is not using votequorum\n".utf8))
                throw ExitCode(1)
            }
            let target = node.map { UInt32($0) } ?? state.nodeID
            do {
                try await client.setVotes(newVotes, node: target)
            } catch {
                FileHandle.standardError.write(Data("Unable to set votes \(newVotes) for nodeid: \(target): \(Self.reason(error))\n".utf8))
                throw ExitCode(1)
            }
            return
        }
        if let newExpected {
            guard state.providerConfigured else {
                FileHandle.standardError.write(Data("You cannot change expected votes, corosync is not using votequorum\n".utf8))
                throw ExitCode(1)
            }
            do {
                try await client.setExpectedVotes(newExpected)
            } catch {
                FileHandle.standardError.write(Data("Unable to set expected votes: \(Self.reason(error))\n".utf8))
                throw ExitCode(1)
            }
            return
        }
        if monitor {
            guard state.providerConfigured else {
                print("\nQuorum is not configured - cannot monitor")
                print(CorosyncToolOutput.quorumStatus(state, date: Self.ctime()), terminator: "")
                throw ExitCode(state.quorate ? 0 : 2)
            }
            // Each state as it comes (the current one first), a blank line after each, until
            // corosyncd goes away or the tool is interrupted.
            do {
                for await q in try await client.quorumChanges() {
                    print(CorosyncToolOutput.quorumStatus(q, date: Self.ctime()))
                    fflush(nil)
                }
            } catch {
                FileHandle.standardError.write(Data("Unable to start quorum status tracking: \(Self.reason(error))\n".utf8))
            }
            FileHandle.standardError.write(Data("Unable to dispatch quorum status: the connection to corosyncd ended\n".utf8))
            throw ExitCode(1)
        }
        if list && !status {
            print(CorosyncToolOutput.membership(state), terminator: "")
            return
        }
        print(CorosyncToolOutput.quorumStatus(state, date: Self.ctime()), terminator: "")
        if !state.quorate { throw ExitCode(2) }
    }

    /// corosyncd's reason for refusing (its CS_ERR_ name first).
    static func reason(_ error: any Error) -> String {
        // corosyncd's own refusal reads "corosyncd: CS_ERR_...": its reason without the name.
        let text = "\(error)"
        return text.hasPrefix("corosyncd: CS_ERR_") ? String(text.dropFirst("corosyncd: ".count)) : text
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
