import NIOCore

/// Why a frame could not be read or written. The connection that sent it is closed.
public enum IPCFrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The length prefix announces more bytes than the receiver accepts.
    case frameTooLarge(length: Int, maximum: Int)
    /// A frame of length zero (every message has at least a JSON object).
    case emptyFrame
    /// The peer closed the connection in the middle of a frame.
    case truncatedFrame(received: Int, announced: Int)

    public var description: String {
        switch self {
        case .frameTooLarge(let length, let maximum):
            return "frame of \(length) bytes exceeds the maximum of \(maximum) bytes"
        case .emptyFrame:
            return "empty frame (length 0)"
        case .truncatedFrame(let received, let announced):
            return "connection closed after \(received) of \(announced) bytes of a frame"
        }
    }
}

/// Splits a byte stream into frames: each frame is a 4-byte big-endian length followed by that
/// many bytes of payload. A length above `maximumFrameSize` (or zero) is an error before any
/// payload is buffered, so a peer cannot make the receiver allocate an arbitrary amount.
public struct IPCFrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    /// The largest payload accepted, in bytes.
    public let maximumFrameSize: Int

    public init(maximumFrameSize: Int) {
        self.maximumFrameSize = maximumFrameSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard length > 0 else { throw IPCFrameError.emptyFrame }
        guard Int(length) <= maximumFrameSize else {
            throw IPCFrameError.frameTooLarge(length: Int(length), maximum: maximumFrameSize)
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let frame = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes >= 4, let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) {
            let received = buffer.readableBytes - 4
            buffer.moveReaderIndex(to: buffer.writerIndex)
            throw IPCFrameError.truncatedFrame(received: received, announced: Int(length))
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}

/// Prefixes every outbound payload with its 4-byte big-endian length. A payload above
/// `maximumFrameSize` fails the write instead of being sent.
public struct IPCFrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = ByteBuffer

    public let maximumFrameSize: Int

    public init(maximumFrameSize: Int) {
        self.maximumFrameSize = maximumFrameSize
    }

    public func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        guard data.readableBytes > 0 else { throw IPCFrameError.emptyFrame }
        guard data.readableBytes <= maximumFrameSize else {
            throw IPCFrameError.frameTooLarge(length: data.readableBytes, maximum: maximumFrameSize)
        }
        out.writeInteger(UInt32(data.readableBytes))
        out.writeImmutableBuffer(data)
    }
}
