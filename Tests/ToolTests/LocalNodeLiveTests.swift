import CIB
import Foundation
import Testing
import TestSupport

/// The tools given no node on a live cluster node whose name (node2, from corosync.conf) is
/// not the machine's host name, and no SWIFTHA_NODE (only SWIFTHA_ROOT, as a shell on that
/// node has): they act on this node, found as Pacemaker finds it, from the cluster layer.
/// Before the fix crm_standby said "which node?", crm_failcount "node name required", and
/// `crm node standby` named the host name ("Node \"vm\" is not a cluster node").
@Suite(.serialized) struct LocalNodeLiveTests {
    @Test func toolsWithoutANodeActOnThisNode() async throws {
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        try await c.start()
        let node2 = c[2]
        func standby() -> String? {
            node2.query("//nodes/node[@uname='node2']/instance_attributes/nvpair[@name='standby']").first?["value"]
        }
        let on = PacemakerCluster.retrying { try? node2.tool("crm_standby", ["-v", "on"]) }
        #expect(on?.status == 0, "\(on?.stderr ?? "")")
        #expect(standby() == "on")
        let query = try node2.tool("crm_standby", ["-G", "-q"])
        #expect(query.status == 0 && query.stdout == "on\n", "\(query.stdout)\(query.stderr)")

        let online = PacemakerCluster.retrying { try? node2.tool("crm", ["node", "online"]) }
        #expect(online?.status == 0, "\(online?.stdout ?? "")\(online?.stderr ?? "")")
        #expect(online?.stdout == "INFO: online node node2\n")
        #expect(standby() == "off")

        let failcount = try node2.tool("crm_failcount", ["-G", "-r", "nosuch", "-q"])
        #expect(failcount.status == 0, "\(failcount.stderr)")
        #expect(failcount.stdout == "0\n")
    }
}
