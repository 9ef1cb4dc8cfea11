import Messaging
import NIOCore
import Testing
import TestSupport

func testKey(_ seed: UInt64) -> AuthKey {
    var rng = SeededGenerator(seed: seed)
    return try! AuthKey.generate(size: 256, using: &rng)
}

func buffer(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

func bytes(_ b: ByteBuffer) -> [UInt8] { Array(b.readableBytesView) }

func accepted(_ r: PacketProtection.Opened) -> PacketProtection.Packet? {
    if case .accepted(let p) = r { return p }
    return nil
}

func rejection(_ r: PacketProtection.Opened) -> PacketProtection.Rejection? {
    if case .rejected(let why) = r { return why }
    return nil
}

@Suite struct PacketProtectionTests {
    let key = testKey(1)

    func pair(cluster: String = "c", window: Int = 1024) -> (PacketProtection, PacketProtection) {
        (PacketProtection(mode: .sealed(key), nodeID: 1, incarnation: 100, clusterName: cluster, replayWindowSize: window),
         PacketProtection(mode: .sealed(key), nodeID: 2, incarnation: 200, clusterName: cluster, replayWindowSize: window))
    }

    @Test func roundTripEncryptsAndAuthenticates() {
        let (a, b) = pair()
        for i in 0..<50 {
            let text = "message \(i) " + String(repeating: "x", count: i * 37)
            let wire = a.seal(buffer(text))
            #expect(wire.readableBytes == PacketProtection.headerSize + text.utf8.count + PacketProtection.tagSize)
            // The payload does not appear in clear on the wire.
            #expect(!String(decoding: bytes(wire), as: UTF8.self).contains("message \(i)"))
            let p = accepted(b.open(wire))
            #expect(p?.sender == 1)
            #expect(p?.incarnation == 100)
            #expect(p?.sequence == UInt64(i + 1))
            #expect(p.map { String(buffer: $0.payload) } == text)
        }
        #expect(a.stats.sealed == 50)
        #expect(b.stats.accepted == 50 && b.stats.dropped == 0)
        // An empty payload works too.
        #expect(accepted(b.open(a.seal(ByteBuffer())))?.payload.readableBytes == 0)
    }

    @Test func everySingleByteChangeIsRefused() {
        let (a, b) = pair()
        let wire = bytes(a.seal(buffer("the transition graph for node3")))
        for i in wire.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var bad = wire
                bad[i] ^= flip
                let r = b.open(ByteBuffer(bytes: bad))
                #expect(accepted(r) == nil, "byte \(i) ^ \(flip) was accepted")
            }
        }
        #expect(b.stats.accepted == 0)
        #expect(b.stats[.authenticationFailed] > 0)
        // The untouched packet is still accepted afterwards: forgeries moved no window.
        #expect(accepted(b.open(ByteBuffer(bytes: wire))) != nil)
    }

    @Test func wrongKeyOrOtherClusterFailsAuthentication() {
        let a = PacketProtection(mode: .sealed(key), nodeID: 1, incarnation: 1, clusterName: "c")
        let wrongKey = PacketProtection(mode: .sealed(testKey(2)), nodeID: 2, incarnation: 1, clusterName: "c")
        let otherCluster = PacketProtection(mode: .sealed(key), nodeID: 2, incarnation: 1, clusterName: "d")
        for _ in 0..<10 {
            let wire = a.seal(buffer("hello"))
            #expect(rejection(wrongKey.open(wire)) == .authenticationFailed)
            #expect(rejection(otherCluster.open(wire)) == .authenticationFailed)
        }
        #expect(wrongKey.stats[.authenticationFailed] == 10)
        #expect(wrongKey.stats.dropped == 10 && wrongKey.stats.accepted == 0)
    }

    @Test func replaysAndDuplicatesAreRefused() {
        let (a, b) = pair(window: 64)
        let first = a.seal(buffer("1"))
        #expect(accepted(b.open(first)) != nil)
        #expect(rejection(b.open(first)) == .replayed)
        // Reordering inside the window is fine, each packet once.
        let packets = (2...40).map { a.seal(buffer("\($0)")) }
        for p in packets.reversed() { #expect(accepted(b.open(p)) != nil) }
        for p in packets { #expect(rejection(b.open(p)) == .replayed) }
        // Far ahead: the old ones fall out of the window.
        let late = a.seal(buffer("41"))
        for _ in 42...200 { _ = a.seal(buffer("skip")) }
        #expect(accepted(b.open(a.seal(buffer("201")))) != nil)
        #expect(rejection(b.open(late)) == .tooOld)
        #expect(b.stats[.replayed] == 40)
        #expect(b.stats[.tooOld] == 1)
    }

    @Test func truncatedPacketsAreRefused() {
        let (a, b) = pair()
        let wire = bytes(a.seal(buffer("a payload long enough to cut anywhere")))
        for n in 0..<wire.count {
            let r = b.open(ByteBuffer(bytes: wire.prefix(n)))
            #expect(accepted(r) == nil, "a \(n)-byte prefix was accepted")
            if n < PacketProtection.headerSize + PacketProtection.tagSize {
                #expect(rejection(r) == .truncated)
            }
        }
        #expect(accepted(b.open(ByteBuffer(bytes: wire))) != nil)
    }

    @Test func aRestartedSenderIsAcceptedAndItsOldPacketsAreNot() {
        let a1 = PacketProtection(mode: .sealed(key), nodeID: 1, incarnation: 1000)
        let b = PacketProtection(mode: .sealed(key), nodeID: 2, incarnation: 5)
        let old = a1.seal(buffer("before the crash"))
        let older = a1.seal(buffer("also before"))
        #expect(accepted(b.open(old)) != nil)
        // Node 1 restarts: sequence numbers start again at 1, under a new incarnation and key.
        let a2 = PacketProtection(mode: .sealed(key), nodeID: 1, incarnation: 2000)
        let fresh = a2.seal(buffer("after the restart"))
        #expect(accepted(b.open(fresh))?.sequence == 1)
        #expect(rejection(b.open(older)) == .staleIncarnation)
        #expect(rejection(b.open(fresh)) == .replayed)
    }

    @Test func aForgedNewIncarnationDoesNotLockOutTheRealSender() {
        let (a, b) = pair()
        #expect(accepted(b.open(a.seal(buffer("1")))) != nil)
        // A forged header claims a much newer incarnation; it cannot authenticate...
        var forged = bytes(a.seal(buffer("2")))
        forged[8] = 0xFF
        #expect(rejection(b.open(ByteBuffer(bytes: forged))) == .authenticationFailed)
        // ...so the real sender's next packets still pass.
        #expect(accepted(b.open(a.seal(buffer("3")))) != nil)
    }

    @Test func sendersOutsideTheNodelistAndOurOwnIdAreRefused() {
        let a = PacketProtection(mode: .sealed(key), nodeID: 9, incarnation: 1)
        let b = PacketProtection(mode: .sealed(key), nodeID: 2, incarnation: 1, knownSenders: [1, 2, 3])
        #expect(rejection(b.open(a.seal(buffer("x")))) == .unknownSender)
        let me = PacketProtection(mode: .sealed(key), nodeID: 2, incarnation: 7)
        #expect(rejection(b.open(me.seal(buffer("x")))) == .unknownSender)
    }

    @Test func plaintextModeAndMismatches() {
        let pa = PacketProtection(mode: .plaintext, nodeID: 1, incarnation: 1)
        let pb = PacketProtection(mode: .plaintext, nodeID: 2, incarnation: 1)
        let sb = PacketProtection(mode: .sealed(key), nodeID: 2, incarnation: 1)
        let sa = PacketProtection(mode: .sealed(key), nodeID: 1, incarnation: 1)
        let clear = pa.seal(buffer("in clear"))
        #expect(String(decoding: bytes(clear), as: UTF8.self).hasSuffix("in clear"))
        #expect(accepted(pb.open(clear)).map { String(buffer: $0.payload) } == "in clear")
        // Duplicates are still filtered in plaintext mode.
        #expect(rejection(pb.open(clear)) == .replayed)
        // A node with crypto on refuses clear packets, and the other way round.
        #expect(rejection(sb.open(clear)) == .modeMismatch)
        #expect(rejection(pb.open(sa.seal(buffer("secret")))) == .modeMismatch)
    }

    @Test func randomDatagramsAreNeverAccepted() {
        var rng = SeededGenerator(seed: 42)
        let (a, b) = pair()
        let valid = bytes(a.seal(buffer("seed packet")))
        var tried: UInt64 = 0
        for i in 0..<5000 {
            var d: [UInt8]
            if i % 2 == 0 {
                d = (0..<Int.random(in: 0..<120, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                // Mutations of a valid packet: a few random bytes changed, maybe cut or extended.
                d = valid
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    d[Int.random(in: 0..<d.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                }
                if Bool.random(using: &rng) { d = Array(d.prefix(Int.random(in: 0...d.count, using: &rng))) }
            }
            if d == valid { continue }  // two flips of one byte can cancel out
            tried += 1
            #expect(accepted(b.open(ByteBuffer(bytes: d))) == nil)
        }
        #expect(b.stats.dropped == tried && tried > 4900)
    }

    @Test func replayWindowBookkeeping() {
        var w = ReplayWindow(size: 128)
        #expect(w.check(1) == .fresh)
        w.accept(1)
        w.accept(3)
        #expect(w.check(1) == .duplicate && w.check(2) == .fresh && w.check(3) == .duplicate)
        w.accept(130)
        #expect(w.check(2) == .tooOld)
        #expect(w.check(3) == .duplicate)  // 127 behind: still inside the window
        #expect(w.check(129) == .fresh)
        w.accept(1000)
        #expect(w.highest == 1000)
        #expect(w.check(130) == .tooOld && w.check(999) == .fresh && w.check(1000) == .duplicate)
    }
}
