import Foundation
import LocalIPC
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOTestUtils
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A small API for the tests: echo, slow requests, failures, big replies, and a subscription.
enum EchoAPI: LocalIPCProtocol {
    enum Request: Codable, Sendable, Equatable {
        case echo(String)
        case sleep(milliseconds: Int)
        case fail(String)
        case big(bytes: Int)
        case subscribe(ticks: Int)
    }
    enum Reply: Codable, Sendable, Equatable {
        case text(String)
        case ok
    }
    enum Event: Codable, Sendable, Equatable {
        case tick(Int)
    }
    static let name = "echod"
}

struct EchoFailure: Error, CustomStringConvertible {
    var description: String
}

/// Log lines kept in memory, so tests can check what the server said.
final class LogCapture: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        var l = Logger(label: "test") { _ in CaptureHandler(capture: self) }
        l.logLevel = .debug
        return l
    }

    func contains(_ text: String) -> Bool { lines.withLock { $0.contains { $0.contains(text) } } }
    var all: [String] { lines.withLock { $0 } }

    struct CaptureHandler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level = .debug
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            capture.lines.withLock { $0.append("\(event.level): \(event.message)") }
        }
    }
}

/// The order in which the server's handler finished things.
final class Journal: Sendable {
    private let entries = Mutex<[String]>([])
    func add(_ e: String) { entries.withLock { $0.append(e) } }
    var all: [String] { entries.withLock { $0 } }
}

final class Counter: Sendable {
    private let n = Mutex(0)
    func increment() { n.withLock { $0 += 1 } }
    var value: Int { n.withLock { $0 } }
}

/// A server on a scratch socket, with the echo handler.
struct Fixture {
    let directory: String
    let path: String
    let server: IPCServer<EchoAPI>
    let log = LogCapture()
    let handled = Counter()
    let journal = Journal()

    init(policy: AccessPolicy = .standard(), maximumFrameSize: Int = 64 * 1024, requestConcurrency: Int = 1,
         maximumPendingBytes: Int = 64 * 1024 * 1024) {
        directory = scratchDirectory("ipc")
        path = directory + "/run/swiftha/echod.sock"
        let handled = self.handled
        let journal = self.journal
        server = IPCServer<EchoAPI>(path: path, policy: policy, maximumFrameSize: maximumFrameSize,
                                    requestConcurrency: requestConcurrency, maximumPendingBytes: maximumPendingBytes,
                                    logger: log.logger) { request, connection in
            handled.increment()
            switch request {
            case .echo(let text):
                journal.add("echo \(text)")
                return .text(text)
            case .sleep(let ms):
                try await Task.sleep(for: .milliseconds(ms))
                journal.add("slept")
                return .ok
            case .fail(let why): throw EchoFailure(description: why)
            case .big(let n): return .text(String(repeating: "x", count: n))
            case .subscribe(let n):
                for i in 1...max(n, 1) { connection.push(.tick(i)) }
                return .ok
            }
        }
    }

    func cleanup() async {
        await server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Waits (bounded) until `condition` holds.
func eventually(within: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + within
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// Connects a raw socket (no framing) to `path`, sends `bytes`, and reports whether the
/// server closed the connection within the deadline.
func serverClosesAfterSending(_ bytes: [UInt8], to path: String) async throws -> Bool {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(unixDomainSocketPath: path).get()
    var buffer = channel.allocator.buffer(capacity: bytes.count)
    buffer.writeBytes(bytes)
    try await channel.writeAndFlush(buffer)
    let closed = await eventually { !channel.isActive }
    if !closed { try? await channel.close() }
    return closed
}

/// Keeps the text of every frame a raw channel receives.
final class FrameCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let frames = Mutex<[String]>([])
    var texts: [String] { frames.withLock { $0 } }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let b = Self.unwrapInboundIn(data)
        frames.withLock { $0.append(String(decoding: b.readableBytesView, as: UTF8.self)) }
    }
}

/// Runs a program to its end and returns what it printed.
struct ProgramResult { var status: Int32; var stdout: String; var stderr: String }

func runProgram(_ path: String, _ args: [String]) throws -> ProgramResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ProgramResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

/// Binds a Unix socket at `path` and closes it without removing the file, as a crashed
/// daemon leaves it.
func makeStaleSocket(_ path: String) {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        let bytes = Array(path.utf8.prefix(raw.count - 1)) + [0]
        raw.copyBytes(from: bytes)
    }
    _ = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    close(fd)
}

func frame(_ payload: [UInt8]) -> [UInt8] {
    let n = UInt32(payload.count)
    return [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + payload
}

@Suite struct LocalIPCTests {
    @Test func requestsGetTheirReplies() async throws {
        let f = Fixture()
        try await f.server.start()
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        #expect(try await client.request(.echo("hello")) == .text("hello"))
        #expect(try await client.request(.echo("ünïcode ✓")) == .text("ünïcode ✓"))
        await #expect {
            _ = try await client.request(.fail("the disk is full"))
        } throws: { error in
            guard case IPCError.remote(let service, let message) = error else { return false }
            return service == "echod" && message == "the disk is full"
        }
        // The connection is still usable after a failed request.
        #expect(try await client.request(.echo("again")) == .text("again"))
        await client.close()
        await f.cleanup()
    }

    @Test func socketDirectoryIsRestrictedAndTheSocketRemovedOnStop() async throws {
        let f = Fixture()
        try await f.server.start()
        var st = stat()
        #expect(stat(f.directory + "/run/swiftha", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o750)
        #expect(lstat(f.path, &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFSOCK)
        #expect(st.st_mode & 0o007 == 0, "the socket is not open to others")
        await f.server.stop()
        #expect(!FileManager.default.fileExists(atPath: f.path))
        await f.cleanup()
    }

    @Test func manyRequestsInFlightOnOneConnectionAreMatchedById() async throws {
        let f = Fixture()
        try await f.server.start()
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let reply = try await client.request(.echo("message \(i)"))
                    #expect(reply == .text("message \(i)"))
                }
            }
            try await group.waitForAll()
        }
        #expect(f.handled.value == 200)
        await client.close()
        await f.cleanup()
    }

    @Test func concurrentClients() async throws {
        let f = Fixture()
        try await f.server.start()
        let path = f.path
        try await withThrowingTaskGroup(of: Int.self) { group in
            for c in 0..<16 {
                group.addTask {
                    let client = try await IPCClient<EchoAPI>.connect(path: path)
                    var ok = 0
                    for i in 0..<25 where try await client.request(.echo("\(c)/\(i)")) == .text("\(c)/\(i)") {
                        ok += 1
                    }
                    await client.close()
                    return ok
                }
            }
            var total = 0
            for try await n in group { total += n }
            #expect(total == 16 * 25)
        }
        #expect(await eventually { f.server.connections.isEmpty }, "closed clients leave no connection behind")
        await f.cleanup()
    }

    @Test func eventsArePushedInOrderAndFinishWhenTheServerStops() async throws {
        let f = Fixture()
        try await f.server.start()
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        #expect(try await client.request(.subscribe(ticks: 50)) == .ok)
        var ticks: [Int] = []
        for await event in client.events {
            if case .tick(let n) = event { ticks.append(n) }
            if ticks.count == 50 { break }
        }
        #expect(ticks == Array(1...50))
        // broadcast reaches every connection.
        f.server.broadcast(.tick(99))
        var iterator = client.events.makeAsyncIterator()
        #expect(await iterator.next() == .tick(99))
        await f.server.stop()
        #expect(await iterator.next() == nil, "the event stream finishes when the connection ends")
        await f.cleanup()
    }

    @Test func oversizedFrameClosesOnlyThatConnection() async throws {
        let f = Fixture(maximumFrameSize: 1024)
        try await f.server.start()
        let good = try await IPCClient<EchoAPI>.connect(path: f.path, maximumFrameSize: 1024)
        // A length prefix of 4 GiB: the server must not try to buffer it.
        #expect(try await serverClosesAfterSending([0xff, 0xff, 0xff, 0xff, 1, 2, 3], to: f.path))
        #expect(await eventually { f.log.contains("exceeds the maximum of 1024 bytes") }, "\(f.log.all)")
        // A zero-length frame.
        #expect(try await serverClosesAfterSending([0, 0, 0, 0], to: f.path))
        #expect(await eventually { f.log.contains("empty frame") }, "\(f.log.all)")
        // The other connection and new ones are unaffected.
        #expect(try await good.request(.echo("still here")) == .text("still here"))
        let fresh = try await IPCClient<EchoAPI>.connect(path: f.path, maximumFrameSize: 1024)
        #expect(try await fresh.request(.echo("new")) == .text("new"))
        // A reply above the limit becomes a failure, not a dropped connection.
        await #expect(throws: IPCError.self) { _ = try await fresh.request(.big(bytes: 4000)) }
        #expect(try await fresh.request(.echo("after big")) == .text("after big"))
        await good.close()
        await fresh.close()
        await f.cleanup()
    }

    @Test func garbageAndWrongMessagesCloseTheConnectionWithAReason() async throws {
        let f = Fixture()
        try await f.server.start()
        #expect(try await serverClosesAfterSending(frame(Array("this is not json".utf8)), to: f.path))
        #expect(await eventually { f.log.contains("is not a valid echod message") }, "\(f.log.all)")
        // Valid JSON, but a server-to-client kind.
        #expect(try await serverClosesAfterSending(frame(Array(#"{"kind":"reply","id":1,"reply":{"ok":{}}}"#.utf8)), to: f.path))
        #expect(await eventually { f.log.contains("clients may only send requests") }, "\(f.log.all)")
        // A well-formed request of a kind this server does not know is answered with a failure,
        // and the connection stays open.
        let unknown = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(IPCFrameDecoder(maximumFrameSize: 1 << 20)))
                }
            }
            .connect(unixDomainSocketPath: f.path).get()
        let replies = FrameCollector()
        try await unknown.pipeline.addHandler(replies)
        var request = unknown.allocator.buffer(capacity: 128)
        request.writeBytes(frame(Array(#"{"kind":"request","id":7,"request":{"launchRockets":{}}}"#.utf8)))
        try await unknown.writeAndFlush(request)
        #expect(await eventually { replies.texts.contains { $0.contains(#""kind":"failure""#) && $0.contains(#""id":7"#) } }, "\(replies.texts)")
        #expect(replies.texts.contains { $0.contains("does not understand this request") })
        #expect(unknown.isActive)
        try? await unknown.close()

        // Random bytes, many frames of them: never a crash.
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<20 {
            let n = Int.random(in: 1...200, using: &rng)
            let payload = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try await serverClosesAfterSending(frame(payload), to: f.path)
        }
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        #expect(try await client.request(.echo("alive")) == .text("alive"))
        await client.close()
        await f.cleanup()
    }

    @Test func clientDisconnectingMidRequestDoesNotDisturbTheServer() async throws {
        let f = Fixture()
        try await f.server.start()
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        let slow = Task { try await client.request(.sleep(milliseconds: 300)) }
        #expect(await eventually { f.handled.value == 1 })
        await client.close()
        await #expect(throws: IPCError.self) { _ = try await slow.value }
        #expect(await eventually { f.server.connections.isEmpty })
        let other = try await IPCClient<EchoAPI>.connect(path: f.path)
        #expect(try await other.request(.echo("fine")) == .text("fine"))
        await other.close()
        await f.cleanup()
    }

    @Test func aDroppedClientClosesItsConnection() async throws {
        let f = Fixture()
        try await f.server.start()
        func use() async throws {
            let client = try await IPCClient<EchoAPI>.connect(path: f.path)
            #expect(try await client.request(.echo("once")) == .text("once"))
            #expect(f.server.connections.count == 1)
        }
        try await use()
        #expect(await eventually { f.server.connections.isEmpty }, "the connection of a client no longer referenced is closed")
        await f.cleanup()
    }

    @Test func stoppingTheServerFailsPendingRequestsPromptly() async throws {
        let f = Fixture()
        try await f.server.start()
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        let pending = Task { try await client.request(.sleep(milliseconds: 60_000)) }
        #expect(await eventually { f.handled.value == 1 })
        await f.server.stop()
        await #expect {
            _ = try await pending.value
        } throws: { error in
            guard case IPCError.disconnected(_, let path, _) = error else { return false }
            return path == f.path
        }
        #expect(!client.isConnected)
        #expect(client.closeReason.map { "\($0)" }?.contains("the server closed the connection") == true)
        // Later requests fail at once, naming the service.
        await #expect(throws: IPCError.self) { _ = try await client.request(.echo("x")) }
        await f.cleanup()
    }

    @Test func runServesUntilItsTaskIsCancelled() async throws {
        let f = Fixture()
        let server = f.server
        let serving = Task { try await server.run() }
        #expect(await eventually { FileManager.default.fileExists(atPath: f.path) })
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        #expect(try await client.request(.echo("running")) == .text("running"))
        serving.cancel()
        try await serving.value
        #expect(!FileManager.default.fileExists(atPath: f.path), "the socket is removed")
        await #expect(throws: IPCError.self) { _ = try await client.request(.echo("gone")) }
        await f.cleanup()
    }

    @Test func requestTimeout() async throws {
        let f = Fixture()
        try await f.server.start()
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        await #expect {
            _ = try await client.request(.sleep(milliseconds: 5_000), timeout: .milliseconds(100))
        } throws: { error in
            if case IPCError.timedOut = error { return true }
            return false
        }
        await client.close()
        await f.cleanup()
    }

    @Test func cancellingTheCallerEndsItsRequest() async throws {
        let f = Fixture(requestConcurrency: 2)
        try await f.server.start()
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        let pending = Task { try await client.request(.sleep(milliseconds: 60_000)) }
        #expect(await eventually { f.handled.value == 1 })
        pending.cancel()
        await #expect(throws: CancellationError.self) { _ = try await pending.value }
        // The connection is still usable.
        #expect(try await client.request(.echo("after cancel")) == .text("after cancel"))
        await client.close()
        await f.cleanup()
    }

    @Test func connectingWhereNothingListensSaysSo() async throws {
        let dir = scratchDirectory("ipc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        await #expect {
            _ = try await IPCClient<EchoAPI>.connect(path: dir + "/none.sock")
        } throws: { error in
            let text = "\(error)"
            return text.contains(dir + "/none.sock") && text.contains("is echod running")
        }
    }

    @Test func staleSocketIsReplacedLiveOneAndFilesAreNot() async throws {
        let f = Fixture()
        // A stale socket: bound, then its listener closed without removing the file.
        try FileManager.default.createDirectory(atPath: f.directory + "/run/swiftha", withIntermediateDirectories: true)
        makeStaleSocket(f.path)
        #expect(FileManager.default.fileExists(atPath: f.path))
        try await f.server.start()
        #expect(f.log.contains("removing the stale socket"))
        // A second server on the same live socket refuses to start.
        let second = IPCServer<EchoAPI>(path: f.path) { _, _ in .ok }
        await #expect {
            try await second.start()
        } throws: { error in
            "\(error)".contains("already serving")
        }
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        #expect(try await client.request(.echo("first server")) == .text("first server"))
        await client.close()
        await f.cleanup()

        // A regular file in the way is never removed.
        let g = Fixture()
        try FileManager.default.createDirectory(atPath: g.directory + "/run/swiftha", withIntermediateDirectories: true)
        try "keep me".write(toFile: g.path, atomically: true, encoding: .utf8)
        await #expect {
            try await g.server.start()
        } throws: { error in
            "\(error)".contains("is not a socket")
        }
        #expect((try? String(contentsOfFile: g.path, encoding: .utf8)) == "keep me")
        await g.cleanup()
    }

    @Test func requestsOfOneConnectionRunInOrderUnlessConcurrencyIsAllowed() async throws {
        for concurrency in [1, 4] {
            let f = Fixture(requestConcurrency: concurrency)
            try await f.server.start()
            let client = try await IPCClient<EchoAPI>.connect(path: f.path)
            let slow = Task { try await client.request(.sleep(milliseconds: 300)) }
            #expect(await eventually { f.handled.value == 1 }, "the slow request is being handled")
            #expect(try await client.request(.echo("quick")) == .text("quick"))
            _ = try await slow.value
            if concurrency == 1 {
                #expect(f.journal.all == ["slept", "echo quick"], "one at a time: the quick request waited for the slow one")
            } else {
                #expect(f.journal.all == ["echo quick", "slept"], "concurrent: the quick request did not wait for the slow one")
            }
            await client.close()
            await f.cleanup()
        }
    }

    @Test func aClientThatDoesNotReadIsDisconnectedNotBufferedForever() async throws {
        let f = Fixture(maximumFrameSize: 1024, maximumPendingBytes: 64 * 1024)
        try await f.server.start()
        // A raw client that never reads: it asks for a flood of events.
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .connect(unixDomainSocketPath: f.path).get()
        var buffer = channel.allocator.buffer(capacity: 128)
        buffer.writeBytes(frame(Array(#"{"kind":"request","id":1,"request":{"subscribe":{"ticks":50000}}}"#.utf8)))
        try await channel.writeAndFlush(buffer)
        #expect(await eventually(within: .seconds(20)) { f.log.contains("the client is not reading them") }, "\(f.log.all.suffix(3))")
        #expect(await eventually { f.server.connections.isEmpty })
        try? await channel.close()
        let client = try await IPCClient<EchoAPI>.connect(path: f.path, maximumFrameSize: 1024)
        #expect(try await client.request(.echo("fine")) == .text("fine"))
        await client.close()
        await f.cleanup()
    }

    // MARK: - Credentials

    @Test func accessPolicyDecisions() {
        let policy = AccessPolicy(allowedUsers: [0, 990], allowedGroup: 105, groupName: "haclient")
        #expect(policy.decide(PeerCredentials(pid: 1, uid: 0, gid: 0)).isAllowed)
        #expect(policy.decide(PeerCredentials(pid: 1, uid: 990, gid: 990)).isAllowed, "the daemon's own user")
        #expect(policy.decide(PeerCredentials(pid: 1, uid: 1000, gid: 105)).isAllowed, "haclient as primary group")
        #expect(policy.decide(PeerCredentials(pid: 1, uid: 1000, gid: 1000, groups: [27, 105])).isAllowed, "haclient as supplementary group")
        let refused = policy.decide(PeerCredentials(pid: 1, uid: 1000, gid: 1000, groups: [27, 100]))
        guard case .refused(let why) = refused else {
            Issue.record("uid 1000 outside haclient was let in")
            return
        }
        #expect(why.contains("uid 1000") && why.contains("haclient"))
        // Without a haclient group on the machine only the users are let in.
        let noGroup = AccessPolicy(allowedUsers: [0], allowedGroup: nil)
        #expect(!noGroup.decide(PeerCredentials(pid: 1, uid: 1000, gid: 105, groups: [105])).isAllowed)
        #expect(AccessPolicy.everyone.decide(PeerCredentials(pid: 1, uid: 4321, gid: 4321)).isAllowed)
        // The standard policy always lets root and this process's own user in.
        let standard = AccessPolicy.standard()
        #expect(standard.allowedUsers.contains(0) && standard.allowedUsers.contains(getuid()))
    }

    @Test func realPeerCredentialsAreCheckedOnConnect() async throws {
        // The current process is allowed by the standard policy...
        let f = Fixture()
        try await f.server.start()
        let client = try await IPCClient<EchoAPI>.connect(path: f.path)
        #expect(try await client.request(.echo("me")) == .text("me"))
        #expect(f.server.connections.first?.peer.pid == getpid())
        #expect(f.server.connections.first?.peer.uid == getuid())
        await client.close()
        await f.cleanup()

        // ... and refused by a policy that names neither its user nor any of its groups.
        let me = PeerCredentials.current
        let strangerGroup = (UInt32(60_000)...UInt32(65_000)).first { g in g != me.gid && !me.groups.contains(g) }
        let strict = AccessPolicy(allowedUsers: [getuid() &+ 12345], allowedGroup: strangerGroup, groupName: "haclient")
        let g = Fixture(policy: strict)
        try await g.server.start()
        await #expect {
            _ = try await IPCClient<EchoAPI>.connect(path: g.path)
        } throws: { error in
            guard case IPCError.refused(_, _, let reason) = error else { return false }
            return reason.contains("uid \(getuid())") && reason.contains("haclient")
        }
        #expect(await eventually { g.log.contains("refused connection") }, "\(g.log.all)")
        #expect(g.handled.value == 0)
        await g.cleanup()
    }

    /// Another user really connecting (through setpriv): refused unless in haclient.
    @Test func otherUsersAreRefusedUnlessInHaclient() async throws {
        guard getuid() == 0 else {
            print("SKIPPED: otherUsersAreRefusedUnlessInHaclient: needs root to connect as another user")
            return
        }
        for tool in ["/usr/bin/setpriv", "/usr/bin/python3"] where !FileManager.default.isExecutableFile(atPath: tool) {
            print("SKIPPED: otherUsersAreRefusedUnlessInHaclient: \(tool) is not installed")
            return
        }
        guard let haclient = getgrnam("haclient")?.pointee.gr_gid else {
            print("SKIPPED: otherUsersAreRefusedUnlessInHaclient: there is no group haclient (apt-get install pacemaker-common, or groupadd haclient)")
            return
        }
        let f = Fixture()
        try await f.server.start()
        // Open the path to everyone so that only the credentials check decides.
        chmod(f.directory, 0o755)
        chmod(f.directory + "/run", 0o755)
        chmod(f.directory + "/run/swiftha", 0o755)
        chmod(f.path, 0o666)
        let script = """
            import socket, struct, json, sys
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            n = struct.unpack(">I", s.recv(4))[0]
            data = b""
            while len(data) < n:
                data += s.recv(n - len(data))
            print(json.loads(data)["kind"], json.loads(data).get("message", ""))
            """
        func connect(groups: String) throws -> ProgramResult {
            try runProgram("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", groups, "/usr/bin/python3", "-c", script, f.path])
        }
        let stranger = try connect(groups: "--clear-groups")
        #expect(stranger.stdout.hasPrefix("refused "), "\(stranger.stdout) \(stranger.stderr)")
        #expect(stranger.stdout.contains("uid 65534"))
        #expect(await eventually { f.log.contains("refused connection") && f.log.contains("uid 65534") }, "\(f.log.all)")
        let member = try connect(groups: "--groups=\(haclient)")
        #expect(member.stdout.hasPrefix("welcome echod"), "\(member.stdout) \(member.stderr)")
        await f.cleanup()
    }

    // MARK: - Codec without sockets

    @Test func decoderPassesNIOsDecoderVerifier() throws {
        let allocator = ByteBufferAllocator()
        func buffer(_ bytes: [UInt8]) -> ByteBuffer { allocator.buffer(bytes: bytes) }
        let one = Array("{}".utf8), two = Array(#"{"kind":"event"}"#.utf8), big = [UInt8](repeating: 42, count: 1000)
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [
                (buffer(frame(one)), [buffer(one)]),
                (buffer(frame(two) + frame(one)), [buffer(two), buffer(one)]),
                (buffer(frame(big)), [buffer(big)]),
            ],
            decoderFactory: { IPCFrameDecoder(maximumFrameSize: 1024) })
    }

    @Test func decoderHandlesBytesOneAtATimeAndManyFramesPerBuffer() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(IPCFrameDecoder(maximumFrameSize: 100)))
        let payloads: [[UInt8]] = [Array("a".utf8), Array("hello".utf8), Array(repeating: 7, count: 100)]
        let bytes = payloads.flatMap(frame)
        // One byte at a time.
        for b in bytes {
            var buf = channel.allocator.buffer(capacity: 1)
            buf.writeInteger(b)
            try channel.writeInbound(buf)
        }
        // All frames in one buffer.
        var all = channel.allocator.buffer(capacity: bytes.count)
        all.writeBytes(bytes)
        try channel.writeInbound(all)
        var got: [[UInt8]] = []
        while let f = try channel.readInbound(as: ByteBuffer.self) { got.append(Array(f.readableBytesView)) }
        #expect(got == payloads + payloads)
        #expect(try channel.finish().isClean)

        let tooBig = EmbeddedChannel(handler: ByteToMessageHandler(IPCFrameDecoder(maximumFrameSize: 100)))
        var big = tooBig.allocator.buffer(capacity: 4)
        big.writeInteger(UInt32(101))
        #expect(throws: IPCFrameError.frameTooLarge(length: 101, maximum: 100)) { try tooBig.writeInbound(big) }
        _ = try? tooBig.finish()
    }
}
