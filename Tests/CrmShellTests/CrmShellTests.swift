import Foundation
import CIB
import CrmShell
import Testing
import TestSupport

/// The tutorial's definitions, as the issue lists them.
let tutorial: [[String]] = [
    ["property", "stonith-enabled=false"],
    ["property", "no-quorum-policy=ignore"],
    ["primitive", "vip", "ocf:heartbeat:IPaddr2", "params", "ip=172.25.70.100", "nic=eth0", "cidr_netmask=24"],
    ["primitive", "apache", "lsb:httpd", "op", "monitor", "interval=10s"],
    ["group", "website", "vip", "apache"],
    ["primitive", "vmfence", "stonith:fence_xvm", "params", "pcmk_host_map=server2:server2;server3:server3", "op", "monitor", "interval=1min"],
]

extension CIB {
    func q(_ xpath: String) throws -> [XElement] { try root.xpathElements(xpath) }
}

func define(_ lines: [[String]], into cib: inout CIB) throws {
    for l in lines { try CrmConfig.define(l, in: &cib) }
}

func words(_ text: String) throws -> [[String]] {
    try CrmLexer.logicalLines(text).map { try CrmLexer.words($0) }.filter { !$0.isEmpty }
}

@Suite struct CrmParserTests {
    @Test func tutorialBuildsCrmshsElementsAndIDs() throws {
        var cib = CIB.empty()
        try define(tutorial, into: &cib)
        let group = try #require(try cib.q("//group[@id='website']").first)
        #expect(group.elements(named: "primitive").map(\.id) == ["vip", "apache"])
        let vip = group.elements(named: "primitive")[0]
        #expect(vip["class"] == "ocf" && vip["provider"] == "heartbeat" && vip["type"] == "IPaddr2")
        let ia = try #require(vip.firstElement(named: "instance_attributes"))
        #expect(ia.id == "vip-instance_attributes")
        #expect(ia.elements(named: "nvpair").map(\.id) == ["vip-instance_attributes-ip", "vip-instance_attributes-nic", "vip-instance_attributes-cidr_netmask"])
        let apacheOp = try #require(group.elements(named: "primitive")[1].firstElement(named: "operations")?.firstElement(named: "op"))
        #expect(apacheOp.id == "apache-monitor-10s" && apacheOp["interval"] == "10s" && apacheOp["name"] == "monitor")
        let fence = try #require(try cib.q("//primitive[@id='vmfence']").first)
        #expect(fence["class"] == "stonith" && fence["provider"] == nil && fence["type"] == "fence_xvm")
        #expect(fence.firstElement(named: "instance_attributes")?.firstElement(named: "nvpair")?["value"] == "server2:server2;server3:server3")
        #expect(fence.firstElement(named: "operations")?.firstElement(named: "op")?.id == "vmfence-monitor-1min")
        let props = try cib.q("//cluster_property_set[@id='cib-bootstrap-options']/nvpair").compactMap(\.id)
        #expect(props == ["cib-bootstrap-options-stonith-enabled", "cib-bootstrap-options-no-quorum-policy"])
        #expect(try CrmShow.render(cib) == """
            primitive apache lsb:httpd \\
            \top monitor interval=10s
            primitive vip IPaddr2 \\
            \tparams ip=172.25.70.100 nic=eth0 cidr_netmask=24
            primitive vmfence stonith:fence_xvm \\
            \tparams pcmk_host_map="server2:server2;server3:server3" \\
            \top monitor interval=1min
            group website vip apache
            property cib-bootstrap-options: \\
            \tstonith-enabled=false \\
            \tno-quorum-policy=ignore

            """)
    }

    /// Every kind of definition; the expected text is what crmsh 4.4.1 printed for the same input.
    @Test func everyDefinitionShowsAsCrmshDoes() throws {
        var cib = CIB.empty()
        try define(try words("""
            node node1
            node 2: node2 attributes site=a utilization cpu=2
            primitive d1 ocf:heartbeat:Dummy params fake=1 meta target-role=Stopped op start timeout=20s op monitor interval=10s timeout=20s op monitor interval=11s role=Promoted op_params depth=0 op_meta foo=bar
            primitive d2 Dummy op monitor interval=5 timeout=30
            primitive d3 Dummy
            primitive st stonith:fence_dummy params pcmk_host_list="a b" op monitor interval=1min
            group g1 d2 meta target-role=Started
            clone c1 g1 meta clone-max=2
            primitive s1 ocf:pacemaker:Stateful
            ms m1 s1 meta notify=true
            location l1 d1 100: node1
            location l2 d1 rule -inf: #uname eq node1
            location l3 d1 rule 50: defined pingd and pingd gt 0
            location l4 c1 rule -inf: date gt 2025-01-01
            colocation col1 inf: d1 c1
            colocation col2 -inf: d1:Started m1:Promoted
            order o1 Mandatory: d1 c1
            order o2 Optional: d1 m1:promote symmetrical=false
            order o3 inf: d1 ( st d3 )
            rsc_ticket t1 ticketA: d1 loss-policy=stop
            property stonith-enabled=false
            rsc_defaults resource-stickiness=100
            op_defaults timeout=30s
            tag tg d1 st
            fencing_topology st
            """), into: &cib)
        #expect(try CrmShow.render(cib) == """
            node 2: node2 \\
            \tattributes site=a \\
            \tutilization cpu=2
            node node1
            primitive d1 Dummy \\
            \tparams fake=1 \\
            \tmeta target-role=Stopped \\
            \top start timeout=20s interval=0 \\
            \top monitor interval=10s timeout=20s \\
            \top monitor interval=11s role=Promoted \\
            \top_params depth=0 \\
            \top_meta foo=bar
            primitive d2 Dummy \\
            \top monitor interval=5 timeout=30
            primitive d3 Dummy
            primitive s1 ocf:pacemaker:Stateful
            primitive st stonith:fence_dummy \\
            \tparams pcmk_host_list="a b" \\
            \top monitor interval=1min
            group g1 d2 \\
            \tmeta target-role=Started
            ms m1 s1 \\
            \tmeta notify=true
            clone c1 g1 \\
            \tmeta clone-max=2
            tag tg d1 st
            colocation col1 inf: d1 c1
            colocation col2 -inf: d1:Started m1:Promoted
            location l1 d1 100: node1
            location l2 d1 \\
            \trule -inf: #uname eq node1
            location l3 d1 \\
            \trule 50: defined pingd and pingd gt 0
            location l4 c1 \\
            \trule -inf: date gt 2025-01-01
            order o1 Mandatory: d1 c1
            order o2 Optional: d1 m1:promote symmetrical=false
            order o3 Mandatory: d1 ( st d3 )
            fencing_topology st
            rsc_ticket t1 ticketA: d1 loss-policy=stop
            property cib-bootstrap-options: \\
            \tstonith-enabled=false
            rsc_defaults rsc-options: \\
            \tresource-stickiness=100
            op_defaults op-options: \\
            \ttimeout=30s

            """)
        // The ids crmsh gives.
        func ids(_ xpath: String) throws -> [String] { try cib.q(xpath).compactMap(\.id) }
        #expect(try ids("//primitive[@id='d1']//op") == ["d1-start-0", "d1-monitor-10s", "d1-monitor-11s"])
        #expect(try ids("//op[@id='d1-monitor-11s']/*") == ["d1-monitor-11s-instance_attributes", "d1-monitor-11s-meta_attributes"])
        #expect(try ids("//rsc_location[@id='l3']//*") == ["l3-rule", "l3-rule-expression", "l3-rule-expression-0"])
        #expect(try ids("//rsc_order[@id='o3']/resource_set") == ["o3-0", "o3-1"])
        #expect(try cib.q("//resource_set[@id='o3-1']").first?["sequential"] == "false")
        #expect(try ids("//fencing-level") == ["fencing", "fencing-0"])
        #expect(try ids("//master") == ["m1"])
        #expect(try ids("//clone[@id='c1']/group") == ["g1"])
        #expect(try cib.q("//rsc_colocation[@id='col2']").first?["with-rsc-role"] == "Promoted")
        #expect(try cib.q("//date_expression").first?["start"] == "2025-01-01")
    }

    @Test func setsRolesAndRuleForms() throws {
        var cib = CIB.empty()
        try define(try words("""
            node node1
            primitive d1 Dummy
            primitive d3 Dummy
            primitive d4 Dummy
            clone p1 d4 meta promotable=true
            location l5 d1 rule $role=Promoted 100: #uname eq node1 or #uname eq node2 rule -inf: not_defined foo
            location l6 d1 resource-discovery=never -inf: node1
            colocation c3 inf: d1 d3 p1:Promoted
            order o4 Mandatory: [ d1 d3 ] p1
            property p2: maintenance-mode=false
            """), into: &cib)
        let text = try CrmShow.render(cib)
        #expect(text.contains("location l5 d1 \\\n\trule $role=Promoted 100: #uname eq node1 or #uname eq node2 \\\n\trule -inf: not_defined foo\n"))
        #expect(text.contains("location l6 d1 resource-discovery=never -inf: node1\n"))
        #expect(text.contains("colocation c3 inf: d1 d3 p1:Promoted\n"))
        #expect(text.contains("order o4 Mandatory: [ d1 d3 ] p1\n"))
        #expect(text.contains("property p2: \\\n\tmaintenance-mode=false\n"))
        let rule = try #require(try cib.q("//rule[@id='l5-rule']").first)
        #expect(rule["boolean-op"] == "or" && rule["role"] == "Promoted" && rule["score"] == "100")
        #expect(try cib.q("//rule[@id='l5-rule-0']/expression").first?.id == "l5-rule-0-expression")
        let sets = try cib.q("//rsc_colocation[@id='c3']/resource_set")
        #expect(sets.map(\.id) == ["c3-0", "c3-1"] && sets[1]["role"] == "Promoted")
        let o4 = try cib.q("//rsc_order[@id='o4']/resource_set")
        #expect(o4[0]["require-all"] == "false" && o4[0]["sequential"] == "false")
        #expect(try cib.q("//nvpair[@id='p2-maintenance-mode']").count == 1)
        // A new role inside brackets starts a new set (crmsh: "( a:Master ) ( b:Slave )").
        try CrmConfig.define(["colocation", "c4", "-inf:", "(", "d1:Master", "p1:Slave", ")", "d3"], in: &cib)
        let c4 = try cib.q("//rsc_colocation[@id='c4']/resource_set")
        #expect(c4.map { $0["role"] } == ["Master", "Slave", nil] && c4.prefix(2).allSatisfy { $0["sequential"] == "false" })
        #expect(try CrmShow.render(cib, only: ["c4"]) == "colocation c4 -inf: ( d1:Master ) ( p1:Slave ) d3\n")
        // An order of one resource is crmsh's too; crmsh shows it as XML.
        try CrmConfig.define(["order", "o5", "Mandatory:", "d3"], in: &cib)
        #expect(try CrmShow.render(cib, only: ["o5"]).hasPrefix("xml <rsc_order id=\"o5\" kind=\"Mandatory\">"))
    }

    @Test func errorsNameTheWordAndTheForm() throws {
        var cib = CIB.empty()
        #expect(throws: CrmError("configure.primitive: unknown keyword \"parms\"; usage: primitive <rsc> {[<class>:[<provider>:]]<type>|@<template>} [params ...] [meta ...] [op ...]")) {
            try CrmConfig.define(["primitive", "d1", "Dummy", "meta", "a=1", "parms", "x=1"], in: &cib)
        }
        #expect(throws: CrmError("configure.frobnicate: No such command")) { try CrmConfig.define(["frobnicate", "x"], in: &cib) }
        // A misspelt interval is refused as crmsh refuses it (before: `op monitor interval=0`
        // with op_params intervl=10s was written, a probe setting instead of a monitor).
        #expect(throws: CrmError("configure.primitive: Attribute order error: interval must appear before any instance attribute; 'intervl' is not an operation attribute: did you mean 'interval'?; usage: primitive <rsc> {[<class>:[<provider>:]]<type>|@<template>} [params ...] [meta ...] [op ...]")) {
            try CrmConfig.define(["primitive", "d9", "Dummy", "op", "monitor", "intervl=10s"], in: &cib)
        }
        // And with crmsh's `property` check: a misspelt cluster option is kept with a warning.
        let typo = try CrmConfig.define(["property", "no-quorum-polcy=ignore"], in: &cib)
        #expect(typo.warnings == ["cib-bootstrap-options: unknown attribute 'no-quorum-polcy'; did you mean 'no-quorum-policy'?"])
        #expect(try CrmConfig.define(["property", "no-quorum-policy=ignore", "dc-version=x"], in: &cib).warnings.isEmpty)
        for bad in [["primitive", "d1"], ["group", "g"], ["location", "l", "d1", "xyz"], ["colocation", "c", "d1", "d2"],
                    ["order", "o", "Mandatory:"], ["order", "o", "d1", "d2", "$id=x"], ["property", "stonith-enabled"], ["location", "l", "d1", "rule", "#uname", "is", "x"],
                    ["primitive", "1bad", "Dummy"], ["primitive", "d", "weird:a:b:c"]] {
            #expect(throws: CrmError.self, "\(bad)") { try CrmConfig.define(bad, in: &cib) }
        }
        try CrmConfig.define(["primitive", "d1", "Dummy"], in: &cib)
        #expect(throws: CrmError("Cannot create primitive with ID 'd1': Found existing primitive with same ID.")) {
            try CrmConfig.define(["primitive", "d1", "Dummy"], in: &cib)
        }
        #expect(throws: CrmError("g refers to missing object nope")) { try CrmConfig.define(["group", "g", "d1", "nope"], in: &cib) }
        #expect(throws: CrmError("object nope does not exist")) { try CrmConfig.delete(["nope"], from: &cib) }
        // A failed definition leaves nothing behind.
        #expect(try cib.q("//group").isEmpty)
    }

    @Test func deleteTakesAResourceOutOfGroupsConstraintsAndTags() throws {
        var cib = CIB.empty()
        try define(tutorial + [["location", "l1", "vip", "100:", "node1"], ["colocation", "c", "inf:", "apache", "vmfence", "vip"],
                               ["tag", "t", "vip", "apache"]], into: &cib)
        try CrmConfig.delete(["vip"], from: &cib)
        #expect(try cib.q("//primitive[@id='vip']").isEmpty)
        #expect(try cib.q("//group[@id='website']/primitive").map(\.id) == ["apache"])
        #expect(try cib.q("//rsc_location").isEmpty)
        #expect(try cib.q("//resource_ref").map(\.id) == ["apache", "vmfence"])
        #expect(try cib.q("//obj_ref").map(\.id) == ["apache"])
        try CrmConfig.delete(["website"], from: &cib)
        #expect(try cib.q("/cib/configuration/resources/primitive").map(\.id) == ["apache", "vmfence"])
        CrmConfig.erase(&cib)
        #expect(try CrmShow.render(cib) == "")
    }

    @Test func loadReplaceAndUpdateRoundTripTheShowText() throws {
        var cib = CIB.empty()
        try define(tutorial, into: &cib)
        let text = try CrmShow.render(cib)
        var other = CIB.empty()
        try CrmConfig.load(text, into: &other, replace: true)
        #expect(try CrmShow.render(other) == text)
        #expect(try other.q("//*[@id]").compactMap(\.id).sorted() == cib.q("//*[@id]").compactMap(\.id).sorted())
        // Update: a changed definition replaces the old one, with the same ids.
        try CrmConfig.load("primitive vip IPaddr2 \\\n\tparams ip=10.0.0.1\nrsc_defaults resource-stickiness=1\n", into: &other, replace: false)
        let vip = try #require(try other.q("//group/primitive[@id='vip']").first)
        #expect(vip.firstElement(named: "instance_attributes")?.firstElement(named: "nvpair")?.id == "vip-instance_attributes-ip")
        #expect(vip.firstElement(named: "instance_attributes")?.firstElement(named: "nvpair")?["value"] == "10.0.0.1")
        #expect(try other.q("//nvpair[@id='rsc-options-resource-stickiness']").count == 1)
    }

    /// Random word sequences never crash the parser; what they define stays valid XML ids.
    @Test func randomWordsNeverCrash() throws {
        let vocabulary = ["primitive", "group", "clone", "ms", "location", "colocation", "order", "rsc_ticket", "property",
                          "rsc_defaults", "op_defaults", "fencing_topology", "tag", "node", "d1", "d2", "Dummy", "ocf:heartbeat:Dummy",
                          ":", "::", "(", ")", "[", "]", "=", "a=", "=b", "x:", "inf:", "-inf:", "100:", "rule", "op", "monitor",
                          "interval=10s", "params", "meta", "op_params", "op_meta", "date", "in", "gt", "spec", "and", "or",
                          "#uname", "eq", "defined", "node1", "$id=x", "$role=Promoted", "d1:Promoted", "d1:start", "@t",
                          "Mandatory:", "symmetrical=false", "utilization", "attributes", "operations", "string:eq", "lsb:", ":x"]
        var rng = SeededGenerator(seed: 7)
        var defined = 0
        for _ in 0..<3000 {
            var cib = CIB.empty()
            try? CrmConfig.define(["primitive", "d1", "Dummy"], in: &cib)
            try? CrmConfig.define(["primitive", "d2", "Dummy"], in: &cib)
            let n = Int.random(in: 1...9, using: &rng)
            let words = [vocabulary[Int.random(in: 0..<14, using: &rng)]] + (0..<n).map { _ in vocabulary.randomElement(using: &rng)! }
            if (try? CrmConfig.define(words, in: &cib)) != nil {
                defined += 1
                // What show prints reads back to the same configuration.
                let text = try CrmShow.render(cib)
                var again = CIB.empty()
                do {
                    try CrmConfig.load(text, into: &again, replace: true)
                    #expect(try CrmShow.render(again) == text, "\(words)")
                } catch {
                    Issue.record("\(words): \(error)\n\(text)")
                }
            }
        }
        #expect(defined > 100)
    }

    @Test func lexerQuotesAndContinuations() throws {
        #expect(try CrmLexer.words("primitive st stonith:x params pcmk_host_map=\"a:b;c:d\" x='y z'") ==
                ["primitive", "st", "stonith:x", "params", "pcmk_host_map=a:b;c:d", "x=y z"])
        #expect(try CrmLexer.words("# a comment") == [])
        #expect(CrmLexer.logicalLines("a \\\n\tb\n\nc\n") == ["a  \tb", "c"])
        #expect(throws: CrmError.self) { try CrmLexer.words("x \"open") }
        #expect(CrmLexer.quoted("/var/x") == "\"/var/x\"" && CrmLexer.quoted("10s") == "10s")
    }
}

/// A host over an in-memory CIB that records what was written and printed.
final class MemoryHost: CrmHost {
    var stored: CIB
    var saves = 0
    var answer: Bool?
    var output: [String] = []
    var errors: [String] = []
    var ran: [[String]] = []
    var files: [String: String] = [:]

    init(_ cib: CIB = CIB.empty(), answer: Bool? = nil) {
        stored = cib
        self.answer = answer
    }

    func loadCIB() throws(CrmError) -> CIB { stored }
    func saveCIB(_ cib: CIB, original: CIB) throws(CrmError) {
        stored = cib
        saves += 1
    }
    func run(_ tool: String, _ arguments: [String]) -> Int32 {
        ran.append([tool] + arguments)
        return 0
    }
    func edit(_ text: String) throws(CrmError) -> String { text.replacingOccurrences(of: "interval=10s", with: "interval=20s") }
    func readFile(_ path: String) throws(CrmError) -> String {
        guard let f = files[path] else { throw CrmError("cannot read \(path)") }
        return f
    }
    func confirm(_ question: String) -> Bool? {
        output.append(question)
        return answer
    }
    func external(_ level: String, _ words: [String], _ session: inout CrmSession) -> Bool? { level == "status" ? true : nil }
    var localNode: String? { "node1" }
    func out(_ text: String) { output.append(text) }
    func err(_ text: String) { errors.append(text) }
}

@Suite struct CrmSessionTests {
    func run(_ host: MemoryHost, _ text: String) throws -> CrmSession {
        var s = CrmSession(host: host)
        for w in try words(text) { s.execute(w) }
        return s
    }

    @Test func nothingReachesTheCIBBeforeCommit() throws {
        let host = MemoryHost()
        var s = try run(host, """
            configure
            property stonith-enabled=false
            primitive vip ocf:heartbeat:IPaddr2 params ip=172.25.70.100 nic=eth0 cidr_netmask=24
            primitive apache lsb:httpd op monitor interval=10s
            group website vip apache
            verify
            """)
        #expect(host.saves == 0 && s.pending && s.failures == 0)
        #expect(try host.stored.q("//primitive").isEmpty)
        s.execute(["commit"])
        #expect(host.saves == 1 && !s.pending)
        #expect(try host.stored.q("//group[@id='website']/primitive").count == 2)
        s.execute(["show"])
        #expect(host.output.last?.hasPrefix("primitive apache lsb:httpd \\\n\top monitor interval=10s") == true)
    }

    @Test func leavingWithPendingChangesAsksFirst() throws {
        // Answered no: discarded.
        let no = MemoryHost(answer: false)
        var s = try run(no, "configure\nprimitive d1 Dummy\n")
        _ = s.leave(all: true)
        #expect(no.output.contains("There are changes pending. Do you want to commit them (y/n)?"))
        #expect(no.saves == 0 && s.level.isEmpty)
        // Answered yes: committed.
        let yes = MemoryHost(answer: true)
        s = try run(yes, "configure\nproperty stonith-enabled=false\nprimitive d1 Dummy\nend\n")
        #expect(yes.saves == 1 && s.level.isEmpty, "\(yes.errors)")
        // No terminal to ask on: committed, as crmsh does in batch mode.
        let batch = MemoryHost(answer: nil)
        s = try run(batch, "configure\nproperty stonith-enabled=false\nprimitive d1 Dummy\n")
        let finished = s.finish()
        #expect(finished)
        #expect(batch.saves == 1)
    }

    @Test func anInvalidConfigurationIsNotCommittedUnlessForced() throws {
        let host = MemoryHost()
        var s = try run(host, "configure\norder o1 Mandatory: ghost1 ghost2\n")
        let refused = s.commit(force: false)
        #expect(!refused)
        #expect(host.saves == 0)
        #expect(host.errors.contains { $0.contains("ghost1") })
        let forced = s.commit(force: true)
        #expect(forced && host.saves == 1)
    }

    @Test func badCommandsFailWithTheRightForm() throws {
        let host = MemoryHost()
        let s = try run(host, "frob\nconfigure\nprimitive d1 Dummy parms x=1\nshow nope\n")
        #expect(s.failures == 3)
        #expect(host.errors[0] == "ERROR: frob: No such command")
        #expect(host.errors[1].hasPrefix("ERROR: configure.primitive: unknown keyword \"parms\"; usage: primitive <rsc>"))
        #expect(host.errors[2] == "ERROR: object nope does not exist")
    }

    @Test func resourceAndNodeCommandsWriteWhatCrmshWrites() throws {
        var cib = CIB.empty()
        try define(tutorial + [["node", "1:", "node1"], ["node", "2:", "node2"]], into: &cib)
        let host = MemoryHost(cib)
        let s = try run(host, """
            resource stop vip
            resource unmanage apache
            node standby node2
            node attribute node1 set site a
            node utilization node1 set cpu 4
            resource move vip node2 PT5M
            resource cleanup vip
            resource ban vip node1 force
            resource clear vip
            resource locate vip
            resource promote vip
            """)
        #expect(s.failures == 1)  // vip is not promotable
        let stored = host.stored
        #expect(try stored.q("//nvpair[@id='vip-meta_attributes-target-role']").first?["value"] == "Stopped")
        #expect(try stored.q("//nvpair[@id='apache-meta_attributes-is-managed']").first?["value"] == "false")
        #expect(try stored.attribute("standby", scope: .nodes, node: "node2")?.value == "on")
        #expect(try stored.attribute("site", scope: .nodes, node: "node1")?.value == "a")
        #expect(try stored.q("//node[@uname='node1']/utilization/nvpair").first?["value"] == "4")
        #expect(host.ran == [
            ["crm_resource", "--quiet", "--move", "--resource", "vip", "--node", "node2", "--lifetime", "PT5M"],
            ["crm_resource", "--cleanup", "--resource", "vip"],
            ["crm_resource", "--ban", "--resource", "vip", "--node", "node1", "--force"],
            ["crm_resource", "--quiet", "--clear", "--resource", "vip"],
            ["crm_resource", "--resource", "vip", "--locate"],
        ])
        #expect(host.output.contains("INFO: Move constraint created for vip to node2"))
        // move needs a node or force; a lifetime alone is not a node.
        let moves = try run(host, "resource move vip\nresource move vip PT1H force\nresource param vip set ip 10.0.0.9\nresource param vip show ip\nresource meta vip delete target-role\n")
        #expect(moves.failures == 1)
        #expect(host.errors.last == "ERROR: resource.move: No target node: Move requires either a target node or 'force'")
        #expect(host.ran.last == ["crm_resource", "--quiet", "--move", "--resource", "vip", "--lifetime", "PT1H", "--force"])
        #expect(try host.stored.q("//nvpair[@id='vip-instance_attributes-ip']").first?["value"] == "10.0.0.9")
        #expect(host.output.suffix(3) == ["Set 'vip' option: id=vip-instance_attributes-ip name=ip value=10.0.0.9", "10.0.0.9",
                                          "Deleted 'vip' option: id=vip-meta_attributes-target-role name=target-role"])
        #expect(try host.stored.q("//nvpair[@id='vip-meta_attributes-target-role']").isEmpty)
        _ = try run(host, "node online node2\nresource start vip\n")
        #expect(try host.stored.attribute("standby", scope: .nodes, node: "node2")?.value == "off")
        // crmsh's start: the emptied set goes, a new one is made (its old id stays taken).
        #expect(try host.stored.q("//nvpair[@id='vip-meta_attributes-0-target-role']").first?["value"] == "Started")
    }

    @Test func editAndLoadGoThroughTheShadow() throws {
        var cib = CIB.empty()
        try define(tutorial, into: &cib)
        let host = MemoryHost(cib)
        host.files["/x.crm"] = "primitive d9 Dummy\n"
        var s = try run(host, "configure\nedit\nload update /x.crm\n")
        #expect(s.failures == 0 && host.saves == 0)
        #expect(try s.shadow!.q("//op[@id='apache-monitor-20s']").count == 1)
        #expect(try s.shadow!.q("//primitive[@id='d9']").count == 1)
        s.execute(["load", "replace", "/missing"])
        #expect(s.failures == 1)
    }
}

/// Pacemaker's scheduler suite as a corpus of real configurations: what `configure show`
/// prints for each reads back (load replace) to a configuration that shows the same.
@Suite struct CrmShowCorpusTests {
    @Test func showReadsBackOnTheSchedulerSuite() throws {
        let files = SharedData.conformanceFiles
        guard !files.isEmpty else { return }
        var same = 0, differ: [String] = [], failed: [String] = []
        for f in files {
            guard let cib = try? CIBFile.load(f) else { continue }
            let text = try CrmShow.render(cib, obscure: false)
            var again = cib
            do {
                try CrmConfig.load(text, into: &again, replace: true)
            } catch {
                failed.append("\(f.split(separator: "/").last!): \(error.message)")
                continue
            }
            if try CrmShow.render(again, obscure: false) == text { same += 1 } else { differ.append(String(f.split(separator: "/").last!)) }
        }
        print("configure show read back: \(same) of \(files.count) the same; \(differ.count) differ; \(failed.count) not read")
        for d in failed.prefix(40) { print("  not read: \(d)") }
        for d in differ.prefix(20) { print("  differs: \(d)") }
        #expect(same == files.count)
        #expect(failed.isEmpty)
    }
}

/// `crm history`: which saved scheduler input a command means, and how it is replayed.
@Suite struct CrmHistoryTests {
    static let files: [(name: String, time: Int)] = [
        ("pe-input-10.bz2", 300), ("pe-input-2.xml", 100), ("pe-warn-0.bz2", 200), ("pe-input-3.xml", 100),
        ("pe-input-x.xml", 50), ("cib.xml", 10), ("pe-input-.bz2", 10), ("pe-error-3.bz2", 400),
    ]

    /// `info`: crmsh's lines; groups, clones and primitives in document order (members
    /// too); the transitions of the last hour, the last 20 after "... ".
    @Test func infoSummarisesTheConfigurationAndTheRecentTransitions() throws {
        let cib = try CIB.parse("""
            <cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources><group id="website"><primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/><primitive id="apache" class="lsb" type="httpd"/></group>
            <clone id="c1"><primitive id="ping" class="ocf" provider="pacemaker" type="ping"/></clone>
            <primitive id="vmfence" class="stonith" type="fence_xvm"/></resources><constraints/></configuration><status/></cib>
            """)
        let objects = CrmHistory.objects(cib)
        #expect(objects.groups == ["website"] && objects.clones == ["c1"] && objects.primitives == ["vip", "apache", "ping", "vmfence"])
        let now = 100_000
        let inputs = (0..<25).map { CrmHistory.Input(series: "input", number: $0, file: "pe-input-\($0).bz2", time: now - 3600 - 5 + $0) }
        let text = CrmHistory.info(cib: cib, inputs: inputs, now: now) { t, f in "\(f)@\(t)" }
        #expect(text == """
            Source: live
            Created on: %a %d %b %H:%M:%S %Z %Y@100000
            By: crm history
            Period: %F %T@96400 - %F %T@100000
            Nodes: node1 node2
            Groups: website
            Clones: c1
            Resources: vip apache ping vmfence
            Transitions: 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24
            """)
        #expect(CrmHistory.shortList(inputs) == "... " + (5..<25).map(String.init).joined(separator: " "))
        #expect(CrmHistory.shortList([]) == "")
        #expect(throws: CrmError.self) { try CrmHistory.checkLogNodes(["node2"], local: "node1") }
        try CrmHistory.checkLogNodes(["node1"], local: "node1")
    }

    @Test func theSavedInputsInTheOrderTheyWereWritten() {
        let list = CrmHistory.inputs(Self.files)
        #expect(list.map(\.file) == ["pe-input-2.xml", "pe-input-3.xml", "pe-warn-0.bz2", "pe-input-10.bz2", "pe-error-3.bz2"])
        #expect(list.map(\.shortName) == ["pe-input-2", "pe-input-3", "pe-warn-0", "pe-input-10", "pe-error-3"])
        #expect(CrmHistory.input(named: "pe-input-10.bz2")?.compressed == true)
        #expect(CrmHistory.input(named: "pe-input-1x.bz2") == nil)
        #expect(CrmHistory.input(named: "pe-input--1.xml") == nil)
    }

    @Test func numbersIndexesAndNamesSelectAsCrmshDoes() throws {
        let list = CrmHistory.inputs(Self.files)
        #expect(try CrmHistory.select(nil, from: list).file == "pe-error-3.bz2")
        #expect(try CrmHistory.select("0", from: list).file == "pe-error-3.bz2")
        #expect(try CrmHistory.select("-1", from: list).file == "pe-input-10.bz2")
        #expect(try CrmHistory.select("-4", from: list).file == "pe-input-2.xml")
        #expect(try CrmHistory.select("10", from: list).file == "pe-input-10.bz2")
        #expect(try CrmHistory.select("pe-warn", from: list).file == "pe-warn-0.bz2")
        #expect(try CrmHistory.select("pe-input-2", from: list).file == "pe-input-2.xml")
        #expect(throws: CrmError("history: PE file 7 not found (saved: 5, pe-input-2 to pe-error-3)")) { try CrmHistory.select("7", from: list) }
        #expect(throws: CrmError("history: PE file 3 ambiguous (pe-input-3.xml, pe-error-3.bz2); name the file")) { try CrmHistory.select("3", from: list) }
        #expect(throws: CrmError("history: pe-input-9: path not found")) { try CrmHistory.select("pe-input-9", from: list) }
        #expect(throws: CrmError("history: pe-input: path ambiguous (pe-input-2.xml, pe-input-3.xml, pe-input-10.bz2)")) { try CrmHistory.select("pe-input", from: list) }
        #expect(throws: CrmError("history: PE input file for index -5 not found (there are 5 transitions: 0 to -4)")) { try CrmHistory.select("-5", from: list) }
        #expect(throws: CrmError("history: no transitions found in the source")) { try CrmHistory.select(nil, from: []) }
        #expect(throws: CrmError.self) { try CrmHistory.select("latest", from: list) }
    }

    @Test func peinputsRangesAndReplayOptions() throws {
        #expect(try CrmHistory.ranges([]) == nil)
        #expect(try CrmHistory.ranges(["3", "5:7"]) == [3...3, 5...7])
        #expect(throws: CrmError("history.peinputs: 7:5: invalid peinputs range (the first number must not be above the second)")) { try CrmHistory.ranges(["7:5"]) }
        #expect(throws: CrmError.self) { try CrmHistory.ranges(["a:b"]) }
        #expect(try CrmHistory.replay([]) == CrmHistory.Replay(arguments: ["-S"], actionsOnly: false, rest: []))
        #expect(try CrmHistory.replay(["12", "nograph", "vvv", "scores", "actions"]) == CrmHistory.Replay(arguments: ["-S", "-s"], actionsOnly: true, rest: ["12"]))
        #expect(throws: CrmError("history.transition: unknown keyword \"frob\"; usage: transition [<number>|<index>|<file>] [nograph] [v...] [scores] [actions] [utilization]")) {
            try CrmHistory.replay(["12", "frob"])
        }
        #expect(throws: CrmError.self) { try CrmHistory.replay(["utilization"]) }
        let output = "Current cluster status:\n  * Node List:\n    * Online: [ node1 ]\n\nTransition Summary:\n  * Start      d1     ( node1 )\n  * Stop       d2     ( node1 )  due to node availability\n\nExecuting Cluster Transition:\n  * Resource action: d1 start on node1\n"
        #expect(CrmHistory.actions(in: output) == "  * Start      d1     ( node1 )\n  * Stop       d2     ( node1 )  due to node availability")
        #expect(CrmHistory.actions(in: "Current cluster status:\n") == "")
    }
}

/// `crm history` over a node's log: lines as our daemons write them (JournalLogHandler's
/// `2026-11-24T10:00:06.000000+00:00 node1 crmd[12]: info: ...`, the same as
/// `journalctl -o short-iso-precise`), the transitions crmd logged, the events, the window.
@Suite struct CrmHistoryLogTests {
    static let utc = TimeZone(secondsFromGMT: 0)!
    /// 2026-11-24 12:00:00 UTC.
    static let now = 1_795_521_600.0

    static let log = """
        crmd: info: a line from before the daemons wrote times
        2026-11-24T10:00:00.100000+00:00 node1 pacemakerd[10]: notice: all daemons started
        2026-11-24T10:00:01.000000+00:00 node1 corosyncd[11]: notice: [QUORUM] This node is within the primary component and will provide service.
        2026-11-24T10:00:02.000000+00:00 node1 crmd[12]: info: crmd 12 started for node node1 (id 1) with root /r; member 1 of CPG group 'crmd'
        2026-11-24T10:00:03.000000+00:00 node1 crmd[12]: info: this node (node1 (id 1)) is the DC
        2026-11-24T10:00:04.000000+00:00 node1 crmd[12]: info: join complete: node1 (id 1), node2 (id 2)
        2026-11-24T10:00:05.000000+00:00 node1 crmd[12]: info: quorum gained
        2026-11-24T10:00:06.000000+00:00 node1 crmd[12]: info: scheduler run (join): 3 action(s), input saved as pe-input-4.xml
        2026-11-24T10:00:06.000000+00:00 node1 crmd[12]: info: transition 1: 3 action(s)
        2026-11-24T10:00:06.100000+00:00 node1 crmd[12]: info: running d1_monitor_0 (1:1:7:u) node=node1 operation=d1_monitor_0 resource=d1
        2026-11-24T10:00:06.500000+00:00 node1 crmd[12]: info: d1_monitor_0 on node1: rc=7 status=0 node=node1 operation=d1_monitor_0 resource=d1
        2026-11-24T10:00:07.000000+00:00 node1 crmd[12]: info: running d1_start_0 (2:1:0:u) node=node2 operation=d1_start_0 resource=d1
        2026-11-24T10:00:07.200000+00:00 node1 crmd[12]: info: d1_start_0 on node2: rc=0 status=0 exec=150ms node=node2 operation=d1_start_0 resource=d1
        2026-11-24T10:00:07.300000+00:00 node1 crmd[12]: info: transition 1 complete (Complete=3, Pending=0, Fired=0, Skipped=0, Incomplete=0)
        2026-11-24T10:05:00.000000+00:00 node1 crmd[12]: info: node2 left without a clean leave: it is unclean until fenced
        2026-11-24T10:05:00.100000+00:00 node1 crmd[12]: info: scheduler run (node2 left): 2 action(s), input saved as pe-input-5.xml
        2026-11-24T10:05:00.100000+00:00 node1 crmd[12]: info: transition 2: 2 action(s)
        2026-11-24T10:05:00.200000+00:00 node1 crmd[12]: warning: fencing node2 (reboot)
        2026-11-24T10:05:01.000000+00:00 node1 stonithd[13]: notice: reboot of node2 by node1 for crmd.12@node1: done (abc)
        2026-11-24T10:05:01.100000+00:00 node1 crmd[12]: notice: node2 was fenced
        2026-11-24T10:05:02.000000+00:00 node1 crmd[12]: error: vmfence start on node1: its monitor failed: vmfence monitor: fence_xvm: exit status 1: Operation failed
        2026-11-24T10:05:02.100000+00:00 node1 crmd[12]: info: vmfence_start_0 on node1: rc=1 status=0 (failed) exec=30061ms node=node1 operation=vmfence_start_0 resource=vmfence
        2026-11-24T10:05:02.200000+00:00 node1 crmd[12]: info: transition 2 aborted (Complete=2, Pending=0, Fired=0, Skipped=0, Incomplete=1): vmfence_start_0 on node1 failed
        2026-11-24T10:05:03.000000+00:00 node1 cibd[14]: info: CPG group 'cib' now has 1 member(s) [1]
        2026-11-24T10:06:00.000000+00:00 node1 crmd[12]: info: scheduler run (recheck): 0 action(s), input saved as pe-input-6.xml
        """

    static var lines: [CrmHistory.LogLine] { CrmHistory.parseLog(log, now: now, zone: utc) }

    static func at(_ lines: [CrmHistory.LogLine], _ hhmmss: String) -> [String] {
        lines.map(\.text).filter { $0.hasPrefix("2026-11-24T\(hhmmss)") }
    }

    @Test func linesTheirTimesNodesAndPrograms() throws {
        let lines = Self.lines
        #expect(lines.count == 25)
        // A line without a time of its own takes the previous one's (none before the first).
        #expect(lines[0].time == nil && lines[0].program == "crmd" && lines[0].message == "info: a line from before the daemons wrote times")
        #expect(lines[7].time == 1_795_514_406 && lines[7].node == "node1" && lines[7].program == "crmd")
        #expect(lines[1].time.map { abs($0 - 1_795_514_400.1) < 0.001 } == true)
        // journalctl's +0000 offsets, a zone ahead of UTC, syslog lines (the year that puts them
        // before now: Dec 31 is last year's), labels with a subsystem.
        let journal = CrmHistory.parseLine("2026-11-24T12:00:00.5+0100 host crmd[1]: notice: x", now: Self.now, zone: Self.utc)
        #expect(journal.time == Self.now - 3600 + 0.5 && journal.node == "host" && journal.message == "notice: x")
        let syslog = CrmHistory.parseLine("Dec 31 23:59:00 node2 stonithd[77]: notice: y", now: Self.now, zone: Self.utc)
        #expect(syslog.time == 1_767_225_540 && syslog.node == "node2" && syslog.program == "stonithd")
        let sub = CrmHistory.parseLine("2026-11-24T10:00:00Z n lrmd[swiftha.agents][9]: warning: z", now: Self.now, zone: Self.utc)
        #expect(sub.program == "lrmd[swiftha.agents]" && sub.message == "warning: z")
        // Dates by arithmetic: a leap day, a day February does not have, before 1970.
        #expect(CrmHistory.parseLine("2024-02-29T00:00:00Z n crmd[1]: info: a", now: Self.now, zone: Self.utc).time == 1_709_164_800)
        #expect(CrmHistory.parseLine("2025-02-29T00:00:00Z n crmd[1]: info: a", now: Self.now, zone: Self.utc).time == nil)
        #expect(CrmHistory.parseLine("1970-01-01T00:00:00+01:00 n crmd[1]: info: a", now: Self.now, zone: Self.utc).time == -3600)
        let plain = CrmHistory.parseLine("Transition Summary: nothing", now: Self.now, zone: Self.utc)
        #expect(plain.program == nil && plain.time == nil && plain.message == "Transition Summary: nothing")
    }

    @Test func transitionsFromCrmdsLines() {
        let list = CrmHistory.transitions(Self.lines)
        #expect(list.map(\.input) == ["pe-input-4", "pe-input-5", "pe-input-6"])
        #expect(list.map(\.number) == [1, 2, nil])
        #expect(list.map(\.state) == ["Complete", "Aborted", nil])
        #expect(list[0].name == "node1:pe-input-4" && list[0].planned == 3 && list[0].total == 3)
        #expect(list[1].actions.map(\.0) == ["Complete", "Incomplete"] && list[1].actions.map(\.1) == [2, 1])
        #expect(list[0].tags == ["d1"])
        #expect(list[1].tags == ["node2", "vmfence", "error"], "\(list[1].tags)")
        let format: (Double, String) -> String = { t, f in
            var c = Calendar(identifier: .gregorian)
            c.timeZone = Self.utc
            let d = c.dateComponents([.hour, .minute, .second], from: Date(timeIntervalSince1970: t))
            return String(format: "%02d:%02d:%02d", d.hour!, d.minute!, d.second!) + (f == "%H:%M:%S" ? "" : "?")
        }
        #expect(CrmHistory.transitionInfo(list[0], format: format) == "Transition node1:pe-input-4 (10:00:06 - 10:00:07):\n\ttotal 3 actions: 3 Complete")
        #expect(CrmHistory.transitionInfo(list[1], format: format) == "Transition node1:pe-input-5 (10:05:00 - 10:05:02):\n\ttotal 3 actions: 2 Complete, 1 Incomplete")
        #expect(CrmHistory.transitionInfo(list[2], format: format) == "Transition node1:pe-input-6 (10:06:00 - [unfinished])")
        let input = CrmHistory.Input(series: "input", number: 5, file: "pe-input-5.xml", time: 0)
        #expect(CrmHistory.transition(of: input, in: list)?.number == 2)
        #expect(CrmHistory.transition(of: CrmHistory.Input(series: "input", number: 9, file: "pe-input-9.xml", time: 0), in: list) == nil)
    }

    @Test func eventsResourcesAndNodes() throws {
        let lines = Self.lines
        let events = CrmHistory.events(lines).map(\.line.text)
        #expect(events == Self.at(lines, "10:00:01") + Self.at(lines, "10:00:02") + Self.at(lines, "10:00:04") + Self.at(lines, "10:00:05")
            + Self.at(lines, "10:00:07.0") + Self.at(lines, "10:00:07.2") + Self.at(lines, "10:05:00.0") + Self.at(lines, "10:05:00.2")
            + Self.at(lines, "10:05:01") + Self.at(lines, "10:05:02.0") + Self.at(lines, "10:05:02.1"), "\(events.joined(separator: "\n"))")
        // resource: its starts and stops (probes at detail 1); failures of any operation.
        #expect(CrmHistory.events(lines, kinds: [.resource], names: ["d1"]).map(\.line.text) == Self.at(lines, "10:00:07.0") + Self.at(lines, "10:00:07.2"))
        #expect(CrmHistory.events(lines, kinds: [.resource], names: ["d1"], detail: 1).count == 4)
        #expect(CrmHistory.events(lines, kinds: [.resource], names: ["vmfence"]).map(\.line.text) == Self.at(lines, "10:05:02.0") + Self.at(lines, "10:05:02.1"))
        #expect(CrmHistory.events(lines, kinds: [.resource], names: ["d"]).isEmpty, "a prefix of a name is not the name")
        // node: joined, lost, fenced.
        #expect(CrmHistory.events(lines, kinds: [.node], names: ["node2"]).map(\.line.text)
                == Self.at(lines, "10:00:04") + Self.at(lines, "10:05:00.0") + Self.at(lines, "10:05:00.2") + Self.at(lines, "10:05:01.0") + Self.at(lines, "10:05:01.1"))
        // Groups and clones are never logged: their primitives are (clone instances too).
        let cib = try CIB.parse("""
            <cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/>
            <resources><group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></group>
            <clone id="c"><primitive id="p.1" class="ocf" provider="pacemaker" type="ping"/></clone></resources><constraints/></configuration><status/></cib>
            """)
        #expect(CrmHistory.expand(["g", "c", "p.1", "x.*"], in: cib) == ["a", "b", #"p\.1(?::[0-9]+)?"#, #"p\.1(?::[0-9]+)?"#, "x.*"])
        #expect(CrmHistory.unknown(["g", "a.*", "zz"], among: ["g", "a", "b"]) == "zz")
        #expect(CrmHistory.unknown(["("], among: ["g"]) == "(")
    }

    @Test func windowExcludesAndTimes() throws {
        let lines = Self.lines
        var settings = CrmHistory.Settings()
        #expect(settings.window(now: Self.now).from == Self.now - 3600 && settings.window(now: Self.now).to == nil)
        settings.from = try #require(CrmHistory.parseTime("10:05", now: Self.now, zone: Self.utc))
        settings.to = try #require(CrmHistory.parseTime("10:05:02", now: Self.now, zone: Self.utc))
        let (from, to) = settings.window(now: Self.now)
        let inside = CrmHistory.within(lines, from: from, to: to)
        // The untimed first line stays (nothing says it is outside).
        #expect(inside.map(\.text) == [lines[0].text] + Self.at(lines, "10:05:00") + Self.at(lines, "10:05:01") + Self.at(lines, "10:05:02.0"), "\(inside.map(\.text))")
        let excludes = try CrmHistory.excludePatterns(["stonithd", "fencing node[0-9]"])
        #expect(CrmHistory.excluding(inside, excludes).map(\.text) == [lines[0].text] + Self.at(lines, "10:05:00.0") + Self.at(lines, "10:05:00.1") + Self.at(lines, "10:05:01.1") + Self.at(lines, "10:05:02.0"))
        #expect(throws: CrmError.self) { try CrmHistory.excludePatterns(["("]) }

        // Times as crmsh's limit takes them (dateutil's forms), today's date by default.
        let t = { (s: String) in CrmHistory.parseTime(s, now: Self.now, zone: Self.utc) }
        #expect(t("10:15") == 1_795_515_300)
        #expect(t("10:15:00") == 1_795_515_300)
        #expect(t("15h22m") == 1_795_533_720)
        #expect(t("3:22pm") == 1_795_533_720)
        #expect(t("3pm") == 1_795_532_400)
        #expect(t("2026-11-24 10:15") == 1_795_515_300)
        #expect(t("2026-11-24T10:15:00Z") == 1_795_515_300)
        #expect(t("2010/9/1 2pm") == 1_283_349_600)
        #expect(t("Jul 18 12:00") == 1_784_376_000)
        #expect(t("Sun 5 20:46") == 1_793_911_560)
        #expect(t("Tue Sep 15 20:46:27 UTC 2010") == 1_284_583_587)
        for bad in ["tomorrowish", "25:00", "10:61", "Feb 30 10:00", "", "10:15 10:16"] {
            #expect(t(bad) == nil, "\(bad)")
        }
    }
}

/// `edit`: only what the text changed is redefined, in place; what was taken out is deleted.
@Suite struct CrmEditTests {
    @Test func onlyChangedObjectsMoveAndRemovedOnesGo() throws {
        var cib = CIB.empty()
        try define(tutorial + [["location", "l1", "website", "100:", "node1"], ["order", "o1", "Mandatory:", "vip", "apache"],
                               ["property", "maintenance-mode=false"]], into: &cib)
        let before = try CrmShow.render(cib, obscure: false)
        let after = before
            .replacingOccurrences(of: "interval=10s", with: "interval=30s")
            .replacingOccurrences(of: "location l1 website 100: node1\n", with: "")
            .replacingOccurrences(of: " \\\n\tmaintenance-mode=false", with: "")
            + "primitive d9 Dummy\n"
        try CrmConfig.applyEdit(before: before, after: after, to: &cib)
        #expect(try cib.q("//group[@id='website']/primitive").map(\.id) == ["vip", "apache"])
        #expect(try cib.q("//op[@id='apache-monitor-30s']").count == 1)
        #expect(try cib.q("//rsc_location").isEmpty)
        #expect(try cib.q("//rsc_order[@id='o1']").count == 1)
        #expect(try cib.q("//nvpair[@name='maintenance-mode']").isEmpty)
        #expect(try cib.q("//nvpair[@name='no-quorum-policy']").first?["value"] == "ignore")
        #expect(try cib.q("//resources/primitive").map(\.id) == ["vmfence", "d9"])
        // Nothing changed: nothing moves.
        let again = try CrmShow.render(cib, obscure: false)
        var same = cib
        try CrmConfig.applyEdit(before: again, after: again, to: &same)
        #expect(same == cib)
        #expect(throws: CrmError.self) { try CrmConfig.applyEdit(before: again, after: again + "primitive d10 Dummy parms x=1\n", to: &same) }
    }
}

/// A change made on a copy the cluster has since updated (status only) lands on the current
/// copy; a configuration changed underneath is never overwritten.
@Suite struct CrmRebaseTests {
    @Test func statusUpdatesDoNotBlockAConfigurationChange() throws {
        var original = CIB.empty()
        try define([["node", "1:", "node1"], ["node", "2:", "node2"], ["property", "stonith-enabled=false"]], into: &original)
        original.root.setFirstElement(named: "status", to: try XElement.parse(#"<status><node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/></status>"#))
        var changed = original
        try define([["primitive", "d1", "Dummy"]], into: &changed)
        changed.bumpVersion(for: .configuration)
        // The cluster recorded a node's state meanwhile.
        var current = original
        current.root.setFirstElement(named: "status", to: try XElement.parse(#"<status><node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/><node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/></status>"#))
        current.bumpVersion(for: .status)
        #expect(throws: CIBError.self) { _ = try current.applying(CIBPatch.diff(original, changed)) }
        let patch = try CrmRebase.patch(from: original, to: changed, onto: current)
        let result = try current.applying(patch)
        #expect(try result.q("//primitive[@id='d1']").count == 1)
        #expect(try result.q("//node_state").count == 2)
        #expect(result.version == changed.version)
        // Someone changed the configuration meanwhile: refused, nothing overwritten.
        var other = current
        try define([["primitive", "d2", "Dummy"]], into: &other)
        #expect(throws: CrmError.self) { _ = try CrmRebase.patch(from: original, to: changed, onto: other) }
        // A status-only change gets a version above the current one.
        var attr = original
        try attr.setAttribute("x", to: "1", scope: .status, node: "node1")
        let statusPatch = try CrmRebase.patch(from: original, to: attr, onto: current)
        #expect(statusPatch.target > current.version && statusPatch.source == current.version)
        let withAttr = try current.applying(statusPatch)
        #expect(try withAttr.attribute("x", scope: .status, node: "node1")?.value == "1")
        #expect(try withAttr.q("//node_state").count == 2)
    }
}
