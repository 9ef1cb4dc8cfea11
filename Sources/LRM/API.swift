import Agents
import CIB
import LocalIPC

/// lrmd's local IPC API (`<root>/run/swiftha/lrmd.sock`): what a client (crmd, crm_resource,
/// crmsh's `crm ra`) may ask, what it is answered, and the results it is sent after
/// `subscribe`. `LRMClient` wraps it in typed methods.
public enum LRMAPI: LocalIPCProtocol {
    public typealias Request = LRMRequest
    public typealias Reply = LRMReply
    public typealias Event = LRMEvent
    public static let name = "lrmd"

    /// The socket's file name in the node's socket directory.
    public static let socketName = "lrmd.sock"
}

/// A request to lrmd.
public enum LRMRequest: Codable, Sendable, Hashable {
    /// Registers (or re-registers) a resource with its agent and default attributes.
    case register(ResourceDefinition)
    /// Forgets a resource; its operations are cancelled.
    case unregister(resource: String)
    /// Queues an operation; answered with its call id. Its result is sent to subscribers.
    /// The operation's parameters and meta attributes are laid over the registered ones.
    case execute(OperationRequest)
    /// Cancels the operation with this key (a recurring monitor, or one waiting or running).
    case cancel(OperationKey)
    /// From now on, send this connection every operation result.
    case subscribe
    /// Stop sending results to this connection.
    case unsubscribe
    /// The history of one resource, or of all when nil.
    case history(resource: String?)
    /// An agent's meta-data (`ocf:heartbeat:Dummy`).
    case metadata(agent: String)
    /// The agent classes this node supports.
    case classes
    /// The OCF providers installed.
    case providers
    /// The agents of a class (and OCF provider).
    case agents(standard: String, provider: String?)
    /// Who lrmd is and how busy.
    case status
}

/// lrmd's answer to a request.
public enum LRMReply: Codable, Sendable, Hashable {
    /// The request was carried out (register, unregister, cancel, subscribe, unsubscribe).
    case done
    /// The call id an executed operation got; its results carry it.
    case callID(Int)
    /// Resource histories (`history`).
    case histories([ResourceHistory])
    /// An agent's parsed meta-data (`metadata`).
    case metadata(AgentMetadata)
    /// Classes, providers or agents.
    case names([String])
    /// lrmd's state (`status`).
    case status(LRMStatus)
    /// The request could not be carried out; the failure says why and what to do.
    case failure(LRMFailure)
}

/// What lrmd sends unasked to subscribed connections.
public enum LRMEvent: Codable, Sendable, Hashable {
    /// An operation's result (for a recurring monitor: its first result and every change).
    case result(OperationRecord)
}

/// lrmd's state in a few numbers.
public struct LRMStatus: Codable, Sendable, Hashable {
    /// The node's name, when lrmd was given one.
    public var node: String?
    /// The node root lrmd serves.
    public var root: String
    /// lrmd's process id.
    public var pid: Int32
    /// Registered resources.
    public var resources: Int
    /// Operations running now.
    public var running: Int
    /// Operations waiting for their resource or a free slot.
    public var queued: Int
    /// Connections subscribed to results.
    public var subscribers: Int
    /// Seconds since 1970 at lrmd's time origin: an operation record's `started` and
    /// `lastChange` are durations since then (pass it to `ResourceHistory.lrmResource`).
    public var epochOfOrigin: Int
    /// The operations the previous lrmd of this root was running when it was killed, which
    /// this one ended before serving (their processes killed): they count as failed,
    /// "interrupted: lrmd restarted". Nil from an lrmd that does not report them.
    public var interrupted: [InterruptedOperation]?
}

/// Why lrmd could not do what it was asked.
public struct LRMFailure: Error, Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable, Hashable {
        /// The resource is not registered.
        case unknownResource
        /// The agent name is malformed or of an unknown class.
        case invalidAgent
        /// The agent is not installed on this node.
        case notInstalled
        /// The agent's meta-data could not be read or parsed.
        case badMetadata
        /// The request itself is wrong (no timeout, negative interval, unknown operation...).
        case invalidRequest
        /// lrmd is stopping and takes no new work.
        case shuttingDown
    }

    public var kind: Kind
    /// One line: what, where, and how to fix it.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
