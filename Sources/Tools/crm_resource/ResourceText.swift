import CIB
import Foundation
import PolicyEngine

/// `crm_resource --constraints/--stack`: the resource's location constraints, the resources
/// colocated with it and those it is colocated with, in Pacemaker 2.1.5's text layout.
enum ConstraintText {
    static func readable(_ score: String?) -> String {
        let v = CIBValue.score(score ?? "0") ?? 0
        if v >= CIBValue.infinity { return "INFINITY" }
        if v <= -CIBValue.infinity { return "-INFINITY" }
        return String(v)
    }

    /// (node, score, id) for each location constraint of the resource: the `node=` form with
    /// the constraint's id, and for rules each node the rule passes on (in the configuration's
    /// node order) with the rule's id.
    static func locations(_ ws: WorkingSet, _ rsc: String) -> [(node: String, score: String, id: String)] {
        var out: [(String, String, String)] = []
        let dc = ws.cib.root["dc-uuid"]
        let nodes = ws.nodes
        // Pacemaker prepends each constraint (and each rule) to the resource's list.
        for c in ws.cib.constraintElements.reversed() where c.name == "rsc_location" && c["rsc"] == rsc {
            if let node = c["node"] {
                if ws.node(named: node) != nil { out.append((node, readable(c["score"]), c.id ?? "")) }
                continue
            }
            for rule in c.elements(named: "rule").reversed() {
                var passing: [(String, String, String)] = []
                for n in nodes {
                    var attrs = n.configuredAttributes
                    for (k, v) in n.attributes { attrs[k] = v }
                    attrs["#uname"] = n.name
                    attrs["#id"] = n.id
                    attrs["#kind"] = n.kind == .member ? "cluster" : (n.kind == .remote ? "remote" : "container")
                    attrs["#is_dc"] = n.id == dc ? "true" : "false"
                    guard RuleEvaluator.passes(rule, RuleContext(now: ws.now, nodeAttributes: attrs)) else { continue }
                    let score = rule["score"].map(readable) ?? rule["score-attribute"].flatMap { attrs[$0] }.map(readable) ?? "0"
                    passing.append((n.name, score, rule.id ?? c.id ?? ""))
                }
                out += passing
            }
        }
        return out
    }

    struct Colocation { var id: String; var dependent: String; var primary: String; var score: String; var primaryRole: String? }

    static func colocations(_ cib: CIB) -> [Colocation] {
        cib.constraintElements.filter { $0.name == "rsc_colocation" }.compactMap { c in
            guard let d = c["rsc"], let p = c["with-rsc"] else { return nil }
            return Colocation(id: c.id ?? "", dependent: d, primary: p, score: readable(c["score"]), primaryRole: c["with-rsc-role"])
        }
    }

    static func header(_ rsc: String, _ c: Colocation, dependents: Bool) -> String {
        if let role = c.primaryRole, ["Promoted", "Master", "Unpromoted", "Slave"].contains(role) {
            let name = role == "Master" ? "Promoted" : (role == "Slave" ? "Unpromoted" : role)
            return "\(rsc) (score=\(c.score), \(dependents ? "needs" : "with") role=\(name), id=\(c.id))"
        }
        return "\(rsc) (score=\(c.score), id=\(c.id))"
    }

    static func locationList(_ ws: WorkingSet, _ rsc: String, into p: inout ListPrinter) {
        let locs = locations(ws, rsc)
        guard !locs.isEmpty else { return }
        p.header("Locations")
        for l in locs { p.item("Node \(l.node) (score=\(l.score), id=\(l.id), rsc=\(rsc))") }
        p.end()
    }

    /// "Resources colocated with RSC" (dependents == true) or "Resources RSC is colocated with".
    static func colocationList(_ ws: WorkingSet, _ rsc: String, dependents: Bool, recursive: Bool, visited: inout Set<String>, into p: inout ListPrinter) {
        if visited.contains(rsc) { return }
        visited.insert(rsc)
        // Pacemaker keeps each list sorted by the other resource's priority, variant (clones
        // first, promotable ones before others) and id; equal ones newest first.
        func key(_ id: String) -> (Int, Int, Int, String) {
            guard let i = ws.resources.firstIndex(where: { $0.id == id }) else { return (0, 0, 0, id) }
            let r = ws.resources[i]
            let variant: Int
            var promotable = 0
            switch r.variant {
            case .primitive: variant = 0
            case .group: variant = 1
            case .clone(let p, _): variant = 2; promotable = p ? 1 : 0
            default: variant = 3
            }
            return (CIBValue.score(r.meta["priority"] ?? "0") ?? 0, variant, promotable, id)
        }
        func before(_ a: String, _ b: String) -> Bool {
            let (ka, kb) = (key(a), key(b))
            if ka.0 != kb.0 { return ka.0 > kb.0 }
            if ka.1 != kb.1 { return ka.1 > kb.1 }
            if ka.2 != kb.2 { return ka.2 > kb.2 }
            return Array(ka.3.utf8).lexicographicallyPrecedes(Array(kb.3.utf8))
        }
        var list: [Colocation] = []
        for c in colocations(ws.cib).reversed() where dependents ? c.primary == rsc : c.dependent == rsc {
            let other = dependents ? c.dependent : c.primary
            let at = list.firstIndex { !before(dependents ? $0.dependent : $0.primary, other) } ?? list.count
            list.insert(c, at: at)
        }
        guard !list.isEmpty else { return }
        p.header(dependents ? "Resources colocated with \(rsc)" : "Resources \(rsc) is colocated with")
        for c in list {
            let other = dependents ? c.dependent : c.primary
            if visited.contains(other) {
                p.item("\(other) (id=\(c.id) - loop)")
                continue
            }
            p.item(header(other, c, dependents: dependents))
            p.begin()
            locationList(ws, other, into: &p)
            if recursive { colocationList(ws, other, dependents: dependents, recursive: true, visited: &visited, into: &p) }
            p.end()
        }
        p.end()
    }

    static func print(_ ws: WorkingSet, _ cib: CIB, resource: String, recursive: Bool, into p: inout ListPrinter) {
        locationList(ws, resource, into: &p)
        var visited = Set<String>()
        colocationList(ws, resource, dependents: true, recursive: recursive, visited: &visited, into: &p)
        visited = []
        colocationList(ws, resource, dependents: false, recursive: recursive, visited: &visited, into: &p)
    }
}

/// The plain-words paragraph `crm_resource --why` adds after Pacemaker's lines (when its
/// output goes to a terminal, or with -V): where the resource is, where the scheduler will put
/// it, and the reasons from the configuration and the state that decide it.
enum WhyExplanation {
    static func paragraph(_ ws: WorkingSet, _ i: Int, node: String?, now: Int) -> String {
        let (_, transition) = Simulator.schedule(SchedulerInput(cib: ws.cib, now: now))
        let r = ws.resources[i]
        let prims = Set(ws.primitives(under: i).map { ws.resources[$0].id })
        let placements = transition.placements.filter { prims.contains($0.resource) }
        var sentences: [String] = []
        let running = ws.primitives(under: i).flatMap { ws.resources[$0].activeOn }
        let uniqueRunning = Array(NSOrderedSet(array: running)) as? [String] ?? running
        sentences.append(uniqueRunning.isEmpty ? "\(r.id) is not running anywhere now" : "\(r.id) is running on \(uniqueRunning.joined(separator: ", ")) now")
        let changes = transition.changes.filter { prims.contains($0.subject) || $0.subject == r.id }
        if changes.isEmpty {
            sentences[0] += ", and the scheduler keeps it so."
        } else {
            sentences[0] += "; the scheduler will " + changes.map { c in
                "\(c.kind.rawValue.lowercased()) \(c.subject) (\(c.details))"
            }.joined(separator: ", ") + "."
        }
        var reasons: [String] = []
        if r.targetRole == .stopped { reasons.append("its target-role is Stopped") }
        if !r.managed { reasons.append("it is not managed (is-managed=false), so the cluster neither starts nor stops it") }
        if r.maintenance || CIBValue.isTrue(ws.options.raw["maintenance-mode"] ?? "false") { reasons.append("it is in maintenance, so the cluster leaves it alone") }
        if !ws.haveQuorum && (ws.options.raw["no-quorum-policy"] ?? "stop") != "ignore" { reasons.append("the partition has no quorum") }
        for n in ws.nodes where !n.isBundleNode {
            if !n.online { reasons.append("\(n.name) is offline") } else if n.standby { reasons.append("\(n.name) is in standby") }
        }
        for c in ws.cib.constraintElements where c.name == "rsc_location" && (c["rsc"] == r.configuredID || c["rsc"] == r.id) {
            let id = c.id ?? ""
            if id.hasPrefix("cli-ban-") { reasons.append("the constraint \(id) (made by crm_resource --ban or --move) keeps it off a node; crm_resource --clear -r \(r.configuredID) removes it") }
            if id.hasPrefix("cli-prefer-") { reasons.append("the constraint \(id) (made by crm_resource --move) pins it to a node; crm_resource --clear -r \(r.configuredID) removes it") }
        }
        for f in ws.failedOperations where prims.contains(f.resource) || f.resource == r.configuredID {
            reasons.append("its \(f.task) failed on \(f.node) (crm_resource --cleanup -r \(r.configuredID) forgets it)")
        }
        if let bans = ws.historyBans[i], !bans.isEmpty { reasons.append("its history bans it from \(bans.sorted().joined(separator: ", "))") }
        for p in placements {
            let best = p.scores.prefix(3).map { "\($0.node) \(ConstraintText.readable(String($0.score)))" }.joined(separator: ", ")
            if let next = p.next {
                sentences.append("\(p.resource) is placed on \(next)" + (best.isEmpty ? "." : " (scores: \(best))."))
            } else {
                sentences.append("\(p.resource) can run on no node" + (best.isEmpty ? "." : " (scores: \(best))."))
            }
        }
        if let node, !uniqueRunning.contains(node), let n = ws.node(named: node) {
            if !n.online { reasons.append("\(node) is offline") }
        }
        if !reasons.isEmpty { sentences.append("This is because " + reasons.joined(separator: "; ") + ".") }
        return sentences.joined(separator: " ")
    }
}
