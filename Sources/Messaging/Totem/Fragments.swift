/// Messages larger than one datagram travel as several ring messages, each one a fragment:
///
/// ```
/// 0x03 (fragment tag) | message id u32 | index u16 | count u16 | bytes
/// ```
///
/// ``TotemNode`` cuts a payload longer than ``TotemTiming/maxFragmentPayload`` into
/// `count` fragments (2 or more) with one message id, and submits them in order; the ring
/// delivers them in the one total order, so a receiver sees a sender's fragments one after the
/// other (possibly interleaved with other senders' messages) and hands the payload on when the
/// last one arrives. A lost fragment is retransmitted by the ring like any message.
///
/// A message is assembled only from fragments of one ring. A fragment that does not continue
/// what its sender started in the same ring (after a configuration change, for a member that
/// joined in the middle, or from a confused sender) is dropped together with the partial
/// message, at every member alike, since all members see the same stream; the sender submits a
/// message that was cut by a configuration change again, whole, in the new ring.
public enum FragmentHeader {
    /// Tag, message id, index and count.
    public static let size = 9
    static let tag: UInt8 = 3

    /// The header of a fragment payload, or nil when `payload` is not a well-formed fragment.
    static func parse(_ payload: [UInt8]) -> (id: UInt32, index: UInt16, count: UInt16)? {
        guard payload.count >= size, payload[payload.startIndex] == tag else { return nil }
        let b = payload.startIndex
        let id = payload[b + 1..<b + 5].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let index = UInt16(payload[b + 5]) << 8 | UInt16(payload[b + 6])
        let count = UInt16(payload[b + 7]) << 8 | UInt16(payload[b + 8])
        return (id, index, count)
    }

    /// Cuts `payload` into fragments of at most `chunk` bytes each (header not counted).
    static func cut(_ payload: [UInt8], id: UInt32, chunk: Int) -> [[UInt8]] {
        let count = (payload.count + chunk - 1) / chunk
        precondition(count >= 2 && count <= Int(UInt16.max), "cut only what needs 2 to 65535 fragments")
        var out: [[UInt8]] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            var f: [UInt8] = [tag]
            withUnsafeBytes(of: id.bigEndian) { f.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt16(i).bigEndian) { f.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt16(count).bigEndian) { f.append(contentsOf: $0) }
            f.append(contentsOf: payload[i * chunk..<min(payload.count, (i + 1) * chunk)])
            out.append(f)
        }
        return out
    }
}

/// Puts fragmented messages back together, one partial message per sender at most, so memory
/// stays below (members x ``maxMessageSize``) whatever arrives.
public struct FragmentAssembler: Sendable {
    public typealias NodeID = UInt32

    /// What adding a fragment gave.
    public enum Outcome: Sendable, Equatable {
        /// The last fragment: here is the whole payload.
        case complete([UInt8])
        /// Kept; more fragments are needed.
        case incomplete
        /// Refused (and any partial message of that sender dropped with it).
        case dropped
    }

    struct Partial: Sendable {
        var id: UInt32
        var ring: TotemRing.RingID
        var count: UInt16
        var next: UInt16
        var bytes: [UInt8]
    }

    /// The largest payload assembled; a message growing past it is dropped.
    public let maxMessageSize: Int
    private var partial: [NodeID: Partial] = [:]
    /// Fragments dropped, with the partial messages they belonged to.
    public private(set) var droppedFragments: UInt64 = 0
    /// Partial messages thrown away (cut by a configuration change, replaced, or too large).
    public private(set) var droppedMessages: UInt64 = 0

    public init(maxMessageSize: Int = TotemNode.maxMessageSize) {
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes held in partial messages.
    public var bufferedBytes: Int { partial.values.reduce(0) { $0 + $1.bytes.count } }
    /// Senders with a partial message.
    public var partialSenders: Int { partial.count }

    /// A fragment payload (tag and header included) delivered by the ring.
    public mutating func add(_ payload: [UInt8], sender: NodeID, ring: TotemRing.RingID) -> Outcome {
        guard let h = FragmentHeader.parse(payload), h.count >= 2, h.index < h.count else {
            return drop(sender)
        }
        let chunk = payload[(payload.startIndex + FragmentHeader.size)...]
        if h.index == 0 {
            if partial[sender] != nil { droppedMessages += 1 }
            guard chunk.count <= maxMessageSize else {
                partial[sender] = nil
                droppedFragments += 1
                droppedMessages += 1
                return .dropped
            }
            partial[sender] = Partial(id: h.id, ring: ring, count: h.count, next: 1, bytes: Array(chunk))
            return .incomplete
        }
        guard var p = partial[sender], p.id == h.id, p.ring == ring, p.count == h.count, p.next == h.index,
              p.bytes.count + chunk.count <= maxMessageSize else {
            return drop(sender)
        }
        partial[sender] = nil  // no copy-on-write of the bytes while appending
        p.bytes.append(contentsOf: chunk)
        p.next += 1
        if p.next == p.count { return .complete(p.bytes) }
        partial[sender] = p
        return .incomplete
    }

    /// A configuration change: partial messages of senders that are gone can never complete.
    public mutating func keepOnly(_ members: Set<NodeID>) {
        for s in partial.keys where !members.contains(s) {
            partial[s] = nil
            droppedMessages += 1
        }
    }

    private mutating func drop(_ sender: NodeID) -> Outcome {
        droppedFragments += 1
        if partial.removeValue(forKey: sender) != nil { droppedMessages += 1 }
        return .dropped
    }
}
