import CIB

/// Unfencing: when a fence device provides it (meta attribute `provides=unfencing`), a node
/// must be unfenced ("Fence (on)") before it probes or starts a fence device or a resource that
/// requires unfencing, unless its `#node-unfenced` attribute says it already was.
enum Unfencing {
    /// Whether any resource (or the resource defaults) provides unfencing, with fencing on.
    static func enabled(_ ws: WorkingSet) -> Bool {
        ws.options.fencingEnabled && ws.resources.contains { $0.meta["provides"]?.lowercased() == "unfencing" }
    }

    /// Whether a node must be unfenced before a resource is probed or started on it: fence
    /// devices always; other resources by their `requires`, which defaults to "unfencing"
    /// (except for resources that define a remote or guest node: those require quorum).
    static func needed(by r: SchedulerResource) -> Bool {
        if r.agent?.standard == "stonith" { return true }
        switch r.meta["requires"]?.lowercased() {
        case "unfencing": return true
        case "nothing", "quorum", "fencing": return false
        default:
            let connection = r.agent.map { $0.standard == "ocf" && $0.provider == "pacemaker" && $0.type == "remote" } ?? false
            return !connection && r.meta["remote-node"] == nil
        }
    }

    /// Whether the node's attributes say it was unfenced (`#node-unfenced` set, and not "0").
    static func done(_ n: SchedulerNode) -> Bool {
        guard let v = n.attributes["#node-unfenced"] else { return false }
        return v != "0"
    }

    /// The unfencing each node needs, in the order the graph's actions ask for it (the first
    /// probe or start there names the reason): "Fence (on) NODE 'required by RSC TASK'".
    static func requests(_ ws: WorkingSet, _ graph: ActionGraph) -> [PlannedChange] {
        guard enabled(ws) else { return [] }
        var out: [PlannedChange] = []
        var seen = Set<String>()
        for action in graph.actions.sorted(by: { $0.id < $1.id }) where action.kind == .resource {
            guard action.task == "start" || (action.task == "monitor" && action.intervalMS == 0),
                  let node = action.node, !seen.contains(node), let n = ws.node(named: node),
                  n.online, !n.unclean, !n.shutdown, !done(n) else { continue }
            let suffix = "_\(action.task)_\(action.intervalMS)"
            guard action.key.hasSuffix(suffix) else { continue }
            let id = String(action.key.dropLast(suffix.count))
            guard let i = ws.index(of: id), needed(by: ws.resources[i]) else { continue }
            seen.insert(node)
            var change = PlannedChange(kind: .fence, subject: node, details: "required by \(id) \(action.task)", reason: nil)
            change.fenceAction = "on"
            out.append(change)
        }
        return out
    }
}
