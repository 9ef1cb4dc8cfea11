import CIB
import Testing

/// The public wire form of a replica operation (cibd's client API) and of an error's kind.
@Suite struct OperationXMLTests {
    @Test func everyOperationSurvivesItsXMLForm() throws {
        let p = XElement("primitive", ["id": "d1", "class": "ocf", "provider": "pacemaker", "type": "Dummy"])
        let ops: [CIBReplica.Operation] = [
            .create(p, section: .resources), .modify(p, section: nil, allowCreate: true), .replace(p, section: .resources),
            .delete(p, section: nil), .xpath("//primitive[@id='d1']", .modify(p)), .xpath("//primitive", .delete(all: true)),
            .replaceAll(CIB.empty()),
        ]
        for op in ops {
            let text = op.xml.xmlString(.compact)
            #expect(try CIBReplica.Operation(xml: try XElement.parse(text)) == op, "\(text)")
        }
        #expect(throws: CIBError.self) { try CIBReplica.Operation(xml: XElement("operation", ["kind": "explode"])) }
    }

    @Test func errorKindsHaveStableNames() {
        let all: [CIBError.Kind] = [.malformed, .invalid, .notFound, .exists, .versionMismatch, .digestMismatch, .io, .badRequest, .multiple, .noQuorum]
        for k in all { #expect(CIBError.Kind(name: k.name) == k) }
        #expect(CIBError.Kind(name: "nonsense") == nil)
    }
}
