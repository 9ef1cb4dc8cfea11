#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who is on the other end of a Unix socket, as the kernel reports it (SO_PEERCRED), plus
/// the supplementary groups of that process.
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups of the peer process (read from /proc/PID/status).
    public var groups: [UInt32]

    public init(pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// `pid 1234 uid 1000 gid 1000`.
    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }

    /// This process's own credentials.
    public static var current: PeerCredentials {
        var groups = [gid_t](repeating: 0, count: Int(max(getgroups(0, nil), 0)))
        let n = getgroups(Int32(groups.count), &groups)
        return PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid(), groups: Array(groups.prefix(Int(max(n, 0)))))
    }

    /// The supplementary groups of a process, from the `Groups:` line of /proc/PID/status.
    /// Empty when the process is gone or /proc is not readable.
    public static func supplementaryGroups(ofProcess pid: Int32) -> [UInt32] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("Groups:") {
            return line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
        }
        return []
    }
}

/// The kernel's `struct ucred` (Linux), laid out as SO_PEERCRED returns it.
struct KernelPeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// What an `AccessPolicy` decided about a peer, with the reason in words (for the log and, on
/// refusal, for the peer).
public enum AccessDecision: Sendable, Hashable {
    case allowed(String)
    case refused(String)

    public var isAllowed: Bool { if case .allowed = self { true } else { false } }
}

/// Who may talk to a daemon: the users in `allowedUsers` (root and the daemon's own user) and
/// members of `allowedGroup` (`haclient`), whether as primary or supplementary group.
public struct AccessPolicy: Sendable, Hashable {
    public var allowedUsers: Set<UInt32>
    /// The group whose members are let in; nil when no such group exists on this machine.
    public var allowedGroup: UInt32?
    /// The group's name, for messages.
    public var groupName: String
    /// Lets every peer in (for tests of other things; never for a daemon).
    public var allowsEveryone: Bool

    public init(allowedUsers: Set<UInt32>, allowedGroup: UInt32?, groupName: String = "haclient", allowsEveryone: Bool = false) {
        self.allowedUsers = allowedUsers
        self.allowedGroup = allowedGroup
        self.groupName = groupName
        self.allowsEveryone = allowsEveryone
    }

    /// SwiftHA's policy: root, this process's user, and members of `groupName` (looked up in
    /// the group database; when it does not exist only the users are let in).
    public static func standard(groupName: String = "haclient") -> AccessPolicy {
        var gid: UInt32?
        if let entry = getgrnam(groupName) { gid = entry.pointee.gr_gid }
        return AccessPolicy(allowedUsers: [0, getuid()], allowedGroup: gid, groupName: groupName)
    }

    /// Everyone is let in (for tests of other things; never for a daemon).
    public static let everyone = AccessPolicy(allowedUsers: [], allowedGroup: nil, allowsEveryone: true)

    /// The decision for a peer.
    public func decide(_ peer: PeerCredentials) -> AccessDecision {
        if allowsEveryone { return .allowed("every user is allowed by this server's policy") }
        if allowedUsers.contains(peer.uid) {
            return .allowed(peer.uid == 0 ? "uid 0 (root)" : "uid \(peer.uid) is an allowed user")
        }
        if let g = allowedGroup, peer.gid == g || peer.groups.contains(g) {
            return .allowed("uid \(peer.uid) is a member of group \(groupName)")
        }
        return .refused("uid \(peer.uid) (gid \(peer.gid)) is neither root, the daemon's user, nor a member of group \(groupName); add the user to \(groupName) (usermod -aG \(groupName) USER) or run as root")
    }
}

extension Channel {
    /// The peer's credentials of a connected Unix socket, read with SO_PEERCRED on the
    /// channel's event loop, plus its supplementary groups.
    func peerCredentials() -> EventLoopFuture<PeerCredentials> {
        guard let provider = self as? SocketOptionProvider else {
            return eventLoop.makeFailedFuture(IPCServerError.noPeerCredentials("the channel has no socket options"))
        }
        let future: EventLoopFuture<KernelPeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return future.map { c in
            PeerCredentials(pid: c.pid, uid: c.uid, gid: c.gid, groups: PeerCredentials.supplementaryGroups(ofProcess: c.pid))
        }
    }
}
