import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EssentialsExtras
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One process to run for an agent action: what to execute, with which environment and input,
/// and how long it may take.
public struct ProcessRequest: Sendable, Hashable {
    /// Absolute path of the executable.
    public var executable: String
    public var arguments: [String]
    /// The complete environment (nothing is inherited from the caller).
    public var environment: [String: String]
    /// Text written to the process's stdin (fence agents); nil gives it /dev/null.
    public var standardInput: String?
    /// When the timeout expires, the whole process group gets SIGTERM, and SIGKILL after
    /// `killGrace` unless every member has exited by then.
    public var timeout: Duration
    public var killGrace: Duration
    /// At most this many bytes of stdout and of stderr are kept; the rest is read and dropped.
    public var outputLimit: Int
    public var workingDirectory: String

    public init(executable: String, arguments: [String] = [], environment: [String: String] = [:],
                standardInput: String? = nil, timeout: Duration, killGrace: Duration = .seconds(5),
                outputLimit: Int = 64 * 1024, workingDirectory: String = "/") {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.standardInput = standardInput
        self.timeout = timeout
        self.killGrace = killGrace
        self.outputLimit = outputLimit
        self.workingDirectory = workingDirectory
    }
}

/// How a process run ended.
public struct ProcessOutcome: Sendable, Hashable {
    /// How the process itself terminated.
    public enum Termination: Sendable, Hashable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)

        public var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signalled(let s): "killed by \(signalName(s))"
            }
        }
    }

    /// Why the run ended.
    public enum Ending: Sendable, Hashable {
        /// The process exited (or died) on its own.
        case finished
        /// The timeout expired and the process group was killed.
        case timedOut
        /// The caller's task was cancelled and the process group was killed.
        case cancelled
    }

    public var termination: Termination
    public var ending: Ending
    /// The process id of the agent, which is also its process group and session id.
    public var processGroup: Int32
    public var standardOutput: String
    public var standardError: String
    /// True when stdout or stderr was longer than the limit and was cut.
    public var outputTruncated: Bool
    /// From launch to the end of the process (and, after a timeout, of its group).
    public var duration: Duration
}

/// The process could not be started.
public struct ProcessLaunchError: Error, Hashable, Sendable, CustomStringConvertible {
    public var executable: String
    public var reason: String
    /// True when the executable does not exist or is not executable.
    public var notFound: Bool

    public var description: String {
        "cannot run \(executable): \(reason)" + (notFound ? "; check that it exists and is executable (chmod +x)" : "")
    }
}

/// Runs agent processes: each in a new session (so in its own process group), with a timeout
/// that kills the whole group, bounded capture of stdout and stderr, and the exec time measured.
///
/// The agent itself is always reaped. When an action ends normally, whatever the agent left
/// running in its group (the daemon a start action launched) is left alone, as Pacemaker does.
/// When it times out or is cancelled, the group gets SIGTERM (and SIGCONT, so stopped members
/// can act on it), then SIGKILL once the grace period is over or at once when only the agent
/// itself remains, so no member of the group survives.
public enum ProcessRunner {
    /// Runs the request to its end. `launched` is called with the process id (also its group
    /// and session id) as soon as the process runs, before its end is awaited (lrmd records it
    /// there: see `OperationJournal`).
    ///
    /// The process is started with posix_spawn and watched, with every other running agent, by
    /// one epoll thread (`AgentSpawn`, `ProcessReactor`); where the C library lacks what that
    /// needs (glibc before 2.36), by swift-subprocess.
    public static func run(_ request: ProcessRequest, launched: (@Sendable (Int32) -> Void)? = nil) async throws(ProcessLaunchError) -> ProcessOutcome {
        guard AgentSpawn.isAvailable else { return try await runWithSubprocess(request, launched: launched) }
        let clock = ContinuousClock()
        let started = clock.now
        let spawned = try AgentSpawn.spawn(request)
        launched?(spawned.pid)
        let limit = max(0, request.outputLimit)
        let ticket = ProcessReactor.Ticket()
        var completion = await withTaskCancellationHandler {
            await ProcessReactor.shared.watch(spawned, limit: limit, timeout: request.timeout, ticket: ticket)
        } onCancel: {
            ProcessReactor.shared.cancel(ticket)
        }
        var ending = ProcessOutcome.Ending.finished
        let status: Int32
        switch completion.ending {
        case .exited(let s):
            status = s
        case .deadline, .cancelled:
            // Outside this (possibly cancelled) task, so that the grace period and the reaping
            // are really waited for.
            let pid = spawned.pid, pidfd = completion.pidfd, grace = request.killGrace
            var timedOut = false
            if case .deadline = completion.ending { timedOut = true }
            let (s, killed) = await Task {
                var killed = false
                // An agent that already exited finished in time: never kill what a successful
                // start left running.
                if !ProcessRunner.processHasExited(pid, pidfd) {
                    killed = true
                    await ProcessRunner.killProcessGroup(pid, grace: grace, leaderExited: { ProcessRunner.processHasExited(pid, pidfd) })
                }
                return (await ProcessRunner.reap(pid), killed)
            }.value
            close(pidfd)
            ProcessReactor.collectRest(&completion, limit: limit)
            status = s
            if killed { ending = timedOut ? .timedOut : .cancelled }
        }
        let termination: ProcessOutcome.Termination = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
        return ProcessOutcome(
            termination: termination,
            ending: ending,
            processGroup: spawned.pid,
            standardOutput: String(decoding: completion.stdout, as: UTF8.self),
            standardError: String(decoding: completion.stderr, as: UTF8.self),
            outputTruncated: completion.truncated,
            duration: clock.now - started)
    }

    /// Waits for our child `pid` to end and reaps it; returns its wait status.
    private static func reap(_ pid: pid_t) async -> Int32 {
        var status: Int32 = 0
        var pause = Duration.milliseconds(1)
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { return status }
            if rc < 0 && errno == EINTR { continue }
            if rc < 0 { return 255 << 8 }  // reaped elsewhere: the status is lost
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(20))
        }
    }

    /// The same with swift-subprocess (fork/exec and its own monitor threads).
    private static func runWithSubprocess(_ request: ProcessRequest, launched: (@Sendable (Int32) -> Void)?) async throws(ProcessLaunchError) -> ProcessOutcome {
        var env: [Environment.Key: String] = [:]
        for (k, v) in request.environment {
            if let key = Environment.Key(rawValue: k) { env[key] = v }
        }
        var options = PlatformOptions()
        options.createSession = true
        // Used by swift-subprocess when the calling task is cancelled mid-run.
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: request.killGrace)]
        let configuration = Configuration(
            executable: .path(FilePath(request.executable)),
            arguments: Arguments(request.arguments),
            environment: .custom(env),
            workingDirectory: FilePath(request.workingDirectory),
            platformOptions: options)

        let clock = ContinuousClock()
        let started = clock.now
        do {
            let result: ExecutionResult<Supervised, SequenceOutput, SequenceOutput>
            if let text = request.standardInput {
                result = try await Subprocess.run(configuration, input: .string(text), output: .sequence, error: .sequence) { execution in
                    launched?(execution.processIdentifier.value)
                    return await supervise(execution, request)
                }
            } else {
                result = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .sequence) { execution in
                    launched?(execution.processIdentifier.value)
                    return await supervise(execution, request)
                }
            }
            let supervised = result.closureResult
            let termination: ProcessOutcome.Termination
            switch result.terminationStatus {
            case .exited(let code): termination = .exited(code)
            case .signaled(let signal): termination = .signalled(signal)
            }
            return ProcessOutcome(
                termination: termination,
                ending: supervised.ending,
                processGroup: result.processIdentifier.value,
                standardOutput: String(decoding: supervised.stdout.bytes, as: UTF8.self),
                standardError: String(decoding: supervised.stderr.bytes, as: UTF8.self),
                outputTruncated: supervised.stdout.truncated || supervised.stderr.truncated,
                duration: clock.now - started)
        } catch let error as SubprocessError {
            let notFound = error.code == .init(.executableNotFound) || !FileManager.default.isExecutableFile(atPath: request.executable)
            throw ProcessLaunchError(executable: request.executable, reason: "\(error)", notFound: notFound)
        } catch {
            throw ProcessLaunchError(executable: request.executable, reason: "\(error)", notFound: false)
        }
    }

    struct Captured: Sendable {
        var bytes: [UInt8] = []
        var truncated = false
    }

    struct Supervised: Sendable {
        var stdout = Captured()
        var stderr = Captured()
        var ending = ProcessOutcome.Ending.finished
    }

    private enum Piece: Sendable {
        case stdout(Captured)
        case stderr(Captured)
        case deadline
        case cancelled
        case exited
    }

    /// Watches a running process: collects its output, and kills its group when the deadline
    /// passes or the caller is cancelled.
    private static func supervise(_ execution: Execution<some InputProtocol, SequenceOutput, SequenceOutput>, _ request: ProcessRequest) async -> Supervised {
        let pid = execution.processIdentifier.value
        let pidfd = execution.processIdentifier.processDescriptor
        let limit = max(0, request.outputLimit)
        var supervised = Supervised()
        await withTaskGroup(of: Piece.self) { group in
            group.addTask { .stdout(await collect(execution.standardOutput, limit: limit)) }
            group.addTask { .stderr(await collect(execution.standardError, limit: limit)) }
            group.addTask {
                do {
                    // Capped so that an absurd timeout cannot overflow the sleep.
                    try await DeadlineSleep.sleep(for: min(request.timeout, .seconds(366 * 86_400)))
                    return .deadline
                } catch {
                    return .cancelled
                }
            }
            var readersDone = 0
            var exited = false
            var watchingExit = false
            while let piece = await group.next() {
                switch piece {
                case .stdout(let c):
                    supervised.stdout = c
                    readersDone += 1
                case .stderr(let c):
                    supervised.stderr = c
                    readersDone += 1
                case .deadline:
                    // An agent that already exited finished in time, even if its output is
                    // still being read: never kill what a successful start left running.
                    if !exited && processHasExited(pid, pidfd) { exited = true }
                    if !exited && supervised.ending == .finished { supervised.ending = .timedOut }
                case .cancelled:
                    if !exited && processHasExited(pid, pidfd) { exited = true }
                    if !exited && supervised.ending == .finished { supervised.ending = .cancelled }
                case .exited:
                    exited = true
                }
                if supervised.ending != .finished && !exited {
                    // Kill the group outside this (possibly cancelled) task so the grace
                    // period is really waited for.
                    let grace = request.killGrace
                    await Task { await killProcessGroup(pid, grace: grace, leaderExited: { processHasExited(pid, pidfd) }) }.value
                    exited = true
                }
                if readersDone == 2 && !exited && !watchingExit {
                    // Both pipes are closed; the agent has usually exited by now, but it may
                    // have closed them itself and still be running: wait for its end.
                    group.addTask {
                        var pause = Duration.milliseconds(1)
                        while !processHasExited(pid, pidfd) {
                            do { try await Task.sleep(for: pause) } catch { return .cancelled }
                            pause = min(pause * 2, .milliseconds(20))
                        }
                        return .exited
                    }
                    watchingExit = true
                }
                if exited && readersDone == 2 {
                    group.cancelAll()
                }
            }
        }
        return supervised
    }

    /// Reads a stream to its end, keeping at most `limit` bytes.
    private static func collect(_ sequence: SubprocessOutputSequence, limit: Int) async -> Captured {
        var captured = Captured()
        do {
            for try await buffer in sequence {
                let room = limit - captured.bytes.count
                buffer.withUnsafeBytes { raw in
                    if room > 0 { captured.bytes.append(contentsOf: raw.prefix(room)) }
                    if raw.count > room { captured.truncated = true }
                }
            }
        } catch {
            // The stream ends with an error when the process is torn down; keep what was read.
        }
        return captured
    }

    /// True once the process has terminated (it is then a zombie until swift-subprocess reaps
    /// it, which keeps its pid, and so its process group id, from being reused meanwhile).
    static func processHasExited(_ pid: pid_t, _ pidfd: CInt) -> Bool {
        if pidfd >= 0 {
            var fds = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            return poll(&fds, 1, 0) > 0
        }
        guard let state = ProcessTable.state(of: pid) else { return true }
        return state == "Z" || state == "X"
    }

    /// SIGTERM (and SIGCONT) to the group, then SIGKILL after `grace` or as soon as no member
    /// other than an exited leader is left. Only the group the runner created is signalled.
    static func killProcessGroup(_ pgid: pid_t, grace: Duration, leaderExited: @Sendable () -> Bool) async {
        guard pgid > 1 else { return }
        kill(-pgid, SIGTERM)
        kill(-pgid, SIGCONT)
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while clock.now < deadline {
            if leaderExited() && ProcessTable.liveMembers(ofGroup: pgid).isEmpty { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        kill(-pgid, SIGKILL)
        // Wait (bounded) for the leader to die so the caller's reaping does not stall.
        let hardDeadline = clock.now + .seconds(5)
        while !leaderExited() && clock.now < hardDeadline {
            try? await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// Reads Linux's /proc process table.
public enum ProcessTable {
    /// One process as /proc/PID/stat shows it.
    public struct Entry: Sendable, Hashable {
        public var pid: Int32
        public var state: Character
        public var parent: Int32
        public var processGroup: Int32
        public var session: Int32
        /// When the process started, in clock ticks since boot (field 22 of /proc/PID/stat):
        /// with the pid, it names one process of this boot (a reused pid has a later one).
        public var startTime: UInt64
    }

    /// The entry of one process, nil when there is no such process.
    public static func entry(of pid: Int32) -> Entry? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After "pid (comm) ": state ppid pgrp session ... (field 3 on); starttime is field 22.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count >= 20, let state = fields[0].first,
              let ppid = Int32(fields[1]), let pgrp = Int32(fields[2]), let sid = Int32(fields[3]),
              let start = UInt64(fields[19]) else { return nil }
        return Entry(pid: pid, state: state, parent: ppid, processGroup: pgrp, session: sid, startTime: start)
    }

    /// The state letter (R, S, D, Z, ...) of a process, nil when there is none.
    public static func state(of pid: Int32) -> Character? { entry(of: pid)?.state }

    /// True when the process exists and has not terminated (it is not a zombie).
    public static func isRunning(_ pid: Int32) -> Bool {
        guard let s = state(of: pid) else { return false }
        return s != "Z" && s != "X"
    }

    /// Every process of the group that has not terminated.
    public static func liveMembers(ofGroup pgid: Int32) -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var out: [Int32] = []
        for name in names {
            guard let pid = Int32(name), let e = entry(of: pid), e.processGroup == pgid else { continue }
            if e.state != "Z" && e.state != "X" { out.append(pid) }
        }
        return out
    }
}

/// A sleep for an agent's timeout that, when cancelled (the agent ended first, as nearly every
/// agent does), frees its timer at once. `Task.sleep` keeps its wake-up job until the deadline
/// even when cancelled: with 20 s timeouts and hundreds of operations a second, lrmd held
/// about a kilobyte per operation of the last timeout's worth of them.
enum DeadlineSleep {
    /// The continuation and the timer, ended once (by the timer or by cancellation).
    private final class State: @unchecked Sendable {
        private let lock = ThreadLock()
        private var continuation: CheckedContinuation<Void, any Error>?
        private var source: (any DispatchSourceTimer)?
        private var cancelled = false

        /// Keeps the continuation and timer; false when the task was already cancelled.
        func start(_ c: CheckedContinuation<Void, any Error>, _ timer: any DispatchSourceTimer) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            if cancelled { return false }
            continuation = c
            source = timer
            return true
        }

        /// Ends the sleep once: the timer fired (`cancelled` false) or the task was cancelled.
        func finish(cancelled: Bool) {
            lock.lock()
            if cancelled { self.cancelled = true }
            let c = continuation, timer = source
            continuation = nil
            source = nil
            lock.unlock()
            timer?.cancel()
            if cancelled { c?.resume(throwing: CancellationError()) } else { c?.resume() }
        }
    }

    static func sleep(for duration: Duration) async throws {
        let state = State()
        let (seconds, attoseconds) = duration.components
        let nanoseconds = max(0, seconds) * 1_000_000_000 + max(0, attoseconds) / 1_000_000_000
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let timer = DispatchSource.makeTimerSource(queue: .global())
                timer.schedule(deadline: .now() + .nanoseconds(Int(clamping: nanoseconds)))
                timer.setEventHandler { state.finish(cancelled: false) }
                if state.start(c, timer) {
                    timer.resume()
                } else {
                    // Cancelled, then activated: a source must not be released inactive.
                    timer.cancel()
                    timer.resume()
                    c.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            state.finish(cancelled: true)
        }
    }
}
