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
        try await node.start(environment: ["DBUS_SYSTEM_BUS_ADDRESS": systemd.busAddress])
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
