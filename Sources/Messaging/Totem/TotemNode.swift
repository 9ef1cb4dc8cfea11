/// One node of the Totem protocol: the membership algorithm (gather, commit, install) around the
/// operational ring (``TotemRing``), as an instance that returns directives.
///
/// - Gather: a node that starts, loses the token, fails to receive, or hears of another ring
///   multicasts a join with the nodes it believes alive (`proc`) and those it gave up on
///   (`fail`), every `join` ms. Joins are merged (unions of both sets) until every node of
///   `proc - fail` has sent a join with exactly the same sets: that is consensus. Nodes that do
///   not answer within `consensus` ms are moved to `fail`.
/// - Commit: the lowest node id of the agreed set creates a commit token for a new ring (sequence
///   number above every one seen) and passes it around the new members twice: the first rotation
///   tells every member the ring is forming, the second installs it.
/// - Recovery: each member starts a ``TotemRing`` for the new ring. Members that come from the
///   same old ring (the commit token carries each member's old ring and its all-received-up-to)
///   first multicast, in the new ring, the old ring's messages that some of them may lack, then a
///   "done" marker. A member sends nothing new until its recovery is done (as in totemsrp): a
///   ring given up during its recovery takes none of its messages along. When every member's
///   marker has been delivered, each member has the same set of the old ring's messages; it
///   reports the transitional configuration (the members that came from its old ring),
///   delivers the old ring's messages in their old order, skipping the gaps (messages none of
///   them has, sent by nodes that did not come along), then reports the configuration change,
///   then delivers the new ring's messages. So the members that move together from one ring to
///   the next deliver the same messages of the old ring, and the change arrives at the same
///   place in the stream (Extended Virtual Synchrony).
/// - The representative of every ring multicasts a merge-detect message every `merge` ms so that
///   separated rings find each other.
/// - Fragmentation: a payload longer than ``TotemTiming/maxFragmentPayload`` (from `netmtu`)
///   goes as several ring messages and is delivered whole (see ``FragmentHeader``).
///
/// Simplification against totemsrp: a ring that fails during its own recovery is abandoned as
/// a whole (its members keep the ring before it as their old ring).
public struct TotemNode: Sendable {
    public typealias NodeID = UInt32

    public struct Join: Sendable, Equatable {
        public var sender: NodeID
        /// The highest ring sequence number the sender knows.
        public var ringSeq: UInt64
        public var proc: [NodeID]
        public var fail: [NodeID]

        public init(sender: NodeID, ringSeq: UInt64, proc: [NodeID], fail: [NodeID]) {
            self.sender = sender
            self.ringSeq = ringSeq
            self.proc = proc
            self.fail = fail
        }
    }

    public struct CommitToken: Sendable, Equatable {
        /// What a member brings from its old ring.
        public struct Entry: Sendable, Equatable {
            public var node: NodeID
            public var oldRing: TotemRing.RingID?
            public var oldAru: UInt64

            public init(node: NodeID, oldRing: TotemRing.RingID?, oldAru: UInt64) {
                self.node = node
                self.oldRing = oldRing
                self.oldAru = oldAru
            }
        }

        public var ring: TotemRing.RingID
        public var members: [NodeID]
        /// 1: forming; 2: install.
        public var phase: Int
        /// Filled in by each member during the first rotation.
        public var entries: [Entry] = []

        public init(ring: TotemRing.RingID, members: [NodeID], phase: Int, entries: [Entry] = []) {
            self.ring = ring
            self.members = members
            self.phase = phase
            self.entries = entries
        }
    }

    public enum Packet: Sendable, Equatable {
        case ring(TotemRing.Packet)
        case join(Join)
        case commit(CommitToken)
        case mergeDetect(TotemRing.RingID, from: NodeID)
        /// The sender is shutting down cleanly and leaves `ring` (its last ring): the others
        /// form a new membership without it at once instead of waiting for the token to be lost.
        case leave(TotemRing.RingID, from: NodeID)
    }

    /// Why this node went back to gathering (for the log: corosync's "A processor failed,
    /// forming new configuration" and its kin).
    public enum GatherReason: Sendable, Equatable {
        /// The node has just started.
        case start
        /// The token did not come back within the token timeout.
        case tokenLost
        /// This node missed messages for `fail_recv_const` token rotations.
        case failedToReceive
        /// A join from a node that wants a new membership.
        case joinReceived(from: NodeID)
        /// A merge-detect from another ring: the two rings merge.
        case mergeDetected(from: NodeID)
        /// The commit token did not come back in time.
        case commitLost
        /// A member left cleanly.
        case memberLeft(NodeID)
    }

    public enum Timer: Sendable, Hashable {
        case ring(TotemRing.Timer)
        case join
        case consensus
        case commitLoss
        case merge
        /// The random delay before a join, with `send_join`.
        case sendJoin
    }

    public enum Directive: Sendable, Equatable {
        /// Send to every node of the nodelist but this one.
        case multicast(Packet)
        case send(Packet, to: NodeID)
        case schedule(Timer, after: Duration)
        case cancel(Timer)
        case deliver(TotemRing.Message)
        /// A new ring is installed with these members.
        case configurationChange(ring: TotemRing.RingID, members: [NodeID])
        /// The transitional configuration of Extended Virtual Synchrony: the members of this
        /// node's old ring `ring` that move with it into the new ring (itself included). The old
        /// ring's messages delivered after this and before the next ``configurationChange`` are
        /// delivered in this transitional configuration; every member that makes the same move
        /// reports the same members and then delivers the same messages.
        case transitionalConfiguration(ring: TotemRing.RingID, members: [NodeID])
        /// Store this ring sequence number durably before going on, and pass it back to ``init``
        /// after a restart (corosync keeps it in a ringid file): a restarted node must never
        /// form a ring with an identifier it already used.
        case storeRingSeq(UInt64)
    }

    public enum State: Sendable, Equatable {
        case gather, commit
        /// The new ring runs, but the old ring's messages are still being exchanged.
        case recovery
        case operational
    }

    public let nodeID: NodeID
    public let nodelist: [NodeID]
    public private(set) var timing: TotemTiming
    public private(set) var state: State = .gather
    /// The operational ring, when there is one.
    public private(set) var ring: TotemRing?
    public private(set) var highestRingSeq: UInt64 = 0
    private var proc: Set<NodeID> = []
    private var fail: Set<NodeID> = []
    private var consensus: Set<NodeID> = []
    private var committing: TotemRing.RingID?
    /// Ring payloads (tagged) waiting for the next ring.
    private var pending: [[UInt8]] = []
    /// This node's fragmented messages, by message id, until they are delivered here: a message
    /// cut by a configuration change is submitted again from them.
    private var outgoing: [UInt32: [UInt8]] = [:]
    private var nextMessageID: UInt32 = 0
    /// Fragmented messages being put back together.
    public private(set) var assembler = FragmentAssembler()
    /// The last ring this node was operational in, until the next ring has recovered its messages.
    private var previous: TotemRing?
    /// Messages of `previous` received from the other members during recovery.
    private var recovered: [UInt64: TotemRing.Message] = [:]
    /// Members whose recovery is done (their marker was delivered).
    private var recoveryDone: Set<NodeID> = []
    /// The members of `previous` that move with this node into the ring in recovery.
    private var transitional: [NodeID] = []
    /// New-ring messages delivered by the ring during recovery, held back until it ends.
    private var heldBack: [TotemRing.Message] = []

    /// The highest ring sequence number taken from the network (2^61). Rings grow by 4 per
    /// configuration, so honest ones never come near it; a packet claiming more is ignored, so
    /// that no packet can push this node's ring numbers past what the wire codec accepts
    /// (which would cut it off from its peers for good, the number being stored on disk).
    public static let maxRingSeq: UInt64 = TotemWire.maxSequence >> 1

    /// The largest payload ``submit(_:)`` accepts: 1 MiB.
    public static let maxMessageSize = 1 << 20
    /// How many of its own fragmented messages a node remembers for a resend (the oldest are
    /// forgotten first; they are normally dropped at once when delivered).
    static let maxOutgoing = 256

    /// A join waits for its `send_join` delay.
    private var joinSendPending = false
    /// The random delays of `send_join`; seeded, so a simulation replays exactly.
    private var random: SplitMix64
    /// Why the node last entered gather.
    public private(set) var lastGatherReason: GatherReason?
    /// Set by ``leave()``: the node takes no further part.
    public private(set) var hasLeft = false

    /// Tags in front of every payload on the ring.
    enum Tag: UInt8 {
        case regular = 0
        case recovered = 1
        case recoveryDone = 2
        /// A fragment of a larger message (``FragmentHeader``).
        case fragment = 3
    }

    /// - Parameters:
    ///   - ringSeq: the last value of ``Directive/storeRingSeq(_:)`` this node stored (0 on a
    ///     first start).
    ///   - seed: seeds the random delays of `send_join` (the shell passes a random number; tests
    ///     a fixed one).
    public init(nodeID: NodeID, nodelist: [NodeID], timing: TotemTiming, ringSeq: UInt64 = 0, seed: UInt64 = 0) {
        random = SplitMix64(seed: seed ^ (UInt64(nodeID) &* 0x9E37_79B9_7F4A_7C15))
        self.nodeID = nodeID
        self.nodelist = nodelist.sorted()
        self.timing = timing
        self.highestRingSeq = min(ringSeq, Self.maxRingSeq)
    }

    /// Takes new timers (a config reload: `corosync-cfgtool -R`), as corosync does: timers
    /// armed from now on use them, those already running keep their length. The packet size
    /// stays (netmtu needs a restart: fragments already cut or in flight keep their size).
    public mutating func updateTiming(_ new: TotemTiming) {
        var t = new
        t.netMTU = timing.netMTU
        timing = t
        ring?.timing = t
        previous?.timing = t
    }

    /// The members of the installed ring (empty before the first one).
    public var members: [NodeID] { ring?.members ?? [] }

    /// Ring payloads (fragments counted one by one) submitted here and not yet sent: what the
    /// shell looks at to push back on local clients that send faster than the ring carries.
    public var queuedPayloads: Int { pending.count + (ring?.pending.count ?? 0) }

    /// The bytes of those payloads: what the queue holds in memory.
    public var queuedBytes: Int {
        pending.reduce(0) { $0 + $1.count } + (ring?.pending.reduce(0) { $0 + $1.count } ?? 0)
    }

    /// Starts gathering, alone.
    public mutating func start() -> [Directive] {
        enterGather(proc: [nodeID], fail: [], reason: .start)
    }

    /// Leaves the cluster cleanly (on shutdown): tells every node so that they re-form the
    /// membership without this one at once, cancels every timer and ignores everything from
    /// then on. The caller sends the returned packets and then stops.
    public mutating func leave() -> [Directive] {
        guard !hasLeft else { return [] }
        hasLeft = true
        let last = ring?.ring ?? committing ?? TotemRing.RingID(seq: highestRingSeq, representative: nodeID)
        let packet = Packet.leave(last, from: nodeID)
        leaveRing()
        return [.cancel(.ring(.tokenLoss)), .cancel(.ring(.tokenRetransmit)), .cancel(.ring(.hold)), .cancel(.merge), .cancel(.join),
                .cancel(.consensus), .cancel(.commitLoss), .multicast(packet)]
    }

    /// Queues a payload for total-order multicast; one longer than
    /// ``TotemTiming/maxFragmentPayload`` goes as several fragments and is delivered whole.
    /// Returns false (and queues nothing) for a payload over ``maxMessageSize`` or after
    /// ``leave()``.
    @discardableResult
    public mutating func submit(_ payload: [UInt8]) -> Bool {
        guard !hasLeft, payload.count <= Self.maxMessageSize else { return false }
        let parts = ringPayloads(payload)
        // Nothing new goes out while a ring recovers (as in totemsrp): a ring abandoned during
        // its recovery takes none of this node's messages with it.
        if state == .operational, ring != nil {
            for p in parts { ring!.submit(p) }
        } else {
            pending += parts
        }
        return true
    }

    /// Lets the layer above add to the last payload submitted and not yet sent, when it is a
    /// whole (unfragmented) one, so that several small messages travel as one ring message
    /// (as totempg packs them for totemsrp). `body` gets the payload as the ring carries it
    /// (byte 0 is this node's tag, the submitted bytes follow) and returns whether it changed
    /// it; the result must stay within ``TotemTiming/maxFragmentPayload`` bytes after the tag.
    /// Returns false when nothing was changed: submit the message on its own then.
    public mutating func amendLastSubmitted(_ body: (inout [UInt8]) -> Bool) -> Bool {
        guard !hasLeft else { return false }
        let limit = timing.maxFragmentPayload + 1
        func amend(_ p: inout [UInt8]) -> Bool {
            guard p.first == Tag.regular.rawValue, body(&p) else { return false }
            precondition(p.count <= limit && p.first == Tag.regular.rawValue, "an amended payload must stay one regular ring payload")
            return true
        }
        if state == .operational, ring != nil {
            return ring!.amendLastPending(amend)
        }
        guard !pending.isEmpty else { return false }
        return amend(&pending[pending.count - 1])
    }

    /// A payload as the ring carries it: tagged, and cut into fragments when too long.
    private mutating func ringPayloads(_ payload: [UInt8]) -> [[UInt8]] {
        let chunk = timing.maxFragmentPayload
        guard payload.count > chunk else { return [[Tag.regular.rawValue] + payload] }
        nextMessageID &+= 1
        outgoing[nextMessageID] = payload
        if outgoing.count > Self.maxOutgoing, let oldest = outgoing.keys.max(by: { nextMessageID &- $0 < nextMessageID &- $1 }) {
            outgoing[oldest] = nil
        }
        return FragmentHeader.cut(payload, id: nextMessageID, chunk: chunk)
    }

    /// Passes on the token if this node holds it on an idle ring, so that payloads submitted
    /// just now go out without waiting for the hold timer.
    public mutating func releaseHeldToken() -> [Directive] {
        guard !hasLeft, state == .operational || state == .recovery, ring != nil else { return [] }
        return fromRing(ring!.releaseHeldToken())
    }

    public mutating func onPacket(_ packet: Packet) -> [Directive] {
        guard !hasLeft else { return [] }
        switch packet {
        case .ring(let p):
            guard state == .operational || state == .recovery, ring != nil else { return [] }
            return fromRing(ring!.onPacket(p))
        case .join(let j): return onJoin(j)
        case .commit(let c): return onCommit(c)
        case .mergeDetect(let r, let from): return onMergeDetect(r, from: from)
        case .leave(_, let from): return onLeave(from: from)
        }
    }

    public mutating func onTimer(_ timer: Timer) -> [Directive] {
        guard !hasLeft else { return [] }
        switch timer {
        case .ring(let t):
            guard state == .operational || state == .recovery, ring != nil else { return [] }
            return fromRing(ring!.onTimer(t))
        case .join:
            guard state == .gather else { return [] }
            return sendJoin() + [.schedule(.join, after: timing.join)]
        case .consensus:
            guard state == .gather else { return [] }
            let agreed = proc.subtracting(fail)
            let silent = agreed.subtracting(consensus)
            if silent.isEmpty {
                // Consensus was reached but no commit token came: start the round again.
                consensus = [nodeID]
            } else {
                fail.formUnion(silent)
                consensus = [nodeID]
            }
            var out: [Directive] = sendJoin() + [.schedule(.consensus, after: timing.consensus)]
            out += checkConsensus()
            return out
        case .sendJoin:
            joinSendPending = false
            guard state == .gather else { return [] }
            return [.multicast(.join(myJoin))]
        case .commitLoss:
            guard state == .commit else { return [] }
            return enterGather(proc: proc, fail: [], reason: .commitLost)
        case .merge:
            guard state == .operational || state == .recovery, let ring, ring.ring.representative == nodeID else { return [] }
            return [.multicast(.mergeDetect(ring.ring, from: nodeID)), .schedule(.merge, after: timing.merge)]
        }
    }

    // MARK: gather

    /// Multicasts this node's join now, or, with `send_join` set, after a random delay of up to
    /// send_join (corosync's way of keeping a large cluster's joins from arriving all at once);
    /// the join sent is the one current when the delay ends.
    private mutating func sendJoin() -> [Directive] {
        guard timing.sendJoin > .zero else { return [.multicast(.join(myJoin))] }
        guard !joinSendPending else { return [] }
        joinSendPending = true
        let (s, a) = timing.sendJoin.components
        let micros = max(1, s * 1_000_000 + a / 1_000_000_000_000)
        return [.schedule(.sendJoin, after: .microseconds(Int64.random(in: 0...micros, using: &random)))]
    }

    private var myJoin: Join {
        Join(sender: nodeID, ringSeq: highestRingSeq, proc: proc.sorted(), fail: fail.sorted())
    }

    private mutating func enterGather(proc newProc: Set<NodeID>, fail newFail: Set<NodeID>, reason: GatherReason) -> [Directive] {
        lastGatherReason = reason
        var out: [Directive] = []
        if ring != nil {
            out += [.cancel(.ring(.tokenLoss)), .cancel(.ring(.tokenRetransmit)), .cancel(.ring(.hold)), .cancel(.merge)]
        }
        leaveRing()
        committing = nil
        state = .gather
        proc = newProc.union([nodeID])
        fail = newFail.subtracting([nodeID])
        consensus = [nodeID]
        out += [.cancel(.commitLoss)] + sendJoin() + [.schedule(.join, after: timing.join),
                .schedule(.consensus, after: timing.consensus)]
        out += checkConsensus()
        return out
    }

    private mutating func onJoin(_ j: Join) -> [Directive] {
        guard j.sender != nodeID, nodelist.contains(j.sender), j.ringSeq <= Self.maxRingSeq else { return [] }
        switch state {
        case .operational, .recovery:
            guard let ring, j.ringSeq >= ring.ring.seq else { return [] }
            highestRingSeq = max(highestRingSeq, j.ringSeq)
            var out = enterGather(proc: Set(ring.members).union(j.proc), fail: Set(j.fail), reason: .joinReceived(from: j.sender))
            out += onJoin(j)
            return out
        case .commit:
            guard let committing, j.ringSeq >= committing.seq else { return [] }
            highestRingSeq = max(highestRingSeq, j.ringSeq)
            var out = enterGather(proc: proc.union(j.proc), fail: fail, reason: .joinReceived(from: j.sender))
            out += onJoin(j)
            return out
        case .gather:
            highestRingSeq = max(highestRingSeq, j.ringSeq)
            if fail.contains(j.sender) { return [] }
            var newProc = proc.union(j.proc)
            var newFail = fail.union(j.fail).subtracting([nodeID])
            if j.fail.contains(nodeID) {
                // It gave up on us: we cannot form a ring together this round.
                newFail.insert(j.sender)
            }
            newProc.insert(j.sender)
            var out: [Directive] = []
            if newProc != proc || newFail != fail {
                proc = newProc
                fail = newFail
                consensus = [nodeID]
                out += sendJoin() + [.schedule(.consensus, after: timing.consensus)]
            }
            if Set(j.proc) == proc && Set(j.fail) == fail { consensus.insert(j.sender) }
            out += checkConsensus()
            return out
        }
    }

    private mutating func checkConsensus() -> [Directive] {
        guard state == .gather else { return [] }
        let agreed = proc.subtracting(fail)
        guard agreed.isSubset(of: consensus), let representative = agreed.min(), representative == nodeID else { return [] }
        let members = agreed.sorted()
        let newRing = TotemRing.RingID(seq: highestRingSeq + 4, representative: nodeID)
        highestRingSeq = newRing.seq
        state = .commit
        committing = newRing
        var out: [Directive] = [.storeRingSeq(newRing.seq), .cancel(.join), .cancel(.consensus),
                                .schedule(.commitLoss, after: timing.token)]
        if members == [nodeID] {
            leaveRing()
            out += install(newRing, members: members, entries: [myEntry])
        } else {
            leaveRing()
            out.append(.send(.commit(CommitToken(ring: newRing, members: members, phase: 1, entries: [myEntry])),
                             to: successor(in: members)))
        }
        return out
    }

    // MARK: commit and install

    private func successor(in members: [NodeID]) -> NodeID {
        let i = members.firstIndex(of: nodeID)!
        return members[(i + 1) % members.count]
    }

    private mutating func onCommit(_ c: CommitToken) -> [Directive] {
        guard c.members.contains(nodeID), c.ring.seq <= Self.maxRingSeq, Set(c.members).isSubset(of: nodelist),
              Set(c.members).count == c.members.count else { return [] }
        let rep = c.ring.representative
        switch c.phase {
        case 1:
            if rep == nodeID {
                // Back at the representative: everyone knows; install.
                guard state == .commit, committing == c.ring else { return [] }
                var out = install(c.ring, members: c.members, entries: c.entries)
                var next = c
                next.phase = 2
                out.insert(.send(.commit(next), to: successor(in: c.members)), at: 0)
                return out
            }
            // A newer ring than any we know of, that counts us in (duplicates are older by now).
            guard c.ring.seq > highestRingSeq else { return [] }
            leaveRing()
            highestRingSeq = max(highestRingSeq, c.ring.seq)
            state = .commit
            committing = c.ring
            var c = c
            c.entries.append(myEntry)
            return [.storeRingSeq(c.ring.seq), .cancel(.join), .cancel(.consensus), .cancel(.ring(.tokenLoss)), .cancel(.ring(.tokenRetransmit)), .cancel(.ring(.hold)),
                    .schedule(.commitLoss, after: timing.token), .send(.commit(c), to: successor(in: c.members))]
        default:
            guard state == .commit, committing == c.ring, rep != nodeID else { return [] }
            var out = install(c.ring, members: c.members, entries: c.entries)
            let next = successor(in: c.members)
            if next != rep { out.insert(.send(.commit(c), to: next), at: 0) }
            return out
        }
    }

    /// This node's old ring, for the commit token.
    private var myEntry: CommitToken.Entry {
        CommitToken.Entry(node: nodeID, oldRing: previous?.ring, oldAru: previous?.aru ?? 0)
    }

    /// Stops using the current ring: an operational ring becomes the old ring whose messages the
    /// next ring recovers; a ring abandoned during its own recovery is dropped whole (the old ring
    /// stays the one before it). Regular payloads not yet sent are kept for the next ring.
    private mutating func leaveRing() {
        guard let r = ring else { return }
        var moved = r.pending.filter { $0.first == Tag.regular.rawValue || $0.first == Tag.fragment.rawValue }
        // A fragmented message whose first fragments already went out in this ring cannot be
        // finished in the next one (receivers assemble within one ring): send it again, whole.
        let started = Set(moved.compactMap { p in FragmentHeader.parse(p).flatMap { $0.index == 0 ? $0.id : nil } })
        var restart: [UInt32] = []
        moved.removeAll { p in
            guard let h = FragmentHeader.parse(p), h.index > 0, !started.contains(h.id) else { return false }
            if !restart.contains(h.id) { restart.append(h.id) }
            return true
        }
        var again: [[UInt8]] = []
        for id in restart {
            if let payload = outgoing.removeValue(forKey: id) { again += ringPayloads(payload) }
        }
        pending += again + moved
        if state == .operational {
            previous = r
            recovered = [:]
        }
        ring = nil
        heldBack = []
        recoveryDone = []
    }

    /// The old ring's messages this node has above `seq` (its own and the recovered ones), by
    /// sequence number. Delivered messages stay held until every member of the old ring had
    /// them, so they can still be offered to a member that lacks them.
    private func oldMessages(after seq: UInt64) -> [UInt64: TotemRing.Message] {
        guard let previous else { return [:] }
        var all = recovered.filter { $0.key > seq }
        for m in previous.heldMessages(after: seq) { all[m.seq] = m }
        return all
    }

    private mutating func install(_ id: TotemRing.RingID, members: [NodeID], entries: [CommitToken.Entry]) -> [Directive] {
        var r = TotemRing(nodeID: nodeID, members: members, ring: id, timing: timing)
        // Recovery: offer the old ring's messages the members coming from it may lack.
        transitional = []
        if let old = previous?.ring {
            let group = entries.filter { $0.oldRing == old }
            transitional = Set(group.map(\.node)).union([nodeID]).sorted()
            if group.count > 1, let lowest = group.map(\.oldAru).min() {
                for m in oldMessages(after: lowest).values.sorted(by: { $0.seq < $1.seq }) {
                    r.submit(Self.encodeRecovered(m))
                }
            }
        }
        var marker = [Tag.recoveryDone.rawValue]
        withUnsafeBytes(of: nodeID.bigEndian) { marker.append(contentsOf: $0) }
        r.submit(marker)
        state = .recovery
        committing = nil
        proc = Set(members)
        fail = []
        recoveryDone = []
        heldBack = []
        ring = r
        var out: [Directive] = [.cancel(.commitLoss), .cancel(.join), .cancel(.consensus)]
        out += fromRing(ring!.start())
        if id.representative == nodeID {
            out.append(.schedule(.merge, after: timing.merge))
        }
        return out
    }

    /// Every member's recovery is done: deliver the old ring's messages (skipping the gaps),
    /// report the new configuration, then the new ring's messages held back so far.
    private mutating func finishRecovery() -> [Directive] {
        guard let ring else { return [] }
        var out: [Directive] = []
        if let previous {
            out.append(.transitionalConfiguration(ring: previous.ring, members: transitional))
            // In their old order, past the gaps: a message none of them has was sent by a node
            // that did not come along, and what follows it must not be lost (totemsrp delivers
            // the transitional configuration's messages the same way). Every member of the
            // transitional configuration holds the same set by now, so all deliver the same.
            let old = oldMessages(after: previous.delivered)
            for seq in old.keys.sorted() { out += application(old[seq]!) }
        }
        previous = nil
        recovered = [:]
        state = .operational
        // What was submitted while the ring formed and recovered goes out now, before anything
        // submitted from here on.
        for p in pending { self.ring!.submit(p) }
        let waiting = !pending.isEmpty
        pending = []
        if waiting { out += fromRing(self.ring!.releaseHeldToken()) }
        out.append(.configurationChange(ring: ring.ring, members: ring.members))
        assembler.keepOnly(Set(ring.members))
        let held = heldBack
        heldBack = []
        for m in held { out += application(m) }
        return out
    }

    /// An application message (whole, or a fragment) in the agreed order: what to deliver.
    private mutating func application(_ m: TotemRing.Message) -> [Directive] {
        switch m.payload.first.flatMap(Tag.init(rawValue:)) {
        case .regular:
            return [.deliver(TotemRing.Message(ring: m.ring, seq: m.seq, sender: m.sender, payload: Array(m.payload.dropFirst())))]
        case .fragment:
            switch assembler.add(m.payload, sender: m.sender, ring: m.ring) {
            case .complete(let payload):
                if m.sender == nodeID, let h = FragmentHeader.parse(m.payload) { outgoing[h.id] = nil }
                return [.deliver(TotemRing.Message(ring: m.ring, seq: m.seq, sender: m.sender, payload: payload))]
            case .incomplete, .dropped:
                return []
            }
        default:
            return []
        }
    }

    static func encodeRecovered(_ m: TotemRing.Message) -> [UInt8] {
        var b: [UInt8] = [Tag.recovered.rawValue]
        withUnsafeBytes(of: m.ring.seq.bigEndian) { b.append(contentsOf: $0) }
        withUnsafeBytes(of: m.ring.representative.bigEndian) { b.append(contentsOf: $0) }
        withUnsafeBytes(of: m.seq.bigEndian) { b.append(contentsOf: $0) }
        withUnsafeBytes(of: m.sender.bigEndian) { b.append(contentsOf: $0) }
        b.append(contentsOf: m.payload)
        return b
    }

    static func decodeRecovered(_ b: [UInt8]) -> TotemRing.Message? {
        guard b.count >= 25, b[0] == Tag.recovered.rawValue else { return nil }
        func int<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            var v: T = 0
            for i in 0..<MemoryLayout<T>.size { v = v << 8 | T(b[at + i]) }
            return v
        }
        return TotemRing.Message(ring: .init(seq: int(1, UInt64.self), representative: int(9, UInt32.self)),
                                 seq: int(13, UInt64.self), sender: int(21, UInt32.self), payload: Array(b[25...]))
    }

    /// A message the ring delivered, seen through the tags.
    private mutating func onRingDelivery(_ m: TotemRing.Message) -> [Directive] {
        guard let tag = m.payload.first.flatMap(Tag.init(rawValue:)) else { return [] }
        switch tag {
        case .regular, .fragment:
            if state == .recovery {
                heldBack.append(m)
                return []
            }
            return application(m)
        case .recovered:
            guard state == .recovery, let old = Self.decodeRecovered(m.payload), let previous, old.ring == previous.ring,
                  old.seq > previous.delivered else { return [] }
            if recovered[old.seq] == nil { recovered[old.seq] = old }
            return []
        case .recoveryDone:
            guard state == .recovery, m.payload.count == 5 else { return [] }
            recoveryDone.insert(m.sender)
            if let ring, Set(ring.members).isSubset(of: recoveryDone) { return finishRecovery() }
            return []
        }
    }

    private mutating func onMergeDetect(_ r: TotemRing.RingID, from: NodeID) -> [Directive] {
        guard from != nodeID, nodelist.contains(from), r.seq <= Self.maxRingSeq else { return [] }
        switch state {
        case .operational, .recovery:
            guard let ring, r != ring.ring, !ring.members.contains(from) else { return [] }
            highestRingSeq = max(highestRingSeq, r.seq)
            return enterGather(proc: Set(ring.members).union([from]), fail: [], reason: .mergeDetected(from: from))
        case .gather:
            highestRingSeq = max(highestRingSeq, r.seq)
            guard !proc.contains(from) || fail.contains(from) else { return [] }
            fail.remove(from)
            proc.insert(from)
            consensus = [nodeID]
            return sendJoin() + [.schedule(.consensus, after: timing.consensus)]
        case .commit:
            return []
        }
    }

    /// A member says it leaves: re-form without it now.
    private mutating func onLeave(from: NodeID) -> [Directive] {
        guard from != nodeID, nodelist.contains(from) else { return [] }
        switch state {
        case .operational, .recovery:
            guard let ring, ring.members.contains(from) else { return [] }
            return enterGather(proc: Set(ring.members).subtracting([from]), fail: [from], reason: .memberLeft(from))
        case .commit:
            guard let committing, proc.contains(from) else { return [] }
            _ = committing
            return enterGather(proc: proc.subtracting([from]), fail: [from], reason: .memberLeft(from))
        case .gather:
            guard proc.contains(from), !fail.contains(from) else { return [] }
            fail.insert(from)
            consensus = [nodeID]
            var out: [Directive] = sendJoin() + [.schedule(.consensus, after: timing.consensus)]
            out += checkConsensus()
            return out
        }
    }

    // MARK: the operational ring

    private mutating func fromRing(_ directives: [TotemRing.Directive]) -> [Directive] {
        var out: [Directive] = []
        for d in directives {
            switch d {
            case .multicast(let p): out.append(.multicast(.ring(p)))
            case .send(let p, let to): out.append(.send(.ring(p), to: to))
            case .schedule(let t, let after): out.append(.schedule(.ring(t), after: after))
            case .cancel(let t): out.append(.cancel(.ring(t)))
            case .deliver(let m): out += onRingDelivery(m)
            case .tokenLost, .failedToReceive:
                let members = Set(ring?.members ?? [])
                let reason: GatherReason = d == .tokenLost ? .tokenLost : .failedToReceive
                out += enterGather(proc: members, fail: [], reason: reason)
                return out
            }
        }
        return out
    }
}

/// SplitMix64: a small generator for protocol randomness that must replay exactly in tests.
struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
