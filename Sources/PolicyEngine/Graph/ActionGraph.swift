import EssentialsExtras
import CIB

/// The transition graph: the actions a transition needs and the order they must run in.
///
/// The controller executes it: an action runs once every action in its `inputs` has
/// completed. Pseudo-actions are ordering points that need nothing done; cluster actions are
/// done by the controller itself (fencing, shutting a node down).
public struct ActionGraph: Sendable {
    /// The actions, in the order the graph lists them (Pacemaker's synapse order).
    public var actions: [GraphAction]
    /// For each action (by position in `actions`), the positions of the actions that must
    /// complete before it.
    public var inputs: [[Int]]
    /// Graph-wide settings the executor needs (cluster-delay, stonith-timeout, batch-limit, ...).
    public var settings: [(name: String, value: String)] = []

    public init(actions: [GraphAction] = [], inputs: [[Int]] = [], settings: [(name: String, value: String)] = []) {
        self.actions = actions
        self.inputs = inputs
        self.settings = settings
    }

    public var isEmpty: Bool { actions.isEmpty }
}

/// One action of a transition graph.
public struct GraphAction: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A resource agent operation on a node.
        case resource
        /// An ordering point; nothing runs.
        case pseudo
        /// Fencing a node.
        case fence
        /// Something the controller does on a node (do_shutdown, clear_failcount).
        case cluster
    }

    /// Unique within the graph; numbered in the order the scheduler created the actions.
    public var id: Int
    public var kind: Kind
    /// start, stop, monitor, promote, demote, migrate_to, migrate_from, notify, stonith,
    /// do_shutdown, running, stopped, promoted, demoted...
    public var task: String
    /// The operation key: `rsc_start_0`, `rsc_monitor_10000`, `stonith-node1-reboot`.
    public var key: String
    /// The resource's id as the status shows it (`rsc`, `clone-child:2`), if any.
    public var resource: String?
    /// The node the action runs on, if any.
    public var node: String?
    public var intervalMS: Int
    /// Meta attributes passed with the action (without the CRM_meta_ prefix): timeout,
    /// on_node, op_target_rc, stonith_action...
    public var meta: [String: String]
    /// For resource actions: the agent, the primitive's configured id, and its parameters.
    public var agent: ResourceAgentName?
    public var configuredID: String?
    public var parameters: [String: String] = [:]
    /// The node's id (uuid) in the CIB.
    public var nodeID: String?
    /// For an anonymous clone instance the history knows by another name (the unnumbered id,
    /// or another instance's number): that name, which keys its operations in the graph.
    public var historyName: String?
    /// The instance's own id (`rsc:2`), when `historyName` is set.
    public var instanceID: String?

    public init(id: Int, kind: Kind, task: String, key: String, resource: String? = nil, node: String? = nil,
                intervalMS: Int = 0, meta: [String: String] = [:]) {
        self.id = id
        self.kind = kind
        self.task = task
        self.key = key
        self.resource = resource
        self.node = node
        self.intervalMS = intervalMS
        self.meta = meta
    }

    /// Whether the action still runs once its transition is aborted: ordering points, and
    /// post-notifications (the scheduler gives them priority INFINITY, as it does the
    /// pseudo-actions that complete a clone's actions).
    public var runsAfterAbort: Bool {
        kind == .pseudo || (task == "notify" && meta["notify_type"] == "post")
    }

    /// The operation key the graph shows: keyed by the history's name when the instance has
    /// one (`rsc_stop_0` for `rsc:1`), else its own key.
    public var operationKey: String {
        guard kind == .resource || kind == .pseudo, let history = historyName, let instance = instanceID,
              key.hasPrefix(instance + "_") else { return key }
        return history + key.dropFirst(instance.count)
    }
}

extension ActionGraph {
    /// The order a controller with unlimited parallelism would run the actions in, when each
    /// completes at once: repeated passes over the list, each running every action whose
    /// inputs have completed (including those completed earlier in the same pass).
    /// This is the order `crm_simulate -S` prints them in.
    public func executionOrder() -> [Int] {
        execution(failing: { _ in false }).order
    }

    /// The simulated execution when some actions fail (`crm_simulate --op-fail`): `fails` is
    /// asked once for each action as it runs. A failure aborts the transition, as the
    /// controller aborts it: from then on only actions of priority INFINITY still run once
    /// their inputs have completed, the pseudo-actions and post-notifications. (As in
    /// Pacemaker's simulation, a failed action counts as completed for those.)
    public func execution(failing fails: (Int) -> Bool) -> (order: [Int], failed: [Int]) {
        var done = [Bool](repeating: false, count: actions.count)
        var order: [Int] = [], failures: [Int] = []
        order.reserveCapacity(actions.count)
        var aborted = false
        var progressed = true
        while progressed {
            progressed = false
            for i in actions.indices where !done[i] {
                guard inputs[i].allSatisfy({ done[$0] }) else { continue }
                if aborted && !actions[i].runsAfterAbort { continue }
                done[i] = true
                order.append(i)
                progressed = true
                if fails(i) {
                    failures.append(i)
                    aborted = true
                }
            }
        }
        return (order, failures)
    }

    /// The lines of crm_simulate's "Executing Cluster Transition" section.
    public func simulationLines() -> [String] {
        executionOrder().map { simulationLine(actions[$0]) }
    }

    /// The line crm_simulate prints when the simulation runs an action.
    public func simulationLine(_ a: GraphAction) -> String {
        switch a.kind {
        case .pseudo:
            return "  * Pseudo action:   \(a.operationKey)" + (a.node.map { " on \($0)" } ?? "")
        case .fence:
            return "  * Fencing \(a.node ?? "") (\(a.meta["stonith_action"] ?? "reboot"))"
        case .cluster:
            // (Named by the configured resource, as the graph's <primitive id> names it.)
            if let r = a.configuredID ?? a.resource { return "  * Cluster action:  \(a.task) for \(r) on \(a.node ?? "")" }
            return "  * Cluster action:  \(a.task) on \(a.node ?? "")"
        case .resource:
            let name = (a.resource ?? "").padded(toLength: max(15, (a.resource ?? "").count))
            let op = a.intervalMS > 0 ? "\(a.task)=\(a.intervalMS)" : a.task
            return "  * Resource action: \(name) \(op) on \(a.node ?? "")"
        }
    }
}
