import ArgumentParser
import CSystemd
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras
import HASupport
import Logging

/// pacemakerd: starts a node's daemons in order (corosyncd, cibd, stonithd, lrmd, crmd), each
/// once the previous one says it is ready (sd_notify READY=1 on a socket pacemakerd gives it),
/// restarts one that dies, gives up on one that keeps dying, and stops them in reverse order
/// on SIGTERM. The decisions are `Supervisor`'s; this is the shell that runs processes.
struct Pacemakerd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pacemakerd",
        abstract: "Start and watch a SwiftHA node's daemons.",
        discussion: """
        Starts corosyncd, cibd, stonithd, lrmd and crmd in that order, passing each --root and
        --node. A daemon that dies is restarted (after 0.5 s; corosyncd at once, so that it can
        rejoin the ring before the other nodes see this one leave it, and with realtime scheduling,
        SCHED_RR, when pacemakerd may set it, so that a busy machine does not hold its start up;
        corosyncd then keeps it or drops it as corosync.conf's system.sched_rr says); one that dies more than 5 times in 60 s makes
        pacemakerd stop the node's daemons and exit 1. SIGTERM stops them, crmd first: crmd
        moves the node's resources away and is waited for (it exits by itself after the
        cluster's shutdown-escalation, default 20min, and says so with EXTEND_TIMEOUT_USEC);
        a daemon stopped after it that takes more than 3 minutes is killed.
        The root and node name come from --root/--node or SWIFTHA_ROOT/SWIFTHA_NODE.
        """)

    @Option(help: "The node's root directory (default: SWIFTHA_ROOT, else /).") var root: String?
    @Option(help: "The node's name (default: SWIFTHA_NODE).") var node: String?
    @Option(name: .customLong("daemons-from"), help: "Where the daemons' executables are (default: beside pacemakerd).")
    var daemonsFrom: String?
    @Option(help: "The daemons to run, in order (comma-separated).") var daemons = "corosyncd,cibd,stonithd,lrmd,crmd"
    @Flag(name: .shortAndLong, help: "Log debug messages.") var verbose = false

    func run() throws {
        ParentWatch.start(program: "pacemakerd")
        bootstrapLogging(program: "pacemakerd", level: verbose ? .debug : .info, node: node)
        let env = NodeEnvironment(root: root, node: node)
        let dir = daemonsFrom ?? URL(fileURLWithPath: Self.ownExecutable()).deletingLastPathComponent().path
        let names = daemons.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ValidationError("--daemons names no daemon") }
        for n in names where !FileManager.default.isExecutableFile(atPath: dir + "/" + n) {
            throw ValidationError("\(n) is not an executable in \(dir); build the package (swift build) or give --daemons-from DIR")
        }
        Self.checkRoot(env.root)
        Self.lockRoot(env)
        let shell = try SupervisorShell(env: env, directory: dir, daemons: names)
        shell.run()
    }

    /// Says what is wrong on one line and exits with `code`.
    static func fail(_ message: String, _ code: CRMExit) -> Never {
        let line = Array("pacemakerd: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        HASupport.exit(code)
    }

    /// The node's root must be a writable directory already (it holds corosync.conf and the
    /// CIB): a mistyped --root is refused at once, nothing made under it.
    static func checkRoot(_ root: String) {
        var st = stat()
        guard stat(root, &st) == 0 else {
            fail("the node root \(root) does not exist; give the node's root with --root DIR (or SWIFTHA_ROOT), the directory holding etc/corosync/corosync.conf", .config)
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            fail("the node root \(root) is not a directory; give the node's root with --root DIR (or SWIFTHA_ROOT)", .config)
        }
        guard access(root, W_OK) == 0 else {
            fail("the node root \(root) is not writable (\(String(cString: strerror(errno)))); run pacemakerd as root or as the owner of \(root)", .insufficientPrivileges)
        }
    }

    /// One pacemakerd per node root: a second one would take over the first one's notify
    /// sockets and start a second set of daemons. Held (flock) until pacemakerd exits; the
    /// daemons do not inherit it.
    static func lockRoot(_ env: NodeEnvironment) {
        let dir = env.socketDirectory
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            fail("cannot create \(dir): \(error)", .cantCreate)
        }
        let path = dir + "/pacemakerd.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { fail("cannot open \(path): \(String(cString: strerror(errno)))", .cantCreate) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingWhitespace() ?? ""
            fail("another pacemakerd\(holder.isEmpty ? "" : " (pid \(holder))") already runs for the node root \(env.root); stop it first (crm cluster stop, or kill -TERM\(holder.isEmpty ? "" : " \(holder)")), or give this one its own --root", .fatal)
        }
        _ = ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        // fd stays open (and locked) for the life of the process.
    }

    static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// Runs the supervisor's directives on one serial queue: processes, notify sockets, timers
/// and signals.
final class SupervisorShell: @unchecked Sendable {
    let env: NodeEnvironment
    let directory: String
    let queue = DispatchQueue(label: "pacemakerd")
    let logger = Logger(label: "pacemakerd")
    let start = ContinuousClock.now
    var supervisor: Supervisor
    var pids: [String: pid_t] = [:]
    var timers: [Supervisor.Timer: DispatchWorkItem] = [:]
    var signalSources: [DispatchSourceSignal] = []
    let socketDirectory: String
    /// Started with SCHED_RR at the highest priority, as they would set it themselves at
    /// once: their start-up (loading, reading the configuration) is not delayed on a busy
    /// machine. Cleared when pacemakerd may not (not root: it says so once).
    var realtime: Set<String> = ["corosyncd"]

    init(env: NodeEnvironment, directory: String, daemons: [String]) throws {
        self.env = env
        self.directory = directory
        supervisor = Supervisor(daemons: daemons)
        socketDirectory = env.socketDirectory
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        for d in daemons { try listenForNotifications(of: d) }
    }

    var now: Duration { start.duration(to: .now) }

    func run() -> Never {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [unowned self] in
                logger.notice("signal \(sig): stopping the node's daemons")
                perform(supervisor.stop(now: now))
            }
            source.resume()
            signalSources.append(source)
        }
        queue.async { [self] in perform(supervisor.start(now: now)) }
        dispatchMain()
    }

    func notifyPath(_ daemon: String) -> String { "\(socketDirectory)/notify-\(daemon).sock" }

    /// A datagram socket per daemon, given to it as NOTIFY_SOCKET: what arrives there is that
    /// daemon's.
    func listenForNotifications(of daemon: String) throws {
        let path = notifyPath(daemon)
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw ValidationError("cannot create a socket for \(daemon)'s notifications: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw ValidationError("the socket path \(path) is too long; use a shorter --root") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw ValidationError("cannot bind \(path): \(String(cString: strerror(errno)))") }
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [unowned self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return }
            let text = String(decoding: buffer[0..<n], as: UTF8.self)
            let lines = text.split(separator: "\n")
            if lines.contains("READY=1") {
                perform(supervisor.onReady(daemon, now: now))
            }
            // How much longer its stop may take (crmd: the cluster's shutdown-escalation).
            if let line = lines.first(where: { $0.hasPrefix("EXTEND_TIMEOUT_USEC=") }),
               let usec = UInt64(line.dropFirst("EXTEND_TIMEOUT_USEC=".count)) {
                perform(supervisor.onStopDeadline(daemon, after: .microseconds(Int64(clamping: usec)), now: now))
            }
        }
        source.resume()
        readSources.append(source)
    }
    var readSources: [DispatchSourceRead] = []

    func perform(_ directives: [Supervisor.Directive]) {
        for d in directives {
            switch d {
            case .spawn(let name): spawn(name)
            case .signal(let name, let sig):
                if let pid = pids[name] { kill(pid, sig) }
            case .arm(let timer, let after):
                timers[timer]?.cancel()
                let item = DispatchWorkItem { [unowned self] in
                    timers[timer] = nil
                    perform(supervisor.onTimer(timer, now: now))
                }
                timers[timer] = item
                if after <= .zero {
                    // At once (corosyncd's restart): no timer in between.
                    queue.async(execute: item)
                    continue
                }
                let ns = after.components.seconds * 1_000_000_000 + after.components.attoseconds / 1_000_000_000
                queue.asyncAfter(deadline: .now() + .nanoseconds(Int(ns)), execute: item)
            case .disarm(let timer):
                timers.removeValue(forKey: timer)?.cancel()
            case .ready:
                _ = sd_notify(0, "READY=1\nSTATUS=all daemons started")
            case .extendTimeout(let d):
                let usec = d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000
                _ = sd_notify(0, "EXTEND_TIMEOUT_USEC=\(usec)")
            case .log(let message):
                logger.notice("\(message)")
            case .exit(let status):
                _ = sd_notify(0, "STOPPING=1")
                for d in supervisor.daemons { unlink(notifyPath(d)) }
                exit(status)
            }
        }
    }

    /// POSIX_SPAWN_SETSCHEDULER (glibc's spawn.h), which Swift's Glibc module may not show.
    static let spawnSetScheduler: Int32 = 0x20

    func spawn(_ name: String) {
        let path = directory + "/" + name
        var arguments = [path, "--root", env.root]
        if let node = env.node { arguments += ["--node", node] }
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTHA_ROOT"] = env.root
        if let node = env.node { environment["SWIFTHA_NODE"] = node }
        environment["NOTIFY_SOCKET"] = notifyPath(name)
        // When pacemakerd was told to stop with a process (a test), so are its daemons. Not
        // with pacemakerd itself: a node's power cut (fence_swiftha) kills them all at once,
        // and daemons that noticed pacemakerd's end first would shut down cleanly instead.
        if let watched = ParentWatch.watched { environment[ParentWatch.variable] = String(watched) }
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        // The child starts with no signal blocked and SIGTERM/SIGINT at their defaults: the
        // queue's thread that spawns it blocks signals, and pacemakerd ignores those two.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        let flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        posix_spawnattr_setflags(&attr, Int16(flags))
        let rr = realtime.contains(name)
        if rr {
            var param = sched_param(sched_priority: sched_get_priority_max(SCHED_RR))
            posix_spawnattr_setschedpolicy(&attr, SCHED_RR)
            posix_spawnattr_setschedparam(&attr, &param)
            posix_spawnattr_setflags(&attr, Int16(flags | Self.spawnSetScheduler))
        }
        var rc = posix_spawn(&pid, path, nil, &attr, argv, envp)
        if rr && rc == EPERM {
            realtime.remove(name)
            logger.warning("cannot start \(name) with realtime scheduling (SCHED_RR: \(String(cString: strerror(rc)))); starting it without, and it sets its own if it may")
            posix_spawnattr_setflags(&attr, Int16(flags))
            rc = posix_spawn(&pid, path, nil, &attr, argv, envp)
        }
        guard rc == 0 else {
            logger.error("cannot start \(name) (\(path)): \(String(cString: strerror(rc)))")
            perform(supervisor.onExit(name, status: 127, now: now))
            return
        }
        pids[name] = pid
        let child = pid
        logger.debug("\(name) started, pid \(child)")
        // A thread per daemon waits for it; its exit comes back through the queue.
        detachThread { [unowned self] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            queue.async { [self] in
                if pids[name] == child { pids[name] = nil }
                perform(supervisor.onExit(name, status: code, now: now))
            }
        }
    }
}

Pacemakerd.main()
