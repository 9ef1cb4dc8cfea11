/// cibadmin's operations on a CIB value: query, create, modify, replace and delete, by
/// section or by XPath. Each mutating operation either applies completely or throws and leaves
/// the CIB untouched, and bumps the version as the cluster would (epoch for a configuration
/// change, num_updates for a status change).
extension CIB {
    /// The element of a section (the whole CIB when `section` is nil).
    public func query(section: CIBSection?) throws(CIBError) -> XElement {
        guard let section else { return root }
        guard let path = sectionPath(section), let e = root.element(at: path) else {
            throw CIBError(.notFound, "the CIB has no \(section.rawValue) section")
        }
        return e
    }

    /// The elements an XPath expression selects; throws notFound when there are none.
    public func query(xpath: String) throws(CIBError) -> [XPathMatch] {
        let matches: [XPathMatch]
        do { matches = try root.xpath(xpath) } catch { throw CIBError(.badRequest, error.description) }
        if matches.isEmpty { throw CIBError(.notFound, "no element matches the XPath expression \(xpath)") }
        return matches
    }

    /// The XPath-like path Pacemaker prints for an element (`--node-path`).
    public func nodePath(_ path: [Int]) -> String {
        var out = "/" + root.name
        var e = root
        for i in path {
            guard case .element(let child) = e.children[i] else { break }
            out += "/" + child.name
            if let id = child.id { out += "[@id='\(id)']" }
            e = child
        }
        return out
    }

    /// The section an element belongs in, judged by its tag (used when no scope is given).
    public static func defaultSection(for tag: String) -> CIBSection? {
        switch tag {
        case "primitive", "group", "clone", "master", "bundle", "template": .resources
        case "rsc_location", "rsc_colocation", "rsc_order", "rsc_ticket": .constraints
        case "node": .nodes
        case "cluster_property_set": .crmConfig
        case "node_state": .status
        case "fencing-level": .fencingTopology
        case "tag": .tags
        case "alert": .alerts
        case "acl_target", "acl_group", "acl_role", "acl_user": .acls
        default: CIBSection(rawValue: tag)
        }
    }

    private func resolveSection(_ section: CIBSection?, for xml: XElement) throws(CIBError) -> CIBSection {
        if let section { return section }
        if let s = CIB.defaultSection(for: xml.name) { return s }
        throw CIBError(.badRequest, "cannot tell which section <\(xml.name)> belongs in; name it with -o/--scope (one of \(CIBSection.names))")
    }

    /// Adds `xml` as a new child of the section. Fails if its id is already used.
    public mutating func create(_ xml: XElement, in section: CIBSection?) throws(CIBError) {
        let section = try resolveSection(section, for: xml)
        if xml.name == section.path.last {
            // Creating a section's own element updates that section.
            try modify(xml, in: section, allowCreate: true)
            return
        }
        if let id = xml.id, let existing = findByID(id, under: section == .status ? .status : .configuration) {
            throw CIBError(.exists, "an element with id '\(id)' already exists (a <\(existing.name)>); choose another id, or use --modify/--replace to change it")
        }
        var copy = self
        let path = copy.ensureSection(section)
        copy.root.modifyElement(at: path) { $0.append(xml) }
        copy.bumpVersion(for: section)
        self = copy
    }

    /// Merges `xml` into the element with the same tag and id in the section: attributes are
    /// set (with `value++` and `value+=N` incrementing numbers), children merged the same way
    /// and added when absent. With `allowCreate`, an element that does not exist is created.
    public mutating func modify(_ xml: XElement, in section: CIBSection?, allowCreate: Bool = false) throws(CIBError) {
        try editTarget(of: xml, in: section, ifMissing: allowCreate ? .append : .fail("create it first (or add --allow-create)")) {
            CIB.merge(xml, into: &$0)
        }
    }

    /// Replaces the element with the same tag and id in the section (or the section itself,
    /// when `xml` is the section's element).
    public mutating func replace(_ xml: XElement, in section: CIBSection?) throws(CIBError) {
        if xml.name == "cib" {
            let incoming = try CIB(xml)
            if incoming.version < version && xml["admin_epoch"] != nil {
                throw CIBError(.versionMismatch, "the replacement CIB is version \(incoming.version), older than the current \(version); raise its epoch or fetch the current CIB first")
            }
            self = incoming
            return
        }
        try editTarget(of: xml, in: section, ifMissing: .fail("use --create to add it")) { $0 = xml }
    }

    private enum MissingTarget {
        case append
        case fail(String)
    }

    /// Finds the element `xml` names in the section (its tag and id; the section itself when
    /// `xml` is the section's element), changes it with `body`, and bumps the version. All or
    /// nothing: on error the CIB is unchanged.
    private mutating func editTarget(of xml: XElement, in section: CIBSection?, ifMissing: MissingTarget,
                                     _ body: (inout XElement) -> Void) throws(CIBError) {
        let section = try resolveSection(section, for: xml)
        var copy = self
        let sectionPath = copy.ensureSection(section)
        if xml.name == section.path.last {
            copy.root.modifyElement(at: sectionPath, body)
        } else if let found = copy.findPath(tag: xml.name, id: xml.id, under: sectionPath) {
            copy.root.modifyElement(at: found, body)
        } else if case .fail(let hint) = ifMissing {
            throw CIBError(.notFound, "no <\(xml.name)\(xml.id.map { " id=\"\($0)\"" } ?? "")> in the \(section.rawValue) section; \(hint)")
        } else {
            copy.root.modifyElement(at: sectionPath) { $0.append(CIB.expandingIncrements(xml)) }
        }
        copy.bumpVersion(for: section)
        self = copy
    }

    /// Deletes the element with the same tag and id (and whatever other attributes `xml`
    /// gives, which must all match). Deleting something absent is not an error, as in
    /// Pacemaker; the return value says whether anything was deleted.
    @discardableResult
    public mutating func delete(_ xml: XElement, in section: CIBSection?) throws(CIBError) -> Bool {
        let section = try resolveSection(section, for: xml)
        guard let sectionPath = sectionPath(section) else { return false }
        var found: [Int]?
        root.element(at: sectionPath)!.walkWithPath { e, p in
            guard found == nil, !p.isEmpty, e.name == xml.name else { return }
            if xml.attributes.allSatisfy({ e[$0.name] == $0.value }) { found = sectionPath + p }
        }
        guard let found else { return false }
        root.removeNode(at: found)
        bumpVersion(for: section)
        return true
    }

    /// Applies `xml` to the elements an XPath expression selects.
    public enum XPathEdit: Sendable {
        /// Merge the given XML into each match (as `modify` does).
        case modify(XElement)
        /// Replace each match with the given XML.
        case replace(XElement)
        /// Add the given XML as a child of each match.
        case create(XElement)
        /// Delete the first match, or every match.
        case delete(all: Bool)
    }

    /// Edits by XPath; throws notFound when nothing matches.
    public mutating func edit(xpath: String, _ edit: XPathEdit) throws(CIBError) {
        let matches = try query(xpath: xpath)
        var copy = self
        var touchedStatus = false
        var touchedConfig = false
        // Later matches first, so that removing one does not shift the paths of the others.
        var targets = matches.reversed().map { $0 }
        if case .delete(let all) = edit, !all { targets = [matches[0]] }
        for m in targets {
            if copy.isStatusPath(m.path) || Self.isStatusRootEdit(m, edit) { touchedStatus = true } else { touchedConfig = true }
            switch edit {
            case .modify(let xml): copy.root.modifyElement(at: m.path) { CIB.merge(xml, into: &$0) }
            case .replace(let xml): copy.root.modifyElement(at: m.path) { $0 = xml }
            case .create(let xml): copy.root.modifyElement(at: m.path) { $0.append(xml) }
            case .delete:
                if let attr = m.attribute {
                    copy.root.modifyElement(at: m.path) { $0[attr] = nil }
                } else if m.path.isEmpty {
                    throw CIBError(.badRequest, "refusing to delete the whole CIB; select the elements inside it")
                } else {
                    copy.root.removeNode(at: m.path)
                }
            }
        }
        if touchedConfig { copy.bumpVersion(for: .configuration) } else if touchedStatus { copy.bumpVersion(for: .status) }
        self = copy
    }

    /// Bumps epoch (configuration) or num_updates (status).
    public mutating func bumpVersion(for section: CIBSection) {
        var v = version
        if section == .status {
            v.numUpdates += 1
        } else {
            v.epoch += 1
            v.numUpdates = 0
        }
        version = v
    }

    /// Attributes of `<cib>` that describe the cluster's state rather than its configuration:
    /// as in Pacemaker, changing them raises num_updates only, never the epoch (a partition's
    /// new DC writing dc-uuid must not make its stale copy win the next sync).
    public static let statusRootAttributes: Set<String> = [
        "dc-uuid", "have-quorum", "cib-last-written", "update-origin", "update-client", "update-user",
    ]

    /// Whether an XPath edit touches only status-like attributes of `<cib>` itself.
    static func isStatusRootEdit(_ m: XPathMatch, _ edit: XPathEdit) -> Bool {
        guard m.path.isEmpty else { return false }
        switch edit {
        case .modify(let xml):
            let hasChildElements = xml.children.contains { if case .element = $0 { return true } else { return false } }
            return xml.name == "cib" && !hasChildElements && !xml.attributes.isEmpty
                && xml.attributes.allSatisfy { statusRootAttributes.contains($0.name) }
        case .delete:
            return m.attribute.map { statusRootAttributes.contains($0) } ?? false
        case .replace, .create:
            return false
        }
    }

    func isStatusPath(_ path: [Int]) -> Bool {
        guard let first = path.first, case .element(let e) = root.children[first] else { return false }
        return e.name == "status"
    }

    /// The first element with the id under a top-level section.
    func findByID(_ id: String, under section: CIBSection) -> XElement? {
        guard let p = sectionPath(section), let top = root.element(at: p) else { return nil }
        var hit: XElement?
        top.walk { e in
            if hit == nil, e.id == id, !["resource_ref", "obj_ref", "role"].contains(e.name) { hit = e }
        }
        return hit
    }

    /// The path of the first element with this tag (and id, when given) under a path.
    func findPath(tag: String, id: String?, under base: [Int]) -> [Int]? {
        guard let top = root.element(at: base) else { return nil }
        var found: [Int]?
        top.walkWithPath { e, p in
            if found == nil, !p.isEmpty, e.name == tag, id == nil || e.id == id { found = base + p }
        }
        return found
    }

    /// Pacemaker's update merge: attributes of `update` are set on `target` (expanding
    /// `name++` and `name+=N`), and each child element is merged into the child with the same
    /// tag and id, or appended when there is none.
    static func merge(_ update: XElement, into target: inout XElement) {
        for a in update.attributes {
            target[a.name] = expandIncrement(a.value, attribute: a.name, current: target[a.name])
        }
        for case .element(let child) in update.children {
            if let i = target.children.firstIndex(where: {
                guard case .element(let e) = $0 else { return false }
                return e.name == child.name && e.id == child.id
            }), case .element(var existing) = target.children[i] {
                merge(child, into: &existing)
                target.children[i] = .element(existing)
            } else {
                // A new element: its `name++` values count from zero.
                target.append(expandingIncrements(child))
            }
        }
    }

    /// `element` with every `name++` / `name+=N` attribute value expanded against nothing.
    static func expandingIncrements(_ element: XElement) -> XElement {
        var e = element
        e.attributes = element.attributes.map { XAttribute($0.name, expandIncrement($0.value, attribute: $0.name, current: nil)) }
        e.children = element.children.map {
            if case .element(let child) = $0 { return .element(expandingIncrements(child)) }
            return $0
        }
        return e
    }

    /// `value="value++"` adds one, `value="value+=5"` adds five, to the current number.
    static func expandIncrement(_ value: String, attribute: String, current: String?) -> String {
        guard value.hasPrefix(attribute) else { return value }
        let rest = value.dropFirst(attribute.count)
        let base = current.flatMap { CIBValue.score($0) } ?? 0
        if rest == "++" { return String(min(CIBValue.infinity, base + 1)) }
        if rest.hasPrefix("+="), let n = CIBValue.score(String(rest.dropFirst(2))) {
            return String(max(-CIBValue.infinity, min(CIBValue.infinity, base + n)))
        }
        return value
    }
}
