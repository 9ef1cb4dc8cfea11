#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import CIB

/// A transition key, as Pacemaker writes it in `transition-key`: the graph action's id, the
/// transition's number, the result the scheduler expects, and the DC's transition uuid
/// (`3:12:0:6b2f...`). A result carries its action's key back, so the DC knows which action of
/// which transition it answers.
public struct TransitionKey: Sendable, Hashable, CustomStringConvertible {
    public var actionID: Int
    public var transitionID: Int
    public var targetRC: Int
    public var uuid: String

    public init(actionID: Int, transitionID: Int, targetRC: Int, uuid: String) {
        self.actionID = actionID
        self.transitionID = transitionID
        self.targetRC = targetRC
        self.uuid = uuid
    }

    /// Parses `ACTION:TRANSITION:TARGET_RC:UUID`; nil when it is not one.
    public init?(_ text: String) {
        let f = text.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
        guard f.count == 4, let a = Int(f[0]), let t = Int(f[1]), let rc = Int(f[2]) else { return nil }
        self.init(actionID: a, transitionID: t, targetRC: rc, uuid: String(f[3]))
    }

    public var description: String { "\(actionID):\(transitionID):\(targetRC):\(uuid)" }

    /// `transition-magic`: `OP_STATUS:RC;KEY`.
    public func magic(opStatus: Int, rc: Int) -> String { "\(opStatus):\(rc);\(description)" }
}

/// What the DC asks a node's controller to run on its local executor (lrmd).
public struct ActionRequest: Codable, Sendable, Hashable {
    /// The node that runs it (its name, as the graph gives it).
    public var node: String
    /// start, stop, monitor, cancel, delete, notify, promote, demote, do_shutdown...
    public var task: String
    /// The resource's id in the node's executor and status (`lrm_resource` id), if any.
    public var resource: String?
    /// The agent, `class:provider:type` (or `class:type`).
    public var agent: String?
    public var intervalMS: Int
    public var timeoutMS: Int
    /// The instance attributes (their digest is the operation's `op-digest`).
    public var parameters: [String: String]
    /// Meta attributes (without `CRM_meta_`).
    public var meta: [String: String]
    /// Where the result goes: the action and the transition.
    public var transitionKey: String

    /// The digest its result is recorded with (`ParameterDigest.operationDigest`).
    public var operationDigest: String {
        ParameterDigest.operationDigest(parameters, intervalMS: intervalMS, timeoutMS: timeoutMS)
    }

    public init(node: String, task: String, resource: String?, agent: String?, intervalMS: Int, timeoutMS: Int,
                parameters: [String: String], meta: [String: String], transitionKey: String) {
        self.node = node
        self.task = task
        self.resource = resource
        self.agent = agent
        self.intervalMS = intervalMS
        self.timeoutMS = timeoutMS
        self.parameters = parameters
        self.meta = meta
        self.transitionKey = transitionKey
    }

    /// `RSC_TASK_INTERVAL`.
    public var operationKey: String { "\(resource ?? "")_\(task)_\(intervalMS)" }
}

/// An operation's result as a node's controller reports it to the DC: what lrmd recorded, with
/// the transition key of the action it answers (nil for results no transition asked for).
public struct ActionResult: Codable, Sendable, Hashable {
    public var node: String
    public var resource: String
    /// `class:provider:type`.
    public var agent: String
    public var task: String
    public var intervalMS: Int
    public var transitionKey: String?
    public var callID: Int
    /// The OCF result code.
    public var rc: Int
    /// Pacemaker's execution status (0 done, 1 cancelled, 2 timed out, 4 error, 7 not installed...).
    public var opStatus: Int
    public var execTimeMS: Int
    public var queueTimeMS: Int
    /// Seconds since 1970.
    public var lastRCChange: Int
    public var digest: String
    public var exitReason: String?

    public init(node: String, resource: String, agent: String, task: String, intervalMS: Int, transitionKey: String?,
                callID: Int, rc: Int, opStatus: Int, execTimeMS: Int = 0, queueTimeMS: Int = 0, lastRCChange: Int,
                digest: String = "", exitReason: String? = nil) {
        self.node = node
        self.resource = resource
        self.agent = agent
        self.task = task
        self.intervalMS = intervalMS
        self.transitionKey = transitionKey
        self.callID = callID
        self.rc = rc
        self.opStatus = opStatus
        self.execTimeMS = execTimeMS
        self.queueTimeMS = queueTimeMS
        self.lastRCChange = lastRCChange
        self.digest = digest
        self.exitReason = exitReason
    }

    /// `RSC_TASK_INTERVAL`.
    public var operationKey: String { "\(resource)_\(task)_\(intervalMS)" }
    public var isProbe: Bool { task == "monitor" && intervalMS == 0 }
    /// Pacemaker's `PCMK_EXEC_PENDING` (op-status -1): no result yet.
    public var isPending: Bool { opStatus == -1 }
    /// The result the scheduler expected (the transition key's), 0 when unknown.
    public var targetRC: Int { transitionKey.flatMap(TransitionKey.init)?.targetRC ?? 0 }

    /// Whether this is a failure: not done, or another result than expected. A probe only
    /// tells what it found (running, stopped, promoted), which is never a failure by itself;
    /// a cancellation is not one either, nor a pending result (op-status -1: a systemd unit
    /// still activating or deactivating), which only says that the answer comes later.
    public var isFailure: Bool {
        if opStatus == 1 || isPending { return false }
        if opStatus != 0 { return true }
        if isProbe { return ![0, 7, 8].contains(rc) }
        return rc != targetRC
    }
}

/// What the controllers multicast to each other in CPG group "crmd".
public enum ControllerMessage: Codable, Sendable, Hashable {
    /// The DC asks every member for its node's operation history (a join round).
    case joinRequest(round: Int, dc: UInt32)
    /// A member's answer: its executor's history as `<lrm_resources>` XML, and the DC's
    /// requests to other nodes it saw delivered and not answered (`unansweredRequests`): a DC
    /// that was not there when they were sent (its controller was restarted meanwhile) learns
    /// them at its join.
    case joinHistory(round: Int, nodeID: UInt32, node: String, lrmResources: String, unanswered: [ActionRequest]? = nil)
    /// The DC asks the named node to run an action.
    case execute(ActionRequest)
    /// A node reports an operation's result.
    case result(ActionResult)
    /// A node is shutting down: the DC should move its resources away and then tell it to go.
    case shutdownRequest(nodeID: UInt32, node: String)
    /// A node's executor (lrmd) was restarted and its controller connected to the new one:
    /// the history the DC has for the node is gone with the old one (the resources may still
    /// run), so the DC reads every member's history again and the scheduler probes the node.
    case executorRestarted(nodeID: UInt32, node: String)

    public func encoded() -> Data {
        (try? JSONEncoder().encode(self)) ?? Data()
    }

    public static func decode(_ data: Data) throws -> ControllerMessage {
        try JSONDecoder().decode(ControllerMessage.self, from: data)
    }
}

/// The outcome of a fencing request.
public enum FencingResult: Sendable, Equatable {
    /// The node is confirmed down (off, or rebooted).
    case done
    /// Fencing failed; the node's state is unknown.
    case failed(String)
}

/// Who fences a node for the controller. crmd's is stonithd, through `StonithClient`
/// (Sources/Daemons/crmd/StonithdFencer.swift); the tests give their own.
public protocol NodeFencer: Sendable {
    /// Fences `target` (a node name) with `action` (reboot, off or on), giving up after `timeout`.
    func fence(target: String, action: String, timeout: Duration) async -> FencingResult
}
