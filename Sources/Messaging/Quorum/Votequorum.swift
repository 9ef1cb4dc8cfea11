/// votequorum's rules (votequorum(5), corosync's exec/votequorum.c) as a pure value type, seen
/// from one node.
///
/// Input: the membership the ring delivers (each member with its votes and what it reports about
/// itself), and the expiry of the timers it asked for. Output: ``Directive``s — arm or cancel the
/// last-man-standing timer, publish a new ``Status`` to clients. It reads no clock, sleeps
/// never and does no I/O, so every rule can be exercised in a unit test.
///
/// The rules:
/// - quorum = max(expected/2 + 1, total/2 + 1), where expected is the highest expected votes known
///   and total is the sum of the members' votes; quorate when total >= quorum. Quorum never goes
///   down by itself (only last_man_standing, a quorate peer, or the administrator lowers it), and
///   expected votes rise to the total when more votes are present.
/// - two_node: while 2 or fewer nodes are members, quorum is 1. It implies wait_for_all unless
///   wait_for_all is set explicitly.
/// - wait_for_all: after start, and again whenever quorum is lost, the node is not quorate until
///   it has seen all expected votes at once, or has joined members that are quorate.
/// - last_man_standing: when nodes leave and the rest stay quorate for the window, expected votes
///   are lowered to the number of members (down to 2, or to 1 with auto_tie_breaker).
/// - auto_tie_breaker: on an exact half split (total == expected / 2), the half holding the
///   tie-breaker node (by default the lowest node id of the last quorate membership) stays
///   quorate.
public struct Votequorum: Sendable, Equatable {
    /// The most votes or expected votes anything may claim (corosync.conf allows no more).
    public static let maxVotes = 1_000_000

    /// The configuration votequorum runs with.
    public struct Settings: Sendable, Equatable {
        /// Expected votes at start (quorum.expected_votes, or the nodelist's sum).
        public var expectedVotes: Int
        public var twoNode: Bool = false
        /// wait_for_all in effect (two_node's default already applied).
        public var waitForAll: Bool = false
        public var lastManStanding: Bool = false
        public var lastManStandingWindow: Duration = .milliseconds(10_000)
        public var autoTieBreaker: Bool = false
        public var tieBreaker: QuorumConfig.TieBreaker = .lowest

        public init(expectedVotes: Int, twoNode: Bool = false, waitForAll: Bool? = nil,
                    lastManStanding: Bool = false, lastManStandingWindow: Duration = .milliseconds(10_000),
                    autoTieBreaker: Bool = false, tieBreaker: QuorumConfig.TieBreaker = .lowest) {
            self.expectedVotes = expectedVotes
            self.twoNode = twoNode
            self.waitForAll = waitForAll ?? twoNode
            self.lastManStanding = lastManStanding
            self.lastManStandingWindow = lastManStandingWindow
            self.autoTieBreaker = autoTieBreaker
            self.tieBreaker = tieBreaker
        }

        /// The settings of a parsed corosync.conf; nil when votequorum is off (no provider, or
        /// no expected votes from either the quorum section or the nodelist).
        public init?(_ config: CorosyncConfig) {
            guard config.quorum.isEnabled, let expected = config.expectedVotes else { return nil }
            let q = config.quorum
            self.init(expectedVotes: expected, twoNode: q.twoNode, waitForAll: q.waitForAll,
                      lastManStanding: q.lastManStanding, lastManStandingWindow: q.lastManStandingWindow,
                      autoTieBreaker: q.autoTieBreaker, tieBreaker: q.autoTieBreakerNode)
        }
    }

    /// A member of the current membership, as votequorum sees it.
    public struct Member: Sendable, Equatable {
        public var nodeID: UInt32
        public var votes: Int
        /// Whether that node says it is quorate (its NODE_FLAGS_QUORATE).
        public var isQuorate: Bool
        /// The expected votes that node reports.
        public var expectedVotes: Int?
        /// Whether that node is still waiting for all (its NODE_FLAGS_WFASTATUS).
        public var isWaitingForAll: Bool

        public init(_ nodeID: UInt32, votes: Int = 1, isQuorate: Bool = false, expectedVotes: Int? = nil,
                    isWaitingForAll: Bool = false) {
            self.nodeID = nodeID
            self.votes = votes
            self.isQuorate = isQuorate
            self.expectedVotes = expectedVotes
            self.isWaitingForAll = isWaitingForAll
        }
    }

    /// The timers votequorum asks for.
    public enum Timer: Sendable, Hashable {
        case lastManStanding
    }

    /// What the shell must do.
    public enum Directive: Sendable, Equatable {
        /// Arm (or re-arm) a timer; its expiry comes back through ``onTimer(_:)``.
        case schedule(Timer, after: Duration)
        /// Disarm a timer.
        case cancel(Timer)
        /// Publish the new state to quorum clients (corosync-quorumtool, Pacemaker).
        case publish(Status)
    }

    /// What `corosync-quorumtool -s` shows, and what clients are told.
    public struct Status: Sendable, Equatable {
        public var quorate: Bool
        public var expectedVotes: Int
        public var highestExpected: Int
        public var totalVotes: Int
        public var quorum: Int
        /// The members, sorted by node id.
        public var members: [UInt32]
        /// Flags as quorumtool prints them: 2Node, Quorate, WaitForAll, LastManStanding,
        /// AutoTieBreaker.
        public var flags: [String]

        public init(quorate: Bool, expectedVotes: Int, highestExpected: Int, totalVotes: Int, quorum: Int,
                    members: [UInt32], flags: [String]) {
            self.quorate = quorate
            self.expectedVotes = expectedVotes
            self.highestExpected = highestExpected
            self.totalVotes = totalVotes
            self.quorum = quorum
            self.members = members
            self.flags = flags
        }
    }

    public let nodeID: UInt32
    public private(set) var settings: Settings
    /// Whether this node is quorate.
    public private(set) var isQuorate = false
    /// Whether wait_for_all still holds this node back.
    public private(set) var isWaitingForAll: Bool
    /// This node's expected votes.
    public private(set) var expectedVotes: Int
    /// The current quorum.
    public private(set) var quorum: Int
    public private(set) var members: [Member] = []
    private var previousMembers: [UInt32] = []
    /// The lowest and highest node ids of the last quorate membership (the tie-breakers).
    private var lowestQuorateID: UInt32?
    private var highestQuorateID: UInt32?
    private var lmsTimerArmed = false
    private var lastPublished: Status?

    /// A node that has just started: alone, not quorate, waiting for all when configured.
    public init(nodeID: UInt32, settings: Settings) {
        self.nodeID = nodeID
        self.settings = settings
        self.expectedVotes = settings.expectedVotes
        self.quorum = settings.expectedVotes / 2 + 1
        self.isWaitingForAll = settings.waitForAll
    }

    /// The sum of the members' votes.
    public var totalVotes: Int { members.reduce(0) { min(Votequorum.maxVotes, $0 + min(max(0, $1.votes), Votequorum.maxVotes)) } }

    /// The state as published.
    public var status: Status {
        var flags: [String] = []
        if settings.twoNode && members.count <= 2 { flags.append("2Node") }
        if isQuorate { flags.append("Quorate") }
        if settings.waitForAll { flags.append("WaitForAll") }
        if settings.lastManStanding { flags.append("LastManStanding") }
        if settings.autoTieBreaker { flags.append("AutoTieBreaker") }
        return Status(quorate: isQuorate, expectedVotes: expectedVotes, highestExpected: highestExpected(),
                      totalVotes: totalVotes, quorum: quorum, members: members.map(\.nodeID).sorted(), flags: flags)
    }

    /// A new membership (a configuration change delivered by totem). `members` includes this
    /// node; its own entry's votes are used as given.
    public mutating func onMembership(_ newMembers: [Member]) -> [Directive] {
        var directives: [Directive] = []
        let ids = Set(newMembers.map(\.nodeID))
        let leftNodes = members.contains { !ids.contains($0.nodeID) }

        if settings.lastManStanding {
            let atbHoldsLowest = settings.autoTieBreaker && lowestQuorateID.map(ids.contains) == true
            if (newMembers.count >= quorum && leftNodes) || (newMembers.count <= quorum && atbHoldsLowest) {
                directives.append(.schedule(.lastManStanding, after: settings.lastManStandingWindow))
                lmsTimerArmed = true
            }
        }
        previousMembers = members.map(\.nodeID)
        members = newMembers.sorted { $0.nodeID < $1.nodeID }

        // A member from a quorate partition tells a non-quorate node what to expect, and frees
        // it from waiting for all.
        var allowDecrease = false
        if !isQuorate, let peer = members.first(where: { $0.nodeID != nodeID && $0.isQuorate && $0.expectedVotes != nil }) {
            // Votes are bounded as corosync.conf bounds them; a peer cannot push us past that.
            expectedVotes = min(peer.expectedVotes!, Votequorum.maxVotes)
            allowDecrease = true
        }
        recalculate(allowDecrease: allowDecrease, byCurrentNodes: false)
        if settings.waitForAll, members.contains(where: { $0.nodeID != nodeID && $0.isQuorate && !$0.isWaitingForAll }) {
            isWaitingForAll = false
            recalculate(allowDecrease: false, byCurrentNodes: false)
        }
        directives += publishIfChanged()
        return directives
    }

    /// A timer this instance scheduled has expired.
    public mutating func onTimer(_ timer: Timer) -> [Directive] {
        switch timer {
        case .lastManStanding:
            guard lmsTimerArmed else { return [] }
            lmsTimerArmed = false
            guard isQuorate, settings.lastManStanding else { return [] }
            recalculate(allowDecrease: true, byCurrentNodes: true)
            return publishIfChanged()
        }
    }

    /// The administrator's `corosync-quorumtool -e N`: sets expected votes, which may lower
    /// quorum (but never below what the present votes need).
    public mutating func setExpectedVotes(_ votes: Int) -> [Directive] {
        guard votes >= 1 else { return [] }
        expectedVotes = max(min(votes, Votequorum.maxVotes), totalVotes)
        recalculate(allowDecrease: true, byCurrentNodes: false, maxExpected: expectedVotes)
        return publishIfChanged()
    }

    /// A member's votes changed (the administrator's `corosync-quorumtool -v`): quorum is
    /// calculated again and may go down.
    public mutating func onVotesChanged(_ newMembers: [Member]) -> [Directive] {
        members = newMembers.sorted { $0.nodeID < $1.nodeID }
        recalculate(allowDecrease: true, byCurrentNodes: false)
        return publishIfChanged()
    }

    /// Whether the administrator may set these expected votes: corosync refuses a value whose
    /// quorum the votes present could not meet (or would meet with less than half of them).
    public func acceptsExpectedVotes(_ expected: Int) -> Bool {
        guard expected >= 1, expected <= Votequorum.maxVotes else { return false }
        return acceptable(total: totalVotes, expected: max(expected, totalVotes))
    }

    /// Whether the administrator may give a member these votes (same rule as for expected votes).
    public func acceptsVotes(_ votes: Int, for node: UInt32) -> Bool {
        guard votes >= 0, votes <= Votequorum.maxVotes, members.contains(where: { $0.nodeID == node }) else { return false }
        let total = members.reduce(0) { $0 + ($1.nodeID == node ? votes : $1.votes) }
        return acceptable(total: total, expected: max(highestExpected(), total))
    }

    private func acceptable(total: Int, expected: Int) -> Bool {
        let q = max(expected / 2 + 1, total / 2 + 1)
        return q >= total / 2 && q <= total
    }

    // MARK: the calculation (calculate_quorum and are_we_quorate in votequorum.c)

    private func highestExpected() -> Int {
        var h = expectedVotes
        for m in members where m.nodeID != nodeID && m.isQuorate {
            h = max(h, min(m.expectedVotes ?? 0, Votequorum.maxVotes))
        }
        return h
    }

    private mutating func recalculate(allowDecrease: Bool, byCurrentNodes: Bool, maxExpected explicit: Int? = nil) {
        let total = totalVotes
        if total > expectedVotes { expectedVotes = total }
        var maxExpected = explicit ?? 0
        if byCurrentNodes {
            maxExpected = members.count
            expectedVotes = members.count
        }
        let highest = maxExpected > 0 ? maxExpected : highestExpected()
        var newQuorum = max(highest / 2 + 1, total / 2 + 1)
        if !allowDecrease { newQuorum = max(quorum, newQuorum) }
        if settings.twoNode && members.count <= 2 { newQuorum = 1 }
        quorum = newQuorum
        decideQuorate(total: total)
    }

    private mutating func decideQuorate(total: Int) {
        if settings.waitForAll && isWaitingForAll {
            guard total == expectedVotes else {
                isQuorate = false
                return
            }
            isWaitingForAll = false
        }
        var quorate = total >= quorum
        if quorate {
            lowestQuorateID = members.map(\.nodeID).min()
            highestQuorateID = members.map(\.nodeID).max()
        }
        if !quorate, settings.autoTieBreaker, total == expectedVotes / 2,
           previousMembers.count - members.count < quorum, tieBreakerPresent() {
            quorate = true
        }
        isQuorate = quorate
        if settings.waitForAll { isWaitingForAll = !quorate }
    }

    private func tieBreakerPresent() -> Bool {
        let current = Set(members.map(\.nodeID))
        switch settings.tieBreaker {
        case .lowest: return lowestQuorateID.map(current.contains) ?? false
        case .highest: return highestQuorateID.map(current.contains) ?? false
        case .nodes(let list):
            let previous = Set(previousMembers)
            for (i, id) in list.enumerated() where current.contains(id) {
                // An earlier tie-breaker that was with us before and is missing now may be in
                // the other half: then we cannot know, so no quorum.
                return !list[..<i].contains(where: previous.contains)
            }
            return false
        }
    }

    private mutating func publishIfChanged() -> [Directive] {
        let s = status
        guard s != lastPublished else { return [] }
        lastPublished = s
        return [.publish(s)]
    }
}
