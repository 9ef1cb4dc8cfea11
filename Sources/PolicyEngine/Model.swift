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
    /// The attributes the configuration gives (before the status section's).
    public var configuredAttributes: [String: String] = [:]
    /// Whether the status section has an entry for the node.
    public var hasState = false
    /// For a remote node, the connection resource; for a guest node, its container resource.
    public var connection: String?
    public var container: String?
    /// A bundle replica's node.
    public var isBundleNode = false
    /// A guest node whose container failed: it is reset rather than fenced.
    public var remoteReset = false
    /// A remote node to fence only if its connection cannot run again elsewhere (a resource
    /// thought active on it while its connection's host was lost).
    public var unseen = false
    /// The status says the remote node was fenced (`node_fenced`) since its connection last ran.
    public var remoteWasFenced = false
    public var health: Health = .green
    /// Why the node must be fenced, when it must.
    public var fenceReason: String?

    public enum Health: Sendable, Equatable { case green, yellow, red }

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
    case ignore = 0, demote, restart, resetRemote, restartContainer, block, stop, standby, fence

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
    /// Marked failed although not active (a guest's container, recovered to fence the guest):
    /// shown as FAILED with no node.
    public var failedInactive = false
    public var blocked = false
    public var orphan = false
    /// A pending operation (record-pending), by node.
    public var pendingTask: String?
    /// Nodes where a probe found the agent not installed.
    public var notInstalledOn: [String] = []
    /// The node of a pending non-probe action.
    public var pendingNode: String?
    /// Nodes whose history records a failure that was not ignored.
    public var failedOn: Set<String> = []
    /// Nodes whose history has only a probe still pending: the state there is still unknown.
    public var pendingProbeOn: Set<String> = []
    /// The id the resource's history has on each node (`rsc:2` for an anonymous instance).
    public var historyIDs: [String: String] = [:]
    /// The parameter digest each node last started the resource with.
    public var startDigests: [String: String] = [:]
    /// Where the agent can reload: the restart digest and the parameters it covers, by node.
    public var restartDigests: [String: (digest: String, parameters: [String]?)] = [:]
    /// Per node: the last start's digest without its secret parameters, and their names.
    public var secureDigests: [String: SecureDigest] = [:]
    /// The recurring operations active on each node ("monitor_10000"), oldest first.
    public var recurringOn: [String: [String]] = [:]
    /// For a bundle: its container image, and whether its resource is promotable.
    public var bundleImage: String?
    public var bundlePromotable = false
    /// The worst failure policy the history asks for.
    public var onFail: FailurePolicy?
    /// The resource that launches this one (the `container` meta attribute of a primitive,
    /// naming a resource that is not a guest node's): it runs with it and is restarted with
    /// it (see Launchers.swift).
    public var launcher: Int?
    /// A failure of a launched resource restarts its launcher on these nodes.
    public var launcherRestartOn: Set<String> = []

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
    /// Probes that failed in a way that only means "cannot run here" (not installed, invalid
    /// parameter), by configured resource id, then node: the result's name.
    public var maskedProbes: [String: [String: String]] = [:]
    /// Nodes a resource may not run on because of its history (failed stop, hard error).
    public var historyBans: [Int: Set<String>] = [:]
    /// Resources that may run nowhere because of a fatal error.
    public var fatallyFailed: Set<Int> = []
    /// The `rsc_defaults` sets (some may have rules that test the resource).
    public var resourceDefaultSets: [NVSet] = []
    /// The failed operations of the history, in the order the status lists them.
    public var failedOperations: [FailedOperation] = []
    /// The resource ids each node's history has an entry for (clone instances as recorded,
    /// numbered or not), whatever the entry says.
    public var historyEntries: [String: Set<String>] = [:]
    /// The replicas of each bundle, by the bundle's index.
    public var bundleReplicas: [Int: [BundleReplica]] = [:]
    /// Completed live migrations whose source was not stopped yet ("dangling"): the source
    /// nodes, by primitive. The resource runs on the target; the source still gets a stop.
    public var danglingMigrations: [Int: [String]] = [:]
    /// Partial live migrations (migrate_to done on the source, migrate_from not yet on the
    /// target, nothing newer there): the target, by primitive. Pacemaker's status counts the
    /// resource active on the target too (listed first); see `showingPartialMigrations()`.
    public var partialMigrationTargets: [Int: String] = [:]
    public var cib: CIB

    /// Configured (not orphaned) primitives by id and by configured id, the first of each:
    /// the history of thousands of resources on dozens of nodes is matched against it.
    /// Unpacking builds it once the configuration is read (orphans, added later, are never in it).
    var configuredPrimitives = PrimitiveIndex()

    /// The status section's `<lrm_resource>` entries by node and id, read once: later stages
    /// look up a resource's history on a node for every resource.
    var history = HistoryIndex()

    /// The index of a resource by its id (instance id for clone instances).
    public func index(of id: String) -> Int? {
        resources.firstIndex { $0.id == id }
    }

    public func node(named name: String) -> SchedulerNode? {
        // The index is a hint: checked on every hit, and a miss falls back to the scan, so a
        // stale index (nodes added or reordered since) never gives a wrong answer.
        if let i = nodePositions[name], i < nodes.count, nodes[i].name == name { return nodes[i] }
        return nodes.first { $0.name == name }
    }

    /// The position of a node in `nodes` by its name (the first of that name).
    public func nodeIndex(named name: String) -> Int? {
        if let i = nodePositions[name], i < nodes.count, nodes[i].name == name { return i }
        return nodes.firstIndex { $0.name == name }
    }

    /// The position of the first node of each name, as `indexNodes()` last saw them.
    var nodePositions: [String: Int] = [:]

    /// Rebuilds the node index `node(named:)` looks in first (stages call it once the node
    /// list is complete: lookups by name happen for every resource on every node).
    mutating func indexNodes() {
        var positions: [String: Int] = [:]
        positions.reserveCapacity(nodes.count)
        for (i, n) in nodes.enumerated() where positions[n.name] == nil { positions[n.name] = i }
        nodePositions = positions
    }

    /// Whether a resource sits in a promotable clone.
    public func isInPromotableClone(_ r: SchedulerResource) -> Bool {
        var p = r.parent
        while let j = p {
            if case .clone(let promotable, _) = resources[j].variant { return promotable }
            // A promotable bundle's resource (not its container, address or connection).
            if resources[j].variant == .bundle { return resources[j].bundlePromotable && r.id != r.configuredID }
            p = resources[j].parent
        }
        return false
    }

    /// The working set as Pacemaker's status shows it: a resource in a partial migration
    /// active on its target too (before the nodes its own history gives), and started.
    /// (For display: the scheduler does not continue partial migrations.)
    public func showingPartialMigrations() -> WorkingSet {
        var copy = self
        for (i, target) in partialMigrationTargets where i < copy.resources.count {
            if !copy.resources[i].activeOn.contains(target) { copy.resources[i].activeOn.insert(target, at: 0) }
            if copy.resources[i].role < .started { copy.resources[i].role = .started }
        }
        return copy
    }

    /// The resource defaults that apply at `now` (without rules that test a resource): what
    /// a resource Pacemaker makes itself, a guest node's connection, is given.
    public var plainResourceDefaults: [String: String] {
        NVSets.flatten(resourceDefaultSets, context: RuleContext(now: now))
    }

    /// Every primitive under (and including) a resource.
    public func primitives(under i: Int) -> [Int] {
        if resources[i].isPrimitive { return [i] }
        return resources[i].children.flatMap { primitives(under: $0) }
    }
}

/// Pacemaker's node and resource name order: case-insensitive, with runs of digits compared
/// as numbers (node2 before node10).
public func naturalLess(_ a: String, _ b: String) -> Bool {
    naturalCompare(a, b) < 0
}

public func naturalCompare(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased().utf8), y = Array(b.lowercased().utf8)
    var i = 0, j = 0
    func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    while i < x.count && j < y.count {
        if isDigit(x[i]) && isDigit(y[j]) {
            var ei = i, ej = j
            while ei < x.count && isDigit(x[ei]) { ei += 1 }
            while ej < y.count && isDigit(y[ej]) { ej += 1 }
            // Compare the numbers without leading zeros by length, then digit by digit.
            var si = i, sj = j
            while si < ei - 1 && x[si] == 48 { si += 1 }
            while sj < ej - 1 && y[sj] == 48 { sj += 1 }
            if ei - si != ej - sj { return ei - si < ej - sj ? -1 : 1 }
            for k in 0..<(ei - si) where x[si + k] != y[sj + k] { return x[si + k] < y[sj + k] ? -1 : 1 }
            i = ei
            j = ej
        } else {
            if x[i] != y[j] { return x[i] < y[j] ? -1 : 1 }
            i += 1
            j += 1
        }
    }
    if i < x.count { return 1 }
    if j < y.count { return -1 }
    return 0
}

/// Each node's `<lrm_resource>` entries by id (the first node_state of a name, the first
/// entry of an id, as a scan in document order finds them).
struct HistoryIndex: Sendable {
    private var byNode: [String: [String: XElement]] = [:]

    init() {}

    init(_ status: Status) {
        for state in status.nodeStates where byNode[state.uname] == nil {
            let entries = state.lrmResources
            var byID: [String: XElement] = [:]
            byID.reserveCapacity(entries.count)
            for lrm in entries where byID[lrm.id] == nil { byID[lrm.id] = lrm.element }
            byNode[state.uname] = byID
        }
    }

    /// The `<lrm_resource>` of a resource id on a node.
    func entry(_ id: String, on node: String) -> XElement? {
        byNode[node]?[id]
    }

    /// The recorded operations (`<lrm_rsc_op>`) of a resource id on a node.
    func operations(_ id: String, on node: String) -> [XElement] {
        entry(id, on: node)?.elements(named: "lrm_rsc_op") ?? []
    }
}

struct PrimitiveIndex: Sendable {
    var byID: [String: Int] = [:]
    var byConfiguredID: [String: Int] = [:]

    init() {}

    init(_ resources: [SchedulerResource]) {
        for (i, r) in resources.enumerated() where r.isPrimitive && !r.orphan {
            if byID[r.id] == nil { byID[r.id] = i }
            if byConfiguredID[r.configuredID] == nil { byConfiguredID[r.configuredID] = i }
        }
    }

    /// The configured primitive an lrm_resource id names: the exact id, or for clone
    /// instances the id before the `:N` suffix.
    func find(_ id: String) -> Int? {
        if let i = byID[id] { return i }
        let base = id.split(separator: ":").first.map(String.init) ?? id
        return byConfiguredID[base]
    }
}
