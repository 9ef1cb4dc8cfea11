import CIB

/// Nodes and their states: membership, controller state, join state, and node attributes.
enum Nodes {
    static func unpack(config: Configuration, status: Status, options: ClusterOptions) -> [SchedulerNode] {
        var nodes: [SchedulerNode] = []
        for n in config.nodes {
            var node = SchedulerNode(id: n.id, name: n.uname)
            node.kind = n.type == "remote" ? .remote : .member
            node.attributes = NVSets.flatten(n.attributes)
            nodes.append(node)
        }
        // Remote nodes defined by ocf:pacemaker:remote resources, and guest nodes by the
        // remote-node meta attribute, even when the nodes section does not list them.
        for r in config.resources.flatMap(\.primitives) {
            if r.agent.standard == "ocf", r.agent.provider == "pacemaker", r.agent.type == "remote",
               !nodes.contains(where: { $0.name == r.id }) {
                var node = SchedulerNode(id: r.id, name: r.id)
                node.kind = .remote
                nodes.append(node)
            }
            if let guest = Resource.primitive(r).meta("remote-node"), !nodes.contains(where: { $0.name == guest }) {
                var node = SchedulerNode(id: guest, name: guest)
                node.kind = .guest
                nodes.append(node)
            }
        }
        let states = Dictionary(status.nodeStates.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for i in nodes.indices {
            let state = states[nodes[i].id] ?? status.nodeStates.first { $0.uname == nodes[i].name }
            if let state {
                for set in state.transientAttributes {
                    for pair in set.pairs { if let v = pair.value { nodes[i].attributes[pair.name] = v } }
                }
            }
            if nodes[i].kind == .member {
                determineMemberState(&nodes[i], state: state, options: options)
            }
            nodes[i].standby = nodes[i].attributes["standby"].map(CIBValue.isTrue) ?? false
            nodes[i].maintenance = nodes[i].attributes["maintenance"].map(CIBValue.isTrue) ?? false
            nodes[i].attributes["#uname"] = nodes[i].name
            nodes[i].attributes["#id"] = nodes[i].id
            nodes[i].attributes["#kind"] = nodes[i].kind == .member ? "cluster" : (nodes[i].kind == .remote ? "remote" : "container")
        }
        return nodes
    }

    /// A timestamp or "true" means yes, "0"/"false"/absent means no.
    static func truthy(_ v: String?) -> Bool {
        guard let v else { return false }
        if let n = Int(v) { return n > 0 }
        return CIBValue.isTrue(v) || v == "online"
    }

    static func determineMemberState(_ node: inout SchedulerNode, state: NodeState?, options: ClusterOptions) {
        guard let state else {
            // Never seen: with fencing and startup-fencing, it must be fenced before use.
            node.online = false
            node.unclean = options.fencingEnabled && options.startupFencing
            if node.unclean { node.fenceReason = "node is unclean (never seen)" }
            return
        }
        let inCluster = truthy(state.inCCM)
        let peerOnline = truthy(state.crmd)
        let join = state.join ?? "down"
        let expected = state.expected ?? "down"
        node.expectedUp = join == "member"
        if let s = state.element["shutdown"], s != "0", !s.isEmpty { node.shutdown = true }

        guard options.fencingEnabled else {
            node.online = inCluster && peerOnline && join == "member"
            return
        }
        if inCluster && peerOnline && join == "member" {
            node.online = true
        } else if inCluster && peerOnline && (join == "pending" || join == "down" || join == "nack") {
            node.pending = join != "nack"
            node.online = false
            if join == "nack" {
                node.unclean = true
                node.fenceReason = "node failed to join"
            }
        } else if !inCluster && !peerOnline {
            node.online = false
            if expected == "member" && !node.shutdown {
                node.unclean = true
                node.fenceReason = "peer is unexpectedly down"
            }
        } else if inCluster && !peerOnline {
            node.online = false
            if expected == "member" || join == "member" {
                node.unclean = true
                node.fenceReason = "peer is no longer part of the cluster"
            }
        } else {
            // Controller up, but not in the membership: lost.
            node.online = false
            node.unclean = expected == "member"
            if node.unclean { node.fenceReason = "peer is not part of the cluster" }
        }
    }
}
