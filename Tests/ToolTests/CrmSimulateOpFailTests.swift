import CIB
import Foundation
import Testing
import TestSupport

/// crm_simulate --op-fail: an action of the simulated transition fails, the failure is
/// recorded, the transition stops there. The expected texts were checked against Pacemaker
/// 2.1.5's crm_simulate on the same CIBs; they differ from it only where SwiftHA follows
/// Pacemaker 3 on purpose: the action numbers (the graph's, as -G saves it), a failed start or
/// stop counted as INFINITY, and the failure time (the CIB's execution date, not the clock).
@Suite struct CrmSimulateOpFailTests {
    static let header = """
    <cib epoch="1" num_updates="0" admin_epoch="0" validate-with="pacemaker-3.7" have-quorum="1" dc-uuid="1" execution-date="1700000000">
      <configuration>
    """

    static func node(_ id: Int, _ history: String = "") -> String {
        """
        <node_state id="\(id)" uname="node\(id)" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="\(id)"><lrm_resources>\(history)</lrm_resources></lrm></node_state>
        """
    }

    static func op(_ rsc: String, _ task: String, rc: Int, call: Int, _ cls: String = #"class="ocf" provider="heartbeat" type="Dummy""#) -> String {
        let digest = #"op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8""#
        return """
        <lrm_resource id="\(rsc)" \(cls)><lrm_rsc_op id="\(rsc)_last_0" operation_key="\(rsc)_\(task)_0" operation="\(task)" call-id="\(call)" rc-code="\(rc)" op-status="0" interval="0" transition-key="\(call):1:\(rc):x" transition-magic="0:\(rc);\(call):1:\(rc):x" \(digest)/></lrm_resource>
        """
    }

    /// Fencing on; d1 moves from node1 to node2 and d2 (ordered after d1) restarts on node1.
    static let moving = header + """
        <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
        <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
        <resources>
          <primitive class="stonith" id="fence" type="fence_dummy"/>
          <primitive class="ocf" id="d1" provider="heartbeat" type="Dummy"><operations><op id="d1-mon" interval="10s" name="monitor"/></operations></primitive>
          <primitive class="ocf" id="d2" provider="heartbeat" type="Dummy"><operations><op id="d2-mon" interval="10s" name="monitor"/></operations></primitive>
        </resources>
        <constraints><rsc_location id="l1" rsc="d1" node="node2" score="100"/><rsc_order id="ord" first="d1" then="d2"/></constraints>
      </configuration>
      <status>
        \(node(1, op("fence", "start", rc: 0, call: 1, #"class="stonith" type="fence_dummy""#) + op("d1", "start", rc: 0, call: 2) + op("d2", "start", rc: 0, call: 3)))
        \(node(2, op("fence", "monitor", rc: 7, call: 3, #"class="stonith" type="fence_dummy""#) + op("d1", "monitor", rc: 7, call: 1) + op("d2", "monitor", rc: 7, call: 2)))
      </status>
    </cib>
    """

    /// Fencing off; nothing runs yet: d1 starts on node1, group g (g1, g2) on node2.
    static let starting = header + """
        <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
        <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
        <resources>
          <primitive class="ocf" id="d1" provider="heartbeat" type="Dummy"><operations><op id="d1-mon" interval="10s" name="monitor"/></operations></primitive>
          <group id="g">
            <primitive class="ocf" id="g1" provider="heartbeat" type="Dummy"><operations><op id="g1-mon" interval="10s" name="monitor"/></operations></primitive>
            <primitive class="ocf" id="g2" provider="heartbeat" type="Dummy"><operations><op id="g2-mon" interval="10s" name="monitor"/></operations></primitive>
          </group>
        </resources>
        <constraints><rsc_location id="l1" rsc="d1" node="node1" score="100"/><rsc_location id="l2" rsc="g" node="node2" score="100"/></constraints>
      </configuration>
      <status>\(node(1))\(node(2))</status>
    </cib>
    """

    /// Fencing off; an anonymous clone with notifications starts on both nodes.
    static let clone = header + """
        <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
        <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
        <resources>
          <clone id="c"><meta_attributes id="c-m"><nvpair id="c-m1" name="notify" value="true"/></meta_attributes>
            <primitive class="ocf" id="s" provider="pacemaker" type="Stateful"><operations><op id="s-mon" interval="10s" name="monitor"/></operations></primitive>
          </clone>
          <primitive class="ocf" id="after" provider="heartbeat" type="Dummy"/>
        </resources>
        <constraints><rsc_order id="ord" first="c" then="after"/></constraints>
      </configuration>
      <status>\(node(1))\(node(2))</status>
    </cib>
    """

    func run(_ cib: String, _ args: [String]) throws -> Tool.Result {
        let dir = scratchDirectory("crm_simulate-op-fail")
        let path = dir + "/cib.xml"
        try cib.write(toFile: path, atomically: true, encoding: .utf8)
        return try Tool.run("crm_simulate", ["-x", path, "-S"] + args)
    }

    /// A failed stop with fencing on: the transition stops at it, the node must be fenced.
    @Test func failedStopStopsTheTransitionAndLeavesTheNodeUnclean() throws {
        let r = try run(Self.moving, ["--op-fail", "d1_stop_0@node1=1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty)
        #expect(r.stdout == """
        Using the original execution date of: 2023-11-14 22:13:20Z
        Current cluster status:
          * Node List:
            * Online: [ node1 node2 ]

          * Full List of Resources:
            * fence\t(stonith:fence_dummy):\t Started node1
            * d1\t(ocf:heartbeat:Dummy):\t Started node1
            * d2\t(ocf:heartbeat:Dummy):\t Started node1

        Transition Summary:
          * Move       d1      ( node1 -> node2 )
          * Restart    d2      (          node1 )  due to required d1 start

        Executing Cluster Transition:
          * Resource action: d2              stop on node1
          * Resource action: d1              stop on node1
        Pretending action 0 failed with rc=1
          * Injecting attribute fail-count-d1#stop_0=INFINITY into /node_state '1'
          * Injecting attribute last-failure-d1#stop_0=1700000000 into /node_state '1'
        Using the original execution date of: 2023-11-14 22:13:20Z

        Revised Cluster Status:
          * Node List:
            * Node node1: UNCLEAN (online)
            * Online: [ node2 ]

          * Full List of Resources:
            * fence\t(stonith:fence_dummy):\t Started node1
            * d1\t(ocf:heartbeat:Dummy):\t FAILED node1
            * d2\t(ocf:heartbeat:Dummy):\t Stopped

        """)
    }

    /// A recurring monitor finding the resource not running (rc 7) is a failure; the monitor
    /// of d2, ready in the same pass, no longer runs.
    @Test func failedMonitor() throws {
        let r = try run(Self.moving, ["-F", "d1_monitor_10000@node2=7"])
        #expect(r.status == 0, "\(r.stderr)")
        let executing = r.stdout.components(separatedBy: "Executing Cluster Transition:\n").last ?? ""
        #expect(executing == """
          * Resource action: d2              stop on node1
          * Resource action: d1              stop on node1
          * Resource action: d1              start on node2
          * Resource action: d2              start on node1
          * Resource action: d1              monitor=10000 on node2
        Pretending action 2 failed with rc=7
          * Injecting attribute fail-count-d1#monitor_10000=value++ into /node_state '2'
          * Injecting attribute last-failure-d1#monitor_10000=1700000000 into /node_state '2'
        Using the original execution date of: 2023-11-14 22:13:20Z

        Revised Cluster Status:
          * Node List:
            * Online: [ node1 node2 ]

          * Full List of Resources:
            * fence\t(stonith:fence_dummy):\t Started node1
            * d1\t(ocf:heartbeat:Dummy):\t FAILED node2
            * d2\t(ocf:heartbeat:Dummy):\t Started node1

        """)
    }

    /// A failed start aborts the transition: the group's starts on the other node, which do
    /// not wait for it, do not run either. A start finding the resource not running (rc 7)
    /// fails it without counting a failure.
    @Test func failedStartAbortsIndependentActionsToo() throws {
        let r = try run(Self.starting, ["--op-fail", "d1_start_0@node1=1"])
        #expect(r.status == 0, "\(r.stderr)")
        let executing = r.stdout.components(separatedBy: "Executing Cluster Transition:\n").last ?? ""
        #expect(executing == """
          * Resource action: d1              monitor on node2
          * Resource action: d1              monitor on node1
          * Pseudo action:   g_start_0
          * Resource action: g1              monitor on node2
          * Resource action: g1              monitor on node1
          * Resource action: g2              monitor on node2
          * Resource action: g2              monitor on node1
          * Resource action: d1              start on node1
        Pretending action 6 failed with rc=1
          * Injecting attribute fail-count-d1#start_0=INFINITY into /node_state '1'
          * Injecting attribute last-failure-d1#start_0=1700000000 into /node_state '1'
        Using the original execution date of: 2023-11-14 22:13:20Z

        Revised Cluster Status:
          * Node List:
            * Online: [ node1 node2 ]

          * Full List of Resources:
            * d1\t(ocf:heartbeat:Dummy):\t FAILED node1
            * Resource Group: g:
              * g1\t(ocf:heartbeat:Dummy):\t Stopped
              * g2\t(ocf:heartbeat:Dummy):\t Stopped

        """)
        let notRunning = try run(Self.starting, ["--op-fail", "G1_start_0@NODE2=7"])
        #expect(notRunning.stdout.contains("  * Resource action: g1              start on node2\nPretending action 8 failed with rc=7\nUsing"))
        #expect(notRunning.stdout.contains("      * g1\t(ocf:heartbeat:Dummy):\t FAILED node2\n      * g2\t(ocf:heartbeat:Dummy):\t Stopped\n"))
    }

    /// After the failure, what has priority INFINITY still runs once its inputs are done: the
    /// clone's pseudo-actions and its post-notifications. The instance may be named by its
    /// configured id; the failure counts under that name.
    @Test func postNotificationsStillRunAfterTheFailure() throws {
        let dir = scratchDirectory("crm_simulate-op-fail-clone")
        let path = dir + "/cib.xml", out = dir + "/out.xml"
        try Self.clone.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try Tool.run("crm_simulate", ["-x", path, "-S", "-O", out, "-F", "s_start_0@node2=1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("""
          * Resource action: s:1             start on node2
        Pretending action 6 failed with rc=1
          * Injecting attribute fail-count-s#start_0=INFINITY into /node_state '2'
          * Injecting attribute last-failure-s#start_0=1700000000 into /node_state '2'
          * Pseudo action:   c_running_0
          * Pseudo action:   c_post_notify_running_0
          * Resource action: s:0             notify on node1
          * Resource action: s:1             notify on node2
          * Pseudo action:   c_confirmed-post_notify_running_0
        Using
        """))
        #expect(r.stdout.hasSuffix("""
            * Clone Set: c [s]:
              * s\t(ocf:pacemaker:Stateful):\t FAILED node2
              * Started: [ node1 ]
            * after\t(ocf:heartbeat:Dummy):\t Stopped

        """))
        // -O: the failure as the simulation records it (and the notifications, as successes).
        let saved = try XElement.parse(String(contentsOfFile: out, encoding: .utf8))
        var ops: [String: [XElement]] = [:]
        saved.walk { e in if e.name == "lrm_rsc_op" { ops[e.id ?? "", default: []].append(e) } }
        let failure = try #require(ops["s_last_failure_0"]?.first)
        #expect(failure["rc-code"] == "1" && failure["exit-reason"] == "User-injected result")
        #expect(failure["transition-magic"] == "0:1;2:-1:0:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
        #expect(ops["s_post_notify_start_0"]?.count == 2)
        var counts: [XElement] = []
        saved.walk { e in if e.name == "nvpair", (e["name"] ?? "").hasPrefix("fail-count") { counts.append(e) } }
        #expect(counts.map { $0.id } == ["2-fail-count-s.start_0"])
    }

    /// A malformed spec is a usage error naming it and the form; a resource that is not
    /// configured is unknown; a spec that matches no action that ran is said on stderr.
    @Test func badSpecs() throws {
        for spec in ["garbage", "d1_start_0@node1", "d1_start_0@node1=x", "d1start@node1=1", "d1_start_0@=1"] {
            let r = try run(Self.starting, ["--op-fail", spec])
            #expect(r.status == 64, "\(spec): \(r.status)")
            #expect(r.stdout.isEmpty)
            #expect(r.stderr.hasPrefix("crm_simulate: --op-fail '\(spec)': "))
            #expect(r.stderr.contains("RESOURCE_TASK_INTERVAL@NODE=RC"))
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
        let unknown = try run(Self.starting, ["--op-fail", "nosuch_start_0@node1=1"])
        #expect(unknown.status == 105)
        #expect(unknown.stderr == "crm_simulate: --op-fail 'nosuch_start_0@node1=1': no primitive 'nosuch' in the configuration\n")
        let unmatched = try run(Self.starting, ["--op-fail", "d1_start_0@node2=1"])
        #expect(unmatched.status == 0)
        #expect(unmatched.stderr.contains("'d1_start_0@node2=1' matched no action"))
        #expect(!unmatched.stdout.contains("Pretending"))
        #expect(unmatched.stdout.contains("    * d1\t(ocf:heartbeat:Dummy):\t Started node1\n"))
    }
}
