import CIB
import PolicyEngine
import Testing

/// Rules that follow from a resource's operation history and from orderings with clones and
/// live migrations: fail counts that are cleared, recurring operations that are scheduled
/// again, migrations that completed, which instance number a node's history takes, and when
/// something ordered after a clone restarts.
@Suite struct HistoryRuleTests {
    /// A cluster of the given nodes ("name" online, "name:offline" lost) at time `now`.
    func schedule(nodes: [String] = ["node1", "node2"], fencing: Bool = false, resources: String, constraints: String = "",
                  status: [String: String] = [:], attributes: [String: String] = [:], now: Int = 0) throws -> Transition {
        var nodeXML = "", stateXML = ""
        for (k, spec) in nodes.enumerated() {
            let parts = spec.split(separator: ":").map(String.init)
            let name = parts[0]
            nodeXML += #"<node id="\#(k + 1)" uname="\#(name)"/>"#
            let up = parts.count == 1
            let attrs = attributes[name].map { #"<transient_attributes id="\#(k + 1)"><instance_attributes id="s\#(k + 1)">\#($0)</instance_attributes></transient_attributes>"# } ?? ""
            stateXML += #"<node_state id="\#(k + 1)" uname="\#(name)" in_ccm="\#(up)" crmd="\#(up ? "online" : "offline")" join="member" expected="member">\#(status[name].map { "<lrm id=\"\(k + 1)\"><lrm_resources>\($0)</lrm_resources></lrm>" } ?? "")\#(attrs)</node_state>"#
        }
        let xml = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="\(fencing)"/></cluster_property_set></crm_config>
            <nodes>\(nodeXML)</nodes>
            <resources>\(resources)\(fencing ? #"<primitive id="fence" class="stonith" type="fence_dummy"/>"# : "")</resources>
            <constraints>\(constraints)</constraints>
          </configuration>
          <status>\(stateXML)</status>
        </cib>
        """
        return Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: now)).1
    }

    func op(_ rsc: String, _ task: String, call: Int, rc: Int = 0, interval: Int = 0, changed: Int = 1000, extra: String = "") -> String {
        #"<lrm_rsc_op id="\#(rsc)_\#(task)_\#(interval)_\#(call)" operation="\#(task)" call-id="\#(call)" rc-code="\#(rc)" op-status="0" interval="\#(interval)" last-rc-change="\#(changed)" transition-key="\#(call):1:0:x" \#(extra)/>"#
    }

    func lrm(_ id: String, _ ops: String...) -> String {
        #"<lrm_resource id="\#(id)" class="ocf" provider="heartbeat" type="Dummy">\#(ops.joined())</lrm_resource>"#
    }

    func lines(_ t: Transition) -> [String] { t.graph.simulationLines().map { $0.split(separator: " ").joined(separator: " ") } }

    // MARK: Fail counts

    @Test func anExpiredFailureHasItsFailCountCleared() throws {
        let rsc = #"<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="failure-timeout" value="60s"/></meta_attributes><operations><op id="mon" name="monitor" interval="10s"/></operations></primitive>"#
        let status = lrm("a", op("a", "start", call: 1), op("a", "monitor", call: 2, rc: 1, interval: 10000, changed: 1000))
        let failed = #"<nvpair id="f1" name="fail-count-a#monitor_10000" value="1"/><nvpair id="f2" name="last-failure-a#monitor_10000" value="1000"/>"#
        let expired = try schedule(resources: rsc, constraints: #"<rsc_location id="l" rsc="a" node="node1" score="100"/>"#,
                                   status: ["node1": status], attributes: ["node1": failed], now: 5000)
        #expect(lines(expired).contains("* Cluster action: clear_failcount for a on node1"))
        // Within the timeout the failure still counts: nothing is cleared.
        let recent = try schedule(resources: rsc, constraints: #"<rsc_location id="l" rsc="a" node="node1" score="100"/>"#,
                                  status: ["node1": status], attributes: ["node1": failed], now: 1030)
        #expect(!lines(recent).contains { $0.contains("clear_failcount") })
    }

    @Test func aChangedDefinitionClearsTheFailCountWhereItRestarts() throws {
        let rsc = #"<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><instance_attributes id="i"><nvpair id="i1" name="state" value="new"/></instance_attributes></primitive>"#
        let oldDigest = ParameterDigest.digest(["state": "old"])
        let status = lrm("a", op("a", "start", call: 1, extra: #"op-digest="\#(oldDigest)""#))
        let failed = #"<nvpair id="f1" name="fail-count-a#monitor_10000" value="1"/>"#
        let t = try schedule(resources: rsc, constraints: #"<rsc_location id="l" rsc="a" node="node1" score="100"/>"#,
                             status: ["node1": status], attributes: ["node1": failed])
        #expect(t.changes.map(\.text).contains { $0.contains("Restart") && $0.contains("due to resource definition change") })
        let l = lines(t)
        let clear = try #require(l.firstIndex(of: "* Cluster action: clear_failcount for a on node1"))
        // Listed between the stop and the start (it was known before the stop was created).
        #expect(l.firstIndex(of: "* Resource action: a stop on node1")! < clear)
        #expect(clear < l.firstIndex(of: "* Resource action: a start on node1")!)
    }

    // MARK: Recurring operations

    @Test func aRecurringOperationWhoseDigestChangedIsScheduledAgain() throws {
        let rsc = #"<primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><instance_attributes id="i"><nvpair id="i1" name="ip" value="1.2.3.4"/></instance_attributes><operations><op id="m" name="monitor" interval="10s" timeout="21s"/></operations></primitive>"#
        let start = op("a", "start", call: 1, extra: #"op-digest="\#(ParameterDigest.digest(["ip": "1.2.3.4"]))""#)
        func monitor(timeout: Int) -> String {
            op("a", "monitor", call: 2, interval: 10000,
               extra: #"op-digest="\#(ParameterDigest.digest(["ip": "1.2.3.4", "CRM_meta_timeout": String(timeout)]))""#)
        }
        let location = #"<rsc_location id="l" rsc="a" node="node1" score="100"/>"#
        let same = try schedule(resources: rsc, constraints: location, status: ["node1": lrm("a", start, monitor(timeout: 21000))])
        #expect(!lines(same).contains { $0.contains("monitor=10000") })
        // Its timeout was 20 s when it was scheduled: it is scheduled again, where it runs.
        let changed = try schedule(resources: rsc, constraints: location, status: ["node1": lrm("a", start, monitor(timeout: 20000))])
        #expect(lines(changed).contains("* Resource action: a monitor=10000 on node1"))
        #expect(changed.changes.isEmpty)
    }

    // MARK: Live migration

    @Test func aCompletedMigrationRunsOnTheTargetAndStopsTheSource() throws {
        let rsc = #"<primitive id="vm" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="allow-migrate" value="true"/></meta_attributes></primitive>"#
        let migration = #"migrate_source="node1" migrate_target="node2""#
        let t = try schedule(resources: rsc, constraints: #"<rsc_location id="l" rsc="vm" node="node2" score="100"/>"#,
                             status: ["node1": lrm("vm", op("vm", "start", call: 1), op("vm", "migrate_to", call: 2, extra: migration)),
                                      "node2": lrm("vm", op("vm", "migrate_from", call: 1, extra: migration))])
        // Nothing moves: it runs on node2; node1 only gets its stop.
        #expect(t.changes.isEmpty)
        #expect(lines(t).contains("* Resource action: vm stop on node1"))
        #expect(t.revised.resources.first { $0.id == "vm" }?.activeOn == ["node2"])
    }

    @Test func anOptionalOrderingDoesNotHoldBackWhatFollowsAMigratingStop() throws {
        let resources = """
        <primitive id="vm" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="allow-migrate" value="true"/></meta_attributes></primitive>
        <primitive id="base" class="ocf" provider="heartbeat" type="Dummy"/>
        """
        func run(_ kind: String) throws -> ActionGraph {
            try schedule(resources: resources,
                         constraints: #"<rsc_location id="l1" rsc="vm" node="node2" score="INFINITY"/><rsc_location id="l2" rsc="base" node="node2" score="INFINITY"/><rsc_order id="o" first="base" then="vm" kind="\#(kind)"/>"#,
                         status: ["node1": lrm("vm", op("vm", "start", call: 1)) + lrm("base", op("base", "start", call: 2))]).graph
        }
        func inputs(_ g: ActionGraph, _ key: String) -> [String] {
            guard let k = g.actions.firstIndex(where: { $0.key == key }) else { return [] }
            return g.inputs[k].map { g.actions[$0].key }
        }
        let optional = try run("Optional")
        #expect(optional.actions.contains { $0.task == "migrate_to" })
        #expect(!inputs(optional, "base_stop_0").contains("vm_stop_0"))
        // The migration itself still waits for the start of what comes first.
        #expect(inputs(optional, "vm_migrate_to_0").contains("base_start_0"))
    }

    // MARK: Clone instances

    @Test func anOfflineNodesHistoryIsNumberedInStatusOrderWhenFencingIsOn() throws {
        let clone = #"<clone id="c"><primitive id="p" class="ocf" provider="heartbeat" type="Dummy"/></clone>"#
        let t = try schedule(nodes: ["node3:offline", "node1", "node2"], fencing: true, resources: clone,
                             status: ["node3": lrm("p", op("p", "start", call: 1)), "node1": lrm("p", op("p", "start", call: 1))])
        // node3 comes first in the status: its copy is instance 0, which moves to node2 once
        // node3 is fenced (as Pacemaker 2.1.5's crm_simulate schedules it).
        let move = try #require(t.changes.first { $0.kind == .move })
        #expect(move.subject == "p:0")
        #expect(move.details == "node3 -> node2")
    }

    @Test func aNodeLostWithAnInstanceNeedingNoFencingMakesAnOrphan() throws {
        let clone = #"<clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="clone-max" value="2"/></meta_attributes><primitive id="p" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="pm"><nvpair id="pm1" name="requires" value="quorum"/></meta_attributes></primitive></clone>"#
        let t = try schedule(nodes: ["node3:offline", "node1", "node2"], fencing: true, resources: clone,
                             status: ["node3": lrm("p", op("p", "start", call: 1)), "node1": lrm("p", op("p", "start", call: 1))])
        // The lost copy takes no instance number: both numbers stay free for node1 and node2.
        #expect(t.changes.contains { $0.kind == .start && $0.details == "node2" })
        #expect(t.revised.resources.contains { $0.orphan && $0.configuredID == "p" })
    }

    @Test func anInstanceThatOnlyStopsDoesNotRestartWhatIsOrderedAfterTheClone() throws {
        let resources = """
        <clone id="c"><primitive id="p" class="ocf" provider="heartbeat" type="Dummy"/></clone>
        <primitive id="vm" class="ocf" provider="heartbeat" type="Dummy"/>
        """
        let t = try schedule(resources: resources,
                             constraints: #"<rsc_location id="ban" rsc="c" node="node2" score="-INFINITY"/><rsc_location id="l" rsc="vm" node="node1" score="100"/><rsc_order id="o" first="c" then="vm"/>"#,
                             status: ["node1": lrm("p", op("p", "start", call: 1)) + lrm("vm", op("vm", "start", call: 2)),
                                      "node2": lrm("p", op("p", "start", call: 1))])
        #expect(t.changes.contains { $0.kind == .stop && $0.details == "node2" })
        #expect(!t.changes.contains { $0.subject == "vm" })
    }

    // MARK: Groups and interleaved clones

    @Test func aGroupWithAMemberAssignedNowhereIsNeverRunning() throws {
        let resources = """
        <group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/>
          <primitive id="b" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="bm"><nvpair id="bm1" name="target-role" value="Stopped"/></meta_attributes></primitive></group>
        """
        let g = try schedule(resources: resources).graph
        #expect(g.actions.contains { $0.key == "g_start_0" })
        #expect(g.actions.contains { $0.key == "a_start_0" })
        #expect(!g.actions.contains { $0.key == "g_running_0" })
    }

    @Test func cloneMinCountsInstancesEvenForAnInterleavedDependent() throws {
        let resources = """
        <clone id="c1"><meta_attributes id="c1m"><nvpair id="c1m1" name="clone-min" value="2"/></meta_attributes><primitive id="p1" class="ocf" provider="heartbeat" type="Dummy"/></clone>
        <clone id="c2"><meta_attributes id="c2m"><nvpair id="c2m1" name="interleave" value="true"/></meta_attributes><primitive id="p2" class="ocf" provider="heartbeat" type="Dummy"/></clone>
        <clone id="c3"><meta_attributes id="c3m"><nvpair id="c3m1" name="interleave" value="true"/></meta_attributes><primitive id="p3" class="ocf" provider="heartbeat" type="Dummy"/></clone>
        """
        let t = try schedule(resources: resources,
                             constraints: #"<rsc_location id="ban" rsc="c1" node="node2" score="-INFINITY"/><rsc_order id="o1" first="c1" then="c2"/><rsc_order id="o2" first="c2" then="c3"/>"#)
        func reasons(_ prefix: String) -> [String] { t.changes.filter { $0.subject.hasPrefix(prefix) }.map { $0.reason ?? "" } }
        // Only one instance of c1 can run: c2 may start nowhere, and each c3 instance names
        // the c2 instance it waits for on its node (as crm_simulate 2.1.5 does).
        #expect(reasons("p2:") == ["due to unrunnable clone-one-or-more:o1 (blocked)", "due to unrunnable clone-one-or-more:o1 (blocked)"])
        #expect(reasons("p3:") == ["due to unrunnable p2:0 start (blocked)", "due to unrunnable p2:1 start (blocked)"])
    }
}
