import CIB
import Foundation
import Stonith
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

extension ControllerProcessTests {
    /// A CIB as a cluster that ran before leaves it: the three nodes in `<nodes>` (no status),
    /// dc-deadtime set, and a fence_swiftha device for the nodes.
    static func seededCIB(_ nodes: [Node], deadtime: String) throws -> CIB {
        let roots = nodes.map { "\($0.name):\($0.root)" }.joined(separator: ";")
        let entries = nodes.enumerated().map { #"<node id="\#($0.offset + 1)" uname="\#($0.element.name)"/>"# }.joined()
        return try CIB.parse("""
            <cib admin_epoch="0" epoch="10" num_updates="0" validate-with="pacemaker-3.9"><configuration><crm_config>\
            <cluster_property_set id="cib-bootstrap-options"><nvpair id="o-dc" name="dc-deadtime" value="\(deadtime)"/>\
            </cluster_property_set></crm_config><nodes>\(entries)</nodes><resources>\
            <primitive id="fence" class="stonith" type="fence_swiftha"><instance_attributes id="fence-ia">\
            <nvpair id="fence-roots" name="roots" value="\(roots)"/></instance_attributes></primitive>\
            </resources><constraints/></configuration><status/></cib>
            """)
    }

    /// dc-deadtime, as Pacemaker's controller has it: at cluster start the DC waits up to
    /// dc-deadtime for the nodes it has not heard from before acting as if they were down.
    /// node1 and node2 start (quorate) and node3 does not: node3, which the CIB knows and never
    /// saw, is fenced (startup-fencing), but not before dc-deadtime has passed. Then the whole
    /// cluster starts again from that CIB with node3 three seconds late, within dc-deadtime:
    /// it joins and is never fenced.
    @Test func atStartTheDCWaitsUpToDCDeadtimeBeforeFencingANodeItNeverSaw() async throws {
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        let nodes = c.nodes
        let daemons = "corosyncd,cibd,stonithd,lrmd,crmd"
        let seeded = try Self.seededCIB(nodes, deadtime: "6s")
        for n in nodes { try CIBStore(directory: n.root + "/var/lib/pacemaker/cib").save(seeded) }

        // node3 never starts: fenced, no sooner than 6 s after node1 and node2 were started.
        let t0 = Date()
        for n in nodes.prefix(2) { try n.start(daemons: daemons) }
        let up = await Self.waitFor(90) { nodes.prefix(2).allSatisfy(\.started) }
        try #require(up, "node1 and node2 did not start:\n\(Self.report(Array(nodes.prefix(2))))")
        var completed: Date?
        let fenced = await Self.waitFor(60) {
            guard let stonith = try? await StonithClient.connect(root: nodes[0].root, name: "test") else { return false }
            let history = (try? await stonith.history(target: "node3")) ?? []
            await stonith.close()
            completed = history.first { $0.state == .done }?.completed
            return completed != nil
        }
        try #require(fenced, "node3, never seen, was not fenced after dc-deadtime:\n\(Self.report(Array(nodes.prefix(2))))")
        let waited = completed!.timeIntervalSince(t0)
        #expect(waited >= 6, "node3 was fenced \(waited) s after the cluster started, before dc-deadtime (6 s)")
        #expect(nodes[0].log.contains("waiting up to dc-deadtime"), "\(Self.report([nodes[0]]))")
        let state = nodes[0].query("/cib/status/node_state[@id='3']").first
        #expect(state?["join"] == "down" && state?["expected"] == "down", "node3 is not recorded fenced: \(String(describing: state?.attributes))")

        // The whole cluster again, from the same CIB, node3 three seconds late.
        for n in nodes.prefix(2) { n.cleanUp() }
        for n in nodes { try CIBStore(directory: n.root + "/var/lib/pacemaker/cib").save(try Self.seededCIB(nodes, deadtime: "20s")) }
        for n in nodes.prefix(2) { try n.start(daemons: daemons) }
        try await Task.sleep(for: .seconds(3))
        try nodes[2].start(daemons: daemons)
        let formed = await Self.waitFor(60) { Self.formed(nodes) }
        #expect(formed, "the cluster did not form with node3 three seconds late:\n\(Self.report(nodes))")
        try await Task.sleep(for: .seconds(2))
        #expect(!nodes[0].log.contains("fencing node3") && !nodes[1].log.contains("fencing node3"),
                "node3, three seconds late, was fenced:\n\(Self.report(nodes))")
        #expect(!nodes[2].hasExited && nodes[2].pids(of: "crmd").count == 1, "node3 does not run")
    }
}
