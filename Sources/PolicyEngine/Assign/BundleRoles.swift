import CIB

/// Promotion inside a promotable bundle (`promoted-max` on its container element).
///
/// Each replica whose resource will run is a candidate. Its priority is the promotion score
/// its resource has on its guest node (the `master-RSC` attribute there), plus Promoted-role
/// locations for that guest node, plus the bundle's role colocations (compared by the node
/// its container runs on): a Promoted role drawn to (or, when mandatory, kept to) the hosts of the
/// primary, an Unpromoted role pushed away from them. The best `promoted-max` candidates with
/// a priority of 0 or more are promoted; ties go to the one promoted now, then by number.
extension Assignment {
    /// The host of each replica's guest node (where its container goes).
    func bundleHost(_ rep: BundleReplica) -> String? { assigned[rep.container] ?? nil }

    /// Where a resource will run, in a role when one is given; for a bundle, the hosts of
    /// its replicas (their containers' nodes).
    func hostNodes(of i: Int, role: Role?) -> [String] {
        guard ws.resources[i].variant == .bundle else { return nodes(of: i, role: role) }
        var out: [String] = []
        for rep in ws.bundleReplicas[i] ?? [] {
            guard let host = bundleHost(rep) else { continue }
            if let role, role > .started, let child = rep.child {
                guard (assigned[child] ?? nil) != nil else { continue }
                let r = nextRole[child] ?? .started
                if role == .promoted ? r != .promoted : r == .promoted { continue }
            }
            if !out.contains(host) { out.append(host) }
        }
        return out
    }

    mutating func assignBundleRoles(_ b: Int) {
        let r = ws.resources[b]
        guard r.bundlePromotable else { return }
        // The roles of what this bundle's promotion follows are decided first.
        for col in colocations(dependent: b) where col.dependentRole == .promoted || col.dependentRole == .unpromoted {
            let top = topAncestor(effectivePrimary(col))
            if top != b && assigned[top] == nil && !assigning.contains(top) { assign(top) }
        }
        let container = r.element.elements.first { ["docker", "podman", "rkt"].contains($0.name) }
        let promotedMax = Int(container?["promoted-max"] ?? container?["masters"] ?? r.meta["promoted-max"] ?? "") ?? 1
        var candidates: [(rep: BundleReplica, child: Int, priority: Int)] = []
        for rep in ws.bundleReplicas[b] ?? [] {
            guard let child = rep.child, let guest = rep.node else { continue }
            guard (assigned[child] ?? nil) != nil else {
                showPromotionScore(child, node: nil, score: -Score.infinity)
                continue
            }
            let host = bundleHost(rep)
            nextRole[child] = .unpromoted
            let res = ws.resources[child]
            var priority = -1
            let keys = (res.historyIDs[guest].map { ["master-\($0)"] } ?? []) + ["master-\(res.id)", "master-\(res.configuredID)"]
            // container-attribute-target=host: the score is the one its container's host has.
            let fromHost = res.meta["container-attribute-target"] == "host"
            let attrs = (fromHost ? host.flatMap { ws.node(named: $0)?.attributes } : ws.node(named: guest)?.attributes) ?? [:]
            if let v = keys.compactMap({ attrs[$0] }).first, let s = CIBValue.score(v) {
                priority = s
            }
            if res.targetRole == .unpromoted || !res.managed { priority = -Score.infinity }
            // Promoted-role locations count for the node the copy runs on: its guest node
            // (one naming the container's host does not apply).
            for (rsc, node, s) in promotedLocations where (rsc == b || rsc == child) && node == guest {
                priority = Score.add(priority, s)
            }
            for col in colocations(dependent: b) where col.dependentRole == .promoted || col.dependentRole == .unpromoted {
                guard let host else { break }
                let targets = hostNodes(of: effectivePrimary(col), role: col.primaryRole)
                let here = targets.contains { attribute(host, col.nodeAttribute) == attribute($0, col.nodeAttribute) }
                if here {
                    priority = Score.add(priority, col.dependentRole == .unpromoted ? -col.score : col.score)
                } else if col.score >= Score.infinity && col.dependentRole == .promoted {
                    priority = -Score.infinity
                }
            }
            candidates.append((rep, child, priority))
        }
        if noPromotion.contains(b) { candidates = candidates.map { ($0.rep, $0.child, -Score.infinity) } }
        for c in candidates { showPromotionScore(c.child, node: c.rep.node, score: c.priority) }
        let ranked = candidates.sorted { a, c in
            if a.priority != c.priority { return a.priority > c.priority }
            let pa = ws.resources[a.child].role == .promoted, pc = ws.resources[c.child].role == .promoted
            if pa != pc { return pa }
            return a.rep.number < c.rep.number
        }
        var promoted = 0
        for c in ranked where promoted < promotedMax && c.priority >= 0 {
            guard let host = bundleHost(c.rep), available(host) else { continue }
            nextRole[c.child] = .promoted
            promoted += 1
        }
    }
}
