/// A configured resource: a primitive, a group, a clone (the old `master` element is a
/// promotable clone), or a bundle.
public enum Resource: Hashable, Sendable {
    case primitive(Primitive)
    case group(Group)
    case clone(Clone)
    case bundle(Bundle)

    /// Reads a resource element; nil for elements that are not resources (templates, comments).
    public init?(_ element: XElement) {
        switch element.name {
        case "primitive": self = .primitive(Primitive(element))
        case "group": self = .group(Group(element))
        case "clone", "master": self = .clone(Clone(element))
        case "bundle": self = .bundle(Bundle(element))
        default: return nil
        }
    }

    /// The element behind the resource.
    public var element: XElement {
        switch self {
        case .primitive(let r): r.element
        case .group(let r): r.element
        case .clone(let r): r.element
        case .bundle(let r): r.element
        }
    }

    public var id: String { element["id"] ?? "" }

    /// The resources directly inside this one.
    public var children: [Resource] {
        switch self {
        case .primitive: []
        case .group(let g): g.members.map(Resource.primitive)
        case .clone(let c): c.child.map { [$0] } ?? []
        case .bundle(let b): b.primitive.map { [.primitive($0)] } ?? []
        }
    }

    /// This resource and every resource inside it, depth first.
    public var allResources: [Resource] {
        [self] + children.flatMap(\.allResources)
    }

    /// Every primitive inside this resource (itself, if it is one).
    public var primitives: [Primitive] {
        allResources.compactMap { if case .primitive(let p) = $0 { return p } else { return nil } }
    }

    /// The resource's meta attribute sets.
    public var metaAttributes: [NVSet] { element.elements(named: "meta_attributes").map(NVSet.init) }

    /// A meta attribute's value from the first set that has it (rules are not evaluated).
    public func meta(_ name: String) -> String? {
        for s in metaAttributes { if let v = s.value(of: name) { return v } }
        return nil
    }
}

/// A primitive resource (or a `<template>`, which has the same shape).
public struct Primitive: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }

    /// A new primitive of the given agent.
    public init(id: String, agent: ResourceAgentName) {
        element = XElement("primitive", ["id": id])
        self.agent = agent
    }

    /// The agent: class, provider (OCF only) and type.
    public var agent: ResourceAgentName {
        get { ResourceAgentName(standard: element["class"] ?? "", provider: element["provider"], type: element["type"] ?? "") }
        set {
            element["class"] = newValue.standard
            element["provider"] = newValue.provider
            element["type"] = newValue.type
        }
    }
    /// The template this primitive takes its definition from, if any.
    public var template: String? { element["template"] }
    public var description: String? { element["description"] }
    public var instanceAttributes: [NVSet] { nvsets("instance_attributes") }
    public var metaAttributes: [NVSet] { nvsets("meta_attributes") }
    public var utilization: [NVSet] { nvsets("utilization") }

    /// The configured operations.
    public var operations: [Operation] {
        get { element.firstElement(named: "operations")?.elements(named: "op").map(Operation.init) ?? [] }
        set {
            var ops = element.firstElement(named: "operations") ?? XElement("operations")
            ops.removeElements { $0.name == "op" }
            for o in newValue { ops.append(o.element) }
            element.setFirstElement(named: "operations", to: ops)
        }
    }

    /// An instance attribute from the first set that has it.
    public func parameter(_ name: String) -> String? {
        for s in instanceAttributes { if let v = s.value(of: name) { return v } }
        return nil
    }
}

/// `class:provider:type`, the way crm and pcs write an agent.
public struct ResourceAgentName: Hashable, Sendable, CustomStringConvertible {
    /// ocf, lsb, systemd, service, stonith, nagios...
    public var standard: String
    public var provider: String?
    public var type: String

    public init(standard: String, provider: String?, type: String) {
        self.standard = standard
        self.provider = provider
        self.type = type
    }

    /// Parses "ocf:heartbeat:IPaddr2", "lsb:httpd", "stonith:fence_xvm".
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 2 where !parts[0].isEmpty && !parts[1].isEmpty:
            self.init(standard: parts[0], provider: nil, type: parts[1])
        case 3 where !parts[0].isEmpty && !parts[1].isEmpty && !parts[2].isEmpty:
            self.init(standard: parts[0], provider: parts[1], type: parts[2])
        default:
            return nil
        }
    }

    public var description: String {
        [standard, provider, type].compactMap { $0 }.joined(separator: ":")
    }
}

/// A configured operation (`<op>`).
public struct Operation: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    public init(id: String, name: String, interval: String, timeout: String? = nil) {
        element = XElement("op", ["id": id, "name": name, "interval": interval])
        element["timeout"] = timeout
    }
    /// start, stop, monitor, promote, demote, notify, migrate_to, migrate_from, reload...
    public var name: String { element["name"] ?? "" }
    public var interval: String { element["interval"] ?? "0" }
    public var timeout: String? { element["timeout"] }
    public var role: String? { element["role"] }
    public var onFail: String? { element["on-fail"] }
    public var enabled: String? { element["enabled"] }
    public var intervalOrigin: String? { element["interval-origin"] }
    public var metaAttributes: [NVSet] { nvsets("meta_attributes") }
    public var instanceAttributes: [NVSet] { nvsets("instance_attributes") }
}

/// A group: primitives started in order and kept together.
public struct Group: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    public var members: [Primitive] {
        get { children("primitive") }
        set { setChildren("primitive", newValue) }
    }
    public var metaAttributes: [NVSet] { nvsets("meta_attributes") }
    public var instanceAttributes: [NVSet] { nvsets("instance_attributes") }
}

/// A clone: one resource (primitive or group) run on several nodes; promotable when its
/// `promotable` meta attribute is true or when it was written as the old `<master>` element.
public struct Clone: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    /// The cloned resource.
    public var child: Resource? {
        element.elements.lazy.compactMap { e -> Resource? in
            guard e.name == "primitive" || e.name == "group" else { return nil }
            return Resource(e)
        }.first
    }
    /// Whether the element is the pre-3.0 `<master>` spelling.
    public var isLegacyMaster: Bool { element.name == "master" }
    /// Whether instances can be promoted.
    public var isPromotable: Bool {
        if isLegacyMaster { return true }
        return Resource.clone(self).meta("promotable").map(CIBValue.isTrue) ?? false
    }
    public var metaAttributes: [NVSet] { nvsets("meta_attributes") }
    public var instanceAttributes: [NVSet] { nvsets("instance_attributes") }
}

/// A bundle: a container image with an optional primitive inside it.
public struct Bundle: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    /// docker, podman or rkt, with its settings.
    public var container: XElement? {
        element.elements.first { ["docker", "podman", "rkt"].contains($0.name) }
    }
    public var network: XElement? { element.firstElement(named: "network") }
    public var storage: XElement? { element.firstElement(named: "storage") }
    public var primitive: Primitive? { element.firstElement(named: "primitive").map(Primitive.init) }
}
