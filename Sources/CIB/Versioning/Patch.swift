/// A CIB patchset in Pacemaker's format 2: the source and target versions, the digest of the
/// target, and a list of changes addressed by XPath-like paths
/// (`/cib/configuration/resources/primitive[@id='vip']`).
///
/// `CIBPatch.diff(a, b)` makes one; `a.applying(patch)` gives `b` again. A patch made for
/// another version is refused, and a patch whose result does not match its digest is refused,
/// in both cases leaving the CIB untouched.
public struct CIBPatch: Hashable, Sendable {
    /// One change.
    public enum Change: Hashable, Sendable {
        /// Insert `node` as child number `position` of the element at `parent`.
        case create(parent: String, position: Int, node: XNode)
        /// Remove the element at `path`.
        case delete(path: String)
        /// Remove child number `position` (a comment or text) of the element at `parent`.
        case deleteNode(parent: String, position: Int)
        /// Set and remove attributes of the element at `path`; `result`, when given, is the
        /// element's complete attribute list afterwards, in order (Pacemaker's change-result).
        case modify(path: String, set: [XAttribute], unset: [String], result: [XAttribute]?)
        /// Move the element at `path` to child number `position` of its parent.
        case move(path: String, position: Int)
    }

    public var source: CIBVersion
    public var target: CIBVersion
    /// The digest of the target document, checked after applying.
    public var digest: String?
    public var changes: [Change]

    public init(source: CIBVersion, target: CIBVersion, digest: String?, changes: [Change]) {
        self.source = source
        self.target = target
        self.digest = digest
        self.changes = changes
    }

    /// Whether the patch changes nothing but the version.
    public var isEmpty: Bool { changes.isEmpty }

    // MARK: diff

    static let versionAttributes: Set<String> = ["admin_epoch", "epoch", "num_updates"]

    /// The patch that turns `a` into `b`.
    public static func diff(_ a: CIB, _ b: CIB) -> CIBPatch {
        var changes: [Change] = []
        diffElement(a.root, b.root, path: "/" + b.root.name, isRoot: true, into: &changes)
        return CIBPatch(source: a.version, target: b.version, digest: b.digest, changes: changes)
    }

    /// How a child is recognised in both versions: elements by tag and id, and otherwise by
    /// their kind and their rank among siblings with the same key.
    private static func keys(_ children: [XNode]) -> [String] {
        var counts: [String: Int] = [:]
        return children.map { node in
            let base: String
            switch node {
            case .element(let e): base = e.id.map { "e:\(e.name)#\($0)" } ?? "e:\(e.name)"
            case .text(let t): base = "t:" + t
            case .comment(let c): base = "c:" + c
            }
            let n = counts[base, default: 0]
            counts[base] = n + 1
            return base + "|\(n)"
        }
    }

    /// The path segment of child `index` of `parent`.
    static func segment(of parent: XElement, child index: Int) -> String {
        guard case .element(let e) = parent.children[index] else { return "" }
        if let id = e.id { return "\(e.name)[@id='\(id)']" }
        let same = parent.children.enumerated().filter { $0.element.element?.name == e.name && $0.element.element?.id == nil }
        if same.count == 1 { return e.name }
        let rank = same.firstIndex { $0.offset == index }! + 1
        return "\(e.name)[\(rank)]"
    }

    private static func diffElement(_ a: XElement, _ b: XElement, path: String, isRoot: Bool, into changes: inout [Change]) {
        // Attributes.
        var set: [XAttribute] = []
        var unset: [String] = []
        for attr in b.attributes where !(isRoot && versionAttributes.contains(attr.name)) {
            if a[attr.name] != attr.value { set.append(attr) }
        }
        for attr in a.attributes where !(isRoot && versionAttributes.contains(attr.name)) {
            if b[attr.name] == nil { unset.append(attr.name) }
        }
        let skip: (XAttribute) -> Bool = { isRoot && versionAttributes.contains($0.name) }
        var afterSet = a
        for attr in set { afterSet[attr.name] = attr.value }
        for name in unset { afterSet[name] = nil }
        let orderDiffers = afterSet.attributes.filter { !skip($0) } != b.attributes.filter { !skip($0) }
        if !set.isEmpty || !unset.isEmpty || orderDiffers {
            changes.append(.modify(path: path, set: set, unset: unset, result: b.attributes))
        }

        // Children: delete what is gone (last first), order what stays, recurse, create what is new.
        let aKeys = keys(a.children)
        let bKeys = keys(b.children)
        let bKeySet = Set(bKeys)
        let aKeySet = Set(aKeys)
        var working = a
        for i in a.children.indices.reversed() where !bKeySet.contains(aKeys[i]) {
            if case .element = a.children[i] {
                changes.append(.delete(path: path + "/" + segment(of: working, child: i)))
            } else {
                changes.append(.deleteNode(parent: path, position: i))
            }
            working.children.remove(at: i)
        }
        var workingKeys = aKeys.filter { bKeySet.contains($0) }
        let keptInNewOrder = bKeys.filter { aKeySet.contains($0) }
        for (target, key) in keptInNewOrder.enumerated() {
            let current = workingKeys.firstIndex(of: key)!
            if current != target {
                changes.append(.move(path: path + "/" + segment(of: working, child: current), position: target))
                let node = working.children.remove(at: current)
                working.children.insert(node, at: target)
                workingKeys.remove(at: current)
                workingKeys.insert(key, at: target)
            }
        }
        // Recurse into kept elements, addressing them within the working (a-shaped) parent.
        for (i, key) in workingKeys.enumerated() {
            guard case .element(let old) = working.children[i],
                  let j = bKeys.firstIndex(of: key), case .element(let new) = b.children[j] else { continue }
            if old != new {
                diffElement(old, new, path: path + "/" + segment(of: working, child: i), isRoot: false, into: &changes)
            }
        }
        for (j, key) in bKeys.enumerated() where !aKeySet.contains(key) {
            changes.append(.create(parent: path, position: j, node: b.children[j]))
        }
    }

    // MARK: apply

    /// Applies the changes to a tree (no version or digest checks).
    static func applyChanges(_ changes: [Change], to root: inout XElement) throws(CIBError) {
        for change in changes {
            switch change {
            case .modify(let path, let set, let unset, let result):
                let p = try resolve(path, in: root)
                root.modifyElement(at: p) { e in
                    if let result {
                        e.attributes = result
                    } else {
                        for a in set { e[a.name] = a.value }
                        for n in unset { e[n] = nil }
                    }
                }
            case .delete(let path):
                let p = try resolve(path, in: root)
                guard !p.isEmpty else { throw CIBError(.badRequest, "the patch deletes the root element") }
                root.removeNode(at: p)
            case .deleteNode(let parent, let position):
                let p = try resolve(parent, in: root)
                guard let e = root.element(at: p), e.children.indices.contains(position) else {
                    throw CIBError(.notFound, "the patch deletes child \(position) of \(parent), which has no such child")
                }
                root.removeNode(at: p + [position])
            case .move(let path, let position):
                let p = try resolve(path, in: root)
                guard let last = p.last else { throw CIBError(.badRequest, "the patch moves the root element") }
                root.modifyElement(at: p.dropLast()) { parent in
                    let node = parent.children.remove(at: last)
                    parent.children.insert(node, at: min(position, parent.children.count))
                }
            case .create(let parent, let position, let node):
                let p = try resolve(parent, in: root)
                root.modifyElement(at: p) { e in
                    e.children.insert(node, at: min(max(0, position), e.children.count))
                }
            }
        }
    }

    /// Resolves a patch path to child indexes.
    static func resolve(_ path: String, in root: XElement) throws(CIBError) -> [Int] {
        let segments = splitPath(path)
        guard let first = segments.first, matches(root, first, rank: 1) else {
            throw CIBError(.notFound, "the patch refers to \(path), which does not exist in this CIB")
        }
        var indexes: [Int] = []
        var current = root
        for seg in segments.dropFirst() {
            guard let i = childIndex(of: seg, in: current), case .element(let e) = current.children[i] else {
                throw CIBError(.notFound, "the patch refers to \(path), which does not exist in this CIB")
            }
            indexes.append(i)
            current = e
        }
        return indexes
    }

    /// The child a segment names: by id, by rank among same-name children without an id, or
    /// (a bare name) the first such child, else the first child of that name.
    private static func childIndex(of seg: Segment, in parent: XElement) -> Int? {
        var rank = 0
        var firstAny: Int?
        for (i, node) in parent.children.enumerated() {
            guard case .element(let e) = node, e.name == seg.name else { continue }
            if firstAny == nil { firstAny = i }
            if let id = seg.id {
                if e.id == id { return i }
                continue
            }
            guard e.id == nil else { continue }
            rank += 1
            if rank == (seg.position ?? 1) { return i }
        }
        return seg.id == nil && seg.position == nil ? firstAny : nil
    }

    struct Segment { var name: String; var id: String?; var position: Int? }

    private static func matches(_ e: XElement, _ s: Segment, rank: Int) -> Bool {
        e.name == s.name && (s.id == nil || e.id == s.id)
    }

    /// Splits `/a/b[@id='x']/c[2]` into segments (ids may contain `/`).
    static func splitPath(_ path: String) -> [Segment] {
        var segments: [Segment] = []
        var current = ""
        var inBracket = false
        for c in path {
            if c == "[" { inBracket = true }
            if c == "]" { inBracket = false }
            if c == "/" && !inBracket {
                if !current.isEmpty { segments.append(parseSegment(current)) }
                current = ""
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { segments.append(parseSegment(current)) }
        return segments
    }

    private static func parseSegment(_ s: String) -> Segment {
        guard let open = s.firstIndex(of: "["), s.hasSuffix("]") else { return Segment(name: s) }
        let name = String(s[..<open])
        let inner = s[s.index(after: open)..<s.index(before: s.endIndex)]
        if inner.hasPrefix("@id=") {
            var v = inner.dropFirst(4)
            if let q = v.first, q == "'" || q == "\"" { v = v.dropFirst().dropLast() }
            return Segment(name: name, id: String(v))
        }
        return Segment(name: name, position: Int(inner))
    }
}

extension CIB {
    /// The result of applying a patch. Throws, leaving nothing changed, when the patch was made
    /// for another version or its result does not match the patch's digest.
    public func applying(_ patch: CIBPatch) throws(CIBError) -> CIB {
        guard patch.source == version else {
            throw CIBError(.versionMismatch, "the patch is for CIB version \(patch.source) but this CIB is version \(version); fetch the current CIB and make the patch again")
        }
        var result = self
        try CIBPatch.applyChanges(patch.changes, to: &result.root)
        result.version = patch.target
        if let digest = patch.digest, result.digest != digest {
            throw CIBError(.digestMismatch, "applying the patch gives a CIB whose digest \(result.digest) is not the patch's \(digest); the patch does not fit this CIB, so nothing was changed")
        }
        return result
    }

    /// Applies a patch in place (see `applying`).
    public mutating func apply(_ patch: CIBPatch) throws(CIBError) {
        self = try applying(patch)
    }
}

extension CIBPatch {
    /// The patch from `original` to `changed`, made again for `current`, the cluster's copy
    /// now, when the cluster's version moved on between a tool's read and its write. Allowed
    /// only when the configuration is as the tool read it: the cluster writes operation
    /// results to the status all the time, and a status change in between must not make a
    /// tool fail, but no one's configuration change is ever overwritten. The patch has no
    /// digest (the status it lands on differs from the one it was made on).
    public static func rebased(from original: CIB, to changed: CIB, onto current: CIB) throws(CIBError) -> CIBPatch {
        guard current.root.firstElement(named: "configuration") == original.root.firstElement(named: "configuration") else {
            throw CIBError(.versionMismatch, "the cluster's configuration changed since it was read (now version \(current.version)); nothing was written; run the command again")
        }
        var patch = CIBPatch.diff(original, changed)
        patch.source = current.version
        if patch.target <= current.version {
            patch.target = CIBVersion(adminEpoch: current.version.adminEpoch, epoch: current.version.epoch, numUpdates: current.version.numUpdates + 1)
        }
        patch.digest = nil
        return patch
    }
}
