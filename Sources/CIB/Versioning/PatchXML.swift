/// The XML form of a patchset (`<diff format="2">`), as `cibadmin --patch` reads it.
extension CIBPatch {
    /// The `<diff format="2">` element.
    public var xml: XElement {
        var diff = XElement("diff", ["format": "2"])
        diff["digest"] = digest
        var version = XElement("version")
        var s = XElement("source")
        source.write(into: &s)
        var t = XElement("target")
        target.write(into: &t)
        version.append(s)
        version.append(t)
        diff.append(version)
        for change in changes {
            switch change {
            case .create(let parent, let position, let node):
                diff.append(XElement("change", attributes: [XAttribute("operation", "create"), XAttribute("path", parent),
                                                            XAttribute("position", String(position))], children: [node]))
            case .delete(let path):
                diff.append(XElement("change", ["operation": "delete", "path": path]))
            case .deleteNode(let parent, let position):
                // A comment or text node has no path of its own: name its parent and position.
                diff.append(XElement("change", ["operation": "delete", "path": parent, "position": String(position), "node-type": "text"]))
            case .modify(let path, let set, let unset, let result):
                var list = XElement("change-list")
                for a in set { list.append(XElement("change-attr", ["name": a.name, "operation": "set", "value": a.value])) }
                for n in unset { list.append(XElement("change-attr", ["name": n, "operation": "unset"])) }
                var change = XElement("change", ["operation": "modify", "path": path], children: [list])
                if let result {
                    let name = CIBPatch.splitPath(path).last?.name ?? "element"
                    change.append(XElement("change-result", attributes: [], children: [.element(XElement(name, attributes: result))]))
                }
                diff.append(change)
            case .move(let path, let position):
                diff.append(XElement("change", ["operation": "move", "path": path, "position": String(position)]))
            }
        }
        return diff
    }

    /// Reads a `<diff format="2">` element.
    public init(xml: XElement) throws(CIBError) {
        guard xml.name == "diff" else {
            throw CIBError(.invalid, "a patch is a <diff format=\"2\"> element, not <\(xml.name)>")
        }
        guard xml["format"] == "2" else {
            throw CIBError(.invalid, "patch format '\(xml["format"] ?? "1")' is not supported; make the patch with format 2 (Pacemaker 1.1.12 and later)")
        }
        guard let version = xml.firstElement(named: "version"),
              let s = version.firstElement(named: "source"), let t = version.firstElement(named: "target") else {
            throw CIBError(.invalid, "the patch has no <version><source/><target/></version>; it cannot be checked against the CIB")
        }
        var changes: [Change] = []
        for c in xml.elements(named: "change") {
            guard let op = c["operation"], let path = c["path"] else {
                throw CIBError(.invalid, "a <change> of the patch lacks operation or path")
            }
            let position = c["position"].flatMap { Int($0) }
            switch op {
            case "create":
                guard let node = c.children.first else { throw CIBError(.invalid, "the create change at \(path) carries no XML") }
                changes.append(.create(parent: path, position: position ?? Int.max, node: node))
            case "delete":
                if let position, c["node-type"] != nil {
                    changes.append(.deleteNode(parent: path, position: position))
                } else {
                    changes.append(.delete(path: path))
                }
            case "modify":
                var set: [XAttribute] = []
                var unset: [String] = []
                for a in c.firstElement(named: "change-list")?.elements(named: "change-attr") ?? [] {
                    guard let name = a["name"] else { continue }
                    if a["operation"] == "unset" { unset.append(name) } else { set.append(XAttribute(name, a["value"] ?? "")) }
                }
                let result = c.firstElement(named: "change-result")?.elements.first?.attributes
                changes.append(.modify(path: path, set: set, unset: unset, result: result))
            case "move":
                guard let position else { throw CIBError(.invalid, "the move change at \(path) has no position") }
                changes.append(.move(path: path, position: position))
            default:
                throw CIBError(.invalid, "unknown patch operation '\(op)'; expected create, delete, modify or move")
            }
        }
        self.init(source: CIBVersion(attributesOf: s), target: CIBVersion(attributesOf: t), digest: xml["digest"], changes: changes)
    }
}
