import Agents
import CIB
import Foundation
import LRM
import Testing
import TestSupport

/// Parameter digests match Pacemaker's operation digests.
@Suite struct DigestTests {
    /// Digests printed by Pacemaker 2.1.5's `crm_resource --digests` for these parameters.
    @Test func knownPacemakerDigests() {
        #expect(ParameterDigest.digest(["state": "/x", "fake": "1"]) == "3428c5a0872b5464a9cd7132e61183f9")
        #expect(ParameterDigest.digest(["state": "/x", "fake": "1", "CRM_meta_timeout": "20000"]) == "f749212d8efba523a88b124bc3a6f639")
        #expect(ParameterDigest.digest(["state": "a&b <c> \"q\" 's'", "fake": "1"]) == "d5b34528ee62c6067b824d32d2551d2f")
        #expect(ParameterDigest.canonicalText([:]) == " <parameters/>\n")
        #expect(ParameterDigest.digest([:]) == "f2317cad3d54cec5d7d7aa7d0bf35cf8")  // md5 of " <parameters/>\n"
        // A long value crosses MD5 block boundaries.
        #expect(ParameterDigest.digest(["v": String(repeating: "x", count: 200)]) == "5145612a7cc8f6cbe59a6ec1530aa53f")
    }

    /// Differential: random parameter sets against the installed `crm_resource --digests`.
    @Test func matchesCrmResourceDigests() async throws {
        guard Installed.agent("/usr/sbin/crm_resource", for: "matchesCrmResourceDigests") else { return }
        let s = try Scratch()
        var rng = SeededGenerator(seed: 42)
        let alphabet = Array("abcXYZ019_-./:&<>\"' =")
        for round in 0..<8 {
            var params: [String: String] = [:]
            for i in 0..<Int(1 + rng.next() % 5) {
                let value = String((0..<Int(rng.next() % 12)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
                params["p\(i)_\(rng.next() % 100)"] = value
            }
            var primitive = XElement("primitive", ["id": "d", "class": "ocf", "provider": "heartbeat", "type": "Dummy"])
            var ia = XElement("instance_attributes", ["id": "d-ia"])
            for (k, v) in params.sorted(by: { $0.key < $1.key }) { ia.append(XElement("nvpair", ["id": "d-ia-\(k)", "name": k, "value": v])) }
            primitive.append(ia)
            let cib = XElement("cib", ["validate-with": "pacemaker-3.9", "epoch": "1", "num_updates": "0", "admin_epoch": "0"], children: [
                XElement("configuration", [:], children: [
                    XElement("crm_config"), XElement("nodes", [:], children: [XElement("node", ["id": "1", "uname": "n1"])]),
                    XElement("resources", [:], children: [primitive]), XElement("constraints"),
                ]),
                XElement("status"),
            ])
            let path = s.file("cib-\(round).xml")
            try cib.xmlString().write(toFile: path, atomically: true, encoding: .utf8)
            let outcome = try await ProcessRunner.run(ProcessRequest(
                executable: "/usr/sbin/crm_resource", arguments: ["--digests", "-r", "d", "-N", "n1", "--output-as=xml"],
                environment: ["PATH": AgentHost.defaultPath, "CIB_file": path], timeout: .seconds(20)))
            let result = try XElement.parse(outcome.standardOutput, source: "crm_resource")
            let all = result.descendants().first { $0.name == "digest" && $0["type"] == "all" }
            let theirs = try #require(all?["hash"], "crm_resource printed no digest: \(outcome.standardOutput) \(outcome.standardError)")
            #expect(ParameterDigest.digest(params) == theirs, "\(params)")
        }
    }
}
