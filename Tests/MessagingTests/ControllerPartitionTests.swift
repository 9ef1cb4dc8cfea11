import CIB
import Foundation
import Messaging
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The whole stack (pacemakerd, corosyncd, cibd, lrmd, crmd) on three nodes, each in a network
/// namespace of its own, through a partition and its heal.
@Suite(.serialized) struct ControllerPartitionTests {
    typealias Node = ControllerProcessTests.Node

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
}
