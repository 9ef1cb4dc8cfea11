import CIB
import Foundation
import Testing

@Suite struct ModelTests {
    @Test func typedViews() throws {
        let cib = try CIB.parse(sampleCIB)
        #expect(cib.version == CIBVersion(adminEpoch: 0, epoch: 3, numUpdates: 2))
        #expect(cib.version.description == "0.3.2")
        let config = cib.configuration
        #expect(config.nodes.map(\.uname) == ["node1", "node2"])
        #expect(config.clusterOption("stonith-enabled") == "true")
        let ids = config.resources.flatMap(\.allResources).map(\.id)
        #expect(ids == ["fence1", "vip", "web", "apache", "ms-db", "db"])
        guard case .primitive(let vip) = config.resources[1] else { Issue.record("vip is not a primitive"); return }
        #expect(vip.agent.description == "ocf:heartbeat:IPaddr2")
        #expect(vip.parameter("ip") == "192.0.2.10")
        #expect(vip.operations.map(\.interval) == ["10s"])
        guard case .clone(let ms) = config.resources[3] else { Issue.record("ms-db is not a clone"); return }
        #expect(ms.isLegacyMaster && ms.isPromotable)
        #expect(config.constraints.map(\.kind) == [.location, .colocation, .colocation, .order])
        #expect(config.constraints[1].referencedResources == ["web", "vip"])
    }

    @Test func writesThroughViewsKeepUnmodelledContent() throws {
        var cib = try CIB.parse(sampleCIB)
        var config = cib.configuration
        var nodes = config.nodes
        var extra = ClusterNode(id: "3", uname: "node3")
        extra.element["x-custom"] = "kept"
        nodes.append(extra)
        config.nodes = nodes
        cib.configuration = config
        let back = try CIB.parse(cib.xmlString())
        #expect(back.configuration.nodes.map(\.uname) == ["node1", "node2", "node3"])
        #expect(back.configuration.nodes[2].element["x-custom"] == "kept")
        #expect(back.configuration.resources.count == 4)
    }

    @Test func agentNames() {
        #expect(ResourceAgentName(parsing: "ocf:heartbeat:IPaddr2")?.provider == "heartbeat")
        #expect(ResourceAgentName(parsing: "lsb:httpd")?.type == "httpd")
        #expect(ResourceAgentName(parsing: "stonith:fence_xvm")?.standard == "stonith")
        #expect(ResourceAgentName(parsing: "IPaddr2") == nil)
        #expect(ResourceAgentName(parsing: "ocf::x") == nil)
    }

    @Test func values() {
        #expect(CIBValue.score("INFINITY") == 1_000_000)
        #expect(CIBValue.score("-INFINITY") == -1_000_000)
        #expect(CIBValue.score("+inf") == nil)
        #expect(CIBValue.score("42") == 42)
        #expect(CIBValue.score("99999999999") == 1_000_000)
        #expect(CIBValue.score("abc") == nil)
        #expect(CIBValue.milliseconds("10s") == 10_000)
        #expect(CIBValue.milliseconds("10") == 10_000)
        #expect(CIBValue.milliseconds("500ms") == 500)
        #expect(CIBValue.milliseconds("2min") == 120_000)
        #expect(CIBValue.milliseconds("1h") == 3_600_000)
        #expect(CIBValue.milliseconds("PT1M30S") == 90_000)
        #expect(CIBValue.milliseconds("P1D") == 86_400_000)
        #expect(CIBValue.milliseconds("P10S") == 10_000)
        #expect(CIBValue.milliseconds("abc") == nil)
        #expect(CIBValue.milliseconds("10 parsecs") == nil)
        #expect(CIBValue.milliseconds("PT") == nil)
        #expect(CIBValue.isTrue("yes") && CIBValue.isTrue("on") && !CIBValue.isTrue("off"))
    }

    @Test func digestTracksContentNotFormatting() throws {
        let a = try CIB.parse(sampleCIB)
        let b = try CIB.parse(a.xmlString(.compact))
        #expect(a.digest == b.digest)
        #expect(a.digest.count == 32)
        var c = a
        c.root["have-quorum"] = "1"
        #expect(c.digest != a.digest)
    }
}
