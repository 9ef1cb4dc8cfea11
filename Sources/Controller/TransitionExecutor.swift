import PolicyEngine

/// Runs one transition graph, as the DC's controller does: every action whose inputs have all
/// succeeded is started, pseudo-actions complete at once, and a failed, timed-out or
/// unexpected result aborts the transition so that the scheduler can be asked again.
///
/// An instance (docs/DESIGN.md): no clock and no I/O. The shell performs the directives
/// (sends resource actions to the right node's lrmd, asks stonithd to fence, arms timers) and
/// reports back with `onResult` and `onTimeout`.
///
/// Safety follows from the graph: an action never starts before every action it depends on
/// has succeeded, so a resource is never recovered from a lost node before the fencing the
/// graph orders first is confirmed. After an abort nothing new starts except pseudo-actions;
/// the actions in flight are waited for, so the next transition sees their results.
public struct TransitionExecutor: Sendable {
    /// What an action reported.
    public enum Result: Sendable, Equatable {
        /// The action finished with this OCF result code (fencing: 0 for done).
        case finished(rc: Int)
        /// The action could not be run, or failed before producing a result.
        case error(String)
    }

    public enum Directive: Sendable, Equatable {
        /// Perform a resource or cluster action (start, stop, monitor, notify, do_shutdown...)
        /// on its node, with this timeout.
        case execute(GraphAction, timeout: Duration)
        /// Fence a node (the action's node; its meta "stonith_action" says reboot, off or on).
        case fence(GraphAction, timeout: Duration)
        /// Arm, or disarm, the deadline of an action in flight, by its graph position.
        case armTimer(action: Int, after: Duration)
        case disarmTimer(action: Int)
        /// An action completed as expected (for the CIB status and the log).
        case confirmed(GraphAction, Result)
        /// An action failed or returned an unexpected result.
        case failed(GraphAction, Result, reason: String)
        /// The transition is over. The DC computes a new one unless it was complete.
        case finished(Outcome)
    }

    public enum Outcome: Sendable, Equatable {
        /// Every action succeeded.
        case complete
        /// Stopped early (a failure, an unexpected result, a timeout or an outside event);
        /// the scheduler must be run again.
        case aborted(reason: String)
    }

    private enum State: Sendable, Equatable { case waiting, running, succeeded, failed }

    public let graph: ActionGraph
    /// At most this many actions in flight at once (0: no limit), like batch-limit.
    public let batchLimit: Int
    /// Added to each action's own timeout before it is declared lost, like cluster-delay.
    public let clusterDelay: Duration
    /// How long fencing may take.
    public let fencingTimeout: Duration

    private var states: [State]
    private var inFlight = 0
    private var abortReason: String?
    private var done = false

    public init(graph: ActionGraph, batchLimit: Int = 0, clusterDelay: Duration = .seconds(60),
                fencingTimeout: Duration = .seconds(60)) {
        self.graph = graph
        self.batchLimit = batchLimit
        self.clusterDelay = clusterDelay
        self.fencingTimeout = fencingTimeout
        states = Array(repeating: .waiting, count: graph.actions.count)
    }

    /// Whether the transition has finished.
    public var isFinished: Bool { done }
    /// Positions of the actions in flight.
    public var running: [Int] { states.indices.filter { states[$0] == .running } }
    /// Positions of the actions that succeeded.
    public var succeeded: [Int] { states.indices.filter { states[$0] == .succeeded } }

    /// The actions by state, in the words of Pacemaker's "Transition N (Complete=…, Pending=…,
    /// Fired=…, Skipped=…, Incomplete=…)" log line, which `crm history` reads: Complete (done,
    /// failed ones too), Fired (in flight), Incomplete (never started). Pending and Skipped
    /// are always 0 here (no action waits on a confirmation that is not its result).
    public var tally: String {
        let complete = states.filter { $0 == .succeeded || $0 == .failed }.count
        let fired = states.filter { $0 == .running }.count
        let incomplete = states.filter { $0 == .waiting }.count
        return "Complete=\(complete), Pending=0, Fired=\(fired), Skipped=0, Incomplete=\(incomplete)"
    }

    /// Starts what can start.
    public mutating func start() -> [Directive] {
        advance()
    }

    /// An action in flight reported its result.
    public mutating func onResult(action i: Int, _ result: Result) -> [Directive] {
        guard states.indices.contains(i), states[i] == .running else { return [] }
        inFlight -= 1
        var out: [Directive] = [.disarmTimer(action: i)]
        let a = graph.actions[i]
        let expected = Int(a.meta["op_target_rc"] ?? "") ?? 0
        switch result {
        case .finished(let rc) where rc == expected:
            states[i] = .succeeded
            out.append(.confirmed(a, result))
        case .finished(let rc) where a.task == "monitor" && a.intervalMS == 0:
            // A probe always tells the truth about the resource; a result other than the one
            // the scheduler assumed means its plan is out of date.
            states[i] = .succeeded
            out.append(.confirmed(a, result))
            setAbort("\(a.key) on \(a.node ?? "?") found rc=\(rc), expected \(expected)")
        case .finished(let rc):
            states[i] = .failed
            let reason = "\(a.key) on \(a.node ?? "?") returned rc=\(rc), expected \(expected)"
            out.append(.failed(a, result, reason: reason))
            setAbort(reason)
        case .error(let why):
            states[i] = .failed
            let reason = "\(a.key) on \(a.node ?? "?") failed: \(why)"
            out.append(.failed(a, result, reason: reason))
            setAbort(reason)
        }
        return out + advance()
    }

    /// An action's deadline passed without a result: it counts as failed.
    public mutating func onTimeout(action i: Int) -> [Directive] {
        guard states.indices.contains(i), states[i] == .running else { return [] }
        inFlight -= 1
        states[i] = .failed
        let a = graph.actions[i]
        let reason = "\(a.key) on \(a.node ?? "?") timed out"
        setAbort(reason)
        return [.failed(a, .error("timed out"), reason: reason)] + advance()
    }

    /// Something happened that the graph did not foresee (a node left, a CIB change, an
    /// operator's request): start nothing new, and finish once the actions in flight have.
    public mutating func abort(reason: String) -> [Directive] {
        setAbort(reason)
        return advance()
    }

    /// The first reason to abort is the one reported.
    private mutating func setAbort(_ reason: String) {
        if abortReason == nil { abortReason = reason }
    }

    private func timeout(of a: GraphAction) -> Duration {
        if a.kind == .fence { return fencingTimeout }
        let ms = Int(a.meta["timeout"] ?? "") ?? 20_000
        return .milliseconds(ms)
    }

    /// Repeated passes, in the graph's order, starting every action whose inputs succeeded.
    private mutating func advance() -> [Directive] {
        guard !done else { return [] }
        var out: [Directive] = []
        var progressed = true
        while progressed {
            progressed = false
            for i in graph.actions.indices where states[i] == .waiting {
                guard graph.inputs[i].allSatisfy({ states[$0] == .succeeded }) else { continue }
                let a = graph.actions[i]
                if a.kind == .pseudo {
                    states[i] = .succeeded
                    out.append(.confirmed(a, .finished(rc: 0)))
                    progressed = true
                    continue
                }
                if abortReason != nil { continue }
                if batchLimit > 0 && inFlight >= batchLimit { continue }
                states[i] = .running
                inFlight += 1
                let t = timeout(of: a)
                out.append(a.kind == .fence ? .fence(a, timeout: t) : .execute(a, timeout: t))
                out.append(.armTimer(action: i, after: a.kind == .fence ? t : t + clusterDelay))
                progressed = true
            }
        }
        if inFlight == 0 {
            if states.allSatisfy({ $0 == .succeeded }) {
                done = true
                out.append(.finished(abortReason.map { .aborted(reason: $0) } ?? .complete))
            } else {
                // Nothing runs and nothing more can start: what is left waits on a failure
                // or on an abort.
                done = true
                out.append(.finished(.aborted(reason: abortReason ?? "actions could not run: their inputs failed")))
            }
        }
        return out
    }
}
