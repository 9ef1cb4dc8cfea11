import CIB
import Foundation
import PolicyEngine
import Testing

/// Bundles on a two-node cluster: replica placement and promotion inside a promotable bundle.
@Suite struct BundleTests {
    static func bundle(replicas: Int, promotedMax: Int? = nil) -> String {
        let promoted = promotedMax.map { #" promoted-max="\#($0)""# } ?? ""
        return """
            <bundle id="b"><podman image="img" replicas="\(replicas)"\(promoted)/>
              <network control-port="3121"/>
              <primitive id="base" class="ocf" provider="pacemaker" type="Stateful"/>
            </bundle>
            <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>
            """
    }

    @Test func eachHostTakesOneReplicaAndABannedHostNone() throws {
        let t = try TwoNodeCluster.schedule(Self.bundle(replicas: 2), constraints: #"<rsc_location id="l" rsc="b" node="node1" score="-INFINITY"/>"#)
        let containers = t.placements.filter { $0.resource.hasPrefix("b-podman-") }
        #expect(containers.map(\.next) == ["node2", nil])
        // The second replica's resource has no container to run in.
        #expect(t.changes.contains { $0.kind == .start && $0.subject == "base:0" && $0.details == "b-0" })
        #expect(!t.changes.contains { $0.subject == "base:1" })
    }

    @Test func aPromotedRoleColocationChoosesTheReplicaToPromote() throws {
        let withVip = """
            <rsc_location id="l" rsc="vip" node="node2" score="100"/>
            <rsc_colocation id="c" rsc="b" rsc-role="Promoted" with-rsc="vip" score="INFINITY"/>
            """
        let t = try TwoNodeCluster.schedule(Self.bundle(replicas: 2, promotedMax: 1), constraints: withVip)
        let containers = t.placements.filter { $0.resource.hasPrefix("b-podman-") }
        // The colocation of the Promoted role does not move the containers...
        #expect(Set(containers.compactMap(\.next)) == ["node1", "node2"])
        // ...it promotes the copy whose container shares vip's node.
        let onNode2 = containers.first { $0.next == "node2" }!.resource.replacingOccurrences(of: "b-podman-", with: "")
        let promotes = t.changes.filter { $0.kind == .promote }
        #expect(promotes.map(\.subject) == ["base:\(onNode2)"])
        #expect(promotes.first?.details == "Stopped -> Promoted b-\(onNode2)")
        #expect(t.changes.filter { $0.kind == .start }.map(\.subject).contains("base:\(onNode2 == "0" ? "1" : "0")"))
    }

    @Test func withoutAPromotionScoreNothingIsPromoted() throws {
        let t = try TwoNodeCluster.schedule(Self.bundle(replicas: 2, promotedMax: 1))
        #expect(!t.changes.contains { $0.kind == .promote })
        #expect(t.changes.filter { $0.kind == .start && $0.subject.hasPrefix("base:") }.count == 2)
    }

    @Test func startingABundleGoesThroughTheBundlesAndItsClonesPoints() throws {
        let t = try TwoNodeCluster.schedule(Self.bundle(replicas: 1))
        let keys = t.graph.actions.map(\.key)
        for key in ["b_start_0", "b_running_0", "b-clone_start_0", "b-clone_running_0", "b-podman-0_start_0", "b-0_start_0", "base:0_start_0"] {
            #expect(keys.contains(key), "missing \(key)")
        }
        let order = t.graph.simulationLines()
        func position(_ text: String) -> Int? { order.firstIndex { $0.contains(text) } }
        // The bundle's start, its container, connection and copy in turn, the clone's and
        // the bundle's running points; the clone's start comes before the copy's too.
        let chain = ["Pseudo action:   b_start_0", "b-podman-0      start on", "b-0             start on",
                     "base:0          start on b-0", "Pseudo action:   b-clone_running_0", "Pseudo action:   b_running_0"]
        let positions = chain.map(position)
        #expect(!positions.contains(nil), "\(order)")
        let found = positions.compactMap { $0 }
        #expect(found == found.sorted(), "\(order)")
        if let cloneStart = position("Pseudo action:   b-clone_start_0"), let copy = position("base:0          start on b-0"),
           let bundleStart = position("Pseudo action:   b_start_0") {
            #expect(bundleStart < cloneStart && cloneStart < copy)
        } else {
            Issue.record("no clone start or copy start: \(order)")
        }
    }

    @Test func anUnmanagedRunningResourceIsStillMonitored() throws {
        let rsc = """
            <primitive id="d" class="ocf" provider="pacemaker" type="Dummy">
              <meta_attributes id="d-m"><nvpair id="d-m1" name="is-managed" value="false"/></meta_attributes>
              <operations><op id="d-mon" name="monitor" interval="10s"/></operations>
            </primitive>
            """
        let running = """
            <lrm id="1"><lrm_resources><lrm_resource id="d" class="ocf" provider="pacemaker" type="Dummy">
              <lrm_rsc_op id="d_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
            </lrm_resource></lrm_resources></lrm>
            """
        let t = try TwoNodeCluster.schedule(rsc, status: running)
        let onNode1 = t.graph.actions.filter { $0.node == "node1" && $0.resource == "d" }.map(\.key)
        #expect(onNode1 == ["d_monitor_10000"])
        #expect(t.changes.isEmpty)
    }

    /// A bundle that must run with another bundle none of whose containers can run cannot
    /// start its copies: the colocation with that container is the reason its copy stops
    /// (rather than its own container's unrunnable start, which its connection still gives).
    @Test func aCopyStopsForItsBundlesColocationWithABundleThatCannotRun() throws {
        let xml = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources>
              <bundle id="b"><podman image="img" replicas="1"/><network control-port="3121"/>
                <primitive id="base" class="ocf" provider="heartbeat" type="Dummy"/>
              </bundle>
              <bundle id="h"><podman image="himg" replicas="1"/></bundle>
            </resources>
            <constraints>
              <rsc_location id="h-ban1" rsc="h" node="node1" score="-INFINITY"/>
              <rsc_location id="h-ban2" rsc="h" node="node2" score="-INFINITY"/>
              <rsc_colocation id="bh" rsc="b" with-rsc="h" score="INFINITY"/>
            </constraints>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">
              <lrm id="1"><lrm_resources>
                <lrm_resource id="b-podman-0" class="ocf" provider="heartbeat" type="podman"><lrm_rsc_op id="b-podman-0_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/></lrm_resource>
                <lrm_resource id="b-0" class="ocf" provider="pacemaker" type="remote"><lrm_rsc_op id="b-0_last_0" operation="start" call-id="2" rc-code="0" op-status="0" interval="0" transition-key="2:1:0:x"/></lrm_resource>
                <lrm_resource id="h-podman-0" class="ocf" provider="heartbeat" type="podman"><lrm_rsc_op id="h-podman-0_last_0" operation="start" call-id="3" rc-code="0" op-status="0" interval="0" transition-key="3:1:0:x"/></lrm_resource>
              </lrm_resources></lrm>
            </node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>
            <node_state id="b-0" uname="b-0" remote_node="true"><lrm id="b-0"><lrm_resources>
              <lrm_resource id="base" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="base_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/></lrm_resource>
            </lrm_resources></lrm></node_state>
          </status>
        </cib>
        """
        let (_, t) = Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 0))
        let stops = Dictionary(uniqueKeysWithValues: t.changes.filter { $0.kind == .stop }.map { ($0.subject, $0.reason ?? "") })
        #expect(stops["base:0"] == "due to colocation with h-podman-0")
        #expect(stops["b-0"] == "due to unrunnable b-podman-0 start")
        #expect(stops["b-podman-0"] == "due to node availability")
    }
}
