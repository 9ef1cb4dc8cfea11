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

    @Test func stopGoesInReverseAndEscalatesToKill() {
        var s = Supervisor(daemons: daemons, policy: .init(stopTimeout: .seconds(5)))
        _ = s.start(now: .zero)
        for d in daemons { _ = s.onReady(d, now: .zero) }
        var out = s.stop(now: .seconds(1))
        #expect(out.contains(.signal("crmd", Supervisor.sigterm)))
        #expect(out.contains(.arm(.kill("crmd"), after: .seconds(5))))
        out = s.onTimer(.kill("crmd"), now: .seconds(6))
        #expect(out.contains(.signal("crmd", Supervisor.sigkill)))
        out = s.onExit("crmd", status: 137, now: .seconds(6))
        #expect(out.contains(.signal("lrmd", Supervisor.sigterm)), "a stop is not a death to restart")
        for d in ["lrmd", "stonithd", "cibd"] { out = s.onExit(d, status: 0, now: .seconds(7)) }
        out = s.onExit("corosyncd", status: 0, now: .seconds(8))
        #expect(out.contains(.exit(0)))
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
}
