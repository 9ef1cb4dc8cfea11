import Foundation
import Testing
import TestSupport

/// stonith_admin beside Pacemaker 2.1.5's /usr/sbin/stonith_admin, where both work without a
/// fencer: agents' meta-data, the installed agents, and the answers when no fencer runs.
@Suite(.serialized) struct StonithAdminTests {
    static let real = "/usr/sbin/stonith_admin"

    @Test func metadataIsPacemakersForEveryDebianAgent() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.real) else {
            print("SKIPPED: metadataIsPacemakersForEveryDebianAgent: Pacemaker's stonith_admin is not installed (apt-get install pacemaker-cli-utils)")
            return
        }
        let agents = ["fence_dummy", "fence_ipmilan", "fence_virsh", "fence_apc", "fence_scsi", "fence_nosuch"]
            .filter { $0 == "fence_nosuch" || FileManager.default.isExecutableFile(atPath: "/usr/sbin/" + $0) }
        guard agents.count > 1 else {
            print("SKIPPED: metadataIsPacemakersForEveryDebianAgent: Debian's fence-agents is not installed (apt-get install fence-agents)")
            return
        }
        for agent in agents {
            let theirs = try Tool.run(executable: Self.real, ["--metadata", "--agent", agent])
            let ours = try Tool.run("stonith_admin", ["--metadata", "--agent", agent])
            #expect(ours.status == theirs.status, "\(agent): \(ours.status) vs \(theirs.status): \(ours.stderr)")
            #expect(ours.stdout == theirs.stdout, "\(agent): the meta-data differs")
        }
    }

    @Test func installedListsEveryFenceAgentPacemakerLists() throws {
        let ours = try Tool.run("stonith_admin", ["--list-installed"])
        #expect(ours.status == 0)
        let lines = ours.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("fence_swiftha"), "the agent beside stonith_admin")
        #expect(lines.last == "\(lines.count - 1) fence devices found")
        guard FileManager.default.isExecutableFile(atPath: Self.real) else { return }
        let theirs = try Tool.run(executable: Self.real, ["--list-installed"])
        let fenceAgents = theirs.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("fence_") }
        #expect(!fenceAgents.isEmpty)
        #expect(Set(fenceAgents).isSubset(of: Set(lines)), "missing: \(Set(fenceAgents).subtracting(lines))")
    }

    @Test func withoutAFencerTheExitCodesArePacemakers() throws {
        let root = scratchDirectory("stonith-admin")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["SWIFTHA_ROOT": root]
        let list = try Tool.run("stonith_admin", ["--list-registered"], env: env)
        #expect(list.status == 102)
        #expect(list.stderr.hasPrefix("Could not connect to fencer: Transport endpoint is not connected"))
        let reboot = try Tool.run("stonith_admin", ["--reboot", "node3"], env: env)
        #expect(reboot.status == 102)
        #expect(reboot.stderr.hasPrefix("stonith_admin: Couldn't fence node3: Transport endpoint is not connected"))
        let history = try Tool.run("stonith_admin", ["--history", "*"], env: env)
        #expect(history.status == 102)
        let nothing = try Tool.run("stonith_admin", [], env: env)
        #expect(nothing.status == 64)
        let noAgent = try Tool.run("stonith_admin", ["--metadata"], env: env)
        #expect(noAgent.status == 64 && noAgent.stderr.contains("Please specify an agent to query using -a,--agent [value]"))
        let badTimeout = try Tool.run("stonith_admin", ["--reboot", "node3", "--timeout", "0"], env: env)
        #expect(badTimeout.status == 64 && badTimeout.stderr.contains("--timeout must be a positive number of seconds"))
    }
}
