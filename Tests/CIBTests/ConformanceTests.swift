import CIB
import Foundation
import Testing
import TestSupport

/// Every CIB of Pacemaker's scheduler regression suite must load and round-trip losslessly.
@Suite struct ConformanceTests {
    @Test func allInputsLoadAndRoundTrip() throws {
        let files = Shared.conformanceFiles
        guard !files.isEmpty else { return }
        var failures: [String] = []
        for path in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            do {
                let cib = try CIB.parse(data, source: path)
                let written = cib.xmlString()
                let again = try CIB.parse(written, source: path)
                if again != cib { failures.append("\(path): parse-write-parse changed the document") }
                if again.xmlString() != written { failures.append("\(path): writing is not stable") }
                // The typed views read and write through without losing anything.
                var copy = cib
                copy.configuration = cib.configuration
                copy.status = cib.status
                var config = copy.configuration
                config.resources = config.resources
                config.nodes = config.nodes
                config.constraints = config.constraints
                copy.configuration = config
                if copy != cib { failures.append("\(path): writing the typed model back changed the document") }
            } catch {
                failures.append("\(path): \(error)")
            }
        }
        print("conformance round trip: \(files.count - failures.count) of \(files.count) inputs load and round-trip")
        #expect(failures.isEmpty, "\(failures.prefix(10).joined(separator: "\n"))")
        #expect(files.count >= 686)
    }

    @Test func typedModelSeesEveryKindOfElement() throws {
        let files = Shared.conformanceFiles
        guard !files.isEmpty else { return }
        var kinds = Set<String>()
        var primitives = 0
        var ops = 0
        for path in files {
            let cib = try CIB.parse(try Data(contentsOf: URL(fileURLWithPath: path)), source: path)
            let config = cib.configuration
            for r in config.resources.flatMap(\.allResources) {
                switch r {
                case .primitive: kinds.insert("primitive")
                case .group: kinds.insert("group")
                case .clone(let c): kinds.insert(c.isLegacyMaster ? "master" : (c.isPromotable ? "promotable" : "clone"))
                case .bundle: kinds.insert("bundle")
                }
            }
            primitives += config.resources.flatMap(\.primitives).count
            for c in config.constraints { if let k = c.kind { kinds.insert(k.rawValue) } }
            if !config.tags.isEmpty { kinds.insert("tag") }
            if !config.templates.isEmpty { kinds.insert("template") }
            if !config.fencingLevels.isEmpty { kinds.insert("fencing-level") }
            if config.acls != nil { kinds.insert("acls") }
            if !config.alerts.isEmpty { kinds.insert("alert") }
            if !cib.status.tickets.isEmpty { kinds.insert("ticket_state") }
            ops += cib.status.nodeStates.flatMap(\.lrmResources).flatMap(\.operations).count
        }
        for k in ["primitive", "group", "clone", "promotable", "bundle", "rsc_location", "rsc_colocation",
                  "rsc_order", "rsc_ticket", "tag", "template", "fencing-level", "ticket_state"] {
            #expect(kinds.contains(k), "no \(k) seen in the suite")
        }
        #expect(primitives > 1000)
        #expect(ops > 10000)
    }

    /// Random mutations of real CIBs never crash the reader: each is parsed or refused with a
    /// message.
    @Test func mutatedInputsNeverCrashTheReader() throws {
        let files = Shared.conformanceFiles
        guard !files.isEmpty else { return }
        var rng = SeededGenerator(seed: 20261123)
        var parsed = 0
        var refused = 0
        let rounds = 3000
        for _ in 0..<rounds {
            let path = files.randomElement(using: &rng)!
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let edits = Int.random(in: 1...4, using: &rng)
            for _ in 0..<edits where !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...64, using: &rng)))
                case 2: bytes = Array(bytes[..<at])
                case 3: bytes.insert(contentsOf: Array("<\"&]]>".utf8).shuffled(using: &rng), at: at)
                case 4: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 200)], at: at)
                default: bytes[at] = [UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "/"), UInt8(ascii: "\""), 0][Int.random(in: 0..<5, using: &rng)]
                }
            }
            do {
                let cib = try CIB.parse(bytes, source: "mutant")
                _ = CIBRules.check(cib)
                _ = cib.configuration.resources.flatMap(\.allResources).map(\.id)
                parsed += 1
            } catch {
                #expect(!error.message.isEmpty)
                refused += 1
            }
        }
        #expect(parsed + refused == rounds)
        #expect(refused > 0)
    }
}
