import CIB
import Foundation
import Stonith
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

extension ControllerProcessTests {
    /// The completed fencings of a node, as node1's stonithd knows them.
    static func fencings(of target: String, _ nodes: [Node]) async -> Int {
        guard let stonith = try? await StonithClient.connect(root: nodes[0].root, name: "test") else { return -1 }
        let history = (try? await stonith.history(target: target)) ?? []
        await stonith.close()
        return history.filter { $0.state == .done }.count
    }

    /// SIGKILL of each daemon alone on the node that runs a real service (node2; node1 is the
    /// DC), one after the other, with what Pacemaker does for each (its CTS component-failure
    /// tests): stonithd (pacemaker-fenced) is started again by pacemakerd and nothing else
    /// happens: the service keeps running where it was. lrmd, cibd, crmd (execd, based,
    /// controld) and corosyncd: the node's controller is lost to the cluster, so the DC fences
    /// the node (a power-off here: pacemakerd goes too) and runs the service again, once, on a
    /// survivor; the node is then started again, rejoins, and the service moves back to it. The
    /// service's own records show it never ran on two nodes at once.
    @Test func eachDaemonKilledAloneIsRestartedOrItsNodeFencedAndTheServiceNeverRunsTwice() async throws {
        if let why = PacemakerCluster.serviceUnavailable {
            print("SKIPPED: eachDaemonKilledAlone...: \(why)")
            return
        }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        let nodes = c.nodes
        let records = c.service.records
        let daemons = PacemakerCluster.allDaemons
        try await c.start(daemons: daemons, poweredByRoot: true)
        try c.configureFencedService(preferring: "node2")
        let target = nodes[1]

        for daemon in ["stonithd", "lrmd", "cibd", "crmd", "corosyncd"] {
            let onTarget = await Self.waitFor(60) {
                c.service.runsOnceNow && Self.serviceRuns(records).last?.root == target.root && Self.formed(nodes)
            }
            try #require(onTarget, "before killing \(daemon): svc does not run on node2 alone: \(Self.serviceRuns(records))\n\(Self.report(nodes))")
            let before = Self.serviceRuns(records)
            let fencedBefore = await Self.fencings(of: "node2", nodes)
            let old = target.pids(of: daemon)
            try #require(old.count == 1, "node2 runs \(old.count) \(daemon) processes")
            kill(old[0], SIGKILL)
            if daemon == "stonithd" {
                // Started again by pacemakerd; nothing else changes.
                let back = await Self.waitFor(60) {
                    let now = target.pids(of: daemon)
                    return now.count == 1 && now[0] != old[0]
                }
                #expect(back, "stonithd on node2 was not started again:\n\(Self.report(nodes))")
                try await Task.sleep(for: .seconds(4))
                let after = Self.serviceRuns(records)
                #expect(after == before.dropLast() + [after.last!] && after.count == before.count && c.service.runsOnceNow,
                        "after stonithd was killed on node2, svc ran: \(after) (before: \(before))\n\(Self.report(nodes))")
                #expect(await Self.fencings(of: "node2", nodes) == fencedBefore, "node2 was fenced after only its stonithd was killed")
                #expect(!target.hasExited && Self.formed(nodes))
                continue
            }
            // node2 is fenced, and svc runs again once, on a survivor.
            let recovered = await Self.waitFor(60) {
                Self.serviceRuns(records).count == before.count + 1 && c.service.runsOnceNow
                    && Self.serviceRuns(records).last?.root != target.root
            }
            #expect(recovered, "after \(daemon) was killed on node2, svc was not recovered once on a survivor: \(Self.serviceRuns(records))\n\(Self.report(nodes))")
            #expect(await Self.fencings(of: "node2", nodes) == fencedBefore + 1, "node2 was not fenced once after its \(daemon) was killed")
            let off = await Self.waitFor(10) { target.hasExited && NodeProcesses.find(root: target.root).allSatisfy(NodeProcesses.isZombie) }
            #expect(off, "node2 still runs after its fencing")
            let runs = Self.serviceRuns(records)
            for (a, b) in zip(runs, runs.dropFirst()) {
                #expect(a.last < b.first, "svc ran on two nodes at once: \(a) and \(b)")
            }
            guard daemon != "corosyncd" else { break }
            // node2 boots again and rejoins.
            try target.start(daemons: daemons, poweredByRoot: true)
        }
        let runs = Self.serviceRuns(records)
        for (a, b) in zip(runs, runs.dropFirst()) {
            #expect(a.last < b.first, "svc ran on two nodes at once: \(a) and \(b)")
        }
    }
}
