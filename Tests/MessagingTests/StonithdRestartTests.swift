import CIB
import Foundation
import Stonith
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// stonithd SIGKILLed while one of its fence agents runs: the agent and its children do not
/// outlive the next stonithd of the node's root (as with lrmd, `OperationJournal`); the
/// request is failed by the other nodes, or handed to another node when its origin is alive;
/// the restarted stonithd learns the whole history from its peers.
@Suite(.serialized) struct StonithdRestartTests {
    /// `fence_slow`: while the file `hang` exists, its fencing actions leave a child in their
    /// group and one in a session of their own, write those pids and their own (last) to
    /// `pidFile`, and hang; otherwise they succeed at once. list/monitor/status succeed.
    static func slowAgent(hang: String, pidFile: String) -> String {
        """
        #!/bin/sh
        action=reboot
        while IFS='=' read -r k v; do [ "$k" = action ] && action="$v"; done
        case "$action" in
          metadata) echo '<?xml version="1.0" ?><resource-agent name="fence_slow" shortdesc="slow"><parameters><parameter name="plug"><content type="string"/></parameter></parameters><actions><action name="off"/><action name="reboot"/><action name="list"/><action name="monitor"/><action name="metadata"/></actions></resource-agent>'; exit 0 ;;
          list|monitor|status) exit 0 ;;
        esac
        if [ -e "\(hang)" ]; then
          sleep 1000 &
          echo $! >> "\(pidFile)"
          setsid sleep 1000 &
          echo $! >> "\(pidFile)"
          echo $$ >> "\(pidFile)"
          sleep 1000
        fi
        echo "Success: $action"
        """
    }

    static func pids(_ file: String) -> [Int32] {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    static func running(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    /// stonith_admin's history without its times ('...' emptied).
    static func timeless(_ text: String) -> String {
        var out = "", quoted = false
        for ch in text {
            if ch == "'" { quoted.toggle(); out.append(ch) } else if !quoted { out.append(ch) }
        }
        return out
    }

    static func records(_ root: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: root + "/run/stonithd/operations")) ?? []
    }

    /// Scenario 1: node1's stonithd, origin and executor of `stonith_admin --reboot node3` on
    /// node1, is killed while its agent hangs: the agent and its two children still run (no
    /// one else would end them), the other nodes fail the request (origin and executor gone);
    /// node1's next stonithd ends the three before it serves, logs them, learns the failed
    /// request from its peers, and fences node3 when asked again: every node's history is the
    /// same. Scenario 2: node2 (no device: banned there) asks; node1 runs the hanging agent and
    /// is killed; node2 hands the request to the next node that can (node3, fencing itself),
    /// which succeeds; node1's orphans are ended by its next stonithd again.
    @Test func aStonithdKilledWhileFencingLeavesNoAgentBehindAndItsSuccessorLearnsTheHistory() async throws {
        let c = try CorosyncdProcessTests.freshCluster()
        let cibds = c.all.map { CIBDNode(name: $0.name, root: $0.root) }
        let agents = c.scratch + "/agents", hang = c.scratch + "/hang", pidFile = c.scratch + "/agent.pids"
        try FileManager.default.createDirectory(atPath: agents, withIntermediateDirectories: true)
        try Self.slowAgent(hang: hang, pidFile: pidFile).write(toFile: agents + "/fence_slow", atomically: true, encoding: .utf8)
        chmod(agents + "/fence_slow", 0o755)
        let stonithds = c.all.map { StonithdNode(name: $0.name, root: $0.root, agentDirectory: agents) }
        defer {
            for p in Self.pids(pidFile) { kill(p, SIGKILL) }
            for s in stonithds { s.cleanUp() }
            // Fence agents carry their node's root: whatever is left of them.
            for n in c.all { for pid in NodeProcesses.find(root: n.root) { kill(pid, SIGKILL) } }
            CIBDaemonProcessTests.tearDown(c, cibds)
        }
        func report() -> String {
            (stonithds.map { "--- \($0.name) stonithd:\n\($0.log.suffix(4000))" } + cibds.map { "--- \($0.name) cibd:\n\($0.log.suffix(1000))" })
                .joined(separator: "\n")
        }
        func history(_ s: StonithdNode) -> String { (try? s.admin(["--history", "node3", "--verbose"]).stdout) ?? "" }
        // Each node stamps a request it fails itself (its origin gone) with its own clock:
        // compared without the times.
        func timeless(_ s: StonithdNode) -> String { StonithdRestartTests.timeless(history(s)) }

        for n in cibds { try n.start() }
        try #require(CorosyncdCluster.waitFor(30) { cibds.allSatisfy(\.isReady) } != nil, "cibd not ready:\n\(report())")
        let device = """
            <primitive id="slow" class="stonith" type="fence_slow"><instance_attributes id="slow-ia">\
            <nvpair id="slow-hosts" name="pcmk_host_list" value="node3"/></instance_attributes></primitive>
            """
        #expect(try cibds[0].cibadmin(["--create", "--scope", "resources", "--xml-text", device]).status == 0)
        let ban = #"<rsc_location id="slow-not-on-node2" rsc="slow" node="node2" score="-INFINITY"/>"#
        #expect(try cibds[0].cibadmin(["--create", "--scope", "constraints", "--xml-text", ban]).status == 0)
        for s in stonithds { try s.start() }
        try #require(CorosyncdCluster.waitFor(30) { stonithds.allSatisfy(\.isReady) } != nil, "stonithd not ready:\n\(report())")
        let registered = CorosyncdCluster.waitFor(20) {
            [0, 2].allSatisfy { (try? stonithds[$0].admin(["--list", "node3"]).stdout) == "slow\n1 fence device found\n" }
        }
        try #require(registered != nil, "slow is not registered on node1 and node3:\n\(report())")

        /// Kills node1's stonithd once its agent hangs; returns the agent's three processes.
        func killNode1WhileItsAgentHangs(_ what: String) async throws -> [Int32] {
            let hung = CorosyncdCluster.waitFor(30) { Self.pids(pidFile).count == 3 }
            try #require(hung != nil, "\(what): the agent did not start hanging:\n\(report())")
            let spawned = Self.pids(pidFile)
            try? FileManager.default.removeItem(atPath: pidFile)
            #expect(NodeProcesses.find(root: c[1].root).contains(spawned[2]), "\(what): the agent does not run on node1: \(spawned)")
            #expect(Self.records(c[1].root).count == 1, "\(what): node1's stonithd did not record its agent: \(Self.records(c[1].root))")
            let old = try #require(stonithds[0].process)
            kill(old.processIdentifier, SIGKILL)
            old.waitUntilExit()
            // Nobody ends them: they run on.
            try await Task.sleep(for: .milliseconds(500))
            #expect(spawned.allSatisfy(Self.running), "\(what): the agent's processes did not outlive the killed stonithd")
            return spawned
        }
        /// Starts node1's stonithd again; it ends `orphans` before it serves.
        func restartNode1(ending orphans: [Int32], _ what: String) async throws {
            try stonithds[0].start()
            try #require(CorosyncdCluster.waitFor(30) { stonithds[0].isReady } != nil, "\(what): node1's stonithd not ready again:\n\(report())")
            let ended = orphans.allSatisfy { !Self.running($0) }
            #expect(ended, "\(what): left running: \(orphans.filter(Self.running))\n\(report())")
            let log = stonithds[0].log
            #expect(log.contains("the previous stonithd (pid ") && log.contains("was killed while running slow_reboot_0 of slow against node3"), "\(what): \(log)")
            #expect(log.contains("interrupted: stonithd restarted"), "\(what): \(log)")
            for p in orphans { #expect(log.contains("\(p)"), "\(what): the log does not name process \(p)") }
            // The new stonithd records its own agents (meta-data, list, monitor) as it runs
            // them: only its predecessor's records must be gone.
            let me = stonithds[0].process.map { "\($0.processIdentifier)." } ?? "-"
            let left = Self.records(c[1].root).filter { !$0.hasPrefix(me) }
            #expect(left.isEmpty, "\(what): records left: \(left)")
            // Its status says what it ended.
            let client = try await StonithClient.connect(root: c[1].root, name: "test")
            let interrupted = try await client.status().interrupted ?? []
            await client.close()
            #expect(interrupted.count == 1, "\(what): \(interrupted)")
            if let i = interrupted.first {
                #expect(i.daemon == "stonithd" && i.operation == "slow_reboot_0" && i.target == "node3" && i.processGroup == orphans[2], "\(what): \(i)")
                #expect(Set(orphans).isSubset(of: Set(i.processes)), "\(what): \(i.processes) vs \(orphans)")
            }
        }

        // Scenario 1: the origin and executor killed.
        FileManager.default.createFile(atPath: hang, contents: nil)
        let first = Task.detached { try Tool.run("stonith_admin", ["--reboot", "node3", "--timeout", "60"], env: ["SWIFTHA_ROOT": c[1].root]) }
        let orphans = try await killNode1WhileItsAgentHangs("scenario 1")
        let asked = try await first.value
        #expect(asked.status != 0, "stonith_admin on node1 succeeded although its stonithd was killed: \(asked.stdout) \(asked.stderr)")
        // node2 and node3 fail it: its origin and executor left.
        let failed = CorosyncdCluster.waitFor(10) { [1, 2].allSatisfy { history(stonithds[$0]).hasPrefix("reboot of node3 failed") } }
        #expect(failed != nil, "node2 and node3 did not fail the interrupted request: \(history(stonithds[1]))\n\(report())")
        try? FileManager.default.removeItem(atPath: hang)
        try await restartNode1(ending: orphans, "scenario 1")
        // The new stonithd learns the failed request from its peers; asked again, it fences.
        let learned = CorosyncdCluster.waitFor(10) { history(stonithds[0]).hasPrefix("reboot of node3 failed") }
        #expect(learned != nil, "node1's new stonithd does not know the interrupted request: \(history(stonithds[0]))")
        let again = try stonithds[0].admin(["--reboot", "node3", "--timeout", "60"])
        #expect(again.status == 0, "asked again, node1 did not fence node3: \(again.status) \(again.stderr)\n\(report())")
        let same = CorosyncdCluster.waitFor(10) {
            let h = stonithds.map(timeless)
            return h[0].hasSuffix("2 events found\n") && h.allSatisfy { $0 == h[0] }
        }
        #expect(same != nil, "the nodes' histories differ:\n\(stonithds.map { "\($0.name): \(history($0))" }.joined(separator: "\n"))")
        let h = history(stonithds[2])
        #expect(h.hasPrefix("reboot of node3 successful: delegate=node1, client=stonith_admin.") && h.contains("\nreboot of node3 failed"), "\(h)")

        // Scenario 2: the executor killed, the origin (node2) alive: handed to node3.
        FileManager.default.createFile(atPath: hang, contents: nil)
        let second = Task.detached { try Tool.run("stonith_admin", ["--reboot", "node3", "--timeout", "60"], env: ["SWIFTHA_ROOT": c[2].root]) }
        let hung = CorosyncdCluster.waitFor(30) { Self.pids(pidFile).count == 3 }
        try? FileManager.default.removeItem(atPath: hang)
        try #require(hung != nil, "scenario 2: the agent did not start hanging:\n\(report())")
        let orphans2 = try await killNode1WhileItsAgentHangs("scenario 2")
        let handed = try await second.value
        #expect(handed.status == 0, "scenario 2: the request was not carried out by another node: \(handed.status) \(handed.stderr)\n\(report())")
        #expect(stonithds[1].log.contains("node1, which was fencing node3") && stonithds[1].log.contains("left the group; trying another node"),
                "\(stonithds[1].log.suffix(3000))")
        #expect(orphans2.allSatisfy(Self.running), "scenario 2: node1's orphans ended before its stonithd was started again")
        try await restartNode1(ending: orphans2, "scenario 2")
        let all = CorosyncdCluster.waitFor(10) {
            let h = stonithds.map(timeless)
            return h[0].hasSuffix("3 events found\n") && h.allSatisfy { $0 == h[0] }
        }
        #expect(all != nil, "the nodes' histories differ:\n\(stonithds.map { "\($0.name): \(history($0))" }.joined(separator: "\n"))")
        #expect(history(stonithds[0]).hasPrefix("reboot of node3 successful: delegate=node3, client=stonith_admin."), "\(history(stonithds[0]))")

        for s in stonithds { #expect(s.terminate() == 0, "\(s.name) did not stop cleanly:\n\(s.log.suffix(2000))") }
    }
}
