import CIB

/// Nodes and their states: membership, controller state, join state, and node attributes.
enum Nodes {
    /// The nodes of the configuration, plus the remote nodes that `ocf:pacemaker:remote`
    /// resources define and the guest nodes that the `remote-node` meta attribute defines,
    /// sorted as Pacemaker sorts them.
    static func declare(config: Configuration, now: Int) -> [SchedulerNode] {
        var nodes: [SchedulerNode] = []
        for n in config.nodes {
            var node = SchedulerNode(id: n.id, name: n.uname)
            node.kind = n.type == "remote" ? .remote : .member
            let builtIn = ["#uname": n.uname, "#id": n.id, "#kind": node.kind == .member ? "cluster" : "remote"]
            node.configuredAttributes = NVSets.flatten(n.attributes, context: RuleContext(now: now, nodeAttributes: builtIn))
            nodes.append(node)
        }
        for r in config.resources {
            if case .primitive(let p) = r, p.agent.standard == "ocf", p.agent.provider == "pacemaker", p.agent.type == "remote" {
                if let i = nodes.firstIndex(where: { $0.name == p.id }) {
                    nodes[i].kind = .remote
                    nodes[i].connection = p.id
                } else {
                    var node = SchedulerNode(id: p.id, name: p.id)
                    node.kind = .remote
                    node.connection = p.id
                    nodes.append(node)
                }
            }
        }
        for r in config.resources {
            let candidates: [Primitive]
            switch r {
            case .primitive(let p): candidates = [p]
            case .group(let g): candidates = g.members
            default: candidates = []
            }
            for p in candidates {
                guard let guest = Resource.primitive(p).meta("remote-node") else { continue }
                if let i = nodes.firstIndex(where: { $0.name == guest }) {
                    nodes[i].kind = .guest
                    nodes[i].container = p.id
                } else {
                    var node = SchedulerNode(id: guest, name: guest)
                    node.kind = .guest
                    node.container = p.id
                    nodes.append(node)
                }
            }
        }
        return nodes
    }

    /// Reads each cluster node's `<node_state>` into its state.
    static func unpackMembers(_ nodes: inout [SchedulerNode], status: Status, options: ClusterOptions,
                              haveQuorum: Bool, noQuorumPanic: Bool) {
        for i in nodes.indices where nodes[i].kind == .member {
            let state = nodeState(for: nodes[i], in: status, pacemaker2: options.pacemaker2Status)
            if let state { readAttributes(&nodes[i], state) }
            determineMemberState(&nodes[i], state: state, options: options)
            // Without quorum, a policy of fence (or suicide) fences the nodes still online.
            if ["fence", "suicide"].contains(options.noQuorumPolicy), options.fencingEnabled,
               !haveQuorum, noQuorumPanic, nodes[i].online {
                fence(&nodes[i], "cluster does not have quorum")
            }
        }
    }

    static func nodeState(for node: SchedulerNode, in status: Status, pacemaker2: Bool = false) -> NodeState? {
        // (2.1.5 ignores an entry without an id or a uname, and finds a node by id, then by name.)
        if pacemaker2 {
            let usable = status.nodeStates.filter { $0.element["id"] != nil && $0.element["uname"] != nil }
            return usable.first { $0.id == node.id } ?? usable.first { $0.uname == node.name }
        }
        return status.nodeStates.first { $0.id == node.id } ?? status.nodeStates.first { $0.uname == node.name && $0.element["id"] == nil }
            ?? status.nodeStates.first { $0.uname == node.name }
    }

    /// Configured attributes first, the status section's transient ones over them; standby and
    /// maintenance are read from them (only for nodes that have a status entry).
    static func readAttributes(_ node: inout SchedulerNode, _ state: NodeState) {
        node.hasState = true
        var attrs = node.configuredAttributes
        for set in state.transientAttributes {
            for pair in set.pairs { if let v = pair.value { attrs[pair.name] = v } }
        }
        node.attributes.merge(attrs) { _, new in new }
        node.standby = attrs["standby"].map(CIBValue.isTrue) ?? false
        node.maintenance = attrs["maintenance"].map(CIBValue.isTrue) ?? false
        if let s = attrs["shutdown"], s != "0", !s.isEmpty { node.shutdown = true }
    }

    /// When the node joined the membership: > 0 (a time, or 1 for "true"), 0 for "false",
    /// -1 when the status never says (the node has not been seen).
    static func memberSince(_ v: String?) -> Int {
        guard let v else { return -1 }
        if let n = Int(v) { return n >= 0 ? n : -1 }
        if CIBValue.isTrue(v) { return 1 }
        if ["false", "no", "0", "off", "n"].contains(v.lowercased()) { return 0 }
        return -1
    }

    /// When the node's controller came up: > 0, or 0 when it is not running.
    static func onlineSince(_ v: String?) -> Int {
        guard let v else { return 0 }
        if let n = Int(v) { return max(0, n) }
        return v == "online" ? 1 : 0
    }

    /// Why a remote node whose connection cannot be recovered is fenced.
    static let activeUnrecoverable = "resources are active but connection is unrecoverable"
    static let unknownStateUnrecoverable = "resources are in unknown state and connection is unrecoverable"

    static func fence(_ node: inout SchedulerNode, _ reason: String) {
        node.unclean = true
        // A remote node stays unclean once asked to be fenced (its status does not clear it).
        if node.kind == .remote { node.remoteReset = true }
        if node.fenceReason == nil { node.fenceReason = reason }
    }

    static func determineMemberState(_ node: inout SchedulerNode, state: NodeState?, options: ClusterOptions) {
        guard let state else {
            // Never seen: with fencing and startup-fencing, it must be fenced before use.
            node.online = false
            if options.fencingEnabled && options.startupFencing { fence(&node, "node is unclean") }
            return
        }
        var member = memberSince(state.inCCM)
        var online = onlineSince(state.crmd)
        if options.pacemaker2Status {
            // 2.1.5: in_ccm is a boolean (a time reads as false), crmd "online" or not.
            member = state.inCCM.map { CIBValue.isTrue($0) ? 1 : 0 } ?? -1
            online = state.crmd?.lowercased() == "online" ? 1 : 0
        }
        let join = state.join
        let expected = state.expected
        node.expectedUp = expected == "member"

        guard options.fencingEnabled else {
            if member <= 0 {
                node.online = false
            } else if online > 0 {
                node.online = join?.lowercased() == "member"
            } else if node.expectedUp && !node.shutdown {
                fence(&node, "peer is unexpectedly down")
            }
            return
        }
        if node.shutdown {
            node.online = online > 0
            return
        }
        if member < 0 {
            fence(&node, "peer has not been seen by the cluster")
            node.online = false
            return
        }
        let terminate = node.attributes["terminate"].map { Int($0).map { $0 > 0 } ?? CIBValue.isTrue($0) } ?? false
        // (The controller's join state for a refused node is "banned".)
        if join == "banned" || join == "nack" {
            fence(&node, "peer failed Pacemaker membership criteria")
        } else if terminate {
            if member <= 0 && online <= 0 && join == "down" {
                node.online = false
                return
            }
            fence(&node, "fencing was requested")
        } else if expected == nil || expected == "down" {
            if member > 0 || online > 0 { node.pending = true }
            // (2.1.5 marks a node not ready to run resources standby too.)
            if node.pending && options.pacemaker2Status { node.standby = true }
        } else if member <= 0 {
            fence(&node, "peer is no longer part of the cluster")
        } else if online <= 0 {
            fence(&node, "peer process is no longer available")
        } else if join == "member" {
            // Active.
        } else if join == "pending" || join == "down" {
            node.pending = true
            if options.pacemaker2Status { node.standby = true }
        } else {
            fence(&node, "peer was in an unknown state")
        }
        node.online = member > 0
    }

    /// Node health from the `#health*` attributes under node-health-strategy.
    static func health(_ node: SchedulerNode, options: ClusterOptions) -> SchedulerNode.Health {
        let strategy = options.nodeHealthStrategy
        guard strategy != "none" else { return .green }
        let (red, yellow, green): (Int, Int, Int)
        switch strategy {
        case "migrate-on-red": (red, yellow, green) = (-CIBValue.infinity, 0, 0)
        case "only-green": (red, yellow, green) = (-CIBValue.infinity, -CIBValue.infinity, 0)
        default:
            red = options.raw["node-health-red"].flatMap(CIBValue.score) ?? -CIBValue.infinity
            yellow = options.raw["node-health-yellow"].flatMap(CIBValue.score) ?? 0
            green = options.raw["node-health-green"].flatMap(CIBValue.score) ?? 0
        }
        var worst = SchedulerNode.Health.green
        for (name, value) in node.attributes where name.hasPrefix("#health") {
            let score: Int
            switch value.lowercased() {
            case "red": score = red
            case "yellow": score = yellow
            case "green": score = green
            default: score = CIBValue.score(value) ?? 0
            }
            // The words are taken first (Pacemaker's pe__node_health): "yellow" is yellow even
            // when a strategy scores it as low as red.
            if value.lowercased() == "yellow" {
                if worst == .green { worst = .yellow }
            } else if score <= red {
                worst = .red
            } else if yellow != green && score <= yellow && worst == .green {
                worst = .yellow
            }
        }
        return worst
    }
}
