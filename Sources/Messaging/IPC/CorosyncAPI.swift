#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras
import LocalIPC
import NIOCore

/// corosyncd's local API, served on `<root>/run/swiftha/corosyncd.sock` (peer credentials
/// checked: root, corosyncd's user, group haclient). It carries corosync's four client
/// services: closed process groups (CPG), quorum, the runtime key-value store (cmap) and the
/// configuration service (cfg). Use it through ``CorosyncClient``.
public enum CorosyncAPI: LocalIPCProtocol {
    public typealias Request = CorosyncRequest
    public typealias Reply = CorosyncReply
    public typealias Event = CorosyncEvent
    public static let name = "corosyncd"
    /// The socket's file name in the node's socket directory.
    public static let socketName = "corosyncd.sock"

    /// `<root>/run/swiftha/corosyncd.sock`.
    public static func socketPath(root: String) -> String {
        (root.hasSuffix("/") ? root : root + "/") + "run/swiftha/" + socketName
    }

    // The CPG data path travels in binary frames (LocalIPC's marker 0, kind, id), everything
    // else as JSON. Bodies, integers big endian:
    //   request  cpgMulticast  1, group length (1 byte), group (UTF-8), payload (the rest)
    //   reply    done          1
    //   reply    tryAgain      2, queued (4 bytes)
    //   event    cpgDeliver    1, group length (1 byte), group, sender node (4), sender pid (4), payload (the rest)
    enum Tag {
        static let multicast: UInt8 = 1
        static let done: UInt8 = 1
        static let tryAgain: UInt8 = 2
        static let deliver: UInt8 = 1
    }

    public static func writeBinary(request: CorosyncRequest, to buffer: inout ByteBuffer) -> Bool {
        guard case .cpgMulticast(let group, let payload) = request, let g = shortName(group) else { return false }
        buffer.reserveCapacity(minimumWritableBytes: 2 + g.count + payload.count)
        buffer.writeInteger(Tag.multicast)
        buffer.writeInteger(UInt8(g.count))
        buffer.writeBytes(g)
        buffer.writeBytes(payload)
        return true
    }

    public static func readBinaryRequest(_ buffer: inout ByteBuffer) -> CorosyncRequest? {
        guard buffer.readInteger(as: UInt8.self) == Tag.multicast, let group = readName(&buffer) else { return nil }
        return .cpgMulticast(group: group, payload: Data(buffer.readableBytesView))
    }

    public static func writeBinary(reply: CorosyncReply, to buffer: inout ByteBuffer) -> Bool {
        switch reply {
        case .done:
            buffer.writeInteger(Tag.done)
        case .tryAgain(let queued):
            buffer.writeInteger(Tag.tryAgain)
            buffer.writeInteger(UInt32(clamping: queued))
        default:
            return false
        }
        return true
    }

    public static func readBinaryReply(_ buffer: inout ByteBuffer) -> CorosyncReply? {
        switch buffer.readInteger(as: UInt8.self) {
        case Tag.done: return buffer.readableBytes == 0 ? .done : nil
        case Tag.tryAgain: return buffer.readInteger(as: UInt32.self).map { .tryAgain(queued: Int($0)) }
        default: return nil
        }
    }

    public static func writeBinary(event: CorosyncEvent, to buffer: inout ByteBuffer) -> Bool {
        guard case .cpgDeliver(let group, let sender, let payload) = event, let g = shortName(group) else { return false }
        buffer.reserveCapacity(minimumWritableBytes: 10 + g.count + payload.count)
        buffer.writeInteger(Tag.deliver)
        buffer.writeInteger(UInt8(g.count))
        buffer.writeBytes(g)
        buffer.writeInteger(sender.nodeID)
        buffer.writeInteger(sender.pid)
        buffer.writeBytes(payload)
        return true
    }

    public static func readBinaryEvent(_ buffer: inout ByteBuffer) -> CorosyncEvent? {
        guard buffer.readInteger(as: UInt8.self) == Tag.deliver, let group = readName(&buffer),
              let node = buffer.readInteger(as: UInt32.self), let pid = buffer.readInteger(as: UInt32.self) else { return nil }
        return .cpgDeliver(group: group, sender: CPGMember(nodeID: node, pid: pid), payload: Data(buffer.readableBytesView))
    }

    /// A group name that fits the 1-byte length (longer ones go as JSON, and are refused).
    private static func shortName(_ group: String) -> String.UTF8View? {
        let g = group.utf8
        return g.count <= 255 ? g : nil
    }

    private static func readName(_ buffer: inout ByteBuffer) -> String? {
        guard let n = buffer.readInteger(as: UInt8.self) else { return nil }
        return buffer.readString(length: Int(n))
    }
}

/// A member of a closed process group: a process (pid) on a node.
public struct CPGMember: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nodeID: UInt32
    public var pid: UInt32

    public init(nodeID: UInt32, pid: UInt32) {
        self.nodeID = nodeID
        self.pid = pid
    }

    public static func < (a: CPGMember, b: CPGMember) -> Bool { (a.nodeID, a.pid) < (b.nodeID, b.pid) }
    public var description: String { "\(nodeID):\(pid)" }
}

/// Why a member joined or left a group (corosync's CPG_REASON_*).
public enum CPGReason: String, Codable, Sendable {
    /// It asked to join.
    case join
    /// It asked to leave.
    case leave
    /// Its node left the ring (crashed, partitioned or stopped).
    case nodeDown
    /// Its node joined the ring with it already a member.
    case nodeUp
    /// Its process ended (or closed its connection to corosyncd).
    case processDown
}

/// A member joining or leaving, with why.
public struct CPGChange: Codable, Sendable, Equatable {
    public var member: CPGMember
    public var reason: CPGReason

    public init(member: CPGMember, reason: CPGReason) {
        self.member = member
        self.reason = reason
    }
}

/// The quorum state (what `corosync-quorumtool -s` shows).
public struct QuorumState: Codable, Sendable, Equatable {
    /// This node's id.
    public var nodeID: UInt32
    /// Whether this node's partition has quorum.
    public var quorate: Bool
    public var expectedVotes: Int
    public var highestExpected: Int
    public var totalVotes: Int
    /// The votes needed for quorum.
    public var quorum: Int
    /// The members of the ring, with their votes and names, sorted by node id.
    public var members: [Node]
    /// votequorum's flags as quorumtool prints them (Quorate, 2Node, WaitForAll, ...).
    public var flags: [String]
    /// The ring id: its representative and sequence number.
    public var ringRepresentative: UInt32
    public var ringSequence: UInt64
    /// Whether votequorum is the quorum provider (false: no `quorum { provider: corosync_votequorum }`).
    public var providerConfigured: Bool

    /// A ring member as quorum sees it.
    public struct Node: Codable, Sendable, Equatable {
        public var nodeID: UInt32
        public var votes: Int
        public var name: String?

        public init(nodeID: UInt32, votes: Int, name: String?) {
            self.nodeID = nodeID
            self.votes = votes
            self.name = name
        }
    }

    public init(nodeID: UInt32, quorate: Bool, expectedVotes: Int, highestExpected: Int, totalVotes: Int, quorum: Int,
                members: [Node], flags: [String], ringRepresentative: UInt32, ringSequence: UInt64, providerConfigured: Bool) {
        self.nodeID = nodeID
        self.quorate = quorate
        self.expectedVotes = expectedVotes
        self.highestExpected = highestExpected
        self.totalVotes = totalVotes
        self.quorum = quorum
        self.members = members
        self.flags = flags
        self.ringRepresentative = ringRepresentative
        self.ringSequence = ringSequence
        self.providerConfigured = providerConfigured
    }
}

/// A typed cmap value, with corosync's type names (`corosync-cmapctl` prints them).
public enum CMapValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case u8(UInt8)
    case u16(UInt16)
    case u32(UInt32)
    case u64(UInt64)
    case i8(Int8)
    case i16(Int16)
    case i32(Int32)
    case i64(Int64)
    case float(Float)
    case double(Double)
    case string(String)

    /// `u32`, `str`, ...
    public var typeName: String {
        switch self {
        case .u8: "u8"
        case .u16: "u16"
        case .u32: "u32"
        case .u64: "u64"
        case .i8: "i8"
        case .i16: "i16"
        case .i32: "i32"
        case .i64: "i64"
        case .float: "flt"
        case .double: "dbl"
        case .string: "str"
        }
    }

    public var description: String {
        switch self {
        case .u8(let v): "\(v)"
        case .u16(let v): "\(v)"
        case .u32(let v): "\(v)"
        case .u64(let v): "\(v)"
        case .i8(let v): "\(v)"
        case .i16(let v): "\(v)"
        case .i32(let v): "\(v)"
        case .i64(let v): "\(v)"
        case .float(let v): fixedPoint(Double(v), decimals: 6)
        case .double(let v): fixedPoint(v, decimals: 6)
        case .string(let s): s
        }
    }

    /// What `corosync-cmapctl -s KEY TYPE VALUE` means, or the message corosync-cmapctl prints
    /// when TYPE or VALUE is not valid.
    public static func parse(type: String, value: String) -> Result<CMapValue, CMapParseError> {
        func int<T: FixedWidthInteger>(_: T.Type, _ make: (T) -> CMapValue) -> Result<CMapValue, CMapParseError> {
            if let v = T(value) { return .success(make(v)) }
            // corosync's wording differs for the narrow integers.
            return .failure(CMapParseError(message: T.bitWidth <= 16 ? "\(value) is not valid \(type) integer" : "\(value) is not valid \(type) type value"))
        }
        switch type {
        case "u8": return int(UInt8.self, CMapValue.u8)
        case "u16": return int(UInt16.self, CMapValue.u16)
        case "u32": return int(UInt32.self, CMapValue.u32)
        case "u64": return int(UInt64.self, CMapValue.u64)
        case "i8": return int(Int8.self, CMapValue.i8)
        case "i16": return int(Int16.self, CMapValue.i16)
        case "i32": return int(Int32.self, CMapValue.i32)
        case "i64": return int(Int64.self, CMapValue.i64)
        case "flt": return Float(value).map { .success(.float($0)) } ?? .failure(CMapParseError(message: "\(value) is not valid flt type value"))
        case "dbl": return Double(value).map { .success(.double($0)) } ?? .failure(CMapParseError(message: "\(value) is not valid dbl type value"))
        case "str": return .success(.string(value))
        default: return .failure(CMapParseError(message: "Unknown type \(type)"))
        }
    }
}

/// Why a value given to `corosync-cmapctl -s` was refused (corosync's message).
public struct CMapParseError: Error, Sendable, Equatable {
    public var message: String
}

/// One cmap key and its value.
public struct CMapEntry: Codable, Sendable, Equatable {
    public var key: String
    public var value: CMapValue

    public init(key: String, value: CMapValue) {
        self.key = key
        self.value = value
    }

    /// The line `corosync-cmapctl` prints: `totem.token (u32) = 3000`.
    public var line: String { "\(key) (\(value.typeName)) = \(value)" }
}

/// The status of one knet link / totem interface (`corosync-cfgtool -s`).
public struct LinkStatus: Codable, Sendable, Equatable {
    /// The link number (ringX_addr).
    public var link: Int
    /// This node's address on the link.
    public var address: String
    /// Every node of the nodelist with an address on this link, sorted by node id.
    public var nodes: [Peer]

    public struct Peer: Codable, Sendable, Equatable {
        public var nodeID: UInt32
        /// `localhost`, `connected` or `disconnected`.
        public var state: String

        public init(nodeID: UInt32, state: String) {
            self.nodeID = nodeID
            self.state = state
        }
    }

    public init(link: Int, address: String, nodes: [Peer]) {
        self.link = link
        self.address = address
        self.nodes = nodes
    }
}

/// What `corosync-cfgtool -s` shows.
public struct RingStatus: Codable, Sendable, Equatable {
    public var nodeID: UInt32
    /// The configured transport (`knet`, `udpu`, `udp`).
    public var transport: String
    public var links: [LinkStatus]

    public init(nodeID: UInt32, transport: String, links: [LinkStatus]) {
        self.nodeID = nodeID
        self.transport = transport
        self.links = links
    }
}

/// A closed process group and its members (sorted by node, then pid).
public struct CPGGroup: Codable, Sendable, Equatable {
    public var name: String
    public var members: [CPGMember]

    public init(name: String, members: [CPGMember]) {
        self.name = name
        self.members = members
    }
}

/// What a client may ask corosyncd.
public enum CorosyncRequest: Codable, Sendable {
    /// This node's id.
    case localNodeID
    /// CPG: join a group (this connection's process becomes a member once the join is
    /// delivered in the agreed order; its own configuration change event says so).
    case cpgJoin(group: String)
    /// CPG: leave a group.
    case cpgLeave(group: String)
    /// CPG: multicast to a group this connection has joined; delivered to every member (the
    /// sender too) in the agreed order. Answered `tryAgain` while the ring's send queue is full.
    case cpgMulticast(group: String, payload: Data)
    /// CPG: the members of a group, as the agreed order has made them so far.
    case cpgMembers(group: String)
    /// CPG: every group with its members (what corosync-cpgtool lists), sorted by name.
    case cpgGroups
    /// Quorum: the current state.
    case quorumState
    /// Quorum: send `quorumChanged` events, the current state first and then one on every
    /// change (true), or stop (false).
    case quorumTrack(Bool)
    /// cmap: one key (a failure names the key when there is none).
    case cmapGet(key: String)
    /// cmap: every key starting with the prefix ("" for all), sorted.
    case cmapList(prefix: String)
    /// cmap: send `cmapChanged` events for keys starting with the prefix.
    case cmapTrack(prefix: String)
    /// cmap: stop tracking a prefix.
    case cmapUntrack(prefix: String)
    /// cmap: set a key on this node (corosync's cmap is each node's own; trackers are told).
    case cmapSet(key: String, value: CMapValue)
    /// cmap: delete a key (a failure says CS_ERR_NOT_EXIST when there is none).
    case cmapDelete(key: String)
    /// cmap: delete every key starting with the prefix.
    case cmapDeletePrefix(prefix: String)
    /// cfg: the ring's link status.
    case cfgRingStatus
    /// cfg: shut corosyncd down (it leaves the ring cleanly).
    case cfgShutdown
    /// votequorum: set the cluster's expected votes (every member applies it; refused, with
    /// CS_ERR_INVALID_PARAM, when the votes present could not make the new quorum).
    case quorumSetExpectedVotes(Int)
    /// votequorum: set a member's votes (CS_ERR_NAME_NOT_FOUND for a node that is no member).
    case quorumSetVotes(node: UInt32, votes: Int)
    /// cfg: every member reads corosync.conf again.
    case cfgReloadConfig
    /// cfg: the node stops (corosync's kill_node); the reason goes to its log.
    case cfgKillNode(node: UInt32, reason: String)
}

/// corosyncd's answers.
public enum CorosyncReply: Codable, Sendable {
    case done
    case nodeID(UInt32)
    case members([CPGMember])
    case groups([CPGGroup])
    case quorum(QuorumState)
    case cmap([CMapEntry])
    case ringStatus(RingStatus)
    /// Not now: the ring's send queue is full (corosync's CS_ERR_TRY_AGAIN); send again a little
    /// later. ``CorosyncClient`` does so by itself.
    case tryAgain(queued: Int)
}

/// What corosyncd tells a client unasked.
public enum CorosyncEvent: Codable, Sendable {
    /// A group's members changed (corosync's confchg callback). Sent to the group's local
    /// members, the joining process included.
    case cpgConfigurationChange(group: String, members: [CPGMember], joined: [CPGChange], left: [CPGChange])
    /// A message multicast to a group, in the agreed order.
    case cpgDeliver(group: String, sender: CPGMember, payload: Data)
    /// The quorum state changed (to connections that track quorum).
    case quorumChanged(QuorumState)
    /// A tracked cmap key was added or changed (`value` set) or removed (`value` nil).
    case cmapChanged(key: String, value: CMapValue?)
}
