import CIB
import Foundation
import Testing
import TestSupport

@Suite struct PatchTests {
    @Test func diffThenApplyGivesTheTarget() throws {
        let a = try CIB.parse(sampleCIB)
        var b = a
        try b.create(XElement("primitive", ["id": "d2", "class": "ocf", "provider": "pacemaker", "type": "Dummy"]), in: .resources)
        try b.modify(XElement("nvpair", ["id": "vip-ip", "value": "192.0.2.11"]), in: .resources)
        try b.delete(XElement("rsc_order", ["id": "ord-web"]), in: .constraints)
        let patch = CIBPatch.diff(a, b)
        #expect(patch.source == a.version)
        #expect(patch.target == b.version)
        #expect(try a.applying(patch) == b)
        // Through its XML form too.
        let reread = try CIBPatch(xml: try XElement.parse(patch.xml.xmlString()))
        #expect(reread == patch)
        #expect(try a.applying(reread) == b)
    }

    @Test func patchForAnotherVersionIsRefusedAndNothingChanges() throws {
        let a = try CIB.parse(sampleCIB)
        var b = a
        try b.create(XElement("primitive", ["id": "d2", "class": "ocf", "provider": "pacemaker", "type": "Dummy"]), in: .resources)
        let patch = CIBPatch.diff(a, b)
        var other = a
        other.bumpVersion(for: .configuration)
        let before = other
        #expect(throws: CIBError.self) { try other.apply(patch) }
        do { try other.apply(patch) } catch {
            #expect(error.kind == .versionMismatch)
            #expect(error.message.contains("0.3.2"))
        }
        #expect(other == before)
    }

    @Test func digestMismatchIsRefused() throws {
        let a = try CIB.parse(sampleCIB)
        var b = a
        b.bumpVersion(for: .status)
        b.root["have-quorum"] = "1"
        var patch = CIBPatch.diff(a, b)
        patch.digest = String(repeating: "0", count: 32)
        do {
            _ = try a.applying(patch)
            Issue.record("a patch with a wrong digest applied")
        } catch {
            #expect(error.kind == .digestMismatch)
        }
    }

    @Test func reorderingCommentsAndPositionalChildren() throws {
        let a = try CIB.parse("<cib validate-with='pacemaker-3.9' epoch='1' num_updates='0' admin_epoch='0'><configuration><!--one--><crm_config/><nodes/><resources><primitive id='a'/><primitive id='b'/><primitive id='c'/></resources><constraints/></configuration><status/></cib>")
        let b = try CIB.parse("<cib validate-with='pacemaker-3.9' epoch='2' num_updates='0' admin_epoch='0'><configuration><crm_config/><!--two--><nodes/><resources><primitive id='c'/><primitive id='a' x='1'/><group id='g'/></resources><constraints/></configuration><status/></cib>")
        #expect(try a.applying(CIBPatch.diff(a, b)) == b)
        #expect(try b.applying(CIBPatch.diff(b, a)) == a)
    }

    /// diff/apply over pairs of real CIBs from the suite, in both directions.
    @Test func roundTripsOverConformancePairs() throws {
        let files = Shared.conformanceFiles
        guard !files.isEmpty else { return }
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<150 {
            let fa = files.randomElement(using: &rng)!
            let fb = files.randomElement(using: &rng)!
            let a = try CIB.parse(try Data(contentsOf: URL(fileURLWithPath: fa)))
            let b = try CIB.parse(try Data(contentsOf: URL(fileURLWithPath: fb)))
            let patch = CIBPatch.diff(a, b)
            do {
                #expect(try a.applying(patch) == b, "\(fa) -> \(fb)")
            } catch {
                Issue.record("\(fa) -> \(fb): \(error)")
            }
        }
    }

    /// Random edits of a real CIB: removing, reordering and changing elements.
    @Test func roundTripsOverRandomEdits() throws {
        let files = Shared.conformanceFiles
        guard !files.isEmpty else { return }
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<300 {
            let a = try CIB.parse(try Data(contentsOf: URL(fileURLWithPath: files.randomElement(using: &rng)!)))
            var b = a
            var paths: [[Int]] = []
            b.root.walkWithPath { _, p in if !p.isEmpty { paths.append(p) } }
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                guard let p = paths.randomElement(using: &rng), b.root.element(at: p) != nil else { continue }
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: b.root.removeNode(at: p)
                case 1: b.root.modifyElement(at: p) { $0["x-test"] = String(Int.random(in: 0..<9, using: &rng)) }
                case 2: b.root.modifyElement(at: p) { $0.children.reverse() }
                default: b.root.modifyElement(at: p) { $0.append(XElement("extra")); $0.append(XElement("extra")) }
                }
            }
            b.bumpVersion(for: .configuration)
            #expect(try a.applying(CIBPatch.diff(a, b)) == b)
        }
    }
}
