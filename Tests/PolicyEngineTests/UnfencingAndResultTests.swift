import CIB
import PolicyEngine
import Testing

/// Unfencing ("Fence (on)") before a node that was never unfenced probes or starts what needs
/// it; how recorded results count (an expected "not running", an expected error) and when a
/// failure expires; what a live migration leaves alone.
@Suite struct UnfencingAndResultTests {
    let history = HistoryRuleTests()

    func device(provides: Bool) -> String {
        #"<primitive id="dev" class="stonith" type="fence_scsi">\#(provides ? #"<meta_attributes id="dm"><nvpair id="dm1" name="provides" value="unfencing"/></meta_attributes>"# : "")</primitive>"#
    }

    let resource = #"<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/>"#
    let unfenced = ##"<nvpair id="u" name="#node-unfenced" value="1234567"/>"##

    @Test func aNodeNeverUnfencedIsUnfencedForItsFirstProbe() throws {
        let t = try history.schedule(fencing: true, resources: device(provides: true) + resource, attributes: ["node2": unfenced])
        let fences = t.changes.filter { $0.kind == .fence }
        // node1 has no #node-unfenced: the first probe there (the device's) asks for it.
        #expect(fences.map(\.text) == ["  * Fence (on) node1 'required by dev monitor'"])
        // Listed before the resource changes.
        #expect(t.changes.first?.kind == .fence)
    }

    @Test func withoutADeviceProvidingItNothingIsUnfenced() throws {
        let t = try history.schedule(fencing: true, resources: device(provides: false) + resource, attributes: ["node2": unfenced])
        #expect(!t.changes.contains { $0.kind == .fence })
        // Nor with fencing disabled.
        let off = try history.schedule(fencing: false, resources: device(provides: true) + resource)
        #expect(!off.changes.contains { $0.kind == .fence })
    }

    @Test func aResourceThatRequiresOnlyQuorumDoesNotAskForUnfencing() throws {
        // Everything is known on node1 but a resource requiring quorum: its start asks nothing.
        let quorum = #"<primitive id="q" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="qm"><nvpair id="qm1" name="requires" value="quorum"/></meta_attributes></primitive>"#
        let probe = { (id: String, cls: String) in
            #"<lrm_resource id="\#(id)" class="\#(cls)" type="x"><lrm_rsc_op id="\#(id)_p" operation="monitor" call-id="1" rc-code="7" op-status="0" interval="0" transition-key="1:1:7:x"/></lrm_resource>"#
        }
        let status = probe("dev", "stonith") + probe("fence", "stonith")
        let t = try history.schedule(fencing: true, resources: device(provides: true) + quorum,
                                     constraints: #"<rsc_location id="l" rsc="q" node="node1" score="100"/><rsc_location id="l2" rsc="dev" node="node2" score="100"/><rsc_location id="l3" rsc="fence" node="node2" score="100"/>"#,
                                     status: ["node1": status], attributes: ["node2": unfenced])
        #expect(t.changes.contains { $0.kind == .start && $0.subject == "q" })
        #expect(!t.changes.contains { $0.kind == .fence })
    }

    @Test func anOperationThatFoundItStoppedAsExpectedLeavesItStopped() throws {
        // A start recorded with rc 7 where 7 was expected (target in the transition key).
        let status = #"<lrm_resource id="a" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="a_last_0" operation="start" call-id="3" rc-code="7" op-status="0" interval="0" transition-key="3:1:7:x"/></lrm_resource>"#
        let t = try history.schedule(resources: resource, constraints: #"<rsc_location id="l" rsc="a" node="node1" score="100"/>"#,
                                     status: ["node1": status])
        #expect(t.changes.map(\.text) == ["  * Start      a       ( node1 )"])
    }

    @Test func anErrorIsAFailureEvenWhenItWasTheExpectedResult() throws {
        // A start recorded with rc 1 where 1 was "expected" (as crm_simulate's injected failures are).
        let status = #"<lrm_resource id="a" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="a_last_0" operation="start" call-id="3" rc-code="1" op-status="0" interval="0" transition-key="3:1:1:x"/></lrm_resource>"#
        let t = try history.schedule(resources: resource, constraints: #"<rsc_location id="l" rsc="a" node="node1" score="100"/>"#,
                                     status: ["node1": status])
        #expect(t.changes.map(\.text) == ["  * Recover    a       ( node1 )"])
    }

    // MARK: Failure timeouts

    @Test func aFailureDoesNotExpireWhileItsFailCountHasNot() throws {
        let rsc = #"<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="failure-timeout" value="60s"/></meta_attributes><operations><op id="mon" name="monitor" interval="10s"/></operations></primitive>"#
        let status = history.lrm("a", history.op("a", "start", call: 1), history.op("a", "monitor", call: 2, rc: 1, interval: 10000, changed: 1000))
        let location = #"<rsc_location id="l" rsc="a" node="node1" score="100"/>"#
        // Long past the timeout, with no fail count left: the failure has expired.
        let expired = try history.schedule(resources: rsc, constraints: location, status: ["node1": status], now: 5000)
        #expect(!expired.changes.contains { $0.kind == .recover })
        // A fail count with no last-failure time never expires: nor does the failure.
        let count = #"<nvpair id="f1" name="fail-count-a#monitor_10000" value="1"/>"#
        let kept = try history.schedule(resources: rsc, constraints: location, status: ["node1": status],
                                        attributes: ["node1": count], now: 5000)
        #expect(kept.changes.map(\.text) == ["  * Recover    a       ( node1 )"])
    }

    @Test func aFailedStartWithOtherParametersHasItsFailCountClearedAndBansNothing() throws {
        let rsc = #"<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><instance_attributes id="i"><nvpair id="i1" name="port" value="2"/></instance_attributes></primitive>"#
        func status(_ digest: String) -> String {
            #"<lrm_resource id="a" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="a_last_0" operation="stop" call-id="4" rc-code="0" op-status="0" interval="0" transition-key="4:1:0:x"/><lrm_rsc_op id="a_last_failure_0" operation="start" call-id="3" rc-code="1" op-status="0" interval="0" transition-key="3:1:0:x" op-digest="\#(digest)"/></lrm_resource>"#
        }
        let location = #"<rsc_location id="l" rsc="a" node="node1" score="100"/>"#
        let failCount = #"<nvpair id="f1" name="fail-count-a#start_0" value="INFINITY"/>"#
        // The start failed with port=1: the fail count is cleared and node1 is still preferred.
        let changed = try history.schedule(resources: rsc, constraints: location,
                                           status: ["node1": status(ParameterDigest.digest(["port": "1"]))], attributes: ["node1": failCount])
        #expect(changed.changes.map(\.text) == ["  * Start      a       ( node1 )"])
        #expect(history.lines(changed).contains("* Cluster action: clear_failcount for a on node1"))
        // It failed with the parameters it has now: the fail count bans node1.
        let same = try history.schedule(resources: rsc, constraints: location,
                                        status: ["node1": status(ParameterDigest.digest(["port": "2"]))], attributes: ["node1": failCount])
        #expect(same.changes.map(\.text) == ["  * Start      a       ( node2 )"])
        #expect(!history.lines(same).contains { $0.contains("clear_failcount") })
    }

    // MARK: Orderings after a live migration

    @Test func aLiveMigrationRestartsNothingOrderedAfterIt() throws {
        func resources(migrate: Bool) -> String {
            #"<primitive id="A" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="am"><nvpair id="am1" name="allow-migrate" value="\#(migrate)"/></meta_attributes></primitive><primitive id="B" class="ocf" provider="heartbeat" type="Dummy"/>"#
        }
        let constraints = #"<rsc_location id="la" rsc="A" node="node1" score="100"/><rsc_location id="lb" rsc="B" node="node1" score="100"/><rsc_order id="o" first="A" then="B"/>"#
        let status = ["node1": history.lrm("B", history.op("B", "start", call: 1)), "node2": history.lrm("A", history.op("A", "start", call: 1))]
        let migrated = try history.schedule(resources: resources(migrate: true), constraints: constraints, status: status)
        #expect(migrated.changes.map(\.text) == ["  * Migrate    A       ( node2 -> node1 )"])
        // Moved by a stop and a start, A's start is required: B restarts after it.
        let moved = try history.schedule(resources: resources(migrate: false), constraints: constraints, status: status)
        #expect(moved.changes.map(\.text) == ["  * Move       A       ( node2 -> node1 )", "  * Restart    B       ( node1 )  due to required A start"])
    }

    @Test func aMissingAgentIsNotIgnoredByOnFailIgnore() throws {
        let rsc = #"<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><operations><op id="m" name="monitor" interval="10s" on-fail="ignore"/></operations></primitive>"#
        func status(rc: Int, opStatus: Int) -> String {
            #"<lrm_resource id="a" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="a_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x" last-rc-change="900"/><lrm_rsc_op id="a_last_failure_0" operation="monitor" call-id="2" rc-code="\#(rc)" op-status="\#(opStatus)" interval="10000" transition-key="2:1:0:x" last-rc-change="1000"/></lrm_resource>"#
        }
        let location = #"<rsc_location id="l" rsc="a" node="node1" score="100"/>"#
        // The executor found the agent missing (op-status 7): recovered on the other node.
        let missing = try history.schedule(resources: rsc, constraints: location, status: ["node1": status(rc: 5, opStatus: 7)])
        #expect(missing.changes.map(\.text) == ["  * Recover    a       ( node1 -> node2 )"])
        // An ordinary error is ignored as configured: nothing changes.
        let error = try history.schedule(resources: rsc, constraints: location, status: ["node1": status(rc: 1, opStatus: 0)])
        #expect(error.changes.isEmpty)
    }

    @Test func aCloneOfGroupsRunsOnlyWhenOneGroupRunsWhole() throws {
        func resources(disabled: Bool) -> String {
            let meta = disabled ? #"<meta_attributes id="m2m"><nvpair id="m2m1" name="target-role" value="Stopped"/></meta_attributes>"# : ""
            return #"<clone id="c"><group id="g"><primitive id="m1" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="m2" class="ocf" provider="heartbeat" type="Dummy">\#(meta)</primitive></group></clone><primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/>"#
        }
        let constraints = #"<rsc_location id="l" rsc="d" node="node1" score="100"/><rsc_order id="o" first="c" then="d"/>"#
        // A member of every group stays stopped: the clone's running is unrunnable.
        let blocked = try history.schedule(resources: resources(disabled: true), constraints: constraints)
        #expect(blocked.changes.first { $0.subject == "d" }?.reason == "due to unrunnable c running (blocked)")
        #expect(blocked.changes.contains { $0.subject == "m1:0" && $0.kind == .start })
        let whole = try history.schedule(resources: resources(disabled: false), constraints: constraints)
        #expect(whole.changes.first { $0.subject == "d" }.map { $0.kind == .start && $0.reason == nil } == true)
    }

    @Test func thePromotedRoleWithAResourceThatCannotStartIsBlocked() throws {
        func resources(disabled: Bool) -> String {
            let meta = disabled ? #"<meta_attributes id="r3m"><nvpair id="r3m1" name="target-role" value="Stopped"/></meta_attributes>"# : ""
            return #"<primitive id="r1" class="ocf" provider="heartbeat" type="Dummy"/><clone id="p"><meta_attributes id="pm"><nvpair id="pm1" name="promotable" value="true"/></meta_attributes><primitive id="s" class="ocf" provider="pacemaker" type="Stateful"/></clone><primitive id="r3" class="ocf" provider="heartbeat" type="Dummy">\#(meta)</primitive>"#
        }
        let constraints = #"<rsc_colocation id="c" rsc="p" rsc-role="Promoted" with-rsc="r1" score="INFINITY"/><rsc_order id="o" first="r3" then="r1"/>"#
        let blocked = try history.schedule(resources: resources(disabled: true), constraints: constraints)
        let promote = try #require(blocked.changes.first { $0.kind == .promote })
        #expect(promote.reason == "due to colocation with r1 (blocked)")
        // The instance still starts, unpromoted.
        #expect(blocked.placements.contains { $0.resource == promote.subject && $0.next != nil && $0.role == .unpromoted })
        let free = try history.schedule(resources: resources(disabled: false), constraints: constraints)
        #expect(free.changes.first { $0.kind == .promote }.map { $0.reason == nil } == true)
    }

    // MARK: Probes on a node still joining

    @Test func aStartWaitingForAnotherInstancesProbeNamesIt() throws {
        let xml = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/><node id="3" uname="node3"/></nodes>
            <resources>
              <primitive id="f" class="stonith" type="fence_dummy"/>
              <clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="clone-max" value="2"/></meta_attributes><primitive id="x" class="ocf" provider="heartbeat" type="Dummy"/></clone>
              <primitive id="p" class="ocf" provider="heartbeat" type="Dummy"/>
            </resources>
            <constraints><rsc_location id="l" rsc="p" node="node1" score="100"/></constraints>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="1"><lrm_resources><lrm_resource id="f" class="stonith" type="fence_dummy"><lrm_rsc_op id="f_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/></lrm_resource></lrm_resources></lrm></node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="2"><lrm_resources>\(history.lrm("x", history.op("x", "start", call: 1)))</lrm_resources></lrm></node_state>
            <node_state id="3" uname="node3" in_ccm="true" crmd="offline" join="down" expected="down"/>
          </status>
        </cib>
        """
        let t = Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 0)).1
        // The clone's probe on node3 is its first instance's (x:0, running on node2): x:1
        // waits for it. The primitive waits for its own probe there: plainly "blocked".
        #expect(t.changes.first { $0.subject == "x:1" }?.reason == "due to unrunnable x:0 monitor (blocked)")
        #expect(t.changes.first { $0.subject == "p" }?.reason == "blocked")
    }

    // MARK: Reloads

    @Test func aRestartDigestWithoutForceRestartListCoversEveryParameter() throws {
        let rsc = #"<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><instance_attributes id="i"><nvpair id="i1" name="x" value="new"/></instance_attributes></primitive>"#
        func status(restartDigest: String) -> String {
            history.lrm("a", history.op("a", "start", call: 1,
                                        extra: #"op-digest="\#(ParameterDigest.digest(["x": "old"]))" op-restart-digest="\#(restartDigest)""#))
        }
        let location = #"<rsc_location id="l" rsc="a" node="node1" score="100"/>"#
        // The restart digest (over all parameters, no op-force-restart) still matches: reload.
        let reload = try history.schedule(resources: rsc, constraints: location,
                                          status: ["node1": status(restartDigest: ParameterDigest.digest(["x": "new"]))])
        #expect(reload.changes.map(\.text) == ["  * Reload     a       ( node1 )"])
        let restart = try history.schedule(resources: rsc, constraints: location,
                                           status: ["node1": status(restartDigest: ParameterDigest.digest(["x": "old"]))])
        #expect(restart.changes.map(\.text) == ["  * Restart    a       ( node1 )  due to resource definition change"])
    }
}
