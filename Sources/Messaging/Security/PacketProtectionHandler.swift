import NIOCore

/// The ``PacketProtection`` codec in a NIO pipeline, for a UDP channel: outbound payloads
/// (addressed envelopes) are sealed, inbound datagrams are opened; refused datagrams are dropped
/// and counted in ``stats``, never passed on and never turned into errors.
public final class PacketProtectionHandler: ChannelDuplexHandler {
    public typealias InboundIn = AddressedEnvelope<ByteBuffer>
    public typealias InboundOut = AddressedEnvelope<PacketProtection.Packet>
    public typealias OutboundIn = AddressedEnvelope<ByteBuffer>
    public typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let protection: PacketProtection

    public init(_ protection: PacketProtection) {
        self.protection = protection
    }

    /// What was sealed, accepted and refused so far.
    public var stats: PacketProtection.Stats { protection.stats }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        switch protection.open(envelope.data) {
        case .accepted(let packet):
            context.fireChannelRead(wrapInboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: packet)))
        case .rejected:
            break
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let envelope = unwrapOutboundIn(data)
        let sealed = protection.seal(envelope.data)
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: sealed)), promise: promise)
    }
}
