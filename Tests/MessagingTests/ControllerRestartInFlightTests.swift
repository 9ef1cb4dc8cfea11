import CIB
import Foundation
import Stonith
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

    /// node2's crmd is SIGKILLed, and at once every process of node1 (the DC, running svc): a
    /// power cut within node2's grace. Whichever survivor is DC (node3 until node2's new crmd
    /// joins; then node2, whose new crmd saw nothing of it) fences node1 and runs svc again,
    /// once, on a survivor, after node1's fencing completed; node2 is never fenced (its crmd
    /// awaited, then back) and keeps running.
    @Test func theDCsPowerCutWhileAnotherNodesControllerIsAwaitedFencesTheDCAloneAndRecoversOnce() async throws {
        if let why = PacemakerCluster.serviceUnavailable {
            print("SKIPPED: theDCsPowerCutWhileAnotherNodesControllerIsAwaited...: \(why)")
            return
        }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        let nodes = c.nodes
        let records = c.service.records
        try await c.start(daemons: PacemakerCluster.allDaemons, poweredByRoot: true)
        try c.configureFencedService(preferring: "node1")
        let dc = nodes[0], target = nodes[1], third = nodes[2]
        let settled = await Self.waitFor(60) {
            c.service.runsOnceNow && Self.serviceRuns(records).last?.root == dc.root && Self.formed(nodes)
        }
        try #require(settled, "svc does not run on node1 alone:\n\(Self.report(nodes))")
        let before = Self.serviceRuns(records).count
        func history(_ node: String) async -> [Date?] {
            guard let stonith = try? await StonithClient.connect(root: third.root, name: "test") else { return [] }
            let h = (try? await stonith.history(target: node)) ?? []
            await stonith.close()
            return h.filter { $0.state == .done }.map(\.completed)
        }
        let crmd = target.pids(of: "crmd")
        try #require(crmd.count == 1)
        kill(crmd[0], SIGKILL)
        dc.killAll()
        let dead = Date().timeIntervalSince1970

        let recovered = await Self.waitFor(90) {
            let runs = Self.serviceRuns(records)
            return runs.count == before + 1 && runs.last?.root != dc.root && c.service.runsOnceNow
        }
        #expect(recovered, "svc was not recovered once on a survivor: \(Self.serviceRuns(records))\n\(Self.report(nodes))")
        let back = target.pids(of: "crmd")
        #expect(back.count == 1 && back != crmd, "node2's crmd was not started again:\n\(Self.report(nodes))")
        try await Task.sleep(for: .seconds(4))
        let runs = Self.serviceRuns(records)
        #expect(runs.count == before + 1 && RecordingService.neverTwice(runs), "svc after the cut: \(runs) (node1 dead at \(dead))")
        let fencedDC = await history("node1")
        #expect(!fencedDC.isEmpty, "node1 was not fenced:\n\(Self.report(nodes))")
        if let completed = fencedDC.compactMap({ $0 }).min(), runs.count == before + 1 {
            #expect(completed.timeIntervalSince1970 <= runs[before].first + 0.001,
                    "svc ran again at \(runs[before].first), before node1's fencing completed at \(completed.timeIntervalSince1970)")
        }
        #expect(await history("node2").isEmpty, "node2 was fenced though only its crmd was killed:\n\(Self.report(nodes))")
        #expect(!target.hasExited && target.pids(of: "crmd").count == 1, "node2 does not run")
        #expect(PacemakerCluster.formed([target, third], dc: nil), "node2 and node3 did not form a cluster:\n\(Self.report(nodes))")
    }

    /// A controller that never saw node2's crmd end: node2's pacemakerd is held (SIGSTOP) so
    /// that its crmd, SIGKILLed, is not started again yet; then node1's crmd (the DC's) is
    /// SIGKILLed. node1's new crmd, DC again (lowest id), finds node2 in the ring without a
    /// crmd and waits for it too, rather than fencing it: node2 is not fenced and svc keeps
    /// running there, same process. node2's pacemakerd let go, its new crmd joins and all is
    /// as before.
    @Test func aRestartedDCThatNeverSawAnotherNodesCrmdEndWaitsForItRatherThanFencing() async throws {
        if let why = PacemakerCluster.serviceUnavailable {
            print("SKIPPED: aRestartedDCThatNeverSawAnotherNodesCrmdEnd...: \(why)")
            return
        }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        let nodes = c.nodes
        let records = c.service.records
        try await c.start(daemons: PacemakerCluster.allDaemons, poweredByRoot: true)
        try c.configureFencedService(preferring: "node2")
        // dc-deadtime 2 s: node1's new crmd plans (without node2's crmd) 2 s after it joins,
        // well within node2's grace (20 s).
        try c.create("crm_config", #"<cluster_property_set id="deadtime"><nvpair id="deadtime-dc" name="dc-deadtime" value="2s"/></cluster_property_set>"#)
        let dc = nodes[0], target = nodes[1]
        let settled = await Self.waitFor(60) {
            c.service.runsOnceNow && Self.serviceRuns(records).last?.root == target.root && Self.formed(nodes)
        }
        try #require(settled, "svc does not run on node2 alone:\n\(Self.report(nodes))")
        let before = Self.serviceRuns(records)
        let fencedBefore = await Self.fencings(of: "node2", nodes)
        let pacemakerd = try #require(target.process?.processIdentifier)
        let crmd2 = target.pids(of: "crmd"), crmd1 = dc.pids(of: "crmd")
        try #require(crmd2.count == 1 && crmd1.count == 1)
        kill(pacemakerd, SIGSTOP)
        var held = true
        defer { if held { kill(pacemakerd, SIGCONT) } }
        kill(crmd2[0], SIGKILL)
        // node1's crmd sees node2's end; its successor will not have.
        let seen = await Self.waitFor(10) { dc.log.contains("node2's controller was lost but node2 is still in the ring") }
        #expect(seen, "node1's crmd did not see node2's crmd end:\n\(Self.report(nodes))")
        kill(crmd1[0], SIGKILL)
        try await Task.sleep(for: .milliseconds(100))
        // What node1's old crmd logged is before this.
        let frozenRuns = dc.log.components(separatedBy: "scheduling with node2 in maintenance").count
        let derived = await Self.waitFor(15) {
            let now = dc.pids(of: "crmd")
            return now.count == 1 && now != crmd1 && dc.log.contains("node2 is in the ring but its controller is not in the group")
        }
        #expect(derived, "node1's new crmd did not find node2 awaited from the ring:\n\(Self.report(nodes))")
        // node1's new crmd is DC and, past dc-deadtime, plans with node2 frozen; some seconds
        // more, within the grace.
        let planned = await Self.waitFor(15) { dc.log.components(separatedBy: "scheduling with node2 in maintenance").count > frozenRuns }
        #expect(planned, "node1's new crmd did not plan with node2 frozen:\n\(Self.report(nodes))")
        try await Task.sleep(for: .seconds(3))
        #expect(await Self.fencings(of: "node2", nodes) == fencedBefore, "node2 was fenced by a DC that never saw its crmd end:\n\(Self.report(nodes))")
        #expect(target.pids(of: "crmd").isEmpty, "node2's crmd was started again while its pacemakerd was held")
        var after = Self.serviceRuns(records)
        #expect(after.count == before.count && after.last?.pid == before.last?.pid && c.service.runsOnceNow,
                "svc moved or ran twice while node2's crmd was away: \(after) (before: \(before))\n\(Self.report(nodes))")
        kill(pacemakerd, SIGCONT)
        held = false
        let rejoined = await Self.waitFor(60) { target.pids(of: "crmd").count == 1 && Self.formed(nodes) }
        #expect(rejoined, "node2's new crmd did not rejoin:\n\(Self.report(nodes))")
        try await Task.sleep(for: .seconds(3))
        after = Self.serviceRuns(records)
        #expect(after.count == before.count && after.last?.pid == before.last?.pid && c.service.runsOnceNow,
                "after node2's crmd came back, svc ran: \(after) (before: \(before))\n\(Self.report(nodes))")
        #expect(await Self.fencings(of: "node2", nodes) == fencedBefore, "node2 was fenced")
        #expect(!target.hasExited)
    }
}
