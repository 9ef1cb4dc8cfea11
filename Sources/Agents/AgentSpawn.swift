#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EssentialsExtras

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts agent processes with posix_spawn: glibc starts the child with clone(CLONE_VM |
/// CLONE_VFORK), so lrmd's page tables are not copied for every operation as a fork would,
/// and the child does only what the agent needs before its exec:
///
/// - a new session (`POSIX_SPAWN_SETSID`), so the agent leads its own process group;
/// - every signal back to its default action and an empty signal mask;
/// - stdin from /dev/null (or a pipe holding the request's input), stdout and stderr to pipes;
/// - the working directory; every other descriptor closed with one close_range
///   (`posix_spawn_file_actions_addclosefrom_np`), not one close per possible descriptor.
///
/// The process is then watched by a pidfd (`pidfd_open`), so its end is an event, and its pid
/// (its process group) cannot be reused before it is reaped.
enum AgentSpawn {
    /// A started process and lrmd's ends of its descriptors.
    struct Spawned {
        var pid: pid_t
        var pidfd: Int32
        /// The read ends of its stdout and stderr pipes (non-blocking, close-on-exec).
        var stdout: Int32
        var stderr: Int32
    }

    // spawn.h's flags; POSIX_SPAWN_SETSID is behind _GNU_SOURCE, so none is taken from the header.
    private static let setSignalDefaults: Int16 = 0x04
    private static let setSignalMask: Int16 = 0x08
    private static let setSession: Int16 = 0x80

    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    // glibc 2.29 (addchdir_np), 2.34 (addclosefrom_np) and 2.36 (pidfd_open); looked up at run
    // time so that an older libc falls back to the portable runner instead of failing to load.
    private static let addChdir: AddChdir? =
        dlsym(nil, "posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: AddChdir.self) }
    private static let addClosefrom: AddClosefrom? =
        dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: AddClosefrom.self) }
    private static let pipe2: Pipe2? =
        dlsym(nil, "pipe2").map { unsafeBitCast($0, to: Pipe2.self) }
    private static let pidfdOpen: PidfdOpen? =
        dlsym(nil, "pidfd_open").map { unsafeBitCast($0, to: PidfdOpen.self) }

    /// True when this libc has everything `spawn` and `ProcessReactor` need.
    static let isAvailable: Bool = {
        guard addChdir != nil, addClosefrom != nil, pipe2 != nil, LinuxEvents.isAvailable, let open = pidfdOpen else { return false }
        // The kernel must know pidfds too (Linux 5.3).
        let fd = open(getpid(), 0)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }()

    /// The pipe can take this much input before the agent reads any (`F_SETPIPE_SZ` is limited
    /// by /proc/sys/fs/pipe-max-size, 1 MiB by default).
    static let inputLimit = 1 << 20

    /// Starts the process of `request`. Throws when it cannot be started (the executable is
    /// missing or not executable, or the system is out of processes or descriptors).
    static func spawn(_ request: ProcessRequest) throws(ProcessLaunchError) -> Spawned {
        func failure(_ what: String, _ code: Int32) -> ProcessLaunchError {
            ProcessLaunchError(executable: request.executable, reason: "\(what): \(String(cString: strerror(code)))", notFound: false)
        }
        var output: [Int32] = [-1, -1]
        var errors: [Int32] = [-1, -1]
        var input: [Int32] = [-1, -1]
        var pidfd: Int32 = -1
        var spawned = false
        defer {
            // The child's ends always; ours too when the spawn failed.
            for fd in [output[1], errors[1], input[0]] where fd >= 0 { close(fd) }
            if !spawned {
                for fd in [output[0], errors[0], input[1], pidfd] where fd >= 0 { close(fd) }
            }
        }
        guard pipe2!(&output, O_CLOEXEC) == 0, pipe2!(&errors, O_CLOEXEC) == 0 else { throw failure("cannot make a pipe", errno) }
        _ = fcntl(output[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(errors[0], F_SETFL, O_NONBLOCK)
        if let text = request.standardInput {
            // Written whole before the start, so that lrmd never blocks on (or gets SIGPIPE
            // from) an agent that does not read its input.
            let bytes = Array(text.utf8)
            guard bytes.count <= inputLimit else {
                throw ProcessLaunchError(executable: request.executable, reason: "its standard input is \(bytes.count) bytes, more than the \(inputLimit) a pipe can hold", notFound: false)
            }
            guard pipe2!(&input, O_CLOEXEC) == 0 else { throw failure("cannot make a pipe", errno) }
            if bytes.count > 65536 { _ = fcntl(input[1], 1031 /* F_SETPIPE_SZ */, Int32(bytes.count)) }
            _ = fcntl(input[1], F_SETFL, O_NONBLOCK)
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { write(input[1], $0.baseAddress! + done, bytes.count - done) }
                if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { throw failure("cannot write its standard input", errno) }
            }
            close(input[1])
            input[1] = -1
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if input[0] >= 0 {
            posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        _ = request.workingDirectory.withCString { addChdir!(&actions, $0) }
        _ = addClosefrom!(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, setSignalDefaults | setSignalMask | setSession)

        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(request.executable)] + request.arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = request.environment.map { strdup($0.key + "=" + $0.value) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, request.executable, &actions, &attributes, &argv, &envp)
        guard rc == 0 else {
            let notFound = rc == ENOENT || rc == EACCES || rc == ENOEXEC || rc == EISDIR || access(request.executable, X_OK) != 0
            throw ProcessLaunchError(executable: request.executable, reason: String(cString: strerror(rc)), notFound: notFound)
        }
        pidfd = pidfdOpen!(pid, 0)
        if pidfd < 0 {
            // Cannot happen for our own unreaped child; never leave it unwatched.
            let code = errno
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            throw failure("cannot watch the process (pidfd_open)", code)
        }
        spawned = true
        return Spawned(pid: pid, pidfd: pidfd, stdout: output[0], stderr: errors[0])
    }
}

/// One thread that watches every running agent with epoll: its pidfd (its end), its stdout
/// and stderr pipes (read as output arrives, kept up to the limit) and its deadline (a
/// timerfd armed for the earliest). When the agent exits, its pipes are drained, it is reaped
/// and its caller is resumed: one wake-up of one thread per run, not a task per pipe plus a
/// timer per run.
final class ProcessReactor: @unchecked Sendable {
    static let shared = ProcessReactor()

    /// How a watch ended.
    enum Ending: Sendable {
        /// The process exited (and was reaped) with this wait status.
        case exited(Int32)
        /// The deadline passed first.
        case deadline
        /// The caller was cancelled first.
        case cancelled
    }

    struct Completion: Sendable {
        var ending: Ending
        var stdout: [UInt8]
        var stderr: [UInt8]
        var truncated: Bool
        /// After `.deadline` and `.cancelled`, the descriptors still open (-1 for a closed one),
        /// for the caller to drain and close once it has killed the group.
        var pidfd: Int32
        var pipes: (Int32, Int32)
    }

    /// A caller's handle, made before its watch is registered so that a cancellation that
    /// comes first is not lost.
    final class Ticket: @unchecked Sendable {
        fileprivate var id: UInt64 = 0
        fileprivate var cancelled = false
    }

    private final class Watch {
        let id: UInt64
        let pid: pid_t
        let pidfd: Int32
        var pipes: [Int32]
        var captured: [[UInt8]] = [[], []]
        var truncated = false
        let limit: Int
        let deadline: UInt64
        let continuation: CheckedContinuation<Completion, Never>

        init(id: UInt64, spawned: AgentSpawn.Spawned, limit: Int, deadline: UInt64, continuation: CheckedContinuation<Completion, Never>) {
            self.id = id
            self.pid = spawned.pid
            self.pidfd = spawned.pidfd
            self.pipes = [spawned.stdout, spawned.stderr]
            self.limit = limit
            self.deadline = deadline
            self.continuation = continuation
        }
    }

    private let epoll: Int32
    private let timer: Int32
    private let lock = ThreadLock()
    // Guarded by `lock`:
    private var watches: [UInt64: Watch] = [:]
    private var nextID: UInt64 = 1
    /// When the timerfd is armed to ring (0: not armed).
    private var armed: UInt64 = 0
    /// Read buffer of the reactor thread.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    private init() {
        epoll = LinuxEvents.epollCreate1!(O_CLOEXEC)
        timer = LinuxEvents.timerfdCreate!(CLOCK_MONOTONIC, O_CLOEXEC | O_NONBLOCK)
        precondition(epoll >= 0 && timer >= 0, "cannot create the agent watcher's epoll or timerfd: \(String(cString: strerror(errno)))")
        LinuxEvents.add(epoll, timer, data: 0)
        detachThread { [self] in run() }
    }

    /// CLOCK_MONOTONIC in nanoseconds (timerfd's clock).
    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Watches a spawned process until it exits, its deadline passes, or `cancel(ticket)`.
    func watch(_ spawned: AgentSpawn.Spawned, limit: Int, timeout: Duration, ticket: Ticket) async -> Completion {
        let (seconds, attoseconds) = min(timeout, .seconds(366 * 86_400)).components
        let deadline = Self.monotonicNow() + UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
        return await withCheckedContinuation { continuation in
            lock.lock()
            if ticket.cancelled {
                lock.unlock()
                continuation.resume(returning: Completion(ending: .cancelled, stdout: [], stderr: [], truncated: false,
                                                          pidfd: spawned.pidfd, pipes: (spawned.stdout, spawned.stderr)))
                return
            }
            let id = nextID
            nextID += 1
            ticket.id = id
            let w = Watch(id: id, spawned: spawned, limit: limit, deadline: deadline, continuation: continuation)
            watches[id] = w
            add(w.pidfd, id, 0)
            add(w.pipes[0], id, 1)
            add(w.pipes[1], id, 2)
            if armed == 0 || deadline < armed { arm(deadline) }
            lock.unlock()
        }
    }

    /// Ends the ticket's watch as cancelled (or makes its coming watch end at once).
    func cancel(_ ticket: Ticket) {
        lock.lock()
        ticket.cancelled = true
        var done: (CheckedContinuation<Completion, Never>, Completion)?
        if let w = watches.removeValue(forKey: ticket.id) {
            done = (w.continuation, detach(w, .cancelled))
        }
        lock.unlock()
        if let (c, r) = done { c.resume(returning: r) }
    }

    // MARK: - The reactor thread

    private func add(_ fd: Int32, _ id: UInt64, _ slot: UInt64) {
        LinuxEvents.add(epoll, fd, data: id << 2 | slot)
    }

    private func arm(_ deadline: UInt64) {
        armed = deadline
        var spec = itimerspec(it_interval: timespec(),
                              it_value: timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000)))
        _ = LinuxEvents.timerfdSettime!(timer, 1 /* TFD_TIMER_ABSTIME */, &spec, nil)
    }

    private func run() {
        let capacity = 64
        let events = UnsafeMutableRawPointer.allocate(byteCount: capacity * LinuxEvents.eventSize, alignment: 8)
        var completions: [(CheckedContinuation<Completion, Never>, Completion)] = []
        while true {
            let n = LinuxEvents.epollWait!(epoll, events, Int32(capacity), -1)
            if n < 0 { continue }  // EINTR
            lock.lock()
            for i in 0..<Int(n) {
                let data = LinuxEvents.data(of: events, i)
                if data == 0 {
                    var expirations: UInt64 = 0
                    _ = read(timer, &expirations, 8)
                    expire(&completions)
                    continue
                }
                // Events of a watch that has already ended (a descriptor briefly shared with
                // a child being spawned) are ignored.
                guard let w = watches[data >> 2] else { continue }
                let slot = Int(data & 3)
                if slot == 0 {
                    watches[w.id] = nil
                    completions.append((w.continuation, finish(w)))
                } else {
                    drain(w, slot - 1)
                }
            }
            lock.unlock()
            for (c, r) in completions { c.resume(returning: r) }
            completions.removeAll(keepingCapacity: true)
        }
    }

    /// Reads what a pipe holds; closes it at end of file.
    private func drain(_ w: Watch, _ index: Int) {
        let fd = w.pipes[index]
        guard fd >= 0 else { return }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                let room = w.limit - w.captured[index].count
                if room > 0 { w.captured[index].append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<min(n, room)])) }
                if n > room { w.truncated = true }
                if n < buffer.count { return }
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                if n == 0 {
                    forget(fd)
                    w.pipes[index] = -1
                }
                return
            }
        }
    }

    /// The process has exited: takes what its pipes hold (not waiting for end of file, which
    /// a daemon it started may hold open), reaps it and closes its descriptors.
    private func finish(_ w: Watch) -> Completion {
        for i in 0..<2 where w.pipes[i] >= 0 {
            drainAvailable(w, i)
            forget(w.pipes[i])
            w.pipes[i] = -1
        }
        var status: Int32 = 0
        var rc: pid_t
        repeat { rc = waitpid(w.pid, &status, WNOHANG) } while rc < 0 && errno == EINTR
        if rc != w.pid {
            // Reaped elsewhere (SIGCHLD ignored): the status is lost; say it failed.
            status = 255 << 8
        }
        forget(w.pidfd)
        return Completion(ending: .exited(status), stdout: w.captured[0], stderr: w.captured[1], truncated: w.truncated,
                          pidfd: -1, pipes: (-1, -1))
    }

    private func drainAvailable(_ w: Watch, _ index: Int) {
        let fd = w.pipes[index]
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                let room = w.limit - w.captured[index].count
                if room > 0 { w.captured[index].append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<min(n, room)])) }
                if n > room { w.truncated = true }
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }

    /// Takes a descriptor out of the epoll set and closes it. Closing alone is not enough: while
    /// another thread's spawn holds a copy of the descriptor table (until its child's exec),
    /// the file stays open and its epoll entry, level-triggered and ready, would wake this
    /// thread again and again.
    private func forget(_ fd: Int32) {
        _ = LinuxEvents.epollCtl!(epoll, 2 /* EPOLL_CTL_DEL */, fd, nil)
        close(fd)
    }

    /// Takes a watch out of the epoll set, handing its open descriptors to the caller.
    private func detach(_ w: Watch, _ ending: Ending) -> Completion {
        _ = LinuxEvents.epollCtl!(epoll, 2 /* EPOLL_CTL_DEL */, w.pidfd, nil)
        for fd in w.pipes where fd >= 0 { _ = LinuxEvents.epollCtl!(epoll, 2 /* EPOLL_CTL_DEL */, fd, nil) }
        return Completion(ending: ending, stdout: w.captured[0], stderr: w.captured[1], truncated: w.truncated,
                          pidfd: w.pidfd, pipes: (w.pipes[0], w.pipes[1]))
    }

    /// Ends every watch whose deadline has passed; arms the timer for the next one.
    private func expire(_ completions: inout [(CheckedContinuation<Completion, Never>, Completion)]) {
        let now = Self.monotonicNow()
        var next: UInt64 = 0
        for w in Array(watches.values) {
            if w.deadline <= now {
                watches[w.id] = nil
                completions.append((w.continuation, detach(w, .deadline)))
            } else if next == 0 || w.deadline < next {
                next = w.deadline
            }
        }
        armed = 0
        if next != 0 { arm(next) }
    }

    /// After `.deadline` or `.cancelled`: once the caller killed the group, what the pipes
    /// still hold, then the descriptors closed.
    static func collectRest(_ c: inout Completion, limit: Int) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        for (index, fd) in [c.pipes.0, c.pipes.1].enumerated() where fd >= 0 {
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    let room = limit - (index == 0 ? c.stdout.count : c.stderr.count)
                    if room > 0 {
                        if index == 0 { c.stdout += buffer[..<min(n, room)] } else { c.stderr += buffer[..<min(n, room)] }
                    }
                    if n > room { c.truncated = true }
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(fd)
        }
        c.pipes = (-1, -1)
    }
}

/// epoll and timerfd, which Swift's Glibc module does not declare: looked up in the C library
/// (Linux 2.6.27, glibc 2.8), with `struct epoll_event` laid out by hand.
enum LinuxEvents {
    typealias EpollCreate1 = @convention(c) (Int32) -> Int32
    typealias EpollCtl = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    typealias EpollWait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32
    typealias TimerfdCreate = @convention(c) (Int32, Int32) -> Int32
    typealias TimerfdSettime = @convention(c) (Int32, Int32, UnsafePointer<itimerspec>?, UnsafeMutablePointer<itimerspec>?) -> Int32

    private static func symbol<T>(_ name: String, _ type: T.Type) -> T? {
        dlsym(nil, name).map { unsafeBitCast($0, to: T.self) }
    }
    static let epollCreate1 = symbol("epoll_create1", EpollCreate1.self)
    static let epollCtl = symbol("epoll_ctl", EpollCtl.self)
    static let epollWait = symbol("epoll_wait", EpollWait.self)
    static let timerfdCreate = symbol("timerfd_create", TimerfdCreate.self)
    static let timerfdSettime = symbol("timerfd_settime", TimerfdSettime.self)

    static var isAvailable: Bool {
        epollCreate1 != nil && epollCtl != nil && epollWait != nil && timerfdCreate != nil && timerfdSettime != nil
    }

    // struct epoll_event { uint32_t events; epoll_data_t data; }, packed on x86_64 only.
    #if arch(x86_64)
    static let eventSize = 12
    static let dataOffset = 4
    #else
    static let eventSize = 16
    static let dataOffset = 8
    #endif

    /// Adds `fd` to the epoll set for input (EPOLLIN), tagged with `data`.
    static func add(_ epoll: Int32, _ fd: Int32, data: UInt64) {
        var event: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &event) { raw in
            raw.storeBytes(of: UInt32(1) /* EPOLLIN */, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: data, toByteOffset: dataOffset, as: UInt64.self)
            _ = epollCtl!(epoll, 1 /* EPOLL_CTL_ADD */, fd, raw.baseAddress)
        }
    }

    /// The data of the `index`th event epoll_wait returned.
    static func data(of events: UnsafeMutableRawPointer, _ index: Int) -> UInt64 {
        events.loadUnaligned(fromByteOffset: index * eventSize + dataOffset, as: UInt64.self)
    }
}
