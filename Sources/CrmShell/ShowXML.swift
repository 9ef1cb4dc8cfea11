import CIB

/// `crm configure show xml [<id>...]`: the configuration as crmsh prints it. crmsh does not
/// print the CIB as stored: it rebuilds a document from its objects (the top-level resource
/// for a resource in a group or clone), taken kind by kind (nodes, templates, primitives,
/// bundles, groups, ms, clones, tags, constraints, tickets and fencing, properties, defaults,
/// ACLs, alerts) and in document order within a kind, under a fresh `<configuration>` that
/// always starts with crm_config, nodes, resources and constraints. Attributes at their
/// defaults are left out, the members of a group or clone come after its attribute sets, and
/// values of `passw*` parameters print as ******.
extension CrmShow {
    /// crmsh's processing order of the object kinds (its `_sort_xml_order`).
    static let xmlOrder: [String: Int] = [
        "node": 0, "template": 1, "primitive": 2, "bundle": 3, "group": 4, "master": 5, "clone": 6,
        "tag": 8, "rsc_location": 9, "rsc_colocation": 9, "rsc_order": 9, "rsc_ticket": 10, "fencing-topology": 10,
        "cluster_property_set": 11, "rsc_defaults": 12, "op_defaults": 13,
        "acl_role": 14, "acl_target": 15, "acl_group": 15, "acl_user": 15, "alert": 16,
    ]

    /// Where each kind of object goes in the configuration.
    static let xmlSection: [String: String] = [
        "node": "nodes", "template": "resources", "primitive": "resources", "bundle": "resources", "group": "resources",
        "master": "resources", "clone": "resources", "tag": "tags", "rsc_location": "constraints",
        "rsc_colocation": "constraints", "rsc_order": "constraints", "rsc_ticket": "constraints",
        "fencing-topology": "configuration", "cluster_property_set": "crm_config", "rsc_defaults": "rsc_defaults",
        "op_defaults": "op_defaults", "acl_role": "acls", "acl_target": "acls", "acl_group": "acls", "acl_user": "acls",
        "alert": "alerts",
    ]

    /// crmsh's word for an element kind (`type:<kind>` selects by it).
    static let cliKind: [String: String] = [
        "node": "node", "template": "rsc_template", "primitive": "primitive", "bundle": "bundle", "group": "group",
        "master": "ms", "clone": "clone", "tag": "tag", "rsc_location": "location", "rsc_colocation": "colocation",
        "rsc_order": "order", "rsc_ticket": "rsc_ticket", "fencing-topology": "fencing_topology",
        "cluster_property_set": "property", "rsc_defaults": "rsc_defaults", "op_defaults": "op_defaults",
        "acl_role": "role", "acl_target": "acl_target", "acl_group": "acl_group", "acl_user": "user", "alert": "alert",
    ]

    struct XMLObject {
        var kind: String      // the element's name (rsc_defaults/op_defaults for their sets)
        var element: XElement
        var path: [Int]       // under <configuration>
        var top: [Int]        // the top-level object it belongs to
    }

    /// The objects of the configuration in crmsh's processing order.
    static func xmlObjects(_ config: XElement) -> [XMLObject] {
        var found: [XMLObject] = []
        let containers: Set<String> = ["group", "clone", "master", "bundle"]
        config.walkWithPath { e, p in
            guard !p.isEmpty else { return }
            var kind = e.name
            if e.name == "meta_attributes", p.count == 2, let parent = config.element(at: Array(p.dropLast())),
               parent.name == "rsc_defaults" || parent.name == "op_defaults" {
                kind = parent.name
            } else if xmlOrder[e.name] == nil || e.name == "rsc_defaults" || e.name == "op_defaults" {
                return
            }
            var top = p
            while top.count > 1, let parent = config.element(at: Array(top.dropLast())), containers.contains(parent.name) {
                top.removeLast()
            }
            found.append(XMLObject(kind: kind, element: e, path: p, top: top))
        }
        return found.enumerated().sorted { a, b in
            (xmlOrder[a.element.kind] ?? 1000, a.offset) < (xmlOrder[b.element.kind] ?? 1000, b.offset)
        }.map(\.element)
    }

    /// An object as crmsh keeps it: defaults dropped, members after the sets, text removed,
    /// passwords obscured.
    static func sanitized(_ e: XElement, obscure: Bool) -> XElement {
        var out = e
        let defaults: [String: [(String, String)]] = [
            "node": [("type", "normal")],
            "resource_set": [("sequential", "true"), ("require-all", "true")],
            "rule": [("boolean-op", "and")],
            "expression": [("type", "string")],
        ]
        for (a, v) in defaults[out.name] ?? [] where out[a] == v { out[a] = nil }
        if obscure, out.name == "nvpair", let n = out["name"], out["value"] != nil, n.hasPrefix("passw") { out["value"] = "******" }
        var kept: [XNode] = []
        for c in out.children {
            switch c {
            case .element(let child): kept.append(.element(sanitized(child, obscure: obscure)))
            case .comment: kept.append(c)
            case .text: break
            }
        }
        if ["group", "clone", "master", "bundle"].contains(out.name) {
            let members = kept.filter { ["group", "primitive"].contains($0.element?.name ?? "") }
            kept = kept.filter { !["group", "primitive"].contains($0.element?.name ?? "") } + members
        }
        out.children = kept
        return out
    }

    /// The configuration as crmsh holds it once read: defaults dropped (node type normal, sets
    /// sequential and require-all true, rules and, expressions of type string), the members of
    /// a group or clone after its sets, no text between elements. What crmsh commits is this.
    public static func sanitize(_ cib: inout CIB) {
        guard let p = cib.sectionPath(.configuration) else { return }
        cib.root.modifyElement(at: p) { config in
            config = sanitized(config, obscure: false)
        }
    }

    /// The text `show xml` prints (without the final newline of the print), and the first id
    /// that names no object: then, as in crmsh, the document holds no object at all.
    public static func xmlDocument(_ cib: CIB, only: [String] = [], obscure: Bool = true) -> (text: String, missing: String?) {
        let config = cib.root.firstElement(named: "configuration") ?? XElement("configuration")
        let all = xmlObjects(config)
        var chosen: [XMLObject] = []
        var missing: String?
        if only.isEmpty {
            chosen = all
        } else {
            for spec in only {
                let matching: [XMLObject]
                if spec.hasPrefix("type:") {
                    let kind = String(spec.dropFirst(5))
                    matching = all.filter { cliKind[$0.kind] == kind || (kind == "master" && $0.kind == "master") }
                } else {
                    matching = all.filter { ($0.kind == "fencing-topology" ? "fencing_topology" : $0.element.id) == spec }
                }
                if matching.isEmpty && !spec.hasPrefix("type:") { missing = spec; chosen = []; break }
                for m in matching where !chosen.contains(where: { $0.path == m.path }) { chosen.append(m) }
            }
        }
        var sections: [XElement] = ["crm_config", "nodes", "resources", "constraints"].map { XElement($0) }
        var seen: [[Int]] = []
        for o in chosen where !seen.contains(o.top) {
            seen.append(o.top)
            guard let top = config.element(at: o.top) else { continue }
            let kind = o.top == o.path ? o.kind : top.name
            let element = sanitized(top, obscure: obscure)
            let section = xmlSection[kind] ?? "configuration"
            if section == "configuration" {
                sections.append(element)
            } else if let i = sections.firstIndex(where: { $0.name == section }) {
                sections[i].append(element)
            } else {
                sections.append(XElement(section, children: [.element(element)]))
            }
        }
        var root = XElement("cib", attributes: cib.root.attributes)
        root.append(XElement("configuration", children: sections.map { .element($0) }))
        return ("<?xml version=\"1.0\" ?>\n" + root.xmlString(), missing)
    }
}
