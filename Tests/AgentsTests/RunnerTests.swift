import Agents
import CIB
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The process runner: sessions, timeouts that kill whole process groups, bounded output,
/// crashes, and never a survivor.
@Suite struct RunnerTests {
    /// An agent that forks a background `sleep 1000` and hangs: after the timeout, neither the
    /// agent nor its child may remain.
    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        let s = try Scratch()
        let pids = s.file("pids")
        let agent = try s.hangingAgent(pids: pids)
        let executor = AgentExecutor(host: s.host, killGrace: .milliseconds(500))
        // Long enough for the script to record both pids even on a loaded machine.
        let result = await executor.run(AgentRequest(resource: "hang", agent: agent, action: .start, timeout: .seconds(3)))
        #expect(result.status == .timedOut)
        #expect(result.exitCode == .errGeneric)
        #expect(result.exitReason?.contains("did not complete within 3s") == true)
        let ids = s.read("pids").split(separator: "\n").compactMap { Int32($0) }
        #expect(ids.count == 2)
        for pid in ids {
            // The agent is reaped by the runner; its child is killed (init reaps the orphan).
            #expect(await eventually { !isAlive(pid) }, "process \(pid) survived the timeout")
        }
        // The agent itself (our child) is fully reaped: not even a zombie is left.
        #expect(ProcessTable.entry(of: ids[1]) == nil || ProcessTable.entry(of: ids[1])?.parent != getpid())
    }

    /// A group that ignores SIGTERM gets SIGKILL after the grace period.
    @Test func ignoredTermEscalatesToKill() async throws {
        let s = try Scratch()
        let pids = s.file("pids")
        let script = try s.script(s.base, "stubborn", """
            #!/bin/sh
            trap '' TERM
            sleep 1000 &
            echo $! > "\(pids)"
            echo $$ >> "\(pids)"
            while :; do sleep 0.05; done
            """)
        // Long enough for the trap to be set and the pids recorded even on a loaded machine.
        let outcome = try await ProcessRunner.run(ProcessRequest(executable: script, timeout: .seconds(3), killGrace: .milliseconds(300)))
        #expect(outcome.ending == .timedOut)
        #expect(outcome.termination == .signalled(SIGKILL))
        let ids = s.read("pids").split(separator: "\n").compactMap { Int32($0) }
        #expect(ids.count == 2)
        for pid in ids { #expect(await eventually { !isAlive(pid) }, "process \(pid) survived SIGKILL") }
        // Members die asynchronously after SIGKILL: wait (bounded) for the group to empty.
        #expect(await eventually { ProcessTable.liveMembers(ofGroup: outcome.processGroup).isEmpty })
    }

    /// The agent runs in its own session and process group, not in ours.
    @Test func agentRunsInItsOwnSession() async throws {
        let s = try Scratch()
        let script = try s.script(s.base, "ids", "#!/bin/sh\nps -o pid=,pgid=,sid= -p $$\n")
        let outcome = try await ProcessRunner.run(ProcessRequest(executable: script, environment: ["PATH": AgentHost.defaultPath], timeout: .seconds(5)))
        let fields = outcome.standardOutput.split(separator: " ", omittingEmptySubsequences: true).compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(fields.count == 3)
        #expect(Set(fields).count == 1, "pid, pgid and sid should all be the agent's pid: \(outcome.standardOutput)")
        #expect(fields.first == outcome.processGroup)
        #expect(fields.first != getpgrp())
    }

    /// An agent that crashes is reported with its signal.
    @Test func crashIsReportedWithItsSignal() async throws {
        let s = try Scratch()
        let agent = try s.ocfAgent("Crash", "#!/bin/sh\necho dying >&2\nkill -SEGV $$\n")
        let result = await AgentExecutor(host: s.host).run(AgentRequest(resource: "c", agent: agent, action: .monitor, timeout: .seconds(5)))
        #expect(result.status == .crashed(signal: SIGSEGV))
        #expect(result.exitCode == .errGeneric)
        #expect(result.exitReason?.contains("SIGSEGV") == true)
        #expect(result.standardError.contains("dying"))
    }

    /// Output beyond the limit is read and dropped, never buffered without bound.
    @Test func outputIsBounded() async throws {
        let s = try Scratch()
        let script = try s.script(s.base, "chatty", "#!/bin/sh\nhead -c 1000000 /dev/zero | tr '\\\\0' x\necho done >&2\n")
        let outcome = try await ProcessRunner.run(ProcessRequest(executable: script, environment: ["PATH": AgentHost.defaultPath], timeout: .seconds(10), outputLimit: 4096))
        #expect(outcome.termination == .exited(0))
        #expect(outcome.standardOutput.utf8.count == 4096)
        #expect(outcome.outputTruncated)
        #expect(outcome.standardError == "done\n")
    }

    /// An action that finishes normally leaves a daemon it started alone, even when the daemon
    /// keeps the agent's stdout open: the result comes when the agent exits, not at EOF.
    @Test func normalExitLeavesDaemonsAndDoesNotWaitForTheirOutput() async throws {
        let s = try Scratch()
        let pidFile = s.file("daemon.pid")
        let script = try s.script(s.base, "launcher", """
            #!/bin/sh
            sleep 1000 &
            echo $! > "\(pidFile)"
            echo started
            exit 0
            """)
        let outcome = try await ProcessRunner.run(ProcessRequest(executable: script, timeout: .seconds(30)))
        #expect(outcome.ending == .finished)
        #expect(outcome.termination == .exited(0))
        #expect(outcome.standardOutput == "started\n")
        let daemon = try #require(Int32(s.read("daemon.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(isAlive(daemon), "a normal exit must not kill what the agent started")
        kill(daemon, SIGKILL)
        #expect(await eventually { !isAlive(daemon) })
    }

    /// An agent that closes its output and keeps working is still waited for.
    @Test func closedOutputDoesNotEndTheRunEarly() async throws {
        let s = try Scratch()
        let script = try s.script(s.base, "quiet", "#!/bin/sh\necho bye\nexec >&- 2>&-\nsleep 0.3\nexit 3\n")
        let outcome = try await ProcessRunner.run(ProcessRequest(executable: script, environment: ["PATH": AgentHost.defaultPath], timeout: .seconds(10)))
        #expect(outcome.termination == .exited(3))
        #expect(outcome.ending == .finished)
        #expect(outcome.standardOutput == "bye\n")
    }

    /// Cancelling the caller's task kills the group and reports a cancellation.
    @Test func cancellationKillsTheGroup() async throws {
        let s = try Scratch()
        let pids = s.file("pids")
        let script = try s.script(s.base, "long", """
            #!/bin/sh
            sleep 1000 &
            echo $! > "\(pids)"
            echo $$ >> "\(pids)"
            wait
            """)
        let task = Task { try await ProcessRunner.run(ProcessRequest(executable: script, timeout: .seconds(60), killGrace: .milliseconds(300))) }
        #expect(await eventually { s.read("pids").split(separator: "\n").count == 2 })
        task.cancel()
        let outcome = try await task.value
        #expect(outcome.ending == .cancelled)
        for pid in s.read("pids").split(separator: "\n").compactMap({ Int32($0) }) {
            #expect(await eventually { !isAlive(pid) }, "process \(pid) survived cancellation")
        }
    }

    /// Standard input reaches the process (the fence-agent protocol depends on it).
    @Test func standardInputIsDelivered() async throws {
        let s = try Scratch()
        let script = try s.script(s.base, "cat", "#!/bin/sh\nexec cat\n")
        let outcome = try await ProcessRunner.run(ProcessRequest(executable: script, environment: ["PATH": AgentHost.defaultPath], standardInput: "action=off\nplug=n1\n", timeout: .seconds(5)))
        #expect(outcome.standardOutput == "action=off\nplug=n1\n")
    }

    /// A missing or non-executable file is a launch error that says so.
    @Test func launchErrors() async throws {
        let s = try Scratch()
        await #expect(throws: ProcessLaunchError.self) {
            try await ProcessRunner.run(ProcessRequest(executable: s.file("nope"), timeout: .seconds(1)))
        }
        let plain = s.file("plain")
        try "#!/bin/sh\nexit 0\n".write(toFile: plain, atomically: true, encoding: .utf8)
        do {
            _ = try await ProcessRunner.run(ProcessRequest(executable: plain, timeout: .seconds(1)))
            Issue.record("a non-executable file ran")
        } catch {
            #expect(error.notFound)
            #expect(error.description.contains("chmod +x"))
        }
    }
}

/// Agents inherit no descriptor of lrmd beyond stdin, stdout and stderr.
@Suite struct DescriptorTests {
    @Test func onlyStandardDescriptorsAreInherited() async throws {
        let s = try Scratch()
        // Keep a descriptor of our own open, to be sure it is not passed on.
        let held = open(s.base, O_RDONLY)
        defer { close(held) }
        let script = try s.script(s.base, "fds", "#!/bin/sh\nls -l /proc/$$/fd\n")
        let outcome = try await ProcessRunner.run(ProcessRequest(executable: script, environment: ["PATH": AgentHost.defaultPath], timeout: .seconds(5)))
        // "lr-x------ 1 root root 64 ... 10 -> /path" becomes "10 /path".
        let lines = outcome.standardOutput.split(separator: "\n").compactMap { line -> String? in
            let parts = line.split(separator: " ")
            guard let arrow = parts.firstIndex(of: "->"), arrow > 0, arrow + 1 < parts.count else { return nil }
            return "\(parts[arrow - 1]) \(parts[(arrow + 1)...].joined(separator: " "))"
        }
        #expect(lines.count >= 3, "\(outcome.standardOutput)")
        let extra = lines.filter { line in
            guard let fd = Int(line.split(separator: " ").first ?? "") else { return false }
            // The shell reads its script through a descriptor of its own.
            return fd > 2 && !line.hasSuffix(script)
        }
        #expect(extra.isEmpty, "descriptors leaked into the agent: \(extra)")
        #expect(!lines.contains { $0.hasSuffix(" " + s.base) })
    }
}

/// Many agents at once: every one that hangs is killed with its children, every one that
/// finishes is reported with its own output.
@Suite struct ConcurrencyTests {
    @Test func manyConcurrentRunsLeaveNoSurvivor() async throws {
        let s = try Scratch()
        let hang = try s.script(s.base, "hang", "#!/bin/sh\nsleep 1000 &\necho $! > \"$1\"\necho $$ >> \"$1\"\nwhile :; do sleep 1; done\n")
        let quick = try s.script(s.base, "quick", "#!/bin/sh\necho \"$1\"\nexit 7\n")
        let outcomes = try await withThrowingTaskGroup(of: (Int, ProcessOutcome).self) { group in
            for i in 0..<24 {
                group.addTask {
                    let request = i % 2 == 0
                        ? ProcessRequest(executable: hang, arguments: [s.file("pids-\(i)")], timeout: .milliseconds(300), killGrace: .milliseconds(200))
                        : ProcessRequest(executable: quick, arguments: ["run \(i)"], timeout: .seconds(30))
                    return (i, try await ProcessRunner.run(request))
                }
            }
            var all: [Int: ProcessOutcome] = [:]
            for try await (i, o) in group { all[i] = o }
            return all
        }
        #expect(outcomes.count == 24)
        for (i, o) in outcomes {
            if i % 2 == 0 {
                #expect(o.ending == .timedOut)
                for pid in s.read("pids-\(i)").split(separator: "\n").compactMap({ Int32($0) }) {
                    #expect(await eventually { !isAlive(pid) }, "run \(i): process \(pid) survived")
                }
            } else {
                #expect(o.ending == .finished)
                #expect(o.termination == .exited(7))
                #expect(o.standardOutput == "run \(i)\n")
            }
        }
    }
}
