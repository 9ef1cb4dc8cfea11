import CIB
import Foundation
import Testing

@Suite struct StoreTests {
    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "swiftha-store-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func saveLoadWithDigestAndBoundedBackups() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = CIBStore(directory: dir + "/cib", maxBackups: 3)
        #expect(try store.load() == nil)
        var cib = try CIB.parse(sampleCIB)
        for _ in 0..<6 {
            try store.save(cib)
            cib.bumpVersion(for: .configuration)
        }
        let loaded = try store.load()
        #expect(loaded?.version.epoch == 8)
        let sig = try String(contentsOfFile: store.cibPath + ".sig", encoding: .utf8)
        #expect(sig.trimmingCharacters(in: .whitespacesAndNewlines) == loaded?.digest)
        #expect(store.backups() == [2, 3, 4])
        #expect(try store.loadBackup(4).version.epoch == 7)
        // No temporary files are left behind.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/cib")
        #expect(!files.contains { $0.contains(".tmp.") })
    }

    @Test func editedFileIsRefusedAndLeftAlone() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = CIBStore(directory: dir)
        try store.save(try CIB.parse(sampleCIB))
        var text = try String(contentsOfFile: store.cibPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "192.0.2.10", with: "192.0.2.99")
        try text.write(toFile: store.cibPath, atomically: true, encoding: .utf8)
        do {
            _ = try store.load()
            Issue.record("a file that does not match its digest was accepted")
        } catch {
            #expect(error.kind == .digestMismatch)
            #expect(error.message.contains("restore it from a backup"))
        }
        #expect(try String(contentsOfFile: store.cibPath, encoding: .utf8) == text)
    }

    @Test func corruptFileIsRefused() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/cib.xml"
        try "<cib><configuration>".write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try CIBFile.load(path)
            Issue.record("a corrupt file loaded")
        } catch {
            #expect(error.kind == .malformed)
            #expect(error.message.contains(path))
        }
    }

    @Test func writeIntoMissingDirectoryFailsCleanly() throws {
        do {
            try CIBFile.write(try CIB.parse(sampleCIB), to: "/nonexistent-dir-swiftha/cib.xml", digest: true)
            Issue.record("wrote into a missing directory")
        } catch {
            #expect(error.kind == .io)
            #expect(error.message.contains("unchanged") || error.message.contains("directory"))
        }
    }
}
