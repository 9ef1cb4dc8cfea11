import CIB
import PolicyEngine
import Testing

/// The transition graph on small hand-written CIBs: which actions, and what waits for what.
@Suite struct GraphTests {
    func schedule(_ resources: String, constraints: String = "", status: String = "") throws -> Transition {
        try TwoNodeCluster.schedule(resources, constraints: constraints, status: status)
    }

    /// "key@node" of each action, and of each input of the named action.
    func names(_ g: ActionGraph) -> [String] { g.actions.map { $0.key + ($0.node.map { "@\($0)" } ?? "") } }
    func inputs(of key: String, _ g: ActionGraph) -> Set<String> {
        guard let i = g.actions.firstIndex(where: { $0.key == key }) else { return [] }
        return Set(g.inputs[i].map { names(g)[$0] })
    }

    func history(_ id: String, monitor: Bool = true) -> String {
        """
        <lrm id="1"><lrm_resources><lrm_resource id="\(id)" class="ocf" provider="heartbeat" type="Dummy">
          <lrm_rsc_op id="\(id)_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
          \(monitor ? "<lrm_rsc_op id=\"\(id)_monitor_10000\" operation=\"monitor\" call-id=\"2\" rc-code=\"0\" op-status=\"0\" interval=\"10000\" transition-key=\"2:1:0:x\"/>" : "")
        </lrm_resource></lrm_resources></lrm>
        """
    }

    let dummyWithMonitor = #"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"><operations><op id="vip-mon" name="monitor" interval="10s" timeout="30s"/></operations></primitive>"#

    @Test func aFreshResourceIsProbedEverywhereThenStartedThenMonitored() throws {
        let g = try schedule(dummyWithMonitor, constraints: #"<rsc_location id="l" rsc="vip" node="node2" score="100"/>"#).graph
        #expect(Set(names(g)) == ["vip_monitor_0@node1", "vip_monitor_0@node2", "vip_start_0@node2", "vip_monitor_10000@node2"])
        #expect(inputs(of: "vip_start_0", g) == ["vip_monitor_0@node1", "vip_monitor_0@node2"])
        #expect(inputs(of: "vip_monitor_10000", g) == ["vip_start_0@node2"])
        let monitor = try #require(g.actions.first { $0.key == "vip_monitor_10000" })
        #expect(monitor.meta["timeout"] == "30000")
        #expect(monitor.intervalMS == 10000)
        // Probes run first, then the start, then the monitor.
        #expect(g.simulationLines().last == "  * Resource action: vip             monitor=10000 on node2")
    }

    @Test func aRunningResourceWithItsMonitorNeedsNothing() throws {
        let g = try schedule(dummyWithMonitor, constraints: #"<rsc_location id="l" rsc="vip" node="node1" score="100"/>"#,
                             status: history("vip")).graph
        // Known on node1; only node2 still needs a probe.
        #expect(names(g) == ["vip_monitor_0@node2"])
    }

    @Test func aMoveStopsBeforeItStarts() throws {
        let g = try schedule(dummyWithMonitor, constraints: #"<rsc_location id="l" rsc="vip" node="node2" score="INFINITY"/>"#,
                             status: history("vip")).graph
        #expect(inputs(of: "vip_start_0", g).contains("vip_stop_0@node1"))
        let order = g.executionOrder().map { names(g)[$0] }
        #expect(order.firstIndex(of: "vip_stop_0@node1")! < order.firstIndex(of: "vip_start_0@node2")!)
    }

    @Test func groupMembersStartInOrderAndStopInReverse() throws {
        let group = """
        <group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></group>
        """
        let g = try schedule(group).graph
        #expect(inputs(of: "b_start_0", g).isSuperset(of: ["a_start_0@node1", "g_start_0"]))
        #expect(inputs(of: "g_running_0", g) == ["a_start_0@node1", "b_start_0@node1", "g_start_0"])
        let order = g.executionOrder().map { names(g)[$0] }
        #expect(order.firstIndex(of: "a_start_0@node1")! < order.firstIndex(of: "b_start_0@node1")!)
    }

    @Test func anOrderingConstraintOrdersStartsAndItsInverseOrdersStops() throws {
        let two = """
        <primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/>
        """
        let g = try schedule(two, constraints: #"<rsc_order id="o" first="a" then="b"/>"#)
        #expect(inputs(of: "b_start_0", g.graph).contains("a_start_0@node1"))
        // Every action waits only for actions that exist; the execution reaches all of them.
        #expect(g.graph.executionOrder().count == g.graph.actions.count)
    }

    @Test func theGraphXMLNamesEveryActionAndItsInputs() throws {
        let g = try schedule(dummyWithMonitor, constraints: #"<rsc_location id="l" rsc="vip" node="node2" score="100"/>"#).graph
        let xml = g.xml()
        #expect(xml.name == "transition_graph")
        #expect(xml.elements(named: "synapse").count == g.actions.count)
        let start = try #require(xml.elements(named: "synapse").first { $0.descendants().contains { $0["operation_key"] == "vip_start_0" && $0.name == "rsc_op" && $0.firstElement(named: "primitive") != nil } })
        let op = try #require(start.firstElement(named: "action_set")?.elements.first)
        #expect(op["on_node"] == "node2")
        #expect(op.firstElement(named: "primitive")?["type"] == "Dummy")
        #expect(start.firstElement(named: "inputs")?.elements(named: "trigger").count == 2)
    }

    // MARK: Recurring operations by role

    func promotable(_ ops: String, meta: String = "") -> String {
        """
        <clone id="ms"><meta_attributes id="ms-m"><nvpair id="ms-m1" name="promotable" value="true"/>
          <nvpair id="ms-m2" name="clone-max" value="1"/>\(meta)</meta_attributes>
          <primitive id="p" class="ocf" provider="heartbeat" type="Dummy"><operations>\(ops)</operations></primitive></clone>
        """
    }

    @Test func promotingCancelsTheRolelessMonitorFirstAndStartsThePromotedOne() throws {
        let ops = #"<op id="m10" name="monitor" interval="10s"/><op id="m11" name="monitor" interval="11s" role="Promoted"/>"#
        let t = try schedule(promotable(ops), constraints: #"<rsc_location id="l" rsc="ms" node="node1" score="100" role="Promoted"/>"#,
                             status: history("p"))
        let g = t.graph
        let cancel = try #require(g.actions.first { $0.task == "cancel" })
        #expect(cancel.key == "p:0_monitor_10000" || cancel.key == "p_monitor_10000")
        let promote = try #require(g.actions.first { $0.task == "promote" })
        #expect(inputs(of: promote.key, g).contains(cancel.key + "@node1"))
        let monitor = try #require(g.actions.first { $0.intervalMS == 11000 && $0.task == "monitor" })
        #expect(inputs(of: monitor.key, g).contains(promote.key + "@node1"))
        #expect(!inputs(of: cancel.key, g).contains(promote.key + "@node1"))
        // No cycle: the cancel, the promote and the new monitor all execute, in that order.
        let lines = g.simulationLines().joined(separator: "\n")
        #expect(lines.contains("cancel=10000 on node1"))
        #expect(lines.contains("promote on node1"))
        #expect(lines.contains("monitor=11000 on node1"))
    }

    @Test func aStartedRoleMonitorIsNotForAnUnpromotedInstance() throws {
        let ops = #"<op id="m10" name="monitor" interval="10s" role="Started"/><op id="m12" name="monitor" interval="12s" role="Unpromoted"/>"#
        let g = try schedule(promotable(ops)).graph
        let recurring = g.actions.filter { $0.intervalMS > 0 }.map(\.intervalMS)
        #expect(recurring == [12000])
    }

    @Test func anOperationConfiguredTwiceIsIgnored() throws {
        let rsc = #"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"><operations><op id="a" name="monitor" interval="10s"/><op id="b" name="monitor" interval="10s" role="Started"/><op id="c" name="monitor" interval="20s"/></operations></primitive>"#
        let g = try schedule(rsc).graph
        #expect(g.actions.filter { $0.intervalMS > 0 }.map(\.intervalMS) == [20000])
    }

    @Test func aStoppedResourceGetsItsStoppedRoleMonitorsEverywhere() throws {
        let rsc = #"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="target-role" value="Stopped"/></meta_attributes><operations><op id="a" name="monitor" interval="10s"/><op id="b" name="monitor" interval="20s" role="Stopped"/></operations></primitive>"#
        let g = try schedule(rsc).graph
        #expect(Set(names(g)) == ["vip_monitor_0@node1", "vip_monitor_0@node2", "vip_monitor_20000@node1", "vip_monitor_20000@node2"])
        // Each waits for the probe on its node.
        for (k, a) in g.actions.enumerated() where a.intervalMS == 20000 {
            #expect(g.inputs[k].map { names(g)[$0] } == ["vip_monitor_0@\(a.node ?? "")"])
        }
        let stopped = try #require(g.actions.first { $0.intervalMS == 20000 })
        #expect(stopped.meta["op_target_rc"] == "7")
    }

    @Test func anAnonymousCloneHasNoStoppedRoleMonitors() throws {
        let rsc = #"<clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="target-role" value="Stopped"/></meta_attributes><primitive id="d" class="ocf" provider="heartbeat" type="Dummy"><operations><op id="b" name="monitor" interval="20s" role="Stopped"/></operations></primitive></clone>"#
        let g = try schedule(rsc).graph
        #expect(g.actions.filter { $0.intervalMS > 0 }.isEmpty)
    }

    @Test func maintenanceCancelsRunningMonitorsAndNothingElse() throws {
        let rsc = #"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="maintenance" value="true"/></meta_attributes><operations><op id="vip-mon" name="monitor" interval="10s"/></operations></primitive>"#
        let g = try schedule(rsc, constraints: #"<rsc_location id="l" rsc="vip" node="node1" score="100"/>"#, status: history("vip")).graph
        let cancels = g.actions.filter { $0.task == "cancel" }
        #expect(cancels.map(\.key) == ["vip_monitor_10000"])
        #expect(cancels.first?.node == "node1")
        #expect(!g.actions.contains { $0.task == "stop" || $0.task == "start" })
    }

    @Test func aSetNeedingAnyOneMemberPassesThroughAOneOrMorePoint() throws {
        let rscs = ["a", "b", "c"].map { #"<primitive id="\#($0)" class="ocf" provider="heartbeat" type="Dummy"/>"# }.joined()
        let order = """
        <rsc_order id="o"><resource_set id="any" sequential="false" require-all="false"><resource_ref id="a"/><resource_ref id="b"/></resource_set>
          <resource_set id="after"><resource_ref id="c"/></resource_set></rsc_order>
        """
        let g = try schedule(rscs, constraints: order).graph
        let point = try #require(g.actions.first { $0.key == "one-or-more:any" })
        #expect(point.kind == .pseudo)
        #expect(Set(inputs(of: "one-or-more:any", g).map { $0.prefix { $0 != "@" } }) == ["a_start_0", "b_start_0"])
        #expect(inputs(of: "c_start_0", g).contains("one-or-more:any"))
        #expect(!inputs(of: "c_start_0", g).contains { $0.hasPrefix("a_start_0") || $0.hasPrefix("b_start_0") })
    }

    func cloneThenPrimitive(cloneMin: Int) -> (String, String) {
        let rscs = """
        <clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="clone-min" value="\(cloneMin)"/></meta_attributes>
          <primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/></clone>
        <primitive id="after" class="ocf" provider="heartbeat" type="Dummy"/>
        """
        return (rscs, #"<rsc_order id="o" first="c" then="after"/>"#)
    }

    @Test func anOrderingAfterEnoughCloneInstancesWaitsForEachInstanceStart() throws {
        let (rscs, order) = cloneThenPrimitive(cloneMin: 2)
        let g = try schedule(rscs, constraints: order).graph
        #expect(Set(inputs(of: "clone-one-or-more:o", g).map { $0.prefix { $0 != "@" } }) == ["d:0_start_0", "d:1_start_0"])
        #expect(inputs(of: "after_start_0", g).contains("clone-one-or-more:o"))
        #expect(!inputs(of: "after_start_0", g).contains("c_running_0"))
    }

    @Test func tooFewCloneInstancesLeaveNoOneOrMorePoint() throws {
        let (rscs, order) = cloneThenPrimitive(cloneMin: 3)
        let g = try schedule(rscs, constraints: order).graph
        #expect(!g.actions.contains { $0.key.hasPrefix("clone-one-or-more") })
        #expect(!g.actions.contains { $0.key == "after_start_0" })
    }

    @Test func aRemovedMonitorIsCancelledEvenWhenUnmanaged() throws {
        let rsc = #"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="is-managed" value="false"/></meta_attributes></primitive>"#
        let g = try schedule(rsc, status: history("vip")).graph
        #expect(g.actions.filter { $0.task == "cancel" }.map { "\($0.key)@\($0.node ?? "")" } == ["vip_monitor_10000@node1"])
    }

    @Test func aPendingStartIsScheduledAgainWhereTheResourceStays() throws {
        let status = """
        <lrm id="1"><lrm_resources><lrm_resource id="vip" class="ocf" provider="heartbeat" type="Dummy">
          <lrm_rsc_op id="vip_last_0" operation="start" call-id="-1" rc-code="1" op-status="-1" interval="0" transition-key="1:1:0:x"/>
        </lrm_resource></lrm_resources></lrm>
        """
        let t = try schedule(dummyWithMonitor, constraints: #"<rsc_location id="l" rsc="vip" node="node1" score="100"/>"#, status: status)
        #expect(t.changes.isEmpty)
        let g = t.graph
        #expect(names(g).contains("vip_start_0@node1"))
        #expect(inputs(of: "vip_monitor_10000", g).contains("vip_start_0@node1"))
    }

    @Test func aProbeStillPendingIsRepeated() throws {
        let status = """
        <lrm id="1"><lrm_resources><lrm_resource id="vip" class="ocf" provider="heartbeat" type="Dummy">
          <lrm_rsc_op id="vip_last_0" operation="monitor" call-id="2" rc-code="7" op-status="-1" interval="0" transition-key="1:1:7:x"/>
        </lrm_resource></lrm_resources></lrm>
        """
        let g = try schedule(dummyWithMonitor, status: status).graph
        #expect(names(g).contains("vip_monitor_0@node1"))
        #expect(names(g).contains("vip_monitor_0@node2"))
    }

    @Test func aRemovedMonitorIsCancelledAfterTheStopAndKeepsItsId() throws {
        let rsc = #"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"/>"#
        let g = try schedule(rsc, constraints: #"<rsc_location id="l" rsc="vip" node="node2" score="INFINITY"/>"#,
                             status: history("vip")).graph
        let cancel = try #require(g.actions.first { $0.task == "cancel" })
        #expect(inputs(of: cancel.key, g).contains("vip_stop_0@node1"))
        // The running operation was known before anything was created: the cancel has the first id.
        #expect(cancel.id == g.actions.map(\.id).min())
    }

    @Test func theStopOfAFailureIsKnownFirstOnlyWhereItFailed() throws {
        func lrm(_ ops: String) -> String {
            #"<lrm id="x"><lrm_resources><lrm_resource id="vip" class="ocf" provider="heartbeat" type="Dummy">\#(ops)</lrm_resource></lrm_resources></lrm>"#
        }
        let ok = #"<lrm_rsc_op id="vip_last_0" operation="start" call-id="2" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>"#
        let failed = ok + #"<lrm_rsc_op id="vip_last_failure_0" operation="monitor" call-id="3" rc-code="1" op-status="0" interval="10000" transition-key="2:1:0:x"/>"#
        let xml = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources>\(dummyWithMonitor)</resources>
            <constraints><rsc_location id="l" rsc="vip" node="node1" score="100"/></constraints>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">\(lrm(ok))</node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member">\(lrm(failed))</node_state>
          </status>
        </cib>
        """
        let g = Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 0)).1.graph
        let stop1 = try #require(g.actions.first { $0.key == "vip_stop_0" && $0.node == "node1" })
        let stop2 = try #require(g.actions.first { $0.key == "vip_stop_0" && $0.node == "node2" })
        #expect(stop2.id < stop1.id)
    }

    @Test func fencingComesBeforeTheStopOfTheGroupItImplies() throws {
        let started = #"<lrm_rsc_op id="a_last_0" operation="start" call-id="2" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>"#
        let lrm = """
        <lrm id="2"><lrm_resources><lrm_resource id="a" class="ocf" provider="heartbeat" type="Dummy">\(started)</lrm_resource></lrm_resources></lrm>
        """
        let xml = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources><primitive id="fence" class="stonith" type="fence_xvm"/>
              <group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/></group></resources>
            <constraints><rsc_location id="l" rsc="g" node="node1" score="-INFINITY"/></constraints>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/>
            <node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="member">\(lrm)</node_state>
          </status>
        </cib>
        """
        let g = Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 0)).1.graph
        let fence = try #require(g.actions.first { $0.kind == .fence })
        let groupStop = try #require(g.actions.firstIndex { $0.key == "g_stop_0" })
        #expect(g.inputs[groupStop].map { g.actions[$0].id }.contains(fence.id))
    }

    @Test func anAntiColocatedGroupStartsOnlyOnceTheOtherHasStopped() throws {
        let rscs = """
        <group id="gA"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/></group>
        <group id="gB"><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></group>
        """
        let constraints = """
        <rsc_location id="la" rsc="gA" node="node2" score="INFINITY"/><rsc_location id="lb" rsc="gB" node="node1" score="100"/>
        <rsc_colocation id="c" rsc="gB" with-rsc="gA" score="-INFINITY"/>
        """
        let g = try schedule(rscs, constraints: constraints, status: history("a", monitor: false)).graph
        #expect(names(g).contains("a_stop_0@node1"))
        #expect(inputs(of: "gB_start_0", g).contains("gA_stopped_0"))
    }

    @Test func whatFollowsANotifyingCloneWaitsForItsNotificationsToBeConfirmed() throws {
        let rscs = """
        <clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="notify" value="true"/></meta_attributes>
          <primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/></clone>
        <primitive id="after" class="ocf" provider="heartbeat" type="Dummy"/>
        """
        let g = try schedule(rscs, constraints: #"<rsc_order id="o" first="c" then="after"/>"#).graph
        #expect(inputs(of: "after_start_0", g).contains("c_confirmed-post_notify_running_0"))
        #expect(!inputs(of: "after_start_0", g).contains("c_running_0"))
    }

    @Test func removedHistoryIsDeletedNodeByNodeInTheConfigurationsOrder() throws {
        let lrm = """
        <lrm id="x"><lrm_resources><lrm_resource id="gone" class="ocf" provider="heartbeat" type="Dummy">
          <lrm_rsc_op id="gone_last_0" operation="monitor" call-id="1" rc-code="7" op-status="0" interval="0" transition-key="1:1:7:x"/>
        </lrm_resource></lrm_resources></lrm>
        """
        let xml = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources/><constraints/>
          </configuration>
          <status>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member">\(lrm)</node_state>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">\(lrm)</node_state>
          </status>
        </cib>
        """
        let g = Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 0)).1.graph
        let d1 = try #require(g.actions.first { $0.task == "delete" && $0.node == "node1" })
        let d2 = try #require(g.actions.first { $0.task == "delete" && $0.node == "node2" })
        #expect(d1.id < d2.id)
    }

    @Test func aSingleMemberSetNotRequiringAllStillOrdersWhatFollows() throws {
        let rscs = ["a", "c"].map { #"<primitive id="\#($0)" class="ocf" provider="heartbeat" type="Dummy"/>"# }.joined()
        let order = """
        <rsc_order id="o"><resource_set id="any" require-all="false"><resource_ref id="a"/></resource_set>
          <resource_set id="after"><resource_ref id="c"/></resource_set></rsc_order>
        """
        let g = try schedule(rscs, constraints: order).graph
        #expect(inputs(of: "one-or-more:any", g).map { $0.prefix { $0 != "@" } } == ["a_start_0"])
        #expect(inputs(of: "c_start_0", g).contains("one-or-more:any"))
    }
}
