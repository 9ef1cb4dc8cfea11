import Agents
import CIB
import Foundation
import HostProcesses
import LRM
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// lrmd killed with SIGKILL while an agent runs: the next lrmd of the same root ends what the
/// killed one left running, and leaves unrelated processes alone.
@Suite(.serialized) struct LRMRestartTests {
    /// `ocf:test:HangFork`: its start leaves three children running (one in its group, one
    /// in a session of its own, one with an empty environment), writes their pids and its own
    /// (last) to `pidFile`, and hangs. Other actions say "not running".
    func hangingForkingAgent(_ node: LRMNode, pidFile: String) throws -> ResourceAgentName {
        try node.agent("HangFork", """
            #!/bin/sh
            case "$1" in
            meta-data) echo '<resource-agent name="HangFork"><parameters/><actions><action name="start" timeout="20s"/></actions></resource-agent>'; exit 0;;
            start) ;;
            *) exit 7;;
            esac
            sleep 1000 &
            echo $! >> "\(pidFile)"
            setsid sleep 1000 &
            echo $! >> "\(pidFile)"
            env -i /bin/sleep 1000 &
            echo $! >> "\(pidFile)"
            echo $$ >> "\(pidFile)"
            sleep 1000
            """)
    }

    func operationRecords(_ node: LRMNode) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: node.root + "/run/lrmd/operations")) ?? []
    }

    @Test func aRestartedLrmdEndsTheAgentProcessesTheKilledOneLeftRunning() async throws {
        let node = try LRMNode(name: "n1")
        let pidFile = node.base + "/hang.pids"
        let agent = try hangingForkingAgent(node, pidFile: pidFile)
        try await node.start()
        let first = try await node.connect()
        try await first.register(ResourceDefinition(id: "busy", agent: agent))
        let call = try await first.execute(OperationRequest(resource: "busy", action: .start, timeout: .seconds(300)))
        #expect(await eventually { pids(in: pidFile).count == 4 }, "the agent started its children")
        let spawned = pids(in: pidFile)
        try #require(spawned.count == 4)
        let leader = spawned[3]
        // Whatever happens, nothing of this test's node outlives it (killed by its own root).
        defer { _ = NodeProcesses.killAll(root: node.root) }
        #expect(operationRecords(node).count == 1, "the running start is recorded: \(operationRecords(node))")

        // lrmd dies without a chance to clean up: its agent and the agent's children run on.
        let old = try #require(node.process)
        kill(old.processIdentifier, SIGKILL)
        old.waitUntilExit()
        await first.close()
        try await Task.sleep(for: .milliseconds(300))
        #expect(spawned.allSatisfy(ProcessTable.isRunning), "before the restart, the old agent's processes still run")

        // A new lrmd on the same root ends them before it serves.
        try await node.start()
        let ended = await eventually(within: .seconds(10)) { spawned.allSatisfy { ProcessTable.entry(of: $0) == nil } }
        #expect(ended, "left: \(spawned.filter { ProcessTable.entry(of: $0) != nil }.map { "\($0) \(ProcessTable.state(of: $0) ?? "?")" })\n\(node.log)")
        if !ended { for p in spawned { kill(p, SIGKILL) } }
        let log = node.log
        #expect(log.contains("busy_start_0") && log.contains("busy") && log.contains("pid \(leader)"), "\(log)")
        for p in spawned { #expect(log.contains("\(p)"), "the log names process \(p): \(log)") }
        #expect(log.contains("interrupted: lrmd restarted"), "\(log)")
        // Nothing of the node is left but the new lrmd.
        let lrmdPID = try #require(node.process?.processIdentifier)
        #expect(NodeProcesses.find(root: node.root).filter { $0 != lrmdPID }.isEmpty,
                "processes of the node left: \(NodeProcesses.find(root: node.root))")

        // The new lrmd tells its clients what it ended; the record is gone.
        let lrmd = try await node.connect()
        let interrupted = try await lrmd.status().interrupted ?? []
        #expect(interrupted.count == 1, "\(interrupted)")
        if let i = interrupted.first {
            #expect(i.resource == "busy" && i.operation == "busy_start_0" && i.callID == call, "\(i)")
            #expect(i.processGroup == leader)
            // The four the agent wrote down, and its foreground `sleep 1000`.
            #expect(Set(spawned).isSubset(of: Set(i.processes)) && i.processes.count == 5, "\(i.processes) vs \(spawned)")
            #expect(i.previousLRMD == old.processIdentifier)
        }
        #expect(operationRecords(node).isEmpty)
        // An operation that ends leaves no record behind.
        try await lrmd.register(ResourceDefinition(id: "busy", agent: agent))
        let probe = try await lrmd.run(OperationRequest(resource: "busy", action: .monitor, timeout: .seconds(20)))
        #expect(probe.exitCode == .notRunning)
        #expect(operationRecords(node).isEmpty, "\(operationRecords(node))")
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }

    @Test func aRecordWhosePidIsNowAnUnrelatedProcessLeavesItAlone() async throws {
        let node = try LRMNode(name: "n1")
        // An unrelated process and its child, in a session of their own, even with the node's
        // root in their environment: only the start time tells them from the recorded agent.
        let pidFile = node.base + "/other.pids"
        let script = node.base + "/unrelated"
        try "#!/bin/sh\nsleep 1000 &\necho $! > \(pidFile)\nexec sleep 1000\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        // (Not Foundation's Process: it waits for descriptors the children would inherit.)
        let pid = try NodeProcesses.powerOn(node: "unrelated", root: node.root, launcher: script, log: node.base + "/unrelated.log",
                                            path: AgentHost.defaultPath).get()
        defer {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            _ = NodeProcesses.killAll(root: node.root)
        }
        #expect(await eventually { pids(in: pidFile).count == 1 })
        let child = try #require(pids(in: pidFile).first)
        let start = try #require(ProcessTable.entry(of: pid)?.startTime)
        #expect(ProcessTable.entry(of: child)?.session == pid && ProcessTable.entry(of: child)?.processGroup == pid,
                "the child is in the unrelated process's group and session")
        // A dead lrmd: a process that ran and was reaped.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()

        // The record: that pid, with a start time that is not its own (an earlier one).
        let dir = node.root + "/run/lrmd/operations"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let record = OperationJournal.Record(token: "\(gone.processIdentifier).1.1", resource: "ghost", operation: "ghost_start_0",
                                             callID: 7, boot: OperationJournal.bootID(), daemon: gone.processIdentifier, daemonStart: 1,
                                             pid: pid, start: start - 1)
        try record.text.write(toFile: dir + "/" + record.token, atomically: true, encoding: .utf8)
        #expect(OperationJournal.Record(parsing: record.text) == record)

        try await node.start()
        let lrmd = try await node.connect()
        try await Task.sleep(for: .milliseconds(300))
        #expect(ProcessTable.isRunning(pid) && ProcessTable.isRunning(child), "the unrelated processes were killed: \(node.log)")
        #expect(node.log.contains("process \(pid) is now another process"), "\(node.log)")
        let interrupted = try await lrmd.status().interrupted ?? []
        #expect(interrupted.map(\.operation) == ["ghost_start_0"] && interrupted.first?.processes == [], "\(interrupted)")
        #expect(operationRecords(node).isEmpty, "the stale record was removed")
        await lrmd.close()
        #expect(try await node.terminate() == 0)
        #expect(ProcessTable.isRunning(pid) && ProcessTable.isRunning(child))
    }
}
