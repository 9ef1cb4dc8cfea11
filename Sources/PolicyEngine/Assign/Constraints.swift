import CIB

/// A colocation between two resources of the working set: `dependent` wants (or refuses) to
/// be where `primary` is.
struct Colocation: Sendable {
    var id: String
    var dependent: Int
    var primary: Int
    var score: Int
    var dependentRole: Role?
    var primaryRole: Role?
    var nodeAttribute: String
    var influence: Bool
}

/// One node a location constraint gives a resource a score on.
struct LocationMatch {
    var constraint: String
    /// The rule that passed on the node (nil for a constraint naming the node).
    var rule: String?
    var resource: Int
    var node: String
    var score: Int
    var role: Role?
}

/// Reading the constraints section into the working set's terms.
enum ConstraintSet {
    /// Explicit colocations (simple form and sequential resource sets), then the internal
    /// ones that keep each group member with the previous one.
    static func colocations(_ ws: WorkingSet) -> [Colocation] {
        var out: [Colocation] = []
        let config = ws.cib.configuration
        for c in config.constraints where c.kind == .colocation {
            let e = c.element
            guard let scoreText = e["score"], let score = CIBValue.score(scoreText) else { continue }
            let attribute = e["node-attribute"] ?? "#uname"
            func make(_ dep: Int, _ pri: Int, _ dRole: String?, _ pRole: String?) -> Colocation {
                let influence = e["influence"].map(CIBValue.isTrue)
                    ?? (ws.resources[dep].meta["critical"].map(CIBValue.isTrue) ?? true)
                return Colocation(id: c.id, dependent: dep, primary: pri, score: score,
                                  dependentRole: dRole.flatMap { Role(name: $0) }.flatMap { $0 == .started ? nil : $0 },
                                  primaryRole: pRole.flatMap { Role(name: $0) }.flatMap { $0 == .started ? nil : $0 },
                                  nodeAttribute: attribute, influence: influence)
            }
            if let rsc = e["rsc"], let with = e["with-rsc"] {
                for d in resolve(rsc, ws) {
                    for p in resolve(with, ws) { out.append(make(d, p, e["rsc-role"], e["with-rsc-role"])) }
                }
                continue
            }
            // Resource sets: within a sequential set each member is with the previous one;
            // between sets, every member of a later set is with the last of the one before.
            var previousSetLast: Int?
            for set in c.resourceSets {
                let members = set.resources.flatMap { resolve($0, ws) }
                let role = set.role
                if set.sequential {
                    for k in members.indices.dropFirst() {
                        out.append(make(members[k], members[k - 1], role, role))
                    }
                }
                if let prev = previousSetLast {
                    for m in members { out.append(make(m, prev, role, role)) }
                }
                previousSetLast = members.last ?? previousSetLast
            }
        }
        // Group members: each is with the one before it.
        for (i, r) in ws.resources.enumerated() where r.variant == .group {
            let collocated = r.meta["collocated"].map(CIBValue.isTrue) ?? true
            guard collocated else { continue }
            for k in r.children.indices.dropFirst() {
                let member = r.children[k]
                let influence = ws.resources[member].meta["critical"].map(CIBValue.isTrue) ?? true
                out.append(Colocation(id: "#group-members", dependent: member, primary: r.children[k - 1],
                                      score: Score.infinity, dependentRole: nil, primaryRole: nil,
                                      nodeAttribute: "#uname", influence: influence))
            }
            _ = i
        }
        out += Launchers.colocations(ws)
        return out
    }

    /// The resources an id in a constraint stands for: the resource itself, or every primitive
    /// made from a template, or every resource a tag names.
    static func resolve(_ id: String, _ ws: WorkingSet) -> [Int] {
        if let i = topIndex(id, ws) { return [i] }
        let config = ws.cib.configuration
        if config.templates.contains(where: { $0.id == id }) {
            return ws.resources.indices.filter { ws.resources[$0].isPrimitive && ws.resources[$0].element["template"] == id && ws.resources[$0].id == ws.resources[$0].configuredID }
        }
        if let tag = config.tags.first(where: { $0.id == id }) {
            return tag.references.flatMap { resolve($0, ws) }
        }
        return []
    }

    /// The index of a configured (non-instance) resource by id.
    static func topIndex(_ id: String, _ ws: WorkingSet) -> Int? {
        ws.resources.firstIndex { $0.id == id && !$0.orphan && ($0.parent == nil || ws.resources[$0.parent!].variant == .group) }
            ?? ws.resources.firstIndex { $0.id == id && !$0.orphan }
    }

    /// Location constraints as (resource, node, score) entries, rules evaluated per node.
    /// Promoted-role constraints are kept apart for promotion.
    /// `matched`, when given, is told each entry with the constraint (and rule) it came from
    /// (the explanation's source: see Explanation.swift).
    static func locations(_ ws: WorkingSet, matched: ((LocationMatch) -> Void)? = nil)
        -> (placement: [(Int, String, Int)], promoted: [(Int, String, Int)],
            discovery: [(resource: Int, mode: String, nodes: [String])]) {
        var placement: [(Int, String, Int)] = []
        var promoted: [(Int, String, Int)] = []
        var discovery: [(resource: Int, mode: String, nodes: [String])] = []
        let config = ws.cib.configuration
        let rules = Dictionary(config.element.descendants().filter { $0.name == "rule" && $0.id != nil }.map { ($0.id!, $0) },
                               uniquingKeysWith: { a, _ in a })
        for c in config.constraints where c.kind == .location {
            let e = c.element
            var targets: [(Int, Role?)] = []
            if let rsc = e["rsc"] {
                for i in resolve(rsc, ws) { targets.append((i, e["role"].flatMap { Role(name: $0) })) }
            } else if let pattern = e["rsc-pattern"] {
                let negate = pattern.hasPrefix("!")
                let body = negate ? String(pattern.dropFirst()) : pattern
                if let regex = try? Regex(body) {
                    for i in ws.topLevel where (ws.resources[i].id.firstMatch(of: regex) != nil) != negate {
                        targets.append((i, e["role"].flatMap { Role(name: $0) }))
                    }
                }
            } else {
                for set in c.resourceSets {
                    for id in set.resources {
                        for i in resolve(id, ws) { targets.append((i, (set.role ?? e["role"]).flatMap { Role(name: $0) })) }
                    }
                }
            }
            guard !targets.isEmpty else { continue }
            // Where the constraint places a resource: its node, or the nodes where its rule
            // passes (a rule comparing with the resource's own parameters or meta attributes,
            // value-source, is evaluated for each resource).
            func entriesFor(_ target: Int?) -> [(String, Int)] {
                var entries: [(String, Int)] = []
                if let node = e["node"], let s = e["score"].flatMap(CIBValue.score) {
                    if ws.nodes.contains(where: { $0.name == node }) { entries.append((node, s)) }
                } else if let rule = e.firstElement(named: "rule") {
                    let resolved = rule["id-ref"].flatMap { rules[$0] } ?? rule
                    for n in ws.nodes {
                        var ctx = RuleContext(now: ws.now, nodeAttributes: n.attributes)
                        ctx.nodeAttributes.merge(builtInAttributes(n, ws)) { _, builtIn in builtIn }
                        if let target {
                            ctx.resourceParameters = ws.resources[target].parameters
                            ctx.resourceMeta = ws.resources[target].meta
                        }
                        guard RuleEvaluator.passes(resolved, ctx, rules: rules) else { continue }
                        if let s = resolved["score"].flatMap(CIBValue.score) {
                            entries.append((n.name, s))
                        } else if let attr = resolved["score-attribute"] {
                            if let v = n.attributes[attr], let s = CIBValue.score(v) { entries.append((n.name, s)) }
                        } else {
                            entries.append((n.name, 0))
                        }
                    }
                }
                return entries
            }
            if e["role"] == nil, let rule = e.firstElement(named: "rule"),
               let role = (rule["id-ref"].flatMap { rules[$0] } ?? rule)["role"].flatMap({ Role(name: $0) }) {
                // A rule may carry the role instead of the constraint.
                targets = targets.map { ($0.0, role) }
            }
            let perResource = e.firstElement(named: "rule").map { r in
                (r["id-ref"].flatMap { rules[$0] } ?? r).descendants().contains { $0["value-source"] != nil }
            } ?? false
            let shared = perResource ? [] : entriesFor(nil)
            for (r, role) in targets {
                let entries = perResource ? entriesFor(r) : shared
                for (node, s) in entries {
                    if let matched {
                        let rule = e.firstElement(named: "rule").map { ($0["id-ref"].flatMap { rules[$0] } ?? $0).id ?? "" }
                        matched(LocationMatch(constraint: c.id, rule: rule, resource: r, node: node, score: s, role: role))
                    }
                    if role == .promoted { promoted.append((r, node, s)) } else { placement.append((r, node, s)) }
                }
                // resource-discovery: where the resource is probed (and, when exclusive, the
                // only nodes it may run on).
                if let mode = e["resource-discovery"], mode == "exclusive" || mode == "never" {
                    discovery.append((r, mode, entries.map(\.0)))
                }
            }
        }
        return (placement, promoted, discovery)
    }

    /// The node attributes every node has without configuring them: its name and id, its
    /// kind (cluster, remote or container), whether it is the DC, and the cluster's name.
    static func builtInAttributes(_ n: SchedulerNode, _ ws: WorkingSet) -> [String: String] {
        var attrs = ["#uname": n.name, "#id": n.id]
        switch n.kind {
        case .member: attrs["#kind"] = "cluster"
        case .remote: attrs["#kind"] = "remote"
        case .guest: attrs["#kind"] = "container"
        }
        attrs["#is_dc"] = ws.cib.root["dc-uuid"] == n.id && n.kind == .member ? "true" : "false"
        if let name = ws.options.raw["cluster-name"] {
            attrs["#cluster-name"] = name
            if n.attributes["site-name"] == nil { attrs["#site-name"] = name }
        }
        if let site = n.attributes["site-name"] { attrs["#site-name"] = site }
        return attrs
    }
}
