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

/// A number kept in a small file and raised durably before it is used: the node's boot counter
/// (the packet incarnation) and its highest ring sequence number survive restarts this way.
///
/// The file holds the number in decimal followed by a newline. It is replaced atomically and
/// flushed (``DurableFile``), so after a crash it holds either the old number or the new one.
public enum PersistentCounter {
    /// The number stored at `path`, or nil when there is no file yet.
    public static func read(path: String) throws(PersistentCounterError) -> UInt64? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PersistentCounterError("\(path): cannot read this file; it must be readable by the user corosyncd runs as (root)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingWhitespace()
        guard let value = UInt64(text) else {
            throw PersistentCounterError("\(path): expected one decimal number, found \(text.isEmpty ? "nothing" : "'\(text.prefix(40))'"); the file is damaged. Stop the cluster's other nodes' corosyncd too, remove the file and start again, so that no peer remembers a higher number")
        }
        return value
    }

    /// Stores `value` at `path` (creating the directories above it), durably.
    public static func write(_ value: UInt64, path: String) throws(PersistentCounterError) {
        let directory = deletingLastPathComponent(path)
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            } catch {
                throw PersistentCounterError("\(directory): cannot create this directory (\(failureReason(error))); create it, writable by root")
            }
        }
        do {
            try DurableFile.write(Array("\(value)\n".utf8), to: path, mode: 0o644)
        } catch {
            throw PersistentCounterError("\(path): cannot write this file (\(error)); check that its directory is writable and the disk is not full")
        }
    }
}

/// The boot counter: how many times corosyncd has started on this node, kept under the node root
/// in `var/lib/corosync/incarnation`.
///
/// Every start takes the next number and stores it durably *before* the first packet is sealed,
/// so the packet incarnation (see ``PacketProtection``) grows with every start, whatever the
/// wall clock does. (An incarnation taken from the clock would lock a node out after the clock
/// was stepped back: its peers refuse packets from an incarnation older than one they saw,
/// until they restart.)
public enum BootCounter {
    /// Where the counter lives, relative to the node root.
    public static let relativePath = "var/lib/corosync/incarnation"

    /// Raises the counter at `path` by one (or to `floor`, when that is higher), stores it
    /// durably and returns it.
    ///
    /// corosyncd passes the wall clock in seconds as the floor. The counter alone already grows
    /// at every start whatever the clock does; the floor only matters when the file was lost (a
    /// reinstalled node): the node then still comes back with an incarnation above the ones its
    /// peers remember, unless its clock is behind as well.
    public static func next(path: String, floor: UInt64 = 1) throws(PersistentCounterError) -> UInt64 {
        let current = try PersistentCounter.read(path: path) ?? 0
        guard current < TotemWireLimits.maxIncarnation else {
            throw PersistentCounterError("\(path): the boot counter has reached its limit (\(current)); it cannot grow any further. Stop every node, remove this file on every node, and start them again")
        }
        let next = max(current + 1, min(floor, TotemWireLimits.maxIncarnation))
        try PersistentCounter.write(next, path: path)
        return next
    }
}

/// Limits on numbers that persist across starts.
enum TotemWireLimits {
    /// The boot counter never goes past this (far beyond any real number of starts).
    static let maxIncarnation: UInt64 = 1 << 62
}

/// A counter file that cannot be read or written: which file, what is wrong, what to do.
public struct PersistentCounterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One line: what is wrong, where, and how to fix it.
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
