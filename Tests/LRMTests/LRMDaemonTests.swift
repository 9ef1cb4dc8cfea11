import Agents
import CIB
import Foundation
import LocalIPC
import LRM
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real lrmd process with real agents (Debian's resource-agents, and the tests' own
/// scripts), driven through LRMClient.
@Suite(.serialized) struct LRMDaemonTests {
    @Test func dummyStartMonitorStop() async throws {
        guard dummyInstalled("dummyStartMonitorStop") else { return }
        let node = try LRMNode(name: "n1")
        try await node.start()
        let lrmd = try await node.connect()
        try await lrmd.register(ResourceDefinition(id: "d", agent: dummy, parameters: ["fake": "hello"]))

        let start = try await lrmd.run(OperationRequest(resource: "d", action: .start, timeout: .seconds(20)))
        #expect(start.exitCode == .success && start.status == .done, "\(start)")
        #expect(FileManager.default.fileExists(atPath: node.rscTmp + "/Dummy-d.state"), "Dummy keeps its state under the node root")

        let monitor = try await lrmd.run(OperationRequest(resource: "d", action: .monitor, timeout: .seconds(20)))
        #expect(monitor.exitCode == .success)

        let stop = try await lrmd.run(OperationRequest(resource: "d", action: .stop, timeout: .seconds(20)))
        #expect(stop.exitCode == .success)
        #expect(!FileManager.default.fileExists(atPath: node.rscTmp + "/Dummy-d.state"))
        let probe = try await lrmd.run(OperationRequest(resource: "d", action: .monitor, timeout: .seconds(20)))
        #expect(probe.exitCode == .notRunning)

        let history = try await lrmd.history(of: "d")
        #expect(history.resource.agent == dummy)
        #expect(history.resource.parameters == ["fake": "hello"])
        #expect(history.operations[OperationKey(resource: "d", action: .start)]?.callID == start.callID)
        #expect(history.operations[OperationKey(resource: "d", action: .stop)]?.callID == stop.callID)
        #expect(history.operations[OperationKey(resource: "d", action: .start)]?.parameterDigest.isEmpty == false)
        #expect(start.callID < monitor.callID && monitor.callID < stop.callID)

        // The agent catalog and meta-data through lrmd.
        #expect(try await lrmd.classes().contains("ocf"))
        #expect(try await lrmd.providers() == ["heartbeat", "test"])
        #expect(try await lrmd.agents(standard: "ocf", provider: "heartbeat").contains("Dummy"))
        let meta = try await lrmd.metadata(for: dummy)
        #expect(meta.name == "Dummy")
        #expect(meta.parameter("state") != nil)
        #expect(meta.supports("monitor"))
        let status = try await lrmd.status()
        #expect(status.root == node.root && status.node == "n1" && status.resources == 1 && status.subscribers == 1)
        // The history as the CIB's <lrm_resource>, with wall-clock last-rc-change.
        let now = Int(Date().timeIntervalSince1970)
        let xml = history.lrmResource(epochOfOrigin: status.epochOfOrigin, node: "n1").element
        let ops = xml.elements(named: "lrm_rsc_op")
        #expect(ops.map { $0["id"] ?? "" }.contains("d_last_0"))
        for op in ops {
            let changed = Int(op["last-rc-change"] ?? "") ?? 0
            #expect(changed >= status.epochOfOrigin && changed <= now + 1, "\(op)")
        }

        let status2 = try await lrmd.lrmResources(node: "n1")
        #expect(status2.map { $0.element["id"] } == ["d"])
        #expect(status2.first?.element["type"] == "Dummy")

        try await lrmd.unregister("d")
        #expect(try await lrmd.histories().isEmpty)
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }

    @Test func recurringMonitorReportsTheChangeWhenTheStateFileGoes() async throws {
        guard dummyInstalled("recurringMonitorReportsTheChangeWhenTheStateFileGoes") else { return }
        let node = try LRMNode(name: "n1")
        try await node.start()
        let lrmd = try await node.connect()
        let results = ResultLog(lrmd)
        try await lrmd.register(ResourceDefinition(id: "web", agent: dummy))
        #expect(try await lrmd.run(OperationRequest(resource: "web", action: .start)).exitCode == .success)

        let monitor = try await lrmd.execute(OperationRequest(resource: "web", action: .monitor, interval: .milliseconds(200), timeout: .seconds(20)))
        let first = await results.wait { $0.callID == monitor }
        #expect(first?.exitCode == .success)
        // Several unchanged runs later, the state file disappears behind the agent's back.
        try await Task.sleep(for: .milliseconds(700))
        try FileManager.default.removeItem(atPath: node.rscTmp + "/Dummy-web.state")
        let change = await results.wait { $0.callID == monitor && $0.exitCode != .success }
        #expect(change?.exitCode == .notRunning, "\(results.of(monitor))")
        #expect(change?.status == .done)
        // Only the first result and the change were reported, not every run.
        #expect(results.of(monitor).map(\.exitCode) == [.success, .notRunning], "\(results.of(monitor))")

        try await lrmd.cancel(OperationKey(resource: "web", action: .monitor, interval: .milliseconds(200)))
        let cancelled = await results.wait { $0.callID == monitor && $0.status == .cancelled }
        #expect(cancelled != nil)
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }

    @Test func timeoutKillsTheAgentsWholeProcessGroup() async throws {
        let node = try LRMNode(name: "n1")
        let pidFile = node.base + "/hang.pids"
        let hang = try node.hangingAgent(pidFile: pidFile)
        try await node.start()
        let lrmd = try await node.connect()
        try await lrmd.register(ResourceDefinition(id: "stuck", agent: hang))
        let result = try await lrmd.run(OperationRequest(resource: "stuck", action: .start, timeout: .seconds(1)))
        #expect(result.status == .timedOut, "\(result)")
        #expect(result.exitReason?.contains("1s") == true, "\(result.exitReason ?? "")")
        let spawned = pids(in: pidFile)
        #expect(spawned.count == 2, "the agent recorded its child and itself")
        // The agent and its background child are gone, and nothing is left in its group.
        #expect(await eventually { spawned.allSatisfy { !ProcessTable.isRunning($0) } }, "left running: \(spawned.filter(ProcessTable.isRunning))")
        if let leader = spawned.last {
            #expect(await eventually(within: .seconds(5)) { ProcessTable.liveMembers(ofGroup: leader).isEmpty })
        }
        let history = try await lrmd.history(of: "stuck")
        #expect(history.lastFailure?.status == .timedOut)
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }

    @Test func twoNodesRunDummyWithTheSameIdWithoutSharingState() async throws {
        guard dummyInstalled("twoNodesRunDummyWithTheSameIdWithoutSharingState") else { return }
        let a = try LRMNode(name: "a")
        let b = try LRMNode(name: "b")
        try await a.start()
        try await b.start()
        let la = try await a.connect()
        let lb = try await b.connect()
        for l in [la, lb] {
            try await l.register(ResourceDefinition(id: "same", agent: dummy))
            #expect(try await l.run(OperationRequest(resource: "same", action: .start)).exitCode == .success)
        }
        #expect(FileManager.default.fileExists(atPath: a.rscTmp + "/Dummy-same.state"))
        #expect(FileManager.default.fileExists(atPath: b.rscTmp + "/Dummy-same.state"))
        // Stopping it on a leaves b's running.
        #expect(try await la.run(OperationRequest(resource: "same", action: .stop)).exitCode == .success)
        #expect(try await la.run(OperationRequest(resource: "same", action: .monitor)).exitCode == .notRunning)
        #expect(try await lb.run(OperationRequest(resource: "same", action: .monitor)).exitCode == .success)
        await la.close()
        await lb.close()
        #expect(try await a.terminate() == 0)
        #expect(try await b.terminate() == 0)
    }

    @Test func sigtermLeavesNoAgentProcessBehind() async throws {
        let node = try LRMNode(name: "n1")
        let pidFile = node.base + "/hang.pids"
        let hang = try node.hangingAgent(pidFile: pidFile)
        try await node.start()
        let lrmd = try await node.connect()
        try await lrmd.register(ResourceDefinition(id: "busy", agent: hang))
        let call = try await lrmd.execute(OperationRequest(resource: "busy", action: .start, timeout: .seconds(120)))
        #expect(await eventually { pids(in: pidFile).count == 2 }, "the agent started")
        let spawned = pids(in: pidFile)

        let waiting = Task { try await lrmd.result(of: call) }
        #expect(try await node.terminate() == 0, "lrmd exits 0 on SIGTERM: \(node.log)")
        #expect(await eventually(within: .seconds(5)) { spawned.allSatisfy { !ProcessTable.isRunning($0) } }, "left running: \(spawned.filter(ProcessTable.isRunning))")
        if let leader = spawned.last {
            #expect(await eventually(within: .seconds(5)) { ProcessTable.liveMembers(ofGroup: leader).isEmpty })
        }
        #expect(!FileManager.default.fileExists(atPath: node.socketPath), "the socket is removed")
        // The client waiting for the result learns that lrmd went away instead of hanging.
        await #expect(throws: (any Error).self) { _ = try await waiting.value }
        #expect(!lrmd.isConnected)
        #expect(node.log.contains("received SIGTERM"))
    }

    @Test func unknownAgentsAndResourcesGiveClearErrors() async throws {
        let node = try LRMNode(name: "n1")
        try await node.start()
        let lrmd = try await node.connect()
        let missing = ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "NoSuchAgent")

        // A missing agent can be registered (crmd probes everywhere), and its operations end
        // with OCF_ERR_INSTALLED (5) and a reason naming where it was looked for.
        try await lrmd.register(ResourceDefinition(id: "ghost", agent: missing))
        let probe = try await lrmd.run(OperationRequest(resource: "ghost", action: .monitor))
        #expect(probe.exitCode == .errInstalled)
        #expect(probe.status == .notInstalled)
        #expect(probe.exitReason?.contains("not installed") == true)
        #expect(probe.exitReason?.contains(node.ocfRoot + "/resource.d/heartbeat/NoSuchAgent") == true, "\(probe.exitReason ?? "")")

        await #expect {
            _ = try await lrmd.metadata(for: missing)
        } throws: { error in
            guard let f = error as? LRMFailure else { return false }
            return f.kind == .notInstalled && f.message.contains("ocf:heartbeat:NoSuchAgent")
        }
        await #expect {
            try await lrmd.register(ResourceDefinition(id: "x", agent: ResourceAgentName(standard: "bogus", provider: nil, type: "thing")))
        } throws: { error in
            guard let f = error as? LRMFailure else { return false }
            return f.kind == .invalidAgent && f.message.contains("unknown resource agent class 'bogus'")
        }
        await #expect {
            _ = try await lrmd.execute(OperationRequest(resource: "never-registered", action: .start))
        } throws: { error in
            guard let f = error as? LRMFailure else { return false }
            return f.kind == .unknownResource && f.message.contains("never-registered") && f.message.contains("register it")
        }
        await #expect {
            try await lrmd.cancel(OperationKey(resource: "ghost", action: .monitor, interval: .seconds(10)))
        } throws: { error in
            (error as? LRMFailure)?.kind == .invalidRequest
        }
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }

    @Test func crashingAgentsAndBadMetaDataAreReportedAsSuch() async throws {
        let node = try LRMNode(name: "n1")
        let crash = try node.agent("Crash", "#!/bin/sh\nkill -SEGV $$\n")
        let garbage = try node.agent("Garbage", "#!/bin/sh\necho 'this is not XML'\nexit 0\n")
        try await node.start()
        let lrmd = try await node.connect()
        try await lrmd.register(ResourceDefinition(id: "c", agent: crash))
        let r = try await lrmd.run(OperationRequest(resource: "c", action: .start))
        #expect(r.status == .crashed(signal: SIGSEGV), "\(r)")
        #expect(r.exitReason?.contains("SIGSEGV") == true, "\(r.exitReason ?? "")")
        #expect(try await lrmd.history(of: "c").lastFailure?.callID == r.callID)
        await #expect {
            _ = try await lrmd.metadata(for: garbage)
        } throws: { error in
            guard let f = error as? LRMFailure else { return false }
            return f.kind == .badMetadata && f.message.contains("ocf:test:Garbage")
        }
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }

    @Test func lrmdTellsSystemdWhenReadyAndRereadsMetaDataOnSIGHUP() async throws {
        let node = try LRMNode(name: "n1")
        // A notification socket like systemd's: lrmd sends READY=1 once it serves.
        let path = node.base + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in raw.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        try await node.start(environment: ["NOTIFY_SOCKET": path])
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        let message = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
        #expect(message.contains("READY=1"), "got '\(message)'")
        #expect(message.contains(node.socketPath))
        // SIGHUP does not stop lrmd; it reads agents' meta-data afresh.
        func metaAgent(_ version: String) throws -> ResourceAgentName {
            try node.agent("Meta", """
                #!/bin/sh
                echo '<resource-agent name="Meta" version="\(version)"><parameters/><actions><action name="start" timeout="20s"/></actions></resource-agent>'
                """)
        }
        let meta = try metaAgent("1")
        let lrmd = try await node.connect()
        #expect(try await lrmd.metadata(for: meta).agentVersion == "1")
        _ = try metaAgent("2")
        #expect(try await lrmd.metadata(for: meta).agentVersion == "1", "kept from the first read")
        kill(node.process!.processIdentifier, SIGHUP)
        #expect(await eventually { node.log.contains("received SIGHUP") })
        #expect(try await lrmd.metadata(for: meta).agentVersion == "2", "read again after SIGHUP")
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }

    @Test func badCommandLinesExitWithUsage() throws {
        let bogus = try Tool.run("lrmd", ["--bogus"])
        #expect(bogus.status == 64)
        #expect(bogus.stderr.contains("Unknown option '--bogus'"))
        let relative = try Tool.run("lrmd", ["--root", "relative/dir"])
        #expect(relative.status == 64)
        #expect(relative.stderr.contains("absolute path"))
        let limit = try Tool.run("lrmd", ["--root", "/tmp", "--parallel-limit", "0"])
        #expect(limit.status == 64)
    }

    @Test func aSecondLrmdForTheSameRootRefusesToStart() async throws {
        let node = try LRMNode(name: "n1")
        try await node.start()
        let second = try Tool.run("lrmd", ["--root", node.root])
        #expect(second.status == 69, "\(second.stderr)")
        #expect(second.stderr.contains("already serving"))
        // The first one is unaffected.
        let lrmd = try await node.connect()
        #expect(try await lrmd.status().root == node.root)
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }
}

/// What an agent run by lrmd sees.
@Suite struct LRMAgentEnvironmentTests {
    @Test func agentsGetTheNodesScratchDirectoriesAndMergedAttributes() async throws {
        let node = try LRMNode(name: "n7")
        let dump = node.base + "/env.txt"
        let agent = try node.agent("Env", """
            #!/bin/sh
            env > "\(dump)"
            exit 0
            """)
        try await node.start()
        let lrmd = try await node.connect()
        try await lrmd.register(ResourceDefinition(id: "probe", agent: agent, parameters: ["ip": "10.0.0.1", "port": "80"],
                                                   meta: ["target-role": "Started"]))
        let r = try await lrmd.run(OperationRequest(resource: "probe", action: .start, timeout: .seconds(7),
                                                    parameters: ["port": "8080"], meta: ["clone-max": "2"]))
        #expect(r.exitCode == .success)
        let lines = Set(((try? String(contentsOfFile: dump, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init))
        for expected in [
            "HA_RSCTMP=\(node.root)/run/resource-agents", "HA_VARRUN=\(node.root)/run", "SWIFTHA_ROOT=\(node.root)",
            "OCF_ROOT=\(node.ocfRoot)", "OCF_RESOURCE_INSTANCE=probe", "OCF_RESOURCE_PROVIDER=test", "OCF_RESOURCE_TYPE=Env",
            "OCF_RESKEY_ip=10.0.0.1", "OCF_RESKEY_port=8080",
            "OCF_RESKEY_CRM_meta_target_role=Started", "OCF_RESKEY_CRM_meta_clone_max=2", "OCF_RESKEY_CRM_meta_timeout=7000",
        ] {
            #expect(lines.contains(expected), "missing \(expected)")
        }
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: node.root + "/run/resource-agents", isDirectory: &isDir) && isDir.boolValue)
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }
}

/// Sends `GET /` to 127.0.0.1:port; returns the response's first line, or nil when nothing
/// answers.
func httpStatusLine(port: UInt16) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard ok == 0 else { return nil }
    let request = Array("GET / HTTP/1.0\r\n\r\n".utf8)
    guard write(fd, request, request.count) == request.count else { return nil }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while response.count < 65536 {
        let n = read(fd, &chunk, chunk.count)
        if n <= 0 { break }
        response += chunk[0..<n]
    }
    return String(decoding: response, as: UTF8.self).split(separator: "\r\n").first.map(String.init)
}

/// ocf:heartbeat:anything keeps a real server running after its start action returns.
@Suite struct LRMLongRunningResourceTests {
    @Test func anythingRunsAnHTTPServerUntilStopped() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/anything") else {
            print("SKIPPED: anythingRunsAnHTTPServerUntilStopped: ocf:heartbeat:anything is not installed (apt-get install resource-agents)")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            print("SKIPPED: anythingRunsAnHTTPServerUntilStopped: /usr/bin/python3 is not installed (it serves HTTP in this test)")
            return
        }
        let node = try LRMNode(name: "n1")
        try "hello from the cluster\n".write(toFile: node.base + "/index.html", atomically: true, encoding: .utf8)
        var generator = SystemRandomNumberGenerator()
        let port = UInt16.random(in: 30000...60000, using: &generator)
        try await node.start()
        let lrmd = try await node.connect()
        let anything = ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "anything")
        try await lrmd.register(ResourceDefinition(id: "web", agent: anything, parameters: [
            "binfile": "/usr/bin/python3",
            "cmdline_options": "-m http.server \(port) --bind 127.0.0.1 --directory \(node.base)",
        ]))
        let start = try await lrmd.run(OperationRequest(resource: "web", action: .start, timeout: .seconds(20)))
        #expect(start.exitCode == .success, "\(start)")
        let pidFile = node.root + "/run/anything_web.pid"
        let pid = Int32(((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(pid != nil, "anything wrote its pid file under HA_VARRUN (\(pidFile))")
        guard let pid else { return }
        // The server outlives the start action and answers.
        #expect(await eventually(within: .seconds(15)) { httpStatusLine(port: port)?.hasPrefix("HTTP/1.0 200") == true })
        #expect(ProcessTable.isRunning(pid))
        #expect(try await lrmd.run(OperationRequest(resource: "web", action: .monitor)).exitCode == .success)

        let stop = try await lrmd.run(OperationRequest(resource: "web", action: .stop, timeout: .seconds(20)))
        #expect(stop.exitCode == .success)
        #expect(await eventually(within: .seconds(10)) { !ProcessTable.isRunning(pid) })
        #expect(httpStatusLine(port: port) == nil)
        #expect(try await lrmd.run(OperationRequest(resource: "web", action: .monitor)).exitCode == .notRunning)
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }
}
