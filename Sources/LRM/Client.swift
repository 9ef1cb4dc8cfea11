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
import Synchronization

/// A connection to a node's lrmd, with a typed method for every request (for crmd,
/// crm_resource and crmsh's `crm ra`).
///
///     let lrmd = try await LRMClient.connect(root: "/")
///     try await lrmd.register(ResourceDefinition(id: "ip", agent: ResourceAgentName(parsing: "ocf:heartbeat:IPaddr2")!,
///                                                parameters: ["ip": "10.0.0.5"]))
///     let start = try await lrmd.run(OperationRequest(resource: "ip", action: .start, timeout: .seconds(20)))
///     let monitor = try await lrmd.execute(OperationRequest(resource: "ip", action: .monitor, interval: .seconds(10)))
///     for await record in lrmd.results() where record.callID == monitor { ... }
///
/// Failures lrmd reports are thrown as `LRMFailure`; a lost connection as `IPCError`
/// (`.disconnected` for requests in flight, never a hang).
public final class LRMClient: Sendable {
    private let ipc: IPCClient<LRMAPI>
    private let state = Mutex(State())

    private struct State: @unchecked Sendable {
        var streams: [Int: AsyncStream<OperationRecord>.Continuation] = [:]
        var nextStream = 0
        var waiters: [Int: CheckedContinuation<OperationRecord, any Error>] = [:]
        /// Results of one-shot operations nobody waited for yet (a result can come before the
        /// reply that names its call id); the newest `earlyLimit` are kept.
        var early: [Int: OperationRecord] = [:]
        var earlyOrder: [Int] = []
        var ended: (any Error)?
    }

    private static let earlyLimit = 1024

    private init(ipc: IPCClient<LRMAPI>) {
        self.ipc = ipc
    }

    /// The socket of the lrmd of the node with this root: `<root>/run/swiftha/lrmd.sock`.
    public static func socketPath(root: String) -> String {
        (root.hasSuffix("/") ? root : root + "/") + "run/swiftha/" + LRMAPI.socketName
    }

    /// Connects to the lrmd of the node with this root and subscribes to its results.
    public static func connect(root: String, timeout: Duration = .seconds(10)) async throws -> LRMClient {
        try await connect(path: socketPath(root: root), timeout: timeout)
    }

    /// Connects to the lrmd listening on `path` and subscribes to its results.
    public static func connect(path: String, timeout: Duration = .seconds(10)) async throws -> LRMClient {
        let ipc = try await IPCClient<LRMAPI>.connect(path: path, timeout: timeout)
        let client = LRMClient(ipc: ipc)
        client.startDispatch()
        try await client.expectDone(.subscribe)
        return client
    }

    // MARK: - Resources and operations

    /// Registers (or re-registers) a resource.
    public func register(_ resource: ResourceDefinition) async throws {
        try await expectDone(.register(resource))
    }

    /// Forgets a resource, cancelling its operations.
    public func unregister(_ id: String) async throws {
        try await expectDone(.unregister(resource: id))
    }

    /// Queues an operation and returns its call id; its result comes on `results()` (and, for
    /// a one-shot operation, from `result(of:)`).
    public func execute(_ operation: OperationRequest) async throws -> Int {
        switch try await ipc.request(.execute(operation)) {
        case .callID(let id): return id
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    /// Runs a one-shot operation and waits for its result.
    public func run(_ operation: OperationRequest) async throws -> OperationRecord {
        guard !operation.isRecurring else {
            throw LRMFailure(.invalidRequest, "run waits for one result; submit recurring operations with execute and read results()")
        }
        return try await result(of: try await execute(operation))
    }

    /// Waits for the result of a one-shot operation this client executed.
    public func result(of callID: Int) async throws -> OperationRecord {
        try await withCheckedThrowingContinuation { continuation in
            let immediate: Result<OperationRecord, any Error>? = state.withLock { s in
                if let r = s.early.removeValue(forKey: callID) { return .success(r) }
                if let e = s.ended { return .failure(e) }
                s.waiters[callID] = continuation
                return nil
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    /// Cancels the operation with this key.
    public func cancel(_ key: OperationKey) async throws {
        try await expectDone(.cancel(key))
    }

    /// Every result lrmd reports from now on (one-shot results, and the first result and
    /// every change of recurring monitors). Each call makes a new stream; it finishes when
    /// the connection ends.
    public func results() -> AsyncStream<OperationRecord> {
        let (stream, continuation) = AsyncStream<OperationRecord>.makeStream()
        let id: Int? = state.withLock { s in
            guard s.ended == nil else { return nil }
            let id = s.nextStream
            s.nextStream += 1
            s.streams[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.streams.removeValue(forKey: id) }
        }
        return stream
    }

    // MARK: - History and agents

    /// The history of one resource.
    public func history(of resource: String) async throws -> ResourceHistory {
        let all = try await histories(resource)
        guard let h = all.first else { throw LRMFailure(.unknownResource, LRMError.unknownResource(resource).description) }
        return h
    }

    /// The history of every registered resource.
    public func histories() async throws -> [ResourceHistory] {
        try await histories(nil)
    }

    /// Every resource's history as the `<lrm_resource>` elements of this node's CIB status
    /// (what crmd writes under `<lrm_resources>`), with wall-clock `last-rc-change`.
    public func lrmResources(node: String? = nil) async throws -> [LRMResource] {
        let origin = try await status().epochOfOrigin
        return try await histories().map { $0.lrmResource(epochOfOrigin: origin, node: node) }
    }

    /// An agent's meta-data.
    public func metadata(for agent: ResourceAgentName) async throws -> AgentMetadata {
        switch try await ipc.request(.metadata(agent: agent.description)) {
        case .metadata(let m): return m
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    /// The agent classes the node supports.
    public func classes() async throws -> [String] { try await names(.classes) }

    /// The OCF providers installed on the node.
    public func providers() async throws -> [String] { try await names(.providers) }

    /// The agents of a class (and OCF provider).
    public func agents(standard: String, provider: String? = nil) async throws -> [String] {
        try await names(.agents(standard: standard, provider: provider))
    }

    /// lrmd's node, root, pid and load.
    public func status() async throws -> LRMStatus {
        switch try await ipc.request(.status) {
        case .status(let s): return s
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    /// True while connected.
    public var isConnected: Bool { ipc.isConnected }

    /// Closes the connection.
    public func close() async {
        await ipc.close()
    }

    // MARK: - Internals

    private func histories(_ id: String?) async throws -> [ResourceHistory] {
        switch try await ipc.request(.history(resource: id)) {
        case .histories(let h): return h
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    private func names(_ request: LRMRequest) async throws -> [String] {
        switch try await ipc.request(request) {
        case .names(let n): return n
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    private func expectDone(_ request: LRMRequest) async throws {
        switch try await ipc.request(request) {
        case .done: return
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    private static func unexpected(_ reply: LRMReply) -> IPCError {
        IPCError.badMessage(service: LRMAPI.name, reason: "unexpected reply \(reply)")
    }

    /// Reads the connection's events for as long as it lasts: hands results to streams and
    /// waiters, and when it ends, fails waiters and finishes streams.
    private func startDispatch() {
        let events = ipc.events
        let path = ipc.path
        Task { [weak self] in
            for await event in events {
                guard let self else { return }
                switch event {
                case .result(let record): self.deliver(record)
                }
            }
            self?.end(IPCError.disconnected(service: LRMAPI.name, path: path, reason: "the connection ended"))
        }
    }

    private func deliver(_ record: OperationRecord) {
        let (streams, waiter) = state.withLock { s -> ([AsyncStream<OperationRecord>.Continuation], CheckedContinuation<OperationRecord, any Error>?) in
            let w = s.waiters.removeValue(forKey: record.callID)
            if w == nil && !record.key.interval.isPositive {
                s.early[record.callID] = record
                s.earlyOrder.append(record.callID)
                if s.earlyOrder.count > Self.earlyLimit {
                    let drop = s.earlyOrder.removeFirst()
                    s.early[drop] = nil
                }
            }
            return (Array(s.streams.values), w)
        }
        waiter?.resume(returning: record)
        for c in streams { c.yield(record) }
    }

    private func end(_ error: any Error) {
        let (streams, waiters) = state.withLock { s in
            s.ended = error
            defer { s.streams = [:]; s.waiters = [:] }
            return (Array(s.streams.values), Array(s.waiters.values))
        }
        for w in waiters { w.resume(throwing: error) }
        for c in streams { c.finish() }
    }
}

extension Duration {
    fileprivate var isPositive: Bool { self > .zero }
}
