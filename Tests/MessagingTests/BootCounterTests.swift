import Foundation
import Messaging
import NIOCore
import NIOEmbedded
import Testing
import TestSupport

@Suite struct BootCounterTests {
    @Test func countsStartsDurablyFromOne() throws {
        let dir = scratchDirectory("bootcounter")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + BootCounter.relativePath
        #expect(try PersistentCounter.read(path: path) == nil)
        #expect(try BootCounter.next(path: path) == 1)
        #expect(try BootCounter.next(path: path) == 2)
        #expect(try BootCounter.next(path: path) == 3)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "3\n")
        // No temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/var/lib/corosync") == ["incarnation"])
    }

    /// The floor (corosyncd passes the wall clock) lifts a lost counter above what peers saw;
    /// a clock stepped back below it changes nothing: the counter still grows by one.
    @Test func theFloorOnlyEverRaisesTheCounter() throws {
        let dir = scratchDirectory("bootcounter")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/incarnation"
        #expect(try BootCounter.next(path: path, floor: 1_000) == 1_000)
        #expect(try BootCounter.next(path: path, floor: 2_000) == 2_000)
        // The clock went back an hour: still one more than last time.
        #expect(try BootCounter.next(path: path, floor: 400) == 2_001)
        #expect(try BootCounter.next(path: path, floor: 0) == 2_002)
        // The file is lost: the floor still comes out above every earlier incarnation.
        try FileManager.default.removeItem(atPath: path)
        #expect(try BootCounter.next(path: path, floor: 2_500) == 2_500)
    }

    @Test func aDamagedCounterIsAnErrorThatNamesTheFile() throws {
        let dir = scratchDirectory("bootcounter")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/incarnation"
        try "12abc\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            _ = try BootCounter.next(path: path)
        } throws: { error in
            let message = (error as? PersistentCounterError)?.message ?? ""
            return message.contains(path) && message.contains("12abc") && message.contains("remove the file")
        }
        // The damaged file is left as it was.
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "12abc\n")
    }

    @Test func anUnwritableDirectoryIsAnErrorThatNamesIt() throws {
        let dir = scratchDirectory("bootcounter")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A regular file where the directory should be.
        try "".write(toFile: dir + "/var", atomically: true, encoding: .utf8)
        let path = dir + "/var/lib/corosync/incarnation"
        #expect {
            _ = try BootCounter.next(path: path)
        } throws: { error in
            ((error as? PersistentCounterError)?.message ?? "").contains(dir + "/var/lib/corosync")
        }
    }

    /// The review item: with the incarnation from the wall clock, a clock stepped back made a
    /// restarted node's packets look older than the ones its peers had seen. With the boot
    /// counter, every restart is accepted at once, whatever the clock says.
    @Test func everyRestartIsAcceptedByAPeerThatSawTheEarlierOnes() throws {
        let dir = scratchDirectory("bootcounter")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + BootCounter.relativePath
        let key = testKey(3)
        let peer = PacketProtection(mode: .sealed(key), nodeID: 2, incarnation: 1, clusterName: "c")
        var previous: ByteBuffer?
        for start in 1...5 {
            let node = PacketProtection(mode: .sealed(key), nodeID: 1, incarnation: try BootCounter.next(path: path), clusterName: "c")
            let packet = node.seal(buffer("start \(start)"))
            #expect(accepted(peer.open(packet))?.incarnation == UInt64(start))
            // The previous start's packets are refused from now on.
            if let previous { #expect(rejection(peer.open(previous)) == .staleIncarnation) }
            previous = node.seal(buffer("later"))
        }
        #expect(peer.stats.accepted == 5 && peer.stats[.staleIncarnation] == 4)
    }
}

@Suite struct NonceUniquenessTests {
    /// The GCM nonce is the header's sequence number under a key per (sender, incarnation): the
    /// 16 header bytes from the incarnation on identify it. Sealing through the instance, through
    /// a second reference to it (what used to be a copy of a struct) and through the NIO handler
    /// that holds it, interleaved, must never produce the same nonce twice.
    @Test func noncesNeverRepeatAcrossTheAPI() throws {
        let key = testKey(4)
        let protection = PacketProtection(mode: .sealed(key), nodeID: 1, incarnation: 9, clusterName: "c")
        let alias = protection
        let handler = PacketProtectionHandler(protection)
        let channel = EmbeddedChannel(handler: handler)
        let peerAddress = try SocketAddress(ipAddress: "127.0.0.2", port: 5405)
        let receiver = PacketProtection(mode: .sealed(key), nodeID: 2, incarnation: 1, clusterName: "c")

        var nonces = Set<[UInt8]>()
        let count = 600
        for i in 0..<count {
            let wire: ByteBuffer
            switch i % 3 {
            case 0: wire = protection.seal(buffer("direct \(i)"))
            case 1: wire = alias.seal(buffer("alias \(i)"))
            default:
                try channel.writeOutbound(AddressedEnvelope(remoteAddress: peerAddress, data: buffer("handler \(i)")))
                wire = try #require(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self)).data
            }
            let nonce = try #require(wire.getBytes(at: wire.readerIndex + 8, length: 16))
            #expect(nonces.insert(nonce).inserted, "nonce reused at packet \(i)")
            // Every one of them is fresh to a receiver too (none looks like a replay).
            #expect(accepted(receiver.open(wire)) != nil)
        }
        #expect(nonces.count == count)
        #expect(protection.stats.sealed == UInt64(count) && handler.stats.sealed == UInt64(count))
        #expect(protection.sequence == UInt64(count + 1))
        #expect(try channel.finish().isClean)
    }

    /// Two starts of one node seal sequence number 1 again, but under different incarnations,
    /// hence different keys: the same plaintext gives different ciphertexts.
    @Test func aRestartSealsUnderANewKey() {
        let key = testKey(4)
        let first = PacketProtection(mode: .sealed(key), nodeID: 1, incarnation: 1, clusterName: "c")
        let second = PacketProtection(mode: .sealed(key), nodeID: 1, incarnation: 2, clusterName: "c")
        let a = first.seal(buffer("same words")), b = second.seal(buffer("same words"))
        #expect(a.getInteger(at: 16, as: UInt64.self) == 1 && b.getInteger(at: 16, as: UInt64.self) == 1)
        #expect(bytes(a).dropFirst(PacketProtection.headerSize) != bytes(b).dropFirst(PacketProtection.headerSize))
    }
}
