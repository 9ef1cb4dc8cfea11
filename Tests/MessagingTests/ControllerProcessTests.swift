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
    final class Node: @unchecked Sendable {
        let name: String
        let root: String
        var process: Process?
        let out: String
        /// A command that runs pacemakerd elsewhere (`ip netns exec NS`), or empty.
        var launcher: [String] = []

        init(name: String, root: String) {
            self.name = name
            self.root = root
            out = root + "/pacemakerd.out"
        }

        /// `poweredByRoot`: pacemakerd itself carries SWIFTHA_ROOT, so that fencing the node
        /// (fence_swiftha) takes it down too, as a power-off would; by default it survives a
        /// fencing and starts the node's daemons again.
        func start(daemons: String = "corosyncd,cibd,lrmd,crmd", poweredByRoot: Bool = false) throws {
            _ = FileManager.default.createFile(atPath: out, contents: nil)
            let p = Process()
            let pacemakerd = Tool.binDir.appendingPathComponent("pacemakerd")
            let arguments = ["--root", root, "--node", name, "--daemons", daemons]
            if let first = launcher.first {
                p.executableURL = URL(fileURLWithPath: first)
                p.arguments = Array(launcher.dropFirst()) + [pacemakerd.path] + arguments
            } else {
                p.executableURL = pacemakerd
                p.arguments = arguments
            }
            var env = ProcessInfo.processInfo.environment
            for key in ["SWIFTHA_ROOT", "SWIFTHA_NODE", "NOTIFY_SOCKET", "CIB_file"] { env.removeValue(forKey: key) }
            if poweredByRoot { env["SWIFTHA_ROOT"] = root }
            p.environment = TestDaemon.tied(env)
            exitStatus = nil
            p.standardOutput = FileHandle(forWritingAtPath: out)
            p.standardError = FileHandle(forWritingAtPath: out)
            try p.run()
            process = p
        }

        var log: String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        var started: Bool { log.contains("all daemons started") }
        /// The Dummy's state file: it exists while the resource runs here.
        var stateFile: String { root + "/run/resource-agents/Dummy-d1.state" }
        var runsDummy: Bool { FileManager.default.fileExists(atPath: stateFile) }

        func cibadmin(_ args: [String]) -> Tool.Result? {
            try? Tool.run("cibadmin", args, env: ["SWIFTHA_ROOT": root])
        }

        /// The elements an XPath selects in this node's CIB (through its cibd).
        func query(_ xpath: String) -> [XElement] {
            guard let r = cibadmin(["--query", "--xpath", xpath]), r.status == 0,
                  let e = try? XElement.parse(Array(r.stdout.utf8)) else { return [] }
            return e.name == "xpath-query" ? e.elements : [e]
        }

        /// d1's history in this node's lrmd.
        func lrmdHistory() async -> ResourceHistory? {
            guard let c = try? await LRMClient.connect(root: root, timeout: .seconds(5)) else { return nil }
            defer { Task { await c.close() } }
            return try? await c.history(of: "d1")
        }

        /// pacemakerd's exit status, once it has exited (reaped here with waitpid: Foundation
        /// does not always notice the exit of a child started from an async test).
        private(set) var exitStatus: Int32?

        var hasExited: Bool {
            if exitStatus != nil { return true }
            guard let p = process else { return true }
            var status: Int32 = 0
            let r = waitpid(p.processIdentifier, &status, WNOHANG)
            if r == p.processIdentifier {
                exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                return true
            }
            if r < 0 && errno == ECHILD && !p.isRunning {
                exitStatus = p.terminationStatus
                return true
            }
            return false
        }

        func stop() {
            guard let p = process, !hasExited else { return }
            kill(p.processIdentifier, SIGTERM)
        }

        /// A power cut: SIGKILL to pacemakerd and every process of the node at once.
        func killAll() {
            if let p = process, !hasExited { kill(p.processIdentifier, SIGKILL) }
            for pid in NodeProcesses.find(root: root) { kill(pid, SIGKILL) }
            for _ in 0..<100 where !hasExited { usleep(50_000) }
        }

        func cleanUp() {
            if let p = process, !hasExited {
                kill(p.processIdentifier, SIGKILL)
                for _ in 0..<100 where !hasExited { usleep(50_000) }
            }
            for pid in NodeProcesses.find(root: root) { kill(pid, SIGKILL) }
        }
    }

    /// Runs a CIB-writing tool again while it exits 103 (CRM_EX_OLD: its change kept
    /// conflicting with the DC's status writes; see the report), at most 10 times.
    static func retrying(_ body: () -> Tool.Result?) -> Tool.Result? {
        var r = body()
        for _ in 0..<10 where r?.status == 103 {
            usleep(500_000)
            r = body()
        }
        return r
    }

    /// Every node's copy of the CIB names node1 as the DC and shows all nodes as members
    /// (node_state in_ccm, crmd online, join member): the cluster has formed. The tests act only
    /// then, so a node whose corosyncd merged late is not fenced as an unseen node (startup
    /// fencing) in the middle of a test's first commands.
    static func formed(_ nodes: [Node]) -> Bool {
        nodes.allSatisfy { n in
            n.query("/cib[@dc-uuid='1']").count == 1
                && n.query("/cib/status/node_state[@in_ccm='true'][@crmd='online'][@join='member']").count == nodes.count
        }
    }

    static func waitFor(_ seconds: Double, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return await condition()
    }

    static func report(_ nodes: [Node]) -> String {
        nodes.map { "--- \($0.name):\n\($0.log.split(separator: "\n").suffix(60).joined(separator: "\n"))" }.joined(separator: "\n")
    }

    /// Whether the CIB (as `node` reads it) records d1 started on `where` and stopped elsewhere.
    static func cibSaysStarted(_ reader: Node, on whereName: String, id: Int) -> Bool {
        let last = reader.query("/cib/status/node_state[@id='\(id)']/lrm/lrm_resources/lrm_resource[@id='d1']/lrm_rsc_op[@id='d1_last_0']")
        guard let op = last.first else { return false }
        return op["operation"] == "start" && op["rc-code"] == "0" && op["op-status"] == "0" && op["on_node"] == whereName
            && op["transition-key"] != nil && op["op-digest"] != nil && op["exec-time"] != nil && op["last-rc-change"] != nil
    }

    @Test func aDummyStartsOnceIsRecoveredAfterAFailureAndMovesWhenItsNodeStops() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Dummy") else {
            print("SKIPPED: aDummyStartsOnce...: resource-agents is not installed (no /usr/lib/ocf/resource.d/heartbeat/Dummy)")
            return
        }
        let c = try CorosyncdProcessTests.freshCluster(start: [])
        let nodes = c.all.map { Node(name: $0.name, root: $0.root) }
        defer {
            for n in nodes { n.cleanUp() }
            c.tearDown()
        }
        for n in nodes { try n.start() }
        let up = await Self.waitFor(90) { nodes.allSatisfy(\.started) }
        try #require(up, "not every node started:\n\(Self.report(nodes))")
        let formed = await Self.waitFor(60) { Self.formed(nodes) }
        try #require(formed, "the nodes did not form one cluster: \(nodes.map { n in "\(n.name): dc \(n.query("/cib").first?["dc-uuid"] ?? "-") states \(n.query("/cib/status/node_state").map { "\($0["uname"] ?? "?")/\($0["in_ccm"] ?? "?")/\($0["crmd"] ?? "?")/\($0["join"] ?? "?")" })" })\n\(Self.report(nodes))")

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
        let history = await nodes[first].lrmdHistory()
        let start = history?.operations.values.first { $0.key.action == .start }
        #expect(start?.exitCode == .success, "lrmd's history on \(nodes[first].name): \(String(describing: history))")
        for (i, n) in nodes.enumerated() where i != first {
            let h = await n.lrmdHistory()
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
        let c = try CorosyncdProcessTests.freshCluster(start: [])
        let nodes = c.all.map { Node(name: $0.name, root: $0.root) }
        defer {
            for n in nodes { n.cleanUp() }
            c.tearDown()
        }
        for n in nodes { try n.start(daemons: "corosyncd,cibd,stonithd,lrmd,crmd") }
        let up = await Self.waitFor(90) { nodes.allSatisfy(\.started) }
        try #require(up, "not every node started:\n\(Self.report(nodes))")
        let formed = await Self.waitFor(60) { Self.formed(nodes) }
        try #require(formed, "the nodes did not form one cluster: \(nodes.map { n in "\(n.name): dc \(n.query("/cib").first?["dc-uuid"] ?? "-") states \(n.query("/cib/status/node_state").map { "\($0["uname"] ?? "?")/\($0["in_ccm"] ?? "?")/\($0["crmd"] ?? "?")/\($0["join"] ?? "?")" })" })\n\(Self.report(nodes))")
        let roots = nodes.map { "\($0.name):\($0.root)" }.joined(separator: ";")
        let device = Self.retrying { nodes[0].cibadmin(["--create", "--scope", "resources", "--xml-text", """
            <primitive id="fence" class="stonith" type="fence_swiftha"><instance_attributes id="fence-ia">\
            <nvpair id="fence-roots" name="roots" value="\(roots)"/></instance_attributes></primitive>
            """]) }
        #expect(device?.status == 0, "cibadmin: \(device?.stderr ?? "")")
        let rsc = Self.retrying { nodes[0].cibadmin(["--create", "--scope", "resources", "--xml-text", """
            <primitive id="d1" class="ocf" provider="heartbeat" type="Dummy"><operations>\
            <op id="d1-monitor-2s" name="monitor" interval="2s" timeout="20s"/></operations></primitive>
            """]) }
        #expect(rsc?.status == 0, "cibadmin: \(rsc?.stderr ?? "")")
        let prefer = Self.retrying { nodes[0].cibadmin(["--create", "--scope", "constraints", "--xml-text",
            #"<rsc_location id="d1-prefers-node2" rsc="d1" node="node2" score="100"/>"#]) }
        #expect(prefer?.status == 0, "cibadmin: \(prefer?.stderr ?? "")")

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

    /// The service of the power-cut test: ocf:heartbeat:anything, unchanged, runs this script
    /// (through /usr/bin/env, which puts the node's SWIFTHA_ROOT back after the agent's `su -`,
    /// so fence_swiftha finds it). Every 50 ms it appends "<root> <pid> <time>" to a file all
    /// nodes share: each instance of the service says itself where and when it ran.
    static let serviceScript = """
        import os, sys, time
        root = os.environ.get("SWIFTHA_ROOT", "?")
        while True:
            with open(sys.argv[1], "a") as f:
                f.write("%s %d %.3f\\n" % (root, os.getpid(), time.time()))
            time.sleep(0.05)

        """

    /// One run of the service: where (the node's root), its pid, its first and last record.
    struct ServiceRun: Equatable, CustomStringConvertible {
        var root: String
        var pid: Int
        var first: Double
        var last: Double
        var description: String { "\((root as NSString).lastPathComponent) pid \(pid) \(first)...\(last)" }
    }

    /// The service's runs, in the order they began.
    static func serviceRuns(_ file: String) -> [ServiceRun] {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        var runs: [ServiceRun] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 3, let pid = Int(f[1]), let t = Double(f[2]) else { continue }
            if let i = runs.firstIndex(where: { $0.root == String(f[0]) && $0.pid == pid }) {
                runs[i].last = max(runs[i].last, t)
            } else {
                runs.append(ServiceRun(root: String(f[0]), pid: pid, first: t, last: t))
            }
        }
        return runs.sorted { $0.first < $1.first }
    }

    /// A power cut of the node that runs a real service (and is the DC): SIGKILL of every
    /// process carrying its SWIFTHA_ROOT. The survivors elect a DC, fence the node through
    /// stonithd (fence_swiftha), and start the service once, on one survivor; the service's own
    /// records show it never ran on two nodes at once.
    @Test func aPowerCutOfTheDCFencesItAndItsServiceRunsAgainOnceOnASurvivor() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/anything"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            print("SKIPPED: aPowerCutOfTheDC...: needs resource-agents (ocf:heartbeat:anything) and /usr/bin/python3")
            return
        }
        let c = try CorosyncdProcessTests.freshCluster(start: [])
        let nodes = c.all.map { Node(name: $0.name, root: $0.root) }
        defer {
            for n in nodes { n.cleanUp() }
            c.tearDown()
        }
        let script = c.scratch + "/service.py"
        let records = c.scratch + "/service.records"
        try Self.serviceScript.write(toFile: script, atomically: true, encoding: .utf8)
        for n in nodes { try n.start(daemons: "corosyncd,cibd,stonithd,lrmd,crmd") }
        let up = await Self.waitFor(90) { nodes.allSatisfy(\.started) }
        try #require(up, "not every node started:\n\(Self.report(nodes))")
        let formed = await Self.waitFor(60) { Self.formed(nodes) }
        try #require(formed, "the nodes did not form one cluster: \(nodes.map { n in "\(n.name): dc \(n.query("/cib").first?["dc-uuid"] ?? "-") states \(n.query("/cib/status/node_state").map { "\($0["uname"] ?? "?")/\($0["in_ccm"] ?? "?")/\($0["crmd"] ?? "?")/\($0["join"] ?? "?")" })" })\n\(Self.report(nodes))")
        let roots = nodes.map { "\($0.name):\($0.root)" }.joined(separator: ";")
        let device = Self.retrying { nodes[0].cibadmin(["--create", "--scope", "resources", "--xml-text", """
            <primitive id="fence" class="stonith" type="fence_swiftha"><instance_attributes id="fence-ia">\
            <nvpair id="fence-roots" name="roots" value="\(roots)"/></instance_attributes></primitive>
            """]) }
        #expect(device?.status == 0, "cibadmin: \(device?.stderr ?? "")")
        let rsc = Self.retrying { nodes[0].cibadmin(["--create", "--scope", "resources", "--xml-text", """
            <primitive id="svc" class="ocf" provider="heartbeat" type="anything"><instance_attributes id="svc-ia">\
            <nvpair id="svc-binfile" name="binfile" value="/usr/bin/env"/>\
            <nvpair id="svc-cmdline" name="cmdline_options" value="SWIFTHA_ROOT=$SWIFTHA_ROOT /usr/bin/python3 \(script) \(records)"/>\
            </instance_attributes><operations><op id="svc-monitor-2s" name="monitor" interval="2s" timeout="20s"/></operations></primitive>
            """]) }
        #expect(rsc?.status == 0, "cibadmin: \(rsc?.stderr ?? "")")
        let prefer = Self.retrying { nodes[0].cibadmin(["--create", "--scope", "constraints", "--xml-text",
            #"<rsc_location id="svc-prefers-node1" rsc="svc" node="node1" score="100"/>"#]) }
        #expect(prefer?.status == 0, "cibadmin: \(prefer?.stderr ?? "")")

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
