import ArgumentParser
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
import LocalIPC
import Logging
import Messaging
import NIOCore
import NIOPosix
import Synchronization

/// corosyncd: the cluster membership and messaging daemon (what corosync is for Pacemaker).
struct Corosyncd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corosyncd",
        abstract: "SwiftHA's cluster engine: membership, failure detection, ordered messaging and quorum over authenticated UDP.",
        discussion: """
        corosyncd reads <root>/etc/corosync/corosync.conf (or -c FILE) and the authkey, finds this \
        node in the nodelist (by --node NAME, else by a local ring0_addr), binds UDP on its ring0_addr \
        and totem.interface.mcastport (default 5405), and forms a ring with the other nodes. \
        transport udpu and knet both run over SwiftHA's UDP unicast; with knet, each ringX_addr is a \
        link, and every peer is reached on its lowest working link (heartbeats on all links, failover \
        within half the token timeout). It always runs in the foreground \
        and logs to journald when it is there, else to stderr.

        FAILURE DETECTION (totem section; milliseconds; corosync's defaults):
          token                 3000  the token must come back within this
          token_coefficient      650  added to token per node beyond 2
          consensus      1.2 * token  time to agree on a new membership
          join                    50  time to wait for joins in each round
          token_retransmits_before_loss_const   4
                                      token retransmissions before it is
                                      lost: token_retransmit is
                                      token / (this + 0.2)
          fail_recv_const       2500  token rotations a node may miss
                                      messages before it is taken out
          send_join                0  random delay up to this before a join

        effective token = token + (nodes - 2) * token_coefficient
                          (nodelist of 3 or more nodes; else token)
        consensus       = 1.2 * effective token, unless set
        detection      ~= effective token + consensus (+ network delay)
        With the defaults and 3 nodes: 3650 + 4380 = 8030 ms.
        With token 300 and token_coefficient 0: 300 + 360 = 660 ms.
        A node stopped with SIGTERM or SIGINT tells the others that it
        leaves, so they form the new membership at once.

        FILES (under --root): etc/corosync/corosync.conf, etc/corosync/authkey (crypto_cipher and \
        crypto_hash none turn encryption off, with a warning), var/lib/corosync/incarnation (the boot \
        counter), var/lib/corosync/ringid_<nodeid>, run/swiftha/corosyncd.status (state and packet counters), \
        run/swiftha/corosyncd.sock (the local IPC: CPG, quorum, cmap and cfg for cibd, crmd, stonithd and \
        corosync-cfgtool, corosync-quorumtool and corosync-cmapctl; root, corosyncd's user and group haclient).

        SCHEDULING (system section, as corosync 3.1): sched_rr: yes (the default) runs corosyncd \
        with round-robin realtime scheduling at the highest priority, so that a busy machine cannot \
        delay the token; when that is not permitted (not root, no CAP_SYS_NICE) it says so in the \
        log and tries the highest nice priority. sched_rr: no leaves the scheduling alone, or sets \
        the nice value of priority (-20..19, max, min). Its memory is locked against paging \
        (mlockall). -r and -p are corosync 3.0's options for sched_rr yes and no; they win over \
        the file. Every start logs how long it took to send its first join ("first join sent").

        EXIT STATUS: 0 after a clean shutdown; 78 for a configuration error (the message names the \
        file and line); 69 when another corosyncd runs for this root (or serves its IPC socket); 71 when the socket cannot be \
        opened; 74 when the state files cannot be written.
        """)

    @Option(name: .long, help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR"))
    var root: String?

    @Option(name: .long, help: ArgumentHelp("This node's name in the nodelist (default: $SWIFTHA_NODE, else the node whose ring0_addr is local).", valueName: "NAME"))
    var node: String?

    @Option(name: .customShort("c"), help: ArgumentHelp("corosync.conf to read instead of <root>/etc/corosync/corosync.conf.", valueName: "FILE"))
    var configFile: String?

    @Flag(name: .customShort("f"), help: "Run in the foreground (corosyncd always does; accepted for compatibility).")
    var foreground = false

    @Flag(name: .customShort("p"), help: "Do not set realtime scheduling (corosync 3.0's option; system.sched_rr: no).")
    var noRealtime = false

    @Flag(name: .customShort("r"), help: "Set round robin realtime scheduling, the default (corosync 3.0's option; system.sched_rr: yes).")
    var realtime = false

    func validate() throws {
        if noRealtime && realtime {
            throw ValidationError("-p (no realtime scheduling) and -r (realtime scheduling) contradict each other; give one of them")
        }
    }

    func run() throws {
        var clock = StartupClock()
        ParentWatch.start(program: "corosyncd")
        let env = NodeEnvironment(root: root, node: node)
        let startup: Startup
        do {
            startup = try Startup.load(environment: env, configFile: configFile)
        } catch {
            fail(error.code, error.message)
        }
        clock.mark("config")
        // Before any thread is started: the event loop's thread inherits it.
        let priority = ProcessPriority.apply(ProcessPriority.request(system: startup.config.system, noRealtime: noRealtime, realtime: realtime))
        clock.mark("scheduling")
        let (logger, logSettings) = makeLogger(startup.config.logging, environment: env)
        if let problem = logSettings.apply(startup.config.logging) { logger.error("[MAIN  ] \(problem)") }
        for w in startup.config.warnings { logger.warning("\(w)") }
        for note in priority { logger.log(level: note.level, "\(note.message)") }

        let stateDir = env.path("var/lib/corosync")
        // Held (open) until the process ends.
        _ = acquireLock(directory: stateDir)
        let incarnation: UInt64
        let ringSeqPath = stateDir + "/ringid_\(startup.node.nodeID)"
        let ringSeq: UInt64
        do {
            // The wall clock is only a floor, for a node whose counter file was lost.
            incarnation = try BootCounter.next(path: env.path(BootCounter.relativePath),
                                               floor: UInt64(max(0, Date().timeIntervalSince1970)))
            ringSeq = try PersistentCounter.read(path: ringSeqPath) ?? 0
        } catch {
            fail(.ioError, error.message)
        }
        clock.mark("boot counter")

        let name = startup.node.name.map { " (\($0))" } ?? ""
        logger.notice("[MAIN  ] Corosync Cluster Engine (SwiftHA) starting up as node \(startup.node.nodeID)\(name), incarnation \(incarnation)")
        logger.notice("[TOTEM ] Initializing transport (UDP/IP Unicast, transport \(startup.config.totem.transport.rawValue)) on \(startup.bindAddress.ipAddress ?? "?"):\(startup.port)")
        if startup.config.totem.transport == .knet {
            logger.info("[TOTEM ] transport knet runs over SwiftHA's UDP unicast, links \(startup.links.map(String.init).joined(separator: ", "))")
            if startup.config.totem.linkMode != "passive" {
                logger.warning("[KNET  ] link_mode \(startup.config.totem.linkMode) runs as passive (one link at a time per peer, the lowest that works)")
            }
        }
        if let keyFile = startup.keyFile {
            logger.notice("[TOTEM ] Packets are encrypted and authenticated (AES-256-GCM, keys derived from \(keyFile))")
            if let problem = AuthKey.permissionProblem(path: keyFile) { logger.warning("[TOTEM ] \(problem)") }
        } else {
            logger.error("[TOTEM ] WARNING: crypto_cipher and crypto_hash are none: cluster packets are NEITHER ENCRYPTED NOR AUTHENTICATED. Anyone who can reach UDP port \(startup.port) can read the cluster's traffic, join it or disrupt it. Create a key with corosync-keygen, copy it to every node and remove these settings from \(startup.configFile).")
        }
        let timing = startup.config.totem.timing(nodeCount: startup.config.nodes.count)
        logger.info("[TOTEM ] token \(timing.token.milliseconds) ms, consensus \(timing.consensus.milliseconds) ms, join \(timing.join.milliseconds) ms: a failed node is detected within about \(timing.failureDetectionBound.milliseconds) ms")

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let daemon = CorosyncDaemon(loop: loop, logger: logger, startup: startup, incarnation: incarnation, ringSeq: ringSeq,
                                    ringSeqPath: ringSeqPath, statusPath: env.path("run/swiftha/corosyncd.status"))
        daemon.logSettings = logSettings
        try? FileManager.default.createDirectory(atPath: env.path("run/swiftha"), withIntermediateDirectories: true)
        clock.mark("event loop")

        // One socket per link. A link that cannot be bound is left out (knet carries on with
        // the others); without any, corosyncd cannot run.
        var channels: [Int: any Channel] = [:]
        var failures: [String] = []
        for link in startup.links {
            let address = startup.bindAddresses[link]!
            do {
                channels[link] = try DatagramBootstrap(group: group)
                    .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            // Room for a token visit's worth of 64 KB ring messages from every peer
                            // (knet sets large buffers too): beyond rmem_max when root may.
                            for (force, plain) in [(SO_RCVBUFFORCE, SO_RCVBUF), (SO_SNDBUFFORCE, SO_SNDBUF)] {
                                let sync = try channel.syncOptions!
                                do {
                                    try sync.setOption(.socketOption(NIOBSDSocket.Option(rawValue: force)), value: 8 << 20)
                                } catch {
                                    try? sync.setOption(.socketOption(NIOBSDSocket.Option(rawValue: plain)), value: 8 << 20)
                                }
                            }
                            try channel.pipeline.syncOperations.addHandler(TotemChannelHandler(daemon: daemon, link: link))
                        }
                    }
                    .bind(to: address)
                    .wait()
            } catch {
                let what = "cannot open UDP \(address.ipAddress ?? "?"):\(address.port ?? 0) for node \(startup.node.nodeID) link \(link) (\((error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)")); is another corosync running on this address, or is the address not on this machine? Change ring\(link)_addr or mcastport in \(startup.configFile)"
                failures.append(what)
                if startup.links.count > 1 { logger.error("[KNET  ] \(what); running without link \(link)") }
            }
        }
        guard !channels.isEmpty else {
            try? group.syncShutdownGracefully()
            fail(.osError, failures.joined(separator: "; "))
        }
        clock.mark("sockets")
        // The ring first: a corosyncd restarted after a crash must ask for a new membership
        // before the other nodes give up on the old one. READY=1 waits for the local IPC too.
        let opened = channels
        daemon.startupClock = clock
        loop.execute { daemon.start(channels: opened) }
        if startup.links.count > 1 {
            logger.notice("[KNET  ] \(channels.count) of \(startup.links.count) links open (\(channels.keys.sorted().map { "link \($0)" }.joined(separator: ", "))); link_mode passive: each peer is reached on its lowest working link")
        }

        // SIGTERM and SIGINT: leave cleanly, then the socket closes and run() returns.
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            let name = sig == SIGTERM ? "SIGTERM" : "SIGINT"
            source.setEventHandler {
                loop.execute { daemon.shutdown(reason: "\(name) received") }
            }
            source.resume()
            sources.append(source)
        }

        // The local IPC (CPG, quorum, cmap, cfg): READY=1 (at the first membership, once this
        // listens) means clients can connect. Requests run on the daemon's loop.
        let socketPath = CorosyncAPI.socketPath(root: env.root)
        // The group has one thread: the connections live on the daemon's loop, and requests are
        // answered there as they arrive.
        let server = IPCServer<CorosyncAPI>(path: socketPath, group: group, logger: logger, inlineHandler: { request, connection in
            try daemon.handle(request, from: connection)
        })
        var serving = false
        do {
            try Self.blocking { try await server.start() }
            serving = true
            logger.notice("[IPC   ] Serving CPG, quorum, cmap and cfg on \(socketPath)")
            loop.execute { daemon.servingLocalIPC() }
        } catch {
            logger.critical("[MAIN  ] cannot serve the local IPC on \(socketPath): \(error)")
            // The ring has started: leave it cleanly.
            loop.execute {
                daemon.exitCode = .unavailable
                daemon.shutdown(reason: "the local IPC cannot be served")
            }
        }

        try? EventLoopFuture.andAllComplete(opened.values.map(\.closeFuture), on: loop).wait()
        if serving { try? Self.blocking { await server.stop() } }
        for s in sources { s.cancel() }
        try? group.syncShutdownGracefully()
        HASupport.exit(daemon.exitCode)
    }

    /// Runs async work from this synchronous main and waits for it.
    private static func blocking(_ body: @escaping @Sendable () async throws -> Void) throws {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<Void, any Error>>(.success(()))
        Task {
            do { try await body() } catch { result.withLock { $0 = .failure(error) } }
            done.signal()
        }
        done.wait()
        try result.withLock { $0 }.get()
    }

    private func fail(_ code: CRMExit, _ message: String) -> Never {
        writeStandardError("corosyncd: \(message)\n")
        HASupport.exit(code)
    }

    /// journald when it is there; stderr otherwise, and also when running with -f and
    /// logging.to_stderr (the default); and the log file with to_logfile. A config reload
    /// changes the settings in place (``LogSettings/apply(_:)``).
    private func makeLogger(_ logging: LoggingConfig, environment: NodeEnvironment) -> (Logger, LogSettings) {
        let settings = LogSettings(logging, journal: JournalLogHandler.journalAvailable, foreground: foreground, environment: environment)
        LoggingSystem.bootstrap { label in CorosyncLogHandler(label: label, settings: settings) }
        return (Logger(label: "corosyncd"), settings)
    }

    /// One corosyncd per node root: a second one would reuse the boot counter and ring ids.
    private func acquireLock(directory: String) -> Int32 {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/corosyncd.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            fail(.ioError, "\(path): cannot open the lock file (\(String(cString: strerror(errno)))); check that \(directory) is writable")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            fail(.unavailable, "\(path) is locked: another corosyncd runs for the node root \(directory.dropLast("/var/lib/corosync".count)); stop it first, or give this one its own --root")
        }
        return fd
    }
}

Corosyncd.main()
