import Foundation
import Messaging
import Testing
import TestSupport

/// crm_node against real corosyncd processes on 127.0.0.1-3.
@Suite(.serialized) struct CrmNodeTests {
    @Test func nameIdListPartitionAndQuorum() async throws {
        let c = try CorosyncdProcessTests.freshCluster()
        defer { c.tearDown() }
        let ok = await CorosyncIPCProcessTests.formed(c)
        #expect(ok, "no ring of 3")
        guard ok else { return }
        let probe = try await CorosyncIPCProcessTests.connect(c[2])
        let three = await CorosyncIPCProcessTests.eventually(10) { (try? await probe.quorumState())?.members.count == 3 }
        #expect(three)
        await probe.close()

        let root2 = ["SWIFTHA_ROOT": c[2].root]
        #expect(try Tool.run("crm_node", ["-n"], env: root2).stdout == "node2\n")
        #expect(try Tool.run("crm_node", ["-i"], env: root2).stdout == "2\n")
        #expect(try Tool.run("crm_node", ["-N", "3"], env: root2).stdout == "node3\n")
        #expect(try Tool.run("crm_node", ["-q"], env: root2).stdout == "1\n")
        #expect(try Tool.run("crm_node", ["-p"], env: root2).stdout == "node1 node2 node3 \n")
        #expect(try Tool.run("crm_node", ["-l", "--root", c[2].root]).stdout == "1 node1 member\n2 node2 member\n3 node3 member\n")

        // node3 gone: it is lost in the list, out of the partition; two of three still make quorum.
        c[3].killHard()
        let dropped = await CorosyncIPCProcessTests.eventually(15) {
            (try? Tool.run("crm_node", ["-p"], env: root2))?.stdout == "node1 node2 \n"
        }
        #expect(dropped)
        #expect(try Tool.run("crm_node", ["-l"], env: root2).stdout == "1 node1 member\n2 node2 member\n3 node3 lost\n")
        #expect(try Tool.run("crm_node", ["-q"], env: root2).stdout == "1\n")
        let unknown = try Tool.run("crm_node", ["-N", "9"], env: root2)
        #expect(unknown.status == 105)

        // node1 gone too: node2 alone has no quorum (exit 106, as Pacemaker's), and the list
        // still has every peer, the two others lost.
        c[1].killHard()
        let alone = await CorosyncIPCProcessTests.eventually(15) {
            (try? Tool.run("crm_node", ["-p"], env: root2))?.stdout == "node2 \n"
        }
        #expect(alone)
        let q = try Tool.run("crm_node", ["-q"], env: root2)
        #expect(q.stdout == "0\n" && q.status == 106, "\(q.stdout) \(q.status)")
        #expect(try Tool.run("crm_node", ["-l"], env: root2).stdout == "1 node1 lost\n2 node2 member\n3 node3 lost\n")
    }

    @Test func usageAndNoDaemon() throws {
        let none = try Tool.run("crm_node", ["-n"], env: ["SWIFTHA_ROOT": scratchDirectory("crm_node-none")])
        #expect(none.status == 102)
        // Pacemaker 2.1.5's line; with -V also where corosyncd was looked for, asked once.
        #expect(none.stderr == "error: Could not connect to controller: Connection refused\n", "\(none.stderr)")
        let verbose = try Tool.run("crm_node", ["-n", "-V"], env: ["SWIFTHA_ROOT": scratchDirectory("crm_node-none")])
        #expect(verbose.status == 102 && verbose.stderr.contains("is corosyncd running for this node root (--root / SWIFTHA_ROOT)?\n"), "\(verbose.stderr)")
        #expect(!verbose.stderr.contains("Is corosyncd (or pacemakerd) running?"))
        let two = try Tool.run("crm_node", ["-n", "-q"])
        #expect(two.status == 64)
        let bogus = try Tool.run("crm_node", ["--bogus"])
        #expect(bogus.status == 64 && bogus.stderr == "crm_node: Unknown option --bogus\n", "\(bogus.stderr)")
    }
}
