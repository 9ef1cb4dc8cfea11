#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A connection to a daemon's `IPCServer`.
///
/// `connect` returns once the server has let this process in (or throws `IPCError.refused`
/// with the server's reason). `request` sends one request and awaits its reply; any number may
/// be outstanding at once, from any task. Events the server pushes arrive on `events`.
///
/// When the connection ends (the server stops or dies, or closes the connection), every
/// request in flight and every later one throws `IPCError.disconnected`, and `events` finishes:
/// nothing waits forever.
///
///     let lrmd = try await IPCClient<LRMAPI>.connect(path: env.socketDirectory + "/lrmd.sock")
///     let reply = try await lrmd.request(.listClasses)
///     for await event in lrmd.events { ... }
public final class IPCClient<P: LocalIPCProtocol>: Sendable {
    /// The socket's path.
    public let path: String
    /// The events the server pushes, in order; finishes when the connection ends. Iterate it
    /// from one task.
    public let events: AsyncStream<P.Event>
    private let channel: Channel
    private let core: ClientCore<P>

    private init(path: String, channel: Channel, core: ClientCore<P>, events: AsyncStream<P.Event>) {
        self.path = path
        self.channel = channel
        self.core = core
        self.events = events
    }

    /// A client dropped without `close()` closes its connection.
    deinit {
        channel.close(promise: nil)
    }

    /// Connects to the server at `path` and waits for it to accept this process.
    ///
    /// - Throws: `IPCError.cannotConnect` when nothing listens there, `.refused` when the
    ///   server refuses this process, `.timedOut` when it does not answer within `timeout`.
    public static func connect(path: String, timeout: Duration = .seconds(10),
                               maximumFrameSize: Int = LocalIPC.defaultMaximumFrameSize,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> IPCClient {
        let (events, eventSink) = AsyncStream<P.Event>.makeStream()
        let core = ClientCore<P>(path: path, events: eventSink)
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(timeout.nanoseconds))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(IPCFrameDecoder(maximumFrameSize: maximumFrameSize)))
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(IPCFrameEncoder(maximumFrameSize: maximumFrameSize)))
                        try channel.pipeline.syncOperations.addHandler(ClientHandler<P>(core: core))
                    }
                }
                .connect(unixDomainSocketPath: path).get()
        } catch {
            eventSink.finish()
            throw IPCError.cannotConnect(service: P.name, path: path, reason: Self.reason(error))
        }
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            core.helloTimedOut(after: timeout)
        }
        defer { timer.cancel() }
        do {
            try await core.waitForWelcome()
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return IPCClient(path: path, channel: channel, core: core, events: events)
    }

    /// Sends a request and waits for its reply.
    ///
    /// - Parameter timeout: how long to wait for the reply; nil waits until the reply comes or
    ///   the connection ends.
    /// - Throws: `IPCError.remote` when the server's handler failed, `.disconnected` when the
    ///   connection ended first, `.timedOut`, `.badMessage`, or `CancellationError` when the
    ///   calling task is cancelled.
    public func request(_ request: P.Request, timeout: Duration? = nil) async throws -> P.Reply {
        let channel = self.channel
        let core = self.core
        let id = core.nextID()
        let buffer: ByteBuffer
        do {
            buffer = try Envelope<P>(kind: .request, id: id, request: request).encoded(allocator: channel.allocator)
        } catch {
            throw IPCError.badMessage(service: P.name, reason: "cannot encode the request: \(error)")
        }
        let timer = timeout.map { t in
            channel.eventLoop.scheduleTask(in: .nanoseconds(t.nanoseconds)) {
                self.core.fail(id, IPCError.timedOut(service: P.name, path: self.path, after: t))
            }
        }
        defer { timer?.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<P.Reply, any Error>) in
                guard core.register(id, continuation) else { return }
                // Cancelled before the continuation was registered: onCancel found nothing to fail.
                if Task.isCancelled {
                    core.fail(id, CancellationError())
                    return
                }
                channel.writeAndFlush(buffer).whenFailure { error in
                    core.fail(id, IPCError.disconnected(service: P.name, path: core.path, reason: "the request could not be sent: \(Self.reason(error))"))
                }
            }
        } onCancel: {
            core.fail(id, CancellationError())
        }
    }

    /// True while the connection is open.
    public var isConnected: Bool { core.isOpen }

    /// Why the connection ended (an `IPCError`), or nil while it is open.
    public var closeReason: (any Error)? { core.endReason }

    /// Closes the connection. Requests in flight throw `IPCError.closed`.
    public func close() async {
        core.end(IPCError.closed(service: P.name))
        try? await channel.close()
    }

    static func reason(_ error: any Error) -> String {
        if let io = error as? IOError {
            return String(cString: strerror(io.errnoCode))
        }
        if let e = error as? IPCFrameError { return e.description }
        if let c = error as? ChannelError, c == .connectTimeout(.zero) { return "connection timed out" }
        return "\(error)"
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}

/// The client's state, shared by its methods and its channel handler.
final class ClientCore<P: LocalIPCProtocol>: Sendable {
    let path: String
    private let eventSink: AsyncStream<P.Event>.Continuation
    private let state = Mutex(State())

    private struct State: @unchecked Sendable {
        var nextID: UInt64 = 1
        var pending: [UInt64: CheckedContinuation<P.Reply, any Error>] = [:]
        var welcome: CheckedContinuation<Void, any Error>?
        /// The outcome of the handshake, once known.
        var welcomed: Result<Void, any Error>?
        /// Why the connection ended, once it has.
        var ended: (any Error)?
    }

    init(path: String, events: AsyncStream<P.Event>.Continuation) {
        self.path = path
        self.eventSink = events
    }

    var isOpen: Bool { state.withLock { $0.ended == nil } }
    var endReason: (any Error)? { state.withLock { $0.ended } }

    func nextID() -> UInt64 {
        state.withLock { s in
            defer { s.nextID += 1 }
            return s.nextID
        }
    }

    /// Records a waiting request; false (and the continuation resumed with the reason) when
    /// the connection has already ended or the request was already failed (cancelled early).
    func register(_ id: UInt64, _ continuation: CheckedContinuation<P.Reply, any Error>) -> Bool {
        let ended: (any Error)? = state.withLock { s in
            if let e = s.ended { return e }
            s.pending[id] = continuation
            return nil
        }
        if let ended {
            continuation.resume(throwing: ended)
            return false
        }
        return true
    }

    func fail(_ id: UInt64, _ error: any Error) {
        let c = state.withLock { $0.pending.removeValue(forKey: id) }
        c?.resume(throwing: error)
    }

    func waitForWelcome() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let known: Result<Void, any Error>? = state.withLock { s in
                if let w = s.welcomed { return w }
                s.welcome = c
                return nil
            }
            if let known { c.resume(with: known) }
        }
    }

    func helloTimedOut(after: Duration) {
        settleWelcome(.failure(IPCError.timedOut(service: P.name, path: path, after: after)))
    }

    private func settleWelcome(_ result: Result<Void, any Error>) {
        let c: CheckedContinuation<Void, any Error>? = state.withLock { s in
            guard s.welcomed == nil else { return nil }
            s.welcomed = result
            defer { s.welcome = nil }
            return s.welcome
        }
        c?.resume(with: result)
    }

    /// A frame arrived.
    func received(_ envelope: Envelope<P>) {
        switch envelope.kind {
        case .welcome:
            settleWelcome(.success(()))
        case .refused:
            let error = IPCError.refused(service: P.name, path: path, reason: envelope.message ?? "no reason given")
            settleWelcome(.failure(error))
            end(error)
        case .reply:
            guard let id = envelope.id else { return }
            let c = state.withLock { $0.pending.removeValue(forKey: id) }
            if let reply = envelope.reply {
                c?.resume(returning: reply)
            } else {
                c?.resume(throwing: IPCError.badMessage(service: P.name, reason: "a reply without content"))
            }
        case .failure:
            guard let id = envelope.id else { return }
            let c = state.withLock { $0.pending.removeValue(forKey: id) }
            c?.resume(throwing: IPCError.remote(service: P.name, message: envelope.message ?? "the request failed"))
        case .event:
            if let e = envelope.event { eventSink.yield(e) }
        case .request:
            break
        }
    }

    /// The connection ended: every waiter learns why, and the event stream finishes.
    func end(_ error: any Error) {
        let (pending, welcome) = state.withLock { s -> ([CheckedContinuation<P.Reply, any Error>], Bool) in
            if s.ended == nil { s.ended = error }
            let p = Array(s.pending.values)
            s.pending = [:]
            return (p, s.welcomed == nil)
        }
        if welcome { settleWelcome(.failure(error)) }
        for c in pending { c.resume(throwing: error) }
        eventSink.finish()
    }
}

/// Feeds decoded frames to the core and tells it when the connection ends.
final class ClientHandler<P: LocalIPCProtocol>: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let core: ClientCore<P>

    init(core: ClientCore<P>) {
        self.core = core
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        do {
            core.received(try Envelope<P>.decode(frame))
        } catch {
            core.end(IPCError.badMessage(service: P.name, reason: "undecodable message from the server: \(error)"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.end(IPCError.disconnected(service: P.name, path: core.path, reason: "the server closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        core.end(IPCError.disconnected(service: P.name, path: core.path, reason: IPCClient<P>.reason(error)))
        context.close(promise: nil)
    }
}
