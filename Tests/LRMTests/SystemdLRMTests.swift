import Agents
import CIB
import Foundation
import LocalIPC
import LRM
import TestSupport
import Testing

/// lrmd and crm_resource with a real systemd (private, see PrivateSystemd), reached through
/// `DBUS_SYSTEM_BUS_ADDRESS` as on a machine whose system bus is elsewhere.
@Suite(.serialized) struct SystemdLRMTests {
    @Test func lrmdStartsMonitorsAndStopsAUnit() async throws {
        let node = try LRMNode(name: "n1")
        guard let systemd = PrivateSystemd.forTest("lrmdStartsMonitorsAndStopsAUnit", units: PrivateSystemd.testUnits(marker: node.base)) else { return }
        defer { systemd.stop() }
        try await node.start(environment: ["DBUS_SYSTEM_BUS_ADDRESS": systemd.busAddress, "SWIFTHA_SYSTEMD_RUNTIME_DIR": systemd.runtimeDirectory])
        let lrmd = try await node.connect()
        let web = ResourceAgentName(standard: "systemd", provider: nil, type: "web")
        try await lrmd.register(ResourceDefinition(id: "web", agent: web))

        let probe = try await lrmd.run(OperationRequest(resource: "web", action: .monitor, timeout: .seconds(20)))
        #expect(probe.exitCode == .notRunning, "\(probe)")
        let start = try await lrmd.run(OperationRequest(resource: "web", action: .start, timeout: .seconds(20)))
        #expect(start.exitCode == .success && start.status == .done, "\(start)")
        #expect(systemd.unitProperty("web.service", "ActiveState") == "active")
        #expect(FileManager.default.fileExists(atPath: node.base + "/web.up"))
        let monitor = try await lrmd.run(OperationRequest(resource: "web", action: .monitor, timeout: .seconds(20)))
        #expect(monitor.exitCode == .success, "\(monitor)")
        let stop = try await lrmd.run(OperationRequest(resource: "web", action: .stop, timeout: .seconds(20)))
        #expect(stop.exitCode == .success, "\(stop)")
        #expect(systemd.unitProperty("web.service", "ActiveState") == "inactive")
        #expect(!FileManager.default.fileExists(atPath: node.base + "/web.up"))

        try await lrmd.register(ResourceDefinition(id: "broken", agent: ResourceAgentName(standard: "service", provider: nil, type: "broken")))
        let broken = try await lrmd.run(OperationRequest(resource: "broken", action: .start, timeout: .seconds(20)))
        #expect(broken.exitCode == .errGeneric, "\(broken)")
        #expect(broken.exitReason?.contains("finished with 'failed'") == true && broken.exitReason?.contains("status 3") == true, "\(broken)")

        try await lrmd.register(ResourceDefinition(id: "ghost", agent: ResourceAgentName(standard: "systemd", provider: nil, type: "ghost")))
        let ghost = try await lrmd.run(OperationRequest(resource: "ghost", action: .start, timeout: .seconds(20)))
        #expect(ghost.exitCode == .errInstalled && ghost.exitReason == "systemd has no unit ghost.service", "\(ghost)")

        #expect(try await lrmd.classes().contains("systemd"))
        #expect(try await lrmd.agents(standard: "systemd", provider: nil).contains("web"))
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }

    /// A recurring monitor of a unit that systemd stops and starts outside the cluster (by
    /// hand, over the bus): pending while the unit deactivates or activates, reported once
    /// each time as a change, never a failure; lrmd's start and stop write and remove the
    /// cluster's drop-in.
    @Test func aRecurringMonitorReportsPendingWhileTheUnitIsInTransition() async throws {
        let node = try LRMNode(name: "n1")
        guard let systemd = PrivateSystemd.forTest("aRecurringMonitorReportsPendingWhileTheUnitIsInTransition", units: PrivateSystemd.testUnits(marker: node.base)) else { return }
        defer { systemd.stop() }
        try await node.start(environment: ["DBUS_SYSTEM_BUS_ADDRESS": systemd.busAddress, "SWIFTHA_SYSTEMD_RUNTIME_DIR": systemd.runtimeDirectory])
        let lrmd = try await node.connect()
        let results = ResultLog(lrmd)
        let dropIn = systemd.runtimeDirectory + "/pending.service.d/50-pacemaker.conf"
        try await lrmd.register(ResourceDefinition(id: "p", agent: ResourceAgentName(standard: "systemd", provider: nil, type: "pending")))

        // The start waits through ExecStartPre=/bin/sleep 2 until the unit is active.
        let start = try await lrmd.run(OperationRequest(resource: "p", action: .start, timeout: .seconds(20)))
        #expect(start.exitCode == .success && start.status == .done, "\(start)")
        #expect(systemd.unitProperty("pending.service", "ActiveState") == "active")
        #expect((try? String(contentsOfFile: dropIn, encoding: .utf8))?.contains("Description=Cluster Controlled pending\n") == true)

        let monitor = try await lrmd.execute(OperationRequest(resource: "p", action: .monitor, interval: .milliseconds(200), timeout: .seconds(20)))
        #expect(await results.wait { $0.callID == monitor }?.exitCode == .success)
        func manager(_ method: String) -> Int32 {
            (try? systemd.busctl(["call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                  method, "ss", "pending.service", "replace"]))?.status ?? -1
        }
        func seen() -> [String] { results.of(monitor).map { "\($0.exitCode.rawValue)/\($0.status.pacemakerCode)" } }
        // ExecStop=/bin/sleep 2: deactivating, then inactive.
        #expect(manager("StopUnit") == 0)
        #expect(await results.wait { $0.callID == monitor && $0.exitCode == .notRunning } != nil, "\(seen())")
        // ExecStartPre=/bin/sleep 2: activating, then active.
        #expect(manager("StartUnit") == 0)
        _ = await results.wait { _ in results.of(monitor).count >= 5 }
        #expect(seen() == ["0/0", "193/-1", "7/0", "193/-1", "0/0"], "ok, pending, not running, pending, ok: \(seen())")
        let pending = results.of(monitor).first { $0.status == .pending }
        #expect(pending?.exitCode == .unknown && pending?.isFailure == false)
        #expect(try await lrmd.history(of: "p").lastFailure == nil, "pending is no failure")

        try await lrmd.cancel(OperationKey(resource: "p", action: .monitor, interval: .milliseconds(200)))
        let stop = try await lrmd.run(OperationRequest(resource: "p", action: .stop, timeout: .seconds(20)))
        #expect(stop.exitCode == .success && stop.status == .done, "\(stop)")
        #expect(["inactive", "failed"].contains(systemd.unitProperty("pending.service", "ActiveState")))
        #expect(!FileManager.default.fileExists(atPath: dropIn), "the stop removed the drop-in")
        await lrmd.close()
        #expect(try await node.terminate() == 0)
    }

    /// crm_resource's words and exit code for a pending result, as Pacemaker's prints them
    /// (`pcmk_exec_status_str`, exit 193). Both refuse to run systemd units by hand (below),
    /// so a real unit never gets here; the mapping stays consistent for every standard.
    @Test func aPendingForcedResultIsReportedAsPacemakersCrmResourceReportsIt() throws {
        let cib = try CIB.parse(CrmResourceTests.cib("<primitive id=\"svc\" class=\"systemd\" type=\"web\"/>"))
        let op = try ForcedOperation.prepare("force-check", resource: "svc", in: cib)
        let pending = AgentResult(exitCode: .unknown, status: .pending)
        let report = op.report(pending)
        #expect(report.line == "Operation force-check for svc (systemd:web) could not be executed (pending)" && report.toStandardError)
        #expect(ForcedOperation.exitCode(pending) == 193)
    }

    /// `service:` in crm_resource --force-*: LSB when an init script has the name, else systemd
    /// (which Pacemaker does not run by hand), else neither; the same lines as Pacemaker's.
    @Test func crmResourceResolvesServiceAgentsAsPacemaker() async throws {
        let node = try LRMNode(name: "n1")
        guard let systemd = PrivateSystemd.forTest("crmResourceResolvesServiceAgentsAsPacemaker", units: PrivateSystemd.testUnits(marker: node.base)) else { return }
        defer { systemd.stop() }
        let file = node.base + "/cib.xml"
        try CrmResourceTests.cib("""
            <primitive id="svc" class="service" type="web"/>
            <primitive id="none" class="service" type="swiftha-no-such-service"/>
            """).write(toFile: file, atomically: true, encoding: .utf8)
        let env = ["CIB_file": file, "SWIFTHA_ROOT": node.root, "DBUS_SYSTEM_BUS_ADDRESS": systemd.busAddress]
        let svc = try Tool.run("crm_resource", ["--force-start", "-r", "svc"], env: env)
        #expect(svc.status == 3)
        #expect(svc.stderr == """
            Operation force-start for svc (service:web) could not be executed (Error: Manual execution of the systemd standard is unsupported)
            crm_resource: Error performing operation: Unimplemented

            """, "\(svc.stderr)")
        #expect(systemd.unitProperty("web.service", "ActiveState") == "inactive")
        let none = try Tool.run("crm_resource", ["--force-start", "-r", "none"], env: env)
        #expect(none.status == 3)
        #expect(none.stderr.hasPrefix("Operation force-start for none (service:swiftha-no-such-service) could not be executed (Error: Manual execution of the unspecified standard is unsupported)"), "\(none.stderr)")

        let peer = "/usr/sbin/crm_resource"
        guard FileManager.default.isExecutableFile(atPath: peer) else {
            print("SKIPPED: crmResourceResolvesServiceAgentsAsPacemaker (comparison): \(peer) is not installed")
            return
        }
        for id in ["svc", "none"] {
            let ours = try Tool.run("crm_resource", ["--force-start", "-r", id], env: env)
            let theirs = try Tool.run(executable: peer, ["--force-start", "-r", id], env: env)
            #expect(ours.status == theirs.status, "\(id): exit \(ours.status), Pacemaker \(theirs.status)")
            #expect(ours.stdout == theirs.stdout && ours.stderr == theirs.stderr, "\(id): ours\n\(ours.stderr)\nPacemaker:\n\(theirs.stderr)")
        }
    }
}
