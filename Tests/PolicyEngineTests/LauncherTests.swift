import CIB
import PolicyEngine
import Testing

/// Launched resources (the `container` meta attribute): they run with their launcher, start
/// after it, and a failure of theirs restarts the launcher (on-fail=restart-container).
@Suite struct LauncherTests {
    /// `box` launches `inner` and `other`.
    static let resources = """
        <primitive id="box" class="ocf" provider="pacemaker" type="Dummy">
          <meta_attributes id="box-m"><nvpair id="box-m1" name="migration-threshold" value="3"/></meta_attributes>
        </primitive>
        <primitive id="inner" class="ocf" provider="pacemaker" type="Dummy">
          <meta_attributes id="inner-m"><nvpair id="inner-m1" name="container" value="box"/></meta_attributes>
        </primitive>
        <primitive id="other" class="ocf" provider="pacemaker" type="Dummy">
          <meta_attributes id="other-m"><nvpair id="other-m1" name="container" value="box"/></meta_attributes>
        </primitive>
        """

    static func op(_ rsc: String, _ task: String, rc: Int = 0, interval: Int = 0, call: Int) -> String {
        #"<lrm_rsc_op id="\#(rsc)_\#(task)_\#(call)" operation="\#(task)" call-id="\#(call)" rc-code="\#(rc)" op-status="0" interval="\#(interval)" transition-key="1:1:0:x"/>"#
    }

    static func history(_ inner: [String], failCount: Int? = nil) -> String {
        func entry(_ id: String, _ ops: [String]) -> String {
            #"<lrm_resource id="\#(id)" class="ocf" provider="pacemaker" type="Dummy">\#(ops.joined())</lrm_resource>"#
        }
        var xml = "<lrm id=\"1\"><lrm_resources>"
            + entry("box", [op("box", "start", call: 1)])
            + entry("inner", inner)
            + entry("other", [op("other", "start", call: 3)])
            + "</lrm_resources></lrm>"
        if let failCount {
            xml += #"<transient_attributes id="1"><instance_attributes id="a"><nvpair id="a1" name="fail-count-inner#monitor_10000" value="\#(failCount)"/></instance_attributes></transient_attributes>"#
        }
        return xml
    }

    func schedule(_ status: String) throws -> Transition {
        try TwoNodeCluster.schedule(Self.resources, status: status)
    }

    @Test func launchedResourcesStartAfterTheirLauncherOnItsNode() throws {
        let t = try schedule("")
        #expect(t.placements.map(\.next) == ["node1", "node1", "node1"])
        #expect(t.changes.map(\.subject) == ["box", "inner", "other"])
        // Never probed: they are known through the launcher.
        let keys = t.graph.actions.map(\.key)
        #expect(!keys.contains("inner_monitor_0"))
        #expect(keys.contains("box_monitor_0"))
    }

    @Test func aFailedMonitorRestartsTheLauncherAndEverythingInIt() throws {
        let t = try schedule(Self.history([Self.op("inner", "start", call: 2), Self.op("inner", "monitor", rc: 1, interval: 10000, call: 4)]))
        #expect(t.changes.map(\.text) == [
            "  * Restart    box     ( node1 )",
            "  * Recover    inner   ( node1 )",
            "  * Restart    other   ( node1 )  due to required box start",
        ])
    }

    @Test func aFailedStopCountsAsDoneAndRestartsTheLauncher() throws {
        let input = SchedulerInput(cib: try CIB.parse(TwoNodeCluster.xml(Self.resources, status: Self.history([
            Self.op("inner", "start", call: 2), Self.op("inner", "stop", rc: 1, call: 4),
        ]))), now: 0)
        let (ws, t) = Simulator.schedule(input)
        #expect(StatusText.render(ws).contains { $0.contains("inner\t(ocf:pacemaker:Dummy):\t FAILED (failure ignored)") })
        #expect(t.changes.map(\.text) == [
            "  * Restart    box     ( node1 )",
            "  * Start      inner   ( node1 )",
            "  * Restart    other   ( node1 )  due to required box start",
        ])
    }

    @Test func launchedFailuresCountTowardsTheLaunchersThreshold() throws {
        let ops = [Self.op("inner", "start", call: 2), Self.op("inner", "monitor", rc: 1, interval: 10000, call: 4)]
        let below = try schedule(Self.history(ops, failCount: 2))
        #expect(below.placements.map(\.next) == ["node1", "node1", "node1"])
        let reached = try schedule(Self.history(ops, failCount: 3))
        #expect(reached.placements.map(\.next) == ["node2", "node2", "node2"])
        #expect(reached.changes.map(\.kind) == [.move, .recover, .move])
    }
}
