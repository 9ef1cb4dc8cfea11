import Foundation
import LocalIPC
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import Testing

/// The echo API with a binary body for `echo` requests, `text` replies and `tick` events
/// (tags 1, 1, 1); everything else goes as JSON.
enum BinaryEchoAPI: LocalIPCProtocol {
    typealias Request = EchoAPI.Request
    typealias Reply = EchoAPI.Reply
    typealias Event = EchoAPI.Event
    static let name = "binechod"

    static func writeBinary(request: Request, to buffer: inout ByteBuffer) -> Bool {
        guard case .echo(let text) = request else { return false }
        buffer.writeInteger(UInt8(1))
        buffer.writeString(text)
        return true
    }
    static func readBinaryRequest(_ buffer: inout ByteBuffer) -> Request? {
        guard buffer.readInteger(as: UInt8.self) == 1 else { return nil }
        return .echo(buffer.readString(length: buffer.readableBytes) ?? "")
    }
    static func writeBinary(reply: Reply, to buffer: inout ByteBuffer) -> Bool {
        guard case .text(let text) = reply, text.utf8.count < 1000 else { return false }
        buffer.writeInteger(UInt8(1))
        buffer.writeString(text)
        return true
    }
    static func readBinaryReply(_ buffer: inout ByteBuffer) -> Reply? {
        guard buffer.readInteger(as: UInt8.self) == 1 else { return nil }
        return .text(buffer.readString(length: buffer.readableBytes) ?? "")
    }
    static func writeBinary(event: Event, to buffer: inout ByteBuffer) -> Bool {
        guard case .tick(let n) = event else { return false }
        buffer.writeInteger(UInt8(1))
        buffer.writeInteger(Int64(n))
        return true
    }
    static func readBinaryEvent(_ buffer: inout ByteBuffer) -> Event? {
        guard buffer.readInteger(as: UInt8.self) == 1, let n = buffer.readInteger(as: Int64.self), buffer.readableBytes == 0 else { return nil }
        return .tick(Int(n))
    }
}

/// An inline server of the binary echo API on a scratch socket, on a one-thread group (as
/// corosyncd runs it).
struct InlineFixture {
    let directory: String
    let path: String
    let server: IPCServer<BinaryEchoAPI>
    let group: MultiThreadedEventLoopGroup
    let log = LogCapture()
    let onLoop = Counter()

    init() {
        directory = scratchDirectory("ipcbin")
        path = directory + "/run/swiftha/binechod.sock"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let loop = group.next()
        let onLoop = self.onLoop
        server = IPCServer<BinaryEchoAPI>(path: path, group: group, logger: log.logger, inlineHandler: { request, connection in
            if loop.inEventLoop { onLoop.increment() }
            switch request {
            case .echo(let text): return .text(text)
            case .fail(let why): throw EchoFailure(description: why)
            case .big(let n): return .text(String(repeating: "y", count: n))
            case .subscribe(let n):
                // A burst left in the write buffer, then one flush.
                for i in 1...max(n, 1) { connection.pushWithoutFlush(.tick(i)) }
                connection.flush()
                return .ok
            case .sleep: return .ok
            }
        })
    }

    func cleanup() async {
        await server.stop()
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A raw connection that has read the server's welcome and keeps every later frame's bytes.
final class RawFrames: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let frames = Mutex<[[UInt8]]>([])
    var all: [[UInt8]] { frames.withLock { $0 } }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let b = Self.unwrapInboundIn(data)
        frames.withLock { $0.append(Array(b.readableBytesView)) }
    }

    static func connect(_ path: String) async throws -> (Channel, RawFrames) {
        let collector = RawFrames()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(IPCFrameDecoder(maximumFrameSize: 1 << 20)))
                    try ch.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(unixDomainSocketPath: path).get()
        _ = await eventually { !collector.all.isEmpty }
        return (channel, collector)
    }

    func send(_ channel: Channel, _ payload: [UInt8]) async throws {
        var b = channel.allocator.buffer(capacity: payload.count + 4)
        b.writeBytes(frame(payload))
        try await channel.writeAndFlush(b)
    }
}

@Suite struct BinaryFrameTests {
    @Test func binaryAndJSONMessagesMixOnOneConnectionAnsweredOnTheEventLoop() async throws {
        let f = InlineFixture()
        try await f.server.start()
        let client = try await IPCClient<BinaryEchoAPI>.connect(path: f.path)
        #expect(try await client.request(.echo("hello")) == .text("hello"))
        #expect(try await client.request(.echo("ünïcode ✓")) == .text("ünïcode ✓"))
        // A reply the protocol does not encode in binary goes as JSON.
        #expect(try await client.request(.big(bytes: 2000)) == .text(String(repeating: "y", count: 2000)))
        await #expect {
            _ = try await client.request(.fail("no such group"))
        } throws: { error in
            guard case IPCError.remote(_, let message) = error else { return false }
            return message == "no such group"
        }
        // Many in flight at once: matched by id, answered in order.
        let replies = try await withThrowingTaskGroup(of: (Int, BinaryEchoAPI.Reply).self) { g in
            for i in 0..<200 { g.addTask { (i, try await client.request(.echo("m\(i)"))) } }
            var out: [Int: BinaryEchoAPI.Reply] = [:]
            for try await (i, r) in g { out[i] = r }
            return out
        }
        #expect(replies.count == 200 && replies.allSatisfy { $0.value == .text("m\($0.key)") })
        #expect(f.onLoop.value == 204, "every request was answered on the server's event loop")

        // A burst of events pushed without flushing arrives whole and in order.
        #expect(try await client.request(.subscribe(ticks: 300)) == .ok)
        var ticks: [Int] = []
        for await event in client.events {
            if case .tick(let n) = event { ticks.append(n) }
            if ticks.count == 300 { break }
        }
        #expect(ticks == Array(1...300))
        await client.close()
        await f.cleanup()
    }

    @Test func theWireFormatIsTheDocumentedOne() async throws {
        let f = InlineFixture()
        try await f.server.start()
        let (channel, frames) = try await RawFrames.connect(f.path)
        #expect(String(decoding: frames.all.first ?? [], as: UTF8.self).contains(#""kind":"welcome""#))
        // 0, kind 1 (request), id 9 (8 bytes big endian), body: tag 1, "abc".
        try await frames.send(channel, [0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 1] + Array("abc".utf8))
        #expect(await eventually { frames.all.count >= 2 })
        #expect(frames.all.dropFirst().first == [0, 2, 0, 0, 0, 0, 0, 0, 0, 9, 1] + Array("abc".utf8))
        // A JSON request on the same connection still works, and is answered in binary.
        try await frames.send(channel, Array(#"{"kind":"request","id":10,"request":{"echo":{"_0":"j"}}}"#.utf8))
        #expect(await eventually { frames.all.count >= 3 })
        #expect(frames.all.dropFirst(2).first == [0, 2, 0, 0, 0, 0, 0, 0, 0, 10, 1, UInt8(ascii: "j")])
        // A binary request whose body does not decode: a failure reply with its id, and the
        // connection stays open.
        try await frames.send(channel, [0, 1, 0, 0, 0, 0, 0, 0, 0, 11, 77])
        #expect(await eventually { frames.all.count >= 4 })
        let failure = String(decoding: frames.all.dropFirst(3).first ?? [], as: UTF8.self)
        #expect(failure.contains(#""kind":"failure""#) && failure.contains(#""id":11"#) && failure.contains("does not understand"), "\(failure)")
        #expect(channel.isActive)
        // A binary frame of a server-to-client kind closes the connection with a reason.
        try await frames.send(channel, [0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 1])
        #expect(await eventually { !channel.isActive })
        #expect(await eventually { f.log.contains("not a valid binechod message") || f.log.contains("clients may only send requests") }, "\(f.log.all)")
        await f.cleanup()
    }

    @Test func randomBinaryFramesNeverCrashTheServer() async throws {
        let f = InlineFixture()
        try await f.server.start()
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<30 {
            let (channel, frames) = try await RawFrames.connect(f.path)
            let n = Int.random(in: 1...40, using: &rng)
            let kind = [UInt8(1), 2, 4, 9].randomElement(using: &rng)!
            let payload = [0, kind] + (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try await frames.send(channel, payload)
            _ = await eventually(within: .milliseconds(300)) { !channel.isActive || frames.all.count > 1 }
            try? await channel.close()
        }
        let client = try await IPCClient<BinaryEchoAPI>.connect(path: f.path)
        #expect(try await client.request(.echo("alive")) == .text("alive"))
        await client.close()
        await f.cleanup()
    }
}
