import CIB
import Foundation
import PolicyEngine
import Testing
import TestSupport

/// An operation the controller recorded itself because its result did not come in time
/// (call-id -1, op-status 2: timed out), followed by other operations: which one is newer is
/// told, as Pacemaker's scheduler tells it (`pe__is_newer_op`), by the transitions that asked
/// for them, not by the second each was recorded in. (Seed 1495 of the soak: a start timed out,
/// the stop that followed ended in the same second, and the scheduler still saw the resource
/// active, and failed, where it had been stopped.)
@Suite struct TimedOutOperationTests {
    /// node1's history of rsc1: its start timed out in transition 5 of controller `uuid-a`
    /// (the DC's own record: `_last_failure_0`), then a stop ran, in `stopTransition` of
    /// `stopUUID`, and is `_last_0`.
    static func history(stopTransition: Int, stopUUID: String = "uuid-a", timeoutChanged: Int = 1_700_000_100,
                        stopChanged: Int = 1_700_000_100) -> String {
        let start = "3:5:0:uuid-a", stop = "2:\(stopTransition):0:\(stopUUID)"
        return """
        <lrm id="1"><lrm_resources><lrm_resource id="rsc1" class="ocf" provider="pacemaker" type="Dummy">\
        <lrm_rsc_op id="rsc1_last_failure_0" operation_key="rsc1_start_0" operation="start" crm-debug-origin="do_update_resource" \
        crm_feature_set="3.16.2" transition-key="\(start)" transition-magic="2:1;\(start)" exit-reason="rsc1_start_0 on node1 did not report within its timeout" \
        on_node="node1" call-id="-1" rc-code="1" op-status="2" interval="0" last-rc-change="\(timeoutChanged)" exec-time="0" queue-time="0" op-digest=""/>\
        <lrm_rsc_op id="rsc1_last_0" operation_key="rsc1_stop_0" operation="stop" crm-debug-origin="do_update_resource" \
        crm_feature_set="3.16.2" transition-key="\(stop)" transition-magic="0:0;\(stop)" exit-reason="" \
        on_node="node1" call-id="7" rc-code="0" op-status="0" interval="0" last-rc-change="\(stopChanged)" exec-time="0" queue-time="0" op-digest=""/>\
        </lrm_resource></lrm_resources></lrm>
        """
    }

    static let rsc = #"<primitive id="rsc1" class="ocf" provider="pacemaker" type="Dummy"/>"#

    /// Where the scheduler sees rsc1 active, and (when Pacemaker's crm_simulate is installed)
    /// whether Pacemaker 2.1.5 sees it failed on node1 too.
    static func activeOn(_ status: String) throws -> (ours: [String], pacemakerFailedOnNode1: Bool?) {
        let xml = TwoNodeCluster.xml(rsc, status: status)
        let ws = Simulator.workingSet(SchedulerInput(cib: try CIB.parse(xml), now: 1_700_000_200))
        let ours = ws.resources.first { $0.id == "rsc1" }?.activeOn ?? []
        let pacemaker = "/usr/sbin/crm_simulate"
        guard FileManager.default.isExecutableFile(atPath: pacemaker) else { return (ours, nil) }
        let dir = scratchDirectory("timed-out-op")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try xml.write(toFile: dir + "/cib.xml", atomically: true, encoding: .utf8)
        let r = try Tool.run(executable: pacemaker, ["-x", dir + "/cib.xml"])
        #expect(r.status == 0, "\(r.stderr)")
        let line = r.stdout.split(separator: "\n").first { $0.contains("rsc1") }.map(String.init) ?? ""
        return (ours, line.contains("FAILED node1"))
    }

    /// The stop asked for by a later transition of the same DC is newer, though it ended in
    /// the same second as the timeout was recorded: rsc1 runs nowhere, and is started.
    @Test func aStopAfterATimedOutStartInTheSameSecondLeavesTheResourceStopped() throws {
        let (ours, pacemaker) = try Self.activeOn(Self.history(stopTransition: 6))
        #expect(ours == [], "the stop of transition 6 came after the start that timed out in transition 5")
        if let pacemaker { #expect(!pacemaker, "Pacemaker sees rsc1 stopped") }
        let t = Simulator.schedule(SchedulerInput(cib: try CIB.parse(TwoNodeCluster.xml(Self.rsc, status: Self.history(stopTransition: 6))),
                                                  now: 1_700_000_200)).1
        #expect(!t.graph.actions.contains { $0.task == "stop" }, "nothing to stop: \(t.graph.actions.map(\.key))")
        #expect(t.graph.actions.contains { $0.key == "rsc1_start_0" })
    }

    /// A stop of an earlier transition is older than the timeout of a later one, even when
    /// it ended after the timeout was recorded: the start may still have run after it.
    @Test func aStopOfAnEarlierTransitionIsOlderThanATimedOutStart() throws {
        let (ours, pacemaker) = try Self.activeOn(Self.history(stopTransition: 4, stopChanged: 1_700_000_150))
        #expect(ours == ["node1"])
        if let pacemaker { #expect(pacemaker, "Pacemaker sees rsc1 failed on node1") }
    }

    /// A stop asked for by another controller (another DC's uuid) cannot be ordered against
    /// the timeout by their transitions: the timeout counts as the newer (until a join reads
    /// the node's real history again).
    @Test func aTimedOutStartIsNewerThanAnotherControllersStop() throws {
        let (ours, pacemaker) = try Self.activeOn(Self.history(stopTransition: 9, stopUUID: "uuid-b", stopChanged: 1_700_000_150))
        #expect(ours == ["node1"])
        if let pacemaker { #expect(pacemaker, "Pacemaker sees rsc1 failed on node1") }
    }

    /// Without transition keys, the time of the last change decides (the later one is newer).
    @Test func withoutTransitionKeysTheLastChangeDecides() throws {
        func stripped(_ s: String) -> String {
            s.replacingOccurrences(of: #" transition-key="[^"]*" transition-magic="[^"]*""#, with: "", options: .regularExpression)
        }
        let later = try CIB.parse(TwoNodeCluster.xml(Self.rsc, status: stripped(Self.history(stopTransition: 6, stopChanged: 1_700_000_150))))
        #expect(Simulator.workingSet(SchedulerInput(cib: later, now: 1_700_000_200)).resources.first { $0.id == "rsc1" }?.activeOn == [])
        let earlier = try CIB.parse(TwoNodeCluster.xml(Self.rsc, status: stripped(Self.history(stopTransition: 6, stopChanged: 1_700_000_050))))
        #expect(Simulator.workingSet(SchedulerInput(cib: earlier, now: 1_700_000_200)).resources.first { $0.id == "rsc1" }?.activeOn == ["node1"])
    }
}
