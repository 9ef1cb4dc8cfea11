import DurableFile
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras

/// Reading and writing CIB files safely.
///
/// A write goes to a temporary file in the same directory, is flushed to disk (fsync), and is
/// renamed over the old file, so a crash leaves either the old file or the new one, never half
/// of one. A digest file (`NAME.sig`) beside it holds the MD5 digest of the content; a file
/// whose digest does not match is refused with a clear message and never replaced silently.
public enum CIBFile {
    /// Reads and parses a CIB file, checking `path.sig` when it exists.
    public static func load(_ path: String, requireDigest: Bool = false) throws(CIBError) -> CIB {
        try checkReadable(path)
        let cib = try CIB.parse(file: path)
        try verifyDigest(of: cib, at: path, required: requireDigest)
        return cib
    }

    /// Refuses, with a clear error, a path that is missing, a directory or unreadable.
    static func checkReadable(_ path: String) throws(CIBError) {
        var isDir = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CIBError(.io, "\(path): no such file; check the path (or CIB_file)")
        }
        if isDir { throw CIBError(.io, "\(path): is a directory, not a CIB file") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw CIBError(.io, "\(path): cannot be read (check its permissions)")
        }
    }

    /// Reads a file's bytes with a clear error when it is missing or unreadable.
    public static func read(_ path: String) throws(CIBError) -> Data {
        try checkReadable(path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CIBError(.io, "\(path): cannot be read (check its permissions)")
        }
        return data
    }

    static func verifyDigest(of cib: CIB, at path: String, required: Bool) throws(CIBError) {
        let sigPath = path + ".sig"
        guard let sigData = FileManager.default.contents(atPath: sigPath) else {
            if required {
                throw CIBError(.digestMismatch, "\(sigPath) is missing, so \(path) cannot be trusted; restore both from a backup (cib-N.raw and cib-N.raw.sig)")
            }
            return
        }
        let expected = String(decoding: sigData, as: UTF8.self).trimmingSpaces
        let actual = cib.digest
        guard expected == actual else {
            throw CIBError(.digestMismatch, "\(path) does not match its digest in \(sigPath) (expected \(expected), found \(actual)): the file was edited by hand or damaged. It was left as it is; restore it from a backup, or if the edit was deliberate, delete \(sigPath)")
        }
    }

    /// Writes a CIB atomically; with `digest`, writes `path.sig` too (atomically, after it).
    public static func write(_ cib: CIB, to path: String, digest: Bool) throws(CIBError) {
        try atomicWrite(cib.root.xmlBytes(.pretty), to: path)
        if digest {
            try atomicWrite(Array((cib.digest + "\n").utf8), to: path + ".sig")
        } else if FileManager.default.fileExists(atPath: path + ".sig") {
            // A stale digest would make the file look damaged; keep it in step.
            try atomicWrite(Array((cib.digest + "\n").utf8), to: path + ".sig")
        }
    }

    /// temp file + fsync + rename + fsync of the directory.
    public static func atomicWrite(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws(CIBError) {
        do {
            try DurableFile.write(bytes, to: path, mode: mode)
        } catch {
            switch error {
            case .cannotCreateTemporary(let directory, let reason):
                throw CIBError(.io, "\(path): cannot create a temporary file in \(directory): \(reason); check that the directory exists and is writable")
            case .cannotWrite(let reason):
                throw CIBError(.io, "\(path): writing failed (\(reason)); the old file is unchanged")
            case .cannotReplace(let reason):
                throw CIBError(.io, "\(path): cannot replace the file (\(reason)); the old file is unchanged")
            case .exists:
                throw CIBError(.exists, "\(path) exists and was left unchanged")
            }
        }
    }
}

/// A node's CIB directory (`var/lib/pacemaker/cib` under the node root): `cib.xml` with its
/// digest `cib.xml.sig`, and numbered backups `cib-N.raw` (+ `.sig`) of the versions it
/// replaced, the newest number in `cib.last`, at most `maxBackups` of them kept.
public struct CIBStore: Sendable {
    public var directory: String
    public var maxBackups: Int

    public init(directory: String, maxBackups: Int = 100) {
        self.directory = directory
        self.maxBackups = max(1, maxBackups)
    }

    public var cibPath: String { directory + "/cib.xml" }

    /// Loads cib.xml, refusing it when its digest does not match.
    /// Returns nil when there is no CIB yet (a new node).
    public func load() throws(CIBError) -> CIB? {
        guard FileManager.default.fileExists(atPath: cibPath) else { return nil }
        return try CIBFile.load(cibPath, requireDigest: false)
    }

    /// Saves a new CIB: the current one becomes the next numbered backup, then the new one is
    /// written atomically with its digest. Older backups beyond `maxBackups` are removed.
    public func save(_ cib: CIB) throws(CIBError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CIBError(.io, "\(directory): cannot create the CIB directory (\(failureReason(error)))")
        }
        if FileManager.default.fileExists(atPath: cibPath) {
            let n = nextBackupNumber()
            let backup = "\(directory)/cib-\(n).raw"
            // Hard links keep the old file in place until the new one replaces it.
            unlink(backup)
            unlink(backup + ".sig")
            if link(cibPath, backup) != 0 {
                throw CIBError(.io, "\(backup): cannot make the backup (\(String(cString: strerror(errno)))); nothing was written")
            }
            if FileManager.default.fileExists(atPath: cibPath + ".sig") { link(cibPath + ".sig", backup + ".sig") }
            try CIBFile.atomicWrite(Array("\(n)\n".utf8), to: directory + "/cib.last")
            let stale = n - maxBackups
            if stale >= 0 {
                unlink("\(directory)/cib-\(stale).raw")
                unlink("\(directory)/cib-\(stale).raw.sig")
            }
        }
        try CIBFile.write(cib, to: cibPath, digest: true)
    }

    /// The numbers of the backups present, oldest first.
    public func backups() -> [Int] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.compactMap { f -> Int? in
            guard f.hasPrefix("cib-"), f.hasSuffix(".raw") else { return nil }
            return Int(f.dropFirst(4).dropLast(4))
        }.sorted()
    }

    /// Loads a numbered backup, checking its digest.
    public func loadBackup(_ n: Int) throws(CIBError) -> CIB {
        try CIBFile.load("\(directory)/cib-\(n).raw", requireDigest: false)
    }

    private func nextBackupNumber() -> Int {
        let last = FileManager.default.contents(atPath: directory + "/cib.last")
            .flatMap { Int(String(decoding: $0, as: UTF8.self).trimmingSpaces) }
        if let last { return last + 1 }
        return (backups().last ?? -1) + 1
    }
}
