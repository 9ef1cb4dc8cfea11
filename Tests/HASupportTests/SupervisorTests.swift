import HASupport
import Testing

/// pacemakerd's supervisor: order, readiness, restarts, giving up, and stopping in reverse.
@Suite struct SupervisorTests {
    let daemons = ["corosyncd", "cibd", "stonithd", "lrmd", "crmd"]

    func spawned(_ ds: [Supervisor.Directive]) -> [String] {
        ds.compactMap { if case .spawn(let d) = $0 { return d } else { return nil } }
    }

    @Test func daemonsStartOneAfterTheOtherWhenEachIsReady() {
        var s = Supervisor(daemons: daemons)
        var order = spawned(s.start(now: .zero))
        #expect(order == ["corosyncd"])
        var out: [Supervisor.Directive] = []
        for d in daemons {
            out = s.onReady(d, now: .seconds(1))
            order += spawned(out)
        }
        #expect(order == daemons)
        #expect(out.contains(.ready))
    }

    /// corosyncd is started again at once (so that it can rejoin the ring before the other
    /// nodes see this one leave it), the others after the pause; a corosyncd that keeps dying
    /// still makes pacemakerd give up.
    @Test func corosyncdIsRestartedAtOnceAndStillGivenUpOnWhenItKeepsDying() {
        var s = Supervisor(daemons: daemons, policy: .init(maxRestarts: 2, window: .seconds(60)))
        _ = s.start(now: .zero)
        for d in daemons { _ = s.onReady(d, now: .zero) }
        #expect(s.onExit("corosyncd", status: 137, now: .seconds(10)).contains(.arm(.restart("corosyncd"), after: .zero)))
        #expect(spawned(s.onTimer(.restart("corosyncd"), now: .seconds(10))) == ["corosyncd"])
        #expect(s.onExit("crmd", status: 102, now: .seconds(10)).contains(.arm(.restart("crmd"), after: .milliseconds(500))))
        _ = s.onReady("corosyncd", now: .seconds(10))
        _ = s.onExit("corosyncd", status: 137, now: .seconds(11))
        _ = s.onTimer(.restart("corosyncd"), now: .seconds(11))
        let out = s.onExit("corosyncd", status: 137, now: .seconds(12))
        #expect(!out.contains { if case .arm(.restart, _) = $0 { return true } else { return false } }, "\(out)")
        #expect(out.contains { if case .log(let m) = $0 { return m.contains("giving up") } else { return false } })
    }

    @Test func aDaemonThatDiesIsRestartedAndOneThatKeepsDyingStopsTheNode() {
        var s = Supervisor(daemons: daemons, policy: .init(maxRestarts: 2, window: .seconds(60)))
        _ = s.start(now: .zero)
        for d in daemons { _ = s.onReady(d, now: .zero) }
        var out = s.onExit("cibd", status: 1, now: .seconds(10))
        #expect(out.contains(.arm(.restart("cibd"), after: .milliseconds(500))))
        #expect(spawned(s.onTimer(.restart("cibd"), now: .seconds(11))) == ["cibd"])
        _ = s.onReady("cibd", now: .seconds(11))
        _ = s.onExit("cibd", status: 1, now: .seconds(20))
        _ = s.onTimer(.restart("cibd"), now: .seconds(21))
        out = s.onExit("cibd", status: 1, now: .seconds(30))
        // Third death within a minute: give up, stop the rest from the last started.
        #expect(out.contains(.signal("crmd", Supervisor.sigterm)))
        #expect(!out.contains { if case .arm(.restart, _) = $0 { return true } else { return false } })
        _ = s.onExit("crmd", status: 0, now: .seconds(31))
        _ = s.onExit("lrmd", status: 0, now: .seconds(32))
        _ = s.onExit("stonithd", status: 0, now: .seconds(33))
        let last = s.onExit("corosyncd", status: 0, now: .seconds(34))
        #expect(last.contains(.exit(1)))
    }

    @Test func deathsOutsideTheWindowDoNotCount() {
        var s = Supervisor(daemons: ["a"], policy: .init(maxRestarts: 1, window: .seconds(10)))
        _ = s.start(now: .zero)
        _ = s.onReady("a", now: .zero)
        for t in [20, 40, 60] {
            let out = s.onExit("a", status: 1, now: .seconds(t))
            #expect(out.contains(.arm(.restart("a"), after: .milliseconds(500))), "restart at \(t)s")
            _ = s.onTimer(.restart("a"), now: .seconds(t + 1))
            _ = s.onReady("a", now: .seconds(t + 1))
        }
    }

    /// A simulated clock: armed timers with their deadlines; `advance` fires the due ones in
    /// order and keeps every directive given.
    struct Clock {
        var now: Duration = .zero
        var armed: [Supervisor.Timer: Duration] = [:]
        var given: [Supervisor.Directive] = []

        mutating func apply(_ ds: [Supervisor.Directive]) {
            for d in ds {
                given.append(d)
                switch d {
                case .arm(let t, let after): armed[t] = now + after
                case .disarm(let t): armed[t] = nil
                default: break
                }
            }
        }

        mutating func advance(to t: Duration, _ s: inout Supervisor) {
            while let due = armed.filter({ $0.value <= t }).min(by: { $0.value < $1.value }) {
                armed[due.key] = nil
                now = due.value
                apply(s.onTimer(due.key, now: due.value))
            }
            now = t
        }

        func killed(_ d: String) -> Bool { given.contains(.signal(d, Supervisor.sigkill)) }
        var stillWaiting: Int { given.filter { if case .log(let m) = $0 { return m.hasPrefix("still waiting for crmd") } else { return false } }.count }
    }

    func running() -> Supervisor {
        var s = Supervisor(daemons: daemons)
        _ = s.start(now: .zero)
        for d in daemons { _ = s.onReady(d, now: .zero) }
        return s
    }

    /// As Pacemaker's pacemakerd: the controller (crmd), stopped first, is waited for without
    /// a kill timer (it exits by itself after shutdown-escalation, 20min by default), with a
    /// line in the log every 30 s; the daemons after it get SIGKILL after 3 minutes.
    @Test func stopGoesInReverseWaitsForTheControllerAndKillsTheOthersAfterThreeMinutes() {
        var s = running()
        var clock = Clock()
        clock.apply(s.stop(now: .zero))
        #expect(clock.given.contains(.signal("crmd", Supervisor.sigterm)))
        #expect(clock.armed[.kill("crmd")] == nil, "crmd has a kill timer: \(clock.given)")
        // 25 minutes: still waited for, never killed.
        clock.advance(to: .seconds(25 * 60), &s)
        #expect(!clock.killed("crmd"))
        #expect(clock.stillWaiting == 50, "\(clock.stillWaiting) 'still waiting' lines in 25 minutes")
        clock.apply(s.onExit("crmd", status: 0, now: clock.now))
        #expect(clock.armed[.stillWaiting("crmd")] == nil)
        #expect(clock.given.contains(.signal("lrmd", Supervisor.sigterm)), "a stop is not a death to restart")
        #expect(clock.armed[.kill("lrmd")] == clock.now + .seconds(180))
        let lrmdAsked = clock.now
        clock.advance(to: lrmdAsked + .seconds(179), &s)
        #expect(!clock.killed("lrmd"))
        clock.advance(to: lrmdAsked + .seconds(180), &s)
        #expect(clock.killed("lrmd"))
        #expect(clock.given.contains(.log("lrmd did not stop within 3min of SIGTERM; killing it")), "\(clock.given)")
        clock.apply(s.onExit("lrmd", status: 137, now: clock.now))
        for d in ["stonithd", "cibd"] { clock.apply(s.onExit(d, status: 0, now: clock.now)) }
        clock.apply(s.onExit("corosyncd", status: 0, now: clock.now))
        #expect(clock.given.last == .exit(0))
        #expect(!clock.given.contains { if case .arm(.restart, _) = $0 { return true } else { return false } })
    }

    /// crmd says how long its stop may take (EXTEND_TIMEOUT_USEC: its shutdown-escalation and
    /// a margin): it is killed only past that, and systemd is told to wait that long plus the
    /// other daemons' stop time.
    @Test func aControllerThatSaysHowLongItsStopMayTakeIsKilledOnlyPastThat() {
        var s = running()
        // Not stopping: nothing to do with it.
        #expect(s.onStopDeadline("crmd", after: .seconds(90), now: .zero).isEmpty)
        var clock = Clock()
        clock.apply(s.stop(now: .zero))
        clock.now = .seconds(1)
        let deadline = Duration.seconds(20 * 60 + 30)
        clock.apply(s.onStopDeadline("crmd", after: deadline, now: clock.now))
        #expect(clock.armed[.kill("crmd")] == .seconds(1) + deadline)
        #expect(clock.given.contains(.extendTimeout(deadline + .seconds(4 * 180))), "\(clock.given)")
        clock.advance(to: deadline, &s)
        #expect(!clock.killed("crmd"))
        clock.advance(to: deadline + .seconds(1), &s)
        #expect(clock.killed("crmd"))
        #expect(clock.given.contains(.log("crmd did not stop within 20min31s of SIGTERM; killing it")), "\(clock.given)")
        // Its exit (killed) goes on with the stop.
        clock.apply(s.onExit("crmd", status: 137, now: clock.now))
        #expect(clock.given.contains(.signal("lrmd", Supervisor.sigterm)))
        // Without a controller named, every daemon gets the same kill timer.
        var plain = Supervisor(daemons: ["a", "b"], policy: .init(stopTimeout: .seconds(5), controller: nil))
        _ = plain.start(now: .zero)
        for d in ["a", "b"] { _ = plain.onReady(d, now: .zero) }
        #expect(plain.stop(now: .zero).contains(.arm(.kill("b"), after: .seconds(5))))
    }

    @Test func aDaemonMissingFromThisBuildIsSkipped() {
        var s = Supervisor(daemons: ["corosyncd", "cibd", "lrmd"])
        _ = s.start(now: .zero)
        var out = s.onReady("corosyncd", now: .zero)
        #expect(spawned(out) == ["cibd"])
        out = s.onExit("cibd", status: Supervisor.notAvailable, now: .zero)
        #expect(spawned(out) == ["lrmd"])
        out = s.onReady("lrmd", now: .zero)
        #expect(out.contains(.ready))
        #expect(out.contains(.log("not part of this build, running without: cibd")))
    }

    @Test func aDaemonThatNeverGetsReadyIsKilledAndRestarted() {
        var s = Supervisor(daemons: ["a", "b"], policy: .init(readyTimeout: .seconds(2)))
        _ = s.start(now: .zero)
        var out = s.onTimer(.ready("a"), now: .seconds(2))
        #expect(out.contains(.signal("a", Supervisor.sigkill)))
        out = s.onExit("a", status: 137, now: .seconds(2))
        #expect(out.contains(.arm(.restart("a"), after: .milliseconds(500))))
        #expect(spawned(s.onTimer(.restart("a"), now: .seconds(3))) == ["a"])
    }

    /// A daemon that exits with a configuration error (78: corosyncd on a bad corosync.conf)
    /// or CRM_EX_FATAL (100) is not started again: the node stops at once with that status
    /// (before the fix it was restarted five times, repeating its error, then pacemakerd
    /// exited 1).
    @Test func aDaemonExitingWithAConfigurationErrorIsNotRestarted() {
        var s = Supervisor(daemons: daemons)
        _ = s.start(now: .zero)
        let out = s.onExit("corosyncd", status: 78, now: .milliseconds(20))
        #expect(!out.contains { if case .arm(.restart, _) = $0 { return true } else { return false } }, "\(out)")
        #expect(out.contains { if case .log(let m) = $0 { return m.contains("corosyncd exited with status 78 (a configuration error); not restarting it") } else { return false } }, "\(out)")
        #expect(out.contains(.exit(78)), "\(out)")

        // Later in the node's life too: cibd exiting 100 stops the others, crmd first.
        var t = Supervisor(daemons: daemons)
        _ = t.start(now: .zero)
        for d in daemons { _ = t.onReady(d, now: .zero) }
        let stop = t.onExit("cibd", status: 100, now: .seconds(5))
        #expect(stop.contains(.signal("crmd", Supervisor.sigterm)))
        #expect(!stop.contains { if case .arm(.restart, _) = $0 { return true } else { return false } })
        _ = t.onExit("crmd", status: 0, now: .seconds(6))
        _ = t.onExit("lrmd", status: 0, now: .seconds(6))
        _ = t.onExit("stonithd", status: 0, now: .seconds(6))
        #expect(t.onExit("corosyncd", status: 0, now: .seconds(7)).contains(.exit(100)))
    }
}
