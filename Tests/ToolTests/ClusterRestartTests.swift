import CIB
import Foundation
import Testing
import TestSupport

/// The whole cluster stopped cleanly, node by node, and started again: the last node, the
/// DC, recorded its own clean stop, so no node finds an old shutdown request of its own at
/// the next start (which would stop its controller again, and have pacemakerd restart it).
@Suite(.serialized) struct ClusterRestartTests {
    /// The `shutdown` attributes in a node's CIB on disk.
    static func shutdownRequests(_ n: PacemakerNode) throws -> [String] {
        let cib = try CIB.parse(String(contentsOfFile: n.root + "/var/lib/pacemaker/cib/cib.xml", encoding: .utf8))
        return try cib.root.xpathElements("/cib/status/node_state/transient_attributes//nvpair[@name='shutdown']").map { $0.id ?? "" }
    }

    @Test func aClusterStoppedCleanlyStartsAgainWithoutAStaleShutdownRequest() async throws {
        if let why = CrmResourceLiveTests.unavailable { print("SKIPPED: aClusterStoppedCleanlyStartsAgainWithoutAStaleShutdownRequest: \(why)"); return }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        try await c.start()
        // d1 (Dummy, monitor 2 s) preferring node1, fencing off: as CrmResourceLiveTests has it.
        try CrmResourceLiveTests.configure(c)
        let running = await PacemakerCluster.waitFor(60) { c[1].runsDummy }
        try #require(running, "d1 did not start on node1:\n\(c.report)")

        // node3, node2, then node1 (the DC) stop cleanly.
        for i in [3, 2, 1] {
            c[i].stop()
            let stopped = await PacemakerCluster.waitFor(60) { c[i].hasExited }
            try #require(stopped, "node\(i) did not stop:\n\(c.report)")
            #expect(c[i].exitStatus == 0, "node\(i) stopped with \(c[i].exitStatus ?? -1):\n\(c[i].log.suffix(3000))")
        }
        #expect(!c[1].runsDummy, "d1 still runs after the cluster stopped")
        // node1's copy, the newest, has no shutdown request (node2's and node3's copies keep
        // their own: they left before the DC recorded their stops; older, they are replaced
        // at the next start, and what they held for their node is not put back).
        let left = try Self.shutdownRequests(c[1])
        #expect(left.isEmpty, "node1's CIB keeps shutdown requests: \(left)")

        // Started again: one cluster, d1 on node1, no controller told to stop or restarted.
        try await c.start()
        let back = await PacemakerCluster.waitFor(60) { c[1].runsDummy && c.nodes.allSatisfy { !$0.hasExited } }
        #expect(back, "d1 did not start again on node1:\n\(c.report)")
        try await Task.sleep(for: .seconds(2))
        for n in c.nodes {
            #expect(!n.log.contains("told this node to shut down") && !n.log.contains("restarting crmd"),
                    "\(n.name) was stopped again at its start:\n\(n.log.suffix(3000))")
            #expect(!n.hasExited, "\(n.name) exited:\n\(n.log.suffix(3000))")
        }
    }
}
