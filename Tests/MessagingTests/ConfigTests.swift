import Messaging
import Testing
import TestSupport

/// A corosync.conf as pcs writes it for a two-node udpu cluster (RHEL 7 style), with the
/// comments, tabs and CRLF line ends that real files have.
let pcsTwoNode = """
# Please read the corosync.conf.5 manual page\r
totem {\r
\tversion: 2\r
\tcluster_name: webcluster\r
\tsecauth: off\r
\ttransport: udpu\r
\r
\tinterface {\r
\t\tringnumber: 0\r
\t\tbindnetaddr: 192.168.122.0\r
\t\tmcastport: 5405\r
\t}\r
}\r
\r
nodelist {\r
\tnode {\r
\t\tring0_addr: 192.168.122.11\r
\t\tnodeid: 1\r
\t}\r
\r
\tnode {\r
\t\tring0_addr: 192.168.122.12\r
\t\tnodeid: 2\r
\t}\r
}\r
\r
quorum {\r
\tprovider: corosync_votequorum\r
\ttwo_node: 1\r
}\r
\r
logging {\r
\tto_logfile: yes\r
\tlogfile: /var/log/cluster/corosync.log\r
\tto_syslog: yes\r
\tlogger_subsys {\r
\t\tsubsys: QUORUM\r
\t\tdebug: off\r
\t}\r
}\r

"""

/// A corosync 3 / knet configuration with two links, encryption and every quorum option.
let knetFull = """
totem {
    version: 2
    cluster_name: big
    transport: knet
    crypto_cipher: aes256
    crypto_hash: sha256
    token: 5000
    token_coefficient: 1000
    consensus: 9000
    join: 60
    send_join: 80
    token_retransmits_before_loss_const: 10
    fail_recv_const: 5000
    link_mode: passive
    interface {
        linknumber: 0
        knet_link_priority: 2
    }
    interface {
        linknumber: 1
    }
}
nodelist {
    node {
        name: n1
        nodeid: 1
        ring0_addr: 10.0.0.1
        ring1_addr: fd00::1
    }
    node {
        name: n2
        nodeid: 2
        ring0_addr: 10.0.0.2
        ring1_addr: fd00::2
    }
    node {
        name: n3
        nodeid: 3
        ring0_addr: 10.0.0.3
        ring1_addr: fd00::3
        quorum_votes: 1
    }
    node {
        name: n4
        nodeid: 4
        ring0_addr: 10.0.0.4
        ring1_addr: fd00::4
    }
}
quorum {
    provider: corosync_votequorum
    wait_for_all: 1
    last_man_standing: 1
    last_man_standing_window: 20000
    auto_tie_breaker: 1
    auto_tie_breaker_node: 3 1
}
logging {
    to_stderr: no
    timestamp: on
    debug: trace
    syslog_facility: local3
}
system {
    sched_rr: no
    priority: -10
    state_dir: /var/lib/corosync
}
"""

func parseError(_ text: String, file: String = "corosync.conf") -> ConfigError? {
    do {
        _ = try CorosyncConfig.parse(text, file: file)
        return nil
    } catch {
        return error
    }
}

@Suite struct ConfigTests {
    @Test func peerNamespaceSample() throws {
        guard let text = Shared.text("peer/ns/corosync.conf") else { return }
        let c = try CorosyncConfig.parse(text, file: "ns/corosync.conf")
        #expect(c.totem.clusterName == "peer3")
        #expect(c.totem.transport == .knet)
        #expect(c.totem.token == .milliseconds(1000))
        #expect(c.totem.cryptoCipher == .none && c.totem.cryptoHash == .none)
        #expect(!c.totem.isSecure)
        #expect(c.nodes.map(\.nodeID) == [1, 2, 3])
        #expect(c.nodes.map(\.name) == ["node1", "node2", "node3"])
        #expect(c.nodes.map(\.ring0) == ["10.213.0.1", "10.213.0.2", "10.213.0.3"])
        #expect(c.quorum.isEnabled)
        #expect(c.expectedVotes == 3)
        #expect(c.logging.toLogfile && !c.logging.toStderr && !c.logging.toSyslog)
        #expect(c.logging.logfile == "/var/log/corosync/corosync.log")
        #expect(c.logging.timestamp == .hires)
        // Encryption off is accepted, loudly, on the crypto line.
        let loud = c.warnings.filter { $0.message.contains("ENCRYPTION IS OFF") }
        #expect(loud.count == 1)
        #expect(loud.first?.line == 6)
        #expect(loud.first?.description.hasPrefix("ns/corosync.conf:6: warning: ") == true)
        // 3 nodes: token + 1 * token_coefficient, consensus 1.2 * that.
        let t = c.totem.timing(nodeCount: c.nodes.count)
        #expect(t.token == .milliseconds(1650))
        #expect(t.consensus == .milliseconds(1980))
    }

    @Test func peerSingleSample() throws {
        guard let text = Shared.text("peer/single/corosync.conf") else { return }
        let c = try CorosyncConfig.parse(text)
        #expect(c.totem.clusterName == "peer1")
        #expect(c.nodes.count == 1)
        #expect(c.node(named: "node1")?.ring0 == "127.0.0.1")
        #expect(c.node(id: 1)?.name == "node1")
        #expect(c.expectedVotes == 1)
        let t = c.totem.timing(nodeCount: 1)
        #expect(t.token == .milliseconds(1000))
        #expect(t.consensus == .milliseconds(1200))
    }

    @Test func corosyncDefaultsAndTheTokenFormula() throws {
        let c = try CorosyncConfig.parse("totem {\n cluster_name: x\n}\n")
        let t = c.totem
        #expect(t.token == .milliseconds(3000))
        #expect(t.tokenCoefficient == .milliseconds(650))
        #expect(t.join == .milliseconds(50))
        #expect(t.sendJoin == .zero)
        #expect(t.tokenRetransmitsBeforeLossConst == 4)
        #expect(t.failRecvConst == 2500)
        #expect(t.consensus == nil)
        #expect(t.transport == .knet)
        #expect(t.cryptoCipher == .aes256 && t.cryptoHash == .sha256)
        #expect(t.maxMessages == 17 && t.windowSize == 50)

        // 1 or 2 nodes: the token as written.
        for n in [1, 2] {
            let timing = t.timing(nodeCount: n)
            #expect(timing.token == .milliseconds(3000))
            #expect(timing.consensus == .milliseconds(3600))
        }
        // 3 and more: token + (nodes - 2) * token_coefficient; consensus follows.
        #expect(t.timing(nodeCount: 3).token == .milliseconds(3650))
        #expect(t.timing(nodeCount: 3).consensus == .milliseconds(4380))
        #expect(t.timing(nodeCount: 5).token == .milliseconds(4950))
        #expect(t.timing(nodeCount: 16).token == .milliseconds(3000 + 14 * 650))
        // token_retransmit = token / (retransmits + 0.2), hold = retransmit * 0.8 - 10.
        let two = t.timing(nodeCount: 2)
        #expect(two.tokenRetransmit == .milliseconds(714))
        #expect(two.hold == .milliseconds(561))
        #expect(two.failureDetectionBound == .milliseconds(6600))

        // The issue's fast setting: token 300, token_coefficient 0, 3 nodes -> 660 ms.
        let fast = try CorosyncConfig.parse("totem {\n token: 300\n token_coefficient: 0\n}\n")
        let ft = fast.totem.timing(nodeCount: 3)
        #expect(ft.token == .milliseconds(300))
        #expect(ft.consensus == .milliseconds(360))
        #expect(ft.failureDetectionBound == .milliseconds(660))
    }

    @Test func pcsTwoNodeUdpuWithCRLFAndTabs() throws {
        let c = try CorosyncConfig.parse(pcsTwoNode, file: "pcs.conf")
        #expect(c.totem.transport == .udpu)
        #expect(c.totem.clusterName == "webcluster")
        // secauth: off switches both off.
        #expect(!c.totem.isSecure)
        #expect(c.totem.interfaces == [TotemConfig.Interface(linkNumber: 0, bindNetAddress: "192.168.122.0", multicastPort: 5405, line: 8)])
        #expect(c.nodes.map(\.nodeID) == [1, 2])
        #expect(c.quorum.twoNode && c.quorum.waitForAll && c.quorum.waitForAllSetting == nil)
        #expect(c.logging.subsystems == [LoggingConfig.Subsystem(subsys: "QUORUM", debug: .off, line: 36)])
        #expect(c.logging.logfile == "/var/log/cluster/corosync.log")
        #expect(c.warnings.contains { $0.message.contains("ENCRYPTION IS OFF") })
    }

    @Test func knetWithEveryOption() throws {
        let c = try CorosyncConfig.parse(knetFull)
        let t = c.totem
        #expect(t.token == .milliseconds(5000) && t.tokenCoefficient == .milliseconds(1000))
        #expect(t.consensus == .milliseconds(9000) && t.join == .milliseconds(60) && t.sendJoin == .milliseconds(80))
        #expect(t.tokenRetransmitsBeforeLossConst == 10 && t.failRecvConst == 5000)
        #expect(t.interfaces.map(\.linkNumber) == [0, 1])
        #expect(t.interfaces[0].knetLinkPriority == 2)
        #expect(c.nodes[0].addresses == [0: "10.0.0.1", 1: "fd00::1"])
        #expect(t.timing(nodeCount: 4).token == .milliseconds(7000))
        #expect(t.timing(nodeCount: 4).consensus == .milliseconds(9000))
        let q = c.quorum
        #expect(q.waitForAll && q.lastManStanding && q.autoTieBreaker)
        #expect(q.lastManStandingWindow == .milliseconds(20_000))
        #expect(q.autoTieBreakerNode == .nodes([3, 1]))
        #expect(c.logging.debug == .trace && c.logging.timestamp == .on && c.logging.syslogFacility == "local3")
        #expect(!c.system.schedRR && c.system.priority == "-10" && c.system.stateDir == "/var/lib/corosync")
        #expect(c.warnings.isEmpty, "\(c.warnings)")
    }

    /// The system section as corosync 3.1 reads it: sched_rr yes unless said otherwise, no
    /// priority unless given, and a priority beside sched_rr yes is said to have no effect.
    @Test func systemSectionSchedulingDefaultsAndAPriorityWithoutEffect() throws {
        let plain = try CorosyncConfig.parse("totem {\n    version: 2\n}\n")
        #expect(plain.system.schedRR && plain.system.priority == nil)
        let both = try CorosyncConfig.parse("totem {\n    version: 2\n}\nsystem {\n    priority: max\n}\n", file: "/etc/c.conf")
        #expect(both.system.schedRR && both.system.priority == "max")
        let w = both.warnings.map(\.description)
        #expect(w.contains { $0.contains("/etc/c.conf:5") && $0.contains("system.priority has no effect while sched_rr is yes") && $0.contains("sched_rr: no") }, "\(w)")
        let nice = try CorosyncConfig.parse("totem {\n    version: 2\n}\nsystem {\n    sched_rr: no\n    priority: min\n}\n")
        #expect(!nice.system.schedRR && nice.system.priority == "min")
        #expect(!nice.warnings.contains { $0.message.contains("priority") })
        #expect(parseError("system {\n    priority: 25\n}\n")?.description.contains("priority must be max, min or a nice value from -20 to 19") == true)
    }

    @Test func commentsBlanksAndValuesWithColonsAndHashes() throws {
        let text = "   # indented comment\n"
            + "\t#tab comment\n"
            + "totem {\n"
            + "    cluster_name: a:b # not a comment, as in corosync\n"
            + "    token:5000\n"
            + "    join   :   70\u{A0}\n"
            + "}\n"
            + "nodelist {\n    node {\n        ring0_addr: fe80::1\n        nodeid: 7\n    }\n}\n"
        let c = try CorosyncConfig.parse(text)
        #expect(c.totem.clusterName == "a:b # not a comment, as in corosync")
        #expect(c.totem.token == .milliseconds(5000))
        #expect(c.totem.join == .milliseconds(70))
        #expect(c.nodes.first?.ring0 == "fe80::1")
    }

    @Test func udpuNodeidFromIPv4() throws {
        let c = try CorosyncConfig.parse("""
        totem {
            transport: udpu
        }
        nodelist {
            node {
                ring0_addr: 10.0.0.1
            }
        }
        """)
        #expect(c.nodes.first?.nodeID == 0x0A00_0001)
    }

    @Test func expectedVotesFromNodelistOrQuorum() throws {
        let base = """
        nodelist {
            node {
                ring0_addr: 10.0.0.1
                nodeid: 1
                quorum_votes: 3
            }
            node {
                ring0_addr: 10.0.0.2
                nodeid: 2
            }
        }
        """
        let a = try CorosyncConfig.parse(base + "\nquorum {\n provider: corosync_votequorum\n}\n")
        #expect(a.expectedVotes == 4)
        let b = try CorosyncConfig.parse(base + "\nquorum {\n provider: corosync_votequorum\n expected_votes: 9\n}\n")
        #expect(b.expectedVotes == 9)
        let none = try CorosyncConfig.parse("quorum {\n provider: corosync_votequorum\n}\n")
        #expect(none.expectedVotes == nil)
    }

    @Test func unknownKeysAndSectionsAreWarningsWithLines() throws {
        let c = try CorosyncConfig.parse("""
        totem {
            tokn: 3000
            crypto_cipher: aes256
            crypto_hash: sha256
        }
        service {
            name: pacemaker
        }
        frobnicate {
        }
        quorum {
            provider: corosync_votequorum
            expected_votes: 2
            wait_for_al: 1
        }
        """, file: "x.conf")
        let text = c.warnings.map(\.description)
        #expect(text.contains { $0.hasPrefix("x.conf:2: warning: unknown key 'totem.tokn'") })
        #expect(text.contains { $0.hasPrefix("x.conf:6: warning: section 'service' is not used") })
        #expect(text.contains { $0.hasPrefix("x.conf:9: warning: unknown section 'frobnicate'") })
        #expect(text.contains { $0.hasPrefix("x.conf:14: warning: unknown key 'quorum.wait_for_al'") })
        #expect(c.totem.token == .milliseconds(3000))
    }

    @Test func syntaxErrorsNameFileLineAndFix() {
        let cases: [(String, Int, String)] = [
            ("totem {\n token: 1000\n", 1, "never closed"),
            ("totem {\n}\n}\n", 3, "closes no section"),
            ("totem {\n token 1000\n}\n", 2, "add the ':'"),
            ("{\n}\n", 1, "needs a name"),
            ("totem { token: 1\n}\n", 1, "nothing may follow '{'"),
            ("include /etc/corosync/more.conf\n", 1, "`include` is not supported"),
            ("totem {\n}x\n", 2, "nothing may follow '}'"),
            ("totem {\n : 5\n}\n", 2, "needs a key"),
        ]
        for (text, line, fix) in cases {
            let e = parseError(text, file: "/etc/corosync/corosync.conf")
            #expect(e?.line == line, "\(text.debugDescription): \(String(describing: e))")
            #expect(e?.message.contains(fix) == true, "\(text.debugDescription): \(String(describing: e))")
            #expect(e?.description.hasPrefix("/etc/corosync/corosync.conf:\(line): ") == true)
        }
    }

    @Test func badValuesNameTheKeyAndLine() {
        let cases: [(String, Int, String)] = [
            ("totem {\n token: 3s\n}\n", 2, "token is a time in milliseconds"),
            ("totem {\n version: 1\n}\n", 2, "version must be 2"),
            ("totem {\n transport: tcp\n}\n", 2, "transport must be one of udpu, knet, udp"),
            ("totem {\n crypto_cipher: des\n}\n", 2, "crypto_cipher must be one of"),
            ("totem {\n crypto_cipher: aes256\n crypto_hash: none\n}\n", 2, "needs crypto_hash"),
            ("totem {\n join: 100\n consensus: 50\n}\n", 1, "may not be less than join"),
            ("quorum {\n two_node: maybe\n}\n", 2, "two_node must be yes or no"),
            ("quorum {\n provider: corosync_qdevice\n}\n", 2, "not supported"),
            ("quorum {\n provider: corosync_votequorum\n two_node: 1\n auto_tie_breaker: 1\n}\n", 1, "cannot both be on"),
            ("quorum {\n auto_tie_breaker_node: first\n}\n", 2, "lowest, highest or a space-separated list"),
            ("logging {\n to_logfile: yes\n}\n", 1, "no logfile is named"),
            ("logging {\n timestamp: sometimes\n}\n", 2, "timestamp must be on, off or hires"),
            ("system {\n priority: 99\n}\n", 2, "priority must be"),
        ]
        for (text, line, fix) in cases {
            let e = parseError(text)
            #expect(e?.line == line, "\(text.debugDescription): \(String(describing: e))")
            #expect(e?.message.contains(fix) == true, "\(text.debugDescription): \(String(describing: e))")
        }
    }

    @Test func badNodelists() {
        func nodes(_ body: String, transport: String = "knet") -> String {
            "totem {\n transport: \(transport)\n}\nnodelist {\n\(body)\n}\n"
        }
        let cases: [(String, Int, String)] = [
            (nodes("node {\n nodeid: 1\n}"), 5, "no ring0_addr"),
            (nodes("node {\n ring0_addr: 10.0.0.1\n}"), 5, "transport knet requires"),
            (nodes("node {\n ring0_addr: host1\n}", transport: "udpu"), 5, "not an IPv4 address"),
            (nodes("node {\n ring0_addr: 10.0.0.1\n nodeid: 0\n}"), 7, "nodeid 0 is reserved"),
            (nodes("node {\n ring0_addr: 10.0.0.1\n nodeid: 1\n}\nnode {\n ring0_addr: 10.0.0.2\n nodeid: 1\n}"), 9, "nodeid 1 is already used by the node on line 5"),
            (nodes("node {\n ring0_addr: 10.0.0.1\n nodeid: 1\n name: a\n}\nnode {\n ring0_addr: 10.0.0.2\n nodeid: 2\n name: a\n}"), 10, "name 'a' is already used"),
            (nodes("node {\n ring0_addr: 10.0.0.1\n nodeid: 1\n}\nnode {\n ring0_addr: 10.0.0.1\n nodeid: 2\n}"), 9, "ring0_addr 10.0.0.1 is already used"),
            (nodes("node {\n ring0_addr: 10.0.0.1\n ring1_addr: 10.1.0.1\n nodeid: 1\n}\nnode {\n ring0_addr: 10.0.0.2\n nodeid: 2\n}"), 10, "same links"),
            (nodes("node {\n ring0_addr: 10.0.0.1\n nodeid: 1x\n}"), 7, "nodeid must be a whole number"),
        ]
        for (text, line, fix) in cases {
            let e = parseError(text)
            #expect(e?.line == line, "\(text.debugDescription): \(String(describing: e))")
            #expect(e?.message.contains(fix) == true, "\(text.debugDescription): \(String(describing: e))")
        }
    }

    @Test func quorumConsistencyRules() throws {
        // ATB with an odd node count and no wait_for_all is turned off, with a warning (corosync).
        let odd = try CorosyncConfig.parse("""
        nodelist {
            node {
                ring0_addr: 10.0.0.1
                nodeid: 1
            }
            node {
                ring0_addr: 10.0.0.2
                nodeid: 2
            }
            node {
                ring0_addr: 10.0.0.3
                nodeid: 3
            }
        }
        quorum {
            provider: corosync_votequorum
            auto_tie_breaker: 1
        }
        """)
        #expect(!odd.quorum.autoTieBreaker)
        #expect(odd.warnings.contains { $0.message.contains("needs wait_for_all") })
        // two_node with an explicit wait_for_all: 0 keeps it off.
        let twoNoWait = try CorosyncConfig.parse("quorum {\n provider: corosync_votequorum\n two_node: 1\n wait_for_all: 0\n}\n")
        #expect(twoNoWait.quorum.twoNode && !twoNoWait.quorum.waitForAll)
    }

    @Test func loadNamesAMissingFile() {
        do {
            _ = try CorosyncConfig.load(path: "/nonexistent/corosync.conf")
            Issue.record("a missing file loaded")
        } catch {
            #expect(error.file == "/nonexistent/corosync.conf")
            #expect(error.message.contains("-c FILE"))
        }
    }

    @Test func randomGarbageNeverCrashesTheParser() {
        var rng = SeededGenerator(seed: 4)
        let alphabet = Array("totem{}: \n#\tabc123_\r")
        for _ in 0..<2000 {
            let n = Int.random(in: 0..<200, using: &rng)
            let text = String((0..<n).map { _ in alphabet.randomElement(using: &rng)! })
            _ = try? CorosyncConfig.parse(text)
        }
    }

    @Test func holdNeverOutlastsTokenRetransmit() throws {
        let c = try CorosyncConfig.parse("totem {\n  token: 1000\n  hold: 5000\n}\n", file: "c.conf")
        let timing = c.totem.timing(nodeCount: 2)
        #expect(timing.hold == timing.tokenRetransmit)
        #expect(c.warnings.contains { $0.message.contains("hold (5000 ms) is longer than token_retransmit") })
        let d = try CorosyncConfig.parse("totem {\n  token: 1000\n}\n", file: "d.conf")
        #expect(d.totem.timing(nodeCount: 2).hold == .milliseconds(180))
        #expect(!d.warnings.contains { $0.message.contains("hold") })
    }
}
