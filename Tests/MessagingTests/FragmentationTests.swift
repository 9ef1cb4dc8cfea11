import Messaging
import Testing
import TestSupport

/// Messages larger than the MTU: cut into fragments by ``TotemNode``, carried by the ring like
/// any message (retransmitted when lost), and delivered whole, in the one order.
@Suite struct FragmentationTests {
    static func payload(_ tag: String, size: Int) -> [UInt8] {
        var b = Array(tag.utf8) + [0]
        var x: UInt32 = 2_166_136_261
        for c in tag.utf8 { x = (x ^ UInt32(c)) &* 16_777_619 }
        while b.count < size {
            x = x &* 1_103_515_245 &+ 12345
            b.append(UInt8(truncatingIfNeeded: x >> 16))
        }
        return b
    }

    final class Counter: @unchecked Sendable {
        var fragmentsSent: [UInt64: Int] = [:]
        var dropped = 0
    }

    @Test func theFragmentSizeFollowsNetMTU() {
        var config = TotemConfig()
        // knet without netmtu: packets of up to 64 KB for knet (as corosync), fragmented below it.
        #expect(config.timing(nodeCount: 3).maxFragmentPayload == TotemTiming.knetPacketSize - TotemTiming.fragmentOverhead)
        #expect(TotemTiming.knetPacketSize - 48 <= 65_507, "one UDP datagram")
        config.transport = .udpu
        #expect(config.timing(nodeCount: 3).maxFragmentPayload == 1500 - TotemTiming.fragmentOverhead)
        #expect(config.timing(nodeCount: 3).maxFragmentPayload == 1349)
        config.netMTU = 9000
        #expect(config.timing(nodeCount: 3).maxFragmentPayload == 9000 - TotemTiming.fragmentOverhead)
        // Every datagram of a full fragment fits in the MTU: header, tag, ring message header
        // and, in the worst case, the recovery wrapper.
        let worst = 48 + PacketProtection.headerSize + PacketProtection.tagSize + 29 + 25 + FragmentHeader.size + 1349
        #expect(worst <= 1500)
    }

    @Test func largeMessagesArriveWholeInOneOrderAndALostFragmentIsRetransmitted() {
        var sim = ClusterSimulation(seed: 41, nodeCount: 3, faults: .init())
        sim.run(until: 5_000_000) { $0.converged }
        #expect(sim.converged)
        let counter = Counter()
        // Lose the first copy of every third fragment on its way to node 3.
        sim.dropFilter = { packet, _, to in
            guard case .ring(.message(let m)) = packet, m.payload.first == 3 else { return false }
            guard to == 3 else { return false }
            counter.fragmentsSent[m.seq, default: 0] += 1
            if m.seq % 3 == 0, counter.fragmentsSent[m.seq] == 1 {
                counter.dropped += 1
                return true
            }
            return false
        }
        let sizes = [1349, 1350, 5_000, 20_000, 64_000, 200_000]
        var sent: [[UInt8]] = []
        for (i, size) in sizes.enumerated() {
            let node = UInt32(i % 3 + 1)
            let p = Self.payload("big\(i)", size: size)
            sent.append(p)
            sim.push(.submit(node: node, payload: p), after: Int64(i) * 1_000)
        }
        sim.push(.submit(node: 2, payload: Array("small".utf8)), after: 2_500)
        // (Counting is enough to know when to stop; the contents are checked after.)
        sim.run(until: sim.now + 30_000_000) { s in s.alive.allSatisfy { s.seen[$0]!.count >= sent.count + 1 } }
        for id: UInt32 in 1...3 {
            for p in sent {
                let has = sim.seen[id]!.contains(p)
                #expect(has, "node \(id) lacks the \(p.count)-byte message")
            }
            let small = sim.seen[id]!.contains(Array("small".utf8))
            #expect(small)
        }
        #expect(counter.dropped > 10, "the test must actually lose fragments (saw \(counter.fragmentsSent.count) fragments)")
        // What was lost was sent again (retransmission), and nothing is left half-assembled.
        #expect(counter.fragmentsSent.values.contains { $0 >= 2 })
        for id: UInt32 in 1...3 {
            #expect(sim.nodes[id]!.assembler.partialSenders == 0)
            #expect(sim.nodes[id]!.assembler.droppedFragments == 0)
        }
        // One order everywhere (the simulation checks it at every delivery).
        #expect(sim.violations.isEmpty, "\(sim.violations.prefix(3))")
    }

    @Test func aMessageCutByAConfigurationChangeIsSentAgainWhole() {
        var sim = ClusterSimulation(seed: 42, nodeCount: 3, faults: .init())
        sim.run(until: 5_000_000) { $0.converged }
        var sent: [[UInt8]] = []
        for i in 0..<4 {
            let p = Self.payload("cut\(i)", size: 150_000)
            sent.append(p)
            sim.push(.submit(node: 1, payload: p), after: 0)
        }
        // Node 3 crashes while node 1's fragments are on the ring: some went out, the rest
        // wait for the token, which is lost with node 3.
        sim.run(until: sim.now + 1_500)
        let deliveredBefore = sim.seen[2]!.count
        sim.crash(3)
        sim.run(until: sim.now + 30_000_000) { s in s.converged && [1, 2].allSatisfy { s.seen[$0]!.count >= sent.count } }
        for id: UInt32 in [1, 2] {
            for (i, p) in sent.enumerated() {
                let has = sim.seen[id]!.contains(p)
                #expect(has, "node \(id) lacks message \(i) of the surviving sender")
            }
        }
        #expect(sim.nodes[1]!.members == [1, 2])
        #expect(deliveredBefore < sent.count, "the crash must come while messages are still being sent")
        // The message that was cut was dropped by the receivers' assemblers, then sent again.
        #expect(sim.nodes[2]!.assembler.droppedMessages >= 1)
        #expect(sim.violations.isEmpty, "\(sim.violations.prefix(3))")
    }

    /// Crashes and partitions with large messages: the membership simulation's invariants
    /// (one order, nothing twice or invented, extended virtual synchrony) hold.
    @Test func largeMessagesThroughCrashesAndPartitions() {
        for seed in UInt64(1)...30 {
            var sim = ClusterSimulation(seed: seed &* 7_919, nodeCount: 4, faults: .init(drop: 0.03, duplicate: 0.02, delay: 20...2000))
            var rng = SeededGenerator(seed: seed)
            for k in 0..<12 {
                let node = UInt32.random(in: 1...4, using: &rng)
                let size = [10, 1_349, 1_350, 4_000, 30_000].randomElement(using: &rng)!
                sim.push(.submit(node: node, payload: Self.payload("s\(seed)-\(k)", size: size)), after: Int64.random(in: 0...1_500_000, using: &rng))
            }
            sim.run(until: Int64.random(in: 300_000...900_000, using: &rng))
            let victim = UInt32.random(in: 1...4, using: &rng)
            sim.crash(victim)
            sim.run(until: sim.now + 1_000_000)
            sim.boot(victim)
            sim.faults = .init()
            sim.run(until: sim.now + 20_000_000) { $0.converged }
            #expect(sim.converged, "seed \(seed)")
            #expect(sim.violations.isEmpty, "seed \(seed): \(sim.violations.prefix(3))")
        }
    }

    @Test func aTooLargeMessageIsRefused() {
        var node = TotemNode(nodeID: 1, nodelist: [1, 2], timing: TotemConfig().timing(nodeCount: 2))
        let tooLarge = node.submit([UInt8](repeating: 0, count: TotemNode.maxMessageSize + 1))
        #expect(!tooLarge)
        let largest = node.submit([UInt8](repeating: 0, count: TotemNode.maxMessageSize))
        #expect(largest)
    }
}

/// The assembler alone, fed what a hostile or confused member could put on the ring.
@Suite struct FragmentAssemblerTests {
    let ring = TotemRing.RingID(seq: 8, representative: 1)

    func fragment(id: UInt32, index: UInt16, count: UInt16, bytes: Int) -> [UInt8] {
        var f: [UInt8] = [3]
        withUnsafeBytes(of: id.bigEndian) { f.append(contentsOf: $0) }
        withUnsafeBytes(of: index.bigEndian) { f.append(contentsOf: $0) }
        withUnsafeBytes(of: count.bigEndian) { f.append(contentsOf: $0) }
        return f + [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: bytes)
    }

    @Test func assemblesInOrderAndRefusesWhatDoesNotContinue() {
        var a = FragmentAssembler(maxMessageSize: 10_000)
        #expect(a.add(fragment(id: 1, index: 0, count: 3, bytes: 5), sender: 2, ring: ring) == .incomplete)
        #expect(a.add(fragment(id: 1, index: 1, count: 3, bytes: 5), sender: 2, ring: ring) == .incomplete)
        #expect(a.add(fragment(id: 1, index: 2, count: 3, bytes: 5), sender: 2, ring: ring)
                == .complete([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]))
        // A continuation without its start, from another ring, out of order, or malformed.
        #expect(a.add(fragment(id: 2, index: 1, count: 3, bytes: 5), sender: 2, ring: ring) == .dropped)
        #expect(a.add(fragment(id: 3, index: 0, count: 2, bytes: 5), sender: 2, ring: ring) == .incomplete)
        #expect(a.add(fragment(id: 3, index: 1, count: 2, bytes: 5), sender: 2, ring: .init(seq: 12, representative: 1)) == .dropped)
        #expect(a.partialSenders == 0)
        #expect(a.add(fragment(id: 4, index: 0, count: 3, bytes: 5), sender: 2, ring: ring) == .incomplete)
        #expect(a.add(fragment(id: 4, index: 2, count: 3, bytes: 5), sender: 2, ring: ring) == .dropped)
        #expect(a.add([3, 0, 0], sender: 2, ring: ring) == .dropped)
        #expect(a.add(fragment(id: 5, index: 0, count: 1, bytes: 5), sender: 2, ring: ring) == .dropped)
        #expect(a.add(fragment(id: 5, index: 4, count: 3, bytes: 5), sender: 2, ring: ring) == .dropped)
        // Senders do not disturb each other.
        #expect(a.add(fragment(id: 6, index: 0, count: 2, bytes: 1), sender: 3, ring: ring) == .incomplete)
        #expect(a.add(fragment(id: 9, index: 0, count: 2, bytes: 1), sender: 4, ring: ring) == .incomplete)
        #expect(a.add(fragment(id: 6, index: 1, count: 2, bytes: 1), sender: 3, ring: ring) == .complete([0, 1]))
        // A configuration change without node 4 drops its partial message.
        a.keepOnly([2, 3])
        #expect(a.partialSenders == 0 && a.bufferedBytes == 0)
        #expect(a.droppedFragments == 6)
    }

    /// A member that sends fragments forever (a message that never ends, or ever new ones)
    /// costs at most one message size per sender.
    @Test func aFragmentFloodStaysBoundedInMemory() {
        let limit = 64 * 1024
        var a = FragmentAssembler(maxMessageSize: limit)
        var rng = SeededGenerator(seed: 77)
        var maxBuffered = 0
        var completed = 0
        // An endless message: 65535 announced fragments of 1300 bytes each.
        for i in 0..<2_000 {
            let sender = UInt32(i % 3 + 2)
            let out = a.add(fragment(id: 1, index: UInt16(i / 3), count: .max, bytes: 1300), sender: sender, ring: ring)
            if case .complete = out { completed += 1 }
            maxBuffered = max(maxBuffered, a.bufferedBytes)
        }
        // Random garbage with the fragment tag.
        for _ in 0..<20_000 {
            var f = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !f.isEmpty { f[0] = 3 }
            if case .complete = a.add(f, sender: UInt32.random(in: 2...4, using: &rng), ring: ring) { completed += 1 }
            maxBuffered = max(maxBuffered, a.bufferedBytes)
        }
        #expect(maxBuffered <= 3 * limit)
        #expect(a.partialSenders <= 3)
        #expect(a.droppedMessages >= 3, "the endless messages were dropped when they outgrew the limit")
        #expect(completed <= 20_000)
    }
}
