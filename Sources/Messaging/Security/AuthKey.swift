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

/// The cluster's shared secret (`/etc/corosync/authkey`): random bytes that every node holds.
/// Packet keys are derived from it with HKDF (see ``PacketProtection``); the bytes themselves
/// never go on the wire.
public struct AuthKey: Sendable, Equatable {
    /// The sizes corosync-keygen accepts (its `-s`), in bytes.
    public static let allowedSizes = 128...4096
    /// corosync-keygen's default size, in bytes.
    public static let defaultSize = 256

    /// The key material.
    public let bytes: [UInt8]

    /// A key from its bytes; `allowedSizes` bytes long.
    public init(bytes: [UInt8]) throws(AuthKeyError) {
        guard Self.allowedSizes.contains(bytes.count) else {
            throw AuthKeyError(.badSize, "an authkey must be \(Self.allowedSizes.lowerBound) to \(Self.allowedSizes.upperBound) bytes, not \(bytes.count); create one with corosync-keygen")
        }
        self.bytes = bytes
    }

    /// A fresh key of `size` bytes from the system's cryptographically secure generator
    /// (`SystemRandomNumberGenerator`, which is getrandom(2) on Linux).
    public static func generate(size: Int = defaultSize) throws(AuthKeyError) -> AuthKey {
        var rng = SystemRandomNumberGenerator()
        return try generate(size: size, using: &rng)
    }

    /// A fresh key drawn from `generator` (tests pass a seeded one; production must not).
    public static func generate(size: Int, using generator: inout some RandomNumberGenerator) throws(AuthKeyError) -> AuthKey {
        guard allowedSizes.contains(size) else {
            throw AuthKeyError(.badSize, "a key size of \(size) bytes is outside \(allowedSizes.lowerBound) to \(allowedSizes.upperBound); pick a size in that range")
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(size)
        while bytes.count < size {
            var word = generator.next()
            withUnsafeBytes(of: &word) { bytes.append(contentsOf: $0.prefix(size - bytes.count)) }
        }
        return try AuthKey(bytes: bytes)
    }

    /// Reads a key file. A missing, unreadable or wrongly sized file is an error that says how to
    /// fix it.
    public static func load(path: String) throws(AuthKeyError) -> AuthKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw AuthKeyError(exists ? .unreadable : .missing, exists
                ? "\(path): cannot read the authkey; it must be readable by the user corosyncd runs as (root)"
                : "\(path): there is no authkey; create it with `corosync-keygen` (or `corosync-keygen -k \(path)`) and copy it to every node, or set crypto_cipher and crypto_hash to none")
        }
        do {
            return try AuthKey(bytes: [UInt8](data))
        } catch {
            throw AuthKeyError(.badSize, "\(path): \(error.message)")
        }
    }

    /// Why a key file's permissions are unsafe (readable or writable by group or others, as
    /// `install --mode=0400` would prevent), or nil when they are fine.
    public static func permissionProblem(path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 != 0 else { return nil }
        return "\(path) has mode \(String(mode, radix: 8)), so other users can read the cluster key; run `chmod 0400 \(path)`"
    }

    /// Writes the key to `path` with mode 0400, atomically: a temporary file in the same
    /// directory is written, flushed (fsync) and then moved into place, so a crash leaves no
    /// half-written key. An existing file is kept (and `.exists` thrown) unless `overwrite`.
    /// Missing parent directories are created (mode 0755), so that a fresh node root works.
    public func write(to path: String, overwrite: Bool = false) throws(AuthKeyError) {
        let dir = deletingLastPathComponent(path)
        let directory = dir.isEmpty ? "." : dir
        if !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            } catch {
                throw AuthKeyError(.io, "\(directory): cannot create the directory for the key (\(Self.errnoText(error))); create it or choose another file with -k FILE")
            }
        }
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw AuthKeyError(.exists, "\(path) already exists and was left unchanged; remove it first or pass --force to replace it (every node must then get the new key)")
        }
        do {
            try DurableFile.write(bytes, to: path, mode: 0o400, replace: overwrite)
        } catch {
            switch error {
            case .exists:
                throw AuthKeyError(.exists, "\(path) already exists and was left unchanged; remove it first or pass --force to replace it")
            case .cannotCreateTemporary(_, let reason):
                throw AuthKeyError(.io, "\(directory): cannot create a temporary file (\(reason)); check that the directory is writable")
            case .cannotWrite(let reason):
                throw AuthKeyError(.io, "\(path): writing the key failed (\(reason)); nothing was changed")
            case .cannotReplace(let reason):
                throw AuthKeyError(.io, "\(path): cannot move the new key into place (\(reason)); nothing was changed")
            }
        }
    }

    private static func errnoText(_ error: any Error) -> String {
        failureReason(error)
    }
}

/// A key that cannot be created, read or used: what, where and how to fix it.
public struct AuthKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The key file does not exist.
        case missing
        /// The key file exists but cannot be read.
        case unreadable
        /// The key is shorter or longer than allowed.
        case badSize
        /// The target exists and overwriting was not asked for.
        case exists
        /// Writing failed.
        case io
    }

    public var kind: Kind
    /// One line: what is wrong, where, and what to do about it.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
