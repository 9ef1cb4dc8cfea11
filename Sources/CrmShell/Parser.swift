import CIB

/// What a crmsh definition becomes: one CIB element, where it goes, and (for groups and
/// clones) the resources it takes in.
public struct CrmDefinition: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case node, primitive, group, clone, ms, location, colocation, order
        case rscTemplate = "rsc_template"
        case rscTicket = "rsc_ticket"
        case property
        case rscDefaults = "rsc_defaults"
        case opDefaults = "op_defaults"
        case fencingTopology = "fencing_topology"
        case tag
    }

    public var kind: Kind
    /// The element, with every id crmsh would give it.
    public var element: XElement
    /// The ids of the resources a group, clone or ms takes in, in order.
    public var members: [String] = []
    /// Warnings to print (e.g. "ms" is deprecated).
    public var warnings: [String] = []

    public var id: String { element.id ?? kind.rawValue }
}

/// Hands out ids as crmsh does: the base when it is free, else base-0, base-1, ...
public struct IDAllocator: Sendable {
    public var used: Set<String>

    public init(used: Set<String> = []) { self.used = used }

    /// Every id in a CIB's configuration.
    public init(cib: CIB) {
        var ids = Set<String>()
        cib.root.firstElement(named: "configuration")?.walk { e in
            if let id = e.id, !["resource_ref", "obj_ref", "role"].contains(e.name) { ids.insert(id) }
        }
        used = ids
    }

    public mutating func make(_ base: String) -> String {
        let clean = IDAllocator.sanitize(base)
        if used.insert(clean).inserted { return clean }
        var i = 0
        while !used.insert("\(clean)-\(i)").inserted { i += 1 }
        return "\(clean)-\(i)"
    }

    static func sanitize(_ s: String) -> String {
        var out = String(s.map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "." || c == "-") ? c : "_"
        })
        if let f = out.first, !(f.isLetter || f == "_") { out = "_" + out }
        return out
    }
}

/// crmsh's configuration syntax, parsed into CIB elements with crmsh's ids.
public struct CrmParser {
    public var ids: IDAllocator

    public init(ids: IDAllocator) { self.ids = ids }

    /// The usage line of each definition, shown with an error.
    public static let usage: [String: String] = [
        "node": "node [<id>:]<uname> [description=<text>] [attributes <name>=<value>...] [utilization <name>=<value>...]",
        "primitive": "primitive <rsc> {[<class>:[<provider>:]]<type>|@<template>} [params ...] [meta ...] [op ...]",
        "rsc_template": "rsc_template <name> [<class>:[<provider>:]]<type> [params ...] [meta ...] [op ...]",
        "group": "group <name> <rsc> [<rsc>...] [description=<text>] [meta ...] [params ...]",
        "clone": "clone <name> <rsc> [description=<text>] [meta ...] [params ...]",
        "ms": "ms <name> <rsc> [description=<text>] [meta ...] [params ...]",
        "location": "location <id> <rsc> [role=<role>] [resource-discovery=always|never|exclusive] {<score>: <node> | rule [$role=<role>] [<score>:] <expression> [rule ...]}",
        "colocation": "colocation <id> <score>: <rsc>[:<role>] <with-rsc>[:<role>] [...] [node-attribute=<attr>]",
        "order": "order <id> [{Mandatory|Optional|Serialize|<score>}:] <first>[:<action>] <then>[:<action>] [...] [symmetrical=<bool>]",
        "rsc_ticket": "rsc_ticket <id> <ticket>: <rsc>[:<role>] [<rsc>[:<role>] ...] [loss-policy=stop|demote|fence|freeze]",
        "property": "property [<set_id>:] <name>=<value> [<name>=<value>...]",
        "rsc_defaults": "rsc_defaults [<set_id>:] <name>=<value> [<name>=<value>...]",
        "op_defaults": "op_defaults [<set_id>:] <name>=<value> [<name>=<value>...]",
        "fencing_topology": "fencing_topology [<node>:] <device>[,<device>...] [<device>...] [<node>: ...]",
        "tag": "tag <id>[:] <rsc> [<rsc>...]",
    ]

    static let aliases: [String: String] = ["collocation": "colocation", "promotable": "clone"]

    /// Whether a word starts a definition.
    public static func isDefinition(_ word: String) -> Bool {
        usage[word] != nil || aliases[word] != nil
    }

    /// Parses one definition; `words[0]` is its keyword.
    public mutating func parse(_ words: [String], nodes: [String] = []) throws(CrmError) -> CrmDefinition {
        guard let first = words.first else { throw CrmError("empty definition") }
        let keyword = CrmParser.aliases[first] ?? first
        guard CrmParser.usage[keyword] != nil else {
            throw CrmError("configure.\(first): No such command")
        }
        var t = Tokens(words: Array(words.dropFirst()), command: keyword)
        switch keyword {
        case "node": return try parseNode(&t)
        case "primitive": return try parsePrimitive(&t)
        case "rsc_template": return try parsePrimitive(&t, template: true)
        case "group": return try parseContainer(&t, kind: .group)
        case "clone": return try parseContainer(&t, kind: .clone)
        case "ms": return try parseContainer(&t, kind: .ms)
        case "location": return try parseLocation(&t)
        case "colocation": return try parseColocation(&t)
        case "order": return try parseOrder(&t)
        case "rsc_ticket": return try parseTicket(&t)
        case "property": return try parseProperties(&t, kind: .property)
        case "rsc_defaults": return try parseProperties(&t, kind: .rscDefaults)
        case "op_defaults": return try parseProperties(&t, kind: .opDefaults)
        case "fencing_topology": return try parseFencing(&t, nodes: nodes)
        default: return try parseTag(&t)
        }
    }

    // MARK: words

    struct Tokens {
        var words: [String]
        var i = 0
        let command: String

        var peek: String? { i < words.count ? words[i] : nil }
        var atEnd: Bool { i >= words.count }
        mutating func next() -> String? {
            defer { i += 1 }
            return peek
        }

        func error(_ what: String) -> CrmError {
            CrmError("configure.\(command): \(what); usage: \(CrmParser.usage[command] ?? command)")
        }

        mutating func require(_ what: String) throws(CrmError) -> String {
            guard let w = next() else { throw error("missing \(what)") }
            return w
        }

        /// `name=value` pairs up to the next word that is not one.
        mutating func pairs() -> [(String, String)] {
            var out: [(String, String)] = []
            while let w = peek {
                if w.hasPrefix("@") && w.count > 1 && !w.contains("=") {
                    out.append(("@", String(w.dropFirst())))  // a reference to another nvpair
                } else if let eq = w.firstIndex(of: "="), eq != w.startIndex {
                    out.append((String(w[..<eq]), String(w[w.index(after: eq)...])))
                } else {
                    break
                }
                i += 1
            }
            return out
        }
    }

    static func split(_ w: String) -> (String, String)? {
        guard let eq = w.firstIndex(of: "="), eq != w.startIndex else { return nil }
        return (String(w[..<eq]), String(w[w.index(after: eq)...]))
    }

    func checkID(_ id: String, _ t: Tokens) throws(CrmError) {
        guard let f = id.first, f.isLetter || f == "_",
              id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-") }) else {
            throw t.error("\"\(id)\" is not a valid id (letters, digits, _ . -, starting with a letter)")
        }
    }

    /// An nvpair set: `<tag id="<owner>-<tag>">` with `<set>-<name>` pairs; `$id=` names the set.
    mutating func attributeSet(_ tag: String, owner: String, pairs: [(String, String)]) -> XElement {
        var setID: String?
        var rest: [(String, String)] = []
        for (n, v) in pairs { if n == "$id" { setID = v } else { rest.append((n, v)) } }
        let id = setID.map { ids.used.insert($0); return $0 } ?? ids.make("\(owner)-\(tag)")
        var set = XElement(tag, ["id": id])
        for (n, v) in rest {
            if n == "@" { set.append(XElement("nvpair", ["id-ref": v])); continue }
            set.append(XElement("nvpair", ["name": n, "value": v, "id": ids.make("\(id)-\(n)")]))
        }
        return set
    }

    // MARK: resources

    /// The attributes an `op` itself takes (pacemaker-3.9's schema); other name=value pairs
    /// after `op <name>` are its instance attributes (OCF_CHECK_LEVEL=10), as in crmsh.
    static let opAttributes: Set<String> = ["id", "name", "interval", "description", "start-delay", "interval-origin",
                                            "timeout", "enabled", "record-pending", "role", "on-fail"]

    mutating func parsePrimitive(_ t: inout Tokens, template: Bool = false) throws(CrmError) -> CrmDefinition {
        guard t.words.count >= 2 else { throw t.error("expected at least a resource id and an agent") }
        let id = try t.require("the resource id")
        try checkID(id, t)
        let agent = try t.require("the agent")
        var e = XElement(template ? "template" : "primitive", ["id": id])
        if agent.hasPrefix("@") && !template {
            e["template"] = String(agent.dropFirst())
        } else {
            let parts = agent.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            switch parts.count {
            case 1: e["class"] = "ocf"; e["provider"] = "heartbeat"; e["type"] = parts[0]
            case 2:
                e["class"] = parts[0]
                if parts[0] == "ocf" { e["provider"] = "heartbeat" }
                e["type"] = parts[1]
            case 3: e["class"] = parts[0]; e["provider"] = parts[1]; e["type"] = parts[2]
            default: throw t.error("\"\(agent)\" is not an agent: write <class>:<provider>:<type>, e.g. ocf:heartbeat:IPaddr2")
            }
            let known = ["ocf", "lsb", "service", "systemd", "stonith", "nagios", "upstart"]
            if !known.contains(e["class"]!) || parts.contains(where: \.isEmpty) {
                throw t.error("\"\(agent)\" is not an agent: the class must be one of \(known.joined(separator: ", "))")
            }
            if e["class"] != "ocf" && parts.count == 3 {
                throw t.error("\"\(agent)\": only ocf agents have a provider")
            }
        }
        var operations: XElement?
        var operationsAt: Int?
        var first = true
        while let w = t.next() {
            defer { first = false }
            switch w {
            case "params": e.append(attributeSet("instance_attributes", owner: id, pairs: t.pairs()))
            case "meta": e.append(attributeSet("meta_attributes", owner: id, pairs: t.pairs()))
            case "utilization": e.append(attributeSet("utilization", owner: id, pairs: t.pairs()))
            case "operations":
                if operationsAt == nil { operationsAt = e.children.count }
                let pairs = t.pairs()
                var ops = XElement("operations")
                for (n, v) in pairs where n == "$id" {
                    ops["id"] = v
                    ids.used.insert(v)
                }
                operations = ops
            case "op":
                if operationsAt == nil { operationsAt = e.children.count }
                let name = try t.require("the operation name after op")
                if name.contains("=") { throw t.error("op needs an operation name first (op monitor interval=10s), not \"\(name)\"") }
                var op = XElement("op", ["name": name])
                var inline: [(String, String)] = []
                for (n, v) in t.pairs() {
                    if CrmParser.opAttributes.contains(n) {
                        guard inline.isEmpty else { throw t.error("Attribute order error: \(n) must appear before any instance attribute") }
                        op[n] = v
                    } else {
                        inline.append((n, v))
                    }
                }
                if op["interval"] == nil {
                    // crmsh adds interval=0 after the instance attributes, and refuses the
                    // order: `op monitor intervl=10s` would be a probe setting, not a monitor.
                    if let (n, _) = inline.first {
                        let near = CrmParser.closest(to: n, in: CrmParser.opAttributes).map { "; '\(n)' is not an operation attribute: did you mean '\($0)'?" } ?? ""
                        throw t.error("Attribute order error: interval must appear before any instance attribute\(near)")
                    }
                    op["interval"] = "0"
                }
                let opID = ids.make("\(operations?.id ?? id)-\(name)-\(op["interval"]!)")
                op["id"] = opID
                if !inline.isEmpty { op.append(attributeSet("instance_attributes", owner: opID, pairs: inline)) }
                while let k = t.peek, k == "op_params" || k == "op_meta" {
                    _ = t.next()
                    op.append(attributeSet(k == "op_params" ? "instance_attributes" : "meta_attributes", owner: opID, pairs: t.pairs()))
                }
                if operations == nil { operations = XElement("operations") }
                operations!.append(op)
            default:
                if let (n, v) = CrmParser.split(w) {
                    if n == "description" { e["description"] = v; continue }
                    if first {
                        // Parameters may come without the params keyword, right after the agent.
                        t.i -= 1
                        e.append(attributeSet("instance_attributes", owner: id, pairs: t.pairs()))
                        continue
                    }
                    throw t.error("\"\(w)\" is not in a params, meta or op list")
                }
                throw t.error("unknown keyword \"\(w)\"")
            }
        }
        // The operations go where the first op was written (crmsh keeps the order).
        if let operations { e.children.insert(.element(operations), at: operationsAt ?? e.children.count) }
        return CrmDefinition(kind: template ? .rscTemplate : .primitive, element: e)
    }

    mutating func parseContainer(_ t: inout Tokens, kind: CrmDefinition.Kind) throws(CrmError) -> CrmDefinition {
        guard t.words.count >= 2 else { throw t.error("expected at least an id and a resource") }
        let id = try t.require("the id")
        try checkID(id, t)
        var members: [String] = []
        while let w = t.peek, !["meta", "params"].contains(w), !w.contains("=") {
            try checkID(w, t)
            members.append(w)
            t.i += 1
        }
        if members.isEmpty { throw t.error("\(id) needs a resource") }
        if kind != .group && members.count > 1 { throw t.error("a \(t.command) holds one resource, not \(members.joined(separator: " "))") }
        var e = XElement(kind == .ms ? "master" : kind.rawValue, ["id": id])
        while let w = t.next() {
            switch w {
            case "meta": e.append(attributeSet("meta_attributes", owner: id, pairs: t.pairs()))
            case "params": e.append(attributeSet("instance_attributes", owner: id, pairs: t.pairs()))
            default:
                if let (n, v) = CrmParser.split(w), n == "description" { e["description"] = v; continue }
                throw t.error("unknown keyword \"\(w)\"")
            }
        }
        var d = CrmDefinition(kind: kind, element: e, members: members)
        if kind == .ms {
            let meta = e.elements(named: "meta_attributes").flatMap { $0.elements(named: "nvpair") }
                .map { "\($0["name"]!)=\($0["value"]!)" }
            d.warnings.append("\"ms\" is deprecated. Please use \"clone \(id) \(members[0]) meta \((meta + ["promotable=true"]).joined(separator: " "))\"")
        }
        return d
    }

    // MARK: constraints

    /// `100:`, `inf:`, `-inf:`, `Mandatory:`... as the attribute it sets.
    static func score(_ w: String) -> (String, String)? {
        guard w.hasSuffix(":"), w.count > 1 else { return nil }
        let s = String(w.dropLast())
        switch s.lowercased() {
        case "inf", "infinity": return ("score", "INFINITY")
        case "+inf", "+infinity": return ("score", "+INFINITY")
        case "-inf", "-infinity": return ("score", "-INFINITY")
        default: break
        }
        if CIBValue.score(s) != nil { return ("score", s) }
        return ("score-attribute", s)
    }

    static let roles = ["Started", "Stopped", "Promoted", "Unpromoted", "Master", "Slave"]
    static let actions = ["start", "stop", "promote", "demote"]

    mutating func parseLocation(_ t: inout Tokens) throws(CrmError) -> CrmDefinition {
        let id = try t.require("the id")
        try checkID(id, t)
        let rsc = try t.require("the resource")
        var e = XElement("rsc_location", ["id": id])
        if rsc.hasPrefix("~") { e["rsc-pattern"] = String(rsc.dropFirst()) } else { e["rsc"] = rsc }
        var sawPlacement = false
        while let w = t.next() {
            if w == "rule" {
                e.append(try parseRule(&t, owner: id))
                sawPlacement = true
                continue
            }
            if let (n, v) = CrmParser.split(w) {
                guard ["role", "resource-discovery", "rsc-role"].contains(n) else { throw t.error("unknown attribute \"\(n)\"") }
                e[n == "role" ? "role" : n] = v
                continue
            }
            if let (attr, value) = CrmParser.score(w) {
                guard !sawPlacement else { throw t.error("give either a score and a node, or rules") }
                let node = try t.require("the node after \(w)")
                e[attr == "score" ? "score" : "score-attribute"] = value
                e["node"] = node
                sawPlacement = true
                continue
            }
            throw t.error("unknown keyword \"\(w)\"")
        }
        if !sawPlacement { throw t.error("\(id) needs a score and a node, or a rule") }
        return CrmDefinition(kind: .location, element: e)
    }

    static let dateOps = ["lt", "gt", "in", "in_range", "spec", "date_spec"]
    static let durationKeys = ["years", "months", "weeks", "days", "hours", "minutes", "seconds"]
    static let exprOps = ["lt", "gt", "lte", "gte", "eq", "ne"]

    mutating func parseRule(_ t: inout Tokens, owner: String) throws(CrmError) -> XElement {
        var rule = XElement("rule")
        var explicitID: String?
        while let w = t.peek, let (n, v) = CrmParser.split(w), n.hasPrefix("$") || n == "role" {
            t.i += 1
            switch n {
            case "$id": explicitID = v
            case "$role", "role": rule["role"] = v
            default: throw t.error("unknown rule attribute \"\(n)\"")
            }
        }
        if let w = t.peek, let (attr, value) = CrmParser.score(w) {
            t.i += 1
            rule[attr] = value
        } else {
            rule["score"] = "INFINITY"
        }
        let ruleID = explicitID.map { ids.used.insert($0); return $0 } ?? ids.make("\(owner)-rule")
        var expressions: [XElement] = []
        var boolOp: String?
        while true {
            guard let w = t.next() else { throw t.error("rule needs an expression, e.g. #uname eq node1") }
            var x: XElement
            switch w {
            case "defined", "not_defined":
                let attr = try t.require("the attribute after \(w)")
                x = XElement("expression", ["operation": w, "attribute": attr])
            case "date":
                let op = try t.require("a date operation (gt, lt, in, spec)")
                switch op {
                case "gt": x = XElement("date_expression", ["operation": "gt", "start": try t.require("the date")])
                case "lt": x = XElement("date_expression", ["operation": "lt", "end": try t.require("the date")])
                case "in", "in_range", "spec", "date_spec":
                    let range = op.hasPrefix("in")
                    x = XElement("date_expression", ["operation": range ? "in_range" : "date_spec"])
                    var sub = XElement(range ? "duration" : "date_spec")
                    for (n, v) in t.pairs() {
                        if range && (n == "start" || n == "end") { x[n] = v } else { sub[n] = v }
                    }
                    if !sub.attributes.isEmpty { x.append(sub) }
                default: throw t.error("unknown date operation \"\(op)\" (use gt, lt, in or spec)")
                }
            default:
                let op = try t.require("an operation after \(w) (eq, ne, lt, gt, lte, gte)")
                let parts = op.split(separator: ":").map(String.init)
                guard let bare = parts.last, CrmParser.exprOps.contains(bare) else {
                    throw t.error("unknown operation \"\(op)\" in a rule (use eq, ne, lt, gt, lte, gte, defined, not_defined)")
                }
                let value = try t.require("the value after \(op)")
                x = XElement("expression", ["operation": bare, "attribute": w])
                if parts.count == 2 { x["type"] = parts[0] }
                x["value"] = value
            }
            let xid = ids.make("\(ruleID)-expression")
            x["id"] = xid
            if x.children.count == 1, var sub = x.elements.first {
                sub["id"] = ids.make("\(xid)-\(sub.name)")
                x.children = [.element(sub)]
            }
            expressions.append(x)
            if let w = t.peek, w == "and" || w == "or" {
                if let b = boolOp, b != w { throw t.error("a rule may not mix and with or; write two rules") }
                boolOp = w
                t.i += 1
                continue
            }
            break
        }
        if let boolOp, boolOp == "or" { rule["boolean-op"] = boolOp }
        rule["id"] = ruleID
        for x in expressions { rule.append(x) }
        return rule
    }

    /// A resource list with optional ( ) and [ ] sets, and trailing name=value attributes.
    struct RefList {
        struct Item { var rsc: String; var qualifier: String?; var set: Int? }
        var items: [Item] = []
        var setAttributes: [Int: [(String, String)]] = [:]
        var setKinds: [Int: Character] = [:]
        var attributes: [(String, String)] = []
        var hasSets: Bool { !setKinds.isEmpty }
    }

    func refList(_ t: inout Tokens, qualifiers: [String]) throws(CrmError) -> RefList {
        var list = RefList()
        var open: (Int, Character)?
        var setCount = 0
        while let w = t.next() {
            if w == "(" || w == "[" {
                guard open == nil else { throw t.error("sets may not nest") }
                open = (setCount, w == "(" ? ")" : "]")
                list.setKinds[setCount] = w.first!
                setCount += 1
                continue
            }
            if w == ")" || w == "]" {
                guard let (_, close) = open, close == w.first! else { throw t.error("unbalanced \"\(w)\"") }
                open = nil
                continue
            }
            if let (n, v) = CrmParser.split(w) {
                guard let f = n.first, f.isLetter, n.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                    throw t.error("unknown attribute \"\(n)\" in \"\(w)\"")
                }
                if let (k, _) = open { list.setAttributes[k, default: []].append((n, v)) } else { list.attributes.append((n, v)) }
                continue
            }
            let parts = w.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            if parts.count == 2 && !qualifiers.contains(where: { $0.lowercased() == parts[1].lowercased() }) {
                throw t.error("\"\(parts[1])\" in \"\(w)\" is not one of \(qualifiers.joined(separator: ", "))")
            }
            try checkID(parts[0], t)
            let q = parts.count == 2 ? qualifiers.first { $0.lowercased() == parts[1].lowercased() } : nil
            list.items.append(.init(rsc: parts[0], qualifier: q, set: open?.0))
        }
        if open != nil { throw t.error("a set is not closed") }
        return list
    }

    /// The resource sets of a constraint: each bracketed group is one set; plain resources in a
    /// row with the same role (or action) make one set.
    mutating func resourceSets(_ list: RefList, owner: String, qualifierAttr: String) -> [XElement] {
        var groups: [(set: Int?, q: String?, members: [String])] = []
        for item in list.items {
            // A new role (or action) starts a new set, inside brackets too, as in crmsh.
            if let last = groups.last, last.set == item.set, last.q == item.qualifier {
                groups[groups.count - 1].members.append(item.rsc)
            } else {
                groups.append((item.set, item.qualifier, [item.rsc]))
            }
        }
        ids.used.insert(owner)
        return groups.map { g in
            var s = XElement("resource_set")
            if let k = g.set {
                if list.setKinds[k] == "[" { s["require-all"] = "false" }
                s["sequential"] = "false"
                for (n, v) in list.setAttributes[k] ?? [] { s[n] = v }
            }
            if let q = g.q { s[qualifierAttr] = q }
            s["id"] = ids.make(owner)
            for m in g.members { s.append(XElement("resource_ref", ["id": m])) }
            return s
        }
    }

    mutating func parseColocation(_ t: inout Tokens) throws(CrmError) -> CrmDefinition {
        let id = try t.require("the id")
        try checkID(id, t)
        guard let sw = t.next(), let (attr, value) = CrmParser.score(sw) else {
            throw t.error("a score with a colon must follow the id (e.g. inf:)")
        }
        var e = XElement("rsc_colocation", ["id": id, attr: value])
        let list = try refList(&t, qualifiers: CrmParser.roles)
        guard list.items.count >= 2 else { throw t.error("a colocation needs at least two resources") }
        if !list.hasSets && list.items.count == 2 {
            e["rsc"] = list.items[0].rsc
            if let q = list.items[0].qualifier { e["rsc-role"] = q }
            e["with-rsc"] = list.items[1].rsc
            if let q = list.items[1].qualifier { e["with-rsc-role"] = q }
            for (n, v) in list.attributes { e[n] = v }
        } else {
            for (n, v) in list.attributes { e[n] = v }
            for s in resourceSets(list, owner: id, qualifierAttr: "role") { e.append(s) }
        }
        return CrmDefinition(kind: .colocation, element: e)
    }

    mutating func parseOrder(_ t: inout Tokens) throws(CrmError) -> CrmDefinition {
        let id = try t.require("the id")
        try checkID(id, t)
        var e = XElement("rsc_order", ["id": id])
        if let w = t.peek, w.hasSuffix(":"), !w.dropLast().contains(":") {
            t.i += 1
            let k = String(w.dropLast())
            if let kind = ["Mandatory", "Optional", "Serialize"].first(where: { $0.lowercased() == k.lowercased() }) {
                e["kind"] = kind
            } else if let (attr, value) = CrmParser.score(w) {
                guard attr == "score" else { throw t.error("\"\(w)\" is not a kind (Mandatory, Optional, Serialize) or a score") }
                e["kind"] = CIBValue.score(value) == 0 ? "Optional" : "Mandatory"
            }
        }
        let list = try refList(&t, qualifiers: CrmParser.actions)
        guard !list.items.isEmpty else { throw t.error("an order needs resources") }
        for (n, v) in list.attributes { e[n] = v }
        if !list.hasSets && list.items.count == 2 {
            e["first"] = list.items[0].rsc
            if let q = list.items[0].qualifier { e["first-action"] = q }
            e["then"] = list.items[1].rsc
            if let q = list.items[1].qualifier { e["then-action"] = q }
        } else {
            for s in resourceSets(list, owner: id, qualifierAttr: "action") { e.append(s) }
        }
        return CrmDefinition(kind: .order, element: e)
    }

    mutating func parseTicket(_ t: inout Tokens) throws(CrmError) -> CrmDefinition {
        let id = try t.require("the id")
        try checkID(id, t)
        guard let tw = t.next(), tw.hasSuffix(":"), tw.count > 1 else { throw t.error("the ticket with a colon must follow the id (e.g. ticketA:)") }
        var e = XElement("rsc_ticket", ["id": id, "ticket": String(tw.dropLast())])
        let list = try refList(&t, qualifiers: CrmParser.roles)
        guard !list.items.isEmpty else { throw t.error("a ticket needs a resource") }
        for (n, v) in list.attributes { e[n] = v }
        if !list.hasSets && list.items.count == 1 {
            e["rsc"] = list.items[0].rsc
            if let q = list.items[0].qualifier { e["rsc-role"] = q }
        } else {
            for s in resourceSets(list, owner: id, qualifierAttr: "role") { e.append(s) }
        }
        return CrmDefinition(kind: .rscTicket, element: e)
    }

    // MARK: the rest

    mutating func parseProperties(_ t: inout Tokens, kind: CrmDefinition.Kind) throws(CrmError) -> CrmDefinition {
        var setID: String?
        if let w = t.peek, w.hasSuffix(":"), !w.contains("=") {
            setID = String(w.dropLast())
            t.i += 1
        }
        var pairs = t.pairs()
        if let rest = t.peek { throw t.error("\"\(rest)\" is not a <name>=<value> pair") }
        if let k = pairs.firstIndex(where: { $0.0 == "$id" }) { setID = pairs[k].1; pairs.remove(at: k) }
        if pairs.isEmpty && setID == nil { throw t.error("nothing to set") }
        let id = setID ?? (kind == .property ? "cib-bootstrap-options" : (kind == .rscDefaults ? "rsc-options" : "op-options"))
        var set = XElement(kind == .property ? "cluster_property_set" : "meta_attributes", ["id": id])
        for (n, v) in pairs { set.append(XElement("nvpair", ["name": n, "value": v, "id": "\(id)-\(n)"])) }
        var d = CrmDefinition(kind: kind, element: set)
        // crmsh checks the names of the cluster's own option set against the daemons'
        // meta-data: a misspelt option would otherwise be kept and do nothing.
        if kind == .property && id == "cib-bootstrap-options" {
            for (n, _) in pairs where !CrmParser.clusterOptions.contains(n) {
                let near = CrmParser.closest(to: n, in: CrmParser.clusterOptions)
                d.warnings.append("\(id): unknown attribute '\(n)'" + (near.map { "; did you mean '\($0)'?" } ?? "; it is kept, but Pacemaker 2.1.5 has no such cluster option"))
            }
        }
        return d
    }

    /// The cluster options of Pacemaker 2.1.5 (the meta-data of its controller, scheduler and
    /// CIB manager, as crmsh reads them) and the ones the cluster writes itself.
    public static let clusterOptions: Set<String> = [
        "no-quorum-policy", "symmetric-cluster", "maintenance-mode", "start-failure-is-fatal", "enable-startup-probes",
        "shutdown-lock", "shutdown-lock-limit", "stonith-enabled", "stonith-action", "stonith-timeout", "have-watchdog",
        "concurrent-fencing", "startup-fencing", "priority-fencing-delay", "cluster-delay", "batch-limit", "migration-limit",
        "stop-all-resources", "stop-orphan-resources", "stop-orphan-actions", "remove-after-stop", "pe-error-series-max",
        "pe-warn-series-max", "pe-input-series-max", "node-health-strategy", "node-health-base", "node-health-green",
        "node-health-yellow", "node-health-red", "placement-strategy",
        "dc-version", "cluster-infrastructure", "cluster-name", "dc-deadtime", "cluster-recheck-interval", "load-threshold",
        "node-action-limit", "fence-reaction", "election-timeout", "shutdown-escalation", "join-integration-timeout",
        "join-finalization-timeout", "transition-delay", "stonith-watchdog-timeout", "stonith-max-attempts",
        "enable-acl", "cluster-ipc-limit", "last-lrm-refresh",
    ]

    /// The name in `names` nearest to `word` (at most 2 edits away, or a third of its length).
    public static func closest(to word: String, in names: some Sequence<String>) -> String? {
        let limit = max(2, word.count / 3)
        return names.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= limit }
            .min { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in 1...b.count {
                let current = row[j]
                row[j] = a[i - 1] == b[j - 1] ? previous : 1 + min(previous, row[j], row[j - 1])
                previous = current
            }
        }
        return row[b.count]
    }

    mutating func parseFencing(_ t: inout Tokens, nodes: [String]) throws(CrmError) -> CrmDefinition {
        var levels: [(String, [String])] = []
        var current: String?
        var plain: [String] = []
        while let w = t.next() {
            if (w.hasSuffix(":") && w.count > 1) || (w.hasPrefix("attr:") && w.contains("=")) {
                current = w.hasPrefix("attr:") && w.contains("=") && !w.hasSuffix(":") ? w : String(w.dropLast())
                levels.append((current!, []))
            } else if current != nil {
                levels[levels.count - 1].1.append(w)
            } else {
                plain.append(w)
            }
        }
        if !plain.isEmpty {
            if nodes.isEmpty { throw t.error("no nodes are configured; name the node: fencing_topology <node>: \(plain.joined(separator: " "))") }
            levels = nodes.map { ($0, plain) } + levels
        }
        if levels.isEmpty || levels.contains(where: { $0.1.isEmpty }) { throw t.error("a fencing level needs a device") }
        var e = XElement("fencing-topology")
        for (target, devices) in levels {
            for (k, d) in devices.enumerated() {
                var l = XElement("fencing-level")
                if target.hasPrefix("attr:"), let (n, v) = CrmParser.split(String(target.dropFirst(5))) {
                    l["target-attribute"] = n
                    l["target-value"] = v
                } else if target.hasPrefix("pattern:") {
                    l["target-pattern"] = String(target.dropFirst(8))
                } else {
                    l["target"] = target
                }
                l["index"] = String(k + 1)
                l["devices"] = d
                l["id"] = ids.make("fencing")
                e.append(l)
            }
        }
        return CrmDefinition(kind: .fencingTopology, element: e)
    }

    mutating func parseTag(_ t: inout Tokens) throws(CrmError) -> CrmDefinition {
        var id = try t.require("the id")
        if id.hasSuffix(":") { id.removeLast() }
        try checkID(id, t)
        var e = XElement("tag", ["id": id])
        while let w = t.next() {
            try checkID(w, t)
            e.append(XElement("obj_ref", ["id": w]))
        }
        if e.children.isEmpty { throw t.error("a tag needs at least one resource") }
        return CrmDefinition(kind: .tag, element: e)
    }

    mutating func parseNode(_ t: inout Tokens) throws(CrmError) -> CrmDefinition {
        var head = try t.require("the node name")
        var nodeID: String?
        if let (n, v) = CrmParser.split(head), n == "$id" {
            nodeID = v
            head = try t.require("the node name")
        }
        if head.hasSuffix(":") {
            nodeID = String(head.dropLast())
            head = try t.require("the node name")
        }
        let parts = head.split(separator: ":").map(String.init)
        guard let uname = parts.first, parts.count <= 2 else { throw t.error("\"\(head)\" is not a node name") }
        // crmsh's attribute order: an id given comes first, an id made from the name last.
        var e = nodeID.map { XElement("node", ["id": $0, "uname": uname]) } ?? XElement("node", ["uname": uname, "id": uname])
        if parts.count == 2 { e["type"] = parts[1] }
        let owner = uname
        while let w = t.next() {
            switch w {
            case "attributes": e.append(attributeSet("instance_attributes", owner: owner, pairs: t.pairs()))
            case "utilization": e.append(attributeSet("utilization", owner: owner, pairs: t.pairs()))
            default:
                if let (n, v) = CrmParser.split(w), n == "description" { e["description"] = v; continue }
                throw t.error("unknown keyword \"\(w)\"")
            }
        }
        return CrmDefinition(kind: .node, element: e)
    }
}
