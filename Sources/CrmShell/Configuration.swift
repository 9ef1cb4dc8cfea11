import CIB

/// The configuration edits of `crm configure`: adding a definition, deleting objects, erasing.
/// All work on a CIB value (the shell's shadow copy) and either succeed whole or throw.
public enum CrmConfig {
    /// The section a definition's element lives in.
    static func section(_ kind: CrmDefinition.Kind) -> CIBSection {
        switch kind {
        case .node: .nodes
        case .primitive, .rscTemplate, .group, .clone, .ms: .resources
        case .location, .colocation, .order, .rscTicket: .constraints
        case .property: .crmConfig
        case .rscDefaults: .rscDefaults
        case .opDefaults: .opDefaults
        case .fencingTopology: .fencingTopology
        case .tag: .tags
        }
    }

    /// crmsh's name for an element's kind, for messages.
    static func kindName(_ e: XElement) -> String {
        switch e.name {
        case "master": "ms"
        case "rsc_location": "location"
        case "rsc_colocation": "colocation"
        case "rsc_order": "order"
        case "cluster_property_set": "property"
        case "fencing-topology": "fencing_topology"
        default: e.name
        }
    }

    /// The path of the top-level object with this id (a primitive may sit in a group or clone).
    /// Node ids are apart: a remote node's id is its connection resource's id.
    static func find(_ id: String, in cib: CIB) -> [Int]? {
        find(id, in: cib, nodes: false) ?? find(id, in: cib, nodes: true)
    }

    static func find(_ id: String, in cib: CIB, nodes: Bool) -> [Int]? {
        guard let config = cib.sectionPath(.configuration), let top = cib.root.element(at: config) else { return nil }
        if id == "fencing_topology" || id == "fencing-topology" {
            return cib.sectionPath(.fencingTopology)
        }
        let objects: Set<String> = ["node", "primitive", "template", "group", "clone", "master", "bundle",
                                    "rsc_location", "rsc_colocation", "rsc_order", "rsc_ticket", "tag",
                                    "cluster_property_set", "meta_attributes"]
        var found: [Int]?
        top.walkWithPath { e, p in
            guard found == nil, e.id == id, objects.contains(e.name), (e.name == "node") == nodes else { return }
            // meta_attributes count only as the sets of rsc_defaults/op_defaults.
            if e.name == "meta_attributes" {
                guard p.count == 2, let parent = top.element(at: p.dropLast()),
                      parent.name == "rsc_defaults" || parent.name == "op_defaults" else { return }
            }
            found = config + p
        }
        return found
    }

    /// Adds a definition. With `replace`, an existing object with the same id is replaced
    /// (load update, edit); else an existing id is an error, as in crmsh.
    public static func add(_ d: CrmDefinition, to cib: inout CIB, replace: Bool = false) throws(CrmError) {
        var copy = cib
        let kind = d.kind
        switch kind {
        case .property, .rscDefaults, .opDefaults:
            let path = copy.ensureSection(section(kind))
            copy.root.modifyElement(at: path) { sec in
                if let i = sec.children.firstIndex(where: { $0.element?.name == d.element.name && $0.element?.id == d.element.id }),
                   case .element(var set) = sec.children[i] {
                    for pair in d.element.elements(named: "nvpair") {
                        if let k = set.children.firstIndex(where: { $0.element?.name == "nvpair" && $0.element?["name"] == pair["name"] }),
                           case .element(var existing) = set.children[k] {
                            existing["value"] = pair["value"]
                            set.children[k] = .element(existing)
                        } else {
                            set.append(pair)
                        }
                    }
                    sec.children[i] = .element(set)
                } else {
                    sec.append(d.element)
                }
            }
        case .fencingTopology:
            if let p = copy.sectionPath(.fencingTopology) {
                if !replace { throw CrmError("Cannot create fencing_topology: one is already defined; delete it first (delete fencing_topology) or use edit") }
                copy.root.removeNode(at: p)
            }
            let config = copy.sectionPath(.configuration)!
            copy.root.modifyElement(at: config) { $0.append(d.element) }
        default:
            let id = d.id
            if let existing = find(id, in: copy, nodes: kind == .node) {
                let old = copy.root.element(at: existing)!
                guard replace else {
                    throw CrmError("Cannot create \(kind == .ms ? "ms" : kind.rawValue) with ID '\(id)': Found existing \(kindName(old)) with same ID.")
                }
                if old.name == d.element.name && (kind == .primitive || kind == .rscTemplate || kind == .node) {
                    // In place: a primitive stays in its group or clone.
                    copy.root.modifyElement(at: existing) { $0 = d.element }
                    break
                }
                try delete([id], from: &copy, cascade: false)
            } else if kind == .node, let nodes = copy.sectionPath(.nodes),
                      let k = copy.root.element(at: nodes)!.children.firstIndex(where: { $0.element?.name == "node" && $0.element?["uname"] == d.element["uname"] }) {
                // A node the cluster already knows: its definition is updated in place, keeping its id.
                var updated = d.element
                updated["id"] = copy.root.element(at: nodes + [k])!.id
                copy.root.modifyElement(at: nodes + [k]) { $0 = updated }
                break
            }
            var element = d.element
            if !d.members.isEmpty {
                let resources = copy.ensureSection(.resources)
                for m in d.members {
                    guard let idx = copy.root.element(at: resources)!.children.firstIndex(where: {
                        guard let e = $0.element else { return false }
                        return e.id == m && ["primitive", "group", "clone", "master", "bundle"].contains(e.name)
                    }) else {
                        if find(m, in: copy) != nil {
                            throw CrmError("\(id): \(m) is already in a group or clone; take it out first")
                        }
                        throw CrmError("\(id) refers to missing object \(m)")
                    }
                    let child = copy.root.element(at: resources + [idx])!
                    if kind == .group && child.name != "primitive" {
                        throw CrmError("\(id): a group holds primitives only, and \(m) is a \(kindName(child))")
                    }
                    copy.root.removeNode(at: resources + [idx])
                    element.append(child)
                }
                // The sets come first in Pacemaker's layout, then the members.
                let sets = element.elements.filter { $0.name != "primitive" && $0.id.map({ d.members.contains($0) }) != true }
                let members = element.elements.filter { $0.id.map({ d.members.contains($0) }) == true }
                element.children = (sets + members).map { .element($0) }
            }
            let path = copy.ensureSection(section(kind))
            copy.root.modifyElement(at: path) { $0.append(element) }
        }
        cib = copy
    }

    /// Deletes objects by id. Deleting a primitive takes it out of its group (and removes the
    /// group when it empties) and out of constraints and tags; deleting a group or clone keeps
    /// its members, as crmsh does.
    public static func delete(_ ids: [String], from cib: inout CIB, cascade: Bool = true) throws(CrmError) {
        var copy = cib
        for id in ids {
            guard let path = find(id, in: copy) else { throw CrmError("object \(id) does not exist") }
            let e = copy.root.element(at: path)!
            let resourceKinds = ["primitive", "group", "clone", "master", "bundle", "template"]
            if resourceKinds.contains(e.name) && e.name != "primitive" && e.name != "template" {
                // Members go back to the top level, where the container was.
                let members = e.elements.filter { resourceKinds.contains($0.name) }.map { XNode.element($0) }
                copy.root.modifyElement(at: path.dropLast()) { parent in
                    parent.children.replaceSubrange(path.last!...path.last!, with: members)
                }
            } else {
                copy.root.removeNode(at: path)
            }
            if resourceKinds.contains(e.name) {
                if cascade { removeReferences(to: id, in: &copy) }
                removeEmptyContainers(&copy)
            }
        }
        cib = copy
    }

    /// Takes a removed resource out of constraints and tags.
    static func removeReferences(to id: String, in cib: inout CIB) {
        if let c = cib.sectionPath(.constraints) {
            cib.root.modifyElement(at: c) { constraints in
                constraints.removeElements { e in
                    ["rsc", "with-rsc", "first", "then"].contains { e[$0] == id }
                }
                constraints.updateElements { e in
                    e.updateElements { set in
                        if set.name == "resource_set" { set.removeElements { $0.name == "resource_ref" && $0.id == id } }
                    }
                    e.removeElements { $0.name == "resource_set" && $0.elements(named: "resource_ref").isEmpty }
                }
                constraints.removeElements { e in
                    e["rsc"] == nil && e["first"] == nil && e["rsc-pattern"] == nil && e.elements(named: "resource_set").isEmpty
                }
            }
        }
        if let t = cib.sectionPath(.tags) {
            cib.root.modifyElement(at: t) { tags in
                tags.updateElements { $0.removeElements { $0.name == "obj_ref" && $0.id == id } }
                tags.removeElements { $0.name == "tag" && $0.elements(named: "obj_ref").isEmpty }
            }
        }
    }

    static func removeEmptyContainers(_ cib: inout CIB) {
        guard let r = cib.sectionPath(.resources) else { return }
        let kinds = ["primitive", "group", "clone", "master", "bundle"]
        var changed = true
        while changed {
            changed = false
            cib.root.modifyElement(at: r) { resources in
                func prune(_ e: inout XElement) {
                    e.updateElements { prune(&$0) }
                    let before = e.children.count
                    e.removeElements { c in
                        ["group", "clone", "master"].contains(c.name) && !c.elements.contains { kinds.contains($0.name) }
                    }
                    if e.children.count != before { changed = true }
                }
                prune(&resources)
            }
        }
    }

    /// Removes every object but the nodes (and the nodes too with `nodes`), as `erase` does.
    public static func erase(_ cib: inout CIB, nodes: Bool = false) {
        guard let config = cib.sectionPath(.configuration) else { return }
        cib.root.modifyElement(at: config) { c in
            c.updateElements { s in
                if ["crm_config", "resources", "constraints"].contains(s.name) || (nodes && s.name == "nodes") {
                    s.children = []
                }
            }
            c.removeElements { ["rsc_defaults", "op_defaults", "tags", "fencing-topology", "alerts"].contains($0.name) }
        }
    }

    /// The node names of the configuration, for fencing_topology without node names.
    public static func nodeNames(_ cib: CIB) -> [String] {
        guard let p = cib.sectionPath(.nodes) else { return [] }
        return cib.root.element(at: p)!.elements(named: "node").compactMap { $0["uname"] ?? $0.id }
    }

    /// Parses and adds a definition in one step, re-parsing when an existing object is replaced
    /// so that the new one reuses the old one's ids.
    @discardableResult
    public static func define(_ words: [String], in cib: inout CIB, replace: Bool = false) throws(CrmError) -> CrmDefinition {
        var parser = CrmParser(ids: IDAllocator(cib: cib))
        var d = try parser.parse(words, nodes: nodeNames(cib))
        if replace, d.kind != .property, d.kind != .rscDefaults, d.kind != .opDefaults {
            var without = cib
            if find(d.kind == .fencingTopology ? "fencing_topology" : d.id, in: without, nodes: d.kind == .node) != nil, d.kind != .node {
                try delete([d.kind == .fencingTopology ? "fencing_topology" : d.id], from: &without, cascade: false)
                var again = CrmParser(ids: IDAllocator(cib: without))
                d = try again.parse(words, nodes: nodeNames(cib))
            }
        }
        try add(d, to: &cib, replace: replace)
        return d
    }

    /// An object given as its XML (`xml <bundle ...>...</bundle>`), for what has no crmsh
    /// syntax here: it replaces the object with the same id, or is added to its section.
    public static func addXML(_ text: String, to cib: inout CIB) throws(CrmError) {
        let e: XElement
        do { e = try XElement.parse(Array(text.utf8), source: "xml") } catch { throw CrmError("xml: \(error)") }
        let section: CIBSection
        switch e.name {
        case "primitive", "template", "group", "clone", "master", "bundle": section = .resources
        case "rsc_location", "rsc_colocation", "rsc_order", "rsc_ticket": section = .constraints
        case "alert": section = .alerts
        case "cluster_property_set": section = .crmConfig
        case "node": section = .nodes
        case "tag": section = .tags
        default: throw CrmError("xml: <\(e.name)> is not an object crm can add; use cibadmin")
        }
        guard let id = e.id else { throw CrmError("xml: <\(e.name)> needs an id") }
        var copy = cib
        if e.name != "alert", let p = find(id, in: copy, nodes: e.name == "node") {
            copy.root.modifyElement(at: p) { $0 = e }
        } else if e.name == "alert", let p = copy.sectionPath(.alerts),
                  let k = copy.root.element(at: p)!.children.firstIndex(where: { $0.element?.name == "alert" && $0.element?.id == id }) {
            copy.root.modifyElement(at: p + [k]) { $0 = e }
        } else {
            let p = copy.ensureSection(section)
            copy.root.modifyElement(at: p) { $0.append(e) }
        }
        cib = copy
    }

    /// Applies a whole crmsh configuration text (load, edit): every definition in order.
    /// With `replace` the configuration is erased first (nodes are kept unless redefined).
    public static func load(_ text: String, into cib: inout CIB, replace: Bool) throws(CrmError) {
        var copy = cib
        if replace { erase(&copy) }
        for (n, line) in CrmLexer.logicalLines(text).enumerated() {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.hasPrefix("xml ") || trimmed.hasPrefix("xml\t") {
                do {
                    try addXML(String(trimmed.dropFirst(4)), to: &copy)
                } catch {
                    throw CrmError("line \(n + 1): \(error.message)")
                }
                continue
            }
            let words = try CrmLexer.words(line)
            guard !words.isEmpty else { continue }
            do {
                try define(words, in: &copy, replace: true)
            } catch {
                throw CrmError("line \(n + 1): \(error.message)")
            }
        }
        cib = copy
    }

    /// The objects of a text in crm syntax, each as (kind and id, its logical line), in order.
    static func objects(_ text: String) throws(CrmError) -> [(key: String, id: String, line: String)] {
        var out: [(key: String, id: String, line: String)] = []
        for line in CrmLexer.logicalLines(text) {
            let w = try CrmLexer.words(line)
            guard w.count > 1 else { continue }
            let id = w[1].hasSuffix(":") ? String(w[1].dropLast()) : w[1]
            out.append((w[0] + " " + id, id, line))
        }
        return out
    }

    /// What `edit` does with the edited text, as crmsh does: only the objects whose text
    /// changed are redefined (a primitive in place, so it stays in its group), new ones are
    /// added, and those taken out of the text are deleted; the others stay as and where they
    /// are.
    public static func applyEdit(before: String, after: String, to cib: inout CIB) throws(CrmError) {
        let old = try objects(before)
        let new = try objects(after)
        var copy = cib
        let oldLines = Dictionary(old.map { ($0.key, $0.line) }, uniquingKeysWith: { a, _ in a })
        let newKeys = Set(new.map(\.key))
        for o in old where !newKeys.contains(o.key) {
            if o.key.hasPrefix("node ") {
                if let p = find(o.id, in: copy, nodes: true) { copy.root.removeNode(at: p) }
            } else if find(o.id, in: copy) != nil {
                try delete([o.id], from: &copy)
            }
        }
        var changed: [String] = []
        for n in new where oldLines[n.key] != n.line {
            let kind = n.key.split(separator: " ").first.map(String.init) ?? ""
            // A set of properties or defaults is written whole: a name taken out goes.
            if oldLines[n.key] != nil, ["property", "rsc_defaults", "op_defaults"].contains(kind), let p = find(n.id, in: copy) {
                copy.root.removeNode(at: p)
            }
            changed.append(n.line)
        }
        if !changed.isEmpty { try load(changed.joined(separator: "\n"), into: &copy, replace: false) }
        cib = copy
    }
}
