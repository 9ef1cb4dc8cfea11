import CIB

/// `crm history graph <pe> dot <file>` (and crmsh's `configure graph`): the configuration as a
/// graphviz dot digraph, in crmsh 4.4's layout: the cluster nodes as top boxes, primitives as
/// rounded boxes labelled with their id and agent, groups as subgraphs (`cluster_<id>`) with a
/// chain of their members, location preferences as dashed edges from the node, orderings as
/// edges from the last primitive of the first to the first primitive of the then, invisible
/// edges keeping the nodes above the resources. Resource sets and templates are not drawn.
public enum CrmGraph {
    /// crmsh's graph attributes (constants.graph), in its order.
    static let attributes: [String: [(String, String)]] = [
        ".": [("compound", "true")],
        "*": [("fontname", "Helvetica"), ("fontsize", "11")],
        "node": [("style", "bold"), ("shape", "box"), ("color", "#7ac142")],
        "primitive": [("fillcolor", "#e4e5e6"), ("color", "#b9b9b9"), ("shape", "box"), ("style", "rounded,filled")],
        "class:stonith": [("shape", "box"), ("style", "dashed")],
        "location": [("style", "dashed"), ("dir", "none")],
        "clone": [("color", "#ec008c")],
        "ms": [("color", "#f8981d")],
        "group": [("color", "#00aeef"), ("group", "#00aeef"), ("labelloc", "b"), ("labeljust", "r"), ("labelfontsize", "12")],
    ]

    /// An ordered attribute list: a name set again keeps its place.
    struct Attrs {
        var items: [(String, String)] = []
        mutating func set(_ k: String, _ v: String) {
            if let i = items.firstIndex(where: { $0.0 == k }) { items[i].1 = v } else { items.append((k, v)) }
        }
        var text: String { items.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",") }
    }

    /// crm_gv's graph: a digraph or one of its subgraphs.
    final class Gv {
        let ident: String
        let isSubgraph: Bool
        var nodes: [(String, Int)] = []
        var edges: [[String]] = []
        var edgeAttrs: [Attrs] = []
        var subgraphs: [Gv] = []
        var attrs: [(String, Attrs)] = []
        var graphAttrs = Attrs()
        var topNodes: [String] = []
        var norank: [String] = []

        init(_ ident: String?, subgraph: Bool) {
            self.ident = ident.map(Gv.id) ?? ""
            isSubgraph = subgraph
        }

        static func id(_ n: String) -> String { n.replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: ".", with: "_") }

        static func quoted(_ n: String) -> String {
            guard let f = n.first, f.isASCII, f.isNumber || f == "_" else { return n }
            return "\"\(n)\""
        }

        func setGraph(_ type: String) {
            for (k, v) in CrmGraph.attributes["*"] ?? [] { graphAttrs.set(k, v) }
            for (k, v) in CrmGraph.attributes[type] ?? [] { graphAttrs.set(k, v) }
        }

        func attr(_ n: String, _ k: String, _ v: String) {
            let i = Gv.id(n)
            if let at = attrs.firstIndex(where: { $0.0 == i }) { attrs[at].1.set(k, v) } else {
                var a = Attrs()
                a.set(k, v)
                attrs.append((i, a))
            }
        }

        func setObject(_ n: String, _ type: String) {
            for (k, v) in CrmGraph.attributes["*"] ?? [] { attr(n, k, v) }
            for (k, v) in CrmGraph.attributes[type] ?? [] { attr(n, k, v) }
        }

        func node(_ n: String, top: Bool = false, norank: Bool = false) {
            let i = Gv.id(n)
            if top { topNodes.append(i) } else if !nodes.contains(where: { $0.0 == i }) { nodes.append((i, 0)) }
            if norank { self.norank.append(i) }
        }

        @discardableResult
        func edge(_ e: [String]) -> Int {
            let ne = e.map(Gv.id)
            for (i, n) in ne.enumerated() where i > 0 && !topNodes.contains(n) {
                if let at = nodes.firstIndex(where: { $0.0 == n }) { nodes[at].1 = i } else { nodes.append((n, i)) }
            }
            edges.append(ne)
            edgeAttrs.append(Attrs())
            return edges.count - 1
        }

        func setEdge(_ e: Int, _ type: String) {
            for (k, v) in CrmGraph.attributes[type] ?? [] { edgeAttrs[e].set(k, v) }
        }

        func lines() -> [String] {
            var l = [isSubgraph ? (ident.isEmpty ? "{" : "subgraph \(ident) {") : "digraph \(ident.isEmpty ? "G" : ident) {\n"]
            for (k, v) in graphAttrs.items { l.append("\t\(k)=\"\(v)\";") }
            for sg in subgraphs { l.append("\t" + sg.lines().joined(separator: "\n\t")) }
            for (i, e) in edges.enumerated() { l.append("\t\(e.map(Gv.quoted).joined(separator: " -> ")) [\(edgeAttrs[i].text)];") }
            for (n, a) in attrs { l.append("\t\(Gv.quoted(n)) [\(a.text)];") }
            for t in topNodes {
                for (n, rank) in nodes where rank == 0 {
                    l.append("\t\(Gv.quoted(t)) -> \(Gv.quoted(n)) [style=\"invis\"\(norank.contains(n) ? ",constraint=\"false\"" : "")];")
                }
            }
            l.append("}")
            return l
        }
    }

    /// The dot text of a configuration (what crmsh saves to the file, newline-terminated).
    public static func dot(_ cib: CIB) -> String {
        let g = Gv(nil, subgraph: false)
        g.setGraph(".")
        guard let config = cib.root.firstElement(named: "configuration") else { return g.lines().joined(separator: "\n") + "\n" }
        let resources = config.firstElement(named: "resources")
        // Every resource element with its parent, to find ids and the clone around one.
        var parents: [String: XElement] = [:]
        var byID: [String: XElement] = [:]
        func index(_ e: XElement, parent: XElement?) {
            for c in e.elements where ["primitive", "group", "clone", "master", "bundle"].contains(c.name) {
                if let id = c.id {
                    byID[id] = c
                    if let parent { parents[id] = parent }
                }
                index(c, parent: c)
            }
        }
        if let resources { index(resources, parent: nil) }
        func kind(_ e: XElement) -> String { e.name == "master" ? "ms" : e.name }
        func isClone(_ e: XElement?) -> Bool { e.map { ["clone", "master"].contains($0.name) } ?? false }
        func rscID(_ e: XElement) -> String {
            let id = e.id ?? ""
            if let p = parents[id], isClone(p) { return "\(kind(p)):\(id)" }
            return id
        }
        func firstPrim(_ e: XElement) -> String {
            if e.name != "primitive", let c = e.elements.first(where: { ["group", "primitive"].contains($0.name) }) { return firstPrim(c) }
            return e.id ?? ""
        }
        func lastPrim(_ e: XElement) -> String {
            if e.name != "primitive", let c = e.elements.last(where: { ["group", "primitive"].contains($0.name) }) { return lastPrim(c) }
            return e.id ?? ""
        }
        func firstRsc(_ id: String) -> String { byID[id].map(firstPrim) ?? id }
        func lastRsc(_ id: String) -> String { byID[id].map(lastPrim) ?? id }
        func scoreLabel(_ e: Int, _ n: XElement, in g: Gv) {
            var score = n["score"].map { $0.replacingOccurrences(of: "INFINITY", with: "inf") } ?? ""
            if score.isEmpty { score = n["score-attribute"] ?? "" }
            if score.isEmpty { score = n["kind"] ?? "" }
            if ["inf", "+inf", "Mandatory"].contains(score) {
                g.edgeAttrs[e].set("style", "solid")
                return
            }
            let label: String
            if score.range(of: "^-?([0-9]+|inf)$", options: .regularExpression) != nil || ["Optional", "Mandatory", "Serialize"].contains(score) {
                label = score
            } else if score.isEmpty {
                label = "Adv"
            } else {
                label = "attr:\(score)"
            }
            g.edgeAttrs[e].set("label", label)
        }
        func primitive(_ p: XElement, in g: Gv) {
            var def = p
            if let t = p["template"], let tmpl = config.firstElement(named: "resources")?.elements(named: "template").first(where: { $0.id == t }) { def = tmpl }
            let cls = def["class"] ?? ""
            let type = def["type"] ?? ""
            let id = p.id ?? ""
            g.node(id, norank: cls == "stonith")
            g.attr(id, "label", "\(rscID(p))\\n\(cls == "ocf" || cls == "stonith" ? type : "\(cls):\(type)")")
            g.setObject(id, "primitive")
            g.setObject(id, "class:\(cls)")
            if let parent = parents[id], isClone(parent) { g.setObject(id, kind(parent)) }
        }

        // The objects in crmsh's order: by kind, then id.
        var objects: [(rank: Int, id: String, draw: () -> Void)] = []
        for n in config.firstElement(named: "nodes")?.elements(named: "node") ?? [] {
            let uname = n["uname"] ?? n.id ?? ""
            // crmsh sorts the nodes by their id (the node's XML id), draws them by name.
            objects.append((0, n.id ?? uname, {
                g.node(uname, top: true)
                g.attr(uname, "label", uname)
                g.setObject(uname, "node")
            }))
        }
        for (id, e) in byID {
            let parent = parents[id]
            switch e.name {
            case "primitive":
                guard parent?.name != "group" else { continue }
                objects.append((2, id, { primitive(e, in: g) }))
            case "group":
                objects.append((4, id, {
                    let members = e.elements.filter { ["primitive", "group"].contains($0.name) }.compactMap(\.id)
                    let sg = Gv("cluster_\(id)", subgraph: true)
                    sg.edge(members)
                    g.subgraphs.append(sg)
                    if let first = members.first { g.node(first) }
                    sg.graphAttrs.set("label", rscID(e))
                    sg.setGraph("group")
                    if let p = parent, isClone(p) { for (k, v) in CrmGraph.attributes[kind(p)] ?? [] { sg.graphAttrs.set(k, v) } }
                    for c in e.elements(named: "primitive") { primitive(c, in: sg) }
                }))
            default: break
            }
        }
        for c in config.firstElement(named: "constraints")?.elements ?? [] {
            let id = c.id ?? ""
            switch c.name {
            case "rsc_location":
                objects.append((9, id, {
                    var pref = c["node"]
                    var scoreNode = c
                    if pref == nil, let rules = Optional(c.elements(named: "rule")), rules.count == 1,
                       rules[0].elements.count == 1, let exp = rules[0].elements(named: "expression").first,
                       exp["attribute"] == "#uname", exp["operation"] == "eq" {
                        pref = exp["value"]
                        scoreNode = rules[0]
                    }
                    guard let pref, let rsc = c["rsc"] else { return }
                    let e = g.edge([pref, firstRsc(rsc)])
                    g.setEdge(e, "location")
                    scoreLabel(e, scoreNode, in: g)
                }))
            case "rsc_order":
                objects.append((9, id, {
                    guard c.elements(named: "resource_set").isEmpty, let first = c["first"], let then = c["then"] else { return }
                    let e = g.edge([lastRsc(first), firstRsc(then)])
                    scoreLabel(e, c, in: g)
                }))
            default: break
            }
        }
        for o in objects.sorted(by: { ($0.rank, $0.id) < ($1.rank, $1.id) }) { o.draw() }
        return g.lines().joined(separator: "\n") + "\n"
    }

    /// `graph <pe> [<gtype> [<file> [<img_format>]]]`'s words: the graph type (dot, the only
    /// one), the file (nil: crmsh shows it in dotty) and the image format (the type: the
    /// dot text itself).
    public static func arguments(_ words: [String]) throws(CrmError) -> (type: String, file: String?, format: String) {
        let usage = "graph <pe> [<gtype> [<file> [<img_format>]]]"
        guard words.count <= 3 else { throw CrmError("history.graph: unknown keyword \"\(words[3])\"; usage: \(usage)") }
        let type = words.first ?? "dot"
        guard type == "dot" else { throw CrmError("history.graph: graph type \(type) is not supported (dot is); usage: \(usage)") }
        let file = words.count > 1 ? words[1] : nil
        if let file, file.isEmpty || file.contains(where: { "'`#*?$[];".contains($0) }) {
            throw CrmError("history.graph: \(file): bad file name (none of ' ` # * ? $ [ ] ;); usage: \(usage)")
        }
        return (type, file, words.count > 2 ? words[2] : type)
    }
}
