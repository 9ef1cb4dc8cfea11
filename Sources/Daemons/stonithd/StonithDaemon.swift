import Agents
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
import Stonith

#if canImport(Glibc)
import Glibc
#endif

/// stonithd: this node's fencer. Reads fence devices from the CIB, agrees with the other
/// nodes' stonithd in CPG group "stonith-ng" on who fences whom, runs fence agents, and keeps
/// the cluster's fencing history; serves `<root>/run/swiftha/stonithd.sock`.
@main
struct StonithDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stonithd",
        abstract: "SwiftHA's fencer: carries out fencing for the cluster with the fence devices of the CIB.",
        discussion: """
            Fence devices are the CIB's stonith-class primitives (with pcmk_host_list, \
            pcmk_host_map, pcmk_host_check, pcmk_host_argument, pcmk_<action>_action and \
            pcmk_<action>_timeout) and its fencing-topology levels; stonithd follows every \
            change. A fencing request is multicast in CPG group "stonith-ng": every node says \
            which of its devices can fence the target, one node other than the target (when \
            possible) runs the agents, and every node records the result in its history. \
            Fence agents are looked up in /usr/sbin, then beside stonithd's own executable, then \
            in each --agent-dir; they run with SWIFTHA_ROOT=<root>, and are recorded under \
            <root>/run/stonithd while they run: a stonithd started after one that was killed ends \
            (SIGTERM, then SIGKILL) the fence agents it left running before it serves. Clients (crmd, \
            stonith_admin) use <root>/run/swiftha/stonithd.sock. Sends READY=1 to NOTIFY_SOCKET \
            once it serves and has read the CIB; SIGTERM or SIGINT: leaves the group, exits 0.
            """)

    @Option(help: "The node's root directory (default: $SWIFTHA_ROOT, else /).")
    var root: String?

    @Option(help: "The node's name (default: $SWIFTHA_NODE, else the name corosync.conf gives this node, else the host name).")
    var node: String?

    @Option(name: .customLong("agent-dir"), help: "Another directory to look for fence agents in (may be repeated).")
    var agentDirectories: [String] = []

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
        for d in agentDirectories where !d.hasPrefix("/") {
            throw ValidationError("--agent-dir must be an absolute path (got '\(d)')")
        }
    }

    /// Where fence agents are looked for: /usr/sbin, beside this executable, then --agent-dir.
    static func agentDirectories(extra: [String]) -> [String] {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dirs = ["/usr/sbin", URL(fileURLWithPath: exe).deletingLastPathComponent().path] + extra
        var seen = Set<String>()
        dirs = dirs.filter { seen.insert($0).inserted }
        return dirs
    }

    func run() async throws {
        ParentWatch.start(program: "stonithd")
        bootstrapLogging(program: "stonithd", level: verbose ? .debug : .info, node: node)
        let logger = Logger(label: "stonithd")
        let env = NodeEnvironment(root: root, node: node)

        // A fence agent that exits without reading its stdin must not take stonithd down
        // (agents get the default dispositions back: the spawner resets them).
        signal(SIGPIPE, SIG_IGN)
        let (signals, signalSink) = AsyncStream<Int32>.makeStream()
        let watch = SignalWatch([SIGTERM, SIGINT]) { signalSink.yield($0) }
        defer { watch.cancel() }

        // This root's stonithd lock, then the fence agents a killed predecessor left running
        // are ended (as a timeout ends one: SIGTERM, SIGKILL after the grace), before this
        // stonithd joins the group or serves anyone: the request they served was failed (or
        // handed to another node) when that stonithd left the group, and an agent of it must
        // not power a node off later, behind the back of whoever fences it now.
        let journal: OperationJournal
        do {
            journal = try OperationJournal.open(root: env.root, owner: .stonithd)
        } catch {
            logger.critical("cannot start: \(error.description)")
            if case .alreadyRunning = error { throw ExitCode(CRMExit.unavailable.rawValue) }
            throw ExitCode(CRMExit.cantCreate.rawValue)
        }
        let interrupted = await journal.endInterrupted(grace: AgentRunner.killGrace, logger: logger)
        if !interrupted.isEmpty {
            logger.warning("the previous stonithd of this node was killed while running \(interrupted.map { "\($0.operation)\($0.target.map { " against \($0)" } ?? "")" }.joined(separator: ", ")): ended; whatever it was fencing was failed by the other nodes (or handed to another node) when it left the group, and is asked again by its requester")
        }

        let corosync: CorosyncClient
        do {
            corosync = try await Self.connectToCorosync(root: env.root, within: connectTimeout)
        } catch {
            logger.critical("cannot reach corosyncd: \(error); start corosyncd for this node root first")
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        let name = await Self.nodeName(env: env, corosync: corosync)

        let runner = AgentRunner(root: env.root, directories: Self.agentDirectories(extra: agentDirectories), journal: journal, logger: logger)
        let (outbox, outSink) = AsyncStream<Data>.makeStream()
        let shell = FencerShell(node: name, member: corosync.me.description, root: env.root, runner: runner, outbox: outSink, interrupted: interrupted, logger: logger)
        let path = env.socketDirectory + "/" + StonithAPI.socketName
        let server = IPCServer<StonithAPI>(path: path, requestConcurrency: 64, logger: logger) { request, connection in
            await shell.handle(request, from: connection)
        }
        await shell.attach(server)
        do {
            try await server.start()
        } catch {
            logger.critical("cannot serve the fencing API: \(error)")
            await corosync.close()
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        let group: CPGHandle
        do {
            group = try await corosync.join("stonith-ng")
        } catch {
            logger.critical("cannot join CPG group 'stonith-ng': \(error); is another stonithd running for this node root?")
            await server.stop()
            await corosync.close()
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        logger.info("stonithd \(getpid()) started for node \(name) with root \(env.root): serving \(path), member \(corosync.me) of CPG group 'stonith-ng'; fence agents from \(runner.directories.joined(separator: ", "))")

        // The first read of the CIB, before saying READY (cibd is started before stonithd).
        let (cibReady, cibReadySink) = AsyncStream<Void>.makeStream()

        enum End: Sendable { case signal(Int32), corosyncLost, sendFailed(String) }
        let end: End = await withTaskGroup(of: End?.self) { tasks in
            tasks.addTask {
                for await payload in outbox {
                    do { try await group.multicast(payload) } catch { return .sendFailed("\(error)") }
                }
                return .sendFailed("the outbox ended")
            }
            tasks.addTask {
                for await event in group.events { await shell.onEvent(event) }
                return .corosyncLost
            }
            tasks.addTask {
                await Self.followCIB(root: env.root, shell: shell, logger: logger, firstRead: cibReadySink)
                return nil
            }
            tasks.addTask {
                // READY=1 once the CIB was read, or after 10 s without it (fencing works with
                // the devices read later).
                await withTaskGroup(of: Void.self) { wait in
                    wait.addTask { for await _ in cibReady { return } }
                    wait.addTask { try? await Task.sleep(for: .seconds(10)) }
                    await wait.next()
                    wait.cancelAll()
                }
                guard !Task.isCancelled else { return nil }
                let count = await shell.devices.count
                _ = sd_notify(0, "READY=1\nSTATUS=serving \(path), \(count) fence device(s)")
                logger.info("ready: \(count) fence device(s) configured")
                return nil
            }
            tasks.addTask {
                var it = signals.makeAsyncIterator()
                return .signal(await it.next() ?? SIGTERM)
            }
            var first: End?
            while first == nil, let next = await tasks.next() { first = next }
            tasks.cancelAll()
            return first ?? .signal(SIGTERM)
        }
        defer { withExtendedLifetime(journal) {} }
        switch end {
        case .signal(let sig):
            logger.info("received \(sig == SIGINT ? "SIGINT" : "SIGTERM"): leaving CPG group 'stonith-ng' and stopping")
            _ = sd_notify(0, "STOPPING=1")
            try? await group.leave()
            await shell.failWaiting()
            await server.stop()
            await corosync.close()
            logger.info("stonithd stopped")
        case .corosyncLost:
            logger.critical("the connection to corosyncd ended: fencing can no longer be coordinated; exiting (pacemakerd restarts stonithd once corosyncd is back)")
            await shell.failWaiting()
            await server.stop()
            throw ExitCode(CRMExit.disconnect.rawValue)
        case .sendFailed(let why):
            logger.critical("cannot multicast to CPG group 'stonith-ng': \(why); exiting so that pacemakerd restarts stonithd")
            await shell.failWaiting()
            await server.stop()
            await corosync.close()
            throw ExitCode(CRMExit.disconnect.rawValue)
        }
    }

    /// Reads the CIB through cibd and again after every change of its configuration;
    /// reconnects (every second) while cibd is away. Runs until cancelled.
    static func followCIB(root: String, shell: FencerShell, logger: Logger, firstRead: AsyncStream<Void>.Continuation) async {
        var reported = false
        while !Task.isCancelled {
            do {
                let cib = try await CIBClient.connect(root: root, timeout: .seconds(5))
                let changes = try await cib.changes()
                await shell.configure(from: try await cib.query())
                firstRead.yield()
                if reported { logger.notice("connected to cibd again") }
                reported = false
                for await patch in changes {
                    guard Self.touchesConfiguration(patch) else { continue }
                    await shell.configure(from: try await cib.query())
                }
                await cib.close()
                if !Task.isCancelled { logger.warning("the connection to cibd ended; keeping the fence devices read last and reconnecting") }
            } catch {
                if !reported && !Task.isCancelled {
                    logger.warning("cannot read the CIB from cibd (\(error)); retrying every second with the fence devices read last")
                    reported = true
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Whether a CIB patch changes the configuration section.
    static func touchesConfiguration(_ patch: CIBPatch) -> Bool {
        patch.changes.contains { change in
            switch change {
            case .create(let parent, _, _): parent == "/cib" || parent.hasPrefix("/cib/configuration")
            case .delete(let p), .modify(let p, _, _, _), .move(let p, _): p.hasPrefix("/cib/configuration")
            case .deleteNode(let parent, _): parent.hasPrefix("/cib/configuration")
            }
        }
    }

    /// This node's name: --node / SWIFTHA_NODE, else corosync.conf's name for this node id,
    /// else the host name.
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
