import CIB
import Controller
import PolicyEngine
import Testing

/// The controller's stop with the cluster option shutdown-escalation, on a simulated clock:
/// the timers the core arms are kept with their deadlines and fired as the clock moves on.
@Suite struct ShutdownEscalationTests {
    static let n1 = ControllerMember(nodeID: 1, name: "node1"), n2 = ControllerMember(nodeID: 2, name: "node2")

    /// A simulated clock for one core: armed timers with their deadlines; `advance` fires the
    /// due ones in order and keeps every directive given.
    struct Clock {
        var now: Duration = .zero
        var armed: [ControllerCore.Timer: Duration] = [:]
        var given: [ControllerCore.Directive] = []

        mutating func apply(_ ds: [ControllerCore.Directive]) {
            for d in ds {
                given.append(d)
                switch d {
                case .arm(let t, let after): armed[t] = now + after
                case .disarm(let t): armed[t] = nil
                default: break
                }
            }
        }

        mutating func advance(to t: Duration, _ core: inout ControllerCore) {
            while let due = armed.filter({ $0.value <= t }).min(by: { $0.value < $1.value }) {
                armed[due.key] = nil
                now = due.value
                apply(core.onTimer(due.key))
            }
            now = t
        }

        var exits: [Bool] { given.compactMap { if case .exit(let clean) = $0 { return clean } else { return nil } } }
    }

    static func options(_ crmConfig: String) throws -> ClusterOptions {
        let cib = try CIB.parse("""
            <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0"><configuration>\
            <crm_config><cluster_property_set id="o">\(crmConfig)</cluster_property_set></crm_config>\
            <nodes/><resources/><constraints/></configuration><status/></cib>
            """)
        return ClusterOptions(cib.configuration)
    }

    /// node2, a member under DC node1, stopping with the escalation the CIB gives.
    static func stopping(escalation: Duration, clock: inout Clock) -> ControllerCore {
        var core = ControllerCore(local: n2, uuid: "u")
        _ = core.onMembership([n1, n2])
        core.shutdownEscalation = escalation
        clock.apply(core.onShutdownRequested(resourcesActive: true))
        return core
    }

    @Test func theOptionIsReadWithPacemakersDefault() throws {
        let unset = ControllerCore.shutdownEscalation(from: try Self.options(""))
        #expect(unset.0 == .seconds(1200) && unset.problem == nil)
        #expect(ControllerCore.defaultShutdownEscalation == .seconds(1200))
        let set = ControllerCore.shutdownEscalation(from: try Self.options(#"<nvpair id="e" name="shutdown-escalation" value="90s"/>"#))
        #expect(set.0 == .seconds(90) && set.problem == nil)
        #expect(ControllerCore.shutdownEscalation(from: try Self.options(#"<nvpair id="e" name="shutdown-escalation" value="PT2M"/>"#)).0 == .seconds(120))
        for bad in ["soon", "0", "-5s"] {
            let r = ControllerCore.shutdownEscalation(from: try Self.options(#"<nvpair id="e" name="shutdown-escalation" value="\#(bad)"/>"#))
            #expect(r.0 == .seconds(1200), "\(bad)")
            #expect(r.problem?.contains("shutdown-escalation '\(bad)'") == true && r.problem?.contains("using the default 20min") == true, "\(r.problem ?? "")")
        }
        // A new core waits Pacemaker's 20 minutes, not less.
        var clock = Clock()
        var core = ControllerCore(local: Self.n2, uuid: "u")
        _ = core.onMembership([Self.n1, Self.n2])
        clock.apply(core.onShutdownRequested(resourcesActive: true))
        #expect(clock.armed[.shutdownEscalation] == .seconds(1200))
    }

    /// The DC never answers: the controller waits the whole shutdown-escalation, then exits
    /// anyway, without a clean leave (its node is then seen lost and fenced).
    @Test func withoutAnAnswerTheControllerExitsAfterShutdownEscalation() throws {
        let (escalation, _) = ControllerCore.shutdownEscalation(from: try Self.options(#"<nvpair id="e" name="shutdown-escalation" value="90s"/>"#))
        var clock = Clock()
        var core = Self.stopping(escalation: escalation, clock: &clock)
        #expect(clock.given.contains(.send(.shutdownRequest(nodeID: 2, node: "node2"))))
        clock.advance(to: .seconds(89), &core)
        #expect(clock.exits.isEmpty, "exited before shutdown-escalation: \(clock.given)")
        clock.advance(to: .seconds(90), &core)
        #expect(clock.exits == [false], "\(clock.given)")
        // A second SIGTERM changes nothing.
        #expect(core.onShutdownRequested(resourcesActive: true).isEmpty)
    }

    /// The DC tells the node to go in time: a clean exit, and the escalation does not fire later.
    @Test func anAnswerInTimeEndsTheEscalation() {
        var clock = Clock()
        var core = Self.stopping(escalation: .seconds(1200), clock: &clock)
        clock.advance(to: .seconds(600), &core)
        #expect(clock.exits.isEmpty)
        let shutdown = ActionRequest(node: "node2", task: "do_shutdown", resource: nil, agent: nil, intervalMS: 0, timeoutMS: 20_000,
                                     parameters: [:], meta: [:], transitionKey: "1:1:0:dc")
        clock.apply(core.onMessage(.execute(shutdown), from: Self.n1))
        #expect(clock.exits == [true])
        #expect(clock.armed[.shutdownEscalation] == nil)
        clock.advance(to: .seconds(3600), &core)
        #expect(clock.exits == [true], "\(clock.given)")
        // Nor does a stale expiry make a controller that was not stopping exit.
        var idle = ControllerCore(local: Self.n2, uuid: "u")
        _ = idle.onMembership([Self.n1, Self.n2])
        #expect(idle.onTimer(.shutdownEscalation).isEmpty)
    }
}
