/// The operational part of the Totem single-ring protocol (Amir et al., 1995; corosync's
/// totemsrp.c) as an instance: a value type that is handed packets, timer expiries and the
/// current time, and returns what to do. It never reads a clock, never sleeps, never does I/O.
///
/// A token circulates among the members in node-id order. Only the holder of the token
/// multicasts: it numbers each new message with the next sequence number, so every message has
/// one place in one total order. Every member delivers messages in sequence order, without
/// gaps, as soon as it has all the earlier ones (agreed order).
///
/// - Retransmission: a member missing a message puts its number in the token's retransmission
///   request list (`rtr`); whoever holds the message multicasts it again when the token reaches
///   it.
/// - The all-received-up-to (`aru`) field of the token, lowered by any member that is behind,
///   tells everyone which messages all members have: those are released from the
///   retransmission buffer after a full rotation.
/// - Flow control: a member sends at most `max_messages` per visit of the token, and the ring
///   at most `window_size` per rotation, and nothing while `window_size` messages are
///   outstanding (sent but not received by all).
/// - Token loss: the member that passed the token resends it every `token_retransmit` until it
///   sees its successor make progress; a member that has not held the token for `token`
///   reports ``Directive/tokenLost`` (the membership algorithm, gather and commit, starts from
///   there; it is not part of this first slice).
/// - Hold: on an idle ring (nothing pending, nothing missing, every message received by all)
///   the representative keeps the token for `hold` ms before passing it on, as totemsrp does,
///   so that an idle cluster does not spin the token as fast as the network allows.
///   ``releaseHeldToken()`` passes it on at once when there is something to send.
/// - Failure to receive: a member that is behind and makes no progress for more than
///   `fail_recv_const` visits of the token reports ``Directive/failedToReceive``.
public struct TotemRing: Sendable {
    public typealias NodeID = UInt32

    /// Identifies one ring (one configuration): a sequence number and its representative.
    public struct RingID: Sendable, Hashable, Comparable, CustomStringConvertible {
        public var seq: UInt64
        public var representative: NodeID

        public init(seq: UInt64, representative: NodeID) {
            self.seq = seq
            self.representative = representative
        }

        public static func < (a: RingID, b: RingID) -> Bool {
            (a.seq, a.representative) < (b.seq, b.representative)
        }

        public var description: String { "\(representative).\(seq)" }
    }

    /// A regular (application) message with its place in the total order.
    public struct Message: Sendable, Equatable {
        public var ring: RingID
        public var seq: UInt64
        public var sender: NodeID
        public var payload: [UInt8]

        public init(ring: RingID, seq: UInt64, sender: NodeID, payload: [UInt8]) {
            self.ring = ring
            self.seq = seq
            self.sender = sender
            self.payload = payload
        }
    }

    /// The token.
    public struct Token: Sendable, Equatable {
        public var ring: RingID
        /// Counts the token's passes; a copy with a number already seen is a duplicate.
        public var tokenSeq: UInt64
        /// The highest sequence number assigned so far.
        public var seq: UInt64
        /// All members have received every message up to this one (as far as the token knows).
        public var aru: UInt64
        /// The member that lowered `aru`, or nil.
        public var aruID: NodeID?
        /// Sequence numbers some member is missing.
        public var rtr: [UInt64]
        /// Messages sent during the last rotation (flow control).
        public var fcc: Int

        public init(ring: RingID, tokenSeq: UInt64, seq: UInt64, aru: UInt64, aruID: NodeID?, rtr: [UInt64], fcc: Int) {
            self.ring = ring
            self.tokenSeq = tokenSeq
            self.seq = seq
            self.aru = aru
            self.aruID = aruID
            self.rtr = rtr
            self.fcc = fcc
        }
    }

    /// What goes over the network.
    public enum Packet: Sendable, Equatable {
        case message(Message)
        case token(Token)
        /// A member with something to send asks the representative to pass on the token it
        /// holds on an idle ring now rather than when its hold timer ends (corosync's token
        /// hold cancel).
        case holdCancel(RingID, from: NodeID)
    }

    public enum Timer: Sendable, Hashable {
        /// `token`: no token for this long means it is lost.
        case tokenLoss
        /// `token_retransmit`: resend the token we passed on.
        case tokenRetransmit
        /// `hold`: pass on the token held on an idle ring.
        case hold
    }

    /// What the shell must do.
    public enum Directive: Sendable, Equatable {
        /// Send to every member (including this node's own loopback is not needed).
        case multicast(Packet)
        /// Send to one member.
        case send(Packet, to: NodeID)
        case schedule(Timer, after: Duration)
        case cancel(Timer)
        /// Hand a message to the application, in total order.
        case deliver(Message)
        /// The token was lost: a new membership must be formed.
        case tokenLost
        /// This node missed messages for more than `fail_recv_const` token rotations while
        /// others kept sending: a new membership must be formed (corosync's "FAILED TO RECEIVE").
        case failedToReceive
    }

    public enum State: Sendable, Equatable {
        case operational
        /// The token was lost; waiting for the membership algorithm.
        case tokenLost
        /// Messages could not be received for `fail_recv_const` rotations.
        case failedToReceive
    }

    /// The highest message or token sequence number taken from the network (2^61): a ring
    /// never reaches it, and a packet claiming more is ignored, so that one packet cannot push
    /// the ring's numbers past what the wire codec accepts (the ring would then stall).
    public static let maxSeq: UInt64 = TotemWire.maxSequence >> 1

    public let nodeID: NodeID
    public let members: [NodeID]
    public let ring: RingID
    /// Changed at run time by ``TotemNode/updateTiming(_:)`` (a config reload).
    public internal(set) var timing: TotemTiming
    public private(set) var state: State = .operational

    /// Every message up to this one has been received.
    public private(set) var aru: UInt64 = 0
    /// Every message up to this one has been delivered.
    public private(set) var delivered: UInt64 = 0
    /// The highest sequence number seen in a message or token.
    public private(set) var highestSeen: UInt64 = 0
    /// Payloads waiting for the token.
    public private(set) var pending: [[UInt8]] = []

    /// Received messages not yet released (by sequence number).
    private var buffer: [UInt64: Message] = [:]
    private var lastTokenSeq: UInt64 = 0
    /// The token as this node passed it on, for retransmission.
    private var lastSentToken: Token?
    private var sentLastVisit = 0
    private var previousVisitAru: UInt64 = 0
    private var released: UInt64 = 0
    /// Token visits in a row during which this node was behind and its aru did not move.
    public private(set) var visitsWithoutProgress = 0
    private var aruAtLastVisit: UInt64 = 0
    /// The token the representative holds on an idle ring.
    public private(set) var heldToken: Token?
    /// Whether the token last left this node (not the representative) on an idle ring, so the
    /// representative may be holding it: a payload submitted now asks for it (`holdCancel`).
    private var ringIdle = false
    /// The representative was asked for the token while it did not hold it: the next token
    /// is passed on at once even on an idle ring.
    private var holdCancelled = false

    /// A member of ring `ring` with these `members` (this node among them).
    public init(nodeID: NodeID, members: [NodeID], ring: RingID, timing: TotemTiming) {
        precondition(members.contains(nodeID), "a node must be a member of its own ring")
        self.nodeID = nodeID
        self.members = members.sorted()
        self.ring = ring
        self.timing = timing
    }

    /// This node's successor on the ring.
    public var successor: NodeID {
        let i = members.firstIndex(of: nodeID)!
        return members[(i + 1) % members.count]
    }

    /// How many messages this node holds for retransmission.
    public var bufferedCount: Int { buffer.count }

    /// The messages this node holds with a sequence number above `seq`, in order (what it can
    /// give the members moving with it to the next ring).
    public func heldMessages(after seq: UInt64) -> [Message] {
        buffer.values.filter { $0.seq > seq }.sorted { $0.seq < $1.seq }
    }

    /// Starts the ring: arms the token-loss timer; the representative creates the first token.
    public mutating func start() -> [Directive] {
        var out: [Directive] = [.schedule(.tokenLoss, after: timing.token)]
        if nodeID == ring.representative {
            let token = Token(ring: ring, tokenSeq: 1, seq: 0, aru: 0, aruID: nil, rtr: [], fcc: 0)
            out += onToken(token)
        }
        return out
    }

    /// Queues a payload; it is sent, numbered, the next time the token comes by.
    public mutating func submit(_ payload: [UInt8]) {
        pending.append(payload)
    }

    /// Lets `body` change the last payload still waiting for the token (none: false); how the
    /// layers above pack several small messages into one ring message.
    mutating func amendLastPending(_ body: (inout [UInt8]) -> Bool) -> Bool {
        guard !pending.isEmpty else { return false }
        return body(&pending[pending.count - 1])
    }

    /// A packet from the network.
    public mutating func onPacket(_ packet: Packet) -> [Directive] {
        guard state == .operational else { return [] }
        switch packet {
        case .message(let m): return onMessage(m)
        case .token(let t): return onToken(t)
        case .holdCancel(let r, _):
            guard r == ring else { return [] }
            guard heldToken != nil else {
                // The token is still on its way here: it is not held when it arrives (a
                // member's request can overtake the token it passed on just before).
                if nodeID == ring.representative { holdCancelled = true }
                return []
            }
            return [.cancel(.hold)] + passHeldToken()
        }
    }

    /// A timer this instance scheduled has expired.
    public mutating func onTimer(_ timer: Timer) -> [Directive] {
        guard state == .operational else { return [] }
        switch timer {
        case .tokenRetransmit:
            guard let t = lastSentToken else { return [] }
            return [.send(.token(t), to: successor), .schedule(.tokenRetransmit, after: timing.tokenRetransmit)]
        case .hold:
            return passHeldToken()
        case .tokenLoss:
            state = .tokenLost
            heldToken = nil
            return [.cancel(.tokenRetransmit), .cancel(.hold), .tokenLost]
        }
    }

    /// Passes on a token held on an idle ring now (call it when a payload was submitted, or
    /// another member asked for the token); nothing when no token is held.
    public mutating func releaseHeldToken() -> [Directive] {
        guard state == .operational else { return [] }
        if heldToken != nil { return [.cancel(.hold)] + passHeldToken() }
        // Another member (the representative) may hold the token: ask it, once per idle spell.
        if ringIdle, !pending.isEmpty, nodeID != ring.representative {
            ringIdle = false
            return [.multicast(.holdCancel(ring, from: nodeID))]
        }
        return []
    }

    private mutating func passHeldToken() -> [Directive] {
        guard let t = heldToken else { return [] }
        heldToken = nil
        lastSentToken = t
        return [.send(.token(t), to: successor), .schedule(.tokenRetransmit, after: timing.tokenRetransmit)]
    }

    // MARK: messages

    private mutating func onMessage(_ m: Message) -> [Directive] {
        guard m.ring == ring, m.seq > released, m.seq <= Self.maxSeq, members.contains(m.sender) else { return [] }
        var out: [Directive] = []
        // A message from our successor means it got the token we passed on.
        if m.sender == successor, let t = lastSentToken, m.seq > t.seq {
            lastSentToken = nil
            out.append(.cancel(.tokenRetransmit))
        }
        highestSeen = max(highestSeen, m.seq)
        if m.seq > aru, buffer[m.seq] == nil {
            buffer[m.seq] = m
            advanceAru()
            out += deliverReady()
        }
        return out
    }

    private mutating func advanceAru() {
        while buffer[aru + 1] != nil { aru += 1 }
    }

    private mutating func deliverReady() -> [Directive] {
        var out: [Directive] = []
        while delivered < aru {
            delivered += 1
            out.append(.deliver(buffer[delivered]!))
        }
        return out
    }

    // MARK: the token

    private mutating func onToken(_ incoming: Token) -> [Directive] {
        guard incoming.ring == ring, incoming.tokenSeq > lastTokenSeq, incoming.tokenSeq <= Self.maxSeq,
              incoming.seq <= Self.maxSeq else { return [] }
        var t = incoming
        lastTokenSeq = t.tokenSeq
        var out: [Directive] = [.cancel(.tokenRetransmit), .schedule(.tokenLoss, after: timing.token)]
        lastSentToken = nil
        highestSeen = max(highestSeen, t.seq)

        // 1. Retransmit what others asked for and we have.
        var stillMissing: [UInt64] = []
        for s in t.rtr {
            if let m = buffer[s] {
                out.append(.multicast(.message(m)))
            } else if s > released {
                stillMissing.append(s)
            }
        }
        // 2. Ask for what we miss (bounded, like corosync's retransmit list).
        if t.seq > aru {
            for s in (aru + 1)...t.seq where buffer[s] == nil && !stillMissing.contains(s) {
                if stillMissing.count >= 256 { break }
                stillMissing.append(s)
            }
        }
        t.rtr = stillMissing

        // Failure to receive: behind, and no progress since the last visit, for too long.
        if t.seq > aru && aru == aruAtLastVisit {
            visitsWithoutProgress += 1
            if visitsWithoutProgress > timing.failRecvConst {
                state = .failedToReceive
                return [.cancel(.tokenRetransmit), .cancel(.tokenLoss), .failedToReceive]
            }
        } else {
            visitsWithoutProgress = 0
        }
        aruAtLastVisit = aru

        // 3. Send new messages, within flow control.
        let ringBudget = timing.windowSize - (t.fcc - sentLastVisit)
        let outstanding = Int(t.seq - min(t.seq, t.aru))
        let allowed = max(0, min(timing.maxMessages, ringBudget, timing.windowSize - outstanding, pending.count))
        for i in 0..<allowed {
            t.seq += 1
            let m = Message(ring: ring, seq: t.seq, sender: nodeID, payload: pending[i])
            buffer[m.seq] = m
            out.append(.multicast(.message(m)))
        }
        // One shift of the queue per visit, not one per message.
        if allowed > 0 { pending.removeFirst(allowed) }
        t.fcc = max(0, t.fcc - sentLastVisit) + allowed
        sentLastVisit = allowed
        highestSeen = max(highestSeen, t.seq)
        advanceAru()

        // 4. The all-received-up-to rule (totemsrp): lower it if we are behind; raise it if we
        //    lowered it before.
        if aru < t.aru || t.aruID == nodeID || t.aruID == nil {
            t.aru = aru
            t.aruID = aru == t.seq ? nil : nodeID
        }

        out += deliverReady()

        // 5. Release what everyone had a full rotation ago (all delivered here already, since
        //    the token's aru is never above ours).
        let safe = min(t.aru, previousVisitAru)
        if safe > released {
            for s in (released + 1)...safe { buffer.removeValue(forKey: s) }
            released = safe
        }
        previousVisitAru = t.aru

        // 6. Pass it on, and keep a copy until the successor shows progress; or, on an idle
        //    ring, the representative holds it for a while.
        t.tokenSeq += 1
        let idle = timing.hold > .zero && pending.isEmpty && allowed == 0
            && t.rtr.isEmpty && t.fcc == 0 && t.aru == t.seq && delivered == t.seq
        // A member that had nothing to send counts the token as possibly held from now on, even
        // when the ring does not look idle from here: the representative judges on the token
        // as it comes back, after this visit (messages sent earlier in this rotation are
        // delivered everywhere by then, and fcc counts only its own). Judging on this visit's
        // view missed that case, and a payload submitted next waited for the whole hold timer
        // (as totemsrp, whose members count the token held one rotation before the
        // representative does).
        ringIdle = timing.hold > .zero && nodeID != ring.representative && pending.isEmpty && allowed == 0 && t.rtr.isEmpty
        let asked = holdCancelled
        holdCancelled = false
        if nodeID == ring.representative, idle, !asked {
            heldToken = t
            out.append(.schedule(.hold, after: timing.hold))
            return out
        }
        lastSentToken = t
        out.append(.send(.token(t), to: successor))
        out.append(.schedule(.tokenRetransmit, after: timing.tokenRetransmit))
        return out
    }
}
