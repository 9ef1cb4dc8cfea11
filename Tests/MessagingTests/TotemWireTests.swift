import Messaging
import NIOCore
import Testing
import TestSupport

@Suite struct TotemWireTests {
    static func seq(_ rng: inout SeededGenerator) -> UInt64 { UInt64.random(in: 0...TotemWire.maxSequence, using: &rng) }

    static func randomPacket(_ rng: inout SeededGenerator) -> TotemRing.Packet {
        let ring = TotemRing.RingID(seq: seq(&rng), representative: UInt32.random(in: 1...UInt32.max, using: &rng))
        if Bool.random(using: &rng) {
            let payload = (0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return .message(.init(ring: ring, seq: seq(&rng), sender: UInt32.random(in: 1...9, using: &rng), payload: payload))
        }
        let rtr = (0..<Int.random(in: 0..<20, using: &rng)).map { _ in seq(&rng) }
        return .token(.init(ring: ring, tokenSeq: seq(&rng), seq: seq(&rng), aru: seq(&rng),
                            aruID: Bool.random(using: &rng) ? nil : UInt32.random(in: 1...9, using: &rng),
                            rtr: rtr, fcc: Int.random(in: 0...50, using: &rng)))
    }

    @Test func roundTrip() throws {
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<2000 {
            let p = Self.randomPacket(&rng)
            #expect(try TotemWire.decode(TotemWire.encode(p)).get() == p)
        }
    }

    /// A sequence number no ring reaches would overflow the protocol's counters: refused.
    @Test func implausibleSequencesAreRefused() {
        let ring = TotemRing.RingID(seq: UInt64.max, representative: 1)
        let message = TotemRing.Packet.message(.init(ring: ring, seq: 1, sender: 1, payload: []))
        #expect(TotemWire.decode(TotemWire.encode(message)) == .failure(.implausibleSequence))
        let token = TotemRing.Packet.token(.init(ring: .init(seq: 5, representative: 1), tokenSeq: UInt64.max - 1, seq: 3,
                                                 aru: 3, aruID: nil, rtr: [], fcc: 0))
        #expect(TotemWire.decode(TotemWire.encode(token)) == .failure(.implausibleSequence))
    }

    @Test func cutOrPaddedPacketsAreRefused() {
        var rng = SeededGenerator(seed: 12)
        for _ in 0..<100 {
            let bytes = Array(TotemWire.encode(Self.randomPacket(&rng)).readableBytesView)
            for n in 0..<bytes.count {
                if case .success = TotemWire.decode(ByteBuffer(bytes: bytes.prefix(n))) {
                    Issue.record("a \(n)-byte prefix of a \(bytes.count)-byte packet decoded")
                }
            }
            #expect(TotemWire.decode(ByteBuffer(bytes: bytes + [0])) == .failure(.trailingBytes))
        }
        #expect(TotemWire.decode(ByteBuffer()) == .failure(.empty))
        #expect(TotemWire.decode(ByteBuffer(bytes: [9])) == .failure(.unknownType))
        // A huge declared length is refused before any allocation.
        var huge = ByteBuffer(bytes: [1])
        huge.writeBytes([UInt8](repeating: 0, count: 24))
        huge.writeInteger(UInt32.max)
        #expect(TotemWire.decode(huge) == .failure(.tooLarge))
    }

    static func randomNodePacket(_ rng: inout SeededGenerator) -> TotemNode.Packet {
        func ids() -> [UInt32] { (0..<Int.random(in: 0..<9, using: &rng)).map { _ in UInt32.random(in: 1...50, using: &rng) } }
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: return .ring(randomPacket(&rng))
        case 4: return .leave(.init(seq: Self.seq(&rng), representative: 2), from: 7)
        case 1: return .join(.init(sender: 3, ringSeq: Self.seq(&rng), proc: ids(), fail: ids()))
        case 2:
            let entries = ids().map { TotemNode.CommitToken.Entry(node: $0, oldRing: Bool.random(using: &rng) ? nil : .init(seq: 8, representative: $0), oldAru: Self.seq(&rng)) }
            return .commit(.init(ring: .init(seq: Self.seq(&rng), representative: 2), members: ids(), phase: Int.random(in: 1...2, using: &rng), entries: entries))
        default: return .mergeDetect(.init(seq: Self.seq(&rng), representative: 4), from: 9)
        }
    }

    @Test func membershipPacketsRoundTripAndRefuseDamage() throws {
        var rng = SeededGenerator(seed: 14)
        for _ in 0..<500 {
            let p = Self.randomNodePacket(&rng)
            let bytes = Array(TotemWire.encode(node: p).readableBytesView)
            #expect(try TotemWire.decodeNode(ByteBuffer(bytes: bytes)).get() == p)
            for n in 0..<bytes.count {
                if case .success = TotemWire.decodeNode(ByteBuffer(bytes: bytes.prefix(n))) {
                    Issue.record("a \(n)-byte prefix of \(p) decoded")
                }
            }
            #expect(TotemWire.decodeNode(ByteBuffer(bytes: bytes + [7])) == .failure(.trailingBytes))
        }
        for _ in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0..<80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !bytes.isEmpty { bytes[0] = UInt8.random(in: 1...6, using: &rng) }
            _ = TotemWire.decodeNode(ByteBuffer(bytes: bytes))
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SeededGenerator(seed: 13)
        for _ in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0..<80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !bytes.isEmpty { bytes[0] = UInt8.random(in: 1...2, using: &rng) }
            _ = TotemWire.decode(ByteBuffer(bytes: bytes))
        }
    }
}
