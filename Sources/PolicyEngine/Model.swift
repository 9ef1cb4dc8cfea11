import CIB

/// A node as the scheduler sees it.
public struct SchedulerNode: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case member, remote, guest }

    public var id: String
    public var name: String
    public var kind: Kind = .member
    public var online = false
    public var unclean = false
    public var standby = false
    public var standbyOnFail = false
    public var maintenance = false
    public var pending = false
    public var shutdown = false
    public var expectedUp = false
    /// Node attributes: the configured ones, then the transient ones from the status section.
    public var attributes: [String: String] = [:]
    /// Why the node must be fenced, when it must.
    public var fenceReason: String?

    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

/// A resource's role, ordered as Pacemaker orders them.
public enum Role: Int, Sendable, Comparable, CustomStringConvertible {
    case unknown = 0, stopped, started, unpromoted, promoted

    public static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .unknown: "Unknown"
        case .stopped: "Stopped"
        case .started: "Started"
        case .unpromoted: "Unpromoted"
        case .promoted: "Promoted"
        }
    }

    /// Parses a role name in any of its spellings (Master/Slave included), any case.
    public init?(name: String) {
        switch name.lowercased() {
        case "stopped": self = .stopped
        case "started": self = .started
        case "unpromoted", "slave": self = .unpromoted
        case "promoted", "master": self = .promoted
        case "unknown": self = .unknown
        default: return nil
        }
    }
}

/// What failure handling an operation asks for (`on-fail`), ordered by severity.
public enum FailurePolicy: Int, Sendable, Comparable {
    case ignore = 0, demote, restart, restartContainer, resetRemote, block, stop, standby, fence

    public static func < (a: FailurePolicy, b: FailurePolicy) -> Bool { a.rawValue < b.rawValue }

    init?(name: String) {
        switch name.lowercased() {
        case "ignore", "nothing": self = .ignore
        case "demote": self = .demote
        case "restart": self = .restart
        case "restart-container": self = .restartContainer
        case "reset-remote": self = .resetRemote
        case "block": self = .block
        case "stop": self = .stop
        case "standby": self = .standby
        case "fence": self = .fence
        default: return nil
        }
    }
}

/// The kind of a resource in the scheduler's tree.
public enum ResourceVariant: Sendable, Equatable {
    case primitive(ResourceAgentName)
    case group
    case clone(promotable: Bool, unique: Bool)
    case bundle
}

/// One resource of the scheduler's tree: configured resources, clone instances and orphans.
public struct SchedulerResource: Sendable {
    /// The id as the status shows it: `rsc`, or `child:2` for a clone instance.
    public var id: String
    /// The configured id (without an instance number).
    public var configuredID: String
    public var variant: ResourceVariant
    public var parent: Int?
    public var children: [Int] = []
    /// Meta attributes after defaults (rsc_defaults, then the resource's own, inherited from parents).
    public var meta: [String: String] = [:]
    /// Instance parameters.
    public var parameters: [String: String] = [:]
    /// The configured element.
    public var element: XElement

    // State from the operation history.
    /// Nodes where the resource is active.
    public var activeOn: [String] = []
    public var role: Role = .unknown
    public var failed = false
    public var failureIgnored = false
    public var blocked = false
    public var orphan = false
    /// A pending operation (record-pending), by node.
    public var pendingTask: String?
    /// The worst failure policy the history asks for.
    public var onFail: FailurePolicy?

    public var isPrimitive: Bool { if case .primitive = variant { return true } else { return false } }
    public var agent: ResourceAgentName? { if case .primitive(let a) = variant { return a } else { return nil } }

    public var managed: Bool { meta["is-managed"].map(CIBValue.isTrue) ?? true }
    public var maintenance: Bool { meta["maintenance"].map(CIBValue.isTrue) ?? false }
    public var targetRole: Role? { meta["target-role"].flatMap { Role(name: $0) } }
}

/// Everything the scheduler knows after unpacking a CIB: the working set of every later stage.
public struct WorkingSet: Sendable {
    public var options: ClusterOptions
    public var nodes: [SchedulerNode]
    public var resources: [SchedulerResource]
    /// Indexes of the top-level resources, in configuration order.
    public var topLevel: [Int]
    public var haveQuorum: Bool
    public var now: Int
    public var cib: CIB

    /// The index of a resource by its id (instance id for clone instances).
    public func index(of id: String) -> Int? {
        resources.firstIndex { $0.id == id }
    }

    public func node(named name: String) -> SchedulerNode? {
        nodes.first { $0.name == name }
    }

    /// Every primitive under (and including) a resource.
    public func primitives(under i: Int) -> [Int] {
        if resources[i].isPrimitive { return [i] }
        return resources[i].children.flatMap { primitives(under: $0) }
    }
}
