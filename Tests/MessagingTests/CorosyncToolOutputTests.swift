import Foundation
import Messaging
import NIOCore
import Testing

/// The tools' layout, without a daemon, and the API's messages through JSON.
@Suite struct CorosyncToolOutputTests {
    static let twoOfThree = QuorumState(
        nodeID: 2, quorate: false, expectedVotes: 3, highestExpected: 3, totalVotes: 1, quorum: 2,
        members: [.init(nodeID: 2, votes: 1, name: "b")], flags: ["WaitForAll"],
        ringRepresentative: 2, ringSequence: 0x1c, providerConfigured: true)

    /// The layouts of corosync 3.1.7's corosync-cpgtool, captured from it (two groups, three
    /// members, on 10.99.223.x): the default, -n and -d ','.
    @Test func cpgtoolLayoutsAreCorosyncs() {
        let groups = [CPGGroup(name: "another", members: [CPGMember(nodeID: 1, pid: 6746)]),
                      CPGGroup(name: "grp-one", members: [CPGMember(nodeID: 1, pid: 6744), CPGMember(nodeID: 2, pid: 6745)])]
        let addresses: [UInt32: String] = [1: "10.99.223.1", 2: "10.99.223.2", 3: "10.99.223.3"]
        #expect(CorosyncToolOutput.processGroups(groups, addresses: addresses)
            == "Group Name\t       PID\t   Node ID\nanother\n\t\t      6746\t         1 (10.99.223.1)\ngrp-one\n\t\t      6744\t         1 (10.99.223.1)\n\t\t      6745\t         2 (10.99.223.2)\n")
        #expect(CorosyncToolOutput.processGroups(groups, addresses: addresses, namesOnly: true) == "another\ngrp-one\n")
        #expect(CorosyncToolOutput.processGroups(groups, addresses: addresses, delimiter: ",")
            == "GRP_NAME,PID,NODEID\nanother,6746,1\ngrp-one,6744,1\ngrp-one,6745,2\n")
        // Unprintable bytes of a name are escaped, unless -e.
        let odd = [CPGGroup(name: "a\u{1}b", members: [])]
        #expect(CorosyncToolOutput.processGroups(odd, addresses: [:], namesOnly: true) == "a\\x01b\n")
        #expect(CorosyncToolOutput.processGroups(odd, addresses: [:], namesOnly: true, escape: false) == "a\u{1}b\n")
    }

    @Test func quorumStatusHasCorosyncsThreeSections() {
        let text = CorosyncToolOutput.quorumStatus(Self.twoOfThree, date: "Mon Nov 23 23:10:00 2026")
        #expect(text == """
            Quorum information
            ------------------
            Date:             Mon Nov 23 23:10:00 2026
            Quorum provider:  corosync_votequorum
            Nodes:            1
            Node ID:          2
            Ring ID:          2.1c
            Quorate:          No

            Votequorum information
            ----------------------
            Expected votes:   3
            Highest expected: 3
            Total votes:      1
            Quorum:           2 Activity blocked
            Flags:            WaitForAll 

            Membership information
            ----------------------
                Nodeid      Votes Name
                     2          1 b (local)

            """)
    }

    @Test func withoutAProviderThereIsNoVotequorumSection() {
        var q = Self.twoOfThree
        q.providerConfigured = false
        q.quorate = true
        let text = CorosyncToolOutput.quorumStatus(q, date: "d")
        #expect(text.contains("Quorum provider:  (none)"))
        #expect(!text.contains("Votequorum information"))
        #expect(text.contains("Membership information"))
    }

    @Test func ringStatusListsEveryNodePerLink() {
        let r = RingStatus(nodeID: 1, transport: "knet", links: [
            LinkStatus(link: 0, address: "10.0.0.1", nodes: [.init(nodeID: 1, state: "localhost"), .init(nodeID: 12, state: "disconnected")]),
            LinkStatus(link: 1, address: "10.1.0.1", nodes: [.init(nodeID: 1, state: "localhost"), .init(nodeID: 12, state: "connected")]),
        ])
        #expect(CorosyncToolOutput.ringStatus(r) == """
            Local node ID 1, transport knet
            LINK ID 0 udp
            \taddr\t= 10.0.0.1
            \tstatus:
            \t\tnodeid:          1:\tlocalhost
            \t\tnodeid:         12:\tdisconnected
            LINK ID 1 udp
            \taddr\t= 10.1.0.1
            \tstatus:
            \t\tnodeid:          1:\tlocalhost
            \t\tnodeid:         12:\tconnected

            """)
    }

    @Test func cmapLinesNameTheType() {
        let entries = [CMapEntry(key: "totem.token", value: .u32(3000)), CMapEntry(key: "totem.cluster_name", value: .string("ha")),
                       CMapEntry(key: "quorum.two_node", value: .u8(0)), CMapEntry(key: "stats.srp.delivered", value: .u64(7)),
                       CMapEntry(key: "totem.interface.0.mcastport", value: .u16(5405)), CMapEntry(key: "x", value: .i32(-1))]
        #expect(CorosyncToolOutput.cmap(entries) == """
            totem.token (u32) = 3000
            totem.cluster_name (str) = ha
            quorum.two_node (u8) = 0
            stats.srp.delivered (u64) = 7
            totem.interface.0.mcastport (u16) = 5405
            x (i32) = -1

            """)
    }

    @Test func messagesSurviveJSON() throws {
        let payload = Data((0...255).map { UInt8($0) })
        let request = CorosyncRequest.cpgMulticast(group: "cib", payload: payload)
        let back = try JSONDecoder().decode(CorosyncRequest.self, from: JSONEncoder().encode(request))
        guard case .cpgMulticast(let g, let p) = back else { Issue.record("\(back)"); return }
        #expect(g == "cib" && p == payload)
        let event = CorosyncEvent.cmapChanged(key: "runtime.members.3.status", value: nil)
        let e = try JSONDecoder().decode(CorosyncEvent.self, from: JSONEncoder().encode(event))
        guard case .cmapChanged(let k, let v) = e else { Issue.record("\(e)"); return }
        #expect(k == "runtime.members.3.status" && v == nil)
        #expect(CorosyncAPI.socketPath(root: "/n1") == "/n1/run/swiftha/corosyncd.sock")
        #expect(CorosyncAPI.socketPath(root: "/") == "/run/swiftha/corosyncd.sock")
    }

    @Test func theCPGDataPathHasCompactBinaryBodies() {
        let payload = Data((0..<300).map { (i: Int) -> UInt8 in UInt8(i % 256) })
        var b = ByteBuffer()
        #expect(CorosyncAPI.writeBinary(request: .cpgMulticast(group: "cib", payload: payload), to: &b))
        #expect(Array(b.readableBytesView.prefix(5)) == [1, 3, UInt8(ascii: "c"), UInt8(ascii: "i"), UInt8(ascii: "b")])
        #expect(b.readableBytes == 5 + 300, "1 tag + 1 length + 3 name + payload, nothing else")
        guard case .cpgMulticast(let g, let p)? = CorosyncAPI.readBinaryRequest(&b) else { Issue.record("request"); return }
        #expect(g == "cib" && p == payload)

        var e = ByteBuffer()
        #expect(CorosyncAPI.writeBinary(event: .cpgDeliver(group: "crmd", sender: CPGMember(nodeID: 3, pid: 4242), payload: payload), to: &e))
        #expect(e.readableBytes == 1 + 1 + 4 + 8 + 300)
        var e2 = e
        guard case .cpgDeliver(let dg, let sender, let dp)? = CorosyncAPI.readBinaryEvent(&e) else { Issue.record("event"); return }
        #expect(dg == "crmd" && sender == CPGMember(nodeID: 3, pid: 4242) && dp == payload)
        // Cut short inside the header: not an event.
        e2.moveWriterIndex(to: e2.readerIndex + 9)
        #expect(CorosyncAPI.readBinaryEvent(&e2) == nil)

        for reply in [CorosyncReply.done, .tryAgain(queued: 4096)] {
            var r = ByteBuffer()
            #expect(CorosyncAPI.writeBinary(reply: reply, to: &r))
            switch (reply, CorosyncAPI.readBinaryReply(&r)) {
            case (.done, .done?): break
            case (.tryAgain(let a), .tryAgain(let q)?): #expect(a == q)
            default: Issue.record("\(reply)")
            }
        }
        // Everything else stays JSON.
        var other = ByteBuffer()
        #expect(!CorosyncAPI.writeBinary(request: .cpgJoin(group: "cib"), to: &other))
        #expect(!CorosyncAPI.writeBinary(reply: .nodeID(1), to: &other))
        #expect(!CorosyncAPI.writeBinary(event: .quorumChanged(QuorumState(nodeID: 1, quorate: true, expectedVotes: 1, highestExpected: 1, totalVotes: 1, quorum: 1, members: [], flags: [], ringRepresentative: 1, ringSequence: 1, providerConfigured: true)), to: &other))
        #expect(!CorosyncAPI.writeBinary(request: .cpgMulticast(group: String(repeating: "g", count: 300), payload: payload), to: &other))
        #expect(other.readableBytes == 0)
    }
}
