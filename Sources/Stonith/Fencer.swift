#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras

/// What stonithd's of a cluster tell each other in CPG group "stonith-ng". Every member
/// receives every message in one order, so every member's history agrees.
public enum FencerMessage: Codable, Sendable, Equatable {
    /// A new fencing request, from the node whose stonithd took it (its origin).
    case request(FencerRequest)
    /// A member's answer to a request: the levels of devices it can run against the target
    /// (empty: it cannot fence it).
    case offer(id: String, member: String, node: String, levels: [[String]])
    /// The origin hands the request to one member, which runs the agents.
    case execute(id: String, member: String, node: String)
    /// The operation is over (done or failed): every member records it.
    case result(FenceResult)
    /// A member's history, sent when members join so that they learn what happened before,
    /// with where each pending operation stands.
    case history([FenceEvent], pending: [FencerPending])
    /// Forget the finished operations of a target (nil: of all); asked by a client (`token`)
    /// of `member`.
    case cleanup(target: String?, member: String, token: UInt64)
}

/// A fencing request as its origin multicasts it.
public struct FencerRequest: Codable, Sendable, Equatable {
    public var id: String
    public var target: String
    public var action: FenceAction
    /// The origin's node name and CPG member (`nodeid:pid`).
    public var origin: String
    public var originMember: String
    public var client: String
    public var timeoutMilliseconds: Int
    public var requested: Date
    /// The client's requested delay in seconds (`stonith_admin --delay`), for the first device
    /// run; negative disables pcmk_delay_base/max too.
    public var delaySeconds: Int?

    public init(id: String, target: String, action: FenceAction, origin: String, originMember: String, client: String,
                timeoutMilliseconds: Int, requested: Date, delaySeconds: Int? = nil) {
        self.delaySeconds = delaySeconds
        self.id = id
        self.target = target
        self.action = action
        self.origin = origin
        self.originMember = originMember
        self.client = client
        self.timeoutMilliseconds = timeoutMilliseconds
        self.requested = requested
    }

    public var timeout: Duration { .milliseconds(Int64(timeoutMilliseconds)) }
}

/// Where a pending operation stands: its request and the member carrying it out, if any.
public struct FencerPending: Codable, Sendable, Equatable {
    public var request: FencerRequest
    public var executor: String?
    public var executorNode: String?

    public init(request: FencerRequest, executor: String? = nil, executorNode: String? = nil) {
        self.request = request
        self.executor = executor
        self.executorNode = executorNode
    }
}

/// The fencer of one node: takes its clients' requests, agrees with the other nodes' fencers
/// (through CPG's total order) on which node carries each out, runs the agents when it is that
/// node, and records every operation of the cluster in its history.
///
/// A request goes: the origin multicasts `request`; every member works out which of its
/// devices can fence the target (`assess`, done by the shell, which may ask agents) and
/// multicasts an `offer`; once every member has offered (or the query time is up), the origin
/// picks the executor (`chooseExecutor`: another node rather than the target itself) and
/// multicasts `execute`; the executor carries the request out level by level
/// (`FencingOperation`) and multicasts the `result`, which every member records and which
/// answers the clients waiting for it on any node. If the executor leaves the group, the
/// origin hands the request to the next candidate. A manual confirmation is a `result` done
/// by "a human", and completes every pending request against that target.
///
/// An instance: no clock, no I/O. Time comes in as `now`; timers go out as `schedule` and
/// come back through `onTimer`.
public struct Fencer: Sendable {
    public enum Timer: Sendable, Hashable {
        /// The origin stops waiting for offers.
        case query(id: String)
        /// The origin gives up on a request that is still pending.
        case request(id: String)
        /// A client stops waiting.
        case waiter(token: UInt64)
    }

    public enum Directive: Sendable, Equatable {
        case multicast(FencerMessage)
        /// Work out which levels of this node's devices can fence the target; answer with
        /// `onAssessed`.
        case assess(id: String, target: String, action: FenceAction)
        /// Run a device's agent; answer with `onAgentResult`.
        /// `requestedDelay`: the client's delay, for the operation's first device only (as
        /// Pacemaker's fencer); a negative one (every delay disabled) for every device.
        case runAgent(id: String, device: String, action: String, target: String, timeout: Duration, requestedDelay: Int? = nil)
        /// Answer a client.
        case reply(token: UInt64, FenceResult)
        /// Tell subscribers an operation finished.
        case notify(FenceEvent)
        case schedule(Timer, after: Duration)
        /// Something worth a line in the log.
        case log(String)
        /// Tell the client with this token that its request is done (a history cleanup).
        case done(token: UInt64)
    }

    /// This node's name and this process as a CPG member.
    public let node: String
    public let member: String
    /// Most history entries kept (the oldest finished ones go first).
    public var historyLimit = 500

    public private(set) var members: [String] = []
    private var names: [String: String] = [:]
    private var history: [String: FenceEvent] = [:]
    private var order: [String] = []
    /// Where each pending operation stands, on every member.
    private var tracking: [String: Tracking] = [:]
    /// The requests this node originated and has not yet seen finished.
    private var originated: [String: Origination] = [:]
    /// The operations this node executes.
    private var executions: [String: FencingOperation] = [:]
    /// Operations whose first device has run (the client's delay is spent).
    private var delaySpent: Set<String> = []
    /// Results this member multicast and has not yet seen delivered back. One multicast as
    /// the ring re-formed can be lost with the old ring; it is multicast again at the next
    /// membership change (a result recorded twice is ignored the second time), so that the
    /// origin is not left waiting for its whole timeout (found by the whole-cluster
    /// simulation: soak seed 1458).
    private var unconfirmed: [String: FenceResult] = [:]
    /// The levels this node offered, by operation.
    private var offered: [String: [[String]]] = [:]
    private var waiters: [String: [UInt64]] = [:]
    /// What each waiting client asked, for answering it when its time is up.
    private var waiterTimeouts: [UInt64: FenceEvent] = [:]
    private var counter = 0
    /// Executors named for operations this member has not heard of yet (it joined since).
    private var unknownExecutions: [String: (member: String, node: String)] = [:]
    /// This node's requests not yet delivered back to it, and those whose time ran out before.
    private var undelivered: Set<String> = []
    private var expiredEarly: Set<String> = []

    private struct Tracking: Sendable {
        var request: FencerRequest
        var executor: String?
        var executorNode: String?
    }

    private struct Origination: Sendable {
        var awaiting: Set<String>
        var offers: [Offer] = []
        var deciding = true
        var tried: Set<String> = []
    }

    /// A member's offer for one request.
    public struct Offer: Sendable, Equatable {
        public var member: String
        public var node: String
        public var levels: [[String]]

        public init(member: String, node: String, levels: [[String]]) {
            self.member = member
            self.node = node
            self.levels = levels
        }
    }

    public init(node: String, member: String) {
        self.node = node
        self.member = member
        names[member] = node
    }

    // MARK: - Queries

    /// The history, oldest request first; of one target, or all.
    public func history(target: String? = nil) -> [FenceEvent] {
        order.compactMap { history[$0] }.filter { target == nil || $0.target.lowercased() == target!.lowercased() }
    }

    /// The node names of the current members this fencer has heard from.
    public var memberNames: [String] { members.compactMap { names[$0] } }

    // MARK: - Client requests

    /// A client asks to fence `target`. An identical request already pending anywhere in the
    /// cluster is joined rather than repeated.
    public mutating func onFenceRequest(token: UInt64, target: String, action: FenceAction, timeout: Duration,
                                        client: String, delay requestedDelay: Int? = nil, now: Date) -> [Directive] {
        // Bounded: a timer (and a sleep) must never be asked for an absurd duration.
        let delay = requestedDelay.map { Swift.min($0, FenceDevice.maxDelaySeconds) }
        // Only an operation this member follows itself (a member that joined later may list
        // operations it only heard of).
        if let same = order.reversed().first(where: { tracking[$0] != nil && history[$0]?.state == .pending && history[$0]?.target == target && history[$0]?.action == action }) {
            waiters[same, default: []].append(token)
            waiterTimeouts[token] = history[same]
            return [.schedule(.waiter(token: token), after: timeout),
                    .log("\(client) asks to \(action) \(target): joining the request \(same) already in progress")]
        }
        counter += 1
        let id = "\(node)/\(member)/\(counter)"
        let ms = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let request = FencerRequest(id: id, target: target, action: action, origin: node, originMember: member,
                                    client: client, timeoutMilliseconds: max(1, ms), requested: now, delaySeconds: delay)
        waiters[id, default: []].append(token)
        waiterTimeouts[token] = event(of: request, state: .pending, delegate: nil, reason: nil, completed: nil)
        undelivered.insert(id)
        // The requested delay does not eat up the timeout (as Pacemaker's fencer).
        let delayed = timeout + .seconds(max(0, delay ?? 0))
        return [.multicast(.request(request)),
                .schedule(.request(id: id), after: delayed),
                .schedule(.waiter(token: token), after: delayed + .seconds(5)),
                .log("\(client) asks to \(action) \(target) within \(timeout.secondsText): request \(id)")]
    }

    /// A client confirms that `target` is safely down.
    public mutating func onConfirm(token: UInt64, target: String, client: String, now: Date) -> [Directive] {
        counter += 1
        let id = "\(node)/\(member)/\(counter)"
        let event = FenceEvent(id: id, target: target, action: .off, state: .done, delegate: FenceEvent.human, origin: node,
                               client: client, exitReason: "manually confirmed", requested: now, completed: now)
        waiters[id, default: []].append(token)
        waiterTimeouts[token] = event
        return [.multicast(.result(FenceResult(outcome: .ok, event: event))),
                .schedule(.waiter(token: token), after: .seconds(30)),
                .log("\(client) confirms that \(target) is down")]
    }

    /// A client asks to forget the finished operations of a target (nil: all) everywhere.
    public mutating func onCleanHistory(token: UInt64, target: String?) -> [Directive] {
        return [.multicast(.cleanup(target: target, member: member, token: token)), .log("cleaning up the fencing history\(target.map { " of \($0)" } ?? "")")]
    }

    // MARK: - The group

    /// The group's members changed (members as `nodeid:pid`, all of them after the change).
    public mutating func onMembership(members now: [String], joined: [String], left: [String], at time: Date) -> [Directive] {
        let before = members
        members = now.sorted()
        var out: [Directive] = unconfirmed.sorted { $0.key < $1.key }.map { .multicast(.result($0.value)) }
        for gone in left {
            for id in Array(originated.keys) {
                guard var o = originated[id] else { continue }
                if o.awaiting.remove(gone) != nil {
                    originated[id] = o
                    if o.awaiting.isEmpty && o.deciding { out += decide(id) }
                }
            }
            for (id, t) in tracking where history[id]?.state == .pending && t.executor == gone && t.request.originMember == member {
                let executorNode = names[gone] ?? gone
                if executorNode.lowercased() == t.request.target.lowercased() {
                    // The target was fencing itself and its stonithd left the group: that is
                    // not proof it is down (a stonithd crash or restart, or a partition, looks
                    // the same). Never a success: another node's device is tried, else the
                    // request fails and the origin tries again or an operator confirms.
                    out.append(.log("\(executorNode), which was fencing itself (\(id)), left the group before reporting; that does not prove it is down: trying another node"))
                    out += nextExecutor(id, now: time)
                } else {
                    out.append(.log("\(executorNode), which was fencing \(t.request.target) (\(id)), left the group; trying another node"))
                    out += nextExecutor(id, now: time)
                }
            }
            names[gone] = nil
        }
        out += settleOrphans(at: time)
        // Members that joined learn the history from the longest-standing member.
        let stayed = before.filter { now.contains($0) && !joined.contains($0) }.sorted()
        if !joined.isEmpty, stayed.first == member, !order.isEmpty {
            let pending = order.compactMap { id in tracking[id].map { FencerPending(request: $0.request, executor: $0.executor, executorNode: $0.executorNode) } }
            out.append(.multicast(.history(order.compactMap { history[$0] }, pending: pending)))
        }
        return out
    }

    /// A message of the group, delivered in the group's order.
    public mutating func onMessage(_ message: FencerMessage, now: Date) -> [Directive] {
        switch message {
        case .request(let r):
            guard history[r.id] == nil else { return [] }
            insert(event(of: r, state: .pending, delegate: nil, reason: nil, completed: nil))
            tracking[r.id] = Tracking(request: r)
            var out: [Directive] = []
            if r.originMember == member {
                undelivered.remove(r.id)
                if expiredEarly.remove(r.id) != nil {
                    let why = "no result within \(r.timeout.secondsText)"
                    return finish(r.id, outcome: .timedOut(reason: why), delegate: nil, reason: why, now: now)
                }
                originated[r.id] = Origination(awaiting: Set(members))
                out.append(.schedule(.query(id: r.id), after: Self.queryTime(r.timeout)))
            }
            out.append(.assess(id: r.id, target: r.target, action: r.action))
            return out

        case .offer(let id, let from, let node, let levels):
            names[from] = node
            guard var o = originated[id], o.deciding else { return [] }
            o.offers.removeAll { $0.member == from }
            o.offers.append(Offer(member: from, node: node, levels: levels))
            o.awaiting.remove(from)
            originated[id] = o
            return o.awaiting.isEmpty ? decide(id) : []

        case .execute(let id, let executor, let node):
            names[executor] = node
            guard var t = tracking[id], history[id]?.state == .pending else {
                // Not known here yet (this member joined after the request): kept until the
                // history from the others arrives.
                if history[id] == nil { unknownExecutions[id] = (executor, node) }
                return []
            }
            guard members.contains(executor) else {
                // It left before this was delivered (the origin chose from an older view).
                if t.request.originMember == member {
                    return [.log("\(node) left before it could fence \(t.request.target) (\(id)); trying another node")] + nextExecutor(id, now: now)
                }
                if !members.contains(t.request.originMember) {
                    let why = "the node chosen to fence \(t.request.target) (\(node)) and the origin \(t.request.origin) both left the cluster"
                    return record(FenceResult(outcome: .failed(reason: why),
                                              event: event(of: t.request, state: .failed, delegate: nil, reason: why, completed: now)))
                }
                return []
            }
            t.executor = executor
            t.executorNode = node
            tracking[id] = t
            history[id]?.delegate = node
            guard executor == member else { return [] }
            let levels = offered[id] ?? []
            var op = FencingOperation(target: t.request.target, action: t.request.action.rawValue, levels: levels, timeout: t.request.timeout)
            let first = op.start()
            executions[id] = op
            return [.log("executing \(t.request.action) of \(t.request.target) for \(t.request.client)@\(t.request.origin) (\(id)) with \(levels.map { $0.joined(separator: "+") }.joined(separator: ", then "))")]
                + execution(id, first, now: now)

        case .result(let r):
            return record(r)

        case .cleanup(let target, let asker, let token):
            let gone = order.filter { id in
                guard let e = history[id], e.state != .pending else { return false }
                return target == nil || e.target.lowercased() == target!.lowercased()
            }
            for id in gone { history[id] = nil }
            order.removeAll { history[$0] == nil }
            return asker == member ? [.done(token: token)] : []

        case .history(let events, let pending):
            // The sender's copy was taken when this member joined; what this member has seen
            // since is newer, except a result of an operation already over there (a late
            // duplicate that the others ignored).
            let snapshotIDs = Set(events.map(\.id))
            for e in events {
                if let mine = history[e.id] {
                    if e.state != .pending && (mine.state == .pending || mine != e) {
                        history[e.id] = e
                        tracking[e.id] = nil
                    }
                } else {
                    insert(e)
                }
            }
            for p in pending where history[p.request.id]?.state == .pending && tracking[p.request.id] == nil {
                var t = Tracking(request: p.request, executor: p.executor, executorNode: p.executorNode)
                if let late = unknownExecutions.removeValue(forKey: p.request.id) {
                    t.executor = late.member
                    t.executorNode = late.node
                    history[p.request.id]?.delegate = late.node
                }
                tracking[p.request.id] = t
            }
            unknownExecutions = [:]
            // A manual confirmation delivered after the copy was taken settled the pending
            // operations against its target on the other members: here too.
            for id in order where !snapshotIDs.contains(id) {
                guard let c = history[id], c.isManualConfirmation else { continue }
                for other in order where snapshotIDs.contains(other) {
                    guard var e = history[other], e.state == .pending, e.target.lowercased() == c.target.lowercased(), e.action != .on else { continue }
                    e.state = .done
                    e.delegate = FenceEvent.human
                    e.completed = c.completed
                    e.exitReason = "manually confirmed"
                    history[other] = e
                    tracking[other] = nil
                }
            }
            order.sort { (history[$0]?.requested ?? .distantPast) < (history[$1]?.requested ?? .distantPast) }
            trim()
            return settleOrphans(at: now)
        }
    }

    // MARK: - Local work done

    /// This node's answer to `assess`: the levels it can run against the target.
    public mutating func onAssessed(id: String, levels: [[String]]) -> [Directive] {
        guard history[id]?.state == .pending else { return [] }
        offered[id] = levels
        return [.multicast(.offer(id: id, member: member, node: node, levels: levels))]
    }

    /// The result of a `runAgent`.
    public mutating func onAgentResult(id: String, success: Bool, output: String, now: Date) -> [Directive] {
        guard var op = executions[id] else { return [] }
        let next = op.onResult(success: success, output: output)
        executions[id] = op
        return execution(id, next, now: now)
    }

    public mutating func onTimer(_ timer: Timer, now: Date) -> [Directive] {
        switch timer {
        case .query(let id):
            guard let o = originated[id], o.deciding else { return [] }
            let silent = o.awaiting.compactMap { names[$0] ?? $0 }.sorted()
            return [.log("no offer from \(silent.joined(separator: ", ")) for \(id) in time; deciding without")] + decide(id)
        case .request(let id):
            if undelivered.contains(id) {
                // The group has not even delivered it yet: end it as soon as it does.
                expiredEarly.insert(id)
                return []
            }
            guard history[id]?.state == .pending, let t = tracking[id] else { return [] }
            let why = "no result within \(t.request.timeout.secondsText)"
            return finish(id, outcome: .timedOut(reason: why), delegate: t.executor.flatMap { names[$0] }, reason: why, now: now)
        case .waiter(let token):
            guard let asked = waiterTimeouts.removeValue(forKey: token) else { return [] }
            waiters[asked.id]?.removeAll { $0 == token }
            var event = history[asked.id] ?? asked
            event.state = .failed
            event.timedOut = true
            event.completed = now
            let why = "the request \(asked.id) did not finish in time"
            event.exitReason = why
            return [.reply(token: token, FenceResult(outcome: .timedOut(reason: why), event: event))]
        }
    }

    // MARK: - Choosing the executor

    /// The order in which members are asked to carry a request out: members that can fence
    /// the target and are not the target, the origin first, then by member; the target itself
    /// last (a node fences itself only when no other can).
    public static func candidates(_ offers: [Offer], target: String, originMember: String) -> [Offer] {
        offers.filter { !$0.levels.isEmpty }.sorted { a, b in
            let ka = (a.node.lowercased() == target.lowercased() ? 2 : a.member == originMember ? 0 : 1, a.member)
            let kb = (b.node.lowercased() == target.lowercased() ? 2 : b.member == originMember ? 0 : 1, b.member)
            return ka < kb
        }
    }

    /// How long the origin waits for offers: a quarter of the request's time, 1 to 15 s.
    public static func queryTime(_ timeout: Duration) -> Duration {
        min(.seconds(15), max(.seconds(1), timeout / 4))
    }

    // MARK: - Internals

    /// Requests whose origin is gone and that no member is carrying out: nobody will hand
    /// them on, so every member marks them failed alike (it sees the same changes in the
    /// same order).
    private mutating func settleOrphans(at time: Date) -> [Directive] {
        var out: [Directive] = []
        for id in order {
            guard let t = tracking[id], history[id]?.state == .pending, !members.contains(t.request.originMember) else { continue }
            if let executor = t.executor, members.contains(executor) { continue }
            let why = t.executor == nil
                ? "its origin \(t.request.origin) left the cluster before any node took it"
                : "the node fencing \(t.request.target) (\(t.executorNode ?? t.executor!)) and the origin \(t.request.origin) both left the cluster"
            out += record(FenceResult(outcome: .failed(reason: why),
                                      event: event(of: t.request, state: .failed, delegate: nil, reason: why, completed: time)))
        }
        return out
    }

    private mutating func decide(_ id: String) -> [Directive] {
        guard var o = originated[id], o.deciding else { return [] }
        o.deciding = false
        originated[id] = o
        return nextExecutor(id, now: nil)
    }

    private mutating func nextExecutor(_ id: String, now: Date?) -> [Directive] {
        guard var o = originated[id], let t = tracking[id] else { return [] }
        let alive = o.offers.filter { members.contains($0.member) && !o.tried.contains($0.member) }
        guard let pick = Self.candidates(alive, target: t.request.target, originMember: member).first else {
            let capable = o.offers.filter { !$0.levels.isEmpty }
            let why = capable.isEmpty
                ? "no fence device can fence \(t.request.target) on any node (\(o.offers.map(\.node).sorted().joined(separator: ", "))); configure a stonith resource whose pcmk_host_list, pcmk_host_map or agent's list names it"
                : "every node that could fence \(t.request.target) (\(capable.map(\.node).joined(separator: ", "))) left the cluster"
            let outcome: FenceResult.Outcome = capable.isEmpty ? .noDevice(reason: why) : .failed(reason: why)
            return finish(id, outcome: outcome, delegate: nil, reason: why, now: now ?? t.request.requested)
        }
        o.tried.insert(pick.member)
        originated[id] = o
        return [.multicast(.execute(id: id, member: pick.member, node: pick.node))]
    }

    private mutating func execution(_ id: String, _ directives: [FencingOperation.Directive], now: Date) -> [Directive] {
        guard let t = tracking[id] else { return [] }
        return directives.flatMap { d -> [Directive] in
            switch d {
            case .run(let device, let action, let target, let timeout):
                var requested = t.request.delaySeconds
                if let r = requested, r >= 0, delaySpent.contains(id) { requested = nil }
                delaySpent.insert(id)
                return [.runAgent(id: id, device: device, action: action, target: target, timeout: timeout + .seconds(max(0, requested ?? 0)),
                                  requestedDelay: requested)]
            case .finished(let success, let detail):
                executions[id] = nil
                delaySpent.remove(id)
                _ = t
                return finish(id, outcome: success ? .ok : .failed(reason: detail), delegate: node, reason: detail, now: now)
            }
        }
    }

    /// Multicasts the end of an operation.
    private mutating func finish(_ id: String, outcome: FenceResult.Outcome, delegate: String?, reason: String, now: Date) -> [Directive] {
        guard let t = tracking[id] else { return [] }
        let state: FenceEvent.State = outcome == .ok ? .done : .failed
        var e = event(of: t.request, state: state, delegate: delegate, reason: reason, completed: now)
        if case .timedOut = outcome { e.timedOut = true }
        let result = FenceResult(outcome: outcome, event: e)
        unconfirmed[id] = result
        return [.multicast(.result(result))]
    }

    /// Records a finished operation (delivered, or decided alike on every member).
    private mutating func record(_ r: FenceResult) -> [Directive] {
        let id = r.event.id
        unconfirmed[id] = nil
        if let known = history[id], known.state != .pending { return [] }
        if history[id] == nil { insert(r.event) } else { history[id] = r.event }
        var out: [Directive] = [.notify(r.event)]
        out += answer(id, r)
        tracking[id] = nil
        originated[id] = nil
        offered[id] = nil
        executions[id] = nil
        out.append(.log(describe(r)))
        if r.event.isManualConfirmation {
            // Whatever was pending against that node is settled by the confirmation.
            for other in order where other != id {
                guard var e = history[other], e.state == .pending, e.target.lowercased() == r.event.target.lowercased(), e.action != .on else { continue }
                e.state = .done
                e.delegate = FenceEvent.human
                e.completed = r.event.completed
                e.exitReason = "manually confirmed"
                history[other] = e
                tracking[other] = nil
                originated[other] = nil
                offered[other] = nil
                executions[other] = nil
                out.append(.notify(e))
                out += answer(other, FenceResult(outcome: .ok, event: e))
            }
        }
        trim()
        return out
    }

    private mutating func answer(_ id: String, _ r: FenceResult) -> [Directive] {
        let tokens = waiters.removeValue(forKey: id) ?? []
        for t in tokens { waiterTimeouts[t] = nil }
        return tokens.map { .reply(token: $0, r) }
    }

    private func describe(_ r: FenceResult) -> String {
        let e = r.event
        let by = e.delegate.map { " by \($0)" } ?? ""
        switch r.outcome {
        case .ok: return "\(e.action) of \(e.target)\(by) for \(e.client)@\(e.origin): done (\(e.id))"
        case .failed(let why), .noDevice(let why), .timedOut(let why): return "\(e.action) of \(e.target)\(by) for \(e.client)@\(e.origin): failed: \(why) (\(e.id))"
        }
    }

    private func event(of r: FencerRequest, state: FenceEvent.State, delegate: String?, reason: String?, completed: Date?) -> FenceEvent {
        FenceEvent(id: r.id, target: r.target, action: r.action, state: state, delegate: delegate, origin: r.origin,
                   client: r.client, exitReason: reason, requested: r.requested, completed: completed)
    }

    private mutating func insert(_ e: FenceEvent) {
        history[e.id] = e
        order.append(e.id)
        trim()
    }

    private mutating func trim() {
        while order.count > historyLimit, let i = order.firstIndex(where: { history[$0]?.state != .pending }) {
            history[order.remove(at: i)] = nil
        }
    }
}

extension Duration {
    /// `60s`, `1.5s`.
    var secondsText: String {
        let ms = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000)s" : fixedPoint(Double(ms) / 1000, decimals: 1) + "s"
    }
}
