import Messaging
import NIOCore
import NIOEmbedded
import Testing

@Suite struct PacketProtectionHandlerTests {
    @Test func sealsAndOpensInAPipeline() throws {
        let key = testKey(5)
        let senderHandler = PacketProtectionHandler(PacketProtection(mode: .sealed(key), nodeID: 1, incarnation: 1, clusterName: "c"))
        let receiverHandler = PacketProtectionHandler(PacketProtection(mode: .sealed(key), nodeID: 2, incarnation: 1, clusterName: "c"))
        let sender = EmbeddedChannel(handler: senderHandler)
        let receiver = EmbeddedChannel(handler: receiverHandler)
        let peer = try SocketAddress(ipAddress: "127.0.0.2", port: 5405)
        let me = try SocketAddress(ipAddress: "127.0.0.1", port: 5405)

        var datagrams: [ByteBuffer] = []
        for i in 0..<4 {
            try sender.writeOutbound(AddressedEnvelope(remoteAddress: peer, data: ByteBuffer(string: "hello \(i)")))
            let out = try #require(try sender.readOutbound(as: AddressedEnvelope<ByteBuffer>.self))
            #expect(out.remoteAddress == peer)
            datagrams.append(out.data)
        }
        for d in datagrams.prefix(3) {
            try receiver.writeInbound(AddressedEnvelope(remoteAddress: me, data: d))
        }
        for i in 0..<3 {
            let got = try #require(try receiver.readInbound(as: AddressedEnvelope<PacketProtection.Packet>.self))
            #expect(got.remoteAddress == me)
            #expect(got.data.sender == 1 && got.data.sequence == UInt64(i + 1))
            #expect(String(buffer: got.data.payload) == "hello \(i)")
        }
        // A replayed and a tampered datagram are dropped silently and counted.
        try receiver.writeInbound(AddressedEnvelope(remoteAddress: me, data: datagrams[0]))
        var tampered = datagrams[3]
        tampered.setInteger(tampered.getInteger(at: 30, as: UInt8.self)! ^ 1, at: 30)
        try receiver.writeInbound(AddressedEnvelope(remoteAddress: me, data: tampered))
        #expect(try receiver.readInbound(as: AddressedEnvelope<PacketProtection.Packet>.self) == nil)
        #expect(receiverHandler.stats.accepted == 3)
        #expect(receiverHandler.stats[.replayed] == 1)
        #expect(receiverHandler.stats[.authenticationFailed] == 1)
        #expect(receiverHandler.stats.dropped == 2)
        #expect(senderHandler.stats.sealed == 4)
        #expect(try sender.finish().isClean)
        #expect(try receiver.finish().isClean)
    }
}
