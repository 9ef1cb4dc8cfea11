import NIOCore

/// The byte layout of totem packets inside a ``PacketProtection`` envelope. All integers are
/// big-endian.
///
/// ```
/// message: 0x01 | ring seq u64 | ring rep u32 | seq u64 | sender u32 | length u32 | payload
/// token:   0x02 | ring seq u64 | ring rep u32 | token seq u64 | seq u64 | aru u64
///               | aru id u32 (0: none) | fcc u32 | rtr count u16 | rtr u64 * count
/// ```
///
/// The membership packets of ``TotemNode`` (``encode(node:)`` and ``decodeNode(_:)``):
///
/// ```
/// ring packet:  one of the two above
/// join:         0x03 | sender u32 | ring seq u64 | proc count u16 | proc u32 * n
///                    | fail count u16 | fail u32 * n
/// commit:       0x04 | ring seq u64 | ring rep u32 | phase u8 | member count u16 | member u32 * n
///                    | entry count u16 | (node u32 | old ring seq u64 | old ring rep u32
///                      (0: none) | old aru u64) * n
/// merge detect: 0x05 | ring seq u64 | ring rep u32 | from u32
/// leave:        0x06 | ring seq u64 | ring rep u32 | from u32
/// ```
///
/// Type 0x07 is the link heartbeat of ``LinkSelector`` (the single byte 0x07), which the
/// daemon consumes before decoding; it is not a totem packet.
///
/// Decoding never throws and never traps: anything that is not exactly one well-formed packet
/// (short, trailing bytes, absurd counts) comes back as a ``DecodeFailure``.
public enum TotemWire {
    /// The largest retransmission list a token may carry.
    public static let maxRetransmitRequests = 1024
    /// The largest payload a message may carry (fragmentation happens above this layer).
    public static let maxPayload = 1 << 20

    /// The largest member or node list a membership packet may carry.
    public static let maxNodes = 1024

    public enum DecodeFailure: String, Sendable, Equatable, Error {
        /// `implausibleSequence`: a ring or message sequence number no real ring reaches
        /// (above 2^62); accepting it would let one packet overflow the protocol's counters.
        case empty, unknownType, truncated, trailingBytes, tooLarge, implausibleSequence
    }

    /// The largest sequence number accepted from the network.
    public static let maxSequence: UInt64 = 1 << 62

    static func plausible(_ values: UInt64...) -> Bool { values.allSatisfy { $0 <= maxSequence } }

    /// Encodes a packet of the membership layer (a ring packet is encoded as by ``encode(_:)``).
    public static func encode(node packet: TotemNode.Packet) -> ByteBuffer {
        switch packet {
        case .ring(let p):
            return encode(p)
        case .join(let j):
            var b = ByteBufferAllocator().buffer(capacity: 32 + 4 * (j.proc.count + j.fail.count))
            b.writeInteger(UInt8(3))
            b.writeInteger(j.sender)
            b.writeInteger(j.ringSeq)
            writeIDs(j.proc, to: &b)
            writeIDs(j.fail, to: &b)
            return b
        case .commit(let c):
            var b = ByteBufferAllocator().buffer(capacity: 32 + 4 * c.members.count + 24 * c.entries.count)
            b.writeInteger(UInt8(4))
            b.writeInteger(c.ring.seq)
            b.writeInteger(c.ring.representative)
            b.writeInteger(UInt8(clamping: c.phase))
            writeIDs(c.members, to: &b)
            let entries = c.entries.prefix(maxNodes)
            b.writeInteger(UInt16(entries.count))
            for e in entries {
                b.writeInteger(e.node)
                b.writeInteger(e.oldRing?.seq ?? 0)
                b.writeInteger(e.oldRing?.representative ?? 0)
                b.writeInteger(e.oldAru)
            }
            return b
        case .mergeDetect(let r, let from), .leave(let r, let from):
            var b = ByteBufferAllocator().buffer(capacity: 17)
            if case .leave = packet { b.writeInteger(UInt8(6)) } else { b.writeInteger(UInt8(5)) }
            b.writeInteger(r.seq)
            b.writeInteger(r.representative)
            b.writeInteger(from)
            return b
        }
    }

    private static func writeIDs(_ ids: [UInt32], to b: inout ByteBuffer) {
        let list = ids.prefix(maxNodes)
        b.writeInteger(UInt16(list.count))
        for id in list { b.writeInteger(id) }
    }

    private static func readIDs(_ b: inout ByteBuffer) -> Result<[UInt32], DecodeFailure> {
        guard let count = b.readInteger(as: UInt16.self) else { return .failure(.truncated) }
        guard Int(count) <= maxNodes else { return .failure(.tooLarge) }
        guard b.readableBytes >= Int(count) * 4 else { return .failure(.truncated) }
        return .success((0..<count).map { _ in b.readInteger(as: UInt32.self)! })
    }

    /// Decodes a packet of the membership layer; ring packets (types 1 and 2) come back wrapped
    /// in ``TotemNode/Packet/ring(_:)``.
    public static func decodeNode(_ buffer: ByteBuffer) -> Result<TotemNode.Packet, DecodeFailure> {
        var b = buffer
        guard let type = b.getInteger(at: b.readerIndex, as: UInt8.self) else { return .failure(.empty) }
        if type == 1 || type == 2 || type == 7 { return decode(buffer).map { .ring($0) } }
        b.moveReaderIndex(forwardBy: 1)
        let packet: TotemNode.Packet
        switch type {
        case 3:
            guard let sender = b.readInteger(as: UInt32.self), let ringSeq = b.readInteger(as: UInt64.self) else {
                return .failure(.truncated)
            }
            let proc: [UInt32], fail: [UInt32]
            switch readIDs(&b) { case .success(let v): proc = v; case .failure(let f): return .failure(f) }
            switch readIDs(&b) { case .success(let v): fail = v; case .failure(let f): return .failure(f) }
            guard plausible(ringSeq) else { return .failure(.implausibleSequence) }
            packet = .join(.init(sender: sender, ringSeq: ringSeq, proc: proc, fail: fail))
        case 4:
            guard let rs = b.readInteger(as: UInt64.self), let rr = b.readInteger(as: UInt32.self),
                  let phase = b.readInteger(as: UInt8.self) else { return .failure(.truncated) }
            let members: [UInt32]
            switch readIDs(&b) { case .success(let v): members = v; case .failure(let f): return .failure(f) }
            guard let count = b.readInteger(as: UInt16.self) else { return .failure(.truncated) }
            guard Int(count) <= maxNodes else { return .failure(.tooLarge) }
            guard b.readableBytes >= Int(count) * 24 else { return .failure(.truncated) }
            var entries: [TotemNode.CommitToken.Entry] = []
            for _ in 0..<count {
                let node = b.readInteger(as: UInt32.self)!, os = b.readInteger(as: UInt64.self)!
                let orep = b.readInteger(as: UInt32.self)!, aru = b.readInteger(as: UInt64.self)!
                guard plausible(os, aru) else { return .failure(.implausibleSequence) }
                entries.append(.init(node: node, oldRing: orep == 0 ? nil : .init(seq: os, representative: orep), oldAru: aru))
            }
            guard plausible(rs) else { return .failure(.implausibleSequence) }
            packet = .commit(.init(ring: .init(seq: rs, representative: rr), members: members, phase: Int(phase), entries: entries))
        case 5, 6:
            guard let rs = b.readInteger(as: UInt64.self), let rr = b.readInteger(as: UInt32.self),
                  let from = b.readInteger(as: UInt32.self) else { return .failure(.truncated) }
            guard plausible(rs) else { return .failure(.implausibleSequence) }
            let ring = TotemRing.RingID(seq: rs, representative: rr)
            packet = type == 5 ? .mergeDetect(ring, from: from) : .leave(ring, from: from)
        default:
            return .failure(.unknownType)
        }
        guard b.readableBytes == 0 else { return .failure(.trailingBytes) }
        return .success(packet)
    }

    public static func encode(_ packet: TotemRing.Packet) -> ByteBuffer {
        var b = ByteBufferAllocator().buffer(capacity: 64)
        switch packet {
        case .message(let m):
            b.reserveCapacity(29 + m.payload.count)
            b.writeInteger(UInt8(1))
            b.writeInteger(m.ring.seq)
            b.writeInteger(m.ring.representative)
            b.writeInteger(m.seq)
            b.writeInteger(m.sender)
            b.writeInteger(UInt32(m.payload.count))
            b.writeBytes(m.payload)
        case .token(let t):
            b.writeInteger(UInt8(2))
            b.writeInteger(t.ring.seq)
            b.writeInteger(t.ring.representative)
            b.writeInteger(t.tokenSeq)
            b.writeInteger(t.seq)
            b.writeInteger(t.aru)
            b.writeInteger(t.aruID ?? 0)
            b.writeInteger(UInt32(clamping: max(0, t.fcc)))
            let rtr = t.rtr.prefix(maxRetransmitRequests)
            b.writeInteger(UInt16(rtr.count))
            for s in rtr { b.writeInteger(s) }
        case .holdCancel(let r, let from):
            b.writeInteger(UInt8(7))
            b.writeInteger(r.seq)
            b.writeInteger(r.representative)
            b.writeInteger(from)
        }
        return b
    }

    public static func decode(_ buffer: ByteBuffer) -> Result<TotemRing.Packet, DecodeFailure> {
        var b = buffer
        guard let type = b.readInteger(as: UInt8.self) else { return .failure(.empty) }
        let packet: TotemRing.Packet
        switch type {
        case 1:
            guard let rs = b.readInteger(as: UInt64.self), let rr = b.readInteger(as: UInt32.self),
                  let seq = b.readInteger(as: UInt64.self), let sender = b.readInteger(as: UInt32.self),
                  let length = b.readInteger(as: UInt32.self) else { return .failure(.truncated) }
            guard Int(length) <= maxPayload else { return .failure(.tooLarge) }
            guard let payload = b.readBytes(length: Int(length)) else { return .failure(.truncated) }
            guard plausible(rs, seq) else { return .failure(.implausibleSequence) }
            packet = .message(.init(ring: .init(seq: rs, representative: rr), seq: seq, sender: sender, payload: payload))
        case 2:
            guard let rs = b.readInteger(as: UInt64.self), let rr = b.readInteger(as: UInt32.self),
                  let tokenSeq = b.readInteger(as: UInt64.self), let seq = b.readInteger(as: UInt64.self),
                  let aru = b.readInteger(as: UInt64.self), let aruID = b.readInteger(as: UInt32.self),
                  let fcc = b.readInteger(as: UInt32.self), let count = b.readInteger(as: UInt16.self)
            else { return .failure(.truncated) }
            guard Int(count) <= maxRetransmitRequests else { return .failure(.tooLarge) }
            guard b.readableBytes >= Int(count) * 8 else { return .failure(.truncated) }
            var rtr: [UInt64] = []
            rtr.reserveCapacity(Int(count))
            for _ in 0..<count { rtr.append(b.readInteger(as: UInt64.self)!) }
            guard plausible(rs, tokenSeq, seq, aru), rtr.allSatisfy({ $0 <= maxSequence }) else {
                return .failure(.implausibleSequence)
            }
            packet = .token(.init(ring: .init(seq: rs, representative: rr), tokenSeq: tokenSeq, seq: seq, aru: aru,
                                  aruID: aruID == 0 ? nil : aruID, rtr: rtr, fcc: Int(fcc)))
        case 7:
            guard let rs = b.readInteger(as: UInt64.self), let rr = b.readInteger(as: UInt32.self),
                  let from = b.readInteger(as: UInt32.self) else { return .failure(.truncated) }
            guard plausible(rs) else { return .failure(.implausibleSequence) }
            packet = .holdCancel(.init(seq: rs, representative: rr), from: from)
        default:
            return .failure(.unknownType)
        }
        guard b.readableBytes == 0 else { return .failure(.trailingBytes) }
        return .success(packet)
    }
}
