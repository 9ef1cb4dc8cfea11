import ArgumentParser
import CIB
import CIBClient
import CSystemd
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HASupport
import LocalIPC
import Logging
import Messaging

#if canImport(Glibc)
import Glibc
#endif

/// cibd: holds this node's copy of the CIB, kept identical on every node through CPG group
/// "cib", and serves it on `<root>/run/swiftha/cibd.sock`.
@main
struct CIBDaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cibd",
        abstract: "SwiftHA's CIB daemon: this node's replica of the cluster configuration and status.",
        discussion: """
            Loads <root>/var/lib/pacemaker/cib/cib.xml (an empty CIB when there is none), joins \
            the closed process group "cib" through the node's corosyncd, agrees with the other \
            members on the newest copy (admin_epoch, then epoch, then num_updates) and then applies \
            every change in the group's total order, writing each to disk atomically with its \
            digest and a backup. Clients use <root>/run/swiftha/cibd.sock (cibadmin, crmd...); a \
            change is answered once it has been delivered in the agreed order and written here. \
            Sends READY=1 to NOTIFY_SOCKET once the copy is the agreed one. SIGTERM or SIGINT: \
            leaves the group and exits 0.
            """)

    @Option(help: "The node's root directory (default: $SWIFTHA_ROOT, else /).")
    var root: String?

    @Option(help: "The node's name (default: $SWIFTHA_NODE).")
    var node: String?

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for corosyncd's socket at start.")
    var connectTimeout: Double = 30

    @Flag(name: .shortAndLong, help: "Log debug messages.")
    var verbose = false

    func validate() throws {
        let env = NodeEnvironment(root: root, node: node)
        guard env.root.hasPrefix("/") else {
            throw ValidationError("the node root must be an absolute path (got '\(env.root)'); give --root /ABSOLUTE/PATH or SWIFTHA_ROOT")
        }
        guard connectTimeout > 0, connectTimeout <= 3600 else {
            throw ValidationError("--connect-timeout must be between 0 and 3600 seconds (got \(connectTimeout))")
        }
    }

    func run() async throws {
        ParentWatch.start(program: "cibd")
        bootstrapLogging(program: "cibd", level: verbose ? .debug : .info, node: node)
        let logger = Logger(label: "cibd")
        let env = NodeEnvironment(root: root, node: node)

        let (signals, signalSink) = AsyncStream<Int32>.makeStream()
        let watch = SignalWatch([SIGTERM, SIGINT]) { signalSink.yield($0) }
        defer { watch.cancel() }

        // The node's copy as it was left.
        let store = CIBStore(directory: env.cibDirectory)
        let cib: CIB
        let onDisk: CIBVersion?
        do {
            let loaded = try store.load()
            onDisk = loaded?.version
            cib = loaded ?? CIB.empty()
        } catch {
            logger.critical("cannot load \(store.cibPath): \(error.description); repair it, or move it away and copy the newest good backup (\(env.cibDirectory)/cib-N.raw) in its place, or remove it to take the cluster's copy")
            throw ExitCode(CRMExit.config.rawValue)
        }

        // corosyncd first (pacemakerd starts it before cibd; by hand it may still be starting).
        let corosync: CorosyncClient
        do {
            corosync = try await Self.connectToCorosync(root: env.root, within: connectTimeout)
        } catch {
            logger.critical("cannot reach corosyncd: \(error); start corosyncd for this node root first")
            throw ExitCode(CRMExit.unavailable.rawValue)
        }

        let (outbox, outSink) = AsyncStream<Data>.makeStream()
        let core = CIBCore(member: corosync.me.description, nodeName: await Self.nodeName(env: env, corosync: corosync), cib: cib, onDisk: onDisk, store: store, outbox: outSink, logger: logger)
        let path = env.socketDirectory + "/" + CIBAPI.socketName
        let server = IPCServer<CIBAPI>(path: path, requestConcurrency: 64, logger: logger) { request, connection in
            await core.handle(request, from: connection)
        }
        await core.attach(server)
        do {
            try await server.start()
        } catch {
            logger.critical("cannot serve the CIB API: \(error)")
            await corosync.close()
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        // The partition's quorum, before any change is taken (configuration changes need it).
        if let q = try? await corosync.quorumState() { await core.onQuorum(q.quorate || !q.providerConfigured) }
        let group: CPGHandle
        do {
            group = try await corosync.join("cib")
        } catch {
            logger.critical("cannot join CPG group 'cib': \(error); is another cibd running for this node root?")
            await server.stop()
            await corosync.close()
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        logger.info("cibd \(getpid()) started for node \(env.node ?? "(unnamed)") with root \(env.root): copy \(cib.version) from \(store.cibPath), serving \(path), member \(corosync.me) of CPG group 'cib'")

        enum End: Sendable { case signal(Int32), corosyncLost, sendFailed(String) }
        let end: End = await withTaskGroup(of: End.self) { tasks in
            tasks.addTask {
                // One sender: messages go out in the order the replica asked for them.
                for await payload in outbox {
                    do { try await group.multicast(payload) } catch { return .sendFailed("\(error)") }
                }
                return .sendFailed("the outbox ended")
            }
            tasks.addTask {
                for await event in group.events { await core.onEvent(event) }
                return .corosyncLost
            }
            tasks.addTask {
                // corosync's quorum changes (asked again every second while it cannot be).
                while !Task.isCancelled {
                    if let stream = try? await corosync.quorumChanges() {
                        if let q = try? await corosync.quorumState() { await core.onQuorum(q.quorate || !q.providerConfigured) }
                        for await q in stream { await core.onQuorum(q.quorate || !q.providerConfigured) }
                    }
                    if (try? await Task.sleep(for: .seconds(1))) == nil { break }
                }
                return .signal(SIGTERM)
            }
            tasks.addTask {
                // The resync timer (see CIBCore).
                while (try? await Task.sleep(for: .seconds(1))) != nil { await core.tick() }
                return .signal(SIGTERM)
            }
            tasks.addTask {
                var it = signals.makeAsyncIterator()
                return .signal(await it.next() ?? SIGTERM)
            }
            let first = await tasks.next()!
            tasks.cancelAll()
            return first
        }
        switch end {
        case .signal(let sig):
            logger.info("received \(sig == SIGINT ? "SIGINT" : "SIGTERM"): leaving CPG group 'cib' and stopping")
            _ = sd_notify(0, "STOPPING=1")
            try? await group.leave()
            await core.failPending()
            await server.stop()
            await corosync.close()
            await core.flushWrites()
            logger.info("cibd stopped")
        case .corosyncLost:
            logger.critical("the connection to corosyncd ended: this node's CIB can no longer be kept in step with the cluster; exiting (pacemakerd restarts cibd once corosyncd is back)")
            await core.failPending()
            await server.stop()
            await core.flushWrites()
            throw ExitCode(CRMExit.disconnect.rawValue)
        case .sendFailed(let why):
            logger.critical("cannot multicast to CPG group 'cib': \(why); exiting so that pacemakerd restarts cibd")
            await core.failPending()
            await server.stop()
            await corosync.close()
            await core.flushWrites()
            throw ExitCode(CRMExit.disconnect.rawValue)
        }
    }

    /// This node's name, stamped on the changes made here (`update-origin`): --node /
    /// SWIFTHA_NODE, else corosync.conf's name for this node id, else the host name.
    static func nodeName(env: NodeEnvironment, corosync: CorosyncClient) async -> String {
        if let n = env.node { return n }
        if let n = await corosync.nodelistName() { return n }
        return ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
    }

    /// Connects to corosyncd, trying again every 100 ms while its socket is not there yet.
    static func connectToCorosync(root: String, within seconds: Double) async throws -> CorosyncClient {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int64(seconds * 1000))
        while true {
            do {
                return try await CorosyncClient.connect(root: root)
            } catch IPCError.cannotConnect(let s, let p, let r) {
                guard clock.now < deadline else { throw IPCError.cannotConnect(service: s, path: p, reason: r) }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
