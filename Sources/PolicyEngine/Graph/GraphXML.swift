import EssentialsExtras
import CIB

extension ActionGraph {
    /// The graph as Pacemaker's controller reads it (`crm_simulate -G`): one synapse per
    /// action, holding the action and the actions it waits for.
    public func xml(transitionID: Int = 1) -> XElement {
        var root = XElement("transition_graph", [
            "cluster-delay": setting("cluster-delay") ?? "60s",
            "stonith-timeout": setting("stonith-timeout") ?? "60s",
            "failed-stop-offset": "INFINITY",
            "failed-start-offset": setting("failed-start-offset") ?? "INFINITY",
            "transition_id": String(transitionID),
        ])
        for (n, a) in actions.enumerated() {
            var synapse = XElement("synapse", ["id": String(n)])
            if a.task == "running" || a.task == "stopped" { synapse["priority"] = "1000000" }
            synapse.append(XElement("action_set", children: [.element(Self.element(a, full: true))]))
            var triggers = XElement("inputs")
            for i in inputs[n] {
                triggers.append(XElement("trigger", children: [.element(Self.element(actions[i], full: false))]))
            }
            synapse.append(triggers)
            root.append(synapse)
        }
        return root
    }

    private func setting(_ name: String) -> String? { settings.first { $0.name == name }?.value }

    private static func element(_ a: GraphAction, full: Bool) -> XElement {
        let name: String
        switch a.kind {
        case .resource: name = "rsc_op"
        case .pseudo: name = "pseudo_event"
        case .fence, .cluster: name = "crm_event"
        }
        var e = XElement(name, ["id": String(a.id), "operation": a.task, "operation_key": a.key])
        if a.operationKey != a.key {
            e["operation_key"] = a.operationKey
            e["internal_operation_key"] = a.key
        }
        if a.kind != .pseudo, let node = a.node {
            e["on_node"] = node
            e["on_node_uuid"] = a.nodeID ?? node
        }
        guard full else { return e }
        if a.kind == .resource, let agent = a.agent {
            var p = XElement("primitive", ["id": a.configuredID ?? a.resource ?? ""])
            if let r = a.resource, r != a.configuredID { p["long-id"] = r }
            p["class"] = agent.standard
            p["provider"] = agent.provider
            p["type"] = agent.type
            e.append(p)
        }
        var meta = a.meta
        if a.kind != .pseudo, let node = a.node {
            meta["on_node"] = node
            meta["on_node_uuid"] = a.nodeID ?? node
        }
        var attributes = XElement("attributes")
        for key in meta.keys.sorted() { attributes["CRM_meta_\(key)"] = meta[key] }
        if a.kind == .resource {
            for key in a.parameters.keys.sorted() { attributes[key] = a.parameters[key] }
        }
        e.append(attributes)
        return e
    }
}

extension ActionGraph {
    /// The graph in Graphviz DOT (`crm_simulate -D`): each action a node (bold green, orange
    /// text for pseudo-actions), each ordering an edge.
    public func dot() -> String {
        func name(_ a: GraphAction) -> String {
            switch a.kind {
            case .fence: return "stonith '\(a.meta["stonith_action"] ?? "reboot")' \(a.node ?? "<none>")"
            case .pseudo: return a.key
            case .resource where a.task == "cancel": return "Cancel \(a.key) \(a.node ?? "<none>")"
            default: return a.node.map { "\(a.key) \($0)" } ?? a.key
            }
        }
        func quoted(_ s: String) -> String { "\"" + s.replacingEvery("\"", with: "\\\"") + "\"" }
        let order = actions.indices.sorted { actions[$0].id > actions[$1].id }
        var out = " digraph \"g\" {\n"
        for i in order {
            let a = actions[i]
            out += "\(quoted(name(a))) [ style=bold color=\"green\" fontcolor=\"\(a.kind == .pseudo ? "orange" : "black")\"]\n"
        }
        for i in order {
            for j in inputs[i].sorted(by: { actions[$0].id > actions[$1].id }) {
                out += "\(quoted(name(actions[j]))) -> \(quoted(name(actions[i]))) [ style = bold]\n"
            }
        }
        return out + "}\n"
    }
}
