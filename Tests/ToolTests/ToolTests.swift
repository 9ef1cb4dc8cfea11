import CIB
import Foundation
import Testing
import TestSupport

let validCIB = """
<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="opts">
        <nvpair id="opts-se" name="stonith-enabled" value="false"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="1" uname="node1"/>
    </nodes>
    <resources>
      <primitive id="d1" class="ocf" provider="pacemaker" type="Dummy">
        <operations>
          <op id="d1-mon" name="monitor" interval="10s"/>
        </operations>
      </primitive>
    </resources>
    <constraints/>
  </configuration>
  <status/>
</cib>

"""

@Suite struct ToolTests {
    func scratch(_ content: String = validCIB) throws -> String {
        let path = NSTemporaryDirectory() + "swiftha-tool-\(UUID().uuidString).xml"
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func crmVerifyValidIsSilent() throws {
        let f = try scratch()
        defer { try? FileManager.default.removeItem(atPath: f) }
        let r = try Tool.run("crm_verify", ["-x", f])
        #expect(r.status == 0)
        #expect(r.stdout.isEmpty && r.stderr.isEmpty, "\(r.stderr)")
        let live = try Tool.run("crm_verify", ["-L"], env: ["CIB_file": f])
        #expect(live.status == 0)
    }

    @Test func crmVerifyInvalidNamesEachProblem() throws {
        let f = try scratch(validCIB.replacingOccurrences(of: #"interval="10s""#, with: #"interval="soon""#)
            .replacingOccurrences(of: "<constraints/>", with: #"<constraints><rsc_order id="o1" first="d1" then="ghost"/></constraints>"#))
        defer { try? FileManager.default.removeItem(atPath: f) }
        let r = try Tool.run("crm_verify", ["-x", f])
        #expect(r.status == 78)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("op 'd1-mon'") && $0.contains("interval 'soon' is not a duration") })
        #expect(lines.contains { $0.contains("rsc_order 'o1'") && $0.contains("then 'ghost' names no resource") })
        #expect(lines.contains { $0.contains("Errors found during check: config not valid") })
    }

    /// A ticket whose loss fences, on a cluster without fencing: Pacemaker's crm_verify calls
    /// it an error (exit 78), and so does ours, naming the ticket and the way out.
    @Test func crmVerifyTicketFenceWithoutFencing() throws {
        let f = try scratch(validCIB.replacingOccurrences(of: "<constraints/>",
            with: #"<constraints><rsc_ticket id="t1" rsc="d1" ticket="tA" loss-policy="fence"/></constraints>"#))
        defer { try? FileManager.default.removeItem(atPath: f) }
        let r = try Tool.run("crm_verify", ["-L"], env: ["CIB_file": f])
        #expect(r.status == 78)
        #expect(r.stderr.contains("error: rsc_ticket 't1'") && r.stderr.contains("loss-policy 'fence' for ticket 'tA' needs fencing"), "\(r.stderr)")
        if FileManager.default.isExecutableFile(atPath: "/usr/sbin/crm_verify") {
            let theirs = try Tool.run(executable: "/usr/sbin/crm_verify", ["-L"], env: ["CIB_file": f])
            #expect(theirs.status == r.status)
        } else {
            print("SKIPPED: Pacemaker's crm_verify is not installed; only SwiftHA's exit code checked")
        }
        // With loss-policy=stop the same configuration is valid.
        let ok = try scratch(validCIB.replacingOccurrences(of: "<constraints/>",
            with: #"<constraints><rsc_ticket id="t1" rsc="d1" ticket="tA" loss-policy="stop"/></constraints>"#))
        defer { try? FileManager.default.removeItem(atPath: ok) }
        #expect(try Tool.run("crm_verify", ["-L"], env: ["CIB_file": ok]).status == 0)
    }

    @Test func crmVerifyMalformedGivesLineAndColumn() throws {
        let f = try scratch("<cib validate-with=\"pacemaker-3.9\">\n  <configuration>\n    <resources>\n</cib>\n")
        defer { try? FileManager.default.removeItem(atPath: f) }
        let r = try Tool.run("crm_verify", ["-x", f])
        #expect(r.status == 78)
        #expect(r.stderr.contains("\(f):4:"))
    }

    @Test func crmVerifyUsageAndMissingFile() throws {
        #expect(try Tool.run("crm_verify", []).status == 64)
        let r = try Tool.run("crm_verify", ["-x", "/nonexistent/cib.xml"])
        #expect(r.status == 66)
        #expect(r.stderr.contains("no such file"))
        let live = try Tool.run("crm_verify", ["-L"])
        #expect(live.status == 66, "no cluster: no input, as Pacemaker's crm_verify -L")
        #expect(live.stderr.contains("CIB_file"))
        let piped = try Tool.run("crm_verify", ["-p"], stdin: validCIB)
        #expect(piped.status == 0)
    }

    @Test func cibadminQueryAndEdit() throws {
        let f = try scratch()
        defer { try? FileManager.default.removeItem(atPath: f) }
        let env = ["CIB_file": f]
        let q = try Tool.run("cibadmin", ["-Q", "-o", "nodes"], env: env)
        #expect(q.status == 0)
        #expect(q.stdout == "<nodes>\n  <node id=\"1\" uname=\"node1\"/>\n</nodes>\n")

        let c = try Tool.run("cibadmin", ["-C", "-o", "resources", "-X", #"<primitive id="d2" class="ocf" provider="pacemaker" type="Dummy"/>"#], env: env)
        #expect(c.status == 0, "\(c.stderr)")
        let dup = try Tool.run("cibadmin", ["--create", "--scope", "resources", "--xml-text", #"<primitive id="d2" class="ocf" provider="pacemaker" type="Dummy"/>"#], env: env)
        #expect(dup.status == 108)
        #expect(dup.stderr.contains("already exists"))

        let xp = try Tool.run("cibadmin", ["-Q", "--xpath", "//primitive", "-e"], env: env)
        #expect(xp.stdout == "/cib/configuration/resources/primitive[@id='d1']\n/cib/configuration/resources/primitive[@id='d2']\n")
        let multi = try Tool.run("cibadmin", ["-Q", "--xpath", "//primitive"], env: env)
        #expect(multi.stdout.hasPrefix("<xpath-query>"))
        let none = try Tool.run("cibadmin", ["-Q", "--xpath", "//group"], env: env)
        #expect(none.status == 105)

        let m = try Tool.run("cibadmin", ["-M", "-X", #"<primitive id="d2" description="second"/>"#], env: env)
        #expect(m.status == 0)
        let missing = try Tool.run("cibadmin", ["-M", "-X", #"<primitive id="nosuch" description="x"/>"#], env: env)
        #expect(missing.status == 105)

        let cib = try CIB.parse(try Data(contentsOf: URL(fileURLWithPath: f)))
        #expect(cib.version == CIBVersion(adminEpoch: 0, epoch: 3, numUpdates: 0))
        #expect(try cib.root.xpathElements("//primitive[@id='d2']").first?["description"] == "second")

        let d = try Tool.run("cibadmin", ["-D", "-X", #"<primitive id="d2"/>"#], env: env)
        #expect(d.status == 0)
        #expect(try CIB.parse(try Data(contentsOf: URL(fileURLWithPath: f))).configuration.resources.count == 1)
    }

    @Test func cibadminRefusesAnInvalidChangeAndKeepsTheFile() throws {
        let f = try scratch()
        defer { try? FileManager.default.removeItem(atPath: f) }
        let before = try Data(contentsOf: URL(fileURLWithPath: f))
        let r = try Tool.run("cibadmin", ["-M", "-X", #"<op id="d1-mon" interval="whenever"/>"#, "-o", "resources"], env: ["CIB_file": f])
        #expect(r.status == 78)
        #expect(r.stderr.contains("interval 'whenever' is not a duration"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: f)) == before)
    }

    @Test func cibadminErrors() throws {
        let f = try scratch()
        defer { try? FileManager.default.removeItem(atPath: f) }
        let env = ["CIB_file": f]
        #expect(try Tool.run("cibadmin", ["-Q", "-o", "bogus"], env: env).status == 64)
        let bad = try Tool.run("cibadmin", ["-C", "-o", "resources", "-X", "<primitive id="], env: env)
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("--xml-text"))
        #expect(try Tool.run("cibadmin", ["-Q", "--xpath", "//p["], env: env).status == 64)
        #expect(try Tool.run("cibadmin", ["-E"], env: env).status == 107)
        #expect(try Tool.run("cibadmin", ["-Q"]).status == 102)
    }

    @Test func cibadminPatchAndUpgrade() throws {
        let f = try scratch()
        defer { try? FileManager.default.removeItem(atPath: f) }
        let a = try CIB.parse(validCIB)
        var b = a
        try b.create(XElement("primitive", ["id": "d9", "class": "ocf", "provider": "pacemaker", "type": "Dummy"]), in: .resources)
        let patch = CIBPatch.diff(a, b).xml.xmlString()
        let r = try Tool.run("cibadmin", ["--patch", "-p"], env: ["CIB_file": f], stdin: patch)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try CIB.parse(try Data(contentsOf: URL(fileURLWithPath: f))) == b)
        let again = try Tool.run("cibadmin", ["--patch", "-X", patch], env: ["CIB_file": f])
        #expect(again.status == 103)
        #expect(again.stderr.contains("fetch the current CIB"))

        let u = try Tool.run("cibadmin", ["--upgrade"], env: ["CIB_file": f])
        #expect(u.status == 0)
        let empty = try Tool.run("cibadmin", ["--empty"])
        #expect(try CIB.parse(empty.stdout).configuration.resources.isEmpty)
    }
}
