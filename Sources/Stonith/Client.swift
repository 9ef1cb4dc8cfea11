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

/// A connection to a node's stonithd (for crmd and stonith_admin).
///
///     let stonith = try await StonithClient.connect(root: "/", name: "crmd")
///     let result = try await stonith.fence(target: "node3", action: .reboot, timeout: .seconds(60))
///     switch result.outcome {
///     case .ok: ...                       // node3 is fenced; result.event.delegate fenced it
///     case .failed(let why), .noDevice(let why), .timedOut(let why): ...
///     }
///     for await event in try await stonith.events() { ... }   // fencing anywhere in the cluster
///
/// A fencing request that stonithd carried out and that failed is a result, not an error.
/// Refusals are thrown as `StonithFailure`; a lost connection as `IPCError`
/// (`.disconnected` for requests in flight, never a hang).
public final class StonithClient: Sendable {
    private let ipc: IPCClient<StonithAPI>
    /// The name this client gives stonithd (`crmd`, `stonith_admin`); the history records it
    /// with the pid (`crmd.17`).
    public let name: String
    private let subscribed = Mutex(false)

    private init(ipc: IPCClient<StonithAPI>, name: String) {
        self.ipc = ipc
        self.name = name
    }

    /// Connects to the stonithd of the node with this root.
    public static func connect(root: String, name: String = ProcessInfo.processInfo.processName,
                               timeout: Duration = .seconds(10)) async throws -> StonithClient {
        try await connect(path: StonithAPI.socketPath(root: root), name: name, timeout: timeout)
    }

    /// Connects to the stonithd listening on `path`.
    public static func connect(path: String, name: String = ProcessInfo.processInfo.processName,
                               timeout: Duration = .seconds(10)) async throws -> StonithClient {
        StonithClient(ipc: try await IPCClient<StonithAPI>.connect(path: path, timeout: timeout), name: name)
    }

    /// Fences `target` and waits until it is done, failed, or `timeout` has passed (the
    /// result is then `.timedOut`). Any node of the cluster whose devices can fence the
    /// target may carry it out; a node fences itself only when no other can.
    /// `delay` is `stonith_admin --delay`: seconds before the first device runs, added to its
    /// pcmk_delay_base/max; negative disables every delay.
    public func fence(target: String, action: FenceAction = .reboot, timeout: Duration = .seconds(120), delay: Int? = nil) async throws -> FenceResult {
        let ms = max(1, Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        // stonithd answers by the timeout; the connection waits a little longer for that answer.
        let request = StonithRequest.fence(target: target, action: action, timeoutMilliseconds: ms, client: name, delaySeconds: delay)
        switch try await ipc.request(request, timeout: timeout + .seconds(15 + min(max(0, delay ?? 0), FenceDevice.maxDelaySeconds))) {
        case .result(let r): return r
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    /// Records that `target` is safely down (`stonith_admin --confirm`): every node's history
    /// shows it done by "a human", and pending requests to fence it succeed.
    public func confirm(target: String) async throws -> FenceResult {
        switch try await ipc.request(.confirm(target: target, client: name), timeout: .seconds(30)) {
        case .result(let r): return r
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    /// The fencing history this node knows (every node records every operation), of one
    /// target or of all (nil), oldest first.
    public func history(target: String? = nil) async throws -> [FenceEvent] {
        switch try await ipc.request(.history(target: target)) {
        case .history(let h): return h
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    /// Forgets the finished operations of one target (or all) on every node.
    public func cleanHistory(target: String? = nil) async throws {
        switch try await ipc.request(.cleanHistory(target: target), timeout: .seconds(30)) {
        case .done: return
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    /// The fence devices registered from the CIB (ids); with a target, those that can fence it.
    public func registeredDevices(target: String? = nil) async throws -> [String] {
        try await names(.devices(target: target), timeout: .seconds(60))
    }

    /// The targets a registered device's agent lists.
    public func targets(device: String) async throws -> [String] {
        try await names(.targets(device: device), timeout: .seconds(150))
    }

    /// Checks a registered device with its agent's monitor; throws `StonithFailure` when it fails.
    public func monitor(device: String) async throws {
        switch try await ipc.request(.monitor(device: device), timeout: .seconds(150)) {
        case .done: return
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    /// The fence agents installed on this node (`fence_ipmilan`, `fence_swiftha`...), sorted.
    public func installedAgents() async throws -> [String] {
        try await names(.agents, timeout: nil)
    }

    /// A fence agent's meta-data XML.
    public func metadata(agent: String) async throws -> String {
        switch try await ipc.request(.metadata(agent: agent), timeout: .seconds(60)) {
        case .text(let t): return t
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    /// This stonithd's node, members and devices.
    public func status() async throws -> StonithStatus {
        switch try await ipc.request(.status) {
        case .status(let s): return s
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    /// Every fencing operation that finishes anywhere in the cluster from now on (done or
    /// failed). Finishes when the connection ends. Call it once per client.
    public func events() async throws -> AsyncStream<FenceEvent> {
        let events = ipc.events
        let already = subscribed.withLock { s in defer { s = true }; return s }
        if !already {
            switch try await ipc.request(.subscribe) {
            case .done: break
            case .failure(let f): throw f
            case let other: throw Self.unexpected(other)
            }
        }
        return AsyncStream { sink in
            let task = Task {
                for await event in events {
                    switch event {
                    case .fenced(let e): sink.yield(e)
                    }
                }
                sink.finish()
            }
            sink.onTermination = { _ in task.cancel() }
        }
    }

    /// True while connected.
    public var isConnected: Bool { ipc.isConnected }

    /// Closes the connection.
    public func close() async {
        await ipc.close()
    }

    private func names(_ request: StonithRequest, timeout: Duration?) async throws -> [String] {
        switch try await ipc.request(request, timeout: timeout) {
        case .names(let n): return n
        case .failure(let f): throw f
        case let other: throw Self.unexpected(other)
        }
    }

    private static func unexpected(_ reply: StonithReply) -> IPCError {
        IPCError.badMessage(service: StonithAPI.name, reason: "unexpected reply \(reply)")
    }
}
