#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LocalIPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a closed process group's member is told.
public enum CPGEvent: Sendable, Equatable {
    /// The group's members changed: every member after the change (sorted), who joined and who
    /// left, with why. The first event of a handle is the one that has it join.
    case configurationChange(members: [CPGMember], joined: [CPGChange], left: [CPGChange])
    /// A message multicast to the group, in the order every member receives them.
    case message(sender: CPGMember, payload: Data)
}

/// A cmap key that changed (`value` set) or went away (`value` nil).
public struct CMapChange: Sendable, Equatable {
    public var key: String
    public var value: CMapValue?

    public init(key: String, value: CMapValue?) {
        self.key = key
        self.value = value
    }
}

/// A connection to the node's corosyncd: closed process groups, quorum, cmap and cfg, for
/// cibd, crmd, stonithd and the corosync tools.
///
///     let corosync = try await CorosyncClient.connect(root: env.root)
///     let cib = try await corosync.join("cib")
///     try await cib.multicast(Data("hello".utf8))
///     for await event in cib.events {
///         switch event {
///         case .configurationChange(let members, let joined, let left): ...
///         case .message(let sender, let payload): ...
///         }
///     }
///
/// Every member of a group receives the group's messages and configuration changes in one
/// order, the same at every node (the ring's agreed order). A process joins a group once;
/// closing the connection (or the process ending) leaves every group it joined. Failures
/// corosyncd reports are thrown as `IPCError.remote` with its message; a lost connection as
/// `IPCError.disconnected`, and every event stream finishes.
public final class CorosyncClient: Sendable {
    private let ipc: IPCClient<CorosyncAPI>
    /// This node's id.
    public let nodeID: UInt32
    /// This process as a group member.
    public var me: CPGMember { CPGMember(nodeID: nodeID, pid: UInt32(clamping: max(0, getpid()))) }
    private let state = Mutex(State())

    private struct State: Sendable {
        var groups: [String: AsyncStream<CPGEvent>.Continuation] = [:]
        var quorum: [Int: AsyncStream<QuorumState>.Continuation] = [:]
        var cmap: [Int: (prefix: String, sink: AsyncStream<CMapChange>.Continuation)] = [:]
        var nextStream = 0
        var ended = false
    }

    private init(ipc: IPCClient<CorosyncAPI>, nodeID: UInt32) {
        self.ipc = ipc
        self.nodeID = nodeID
    }

    /// Connects to the corosyncd of the node with this root (`<root>/run/swiftha/corosyncd.sock`).
    public static func connect(root: String, timeout: Duration = .seconds(10)) async throws -> CorosyncClient {
        try await connect(path: CorosyncAPI.socketPath(root: root), timeout: timeout)
    }

    /// Connects to the corosyncd listening on `path`.
    public static func connect(path: String, timeout: Duration = .seconds(10)) async throws -> CorosyncClient {
        let ipc = try await IPCClient<CorosyncAPI>.connect(path: path, timeout: timeout)
        guard case .nodeID(let id) = try await ipc.request(.localNodeID, timeout: timeout) else {
            await ipc.close()
            throw IPCError.badMessage(service: CorosyncAPI.name, reason: "the reply to localNodeID is not a node id")
        }
        let client = CorosyncClient(ipc: ipc, nodeID: id)
        client.startDispatch()
        return client
    }

    /// True while connected.
    public var isConnected: Bool { ipc.isConnected }

    /// Closes the connection: this process leaves its groups, every stream finishes.
    public func close() async {
        await ipc.close()
        end()
    }

    // MARK: - CPG

    /// Joins a closed process group. The handle's `events` start with the configuration
    /// change that has this process join (all members, this one among them).
    ///
    /// - Throws: `IPCError.remote` for a bad name (1 to 128 bytes) or a group this process
    ///   has already joined.
    public func join(_ group: String) async throws -> CPGHandle {
        let (events, sink) = AsyncStream<CPGEvent>.makeStream()
        let taken: Bool = state.withLock { s in
            if s.ended { return false }
            if s.groups[group] != nil { return true }
            s.groups[group] = sink
            return false
        }
        if taken {
            sink.finish()
            throw IPCError.remote(service: CorosyncAPI.name, message: "this client has already joined CPG group '\(group)'; leave it first or use its handle")
        }
        do {
            try await expectDone(.cpgJoin(group: group))
        } catch {
            _ = state.withLock { $0.groups.removeValue(forKey: group) }
            sink.finish()
            throw error
        }
        return CPGHandle(group: group, client: self, events: events)
    }

    fileprivate func multicast(_ group: String, _ payload: Data) async throws {
        // While the ring's send queue is full, wait and send again (1 ms, doubling up to 50 ms):
        // the caller is slowed down to what the ring carries. Cancelling the task stops it.
        var pause = Duration.milliseconds(1)
        while true {
            switch try await ipc.request(.cpgMulticast(group: group, payload: payload)) {
            case .done: return
            case .tryAgain:
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(50))
            default: throw Self.unexpected("done")
            }
        }
    }

    fileprivate func leave(_ group: String) async throws {
        try await expectDone(.cpgLeave(group: group))
    }

    /// The members of a group as this node knows them now.
    public func members(of group: String) async throws -> [CPGMember] {
        guard case .members(let m) = try await ipc.request(.cpgMembers(group: group)) else { throw Self.unexpected("members") }
        return m
    }

    /// Every group with its members, sorted by name.
    public func groups() async throws -> [CPGGroup] {
        guard case .groups(let g) = try await ipc.request(.cpgGroups) else { throw Self.unexpected("groups") }
        return g
    }

    // MARK: - Quorum

    /// The quorum state now.
    public func quorumState() async throws -> QuorumState {
        guard case .quorum(let q) = try await ipc.request(.quorumState) else { throw Self.unexpected("quorum") }
        return q
    }

    /// Every quorum state from now on: the current one first, then one at each membership or
    /// quorum change. Finishes when the connection ends.
    public func quorumChanges() async throws -> AsyncStream<QuorumState> {
        let (stream, sink) = AsyncStream<QuorumState>.makeStream()
        guard let id = register({ s, id in s.quorum[id] = sink }) else {
            sink.finish()
            return stream
        }
        sink.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.quorum.removeValue(forKey: id) } }
        // corosyncd pushes the current state first, in order with the changes.
        try await expectDone(.quorumTrack(true))
        return stream
    }

    // MARK: - cmap

    /// One key's value.
    /// - Throws: `IPCError.remote` naming the key when there is none.
    public func cmapGet(_ key: String) async throws -> CMapValue {
        guard case .cmap(let entries) = try await ipc.request(.cmapGet(key: key)), let e = entries.first else { throw Self.unexpected("cmap") }
        return e.value
    }

    /// Every key under a prefix ("" for all), sorted by key.
    /// Sets a key in this node's cmap.
    public func cmapSet(_ key: String, _ value: CMapValue) async throws {
        try await expectDone(.cmapSet(key: key, value: value))
    }

    /// Deletes a key of this node's cmap.
    public func cmapDelete(_ key: String) async throws {
        try await expectDone(.cmapDelete(key: key))
    }

    /// Deletes every key of this node's cmap that starts with `prefix`.
    public func cmapDelete(prefix: String) async throws {
        try await expectDone(.cmapDeletePrefix(prefix: prefix))
    }

    /// This node's name in corosync.conf's nodelist (`nodelist.node.N.name` of the entry whose
    /// nodeid is this node's), or nil when it has none or cmap cannot be read.
    public func nodelistName() async -> String? {
        guard let entries = try? await cmapList(prefix: "nodelist.node.") else { return nil }
        for e in entries where e.key.hasSuffix(".nodeid") {
            if case .u32(let id) = e.value, id == nodeID {
                let nameKey = String(e.key.dropLast(".nodeid".count)) + ".name"
                if let n = entries.first(where: { $0.key == nameKey }), case .string(let s) = n.value { return s }
            }
        }
        return nil
    }

    public func cmapList(prefix: String = "") async throws -> [CMapEntry] {
        guard case .cmap(let entries) = try await ipc.request(.cmapList(prefix: prefix)) else { throw Self.unexpected("cmap") }
        return entries
    }

    /// Changes of the keys under a prefix, from now on (statistics are published about once a
    /// second, membership and quorum keys at once). Finishes when the connection ends.
    public func cmapTrack(prefix: String) async throws -> AsyncStream<CMapChange> {
        let (stream, sink) = AsyncStream<CMapChange>.makeStream()
        guard let id = register({ s, id in s.cmap[id] = (prefix, sink) }) else {
            sink.finish()
            return stream
        }
        sink.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.cmap.removeValue(forKey: id) } }
        try await expectDone(.cmapTrack(prefix: prefix))
        return stream
    }

    // MARK: - cfg

    /// The ring's links and the nodes reachable on each.
    public func ringStatus() async throws -> RingStatus {
        guard case .ringStatus(let r) = try await ipc.request(.cfgRingStatus) else { throw Self.unexpected("ring status") }
        return r
    }

    /// Asks corosyncd to leave the ring cleanly and exit.
    public func shutdown() async throws {
        try await expectDone(.cfgShutdown)
    }

    /// Sets the cluster's expected votes (`corosync-quorumtool -e`).
    public func setExpectedVotes(_ votes: Int) async throws {
        try await expectDone(.quorumSetExpectedVotes(votes))
    }

    /// Sets a member's votes (`corosync-quorumtool -v N [-n NODEID]`).
    public func setVotes(_ votes: Int, node: UInt32) async throws {
        try await expectDone(.quorumSetVotes(node: node, votes: votes))
    }

    /// Asks every member to read corosync.conf again (`corosync-cfgtool -R`).
    public func reloadConfig() async throws {
        try await expectDone(.cfgReloadConfig)
    }

    /// Asks a node's corosyncd to stop (`corosync-cfgtool -k NODEID`).
    public func killNode(_ node: UInt32, reason: String) async throws {
        try await expectDone(.cfgKillNode(node: node, reason: reason))
    }

    // MARK: - Internals

    private func register(_ add: (inout State, Int) -> Void) -> Int? {
        state.withLock { s in
            guard !s.ended else { return nil }
            let id = s.nextStream
            s.nextStream += 1
            add(&s, id)
            return id
        }
    }

    private func expectDone(_ request: CorosyncRequest) async throws {
        guard case .done = try await ipc.request(request) else { throw Self.unexpected("done") }
    }

    private static func unexpected(_ what: String) -> IPCError {
        IPCError.badMessage(service: CorosyncAPI.name, reason: "expected a '\(what)' reply")
    }

    private func startDispatch() {
        let events = ipc.events
        Task { [weak self] in
            for await event in events {
                guard let self else { return }
                self.dispatch(event)
            }
            self?.end()
        }
    }

    private func dispatch(_ event: CorosyncEvent) {
        switch event {
        case .cpgConfigurationChange(let group, let members, let joined, let left):
            let leaving = left.contains { $0.member == me }
            let sink = state.withLock { s in leaving ? s.groups.removeValue(forKey: group) : s.groups[group] }
            sink?.yield(.configurationChange(members: members, joined: joined, left: left))
            if leaving { sink?.finish() }
        case .cpgDeliver(let group, let sender, let payload):
            state.withLock { $0.groups[group] }?.yield(.message(sender: sender, payload: payload))
        case .quorumChanged(let q):
            for sink in state.withLock({ Array($0.quorum.values) }) { sink.yield(q) }
        case .cmapChanged(let key, let value):
            for t in state.withLock({ Array($0.cmap.values) }) where key.hasPrefix(t.prefix) {
                t.sink.yield(CMapChange(key: key, value: value))
            }
        }
    }

    private func end() {
        let (groups, quorum, cmap) = state.withLock { s in
            s.ended = true
            defer { s.groups = [:]; s.quorum = [:]; s.cmap = [:] }
            return (Array(s.groups.values), Array(s.quorum.values), Array(s.cmap.values.map(\.sink)))
        }
        for g in groups { g.finish() }
        for q in quorum { q.finish() }
        for c in cmap { c.finish() }
    }
}

/// This process's membership of one closed process group.
public final class CPGHandle: Sendable {
    /// The group's name.
    public let group: String
    /// The group's events in the agreed order: configuration changes and messages. Finishes
    /// after this process's own leave, or when the connection ends. Iterate it from one task.
    public let events: AsyncStream<CPGEvent>
    private let client: CorosyncClient

    fileprivate init(group: String, client: CorosyncClient, events: AsyncStream<CPGEvent>) {
        self.group = group
        self.client = client
        self.events = events
    }

    /// Multicasts a message to the group; every member, this one included, receives it in the
    /// agreed order. Returns once corosyncd has queued it for the ring; while the ring's queue
    /// is full it waits (so a fast sender goes at the ring's pace).
    public func multicast(_ payload: Data) async throws {
        try await client.multicast(group, payload)
    }

    /// The group's members as this node knows them now.
    public func members() async throws -> [CPGMember] {
        try await client.members(of: group)
    }

    /// Leaves the group; `events` ends with the configuration change that has it leave.
    public func leave() async throws {
        try await client.leave(group)
    }
}
