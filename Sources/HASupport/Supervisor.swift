/// pacemakerd's brain: starts a node's daemons one after the other (each once the previous one
/// says it is ready), restarts one that dies, gives up on one that keeps dying, and stops them
/// all in reverse order.
///
/// Stopping follows Pacemaker's pacemakerd: the controller (crmd), stopped first, moves the
/// node's resources away, which may take as long as their stop operations; it is not killed on
/// a fixed timer but waited for (with a line in the log every 30 s), since it exits by itself
/// once the cluster's `shutdown-escalation` (default 20min) has passed. When it says so (a
/// notification `EXTEND_TIMEOUT_USEC=`, as systemd takes it), its stop is given that long
/// before it is killed, and the extension is passed on to systemd. The daemons stopped after
/// it are killed if they take longer than `stopTimeout` (Pacemaker's 3 minutes).
///
/// An instance (docs/DESIGN.md): no clock, no processes. The shell spawns, signals, arms the
/// timers and reports what happened; time comes in as `now`.
public struct Supervisor: Sendable {
    public struct Policy: Sendable, Equatable {
        /// A daemon that dies more than this many times within `window` is given up on, and
        /// the node is stopped cleanly.
        public var maxRestarts: Int
        public var window: Duration
        /// How long a daemon may take to say it is ready.
        public var readyTimeout: Duration
        /// How long a daemon other than the controller may take to stop after SIGTERM before
        /// it gets SIGKILL (Pacemaker's SHUTDOWN_ESCALATION_PERIOD, 3 minutes).
        public var stopTimeout: Duration
        /// The controller: waited for at a stop, without a kill timer unless it announces how
        /// long its stop may take (`onStopDeadline`). nil: every daemon gets `stopTimeout`.
        public var controller: String?
        /// How often a stop still waiting for the controller is logged.
        public var stillWaitingInterval: Duration
        /// The pause before a dead daemon is started again.
        public var restartDelay: Duration
        /// Daemons started again at once instead. corosyncd: when the new corosyncd asks
        /// the ring for a new membership before the others' token timeout has passed (it does
        /// so 20-45 ms after the SIGKILL, measured with scripts/corosync-restart.py on a busy
        /// machine; pacemakerd starts it with SCHED_RR), the others never see the node leave the ring: its
        /// old processes leave their groups as ended processes (`processDown`), not with their
        /// node, so the DC waits for the node's new controller instead of fencing the node
        /// (`ControllerCore.controllersAway`). After the pause the others have already formed
        /// a ring without the node (token + consensus: 0.66 s at token 300), and it is fenced.
        public var restartAtOnce: Set<String>

        public init(maxRestarts: Int = 5, window: Duration = .seconds(60), readyTimeout: Duration = .seconds(60),
                    stopTimeout: Duration = .seconds(180), restartDelay: Duration = .milliseconds(500),
                    restartAtOnce: Set<String> = ["corosyncd"],
                    controller: String? = "crmd", stillWaitingInterval: Duration = .seconds(30)) {
            self.maxRestarts = maxRestarts
            self.window = window
            self.readyTimeout = readyTimeout
            self.stopTimeout = stopTimeout
            self.controller = controller
            self.stillWaitingInterval = stillWaitingInterval
            self.restartDelay = restartDelay
            self.restartAtOnce = restartAtOnce
        }
    }

    public enum Timer: Sendable, Hashable {
        case ready(String), kill(String), restart(String)
        /// A stop still waiting for this daemon: say so in the log.
        case stillWaiting(String)
    }

    public enum Directive: Sendable, Equatable {
        case spawn(String)
        case signal(String, Int32)
        case arm(Timer, after: Duration)
        case disarm(Timer)
        /// Every daemon is up (or known to be absent from this build): tell systemd.
        case ready
        case log(String)
        /// Everything is stopped: exit with this status.
        case exit(Int32)
        /// Tell the service manager the stop may take this much longer (sd_notify
        /// `EXTEND_TIMEOUT_USEC`).
        case extendTimeout(Duration)
    }

    private enum State: Sendable, Equatable { case idle, starting, running, stopping, dead, absent }

    public static let sigterm: Int32 = 15
    public static let sigkill: Int32 = 9
    /// The exit status of a daemon that is not part of this build (CRM_EX_UNIMPLEMENT_FEATURE):
    /// it is not restarted.
    public static let notAvailable: Int32 = 3
    /// Exit statuses that starting the daemon again cannot cure: a configuration it cannot
    /// use (EX_CONFIG, 78: a bad corosync.conf, say) and CRM_EX_FATAL (100). The daemon has
    /// said what is wrong; the node stops at once with that status, as Pacemaker's pacemakerd
    /// does not respawn a daemon that exits CRM_EX_FATAL.
    public static let fatalStatuses: Set<Int32> = [78, 100]

    public let daemons: [String]
    public let policy: Policy
    private var states: [String: State] = [:]
    private var deaths: [String: [Duration]] = [:]
    private var stopping = false
    private var exitStatus: Int32 = 0
    private var announcedReady = false
    /// When each daemon being stopped was sent SIGTERM.
    private var stopSent: [String: Duration] = [:]

    public init(daemons: [String], policy: Policy = Policy()) {
        self.daemons = daemons
        self.policy = policy
        for d in daemons { states[d] = .idle }
    }

    public func isRunning(_ daemon: String) -> Bool { states[daemon] == .running || states[daemon] == .starting }

    /// Starts the first daemon.
    public mutating func start(now: Duration) -> [Directive] {
        startNext()
    }

    /// The next daemon in order that has not been started, once every earlier one is up.
    private mutating func startNext() -> [Directive] {
        guard !stopping else { return [] }
        for d in daemons {
            switch states[d]! {
            case .idle:
                states[d] = .starting
                return [.log("starting \(d)"), .spawn(d), .arm(.ready(d), after: policy.readyTimeout)]
            case .starting:
                return []
            default:
                continue
            }
        }
        if !announcedReady {
            announcedReady = true
            let absent = daemons.filter { states[$0] == .absent }
            var out: [Directive] = []
            if !absent.isEmpty { out.append(.log("not part of this build, running without: \(absent.joined(separator: ", "))")) }
            return out + [.log("all daemons started"), .ready]
        }
        return []
    }

    /// A daemon said READY=1.
    public mutating func onReady(_ daemon: String, now: Duration) -> [Directive] {
        guard states[daemon] == .starting else { return [] }
        states[daemon] = .running
        return [.disarm(.ready(daemon)), .log("\(daemon) is ready")] + startNext()
    }

    /// A daemon's process ended.
    public mutating func onExit(_ daemon: String, status: Int32, now: Duration) -> [Directive] {
        guard let state = states[daemon], state != .idle, state != .dead, state != .absent else { return [] }
        var out: [Directive] = [.disarm(.ready(daemon)), .disarm(.kill(daemon))]
        if state == .stopping { out.append(.disarm(.stillWaiting(daemon))) }
        if stopping {
            states[daemon] = .dead
            return out + stopNext(now: now)
        }
        if state == .starting && status == Self.notAvailable {
            states[daemon] = .absent
            return out + [.log("\(daemon) is not available in this build (exit status 3); continuing without it")] + startNext()
        }
        states[daemon] = .dead
        if Self.fatalStatuses.contains(status) {
            exitStatus = status
            out.append(.log("\(daemon) exited with status \(status) (\(status == 78 ? "a configuration error" : "a fatal error")); not restarting it: correct what it reported above, then start the node again"))
            return out + beginStop(now: now)
        }
        let recent = (deaths[daemon] ?? []).filter { now - $0 < policy.window } + [now]
        deaths[daemon] = recent
        if recent.count > policy.maxRestarts {
            exitStatus = 1
            out.append(.log("\(daemon) died \(recent.count) times within \(policy.window); giving up and stopping this node's daemons"))
            return out + beginStop(now: now)
        }
        out.append(.log("\(daemon) exited with status \(status); restarting it (\(recent.count) of \(policy.maxRestarts) within \(policy.window))"))
        out.append(.arm(.restart(daemon), after: policy.restartAtOnce.contains(daemon) ? .zero : policy.restartDelay))
        return out
    }

    public mutating func onTimer(_ timer: Timer, now: Duration) -> [Directive] {
        switch timer {
        case .ready(let d):
            guard states[d] == .starting else { return [] }
            // Killed; its exit brings the restart (or the giving up).
            return [.log("\(d) did not become ready within \(policy.readyTimeout); killing it"), .signal(d, Self.sigkill)]
        case .kill(let d):
            guard states[d] == .stopping else { return [] }
            let waited = stopSent[d].map { now - $0 } ?? policy.stopTimeout
            return [.disarm(.stillWaiting(d)), .log("\(d) did not stop within \(Self.text(waited)) of SIGTERM; killing it"), .signal(d, Self.sigkill)]
        case .stillWaiting(let d):
            guard states[d] == .stopping else { return [] }
            let waited = stopSent[d].map { now - $0 } ?? .zero
            return [.log("still waiting for \(d) to stop (\(Self.text(waited)) since SIGTERM)"), .arm(.stillWaiting(d), after: policy.stillWaitingInterval)]
        case .restart(let d):
            guard states[d] == .dead, !stopping else { return [] }
            states[d] = .starting
            return [.log("restarting \(d)"), .spawn(d), .arm(.ready(d), after: policy.readyTimeout)]
        }
    }

    /// A daemon being stopped said how much longer its stop may take (`EXTEND_TIMEOUT_USEC`;
    /// crmd: the cluster's shutdown-escalation, after which it exits anyway, and a margin). It
    /// is killed only past that; the service manager is told to wait that long too, and for
    /// the daemons still to stop after it.
    public mutating func onStopDeadline(_ daemon: String, after: Duration, now: Duration) -> [Directive] {
        guard stopping, states[daemon] == .stopping, after > .zero else { return [] }
        let later = daemons.filter { states[$0] == .running || states[$0] == .starting }.count
        return [.log("\(daemon) may take up to \(Self.text(after)) to stop; waiting for it that long"),
                .arm(.kill(daemon), after: after), .extendTimeout(after + policy.stopTimeout * later)]
    }

    /// SIGTERM: stop the daemons, the last started first. crmd, stopped first, moves the
    /// node's resources away before it exits.
    public mutating func stop(now: Duration) -> [Directive] {
        guard !stopping else { return [] }
        return beginStop(now: now)
    }

    private mutating func beginStop(now: Duration) -> [Directive] {
        stopping = true
        for d in daemons where states[d] == .idle { states[d] = .dead }
        return stopNext(now: now)
    }

    /// A duration as the log says it: 20min, 3min, 45s, 1.5s.
    static func text(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        if ms >= 60_000 && ms % 1000 == 0 { return "\(ms / 60_000)min" + (ms % 60_000 == 0 ? "" : "\(ms % 60_000 / 1000)s") }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(Double(ms) / 1000)s"
    }

    private mutating func stopNext(now: Duration) -> [Directive] {
        if daemons.contains(where: { states[$0] == .stopping }) { return [] }
        for d in daemons.reversed() where states[d] == .running || states[d] == .starting {
            states[d] = .stopping
            stopSent[d] = now
            if d == policy.controller {
                // Not on a timer: it exits by itself after shutdown-escalation (or says when).
                return [.log("stopping \(d) (it moves this node's resources away first, and exits by itself after the cluster's shutdown-escalation at the latest)"),
                        .signal(d, Self.sigterm), .arm(.stillWaiting(d), after: policy.stillWaitingInterval)]
            }
            return [.log("stopping \(d)"), .signal(d, Self.sigterm), .arm(.kill(d), after: policy.stopTimeout)]
        }
        return [.log("all daemons stopped"), .exit(exitStatus)]
    }
}
