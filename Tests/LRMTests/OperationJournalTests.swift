import Agents
import CIB
import Foundation
import HostProcesses
import Logging
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The record of running agents (`OperationJournal`) that lrmd and stonithd share, each with a
/// directory, lock and token variable of its own: what one writes, only it reads and ends.
@Suite(.serialized) struct OperationJournalTests {
    let logger = Logger(label: "journal-test")

    func records(_ journal: OperationJournal) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: journal.operationsDirectory)) ?? []
    }

    /// A process that ran and was reaped: the pid of a killed daemon.
    func deadPID() throws -> Int32 {
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        return gone.processIdentifier
    }

    /// Starts `script` (given the root as --root) in a session of its own with the node's root
    /// in its environment; returns its pid.
    func spawn(_ script: String, root: String, body: String, log: String) throws -> Int32 {
        try body.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        return try NodeProcesses.powerOn(node: "n", root: root, launcher: script, log: log, path: AgentHost.defaultPath).get()
    }

    func reap(_ pid: Int32) {
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    @Test func eachDaemonHasItsOwnDirectoryLockAndVariable() throws {
        let base = scratchDirectory("journal-owners")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let lrmd = try OperationJournal.open(root: base + "/", owner: .lrmd)
        let stonithd = try OperationJournal.open(root: base, owner: .stonithd)
        #expect(lrmd.directory == base + "/run/lrmd" && lrmd.lockPath == base + "/run/lrmd/lrmd.lock")
        #expect(stonithd.directory == base + "/run/stonithd" && stonithd.lockPath == base + "/run/stonithd/stonithd.lock")
        #expect(lrmd.variable == "SWIFTHA_LRMD_OPERATION" && stonithd.variable == "SWIFTHA_STONITHD_OPERATION")
        #expect(OperationJournal.variable == lrmd.variable)
        #expect(OperationJournal.directory(root: "/", owner: .stonithd) == "/run/stonithd")

        // A second stonithd of the root is refused, naming the holder; lrmd's lock is its own.
        do {
            _ = try OperationJournal.open(root: base, owner: .stonithd)
            Issue.record("a second stonithd journal of one root was opened")
        } catch {
            guard case .alreadyRunning(let why) = error else {
                Issue.record("not .alreadyRunning: \(error)")
                return
            }
            #expect(why.contains("another stonithd (pid \(getpid())) is already serving the node root \(base)"), "\(why)")
            #expect(why.contains("only one stonithd may run per node root"), "\(why)")
        }

        // A record lands in its owner's directory only, and goes with its end.
        let entry = try #require(stonithd.begin(resource: "fence", operation: "fence_reboot_0", callID: nil, target: "node2"))
        #expect(records(stonithd) == [entry.token] && records(lrmd).isEmpty)
        let text = try String(contentsOfFile: stonithd.operationsDirectory + "/" + entry.token, encoding: .utf8)
        let record = try #require(OperationJournal.Record(parsing: text))
        #expect(record.resource == "fence" && record.operation == "fence_reboot_0" && record.target == "node2" && record.daemon == getpid())
        entry.end()
        #expect(records(stonithd).isEmpty)
    }

    @Test func recordsReadBackAndOlderLrmdRecordsStillRead() throws {
        let r = OperationJournal.Record(token: "1.2.3", resource: "fence", operation: "fence_off_0", callID: nil, boot: "b",
                                        daemon: 10, daemonStart: 20, target: "node3", pid: 30, start: 40)
        #expect(OperationJournal.Record(parsing: r.text) == r)
        // What an lrmd wrote before stonithd kept records too.
        let old = "token=1.2.4\nresource=db\noperation=db_start_0\ncall=7\nboot=b\nlrmd=11\nlrmd-start=21\npid=31\nstart=41\n"
        let o = try #require(OperationJournal.Record(parsing: old))
        #expect(o.daemon == 11 && o.daemonStart == 21 && o.callID == 7 && o.pid == 31 && o.target == nil)
        // An unfinished last line (killed while writing it) is ignored; a missing daemon is not a record.
        #expect(OperationJournal.Record(parsing: r.text + "pid=5") == r)
        #expect(OperationJournal.Record(parsing: "token=a\nresource=x\noperation=y\nboot=b\n") == nil)

        // An InterruptedOperation as an older lrmd reported it (no daemon, no target).
        let json = #"{"resource":"db","operation":"db_start_0","callID":7,"processGroup":31,"processes":[31],"previousLRMD":11}"#
        let i = try JSONDecoder().decode(InterruptedOperation.self, from: Data(json.utf8))
        #expect(i.daemon == "lrmd" && i.previousDaemon == 11 && i.previousLRMD == 11 && i.target == nil)
        let fence = InterruptedOperation(resource: "fence", operation: "fence_reboot_0", callID: nil, processGroup: 5, processes: [5, 6],
                                         previousDaemon: 9, daemon: "stonithd", target: "node2")
        #expect(try JSONDecoder().decode(InterruptedOperation.self, from: JSONEncoder().encode(fence)) == fence)
        #expect(fence.description == "fence_reboot_0 (interrupted: stonithd restarted; processes 5, 6 ended)")
    }

    /// A fence agent run through an executor with stonithd's journal carries stonithd's token
    /// (not lrmd's variable) and the target in its record, which goes when the agent ends.
    @Test func aFenceAgentRunWithStonithdsJournalIsRecordedWithItsTarget() async throws {
        let base = scratchDirectory("journal-fence")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let root = base + "/root", agents = base + "/agents", pidFile = base + "/agent.pids"
        try FileManager.default.createDirectory(atPath: agents, withIntermediateDirectories: true)
        try """
            #!/bin/sh
            echo $$ >> "\(pidFile)"
            sleep 1000
            """.write(toFile: agents + "/fence_hang", atomically: true, encoding: .utf8)
        chmod(agents + "/fence_hang", 0o755)
        defer { _ = NodeProcesses.killAll(root: root) }
        let journal = try OperationJournal.open(root: root, owner: .stonithd)
        var executor = AgentExecutor(host: AgentHost(root: root, fenceDirectory: agents), killGrace: .seconds(1), logger: logger)
        executor.journal = journal
        let request = AgentRequest(resource: "hang", agent: ResourceAgentName(standard: "stonith", provider: nil, type: "fence_hang"),
                                   action: .reboot, parameters: ["nodename": "node2", "plug": "node2"], timeout: .seconds(60))
        let run = Task { await executor.run(request) }
        #expect(await eventually { pids(in: pidFile).count == 1 }, "the agent did not start")
        let agent = try #require(pids(in: pidFile).first)
        let files = records(journal)
        try #require(files.count == 1, "\(files)")
        let text = try String(contentsOfFile: journal.operationsDirectory + "/" + files[0], encoding: .utf8)
        let record = try #require(OperationJournal.Record(parsing: text))
        #expect(record.resource == "hang" && record.operation == "hang_reboot_0" && record.target == "node2")
        #expect(await eventually { (try? String(contentsOfFile: journal.operationsDirectory + "/" + files[0], encoding: .utf8))?.contains("pid=\(agent)\n") == true },
                "the agent's pid is added to its record")
        let environ = String(decoding: NodeProcesses.readFile("/proc/\(agent)/environ") ?? [], as: UTF8.self).split(separator: "\0")
        #expect(environ.contains("SWIFTHA_STONITHD_OPERATION=\(files[0])"), "\(environ)")
        #expect(!environ.contains { $0.hasPrefix("SWIFTHA_LRMD_OPERATION=") })
        #expect(environ.contains("SWIFTHA_ROOT=\(root)"))
        run.cancel()
        let result = await run.value
        #expect(result.status == .cancelled, "\(result)")
        #expect(records(journal).isEmpty, "the record outlived its agent: \(records(journal))")
    }

    /// What a killed stonithd left running: its journal's successor ends the recorded agent,
    /// its group, and the process that left it (setsid) but carries the token; a process with
    /// the same token in lrmd's variable, and lrmd's journal of the same root, are not
    /// stonithd's business. (lrmd's own restart: LRMRestartTests.)
    @Test func aKilledStonithdsAgentsAreEndedByTheNextAndNothingElse() async throws {
        let base = scratchDirectory("journal-end")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let root = base + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let token = "\(try deadPID()).1.1"
        let agentPIDs = base + "/agent.pids", decoyPIDs = base + "/decoy.pids"
        // The "fence agent": exports stonithd's token as stonithd gives it, leaves a child in
        // its group and one in a session of its own, then hangs.
        let agent = try spawn(base + "/agent", root: root, body: """
            #!/bin/sh
            export SWIFTHA_STONITHD_OPERATION=\(token)
            sleep 1000 &
            echo $! >> "\(agentPIDs)"
            setsid sleep 1000 &
            echo $! >> "\(agentPIDs)"
            exec sleep 1000
            """, log: base + "/agent.log")
        // Not stonithd's: the same token, but in lrmd's variable (in a session of its own).
        let decoy = try spawn(base + "/decoy", root: root, body: """
            #!/bin/sh
            export SWIFTHA_LRMD_OPERATION=\(token)
            sleep 1000 &
            echo $! >> "\(decoyPIDs)"
            exec sleep 1000
            """, log: base + "/decoy.log")
        defer {
            reap(agent)
            reap(decoy)
            _ = NodeProcesses.killAll(root: root)
        }
        #expect(await eventually { pids(in: agentPIDs).count == 2 && pids(in: decoyPIDs).count == 1 })
        let children = pids(in: agentPIDs), decoyChild = try #require(pids(in: decoyPIDs).first)
        try #require(children.count == 2)
        let start = try #require(ProcessTable.entry(of: agent)?.startTime)

        // The killed stonithd's record: its agent launched (pid and start time known).
        let dir = OperationJournal.directory(root: root, owner: .stonithd) + "/operations"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let record = OperationJournal.Record(token: token, resource: "fence", operation: "fence_reboot_0", callID: nil,
                                             boot: OperationJournal.bootID(), daemon: Int32(token.split(separator: ".")[0])!, daemonStart: 1,
                                             target: "node2", pid: agent, start: start)
        try record.text.write(toFile: dir + "/" + token, atomically: true, encoding: .utf8)

        // lrmd's successor finds nothing of its own to end.
        let lrmd = try OperationJournal.open(root: root, owner: .lrmd)
        #expect(await lrmd.endInterrupted(grace: .seconds(1), logger: logger).isEmpty)
        #expect(([agent, decoy, decoyChild] + children).allSatisfy(ProcessTable.isRunning), "lrmd's journal ended stonithd's processes")

        let stonithd = try OperationJournal.open(root: root, owner: .stonithd)
        let ended = await stonithd.endInterrupted(grace: .seconds(2), logger: logger)
        #expect(ended.count == 1, "\(ended)")
        let e = try #require(ended.first)
        #expect(e.daemon == "stonithd" && e.target == "node2" && e.operation == "fence_reboot_0" && e.processGroup == agent)
        #expect(Set(e.processes) == Set([agent] + children), "\(e.processes) vs \([agent] + children)")
        // The agent (a zombie until reaped here) and both children are gone; the decoy runs.
        #expect(!ProcessTable.isRunning(agent), "the agent still runs")
        for c in children { #expect(!ProcessTable.isRunning(c), "child \(c) still runs") }
        #expect(ProcessTable.isRunning(decoy) && ProcessTable.isRunning(decoyChild), "the process with lrmd's variable was ended")
        #expect(records(stonithd).isEmpty, "the record was not removed")
    }
}
