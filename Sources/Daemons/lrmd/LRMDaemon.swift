import Agents
import ArgumentParser
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
import LRM
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// lrmd: runs this node's resource agents for crmd (and crm_resource), serving the LRM API on
/// `<root>/run/swiftha/lrmd.sock`.
@main
struct LRMDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lrmd",
        abstract: "SwiftHA's local resource manager: runs resource agents for this node.",
        discussion: """
            Serves the LRM API on <root>/run/swiftha/lrmd.sock (peer credentials checked: root, \
            lrmd's user and group haclient). Agents get HA_RSCTMP=<root>/run/resource-agents, \
            HA_VARRUN=<root>/run and SWIFTHA_ROOT=<root>, so nodes sharing a machine never share \
            agent state. SIGTERM or SIGINT cancels every operation and exits 0; SIGHUP makes lrmd \
            read agents' meta-data afresh. Running agents are recorded under <root>/run/lrmd: an \
            lrmd started after one that was killed ends (SIGTERM, then SIGKILL after --kill-grace) \
            the agent processes it left running, and logs each, before it serves.
            """)

    @Option(help: "The node's root directory (default: $SWIFTHA_ROOT, else /).")
    var root: String?

    @Option(help: "The node's name (default: $SWIFTHA_NODE).")
    var node: String?

    @Option(name: .customLong("ocf-root"), help: "Where OCF agents are (resource.d/PROVIDER/TYPE).")
    var ocfRoot: String = "/usr/lib/ocf"

    @Option(name: .customLong("parallel-limit"), help: "How many operations may run at once.")
    var parallelLimit: Int = 8

    @Option(name: .customLong("kill-grace"), help: "Seconds between SIGTERM and SIGKILL for a timed-out agent's process group.")
    var killGrace: Double = 5

    @Flag(name: .shortAndLong, help: "Log debug messages.")
    var verbose = false

    func validate() throws {
        guard parallelLimit >= 1 else { throw ValidationError("--parallel-limit must be at least 1 (got \(parallelLimit))") }
        guard killGrace >= 0, killGrace <= 600 else { throw ValidationError("--kill-grace must be between 0 and 600 seconds (got \(killGrace))") }
        let env = NodeEnvironment(root: root, node: node)
        guard env.root.hasPrefix("/") else {
            throw ValidationError("the node root must be an absolute path (got '\(env.root)'); give --root /ABSOLUTE/PATH or SWIFTHA_ROOT")
        }
    }

    func run() async throws {
        ParentWatch.start(program: "lrmd")
        // One event loop thread serves every client (requests are small; agents run in their
        // own processes): not one per core, each with its stack and malloc arena.
        NIOSingletons.groupLoopCountSuggestion = 1
        NIOSingletons.blockingPoolThreadCountSuggestion = 1
        bootstrapLogging(program: "lrmd", level: verbose ? .debug : .info, node: node)
        let logger = Logger(label: "lrmd")
        let env = NodeEnvironment(root: root, node: node)

        // Signals become events; the default actions are off while lrmd shuts down cleanly.
        // (Agents get default dispositions back: the spawner resets them in the child.)
        let (signals, signalSink) = AsyncStream<Int32>.makeStream()
        let watch = SignalWatch([SIGTERM, SIGINT, SIGHUP]) { signalSink.yield($0) }

        let host = AgentHost(root: env.root, ocfRoot: ocfRoot)
        let grace = Duration.milliseconds(Int64(killGrace * 1000))
        // This root's lrmd lock, then what a killed predecessor left running is ended (as a
        // timeout ends an agent: SIGTERM, SIGKILL after the grace), before anyone is served.
        let journal: OperationJournal
        do {
            journal = try OperationJournal.open(root: env.root)
        } catch {
            logger.critical("cannot start: \(error.description)")
            if case .alreadyRunning = error { throw ExitCode(CRMExit.unavailable.rawValue) }
            throw ExitCode(CRMExit.cantCreate.rawValue)
        }
        let interrupted = await journal.endInterrupted(grace: grace, logger: logger)
        let service = LRMService(host: host, node: env.node, parallelLimit: parallelLimit, killGrace: grace,
                                 journal: journal, interrupted: interrupted, logger: logger)
        do {
            try await service.start()
        } catch {
            logger.critical("cannot start: \(error.description)")
            throw ExitCode(CRMExit.cantCreate.rawValue)
        }
        let path = env.socketDirectory + "/" + LRMAPI.socketName
        // Requests of one client are answered concurrently: a slow meta-data read does not
        // hold up crmd's next operation. (LRMClient awaits each call, so its own order holds.)
        let server = IPCServer<LRMAPI>(path: path, requestConcurrency: 16, logger: logger) { request, connection in
            await service.handle(request, from: connection)
        }
        do {
            try await server.start()
        } catch {
            logger.critical("cannot serve the LRM API: \(error)")
            await service.shutdown()
            throw ExitCode(CRMExit.unavailable.rawValue)
        }
        logger.info("lrmd \(getpid()) ready for node \(env.node ?? "(unnamed)") with root \(env.root); agents keep state under \(host.resourceTemporaryDirectory)")
        _ = sd_notify(0, "READY=1\nSTATUS=serving \(path)")

        var iterator = signals.makeAsyncIterator()
        var sig = await iterator.next() ?? SIGTERM
        while sig == SIGHUP {
            // SIGHUP: agents may have been installed or upgraded; read their meta-data afresh.
            await service.invalidateMetadata()
            logger.info("received SIGHUP: agent meta-data will be read again")
            sig = await iterator.next() ?? SIGTERM
        }
        logger.info("received \(sig == SIGINT ? "SIGINT" : "SIGTERM"): stopping; cancelling every operation")
        _ = sd_notify(0, "STOPPING=1")
        await server.stop()
        await service.shutdown()
        watch.cancel()
        logger.info("lrmd stopped")
        withExtendedLifetime(journal) {}
    }
}
