/// What one corosyncd runs, as an instance: the totem membership and ring (``TotemNode``), with
/// votequorum (``Votequorum``) on top, fed by the membership changes and by the node
/// information every member multicasts in total order after each change (votequorum's
/// NodeInfo messages).
///
/// Like its parts, it never reads a clock, sleeps or does I/O: the daemon hands it packets
/// (already opened by ``PacketProtection`` and decoded by ``TotemWire``) and timer expiries,
/// and performs the ``Directive``s it returns. That keeps corosyncd a thin shell and lets a
/// whole cluster of engines run in one test process.
public struct ClusterEngine: Sendable {
    public typealias NodeID = TotemNode.NodeID

    /// A new membership, with what changed against the previous one.
    public struct Membership: Sendable, Equatable {
        public var ring: TotemRing.RingID
        /// Sorted.
        public var members: [NodeID]
        public var joined: [NodeID]
        public var left: [NodeID]

        public init(ring: TotemRing.RingID, members: [NodeID], joined: [NodeID], left: [NodeID]) {
            self.ring = ring
            self.members = members
            self.joined = joined
            self.left = left
        }
    }

    /// The engine's timers: the ring's and votequorum's.
    public enum Timer: Sendable, Hashable {
        case totem(TotemNode.Timer)
        case quorum(Votequorum.Timer)
    }

    /// What the shell must do.
    public enum Directive: Sendable, Equatable {
        /// Seal and send to every other node of the nodelist.
        case multicast(TotemNode.Packet)
        /// Seal and send to one node.
        case send(TotemNode.Packet, to: NodeID)
        /// Arm (or re-arm) a timer; its expiry comes back through ``onTimer(_:)``.
        case schedule(Timer, after: Duration)
        case cancel(Timer)
        /// Store the ring sequence number durably before going on (see
        /// ``TotemNode/Directive/storeRingSeq(_:)``).
        case storeRingSeq(UInt64)
        /// The node went back to gathering a membership, and why.
        case gathering(TotemNode.GatherReason)
        /// The transitional membership (EVS): the members of the old ring `ring` moving into
        /// the new one with this node; the old ring's last messages follow, then
        /// ``membershipChanged(_:)``.
        case transitionalMembership(ring: TotemRing.RingID, members: [NodeID])
        /// A new membership was installed (after the old ring's messages were delivered).
        case membershipChanged(Membership)
        /// The quorum state, published at the first membership and at every change.
        case quorumChanged(Votequorum.Status)
        /// An application message, in the agreed order.
        case deliver(TotemRing.Message)
        /// A closed process group event for the local members of that group.
        case processGroup(ProcessGroups.Event)
        /// A member asked every node to read corosync.conf again (`corosync-cfgtool -R`).
        case reloadConfig(requestedBy: NodeID)
        /// A member asked this node to stop (`corosync-cfgtool -k`): the shell exits.
        case killed(by: NodeID, reason: String)
    }

    /// The first byte of every payload on the ring says which service it belongs to.
    enum Service: UInt8 {
        case application = 0
        case votequorum = 1
        case processGroups = 2
        /// Several service messages in one ring message: each a 2-byte big-endian length and
        /// the message (service byte first). Small CPG requests queued while the token is
        /// elsewhere are packed so (as corosync's totempg packs its messages).
        case packed = 3
        /// An administrator's request every member applies when it is delivered (``AdminRequest``).
        case admin = 4
    }

    /// What an administrator asks of the whole cluster, applied by every member at the same
    /// place in the agreed order: votequorum's reconfigure (`corosync-quorumtool -e`, `-v`),
    /// cfg's reload and kill (`corosync-cfgtool -R`, `-k`).
    public enum AdminRequest: Sendable, Equatable {
        case setExpectedVotes(Int)
        case setVotes(node: NodeID, votes: Int)
        case reloadConfig
        case killNode(NodeID, reason: String)

        /// `0x04 | kind u8 | ...`: 1 expected u32; 2 node u32, votes u32; 3; 4 node u32, reason (UTF-8, at most 255 bytes).
        var encoded: [UInt8] {
            var b: [UInt8] = [Service.admin.rawValue]
            func put(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { b.append(contentsOf: $0) } }
            switch self {
            case .setExpectedVotes(let n):
                b.append(1)
                put(UInt32(clamping: n))
            case .setVotes(let node, let votes):
                b.append(2)
                put(node)
                put(UInt32(clamping: votes))
            case .reloadConfig:
                b.append(3)
            case .killNode(let node, let reason):
                b.append(4)
                put(node)
                b += Array(reason.utf8.prefix(255))
            }
            return b
        }

        init?(decoding b: [UInt8]) {
            guard b.count >= 2, b[0] == Service.admin.rawValue else { return nil }
            func get(_ at: Int) -> UInt32 { b[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
            switch b[1] {
            case 1 where b.count == 6:
                let n = Int(get(2))
                guard n >= 1, n <= Votequorum.maxVotes else { return nil }
                self = .setExpectedVotes(n)
            case 2 where b.count == 10:
                let v = Int(get(6))
                guard get(2) != 0, v <= Votequorum.maxVotes else { return nil }
                self = .setVotes(node: get(2), votes: v)
            case 3 where b.count == 2:
                self = .reloadConfig
            case 4 where b.count >= 6 && b.count <= 6 + 255:
                guard get(2) != 0 else { return nil }
                self = .killNode(get(2), reason: String(decoding: b[6...], as: UTF8.self))
            default:
                return nil
            }
        }
    }

    public let nodeID: NodeID
    public private(set) var totem: TotemNode
    /// nil when votequorum is off (no `quorum { provider: corosync_votequorum }`).
    public private(set) var quorum: Votequorum?
    /// The installed membership, nil before the first.
    public private(set) var membership: Membership?
    /// The closed process groups, as the agreed order has made them.
    public private(set) var processGroups: ProcessGroups
    /// Application messages delivered so far.
    public private(set) var deliveredCount: UInt64 = 0
    /// Service messages that could not be decoded (and were ignored).
    public private(set) var malformedServiceMessages: UInt64 = 0
    private var votes: [NodeID: Int]
    private var quorumInfo: [NodeID: Votequorum.Member] = [:]
    /// The totem state after the last call, to notice a return to gather.
    private var stateSeen: TotemNode.State = .gather

    /// - Parameters:
    ///   - nodeID: this node.
    ///   - config: the parsed corosync.conf (nodelist, totem timers, quorum settings).
    ///   - ringSeq: the ring sequence number stored by the last run (0 on a first start).
    ///   - seed: seeds the protocol's random choices (the `send_join` delays).
    public init(nodeID: NodeID, config: CorosyncConfig, ringSeq: UInt64 = 0, seed: UInt64 = 0) {
        self.nodeID = nodeID
        processGroups = ProcessGroups(nodeID: nodeID)
        let ids = config.nodes.map(\.nodeID)
        totem = TotemNode(nodeID: nodeID, nodelist: ids, timing: config.totem.timing(nodeCount: ids.count), ringSeq: ringSeq, seed: seed)
        quorum = Votequorum.Settings(config).map { Votequorum(nodeID: nodeID, settings: $0) }
        var v: [NodeID: Int] = [:]
        for n in config.nodes { v[n.nodeID] = n.quorumVotes ?? config.quorum.votes ?? 1 }
        votes = v
    }

    /// Queues an administrator's request for every member (this one too) to apply when it is
    /// delivered in the agreed order.
    public mutating func submit(_ request: AdminRequest) -> [Directive] {
        totem.submit(request.encoded)
        return translate(totem.releaseHeldToken())
    }

    /// Starts gathering a membership.
    public mutating func start() -> [Directive] {
        translate(totem.start())
    }

    /// Queues an application payload for total-order delivery to every member.
    public mutating func submit(_ payload: [UInt8]) -> [Directive] {
        totem.submit([Service.application.rawValue] + payload)
        return translate(totem.releaseHeldToken())
    }

    /// The largest service message packed with others (larger ones travel alone).
    public static let packable = 16 * 1024

    /// Submits a local process's group request (join, leave, multicast) to the ring. A small
    /// one is packed into the ring message still waiting for the token, when there is room.
    public mutating func submit(_ request: ProcessGroups.Request) -> [Directive] {
        let body = request.payload
        let size = 1 + body.count
        let limit = totem.timing.maxFragmentPayload + 1
        let packed = size <= Self.packable && totem.amendLastSubmitted { last in
            // last: totem's tag, then one service message or a packed one.
            guard last.count >= 2 else { return false }
            if last[1] == Service.packed.rawValue {
                guard last.count + 2 + size <= limit else { return false }
            } else {
                let first = last.count - 1
                guard first <= Self.packable, last.count + 3 + 2 + size <= limit else { return false }
                var converted: [UInt8] = [last[0], Service.packed.rawValue, UInt8(first >> 8), UInt8(first & 0xff)]
                // Room for a few more like it, not for `limit`: 256 payloads waiting for the
                // token, each with 64 kB reserved, held 16 MB for a few messages each.
                converted.reserveCapacity(min(limit, last.count + 4 * (5 + size)))
                converted += last[1...]
                last = converted
            }
            last.append(UInt8(size >> 8))
            last.append(UInt8(size & 0xff))
            last.append(Service.processGroups.rawValue)
            last += body
            return true
        }
        if !packed { totem.submit([Service.processGroups.rawValue] + body) }
        return translate(totem.releaseHeldToken())
    }

    /// A packet from `sender` (the authenticated sender of its envelope). Membership packets
    /// that claim to come from another node than the one that sealed them are ignored.
    public mutating func onPacket(_ packet: TotemNode.Packet, from sender: NodeID) -> [Directive] {
        switch packet {
        case .join(let j) where j.sender != sender: return []
        case .mergeDetect(_, let from) where from != sender: return []
        case .leave(_, let from) where from != sender: return []
        case .ring(.holdCancel(_, let from)) where from != sender: return []
        default: break
        }
        return translate(totem.onPacket(packet))
    }

    public mutating func onTimer(_ timer: Timer) -> [Directive] {
        switch timer {
        case .totem(let t): return translate(totem.onTimer(t))
        case .quorum(let t):
            guard quorum != nil else { return [] }
            return translate(quorum!.onTimer(t))
        }
    }

    /// Leaves cleanly (shutdown): the returned packets tell the others at once.
    public mutating func leave() -> [Directive] {
        translate(totem.leave())
    }

    // MARK: composition

    private mutating func translate(_ directives: [TotemNode.Directive]) -> [Directive] {
        let wasGathering = stateSeen == .gather
        defer { stateSeen = totem.state }
        var out: [Directive] = []
        for d in directives {
            switch d {
            case .multicast(let p): out.append(.multicast(p))
            case .send(let p, let to): out.append(.send(p, to: to))
            case .schedule(let t, let after): out.append(.schedule(.totem(t), after: after))
            case .cancel(let t): out.append(.cancel(.totem(t)))
            case .storeRingSeq(let s): out.append(.storeRingSeq(s))
            case .deliver(let m): out += onDeliver(m)
            case .configurationChange(let ring, let members): out += onConfigurationChange(ring, members: members)
            case .transitionalConfiguration(let ring, let members): out.append(.transitionalMembership(ring: ring, members: members))
            }
        }
        if !wasGathering, totem.state == .gather, let reason = totem.lastGatherReason {
            out.insert(.gathering(reason), at: 0)
        }
        return out
    }

    private mutating func translate(_ directives: [Votequorum.Directive]) -> [Directive] {
        directives.map {
            switch $0 {
            case .schedule(let t, let after): .schedule(.quorum(t), after: after)
            case .cancel(let t): .cancel(.quorum(t))
            case .publish(let s): .quorumChanged(s)
            }
        }
    }

    private mutating func onConfigurationChange(_ ring: TotemRing.RingID, members: [NodeID]) -> [Directive] {
        let old = Set(membership?.members ?? [])
        let now = Set(members)
        let change = Membership(ring: ring, members: members.sorted(), joined: now.subtracting(old).sorted(),
                                left: old.subtracting(now).sorted())
        membership = change
        var out: [Directive] = [.membershipChanged(change)]
        // Every member sends its join list, even an empty one: the groups' view of the new
        // ring is synchronized once all of them are delivered.
        let joinList = processGroups.onMembership(ring: ring, members: members)
        totem.submit([Service.processGroups.rawValue] + joinList.payload)
        out += translate(totem.releaseHeldToken())
        guard quorum != nil else { return out }
        // What was known of members that stay holds until they say otherwise; new members
        // count with their configured votes until their node information arrives.
        var info: [NodeID: Votequorum.Member] = [:]
        for id in members {
            info[id] = (old.contains(id) ? quorumInfo[id] : nil) ?? Votequorum.Member(id, votes: votes[id] ?? 1)
        }
        quorumInfo = info
        out += translate(quorum!.onMembership(members.map { quorumInfo[$0]! }))
        quorumInfo[nodeID] = ownInfo
        totem.submit(QuorumNodeInfo(ownInfo).encoded)
        out += translate(totem.releaseHeldToken())
        return out
    }

    private var ownInfo: Votequorum.Member {
        let q = quorum!
        return Votequorum.Member(nodeID, votes: votes[nodeID] ?? 1, isQuorate: q.isQuorate,
                                 expectedVotes: q.expectedVotes, isWaitingForAll: q.isWaitingForAll)
    }

    private mutating func onDeliver(_ m: TotemRing.Message) -> [Directive] {
        guard let first = m.payload.first, let service = Service(rawValue: first) else {
            malformedServiceMessages += 1
            return []
        }
        switch service {
        case .packed:
            // Each inner message as if it had come on its own; a bad length ends the message.
            var out: [Directive] = []
            var i = m.payload.startIndex + 1
            let end = m.payload.endIndex
            while i < end {
                guard end - i >= 2 else { malformedServiceMessages += 1; break }
                let n = Int(m.payload[i]) << 8 | Int(m.payload[i + 1])
                i += 2
                guard n >= 1, end - i >= n, m.payload[i] != Service.packed.rawValue else { malformedServiceMessages += 1; break }
                out += onDeliver(TotemRing.Message(ring: m.ring, seq: m.seq, sender: m.sender, payload: Array(m.payload[i..<i + n])))
                i += n
            }
            return out
        case .processGroups:
            return processGroups.onDeliver(Array(m.payload.dropFirst()), from: m.sender).map { .processGroup($0) }
        case .application:
            deliveredCount += 1
            return [.deliver(TotemRing.Message(ring: m.ring, seq: m.seq, sender: m.sender, payload: Array(m.payload.dropFirst())))]
        case .admin:
            guard let request = AdminRequest(decoding: m.payload) else {
                malformedServiceMessages += 1
                return []
            }
            return onAdmin(request, from: m.sender)
        case .votequorum:
            guard let info = QuorumNodeInfo(decoding: m.payload), info.member.nodeID == m.sender else {
                malformedServiceMessages += 1
                return []
            }
            guard quorum != nil, m.sender != nodeID, quorumInfo[m.sender] != nil,
                  quorumInfo[m.sender] != info.member else { return [] }
            quorumInfo[m.sender] = info.member
            let members = (membership?.members ?? []).compactMap { quorumInfo[$0] }
            var out = translate(quorum!.onMembership(members))
            // Tell the others when our own state changed because of it.
            if quorumInfo[nodeID] != ownInfo {
                quorumInfo[nodeID] = ownInfo
                totem.submit(QuorumNodeInfo(ownInfo).encoded)
                out += translate(totem.releaseHeldToken())
            }
            return out
        }
    }
}

extension ClusterEngine {
    /// An administrator's request, delivered: every member applies it at the same place in
    /// the order.
    private mutating func onAdmin(_ request: AdminRequest, from sender: NodeID) -> [Directive] {
        switch request {
        case .reloadConfig:
            return [.reloadConfig(requestedBy: sender)]
        case .killNode(let node, let reason):
            return node == nodeID ? [.killed(by: sender, reason: reason)] : []
        case .setExpectedVotes(let n):
            guard quorum != nil else { return [] }
            return translate(quorum!.setExpectedVotes(n)) + announceOwnInfo()
        case .setVotes(let node, let n):
            guard quorum != nil else { return [] }
            votes[node] = n
            quorumInfo[node]?.votes = n
            if node == nodeID { quorumInfo[nodeID] = ownInfo }
            let members = (membership?.members ?? []).compactMap { quorumInfo[$0] }
            return translate(quorum!.onVotesChanged(members)) + announceOwnInfo()
        }
    }

    /// Multicasts this node's votequorum information when it changed.
    private mutating func announceOwnInfo() -> [Directive] {
        guard quorum != nil, quorumInfo[nodeID] != ownInfo else { return [] }
        quorumInfo[nodeID] = ownInfo
        totem.submit(QuorumNodeInfo(ownInfo).encoded)
        return translate(totem.releaseHeldToken())
    }

    /// New totem timers after a config reload (see ``TotemNode/updateTiming(_:)``).
    public mutating func updateTiming(_ timing: TotemTiming) {
        totem.updateTiming(timing)
    }

    /// Applies a request on this node alone, without the ring: after a config reload each
    /// member applies what its own copy of corosync.conf says.
    public mutating func applyLocally(_ request: AdminRequest) -> [Directive] {
        onAdmin(request, from: nodeID)
    }

    /// The votes a node has (its configured votes, or what an administrator set).
    public func votes(of node: NodeID) -> Int { votes[node] ?? 1 }
}

/// votequorum's node information, multicast by every member after each membership change:
///
/// ```
/// 0x01 (service) | node id u32 | votes u32 | expected votes u32 | flags u8 (1: quorate, 2: waiting for all)
/// ```
struct QuorumNodeInfo: Sendable, Equatable {
    var member: Votequorum.Member

    init(_ member: Votequorum.Member) { self.member = member }

    var encoded: [UInt8] {
        var b: [UInt8] = [ClusterEngine.Service.votequorum.rawValue]
        func put(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { b.append(contentsOf: $0) } }
        put(member.nodeID)
        put(UInt32(clamping: max(0, member.votes)))
        put(UInt32(clamping: max(0, member.expectedVotes ?? 0)))
        b.append((member.isQuorate ? 1 : 0) | (member.isWaitingForAll ? 2 : 0))
        return b
    }

    /// nil for anything but exactly one well-formed record; votes are bounded as corosync.conf
    /// bounds them.
    init?(decoding b: [UInt8]) {
        guard b.count == 14, b[0] == ClusterEngine.Service.votequorum.rawValue, b[13] & ~3 == 0 else { return nil }
        func get(_ at: Int) -> UInt32 { b[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        let id = get(1), votes = Int(get(5)), expected = Int(get(9))
        guard id != 0, votes <= Votequorum.maxVotes, expected <= Votequorum.maxVotes else { return nil }
        member = Votequorum.Member(id, votes: votes, isQuorate: b[13] & 1 != 0, expectedVotes: expected == 0 ? nil : expected,
                                   isWaitingForAll: b[13] & 2 != 0)
    }
}
