import CIB

/// An ordering between two resources: `then` may only start after `first` has started (and,
/// when symmetrical, stops before it).
struct Ordering: Sendable {
    var id: String
    var first: Int
    var then: Int
    var firstAction: String
    var thenAction: String
    /// Mandatory orderings constrain; optional ones only order actions that happen anyway.
    var mandatory: Bool
    /// For a set that does not require all its members: `then` needs any one of these.
    var anyOf: [Int] = []
    /// The id of that set (it names the requirement in reasons).
    var anyOfSet: String?
    /// `require-all="false"` between clones: any one instance anywhere is enough.
    var requireAll = true
    /// Whether the reverse holds for stops too (the default for mandatory orderings): then a
    /// `then` that is running must also stop when `first` cannot run.
    var symmetrical = true
    /// Whether the inverse actions are ordered the other way round in the graph (the default
    /// for every kind but Serialize).
    var inverse = true
    /// Whether it is of kind Optional (not Mandatory, not Serialize).
    var optionalOnly = false
}

/// How orderings change what the transition does: a start that cannot happen makes what
/// depends on it unrunnable; a start that must happen restarts what depends on it.
struct OrderingEffects {
    /// Primitives whose start cannot happen, with the reason.
    var unrunnable: [Int: String] = [:]
    /// Active primitives that must restart in place, with the reason.
    var restart: [Int: String] = [:]

    static func orderings(_ ws: WorkingSet) -> [Ordering] {
        var out: [Ordering] = []
        for c in ws.cib.configuration.constraints where c.kind == .order {
            let e = c.element
            let kind = e["kind"] ?? (e["score"].flatMap(CIBValue.score).map { $0 > 0 ? "Mandatory" : "Optional" } ?? "Mandatory")
            // An unknown kind counts as Mandatory, as in Pacemaker.
            let mandatory = !["optional", "serialize"].contains(kind.lowercased())
            let symmetrical = e["symmetrical"].map(CIBValue.isTrue) ?? mandatory
            let inverse = e["symmetrical"].map(CIBValue.isTrue) ?? (kind.lowercased() != "serialize")
            if let f = e["first"], let t = e["then"] {
                for fi in ConstraintSet.resolve(f, ws) {
                    for ti in ConstraintSet.resolve(t, ws) {
                        out.append(Ordering(id: c.id, first: fi, then: ti, firstAction: e["first-action"] ?? "start",
                                            thenAction: e["then-action"] ?? e["first-action"] ?? "start", mandatory: mandatory,
                                            requireAll: e["require-all"].map(CIBValue.isTrue) ?? true,
                                            symmetrical: symmetrical, inverse: inverse,
                                            optionalOnly: kind.lowercased() == "optional"))
                    }
                }
                continue
            }
            // Sequential sets: each member after the previous one; each set after the one before.
            var previous: [Int] = []
            var previousAny: [Int] = []
            var previousAnySet: String?
            for set in c.resourceSets {
                let members = set.resources.flatMap { ConstraintSet.resolve($0, ws) }
                let action = set.action ?? "start"
                if set.sequential {
                    for k in members.indices.dropFirst() {
                        out.append(Ordering(id: c.id, first: members[k - 1], then: members[k], firstAction: action,
                                            thenAction: action, mandatory: mandatory, symmetrical: symmetrical, inverse: inverse))
                    }
                }
                for m in (set.sequential ? Array(members.prefix(1)) : members) {
                    if !previousAny.isEmpty {
                        out.append(Ordering(id: c.id, first: previousAny[0], then: m, firstAction: action, thenAction: action,
                                            mandatory: mandatory, anyOf: previousAny, anyOfSet: previousAnySet, symmetrical: symmetrical, inverse: inverse))
                    } else {
                        for p in previous {
                            out.append(Ordering(id: c.id, first: p, then: m, firstAction: action, thenAction: action,
                                                mandatory: mandatory, symmetrical: symmetrical, inverse: inverse))
                        }
                    }
                }
                previousAny = []
                if !members.isEmpty {
                    if set.requireAll {
                        previous = set.sequential ? [members.last!] : members
                    } else {
                        previous = []
                        previousAny = members
                        previousAnySet = set.id
                    }
                }
            }
        }
        // A guest node's connection starts after its container, and what runs on the guest
        // after the connection.
        for n in ws.nodes where n.kind == .guest && !n.isBundleNode {
            guard let c = n.container, let ci = ws.index(of: c), let conn = ws.index(of: n.name) else { continue }
            out.append(Ordering(id: "#guest-container", first: ci, then: conn, firstAction: "start", thenAction: "start", mandatory: true))
            // (Not for a guest shutting down, whose resources move elsewhere, nor one whose
            // container live-migrates, carrying them along.)
            if n.shutdown || ws.resources[ci].meta["allow-migrate"].map(CIBValue.isTrue) == true { continue }
            for (i, r) in ws.resources.enumerated() where r.isPrimitive && r.activeOn.contains(n.name) {
                out.append(Ordering(id: "#guest-resource", first: ci, then: i, firstAction: "start", thenAction: "start", mandatory: true))
            }
        }
        // Ordered groups: each member starts after the one before.
        for r in ws.resources where r.variant == .group {
            guard r.meta["ordered"].map(CIBValue.isTrue) ?? true else { continue }
            for k in r.children.indices.dropFirst() {
                out.append(Ordering(id: "#group-order", first: r.children[k - 1], then: r.children[k],
                                    firstAction: "start", thenAction: "start", mandatory: true))
            }
        }
        out += Launchers.orderings(ws)
        out += Bundles.orderings(ws)
        return out
    }

    /// Propagates unrunnable starts and required restarts along mandatory start orderings,
    /// until nothing changes.
    /// `migrating`: primitives that move by live migration; a migrating start does not make
    /// the starts ordered after it required (a running dependent is not restarted).
    static func compute(_ ws: WorkingSet, next: [Int: String?], starting: Set<Int>, migrating: Set<Int> = []) -> OrderingEffects {
        var effects = OrderingEffects()
        let orders = orderings(ws).filter { $0.mandatory && $0.firstAction == "start" && $0.thenAction == "start" }
        func leaves(_ i: Int) -> [Int] { ws.primitives(under: i) }
        func name(_ i: Int, _ action: String) -> String {
            if case .clone = ws.resources[i].variant { return "\(ws.resources[i].id) running" }
            if ws.resources[i].variant == .group { return "\(ws.resources[i].id) running" }
            return "\(ws.resources[i].id) \(action)"
        }
        var changed = true
        var rounds = 0
        while changed && rounds < 50 {
            changed = false
            rounds += 1
            for o in orders {
                var thens = leaves(o.then)
                if ws.resources[o.then].variant == .group, let f = ws.resources[o.then].children.first { thens = [f] }
                // Interleaved clones: each instance depends on the first clone's instance on
                // its own node only.
                let interleaved: Bool = {
                    guard case .clone = ws.resources[o.first].variant, case .clone = ws.resources[o.then].variant else { return false }
                    return ws.resources[o.then].meta["interleave"].map(CIBValue.isTrue) ?? false
                }()
                for t in thens {
                    var firsts = (o.anyOf.isEmpty ? [o.first] : o.anyOf).flatMap(leaves)
                    // (clone-min counts the first clone's instances everywhere, interleaved or not.)
                    let minimumSet = (Int(ws.resources[o.first].meta["clone-min"] ?? "") ?? 0) > 0
                    if interleaved && o.requireAll && !minimumSet {
                        let node = (next[t] ?? nil) ?? ws.resources[t].activeOn.first
                        firsts = firsts.filter { (next[$0] ?? nil) == node || ws.resources[$0].activeOn.first == node }
                    }
                    let willRun: (Int) -> Bool = { p in (next[p] ?? nil) != nil && effects.unrunnable[p] == nil }
                    let firstRunnable: Bool
                    // clone-min: dependents need at least that many instances running.
                    let cloneMin: Int? = {
                        guard case .clone = ws.resources[o.first].variant else { return nil }
                        return ws.resources[o.first].meta["clone-min"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
                    }()
                    let counting = cloneMin != nil && o.anyOf.isEmpty
                    if let minimum = cloneMin, counting {
                        firstRunnable = firsts.filter(willRun).count >= minimum
                    } else if !o.anyOf.isEmpty || interleaved || !o.requireAll {
                        firstRunnable = firsts.contains(where: willRun)
                    } else if ws.resources[o.first].variant == .bundle {
                        // A bundle runs when its resource (or, without one, its containers) runs somewhere.
                        let core = (ws.bundleReplicas[o.first] ?? []).map { $0.child ?? $0.container }
                        firstRunnable = core.contains(where: willRun)
                    } else if case .clone = ws.resources[o.first].variant {
                        // A clone of groups runs when one of its groups runs whole (a group's
                        // running waits for every member's start).
                        let groups = ws.resources[o.first].children.filter { ws.resources[$0].variant == .group && !ws.resources[$0].orphan }
                        if !groups.isEmpty {
                            firstRunnable = groups.contains { g in
                                let members = leaves(g)
                                return !members.isEmpty && members.allSatisfy(willRun)
                            }
                        } else {
                            firstRunnable = firsts.contains(where: willRun)
                        }
                    } else {
                        firstRunnable = !firsts.isEmpty && firsts.allSatisfy(willRun)
                    }
                    // A primitive or group that (re)starts restarts what depends on it. A clone
                    // does when one of its running instances starts again (a new instance
                    // elsewhere does not).
                    let firstStarts: Bool
                    if counting || !o.requireAll || !o.anyOf.isEmpty {
                        // When any one (or clone-min) of several will do, losing one matters
                        // only below the requirement.
                        firstStarts = false
                    } else if interleaved {
                        // Interleaved: the instance on the same node starting restarts this one.
                        firstStarts = firsts.contains { starting.contains($0) || effects.restart[$0] != nil }
                    } else if case .clone = ws.resources[o.first].variant {
                        // Its start (and running) is required when an instance that runs now
                        // is assigned a node and starts there: it moves, restarts, or cannot
                        // start where it stays. One that only stops (assigned nowhere) needs
                        // no start.
                        firstStarts = firsts.contains { p in
                            guard let cur = ws.resources[p].activeOn.first, (next[p] ?? nil) != nil else { return false }
                            return (next[p] ?? nil) != cur || effects.restart[p] != nil || effects.unrunnable[p] != nil
                        }
                    } else {
                        firstStarts = firsts.contains { (starting.contains($0) && !migrating.contains($0)) || effects.restart[$0] != nil }
                    }
                    if !firstRunnable {
                        // A running `then` that stays put needs no start, unless the ordering
                        // is symmetrical.
                        let needsStart = starting.contains(t) || ws.resources[t].activeOn.isEmpty
                        if effects.unrunnable[t] == nil, (next[t] ?? nil) != nil, o.symmetrical || needsStart {
                            // A first that runs now and is being stopped takes its dependents down
                            // with it; one that never ran leaves their starts unrunnable.
                            // A clone that cannot run at all (its own placement stops it) leaves
                            // its running action unrunnable from the start; one stopping because
                            // its own starts were blocked by an ordering requires the stop.
                            var stopping = firsts.allSatisfy { !ws.resources[$0].activeOn.isEmpty }
                            if case .clone = ws.resources[o.first].variant, !firsts.contains(where: { effects.unrunnable[$0] != nil }) {
                                stopping = false
                            }
                            // (Between interleaved clones the instances are ordered one by
                            // one, which gives no reason: an empty one.)
                            // When the peer instance there is assigned but cannot start, it is
                            // named.
                            let blockedPeer = firsts.first { (next[$0] ?? nil) != nil && (effects.unrunnable[$0].map { !$0.isEmpty } ?? false) }
                            effects.unrunnable[t] = interleaved && o.requireAll && !counting && o.anyOf.isEmpty
                                ? blockedPeer.map { f in
                                    (!ws.resources[f].activeOn.isEmpty && o.symmetrical && !ws.resources[t].activeOn.isEmpty ? "required " : "unrunnable ")
                                        + "\(ws.resources[f].id) \(o.firstAction)"
                                } ?? ""
                                : !o.anyOf.isEmpty ? "unrunnable one-or-more:\(o.anyOfSet ?? o.id)"
                                : !o.requireAll || counting ? "unrunnable clone-one-or-more:\(o.id)"
                                : (stopping && o.symmetrical && !ws.resources[t].activeOn.isEmpty && o.id != Bundles.replicaOrder
                                    ? "required \(name(o.first, o.firstAction))" : "unrunnable \(name(o.first, o.firstAction))")
                            changed = true
                            // A plain group's members all wait for the group's start: they
                            // are blocked for the same reason.
                            if ws.resources[o.then].variant == .group, ws.resources[o.then].parent == nil,
                               let reason = effects.unrunnable[t], !reason.isEmpty {
                                for m in ws.resources[o.then].children where m != t && effects.unrunnable[m] == nil && (next[m] ?? nil) != nil {
                                    effects.unrunnable[m] = reason
                                }
                            }
                        }
                    } else if firstStarts, effects.restart[t] == nil, effects.unrunnable[t] == nil,
                              let cur = ws.resources[t].activeOn.first, ws.resources[t].activeOn.count == 1,
                              (next[t] ?? nil) == cur, !starting.contains(t) {
                        if interleaved, let f = firsts.first(where: { starting.contains($0) || effects.restart[$0] != nil }) {
                            effects.restart[t] = "required \(ws.resources[f].id) \(o.firstAction)"
                        } else {
                            effects.restart[t] = "required \(name(o.first, o.firstAction))"
                        }
                        changed = true
                    }
                }
            }
        }
        // A mandatory "stop then stop" ordering: when the first stops where it runs now (it
        // moves or stops), a `then` that stays running must stop before it, and so restarts.
        for o in orderings(ws) where o.mandatory && o.firstAction == "stop" && o.thenAction == "stop" {
            let firstStops = leaves(o.first).contains { f in
                guard let cur = ws.resources[f].activeOn.first else { return false }
                return (next[f] ?? nil) != cur || effects.restart[f] != nil
            }
            guard firstStops else { continue }
            for t in leaves(o.then) where effects.restart[t] == nil && effects.unrunnable[t] == nil && !starting.contains(t) {
                guard ws.resources[t].activeOn.count == 1, let cur = ws.resources[t].activeOn.first, (next[t] ?? nil) == cur else { continue }
                effects.restart[t] = ""
            }
        }
        return effects
    }
}
