import CIB
import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

extension ControllerProcessTests {
    /// node2's crmd is SIGKILLed while node2's lrmd runs a slow start (ocf:heartbeat:Delay,
    /// 6 s; its state file appears under node2's HA_RSCTMP when the start begins). The start
    /// may yet succeed, so the DC waits for node2's new crmd with the resource taken as
    /// starting there: it is never started on another node meanwhile (every node's state file
    /// sampled every 100 ms), node2 is not fenced, and once node2's new controller has joined
    /// (its lrmd reports the start under way, then done) the status shows it started on node2.
    @Test func aStartUnderWayWhenItsNodesControllerIsKilledIsNeverRunElsewhere() async throws {
        if let why = PacemakerCluster.serviceUnavailable {
            print("SKIPPED: aStartUnderWayWhenItsNodesControllerIsKilled...: \(why)")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Delay") else {
            print("SKIPPED: aStartUnderWayWhenItsNodesControllerIsKilled...: resource-agents has no ocf:heartbeat:Delay")
            return
        }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        let nodes = c.nodes
        try await c.start(daemons: PacemakerCluster.allDaemons, poweredByRoot: true)
        try c.configureFencedService(preferring: "node2")
        let target = nodes[1]
        let settled = await Self.waitFor(60) {
            c.service.runsOnceNow && Self.serviceRuns(c.service.records).last?.root == target.root && Self.formed(nodes)
        }
        try #require(settled, "svc does not run on node2 alone:\n\(Self.report(nodes))")
        let fencedBefore = await Self.fencings(of: "node2", nodes)

        func stateFile(_ n: Node) -> String { "\(n.root)/run/resource-agents/Delay_slow" }
        try c.create("resources", """
            <primitive id="slow" class="ocf" provider="heartbeat" type="Delay"><instance_attributes id="slow-ia">\
            <nvpair id="slow-startdelay" name="startdelay" value="6"/><nvpair id="slow-stopdelay" name="stopdelay" value="0"/>\
            <nvpair id="slow-mondelay" name="mondelay" value="0"/></instance_attributes>\
            <operations><op id="slow-start" name="start" interval="0" timeout="30s"/></operations></primitive>
            """)
        try c.create("constraints", #"<rsc_location id="slow-prefers-node2" rsc="slow" node="node2" score="100"/>"#)
        let starting = await Self.waitFor(30) { FileManager.default.fileExists(atPath: stateFile(target)) }
        try #require(starting, "slow's start did not begin on node2:\n\(Self.report(nodes))")
        let crmd = target.pids(of: "crmd")
        try #require(crmd.count == 1)
        kill(crmd[0], SIGKILL)

        // 15 s of samples: the start under way on node2 is never run anywhere else.
        var elsewhere: [String] = []
        for _ in 0..<150 {
            for n in nodes where n !== target && FileManager.default.fileExists(atPath: stateFile(n)) {
                elsewhere.append(n.name)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(elsewhere.isEmpty, "slow was started on \(Set(elsewhere).sorted()) while its start on node2 was under way:\n\(Self.report(nodes))")
        let back = target.pids(of: "crmd")
        #expect(back.count == 1 && back != crmd, "node2's crmd was not started again:\n\(Self.report(nodes))")
        let recorded = await Self.waitFor(30) {
            !nodes[0].query("/cib/status/node_state[@id='2']/lrm/lrm_resources/lrm_resource[@id='slow']/lrm_rsc_op[@operation='start'][@rc-code='0']").isEmpty
        }
        #expect(recorded, "the status does not show slow started on node2:\n\(Self.report(nodes))")
        #expect(FileManager.default.fileExists(atPath: stateFile(target)), "slow is not running on node2")
        #expect(nodes.filter { $0 !== target && FileManager.default.fileExists(atPath: stateFile($0)) }.isEmpty)
        #expect(await Self.fencings(of: "node2", nodes) == fencedBefore, "node2 was fenced though only its crmd was killed")
        #expect(c.service.runsOnceNow && Self.serviceRuns(c.service.records).last?.root == target.root, "svc moved or ran twice")
    }
}
