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

/// A connection to a node's cibd, with a typed method for every request (for crmd, cibadmin
/// and the other tools).
///
///     let cib = try await CIBClient.connect(root: "/")
///     let whole = try await cib.query()
///     let version = try await cib.change(.create(XElement("primitive", [...]), section: .resources))
///     for await patch in try await cib.changes() { ... }
///
/// Refusals by cibd are thrown as `CIBError` (the same kinds the CIB library uses, so a tool
/// maps them to the same exit codes); a lost connection as `IPCError`.
public final class CIBClient: Sendable {
    private let ipc: IPCClient<CIBAPI>

    private init(ipc: IPCClient<CIBAPI>) {
        self.ipc = ipc
    }

    /// Connects to the cibd of the node with this root.
    public static func connect(root: String, timeout: Duration = .seconds(10)) async throws -> CIBClient {
        try await connect(path: CIBAPI.socketPath(root: root), timeout: timeout)
    }

    /// Connects to the cibd listening on `path`.
    public static func connect(path: String, timeout: Duration = .seconds(10)) async throws -> CIBClient {
        CIBClient(ipc: try await IPCClient<CIBAPI>.connect(path: path, timeout: timeout))
    }

    /// The whole CIB.
    public func query() async throws -> CIB {
        let text = try await queryXML(section: nil, xpath: nil)
        return try CIB.parse(text, source: "cibd's reply")
    }

    /// One section (`query(section: .resources)`) or the elements an XPath selects, as XML
    /// text: one match as itself, several inside `<xpath-query>`.
    /// - Throws: `CIBError` `.notFound` when nothing matches.
    public func queryXML(section: CIBSection? = nil, xpath: String? = nil) async throws -> String {
        switch try await ipc.request(.query(section: section?.rawValue, xpath: xpath)) {
        case .xml(let text): return text
        case let other: throw Self.failure(other)
        }
    }

    /// Makes a change through the cluster. Returns the version it produced, once the change
    /// has been delivered in the agreed order, applied and written to disk on this node.
    /// `force`: touch the configuration even where this node's partition has no quorum
    /// (refused with `noQuorum` otherwise, unless no-quorum-policy is ignore).
    public func change(_ operation: CIBReplica.Operation, timeout: Duration = .seconds(60), force: Bool = false) async throws -> CIBVersion {
        switch try await ipc.request(.change(operation: operation.xml.xmlString(.compact), force: force ? true : nil), timeout: timeout) {
        case .version(let a, let e, let n): return CIBVersion(adminEpoch: a, epoch: e, numUpdates: n)
        case let other: throw Self.failure(other)
        }
    }

    /// cibd's copy: version, digest, members, whether synced.
    public func status() async throws -> CIBDaemonStatus {
        switch try await ipc.request(.status) {
        case .status(let s): return s
        case let other: throw Self.failure(other)
        }
    }

    /// Every change from now on, as its patch (the patches of changes made anywhere in the
    /// cluster, in the order this node applies them). Finishes when the connection ends.
    /// Call it once per client: the connection has one event stream.
    public func changes() async throws -> AsyncStream<CIBPatch> {
        let notifications = try await notifications()
        return AsyncStream { sink in
            let task = Task {
                for await n in notifications {
                    switch n {
                    case .changed(let p), .replaced(let p, _): sink.yield(p)
                    }
                }
                sink.finish()
            }
            sink.onTermination = { _ in task.cancel() }
        }
    }

    /// What cibd tells a subscriber.
    public enum Notification: Sendable, Equatable {
        /// A change applied in the agreed order.
        case changed(CIBPatch)
        /// The copy was replaced by the cluster's newest one (from the member named).
        case replaced(CIBPatch, from: String)
    }

    /// Like `changes()`, but tells a replacement of the whole copy (a sync) from a change.
    /// Call it (or `changes()`) once per client.
    public func notifications() async throws -> AsyncStream<Notification> {
        let events = ipc.events
        switch try await ipc.request(.subscribe) {
        case .done: break
        case let other: throw Self.failure(other)
        }
        return AsyncStream { sink in
            let task = Task {
                for await event in events {
                    switch event {
                    case .changed(let text):
                        if let e = try? XElement.parse(text, source: "cibd's notification"), let p = try? CIBPatch(xml: e) {
                            sink.yield(.changed(p))
                        }
                    case .replaced(let text, let from):
                        if let e = try? XElement.parse(text, source: "cibd's notification"), let p = try? CIBPatch(xml: e) {
                            sink.yield(.replaced(p, from: from))
                        }
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

    private static func failure(_ reply: CIBReply) -> any Error {
        if case .failure(let kind, let message) = reply {
            return CIBError(CIBError.Kind(name: kind) ?? .badRequest, message)
        }
        return IPCError.badMessage(service: CIBAPI.name, reason: "unexpected reply \(reply)")
    }
}
