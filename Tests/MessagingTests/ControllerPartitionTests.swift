import CIB
import Foundation
import Messaging
import Stonith
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The whole stack (pacemakerd, corosyncd, cibd, lrmd, crmd) on three nodes, each in a network
/// namespace of its own, through a partition and its heal.
@Suite(.serialized) struct ControllerPartitionTests {
    typealias Node = ControllerProcessTests.Node

    /// The corosync.conf of the three namespace nodes: knet, token 300, votequorum.
    static func corosyncConf(_ net: TestNetwork) -> String {
        var config = """
        totem {
            version: 2
            cluster_name: swiftha-netns
            transport: knet
            token: 300
            token_coefficient: 0
        }
        quorum {
            provider: corosync_votequorum
        }
        logging {
            to_stderr: yes
        }
        nodelist {

        """
        for i in 1...3 { config += "    node {\n        ring0_addr: \(net.address(i))\n        name: node\(i)\n        nodeid: \(i)\n    }\n" }
        config += "}\n"
        return config
    }

    /// Node 3, which runs d1, is cut off (fencing disabled). The majority (node1, the DC, and
    /// node2) starts d1 on one of its nodes and records it in its copy of the CIB; node3, alone
    /// and without quorum, stops d1 (no-quorum-policy=stop), and a configuration change is made
    /// there, so that at the heal cibd keeps node3's copy, which has no record of d1 running in
    /// the majority. The DC then reads every node's history again: every copy shows d1 where it
    /// runs, and it runs on one node only.
    @Test(.enabled(if: TestNetwork.skipReason == nil, "needs root and `ip netns`"))
    func afterAMergeKeepsTheOtherPartitionsCopyTheStatusShowsWhatRanInThisOne() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Dummy") else {
            print("SKIPPED: afterAMerge...: resource-agents is not installed (no /usr/lib/ocf/resource.d/heartbeat/Dummy)")
            return
        }
        let net = try TestNetwork(nodes: 3)
        defer { net.tearDown() }
        let scratch = scratchDirectory("crmd-netns")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let key = try AuthKey.generate()
        let config = Self.corosyncConf(net)
        let nodes = (1...3).map { Node(name: "node\($0)", root: "\(scratch)/node\($0)") }
        defer { for n in nodes { n.cleanUp() } }
        for (i, n) in nodes.enumerated() {
            try FileManager.default.createDirectory(atPath: "\(n.root)/etc/corosync", withIntermediateDirectories: true)
            try config.write(toFile: "\(n.root)/etc/corosync/corosync.conf", atomically: true, encoding: .utf8)
            try key.write(to: "\(n.root)/etc/corosync/authkey")
            n.launcher = net.launcher(i + 1)
            try n.start()
        }
        let up = await ControllerProcessTests.waitFor(90) { nodes.allSatisfy(\.started) }
        try #require(up, "not every node started:\n\(ControllerProcessTests.report(nodes))")
        let formed = await ControllerProcessTests.waitFor(60) { ControllerProcessTests.formed(nodes) }
        try #require(formed, "the nodes did not form one cluster\n\(ControllerProcessTests.report(nodes))")

        let props = ControllerProcessTests.retrying { try? Tool.run("crm_attribute", ["--type", "crm_config", "--name", "stonith-enabled", "--update", "false"],
                                                                    env: ["SWIFTHA_ROOT": nodes[0].root]) }
        #expect(props?.status == 0, "crm_attribute: \(props?.stderr ?? "")")
        let rsc = ControllerProcessTests.retrying { nodes[0].cibadmin(["--create", "--scope", "resources", "--xml-text", """
            <primitive id="d1" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="d1-meta">\
            <nvpair id="d1-stickiness" name="resource-stickiness" value="200"/>\
            <nvpair id="d1-role" name="target-role" value="Stopped"/></meta_attributes><operations>\
            <op id="d1-monitor-2s" name="monitor" interval="2s" timeout="20s"/></operations></primitive>
            """]) }
        #expect(rsc?.status == 0, "cibadmin: \(rsc?.stderr ?? "")")
        let prefer = ControllerProcessTests.retrying { nodes[0].cibadmin(["--create", "--scope", "constraints", "--xml-text",
            #"<rsc_location id="d1-prefers-node3" rsc="d1" node="node3" score="100"/>"#]) }
        #expect(prefer?.status == 0, "cibadmin: \(prefer?.stderr ?? "")")
        // Started only now, so that it is placed with the constraint (stickiness keeps it then).
        let role = ControllerProcessTests.retrying { nodes[0].cibadmin(["--modify", "--scope", "resources", "--xml-text",
            #"<nvpair id="d1-role" name="target-role" value="Started"/>"#]) }
        #expect(role?.status == 0, "cibadmin --modify: \(role?.stderr ?? "")")
        let onNode3 = await ControllerProcessTests.waitFor(60) { nodes.filter(\.runsDummy).map(\.name) == ["node3"] }
        try #require(onNode3, "d1 did not start on node3:\n\(ControllerProcessTests.report(nodes))")

        // node3 is cut off.
        try net.cut(3, true)
        var holder: Node?
        let moved = await ControllerProcessTests.waitFor(60) {
            let running = nodes.filter(\.runsDummy)
            guard running.count == 1, running[0] !== nodes[2] else { return false }
            holder = running[0]
            return true
        }
        try #require(moved, "d1 did not move to the majority: runs on \(nodes.filter(\.runsDummy).map(\.name))\n\(ControllerProcessTests.report(nodes))")
        let x = holder!
        func started(_ name: String, in reader: Node) -> Bool {
            let id = nodes.firstIndex { $0.name == name }! + 1
            return !reader.query("/cib/status/node_state[@id='\(id)']/lrm/lrm_resources/lrm_resource[@id='d1']/lrm_rsc_op[@id='d1_last_0'][@operation='start'][@rc-code='0']").isEmpty
        }
        let recorded = await ControllerProcessTests.waitFor(30) { started(x.name, in: nodes[0]) }
        #expect(recorded, "the majority's copy does not record d1 started on \(x.name)")
        // The minority has no quorum: a configuration change is refused, with Pacemaker's exit
        // code for it (106) and what to do, rather than acknowledged and lost at the merge.
        let refused = ControllerProcessTests.retrying { try? Tool.run("crm_attribute", ["--type", "crm_config", "--name", "batch-limit", "--update", "30"],
                                                                      env: ["SWIFTHA_ROOT": nodes[2].root]) }
        #expect(refused?.status == 106 && (refused?.stderr ?? "").contains("has no quorum: configuration changes are refused"),
                "crm_attribute on node3 without quorum: \(refused?.status ?? -1) \(refused?.stderr ?? "")")
        // Forced (cibadmin --force, Pacemaker's quorum override), it is taken: node3's copy
        // will be the one kept at the merge.
        let change = ControllerProcessTests.retrying { nodes[2].cibadmin(["--modify", "--force", "--allow-create", "--scope", "crm_config", "--xml-text",
            #"<cluster_property_set id="cib-bootstrap-options"><nvpair id="cib-bootstrap-options-batch-limit" name="batch-limit" value="30"/></cluster_property_set>"#]) }
        #expect(change?.status == 0, "cibadmin --force on node3: \(change?.stderr ?? "")")
        #expect(!started(x.name, in: nodes[2]), "node3's copy knows of d1 on \(x.name)")

        // The heal: node3's copy wins the sync (the higher epoch), the DC re-reads the histories.
        // From now on d1 must never run on two nodes at once (sampled every 50 ms).
        final class Watch: @unchecked Sendable {
            let lock = NSLock()
            var twice: [[String]] = []
            var done = false
        }
        let watch = Watch()
        let sampler = Task {
            while !watch.lock.withLock({ watch.done }) {
                let running = nodes.filter(\.runsDummy).map(\.name)
                if running.count > 1 { watch.lock.withLock { watch.twice.append(running) } }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        try net.cut(3, false)
        let merged = await ControllerProcessTests.waitFor(60) {
            ControllerProcessTests.formed(nodes) && nodes.allSatisfy { !$0.query("//nvpair[@name='batch-limit'][@value='30']").isEmpty }
        }
        #expect(merged, "the partitions did not merge with node3's copy:\n\(ControllerProcessTests.report(nodes))")
        // Every copy shows d1 started where it runs, on one node.
        var final: String?
        let shown = await ControllerProcessTests.waitFor(30) {
            let running = nodes.filter(\.runsDummy).map(\.name)
            guard running.count == 1 else { return false }
            final = running[0]
            return nodes.allSatisfy { started(running[0], in: $0) }
        }
        #expect(shown, "after the merge, the status does not show d1 where it runs (\(nodes.filter(\.runsDummy).map(\.name))): \(nodes.map { "\($0.name): \($0.query("//lrm_resource[@id='d1']/lrm_rsc_op").map(\.attributes))" })\n\(ControllerProcessTests.report(nodes))")
        if nodes[0].log.contains("the CIB was replaced") { print("crmd: the DC's copy was replaced at the merge and every history read again") }
        for _ in 0..<10 {
            #expect(nodes.filter(\.runsDummy).map(\.name) == [final ?? "?"], "d1 runs on \(nodes.filter(\.runsDummy).map(\.name))")
            try await Task.sleep(for: .milliseconds(500))
        }
        watch.lock.withLock { watch.done = true }
        await sampler.value
        #expect(watch.lock.withLock { watch.twice }.isEmpty, "d1 ran on two nodes at once after the heal: \(watch.lock.withLock { watch.twice })")
    }

    /// Fencing on (stonithd on every node, fence_swiftha the device), no-quorum-policy=stop:
    /// node3, which runs a real service (it records its node and pid), is cut off. node3
    /// loses quorum and stops the service; the majority fences node3 (the device delays the
    /// fencing of node3 by 3 s, pcmk_delay_base, so that the stop comes first) and only then
    /// starts the service once on a survivor. After the heal node3 is started again and rejoins.
    @Test(.enabled(if: TestNetwork.skipReason == nil, "needs root and `ip netns`"))
    func withFencingTheMinorityStopsItsServiceAndTheMajorityFencesItThenRecovers() async throws {
        try await partitionWithFencing(policy: "stop")
    }

    /// The same with no-quorum-policy=freeze: node3 keeps its service running without quorum
    /// (nothing stopped there) until the majority's fencing kills it; the service then runs
    /// once on a survivor, never on two nodes at once.
    @Test(.enabled(if: TestNetwork.skipReason == nil, "needs root and `ip netns`"))
    func withFencingAFrozenMinorityKeepsItsServiceUntilTheMajorityFencesIt() async throws {
        try await partitionWithFencing(policy: "freeze")
    }

    func partitionWithFencing(policy: String) async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/anything"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            print("SKIPPED: partitionWithFencing(\(policy)): needs resource-agents (ocf:heartbeat:anything) and /usr/bin/python3")
            return
        }
        let net = try TestNetwork(nodes: 3)
        defer { net.tearDown() }
        let scratch = scratchDirectory("crmd-netns-fence")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let key = try AuthKey.generate()
        let config = Self.corosyncConf(net)
        let daemons = "corosyncd,cibd,stonithd,lrmd,crmd"
        let nodes = (1...3).map { Node(name: "node\($0)", root: "\(scratch)/node\($0)") }
        defer { for n in nodes { n.cleanUp() } }
        let script = scratch + "/service.py"
        let records = scratch + "/service.records"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        try RecordingService.source.write(toFile: script, atomically: true, encoding: .utf8)
        for (i, n) in nodes.enumerated() {
            try FileManager.default.createDirectory(atPath: "\(n.root)/etc/corosync", withIntermediateDirectories: true)
            try config.write(toFile: "\(n.root)/etc/corosync/corosync.conf", atomically: true, encoding: .utf8)
            try key.write(to: "\(n.root)/etc/corosync/authkey")
            n.launcher = net.launcher(i + 1)
            // node3's pacemakerd goes down with its fencing, as a node's power does.
            try n.start(daemons: daemons, poweredByRoot: i == 2)
        }
        let up = await ControllerProcessTests.waitFor(90) { nodes.allSatisfy(\.started) }
        try #require(up, "not every node started:\n\(ControllerProcessTests.report(nodes))")
        let formed = await ControllerProcessTests.waitFor(60) { ControllerProcessTests.formed(nodes) }
        try #require(formed, "the nodes did not form one cluster\n\(ControllerProcessTests.report(nodes))")

        let nqp = ControllerProcessTests.retrying { try? Tool.run("crm_attribute", ["--type", "crm_config", "--name", "no-quorum-policy", "--update", policy],
                                                                  env: ["SWIFTHA_ROOT": nodes[0].root]) }
        #expect(nqp?.status == 0, "crm_attribute: \(nqp?.stderr ?? "")")
        let roots = nodes.map { "\($0.name):\($0.root)" }.joined(separator: ";")
        let device = ControllerProcessTests.retrying { nodes[0].cibadmin(["--create", "--scope", "resources", "--xml-text", """
            <primitive id="fence" class="stonith" type="fence_swiftha"><instance_attributes id="fence-ia">\
            <nvpair id="fence-roots" name="roots" value="\(roots)"/>\
            <nvpair id="fence-delay" name="pcmk_delay_base" value="node3:3s"/></instance_attributes></primitive>
            """]) }
        #expect(device?.status == 0, "cibadmin: \(device?.stderr ?? "")")
        let rsc = ControllerProcessTests.retrying { nodes[0].cibadmin(["--create", "--scope", "resources", "--xml-text", """
            <primitive id="svc" class="ocf" provider="heartbeat" type="anything"><instance_attributes id="svc-ia">\
            <nvpair id="svc-binfile" name="binfile" value="/usr/bin/env"/>\
            <nvpair id="svc-cmdline" name="cmdline_options" value="SWIFTHA_ROOT=$SWIFTHA_ROOT /usr/bin/python3 \(script) \(records)"/>\
            </instance_attributes><meta_attributes id="svc-meta">\
            <nvpair id="svc-stickiness" name="resource-stickiness" value="200"/>\
            <nvpair id="svc-role" name="target-role" value="Stopped"/></meta_attributes><operations>\
            <op id="svc-monitor-2s" name="monitor" interval="2s" timeout="20s"/></operations></primitive>
            """]) }
        #expect(rsc?.status == 0, "cibadmin: \(rsc?.stderr ?? "")")
        let prefer = ControllerProcessTests.retrying { nodes[0].cibadmin(["--create", "--scope", "constraints", "--xml-text",
            #"<rsc_location id="svc-prefers-node3" rsc="svc" node="node3" score="100"/>"#]) }
        #expect(prefer?.status == 0, "cibadmin: \(prefer?.stderr ?? "")")
        let role = ControllerProcessTests.retrying { nodes[0].cibadmin(["--modify", "--scope", "resources", "--xml-text",
            #"<nvpair id="svc-role" name="target-role" value="Started"/>"#]) }
        #expect(role?.status == 0, "cibadmin --modify: \(role?.stderr ?? "")")
        func runs() -> [RecordingService.Run] { ControllerProcessTests.serviceRuns(records) }
        func now() -> Double { Date().timeIntervalSince1970 }
        let onNode3 = await ControllerProcessTests.waitFor(60) {
            let r = runs()
            return r.count == 1 && r[0].root == nodes[2].root && now() - r[0].last < 1
        }
        try #require(onNode3, "svc did not start (once) on node3: \(runs())\n\(ControllerProcessTests.report(nodes))")

        // node3 is cut off.
        let cut = now()
        try net.cut(3, true)
        let survivors = [nodes[0], nodes[1]]
        let recovered = await ControllerProcessTests.waitFor(60) {
            let r = runs()
            return r.count > 1 && now() - r[r.count - 1].last < 1
        }
        #expect(recovered, "svc was not recovered in the majority: \(runs())\n\(ControllerProcessTests.report(nodes))")
        if recovered, let back = runs().last {
            print("crmd: partition (\(policy)) to svc running on \((back.root as NSString).lastPathComponent), node3 fenced first (3 s fencing delay): \(String(format: "%.3f", back.first - cut)) s")
        }
        // Some time more: nothing else starts.
        try await Task.sleep(for: .seconds(3))
        let after = runs()
        #expect(after.count == 2, "svc ran \(after.count - 1) times after the cut, not once: \(after)")
        for (a, b) in zip(after, after.dropFirst()) {
            #expect(a.last < b.first, "svc ran on two nodes at once: \(a) and \(b)")
        }
        guard after.count == 2 else { return }
        let back = after[1]
        #expect(survivors.map(\.root).contains(back.root), "svc runs again on \(back.root), not on a survivor")
        #expect(now() - back.last < 1, "the recovered svc stopped: \(after)")
        // node3 is down: fenced, with its pacemakerd.
        let down = await ControllerProcessTests.waitFor(10) { nodes[2].hasExited && NodeProcesses.find(root: nodes[2].root).filter { !NodeProcesses.isZombie($0) }.isEmpty }
        #expect(down, "node3 still has processes after its fencing: \(NodeProcesses.find(root: nodes[2].root))")

        // The majority fenced node3 (every survivor's stonithd has it done), before the
        // service ran again.
        var fencedAt: Double?
        for n in survivors {
            let stonith = try await StonithClient.connect(root: n.root, name: "test")
            let history = try await stonith.history(target: "node3")
            await stonith.close()
            let done = history.first { $0.state == .done }
            #expect(done != nil, "\(n.name): no completed fencing of node3 in the history: \(history)")
            if let completed = done?.completed?.timeIntervalSince1970 {
                fencedAt = min(fencedAt ?? completed, completed)
                #expect(completed <= back.first + 0.001, "svc ran again at \(back.first), before node3's fencing completed at \(completed)")
            }
        }
        let admin = try Tool.run("stonith_admin", ["--history", "node3"], env: ["SWIFTHA_ROOT": nodes[0].root])
        #expect(admin.stdout.contains("reboot of node3 successful"), "stonith_admin --history node3:\n\(admin.stdout)\(admin.stderr)")

        // node3, alone, lost quorum and did what no-quorum-policy says with its service.
        let log3 = nodes[2].log
        #expect(log3.contains("quorum lost"), "node3's crmd did not see the quorum lost:\n\(log3.split(separator: "\n").suffix(60).joined(separator: "\n"))")
        let first = after[0]
        if policy == "stop" {
            #expect(log3.contains("svc_stop_0 on node3: rc=0"), "node3 did not stop svc without quorum:\n\(log3.split(separator: "\n").suffix(60).joined(separator: "\n"))")
            if let fencedAt {
                #expect(first.last < fencedAt, "svc on node3 ran until its fencing (\(fencedAt)), not stopped for no-quorum-policy=stop: \(first)")
            }
        } else {
            #expect(!log3.contains("svc_stop_0"), "node3 stopped svc with no-quorum-policy=freeze:\n\(log3.split(separator: "\n").suffix(60).joined(separator: "\n"))")
            // It kept running without quorum, until the fencing (delayed 3 s) killed it.
            #expect(first.last > cut + 2, "svc on node3 stopped \(first.last - cut) s after the cut, with no-quorum-policy=freeze")
        }

        // The heal; node3 is started again and rejoins. Its power-on is a boot: its /run (a
        // tmpfs on a real node) starts empty. Otherwise, with freeze, the pid file the service's
        // agent left when the fencing killed it would make node3's probe report the service
        // failed there (ocf:heartbeat:anything: a pid file without its process), and the
        // recovery of a resource active on two nodes would move it.
        try net.cut(3, false)
        try? FileManager.default.removeItem(atPath: nodes[2].root + "/run")
        try nodes[2].start(daemons: daemons, poweredByRoot: true)
        let rejoined = await ControllerProcessTests.waitFor(90) { nodes[2].started && ControllerProcessTests.formed(nodes) }
        #expect(rejoined, "node3 did not rejoin:\n\(ControllerProcessTests.report(nodes))")
        let online = await ControllerProcessTests.waitFor(30) {
            ((try? Tool.run("crm_mon", ["-1"], env: ["SWIFTHA_ROOT": nodes[0].root]))?.stdout ?? "").contains("Online: [ node1 node2 node3 ]")
        }
        let mon = try Tool.run("crm_mon", ["-1"], env: ["SWIFTHA_ROOT": nodes[2].root])
        #expect(online && mon.stdout.contains("Online: [ node1 node2 node3 ]") && mon.stdout.contains("partition with quorum"),
                "crm_mon -1 after node3's return:\n\(mon.stdout)\(mon.stderr)")
        // The service stays where it is (stickiness), once.
        try await Task.sleep(for: .seconds(3))
        let final = runs()
        #expect(final.count == 2 && now() - final[final.count - 1].last < 1, "svc after node3's return: \(final)\n\(ControllerProcessTests.report(nodes))")
        for (a, b) in zip(final, final.dropFirst()) {
            #expect(a.last < b.first, "svc ran on two nodes at once: \(a) and \(b)")
        }
    }
}
