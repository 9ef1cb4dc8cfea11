import ArgumentParser
import CIB
import CIBClient
import CSystemd
import Controller
import ControllerClient
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HASupport
import LRM
import LocalIPC
import Logging
import Messaging

#if canImport(Glibc)
import Glibc
#endif

/// crmd: the node's controller. A thin shell around `ControllerCore` (Sources/Controller):
/// it joins CPG group "crmd" through corosyncd, and feeds the core what happens (membership,
/// the other controllers' messages, CIB changes, lrmd results, timers, signals); it performs
/// what the core asks (CIB writes through cibd, operations through lrmd, the scheduler).
@main
struct CRMDaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crmd",
        abstract: "SwiftHA's controller: elects the DC, which runs the scheduler and has every node execute its part.",
        discussion: """
            Connects to the node's corosyncd, cibd and lrmd (under --root), joins CPG group \
            "crmd" and elects the DC (the member with the lowest node id) at every membership \
            change. The DC collects every member's operation history into the CIB status, runs \
            the scheduler on every relevant change (saving each input as \
            <root>/var/lib/pacemaker/pengine/pe-input-N.xml, which crm_simulate -x replays) and \
            executes the transition graph: each action goes to its node's crmd, which runs it \
            through its lrmd; results are recorded in the status. If lrmd dies, crmd waits up to \
            --connect-timeout for pacemakerd to start it again, connects to the new one and has \
            the DC probe the node (resources still running stay where they are, and get their \
            monitors back); if it does not come back, crmd exits. If cibd dies, crmd waits as \
            long for the new one to have synced its copy from its peers, connects to it and (as \
            DC) records every member's history again; if it does not come back, crmd exits. \
            When another node's crmd ends while that node stays in the corosync ring (killed: \
            its pacemakerd starts a new one), the DC waits up to 20 s for the new one, with the \
            node in maintenance for the scheduler only (what runs there stays, nothing is sent \
            or placed there), and reads its history again at its join; the node is fenced only \
            if its crmd is not back by then or the node leaves the ring. \
            For crm history it serves <root>/run/swiftha/crmd.sock and joins CPG group \
            "crmd-history": a tool's question goes to every node's crmd, which answers with its \
            log lines and saved inputs of the time window (bounded); nodes that do not answer \
            in time are named. \
            Sends READY=1 to NOTIFY_SOCKET \
            once joined. SIGTERM or SIGINT: asks the DC to move the node's resources away, then \
            leaves the group and exits 0; if the DC has not told it to go within the cluster \
            option shutdown-escalation (default 20min), it exits anyway (its node is then seen \
            lost and fenced). It tells its supervisor (NOTIFY_SOCKET, EXTEND_TIMEOUT_USEC) how \
            long that may take.
            """)

    @Option(help: "The node's root directory (default: $SWIFTHA_ROOT, else /).")
    var root: String?

    @Option(help: "The node's name (default: $SWIFTHA_NODE, else its name in corosync.conf's nodelist).")
    var node: String?

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for corosyncd, cibd and lrmd at start, and for lrmd or a synced cibd again when it was restarted.")
    var connectTimeout: Double = 60

    @Option(name: .customLong("shutdown-timeout"),
            help: "Seconds to wait at SIGTERM for the DC to move this node's resources away before exiting anyway (default: the cluster option shutdown-escalation, 20min unless set).")
    var shutdownTimeout: Double?

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
        if let shutdownTimeout, !(shutdownTimeout > 0 && shutdownTimeout <= 86400) {
            throw ValidationError("--shutdown-timeout must be between 0 and 86400 seconds (got \(shutdownTimeout)); leave it out to use the cluster's shutdown-escalation")
        }
    }

    func run() async throws {
        ParentWatch.start(program: "crmd")
        bootstrapLogging(program: "crmd", level: verbose ? .debug : .info, node: node)
        let logger = Logger(label: "crmd")
        let env = NodeEnvironment(root: root, node: node)

        let (events, sink) = AsyncStream<ShellEvent>.makeStream()
        let watch = SignalWatch([SIGTERM, SIGINT]) { sink.yield(.signal($0)) }
        defer { watch.cancel() }

        let deadline = ContinuousClock.now + .milliseconds(Int64(connectTimeout * 1000))
        let corosync: CorosyncClient
        do {
            corosync = try await Self.retry(until: deadline) { try await CorosyncClient.connect(root: env.root) }
        } catch {
            logger.critical("cannot reach corosyncd: \(error); start corosyncd for this node root first")
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        // Node names from corosync's nodelist.
        var names: [UInt32: String] = [:]
        if let entries = try? await corosync.cmapList(prefix: "nodelist.node.") {
            var ids: [String: UInt32] = [:], unames: [String: String] = [:]
            for e in entries {
                let parts = e.key.split(separator: ".")
                guard parts.count == 4 else { continue }
                let n = String(parts[2])
                if parts[3] == "nodeid", let v = UInt32(e.value.description) { ids[n] = v }
                if parts[3] == "name" { unames[n] = e.value.description }
                if parts[3] == "ring0_addr", unames[n] == nil { unames[n] = e.value.description }
            }
            for (n, id) in ids { if let u = unames[n] { names[id] = u } }
        }
        let localName = env.node ?? names[corosync.nodeID] ?? ProcessInfo.processInfo.hostName
        names[corosync.nodeID] = localName

        let cib: CIBClient
        do {
            cib = try await Self.retry(until: deadline) {
                let c = try await CIBClient.connect(root: env.root)
                guard try await c.status().synced else {
                    await c.close()
                    throw IPCError.cannotConnect(service: "cibd", path: CIBAPI.socketPath(root: env.root), reason: "its copy is not synced yet")
                }
                return c
            }
        } catch {
            logger.critical("cannot reach cibd: \(error); start cibd for this node root first")
            await corosync.close()
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        let lrmd: LRMClient
        do {
            lrmd = try await Self.retry(until: deadline) { try await LRMClient.connect(root: env.root) }
        } catch {
            logger.critical("cannot reach lrmd: \(error); start lrmd for this node root first")
            await cib.close()
            await corosync.close()
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        let group: CPGHandle
        do {
            group = try await corosync.join("crmd")
        } catch {
            logger.critical("cannot join CPG group 'crmd': \(error); is another crmd running for this node root?")
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        // crm history's questions: the node's tools on crmd.sock, the other nodes in CPG
        // group "crmd-history".
        let historyGroup: CPGHandle
        do {
            historyGroup = try await corosync.join(HistoryMessage.group)
        } catch {
            logger.critical("cannot join CPG group '\(HistoryMessage.group)': \(error); is another crmd running for this node root?")
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        let nodelist = names.sorted { $0.key < $1.key }.map(\.value)
        let history = HistoryService(env: env, localName: localName, names: names, group: historyGroup, logger: logger)
        let server = IPCServer<ControllerAPI>(path: env.socketDirectory + "/" + ControllerAPI.socketName, maximumFrameSize: ControllerAPI.maximumFrameSize,
                                              requestConcurrency: 4, logger: logger) { request, _ in
            switch request {
            case .history(let q): return .history(await history.ask(q, nodes: nodelist))
            }
        }
        do {
            try await server.start()
        } catch {
            logger.critical("cannot serve crmd's API on \(env.socketDirectory)/\(ControllerAPI.socketName): \(error)")
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        let quorum = try? await corosync.quorumChanges()
        let initialQuorum = try? await corosync.quorumState()

        let shell = ControllerShell(
            env: env, local: ControllerMember(nodeID: corosync.nodeID, name: localName), names: names,
            cib: cib, lrmd: lrmd, group: group, sink: sink, logger: logger,
            shutdownTimeout: shutdownTimeout.map { .milliseconds(Int64($0 * 1000)) }, fencer: StonithdFencer(root: env.root),
            quorum: initialQuorum.map { $0.quorate || !$0.providerConfigured },
            reconnectTimeout: .milliseconds(Int64(connectTimeout * 1000)))
        shell.watchResults()
        try await shell.watchCIB()
        if initialQuorum == nil {
            logger.warning("cannot ask corosyncd for the quorum yet: assuming none (nothing is started or fenced) and asking again every second")
        }
        shell.quorumQuery = { [corosync] in
            (try? await corosync.quorumState()).map { (quorate: $0.quorate || !$0.providerConfigured, ring: Set($0.members.map(\.nodeID))) }
        }
        // dc-deadtime: how long the DC waits at start for the nodes of the nodelist.
        let deadtime = await Self.dcDeadtime(cib, logger: logger)
        await shell.perform(shell.core.onStart(nodes: Array(Set(names.values)), deadtime: deadtime))
        logger.info("crmd \(getpid()) started for node \(localName) (id \(corosync.nodeID)) with root \(env.root); member \(corosync.me) of CPG group 'crmd'")
        _ = sd_notify(0, "READY=1\nSTATUS=controller of \(localName)")

        let end: String = await withTaskGroup(of: String?.self) { tasks in
            tasks.addTask {
                for await e in group.events { sink.yield(.cpg(e)) }
                sink.yield(.lost("the connection to corosyncd ended"))
                return nil
            }
            tasks.addTask {
                // corosyncd's quorum changes; until it has answered once (and the subscription
                // is in place), asked again every second.
                var stream = quorum
                var known = initialQuorum != nil
                while !Task.isCancelled {
                    if stream == nil { stream = try? await corosync.quorumChanges() }
                    if !known, let q = try? await corosync.quorumState() {
                        known = true
                        sink.yield(.quorum(q.quorate || !q.providerConfigured))
                        sink.yield(.ring(Set(q.members.map(\.nodeID))))
                    }
                    if known, let stream {
                        for await q in stream {
                            sink.yield(.quorum(q.quorate || !q.providerConfigured))
                            sink.yield(.ring(Set(q.members.map(\.nodeID))))
                        }
                        return nil
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
                return nil
            }
            tasks.addTask {
                await shell.run(events)
            }
            tasks.addTask {
                await history.run()
                return nil
            }
            var why = ""
            for await r in tasks {
                if let r {
                    why = r
                    break
                }
            }
            tasks.cancelAll()
            return why
        }
        _ = sd_notify(0, "STOPPING=1")
        await server.stop()
        // Only a node whose resources were moved away leaves on purpose; otherwise closing the
        // connection makes the others see this controller lost.
        if end == "exit" { try? await group.leave() }
        await shell.lrmd.close()
        await shell.cib.close()
        await corosync.close()
        if end == "exit" || end == "exit-unclean" {
            logger.info("crmd stopped\(end == "exit" ? "" : " without the DC's leave: the cluster sees this node's controller lost")")
        } else {
            logger.critical("\(end); exiting (pacemakerd restarts crmd)")
            throw ExitCode(CRMExit.disconnect.rawValue)
        }
    }

    /// The cluster property dc-deadtime (default 20 s, as Pacemaker's).
    static func dcDeadtime(_ cib: CIBClient, logger: Logger) async -> Duration {
        let fallback = Duration.seconds(20)
        guard let text = try? await cib.queryXML(xpath: "/cib/configuration/crm_config//nvpair[@name='dc-deadtime']"),
              let e = try? XElement.parse(Array(text.utf8), source: "dc-deadtime") else { return fallback }
        let pair = e.name == "xpath-query" ? e.elements.first : e
        guard let value = pair?["value"] else { return fallback }
        guard let ms = CIBValue.milliseconds(value), ms >= 0 else {
            logger.warning("dc-deadtime '\(value)' is not a duration; using 20s (fix the cluster property, e.g. dc-deadtime=20s)")
            return fallback
        }
        return .milliseconds(ms)
    }

    /// Tries `body` every 200 ms until it succeeds or the deadline passes.
    static func retry<T>(until deadline: ContinuousClock.Instant, _ body: () async throws -> T) async throws -> T {
        while true {
            do {
                return try await body()
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
