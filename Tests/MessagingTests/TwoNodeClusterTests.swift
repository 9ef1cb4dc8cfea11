import CIB
import Foundation
import Stonith
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real two-node cluster with corosync.conf's `two_node: 1` (which implies wait_for_all):
/// node1 and node2 on 127.0.0.1-2, each a pacemakerd with all five daemons and a root of its
/// own, fencing on through fence_swiftha, and the recording service (TestSupport's
/// RecordingService) as resource `svc`. The test looks at it as an operator would, through
/// corosync-quorumtool, crm_mon and stonith_admin, and at the service's own records.
@Suite(.serialized) struct TwoNodeClusterTests {
    typealias Node = PacemakerNode

    /// The CIB both nodes start from, as a cluster that ran before leaves it: both nodes known,
    /// the fence device and svc configured, svc preferring node1 (the DC: its power cut is the
    /// harder case) by less than its stickiness (so that it stays where it runs), and a short
    /// dc-deadtime, so that a node alone stops waiting for its peer at once and acts on what
    /// it knows.
    static func seededCIB(_ c: PacemakerCluster) throws -> CIB {
        let entries = c.nodes.enumerated().map { #"<node id="\#($0.offset + 1)" uname="\#($0.element.name)"/>"# }.joined()
        return try CIB.parse("""
            <cib admin_epoch="0" epoch="10" num_updates="0" validate-with="pacemaker-3.9"><configuration><crm_config>\
            <cluster_property_set id="cib-bootstrap-options"><nvpair id="o-dc" name="dc-deadtime" value="2s"/>\
            </cluster_property_set></crm_config><nodes>\
            \(entries)\
            </nodes><resources>\(c.fenceDevice)\(c.serviceXML(meta: ["resource-stickiness": "100"]))</resources>\
            <constraints><rsc_location id="svc-prefers-node1" rsc="svc" node="node1" score="50"/></constraints>\
            </configuration><status/></cib>
            """)
    }

    /// `corosync-quorumtool -s` on a node: its exit status (0 quorate, 2 not) and its output.
    static func quorum(_ n: Node) -> (status: Int32, stdout: String, stderr: String) {
        guard let r = try? n.tool("corosync-quorumtool", ["-s"]) else { return (-1, "", "corosync-quorumtool did not run") }
        return (r.status, r.stdout, r.stderr)
    }

    static func crmMon(_ n: Node, _ args: [String] = ["-1"]) -> String {
        guard let r = try? n.tool("crm_mon", args) else { return "" }
        return r.stdout + r.stderr
    }

    /// The completed fencings of `target`, as `reader`'s stonithd has them.
    static func fencings(of target: String, on reader: Node) async -> [Date] {
        guard let stonith = try? await StonithClient.connect(root: reader.root, name: "test") else { return [] }
        let history = (try? await stonith.history(target: target)) ?? []
        await stonith.close()
        return history.filter { $0.state == .done }.compactMap(\.completed)
    }

    /// (a) node1 alone: wait_for_all keeps it inquorate, so nothing starts and node2 (known,
    /// never seen) is not fenced. (b) With node2 up, the cluster is quorate and svc starts,
    /// once. (c) A power cut of the node running svc (SIGKILL of every process carrying its
    /// SWIFTHA_ROOT): the survivor stays quorate (two_node), fences the lost node, and only
    /// then starts svc, once; it never runs on two nodes at once. (d) The killed node starts
    /// again and rejoins; svc stays where it is and the node is not fenced again.
    @Test func twoNodeWaitsForAllThenSurvivesAPowerCutFencingFirstAndTheLostNodeRejoins() async throws {
        if let why = PacemakerCluster.serviceUnavailable {
            print("SKIPPED: twoNodeWaitsForAll...: \(why)")
            return
        }
        let c = try PacemakerCluster(nodes: 2, quorumOptions: ["two_node: 1"])
        defer { c.tearDown() }
        let nodes = c.nodes
        let service = c.service
        try service.install()
        let seeded = try Self.seededCIB(c)
        for n in nodes { try CIBStore(directory: n.root + "/var/lib/pacemaker/cib").save(seeded) }
        let daemons = PacemakerCluster.allDaemons

        // (a) node1 alone.
        try c[1].start(daemons: daemons, poweredByRoot: true)
        let alone = await PacemakerCluster.waitFor(90) {
            let mon = Self.crmMon(c[1])
            return c[1].started && mon.contains("Current DC: node1") && mon.contains("partition WITHOUT quorum")
        }
        try #require(alone, "node1 alone did not become a DC without quorum:\n\(Self.crmMon(c[1]))\n\(c.report)")
        let waiting = Self.quorum(c[1])
        #expect(waiting.status == 2 && waiting.stdout.contains("Quorate:          No") && waiting.stdout.contains("Expected votes:   2")
                    && waiting.stdout.contains("Total votes:      1") && waiting.stdout.contains("Flags:            2Node WaitForAll "),
                "corosync-quorumtool -s on node1 alone: \(waiting.status)\n\(waiting.stdout)\(waiting.stderr)")
        // Past dc-deadtime (2 s), the DC acts on what it has: without quorum, nothing.
        try await Task.sleep(for: .seconds(6))
        #expect(service.runs.isEmpty, "svc ran on node1 alone, without quorum: \(service.runs)")
        #expect(await Self.fencings(of: "node2", on: c[1]).isEmpty && !c[1].log.contains("fencing node2"),
                "node1 alone, without quorum, fenced node2:\n\(c.report)")
        // crm_mon -1 -r (inactive resources too): node2 is unclean, but not fenced without
        // quorum, and svc is stopped.
        let monAlone = Self.crmMon(c[1], ["-1", "-r"])
        #expect(monAlone.contains("partition WITHOUT quorum") && monAlone.contains("Node node2: UNCLEAN (offline)")
                    && monAlone.contains("Online: [ node1 ]") && monAlone.contains("svc\t(ocf:heartbeat:anything):\t Stopped"),
                "crm_mon -1 -r on node1 alone:\n\(monAlone)")

        // (b) node2 joins: quorate, svc starts once.
        try c[2].start(daemons: daemons, poweredByRoot: true)
        let formed = await PacemakerCluster.waitFor(90) { c[2].started && PacemakerCluster.formed(nodes, dc: nil) }
        try #require(formed, "the two nodes did not form one cluster:\n\(c.report)")
        for n in nodes {
            let q = Self.quorum(n)
            #expect(q.status == 0 && q.stdout.contains("Quorate:          Yes") && q.stdout.contains("Nodes:            2")
                        && q.stdout.contains("Flags:            2Node Quorate WaitForAll "),
                    "corosync-quorumtool -s on \(n.name) with both up: \(q.status)\n\(q.stdout)\(q.stderr)")
        }
        let started = await PacemakerCluster.waitFor(60) { service.runs.count == 1 && service.runsOnceNow }
        try #require(started, "svc did not start once: \(service.runs)\n\(c.report)")
        try await Task.sleep(for: .seconds(3))
        let first = service.runs
        #expect(first.count == 1 && service.runsOnceNow, "svc ran \(first.count) times with both nodes up: \(first)")
        let holder = try #require(nodes.first { $0.root == first[0].root }, "svc runs on \(first[0].root), not on a node")
        let survivor = try #require(nodes.first { $0 !== holder })
        #expect(holder === c[1], "svc started on \(holder.name), not on node1, which it prefers")
        let mon = Self.crmMon(survivor)
        #expect(mon.contains("partition with quorum") && mon.contains("Online: [ node1 node2 ]")
                    && mon.contains("svc\t(ocf:heartbeat:anything):\t Started \(holder.name)"),
                "crm_mon -1 with both up:\n\(mon)")

        // (c) Power cut of the node running svc.
        let cut = Date().timeIntervalSince1970
        holder.killAll()
        let dead = Date().timeIntervalSince1970
        // The survivor keeps quorum throughout (corosync-quorumtool, sampled while it recovers).
        var inquorate: [String] = []
        let recovered = await PacemakerCluster.waitFor(60) {
            let q = Self.quorum(survivor)
            if q.status != 0 { inquorate.append("\(q.status) \(q.stdout)\(q.stderr)") }
            return service.runs.count == 2 && service.runsOnceNow && service.runs.last?.root == survivor.root
        }
        #expect(recovered, "svc was not recovered on \(survivor.name): \(service.runs)\n\(c.report)")
        #expect(inquorate.isEmpty, "\(survivor.name) lost quorum after \(holder.name) was lost: \(inquorate.prefix(3))")
        if recovered, let back = service.runs.last {
            print("two_node: power cut of \(holder.name) to svc running on \(survivor.name), fenced first (token 300 ms): \(String(format: "%.3f", back.first - cut)) s")
        }
        #expect(holder.isDown, "\(holder.name) still runs processes after the power cut")
        let q = Self.quorum(survivor)
        #expect(q.status == 0 && q.stdout.contains("Quorate:          Yes") && q.stdout.contains("Total votes:      1")
                    && q.stdout.contains("Quorum:           1") && q.stdout.contains("Flags:            2Node Quorate WaitForAll "),
                "corosync-quorumtool -s on \(survivor.name) alone: \(q.status)\n\(q.stdout)\(q.stderr)")
        // Some time more: nothing else starts, the recovered one keeps running.
        try await Task.sleep(for: .seconds(4))
        let runs = service.runs
        #expect(runs.count == 2 && service.runsOnceNow, "svc ran \(runs.count - 1) times after the power cut, not once: \(runs)")
        #expect(RecordingService.neverTwice(runs), "svc ran on two nodes at once: \(runs)")
        #expect(runs[0].last <= dead, "svc recorded on \(holder.name) after it was dead at \(dead): \(runs)")
        // Fenced (fence_swiftha, in the survivor's stonith history) before svc ran again.
        let fenced = await Self.fencings(of: holder.name, on: survivor)
        #expect(fenced.count == 1, "\(holder.name) was fenced \(fenced.count) times, not once")
        if let done = fenced.first, runs.count == 2 {
            #expect(done.timeIntervalSince1970 <= runs[1].first + 0.001,
                    "svc ran again at \(runs[1].first), before \(holder.name)'s fencing completed at \(done.timeIntervalSince1970)")
        }
        let admin = try survivor.tool("stonith_admin", ["--history", holder.name])
        #expect(admin.stdout.contains("reboot of \(holder.name) successful"), "stonith_admin --history \(holder.name):\n\(admin.stdout)\(admin.stderr)")
        let after = Self.crmMon(survivor)
        #expect(after.contains("partition with quorum") && after.contains("OFFLINE: [ \(holder.name) ]")
                    && after.contains("svc\t(ocf:heartbeat:anything):\t Started \(survivor.name)"),
                "crm_mon -1 after the power cut:\n\(after)")

        // (d) The lost node starts again and rejoins; svc stays where it runs.
        try holder.start(daemons: daemons, poweredByRoot: true)
        let rejoined = await PacemakerCluster.waitFor(90) { holder.started && PacemakerCluster.formed(nodes, dc: nil) }
        #expect(rejoined, "\(holder.name) did not rejoin:\n\(c.report)")
        let back = Self.quorum(holder)
        #expect(back.status == 0 && back.stdout.contains("Quorate:          Yes") && back.stdout.contains("Nodes:            2"),
                "corosync-quorumtool -s on \(holder.name) after it rejoined: \(back.status)\n\(back.stdout)\(back.stderr)")
        try await Task.sleep(for: .seconds(4))
        let final = service.runs
        #expect(final.count == 2 && service.runsOnceNow && final.last?.root == survivor.root,
                "after \(holder.name) rejoined, svc ran: \(final)")
        #expect(RecordingService.neverTwice(final), "svc ran on two nodes at once: \(final)")
        #expect(await Self.fencings(of: holder.name, on: survivor).count == 1, "\(holder.name) was fenced again when it rejoined:\n\(c.report)")
        let joined = Self.crmMon(holder)
        #expect(joined.contains("partition with quorum") && joined.contains("Online: [ node1 node2 ]")
                    && joined.contains("svc\t(ocf:heartbeat:anything):\t Started \(survivor.name)"),
                "crm_mon -1 on \(holder.name) after it rejoined:\n\(joined)")
    }
}
