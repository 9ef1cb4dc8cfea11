import Foundation
import Testing
import TestSupport

/// crm_mon's section choice (-I/--include, -U/--exclude and the options that stand for them),
/// its --node and --resource filters and the order of its tickets. Each expected text is what
/// Pacemaker 2.1.5's crm_mon printed for the same CIB (TZ=UTC, "Last updated" left out).
@Suite struct CrmMonSectionsTests {
    static let cib = """
        <cib validate-with="pacemaker-3.9" epoch="3" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1" cib-last-written="Mon Nov 23 10:00:00 2026">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/><nvpair id="o2" name="no-quorum-policy" value="freeze"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/><node id="3" uname="node3"/></nodes>
            <resources>
              <group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></group>
              <primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/>
              <primitive id="db" class="ocf" provider="heartbeat" type="Dummy"/>
            </resources>
            <constraints>
              <rsc_location id="ban-db" rsc="db" node="node3" score="-INFINITY"/>
              <rsc_ticket id="t1" rsc="db" ticket="tkt-b" loss-policy="stop"/>
            </constraints>
            <tags><tag id="front"><obj_ref id="web"/></tag><tag id="pair"><obj_ref id="2"/><obj_ref id="3"/></tag></tags>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">
              <transient_attributes id="1"><instance_attributes id="s1"><nvpair id="s1a" name="site" value="east"/></instance_attributes></transient_attributes>
              <lrm id="1"><lrm_resources>
                <lrm_resource id="a" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="a_last_0" operation="start" call-id="4" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x" last-rc-change="1700000000" exec-time="12" queue-time="0"/></lrm_resource>
                <lrm_resource id="b" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="b_last_0" operation="start" call-id="5" rc-code="0" op-status="0" interval="0" transition-key="2:1:0:x" last-rc-change="1700000000" exec-time="12" queue-time="0"/></lrm_resource>
              </lrm_resources></lrm>
            </node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member">
              <transient_attributes id="2"><instance_attributes id="s2"><nvpair id="s2a" name="site" value="west"/><nvpair id="s2f" name="fail-count-web" value="1"/><nvpair id="s2l" name="last-failure-web" value="1700000100"/></instance_attributes></transient_attributes>
              <lrm id="2"><lrm_resources>
                <lrm_resource id="web" class="ocf" provider="heartbeat" type="Dummy">
                  <lrm_rsc_op id="web_last_0" operation="start" call-id="6" rc-code="0" op-status="0" interval="0" transition-key="3:1:0:x" last-rc-change="1700000000" exec-time="12" queue-time="0"/>
                  <lrm_rsc_op id="web_last_failure_0" operation_key="web_monitor_10000" operation="monitor" call-id="7" rc-code="7" op-status="0" interval="10000" transition-key="4:1:0:x" last-rc-change="1700000100" exec-time="3" queue-time="0"/>
                </lrm_resource>
              </lrm_resources></lrm>
            </node_state>
            <node_state id="3" uname="node3" in_ccm="true" crmd="online" join="member" expected="member"/>
            <tickets><ticket_state id="tkt-a" granted="true" last-granted="1700000000"/><ticket_state id="tkt-c" granted="false" standby="true"/></tickets>
          </status>
        </cib>
        """

    static func run(_ args: [String]) throws -> (text: String, status: Int32) {
        let path = scratchDirectory("crm_mon-sections") + "/cib.xml"
        try cib.write(toFile: path, atomically: true, encoding: .utf8)
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        let r = try Tool.run(executable: ours, args, env: ["CIB_file": path, "TZ": "UTC"])
        let text = (r.stdout + r.stderr).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("  * Last updated:") }.joined(separator: "\n")
        return (text, r.status)
    }

    /// Blocks (each ending in a newline) as crm_mon separates them: by a blank line.
    static func page(_ blocks: String...) -> String { blocks.joined(separator: "\n") }

    static let summary = """
        Cluster Summary:
          * Stack: unknown
          * Current DC: node1 (version unknown) - partition with quorum
          * Last change:  Mon Nov 23 10:00:00 2026
          * 3 nodes configured
          * 4 resource instances configured

        """
    static let nodes = "Node List:\n  * Online: [ node1 node2 node3 ]\n"
    static let resources = """
        Active Resources:
          * Resource Group: g:
            * a\t(ocf:heartbeat:Dummy):\t Started node1
            * b\t(ocf:heartbeat:Dummy):\t Started node1
          * web\t(ocf:heartbeat:Dummy):\t FAILED node2

        """
    static let web = "Active Resources:\n  * web\t(ocf:heartbeat:Dummy):\t FAILED node2\n"
    static let failed = """
        Failed Resource Actions:
          * web 10s-interval monitor on node2 returned 'not running' at Tue Nov 14 22:15:00 2023 after 3ms

        """
    static let tickets = """
        Tickets:
          * tkt-a: granted last-granted="Tue Nov 14 22:13:20 2023"
          * tkt-c: revoked [standby]
          * tkt-b: revoked

        """
    static let bans = "Negative Location Constraints:\n  * ban-db\tprevents db from running on node3\n"

    @Test func includeAndExcludeFromLeftToRight() throws {
        #expect(try Self.run(["-1"]).text == Self.page(Self.summary, Self.nodes, Self.resources, Self.failed))
        #expect(try Self.run(["-1", "-I", "none", "-I", "nodes,failures"]).text == Self.page(Self.nodes, Self.failed))
        // glib's attached values: -Inone -Inodes.
        #expect(try Self.run(["-1", "-Inone", "-Inodes"]).text == Self.nodes)
        let options = """
            Cluster Summary:
              * STONITH of failed nodes disabled
              * Cluster is symmetric
              * No quorum policy: Freeze resources

            """
        #expect(try Self.run(["-1", "-U", "summary", "-I", "options"]).text == Self.page(options, Self.nodes, Self.resources, Self.failed))
        let noTimes = Self.summary.replacingOccurrences(of: "  * Last change:  Mon Nov 23 10:00:00 2026\n", with: "")
        #expect(try Self.run(["-1", "--include=bans,tickets", "--exclude=resources,times"]).text
            == Self.page(noTimes, Self.nodes, Self.failed, Self.tickets, Self.bans))
        // -Q drops the times; -D is --exclude=summary, after which -I dc brings the DC back.
        #expect(try Self.run(["-1", "-Q"]).text == Self.page(noTimes, Self.nodes, Self.resources, Self.failed))
        let dc = "Cluster Summary:\n  * Current DC: node1 (version unknown) - partition with quorum\n"
        #expect(try Self.run(["-1", "-D", "-I", "dc"]).text == Self.page(dc, Self.nodes, Self.resources, Self.failed))
        let times = "Cluster Summary:\n  * Last change:  Mon Nov 23 10:00:00 2026\n"
        #expect(try Self.run(["-1", "-U", "stack,dc,counts", "-I", "fencing"]).text == Self.page(times, Self.nodes, Self.resources, Self.failed))
        // all (for text: everything but the options), and bans with an id prefix.
        let attributes = "Node Attributes:\n  * Node: node1:\n    * site                            \t: east      \n"
            + "  * Node: node2:\n    * site                            \t: west      \n"
        let operations = """
            Operations:
              * Node: node1:
                * a: migration-threshold=1000000:
                  * (4) start
                * b: migration-threshold=1000000:
                  * (5) start
              * Node: node2:
                * web: migration-threshold=1000000 fail-count=1 last-failure='Tue Nov 14 22:15:00 2023':
                  * (6) start
                  * (7) monitor: interval="10000ms"

            """
        #expect(try Self.run(["-1", "-I", "all"]).text
            == Self.page(Self.summary, Self.nodes, Self.resources, attributes, operations, Self.failed, Self.tickets, Self.bans))
        #expect(try Self.run(["-1", "-I", "bans:ban-", "-U", "all", "-I", "bans:xx", "-I", "bans:ban"]).text == Self.bans)
        #expect(try Self.run(["-1", "-I", "bans:ban-", "-U", "all", "-I", "bans:xx"]).text == "")
        #expect(try Self.run(["-1", "-U", "all"]).text == "")
    }

    @Test func unknownSectionIsAUsageError() throws {
        let include = try Self.run(["-1", "-I", "bogus"])
        #expect(include.status == 64)
        #expect(include.text.contains("crm_mon: --include options: all, attributes, bans[:PREFIX], counts, dc, default, failcounts, failures, fencing, fencing-failed, fencing-pending, fencing-succeeded, maint-mode, nodes, none, operations, options, resources, stack, summary, tickets, times"), "\(include.text)")
        let exclude = try Self.run(["-1", "--exclude=nodes,list"])
        #expect(exclude.status == 64)
        #expect(exclude.text.contains("crm_mon: --exclude options: all, attributes, bans, counts, dc, failcounts, failures, fencing, fencing-failed, fencing-pending, fencing-succeeded, maint-mode, nodes, none, operations, options, resources, stack, summary, tickets, times"), "\(exclude.text)")
    }

    @Test func nodeAndResourceFilters() throws {
        let node2 = "Node List:\n  * Online: [ node2 ]\n"
        #expect(try Self.run(["-1", "--node=node2"]).text == Self.page(Self.summary, node2, Self.web, Self.failed))
        // A tag of nodes (by their ids); attributes only for those nodes.
        let pair = "Node List:\n  * Online: [ node2 node3 ]\n"
        let west = "Node Attributes:\n  * Node: node2:\n    * site                            \t: west      \n"
        #expect(try Self.run(["-1", "--node=pair", "-A"]).text == Self.page(Self.summary, pair, Self.web, west, Self.failed))
        // No such node: no node list, no resources.
        #expect(try Self.run(["-1", "--node=nodeX"]).text == Self.page(Self.summary, "Active Resources:\n  * No active resources\n"))
        let group = """
            Active Resources:
              * Resource Group: g:
                * a\t(ocf:heartbeat:Dummy):\t Started node1
                * b\t(ocf:heartbeat:Dummy):\t Started node1

            """
        #expect(try Self.run(["-1", "--resource=g"]).text == Self.page(Self.summary, Self.nodes, group))
        // A tag of resources.
        let migration = "Migration Summary:\n  * Node: node2:\n    * web: migration-threshold=1000000 fail-count=1 last-failure='Tue Nov 14 22:15:00 2023'\n"
        #expect(try Self.run(["-1", "--resource=front", "-f"]).text == Self.page(Self.summary, Self.nodes, Self.web, migration, Self.failed))
        #expect(try Self.run(["-1", "--resource=g", "-f"]).text == Self.page(Self.summary, Self.nodes, group, "Migration Summary:\n"))
    }

    /// -b: the top-level primitives counted by agent and node, a group's members likewise
    /// (with their total, as with -r).
    @Test func briefCounts() throws {
        #expect(try Self.run(["-1", "-b", "-U", "summary"]).text == Self.page(Self.nodes, """
            Active Resources:
              * 1\t(ocf:heartbeat:Dummy):\tActive node2
              * Resource Group: g:
                * 2/2\t(ocf:heartbeat:Dummy):\tActive node1

            """, Self.failed))
        #expect(try Self.run(["-1", "-b", "-r", "-U", "summary,failures"]).text == Self.page(Self.nodes, """
            Full List of Resources:
              * 1/2\t(ocf:heartbeat:Dummy):\tActive node2
              * Resource Group: g:
                * 2/2\t(ocf:heartbeat:Dummy):\tActive node1

            """))
        // A group's member alone.
        #expect(try Self.run(["-1", "--resource=a", "-U", "summary,failures"]).text == Self.page(Self.nodes, """
            Active Resources:
              * Resource Group: g:
                * a\t(ocf:heartbeat:Dummy):\t Started node1

            """))
    }

    /// -n -b: each node with resources, counted by agent; a node without any is left out,
    /// but the heading stays even when --node keeps only such a node.
    @Test func groupByNodeBrief() throws {
        #expect(try Self.run(["-1", "-n", "-b"]).text == Self.page(Self.summary, """
            Node List:
              * Node node1: online:
                * Resources:
                  * 2\t(ocf:heartbeat:Dummy):\tActive\u{20}
              * Node node2: online:
                * Resources:
                  * 1\t(ocf:heartbeat:Dummy):\tActive\u{20}

            """, Self.failed))
        #expect(try Self.run(["-1", "-n", "-b", "--node", "node3"]).text == Self.page(Self.summary, "Node List:\n"))
    }

    /// Tickets alone: the status's, then those only a constraint names.
    @Test func ticketsAlone() throws {
        #expect(try Self.run(["-1", "-c", "-U", "all", "-I", "tickets"]).text == Self.tickets)
    }
}
