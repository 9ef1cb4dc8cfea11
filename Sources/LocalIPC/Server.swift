#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EssentialsExtras
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a server could not start.
public enum IPCServerError: Error, Sendable, CustomStringConvertible {
    /// Another process is accepting connections on the socket.
    case alreadyServing(service: String, path: String)
    /// Something that is not a socket is in the way.
    case notASocket(path: String)
    /// The socket's directory could not be made.
    case directory(path: String, reason: String)
    /// Binding the socket failed.
    case bind(path: String, reason: String)
    /// The server was stopped and cannot be started again.
    case stopped(service: String)
    /// The kernel did not tell who the peer is.
    case noPeerCredentials(String)

    public var description: String {
        switch self {
        case .alreadyServing(let service, let path):
            return "another \(service) is already serving \(path): stop it first (only one \(service) may run per node root)"
        case .notASocket(let path):
            return "\(path) exists and is not a socket: move it away; it is not removed automatically"
        case .directory(let path, let reason):
            return "cannot create the socket directory \(path): \(reason); check the node root (--root / SWIFTHA_ROOT)"
        case .bind(let path, let reason):
            return "cannot listen on \(path): \(reason)"
        case .stopped(let service):
            return "the \(service) IPC server was stopped and cannot be started again"
        case .noPeerCredentials(let why):
            return "cannot read the peer's credentials: \(why)"
        }
    }
}

/// One client connection as the server's request handler sees it: who the peer is, and a way
/// to push events to it (for subscriptions) and to learn when it goes away.
public final class IPCConnection<P: LocalIPCProtocol>: Sendable, Hashable, CustomStringConvertible {
    /// Unique among this server's connections.
    public let id: UInt64
    /// The peer's credentials, checked when it connected.
    public let peer: PeerCredentials
    let channel: Channel
    private let maximumFrameSize: Int
    private let maximumPendingBytes: Int
    private let logger: Logger
    private let closeHandlers = Mutex<[@Sendable () -> Void]?>([])
    private let pendingBytes = Atomic<Int>(0)

    init(id: UInt64, peer: PeerCredentials, channel: Channel, maximumFrameSize: Int, maximumPendingBytes: Int, logger: Logger) {
        self.id = id
        self.peer = peer
        self.channel = channel
        self.maximumFrameSize = maximumFrameSize
        self.maximumPendingBytes = maximumPendingBytes
        self.logger = logger
    }

    /// Bytes handed to the socket but not yet written (the client has not read them).
    public var unsentBytes: Int { pendingBytes.load(ordering: .relaxed) }

    /// `connection 3 (pid 1234 uid 0 gid 0)`.
    public var description: String { "connection \(id) (\(peer))" }

    /// True until the connection has closed.
    public var isOpen: Bool { closeHandlers.withLock { $0 != nil } }

    /// Sends an event to this client. Returns false (and logs why) when the connection is closed
    /// or the event is too large to send; never blocks.
    @discardableResult
    public func push(_ event: P.Event) -> Bool {
        guard isOpen, channel.isActive else { return false }
        return send(Envelope<P>(kind: .event, event: event))
    }

    /// Like `push`, but leaves the event in the connection's write buffer until `flush()`:
    /// a burst of events goes out in one system call. Call `flush()` after the burst.
    @discardableResult
    public func pushWithoutFlush(_ event: P.Event) -> Bool {
        guard isOpen, channel.isActive else { return false }
        return send(Envelope<P>(kind: .event, event: event), flush: false)
    }

    /// Sends what `pushWithoutFlush` left in the write buffer.
    public func flush() {
        channel.flush()
    }

    /// Runs `body` once when the connection closes (at once when it already has). Use it to
    /// drop the connection's subscriptions.
    public func onClose(_ body: @escaping @Sendable () -> Void) {
        let runNow = closeHandlers.withLock { handlers -> Bool in
            guard handlers != nil else { return true }
            handlers!.append(body)
            return false
        }
        if runNow { body() }
    }

    /// Closes the connection from the server side.
    public func close() {
        channel.close(promise: nil)
    }

    @discardableResult
    func send(_ envelope: Envelope<P>, flush: Bool = true) -> Bool {
        let buffer: ByteBuffer
        do {
            buffer = try envelope.encoded(allocator: channel.allocator)
        } catch {
            logger.error("\(P.name): cannot encode a \(envelope.kind.rawValue) for \(self): \(error)")
            return false
        }
        guard buffer.readableBytes <= maximumFrameSize else {
            logger.error("\(P.name): a \(envelope.kind.rawValue) of \(buffer.readableBytes) bytes for \(self) exceeds the frame limit of \(maximumFrameSize) bytes; not sent")
            if envelope.kind == .reply, let id = envelope.id {
                return send(Envelope<P>(kind: .failure, id: id, message: "the reply is larger than the frame limit (\(buffer.readableBytes) > \(maximumFrameSize) bytes)"))
            }
            return false
        }
        let size = buffer.readableBytes
        let pending = pendingBytes.add(size, ordering: .relaxed).newValue
        if pending > maximumPendingBytes {
            pendingBytes.subtract(size, ordering: .relaxed)
            logger.warning("\(P.name): closing \(self): \(pending - size) bytes are waiting to be sent and the client is not reading them (limit \(maximumPendingBytes) bytes)")
            close()
            return false
        }
        let written = flush ? channel.writeAndFlush(buffer) : channel.write(buffer)
        written.whenComplete { [self] _ in
            pendingBytes.subtract(size, ordering: .relaxed)
        }
        return true
    }

    func finish() {
        let handlers = closeHandlers.withLock { h -> [@Sendable () -> Void] in
            let out = h ?? []
            h = nil
            return out
        }
        for h in handlers { h() }
    }

    public static func == (a: IPCConnection, b: IPCConnection) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// A daemon's IPC endpoint: listens on a Unix stream socket, checks each peer's credentials,
/// and answers requests with `handler`.
///
/// - The socket's directory is created (mode 0750, group `haclient` when it exists); the socket
///   is mode 0660. A stale socket left by a crashed daemon is replaced; a live one (another
///   daemon answering) or a file that is not a socket is an error.
/// - Requests of one connection are handled one at a time, in the order sent, so a client's
///   `register` is done before its `execute`; use several connections for parallel requests.
/// - A frame above `maximumFrameSize`, a zero-length frame or a message that does not decode
///   closes that connection with a logged reason; the server goes on.
/// - `stop()` closes the listener and every connection (clients get `IPCError.disconnected`
///   for requests in flight) and removes the socket file.
///
///     let server = IPCServer<LRMAPI>(path: env.socketDirectory + "/lrmd.sock", logger: logger) { request, connection in
///         try await daemon.handle(request, from: connection)
///     }
///     try await server.start()
///     ...
///     await server.stop()
public final class IPCServer<P: LocalIPCProtocol>: Sendable {
    /// Answers one request. A thrown error becomes a failure reply carrying its description.
    public typealias Handler = @Sendable (P.Request, IPCConnection<P>) async throws -> P.Reply
    /// Answers one request synchronously on the connection's event loop (no task, no thread
    /// hop): for a daemon whose state lives on the same event loop as the server's
    /// connections (`group` with one thread). A thrown error becomes a failure reply.
    public typealias InlineHandler = @Sendable (P.Request, IPCConnection<P>) throws -> P.Reply

    /// The socket's path.
    public let path: String
    public let policy: AccessPolicy
    public let maximumFrameSize: Int
    /// How many requests of one connection are handled at once (1: one at a time, in order).
    public let requestConcurrency: Int
    /// How many bytes may wait to be sent to one client before it is disconnected as not
    /// reading (so a stuck client cannot make the daemon's memory grow without bound).
    public let maximumPendingBytes: Int
    private let logger: Logger
    private let group: any EventLoopGroup
    private let handler: Handler
    private let inlineHandler: InlineHandler?
    private let state = Mutex(State())

    private struct State: Sendable {
        var phase: Phase = .idle
        var listener: Channel?
        var acceptLoop: Task<Void, Never>?
        var connections: [UInt64: IPCConnection<P>] = [:]
        var nextConnection: UInt64 = 1
        /// The socket file's inode, so that only our own socket is removed.
        var socketInode: UInt64?
        enum Phase: Sendable { case idle, starting, serving, stopped }
    }

    private struct Accepted: Sendable {
        var peer: PeerCredentials?
        var channel: NIOAsyncChannel<ByteBuffer, Never>
        var inline: InlineRequests<P>?
    }

    /// - Parameters:
    ///   - path: the socket's path (`<root>/run/swiftha/NAME.sock`).
    ///   - policy: who may connect (`AccessPolicy.standard()`: root, this user, haclient).
    ///   - maximumFrameSize: the largest message accepted or sent, in bytes.
    ///   - requestConcurrency: requests of one connection handled at once; 1 (the default)
    ///     handles them one at a time in the order sent.
    ///   - maximumPendingBytes: unsent bytes allowed per connection before it is closed.
    ///   - handler: answers each request; a thrown error becomes a failure reply.
    public init(path: String, policy: AccessPolicy = .standard(), maximumFrameSize: Int = LocalIPC.defaultMaximumFrameSize,
                requestConcurrency: Int = 1, maximumPendingBytes: Int = 64 * 1024 * 1024,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "swiftha.ipc"), handler: @escaping Handler) {
        self.path = path
        self.policy = policy
        self.maximumFrameSize = maximumFrameSize
        self.requestConcurrency = max(1, requestConcurrency)
        self.maximumPendingBytes = max(maximumFrameSize, maximumPendingBytes)
        self.group = group
        self.logger = logger
        self.handler = handler
        self.inlineHandler = nil
    }

    /// A server whose requests are answered by `inlineHandler` on the event loop of the
    /// connection that sent them, in the order sent; replies and events of one event-loop
    /// turn leave in one write. Otherwise as the other initializer.
    public init(path: String, policy: AccessPolicy = .standard(), maximumFrameSize: Int = LocalIPC.defaultMaximumFrameSize,
                maximumPendingBytes: Int = 64 * 1024 * 1024,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "swiftha.ipc"), inlineHandler: @escaping InlineHandler) {
        self.path = path
        self.policy = policy
        self.maximumFrameSize = maximumFrameSize
        self.requestConcurrency = 1
        self.maximumPendingBytes = max(maximumFrameSize, maximumPendingBytes)
        self.group = group
        self.logger = logger
        self.handler = { request, connection in try inlineHandler(request, connection) }
        self.inlineHandler = inlineHandler
    }

    /// The open connections.
    public var connections: [IPCConnection<P>] {
        state.withLock { $0.connections.values.sorted { $0.id < $1.id } }
    }

    /// Pushes an event to every open connection (or those `where` selects).
    public func broadcast(_ event: P.Event, where include: (IPCConnection<P>) -> Bool = { _ in true }) {
        for c in connections where include(c) { c.push(event) }
    }

    /// Binds the socket and starts accepting connections; returns once the socket accepts.
    public func start() async throws {
        try state.withLock { s throws(IPCServerError) in
            guard s.phase == .idle else { throw IPCServerError.stopped(service: P.name) }
            s.phase = .starting
        }
        do {
            try await prepareSocketPath()
        } catch {
            state.withLock { $0.phase = .idle }
            throw error
        }
        let maximumFrameSize = self.maximumFrameSize
        let inlineHandler = self.inlineHandler
        let logger = self.logger
        let listener: NIOAsyncChannel<Accepted, Never>
        do {
            listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 128)
                .bind(unixDomainSocketPath: path) { channel in
                    channel.peerCredentials().map { Optional($0) }.recover { _ in nil }.flatMapThrowing { peer in
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(IPCFrameDecoder(maximumFrameSize: maximumFrameSize)))
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(IPCFrameEncoder(maximumFrameSize: maximumFrameSize)))
                        var inline: InlineRequests<P>?
                        if let inlineHandler {
                            let h = InlineRequests<P>(handler: inlineHandler, logger: logger)
                            try channel.pipeline.syncOperations.addHandler(h)
                            inline = h
                        }
                        let async = try NIOAsyncChannel<ByteBuffer, Never>(wrappingChannelSynchronously: channel)
                        return Accepted(peer: peer, channel: async, inline: inline)
                    }
                }
        } catch {
            state.withLock { $0.phase = .idle }
            throw IPCServerError.bind(path: path, reason: "\(error)")
        }
        restrictSocketFile()
        let loop = Task { await self.acceptLoop(listener) }
        let stopNow = state.withLock { s -> Bool in
            s.listener = listener.channel
            s.acceptLoop = loop
            s.socketInode = Self.inode(of: path)
            if s.phase == .stopped { return true }
            s.phase = .serving
            return false
        }
        if stopNow {
            // stop() was called while binding.
            await stop()
            throw IPCServerError.stopped(service: P.name)
        }
        logger.info("\(P.name): serving \(path)")
    }

    /// Stops accepting, closes every connection, waits for their handlers (which are cancelled),
    /// and removes the socket file (when it is still the one this server made). Safe to call
    /// more than once; do not await it from inside a request handler (it waits for that
    /// handler): start it in a new task there instead.
    public func stop() async {
        let loop = beginStopping()
        await loop?.value
        let inode = state.withLock { s -> UInt64? in
            let i = s.socketInode
            s.socketInode = nil
            s.listener = nil
            s.acceptLoop = nil
            return i
        }
        if let inode, Self.inode(of: path) == inode {
            unlink(path)
        }
    }

    /// Starts the server and serves until the calling task is cancelled (or `stop()` is
    /// called), then stops it: the shape of a swift-service-lifecycle `Service.run()`.
    public func run() async throws {
        try await start()
        let loop = state.withLock { $0.acceptLoop }
        await withTaskCancellationHandler {
            await loop?.value
        } onCancel: {
            _ = beginStopping()
        }
        await stop()
    }

    /// Closes the listener and every connection and cancels the accept loop; returns the loop
    /// to wait for.
    private func beginStopping() -> Task<Void, Never>? {
        let (listener, loop, conns) = state.withLock { s in
            s.phase = .stopped
            return (s.listener, s.acceptLoop, Array(s.connections.values))
        }
        listener?.close(promise: nil)
        for c in conns { c.close() }
        loop?.cancel()
        return loop
    }

    // MARK: - Serving

    private func acceptLoop(_ listener: NIOAsyncChannel<Accepted, Never>) async {
        await withDiscardingTaskGroup { group in
            do {
                try await listener.executeThenClose { inbound in
                    for try await accepted in inbound {
                        group.addTask { await self.serve(accepted) }
                    }
                }
            } catch {
                if state.withLock({ $0.phase }) != .stopped {
                    logger.error("\(P.name): no longer accepting connections on \(path): \(error)")
                }
            }
        }
    }

    private func serve(_ accepted: Accepted) async {
        let channel = accepted.channel.channel
        guard let peer = accepted.peer else {
            logger.warning("\(P.name): refused a connection on \(path): its peer credentials could not be read")
            let conn = IPCConnection<P>(id: 0, peer: PeerCredentials(pid: 0, uid: .max, gid: .max), channel: channel,
                                        maximumFrameSize: maximumFrameSize, maximumPendingBytes: maximumPendingBytes, logger: logger)
            conn.send(Envelope(kind: .refused, message: "the server could not read this process's credentials"))
            try? await accepted.channel.executeThenClose { _ in }
            return
        }
        let connection: IPCConnection<P>? = state.withLock { s in
            guard s.phase != .stopped else { return nil }
            let c = IPCConnection<P>(id: s.nextConnection, peer: peer, channel: channel,
                                     maximumFrameSize: maximumFrameSize, maximumPendingBytes: maximumPendingBytes, logger: logger)
            s.nextConnection += 1
            s.connections[c.id] = c
            return c
        }
        guard let connection else {
            let c = IPCConnection<P>(id: 0, peer: peer, channel: channel, maximumFrameSize: maximumFrameSize, maximumPendingBytes: maximumPendingBytes, logger: logger)
            c.send(Envelope(kind: .refused, message: "\(P.name) is shutting down"))
            try? await accepted.channel.executeThenClose { _ in }
            return
        }
        defer {
            state.withLock { _ = $0.connections.removeValue(forKey: connection.id) }
            connection.finish()
        }

        switch policy.decide(peer) {
        case .refused(let why):
            logger.warning("\(P.name): refused \(connection) on \(path): \(why)")
            connection.send(Envelope(kind: .refused, message: why))
            try? await accepted.channel.executeThenClose { _ in }
            return
        case .allowed(let why):
            logger.debug("\(P.name): accepted \(connection): \(why)")
        }
        if let inline = accepted.inline {
            // From the welcome on, requests are answered on the event loop as they arrive
            // (the client sends none before the welcome).
            do {
                try await channel.eventLoop.submit {
                    inline.connection = connection
                    connection.send(Envelope(kind: .welcome, message: P.name))
                }.get()
            } catch {
                return
            }
        } else {
            connection.send(Envelope(kind: .welcome, message: P.name))
        }

        let limit = requestConcurrency
        do {
            try await accepted.channel.executeThenClose { inbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var inFlight = 0
                    for try await frame in inbound {
                        if accepted.inline != nil {
                            // Requests are answered inline once the welcome is out: this frame came before it.
                            logger.warning("\(P.name): closing \(connection): it sent a frame of \(frame.readableBytes) bytes before the server's welcome")
                            return
                        }
                        let envelope: Envelope<P>
                        do {
                            envelope = try Envelope<P>.decode(frame)
                        } catch {
                            // A well-formed request this server does not understand (a newer
                            // client) gets a failure reply; anything else closes the connection.
                            if let header = try? EnvelopeHeader.decode(frame), header.kind == EnvelopeHeader.EnvelopeKind.request, let id = header.id {
                                logger.warning("\(P.name): \(connection) sent request \(id) that this \(P.name) does not understand (\(Self.decodingReason(error)))")
                                connection.send(Envelope(kind: .failure, id: id,
                                                         message: "\(P.name) does not understand this request (\(Self.decodingReason(error))); are the client and \(P.name) from the same SwiftHA version?"))
                                continue
                            }
                            logger.warning("\(P.name): closing \(connection): a frame of \(frame.readableBytes) bytes is not a valid \(P.name) message (\(Self.decodingReason(error)))")
                            return
                        }
                        guard envelope.kind == .request, let id = envelope.id, let request = envelope.request else {
                            logger.warning("\(P.name): closing \(connection): it sent a '\(envelope.kind.rawValue)' message without id or request; clients may only send requests")
                            return
                        }
                        if limit <= 1 {
                            await answer(id, request, connection)
                            continue
                        }
                        if inFlight >= limit {
                            try await group.next()
                            inFlight -= 1
                        }
                        group.addTask { await self.answer(id, request, connection) }
                        inFlight += 1
                    }
                }
            }
        } catch {
            if state.withLock({ $0.phase }) != .stopped {
                logger.warning("\(P.name): closing \(connection): \(error)")
            }
        }
    }

    private func answer(_ id: UInt64, _ request: P.Request, _ connection: IPCConnection<P>) async {
        do {
            let reply = try await handler(request, connection)
            connection.send(Envelope(kind: .reply, id: id, reply: reply))
        } catch {
            connection.send(Envelope(kind: .failure, id: id, message: "\(error)"))
        }
    }

    static func decodingReason(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return "not JSON: \(c.debugDescription)"
        case DecodingError.keyNotFound(let k, _): return "missing field \(k.stringValue)"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        default: return "\(error)"
        }
    }

    // MARK: - The socket file

    /// Creates the directory, and clears a stale socket out of the way.
    private func prepareSocketPath() async throws {
        let directory = deletingLastPathComponent(path)
        var isDir = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) {
            do {
                try FileManager.default.createDirectory(atPath: deletingLastPathComponent(directory),
                                                        withIntermediateDirectories: true)
            } catch {
                throw IPCServerError.directory(path: directory, reason: failureReason(error))
            }
            if mkdir(directory, 0o750) != 0 && errno != EEXIST {
                throw IPCServerError.directory(path: directory, reason: String(cString: strerror(errno)))
            }
            if let g = policy.allowedGroup { _ = chown(directory, getuid(), g) }
        } else if !isDir {
            throw IPCServerError.directory(path: directory, reason: "it exists and is not a directory")
        }

        var st = stat()
        guard lstat(path, &st) == 0 else { return }  // nothing there
        guard (st.st_mode & S_IFMT) == S_IFSOCK else { throw IPCServerError.notASocket(path: path) }
        // A socket file: is anybody answering on it?
        let live: Bool
        do {
            let probe = try await ClientBootstrap(group: group).connectTimeout(.seconds(2)).connect(unixDomainSocketPath: path).get()
            try? await probe.close()
            live = true
        } catch {
            live = false
        }
        if live { throw IPCServerError.alreadyServing(service: P.name, path: path) }
        logger.info("\(P.name): removing the stale socket \(path) (nothing answers on it)")
        if unlink(path) != 0 && errno != ENOENT {
            throw IPCServerError.bind(path: path, reason: "cannot remove the stale socket: \(String(cString: strerror(errno)))")
        }
    }

    private func restrictSocketFile() {
        chmod(path, 0o660)
        if let g = policy.allowedGroup { _ = chown(path, getuid(), g) }
    }

    private static func inode(of path: String) -> UInt64? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { return nil }
        return UInt64(st.st_ino)
    }
}

/// Answers a connection's requests on its event loop once the server has let it in (before
/// that, frames go on to the server's task, which closes a connection that talks first).
final class InlineRequests<P: LocalIPCProtocol>: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let handler: IPCServer<P>.InlineHandler
    private let logger: Logger
    /// Set on the event loop when the connection is let in.
    var connection: IPCConnection<P>?
    private var unflushed = false

    init(handler: @escaping IPCServer<P>.InlineHandler, logger: Logger) {
        self.handler = handler
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection else {
            context.fireChannelRead(data)
            return
        }
        let frame = Self.unwrapInboundIn(data)
        let envelope: Envelope<P>
        do {
            envelope = try Envelope<P>.decode(frame)
        } catch {
            let why = IPCServer<P>.decodingReason(error)
            if let header = try? EnvelopeHeader.decode(frame), header.kind == .request, let id = header.id {
                logger.warning("\(P.name): \(connection) sent request \(id) that this \(P.name) does not understand (\(why))")
                connection.send(Envelope(kind: .failure, id: id,
                                         message: "\(P.name) does not understand this request (\(why)); are the client and \(P.name) from the same SwiftHA version?"),
                                flush: false)
                unflushed = true
                return
            }
            logger.warning("\(P.name): closing \(connection): a frame of \(frame.readableBytes) bytes is not a valid \(P.name) message (\(why))")
            context.close(promise: nil)
            return
        }
        guard envelope.kind == .request, let id = envelope.id, let request = envelope.request else {
            logger.warning("\(P.name): closing \(connection): it sent a '\(envelope.kind.rawValue)' message without id or request; clients may only send requests")
            context.close(promise: nil)
            return
        }
        let answer: Envelope<P>
        do {
            answer = Envelope(kind: .reply, id: id, reply: try handler(request, connection))
        } catch {
            answer = Envelope(kind: .failure, id: id, message: "\(error)")
        }
        connection.send(answer, flush: false)
        unflushed = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if unflushed {
            unflushed = false
            context.channel.flush()
        }
        context.fireChannelReadComplete()
    }
}
