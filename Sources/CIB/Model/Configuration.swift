/// A typed view over one CIB element. The element is the storage: properties read and write
/// its attributes and children in place, and whatever a view does not model stays untouched.
public protocol ElementView: Hashable, Sendable {
    /// The element this view reads and writes.
    var element: XElement { get set }
    init(_ element: XElement)
}

extension ElementView {
    /// The element's `id`.
    public var id: String {
        get { element["id"] ?? "" }
        set { element["id"] = newValue }
    }

    /// Child views of one element name, read and written in document order.
    func children<V: ElementView>(_ name: String) -> [V] {
        element.elements(named: name).map(V.init)
    }

    /// Replaces the children named `name` with `views`, in place.
    mutating func setChildren<V: ElementView>(_ name: String, _ views: [V]) {
        element.replaceElements(where: { $0.name == name }, with: views.map(\.element))
    }

    /// The name/value sets of one kind (instance_attributes, meta_attributes, utilization...).
    func nvsets(_ kind: String) -> [NVSet] { children(kind) }
}

/// `<configuration>`: cluster options, nodes, resources, constraints and the rest.
public struct Configuration: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }

    /// Cluster options: the `<cluster_property_set>` blocks of `<crm_config>`.
    public var clusterPropertySets: [NVSet] {
        get { element.firstElement(named: "crm_config")?.elements(named: "cluster_property_set").map(NVSet.init) ?? [] }
        set { setSection("crm_config") { $0.setChildren("cluster_property_set", newValue) } }
    }

    /// Resource defaults (`<rsc_defaults>` meta_attributes sets).
    public var resourceDefaults: [NVSet] {
        element.firstElement(named: "rsc_defaults")?.elements(named: "meta_attributes").map(NVSet.init) ?? []
    }

    /// Operation defaults (`<op_defaults>` meta_attributes sets).
    public var operationDefaults: [NVSet] {
        element.firstElement(named: "op_defaults")?.elements(named: "meta_attributes").map(NVSet.init) ?? []
    }

    /// The cluster nodes.
    public var nodes: [ClusterNode] {
        get { element.firstElement(named: "nodes")?.elements(named: "node").map(ClusterNode.init) ?? [] }
        set { setSection("nodes") { $0.setChildren("node", newValue) } }
    }

    /// The top-level resources, in document order.
    public var resources: [Resource] {
        get { element.firstElement(named: "resources")?.elements.compactMap(Resource.init) ?? [] }
        set {
            setSection("resources") { s in
                s.element.replaceElements(where: { Resource($0) != nil }, with: newValue.map(\.element))
            }
        }
    }

    /// Resource templates (`<template>` under `<resources>`).
    public var templates: [Primitive] {
        element.firstElement(named: "resources")?.elements(named: "template").map(Primitive.init) ?? []
    }

    /// Every constraint, in document order.
    public var constraints: [Constraint] {
        get { element.firstElement(named: "constraints")?.elements.map(Constraint.init) ?? [] }
        set {
            setSection("constraints") { s in
                s.element.replaceElements(where: { _ in true }, with: newValue.map(\.element))
            }
        }
    }

    /// Fencing topology levels.
    public var fencingLevels: [FencingLevel] {
        element.firstElement(named: "fencing-topology")?.elements(named: "fencing-level").map(FencingLevel.init) ?? []
    }

    /// Tags: named groups of references.
    public var tags: [Tag] {
        element.firstElement(named: "tags")?.elements(named: "tag").map(Tag.init) ?? []
    }

    /// ACL targets, groups and roles, kept as XML.
    public var acls: XElement? { element.firstElement(named: "acls") }

    /// Alerts, kept as XML.
    public var alerts: [XElement] { element.firstElement(named: "alerts")?.elements(named: "alert") ?? [] }

    /// The value of a cluster option as the first set that names it gives it (rules are the
    /// PolicyEngine's business; this is the plain lookup crm_attribute and tools need).
    public func clusterOption(_ name: String) -> String? {
        for set in clusterPropertySets {
            if let v = set.value(of: name) { return v }
        }
        return nil
    }

    private struct Section: ElementView {
        var element: XElement
        init(_ element: XElement) { self.element = element }
    }

    private mutating func setSection(_ name: String, _ body: (inout Section) -> Void) {
        var s = Section(element.firstElement(named: name) ?? XElement(name))
        body(&s)
        element.setFirstElement(named: name, to: s.element)
    }
}

/// A set of name/value pairs: instance_attributes, meta_attributes, utilization,
/// cluster_property_set. May carry a rule and a score, or refer to another set by `id-ref`.
public struct NVSet: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }

    /// Creates an empty set of the given kind.
    public init(kind: String, id: String) { element = XElement(kind, ["id": id]) }

    /// instance_attributes, meta_attributes, utilization or cluster_property_set.
    public var kind: String { element.name }
    /// The id of the set this one stands for, when it is a reference.
    public var idRef: String? { element["id-ref"] }
    /// The set's precedence among sets of the same kind (higher wins).
    public var score: String? { element["score"] }
    /// The rule that decides whether the set applies.
    public var rule: Rule? { element.firstElement(named: "rule").map(Rule.init) }
    /// The pairs, in order.
    public var pairs: [NVPair] {
        get { children("nvpair") }
        set { setChildren("nvpair", newValue) }
    }

    /// The value of the first pair with the name.
    public func value(of name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }
}

/// One `<nvpair>`.
public struct NVPair: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    public init(id: String, name: String, value: String) {
        element = XElement("nvpair", ["id": id, "name": name, "value": value])
    }
    public var name: String { element["name"] ?? "" }
    public var value: String? {
        get { element["value"] }
        set { element["value"] = newValue }
    }
    public var idRef: String? { element["id-ref"] }
}

/// A rule: a boolean combination of expressions, with a score when used in a location.
public struct Rule: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    public var score: String? { element["score"] }
    public var scoreAttribute: String? { element["score-attribute"] }
    /// "and" (the default) or "or".
    public var booleanOperator: String { element["boolean-op"] ?? "and" }
    public var role: String? { element["role"] }
    public var idRef: String? { element["id-ref"] }
    /// The expressions and nested rules, in order.
    public var expressions: [XElement] { element.elements }
}

/// A `<node>` of the configuration.
public struct ClusterNode: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    public init(id: String, uname: String) { element = XElement("node", ["id": id, "uname": uname]) }
    public var uname: String { element["uname"] ?? id }
    /// "member" (the default), "remote" or "ping".
    public var type: String { element["type"] ?? "member" }
    public var attributes: [NVSet] { nvsets("instance_attributes") }
    public var utilization: [NVSet] { nvsets("utilization") }
}

/// A fencing topology level.
public struct FencingLevel: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    public var target: String? { element["target"] }
    public var targetPattern: String? { element["target-pattern"] }
    public var targetAttribute: String? { element["target-attribute"] }
    public var targetValue: String? { element["target-value"] }
    public var index: String? { element["index"] }
    /// The devices, in the order they are tried.
    public var devices: [String] {
        (element["devices"] ?? "").split(separator: ",").map { String($0).trimmingSpaces }
    }
}

/// A tag: a name for a list of resources (or other ids).
public struct Tag: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    public var references: [String] { element.elements(named: "obj_ref").compactMap(\.id) }
}

extension String {
    /// The string without leading and trailing whitespace (no Foundation needed).
    public var trimmingSpaces: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}
