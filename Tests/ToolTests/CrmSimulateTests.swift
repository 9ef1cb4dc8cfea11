import CIB
import Foundation
import Testing
import TestSupport

/// crm_simulate as a user runs it: -S prints the simulated transition, -G saves the graph,
/// and what is not built yet says so with exit status 3.
@Suite struct CrmSimulateTests {
    /// The valid CIB with node1 up.
    let onlineCIB = validCIB.replacingOccurrences(of: "<status/>", with: """
        <status><node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/></status>
        """).replacingOccurrences(of: #"admin_epoch="0">"#, with: #"admin_epoch="0" have-quorum="1">"#)

    @Test func simulateAndSaveGraph() throws {
        let dir = scratchDirectory("crm_simulate")
        let cib = dir + "/cib.xml"
        try onlineCIB.write(toFile: cib, atomically: true, encoding: .utf8)
        let graph = dir + "/graph.xml"
        let r = try Tool.run("crm_simulate", ["-x", cib, "-S", "-G", graph])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Transition Summary:\n  * Start      d1 ( node1 )\n"))
        #expect(r.stdout.contains("Executing Cluster Transition:\n  * Resource action: d1              monitor on node1\n  * Resource action: d1              start on node1\n  * Resource action: d1              monitor=10000 on node1"))
        #expect(r.stdout.contains("Revised Cluster Status:"))
        let saved = try XElement.parse(String(contentsOfFile: graph, encoding: .utf8))
        #expect(saved.name == "transition_graph")
        #expect(saved.elements(named: "synapse").count == 3)
    }

    @Test func unfinishedOptionsSaySoAndExit3() throws {
        let dir = scratchDirectory("crm_simulate-unfinished")
        let cib = dir + "/cib.xml"
        try validCIB.write(toFile: cib, atomically: true, encoding: .utf8)
        let r = try Tool.run("crm_simulate", ["-x", cib, "-s"])
        #expect(r.status == 3)
        #expect(r.stderr.contains("not available in this build yet"))
        let bad = try Tool.run("crm_simulate", ["-x", cib, "-S", "-G", dir + "/no/such/dir/g.xml"])
        #expect(bad.status == 73)
        #expect(bad.stderr.contains("could not write the graph"))
    }
}
