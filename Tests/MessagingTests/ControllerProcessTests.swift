import CIB
import Foundation
import LRM
import Messaging
import Stonith
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real three-node cluster: on 127.0.0.1-3, each node's pacemakerd runs its corosyncd, cibd,
/// lrmd and crmd (stonithd is left out and fencing disabled). An ocf:heartbeat:Dummy resource
/// is configured through cibadmin; the test reads the Dummy state files (the resource itself),
/// each node's lrmd and the CIB, and waits only with deadlines.
@Suite(.serialized) struct ControllerProcessTests {
    typealias Node = PacemakerNode

    // The shared harness (TestSupport's PacemakerCluster), under the names these suites use.
    static func waitFor(_ seconds: Double, _ condition: () async -> Bool) async -> Bool { await PacemakerCluster.waitFor(seconds, condition) }
    static func report(_ nodes: [Node]) -> String { PacemakerCluster.report(nodes) }
    static func formed(_ nodes: [Node]) -> Bool { PacemakerCluster.formed(nodes) }
    static func retrying(_ body: () -> Tool.Result?) -> Tool.Result? { PacemakerCluster.retrying(body) }
    static func serviceRuns(_ records: String) -> [RecordingService.Run] { RecordingService.runs(records) }

    /// Whether the CIB (as `node` reads it) records d1 started on `where` and stopped elsewhere.
    static func cibSaysStarted(_ reader: Node, on whereName: String, id: Int) -> Bool {
        let last = reader.query("/cib/status/node_state[@id='\(id)']/lrm/lrm_resources/lrm_resource[@id='d1']/lrm_rsc_op[@id='d1_last_0']")
        guard let op = last.first else { return false }
        return op["operation"] == "start" && op["rc-code"] == "0" && op["op-status"] == "0" && op["on_node"] == whereName
            && op["transition-key"] != nil && op["op-digest"] != nil && op["exec-time"] != nil && op["last-rc-change"] != nil
    }

    /// d1's history in `node`'s lrmd.
    static func lrmdHistory(_ node: Node) async -> ResourceHistory? {
        guard let c = try? await LRMClient.connect(root: node.root, timeout: .seconds(5)) else { return nil }
        defer { Task { await c.close() } }
        return try? await c.history(of: "d1")
    }

    @Test func aDummyStartsOnceIsRecoveredAfterAFailureAndMovesWhenItsNodeStops() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Dummy") else {
            print("SKIPPED: aDummyStartsOnce...: resource-agents is not installed (no /usr/lib/ocf/resource.d/heartbeat/Dummy)")
            return
        }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        let nodes = c.nodes
        try await c.start()

        // The configuration, through node1's cibd (the DC's: a change through another node's
        // cibd can be refused with 103 when the DC's status writes keep getting in first; see
        // the report).
        let props = Self.retrying { try? Tool.run("crm_attribute", ["--type", "crm_config", "--name", "stonith-enabled", "--update", "false"],
                                                  env: ["SWIFTHA_ROOT": nodes[0].root]) }
        #expect(props?.status == 0, "crm_attribute: \(props?.status ?? -1) \(props?.stderr ?? "")")
        // crmd reads shutdown-escalation at SIGTERM and tells pacemakerd (section 3).
        let escalation = Self.retrying { try? Tool.run("crm_attribute", ["--type", "crm_config", "--name", "shutdown-escalation", "--update", "90s"],
                                                       env: ["SWIFTHA_ROOT": nodes[0].root]) }
        #expect(escalation?.status == 0, "crm_attribute: \(escalation?.status ?? -1) \(escalation?.stderr ?? "")")
        let rsc = Self.retrying { nodes[0].cibadmin(["--create", "--scope", "resources", "--xml-text", """
            <primitive id="d1" class="ocf" provider="heartbeat" type="Dummy"><operations>\
            <op id="d1-monitor-2s" name="monitor" interval="2s" timeout="20s"/></operations></primitive>
            """]) }
        #expect(rsc?.status == 0, "cibadmin: \(rsc?.status ?? -1) \(rsc?.stderr ?? "")")
        // cibd stamped the configuration change as Pacemaker's CIB manager does; crm_mon, on
        // another node, shows when, by whom, through which program and on which node.
        let monitor = try Tool.run("crm_mon", ["-1"], env: ["SWIFTHA_ROOT": nodes[2].root])
        let lastChange = monitor.stdout.split(separator: "\n").first { $0.hasPrefix("  * Last change:") }.map(String.init) ?? ""
        let user = String(cString: getpwuid(geteuid()).pointee.pw_name)
        #expect(lastChange.range(of: #"^  \* Last change:  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} by \#(user) via cibadmin on node1$"#,
                                 options: .regularExpression) != nil, "crm_mon -1 on node3: Last change line '\(lastChange)'\n\(monitor.stdout)")

        // 1. d1 runs on exactly one node; its lrmd and the CIB agree.
        let started = await Self.waitFor(60) {
            let running = nodes.filter(\.runsDummy)
            guard running.count == 1, let i = nodes.firstIndex(where: { $0 === running[0] }) else { return false }
            return Self.cibSaysStarted(nodes[0], on: running[0].name, id: i + 1)
        }
        try #require(started, "d1 did not start on exactly one node:\n\(Self.report(nodes))")
        let first = nodes.firstIndex(where: \.runsDummy)!
        let history = await Self.lrmdHistory(nodes[first])
        let start = history?.operations.values.first { $0.key.action == .start }
        #expect(start?.exitCode == .success, "lrmd's history on \(nodes[first].name): \(String(describing: history))")
        for (i, n) in nodes.enumerated() where i != first {
            let h = await Self.lrmdHistory(n)
            #expect(h?.operations.values.contains { $0.key.action == .start } != true, "\(n.name)'s lrmd started d1 too")
        }
        // Every node's CIB says the same; the DC is recorded; saved scheduler inputs replay.
        #expect(nodes.allSatisfy { Self.cibSaysStarted($0, on: nodes[first].name, id: first + 1) })
        let dcRecorded = await Self.waitFor(10) { nodes[0].query("/cib[@dc-uuid='1'][@have-quorum='1']").count == 1 }
        #expect(dcRecorded, "the CIB does not name node1 as the DC with quorum: \(nodes[0].query("/cib").first.map { "\($0.attributes)" } ?? "")")
        let peDir = nodes[0].root + "/var/lib/pacemaker/pengine"
        let inputs = (try? FileManager.default.contentsOfDirectory(atPath: peDir))?.filter { $0.hasPrefix("pe-input-") } ?? []
        #expect(!inputs.isEmpty, "the DC saved no pe-input")
        if let one = inputs.sorted().last {
            let replay = try Tool.run("crm_simulate", ["-x", peDir + "/" + one, "-S"])
            #expect(replay.status == 0 && replay.stdout.contains("Transition Summary:"), "crm_simulate -x \(one): \(replay.stderr)")
        }

        // crm_mon on the live cluster shows the DC and where d1 runs.
        let mon = try Tool.run("crm_mon", ["-1"], env: ["SWIFTHA_ROOT": nodes[2].root])
        #expect(mon.status == 0 && mon.stdout.contains("Current DC: node1 (version 2.1.5-swiftha) - partition with quorum")
                    && mon.stdout.contains("Stack: corosync") && mon.stdout.contains("Online: [ node1 node2 node3 ]") && mon.stdout.contains("Started \(nodes[first].name)"),
                "crm_mon -1: \(mon.status)\n\(mon.stdout)\(mon.stderr)")

        // 2. The resource dies under its monitor: a failcount, and it runs again.
        try FileManager.default.removeItem(atPath: nodes[first].stateFile)
        let name = nodes[first].name
        let counted = await Self.waitFor(60) {
            let fc = nodes[0].query("/cib/status/node_state[@id='\(first + 1)']/transient_attributes//nvpair[@name='fail-count-d1#monitor_2000']")
            return (Int(fc.first?["value"] ?? "") ?? 0) >= 1
        }
        #expect(counted, "no failcount for the failed monitor:\n\(Self.report(nodes))")
        let recovered = await Self.waitFor(60) {
            nodes.filter(\.runsDummy).count == 1
                && nodes.indices.contains { nodes[$0].runsDummy && Self.cibSaysStarted(nodes[0], on: nodes[$0].name, id: $0 + 1) }
        }
        #expect(recovered, "d1 was not recovered after the monitor failure on \(name):\n\(Self.report(nodes))")
        let failure = nodes[0].query("/cib/status/node_state[@id='\(first + 1)']//lrm_rsc_op[@id='d1_last_failure_0']")
        #expect(failure.first?["rc-code"] == "7")

        // 3. A clean stop of the node running d1: d1 moves to another node first.
        let holder = try #require(nodes.firstIndex { $0.runsDummy })
        nodes[holder].stop()
        let exited = await Self.waitFor(90) { nodes[holder].hasExited }
        #expect(exited, "\(nodes[holder].name)'s pacemakerd did not stop:\n\(Self.report(nodes))")
        #expect(nodes[holder].exitStatus == 0)
        // crmd took the cluster's shutdown-escalation (90s) and told pacemakerd how long its
        // stop may take (it and a margin of 30 s), so pacemakerd would kill it only past that.
        #expect(nodes[holder].log.contains("crmd may take up to 2min to stop"), "\(nodes[holder].name)'s log:\n\(Self.report([nodes[holder]]))")
        let reader = nodes[holder == 0 ? 1 : 0]
        let moved = await Self.waitFor(60) {
            let running = nodes.filter(\.runsDummy)
            guard running.count == 1, running[0] !== nodes[holder], let i = nodes.firstIndex(where: { $0 === running[0] }) else { return false }
            return Self.cibSaysStarted(reader, on: running[0].name, id: i + 1)
        }
        #expect(moved, "d1 did not move off \(nodes[holder].name):\n\(Self.report(nodes))")
        let gone = reader.query("/cib/status/node_state[@id='\(holder + 1)']").first
        #expect(gone?["crmd"] == "offline" && gone?["expected"] == "down" && gone?["in_ccm"] == "false", "\(String(describing: gone))")
        let after = try Tool.run("crm_mon", ["-1"], env: ["SWIFTHA_ROOT": reader.root])
        #expect(after.stdout.contains("OFFLINE: [ \(nodes[holder].name) ]"), "crm_mon -1 after the stop:\n\(after.stdout)")
    }

    /// Fencing on: every node also runs stonithd, fence_swiftha is the device. The node running
    /// d1 loses power (SIGKILL of all its processes): the DC records it lost and unclean, has
    /// stonithd fence it, and only then starts d1 on a survivor.
    @Test func aLostNodeIsFencedThenItsResourceIsRecovered() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Dummy") else {
            print("SKIPPED: aLostNodeIsFenced...: resource-agents is not installed (no /usr/lib/ocf/resource.d/heartbeat/Dummy)")
            return
        }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        let nodes = c.nodes
        try await c.start(daemons: PacemakerCluster.allDaemons)
        try c.create("resources", c.fenceDevice)
        try c.create("resources", """
            <primitive id="d1" class="ocf" provider="heartbeat" type="Dummy"><operations>\
            <op id="d1-monitor-2s" name="monitor" interval="2s" timeout="20s"/></operations></primitive>
            """)
        try c.create("constraints", #"<rsc_location id="d1-prefers-node2" rsc="d1" node="node2" score="100"/>"#)

        let onNode2 = await Self.waitFor(60) {
            nodes.filter(\.runsDummy).map(\.name) == ["node2"] && Self.cibSaysStarted(nodes[0], on: "node2", id: 2)
        }
        try #require(onNode2, "d1 did not start on node2:\n\(Self.report(nodes))")
        // The fence device is started (watched) on exactly one node.
        let watched = await Self.waitFor(30) {
            nodes[0].query("/cib/status/node_state/lrm/lrm_resources/lrm_resource[@id='fence']/lrm_rsc_op[@id='fence_last_0'][@operation='start'][@rc-code='0']").count == 1
        }
        #expect(watched, "the fence device is not started on exactly one node")
        // Its start ran the agent's monitor through stonithd, as Pacemaker's executor does: a
        // device whose monitor fails (fence_swiftha checks that every root exists) does not
        // start; its start is recorded failed, with the agent's words, and it is never started.
        let bad = Self.retrying { nodes[0].cibadmin(["--create", "--scope", "resources", "--xml-text", """
            <primitive id="bad-fence" class="stonith" type="fence_swiftha"><instance_attributes id="bad-ia">            <nvpair id="bad-roots" name="roots" value="node9:\(nodes[0].root)/no-such-node9"/></instance_attributes></primitive>
            """]) }
        #expect(bad?.status == 0, "cibadmin: \(bad?.stderr ?? "")")
        let badFailed = await Self.waitFor(60) {
            !nodes[0].query("/cib/status/node_state/lrm/lrm_resources/lrm_resource[@id='bad-fence']/lrm_rsc_op[@operation='start'][@rc-code='1']").isEmpty
        }
        let badOps = nodes[0].query("/cib/status/node_state/lrm/lrm_resources/lrm_resource[@id='bad-fence']/lrm_rsc_op")
        #expect(badFailed, "the start of a fence device whose monitor fails was not recorded failed: \(badOps.map(\.attributes))\n\(Self.report(nodes))")
        #expect(badOps.contains { $0["exit-reason"]?.contains("no-such-node9") == true }, "\(badOps.map(\.attributes))")
        // The agent ran and failed: recorded as Pacemaker's executor records it, a completed
        // operation (op-status 0) with rc 1, not an execution error (op-status 4).
        #expect(badOps.contains { $0["operation"] == "start" && $0["rc-code"] == "1" && $0["op-status"] == "0" }, "\(badOps.map(\.attributes))")
        #expect(!badOps.contains { $0["operation"] == "start" && $0["rc-code"] == "0" }, "bad-fence was started: \(badOps.map(\.attributes))")
        let removed = Self.retrying { nodes[0].cibadmin(["--delete", "--scope", "resources", "--xml-text", #"<primitive id="bad-fence"/>"#]) }
        #expect(removed?.status == 0, "cibadmin --delete: \(removed?.stderr ?? "")")
        // A device with a recurring monitor: it runs the agent's monitor every second; once the
        // monitor fails (a root it names is removed), the failure and a failcount are recorded.
        let extra = nodes[0].root + "/../watched-root"
        try FileManager.default.createDirectory(atPath: extra, withIntermediateDirectories: true)
        let watchedDevice = Self.retrying { nodes[0].cibadmin(["--create", "--scope", "resources", "--xml-text", """
            <primitive id="watched" class="stonith" type="fence_swiftha"><instance_attributes id="watched-ia">\
            <nvpair id="watched-roots" name="roots" value="node9:\(extra)"/></instance_attributes><operations>\
            <op id="watched-monitor-1s" name="monitor" interval="1s" timeout="20s"/></operations></primitive>
            """]) }
        #expect(watchedDevice?.status == 0, "cibadmin: \(watchedDevice?.stderr ?? "")")
        let watching = await Self.waitFor(30) {
            !nodes[0].query("//lrm_resource[@id='watched']/lrm_rsc_op[@id='watched_monitor_1000'][@rc-code='0']").isEmpty
        }
        #expect(watching, "the device's recurring monitor did not start:\n\(Self.report(nodes))")
        try FileManager.default.removeItem(atPath: extra)
        // (The recovery's start fails too, the root being gone, and its failure then replaces
        // the monitor's as last_failure: either record of the monitor's failure counts.)
        let noticed = await Self.waitFor(30) {
            !nodes[0].query("//lrm_resource[@id='watched']/lrm_rsc_op[@id='watched_last_failure_0'][@operation='monitor']").isEmpty
                || !nodes[0].query("//transient_attributes//nvpair[@name='fail-count-watched#monitor_1000']").isEmpty
        }
        #expect(noticed, "the device's failed monitor was not recorded: \(nodes[0].query("//lrm_resource[@id='watched']/lrm_rsc_op").map(\.attributes))\n\(Self.report(nodes))")
        let unwatched = Self.retrying { nodes[0].cibadmin(["--delete", "--scope", "resources", "--xml-text", #"<primitive id="watched"/>"#]) }
        #expect(unwatched?.status == 0, "cibadmin --delete: \(unwatched?.stderr ?? "")")

        // Power cut on node2.
        let cut = ContinuousClock.now
        nodes[1].killAll()
        let survivors = [nodes[0], nodes[2]]
        let recovered = await Self.waitFor(60) {
            let running = survivors.filter(\.runsDummy)
            guard running.count == 1, let i = nodes.firstIndex(where: { $0 === running[0] }) else { return false }
            return Self.cibSaysStarted(nodes[0], on: running[0].name, id: i + 1)
        }
        #expect(recovered, "d1 was not recovered on a survivor:\n\(Self.report(nodes))")
        if recovered { print("crmd: power cut of node2 to d1 started on a survivor, fenced first (token 300 ms): \(ContinuousClock.now - cut)") }
        let state = nodes[0].query("/cib/status/node_state[@id='2']").first
        #expect(state?["in_ccm"] == "false" && state?["crmd"] == "offline" && state?["expected"] == "down" && state?["join"] == "down",
                "node2 is not recorded as fenced: \(String(describing: state?.attributes))")
        // stonithd's history has node2 fenced, and d1 started no earlier than that.
        let stonith = try await StonithClient.connect(root: nodes[0].root, name: "test")
        let history = try await stonith.history(target: "node2")
        await stonith.close()
        let done = history.first { $0.state == .done }
        #expect(done != nil, "no completed fencing of node2 in the history: \(history)")
        if let completed = done?.completed, let i = nodes.indices.first(where: { $0 != 1 && nodes[$0].runsDummy }) {
            let start = nodes[0].query("/cib/status/node_state[@id='\(i + 1)']//lrm_rsc_op[@id='d1_last_0']").first
            let at = Int(start?["last-rc-change"] ?? "") ?? 0
            #expect(at >= Int(completed.timeIntervalSince1970.rounded(.down)), "d1 started at \(at), before node2's fencing completed at \(completed)")
        }
    }

    /// A power cut of the node that runs a real service (and is the DC): SIGKILL of every
    /// process carrying its SWIFTHA_ROOT. The survivors elect a DC, fence the node through
    /// stonithd (fence_swiftha), and start the service once, on one survivor; the service's own
    /// records show it never ran on two nodes at once.
    @Test func aPowerCutOfTheDCFencesItAndItsServiceRunsAgainOnceOnASurvivor() async throws {
        if let why = PacemakerCluster.serviceUnavailable {
            print("SKIPPED: aPowerCutOfTheDC...: \(why)")
            return
        }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        let nodes = c.nodes
        let records = c.service.records
        try await c.start(daemons: PacemakerCluster.allDaemons)
        try c.configureFencedService(preferring: "node1")

        // The service runs on node1 (it may have started elsewhere first, before the location
        // constraint was in: then that run ended before this one began).
        let running = await Self.waitFor(60) {
            let runs = Self.serviceRuns(records)
            return runs.last?.root == nodes[0].root && Date().timeIntervalSince1970 - runs[runs.count - 1].last < 1
        }
        try #require(running, "svc did not start on node1: \(Self.serviceRuns(records))\n\(Self.report(nodes))")
        let mon = try Tool.run("crm_mon", ["-1"], env: ["SWIFTHA_ROOT": nodes[2].root])
        #expect(mon.stdout.contains("Current DC: node1") && mon.stdout.contains("svc\t(ocf:heartbeat:anything):\t Started node1"),
                "crm_mon -1:\n\(mon.stdout)\(mon.stderr)")

        let before = Self.serviceRuns(records).count

        // Power cut on node1.
        let cut = Date().timeIntervalSince1970
        nodes[0].killAll()
        // Every process of node1 is gone by now (the service may have written until then).
        let dead = Date().timeIntervalSince1970
        let survivors = [nodes[1], nodes[2]]
        let recovered = await Self.waitFor(60) {
            let runs = Self.serviceRuns(records)
            return runs.count > before && Date().timeIntervalSince1970 - runs[runs.count - 1].last < 1
        }
        #expect(recovered, "svc was not recovered: \(Self.serviceRuns(records))\n\(Self.report(nodes))")
        if recovered, let back = Self.serviceRuns(records).last {
            print("crmd: power cut of node1 (the DC) to svc running on \((back.root as NSString).lastPathComponent), fenced first (token 300 ms): \(String(format: "%.3f", back.first - cut)) s")
        }
        // Some time more: nothing else starts, the recovered one keeps running.
        try await Task.sleep(for: .seconds(4))
        let runs = Self.serviceRuns(records)
        #expect(runs.count == before + 1, "svc ran \(runs.count - before) times after the cut, not once: \(runs)")
        guard runs.count == before + 1 else { return }
        let back = runs[before]
        #expect(runs[before - 1].root == nodes[0].root && runs[before - 1].last <= dead, "\(runs) (node1 was dead at \(dead))")
        #expect(survivors.map(\.root).contains(back.root), "svc runs again on \(back.root), not on a survivor")
        #expect(Date().timeIntervalSince1970 - back.last < 1, "the recovered svc stopped: \(runs)")
        for (a, b) in zip(runs, runs.dropFirst()) {
            #expect(a.last < b.first, "svc ran on two nodes at once: \(a) and \(b)")
        }
        let holder = try #require(nodes.firstIndex { $0.root == back.root })
        let state = nodes[holder].query("/cib/status/node_state[@id='1']").first
        #expect(state?["in_ccm"] == "false" && state?["crmd"] == "offline" && state?["join"] == "down",
                "node1 is not recorded as fenced: \(String(describing: state?.attributes))")
        let after = try Tool.run("crm_mon", ["-1"], env: ["SWIFTHA_ROOT": nodes[holder].root])
        #expect(after.stdout.contains("OFFLINE: [ node1 ]") && after.stdout.contains("Started \(nodes[holder].name)"), "crm_mon -1:\n\(after.stdout)")
        // Every survivor's stonithd has node1 fenced, before the service ran again.
        for n in survivors {
            let stonith = try await StonithClient.connect(root: n.root, name: "test")
            let history = try await stonith.history(target: "node1")
            await stonith.close()
            let done = history.first { $0.state == .done }
            #expect(done != nil, "\(n.name): no completed fencing of node1 in the history: \(history)")
            if let completed = done?.completed {
                #expect(completed.timeIntervalSince1970 <= back.first + 0.001, "svc ran again at \(back.first), before node1's fencing completed at \(completed.timeIntervalSince1970)")
            }
        }
        let admin = try Tool.run("stonith_admin", ["--history", "node1"], env: ["SWIFTHA_ROOT": nodes[holder].root])
        #expect(admin.stdout.contains("reboot of node1 successful"), "stonith_admin --history node1:\n\(admin.stdout)\(admin.stderr)")
    }
}
