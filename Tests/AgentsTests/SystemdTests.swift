import Agents
import CIB
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// systemd units over sd-bus against a real systemd (the machine's, run privately as PID 1 of
/// its own namespaces; see PrivateSystemd).
@Suite(.serialized) struct SystemdTests {
    @Test func startMonitorStopAFailingAndAMissingUnit() async throws {
        let s = try Scratch()
        guard let systemd = PrivateSystemd.forTest("startMonitorStopAFailingAndAMissingUnit", units: PrivateSystemd.testUnits(marker: s.base)) else { return }
        defer { systemd.stop() }
        let bus = Systemd.Bus.address(systemd.busAddress)
        let marker = s.base + "/web.up"

        #expect(try await Systemd.perform(.monitor, unit: "web", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.notRunning, "inactive"))
        #expect(try await Systemd.perform(.start, unit: "web", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.success))
        #expect(systemd.unitProperty("web.service", "ActiveState") == "active")
        #expect(FileManager.default.fileExists(atPath: marker), "the service really ran")
        #expect(try await Systemd.activeState(unit: "web", bus: bus) == "active")
        #expect(try await Systemd.perform(.status, unit: "web.service", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.success))
        #expect(try await Systemd.perform(.start, unit: "web", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.success), "starting a started unit")
        #expect(try await Systemd.perform(.stop, unit: "web", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.success))
        #expect(systemd.unitProperty("web.service", "ActiveState") == "inactive")
        #expect(!FileManager.default.fileExists(atPath: marker), "the service's stop ran")
        #expect(try await Systemd.perform(.monitor, unit: "web", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.notRunning, "inactive"))
        #expect(try await Systemd.perform(.stop, unit: "web", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.success), "stopping a stopped unit")

        // A unit that fails to start: rc 1 with systemd's reason.
        let broken = try await Systemd.perform(.start, unit: "broken", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory)
        #expect(broken.exitCode == .errGeneric)
        #expect(broken.reason?.contains("systemd's start job for broken.service finished with 'failed'") == true, "\(broken)")
        #expect(broken.reason?.contains("its main process exited with status 3 (Result=exit-code)") == true, "\(broken)")
        #expect(systemd.unitProperty("broken.service", "ActiveState") == "failed")
        #expect(try await Systemd.perform(.monitor, unit: "broken", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.notRunning, "failed"))
        #expect(try await Systemd.perform(.stop, unit: "broken", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory).exitCode == .success)

        // A unit systemd does not have: rc 5.
        let missing = try await Systemd.perform(.start, unit: "missing", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory)
        #expect(missing == .init(.errInstalled, "systemd has no unit missing.service"))
        #expect(try await Systemd.perform(.monitor, unit: "missing", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory).exitCode == .errInstalled)

        // A unit file systemd refuses: an error with systemd's words, and not a known unit.
        await #expect(throws: AgentError.self) { try await Systemd.perform(.start, unit: "bad", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) }
        do {
            _ = try await Systemd.perform(.start, unit: "bad", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory)
        } catch {
            #expect(error.description.contains("systemd unit bad.service: StartUnit failed: Unit bad.service has a bad unit file setting"), "\(error)")
        }
        #expect(!(await Systemd.isKnownUnit("bad", bus: bus)))
        // A program that is not there: systemd's status 203 (EXEC).
        let noexec = try await Systemd.perform(.start, unit: "noexec", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory)
        #expect(noexec.exitCode == .errGeneric)
        #expect(noexec.reason?.contains("finished with 'failed': the unit is failed: its main process exited with status 203 (Result=exit-code)") == true, "\(noexec)")

        let units = try Systemd.listUnits(bus: bus)
        #expect(Set(["web", "broken", "slow", "dbus", "dbus.socket"]).isSubset(of: units), "\(units)")
        #expect(!units.contains("swiftha-test.target") && !units.contains("web.service"), "\(units)")
        #expect(await Systemd.isKnownUnit("web", bus: bus))
        #expect(await Systemd.isKnownUnit("web.service", bus: bus))
        #expect(!(await Systemd.isKnownUnit("missing", bus: bus)))
        await #expect(throws: AgentError.self) { try await Systemd.perform(.promote, unit: "web", timeout: .seconds(5), bus: bus, dropInRoot: systemd.runtimeDirectory) }
        #expect(systemd.jobs == "a(usssoo) 0", "no job left queued")
    }

    /// As Pacemaker 2.1.5: a monitor of a unit that is activating or deactivating has no
    /// answer yet (execution status pending, rc 193), neither "running" nor a failure; a start
    /// returns once the unit is active, a stop once it is inactive.
    @Test func aUnitInTransitionIsPendingAndStartAndStopWaitForIt() async throws {
        let s = try Scratch()
        guard let systemd = PrivateSystemd.forTest("aUnitInTransitionIsPendingAndStartAndStopWaitForIt", units: PrivateSystemd.testUnits(marker: s.base)) else { return }
        defer { systemd.stop() }
        var executor = AgentExecutor(host: s.host)
        executor.systemdBus = .address(systemd.busAddress)
        executor.systemdDropInRoot = systemd.runtimeDirectory
        let agent = ResourceAgentName(standard: "systemd", provider: nil, type: "pending")
        let run: @Sendable (AgentAction) async -> AgentResult = { [executor] action in
            await executor.run(AgentRequest(resource: "p", agent: agent, action: action, timeout: .seconds(20)))
        }
        /// Monitors every 50 ms (for up to 10 s) until a result is not `skip`.
        func monitorUntilNot(_ skip: OCFExitCode) async -> AgentResult? {
            for _ in 0..<200 {
                let r = await run(.monitor)
                if r.exitCode != skip || r.status != .done { return r }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return nil
        }
        #expect(await run(.monitor).exitCode == .notRunning)

        // ExecStartPre=/bin/sleep 2: systemd says "activating" for 2 s.
        let starting = Task { await run(.start) }
        let activating = await monitorUntilNot(.notRunning)
        #expect(activating?.status == .pending && activating?.exitCode == .unknown, "\(String(describing: activating))")
        #expect(activating?.description == "PCMK_OCF_UNKNOWN (193): unknown (pending)")
        #expect(try await Systemd.perform(.monitor, unit: "pending", timeout: .seconds(5), bus: .address(systemd.busAddress)) == .pending)
        let started = await starting.value
        #expect(started.exitCode == .success && started.status == .done, "\(started)")
        #expect(systemd.unitProperty("pending.service", "ActiveState") == "active", "the start returned before the unit was active")
        #expect(await run(.monitor).exitCode == .success)

        // ExecStop=/bin/sleep 2: "deactivating" for 2 s.
        let stopping = Task { await run(.stop) }
        let deactivating = await monitorUntilNot(.success)
        #expect(deactivating?.status == .pending && deactivating?.exitCode == .unknown, "\(String(describing: deactivating))")
        let stopped = await stopping.value
        #expect(stopped.exitCode == .success && stopped.status == .done, "\(stopped)")
        #expect(["inactive", "failed"].contains(systemd.unitProperty("pending.service", "ActiveState")), "the stop returned before the unit was down")
        #expect(await run(.monitor).exitCode == .notRunning)

        // A start that cannot finish within its timeout: its job is cancelled, a timeout.
        let short = await executor.run(AgentRequest(resource: "p", agent: agent, action: .start, timeout: .seconds(1)))
        #expect(short.status == .timedOut, "\(short)")
        #expect(systemd.jobs == "a(usssoo) 0", "the timed-out job was cancelled in systemd")
        #expect(await run(.stop).exitCode == .success)
    }

    /// The drop-in the cluster writes for a service it starts, as Pacemaker does: Restart=no,
    /// so that systemd does not restart behind the cluster's back a unit that dies; removed at
    /// the stop. A unit started by hand keeps its own Restart=always.
    @Test func theClusterDropInKeepsSystemdFromRestartingAUnitTheClusterStarted() async throws {
        let s = try Scratch()
        guard let systemd = PrivateSystemd.forTest("theClusterDropInKeepsSystemdFromRestartingAUnitTheClusterStarted", units: PrivateSystemd.testUnits(marker: s.base)) else { return }
        defer { systemd.stop() }
        let bus = Systemd.Bus.address(systemd.busAddress)
        func manager(_ args: String...) -> Int32 {
            (try? systemd.busctl(["call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"] + args))?.status ?? -1
        }
        func service(_ name: String) -> String { systemd.unitProperty("respawn.service", name, interface: "org.freedesktop.systemd1.Service") }
        func state() -> String { systemd.unitProperty("respawn.service", "ActiveState") }
        let file = systemd.runtimeDirectory + "/respawn.service.d/50-pacemaker.conf"

        // Started by hand and killed: systemd restarts it.
        #expect(manager("StartUnit", "ss", "respawn.service", "replace") == 0)
        #expect(await eventually { state() == "active" })
        var restarts = service("NRestarts")
        #expect(manager("KillUnit", "ssi", "respawn.service", "main", "9") == 0)
        #expect(await eventually { service("NRestarts") != restarts && state() == "active" }, "systemd did not restart the unit it runs with Restart=always")
        #expect(manager("StopUnit", "ss", "respawn.service", "replace") == 0)
        #expect(await eventually { state() == "inactive" })

        // Started by the cluster (over a stale drop-in, which is replaced): killed, it stays down.
        try FileManager.default.createDirectory(atPath: systemd.runtimeDirectory + "/respawn.service.d", withIntermediateDirectories: true)
        try "[Service]\nRestart=always\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await Systemd.perform(.start, unit: "respawn", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.success))
        #expect((try? String(contentsOfFile: file, encoding: .utf8)) == """
            [Unit]
            Description=Cluster Controlled respawn
            Before=pacemakerd.service lrmd.service pacemaker.service pacemaker_remote.service

            [Service]
            Restart=no


            """)
        let mode = (try? FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o644, "world-readable, as systemd wants: \(String(mode, radix: 8))")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: systemd.runtimeDirectory + "/respawn.service.d")) ?? []
        #expect(leftovers == ["50-pacemaker.conf"], "no temporary file left: \(leftovers)")
        #expect(systemd.unitProperty("respawn.service", "DropInPaths").contains("/run/systemd/system/respawn.service.d/50-pacemaker.conf"), "systemd was reloaded and read it")
        #expect(systemd.unitProperty("respawn.service", "Description") == "Cluster Controlled respawn")
        #expect(service("Restart") == "no")
        #expect(state() == "active")
        restarts = service("NRestarts")
        #expect(manager("KillUnit", "ssi", "respawn.service", "main", "9") == 0)
        #expect(await eventually { ["failed", "inactive"].contains(state()) })
        // Ten times its RestartSec: systemd would have restarted it by now.
        try await Task.sleep(for: .seconds(1))
        #expect(["failed", "inactive"].contains(state()) && service("NRestarts") == restarts, "systemd restarted a unit the cluster runs")
        #expect(try await Systemd.perform(.monitor, unit: "respawn", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory).exitCode == .notRunning)

        // Started again (the drop-in is in place), then stopped: the drop-in goes, its directory
        // stays (as with Pacemaker), and systemd is reloaded: the unit's own Restart= is back.
        #expect(try await Systemd.perform(.start, unit: "respawn.service", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.success))
        #expect(try await Systemd.perform(.stop, unit: "respawn", timeout: .seconds(20), bus: bus, dropInRoot: systemd.runtimeDirectory) == .init(.success))
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(FileManager.default.fileExists(atPath: systemd.runtimeDirectory + "/respawn.service.d"))
        #expect(service("Restart") == "always")
        #expect(systemd.unitProperty("respawn.service", "Description") != "Cluster Controlled respawn")

        // Only services get one; and never where systemd's runtime directory does not exist.
        #expect(ClusterDropIn(unit: "dbus.socket", type: "dbus.socket", root: systemd.runtimeDirectory) == nil)
        let nowhere = try #require(ClusterDropIn(unit: "web.service", type: "web", root: s.base + "/no-systemd-here"))
        #expect(throws: AgentError.self) { try nowhere.install() }
        #expect(!FileManager.default.fileExists(atPath: s.base + "/no-systemd-here"))
    }

    /// The executor, for systemd: and service: agents; service: takes an init script of the
    /// name first, as Pacemaker does.
    @Test func theExecutorRunsUnitsForSystemdAndServiceAgents() async throws {
        let s = try Scratch()
        guard let systemd = PrivateSystemd.forTest("theExecutorRunsUnitsForSystemdAndServiceAgents", units: PrivateSystemd.testUnits(marker: s.base)) else { return }
        defer { systemd.stop() }
        var executor = AgentExecutor(host: s.host)
        executor.systemdBus = .address(systemd.busAddress)
        executor.systemdDropInRoot = systemd.runtimeDirectory
        for standard in ["systemd", "service"] {
            let agent = ResourceAgentName(standard: standard, provider: nil, type: "web")
            func run(_ a: AgentAction) async -> AgentResult { await executor.run(AgentRequest(resource: "web", agent: agent, action: a, timeout: .seconds(20))) }
            #expect(await run(.monitor).exitCode == .notRunning, "\(standard)")
            #expect(await run(.start).exitCode == .success, "\(standard)")
            #expect(systemd.unitProperty("web.service", "ActiveState") == "active", "\(standard)")
            #expect(await run(.monitor).exitCode == .success, "\(standard)")
            #expect(await run(.stop).exitCode == .success, "\(standard)")
            #expect(systemd.unitProperty("web.service", "ActiveState") == "inactive", "\(standard)")
            #expect(await run(.monitor).exitCode == .notRunning, "\(standard)")
        }
        let broken = await executor.run(AgentRequest(resource: "b", agent: ResourceAgentName(standard: "systemd", provider: nil, type: "broken"), action: .start, timeout: .seconds(20)))
        #expect(broken.exitCode == .errGeneric && broken.status == .done, "\(broken)")
        #expect(broken.exitReason?.contains("status 3") == true, "\(broken)")
        let missing = await executor.run(AgentRequest(resource: "m", agent: ResourceAgentName(standard: "systemd", provider: nil, type: "missing"), action: .start))
        #expect(missing.exitCode == .errInstalled)
        #expect(missing.exitReason == "systemd has no unit missing.service")

        // An init script of the same name wins over the unit; without either, LSB's "not installed".
        try s.script(s.lsbDirectory, "web", """
            #!/bin/sh
            echo "$1" >> \(s.base)/lsb-web.log
            case "$1" in status) exit 3;; *) exit 0;; esac
            """)
        let viaLSB = await executor.run(AgentRequest(resource: "web", agent: ResourceAgentName(standard: "service", provider: nil, type: "web"), action: .start, timeout: .seconds(20)))
        #expect(viaLSB.exitCode == .success)
        #expect(s.read("lsb-web.log") == "start\n")
        #expect(systemd.unitProperty("web.service", "ActiveState") == "inactive", "the unit was not started")
        let neither = await executor.run(AgentRequest(resource: "n", agent: ResourceAgentName(standard: "service", provider: nil, type: "neither"), action: .monitor))
        #expect(neither.exitCode == .errInstalled)
        #expect(neither.exitReason?.contains(s.lsbDirectory + "/neither") == true, "\(neither)")
    }

    /// A job that outlives the operation's timeout is cancelled in systemd and reported as a
    /// timeout; cancelling the operation cancels its job.
    @Test func slowJobsTimeOutAndCancelledOperationsCancelTheirJob() async throws {
        let s = try Scratch()
        guard let systemd = PrivateSystemd.forTest("slowJobsTimeOutAndCancelledOperationsCancelTheirJob", units: PrivateSystemd.testUnits(marker: s.base)) else { return }
        defer { systemd.stop() }
        var executor = AgentExecutor(host: s.host)
        executor.systemdBus = .address(systemd.busAddress)
        executor.systemdDropInRoot = systemd.runtimeDirectory
        let slow = ResourceAgentName(standard: "systemd", provider: nil, type: "slow")

        let timedOut = await executor.run(AgentRequest(resource: "slow", agent: slow, action: .start, timeout: .seconds(2)))
        #expect(timedOut.status == .timedOut, "\(timedOut)")
        #expect(timedOut.exitReason?.contains("did not finish within 2s and was cancelled") == true, "\(timedOut.exitReason ?? "")")
        #expect(systemd.jobs == "a(usssoo) 0", "the timed-out job was cancelled in systemd")
        #expect(await executor.run(AgentRequest(resource: "slow", agent: slow, action: .stop, timeout: .seconds(20))).exitCode == .success)
        // A oneshot stopped while it starts ends "failed" (Result=signal) in systemd: not running.
        #expect(["inactive", "failed"].contains(systemd.unitProperty("slow.service", "ActiveState")))
        #expect(systemd.unitProperty("slow.service", "MainPID", interface: "org.freedesktop.systemd1.Service") == "0", "its sleep was killed")

        let running = Task { await executor.run(AgentRequest(resource: "slow", agent: slow, action: .start, timeout: .seconds(60))) }
        #expect(await eventually { systemd.jobs != "a(usssoo) 0" }, "the job was queued")
        running.cancel()
        let result = await running.value
        #expect(result.status == .cancelled, "\(result)")
        #expect(systemd.jobs == "a(usssoo) 0", "the cancelled operation's job was cancelled")
        #expect(await executor.run(AgentRequest(resource: "slow", agent: slow, action: .stop, timeout: .seconds(20))).exitCode == .success)
    }

    /// Where systemd is not on the bus, or no bus answers, the answer is "systemd is not
    /// available on this node" with the reason, at once or within the operation's timeout.
    @Test func noSystemdOnTheBusIsAClearErrorNeverAHang() async throws {
        let s = try Scratch()
        // Nobody listens: the socket file does not exist.
        do {
            _ = try await Systemd.activeState(unit: "web", bus: .address("unix:path=\(s.base)/no-such-bus"))
            Issue.record("a missing bus answered")
        } catch {
            #expect(error.description.contains("systemd is not available on this node"))
            #expect(error.description.contains("cannot connect to the system bus at unix:path=\(s.base)/no-such-bus"), "\(error)")
        }

        // A socket that accepts connections but never answers: bounded by the timeout.
        let silent = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = s.base + "/silent"
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, b) in path.utf8.enumerated() { buf[i] = b }
        }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(bound == 0 && listen(silent, 8) == 0)
        var executor = AgentExecutor(host: s.host)
        executor.systemdBus = .address("unix:path=\(path)")
        let agent = ResourceAgentName(standard: "systemd", provider: nil, type: "web")
        let hung = await executor.run(AgentRequest(resource: "web", agent: agent, action: .start, timeout: .seconds(1)))
        #expect(hung.status == .notInstalled && hung.exitCode == .errInstalled, "\(hung)")
        #expect(hung.exitReason?.contains("systemd is not available on this node (the system bus at unix:path=\(path) did not answer in time)") == true, "\(hung)")

        // A real D-Bus daemon with no systemd on it.
        guard Installed.agent("/usr/bin/dbus-daemon", for: "noSystemdOnTheBusIsAClearErrorNeverAHang (dbus-daemon part)") else { return }
        let address = "unix:path=\(s.base)/bus"
        let daemon = Task {
            try? await ProcessRunner.run(ProcessRequest(executable: "/usr/bin/dbus-daemon",
                                                        arguments: ["--session", "--address=\(address)", "--nofork", "--nopidfile"],
                                                        environment: ["PATH": AgentHost.defaultPath], timeout: .seconds(120), killGrace: .milliseconds(500)))
        }
        #expect(await eventually { FileManager.default.fileExists(atPath: s.base + "/bus") })
        executor.systemdBus = .address(address)
        let none = await executor.run(AgentRequest(resource: "web", agent: agent, action: .monitor, timeout: .seconds(20)))
        #expect(none.status == .notInstalled && none.exitCode == .errInstalled, "\(none)")
        #expect(none.exitReason?.contains("nothing owns org.freedesktop.systemd1 on the system bus at \(address)") == true, "\(none)")
        #expect(!(await Systemd.isKnownUnit("web", bus: .address(address))))
        let service = await executor.run(AgentRequest(resource: "web", agent: ResourceAgentName(standard: "service", provider: nil, type: "web"), action: .monitor))
        #expect(service.exitCode == .errInstalled && service.exitReason?.contains(s.lsbDirectory + "/web") == true, "service: falls back to LSB: \(service)")
        daemon.cancel()
        _ = await daemon.value
    }
}
