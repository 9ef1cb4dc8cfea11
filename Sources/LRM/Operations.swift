import Agents
import CIB

/// A resource lrmd knows: its id and agent, and the instance and meta attributes its operations
/// get unless an operation gives its own. Registered before operations can run on it.
public struct ResourceDefinition: Sendable, Hashable, Codable {
    public var id: String
    public var agent: ResourceAgentName
    /// Instance attributes (`OCF_RESKEY_*`) every operation starts from.
    public var parameters: [String: String]
    /// Meta attributes (`OCF_RESKEY_CRM_meta_*`) every operation starts from.
    public var meta: [String: String]

    public init(id: String, agent: ResourceAgentName, parameters: [String: String] = [:], meta: [String: String] = [:]) {
        self.id = id
        self.agent = agent
        self.parameters = parameters
        self.meta = meta
    }

    private enum CodingKeys: String, CodingKey { case id, agent, parameters, meta }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        let text = try c.decode(String.self, forKey: .agent)
        guard let agent = ResourceAgentName(parsing: text) else {
            throw DecodingError.dataCorruptedError(forKey: .agent, in: c,
                debugDescription: "'\(text)' is not an agent name: write CLASS:PROVIDER:TYPE or CLASS:TYPE, e.g. ocf:heartbeat:Dummy")
        }
        self.agent = agent
        parameters = try c.decodeIfPresent([String: String].self, forKey: .parameters) ?? [:]
        meta = try c.decodeIfPresent([String: String].self, forKey: .meta) ?? [:]
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(agent.description, forKey: .agent)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(meta, forKey: .meta)
    }
}

/// An operation a client (crmd, crm_resource) asks for.
public struct OperationRequest: Sendable, Hashable, Codable {
    public var resource: String
    public var action: AgentAction
    /// Zero for a one-shot action; for a recurring monitor, how often it runs.
    public var interval: Duration
    public var timeout: Duration
    /// The instance attributes the agent gets (and the parameter digest is taken of).
    public var parameters: [String: String]
    /// Meta attributes (`OCF_RESKEY_CRM_meta_*`).
    public var meta: [String: String]
    /// The monitor depth (`OCF_CHECK_LEVEL`).
    public var checkLevel: Int?

    /// The digest its result is recorded with (`ParameterDigest.operationDigest`).
    public var operationDigest: String {
        func ms(_ d: Duration) -> Int { Int(d.components.seconds) * 1000 + Int(d.components.attoseconds / 1_000_000_000_000_000) }
        return ParameterDigest.operationDigest(parameters, intervalMS: ms(interval), timeoutMS: ms(timeout))
    }

    public init(resource: String, action: AgentAction, interval: Duration = .zero, timeout: Duration = .seconds(20),
                parameters: [String: String] = [:], meta: [String: String] = [:], checkLevel: Int? = nil) {
        self.resource = resource
        self.action = action
        self.interval = interval
        self.timeout = timeout
        self.parameters = parameters
        self.meta = meta
        self.checkLevel = checkLevel
    }

    /// True for a recurring operation (an interval above zero).
    public var isRecurring: Bool { interval > .zero }

    /// The operation's key, `RSC_ACTION_INTERVALMS` as Pacemaker writes it (`db_monitor_10000`).
    public var key: OperationKey { OperationKey(resource: resource, action: action, interval: interval) }
}

/// Names an operation independently of its runs: resource, action and interval.
public struct OperationKey: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var resource: String
    public var action: AgentAction
    public var interval: Duration

    public init(resource: String, action: AgentAction, interval: Duration = .zero) {
        self.resource = resource
        self.action = action
        self.interval = interval
    }

    /// `db_monitor_10000`.
    public var description: String { "\(resource)_\(action.rawValue)_\(interval.wholeMilliseconds)" }

    public static func < (a: OperationKey, b: OperationKey) -> Bool { a.description < b.description }
}

/// One completed run of an operation, as the history keeps it and subscribers receive it.
public struct OperationRecord: Sendable, Hashable, Codable {
    public var key: OperationKey
    /// The call id the queue gave the operation when it was submitted (kept by every run of a
    /// recurring monitor).
    public var callID: Int
    public var exitCode: OCFExitCode
    public var status: ExecutionStatus
    public var exitReason: String?
    /// When the run started (the queue's time).
    public var started: Duration
    /// How long the agent ran.
    public var execTime: Duration
    /// How long the operation waited in the queue before it ran.
    public var queueTime: Duration
    /// When the result last changed for this operation key.
    public var lastChange: Duration
    /// `ParameterDigest` of the parameters it ran with.
    public var parameterDigest: String

    /// True when the result is a failure of this action (what `last_failure` records).
    public var isFailure: Bool {
        switch status {
        case .done: break
        case .cancelled, .pending: return false
        default: return true
        }
        switch key.action {
        case .monitor, .status:
            // Probes and monitors that find a resource stopped are not failures by themselves;
            // the controller compares them with what it expected.
            return !(exitCode == .success || exitCode == .notRunning || exitCode == .runningPromoted
                     || exitCode == .degraded || exitCode == .degradedPromoted)
        case .stop:
            return exitCode != .success
        default:
            return exitCode != .success
        }
    }
}

/// The operation history of one resource: the last run of each operation key, the last
/// failure, and the call ids.
public struct ResourceHistory: Sendable, Hashable, Codable {
    public var resource: ResourceDefinition
    /// The last completed run of each operation key.
    public var operations: [OperationKey: OperationRecord] = [:]
    /// The most recent failed run, whichever operation it was.
    public var lastFailure: OperationRecord?
    /// One-shot operations queued or running now, oldest first: a controller started after
    /// the one that asked for them (crmd killed and started again) must know that a start may
    /// be under way here, or the cluster could start the resource a second time elsewhere.
    public var inProgress: [OperationRequest] = []

    public init(resource: ResourceDefinition) {
        self.resource = resource
    }

    private enum CodingKeys: String, CodingKey { case resource, operations, lastFailure, inProgress }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        resource = try c.decode(ResourceDefinition.self, forKey: .resource)
        let records = try c.decode([OperationRecord].self, forKey: .operations)
        operations = Dictionary(records.map { ($0.key, $0) }, uniquingKeysWith: { a, b in a.callID > b.callID ? a : b })
        lastFailure = try c.decodeIfPresent(OperationRecord.self, forKey: .lastFailure)
        inProgress = try c.decodeIfPresent([OperationRequest].self, forKey: .inProgress) ?? []
    }

    /// Encoded with the operations as a list sorted by key.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(resource, forKey: .resource)
        try c.encode(operations.values.sorted { $0.key < $1.key }, forKey: .operations)
        try c.encodeIfPresent(lastFailure, forKey: .lastFailure)
        if !inProgress.isEmpty { try c.encode(inProgress, forKey: .inProgress) }
    }

    /// Whether the resource may be running here: false only when it has run nothing, or its
    /// last one-shot operation was a successful stop or a probe that found it not running (a
    /// failed stop, a start of any outcome, a probe that found it running: true).
    public var mayBeActive: Bool {
        let oneShot = operations.values.filter { $0.key.interval == .zero }
        guard let last = oneShot.max(by: { ($0.started, $0.callID) < ($1.started, $1.callID) }) else { return false }
        guard last.status == .done else { return true }
        switch last.key.action {
        case .stop: return last.exitCode != .success
        case .monitor, .status: return last.exitCode != .notRunning
        default: return true
        }
    }

    /// The last completed run of any operation (the highest call id, then the latest start).
    public var lastOperation: OperationRecord? {
        operations.values.max { ($0.started, $0.callID) < ($1.started, $1.callID) }
    }
}
