/// Closed process groups (corosync's CPG) as an instance: which processes, on which nodes,
/// belong to which named group, and what each group member receives, all decided by the one
/// total order of the ring, so that every node sees the same group changes at the same place
/// in the stream of messages.
///
/// A local process (identified by its pid) joins, leaves or multicasts through this node's
/// instance, which turns the request into a ring payload (``Request``); nothing changes until
/// the ring delivers it, at every node alike.
///
/// Synchronization after a membership change (corosync's CPG sync: downlist and joinlist). Nodes
/// that come from different rings hold different views of the groups, so a new ring first
/// agrees on one: every member multicasts a join list, tagged with the new ring, naming its own
/// processes and their groups (each node is the authority on its own processes). When the join
/// lists of all members of the ring have been delivered (at the same place of the stream
/// everywhere), each node replaces its view with what they say, and tells its members of the
/// difference in one configuration change per group (members of nodes that left: `nodedown`;
/// processes the lists bring: `nodeup`). Group requests delivered in the ring before that point
/// are held and applied right after it, in their order. So every node of a ring reports the same
/// configurations in the same order once the ring is synchronized, and a node reports nothing
/// from a ring that never got there (its held requests are dropped, at every node that delivered
/// them: a multicast sent then is lost, and a join or leave of this node's own process still
/// counts, through the next join list).
///
/// The instance does no I/O: the local IPC hands it the clients' requests and routes the
/// ``Event``s to the clients that are members of the group.
public struct ProcessGroups: Sendable, Equatable {
    public typealias NodeID = UInt32

    /// A group member: a process on a node.
    public struct Member: Sendable, Hashable, Comparable, CustomStringConvertible {
        public var node: NodeID
        public var pid: UInt32

        public init(node: NodeID, pid: UInt32) {
            self.node = node
            self.pid = pid
        }

        public static func < (a: Member, b: Member) -> Bool { (a.node, a.pid) < (b.node, b.pid) }
        public var description: String { "\(node):\(pid)" }
    }

    /// Why a member joined or left (corosync's CPG_REASON_* values).
    public enum Reason: UInt8, Sendable, Equatable {
        case join = 1, leave = 2, nodeDown = 3, nodeUp = 4, processDown = 5
    }

    /// A member with the reason of its change.
    public struct Change: Sendable, Equatable {
        public var member: Member
        public var reason: Reason

        public init(_ member: Member, _ reason: Reason) {
            self.member = member
            self.reason = reason
        }
    }

    /// What the members of a group are told.
    public enum Event: Sendable, Equatable {
        /// The group's members changed (corosync's confchg callback): all members after the
        /// change, sorted, and who joined and left.
        case configurationChange(group: String, members: [Member], joined: [Change], left: [Change])
        /// A message multicast to the group, in the agreed order.
        case deliver(group: String, from: Member, payload: [UInt8])
    }

    /// The longest group name (corosync's CPG_MAX_NAME_LENGTH).
    public static let maxNameLength = 128
    /// The most groups one join list may carry.
    public static let maxJoinList = 4096

    public let nodeID: NodeID
    /// The members of every group, as the events so far have told them (this node's view).
    public private(set) var groups: [String: Set<Member>] = [:]
    /// Ring payloads that could not be decoded (ignored).
    public private(set) var malformed: UInt64 = 0
    /// This node's own processes in each group, as their delivered requests made them: what its
    /// next join list says, whether or not the view is synchronized.
    private var own: [String: Set<UInt32>] = [:]
    /// The ring whose view is being synchronized (or was, once ``isSynchronized``).
    public private(set) var ring: TotemRing.RingID?
    private var ringMembers: Set<NodeID> = []
    /// The join lists of `ring` delivered so far.
    private var joinLists: [NodeID: [JoinEntry]] = [:]
    /// Every member's join list of the current ring has been delivered and applied.
    public private(set) var isSynchronized = false
    /// Group requests delivered in `ring` before it was synchronized, in order.
    private var held: [HeldRequest] = []

    struct JoinEntry: Sendable, Equatable {
        var group: String
        var pid: UInt32
    }

    struct HeldRequest: Sendable, Equatable {
        var payload: [UInt8]
        var sender: NodeID
    }
    /// Requests dropped because their ring never got synchronized.
    public private(set) var droppedUnsynchronized: UInt64 = 0

    public init(nodeID: NodeID) {
        self.nodeID = nodeID
    }

    /// The members of a group, sorted.
    public func members(of group: String) -> [Member] { (groups[group] ?? []).sorted() }

    // MARK: requests of local processes

    /// What a local request becomes on the ring; submit ``payload`` (through
    /// ``ClusterEngine``), nothing takes effect before it is delivered.
    public struct Request: Sendable, Equatable {
        public var payload: [UInt8]
    }

    /// Why a request was refused at once.
    public enum RequestError: Error, Sendable, Equatable {
        /// An empty name or one over ``maxNameLength`` bytes.
        case badName
    }

    public func join(_ group: String, pid: UInt32) throws(RequestError) -> Request {
        try Request(payload: Wire.encode(.join, group: group, pid: pid))
    }

    public func leave(_ group: String, pid: UInt32) throws(RequestError) -> Request {
        try Request(payload: Wire.encode(.leave, group: group, pid: pid))
    }

    public func multicast(_ group: String, pid: UInt32, payload: [UInt8]) throws(RequestError) -> Request {
        try Request(payload: Wire.encode(.multicast, group: group, pid: pid) + payload)
    }

    /// A local process ended or closed its connection: it leaves this group (reason
    /// `processDown`). Harmless when it is not a member by the time it is delivered.
    public func processDown(_ group: String, pid: UInt32) throws(RequestError) -> Request {
        try Request(payload: Wire.encode(.processDown, group: group, pid: pid))
    }

    /// A local process ended: it leaves every group it was in (reason `processDown`).
    public func processEnded(pid: UInt32) -> [Request] {
        let me = Member(node: nodeID, pid: pid)
        return groups.keys.sorted().filter { groups[$0]!.contains(me) }.compactMap {
            try? Request(payload: Wire.encode(.processDown, group: $0, pid: pid))
        }
    }

    // MARK: what the ring delivers

    /// A CPG payload delivered by the ring from `sender` (service byte already removed).
    public mutating func onDeliver(_ payload: [UInt8], from sender: NodeID) -> [Event] {
        guard let message = Wire.decode(payload) else {
            malformed += 1
            return []
        }
        switch message {
        case .request(let kind, let group, let pid, _):
            if sender == nodeID {
                switch kind {
                case .join: own[group, default: []].insert(pid)
                case .leave, .processDown:
                    own[group]?.remove(pid)
                    if own[group]?.isEmpty == true { own[group] = nil }
                case .multicast, .joinList: break
                }
            }
            guard isSynchronized else {
                held.append(HeldRequest(payload: payload, sender: sender))
                return []
            }
            return apply(message, from: sender)
        case .joinList(let listRing, let entries):
            guard listRing == ring, !isSynchronized, ringMembers.contains(sender), joinLists[sender] == nil else { return [] }
            joinLists[sender] = entries.map { JoinEntry(group: $0.0, pid: $0.1) }
            guard ringMembers.allSatisfy({ joinLists[$0] != nil }) else { return [] }
            return synchronize()
        }
    }

    /// A request in the agreed order, on a synchronized view.
    private mutating func apply(_ message: Wire.Message, from sender: NodeID) -> [Event] {
        guard case .request(let kind, let group, let pid, let data) = message else { return [] }
        let member = Member(node: sender, pid: pid)
        switch kind {
        case .join:
            return add([member], to: group, reason: .join)
        case .leave, .processDown:
            return remove([member], from: group, reason: kind == .leave ? .leave : .processDown)
        case .multicast:
            guard groups[group]?.contains(member) == true else { return [] }
            return [.deliver(group: group, from: member, payload: data)]
        case .joinList:
            return []
        }
    }

    /// Every member's join list is in: the view becomes what they say, one configuration change
    /// per group that differs, then the requests held so far.
    private mutating func synchronize() -> [Event] {
        var view: [String: Set<Member>] = [:]
        for node in ringMembers.sorted() {
            for e in joinLists[node]! { view[e.group, default: []].insert(Member(node: node, pid: e.pid)) }
        }
        var out: [Event] = []
        for group in Set(groups.keys).union(view.keys).sorted() {
            let before = groups[group] ?? [], after = view[group] ?? []
            let joined = after.subtracting(before), left = before.subtracting(after)
            guard !joined.isEmpty || !left.isEmpty else { continue }
            out.append(.configurationChange(
                group: group, members: after.sorted(),
                joined: joined.sorted().map { Change($0, $0.node == nodeID ? .join : .nodeUp) },
                left: left.sorted().map { Change($0, !ringMembers.contains($0.node) ? .nodeDown : $0.node == nodeID ? .leave : .processDown) }))
        }
        groups = view
        isSynchronized = true
        joinLists = [:]
        let requests = held
        held = []
        for r in requests {
            if let m = Wire.decode(r.payload) { out += apply(m, from: r.sender) }
        }
        return out
    }

    /// A new ring is installed: its view must be synchronized before anything more is reported.
    /// Returns this node's join list, to be submitted to the new ring (every member must send
    /// one, even an empty one). Requests held from a ring that never got synchronized are
    /// dropped.
    public mutating func onMembership(ring newRing: TotemRing.RingID, members: [NodeID]) -> Request {
        droppedUnsynchronized += UInt64(held.count)
        held = []
        ring = newRing
        ringMembers = Set(members)
        joinLists = [:]
        isSynchronized = false
        var entries: [(String, UInt32)] = []
        for group in own.keys.sorted() {
            for pid in own[group]!.sorted() { entries.append((group, pid)) }
        }
        return Request(payload: Wire.encodeJoinList(ring: newRing, Array(entries.prefix(Self.maxJoinList))))
    }

    private mutating func add(_ new: [Member], to group: String, reason: Reason) -> [Event] {
        var set = groups[group] ?? []
        let joined = new.filter { !set.contains($0) }
        guard !joined.isEmpty else { return [] }
        set.formUnion(joined)
        groups[group] = set
        return [.configurationChange(group: group, members: set.sorted(), joined: joined.sorted().map { Change($0, reason) }, left: [])]
    }

    private mutating func remove(_ old: [Member], from group: String, reason: Reason) -> [Event] {
        guard var set = groups[group] else { return [] }
        let left = old.filter { set.contains($0) }
        guard !left.isEmpty else { return [] }
        set.subtract(left)
        groups[group] = set.isEmpty ? nil : set
        return [.configurationChange(group: group, members: set.sorted(), joined: [], left: left.sorted().map { Change($0, reason) })]
    }

    // MARK: the payloads

    /// ```
    /// request:   kind u8 (1 join, 2 leave, 3 multicast, 5 process down) | name length u8 | name
    ///            | pid u32 | data (multicast only)
    /// join list: 4 | ring seq u64 | ring representative u32 | count u16
    ///            | (name length u8 | name | pid u32) * count
    /// ```
    enum Wire {
        enum Kind: UInt8 { case join = 1, leave = 2, multicast = 3, joinList = 4, processDown = 5 }

        enum Message {
            case request(Kind, group: String, pid: UInt32, data: [UInt8])
            case joinList(TotemRing.RingID, [(String, UInt32)])
        }

        static func name(_ group: String) throws(RequestError) -> [UInt8] {
            let bytes = Array(group.utf8)
            guard !bytes.isEmpty, bytes.count <= maxNameLength else { throw .badName }
            return bytes
        }

        static func encode(_ kind: Kind, group: String, pid: UInt32) throws(RequestError) -> [UInt8] {
            let n = try name(group)
            var b: [UInt8] = [kind.rawValue, UInt8(n.count)]
            b += n
            withUnsafeBytes(of: pid.bigEndian) { b.append(contentsOf: $0) }
            return b
        }

        static func encodeJoinList(ring: TotemRing.RingID, _ entries: [(String, UInt32)]) -> [UInt8] {
            var b: [UInt8] = [Kind.joinList.rawValue]
            withUnsafeBytes(of: ring.seq.bigEndian) { b.append(contentsOf: $0) }
            withUnsafeBytes(of: ring.representative.bigEndian) { b.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt16(entries.count).bigEndian) { b.append(contentsOf: $0) }
            for (group, pid) in entries {
                let n = Array(group.utf8.prefix(maxNameLength))
                b.append(UInt8(n.count))
                b += n
                withUnsafeBytes(of: pid.bigEndian) { b.append(contentsOf: $0) }
            }
            return b
        }

        /// nil for anything that is not exactly one well-formed message.
        static func decode(_ b: [UInt8]) -> Message? {
            var i = b.startIndex
            func byte() -> UInt8? {
                guard i < b.endIndex else { return nil }
                defer { i += 1 }
                return b[i]
            }
            func u32() -> UInt32? {
                guard b.endIndex - i >= 4 else { return nil }
                defer { i += 4 }
                return b[i..<i + 4].reduce(0) { $0 << 8 | UInt32($1) }
            }
            func name() -> String? {
                guard let n = byte(), n > 0, Int(n) <= maxNameLength, b.endIndex - i >= Int(n) else { return nil }
                defer { i += Int(n) }
                return String(validating: b[i..<i + Int(n)], as: UTF8.self)
            }
            guard let k = byte(), let kind = Kind(rawValue: k) else { return nil }
            if kind == .joinList {
                guard let seqHi = u32(), let seqLo = u32(), let rep = u32(), let hi = byte(), let lo = byte() else { return nil }
                let listRing = TotemRing.RingID(seq: UInt64(seqHi) << 32 | UInt64(seqLo), representative: rep)
                let count = Int(hi) << 8 | Int(lo)
                guard count <= maxJoinList else { return nil }
                var entries: [(String, UInt32)] = []
                for _ in 0..<count {
                    guard let g = name(), let pid = u32() else { return nil }
                    entries.append((g, pid))
                }
                return i == b.endIndex ? .joinList(listRing, entries) : nil
            }
            guard let g = name(), let pid = u32() else { return nil }
            let data = Array(b[i...])
            guard kind == .multicast || data.isEmpty else { return nil }
            return .request(kind, group: g, pid: pid, data: data)
        }
    }
}
