import CIB
import PolicyEngine
import Testing

/// Failures whose handling is on-fail=block, and the history entries that clear them: a
/// monitor that succeeds again after its own failure, a demote that failed and leaves the
/// instance promoted (and still counting as the clone's promoted one), and a single clone
/// instance that moves.
@Suite struct BlockedFailureTests {
    let history = HistoryRuleTests()

    func entry(_ id: String, _ task: String, call: Int, rc: Int, interval: Int = 0, changed: Int) -> String {
        #"<lrm_rsc_op id="\#(id)" operation="\#(task)" call-id="\#(call)" rc-code="\#(rc)" op-status="0" interval="\#(interval)" last-rc-change="\#(changed)" transition-key="\#(call):1:0:x"/>"#
    }

    // MARK: A monitor's success after its failure

    @Test func aMonitorThatSucceedsAgainClearsItsBlockingFailure() throws {
        let rsc = #"<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="migration-threshold" value="1"/></meta_attributes><operations><op id="mon" name="monitor" interval="10s" on-fail="block"/></operations></primitive>"#
        let start = entry("a_last_0", "start", call: 1, rc: 0, changed: 900)
        let failure = entry("a_last_failure_0", "monitor", call: 2, rc: 1, interval: 10000, changed: 1000)
        // The same call recorded again once it succeeded (later result change), listed first.
        let success = entry("a_monitor_10000", "monitor", call: 2, rc: 0, interval: 10000, changed: 2000)
        let failCount = #"<nvpair id="f1" name="fail-count-a#monitor_10000" value="1"/>"#
        let cleared = try history.schedule(resources: rsc, status: ["node1": history.lrm("a", start, success, failure)],
                                           attributes: ["node1": failCount])
        // Not blocked: the fail count reached the threshold, so it moves away.
        #expect(cleared.changes.map(\.text).contains { $0.contains("Move") && $0.contains("( node1 -> node2 )") })
        // With the failure as the newest result it stays blocked where it is: nothing changes.
        let newerFailure = entry("a_last_failure_0", "monitor", call: 2, rc: 1, interval: 10000, changed: 3000)
        let blocked = try history.schedule(resources: rsc, status: ["node1": history.lrm("a", start, success, newerFailure)],
                                           attributes: ["node1": failCount])
        #expect(blocked.changes.isEmpty)
    }

    // MARK: A failed demote with on-fail=block

    func promotable(demoteOnFail: String) -> String {
        #"<clone id="s"><meta_attributes id="sm"><nvpair id="sm1" name="promotable" value="true"/></meta_attributes><primitive id="d" class="ocf" provider="pacemaker" type="Stateful"><operations><op id="d-demote" name="demote" interval="0" on-fail="\#(demoteOnFail)"/></operations></primitive></clone>"#
    }

    func stateful(_ id: String, _ ops: String...) -> String {
        #"<lrm_resource id="\#(id)" class="ocf" provider="pacemaker" type="Stateful">\#(ops.joined())</lrm_resource>"#
    }

    @Test func aBlockedFailedDemoteKeepsThePromotedPlace() throws {
        let node1 = stateful("d:0", entry("d0_probe", "monitor", call: 1, rc: 8, changed: 900),
                             entry("d0_demote", "demote", call: 2, rc: 1, changed: 1000))
        let node2 = stateful("d:1", entry("d1_probe", "monitor", call: 1, rc: 7, changed: 900),
                             entry("d1_start", "start", call: 2, rc: 0, changed: 950))
        let attrs = #"<nvpair id="p2" name="master-d" value="5"/>"#
        let blocked = try history.schedule(resources: promotable(demoteOnFail: "block"), status: ["node1": node1, "node2": node2],
                                           attributes: ["node2": attrs])
        // It stays promoted (blocked) on node1, and the other instance is not promoted.
        #expect(blocked.changes.isEmpty)
        #expect(blocked.placements.contains { $0.resource == "d:0" && $0.next == "node1" && $0.role == .promoted })
        // Without block the failed demote leaves it unpromoted, to be recovered; the other
        // instance may then be promoted.
        let recovered = try history.schedule(resources: promotable(demoteOnFail: "restart"), status: ["node1": node1, "node2": node2],
                                             attributes: ["node2": attrs])
        #expect(recovered.changes.contains { $0.kind == .promote })
    }

    // MARK: A single clone instance

    @Test func theOnlyInstanceOfAOneInstanceCloneMoves() throws {
        let clone = #"<clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="clone-max" value="1"/><nvpair id="cm2" name="resource-stickiness" value="0"/></meta_attributes><primitive id="x" class="ocf" provider="heartbeat" type="Dummy"/></clone>"#
        let location = #"<rsc_location id="l" rsc="c" node="node2" score="INFINITY"/>"#
        // (Scheduled without scores, as crm_simulate -S does: that path once crashed here.)
        let t = try history.schedule(resources: clone, constraints: location,
                                     status: ["node1": history.lrm("x:0", history.op("x:0", "start", call: 1))])
        #expect(t.changes.map(\.text) == ["  * Move       x:0     ( node1 -> node2 )"])
    }
}
