import Foundation
import Messaging
import Testing
import TestSupport

func fileMode(_ path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? nil
}

@Suite struct AuthKeyTests {
    @Test func writeIsMode0400AndRefusesToOverwrite() throws {
        let dir = scratchDirectory("authkey")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/etc/corosync/authkey"
        let key = try AuthKey.generate()
        #expect(key.bytes.count == 256)
        try key.write(to: path)
        #expect(fileMode(path) == 0o400)
        #expect(try AuthKey.load(path: path) == key)
        #expect(AuthKey.permissionProblem(path: path) == nil)

        let other = try AuthKey.generate()
        #expect(other != key)
        do {
            try other.write(to: path)
            Issue.record("an existing key was replaced without overwrite")
        } catch {
            #expect(error.kind == .exists)
            #expect(error.message.contains("--force"))
        }
        #expect(try AuthKey.load(path: path) == key)
        try other.write(to: path, overwrite: true)
        #expect(try AuthKey.load(path: path) == other)
        #expect(fileMode(path) == 0o400)
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/etc/corosync") == ["authkey"])
    }

    @Test func badKeysAreRefusedWithTheFix() throws {
        let dir = scratchDirectory("authkey-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            _ = try AuthKey.load(path: dir + "/missing")
            Issue.record("a missing key loaded")
        } catch {
            #expect(error.kind == .missing)
            #expect(error.message.contains("corosync-keygen"))
        }
        _ = FileManager.default.createFile(atPath: dir + "/short", contents: Data(repeating: 1, count: 16))
        do {
            _ = try AuthKey.load(path: dir + "/short")
            Issue.record("a 16-byte key loaded")
        } catch {
            #expect(error.kind == .badSize)
            #expect(error.message.hasPrefix(dir + "/short: "))
        }
        _ = FileManager.default.createFile(atPath: dir + "/open", contents: Data(repeating: 1, count: 128),
                                       attributes: [.posixPermissions: 0o644])
        #expect(AuthKey.permissionProblem(path: dir + "/open")?.contains("chmod 0400") == true)
        #expect(throws: AuthKeyError.self) { try AuthKey.generate(size: 64) }
    }
}

/// corosync-keygen, run as a process.
@Suite struct KeygenToolTests {
    @Test func writesTheDefaultKeyUnderTheRoot() throws {
        let root = scratchDirectory("keygen")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Tool.run("corosync-keygen", ["--root", root])
        #expect(r.status == 0, "\(r.stderr)")
        let path = root + "/etc/corosync/authkey"
        #expect(r.stdout.contains("Corosync Cluster Engine Authentication key generator."))
        #expect(r.stdout.contains("Gathering 2048 bits for key"))
        #expect(r.stdout.contains("Writing corosync key to \(path)."))
        #expect(try AuthKey.load(path: path).bytes.count == 256)
        #expect(fileMode(path) == 0o400)

        // A second run keeps the key and says why; --force replaces it.
        let before = try AuthKey.load(path: path)
        let again = try Tool.run("corosync-keygen", ["--root", root])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists") && again.stderr.contains("--force"))
        #expect(try AuthKey.load(path: path) == before)
        let forced = try Tool.run("corosync-keygen", ["--root", root, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try AuthKey.load(path: path) != before)
        #expect(fileMode(path) == 0o400)
    }

    @Test func honoursSwifthaRootKeyFileSizeAndRandomSource() throws {
        let root = scratchDirectory("keygen-env")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let viaEnv = try Tool.run("corosync-keygen", [], env: ["SWIFTHA_ROOT": root])
        #expect(viaEnv.status == 0, "\(viaEnv.stderr)")
        #expect(FileManager.default.fileExists(atPath: root + "/etc/corosync/authkey"))

        let file = root + "/custom/key"
        let sized = try Tool.run("corosync-keygen", ["-k", file, "-s", "1024", "-l"])
        #expect(sized.status == 0, "\(sized.stderr)")
        #expect(try AuthKey.load(path: file).bytes.count == 1024)
        #expect(sized.stdout.contains("Gathering 8192 bits"))

        let zeros = root + "/zeros"
        let fromFile = try Tool.run("corosync-keygen", ["-k", zeros, "-r", "/dev/zero", "-s", "128"])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        #expect(try AuthKey.load(path: zeros).bytes == [UInt8](repeating: 0, count: 128))
    }

    @Test func usageErrors() throws {
        let root = scratchDirectory("keygen-usage")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let small = try Tool.run("corosync-keygen", ["-k", root + "/k", "-s", "64"])
        #expect(small.status == 64)
        #expect(small.stderr.contains("128 to 4096"))
        #expect(!FileManager.default.fileExists(atPath: root + "/k"))
        let badSource = try Tool.run("corosync-keygen", ["-k", root + "/k", "-r", root + "/nothing"])
        #expect(badSource.status == 1)
        #expect(badSource.stderr.contains("cannot open the random source"))
        #expect(!FileManager.default.fileExists(atPath: root + "/k"))
    }
}
