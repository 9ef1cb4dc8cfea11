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
