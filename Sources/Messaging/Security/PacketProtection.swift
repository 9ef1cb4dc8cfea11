import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Seals every outgoing cluster packet and checks every incoming one: the only code between a
/// UDP socket and the protocol.
///
/// A packet is a 24-byte header followed by the payload:
///
/// ```
/// offset  size  field
///      0     2  magic "SH"
///      2     1  version (1)
///      3     1  flags (bit 0: sealed)
///      4     4  sender node id            (big-endian)
///      8     8  sender incarnation        (big-endian; chosen once per process start)
///     16     8  sequence number, from 1   (big-endian)
///     24     n  payload; when sealed, AES-256-GCM ciphertext followed by its 16-byte tag
/// ```
///
/// When sealed, the header is the additional authenticated data, so no field of it can be changed
/// either. Each sender has its own key for each incarnation,
/// `HKDF-SHA256(authkey, salt: "SwiftHA totem v1", info: cluster name | sender | incarnation)`,
/// so the 12-byte GCM nonce can simply be the sequence number and a nonce is never used twice
/// with one key, even across restarts: the incarnation changes with every start (corosyncd
/// passes its ``BootCounter``, kept on disk, so it grows even when the clock is stepped back).
/// Nodes of another cluster with the same key, or with another key, fail authentication.
///
/// This is a class, not a struct, on purpose: the sequence number is the nonce, and a copied
/// value would seal its next packet with a number the original already used. Every holder of a
/// `PacketProtection` shares the one counter. It is not `Sendable`: use one instance from one
/// event loop (the UDP channel's).
///
/// Receiving keeps, per sender, the newest incarnation seen and a sliding window of the last
/// ``replayWindowSize`` sequence numbers: a packet from an older incarnation, a sequence number
/// already accepted or one older than the window is refused. The window only moves for packets
/// that authenticated, so forged packets cannot push real ones out of it.
///
/// Nothing here throws on the hot path: ``open(_:)`` returns an ``Opened`` result, and every
/// refusal is counted in ``stats``.
///
/// With `crypto_cipher: none` and `crypto_hash: none` (``Mode/plaintext``) packets carry the
/// same header but are neither encrypted nor authenticated; the window then only filters
/// duplicates, which is no protection against an attacker.
public final class PacketProtection {
    /// Whether packets are sealed.
    public enum Mode: Sendable, Equatable {
        /// AES-256-GCM with per-sender keys derived from the authkey.
        case sealed(AuthKey)
        /// No encryption, no authentication (crypto_cipher and crypto_hash none).
        case plaintext
    }

    /// Why a packet was refused.
    public enum Rejection: String, Sendable, Equatable, CaseIterable {
        /// Shorter than a header (or than header + tag when sealed).
        case truncated
        /// Wrong magic, unknown version or unknown flags: not one of our packets.
        case malformed
        /// Sealed where plaintext was expected, or the other way round: the nodes' crypto
        /// settings differ.
        case modeMismatch
        /// The sender id is 0, this node's own id, or not in the nodelist.
        case unknownSender
        /// The tag did not verify: wrong key, another cluster, or a changed byte.
        case authenticationFailed
        /// The sequence number was already accepted (a duplicate or a replay).
        case replayed
        /// The sequence number is older than the replay window.
        case tooOld
        /// The packet belongs to an earlier incarnation (start) of the sender.
        case staleIncarnation
    }

    /// An accepted packet.
    public struct Packet: Sendable, Equatable {
        public var sender: UInt32
        public var incarnation: UInt64
        public var sequence: UInt64
        public var payload: ByteBuffer
    }

    /// The outcome of ``open(_:)``.
    public enum Opened: Sendable, Equatable {
        case accepted(Packet)
        case rejected(Rejection)
    }

    /// What this codec has done so far (published through cmap as stats).
    public struct Stats: Sendable, Equatable {
        public var sealed: UInt64 = 0
        public var accepted: UInt64 = 0
        /// Refusals by reason.
        public var rejected: [Rejection: UInt64] = [:]

        /// All refused packets.
        public var dropped: UInt64 { rejected.values.reduce(0, +) }

        public subscript(_ r: Rejection) -> UInt64 { rejected[r] ?? 0 }
    }

    /// The header size in bytes.
    public static let headerSize = 24
    /// The GCM tag size in bytes.
    public static let tagSize = 16
    /// How many sequence numbers back a late packet is still accepted.
    public let replayWindowSize: Int

    static let magic: (UInt8, UInt8) = (0x53, 0x48)  // "SH"
    static let version: UInt8 = 1
    static let flagSealed: UInt8 = 1

    public let mode: Mode
    /// This node's id (the sender field of what it seals).
    public let nodeID: UInt32
    /// This node's incarnation.
    public let incarnation: UInt64
    /// Accept packets only from these senders; nil accepts any non-zero id but our own.
    public var knownSenders: Set<UInt32>?
    public private(set) var stats = Stats()

    private let clusterName: String
    private let rootKey: PacketKey?
    private let sendKey: PacketKey?
    private var nextSequence: UInt64 = 1
    private var peers: [UInt32: Peer] = [:]

    struct Peer: Sendable {
        var incarnation: UInt64
        var key: PacketKey?
        var window: ReplayWindow
    }

    /// - Parameters:
    ///   - mode: sealed with the cluster key, or plaintext.
    ///   - nodeID: this node's nodeid.
    ///   - incarnation: a number that grows at every start of this node; corosyncd passes its
    ///     ``BootCounter``. Two instances sealing with the same node id and incarnation would
    ///     reuse nonces: never create a second one for a running node.
    ///   - clusterName: totem.cluster_name; part of the key derivation.
    ///   - knownSenders: the nodelist's ids, or nil to accept any.
    ///   - replayWindowSize: a multiple of 64; default 1024.
    public init(mode: Mode, nodeID: UInt32, incarnation: UInt64, clusterName: String = "",
                knownSenders: Set<UInt32>? = nil, replayWindowSize: Int = 1024) {
        precondition(replayWindowSize > 0 && replayWindowSize % 64 == 0, "the replay window must be a positive multiple of 64")
        self.mode = mode
        self.nodeID = nodeID
        self.incarnation = incarnation
        self.clusterName = clusterName
        self.knownSenders = knownSenders
        self.replayWindowSize = replayWindowSize
        switch mode {
        case .sealed(let key):
            let root = PacketKey(SymmetricKey(data: key.bytes))
            rootKey = root
            sendKey = Self.deriveKey(root: root, cluster: clusterName, sender: nodeID, incarnation: incarnation)
        case .plaintext:
            rootKey = nil
            sendKey = nil
        }
    }

    /// The key one sender uses in one incarnation.
    static func deriveKey(root: PacketKey, cluster: String, sender: UInt32, incarnation: UInt64) -> PacketKey {
        var info = Array("SwiftHA packet key".utf8)
        info.append(0)
        info.append(contentsOf: cluster.utf8)
        info.append(0)
        withUnsafeBytes(of: sender.bigEndian) { info.append(contentsOf: $0) }
        withUnsafeBytes(of: incarnation.bigEndian) { info.append(contentsOf: $0) }
        return PacketKey(HKDF<SHA256>.deriveKey(inputKeyMaterial: root.key, salt: Array("SwiftHA totem v1".utf8),
                                                info: info, outputByteCount: 32))
    }

    static func nonce(_ sequence: UInt64) -> AES.GCM.Nonce {
        var bytes = [UInt8](repeating: 0, count: 4)
        withUnsafeBytes(of: sequence.bigEndian) { bytes.append(contentsOf: $0) }
        // 12 bytes is always a valid GCM nonce.
        return try! AES.GCM.Nonce(data: bytes)
    }

    /// The sequence number the next sealed packet gets.
    public var sequence: UInt64 { nextSequence }

    /// Wraps `payload` into a packet from this node, with the next sequence number.
    public func seal(_ payload: ByteBuffer) -> ByteBuffer {
        let seq = nextSequence
        nextSequence += 1
        var out = ByteBufferAllocator().buffer(capacity: Self.headerSize + payload.readableBytes + Self.tagSize)
        out.writeInteger(Self.magic.0)
        out.writeInteger(Self.magic.1)
        out.writeInteger(Self.version)
        out.writeInteger(sendKey == nil ? 0 : Self.flagSealed)
        out.writeInteger(nodeID)
        out.writeInteger(incarnation)
        out.writeInteger(seq)
        if let sendKey {
            let header = Array(out.readableBytesView)
            let plain = Array(payload.readableBytesView)
            // Sealing with a 32-byte key and a 12-byte nonce cannot fail.
            let box = try! AES.GCM.seal(plain, using: sendKey.key, nonce: Self.nonce(seq), authenticating: header)
            out.writeBytes(box.ciphertext)
            out.writeBytes(box.tag)
        } else {
            out.writeImmutableBuffer(payload)
        }
        stats.sealed += 1
        return out
    }

    /// Checks a received datagram. Accepted packets come back with their payload (decrypted);
    /// refused ones are counted in ``stats`` and should simply be dropped.
    public func open(_ datagram: ByteBuffer) -> Opened {
        let result = check(datagram)
        switch result {
        case .accepted: stats.accepted += 1
        case .rejected(let r): stats.rejected[r, default: 0] += 1
        }
        return result
    }

    private func check(_ datagram: ByteBuffer) -> Opened {
        var buf = datagram
        guard buf.readableBytes >= Self.headerSize,
              let m0 = buf.readInteger(as: UInt8.self), let m1 = buf.readInteger(as: UInt8.self),
              let version = buf.readInteger(as: UInt8.self), let flags = buf.readInteger(as: UInt8.self),
              let sender = buf.readInteger(as: UInt32.self), let inc = buf.readInteger(as: UInt64.self),
              let seq = buf.readInteger(as: UInt64.self) else {
            return .rejected(.truncated)
        }
        guard m0 == Self.magic.0, m1 == Self.magic.1, version == Self.version, flags & ~Self.flagSealed == 0, seq != 0 else {
            return .rejected(.malformed)
        }
        let sealed = flags & Self.flagSealed != 0
        guard sealed == (rootKey != nil) else { return .rejected(.modeMismatch) }
        if sealed && buf.readableBytes < Self.tagSize { return .rejected(.truncated) }
        guard sender != 0, sender != nodeID, knownSenders?.contains(sender) ?? true else {
            return .rejected(.unknownSender)
        }

        // Cheap checks first; the state only changes once the packet has authenticated.
        var peer = peers[sender]
        let newIncarnation: Bool
        if let p = peer {
            if inc < p.incarnation { return .rejected(.staleIncarnation) }
            newIncarnation = inc > p.incarnation
            if !newIncarnation {
                switch p.window.check(seq) {
                case .fresh: break
                case .duplicate: return .rejected(.replayed)
                case .tooOld: return .rejected(.tooOld)
                }
            }
        } else {
            newIncarnation = true
        }

        var payload: ByteBuffer
        var key: PacketKey? = newIncarnation ? nil : peer?.key
        if sealed, let rootKey {
            if key == nil { key = Self.deriveKey(root: rootKey, cluster: clusterName, sender: sender, incarnation: inc) }
            let header = datagram.getSlice(at: datagram.readerIndex, length: Self.headerSize)!
            let body = Array(buf.readableBytesView)
            let cipherEnd = body.endIndex - Self.tagSize
            guard let box = try? AES.GCM.SealedBox(nonce: Self.nonce(seq), ciphertext: body[body.startIndex..<cipherEnd],
                                                  tag: body[cipherEnd...]),
                  let plain = try? AES.GCM.open(box, using: key!.key, authenticating: Array(header.readableBytesView)) else {
                return .rejected(.authenticationFailed)
            }
            payload = ByteBufferAllocator().buffer(capacity: plain.count)
            payload.writeBytes(plain)
        } else {
            payload = buf
        }

        if newIncarnation || peer == nil {
            peer = Peer(incarnation: inc, key: key, window: ReplayWindow(size: replayWindowSize))
        }
        peer!.window.accept(seq)
        peers[sender] = peer
        return .accepted(Packet(sender: sender, incarnation: inc, sequence: seq, payload: payload))
    }
}

/// A derived key. `SymmetricKey` is an immutable value (its storage is never written after
/// creation), so sharing it between tasks is safe even though swift-crypto 3 does not mark it
/// Sendable.
struct PacketKey: @unchecked Sendable {
    let key: SymmetricKey
    init(_ key: SymmetricKey) { self.key = key }
}

/// A sliding window over sequence numbers (RFC 6479 style): the highest number accepted and a
/// bitmap of which of the `size` numbers below it were accepted.
public struct ReplayWindow: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        case fresh, duplicate, tooOld
    }

    public let size: Int
    /// The highest sequence number accepted so far (0: none).
    public private(set) var highest: UInt64 = 0
    private var bits: [UInt64]

    /// `size` must be a positive multiple of 64.
    public init(size: Int = 1024) {
        precondition(size > 0 && size % 64 == 0)
        self.size = size
        bits = Array(repeating: 0, count: size / 64)
    }

    /// Whether `seq` may be accepted; does not change the window.
    public func check(_ seq: UInt64) -> Verdict {
        if seq > highest { return .fresh }
        if highest - seq >= UInt64(size) { return .tooOld }
        return isSet(seq) ? .duplicate : .fresh
    }

    /// Records `seq` as accepted (call only after ``check(_:)`` said fresh).
    public mutating func accept(_ seq: UInt64) {
        if seq > highest {
            let advance = seq - highest
            if advance >= UInt64(size) {
                for i in bits.indices { bits[i] = 0 }
            } else {
                var s = highest + 1
                while s < seq { clear(s); s += 1 }
            }
            highest = seq
        }
        set(seq)
    }

    private func slot(_ seq: UInt64) -> (Int, UInt64) {
        let bit = Int(seq % UInt64(size))
        return (bit / 64, UInt64(1) << UInt64(bit % 64))
    }

    private func isSet(_ seq: UInt64) -> Bool {
        let (w, m) = slot(seq)
        return bits[w] & m != 0
    }

    private mutating func set(_ seq: UInt64) {
        let (w, m) = slot(seq)
        bits[w] |= m
    }

    private mutating func clear(_ seq: UInt64) {
        let (w, m) = slot(seq)
        bits[w] &= ~m
    }
}
