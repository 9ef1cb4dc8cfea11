import CIB

/// Launched resources: a primitive whose `container` meta attribute (set on it or inherited
/// from its group) names another resource, its launcher.
///
/// Pacemaker's rules, as implemented here:
/// - a launched resource's failures default to `on-fail=restart-container`: the launcher is
///   stopped and started again where the failure happened, and the resource with it; a
///   failed stop counts as done (the resource is shown FAILED, failure ignored, and stopped);
/// - when the launcher is an ordinary resource (not a guest node's container), the launched
///   resource is colocated with it (INFINITY, `#resource-with-container`) and ordered after
///   its start (`launcher start` then `resource start`, stops the other way round);
/// - when the launcher carries a guest node, the resource may only run on that guest node
///   (handled where node tables are built).
enum Launchers {
    /// Sets each primitive's launcher. A resource never launches itself (a group's own
    /// `container` is inherited by the launcher too).
    static func link(_ ws: inout WorkingSet) {
        for i in ws.resources.indices where ws.resources[i].isPrimitive {
            guard let id = ws.resources[i].meta["container"], id != ws.resources[i].configuredID, id != ws.resources[i].id,
                  let l = ws.index(of: id), l != i else { continue }
            ws.resources[i].launcher = l
        }
    }

    /// The guest node a launcher carries, if any.
    static func guestNode(of launcher: Int, in ws: WorkingSet) -> SchedulerNode? {
        let id = ws.resources[launcher].id
        return ws.nodes.first { $0.kind == .guest && ($0.container == id || $0.name == id) }
            ?? ws.nodes.first { $0.kind == .remote && $0.connection == id }
    }

    /// Whether `i` is launched by an ordinary resource: it then runs with its launcher and is
    /// ordered after it.
    static func launchedByOrdinary(_ i: Int, in ws: WorkingSet) -> Int? {
        guard let l = ws.resources[i].launcher, guestNode(of: l, in: ws) == nil else { return nil }
        return l
    }

    /// The resources each launcher launches, unless it belongs to a bundle (a bundle container's
    /// count is its own).
    static func launchedMap(_ ws: WorkingSet) -> [Int: [Int]] {
        var out: [Int: [Int]] = [:]
        for i in ws.resources.indices {
            guard let l = ws.resources[i].launcher else { continue }
            if let p = ws.resources[l].parent, ws.resources[p].variant == .bundle { continue }
            out[l, default: []].append(i)
        }
        return out
    }

    /// `#resource-with-container`: each resource launched by an ordinary resource runs where
    /// its launcher runs.
    static func colocations(_ ws: WorkingSet) -> [Colocation] {
        ws.resources.indices.compactMap { i in
            guard let l = launchedByOrdinary(i, in: ws) else { return nil }
            return Colocation(id: "#resource-with-container", dependent: i, primary: l, score: Score.infinity,
                              dependentRole: nil, primaryRole: nil, nodeAttribute: "#uname", influence: true)
        }
    }

    /// The launcher starts before what it launches (a launcher that starts again restarts
    /// it); what it launches stops before it.
    static func orderings(_ ws: WorkingSet) -> [Ordering] {
        ws.resources.indices.compactMap { i in
            guard let l = launchedByOrdinary(i, in: ws) else { return nil }
            return Ordering(id: "#resource-with-container", first: l, then: i, firstAction: "start", thenAction: "start", mandatory: true)
        }
    }
}
