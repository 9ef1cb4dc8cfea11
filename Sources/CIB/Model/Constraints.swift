/// A constraint of the `<constraints>` section.
public struct Constraint: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }

    /// What kind of constraint the element is.
    public enum Kind: String, Sendable {
        case location = "rsc_location"
        case colocation = "rsc_colocation"
        case order = "rsc_order"
        case ticket = "rsc_ticket"
    }

    /// The kind, or nil for an element this version does not know.
    public var kind: Kind? { Kind(rawValue: element.name) }

    /// The score, when the constraint has one ("INFINITY", "-100", ...).
    public var score: String? { element["score"] }

    /// The resource sets, when the constraint uses them instead of rsc/with-rsc/first/then.
    public var resourceSets: [ResourceSet] { children("resource_set") }

    /// The location rules.
    public var rules: [Rule] { children("rule") }

    /// The resource ids this constraint names, directly or through its sets.
    public var referencedResources: [String] {
        var ids: [String] = []
        for attr in ["rsc", "with-rsc", "first", "then"] {
            if let v = element[attr] { ids.append(v) }
        }
        for set in resourceSets { ids += set.resources }
        return ids
    }
}

/// A `<resource_set>` inside a constraint.
public struct ResourceSet: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    /// The member resource ids, in order.
    public var resources: [String] { element.elements(named: "resource_ref").compactMap(\.id) }
    public var sequential: Bool { element["sequential"].map(CIBValue.isTrue) ?? true }
    public var requireAll: Bool { element["require-all"].map(CIBValue.isTrue) ?? true }
    public var action: String? { element["action"] }
    public var role: String? { element["role"] }
    public var idRef: String? { element["id-ref"] }
}
