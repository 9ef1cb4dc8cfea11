/// cibd's brain: one node's copy of the CIB, kept identical to every other member's.
///
/// Every change is a versioned patch multicast to the process group in total order; each
/// member applies the patches in that order, so all copies go through the same versions. A
/// client's change is acknowledged only once its patch has been delivered back in the agreed
/// order and applied. When the membership changes, the members agree on the newest copy
/// (admin_epoch, then epoch, then num_updates; the digest breaks no ties: on equal versions
/// with different contents the lowest-named member's copy wins) and the others take it.
///
/// An instance (docs/DESIGN.md): no I/O. The shell multicasts, persists and replies.
public struct CIBReplica: Sendable {
    /// A client's change.
    public enum Operation: Sendable, Equatable {
        case create(XElement, section: CIBSection?)
        case modify(XElement, section: CIBSection?, allowCreate: Bool)
        case replace(XElement, section: CIBSection?)
        case delete(XElement, section: CIBSection?)
        case xpath(String, XPathOperation)
        case patch(CIBPatch)
        /// Replace the whole CIB (cibadmin --replace without a section).
        case replaceAll(CIB)
    }

    /// An XPath edit (a Sendable, Equatable mirror of `CIB.XPathEdit`).
    public enum XPathOperation: Sendable, Equatable {
        case modify(XElement), replace(XElement), create(XElement), delete(all: Bool)
    }

    /// What the members multicast to each other, in total order.
    public enum Message: Sendable, Equatable {
        /// A change: the patch from `patch.source` to `patch.target`, and the operation it
        /// came from (so the origin can redo it if another change got in first).
        case change(origin: String, request: UInt64, attempt: Int, patch: CIBPatch, operation: Operation)
        /// After a membership change: each member's version.
        case offer(from: String, view: UInt64, version: CIBVersion, digest: String)
        /// The newest copy, for the members that have another.
        case full(from: String, view: UInt64, cib: CIB)
    }

    public enum Directive: Sendable, Equatable {
        case multicast(Message)
        /// Answer a client: the version its change produced, or why it was refused.
        case reply(request: UInt64, Result<CIBVersion, CIBError>)
        /// Write the CIB to disk (atomically, with its digest and a backup).
        case persist(CIB)
        /// Tell subscribers what changed.
        case notify(CIBPatch)
        /// The copy was replaced by the cluster's newest one.
        case synced(from: String, version: CIBVersion)
    }

    /// Who made a change and when, stamped on `<cib>` (`cib-last-written`, `update-origin`,
    /// `update-client`, `update-user`) as Pacemaker's CIB manager does. The origin puts it in
    /// the patch it multicasts, so every member writes the same values. Like Pacemaker, only a
    /// configuration change (one that raises the epoch) is stamped; the stamp itself raises
    /// nothing (these are status root attributes).
    public struct Stamp: Sendable, Equatable {
        /// In the form crm_mon reads: "Tue Nov 24 02:46:00 2026".
        public var written: String
        public var origin: String
        public var client: String
        public var user: String

        public init(written: String, origin: String, client: String, user: String) {
            self.written = written
            self.origin = origin
            self.client = client
            self.user = user
        }

        /// The CIB with the stamp on its root; the version is left as it is.
        public func applied(to cib: CIB) -> CIB {
            var c = cib
            c.root["cib-last-written"] = written
            c.root["update-origin"] = origin
            c.root["update-client"] = client
            c.root["update-user"] = user
            return c
        }
    }

    public let localName: String
    public private(set) var cib: CIB
    public private(set) var members: [String] = []
    /// Whether the copy is the agreed one; changes wait until it is.
    public private(set) var isSynced = false
    /// How many times a change is redone after others got in first, before it is refused.
    public let maxAttempts: Int

    /// The configuration (view) the members are agreeing in; the group layer numbers them
    /// the same way on every member (CPG's ring id).
    private var view: UInt64 = 0
    private var offers: [String: (version: CIBVersion, digest: String)] = [:]
    private var queued: [(UInt64, Operation)] = []
    /// Changes multicast and not yet delivered back, by request.
    private var inFlight: [UInt64: Operation] = [:]
    /// The stamps of requests not yet answered (kept for redoing them).
    private var stamps: [UInt64: Stamp] = [:]
    /// Requests not yet answered that may change the configuration without quorum
    /// (`quorumOverride`).
    private var overrides: Set<UInt64> = []
    /// Whether this member's partition has quorum, as the cluster layer last said (`onQuorum`);
    /// true until told.
    public private(set) var quorate = true

    /// The partition's quorum changed.
    ///
    /// Without quorum, a change of the configuration (one that raises `epoch` or
    /// `admin_epoch`) is refused (`CIBError.Kind.noQuorum`) unless no-quorum-policy is
    /// ignore or the client overrides it (Pacemaker's cib_quorum_override, `cibadmin
    /// --force`). When partitions merge, the newest copy is kept whole: a configuration
    /// change acknowledged in a partition without quorum would be lost as soon as the quorate
    /// partition changed its configuration, and a change acknowledged in the quorate
    /// partition could be outbid by the other side's. Refused, the client learns it at once
    /// and can retry where the cluster has quorum. Status changes (num_updates) are taken:
    /// they are each partition's own record, and the DC writes them again after a merge.
    public mutating func onQuorum(_ quorate: Bool) {
        self.quorate = quorate
    }

    /// Whether the copy says no-quorum-policy=ignore (a partition without quorum then acts as
    /// if it had it, and so may change the configuration).
    static func ignoresQuorum(_ cib: CIB) -> Bool {
        cib.configuration.clusterOption("no-quorum-policy") == "ignore"
    }

    public init(localName: String, cib: CIB, maxAttempts: Int = 5) {
        self.localName = localName
        self.cib = cib
        self.maxAttempts = maxAttempts
    }

    // MARK: Clients

    /// A client asks for a change. It is checked against the local copy at once (a bad
    /// request is refused without a round trip) and multicast.
    /// `quorumOverride`: the change may touch the configuration even without quorum (see
    /// `onQuorum`).
    public mutating func onRequest(_ request: UInt64, _ op: Operation, stamp: Stamp? = nil, quorumOverride: Bool = false) -> [Directive] {
        if let stamp { stamps[request] = stamp }
        if quorumOverride { overrides.insert(request) }
        guard isSynced else {
            queued.append((request, op))
            return []
        }
        return propose(request, op, attempt: 1)
    }

    private mutating func propose(_ request: UInt64, _ op: Operation, attempt: Int) -> [Directive] {
        do {
            var next = try Self.apply(op, to: cib)
            var patch = CIBPatch.diff(cib, next)
            if patch.isEmpty && (patch.source == patch.target || !Self.raisesVersionByItself(op)) {
                // Nothing changes (a DC writing the same dc-version again): as in Pacemaker's
                // cib, the version stays. An epoch raised for nothing would let a partition
                // without quorum outbid the quorate partition's real changes at the next merge,
                // where the newest copy wins.
                stamps[request] = nil
                overrides.remove(request)
                return [.reply(request: request, .success(cib.version))]
            }
            let configChanged = next.version.adminEpoch != cib.version.adminEpoch || next.version.epoch != cib.version.epoch
            if configChanged && !quorate && !overrides.contains(request) && !Self.ignoresQuorum(cib) {
                stamps[request] = nil
                return [.reply(request: request, .failure(CIBError(.noQuorum,
                    "this node's cluster partition has no quorum: configuration changes are refused, as they could be lost when the partitions merge; "
                    + "make the change on a node of the quorate partition, or once the cluster is whole again (no-quorum-policy=ignore or cibadmin --force allow it, at that risk)")))]
            }
            if configChanged, let stamp = stamps[request] {
                next = stamp.applied(to: next)
                patch = CIBPatch.diff(cib, next)
            }
            inFlight[request] = op
            return [.multicast(.change(origin: localName, request: request, attempt: attempt, patch: patch, operation: op))]
        } catch {
            stamps[request] = nil
            overrides.remove(request)
            return [.reply(request: request, .failure(error))]
        }
    }

    /// Whether an operation may raise the version without changing anything else: a whole
    /// replacement or a patch says what version it brings.
    static func raisesVersionByItself(_ op: Operation) -> Bool {
        switch op {
        case .replaceAll, .patch: return true
        default: return false
        }
    }

    /// The result of an operation on a CIB, with its version bumped as cibadmin does.
    public static func apply(_ op: Operation, to base: CIB) throws(CIBError) -> CIB {
        var c = base
        switch op {
        case .create(let xml, let section): try c.create(xml, in: section)
        case .modify(let xml, let section, let allowCreate): try c.modify(xml, in: section, allowCreate: allowCreate)
        case .replace(let xml, let section): try c.replace(xml, in: section)
        case .delete(let xml, let section):
            if !(try c.delete(xml, in: section)) { throw CIBError(.notFound, "nothing matched the element to delete") }
        case .xpath(let path, let edit):
            let e: CIB.XPathEdit
            switch edit {
            case .modify(let x): e = .modify(x)
            case .replace(let x): e = .replace(x)
            case .create(let x): e = .create(x)
            case .delete(let all): e = .delete(all: all)
            }
            try c.edit(xpath: path, e)
        case .patch(let p): c = try c.applying(p)
        case .replaceAll(let new):
            // A replacement must not go back in time: its version must be newer.
            guard new.version > base.version else {
                throw CIBError(.badRequest, "the replacement CIB has version \(new.version), not newer than the cluster's \(base.version); raise its epoch or admin_epoch")
            }
            c = new
        }
        return c
    }

    // MARK: Delivery in total order

    public mutating func onDeliver(_ message: Message) -> [Directive] {
        switch message {
        case .change(let origin, let request, let attempt, let patch, let op):
            return deliverChange(origin: origin, request: request, attempt: attempt, patch: patch, op: op)
        case .offer(let from, let v, let version, let digest):
            guard v == view, members.contains(from) else { return [] }
            offers[from] = (version, digest)
            return decideSync()
        case .full(let from, let v, let newest):
            guard v == view, !isSynced else { return [] }
            var out: [Directive] = []
            if newest.version != cib.version || newest.digest != cib.digest {
                let old = cib
                cib = newest
                out.append(.persist(newest))
                out.append(.synced(from: from, version: newest.version))
                // Subscribers (crmd, stonithd) must learn of the copy they now read.
                out.append(.notify(CIBPatch.diff(old, newest)))
            }
            return out + finishSync()
        }
    }

    private mutating func deliverChange(origin: String, request: UInt64, attempt: Int, patch: CIBPatch, op: Operation) -> [Directive] {
        // While the members agree on a copy, changes in flight from the old membership are
        // dropped by everyone alike; their origins redo them once synced.
        guard isSynced else {
            if origin == localName, inFlight.removeValue(forKey: request) != nil { queued.append((request, op)) }
            return []
        }
        do {
            let next = try cib.applying(patch)
            cib = next
            var out: [Directive] = [.persist(next), .notify(patch)]
            if origin == localName, inFlight.removeValue(forKey: request) != nil {
                stamps[request] = nil
                overrides.remove(request)
                out.append(.reply(request: request, .success(next.version)))
            }
            return out
        } catch {
            // Another change got in first (every member sees the same, so every member
            // refuses it). The origin redoes the operation on the new copy.
            guard origin == localName, inFlight.removeValue(forKey: request) != nil else { return [] }
            if attempt >= maxAttempts {
                stamps[request] = nil
                overrides.remove(request)
                return [.reply(request: request, .failure(CIBError(.versionMismatch, "the change kept conflicting with concurrent changes (\(attempt) attempts); try again")))]
            }
            return propose(request, op, attempt: attempt + 1)
        }
    }

    // MARK: Membership and sync

    /// The process group's membership changed (`view` identifies the new configuration, the
    /// same on every member): agree on the newest copy before any change.
    public mutating func onMembership(_ newMembers: [String], view newView: UInt64) -> [Directive] {
        members = newMembers.sorted()
        view = newView
        offers = [:]
        isSynced = false
        // Changes multicast in the configuration that just ended and not yet delivered back:
        // those the group still delivers arrive before the members agree on a copy, and are
        // dropped by everyone alike; those it never delivers (sent as the ring re-formed, and
        // lost with it) would otherwise wait for their answer forever, and the client with
        // them (found by the whole-cluster simulation, seed 1225: a DC's controller stuck on a
        // write, and on the membership it knew then). Both are redone once synced.
        // (Proposed before those still queued: redone first.)
        queued = inFlight.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value) } + queued
        inFlight = [:]
        return [.multicast(.offer(from: localName, view: view, version: cib.version, digest: cib.digest))]
    }

    private mutating func decideSync() -> [Directive] {
        guard members.allSatisfy({ offers[$0] != nil }) else { return [] }
        // The newest version; among equal versions, the lowest-named member's copy.
        let best = members.max { a, b in
            let x = offers[a]!, y = offers[b]!
            if x.version != y.version { return x.version < y.version }
            return a > b
        }!
        let differs = members.contains { offers[$0]!.version != offers[best]!.version || offers[$0]!.digest != offers[best]!.digest }
        if !differs { return finishSync() }
        if best == localName { return [.multicast(.full(from: localName, view: view, cib: cib))] }
        return []
    }

    private mutating func finishSync() -> [Directive] {
        isSynced = true
        var out: [Directive] = []
        let waiting = queued
        queued = []
        for (request, op) in waiting { out += propose(request, op, attempt: 1) }
        return out
    }
}

// MARK: Wire form

extension CIBReplica.Message {
    /// The message as XML, to multicast through the process group.
    public var xml: XElement {
        switch self {
        case .change(let origin, let request, let attempt, let patch, let op):
            var e = XElement("cib_message", ["type": "change", "origin": origin, "request": String(request), "attempt": String(attempt)])
            e.append(patch.xml)
            e.append(Self.operationXML(op))
            return e
        case .offer(let from, let view, let version, let digest):
            var e = XElement("cib_message", ["type": "offer", "from": from, "view": String(view), "digest": digest])
            version.write(into: &e)
            return e
        case .full(let from, let view, let cib):
            var e = XElement("cib_message", ["type": "full", "from": from, "view": String(view)])
            e.append(cib.root)
            return e
        }
    }

    /// Reads a message; anything malformed is refused with what is wrong.
    public init(xml e: XElement) throws(CIBError) {
        func need(_ name: String) throws(CIBError) -> String {
            guard let v = e[name], !v.isEmpty else { throw CIBError(.malformed, "cib_message: missing attribute \(name)") }
            return v
        }
        func number<T: FixedWidthInteger>(_ name: String, _: T.Type) throws(CIBError) -> T {
            guard let v = T(try need(name)) else { throw CIBError(.malformed, "cib_message: \(name) is not a number") }
            return v
        }
        guard e.name == "cib_message" else { throw CIBError(.malformed, "expected <cib_message>, got <\(e.name)>") }
        switch try need("type") {
        case "change":
            guard let p = e.firstElement(named: "diff"), let o = e.firstElement(named: "operation") else {
                throw CIBError(.malformed, "cib_message change: needs a <diff> and an <operation>")
            }
            self = .change(origin: try need("origin"), request: try number("request", UInt64.self), attempt: try number("attempt", Int.self),
                           patch: try CIBPatch(xml: p), operation: try Self.operation(o))
        case "offer":
            self = .offer(from: try need("from"), view: try number("view", UInt64.self), version: CIBVersion(attributesOf: e),
                          digest: try need("digest"))
        case "full":
            guard let c = e.firstElement(named: "cib") else { throw CIBError(.malformed, "cib_message full: needs a <cib>") }
            self = .full(from: try need("from"), view: try number("view", UInt64.self), cib: try CIB(c))
        case let other:
            throw CIBError(.malformed, "cib_message: unknown type '\(other)'")
        }
    }

    static func operationXML(_ op: CIBReplica.Operation) -> XElement {
        func wrap(_ kind: String, _ section: CIBSection?, _ child: XElement?, extra: KeyValuePairs<String, String> = [:]) -> XElement {
            var e = XElement("operation", ["kind": kind])
            if let section { e["section"] = section.rawValue }
            for (k, v) in extra { e[k] = v }
            if let child { e.append(child) }
            return e
        }
        switch op {
        case .create(let x, let s): return wrap("create", s, x)
        case .modify(let x, let s, let allow): return wrap("modify", s, x, extra: ["allow-create": allow ? "true" : "false"])
        case .replace(let x, let s): return wrap("replace", s, x)
        case .delete(let x, let s): return wrap("delete", s, x)
        case .xpath(let path, let edit):
            switch edit {
            case .modify(let x): return wrap("xpath-modify", nil, x, extra: ["xpath": path])
            case .replace(let x): return wrap("xpath-replace", nil, x, extra: ["xpath": path])
            case .create(let x): return wrap("xpath-create", nil, x, extra: ["xpath": path])
            case .delete(let all): return wrap("xpath-delete", nil, nil, extra: ["xpath": path, "all": all ? "true" : "false"])
            }
        case .patch(let p): return wrap("patch", nil, p.xml)
        case .replaceAll(let c): return wrap("replace-all", nil, c.root)
        }
    }

    static func operation(_ e: XElement) throws(CIBError) -> CIBReplica.Operation {
        let section: CIBSection?
        if let s = e["section"] {
            guard let known = CIBSection(rawValue: s) else { throw CIBError(.malformed, "operation: unknown section '\(s)'") }
            section = known
        } else {
            section = nil
        }
        func child() throws(CIBError) -> XElement {
            guard let c = e.elements.first else { throw CIBError(.malformed, "operation \(e["kind"] ?? ""): needs an element") }
            return c
        }
        func xpath() throws(CIBError) -> String {
            guard let x = e["xpath"] else { throw CIBError(.malformed, "operation \(e["kind"] ?? ""): needs an xpath") }
            return x
        }
        switch e["kind"] ?? "" {
        case "create": return .create(try child(), section: section)
        case "modify": return .modify(try child(), section: section, allowCreate: e["allow-create"] == "true")
        case "replace": return .replace(try child(), section: section)
        case "delete": return .delete(try child(), section: section)
        case "xpath-modify": return .xpath(try xpath(), .modify(try child()))
        case "xpath-replace": return .xpath(try xpath(), .replace(try child()))
        case "xpath-create": return .xpath(try xpath(), .create(try child()))
        case "xpath-delete": return .xpath(try xpath(), .delete(all: e["all"] == "true"))
        case "patch": return .patch(try CIBPatch(xml: try child()))
        case "replace-all": return .replaceAll(try CIB(try child()))
        case let other: throw CIBError(.malformed, "operation: unknown kind '\(other)'")
        }
    }
}
