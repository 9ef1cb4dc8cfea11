#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Local IPC between SwiftHA's daemons and tools.
///
/// A daemon serves an API on a Unix stream socket under the node root
/// (`<root>/run/swiftha/NAME.sock`) with an `IPCServer`; tools and other daemons reach it with
/// an `IPCClient`. Every message is one frame: a 4-byte big-endian length and a JSON document.
///
/// Each API is described by a type conforming to `LocalIPCProtocol`, naming its request,
/// reply and event types (usually enums, one case per verb). A client sends requests and awaits
/// their replies (matched by a correlation id, so several may be outstanding); the server can
/// also push events to a connection at any time (for subscriptions).
///
/// Every connection's peer credentials (SO_PEERCRED) are checked against an `AccessPolicy`
/// before anything else is read: root, the daemon's own user and members of `haclient` are
/// let in; anyone else gets a refusal message and is disconnected.
///
/// The wire format, for tools in other languages (scripts/bench-lrmd.py speaks it): each frame
/// is a JSON object `{"kind": K, "id": N, "request"|"reply"|"event": BODY, "message": TEXT}`.
/// The server's first frame is `{"kind":"welcome","message":SERVICE}` or
/// `{"kind":"refused","message":WHY}`; the client sends `request`s with ids of its choosing;
/// the server answers each with a `reply` or a `failure` (with `message`) of the same id, and
/// sends `event`s at any time. Bodies are the Swift types' Codable JSON (an enum case
/// `register(x)` is `{"register":{"_0":x}}`).
///
/// A protocol may also give its hot messages a compact binary body (`writeBinary`): such a
/// frame starts with a 0 byte, then the kind (1 request, 2 reply, 4 event), for a request or
/// reply its id (8 bytes big endian), then the protocol's body. Both ends of a connection
/// accept either form in any frame.
public enum LocalIPC {
    /// The default largest frame: 16 MiB (a full CIB fits).
    public static let defaultMaximumFrameSize = 16 * 1024 * 1024
}

/// Describes one daemon's API: what a client may ask, what it is answered, what it may be told
/// unasked. Define it once (in the library both the daemon and its clients import):
///
///     enum LRMAPI: LocalIPCProtocol {
///         typealias Request = LRMRequest
///         typealias Reply = LRMReply
///         typealias Event = LRMEvent
///         static let name = "lrmd"
///     }
public protocol LocalIPCProtocol: Sendable {
    associatedtype Request: Codable & Sendable
    associatedtype Reply: Codable & Sendable
    associatedtype Event: Codable & Sendable
    /// The service's name, used in log lines and error messages (`lrmd`, `cibd`...).
    static var name: String { get }

    /// A compact binary body for a request, reply or event that travels often (corosyncd's CPG
    /// multicasts and deliveries): writes it and returns true, or returns false to have it sent
    /// as JSON. The defaults send everything as JSON.
    static func writeBinary(request: Request, to buffer: inout ByteBuffer) -> Bool
    static func writeBinary(reply: Reply, to buffer: inout ByteBuffer) -> Bool
    static func writeBinary(event: Event, to buffer: inout ByteBuffer) -> Bool
    /// Reads what the `writeBinary` of the same kind wrote (the whole rest of the buffer);
    /// nil when it is not valid.
    static func readBinaryRequest(_ buffer: inout ByteBuffer) -> Request?
    static func readBinaryReply(_ buffer: inout ByteBuffer) -> Reply?
    static func readBinaryEvent(_ buffer: inout ByteBuffer) -> Event?
}

extension LocalIPCProtocol {
    public static func writeBinary(request: Request, to buffer: inout ByteBuffer) -> Bool { false }
    public static func writeBinary(reply: Reply, to buffer: inout ByteBuffer) -> Bool { false }
    public static func writeBinary(event: Event, to buffer: inout ByteBuffer) -> Bool { false }
    public static func readBinaryRequest(_ buffer: inout ByteBuffer) -> Request? { nil }
    public static func readBinaryReply(_ buffer: inout ByteBuffer) -> Reply? { nil }
    public static func readBinaryEvent(_ buffer: inout ByteBuffer) -> Event? { nil }
}

/// The binary frames' first byte (a JSON frame starts with `{`) and kinds.
enum BinaryFrame {
    static let marker: UInt8 = 0
    static let request: UInt8 = 1
    static let reply: UInt8 = 2
    static let event: UInt8 = 4
}

/// A binary frame whose body the protocol could not read.
struct BinaryFrameError: Error, CustomStringConvertible {
    var description: String
}

/// What travels in one frame.
struct Envelope<P: LocalIPCProtocol>: Codable, Sendable {
    enum Kind: String, Codable, Sendable {
        /// Server to client, first frame: the peer was let in. `message` names the service.
        case welcome
        /// Server to client, first and last frame: the peer was refused; `message` says why.
        case refused
        /// Client to server: `id` and `request`.
        case request
        /// Server to client: the reply to request `id`.
        case reply
        /// Server to client: request `id` failed; `message` says why.
        case failure
        /// Server to client, unasked: `event`.
        case event
    }

    var kind: Kind
    var id: UInt64?
    var request: P.Request?
    var reply: P.Reply?
    var event: P.Event?
    var message: String?

    init(kind: Kind, id: UInt64? = nil, request: P.Request? = nil, reply: P.Reply? = nil, event: P.Event? = nil, message: String? = nil) {
        self.kind = kind
        self.id = id
        self.request = request
        self.reply = reply
        self.event = event
        self.message = message
    }

    func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) throws -> ByteBuffer {
        if let binary = binaryEncoded(allocator: allocator) { return binary }
        let data = try JSONEncoder().encode(self)
        var buffer = allocator.buffer(capacity: data.count)
        buffer.writeBytes(data)
        return buffer
    }

    /// The binary frame, when the protocol has a binary body for this message: marker 0, the
    /// kind (1 request, 2 reply, 4 event), for requests and replies the id (8 bytes, big
    /// endian), then the protocol's body.
    private func binaryEncoded(allocator: ByteBufferAllocator) -> ByteBuffer? {
        var buffer = allocator.buffer(capacity: 64)
        buffer.writeInteger(BinaryFrame.marker)
        switch kind {
        case .request:
            guard let request, let id else { return nil }
            buffer.writeInteger(BinaryFrame.request)
            buffer.writeInteger(id)
            return P.writeBinary(request: request, to: &buffer) ? buffer : nil
        case .reply:
            guard let reply, let id else { return nil }
            buffer.writeInteger(BinaryFrame.reply)
            buffer.writeInteger(id)
            return P.writeBinary(reply: reply, to: &buffer) ? buffer : nil
        case .event:
            guard let event else { return nil }
            buffer.writeInteger(BinaryFrame.event)
            return P.writeBinary(event: event, to: &buffer) ? buffer : nil
        default:
            return nil
        }
    }

    static func decode(_ buffer: ByteBuffer) throws -> Envelope {
        if buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == BinaryFrame.marker {
            return try decodeBinary(buffer)
        }
        return try JSONDecoder().decode(Envelope.self, from: Data(buffer.readableBytesView))
    }

    private static func decodeBinary(_ frame: ByteBuffer) throws -> Envelope {
        var b = frame
        b.moveReaderIndex(forwardBy: 1)
        guard let kind = b.readInteger(as: UInt8.self) else { throw BinaryFrameError(description: "a binary frame without a kind") }
        switch kind {
        case BinaryFrame.request:
            guard let id = b.readInteger(as: UInt64.self) else { throw BinaryFrameError(description: "a binary request without an id") }
            guard let r = P.readBinaryRequest(&b) else { throw BinaryFrameError(description: "binary request \(id) does not decode") }
            return Envelope(kind: .request, id: id, request: r)
        case BinaryFrame.reply:
            guard let id = b.readInteger(as: UInt64.self) else { throw BinaryFrameError(description: "a binary reply without an id") }
            guard let r = P.readBinaryReply(&b) else { throw BinaryFrameError(description: "binary reply \(id) does not decode") }
            return Envelope(kind: .reply, id: id, reply: r)
        case BinaryFrame.event:
            guard let e = P.readBinaryEvent(&b) else { throw BinaryFrameError(description: "a binary event does not decode") }
            return Envelope(kind: .event, event: e)
        default:
            throw BinaryFrameError(description: "a binary frame of unknown kind \(kind)")
        }
    }
}

/// The kind and id of a message, read when its content cannot be.
struct EnvelopeHeader: Decodable {
    var kind: EnvelopeKind
    var id: UInt64?

    enum EnvelopeKind: String, Decodable { case welcome, refused, request, reply, failure, event }

    static func decode(_ buffer: ByteBuffer) throws -> EnvelopeHeader {
        if buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == BinaryFrame.marker {
            var b = buffer
            b.moveReaderIndex(forwardBy: 1)
            guard b.readInteger(as: UInt8.self) == BinaryFrame.request, let id = b.readInteger(as: UInt64.self) else {
                throw BinaryFrameError(description: "not a binary request")
            }
            return EnvelopeHeader(kind: .request, id: id)
        }
        return try JSONDecoder().decode(EnvelopeHeader.self, from: Data(buffer.readableBytesView))
    }
}

/// What can go wrong for a client. Every case names the socket and says what to do.
public enum IPCError: Error, Sendable, CustomStringConvertible {
    /// Nothing accepts connections at the path.
    case cannotConnect(service: String, path: String, reason: String)
    /// The server refused this process (its credentials, or the server is stopping).
    case refused(service: String, path: String, reason: String)
    /// The connection ended before the reply came (the server stopped or crashed, or closed
    /// the connection because of something this client sent).
    case disconnected(service: String, path: String, reason: String)
    /// No reply within the time the caller allowed.
    case timedOut(service: String, path: String, after: Duration)
    /// The server handled the request and reported a failure.
    case remote(service: String, message: String)
    /// A message could not be encoded or decoded (a version mismatch between client and server).
    case badMessage(service: String, reason: String)
    /// The client was closed by its owner.
    case closed(service: String)

    public var description: String {
        switch self {
        case .cannotConnect(let service, let path, let reason):
            return "cannot connect to \(service) at \(path): \(reason); is \(service) running for this node root (--root / SWIFTHA_ROOT)?"
        case .refused(let service, let path, let reason):
            return "\(service) at \(path) refused the connection: \(reason)"
        case .disconnected(let service, let path, let reason):
            return "the connection to \(service) at \(path) ended before a reply came (\(reason)); check that \(service) is still running and its log"
        case .timedOut(let service, let path, let after):
            return "\(service) at \(path) did not reply within \(after); it may be overloaded or hung"
        case .remote(let service, let message):
            return "\(service): \(message)"
        case .badMessage(let service, let reason):
            return "a message to or from \(service) could not be understood (\(reason)); are the client and \(service) from the same SwiftHA version?"
        case .closed(let service):
            return "the connection to \(service) was closed by this program"
        }
    }
}
