import CIB
import CIBClient
import Foundation
import Stonith
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// One stonithd process of a test cluster, beside that node's corosyncd and cibd (same root).
/// Like every process of a node, it carries SWIFTHA_ROOT=<the node's root>.
final class StonithdNode: @unchecked Sendable {
    let name: String
    let root: String
    let agentDirectory: String
    private(set) var process: Process?
    private(set) var logPath = ""
    private(set) var notify: NotifySocket?

    init(name: String, root: String, agentDirectory: String) {
        self.name = name
        self.root = root
        self.agentDirectory = agentDirectory
    }

    func start() throws {
        logPath = "\(root)/stonithd.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let n = try NotifySocket()
        notify = n
        let p = Process()
        p.executableURL = Tool.binDir.appendingPathComponent("stonithd")
        p.arguments = ["--root", root, "--node", name, "--agent-dir", agentDirectory]
        var env = ProcessInfo.processInfo.environment
        for key in ["SWIFTHA_NODE", "CIB_file"] { env.removeValue(forKey: key) }
        env["SWIFTHA_ROOT"] = root
        env["NOTIFY_SOCKET"] = n.path
        p.environment = TestDaemon.tied(env)
        let log = FileHandle(forWritingAtPath: logPath)!
        p.standardError = log
        p.standardOutput = log
        try p.run()
        process = p
    }

    var isReady: Bool { notify?.messages.contains { $0.contains("READY=1") } ?? false }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM; the exit status, or nil when it did not end within `seconds`.
    func terminate(within seconds: Double = 15) -> Int32? {
        guard let p = process else { return nil }
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        guard CorosyncdCluster.waitFor(seconds, { !p.isRunning }) != nil else { return nil }
        return p.terminationStatus
    }

    func admin(_ args: [String]) throws -> Tool.Result {
        try Tool.run("stonith_admin", args, env: ["SWIFTHA_ROOT": root])
    }

    func cleanUp() {
        if let p = process, p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        notify?.close()
    }
}

/// Three nodes on 127.0.0.1-3, each with corosyncd, cibd and stonithd; fence_swiftha as the
/// cluster's fence device.
@Suite(.serialized) struct StonithdProcessTests {
    /// A fence agent whose power switch never answers: its fencing actions exit 1.
    static let failingAgent = """
    #!/bin/sh
    action=reboot
    while IFS='=' read -r k v; do [ "$k" = action ] && action="$v"; done
    case "$action" in
      metadata) echo '<?xml version="1.0" ?><resource-agent name="fence_fail" shortdesc="always fails"><parameters><parameter name="plug"><content type="string"/></parameter></parameters><actions><action name="off"/><action name="reboot"/><action name="list"/><action name="metadata"/></actions></resource-agent>' ;;
      list|monitor|status) exit 0 ;;
      *) echo "power switch unreachable" >&2; exit 1 ;;
    esac
    """

    /// `stonith_admin --reboot node3` on node1 kills node3's processes (its workload among
    /// them) through fence_swiftha, exits 0, and node1's and node2's history show it with the
    /// executing node; a device added to the CIB later is registered on every node; a failing
    /// device's failure is reported with the agent's words and exit 1; --confirm records a
    /// manual confirmation everywhere; a node no device can fence gives 105; SIGTERM ends
    /// every stonithd with 0.
    @Test func rebootThroughAnotherNodeFailureAndConfirmation() async throws {
        let c = try CorosyncdProcessTests.freshCluster(prepare: { cluster in
            // node3's corosyncd is one of node3's processes: fencing node3 kills it too.
            cluster[3].environment = ["SWIFTHA_ROOT": cluster[3].root]
        })
        let cibds = c.all.map { CIBDNode(name: $0.name, root: $0.root) }
        let agents = c.scratch + "/agents"
        try FileManager.default.createDirectory(atPath: agents, withIntermediateDirectories: true)
        try Self.failingAgent.write(toFile: agents + "/fence_fail", atomically: true, encoding: .utf8)
        chmod(agents + "/fence_fail", 0o755)
        let stonithds = c.all.map { StonithdNode(name: $0.name, root: $0.root, agentDirectory: agents) }
        var workload: Process?
        defer {
            if let w = workload, w.isRunning { kill(w.processIdentifier, SIGKILL); w.waitUntilExit() }
            for pid in NodeProcesses.find(root: c[3].root) { kill(pid, SIGKILL) }
            for s in stonithds { s.cleanUp() }
            CIBDaemonProcessTests.tearDown(c, cibds)
        }
        func report() -> String {
            (stonithds.map { "--- \($0.name) stonithd:\n\($0.log)" } + cibds.map { "--- \($0.name) cibd:\n\($0.log.suffix(1500))" })
                .joined(separator: "\n")
        }

        for n in cibds { try n.start() }
        try #require(CorosyncdCluster.waitFor(30) { cibds.allSatisfy(\.isReady) } != nil, "cibd not ready:\n\(report())")
        let roots = c.all.map { "\($0.name):\($0.root)" }.joined(separator: ";")
        let device = """
        <primitive id="swiftha" class="stonith" type="fence_swiftha"><instance_attributes id="swiftha-ia">\
        <nvpair id="swiftha-roots" name="roots" value="\(roots)"/></instance_attributes></primitive>
        """
        let created = try cibds[0].cibadmin(["--create", "--scope", "resources", "--xml-text", device])
        try #require(created.status == 0, "cibadmin: \(created.stderr)")

        for s in stonithds { try s.start() }
        try #require(CorosyncdCluster.waitFor(30) { stonithds.allSatisfy(\.isReady) } != nil, "stonithd not ready:\n\(report())")

        let listed = try stonithds[1].admin(["--list-registered"])
        #expect(listed.status == 0 && listed.stdout == "swiftha\n1 fence device found\n", "\(listed.status) \(listed.stdout) \(listed.stderr)")

        // node3's workload: a process (and its child) carrying node3's root.
        let w = Process()
        w.executableURL = URL(fileURLWithPath: "/bin/sh")
        w.arguments = ["-c", "sleep 300 & exec sleep 300"]
        w.environment = ["SWIFTHA_ROOT": c[3].root, "PATH": "/usr/bin:/bin"]
        try w.run()
        workload = w
        _ = CorosyncdCluster.waitFor(5) { NodeProcesses.find(root: c[3].root).count >= 4 }

        // Fence node3 from node1.
        let clock = ContinuousClock()
        let started = clock.now
        let reboot = try stonithds[0].admin(["--reboot", "node3", "--timeout", "40"])
        print("stonith_admin --reboot node3 took \(clock.now - started) (tool start, request, offers, fence_swiftha, result)")
        #expect(reboot.status == 0, "stonith_admin --reboot node3: \(reboot.status) \(reboot.stderr)\n\(report())")
        #expect(reboot.stdout.isEmpty && reboot.stderr.isEmpty)
        w.waitUntilExit()
        #expect(w.terminationReason == .uncaughtSignal && w.terminationStatus == SIGKILL, "the workload was not killed")
        #expect(NodeProcesses.find(root: c[3].root).filter { !NodeProcesses.isZombie($0) }.isEmpty, "node3 still has processes")

        // Every surviving node's history: node1 carried it out, for stonith_admin on node1.
        for s in stonithds.prefix(2) {
            let h = try s.admin(["--history", "node3"])
            #expect(h.status == 0, "\(s.name): \(h.stderr)")
            #expect(h.stdout.hasPrefix("reboot of node3 successful: delegate=node1, client=stonith_admin."), "\(s.name): \(h.stdout)")
            #expect(h.stdout.contains(", origin=node1, last-successful='"), "\(s.name): \(h.stdout)")
            #expect(h.stdout.hasSuffix("'\n1 event found\n"), "\(s.name): \(h.stdout)")
        }
        // A stonithd that starts again learns the history from the others.
        #expect(stonithds[1].terminate() == 0, "node2's stonithd did not stop cleanly:\n\(stonithds[1].log)")
        try stonithds[1].start()
        try #require(CorosyncdCluster.waitFor(30) { stonithds[1].isReady } != nil, "node2's stonithd not ready again:\n\(report())")
        let learned = CorosyncdCluster.waitFor(10) {
            (try? stonithds[1].admin(["--history", "node3"]).stdout)?.hasPrefix("reboot of node3 successful: delegate=node1") ?? false
        }
        #expect(learned != nil, "the restarted stonithd does not know node3's fencing:\n\(report())")

        let client = try await StonithClient.connect(root: c[2].root, name: "test")
        let events = try await client.history(target: "node3")
        #expect(events.count == 1 && events.first?.state == .done && events.first?.delegate == "node1" && events.first?.origin == "node1")

        // A failing device, added while stonithd runs: every node registers it.
        let failing = """
        <primitive id="fail-dev" class="stonith" type="fence_fail"><instance_attributes id="fail-ia">\
        <nvpair id="fail-hosts" name="pcmk_host_list" value="node4"/></instance_attributes></primitive>
        """
        let added = try cibds[0].cibadmin(["--create", "--scope", "resources", "--xml-text", failing])
        #expect(added.status == 0, "cibadmin: \(added.stderr)")
        let registered = CorosyncdCluster.waitFor(10) {
            stonithds.prefix(2).allSatisfy { (try? $0.admin(["-L"]).stdout) == "swiftha\nfail-dev\n2 fence devices found\n" }
        }
        #expect(registered != nil, "fail-dev not registered:\n\(report())")
        let targets = try stonithds[0].admin(["--list-targets", "swiftha"])
        #expect(targets.stdout == "node1\nnode2\nnode3\n3 fence targets found\n", "\(targets.status) \(targets.stdout) \(targets.stderr)")
        #expect(try stonithds[0].admin(["--query", "swiftha"]).status == 0)
        let unknown = try stonithds[0].admin(["--query", "nosuch"])
        #expect(unknown.status == 105 && unknown.stderr.contains("no fence device 'nosuch' is registered on node1"), "\(unknown.status) \(unknown.stderr)")
        let forNode4 = try stonithds[1].admin(["--list", "node4"])
        #expect(forNode4.stdout == "fail-dev\n1 fence device found\n", "\(forNode4.stdout)")

        let failed = try stonithds[1].admin(["-B", "node4", "-t", "30"])
        #expect(failed.status == 1, "\(failed.status) \(failed.stderr)")
        #expect(failed.stderr.hasPrefix("stonith_admin: Couldn't fence node4: Error ("), "\(failed.stderr)")
        #expect(failed.stderr.contains("fail-dev reboot: fence_fail: exit status 1: power switch unreachable"), "\(failed.stderr)")
        let failedHistory = try stonithds[0].admin(["--history", "node4", "--verbose"])
        #expect(failedHistory.stdout.hasPrefix("reboot of node4 failed (could not fence node4: fail-dev reboot: fence_fail: exit status 1: power switch unreachable): delegate=node2, client=stonith_admin."),
                "\(failedHistory.stdout)")

        // A manual confirmation is recorded on every node.
        let confirm = try stonithds[1].admin(["--confirm", "node4"])
        #expect(confirm.status == 0 && confirm.stdout.isEmpty, "\(confirm.status) \(confirm.stderr)")
        let confirmed = try stonithds[0].admin(["-H", "node4", "-V"])
        #expect(confirmed.stdout.hasPrefix("turning off of node4 successful: delegate=a human, client=stonith_admin."), "\(confirmed.stdout)")
        #expect(confirmed.stdout.contains("\nreboot of node4 failed") && confirmed.stdout.hasSuffix("2 events found\n"), "\(confirmed.stdout)")
        let all = try stonithds[1].admin(["-H", "*", "-V"])
        #expect(all.stdout.hasSuffix("3 events found\n"), "\(all.stdout)")

        // crm_mon -m shows the same history as Pacemaker 2.1.5's crm_mon lays it out: the
        // failed operations after the failed resource actions, the rest at the end (-m2/-m3),
        // or only the failed and pending ones (-m1, which is also the default, as in
        // Pacemaker 2.1.5; -m0 shows none).
        let mon = try Tool.run("crm_mon", ["-1", "-m3"], env: ["SWIFTHA_ROOT": stonithds[1].root])
        #expect(mon.status == 0, "\(mon.stderr)")
        #expect(mon.stdout.contains("\n\nFailed Fencing Actions:\n  * reboot of node4 failed (could not fence node4: fail-dev reboot: fence_fail: exit status 1: power switch unreachable): delegate=node2, client=stonith_admin."), "\(mon.stdout)")
        #expect(mon.stdout.contains("\n\nFencing History:\n  * turning off of node4 successful: delegate=a human, client=stonith_admin."), "\(mon.stdout)")
        #expect(mon.stdout.contains("\n  * reboot of node3 successful: delegate=node1, client="), "\(mon.stdout)")
        #expect(mon.stdout.contains(", completed='"), "\(mon.stdout)")
        let level1 = try Tool.run("crm_mon", ["-1", "-m1"], env: ["SWIFTHA_ROOT": stonithds[1].root])
        #expect(level1.stdout.contains("Failed Fencing Actions:\n  * reboot of node4 failed") && level1.stdout.contains(", last-failed='"), "\(level1.stdout)")
        #expect(!level1.stdout.contains("Fencing History:"), "\(level1.stdout)")
        let noOption = try Tool.run("crm_mon", ["-1"], env: ["SWIFTHA_ROOT": stonithds[1].root])
        #expect(noOption.stdout.contains("\n\nFailed Fencing Actions:\n  * reboot of node4 failed"), "\(noOption.stdout)")
        #expect(!noOption.stdout.contains("Fencing History:"), "\(noOption.stdout)")
        let noFencing = try Tool.run("crm_mon", ["-1", "-m0"], env: ["SWIFTHA_ROOT": stonithds[1].root])
        #expect(!noFencing.stdout.contains("Fencing"), "\(noFencing.stdout)")

        // --cleanup forgets node4's operations on every node, and only node4's.
        let cleaned = try stonithds[0].admin(["--history", "node4", "--cleanup"])
        #expect(cleaned.status == 0 && cleaned.stdout == "cleaning up fencing-history for node node4\n", "\(cleaned.status) \(cleaned.stdout) \(cleaned.stderr)")
        let forgotten = CorosyncdCluster.waitFor(5) { (try? stonithds[1].admin(["-H", "node4", "-V"]).stdout) == "0 events found\n" }
        #expect(forgotten != nil, "node2 still has node4's history")
        #expect(try stonithds[1].admin(["-H", "*", "-V"]).stdout.hasSuffix("1 event found\n"), "node3's fencing is kept")

        // No device can fence node9.
        let none = try stonithds[0].admin(["-F", "node9", "-t", "20"])
        #expect(none.status == 105, "\(none.status) \(none.stderr)")
        #expect(none.stderr.contains("Couldn't fence node9: No such device (no fence device can fence node9"), "\(none.stderr)")

        // Only the DC's controller may fence (as in Pacemaker, the DC decides fencing): a
        // controller's request is refused, and logged, on a node the CIB does not name as DC
        // (no dc-uuid yet; then node1's), and carried out on the DC's node; stonith_admin,
        // above, is obeyed anywhere.
        func refusal(_ client: StonithClient) async -> StonithFailure? {
            do {
                _ = try await client.fence(target: "node4", timeout: .seconds(20))
                return nil
            } catch {
                return error as? StonithFailure
            }
        }
        let crmd2 = try await StonithClient.connect(root: c[2].root, name: "crmd")
        let noDC = await refusal(crmd2)
        #expect(noDC?.kind == .notAuthorized && noDC?.message.contains("the CIB names no DC") == true, "\(String(describing: noDC))")
        let cib1 = try await CIBClient.connect(root: c[1].root)
        for i in 1...3 { _ = try await cib1.change(.modify(XElement("node", ["id": "\(i)", "uname": "node\(i)"]), section: .nodes, allowCreate: true)) }
        _ = try await cib1.change(.xpath("/cib", .modify(XElement("cib", ["dc-uuid": "1"]))))
        await cib1.close()
        let notDC = await refusal(crmd2)
        #expect(notDC?.kind == .notAuthorized && notDC?.message.contains("node2 is not the DC (the CIB names node1") == true, "\(String(describing: notDC))")
        #expect(stonithds[1].log.contains("refuses crmd's request to fence node4"), "\(stonithds[1].log.suffix(1500))")
        await crmd2.close()
        let crmd1 = try await StonithClient.connect(root: c[1].root, name: "crmd")
        let byDC = try await crmd1.fence(target: "node4", timeout: .seconds(30))
        #expect(!byDC.succeeded && (byDC.reason ?? "").contains("power switch unreachable"), "the DC's request was not carried out: \(byDC)")
        await crmd1.close()

        // An agent of Debian's fence-agents, unchanged, carries out a fencing: fence_dummy
        // keeps the "power" state of its plug in a file.
        if FileManager.default.isExecutableFile(atPath: "/usr/sbin/fence_dummy") {
            let statusFile = c.scratch + "/dummy.status"
            try "on".write(toFile: statusFile, atomically: true, encoding: .utf8)
            let dummy = """
            <primitive id="dummy" class="stonith" type="fence_dummy"><instance_attributes id="dummy-ia">\
            <nvpair id="dummy-hosts" name="pcmk_host_list" value="node5"/><nvpair id="dummy-file" name="status_file" value="\(statusFile)"/>\
            </instance_attributes></primitive>
            """
            #expect(try cibds[1].cibadmin(["--create", "--scope", "resources", "--xml-text", dummy]).status == 0)
            let seen = CorosyncdCluster.waitFor(10) { (try? stonithds[1].admin(["--list", "node5"]).stdout) == "dummy\n1 fence device found\n" }
            #expect(seen != nil, "dummy not registered:\n\(report())")
            // stonith_admin --delay: the device waits that long before it runs.
            let offStarted = ContinuousClock.now
            let off = try stonithds[1].admin(["--fence", "node5", "-t", "30", "--delay", "1"])
            #expect(off.status == 0, "\(off.status) \(off.stderr)\n\(report())")
            #expect(ContinuousClock.now - offStarted >= .seconds(1), "--delay 1 was not waited")
            #expect(stonithds[1].log.contains("delaying off of node5 with device dummy by 1s (1s requested"), "\(stonithds[1].log.suffix(2000))")
            #expect((try? String(contentsOfFile: statusFile, encoding: .utf8)) == "off", "fence_dummy did not switch node5 off")
            let h = try stonithds[0].admin(["-H", "node5"])
            #expect(h.stdout.hasPrefix("turning off of node5 successful: delegate=node2, client=stonith_admin."), "\(h.stdout)")
            let xml = try stonithds[0].admin(["-H", "node5", "--output-as", "xml"])
            #expect(xml.stdout.contains(#"<fence_event action="off" target="node5" client="stonith_admin."#) && xml.stdout.contains(#"status="success" delegate="node2""#),
                    "\(xml.stdout)")
            #expect(xml.stdout.contains(#"<status code="0" message="OK"/>"#))
        } else {
            Issue.record("fence_dummy (Debian's fence-agents) is not installed: the real-agent part was not run")
        }

        // An agent of Debian's fence-agents through stonithd: its meta-data, unchanged.
        if FileManager.default.isExecutableFile(atPath: "/usr/sbin/fence_ipmilan") {
            let meta = try await client.metadata(agent: "fence_ipmilan")
            #expect(meta.contains(#"<resource-agent name="fence_ipmilan""#))
            let installed = try await client.installedAgents()
            #expect(installed.contains("fence_ipmilan") && installed.contains("fence_swiftha") && installed.contains("fence_fail"))
        }
        await client.close()

        for s in stonithds.prefix(2) { #expect(s.terminate() == 0, "\(s.name) did not stop cleanly:\n\(s.log)") }
    }
}
