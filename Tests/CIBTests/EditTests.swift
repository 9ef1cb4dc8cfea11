import CIB
import Foundation
import Testing

@Suite struct EditTests {
    @Test func createAddsAndBumpsEpoch() throws {
        var cib = try CIB.parse(sampleCIB)
        try cib.create(XElement("primitive", ["id": "d1", "class": "ocf", "provider": "pacemaker", "type": "Dummy"]), in: .resources)
        #expect(cib.version == CIBVersion(adminEpoch: 0, epoch: 4, numUpdates: 0))
        #expect(cib.configuration.resources.last?.id == "d1")
    }

    @Test func createRefusesExistingIDAnywhere() throws {
        var cib = try CIB.parse(sampleCIB)
        let before = cib
        do {
            try cib.create(XElement("primitive", ["id": "apache", "class": "lsb", "type": "x"]), in: .resources)
            Issue.record("duplicate id created")
        } catch {
            #expect(error.kind == .exists)
        }
        #expect(cib == before)
    }

    @Test func createInfersSection() throws {
        var cib = try CIB.parse(sampleCIB)
        try cib.create(XElement("rsc_location", ["id": "l2", "rsc": "vip", "node": "node2", "score": "-INFINITY"]), in: nil)
        #expect(cib.configuration.constraints.last?.id == "l2")
        #expect(throws: CIBError.self) { try cib.create(XElement("whatever", ["id": "w"]), in: nil) }
    }

    @Test func modifyMergesAndIncrements() throws {
        var cib = try CIB.parse(sampleCIB)
        try cib.modify(XElement("primitive", ["id": "vip", "description": "floating IP"],
                                children: [XElement("instance_attributes", ["id": "vip-ia"],
                                                    children: [XElement("nvpair", ["id": "vip-nic", "name": "nic", "value": "eth0"])])]),
                       in: .resources)
        guard case .primitive(let vip) = cib.configuration.resources[1] else { Issue.record("no vip"); return }
        #expect(vip.description == "floating IP")
        #expect(vip.parameter("ip") == "192.0.2.10")
        #expect(vip.parameter("nic") == "eth0")
        try cib.modify(XElement("nvpair", ["id": "vip-nic", "value": "value++"]), in: .resources)
        #expect(try cib.root.xpathElements("//nvpair[@id='vip-nic']").first?["value"] == "1")
        try cib.modify(XElement("nvpair", ["id": "vip-nic", "value": "value+=10"]), in: .resources)
        #expect(try cib.root.xpathElements("//nvpair[@id='vip-nic']").first?["value"] == "11")
    }

    @Test func modifyMissingFailsUnlessAllowed() throws {
        var cib = try CIB.parse(sampleCIB)
        do {
            try cib.modify(XElement("primitive", ["id": "nosuch"]), in: .resources)
            Issue.record("modified a missing element")
        } catch { #expect(error.kind == .notFound) }
        try cib.modify(XElement("primitive", ["id": "nosuch", "class": "lsb", "type": "x"]), in: .resources, allowCreate: true)
        #expect(cib.configuration.resources.last?.id == "nosuch")
    }

    @Test func replaceAndDelete() throws {
        var cib = try CIB.parse(sampleCIB)
        try cib.replace(XElement("group", ["id": "web"], children: [XElement("primitive", ["id": "nginx", "class": "lsb", "type": "nginx"])]), in: .resources)
        #expect(cib.configuration.resources.flatMap(\.allResources).map(\.id).contains("nginx"))
        #expect(!cib.configuration.resources.flatMap(\.allResources).map(\.id).contains("apache"))
        // Delete needs every given attribute to match.
        #expect(try cib.delete(XElement("primitive", ["id": "vip", "type": "Wrong"]), in: .resources) == false)
        #expect(try cib.delete(XElement("primitive", ["id": "vip"]), in: .resources) == true)
        #expect(try cib.delete(XElement("primitive", ["id": "vip"]), in: .resources) == false)
        try cib.replace(XElement("constraints"), in: .constraints)
        #expect(cib.configuration.constraints.isEmpty)
    }

    @Test func statusRootAttributesRaiseOnlyNumUpdates() throws {
        var cib = try CIB.parse(sampleCIB)
        let v0 = cib.version
        try cib.edit(xpath: "/cib", .modify(XElement("cib", ["dc-uuid": "1", "have-quorum": "1"])))
        #expect(cib.version.epoch == v0.epoch)
        #expect(cib.version.numUpdates == v0.numUpdates + 1)
        #expect(cib.root["dc-uuid"] == "1")
        try cib.edit(xpath: "/cib", .modify(XElement("cib", ["update-origin": "node1", "update-client": "crmd", "update-user": "hacluster", "cib-last-written": "Tue Nov 24 02:00:00 2026"])))
        #expect(cib.version.epoch == v0.epoch)
        try cib.edit(xpath: "/cib/@dc-uuid", .delete(all: true))
        #expect(cib.version.epoch == v0.epoch)
        #expect(cib.root["dc-uuid"] == nil)
        // Anything else on <cib> is configuration.
        try cib.edit(xpath: "/cib", .modify(XElement("cib", ["have-quorum": "0", "validate-with": "pacemaker-3.9"])))
        #expect(cib.version.epoch == v0.epoch + 1)
        #expect(cib.version.numUpdates == 0)
    }

    @Test func xpathEdits() throws {
        var cib = try CIB.parse(sampleCIB)
        try cib.edit(xpath: "//op", .modify(XElement("op", ["timeout": "30s"])))
        #expect(try cib.root.xpathElements("//op").first?["timeout"] == "30s")
        try cib.edit(xpath: "//primitive", .delete(all: false))
        #expect(try cib.root.xpathElements("//primitive").count == 3)
        try cib.edit(xpath: "//primitive", .delete(all: true))
        #expect(try cib.root.xpath("//primitive").isEmpty)
        do {
            try cib.edit(xpath: "//primitive", .delete(all: true))
            Issue.record("no error for no match")
        } catch { #expect(error.kind == .notFound) }
        #expect(throws: CIBError.self) { try cib.edit(xpath: "/cib", .delete(all: false)) }
    }

    @Test func statusChangesBumpNumUpdates() throws {
        var cib = try CIB.parse(sampleCIB)
        try cib.create(XElement("node_state", ["id": "1", "uname": "node1", "in_ccm": "true"]), in: .status)
        #expect(cib.version == CIBVersion(adminEpoch: 0, epoch: 3, numUpdates: 3))
    }

    @Test func nodePathsLookLikePacemakers() throws {
        let cib = try CIB.parse(sampleCIB)
        let m = try cib.query(xpath: "//primitive[@id='db']")
        #expect(cib.nodePath(m[0].path) == "/cib/configuration/resources/master[@id='ms-db']/primitive[@id='db']")
    }
}
