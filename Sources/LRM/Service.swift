import Agents
import CIB
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import LocalIPC
import Logging
import Synchronization

/// What lrmd does with each request of its IPC API: the operation queue's shell, the agent
/// catalog and the meta-data cache behind one `handle` method.
///
/// lrmd's main is a thin wrapper: it builds a service for the node's root, serves it with an
/// `IPCServer<LRMAPI>`, and calls `shutdown()` on SIGTERM. Tests can drive the same service in
/// process.
public final class LRMService: Sendable {
    /// Where the node's agents live and keep their state.
    public let host: AgentHost
    /// The node's name, when given.
    public let node: String?
    private let shell: LRMShell<ContinuousClock>
    private let executor: AgentExecutor
    private let metadataCache: MetadataCache
    private let logger: Logger
    private let interrupted: [InterruptedOperation]
    private let state = Mutex(State())

    private struct State: Sendable {
        var subscribers: [UInt64: IPCConnection<LRMAPI>] = [:]
        var stopping = false
    }

    /// - Parameters:
    ///   - host: the node's root and agent directories (agents get HA_RSCTMP and HA_VARRUN under
    ///     the root).
    ///   - parallelLimit: how many operations (of different resources) may run at once.
    ///   - killGrace: after SIGTERM, how long a timed-out or cancelled agent's group has before
    ///     SIGKILL.
    ///   - journal: where running agent processes are recorded (lrmd's, see `OperationJournal`).
    ///   - interrupted: what a previous lrmd of this root was running when it died, and this
    ///     one ended (reported by `status`).
    public init(host: AgentHost, node: String? = nil, parallelLimit: Int = 8, killGrace: Duration = .seconds(5),
                journal: OperationJournal? = nil, interrupted: [InterruptedOperation] = [],
                logger: Logger = Logger(label: "lrmd")) {
        self.host = host
        self.node = node
        self.logger = logger
        self.interrupted = interrupted
        var executor = AgentExecutor(host: host, killGrace: killGrace, logger: logger)
        executor.journal = journal
        self.executor = executor
        self.metadataCache = MetadataCache(executor: executor)
        self.shell = LRMShell(executor: executor, clock: ContinuousClock(), parallelLimit: parallelLimit, logger: logger)
    }

    /// Creates the node's agent directories and starts sending results to subscribers.
    public func start() async throws(AgentError) {
        try host.prepareDirectories()
        // Pushed as the queue reports them, without a task in between.
        await shell.onResult { [weak self] record in
            guard let self else { return }
            let targets = state.withLock { Array($0.subscribers.values) }
            for c in targets { c.push(.result(record)) }
        }
    }

    /// Takes no new work, cancels every operation (killing their process groups) and waits
    /// for them to end.
    public func shutdown() async {
        state.withLock { $0.stopping = true }
        await shell.shutdown()
    }

    /// Answers one request. `connection` is the requesting client (for `subscribe`); nil for
    /// in-process callers.
    public func handle(_ request: LRMRequest, from connection: IPCConnection<LRMAPI>? = nil) async -> LRMReply {
        if state.withLock({ $0.stopping }) {
            return .failure(LRMFailure(.shuttingDown, "lrmd is shutting down and takes no new requests"))
        }
        switch request {
        case .register(let resource):
            guard !resource.id.isEmpty, !resource.id.contains("/") else {
                return .failure(LRMFailure(.invalidRequest, "resource id '\(resource.id)' is not valid: give a non-empty id without '/'"))
            }
            do {
                _ = try AgentStandard(of: resource.agent)
            } catch {
                return .failure(LRMFailure(.invalidAgent, "cannot register \(resource.id): \(error.description)"))
            }
            await shell.register(resource)
            logger.debug("registered \(resource.id) (\(resource.agent))")
            return .done

        case .unregister(let id):
            guard await shell.resource(id) != nil else { return .failure(Self.unknown(id)) }
            await shell.unregister(id)
            return .done

        case .execute(let op):
            do {
                return .callID(try await shell.submitWithResourceAttributes(op))
            } catch {
                switch error {
                case .unknownResource: return .failure(Self.unknown(op.resource))
                case .invalidRequest: return .failure(LRMFailure(.invalidRequest, error.description))
                }
            }

        case .cancel(let key):
            guard await shell.cancel(key) else {
                return .failure(LRMFailure(.invalidRequest, "no operation \(key) is queued, running or recurring on this node; nothing was cancelled"))
            }
            return .done

        case .subscribe:
            guard let connection else { return .failure(LRMFailure(.invalidRequest, "subscribe needs an IPC connection")) }
            state.withLock { $0.subscribers[connection.id] = connection }
            connection.onClose { [weak self] in
                self?.state.withLock { _ = $0.subscribers.removeValue(forKey: connection.id) }
            }
            return .done

        case .unsubscribe:
            if let connection { state.withLock { _ = $0.subscribers.removeValue(forKey: connection.id) } }
            return .done

        case .history(let id):
            if let id {
                guard let h = await shell.history(of: id) else { return .failure(Self.unknown(id)) }
                return .histories([h])
            }
            return .histories(await shell.histories())

        case .metadata(let text):
            guard let agent = ResourceAgentName(parsing: text) else {
                return .failure(LRMFailure(.invalidAgent, "'\(text)' is not an agent name: write CLASS:PROVIDER:TYPE or CLASS:TYPE, e.g. ocf:heartbeat:Dummy"))
            }
            do {
                return .metadata(try await metadataCache.metadata(for: agent))
            } catch {
                switch error {
                case .notInstalled: return .failure(LRMFailure(.notInstalled, error.description))
                case .unknownStandard, .invalidName: return .failure(LRMFailure(.invalidAgent, error.description))
                default: return .failure(LRMFailure(.badMetadata, error.description))
                }
            }

        case .classes:
            return .names(executor.catalog.standards().map(\.rawValue))

        case .providers:
            return .names(executor.catalog.providers())

        case .agents(let standardName, let provider):
            guard let standard = AgentStandard(rawValue: standardName.lowercased()) else {
                return .failure(LRMFailure(.invalidAgent, AgentError.unknownStandard(standardName).description))
            }
            return .names(executor.catalog.agents(standard: standard, provider: provider))

        case .status:
            let load = await shell.load
            return .status(LRMStatus(node: node, root: host.root, pid: getpid(), resources: load.resources,
                                     running: load.running, queued: load.queued,
                                     subscribers: state.withLock { $0.subscribers.count },
                                     epochOfOrigin: shell.epochOfOrigin, interrupted: interrupted))
        }
    }

    /// Forgets every agent's cached meta-data (after agents were installed or upgraded).
    public func invalidateMetadata() async {
        await metadataCache.invalidate()
    }

    private static func unknown(_ id: String) -> LRMFailure {
        LRMFailure(.unknownResource, LRMError.unknownResource(id).description)
    }
}
