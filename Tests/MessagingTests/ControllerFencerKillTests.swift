import CIB
import Foundation
import Stonith
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

extension ControllerProcessTests {
    /// The fence agent runs of a node's stonithd as its records show them (`<root>/run/
    /// stonithd/operations`): the operation key and the agent's pid, once launched.
    static func fenceAgentRuns(_ node: Node) -> [(operation: String, pid: Int32?)] {
        let dir = node.root + "/run/stonithd/operations"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap { name in
            guard let text = try? String(contentsOfFile: dir + "/" + name, encoding: .utf8) else { return nil }
            var operation = "", pid: Int32?
            for line in text.split(separator: "\n") {
                if line.hasPrefix("operation=") { operation = String(line.dropFirst(10)) }
                if line.hasPrefix("pid=") { pid = Int32(line.dropFirst(4)) }
            }
            return (operation, pid)
        }
    }

    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    /// A stonithd is SIGKILLed while it fences node2 for the DC's crmd: the DC's own (node1,
    /// origin and executor), or node3's (the device is banned from node1, so node3 executes
    /// the DC's request). node2 has left the ring (its corosyncd stopped) but still runs svc;
    /// the device is fence_swiftha with fence-agents' `delay` (8 s), so its agent is caught
    /// waiting. Pacemaker's controller, its request failed (its fencer connection lost, or the
    /// fencer finding no other node that can), asks again; so here: node1's stonithd killed,
    /// crmd's request fails (disconnected); node3's killed, node1's stonithd has no other node
    /// to hand it to and fails it. The transition is aborted, node2 stays unclean; pacemakerd
    /// starts the stonithd again, which ends the waiting agent before it serves (node2 is not
    /// fenced by it: still running after); crmd asks again and node2 is fenced by that node.
    /// svc is recovered once on a survivor, only after that fencing completed; both survivors'
    /// histories (the new stonithd learned it from its peer) show the interrupted request
    /// failed and the second done, and no fence agent is left.
    @Test(arguments: [1, 3])
    func aStonithdKilledWhileFencingForTheDCIsAskedAgainAndNothingOfTheNodeIsRecoveredBefore(killedOn: Int) async throws {
        if let why = PacemakerCluster.serviceUnavailable {
            print("SKIPPED: aStonithdKilledWhileFencingForTheDC...: \(why)")
            return
        }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        let nodes = c.nodes
        let records = c.service.records
        try await c.start(daemons: PacemakerCluster.allDaemons, poweredByRoot: true)
        try c.service.install()
        try c.create("resources", """
            <primitive id="fence" class="stonith" type="fence_swiftha"><instance_attributes id="fence-ia">\
            <nvpair id="fence-roots" name="roots" value="\(c.fenceRoots)"/><nvpair id="fence-delay" name="delay" value="8"/>\
            </instance_attributes></primitive>
            """)
        if killedOn != 1 {
            try c.create("constraints", #"<rsc_location id="fence-not-on-node1" rsc="fence" node="node1" score="-INFINITY"/>"#)
        }
        try c.create("resources", c.serviceXML())
        try c.create("constraints", #"<rsc_location id="svc-prefers-node2" rsc="svc" node="node2" score="100"/>"#)
        let dc = nodes[0], target = nodes[1], other = nodes[2]
        let fencer = nodes[killedOn - 1]
        let settled = await Self.waitFor(60) {
            c.service.runsOnceNow && Self.serviceRuns(records).last?.root == target.root && Self.formed(nodes)
        }
        try #require(settled, "svc does not run on node2 alone:\n\(Self.report(nodes))")
        let before = Self.serviceRuns(records)
        #expect(await Self.fencings(of: "node2", nodes) == 0)

        // node2 leaves the ring, alive: svc runs on there until it is fenced.
        let corosync = target.pids(of: "corosyncd")
        try #require(corosync.count == 1)
        kill(corosync[0], SIGSTOP)

        // The fencer's stonithd runs fence_swiftha against node2, which waits its delay.
        var agent: Int32?
        let fencing = await Self.waitFor(60) {
            agent = Self.fenceAgentRuns(fencer).first { $0.operation == "fence_reboot_0" }?.pid
            return agent != nil
        }
        try #require(fencing, "\(fencer.name)'s stonithd did not start fencing node2:\n\(Self.report(nodes))")
        let agentPID = try #require(agent)
        #expect(NodeProcesses.find(root: fencer.root).contains(agentPID) && Self.isRunning(agentPID))
        let old = fencer.pids(of: "stonithd")
        try #require(old.count == 1)
        let crmd = dc.pids(of: "crmd")
        let clock = ContinuousClock()
        let killed = clock.now
        kill(old[0], SIGKILL)

        // Started again by pacemakerd; the agent is ended before the new stonithd serves, and
        // did not fence node2.
        let back = await Self.waitFor(30) {
            let now = fencer.pids(of: "stonithd")
            return now.count == 1 && now[0] != old[0]
        }
        #expect(back, "\(fencer.name)'s stonithd was not started again:\n\(Self.report(nodes))")
        let ended = await Self.waitFor(20) { !Self.isRunning(agentPID) }
        #expect(ended, "the killed stonithd's fence agent \(agentPID) still runs:\n\(Self.report(nodes))")
        let endedAfter = clock.now - killed
        #expect(fencer.log.contains("the previous stonithd (pid \(old[0])) was killed while running fence_reboot_0 of fence against node2"),
                "\(Self.report(nodes))")
        #expect(!target.hasExited && target.pids(of: "crmd").count == 1, "node2 was fenced by the killed stonithd's agent")

        // crmd's request failed; asked again, node2 is fenced; svc recovered once, after it.
        let fenced = await Self.waitFor(120) { await Self.fencings(of: "node2", nodes) == 1 }
        #expect(fenced, "node2 was not fenced after \(fencer.name)'s stonithd was killed:\n\(Self.report(nodes))")
        print("\(fencer.name)'s stonithd killed while fencing node2 for the DC: its agent ended \(endedAfter) later (by the new stonithd), node2 fenced \(clock.now - killed) later (crmd asked again; the agent's delay is 8 s)")
        #expect(dc.log.contains("fencing node2 (reboot) failed: "), "crmd did not see its fencing request fail:\n\(Self.report(nodes))")
        let off = await Self.waitFor(20) { target.isDown }
        #expect(off, "node2 still runs after its fencing")
        let recovered = await Self.waitFor(60) {
            let runs = Self.serviceRuns(records)
            return runs.count == before.count + 1 && runs.last?.root != target.root && c.service.runsOnceNow
        }
        let runs = Self.serviceRuns(records)
        #expect(recovered, "svc was not recovered once on a survivor: \(runs)\n\(Self.report(nodes))")
        #expect(RecordingService.neverTwice(runs), "svc ran on two nodes at once: \(runs)")
        #expect(dc.pids(of: "crmd") == crmd, "the DC's crmd was restarted")

        // Every survivor's history: the interrupted request failed, the second one done; svc
        // started again only after that one completed.
        let stonith = try await StonithClient.connect(root: other.root, name: "test")
        let events = try await stonith.history(target: "node2")
        await stonith.close()
        let done = events.filter { $0.state == .done }
        #expect(done.count == 1 && done.first?.delegate == fencer.name, "\(events)")
        #expect(events.contains { $0.state == .failed }, "the interrupted request is not in the history: \(events)")
        if let completed = done.first?.completed, let run = runs.last, recovered {
            #expect(run.first > completed.timeIntervalSince1970, "svc started at \(run.first), before node2's fencing completed at \(completed.timeIntervalSince1970)")
        }
        let same = await Self.waitFor(20) {
            let h = [dc, other].map { (try? $0.tool("stonith_admin", ["--history", "node2", "--verbose"]).stdout).map(StonithdRestartTests.timeless) ?? "" }
            return h[0].hasSuffix("2 events found\n") && h[0] == h[1]
        }
        #expect(same, "node1's and node3's histories of node2 differ:\n\((try? dc.tool("stonith_admin", ["--history", "node2", "--verbose"]).stdout) ?? "")\n\((try? other.tool("stonith_admin", ["--history", "node2", "--verbose"]).stdout) ?? "")")
        // No fencing agent is left, nor a record of one (a device's monitor may run meanwhile).
        let fencingRuns = [dc, other].flatMap { Self.fenceAgentRuns($0) }.filter { $0.operation.hasSuffix("_reboot_0") || $0.operation.hasSuffix("_off_0") }
        #expect(fencingRuns.isEmpty, "\(fencingRuns)")
        #expect(!Self.isRunning(agentPID))
    }
}
