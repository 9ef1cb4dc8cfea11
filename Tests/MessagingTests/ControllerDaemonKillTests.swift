import CIB
import Foundation
import LRM
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
    /// DC), one after the other. Pacemaker's CTS component-failure patterns (cts/lab/patterns.py
    /// of Pacemaker 2.1.5) expect for pacemaker-fenced: respawned, the controller reconnects;
    /// for pacemaker-execd: the controller loses its executor, exits, and pacemakerd respawns
    /// both, the node not fenced (the new controller's probes find the resources running).
    /// for pacemaker-based: the controller loses the CIB manager, exits, and is respawned with
    /// it (and the fencer and attrd); for pacemaker-controld: the DC fences the node ("peer
    /// process is no longer available").
    /// Here: stonithd is started again by pacemakerd and nothing else happens; so is cibd, which
    /// syncs its copy from its peers while crmd (not restarted) waits for it and connects to it
    /// again: the service keeps running, same process, the node is not fenced. lrmd is started
    /// again and crmd (not restarted) connects to it and has the node probed again: the service
    /// keeps running, same process, the node is not fenced, and the service's monitor runs
    /// again (its process killed afterwards, the service is recovered on node2). crmd is
    /// started again by pacemakerd while the DC, seeing the node still in the ring, waits for
    /// it with the node frozen (in maintenance for the scheduler; `ControllerCore.
    /// controllersAway`): the new crmd joins, the DC reads the node's history from its lrmd
    /// again, the node is not fenced, the service keeps running, same process, and its monitor
    /// still reports (its process killed, it is recovered on node2). The same for the DC's own
    /// crmd ("dc-crmd"): node2 is DC meanwhile and waits for node1 likewise.
    /// corosyncd: node2's cibd, stonithd and crmd lose their connection and exit (a new
    /// corosyncd knows nothing of the old one's group members, so they could not stay in their
    /// groups anyway); pacemakerd starts corosyncd again at once and the others after 0.5 s.
    /// What the survivors see decides, and either way is safe:
    /// - the new corosyncd asked for a new membership before the survivors' token timeout
    ///   (about 60 ms after its start, against token 300 ms): the ring goes from node1-3 to
    ///   node1-3, node2 never out of it; node2's old processes leave their groups as ended
    ///   processes, so the DC waits for node2's new crmd as after a crmd kill (node2 frozen,
    ///   nothing sent there), reads its history, and node2 is not fenced: svc keeps running,
    ///   same process;
    /// - it did not (a loaded machine): the survivors form a ring without node2 (token +
    ///   consensus, 0.66 s). At that moment a corosyncd restart cannot be told from a power
    ///   cut or a partition of node2, and the power cut's failover must not wait, so the DC
    ///   fences node2 (a power-off here: pacemakerd goes too) before running svc again, once,
    ///   on a survivor. Not fencing would need node2 to be trusted again once it is back, but
    ///   between the ring without it and its return it may have been a partition of its own
    ///   (still running svc), so the survivors could only wait for it, slowing every real
    ///   failover by that wait; fencing is the only safe answer there.
    /// The DC's own stonithd, cibd and lrmd are killed too (after node2's stonithd, and
    /// between node2's cibd and crmd): the same as on node2. The service's own records show it
    /// never ran on two nodes at once.
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

        for daemon in ["stonithd", "dc-stonithd", "lrmd", "cibd", "dc-cibd", "dc-lrmd", "crmd", "dc-crmd", "corosyncd"] {
            let onTarget = await Self.waitFor(60) {
                c.service.runsOnceNow && Self.serviceRuns(records).last?.root == target.root && Self.formed(nodes)
            }
            try #require(onTarget, "before killing \(daemon): svc does not run on node2 alone: \(Self.serviceRuns(records))\n\(Self.report(nodes))")
            let before = Self.serviceRuns(records)
            let fencedBefore = await Self.fencings(of: "node2", nodes)
            if daemon == "crmd" || daemon == "dc-crmd" {
                try await Self.controllerKilled(on: daemon == "crmd" ? target : nodes[0], nodes: nodes, service: c.service, before: before)
                continue
            }
            if daemon.hasPrefix("dc-") {
                try await Self.dcDaemonKilled(String(daemon.dropFirst(3)), dc: nodes[0], nodes: nodes, service: c.service, before: before)
                continue
            }
            let old = target.pids(of: daemon)
            try #require(old.count == 1, "node2 runs \(old.count) \(daemon) processes")
            kill(old[0], SIGKILL)
            if daemon == "stonithd" || daemon == "cibd" {
                // Started again by pacemakerd; nothing else changes (crmd reconnects to cibd).
                let crmd = target.pids(of: "crmd")
                let back = await Self.waitFor(60) {
                    let now = target.pids(of: daemon)
                    return now.count == 1 && now[0] != old[0]
                }
                #expect(back, "\(daemon) on node2 was not started again:\n\(Self.report(nodes))")
                if daemon == "cibd" {
                    // crmd waits for the new cibd to have synced its copy, and connects to it.
                    let reconnected = await Self.waitFor(60) { target.log.contains("connected to cibd again") }
                    #expect(reconnected, "crmd on node2 did not connect to its new cibd:\n\(Self.report(nodes))")
                }
                try await Task.sleep(for: .seconds(4))
                #expect(target.pids(of: "crmd") == crmd, "crmd on node2 was restarted after its \(daemon) was killed")
                let after = Self.serviceRuns(records)
                #expect(after == before.dropLast() + [after.last!] && after.count == before.count && c.service.runsOnceNow,
                        "after \(daemon) was killed on node2, svc ran: \(after) (before: \(before))\n\(Self.report(nodes))")
                #expect(await Self.fencings(of: "node2", nodes) == fencedBefore, "node2 was fenced after only its \(daemon) was killed")
                #expect(!target.hasExited && Self.formed(nodes))
                continue
            }
            if daemon == "lrmd" {
                try await Self.lrmdKilled(old: old[0], target: target, nodes: nodes, service: c.service, before: before, fencedBefore: fencedBefore)
                continue
            }
            // corosyncd: either node2 stayed in the ring (its new crmd awaited and joined, not
            // fenced), or node2 left it and is fenced, and svc runs again once, on a survivor.
            let dcNotes = nodes[0].log.components(separatedBy: "node2's controller is back").count
            let corosyncBack = await Self.waitFor(60) {
                if await Self.fencings(of: "node2", nodes) > fencedBefore { return true }
                let now = target.pids(of: "corosyncd")
                return now.count == 1 && now[0] != old[0]
                    && nodes[0].log.components(separatedBy: "node2's controller is back").count > dcNotes && Self.formed(nodes)
            }
            #expect(corosyncBack, "after corosyncd was killed on node2, node2 was neither fenced nor rejoined:\n\(Self.report(nodes))")
            if await Self.fencings(of: "node2", nodes) == fencedBefore {
                print("corosyncd killed on node2: node2 stayed in the ring (its restarted corosyncd rejoined in time); not fenced")
                try await Task.sleep(for: .seconds(4))
                let after = Self.serviceRuns(records)
                #expect(after.count == before.count && after.last?.pid == before.last?.pid && c.service.runsOnceNow,
                        "after corosyncd was killed on node2 (not fenced), svc ran: \(after) (before: \(before))\n\(Self.report(nodes))")
                #expect(await Self.fencings(of: "node2", nodes) == fencedBefore, "node2 was fenced late after its corosyncd was killed")
                #expect(!target.hasExited && Self.formed(nodes))
                continue
            }
            print("corosyncd killed on node2: the survivors saw node2 leave the ring; fenced")
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
        }
        let runs = Self.serviceRuns(records)
        for (a, b) in zip(runs, runs.dropFirst()) {
            #expect(a.last < b.first, "svc ran on two nodes at once: \(a) and \(b)")
        }
    }

    /// crmd of `node` (node2, or node1, the DC) was killed: pacemakerd starts a new one, which
    /// joins; the DC (node2 meanwhile, when node1's was killed) neither fences the node nor
    /// touches svc; svc keeps running, same process; on node2, its monitor still reports
    /// through the new crmd (svc's process killed, it is recovered there).
    static func controllerKilled(on node: Node, nodes: [Node], service: RecordingService, before: [RecordingService.Run]) async throws {
        let fencedBefore = await fencings(of: node.name, nodes)
        let old = node.pids(of: "crmd")
        try #require(old.count == 1, "\(node.name) runs \(old.count) crmd processes")
        let others = nodes.filter { $0 !== node }
        let backNotes = others.map { $0.log.components(separatedBy: "\(node.name)'s controller is back").count }
        kill(old[0], SIGKILL)
        let back = await waitFor(60) {
            let now = node.pids(of: "crmd")
            return now.count == 1 && now[0] != old[0]
        }
        #expect(back, "crmd on \(node.name) was not started again:\n\(report(nodes))")
        // The survivors waited for it (rather than fencing it), and the new crmd joined: every
        // copy shows every node joined again, node1 the DC.
        func awaited() -> Bool {
            zip(others, backNotes).allSatisfy { n, before in n.log.components(separatedBy: "\(node.name)'s controller is back").count > before }
        }
        let rejoined = await waitFor(60) { awaited() && formed(nodes) }
        #expect(rejoined, "\(node.name)'s new crmd was not awaited, or did not rejoin (awaited: \(awaited())):\n\(report(nodes))")
        try await Task.sleep(for: .seconds(4))
        let after = service.runs
        #expect(after.count == before.count && after.last?.pid == before.last?.pid && service.runsOnceNow,
                "after crmd was killed on \(node.name), svc ran: \(after) (before: \(before))\n\(report(nodes))")
        #expect(await fencings(of: node.name, nodes) == fencedBefore, "\(node.name) was fenced after only its crmd was killed")
        #expect(!node.hasExited && formed(nodes))
        // svc's monitor still reports through the new crmd: its process killed, it is
        // recovered where it runs.
        guard let pid = after.last?.pid, after.last?.root == node.root else { return }
        kill(Int32(pid), SIGKILL)
        let recovered = await waitFor(60) {
            let runs = service.runs
            return runs.count == before.count + 1 && runs.last?.root == node.root && service.runsOnceNow
        }
        #expect(recovered, "svc killed on \(node.name) after its crmd's restart was not recovered there: \(service.runs)\n\(report(nodes))")
        #expect(await fencings(of: node.name, nodes) == fencedBefore, "\(node.name) was fenced after its service failed once")
    }

    /// lrmd of node2 was killed: started again, crmd stays and reconnects, the node is probed
    /// again, svc keeps running (same process), its monitor is set up again, nobody is fenced.
    static func lrmdKilled(old: Int32, target: Node, nodes: [Node], service: RecordingService, before: [RecordingService.Run], fencedBefore: Int) async throws {
        let crmd = target.pids(of: "crmd")
        let back = await waitFor(60) {
            let now = target.pids(of: "lrmd")
            return now.count == 1 && now[0] != old
        }
        #expect(back, "lrmd on node2 was not started again:\n\(report(nodes))")
        // The new lrmd runs svc's monitor again (after the probe found svc running).
        let monitored = await waitFor(60) {
            guard let lrmd = try? await LRMClient.connect(root: target.root, timeout: .seconds(5)) else { return false }
            defer { Task { await lrmd.close() } }
            guard let h = try? await lrmd.history(of: "svc") else { return false }
            return h.operations.values.contains { $0.key.action == .monitor && $0.key.interval == .seconds(2) && $0.exitCode.rawValue == 0 }
        }
        #expect(monitored, "svc's monitor is not running in node2's new lrmd:\n\(report(nodes))")
        #expect(target.pids(of: "crmd") == crmd, "crmd on node2 was restarted (it should have reconnected to the new lrmd)")
        let after = service.runs
        #expect(after.count == before.count && after.last?.pid == before.last?.pid && service.runsOnceNow,
                "after lrmd was killed on node2, svc ran: \(after) (before: \(before))\n\(report(nodes))")
        #expect(await fencings(of: "node2", nodes) == fencedBefore, "node2 was fenced after only its lrmd was killed")
        #expect(!target.hasExited && formed(nodes))
        // The monitor works: svc's process killed, it is found dead and started again on node2.
        guard let pid = after.last?.pid, after.last?.root == target.root else { return }
        kill(Int32(pid), SIGKILL)
        let recovered = await waitFor(60) {
            let runs = service.runs
            return runs.count == before.count + 1 && runs.last?.root == target.root && service.runsOnceNow
        }
        #expect(recovered, "svc killed on node2 after lrmd's restart was not recovered there: \(service.runs)\n\(report(nodes))")
        #expect(await fencings(of: "node2", nodes) == fencedBefore, "node2 was fenced after its service failed once")
    }

    /// The DC's (node1's) stonithd, cibd or lrmd was killed: started again; its crmd, still
    /// the DC, connects to the new one (cibd: once synced from its peers; lrmd: and has its
    /// own node probed again, svc found not running there; stonithd: at its next request);
    /// nobody is fenced, svc (on node2) untouched. (The DC's stonithd killed while it fences:
    /// ControllerFencerKillTests.)
    static func dcDaemonKilled(_ daemon: String, dc: Node, nodes: [Node], service: RecordingService, before: [RecordingService.Run]) async throws {
        let fencedBefore = await fencings(of: dc.name, nodes)
        let old = dc.pids(of: daemon)
        try #require(old.count == 1, "node1 runs \(old.count) \(daemon) processes")
        let crmd = dc.pids(of: "crmd")
        let reconnects = dc.log.components(separatedBy: "connected to \(daemon) again").count
        kill(old[0], SIGKILL)
        let back = await waitFor(60) {
            let now = dc.pids(of: daemon)
            return now.count == 1 && now[0] != old[0]
        }
        #expect(back, "\(daemon) on node1 (the DC) was not started again:\n\(report(nodes))")
        if daemon != "stonithd" {
            // (crmd connects to stonithd for each request: nothing to reconnect.)
            let reconnected = await waitFor(60) { dc.log.components(separatedBy: "connected to \(daemon) again").count > reconnects }
            #expect(reconnected, "crmd on node1 (the DC) did not connect to its new \(daemon):\n\(report(nodes))")
        }
        if daemon == "lrmd" {
            let probed = await waitFor(60) {
                guard let lrmd = try? await LRMClient.connect(root: dc.root, timeout: .seconds(5)) else { return false }
                defer { Task { await lrmd.close() } }
                guard let h = try? await lrmd.history(of: "svc") else { return false }
                return h.operations.values.contains { $0.key.action == .monitor && $0.key.interval == .zero && $0.exitCode.rawValue == 7 }
            }
            #expect(probed, "node1's new lrmd did not probe svc:\n\(report(nodes))")
        }
        try await Task.sleep(for: .seconds(3))
        #expect(dc.pids(of: "crmd") == crmd, "crmd on node1 (the DC) was restarted after its \(daemon) was killed")
        let after = service.runs
        #expect(after.count == before.count && after.last?.pid == before.last?.pid && service.runsOnceNow,
                "after the DC's \(daemon) was killed, svc ran: \(after) (before: \(before))\n\(report(nodes))")
        #expect(await fencings(of: dc.name, nodes) == fencedBefore, "node1 was fenced after only its \(daemon) was killed")
        #expect(!dc.hasExited && formed(nodes))
    }
}
