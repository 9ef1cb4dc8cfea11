import CIB
import Foundation
import Testing

@Suite struct ValidationTests {
    func problems(_ xml: String) throws -> [String] {
        let (_, report) = try CIBValidator.validate(Array(xml.utf8), source: "t.xml")
        return report.errors.map(\.description)
    }

    @Test func validCIBHasNoProblems() throws {
        let (_, report) = try CIBValidator.validate(Array(sampleCIB.utf8), source: "t.xml")
        #expect(report.problems.isEmpty, "\(report.problems)")
        if CIBSchema.newestInstalled != nil { #expect(report.schemaUsed == "pacemaker-3.9") }
    }

    @Test func schemaIsAppliedWhenInstalled() throws {
        guard CIBSchema.newestInstalled != nil else {
            print("SKIPPED: Pacemaker's schemas are not installed (make test installs pacemaker-common)")
            return
        }
        let bad = sampleCIB.replacingOccurrences(of: #"<node id="2" uname="node2"/>"#, with: #"<node id="2" uname="node2" bogus="1"/>"#)
        let errs = try problems(bad)
        #expect(errs.contains { $0.contains("node '2'") && $0.contains("pacemaker-3.9 schema") })
    }

    @Test func newerSchemaGetsOwnRulesOnly() throws {
        let newer = sampleCIB.replacingOccurrences(of: "pacemaker-3.9", with: "pacemaker-4.0")
        let (_, report) = try CIBValidator.validate(Array(newer.utf8), source: "t.xml")
        #expect(report.schemaUsed == nil)
        #expect(report.schemaNote != nil)
        #expect(report.problems.isEmpty)
    }

    @Test func semanticRulesNameTheCulpritAndTheFix() throws {
        let bad = sampleCIB
            .replacingOccurrences(of: #"interval="10s""#, with: #"interval="often""#)
            .replacingOccurrences(of: #"rsc="vip" node="node1" score="100""#, with: #"rsc="nosuch" node="node1" score="lots""#)
            .replacingOccurrences(of: #"<primitive id="apache""#, with: #"<primitive id="vip""#)
            .replacingOccurrences(of: #"kind="Mandatory""#, with: #"kind="Always""#)
        let errs = try problems(bad)
        #expect(errs.contains { $0.contains("op 'vip-mon'") && $0.contains("interval 'often' is not a duration") && $0.contains("line") })
        #expect(errs.contains { $0.contains("rsc_location 'loc-vip'") && $0.contains("rsc 'nosuch' names no resource") })
        #expect(errs.contains { $0.contains("rsc_location 'loc-vip'") && $0.contains("score 'lots' is not a score") })
        #expect(errs.contains { $0.contains("primitive 'vip'") && $0.contains("already used") })
        #expect(errs.contains { $0.contains("kind 'Always'") })
    }

    /// A problem one of SwiftHA's rules explains is said once: libxml2's IDREF complaint and
    /// its generic interleave cascade for the same element are left out beside the rule's
    /// message (before: two or three lines for one missing resource). A schema problem the
    /// rules do not explain is still said.
    @Test func aProblemTheRulesExplainIsSaidOnce() throws {
        guard CIBSchema.newestInstalled != nil else {
            print("SKIPPED: Pacemaker's schemas are not installed (make test installs pacemaker-common)")
            return
        }
        let bad = sampleCIB.replacingOccurrences(of: #"rsc="vip" node="node1" score="100""#, with: #"rsc="ghost" node="node1" score="100""#)
        let errs = try problems(bad)
        let aboutLocation = errs.filter { $0.contains("rsc_location 'loc-vip'") }
        #expect(aboutLocation.count == 1, "\(errs)")
        #expect(aboutLocation.first?.contains("rsc 'ghost' names no resource; define it first or correct the name") == true)
        let bogus = sampleCIB.replacingOccurrences(of: #"<node id="2" uname="node2"/>"#, with: #"<node id="2" uname="node2" bogus="1"/>"#)
        #expect(try problems(bogus).contains { $0.contains("node '2'") && $0.contains("pacemaker-3.9 schema") })
    }

    /// pcmk_delay_base is a duration or, as Pacemaker's fencer takes it, a node map
    /// ("node1:1s;node2:5s"); an entry that is not NODE:DURATION is named.
    @Test func aFencingDelayMayBeANodeMap() throws {
        func device(_ delay: String) -> String {
            sampleCIB.replacingOccurrences(of: #"<primitive id="fence1" class="stonith" type="fence_dummy"/>"#, with: """
                <primitive id="fence1" class="stonith" type="fence_dummy"><instance_attributes id="f-ia">\
                <nvpair id="f-delay" name="pcmk_delay_base" value="\(delay)"/></instance_attributes></primitive>
                """)
        }
        for good in ["5s", "node3:3s", "node1:1s;node2:5s", "node1:1s node2:PT5S"] {
            let errs = try problems(device(good))
            #expect(errs.isEmpty, "\(good): \(errs)")
        }
        for bad in ["soon", "node1:soon", "node1:1s;:2s"] {
            let errs = try problems(device(bad))
            #expect(errs.contains { $0.contains("pcmk_delay_base '\(bad)'") }, "\(bad): \(errs)")
        }
    }

    @Test func missingFencingIsReported() throws {
        let nofence = sampleCIB.replacingOccurrences(of: #"<primitive id="fence1" class="stonith" type="fence_dummy"/>"#, with: "")
        let errs = try problems(nofence)
        #expect(errs.contains { $0.contains("no fence device") })
        let disabled = nofence.replacingOccurrences(of: #"name="stonith-enabled" value="true""#, with: #"name="stonith-enabled" value="false""#)
        #expect(try problems(disabled).isEmpty)
    }

    @Test func notACIB() {
        do {
            _ = try CIBValidator.validate(Array("<html/>".utf8), source: "t.xml")
            Issue.record("accepted <html>")
        } catch {
            #expect(error.message.contains("not a CIB"))
        }
    }

    /// Pacemaker's own suite inputs pass SwiftHA's schema check wherever the schema exists.
    @Test func conformanceInputsPassTheSchema() throws {
        let files = Shared.conformanceFiles
        guard !files.isEmpty, CIBSchema.newestInstalled != nil else { return }
        var schemaFailures: [String] = []
        for path in files {
            let (_, report) = try CIBValidator.validate(try Data(contentsOf: URL(fileURLWithPath: path)), source: path)
            let schemaErrors = report.errors.filter { $0.message.contains("schema") }
            if !schemaErrors.isEmpty { schemaFailures.append("\(path): \(schemaErrors[0])") }
        }
        print("schema check: \(files.count - schemaFailures.count) of \(files.count) conformance inputs pass")
        // A few inputs of the suite are deliberately invalid; the rest must pass.
        #expect(schemaFailures.count < 20, "\(schemaFailures.prefix(20).joined(separator: "\n"))")
    }

    @Test func upgradeTurnsMasterIntoPromotableClone() throws {
        let cib = try CIB.parse(sampleCIB)
        let up = cib.upgraded(to: "pacemaker-3.9")
        #expect(up.version.epoch == cib.version.epoch + 1)
        guard case .clone(let c) = up.configuration.resources[3] else { Issue.record("no clone"); return }
        #expect(!c.isLegacyMaster)
        #expect(c.isPromotable)
        #expect(Resource.clone(c).meta("promoted-max") == "1")
        #expect(up.configuration.constraints[2].element["with-rsc-role"] == "Promoted")
        #expect(try up.root.xpath("//master").isEmpty)
        if CIBSchema.newestInstalled != nil {
            let report = CIBValidator.validate(up)
            #expect(report.isValid, "\(report.problems)")
        }
        // Upgrading twice changes nothing more.
        #expect(up.upgraded(to: "pacemaker-3.9") == up)
    }

    @Test func upgradeMovesLegacyDefaults() throws {
        let old = sampleCIB.replacingOccurrences(of: #"<nvpair id="opts-se" name="stonith-enabled" value="true"/>"#,
                                                 with: #"<nvpair id="opts-se" name="stonith-enabled" value="true"/><nvpair id="opts-drs" name="default-resource-stickiness" value="100"/>"#)
        let up = try CIB.parse(old).upgraded(to: "pacemaker-3.9")
        #expect(up.configuration.clusterOption("default-resource-stickiness") == nil)
        #expect(up.configuration.resourceDefaults.first?.value(of: "resource-stickiness") == "100")
    }
}

@Suite struct OldSchemaTests {
    func fixture(_ name: String) throws -> Data {
        let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "xml")!
        return try Data(contentsOf: url)
    }

    @Test func pacemaker10CIBValidatesAndUpgrades() throws {
        let (cib, report) = try CIBValidator.validate(try fixture("pacemaker-1.0"), source: "pacemaker-1.0.xml")
        #expect(report.isValid, "\(report.problems)")
        if CIBSchema.installed.contains("pacemaker-1.0") { #expect(report.schemaUsed == "pacemaker-1.0") }
        let up = cib.upgraded(to: "pacemaker-3.9")
        #expect(up.validateWith == "pacemaker-3.9")
        #expect(up.configuration.nodes.allSatisfy { $0.type == "member" })
        #expect(try up.root.xpath("//master").isEmpty)
        #expect(up.configuration.constraints[1].element["kind"] == "Mandatory")
        #expect(up.configuration.constraints[1].score == nil)
        #expect(try up.root.xpathElements("//rule").first?["role"] == "Promoted")
        #expect(try up.root.xpathElements("//op[@id='db-mon-s']").first?["role"] == "Unpromoted")
        #expect(up.configuration.resourceDefaults.first?.value(of: "resource-stickiness") == "50")
        if CIBSchema.newestInstalled == "pacemaker-3.9" {
            let r = CIBValidator.validate(up)
            #expect(r.isValid, "\(r.problems)")
            #expect(r.schemaUsed == "pacemaker-3.9")
        }
    }

    @Test func everyInstalledSchemaCompiles() throws {
        guard !CIBSchema.installed.isEmpty else {
            print("SKIPPED: Pacemaker's schemas are not installed")
            return
        }
        // Each version from 1.0 up is usable as validate-with.
        let base = try CIB.parse(try fixture("pacemaker-1.0"))
        for schema in CIBSchema.installed {
            var cib = base
            cib.validateWith = schema
            let report = CIBValidator.validate(cib)
            #expect(report.schemaUsed == schema, "\(schema): \(report.schemaNote ?? "")")
        }
    }
}
