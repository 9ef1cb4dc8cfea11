/// An XML attribute: a name and its (already unescaped) value.
public struct XAttribute: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// One child of an element: another element, character data, or a comment.
///
/// Whitespace-only text between elements is not kept (the CIB is element-only content);
/// comments are kept so that a hand-written CIB keeps its notes through a round trip.
public enum XNode: Hashable, Sendable {
    case element(XElement)
    case text(String)
    case comment(String)

    /// The element, when this node is one.
    public var element: XElement? {
        if case .element(let e) = self { return e }
        return nil
    }
}

/// An XML element as a value: its name, its attributes in document order, and its children.
///
/// This is the storage every CIB type is a view over. Copying is cheap (the arrays are
/// copy-on-write) and two elements are equal when they serialise to the same XML.
public struct XElement: Hashable, Sendable {
    public var name: String
    public var attributes: [XAttribute]
    public var children: [XNode]

    public init(_ name: String, attributes: [XAttribute] = [], children: [XNode] = []) {
        self.name = name
        self.attributes = attributes
        self.children = children
    }

    /// Builds an element from attribute pairs, in the given order.
    public init(_ name: String, _ attributes: KeyValuePairs<String, String>, children: [XElement] = []) {
        self.name = name
        self.attributes = attributes.map { XAttribute($0.key, $0.value) }
        self.children = children.map { .element($0) }
    }

    /// The value of an attribute; setting nil removes it, setting a new name appends it.
    public subscript(attribute: String) -> String? {
        get {
            for a in attributes where a.name == attribute { return a.value }
            return nil
        }
        set {
            if let i = attributes.firstIndex(where: { $0.name == attribute }) {
                if let newValue { attributes[i].value = newValue } else { attributes.remove(at: i) }
            } else if let newValue {
                attributes.append(XAttribute(attribute, newValue))
            }
        }
    }

    /// The `id` attribute, which most CIB elements carry.
    public var id: String? { self["id"] }

    /// The child elements, in order, skipping text and comments.
    public var elements: [XElement] {
        children.compactMap(\.element)
    }

    /// The child elements with the given name.
    public func elements(named name: String) -> [XElement] {
        children.compactMap { node in
            if case .element(let e) = node, e.name == name { return e }
            return nil
        }
    }

    /// The first child element with the given name.
    public func firstElement(named name: String) -> XElement? {
        for case .element(let e) in children where e.name == name { return e }
        return nil
    }

    /// The concatenated text content of this element's direct text children.
    public var text: String {
        children.reduce(into: "") { acc, node in
            if case .text(let t) = node { acc += t }
        }
    }

    /// Appends a child element.
    public mutating func append(_ child: XElement) {
        children.append(.element(child))
    }

    /// Calls `body` on each child element in place; `body` may change it.
    public mutating func updateElements(_ body: (inout XElement) throws -> Void) rethrows {
        for i in children.indices {
            if case .element(var e) = children[i] {
                children[i] = .text("")  // drop the reference so `e` is uniquely owned
                try body(&e)
                children[i] = .element(e)
            }
        }
    }

    /// Removes the child elements for which `predicate` is true; returns how many were removed.
    @discardableResult
    public mutating func removeElements(where predicate: (XElement) -> Bool) -> Int {
        let before = children.count
        children.removeAll { node in
            if case .element(let e) = node { return predicate(e) }
            return false
        }
        return before - children.count
    }

    /// Replaces the first child element named `name` (or appends one) with `child`;
    /// nil removes every child element with that name.
    public mutating func setFirstElement(named name: String, to child: XElement?) {
        if let i = children.firstIndex(where: { $0.element?.name == name }) {
            if let child { children[i] = .element(child) } else {
                removeElements { $0.name == name }
            }
        } else if let child {
            children.append(.element(child))
        }
    }

    /// Replaces the child elements that match `predicate` with `replacements`, position by
    /// position: the first match becomes the first replacement, and so on. Surplus matches are
    /// removed; surplus replacements go after the last match (or at the end).
    public mutating func replaceElements(where predicate: (XElement) -> Bool, with replacements: [XElement]) {
        var next = replacements.makeIterator()
        var out: [XNode] = []
        out.reserveCapacity(children.count + replacements.count)
        var insertAt: Int?
        for node in children {
            if case .element(let e) = node, predicate(e) {
                if let r = next.next() { out.append(.element(r)) }
                insertAt = out.count
            } else {
                out.append(node)
            }
        }
        let rest = Array(IteratorSequence(next)).map { XNode.element($0) }
        out.insert(contentsOf: rest, at: insertAt ?? out.count)
        children = out
    }

    /// Every element of this subtree, this one first, in document order.
    public func descendants() -> [XElement] {
        var out: [XElement] = []
        walk { out.append($0) }
        return out
    }

    /// Visits this element and every descendant element in document order.
    public func walk(_ visit: (XElement) throws -> Void) rethrows {
        try visit(self)
        for case .element(let e) in children { try e.walk(visit) }
    }

    /// Visits every element with the path of child indexes that leads to it from this one.
    public func walkWithPath(_ visit: (XElement, [Int]) throws -> Void) rethrows {
        var path: [Int] = []
        try walkWithPath(&path, visit)
    }

    private func walkWithPath(_ path: inout [Int], _ visit: (XElement, [Int]) throws -> Void) rethrows {
        try visit(self, path)
        for (i, node) in children.enumerated() {
            if case .element(let e) = node {
                path.append(i)
                try e.walkWithPath(&path, visit)
                path.removeLast()
            }
        }
    }

    /// The element at a path of child indexes (as produced by `walkWithPath` or XPath).
    public func element(at path: some Collection<Int>) -> XElement? {
        guard let first = path.first else { return self }
        guard children.indices.contains(first), case .element(let e) = children[first] else { return nil }
        return e.element(at: path.dropFirst())
    }

    /// Changes the element at a path of child indexes in place; returns false if there is none.
    @discardableResult
    public mutating func modifyElement(at path: some Collection<Int>, _ body: (inout XElement) throws -> Void) rethrows -> Bool {
        guard let first = path.first else {
            try body(&self)
            return true
        }
        guard children.indices.contains(first), case .element(var e) = children[first] else { return false }
        children[first] = .text("")
        let done = try e.modifyElement(at: path.dropFirst(), body)
        children[first] = .element(e)
        return done
    }

    /// Removes the node at a path of child indexes; returns false if there is none.
    @discardableResult
    public mutating func removeNode(at path: [Int]) -> Bool {
        guard let last = path.last else { return false }
        return modifyElement(at: path.dropLast()) { parent in
            if parent.children.indices.contains(last) { parent.children.remove(at: last) }
        }
    }

    /// Number of elements in this subtree, this one included.
    public var elementCount: Int {
        var n = 0
        walk { _ in n += 1 }
        return n
    }
}
