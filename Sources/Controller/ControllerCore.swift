import CIB
import PolicyEngine

/// One node's controller (crmd) as an instance: the election, the DC's join round, the DC's
/// transitions, and the node's part in running actions, combined. It is told what happened
/// (membership, messages from other controllers, CIB changes, the scheduler's graph, timers,
/// fencing results) and returns what to do; it reads no clock and does no I/O (docs/STYLE.md 1).
///
/// The DC's cycle: an election makes it DC → a join round collects every member's history into
/// the status → the scheduler is run on the CIB → the graph is executed, each action sent to its
/// node's controller → results come back, are recorded, and confirm actions → the transition
/// ends. Any new event (a CIB change not made by the DC itself, a failure no action expected, a
/// member joining or leaving) aborts the transition; once the actions in flight have reported,
/// the scheduler is run again.
public struct ControllerCore: Sendable {
    public enum Timer: Sendable, Hashable {
        case join(round: Int)
        case action(transition: Int, index: Int)
        /// cluster-recheck-interval: run the scheduler again even without an event.
        case recheck
        /// This node asked to shut down and was not told to go in time.
        case shutdownEscalation
        /// Run the scheduler again after a transition failed (not at once: a failure that
        /// repeats, like a fence device that does not answer, must not spin).
        case retry
        /// A quorum gained is acted on even though no membership of the controllers followed.
        case quorumSettle
        /// dc-deadtime since this controller started: nodes of the nodelist not seen by then
        /// are treated as down (and, with startup-fencing, fenced).
        case dcDeadtime
        /// A node's controller left while the node stayed in the ring, and has not come back
        /// within `controllerRestartGrace` (see `controllersAway`).
        case controllerGrace(node: String)
    }

    public enum Directive: Sendable, Equatable {
        /// Multicast to every controller.
        case send(ControllerMessage)
        case arm(Timer, after: Duration)
        case disarm(Timer)
        /// This node became the DC (write `dc-uuid`) or stopped being it.
        case becameDC
        case resignedDC
        /// Send the DC this node's history for this join round.
        case sendHistory(round: Int)
        /// Run this action on the local executor and report the result (`.result`).
        case runLocally(ActionRequest)
        /// DC: write a member's node_state as joined, with this history as its `lrm`.
        case recordJoin(ControllerMember, lrmResources: String)
        /// DC: the join round is over; record every node_state that shows a non-member up as lost.
        case recordMembers([ControllerMember])
        /// DC: a member left the group; `clean` when it left on purpose.
        case recordLeft(ControllerMember, clean: Bool, nodeStillUp: Bool)
        /// DC: record an operation's result (and its failcount when it is a failure).
        case recordResult(ActionResult)
        /// DC: a node asked to shut down (its `shutdown` attribute).
        case recordShutdownRequest(nodeID: UInt32, node: String)
        /// DC: the DC told a node to shut down (do_shutdown): it is expected down.
        case recordExpectedDown(node: String)
        /// DC: a node was fenced (down; its history and transient attributes deleted).
        case recordFenced(node: String)
        /// DC: clear a resource's failcounts on a node (`clear_failcount`).
        case clearFailcount(resource: String, node: String)
        /// DC: run the scheduler on the current CIB, save its input, and call `onScheduled`.
        case schedule(reason: String)
        /// DC: fence a node, then call `onFenceResult`.
        case fence(node: String, action: String, timeout: Duration, transition: Int, index: Int)
        /// This node's controller should exit now. `clean`: the DC told it to (its resources
        /// were moved away), so it leaves the group on purpose; otherwise it just goes, and the
        /// others see it lost (its resources may still run: they must not be started elsewhere
        /// unless the node is fenced).
        case exit(clean: Bool)
        /// Something worth a line in the log.
        case note(String)
    }

    public let local: ControllerMember
    /// The uuid in this controller's transition keys.
    public let uuid: String
    public private(set) var election: DCElection
    public private(set) var join: JoinRound
    public private(set) var executor: TransitionExecutor?
    /// The number of the last transition started.
    public private(set) var transitionID = 0
    /// Whether a join round has completed since this node became DC.
    public private(set) var joinedOnce = false
    public private(set) var shuttingDown = false
    private var scheduling = false
    private var pendingReason: String?
    private var actionIndex: [Int: Int] = [:]
    private var recheck: Duration?
    /// How long, after it was asked to stop, this controller waits for the DC to tell it to
    /// shut down (its resources moved away) before it exits anyway: the cluster option
    /// `shutdown-escalation` (`shutdownEscalation(from:)`), which the shell sets at the stop.
    public var shutdownEscalation: Duration = Self.defaultShutdownEscalation
    /// Pacemaker's default for `shutdown-escalation`.
    public static let defaultShutdownEscalation: Duration = .seconds(20 * 60)
    /// How long after a failed transition the scheduler is run again; it doubles with every
    /// failed transition in a row (a fence device that never answers), up to `maxRetryDelay`.
    public var retryDelay: Duration = .seconds(1)
    public var maxRetryDelay: Duration = .seconds(60)
    private var failedInTransition = false
    /// Counts membership changes: when each member last joined, and when each fencing of the
    /// current transition was asked for, so that a fencing confirmed after its target rejoined
    /// does not mark the node, now back, as down.
    private var membershipSequence = 0
    private var joinedAt: [String: Int] = [:]
    private var fenceRequestedAt: [Int: Int] = [:]
    /// The actions this node's executor was told to run (by the DC) whose results this
    /// controller has not yet seen multicast, by transition key: they go into the node's
    /// history as pending at a join (`StatusRecords.addingPending`).
    public private(set) var runningLocally: [String: ActionRequest] = [:]
    /// Whether this node's partition has quorum, as corosync last said (the shell tells it,
    /// before each membership change is handled, with `onQuorum`). Meaningful only once
    /// `quorumKnown`.
    public private(set) var quorate = true
    /// Quorum was gained, and the controllers' membership of the new ring has not come in yet
    /// (corosync tells the quorum of a ring as soon as it is installed; the process groups of
    /// the ring follow a little later). Until it comes, or `quorumSettle` passes, this node
    /// acts as without quorum and plans nothing: as the DC of its old, smaller membership it
    /// would otherwise plan with quorum while the other side's DC does the same, each seeing
    /// only its own nodes online (and fencing the others as never seen).
    public private(set) var quorumPending = false
    public var quorumSettle: Duration = .seconds(5)
    /// Whether corosync has told the quorum yet. Until it has, nothing is assumed: the DC
    /// joins the members (their histories are only read) but runs no scheduler, so it starts
    /// nothing and fences nobody; the shell keeps asking corosyncd, and the first answer
    /// (`onQuorum`) lets the scheduler run.
    public private(set) var quorumKnown = true
    /// The nodes of the cluster's nodelist (`onStart`); empty: not known.
    public private(set) var expectedNodes: Set<String> = []
    /// Waiting, at start, for the nodes of the nodelist (up to dc-deadtime): as DC, this
    /// controller joins the members present but runs no scheduler, so a node that is merely
    /// slower to start is neither fenced as unseen nor has its resources placed elsewhere.
    public private(set) var awaitingNodes = false
    /// The cluster's no-quorum-policy (the shell sets it from each scheduler run's options).
    public var noQuorumPolicy = "stop"
    /// Transitions in a row that ended with a failure.
    public private(set) var failedTransitions = 0
    /// Members whose controller process ended while their node stayed in the corosync ring
    /// (CPG said `processDown`): pacemakerd is starting it again, and the node's executor
    /// still runs its resources. Until the controller is back, or `controllerRestartGrace`
    /// has passed, or the node leaves the ring, the scheduler sees the node as up and in
    /// maintenance (`schedulerInput`): what runs there stays, unmanaged, nothing new is placed
    /// there, nothing is sent there (`onScheduled`), and it is not fenced. Every controller
    /// keeps this, not only the DC, so that a DC elected meanwhile (the lost controller may
    /// have been the DC's) waits out the same grace. By name.
    public internal(set) var controllersAway: [String: ControllerMember] = [:] {
        didSet { awayFromRing = awayFromRing.filter { controllersAway[$0] != nil } }
    }
    /// Of `controllersAway`, the nodes this controller found in the ring without a controller
    /// (`deriveAway`) rather than saw their controller's process end: a controller started
    /// after the loss (a DC elected after the old DC's power cut, a controller itself
    /// restarted) knows of the loss only so. Such a node is frozen only while the CIB has it
    /// last recorded in the ring and expected up (`schedulerInput`): a node fenced, shut down
    /// or recorded out of the ring, now booting (its corosync up before its controller), runs
    /// nothing that a freeze could keep, and its fencing is not delayed.
    public internal(set) var awayFromRing: Set<String> = []
    /// Nodes in the ring without a controller that are not awaited again: their grace ran out,
    /// or their controller left the group on purpose (the node shuts down: corosync goes
    /// next). Forgotten once the node's controller is a member again or the node leaves the
    /// ring.
    public internal(set) var notAwaited: Set<String> = []
    /// The cluster's nodes by corosync node id (the shell sets it from the nodelist; members
    /// seen are added): names of the nodes in the ring that have no controller in the group.
    public var nodeNames: [UInt32: String] = [:]
    /// What the DC had sent to each member in `controllersAway` and not heard back about when
    /// its controller was lost: the node's executor may still be running it (a start may yet
    /// succeed), so the scheduler sees it pending there, never as nothing having run. Kept
    /// past the grace, until the node is fenced or its controller is back (its join reads the
    /// executor's history, which has it): a node not waited for any longer may still be
    /// running it, so what it is starting is recovered elsewhere only after the fencing.
    public internal(set) var inFlightWhenAway: [String: [ActionRequest]] = [:]
    /// Every one-shot resource action the DC sent that this controller saw delivered to the
    /// controllers' group and whose result it has not seen, by transition key. Every
    /// controller keeps this, not only the DC: the group delivers each request and each result
    /// to all members in one order, so a controller elected DC after the old DC's loss knows
    /// what the old DC had under way on a node whose controller is away at the same time
    /// (both lost at once): that node's executor may be running it, and the scheduler sees it
    /// pending there (`schedulerInput`) rather than nothing having run. Forgotten at its
    /// result, when the node is fenced, or when its controller joins again (the join reads
    /// the executor's history, which has it).
    public internal(set) var unansweredRequests: [String: ActionRequest] = [:]
    /// What this controller tells a DC at a join: the unanswered requests to other nodes.
    public var witnessedRequests: [ActionRequest] {
        unansweredRequests.values.filter { $0.node != local.name }.sorted { $0.transitionKey < $1.transitionKey }
    }
    /// The corosync ring's members as last heard (`onRing`); nil: not known yet.
    public internal(set) var ringMembers: Set<UInt32>?
    /// How long a node whose controller was lost while the node stayed in the ring is waited
    /// for before it is treated as Pacemaker treats it at once ("peer process is no longer
    /// available": fenced).
    public var controllerRestartGrace: Duration = Self.defaultControllerRestartGrace
    /// 20 s. What bounds the wait is pacemakerd (`Supervisor.Policy`): it starts a dead crmd
    /// again after 0.5 s; the new crmd finds corosyncd, cibd and lrmd running, joins the
    /// group and answers the join: about a second, a few under load. 20 s leaves a wide
    /// margin for a loaded machine, and is what Pacemaker gives a peer's controller to answer
    /// at start (dc-deadtime's default). A crmd that keeps dying makes pacemakerd give up
    /// (more than 5 deaths in 60 s) and stop the node's daemons, corosyncd last: the node
    /// leaves the ring, which ends the grace at once (`onRing`). The grace is deliberately
    /// shorter than pacemakerd's readyTimeout (60 s): a crmd that hangs at start is a wedged
    /// node, fenced rather than waited on for a minute while its resources are unwatched.
    /// Pacemaker 2.1.7's node-pending-timeout is the kin of this wait for a node in the ring
    /// whose controller never joined; its default (0: never fence) would be unsafe here,
    /// where the node may hold resources, so the wait is always bounded.
    public static let defaultControllerRestartGrace: Duration = .seconds(20)
    /// The wait before the scheduler runs again after the last failed transition.
    public var currentRetryDelay: Duration {
        failedTransitions == 0 ? .zero : min(maxRetryDelay, retryDelay * (1 << min(failedTransitions - 1, 16)))
    }

    /// `quorum`: this partition's quorum when known at start; nil when corosyncd could not be
    /// asked (see `quorumKnown`).
    public init(local: ControllerMember, uuid: String, joinDeadline: Duration = .seconds(10), quorum: Bool? = true) {
        self.local = local
        self.uuid = uuid
        quorate = quorum ?? false
        quorumKnown = quorum != nil
        election = DCElection(local: local)
        join = JoinRound(deadline: joinDeadline)
    }

    public var isDC: Bool { election.isDC }

    /// This controller starts: `nodes` are the cluster's nodelist, `deadtime` its dc-deadtime
    /// (default 20 s). As Pacemaker's controller waits up to dc-deadtime at start before it
    /// acts without the nodes it has not heard from, the DC runs no scheduler until every node
    /// of the nodelist is a member or `deadtime` has passed (`Timer.dcDeadtime`). Call it once,
    /// before the first membership.
    ///
    /// As in Pacemaker, dc-deadtime counts from when this node is in the membership and the
    /// election starts (its first membership of the controllers' group that includes it), not
    /// from the process start: a node whose corosync takes long to form or join a ring does
    /// not spend the wait before it can hear anybody.
    public mutating func onStart(nodes: [String], deadtime: Duration) -> [Directive] {
        expectedNodes = Set(nodes)
        guard !expectedNodes.subtracting([local.name]).isEmpty, deadtime > .zero else { return [] }
        awaitingNodes = true
        deadtimeToArm = deadtime
        return [.note("will wait up to dc-deadtime (\(deadtime)) for \(expectedNodes.subtracting([local.name]).sorted().joined(separator: ", ")), from this node's first membership")]
    }

    /// dc-deadtime, not yet armed: it is armed at the first membership that includes this node.
    public private(set) var deadtimeToArm: Duration?
    /// Whether the DC has a transition in progress.
    public var busy: Bool { scheduling || (executor.map { !$0.isFinished } ?? false) }

    // MARK: Membership

    /// The controllers' group changed: `members` now, and who left (`clean`: on purpose).
    /// `restarted`: members whose controller process was replaced by a new one within this
    /// one change (CPG says the old process left and the new one joined, on the same node):
    /// handled as a loss and a join, so that the actions the old process ran are not waited
    /// for and the new one's history is read (its node may even have rebooted meanwhile).
    public mutating func onMembership(_ members: [ControllerMember], left: [(member: ControllerMember, clean: Bool, nodeStillUp: Bool)] = [],
                                      restarted: [ControllerMember]) -> [Directive] {
        guard !restarted.isEmpty else { return onMembership(members, left: left) }
        let gone = Set(restarted)
        var out = onMembership(members.filter { !gone.contains($0) },
                               left: left + restarted.map { (member: $0, clean: false, nodeStillUp: true) })
        out += onMembership(members)
        return out
    }

    /// The controllers' group changed: `members` now, and who left (`clean`: on purpose).
    public mutating func onMembership(_ members: [ControllerMember], left: [(member: ControllerMember, clean: Bool, nodeStillUp: Bool)] = []) -> [Directive] {
        let before = Set(election.members)
        membershipSequence += 1
        var waitEnded: [Directive] = []
        if awaitingNodes, expectedNodes.isSubset(of: Set(members.map(\.name))) {
            awaitingNodes = false
            waitEnded = [.disarm(.dcDeadtime), .note("every node of the nodelist is a member")]
            deadtimeToArm = nil
        } else if awaitingNodes, let deadtime = deadtimeToArm, members.contains(local) {
            // This node is in the membership: the election starts, and dc-deadtime with it.
            deadtimeToArm = nil
            let missing = expectedNodes.subtracting(members.map(\.name)).sorted()
            waitEnded = [.arm(.dcDeadtime, after: deadtime),
                         .note("in the membership: waiting up to dc-deadtime (\(deadtime)) for \(missing.joined(separator: ", "))")]
        }
        for m in members where !before.contains(m) { joinedAt[m.name] = membershipSequence }
        for m in members + left.map(\.member) where nodeNames[m.nodeID] == nil { nodeNames[m.nodeID] = m.name }
        // A member lost with its node (CPG's nodedown) is out of the ring, whether or not the
        // ring's report (`onRing`) has come in yet: never awaited.
        for l in left where !l.clean && !l.nodeStillUp { ringMembers?.remove(l.member.nodeID) }
        var out: [Directive] = waitEnded
        out += trackControllersAway(members, left: left)
        out += deriveAway(members: members)
        // The membership that a quorum gained was waiting for.
        let quorumReleased = quorumPending
        if quorumPending {
            quorumPending = false
            quorate = true
            out += [.disarm(.quorumSettle), .note("quorum gained, with the controllers' membership \(members.map(\.name))")]
        }
        let wasDC = isDC
        for d in election.onMembership(members) {
            switch d {
            case .dcChanged(let dc): out.append(.note("the DC is now \(dc.map(\.description) ?? "nobody")"))
            case .resignDC:
                out.append(.resignedDC)
                executor = nil
                // What this DC had in flight is its own knowledge; another DC plans now.
                inFlightWhenAway = [:]
                scheduling = false
                joinedOnce = false
                pendingReason = nil
            case .becomeDC:
                out.append(.becameDC)
            }
        }
        guard isDC else { return out }
        for l in left { out.append(.recordLeft(l.member, clean: l.clean, nodeStillUp: l.nodeStillUp)) }
        // Actions in flight on members that left will never report.
        let gone = Set(left.map(\.member.name))
        if var ex = executor, !ex.isFinished {
            let lost = ex.running.filter { ex.graph.actions[$0].kind != .fence && gone.contains(ex.graph.actions[$0].node ?? "") }
            var d: [TransitionExecutor.Directive] = []
            for i in lost { d += ex.onResult(action: i, .error("\(ex.graph.actions[i].node ?? "?") left the cluster")) }
            executor = ex
            out += perform(d)
        }
        let joined = Set(members).subtracting(before)
        if !wasDC || !joined.isEmpty {
            // A new DC, or new members: every member's history is read again.
            out += join.start(members: election.members).flatMap { handleJoin($0) }
            out += abortTransition("\(wasDC ? "members joined" : "this node became the DC")")
        } else if !left.isEmpty {
            out += join.onLeft(left.map(\.member)).flatMap { self.handleJoin($0) }
            out += requestSchedule("\(left.map(\.member.name).joined(separator: ", ")) left")
        } else if quorumReleased {
            out += requestSchedule(pendingReason ?? "quorum gained")
        }
        return out
    }

    // MARK: Quorum

    /// Corosync's quorum state for this partition. `schedule`: run the scheduler on it (false
    /// when a membership change, handled next, schedules anyway).
    public mutating func onQuorum(_ quorate: Bool, schedule: Bool = true) -> [Directive] {
        if quorumKnown {
            if quorate && !self.quorate {
                // Gained: acted on once the controllers' membership of the new ring is in.
                guard !quorumPending else { return [] }
                quorumPending = true
                return [.note("quorum gained; waiting for the controllers' membership of the new ring before acting on it"),
                        .arm(.quorumSettle, after: quorumSettle)]
            }
            if !quorate && quorumPending {
                quorumPending = false
                return [.disarm(.quorumSettle), .note("quorum lost again before the controllers' membership came in")]
            }
            guard quorate != self.quorate else { return [] }
        }
        let first = !quorumKnown
        self.quorate = quorate
        quorumKnown = true
        let what = first ? "quorum known: \(quorate ? "quorate" : "not quorate")" : "quorum \(quorate ? "gained" : "lost")"
        var out: [Directive] = [.note(what)]
        // The first answer ends the wait of a DC that held back its scheduler (with `schedule`
        // false, the membership change handled next schedules).
        if schedule { out += requestSchedule(what) }
        return out
    }

    /// Whether this partition may fence `node` now: with quorum, or when no-quorum-policy is
    /// ignore, or when the node is a member of this partition (never a node only the other,
    /// possibly majority, side sees).
    public func mayFence(_ node: String) -> Bool {
        guard quorumKnown else { return false }
        return quorate || noQuorumPolicy == "ignore" || election.members.contains { $0.name == node }
    }

    // MARK: Messages

    public mutating func onMessage(_ message: ControllerMessage, from sender: ControllerMember) -> [Directive] {
        switch message {
        case .joinRequest(let round, let dc):
            guard dc == election.dc?.nodeID else { return [] }
            return [.sendHistory(round: round)]
        case .joinHistory(let round, let nodeID, let name, let lrm, let unanswered):
            guard isDC else { return [] }
            // What a member saw sent to other nodes and not answered: may be under way there.
            // (Forgotten as ever: at its result, a fencing, or the node's controller joining.)
            for r in unanswered ?? [] where r.node != name && unansweredRequests[r.transitionKey] == nil
                && !election.members.contains(where: { $0.name == r.node }) {
                unansweredRequests[r.transitionKey] = r
            }
            let member = ControllerMember(nodeID: nodeID, name: name)
            return join.onHistory(from: member, round: round, history: Array(lrm.utf8)).flatMap { handleJoin($0) }
        case .execute(let request):
            if request.node != local.name, request.intervalMS == 0, request.resource != nil,
               !["cancel", "delete", "do_shutdown"].contains(request.task), election.dc?.nodeID == sender.nodeID {
                unansweredRequests[request.transitionKey] = request
            }
            guard request.node == local.name else { return [] }
            // Only the current DC runs transitions: an action (or do_shutdown) from anyone
            // else (a former DC, a controller in another partition) is not carried out.
            guard let dc = election.dc, dc.nodeID == sender.nodeID else {
                return [.note("ignored \(request.operationKey) from \(sender), which is not the DC (\(election.dc.map(\.description) ?? "none"))")]
            }
            if request.task == "do_shutdown" {
                let done = ActionResult(node: local.name, resource: "", agent: "", task: "do_shutdown", intervalMS: 0,
                                        transitionKey: request.transitionKey, callID: 0, rc: 0, opStatus: 0, lastRCChange: 0)
                // The DC stopping itself (the last node, or before a successor is elected)
                // records its own clean stop, as it records another node's: its `shutdown`
                // request goes with its other transient attributes. Left in the CIB, the
                // request would stop the node again at its next start.
                let own: [Directive] = isDC ? [.recordLeft(local, clean: true, nodeStillUp: true)] : []
                return own + [.note("the DC told this node to shut down"), .disarm(.shutdownEscalation), .send(.result(done)), .exit(clean: true)]
            }
            if request.task != "cancel" && request.task != "delete" { runningLocally[request.transitionKey] = request }
            return [.runLocally(request)]
        case .result(let result):
            if result.node == local.name, let key = result.transitionKey { runningLocally[key] = nil }
            if !result.isPending, let key = result.transitionKey { unansweredRequests[key] = nil }
            guard isDC else { return [] }
            return onResult(result)
        case .shutdownRequest(let nodeID, let node):
            guard isDC else { return [] }
            return [.recordShutdownRequest(nodeID: nodeID, node: node)] + requestSchedule("\(node) is shutting down")
        case .executorRestarted(_, let node):
            guard isDC, election.members.contains(sender) else { return [] }
            // As after a controller restart in Pacemaker: the node's history is read again
            // (now empty: its `lrm` is rewritten so), and the scheduler, knowing nothing of what
            // runs there, probes it before it starts anything anywhere; what still runs is
            // found running and kept where it is, and its recurring monitors are set up again.
            var out: [Directive] = [.note("\(node)'s executor was restarted: reading every member's history again")]
            out += join.start(members: election.members).flatMap { handleJoin($0) }
            out += abortTransition("\(node)'s executor was restarted")
            return out
        }
    }

    /// This node's executor (lrmd) ended and the shell connected to the one pacemakerd
    /// started in its place. The agents' processes outlive the executor, so the resources may
    /// still run here, but the new executor knows none of them: its history is empty and no
    /// recurring monitor runs. Unlike Pacemaker's controller, which exits and is respawned
    /// (its node kept up by luck of timing), this controller stays in the group and tells the
    /// DC, which reads the histories again and has the node probed (`executorRestarted`).
    /// Actions the old executor was running are not waited for: the shell reports them failed.
    public mutating func onExecutorRestarted() -> [Directive] {
        [.note("connected to the new executor: asking the DC to read this node's history again"),
         .send(.executorRestarted(nodeID: local.nodeID, node: local.name))]
    }

    /// An operation's result reached the DC.
    mutating func onResult(_ r: ActionResult) -> [Directive] {
        var out: [Directive] = []
        if !["do_shutdown"].contains(r.task) { out.append(.recordResult(r)) }
        // A pending result (a systemd unit still activating or deactivating) is recorded, as
        // Pacemaker's controller records it, but confirms no action and asks for no new plan:
        // the answer comes later (a recurring monitor reports again when its result changes;
        // a one-shot action waits for its final result or its timer).
        if r.isPending { return out }
        let key = r.transitionKey.flatMap(TransitionKey.init)
        if var ex = executor, !ex.isFinished, let key, key.uuid == uuid, key.transitionID == transitionID,
           let i = actionIndex[key.actionID], ex.running.contains(i) {
            let result: TransitionExecutor.Result = r.opStatus == 0
                ? .finished(rc: r.rc)
                : .error(r.exitReason ?? "execution status \(r.opStatus)")
            let d = ex.onResult(action: i, result)
            executor = ex
            out += perform(d)
        } else if r.isFailure {
            out += requestSchedule("\(r.operationKey) on \(r.node) failed (rc=\(r.rc), status \(r.opStatus))")
        } else if r.intervalMS == 0 {
            // A late result (its action timed out, or belongs to an older transition): even a
            // success changes what runs where, and the scheduler's plan with it.
            out += requestSchedule("late result of \(r.operationKey) on \(r.node) (rc=\(r.rc))")
        }
        return out
    }

    // MARK: CIB and scheduler

    /// The CIB changed, not by this DC's own writes.
    public mutating func onCIBChanged(_ reason: String) -> [Directive] {
        guard isDC else { return [] }
        return requestSchedule(reason)
    }

    /// This node's copy of the CIB was replaced by another member's (cibd's sync when members
    /// joined, as at a partition merge). A merge keeps one partition's copy whole: what the
    /// other partition recorded since the split (results, joins, fencing) is not in it, and
    /// this DC's own join records may have been written before the sync and lost with it. As
    /// Pacemaker's DC does after a replace, the join is run again: every member's history is
    /// read from its executor and each node's `lrm` rewritten, membership and the DC recorded
    /// again, and only then is the scheduler run.
    ///
    /// The shell may also call it instead of `onScheduled` when it finds, about to run the
    /// scheduler, that the copy was replaced since the join's records were written (the
    /// scheduler's run is then dropped: it would plan on a status that misses them).
    public mutating func onCIBReplaced(_ reason: String) -> [Directive] {
        guard isDC else { return [] }
        scheduling = false
        pendingReason = nil
        var out: [Directive] = [.note("\(reason): reading every member's history again")]
        out += join.start(members: election.members).flatMap { handleJoin($0) }
        out += abortTransition(reason)
        return out
    }

    /// The scheduler's answer to `.schedule`. `recheck` is cluster-recheck-interval (nil: none).
    public mutating func onScheduled(_ graph: ActionGraph, recheck: Duration?) -> [Directive] {
        guard isDC, scheduling else { return [] }
        scheduling = false
        self.recheck = recheck
        if let reason = pendingReason {
            // Something happened while the scheduler ran: its graph may be out of date.
            pendingReason = nil
            scheduling = true
            return [.schedule(reason: reason)]
        }
        transitionID += 1
        failedInTransition = false
        fenceRequestedAt = [:]
        var out: [Directive] = []
        var graph = graph
        if !controllersAway.isEmpty {
            // Nothing is sent to a node whose controller is away (the scheduler input shows it
            // in maintenance, which would cancel its monitors): those actions, and what is
            // ordered after them, wait for the controller's return (its join reschedules).
            let (kept, deferred) = Self.deferringActions(on: Set(controllersAway.keys), in: graph)
            if !deferred.isEmpty {
                out.append(.note("deferred until their node's controller is back: \(deferred.map { "\($0.key)@\($0.node ?? "-")" }.joined(separator: ", "))"))
            }
            graph = kept
        }
        func setting(_ name: String) -> Duration? {
            graph.settings.first { $0.name == name }.flatMap { CIBValue.milliseconds($0.value) }.map { .milliseconds($0) }
        }
        let limit = graph.settings.first { $0.name == "batch-limit" }.flatMap { Int($0.value) } ?? 0
        var ex = TransitionExecutor(graph: graph, batchLimit: limit, clusterDelay: setting("cluster-delay") ?? .seconds(60),
                                    fencingTimeout: setting("stonith-timeout") ?? .seconds(60))
        actionIndex = Dictionary(graph.actions.indices.map { (graph.actions[$0].id, $0) }, uniquingKeysWith: { a, _ in a })
        out += [.disarm(.recheck), .note("transition \(transitionID): \(graph.actions.count) action(s)")]
        let d = ex.start()
        executor = ex
        out += perform(d)
        return out
    }

    /// A record the DC wrote (an operation's result, a node fenced) did not reach the CIB: the
    /// scheduler would plan on a status that misses it. The transition is aborted and the
    /// scheduler run again after the retry delay (doubling while writes keep failing), as
    /// after a failed transition; a node whose fencing could not be recorded is still unclean
    /// in the CIB, so it is fenced again rather than wrongly thought down.
    public mutating func onRecordFailed(_ what: String) -> [Directive] {
        guard isDC else { return [] }
        failedInTransition = true
        var out: [Directive] = [.note("could not record \(what) in the CIB: aborting the transition")]
        if var ex = executor, !ex.isFinished {
            let d = ex.abort(reason: "could not record \(what)")
            executor = ex
            out += perform(d)
        } else {
            // The transition is over (or the scheduler runs): plan again, after a pause.
            failedTransitions += 1
            out += [.disarm(.recheck), .arm(.retry, after: currentRetryDelay)]
        }
        return out
    }

    public mutating func onFenceResult(transition: Int, index: Int, _ result: FencingResult) -> [Directive] {
        guard isDC, transition == transitionID, var ex = executor else { return [] }
        let d: [TransitionExecutor.Directive]
        switch result {
        case .done: d = ex.onResult(action: index, .finished(rc: 0))
        case .failed(let why): d = ex.onResult(action: index, .error(why))
        }
        executor = ex
        return perform(d)
    }

    public mutating func onTimer(_ timer: Timer) -> [Directive] {
        switch timer {
        case .join(let round):
            guard isDC else { return [] }
            return join.onTimer(round: round).flatMap { handleJoin($0) }
        case .action(let t, let i):
            guard isDC, t == transitionID, var ex = executor else { return [] }
            let wasRunning = ex.running.contains(i)
            let d = ex.onTimeout(action: i)
            executor = ex
            var out: [Directive] = []
            if wasRunning, let r = timedOutResult(ex.graph.actions[i]) { out.append(.recordResult(r)) }
            return out + perform(d)
        case .recheck:
            return requestSchedule("cluster-recheck-interval")
        case .shutdownEscalation:
            guard shuttingDown else { return [] }
            return [.note("the DC did not tell this node to shut down within shutdown-escalation (\(shutdownEscalation)); exiting anyway"),
                    .exit(clean: false)]
        case .retry:
            return requestSchedule("retrying after a failed transition")
        case .quorumSettle:
            guard quorumPending else { return [] }
            quorumPending = false
            quorate = true
            return [.note("quorum gained (no membership change of the controllers came with it)")] + requestSchedule(pendingReason ?? "quorum gained")
        case .controllerGrace(let node):
            guard let m = controllersAway.removeValue(forKey: node) else { return [] }
            // Still in the ring without a controller: not awaited again (`deriveAway`).
            if ringMembers?.contains(m.nodeID) ?? true { notAwaited.insert(node) }
            return [.note("\(m.name)'s controller did not come back within \(controllerRestartGrace): \(m.name) is treated as lost (fenced before its resources are recovered)")]
                + requestSchedule("\(m.name)'s controller did not come back")
        case .dcDeadtime:
            guard awaitingNodes else { return [] }
            awaitingNodes = false
            let missing = expectedNodes.subtracting(election.members.map(\.name)).sorted()
            return [.note("dc-deadtime passed without \(missing.joined(separator: ", ")): acting without them")]
                + requestSchedule("dc-deadtime passed")
        }
    }

    /// This node was asked to stop (SIGTERM): ask the DC to move its resources away first.
    /// `resourcesActive`: whether the local executor may still run resources (the shell asks
    /// lrmd; when it cannot tell, true). Without a DC nobody can move them away: the node
    /// leaves on purpose only when nothing runs here; otherwise it goes as on a failed
    /// shutdown, so that the others see it lost and fence it before starting its resources.
    public mutating func onShutdownRequested(resourcesActive: Bool = true) -> [Directive] {
        guard !shuttingDown else { return [] }
        shuttingDown = true
        guard election.dc != nil else {
            if resourcesActive {
                return [.note("no DC, and resources may still run here: exiting without a clean leave, so that the cluster recovers them"),
                        .exit(clean: false)]
            }
            return [.note("no DC and nothing running here: exiting at once"), .exit(clean: true)]
        }
        return [.note("asking the DC to move this node's resources away; exiting anyway after shutdown-escalation (\(shutdownEscalation))"),
                .send(.shutdownRequest(nodeID: local.nodeID, node: local.name)), .arm(.shutdownEscalation, after: shutdownEscalation)]
    }

    /// The cluster option `shutdown-escalation` (Pacemaker's controller option, default
    /// 20min): a duration above zero; anything else is not used (the default is), and said.
    public static func shutdownEscalation(from options: ClusterOptions) -> (Duration, problem: String?) {
        guard let text = options.raw["shutdown-escalation"] else { return (defaultShutdownEscalation, nil) }
        guard let ms = CIBValue.milliseconds(text), ms > 0 else {
            return (defaultShutdownEscalation,
                    "shutdown-escalation '\(text)' in crm_config is not a duration above zero (like 20min or 90s); using the default 20min")
        }
        return (.milliseconds(ms), nil)
    }

    // MARK: Internals

    /// What is recorded for a resource action whose result did not come in time, as
    /// Pacemaker's controller records it: op-status 2 (timed out), rc 1 (unknown error), call
    /// id -1; the scheduler then treats the resource as failed there (and stops it first).
    /// `lastRCChange` 0: the shell's status writes put in the time.
    func timedOutResult(_ a: GraphAction) -> ActionResult? {
        guard a.kind == .resource, let node = a.node, let rsc = a.historyName ?? a.resource else { return nil }
        let key = TransitionKey(actionID: a.id, transitionID: transitionID, targetRC: Int(a.meta["op_target_rc"] ?? "") ?? 0, uuid: uuid)
        return ActionResult(node: node, resource: rsc, agent: a.agent?.description ?? "", task: a.task, intervalMS: a.intervalMS,
                            transitionKey: key.description, callID: -1, rc: 1, opStatus: 2, lastRCChange: 0,
                            digest: ParameterDigest.operationDigest(a.parameters, intervalMS: a.intervalMS,
                                                                    timeoutMS: Int(a.meta["timeout"] ?? "") ?? 0),
                            exitReason: "\(a.key) on \(node) did not report within its timeout")
    }

    private mutating func handleJoin(_ d: JoinRound.Directive) -> [Directive] {
        switch d {
        case .requestHistory(let m, let round):
            // One request reaches everyone: send it once, for the first member.
            return m == election.members.first ? [.send(.joinRequest(round: round, dc: local.nodeID))] : []
        case .armTimer(let round, let after):
            return [.arm(.join(round: round), after: after)]
        case .recordHistory(let member, let history):
            return [.recordJoin(member, lrmResources: String(decoding: history, as: UTF8.self))]
        case .complete(let round, let joined, let missing):
            joinedOnce = true
            var out: [Directive] = [.disarm(.join(round: round)), .recordMembers(joined)]
            if !missing.isEmpty { out.append(.note("join round \(round): no history from \(missing.map(\.description).joined(separator: ", "))")) }
            return out + requestSchedule("join round \(round) complete")
        }
    }

    private mutating func abortTransition(_ reason: String) -> [Directive] {
        guard var ex = executor, !ex.isFinished else { return [] }
        pendingReason = pendingReason ?? reason
        let d = ex.abort(reason: reason)
        executor = ex
        return perform(d)
    }

    /// Runs the scheduler now, or once the transition in progress has stopped.
    mutating func requestSchedule(_ reason: String) -> [Directive] {
        guard isDC else { return [] }
        guard joinedOnce, !join.active else {
            return []  // the join round's completion schedules
        }
        guard !awaitingNodes else {
            return []  // dc-deadtime, or the last node of the nodelist joining, schedules
        }
        guard quorumKnown else {
            // Nothing is decided before corosync has said whether this partition is quorate
            // (`onQuorum` schedules once it has).
            return []
        }
        if let ex = executor, !ex.isFinished {
            return abortTransition(reason)
        }
        if quorumPending {
            // Planned once the quorum gained is settled (`onMembership`, `.quorumSettle`).
            pendingReason = pendingReason ?? reason
            return []
        }
        if scheduling {
            pendingReason = pendingReason ?? reason
            return []
        }
        scheduling = true
        pendingReason = nil
        return [.schedule(reason: reason)]
    }

    private mutating func perform(_ directives: [TransitionExecutor.Directive]) -> [Directive] {
        var out: [Directive] = []
        var blockedFencing: [Int] = []
        let t = transitionID
        for d in directives {
            switch d {
            case .execute(let a, let timeout):
                guard let node = a.node else { continue }
                if a.kind == .cluster && a.task == "clear_failcount" {
                    // Done by the DC itself, in the CIB.
                    out.append(.clearFailcount(resource: a.resource ?? "", node: node))
                    continue
                }
                let key = TransitionKey(actionID: a.id, transitionID: t, targetRC: Int(a.meta["op_target_rc"] ?? "") ?? 0, uuid: uuid)
                let ms = Int(timeout.components.seconds) * 1000 + Int(timeout.components.attoseconds / 1_000_000_000_000_000)
                let request = ActionRequest(node: node, task: a.task, resource: a.historyName ?? a.resource,
                                            agent: a.agent?.description, intervalMS: a.intervalMS, timeoutMS: ms,
                                            parameters: a.parameters, meta: a.meta, transitionKey: key.description)
                if a.kind == .cluster && a.task == "do_shutdown" { out.append(.recordExpectedDown(node: node)) }
                out.append(.send(.execute(request)))
            case .fence(let a, let timeout):
                if !mayFence(a.node ?? "") {
                    // The quorum was lost after the scheduler ran: fencing a node outside this
                    // partition now could shoot the majority.
                    blockedFencing.append(actionIndex[a.id] ?? 0)
                    out.append(.note("not fencing \(a.node ?? "?"): this partition has no quorum (no-quorum-policy=\(noQuorumPolicy))"))
                    continue
                }
                fenceRequestedAt[actionIndex[a.id] ?? 0] = membershipSequence
                out.append(.fence(node: a.node ?? "", action: a.meta["stonith_action"] ?? "reboot", timeout: timeout,
                                  transition: t, index: actionIndex[a.id] ?? 0))
            case .armTimer(let i, let after):
                out.append(.arm(.action(transition: t, index: i), after: after))
            case .disarmTimer(let i):
                out.append(.disarm(.action(transition: t, index: i)))
            case .confirmed(let a, _):
                if a.kind == .fence, let node = a.node {
                    if election.members.contains(where: { $0.name == node }), let joined = joinedAt[node],
                       let asked = fenceRequestedAt[actionIndex[a.id] ?? 0], joined > asked {
                        // A late confirmation: the node has rejoined since. Its join recorded it up
                        // with its current history; marking it down would erase that.
                        out.append(.note("not recording \(node) as fenced: it rejoined after the fencing was asked for"))
                    } else {
                        out.append(.recordFenced(node: node))
                        // Whatever it was running is stopped now.
                        inFlightWhenAway[node] = nil
                        unansweredRequests = unansweredRequests.filter { $0.value.node != node }
                    }
                }
            case .failed(_, _, let reason):
                failedInTransition = true
                out.append(.note("transition \(t): \(reason)"))
            case .finished(let outcome):
                switch outcome {
                case .complete:
                    failedTransitions = 0
                    out.append(.note("transition \(t) complete (\(executor?.tally ?? ""))"))
                    if let reason = pendingReason {
                        out += requestSchedule(reason)
                    } else if let recheck {
                        out.append(.arm(.recheck, after: recheck))
                    }
                case .aborted(let reason):
                    out.append(.note("transition \(t) aborted (\(executor?.tally ?? "")): \(reason)"))
                    if let why = pendingReason {
                        pendingReason = nil
                        out += requestSchedule(why)
                    } else if failedInTransition {
                        failedTransitions += 1
                        out.append(.arm(.retry, after: currentRetryDelay))
                    } else {
                        out += requestSchedule(reason)
                    }
                }
            }
        }
        for i in blockedFencing where transitionID == t {
            guard var ex = executor else { break }
            let more = ex.onResult(action: i, .error("this partition has no quorum"))
            executor = ex
            out += perform(more)
        }
        // After a .clearFailcount the action counts as done.
        for d in out {
            if case .clearFailcount(let rsc, let node) = d, var ex = executor,
               let i = ex.running.first(where: { ex.graph.actions[$0].task == "clear_failcount" && ex.graph.actions[$0].node == node
                                                  && (ex.graph.actions[$0].resource ?? "") == rsc }) {
                let more = ex.onResult(action: i, .finished(rc: 0))
                executor = ex
                out += perform(more)
            }
        }
        return out
    }
}

extension JoinRound {
    /// Several members left.
    mutating func onLeft(_ members: [ControllerMember]) -> [Directive] {
        members.flatMap { onLeft($0) }
    }
}
