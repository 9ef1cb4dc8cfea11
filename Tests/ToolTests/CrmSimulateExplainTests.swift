import Foundation
import Testing
import TestSupport

/// `crm_simulate --explain RSC` and `crm_resource --why`: the plain sentences saying why a
/// resource is placed where it is.
@Suite struct CrmSimulateExplainTests {
    /// node1 and node2 online, node3 in standby; d1 started on node1 with stickiness 100, a
    /// preference for node1 (1000), and two failures of its monitor on node2 (threshold 3).
    static let cib = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
            <nodes>
              <node id="1" uname="node1"/><node id="2" uname="node2"/>
              <node id="3" uname="node3"><instance_attributes id="n3"><nvpair id="n3a" name="standby" value="on"/></instance_attributes></node>
            </nodes>
            <resources>
              <primitive id="d1" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="d1-m">
                <nvpair id="d1-m1" name="resource-stickiness" value="100"/><nvpair id="d1-m2" name="migration-threshold" value="3"/>
              </meta_attributes></primitive>
            </resources>
            <constraints><rsc_location id="prefer-d1" rsc="d1" node="node1" score="1000"/></constraints>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">
              <lrm id="1"><lrm_resources><lrm_resource id="d1" class="ocf" provider="heartbeat" type="Dummy">
                <lrm_rsc_op id="d1_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
              </lrm_resource></lrm_resources></lrm>
            </node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member">
              <transient_attributes id="2"><instance_attributes id="status-2">
                <nvpair id="f1" name="fail-count-d1#monitor_10000" value="3"/>
              </instance_attributes></transient_attributes>
            </node_state>
            <node_state id="3" uname="node3" in_ccm="true" crmd="online" join="member" expected="member"/>
          </status>
        </cib>
        """

    func file() throws -> String {
        let path = scratchDirectory("crm_simulate-explain") + "/cib.xml"
        try Self.cib.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func explainsThePlacement() throws {
        let path = try file()
        let r = try Tool.run("crm_simulate", ["-x", path, "--explain", "d1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            d1 runs on node1 now and stays there.
            node1 scores 1100: location prefer-d1 (1000) + resource-stickiness 100.
            node2 scores -INFINITY: d1's monitor failed there 3 times (migration-threshold 3; crm_resource --cleanup -r d1 clears it).
            node3 scores 0: in standby.

            """)
        // With the what-if options: node1 down (its history gone with it), d1 can run on no node.
        let down = try Tool.run("crm_simulate", ["-x", path, "-d", "node1", "--explain", "d1"])
        #expect(down.status == 0, "\(down.stderr)")
        #expect(down.stdout.hasPrefix("d1 is stopped now and can run on no node.\nnode1 scores 1000: location prefer-d1 (1000); offline.\n"))
        // -L reads CIB_file.
        let live = try Tool.run("crm_simulate", ["-L", "--explain", "d1"], env: ["CIB_file": path])
        #expect(live.status == 0 && live.stdout == r.stdout, "\(live.stderr)")
    }

    @Test func unknownResourceIsNoSuchObject() throws {
        let r = try Tool.run("crm_simulate", ["-x", try file(), "--explain", "nope"])
        #expect(r.status == 105)
        #expect(r.stderr == "crm_simulate: Resource 'nope' not found\n")
        #expect(r.stdout.isEmpty)
    }

    /// crm_resource --why shows the same sentences after Pacemaker's lines (with -V off a
    /// terminal), as one paragraph broken into lines of at most 100 characters.
    @Test func crmResourceWhyUsesTheSameExplanation() throws {
        let path = try file()
        let why = try Tool.run("crm_resource", ["--why", "-r", "d1", "-V"], env: ["CIB_file": path])
        #expect(why.status == 0, "\(why.stderr)")
        #expect(why.stdout.hasPrefix("Resource d1 is running\n\nd1 runs on node1 now and stays there. node1 scores 1100:"))
        let paragraph = why.stdout.split(separator: "\n").dropFirst()
        #expect(paragraph.allSatisfy { $0.count <= 100 })
        #expect(paragraph.joined(separator: " ") == """
            d1 runs on node1 now and stays there. node1 scores 1100: location prefer-d1 (1000) + \
            resource-stickiness 100. node2 scores -INFINITY: d1's monitor failed there 3 times \
            (migration-threshold 3; crm_resource --cleanup -r d1 clears it). node3 scores 0: in standby.
            """)
        let plain = try Tool.run("crm_resource", ["--why", "-r", "d1"], env: ["CIB_file": path])
        #expect(plain.stdout == "Resource d1 is running\n")
        // crm resource why: the same.
        let crm = try Tool.run("crm", ["resource", "why", "d1"], env: ["CIB_file": path])
        #expect(crm.status == 0, "\(crm.stderr)")
        #expect(crm.stdout == why.stdout)
    }
}
