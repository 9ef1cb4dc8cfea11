import Agents
import CIB
import Foundation
import Testing

/// OCF 1.1: exit codes, the environment agents receive, and the real Dummy agents from
/// resource-agents and Pacemaker, with their state kept under the node root.
@Suite struct OCFTests {
    @Test func exitCodesHaveTheirOCFNamesAndMeanings() {
        #expect(OCFExitCode.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 190, 191, 193])
        #expect(OCFExitCode.notRunning.description == "OCF_NOT_RUNNING (7): not running")
        #expect(OCFExitCode.errInstalled.meaning == "not installed")
        #expect(OCFExitCode.degradedPromoted.name == "OCF_DEGRADED_PROMOTED")
        #expect(OCFExitCode(exitStatus: 42) == .errGeneric)
        #expect(OCFExitCode(exitStatus: 190) == .degraded)
        #expect(OCFExitCode(exitStatus: 193) == .errGeneric, "an agent cannot answer 'pending'")
        #expect(ExecutionStatus.pending.pacemakerCode == -1 && OCFExitCode.unknown.meaning == "unknown")
        #expect(OCFExitCode.errConfigured.severity == .fatal)
        #expect(OCFExitCode.errInstalled.severity == .hard)
        #expect(OCFExitCode.errGeneric.severity == .soft)
        #expect(OCFExitCode.degraded.severity == .none)
        #expect(OCFExitCode.failedPromoted.meansActive)
        #expect(!OCFExitCode.notRunning.meansActive)
        for code in OCFExitCode.allCases { #expect(!code.meaning.isEmpty && (code.name.hasPrefix("OCF_") || code == .unknown)) }
    }

    /// Every exit code a scripted agent returns comes back as that OCF code.
    @Test(arguments: [Int32(0), 1, 2, 3, 4, 5, 6, 7, 8, 9, 190, 191, 42, 255])
    func eachExitCode(_ raw: Int32) async throws {
        let s = try Scratch()
        let agent = try s.ocfAgent("Exit", "#!/bin/sh\n[ -n \"$OCF_RESKEY_reason\" ] && echo \"ocf-exit-reason:$OCF_RESKEY_reason\" >&2\nexit $OCF_RESKEY_rc\n")
        let result = await AgentExecutor(host: s.host).run(AgentRequest(resource: "r", agent: agent, action: .monitor,
                                                                        parameters: ["rc": String(raw), "reason": raw == 0 ? "" : "code \(raw)"], timeout: .seconds(5)))
        #expect(result.status == .done)
        #expect(result.rawExitStatus == raw)
        #expect(result.exitCode == OCFExitCode(rawValue: raw) ?? .errGeneric)
        #expect(result.exitReason == (raw == 0 ? nil : "code \(raw)"))
    }

    /// The agent sees the whole OCF 1.1 environment, with per-node scratch directories.
    @Test func environmentReachesTheAgent() async throws {
        let s = try Scratch()
        let dump = s.file("env")
        let agent = try s.ocfAgent("Env", "#!/bin/sh\nenv | sort > \"\(dump)\"\nexit 0\n")
        let request = AgentRequest(resource: "web:1", agent: agent, action: .monitor,
                                   parameters: ["ip": "10.0.0.1", "OCF_CHECK_LEVEL": "20"],
                                   meta: ["clone-max": "2", "notify": "true"],
                                   timeout: .seconds(7), interval: .milliseconds(10_500), trace: true)
        let result = await AgentExecutor(host: s.host).run(request)
        #expect(result.exitCode == .success)
        let lines = Set(s.read("env").split(separator: "\n").map(String.init))
        let expected = [
            "OCF_ROOT=\(s.ocfRoot)", "OCF_FUNCTIONS_DIR=\(s.ocfRoot)/lib/heartbeat",
            "OCF_RESOURCE_INSTANCE=web:1", "OCF_RESOURCE_TYPE=Env", "OCF_RESOURCE_PROVIDER=test",
            "OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=1",
            "OCF_RESKEY_ip=10.0.0.1", "OCF_RESKEY_CRM_meta_clone_max=2", "OCF_RESKEY_CRM_meta_notify=true",
            "OCF_RESKEY_CRM_meta_timeout=7000", "OCF_RESKEY_CRM_meta_interval=10500",
            "OCF_CHECK_LEVEL=20", "OCF_TRACE_RA=1",
            "HA_RSCTMP=\(s.root)/run/resource-agents", "HA_VARRUN=\(s.root)/run", "SWIFTHA_ROOT=\(s.root)",
            "PATH=\(AgentHost.defaultPath)",
        ]
        for line in expected { #expect(lines.contains(line), "missing \(line)") }
        #expect(!lines.contains { $0.hasPrefix("OCF_RESKEY_OCF_CHECK_LEVEL") })
        #expect(FileManager.default.fileExists(atPath: s.root + "/run/resource-agents"))
    }

    @Test func hostPathsStayUnderTheRoot() {
        #expect(AgentHost(root: "/").resourceTemporaryDirectory == "/run/resource-agents")
        #expect(AgentHost(root: "/").runDirectory == "/run")
        #expect(AgentHost(root: "/srv/n1/").resourceTemporaryDirectory == "/srv/n1/run/resource-agents")
        let request = AgentRequest(resource: "r", agent: ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy"), action: .start, checkLevel: 10)
        let env = OCFEnvironment.variables(for: request, on: AgentHost(root: "/srv/n1"))
        #expect(env["OCF_CHECK_LEVEL"] == "10")
        #expect(env["OCF_RESKEY_CRM_meta_timeout"] == "20000")
        #expect(env["OCF_RESKEY_CRM_meta_interval"] == "0")
        #expect(env["OCF_TRACE_RA"] == nil)
    }

    /// ocf:heartbeat:Dummy from resource-agents: start, monitor, stop, with its state file under
    /// the node root.
    @Test func heartbeatDummyLifecycle() async throws {
        guard Installed.agent("/usr/lib/ocf/resource.d/heartbeat/Dummy", for: "heartbeatDummyLifecycle") else { return }
        let s = try Scratch()
        let executor = AgentExecutor(host: s.systemHost)
        let dummy = ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy")
        func run(_ action: AgentAction) async -> AgentResult {
            await executor.run(AgentRequest(resource: "d1", agent: dummy, action: action, timeout: .seconds(20)))
        }
        let stateFile = s.root + "/run/resource-agents/Dummy-d1.state"
        #expect(await run(.monitor).exitCode == .notRunning)
        #expect(await run(.start).exitCode == .success)
        #expect(FileManager.default.fileExists(atPath: stateFile), "the state file must be under the node root")
        #expect(await run(.monitor).exitCode == .success)
        #expect(await run(.validateAll).exitCode == .success)
        #expect(await run(.stop).exitCode == .success)
        #expect(!FileManager.default.fileExists(atPath: stateFile))
        #expect(await run(.monitor).exitCode == .notRunning)
    }

    /// Two nodes on one machine: the same resource started on one is not running on the other.
    @Test func twoNodesNeverShareDummyState() async throws {
        guard Installed.agent("/usr/lib/ocf/resource.d/heartbeat/Dummy", for: "twoNodesNeverShareDummyState") else { return }
        let a = try Scratch()
        let b = try Scratch()
        let dummy = ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy")
        let onA = AgentExecutor(host: a.systemHost)
        let onB = AgentExecutor(host: b.systemHost)
        #expect(await onA.run(AgentRequest(resource: "shared", agent: dummy, action: .start)).exitCode == .success)
        #expect(await onB.run(AgentRequest(resource: "shared", agent: dummy, action: .monitor)).exitCode == .notRunning)
        #expect(await onA.run(AgentRequest(resource: "shared", agent: dummy, action: .monitor)).exitCode == .success)
        #expect(await onA.run(AgentRequest(resource: "shared", agent: dummy, action: .stop)).exitCode == .success)
    }

    /// ocf:pacemaker:Dummy keeps its state under HA_VARRUN, and its depth-10 monitor hangs while
    /// ignoring SIGTERM: the timeout must still kill it and report a timeout.
    @Test func pacemakerDummyLifecycleAndStubbornTimeout() async throws {
        guard Installed.agent("/usr/lib/ocf/resource.d/pacemaker/Dummy", for: "pacemakerDummyLifecycleAndStubbornTimeout") else { return }
        let s = try Scratch()
        let executor = AgentExecutor(host: s.systemHost, killGrace: .milliseconds(300))
        let dummy = ResourceAgentName(standard: "ocf", provider: "pacemaker", type: "Dummy")
        #expect(await executor.run(AgentRequest(resource: "p1", agent: dummy, action: .start)).exitCode == .success)
        #expect(FileManager.default.fileExists(atPath: s.root + "/run/Dummy-p1.state"))
        #expect(await executor.run(AgentRequest(resource: "p1", agent: dummy, action: .monitor)).exitCode == .success)
        let slow = await executor.run(AgentRequest(resource: "p1", agent: dummy, action: .monitor, timeout: .milliseconds(700), checkLevel: 10))
        #expect(slow.status == .timedOut)
        #expect(slow.exitCode == .errGeneric)
        #expect(await executor.run(AgentRequest(resource: "p1", agent: dummy, action: .stop)).exitCode == .success)
        #expect(!FileManager.default.fileExists(atPath: s.root + "/run/Dummy-p1.state"))
    }

    /// An agent that is not installed: rc 5 "not installed", with where it was looked for.
    @Test func missingAgentIsNotInstalled() async throws {
        let s = try Scratch()
        let result = await AgentExecutor(host: s.host).run(AgentRequest(resource: "x", agent: ResourceAgentName(standard: "ocf", provider: "test", type: "Missing"), action: .start))
        #expect(result.exitCode == .errInstalled)
        #expect(result.status == .notInstalled)
        #expect(result.exitReason?.contains("ocf:test:Missing is not installed") == true)
        #expect(result.exitReason?.contains(s.ocfRoot + "/resource.d/test/Missing") == true)
    }

    /// An agent given invalid parameters answers rc 6, which is fatal.
    @Test func invalidParametersAreNotConfigured() async throws {
        let s = try Scratch()
        let agent = try s.ocfAgent("Strict", """
            #!/bin/sh
            case "$OCF_RESKEY_port" in
            ''|*[!0-9]*) echo "ocf-exit-reason:port '$OCF_RESKEY_port' is not a number" >&2; exit 6 ;;
            esac
            exit 0
            """)
        let result = await AgentExecutor(host: s.host).run(AgentRequest(resource: "x", agent: agent, action: .validateAll, parameters: ["port": "eighty"]))
        #expect(result.exitCode == .errConfigured)
        #expect(result.exitCode.severity == .fatal)
        #expect(result.exitReason == "port 'eighty' is not a number")
    }

    @Test func badAgentNamesAreRefused() async throws {
        let s = try Scratch()
        let catalog = AgentCatalog(host: s.host)
        #expect(throws: AgentError.self) { try catalog.executable(for: ResourceAgentName(standard: "ocf", provider: "..", type: "x")) }
        #expect(throws: AgentError.self) { try catalog.executable(for: ResourceAgentName(standard: "ocf", provider: "test", type: "../../bin/sh")) }
        #expect(throws: AgentError.self) { try catalog.executable(for: ResourceAgentName(standard: "ocf", provider: nil, type: "Dummy")) }
        let unknown = await AgentExecutor(host: s.host).run(AgentRequest(resource: "x", agent: ResourceAgentName(standard: "nagios", provider: nil, type: "check"), action: .start))
        #expect(unknown.exitCode == .errConfigured)
        #expect(unknown.exitReason?.contains("unknown resource agent class 'nagios'") == true)
    }

    /// ocf:heartbeat:anything runs a real long-running process (a small HTTP server): a start that
    /// ends normally leaves it running, its pid file lies under the node root, stop ends it.
    @Test func anythingRunsALongLivedServer() async throws {
        guard Installed.agent("/usr/lib/ocf/resource.d/heartbeat/anything", for: "anythingRunsALongLivedServer"),
              Installed.agent("/usr/bin/python3", for: "anythingRunsALongLivedServer") else { return }
        let s = try Scratch()
        let executor = AgentExecutor(host: s.systemHost)
        let anything = ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "anything")
        // Port 0: the server takes any free port, so parallel runs never collide.
        let params = ["binfile": "/usr/bin/python3", "cmdline_options": "-m http.server --bind 127.0.0.1 0", "workdir": s.base]
        func run(_ action: AgentAction) async -> AgentResult {
            await executor.run(AgentRequest(resource: "web", agent: anything, action: action, parameters: params, timeout: .seconds(20)))
        }
        #expect(await run(.monitor).exitCode == .notRunning)
        let start = await run(.start)
        #expect(start.exitCode == .success, "\(start) \(start.standardError)")
        let pidFile = s.root + "/run/anything_web.pid"
        let pid = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        #expect(isAlive(pid), "the server must outlive the start action")
        #expect(await run(.monitor).exitCode == .success)
        #expect(await run(.stop).exitCode == .success)
        #expect(await eventually { !isAlive(pid) })
        #expect(await run(.monitor).exitCode == .notRunning)
        if isAlive(pid) { kill(pid, SIGKILL) }
    }


    /// ocf:pacemaker:Stateful through promote and demote: monitor answers 8 when promoted and 9
    /// when promoted but failed, with the agent's exit reason.
    @Test func statefulPromoteDemote() async throws {
        guard Installed.agent("/usr/lib/ocf/resource.d/pacemaker/Stateful", for: "statefulPromoteDemote") else { return }
        let s = try Scratch()
        let executor = AgentExecutor(host: s.systemHost)
        let stateful = ResourceAgentName(standard: "ocf", provider: "pacemaker", type: "Stateful")
        func run(_ action: AgentAction, interval: Duration = .zero) async -> AgentResult {
            await executor.run(AgentRequest(resource: "st", agent: stateful, action: action, timeout: .seconds(20), interval: interval))
        }
        #expect(await run(.start).exitCode == .success)
        #expect(await run(.monitor, interval: .seconds(11)).exitCode == .success)
        #expect(await run(.promote).exitCode == .success)
        #expect(await run(.monitor, interval: .seconds(10)).exitCode == .runningPromoted)
        try "9".write(toFile: s.root + "/run/Stateful-st.state.rc", atomically: true, encoding: .utf8)
        let failed = await run(.monitor, interval: .seconds(10))
        #expect(failed.exitCode == .failedPromoted)
        #expect(failed.exitReason == "9 GB redirected to /dev/null")
        try FileManager.default.removeItem(atPath: s.root + "/run/Stateful-st.state.rc")
        #expect(await run(.demote).exitCode == .success)
        #expect(await run(.monitor, interval: .seconds(11)).exitCode == .success)
        #expect(await run(.notify).exitCode == .success)
        #expect(await run(.stop).exitCode == .success)
        #expect(await run(.monitor).exitCode == .notRunning)
    }

    /// Live migration of ocf:heartbeat:Dummy between two nodes on one machine: migrate_to on the
    /// source, migrate_from on the target, each with its own state.
    @Test func dummyMigratesBetweenNodes() async throws {
        guard Installed.agent("/usr/lib/ocf/resource.d/heartbeat/Dummy", for: "dummyMigratesBetweenNodes") else { return }
        let a = try Scratch()
        let b = try Scratch()
        let dummy = ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy")
        let meta = ["migrate_source": "node-a", "migrate_target": "node-b"]
        let onA = AgentExecutor(host: a.systemHost)
        let onB = AgentExecutor(host: b.systemHost)
        #expect(await onA.run(AgentRequest(resource: "m", agent: dummy, action: .start)).exitCode == .success)
        #expect(await onA.run(AgentRequest(resource: "m", agent: dummy, action: .migrateTo, meta: meta)).exitCode == .success)
        #expect(await onB.run(AgentRequest(resource: "m", agent: dummy, action: .migrateFrom, meta: meta)).exitCode == .success)
        #expect(await onA.run(AgentRequest(resource: "m", agent: dummy, action: .monitor)).exitCode == .notRunning)
        #expect(await onB.run(AgentRequest(resource: "m", agent: dummy, action: .monitor)).exitCode == .success)
        #expect(await onB.run(AgentRequest(resource: "m", agent: dummy, action: .stop)).exitCode == .success)
    }

}
