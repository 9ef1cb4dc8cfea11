import Foundation
import Messaging
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The namespace network of the Messaging tests: addresses 10.99.S.1-N, S random.
typealias TestNetwork = NamespaceNetwork

extension NamespaceNetwork {
    convenience init(nodes: Int) throws {
        try self.init(nodes: nodes, prefix: "10.99.\(Int.random(in: 1...250))", hostBase: 0)
    }

    /// ``unavailable``, printed once when not nil.
    static let skipReason: String? = {
        let why = unavailable
        if let why { print("SKIPPED: CorosyncdNamespaceTests: \(why)") }
        return why
    }()
}

/// Three real corosyncd, each in a network namespace of its own: a 2 | 1 partition keeps quorum
/// on the side of two and loses it on the side of one, and the ring heals when the link returns.
@Suite(.serialized) struct CorosyncdNamespaceTests {
    /// Skipped (and reported as skipped, with the reason printed) when not root or without `ip netns`.
    @Test(.enabled(if: TestNetwork.skipReason == nil, "needs root and `ip netns`"))
    func aPartitionOfTwoAgainstOneKeepsQuorumOnTheMajoritySideAndHeals() throws {
        let net = try TestNetwork(nodes: 3)
        defer { net.tearDown() }
        let scratch = scratchDirectory("corosyncd-netns")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let key = try AuthKey.generate()
        var config = """
        totem {
            version: 2
            cluster_name: swiftha-netns
            transport: knet
            token: 300
            token_coefficient: 0
        }
        quorum {
            provider: corosync_votequorum
        }
        logging {
            to_stderr: yes
        }
        nodelist {

        """
        for i in 1...3 { config += "    node {\n        ring0_addr: \(net.address(i))\n        name: node\(i)\n        nodeid: \(i)\n    }\n" }
        config += "}\n"
        let nodes = (1...3).map { CorosyncdNode(name: "node\($0)", nodeID: $0, root: "\(scratch)/node\($0)") }
        defer { for n in nodes { n.killHard() } }
        for (i, n) in nodes.enumerated() {
            try FileManager.default.createDirectory(atPath: "\(n.root)/etc/corosync", withIntermediateDirectories: true)
            try config.write(toFile: "\(n.root)/etc/corosync/corosync.conf", atomically: true, encoding: .utf8)
            try key.write(to: "\(n.root)/etc/corosync/authkey")
            n.launcher = net.launcher(i + 1)
            try n.start()
        }
        func report() -> String {
            nodes.map { "--- \($0.name):\n\($0.log.split(separator: "\n").suffix(12).joined(separator: "\n"))" }.joined(separator: "\n")
        }
        func quorumtool(_ i: Int) throws -> Tool.Result {
            try Tool.run("corosync-quorumtool", ["-s"], env: ["SWIFTHA_ROOT": nodes[i - 1].root])
        }

        // 1. One ring of three over the namespaces' network.
        let formed = CorosyncdCluster.waitFor(30) { nodes.allSatisfy { $0.members == [1, 2, 3] && $0.quorate == true } }
        try #require(formed != nil, "no ring of 3:\n\(report())")

        // 2. Node 3 is cut off: nodes 1 and 2 keep quorum in {1, 2}; node 3 alone loses it.
        try net.cut(3, true)
        let split = CorosyncdCluster.waitFor(20) {
            nodes[0].members == [1, 2] && nodes[1].members == [1, 2] && nodes[2].members == [3]
                && nodes[0].quorate == true && nodes[1].quorate == true && nodes[2].quorate == false
        }
        #expect(split != nil, "no 2 | 1 split:\n\(report())")
        for i in [1, 2] {
            let q = try quorumtool(i)
            #expect(q.status == 0, "node\(i): \(q.stderr)")
            for line in ["Nodes:            2", "Node ID:          \(i)", "Quorate:          Yes", "Expected votes:   3",
                         "Total votes:      2", "Quorum:           2", "         1          1 node1", "         2          1 node2"] {
                #expect(q.stdout.contains(line), "node\(i): '\(line)' missing in:\n\(q.stdout)")
            }
            #expect(!q.stdout.contains("node3"), "node\(i):\n\(q.stdout)")
        }
        let q3 = try quorumtool(3)
        #expect(q3.status == 2, "node3 -s exit \(q3.status): \(q3.stderr)")
        for line in ["Nodes:            1", "Node ID:          3", "Quorate:          No", "Total votes:      1",
                     "Quorum:           2 Activity blocked", "         3          1 node3 (local)"] {
            #expect(q3.stdout.contains(line), "node3: '\(line)' missing in:\n\(q3.stdout)")
        }

        // 3. The link returns: one ring of three again, quorate everywhere.
        try net.cut(3, false)
        let healed = CorosyncdCluster.waitFor(30) { nodes.allSatisfy { $0.members == [1, 2, 3] && $0.quorate == true } }
        #expect(healed != nil, "no ring of 3 after healing:\n\(report())")
        for i in 1...3 {
            let q = try quorumtool(i)
            #expect(q.status == 0 && q.stdout.contains("Nodes:            3") && q.stdout.contains("Quorate:          Yes"),
                    "node\(i):\n\(q.stdout)\(q.stderr)")
        }
        let rings = Set((1...3).compactMap { i in
            try? quorumtool(i).stdout.split(separator: "\n").first { $0.hasPrefix("Ring ID:") }.map(String.init)
        })
        #expect(rings.count == 1, "the nodes report different rings: \(rings)")
    }
}
