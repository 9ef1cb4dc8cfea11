import Agents
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import LocalIPC

/// stonithd's local IPC API (`<root>/run/swiftha/stonithd.sock`): what a client (crmd,
/// stonith_admin) may ask, what it is answered, and the fencing events it is sent after
/// `subscribe`. `StonithClient` wraps it in typed methods.
public enum StonithAPI: LocalIPCProtocol {
    public typealias Request = StonithRequest
    public typealias Reply = StonithReply
    public typealias Event = StonithEvent
    public static let name = "stonithd"

    /// The socket's file name in the node's socket directory.
    public static let socketName = "stonithd.sock"

    /// The socket of the stonithd of the node with this root: `<root>/run/swiftha/stonithd.sock`.
    public static func socketPath(root: String) -> String {
        (root.hasSuffix("/") ? root : root + "/") + "run/swiftha/" + socketName
    }
}

/// What a fencing request asks of the target.
public enum FenceAction: String, Codable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Power-cycle the target (stonith_admin --reboot).
    case reboot
    /// Power the target off (stonith_admin --fence).
    case off
    /// Power the target on: unfencing (stonith_admin --unfence).
    case on

    public var description: String { rawValue }

    /// How Pacemaker's status displays name the action: `reboot`, `turning off`, `unfencing`.
    public var displayName: String {
        switch self {
        case .reboot: "reboot"
        case .off: "turning off"
        case .on: "unfencing"
        }
    }
}

/// One fencing operation as every node's history records it.
public struct FenceEvent: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable, Hashable {
        /// Requested, not finished yet.
        case pending
        /// The target is fenced (or a human confirmed it is down).
        case done
        /// Fencing failed (every device and level failed, no device, or it timed out).
        case failed
    }

    /// The operation's id, unique in the cluster (`origin-node:counter:pid`).
    public var id: String
    public var target: String
    public var action: FenceAction
    public var state: State
    /// The node that executed the fencing (`a human` for a manual confirmation); nil while
    /// no node has taken it yet.
    public var delegate: String?
    /// The node whose stonithd took the request.
    public var origin: String
    /// Who asked: the client's name and pid (`stonith_admin.4242`, `crmd.17`).
    public var client: String
    /// Why it failed (for `failed`), or what fenced it (for `done`).
    public var exitReason: String?
    /// When the request was made (origin's clock).
    public var requested: Date
    /// When it finished (executor's clock), for done and failed.
    public var completed: Date?
    /// True when it failed because it did not finish within its timeout.
    public var timedOut: Bool

    public init(id: String, target: String, action: FenceAction, state: State, delegate: String? = nil, origin: String,
                client: String, exitReason: String? = nil, requested: Date, completed: Date? = nil, timedOut: Bool = false) {
        self.id = id
        self.target = target
        self.action = action
        self.state = state
        self.delegate = delegate
        self.origin = origin
        self.client = client
        self.exitReason = exitReason
        self.requested = requested
        self.completed = completed
        self.timedOut = timedOut
    }

    /// The delegate a manual confirmation records.
    public static let human = "a human"

    /// True for a manual confirmation (`stonith_admin --confirm`).
    public var isManualConfirmation: Bool { delegate == Self.human }
}

/// How a fencing request ended.
public struct FenceResult: Codable, Sendable, Hashable {
    public enum Outcome: Codable, Sendable, Hashable {
        /// The target is fenced (or was confirmed down by a human).
        case ok
        /// Fencing was tried and failed; the reason names the devices and what they said.
        case failed(reason: String)
        /// No device (on any node) can fence the target.
        case noDevice(reason: String)
        /// It did not finish within the request's timeout.
        case timedOut(reason: String)
    }

    public var outcome: Outcome
    /// The operation as the history records it (target, action, delegate, completed...).
    public var event: FenceEvent

    public init(outcome: Outcome, event: FenceEvent) {
        self.outcome = outcome
        self.event = event
    }

    /// True when the target is fenced.
    public var succeeded: Bool { outcome == .ok }

    /// Why it failed, nil when it succeeded.
    public var reason: String? {
        switch outcome {
        case .ok: nil
        case .failed(let r), .noDevice(let r), .timedOut(let r): r
        }
    }
}

/// A request to stonithd.
public enum StonithRequest: Codable, Sendable, Hashable {
    /// Fence a node; answered with `.result` once the operation finished (anywhere in the
    /// cluster), failed, or timed out. `timeout` in milliseconds; `client` names the asker.
    /// `delaySeconds` (`stonith_admin --delay`): seconds to wait before the first device runs,
    /// on top of its pcmk_delay_base/max; negative disables every delay; nil is 0.
    case fence(target: String, action: FenceAction, timeoutMilliseconds: Int, client: String, delaySeconds: Int? = nil)
    /// Record that a node is safely down without fencing it (`stonith_admin --confirm`).
    /// Pending requests to fence it complete successfully.
    case confirm(target: String, client: String)
    /// The fencing history this node knows, of one target or of all (nil).
    case history(target: String?)
    /// Forget the finished operations of one target, or of all (nil), on every node
    /// (`stonith_admin --history NODE --cleanup`).
    case cleanHistory(target: String?)
    /// The devices registered from the CIB; with a target, those that can fence it.
    case devices(target: String?)
    /// The targets a registered device's agent lists (`stonith_admin --list-targets`).
    case targets(device: String)
    /// Whether a registered device works: its agent's monitor (`stonith_admin --query`).
    case monitor(device: String)
    /// The fence agents installed on this node.
    case agents
    /// A fence agent's meta-data XML.
    case metadata(agent: String)
    /// From now on, send this connection every finished fencing operation (`.fenced`).
    case subscribe
    /// Who this stonithd is.
    case status
}

/// stonithd's answer.
public enum StonithReply: Codable, Sendable, Hashable {
    case done
    case result(FenceResult)
    case history([FenceEvent])
    case names([String])
    case text(String)
    case status(StonithStatus)
    /// The request was refused; the message says why and what to do.
    case failure(StonithFailure)
}

/// What stonithd sends unasked to subscribed connections.
public enum StonithEvent: Codable, Sendable, Hashable {
    /// A fencing operation finished somewhere in the cluster (done or failed).
    case fenced(FenceEvent)
}

/// A stonithd's state.
public struct StonithStatus: Codable, Sendable, Hashable {
    /// This node's name.
    public var node: String
    public var root: String
    public var pid: Int32
    /// The names of the nodes whose stonithd is in CPG group "stonith-ng" now.
    public var members: [String]
    /// The devices registered from the CIB.
    public var devices: [String]
    /// The fence agents the previous stonithd of this root was running when it was killed,
    /// ended by this one before it served (`OperationJournal`); nil from a stonithd that does
    /// not report them.
    public var interrupted: [InterruptedOperation]?

    public init(node: String, root: String, pid: Int32, members: [String], devices: [String], interrupted: [InterruptedOperation]? = nil) {
        self.node = node
        self.root = root
        self.pid = pid
        self.members = members
        self.devices = devices
        self.interrupted = interrupted
    }
}

/// Why stonithd refused a request.
public struct StonithFailure: Error, Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable, Hashable {
        /// The request itself is wrong (an empty target, a bad timeout).
        case invalidRequest
        /// No such device or agent.
        case notFound
        /// The agent could not be run or answered badly.
        case agentFailed
        /// The agent did not finish within its timeout.
        case timedOut
        /// stonithd is stopping.
        case shuttingDown
        /// The client may not ask this (a controller that is not the DC asking to fence).
        case notAuthorized
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
