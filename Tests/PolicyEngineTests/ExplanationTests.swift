import CIB
import Foundation
import PolicyEngine
import Testing

/// The plain-words explanation of a placement: the facts it finds on small CIBs, and the
/// sentences it makes of them.
@Suite struct ExplanationTests {
    /// Four nodes: node1 and node2 online, node3 online but in standby, node4 offline (no
    /// status); node2 has the node attribute ssd=yes. d1's history on node1 is `node1`, the
    /// transient attributes of node1 `attributes`.
    static func cib(_ resources: String, constraints: String = "", node1: String = "", attributes: String = "") -> String {
        """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
            <nodes>
              <node id="1" uname="node1"/>
              <node id="2" uname="node2"><instance_attributes id="n2"><nvpair id="n2a" name="ssd" value="yes"/></instance_attributes></node>
              <node id="3" uname="node3"><instance_attributes id="n3"><nvpair id="n3a" name="standby" value="on"/></instance_attributes></node>
              <node id="4" uname="node4"/>
            </nodes>
            <resources>\(resources)</resources>
            <constraints>\(constraints)</constraints>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">\(node1)
              <transient_attributes id="1"><instance_attributes id="status-1">\(attributes)</instance_attributes></transient_attributes>
            </node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>
            <node_state id="3" uname="node3" in_ccm="true" crmd="online" join="member" expected="member"/>
          </status>
        </cib>
        """
    }

    static func primitive(_ id: String, meta: [(String, String)] = []) -> String {
        let nv = meta.map { #"<nvpair id="\#(id)-\#($0.0)" name="\#($0.0)" value="\#($0.1)"/>"# }.joined()
        return #"<primitive id="\#(id)" class="ocf" provider="heartbeat" type="Dummy">"#
            + (nv.isEmpty ? "" : #"<meta_attributes id="\#(id)-meta">\#(nv)</meta_attributes>"#) + "</primitive>"
    }

    /// d1 started on node1.
    static let d1Running = """
        <lrm id="1"><lrm_resources><lrm_resource id="d1" class="ocf" provider="heartbeat" type="Dummy">
          <lrm_rsc_op id="d1_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
        </lrm_resource></lrm_resources></lrm>
        """

    func explain(_ xml: String, _ rsc: String, now: Int = 1000) throws -> Explanation {
        let e = Explanation.explain(SchedulerInput(cib: try CIB.parse(xml), now: now), resource: rsc)
        return try #require(e)
    }

    @Test func locationPreferenceAndStickiness() throws {
        let xml = Self.cib(Self.primitive("d1", meta: [("resource-stickiness", "100")]),
                           constraints: #"<rsc_location id="prefer-d1" rsc="d1" node="node1" score="1000"/>"#, node1: Self.d1Running)
        let e = try explain(xml, "d1")
        #expect(e.runningOn == ["node1"] && e.placedOn == ["node1"])
        #expect(e.score(on: "node1") == 1100)
        #expect(e.facts(on: "node1") == [.location(id: "prefer-d1", rule: nil, score: 1000), .stickiness(resource: "d1", score: 100)])
        #expect(e.score(on: "node2") == 0)
        #expect(e.lines[0] == "d1 runs on node1 now and stays there.")
        #expect(e.lines.contains("node1 scores 1100: location prefer-d1 (1000) + resource-stickiness 100."))
        #expect(e.lines.contains("node2 scores 0."))
    }

    @Test func standbyAndOfflineNodes() throws {
        let e = try explain(Self.cib(Self.primitive("d1")), "d1")
        #expect(e.facts(on: "node3") == [.nodeState("in standby")])
        #expect(e.facts(on: "node4") == [.nodeState("offline")])
        #expect(e.lines.contains("node3 scores 0: in standby."))
        #expect(e.lines.contains("node4 scores 0: offline."))
        #expect(e.placedOn == ["node1"] || e.placedOn == ["node2"])
        #expect(e.lines[0].hasPrefix("d1 is stopped now and starts on node"))
    }

    @Test func failCountReachingMigrationThresholdBansTheNode() throws {
        let xml = Self.cib(Self.primitive("d1", meta: [("migration-threshold", "3"), ("failure-timeout", "60s")]),
                           node1: Self.d1Running,
                           attributes: #"<nvpair id="f1" name="fail-count-d1#monitor_10000" value="3"/><nvpair id="f2" name="last-failure-d1#monitor_10000" value="1000"/>"#)
        let e = try explain(xml, "d1", now: 1030)
        #expect(e.score(on: "node1") == -Score.infinity)
        #expect(e.facts(on: "node1") == [.failures(resource: "d1", operations: ["monitor"], count: 3, threshold: 3, bans: true,
                                                   failureTimeout: 60, expiresAt: 1060)])
        #expect(e.placedOn == ["node2"])
        #expect(e.lines[0] == "d1 runs on node1 now and moves to node2.")
        #expect(e.lines.contains("node1 scores -INFINITY: d1's monitor failed there 3 times (migration-threshold 3; fail count expires after failure-timeout 60s, at 1970-01-01 00:17:40Z)."))
        // Once the failure timeout has passed, the count no longer bans node1.
        let later = try explain(xml, "d1", now: 1100)
        #expect(later.placedOn == ["node1"])
        #expect(later.score(on: "node1") != -Score.infinity)
    }

    @Test func mandatoryColocationWithAStoppedResource() throws {
        let xml = Self.cib(Self.primitive("d0", meta: [("target-role", "Stopped")]) + Self.primitive("d2"),
                           constraints: #"<rsc_colocation id="d2-with-d0" rsc="d2" with-rsc="d0" score="INFINITY"/>"#)
        let e = try explain(xml, "d2")
        #expect(e.placedOn.isEmpty)
        #expect(e.lines[0] == "d2 is stopped now and can run on no node.")
        #expect(e.facts(on: "node1") == [.colocation(id: "d2-with-d0", score: Score.infinity, with: "d0", withGoesTo: [], effect: -Score.infinity)])
        #expect(e.score(on: "node1") == -Score.infinity)
        #expect(e.lines.contains("node1 scores -INFINITY: colocation d2-with-d0 (INFINITY) ties it to d0, and d0 runs nowhere."))
        // And d0 says why it is stopped, and that d2 wants to be with it.
        let d0 = try explain(xml, "d0")
        #expect(d0.facts.contains(.targetRole(.stopped)))
        #expect(d0.facts.contains(.dependent(id: "d2-with-d0", score: Score.infinity, resource: "d2")))
        #expect(d0.lines[0...1] == ["d0 is stopped now and stays stopped.", "Its target-role is Stopped, so the cluster keeps it stopped."])
    }

    @Test func cliBanIsNamedWithHowToClearIt() throws {
        let xml = Self.cib(Self.primitive("d1"),
                           constraints: #"<rsc_location id="cli-ban-d1-on-node1" rsc="d1" role="Started" node="node1" score="-INFINITY"/>"#,
                           node1: Self.d1Running)
        let e = try explain(xml, "d1")
        #expect(e.facts(on: "node1") == [.location(id: "cli-ban-d1-on-node1", rule: nil, score: -Score.infinity)])
        #expect(e.placedOn == ["node2"])
        #expect(e.lines.contains("node1 scores -INFINITY: banned by cli-ban-d1-on-node1 (-INFINITY, made by crm_resource --ban or --move; crm_resource --clear -r d1 removes it)."))
    }

    @Test func ruleBasedLocation() throws {
        let xml = Self.cib(Self.primitive("d1"), constraints: """
            <rsc_location id="loc-ssd" rsc="d1"><rule id="loc-ssd-rule" score="500"><expression id="loc-ssd-e" attribute="ssd" operation="eq" value="yes"/></rule></rsc_location>
            """)
        let e = try explain(xml, "d1")
        #expect(e.facts(on: "node2") == [.location(id: "loc-ssd", rule: "loc-ssd-rule", score: 500)])
        #expect(e.facts(on: "node1") == [])
        #expect(e.score(on: "node2") == 500)
        #expect(e.placedOn == ["node2"])
        #expect(e.lines.contains("node2 scores 500: location loc-ssd (500, rule loc-ssd-rule matched)."))
    }

    @Test func groupMembersFollowTheFirst() throws {
        let xml = Self.cib(#"<group id="g">"# + Self.primitive("a") + Self.primitive("b") + "</group>",
                           constraints: #"<rsc_location id="g-on-2" rsc="g" node="node2" score="50"/>"#)
        let g = try explain(xml, "g")
        #expect(g.facts.contains(.groupOf(members: ["a", "b"])))
        #expect(g.facts(on: "node2") == [.location(id: "g-on-2", rule: nil, score: 50)])
        #expect(g.placedOn == ["node2"])
        let b = try explain(xml, "b")
        #expect(b.facts.contains(.groupMember(group: "g", follows: "a")))
        #expect(b.facts(on: "node2") == [])
    }

    /// A running group: its members' stickiness is weighed on the members, not in the
    /// group's own score, so the node's line lists the facts without a sum that does not hold.
    @Test func aLineShowsASumOnlyWhenTheFactsAddUpToTheScore() throws {
        let xml = Self.cib(#"<group id="g">"# + Self.primitive("d1", meta: [("resource-stickiness", "100")]) + "</group>",
                           constraints: #"<rsc_location id="g-on-1" rsc="g" node="node1" score="200"/>"#, node1: Self.d1Running)
        let g = try explain(xml, "g")
        // Pacemaker's scores: g 200 on node1 (the location), d1 300 (with its stickiness).
        #expect(g.score(on: "node1") == 200)
        #expect(g.facts(on: "node1") == [.location(id: "g-on-1", rule: nil, score: 200), .stickiness(resource: "d1", score: 100)])
        #expect(g.lines.contains("node1 scores 200, weighing: location g-on-1 (200); resource-stickiness 100 (d1)."))
        let d1 = try explain(xml, "d1")
        #expect(d1.score(on: "node1") == 300)
        #expect(d1.lines.contains("node1 scores 300: location g-on-1 (200) + resource-stickiness 100."))
    }

    @Test func cloneLimitsAndInstances() throws {
        let xml = Self.cib(#"<clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="clone-max" value="1"/></meta_attributes>"#
                           + Self.primitive("d1") + "</clone>",
                           node1: Self.d1Running.replacingOccurrences(of: #"<lrm_resource id="d1""#, with: #"<lrm_resource id="d1:0""#))
        let c = try explain(xml, "c")
        #expect(c.kind == "clone")
        #expect(c.facts.contains(.cloneLimits(cloneMax: 1, cloneNodeMax: 1)))
        #expect(c.runningOn == ["node1"] && c.placedOn == ["node1"])
        #expect(c.facts(on: "node1") == [.instanceHere(instance: "d1:0", stickiness: 1)])
        #expect(c.lines.contains("It runs at most 1 copy (clone-max), at most 1 on one node (clone-node-max)."))
        // The configured id of the clone's primitive names the clone.
        #expect(try explain(xml, "d1").resource == "c")
    }

    @Test func noQuorum() throws {
        let xml = Self.cib(Self.primitive("d1"), node1: Self.d1Running).replacingOccurrences(of: #"have-quorum="1""#, with: #"have-quorum="0""#)
        let e = try explain(xml, "d1")
        #expect(e.facts.contains(.noQuorum(policy: "stop")))
        #expect(e.placedOn.isEmpty)
        #expect(e.lines[0] == "d1 runs on node1 now and will be stopped.")
        #expect(e.lines.contains("This partition has no quorum, and no-quorum-policy is stop, so resources stop."))
    }

    @Test func unknownResource() throws {
        #expect(Explanation.explain(SchedulerInput(cib: try CIB.parse(Self.cib(Self.primitive("d1"))), now: 0), resource: "nope") == nil)
    }
}
