/// Name/value attributes as crm_attribute, crm_standby and crm_failcount read and write them:
/// cluster options, resource and operation defaults, a node's permanent attributes, and its
/// transient ones in the status section. New sets and pairs get Pacemaker's ids.
public enum CIBAttributeScope: String, Sendable, CaseIterable {
    case crmConfig = "crm_config"
    case rscDefaults = "rsc_defaults"
    case opDefaults = "op_defaults"
    /// A node's permanent attributes (`<node><instance_attributes>`).
    case nodes
    /// A node's transient attributes (`<node_state><transient_attributes>`), gone at reboot.
    case status
}

public struct AttributeValue: Sendable, Equatable {
    public var scope: CIBAttributeScope
    public var id: String
    public var name: String
    public var value: String

    public init(scope: CIBAttributeScope, id: String, name: String, value: String) {
        self.scope = scope
        self.id = id
        self.name = name
        self.value = value
    }
}

extension CIB {
    /// The value of an attribute, or nil. For nodes and status, `node` names the node.
    public func attribute(_ name: String, scope: CIBAttributeScope, node: String? = nil) throws(CIBError) -> AttributeValue? {
        try sets(scope, node: node).lazy.flatMap { $0.elements(named: "nvpair") }
            .first { $0["name"] == name }
            .map { AttributeValue(scope: scope, id: $0.id ?? "", name: name, value: $0["value"] ?? "") }
    }

    /// Every attribute of the scope whose name starts with a prefix (failcounts).
    public func attributes(prefix: String, scope: CIBAttributeScope, node: String? = nil) throws(CIBError) -> [AttributeValue] {
        try sets(scope, node: node).flatMap { $0.elements(named: "nvpair") }
            .filter { ($0["name"] ?? "").hasPrefix(prefix) }
            .map { AttributeValue(scope: scope, id: $0.id ?? "", name: $0["name"] ?? "", value: $0["value"] ?? "") }
    }

    /// Sets an attribute, creating its set (and the section, or the node's transient
    /// attributes) as needed, and bumps the version.
    public mutating func setAttribute(_ name: String, to value: String, scope: CIBAttributeScope, node: String? = nil) throws(CIBError) {
        switch scope {
        case .crmConfig: _ = ensureSection(.crmConfig)
        case .rscDefaults: _ = ensureSection(.rscDefaults)
        case .opDefaults: _ = ensureSection(.opDefaults)
        case .nodes: break
        case .status: try ensureTransientAttributes(node)
        }
        let (path, setTag, setID) = try location(scope, node: node)
        root.modifyElement(at: path) { owner in
            // As Pacemaker: the set that has the attribute already, else the set with the
            // default id (made when missing), never another set of the owner.
            let sets = owner.elements(named: setTag)
            var set = sets.first { $0.elements(named: "nvpair").contains { $0["name"] == name } }
                ?? sets.first { $0.id == setID } ?? XElement(setTag, ["id": setID])
            var pairs = set.elements(named: "nvpair")
            if let k = pairs.firstIndex(where: { $0["name"] == name }) {
                pairs[k]["value"] = value
            } else {
                pairs.append(XElement("nvpair", ["id": "\(set.id ?? setID)-\(name)", "name": name, "value": value]))
            }
            set.removeElements { $0.name == "nvpair" }
            for p in pairs { set.append(p) }
            if let i = owner.children.firstIndex(where: { if case .element(let e) = $0 { return e.name == setTag && e.id == set.id } else { return false } }) {
                owner.children[i] = .element(set)
            } else {
                owner.append(set)
            }
        }
        bumpVersion(for: scope == .status ? .status : .configuration)
    }

    /// Deletes an attribute; returns its id, or nil when there was none.
    @discardableResult
    public mutating func deleteAttribute(_ name: String, scope: CIBAttributeScope, node: String? = nil) throws(CIBError) -> String? {
        guard let existing = try attribute(name, scope: scope, node: node) else { return nil }
        let (path, setTag, _) = try location(scope, node: node)
        root.modifyElement(at: path) { owner in
            owner.children = owner.children.map { child in
                guard case .element(var set) = child, set.name == setTag else { return child }
                set.removeElements { $0.name == "nvpair" && $0["name"] == name }
                return .element(set)
            }
        }
        bumpVersion(for: scope == .status ? .status : .configuration)
        return existing.id
    }

    private func sets(_ scope: CIBAttributeScope, node: String?) throws(CIBError) -> [XElement] {
        if case .nodes = scope, node == nil { throw CIBError(.badRequest, "a node attribute needs a node (--node NAME)") }
        guard let (path, setTag, _) = try? location(scope, node: node), let owner = root.element(at: path) else { return [] }
        return owner.elements(named: setTag)
    }

    private func nodeStateIndex(_ node: String) -> ([Int], Int)? {
        guard let statusPath = sectionPath(.status), let status = root.element(at: statusPath) else { return nil }
        guard let k = status.children.firstIndex(where: {
            if case .element(let e) = $0 { return e.name == "node_state" && (e["uname"] == node || e.id == node) } else { return false }
        }) else { return nil }
        return (statusPath, k)
    }

    private mutating func ensureTransientAttributes(_ node: String?) throws(CIBError) {
        guard let node else { throw CIBError(.badRequest, "a transient attribute needs a node (--node NAME)") }
        guard let (statusPath, k) = nodeStateIndex(node), case .element(let state) = root.element(at: statusPath)!.children[k] else {
            throw CIBError(.notFound, "node \(node) has no state in the status section (is it up?)")
        }
        if state.firstElement(named: "transient_attributes") == nil {
            root.modifyElement(at: statusPath + [k]) { $0.append(XElement("transient_attributes", ["id": state.id ?? node])) }
        }
    }

    /// Where a scope's sets live: the path of their owner, the set's tag, and the id a new
    /// set gets.
    private func location(_ scope: CIBAttributeScope, node: String?) throws(CIBError) -> ([Int], String, String) {
        switch scope {
        case .crmConfig, .rscDefaults, .opDefaults:
            let section: CIBSection = scope == .crmConfig ? .crmConfig : (scope == .rscDefaults ? .rscDefaults : .opDefaults)
            guard let path = sectionPath(section) else { throw CIBError(.notFound, "the CIB has no \(scope.rawValue) section") }
            return (path, scope == .crmConfig ? "cluster_property_set" : "meta_attributes",
                    scope == .crmConfig ? "cib-bootstrap-options" : "\(scope.rawValue)-options")
        case .nodes:
            guard let node else { throw CIBError(.badRequest, "a node attribute needs a node (--node NAME)") }
            guard let nodesPath = sectionPath(.nodes), let nodes = root.element(at: nodesPath),
                  let k = nodes.children.firstIndex(where: { if case .element(let e) = $0 { return e.name == "node" && (e["uname"] == node || e.id == node) } else { return false } }),
                  case .element(let n) = nodes.children[k] else {
                throw CIBError(.notFound, "no node named \(node) in the configuration's nodes section")
            }
            return (nodesPath + [k], "instance_attributes", "nodes-\(n.id ?? node)")
        case .status:
            guard let node else { throw CIBError(.badRequest, "a transient attribute needs a node (--node NAME)") }
            guard let (statusPath, k) = nodeStateIndex(node), case .element(let state) = root.element(at: statusPath)!.children[k],
                  let t = state.children.firstIndex(where: { if case .element(let e) = $0 { return e.name == "transient_attributes" } else { return false } }) else {
                throw CIBError(.notFound, "node \(node) has no transient attributes")
            }
            return (statusPath + [k, t], "instance_attributes", "status-\(state.id ?? node)")
        }
    }
}

/// Which attributes a command means, as crm_attribute narrows them: by name, by the
/// nvpair's id (`--id`), by the set's id (`--set-name`), by a regular expression on the name
/// (`--pattern`), and in a node's utilization rather than its attributes (`--utilization`).
public struct AttributeSelector: Sendable {
    public var name: String?
    public var id: String?
    public var set: String?
    public var pattern: String?
    public var utilization: Bool

    public init(name: String? = nil, id: String? = nil, set: String? = nil, pattern: String? = nil, utilization: Bool = false) {
        self.name = name
        self.id = id
        self.set = set
        self.pattern = pattern
        self.utilization = utilization
    }
}

extension CIB {
    /// Pacemaker's ids for new pairs: `:` and `#` become `.`.
    static func sanitizedID(_ s: String) -> String {
        String(s.map { $0 == ":" || $0 == "#" ? "." : $0 })
    }

    /// The set tag for a scope: utilization when asked, else the scope's own.
    private func setTag(_ scope: CIBAttributeScope, _ sel: AttributeSelector) -> String {
        switch scope {
        case .crmConfig: return "cluster_property_set"
        case .rscDefaults, .opDefaults: return "meta_attributes"
        case .nodes, .status: return sel.utilization ? "utilization" : "instance_attributes"
        }
    }

    /// The sets the selector looks in. A node's transient attributes are searched in every
    /// set under transient_attributes unless utilization is asked for, as Pacemaker does.
    private func selectedSets(_ scope: CIBAttributeScope, node: String?, _ sel: AttributeSelector) -> [XElement] {
        guard let (path, _, _) = try? location(scope, node: node), let owner = root.element(at: path) else { return [] }
        let tag = setTag(scope, sel)
        return owner.children.compactMap { child -> XElement? in
            guard case .element(let e) = child else { return nil }
            let tagMatches = e.name == tag || (scope == .status && !sel.utilization)
            guard tagMatches, sel.set == nil || e.id == sel.set else { return nil }
            return e
        }
    }

    /// Every attribute the selector matches, in document order.
    public func attributes(_ sel: AttributeSelector, scope: CIBAttributeScope, node: String? = nil) throws(CIBError) -> [AttributeValue] {
        if scope == .nodes || scope == .status, node == nil { throw CIBError(.badRequest, "a node attribute needs a node (--node NAME)") }
        var regex: Regex<AnyRegexOutput>?
        if let p = sel.pattern {
            do { regex = try Regex(p) } catch { throw CIBError(.badRequest, "--pattern \(p) is not a regular expression") }
        }
        return selectedSets(scope, node: node, sel).flatMap { $0.elements(named: "nvpair") }.filter { e in
            let name = e["name"] ?? ""
            if let n = sel.name, n != name { return false }
            if let i = sel.id, i != e.id { return false }
            if let regex, (try? regex.firstMatch(in: name)) == nil { return false }
            return true
        }.map { AttributeValue(scope: scope, id: $0.id ?? "", name: $0["name"] ?? "", value: $0["value"] ?? "") }
    }

    /// Sets the attribute the selector names (by name, with --id and --set-name narrowing
    /// where it goes), creating the set as Pacemaker would.
    public mutating func setAttribute(_ sel: AttributeSelector, to value: String, scope: CIBAttributeScope, node: String? = nil) throws(CIBError) {
        guard let name = sel.name else { throw CIBError(.badRequest, "an update needs the attribute's name (--name NAME)") }
        switch scope {
        case .crmConfig: _ = ensureSection(.crmConfig)
        case .rscDefaults: _ = ensureSection(.rscDefaults)
        case .opDefaults: _ = ensureSection(.opDefaults)
        case .nodes: break
        case .status: try ensureTransientAttributes(node)
        }
        let existing = try attributes(AttributeSelector(name: name, id: sel.id, set: sel.set, utilization: sel.utilization), scope: scope, node: node).first
        let (path, _, defaultSet) = try location(scope, node: node)
        let tag = setTag(scope, sel)
        let newSetID = sel.set ?? (sel.utilization ? defaultSet + "-utilization" : defaultSet)
        root.modifyElement(at: path) { owner in
            if let existing {
                owner.children = owner.children.map { child in
                    guard case .element(var set) = child, set.elements(named: "nvpair").contains(where: { $0.id == existing.id }) else { return child }
                    set.children = set.children.map { c in
                        guard case .element(var p) = c, p.name == "nvpair", p.id == existing.id else { return c }
                        p["value"] = value
                        return .element(p)
                    }
                    return .element(set)
                }
                return
            }
            // As Pacemaker: a new attribute goes into the set of the given id, else of the
            // default id (cib-bootstrap-options, nodes-ID, status-ID), created when missing;
            // never into another set that happens to be there.
            let index = owner.children.firstIndex { child in
                guard case .element(let e) = child, e.name == tag else { return false }
                return e.id == newSetID
            }
            var set: XElement
            if let index, case .element(let e) = owner.children[index] { set = e } else { set = XElement(tag, ["id": newSetID]) }
            set.append(XElement("nvpair", ["id": sel.id ?? CIB.sanitizedID("\(set.id ?? newSetID)-\(name)"), "name": name, "value": value]))
            if let index { owner.children[index] = .element(set) } else { owner.append(set) }
        }
        bumpVersion(for: scope == .status ? .status : .configuration)
    }

    /// Deletes the attributes with these ids from the scope's sets.
    public mutating func deleteAttributes(ids: [String], scope: CIBAttributeScope, node: String? = nil) throws(CIBError) {
        guard !ids.isEmpty else { return }
        let (path, _, _) = try location(scope, node: node)
        let doomed = Set(ids)
        root.modifyElement(at: path) { owner in
            owner.children = owner.children.map { child in
                guard case .element(var set) = child else { return child }
                set.removeElements { $0.name == "nvpair" && doomed.contains($0.id ?? "") }
                return .element(set)
            }
        }
        bumpVersion(for: scope == .status ? .status : .configuration)
    }
}
