import EssentialsExtras
import CIB

/// `crm configure show`: the configuration in crmsh's syntax and layout. One object per
/// entry, sorted by kind (nodes, primitives, groups, ms, clones, tags, constraints, tickets and
/// fencing, properties, defaults) and then by id; continuation lines start with a tab and the
/// line before ends with ` \`.
public enum CrmShow {
    public struct Object: Sendable {
        public var kind: String
        public var id: String
        public var rank: Int
        public var text: String
    }

    static let ranks: [String: Int] = [
        "node": 0, "rsc_template": 1, "primitive": 2, "bundle": 3, "group": 4, "ms": 5, "clone": 6,
        "tag": 8, "location": 9, "colocation": 9, "order": 9, "rsc_ticket": 10, "fencing_topology": 10,
        "property": 11, "rsc_defaults": 12, "op_defaults": 13, "alert": 14,
    ]

    /// The whole configuration, or only the objects named.
    /// Values of parameters whose names match `passw*` print as ******, as crmsh's show does
    /// (not for `edit`, which must read back the real values).
    public static func render(_ cib: CIB, only: [String] = [], obscure: Bool = true) throws(CrmError) -> String {
        var objects = self.objects(cib, obscure: obscure)
        if !only.isEmpty {
            // An id, or type:<kind> (type:primitive, type:location...).
            func selects(_ o: Object, _ spec: String) -> Bool {
                spec.hasPrefix("type:") ? o.kind == String(spec.dropFirst(5)) : o.id == spec
            }
            for spec in only where !spec.hasPrefix("type:") && !objects.contains(where: { selects($0, spec) }) {
                throw CrmError("object \(spec) does not exist")
            }
            objects = objects.filter { o in only.contains { selects(o, $0) } }
        }
        return objects.map { $0.text + "\n" }.joined()
    }

    public static func objects(_ cib: CIB, obscure: Bool = false) -> [Object] {
        guard let config = cib.root.firstElement(named: "configuration") else { return [] }
        var out: [Object] = []
        func add(_ kind: String, _ id: String, _ lines: [String]) {
            out.append(Object(kind: kind, id: id, rank: ranks[kind] ?? 1000, text: lines.joined(separator: " \\\n\t")))
        }
        for n in config.firstElement(named: "nodes")?.elements(named: "node") ?? [] {
            let (id, lines) = node(n)
            // crmsh's `<id>:` takes letters, digits, _ and - only; another id is shown as XML.
            let plainID = !id.isEmpty && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
            add("node", id, id == (n["uname"] ?? id) || plainID ? lines : xml(n))
        }
        func resources(_ r: XElement) {
            for e in r.elements {
                switch e.name {
                // An empty <operations/> has no words in crmsh (it would not read back): XML.
                case "primitive" where e.elements(named: "operations").contains { $0.elements.isEmpty && $0.id == nil }:
                    add("primitive", e.id ?? "", xml(e))
                case "primitive": add("primitive", e.id ?? "", primitive(e, keyword: "primitive", obscure: obscure))
                case "template": add("rsc_template", e.id ?? "", primitive(e, keyword: "rsc_template", obscure: obscure))
                case "group", "clone", "master":
                    let kind = e.name == "master" ? "ms" : e.name
                    add(kind, e.id ?? "", container(e, keyword: kind))
                    resources(e)
                case "bundle":
                    // No crmsh syntax here yet: shown (and read back) as its XML.
                    add("bundle", e.id ?? "", xml(e))
                default: break
                }
            }
        }
        if let r = config.firstElement(named: "resources") { resources(r) }
        for t in config.firstElement(named: "tags")?.elements(named: "tag") ?? [] {
            add("tag", t.id ?? "", [(["tag", t.id ?? ""] + t.elements(named: "obj_ref").compactMap(\.id)).joined(separator: " ")])
        }
        for c in config.firstElement(named: "constraints")?.elements ?? [] {
            guard printable(c) else {
                add(["rsc_location": "location", "rsc_colocation": "colocation", "rsc_order": "order"][c.name] ?? "rsc_ticket",
                    c.id ?? "", xml(c))
                continue
            }
            switch c.name {
            case "rsc_location": add("location", c.id ?? "", location(c))
            case "rsc_colocation": add("colocation", c.id ?? "", [simpleConstraint(c, keyword: "colocation")])
            case "rsc_order": add("order", c.id ?? "", [simpleConstraint(c, keyword: "order")])
            case "rsc_ticket": add("rsc_ticket", c.id ?? "", [simpleConstraint(c, keyword: "rsc_ticket")])
            default: add("location", c.id ?? "", xml(c))
            }
        }
        for a in config.firstElement(named: "alerts")?.elements(named: "alert") ?? [] {
            add("alert", a.id ?? "", xml(a))
        }
        if let f = config.firstElement(named: "fencing-topology"), !f.elements(named: "fencing-level").isEmpty {
            add("fencing_topology", "fencing_topology", fencing(f, nodes: config.firstElement(named: "nodes")?.elements(named: "node").compactMap { $0["uname"] } ?? []))
        }
        for s in config.firstElement(named: "crm_config")?.elements(named: "cluster_property_set") ?? [] {
            // A scored or ruled set has no words in crmsh's property syntax: XML.
            add("property", s.id ?? "", s["score"] != nil || !s.elements(named: "rule").isEmpty ? xml(s) : properties(s, keyword: "property"))
        }
        for (section, kind) in [("rsc_defaults", "rsc_defaults"), ("op_defaults", "op_defaults")] {
            for s in config.firstElement(named: section)?.elements(named: "meta_attributes") ?? [] {
                add(kind, s.id ?? "", properties(s, keyword: kind))
            }
        }
        return out.enumerated().sorted { a, b in
            (a.element.rank, a.element.id, a.offset) < (b.element.rank, b.element.id, b.offset)
        }.map(\.element)
    }

    /// Whether crmsh's syntax (as parsed here) can say all of a constraint; when not, it is
    /// shown as its XML (`xml <...>`), which reads back unchanged.
    static func printable(_ c: XElement) -> Bool {
        var ok = true
        c.walk { e in
            if e.name == "rule" && e.elements(named: "rule").count > 0 { ok = false }
            if e.name == "expression" && e["value-source"] != nil { ok = false }
            if e["id-ref"] != nil { ok = false }
        }
        switch c.name {
        case "rsc_location": if !c.elements(named: "resource_set").isEmpty || (c["node"] != nil && c["score"] == nil && c["score-attribute"] == nil) { ok = false }
        case "rsc_colocation": if c["score"] == nil && c["score-attribute"] == nil { ok = false }
        case "rsc_order": if let k = c["kind"], !["Mandatory", "Optional", "Serialize"].contains(k) { ok = false }
            // One resource in one set: crmsh has no words for it either.
            let sets = c.elements(named: "resource_set")
            if sets.count == 1 && sets[0].elements(named: "resource_ref").count == 1 { ok = false }
            // crmsh's order takes symmetrical only, not require-all.
            if c["require-all"] != nil { ok = false }
        default: break
        }
        return ok
    }

    // MARK: pieces

    static func q(_ v: String) -> String { CrmLexer.quoted(v) }

    /// An object crm has no syntax for, as crmsh shows it: `xml ` and its XML, one element a line.
    static func xml(_ e: XElement) -> [String] {
        var lines = e.xmlString().split(separator: "\n").map(String.init)
        if !lines.isEmpty { lines[0] = "xml " + lines[0] }
        return [lines.joined(separator: " \\\n")]
    }

    static func pairs(_ set: XElement, obscure: Bool = false) -> [String] {
        var out: [String] = []
        if let ref = set["id-ref"] { out.append("$id-ref=\(ref)") }
        let nv = set.elements(named: "nvpair")
        for p in nv {
            if let ref = p["id-ref"] { out.append(p["name"].map { "@\(ref):\($0)" } ?? "@\(ref)"); continue }
            let name = p["name"] ?? ""
            if let v = p["value"] {
                out.append("\(name)=\(q(obscure && name.hasPrefix("passw") ? "******" : v))")
            } else {
                out.append(name)
            }
        }
        return out
    }

    static func sets(_ e: XElement, _ names: [(String, String)]) -> [String] {
        var out: [String] = []
        for child in e.elements {
            if let keyword = names.first(where: { $0.0 == child.name })?.1 {
                out.append(([keyword] + pairs(child)).joined(separator: " "))
            }
        }
        return out
    }

    static func score(_ s: String) -> String {
        s.replacingEvery("INFINITY", with: "inf")
    }

    static func node(_ n: XElement) -> (String, [String]) {
        let id = n.id ?? ""
        let uname = n["uname"] ?? id
        var head = "node"
        if id != uname { head += CrmLexer.quoted(id) == id ? " \(id):" : " $id=\"\(id)\"" }
        head += " \(uname)"
        if let t = n["type"], t != "normal" { head += ":\(t)" }
        return (id, [head] + n["description"].map { ["description=\(q($0))"] }.orEmpty
                    + sets(n, [("instance_attributes", "attributes"), ("utilization", "utilization")]))
    }

    static func agent(_ e: XElement) -> String {
        if let t = e["template"] { return "@\(t)" }
        let cls = e["class"] ?? "", type = e["type"] ?? ""
        if cls == "ocf" && e["provider"] == "heartbeat" { return type }
        if let p = e["provider"] { return "\(cls):\(p):\(type)" }
        return "\(cls):\(type)"
    }

    static func primitive(_ e: XElement, keyword: String, obscure: Bool = false) -> [String] {
        var head = "\(keyword) \(e.id ?? "") \(agent(e))"
        if let d = e["description"] { head += " \\\n\tdescription=\(q(d))" }
        // In the XML's order, as crmsh prints them.
        var lines = [head]
        let keywords = ["instance_attributes": "params", "meta_attributes": "meta", "utilization": "utilization"]
        for child in e.elements {
            if let k = keywords[child.name] {
                lines.append(([k] + pairs(child, obscure: obscure)).joined(separator: " "))
            } else if child.name == "operations" {
                if let id = child.id { lines.append("operations $id=\(id)") }
                for op in child.elements(named: "op") {
                    var words = ["op", op["name"] ?? ""]
                    for a in op.attributes where a.name != "name" && a.name != "id" { words.append("\(a.name)=\(q(a.value))") }
                    lines.append(words.joined(separator: " "))
                    lines += sets(op, [("instance_attributes", "op_params"), ("meta_attributes", "op_meta")])
                }
            }
        }
        return lines
    }

    static func container(_ e: XElement, keyword: String) -> [String] {
        let members = e.elements.filter { ["primitive", "group", "clone", "master", "bundle"].contains($0.name) }.compactMap(\.id)
        var head = ([keyword, e.id ?? ""] + members).joined(separator: " ")
        if let d = e["description"] { head += " \\\n\tdescription=\(q(d))" }
        return [head] + sets(e, [("meta_attributes", "meta"), ("instance_attributes", "params")])
    }

    static func properties(_ s: XElement, keyword: String) -> [String] {
        ["\(keyword) \(CrmLexer.quoted(s.id ?? "") == s.id ? "\(s.id!):" : "$id=\"\(s.id ?? "")\"")"]
            + s.elements(named: "nvpair").map { "\($0["name"] ?? "")=\(q($0["value"] ?? ""))" }
    }

    static func location(_ c: XElement) -> [String] {
        var head = "location \(c.id ?? "") "
        if let r = c["rsc"] { head += r } else if let p = c["rsc-pattern"] { head += "~\(q(p))" } else {
            head += resourceSets(c, keyword: "location").joined(separator: " ")
        }
        if let role = c["role"] ?? c["rsc-role"] { head += " role=\(role)" }
        if let d = c["resource-discovery"] { head += " resource-discovery=\(d)" }
        if let node = c["node"] {
            let s = c["score"].map(score) ?? c["score-attribute"] ?? ""
            return [head + " \(s): \(node)"]
        }
        return [head] + c.elements(named: "rule").map(rule)
    }

    static func rule(_ r: XElement) -> String {
        if let ref = r["id-ref"] { return "rule $id-ref=\(ref)" }
        var words = ["rule"]
        if let role = r["role"] { words.append("$role=\(role)") }
        if let s = r["score"], s != "INFINITY" { words.append("\(score(s)):") } else if let a = r["score-attribute"] { words.append("\(a):") }
        let op = r["boolean-op"] ?? "and"
        let exprs: [String] = r.elements.compactMap { x in
            switch x.name {
            case "expression":
                var operation = x["operation"] ?? ""
                if let t = x["type"] { operation = "\(t):\(operation)" }
                let attr = x["attribute"] ?? ""
                guard let v = x["value"] else { return "\(operation) \(attr)" }
                return "\(attr) \(operation) \(v)"
            case "date_expression":
                let operation = x["operation"] ?? ""
                switch operation {
                case "gt": return "date gt \(q(x["start"] ?? ""))"
                case "lt": return "date lt \(q(x["end"] ?? ""))"
                default:
                    var w = ["date", operation == "in_range" ? "in" : "spec"]
                    for a in x.attributes where a.name == "start" || a.name == "end" { w.append("\(a.name)=\(q(a.value))") }
                    for sub in x.elements where sub.name == "duration" || sub.name == "date_spec" {
                        for a in sub.attributes where a.name != "id" { w.append("\(a.name)=\(q(a.value))") }
                    }
                    return w.joined(separator: " ")
                }
            case "rule": return "(\(rule(x)))"
            default: return nil
            }
        }
        words.append(exprs.joined(separator: " \(op) "))
        return words.joined(separator: " ")
    }

    static func resourceSets(_ c: XElement, keyword: String) -> [String] {
        var out: [String] = []
        for s in c.elements(named: "resource_set") {
            let seq = s["sequential"].map(CIBValue.isTrue)
            let all = s["require-all"].map(CIBValue.isTrue)
            if all == false { out.append("[") } else if seq == false { out.append("(") }
            let q = keyword == "order" ? s["action"] : s["role"]
            for r in s.elements(named: "resource_ref") { out.append(q.map { "\(r.id ?? ""):\($0)" } ?? (r.id ?? "")) }
            if all == false {
                if seq == nil || seq == true { out.append("sequential=true") }
                out.append("]")
            } else if seq == false {
                out.append(")")
            }
        }
        return out
    }

    static func simpleConstraint(_ c: XElement, keyword: String) -> String {
        var words = [keyword, c.id ?? ""]
        switch keyword {
        case "order":
            if let k = c["kind"] { words.append("\(k):") } else if let s = c["score"] { words.append("\(score(s)):") }
        case "rsc_ticket":
            words.append("\(c["ticket"] ?? ""):")
        default:
            if let s = c["score"] { words.append("\(score(s)):") } else if let a = c["score-attribute"] { words.append("\(a):") }
        }
        func ref(_ attr: String, _ qualifier: String) -> String {
            let r = c[attr] ?? ""
            if let qv = c["\(attr)-\(qualifier)"] { return "\(r):\(qv)" }
            if let inst = c["\(attr)-instance"] { return "\(r):\(inst)" }
            return r
        }
        if c.elements(named: "resource_set").isEmpty {
            switch keyword {
            case "colocation": words += [ref("rsc", "role"), ref("with-rsc", "role")]
            case "order": words += [ref("first", "action"), ref("then", "action")]
            default: words.append(ref("rsc", "role"))
            }
        } else {
            words += resourceSets(c, keyword: keyword)
        }
        let skip: Set<String> = ["id", "score", "score-attribute", "kind", "ticket", "rsc", "with-rsc", "first", "then",
                                 "rsc-role", "with-rsc-role", "first-action", "then-action", "rsc-instance", "with-rsc-instance",
                                 "first-instance", "then-instance"]
        for a in c.attributes where !skip.contains(a.name) { words.append("\(a.name)=\(q(a.value))") }
        return words.joined(separator: " ")
    }

    static func fencing(_ f: XElement, nodes: [String]) -> [String] {
        var byTarget: [(String, [String])] = []
        for l in f.elements(named: "fencing-level") {
            let target: String
            if let t = l["target"] { target = t } else if let p = l["target-pattern"] { target = "pattern:\(p)" } else {
                target = "attr:\(l["target-attribute"] ?? "")=\(l["target-value"] ?? "")"
            }
            let devices = l["devices"] ?? ""
            if let i = byTarget.firstIndex(where: { $0.0 == target }) { byTarget[i].1.append(devices) } else { byTarget.append((target, [devices])) }
        }
        // One plain list when every node has the same levels.
        if !byTarget.isEmpty, Set(byTarget.map(\.0)) == Set(nodes), byTarget.count == nodes.count,
           Set(byTarget.map { $0.1 }).count == 1 {
            return [(["fencing_topology"] + byTarget[0].1).joined(separator: " ")]
        }
        return ["fencing_topology"] + byTarget.map { (["\($0.0.hasPrefix("attr:") ? $0.0 : $0.0 + ":")"] + $0.1).joined(separator: " ") }
    }
}

extension Optional where Wrapped == [String] {
    var orEmpty: [String] { self ?? [] }
}
