/// A member of the controllers' process group: a node's crmd.
public struct ControllerMember: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The node's id in corosync's nodelist.
    public var nodeID: UInt32
    public var name: String

    public init(nodeID: UInt32, name: String) {
        self.nodeID = nodeID
        self.name = name
    }

    public static func < (a: ControllerMember, b: ControllerMember) -> Bool {
        a.nodeID != b.nodeID ? a.nodeID < b.nodeID : a.name < b.name
    }

    public var description: String { "\(name) (id \(nodeID))" }
}

/// Who is the DC (designated controller) of a partition.
///
/// Every member of the controllers' process group sees the same memberships in the same order
/// (virtual synchrony), so every member computes the same DC from the membership alone, at
/// once, without a round of voting: the member with the lowest node id. Two partitions each
/// get their own DC; when they merge, the merged membership names one.
public struct DCElection: Sendable {
    public enum Directive: Sendable, Equatable {
        /// This node became the DC: start a join round.
        case becomeDC
        /// This node is no longer the DC: stop executing transitions.
        case resignDC
        /// The partition's DC is now this member (nil: no members at all).
        case dcChanged(ControllerMember?)
    }

    public let local: ControllerMember
    public private(set) var members: [ControllerMember] = []
    public private(set) var dc: ControllerMember?

    public init(local: ControllerMember) {
        self.local = local
    }

    public var isDC: Bool { dc == local }

    /// The membership of the controllers' group changed.
    public mutating func onMembership(_ newMembers: [ControllerMember]) -> [Directive] {
        members = newMembers.sorted()
        let elected = members.first
        guard elected != dc else { return [] }
        let wasDC = isDC
        dc = elected
        var out: [Directive] = [.dcChanged(elected)]
        if wasDC && !isDC { out.append(.resignDC) }
        if !wasDC && isDC { out.append(.becomeDC) }
        return out
    }
}

/// The DC's join round: after an election, or when members join, every member sends its
/// node's operation history (its lrmd's view), and the DC writes it into the CIB status
/// before it asks the scheduler anything. A transition computed without a member's history
/// could start a resource that member already runs.
///
/// An instance: the shell sends the requests, delivers the answers and the timer.
public struct JoinRound: Sendable {
    public enum Directive: Sendable, Equatable {
        /// Ask a member for its history.
        case requestHistory(from: ControllerMember, round: Int)
        /// Arm the round's deadline.
        case armTimer(round: Int, after: Duration)
        /// Write a member's history into the CIB status (replacing what the status said
        /// about that node's resources).
        case recordHistory(of: ControllerMember, history: [UInt8])
        /// Every member answered, or the deadline passed: these members are joined, the
        /// others are not (their resources count as unknown until they answer a later round).
        case complete(round: Int, joined: [ControllerMember], missing: [ControllerMember])
    }

    public private(set) var round = 0
    public private(set) var waitingFor: Set<ControllerMember> = []
    public private(set) var joined: [ControllerMember] = []
    public private(set) var active = false
    public let deadline: Duration

    public init(deadline: Duration = .seconds(10)) {
        self.deadline = deadline
    }

    /// Starts a round with these members (the DC included).
    public mutating func start(members: [ControllerMember]) -> [Directive] {
        round += 1
        active = true
        waitingFor = Set(members)
        joined = []
        var out: [Directive] = members.sorted().map { .requestHistory(from: $0, round: round) }
        out.append(.armTimer(round: round, after: deadline))
        if members.isEmpty { out += finish() }
        return out
    }

    /// A member's history arrived. Answers to an older round are ignored: they may predate
    /// actions the member ran since.
    public mutating func onHistory(from member: ControllerMember, round r: Int, history: [UInt8]) -> [Directive] {
        guard active, r == round, waitingFor.contains(member) else { return [] }
        waitingFor.remove(member)
        joined.append(member)
        var out: [Directive] = [.recordHistory(of: member, history: history)]
        if waitingFor.isEmpty { out += finish() }
        return out
    }

    /// A member left during the round: it is no longer waited for.
    public mutating func onLeft(_ member: ControllerMember) -> [Directive] {
        guard active, waitingFor.remove(member) != nil else { return [] }
        return waitingFor.isEmpty ? finish() : []
    }

    public mutating func onTimer(round r: Int) -> [Directive] {
        guard active, r == round else { return [] }
        return finish()
    }

    private mutating func finish() -> [Directive] {
        active = false
        let missing = waitingFor.sorted()
        waitingFor = []
        return [.complete(round: round, joined: joined.sorted(), missing: missing)]
    }
}
