import CSystemd
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import HASupport
import Logging
import Messaging
import NIOCore
import NIOPosix

/// The shell around ``ClusterEngine``: a UDP socket per link (swift-nio), the packet
/// protection, the choice of link for each peer (``LinkSelector``), the engine's timers on the
/// event loop, the log lines an operator expects from corosync, a status file and sd_notify. Every method runs on `loop`; nothing here decides anything about
/// membership or quorum.
final class CorosyncDaemon: @unchecked Sendable {
    let loop: any EventLoop
    let logger: Logger
    var startup: Startup
    let protection: PacketProtection
    let incarnation: UInt64
    let ringSeqPath: String
    let statusPath: String
    var engine: ClusterEngine
    /// A bound socket per link (a link that could not be bound has none).
    var channels: [Int: any Channel] = [:]
    var selector: LinkSelector
    private var linkWasUp: [UInt32: [Int: Bool]] = [:]
    private var heartbeatTimer: RepeatedTask?
    private var timers: [ClusterEngine.Timer: Scheduled<Void>] = [:]
    private var generation: [ClusterEngine.Timer: UInt64] = [:]
    private var statusTimer: RepeatedTask?
    private var notifiedReady = false
    /// Set when quorum-tracking clients must hear the state (after a membership or quorum change).
    private var clientsNeedQuorum = false
    /// The local IPC's per-client state (LocalService.swift).
    var local = LocalClients()
    private var lastQuorate: Bool?
    private var lastStatus: Votequorum.Status?
    var undecodable: UInt64 = 0
    private(set) var stopping = false
    private var needsFlush = false
    private var statusDirty = true
    private var lastStatsWritten: PacketProtection.Stats?
    /// Set when the daemon must stop with an error (a ring id that cannot be stored).
    var exitCode: CRMExit = .ok
    /// The logging settings a config reload changes.
    var logSettings: LogSettings?
    /// The start-up's steps, logged once the first join is out.
    var startupClock: StartupClock?
    /// The local IPC listens: READY=1 may be sent (once there is a membership too).
    private var localIPCServing = false
    /// The first membership, for READY=1 when the local IPC comes after it.
    private var firstRing: (ring: String, members: Int)?

    init(loop: any EventLoop, logger: Logger, startup: Startup, incarnation: UInt64, ringSeq: UInt64,
         ringSeqPath: String, statusPath: String) {
        self.loop = loop
        self.logger = logger
        self.startup = startup
        self.incarnation = incarnation
        self.ringSeqPath = ringSeqPath
        self.statusPath = statusPath
        let mode: PacketProtection.Mode = startup.key.map { .sealed($0) } ?? .plaintext
        protection = PacketProtection(mode: mode, nodeID: startup.node.nodeID, incarnation: incarnation,
                                      clusterName: startup.config.totem.clusterName ?? "",
                                      knownSenders: Set(startup.config.nodes.map(\.nodeID)))
        engine = ClusterEngine(nodeID: startup.node.nodeID, config: startup.config, ringSeq: ringSeq,
                               seed: UInt64.random(in: 0...UInt64.max))
        selector = LinkSelector(links: startup.links, token: startup.config.totem.timing(nodeCount: startup.config.nodes.count).token)
    }

    /// Monotonic time, for the link states.
    var now: Duration { .nanoseconds(Int64(clamping: NIODeadline.now().uptimeNanoseconds)) }

    var nodeID: UInt32 { startup.node.nodeID }

    /// Starts the protocol on the bound channels (by link number).
    func start(channels: [Int: any Channel]) {
        loop.preconditionInEventLoop()
        self.channels = channels
        // A signal that came before the start: stop at once.
        guard !stopping else {
            for c in channels.values { c.close(promise: nil) }
            return
        }
        selector = LinkSelector(links: channels.keys.sorted(), token: engine.totem.timing.token)
        if selector.needsHeartbeats {
            heartbeatTimer = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .nanoseconds(selector.pingInterval.nanoseconds)) { [self] _ in
                sendHeartbeats()
            }
        }
        perform(engine.start())
        if let clock = startupClock {
            startupClock = nil
            logger.notice("[MAIN  ] \(clock.summary(event: "first join sent"))")
        }
        statusTimer = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
            if protection.stats != lastStatsWritten { statusDirty = true }
            writeStatusIfDirty()
            publishCMapChanges()
        }
        writeStatusIfDirty()
    }

    // MARK: packets in

    func onDatagram(_ envelope: AddressedEnvelope<ByteBuffer>, link: Int) {
        guard !stopping else { return }
        switch protection.open(envelope.data) {
        case .rejected(let why):
            noteDrop(why, from: envelope.remoteAddress)
        case .accepted(let packet):
            selector.heard(from: packet.sender, on: link, at: now)
            if packet.payload.readableBytesView.elementsEqual(LinkSelector.heartbeat) { return }
            switch TotemWire.decodeNode(packet.payload) {
            case .failure(let why):
                undecodable += 1
                if undecodable.isPowerOfTen {
                    logger.warning("[TOTEM ] Ignored a packet from node \(packet.sender) that does not decode (\(why.rawValue)); \(undecodable) so far. Do all nodes run the same SwiftHA version?")
                }
            case .success(let p):
                perform(engine.onPacket(p, from: packet.sender))
            }
        }
    }

    private func noteDrop(_ why: PacketProtection.Rejection, from address: SocketAddress) {
        // The counters reach the status file with the next periodic write (at most once a
        // second), never one write per packet: a flood must not turn into a flood of writes.
        let count = protection.stats[why]
        guard count.isPowerOfTen else { return }
        // With several links, a packet sent on every link (while no link to a peer is known to
        // work) arrives more than once: counted, not worth a warning.
        if why == .replayed, startup.links.count > 1 { return }
        let advice: String
        switch why {
        case .authenticationFailed:
            advice = "a node with another authkey or of another cluster (cluster_name) is sending to this port; give every node the same authkey (corosync-keygen, then copy it)"
        case .modeMismatch:
            advice = "the nodes' crypto_cipher/crypto_hash settings differ; make them the same on every node"
        case .unknownSender:
            advice = "the sender's nodeid is not in this node's nodelist; make corosync.conf the same on every node"
        case .replayed, .tooOld:
            advice = "a duplicate or replayed packet (harmless unless it keeps growing)"
        case .staleIncarnation:
            advice = "a packet from before the sender's last restart"
        case .truncated, .malformed:
            advice = "not a SwiftHA totem packet; is something else sending to this port?"
        }
        logger.warning("[TOTEM ] Dropped a packet from \(address.ipAddress ?? "?"):\(address.port ?? 0): \(why.rawValue) (\(count) so far); \(advice)")
    }

    // MARK: directives out

    func perform(_ directives: [ClusterEngine.Directive]) {
        for d in directives {
            switch d {
            case .multicast(let p):
                send(p, to: startup.peers.keys.sorted())
            case .send(let p, let to) where to == nodeID:
                // A ring of one passes the token to itself: it comes back through the event
                // loop (never re-entrantly), as it would through the loopback interface.
                loop.execute { [self] in
                    guard !stopping else { return }
                    perform(engine.onPacket(p, from: nodeID))
                }
            case .send(let p, let to):
                send(p, to: [to])
            case .schedule(let timer, let after):
                schedule(timer, after: after)
            case .cancel(let timer):
                cancel(timer)
            case .storeRingSeq(let seq):
                do {
                    try PersistentCounter.write(seq, path: ringSeqPath)
                } catch {
                    logger.critical("[TOTEM ] \(error.message); a ring id that cannot be stored could be reused after a restart, so corosyncd stops")
                    exitCode = .ioError
                    shutdown(reason: "the ring id could not be stored")
                    return
                }
            case .gathering(let reason):
                logGathering(reason)
            case .transitionalMembership(let ring, let members):
                logger.debug("[TOTEM ] Transitional membership from ring \(ring): \(list(members))")
            case .membershipChanged(let m):
                logMembership(m)
                clientsNeedQuorum = true
            case .quorumChanged(let status):
                logQuorum(status)
                clientsNeedQuorum = true
            case .processGroup(let event):
                route(event)
            case .deliver:
                break  // Raw application messages have no local client.
            case .reloadConfig(let by):
                reloadConfig(requestedBy: by)
            case .killed(let by, let reason):
                logger.notice("[CFG   ] Killed by node \(by) : \(reason)")
                exitCode = .error
                shutdown(reason: "killed by node \(by) (\(reason))")
                return
            }
        }
        if needsFlush {
            needsFlush = false
            for c in channels.values { c.flush() }
        }
        local.flush()
        if clientsNeedQuorum {
            clientsNeedQuorum = false
            publishQuorum()
            publishCMapChanges()
        }
        writeStatusIfDirty()
    }

    private func send(_ packet: TotemNode.Packet, to nodes: [UInt32]) {
        let targets = nodes.filter { startup.peers[$0] != nil }
        guard !channels.isEmpty, !targets.isEmpty else { return }
        // Sealed once, sent to every peer: the receivers' replay windows are their own.
        let datagram = protection.seal(TotemWire.encode(node: packet))
        let t = now
        for node in targets {
            for link in selector.links(to: node, at: t) {
                guard let channel = channels[link], let address = startup.peers[node]?[link] else { continue }
                channel.write(AddressedEnvelope(remoteAddress: address, data: datagram), promise: nil)
            }
        }
        needsFlush = true
    }

    /// With several links: a heartbeat to every peer on every link, and a log line when a
    /// link to a peer comes up or goes down (as knet logs them).
    private func sendHeartbeats() {
        guard !stopping else { return }
        let t = now
        for (node, addresses) in startup.peers.sorted(by: { $0.key < $1.key }) {
            for (link, address) in addresses.sorted(by: { $0.key < $1.key }) {
                guard let channel = channels[link] else { continue }
                let datagram = protection.seal(ByteBuffer(bytes: LinkSelector.heartbeat))
                channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: datagram), promise: nil)
                let up = selector.isUp(node, link: link, at: t)
                if linkWasUp[node]?[link] != up {
                    if linkWasUp[node]?[link] != nil || up {
                        logger.notice("[KNET  ] link: host: \(node) link: \(link) is \(up ? "up" : "down")")
                        statusDirty = true
                    }
                    linkWasUp[node, default: [:]][link] = up
                }
            }
        }
    }

    private func schedule(_ timer: ClusterEngine.Timer, after: Duration) {
        timers[timer]?.cancel()
        let g = (generation[timer] ?? 0) &+ 1
        generation[timer] = g
        timers[timer] = loop.scheduleTask(in: .nanoseconds(after.nanoseconds)) { [self] in
            guard !stopping, generation[timer] == g else { return }
            timers[timer] = nil
            perform(engine.onTimer(timer))
        }
    }

    private func cancel(_ timer: ClusterEngine.Timer) {
        timers.removeValue(forKey: timer)?.cancel()
        generation[timer, default: 0] &+= 1
    }

    // MARK: what the operator sees

    private func logGathering(_ reason: TotemNode.GatherReason) {
        let timing = engine.totem.timing
        statusDirty = true
        switch reason {
        case .tokenLost:
            logger.notice("[TOTEM ] A processor failed, forming new configuration: token timed out (\(timing.token.milliseconds)ms), waiting \(timing.consensus.milliseconds)ms for consensus.")
        case .failedToReceive:
            logger.notice("[TOTEM ] FAILED TO RECEIVE: this node missed messages for \(timing.failRecvConst) token rotations; forming new configuration.")
        case .memberLeft(let id):
            logger.notice("[TOTEM ] Node \(id) is leaving the cluster cleanly; forming new configuration.")
        case .joinReceived(let from):
            logger.info("[TOTEM ] Node \(from) asks for a new membership; forming new configuration.")
        case .mergeDetected(let from):
            logger.info("[TOTEM ] Another ring (with node \(from)) was detected; merging.")
        case .commitLost:
            logger.info("[TOTEM ] The commit token was lost; gathering again.")
        case .start:
            break
        }
    }

    private func logMembership(_ m: ClusterEngine.Membership) {
        statusDirty = true
        var formed = "[TOTEM ] A new membership (\(m.ring)) was formed."
        if !m.joined.isEmpty { formed += " Members joined: \(m.joined.map(String.init).joined(separator: " "))" }
        if !m.left.isEmpty { formed += " Members left: \(m.left.map(String.init).joined(separator: " "))" }
        logger.notice("\(formed)")
        logger.notice("[QUORUM] Sync members[\(m.members.count)]: \(list(m.members))")
        if !m.joined.isEmpty { logger.notice("[QUORUM] Sync joined[\(m.joined.count)]: \(list(m.joined))") }
        if !m.left.isEmpty { logger.notice("[QUORUM] Sync left[\(m.left.count)]: \(list(m.left))") }
        logger.notice("[QUORUM] Members[\(m.members.count)]: \(list(m.members))")
        logger.notice("[MAIN  ] Completed service synchronization, ready to provide service.")
        if firstRing == nil { firstRing = ("\(m.ring)", m.members.count) }
        notifyReadyOnce()
    }

    /// The local IPC listens now (it is started after the ring, so that the first join goes
    /// out as early as possible).
    func servingLocalIPC() {
        loop.preconditionInEventLoop()
        localIPCServing = true
        notifyReadyOnce()
    }

    /// READY=1 once the node is in a ring and clients can connect.
    private func notifyReadyOnce() {
        guard !notifiedReady, localIPCServing, let first = firstRing else { return }
        notifiedReady = true
        notify("READY=1\nSTATUS=Ring \(first.ring) formed with \(first.members) member(s)")
    }

    private func logQuorum(_ s: Votequorum.Status) {
        statusDirty = true
        lastStatus = s
        if lastQuorate != s.quorate {
            lastQuorate = s.quorate
            if s.quorate {
                logger.notice("[QUORUM] This node is within the primary component and will provide service.")
            } else {
                logger.notice("[QUORUM] This node is within the non-primary component and will NOT provide service.")
            }
        }
        logger.notice("[VOTEQ ] Quorum: \(s.quorum), total votes: \(s.totalVotes), expected votes: \(s.expectedVotes), flags: \(s.flags.isEmpty ? "none" : s.flags.joined(separator: " "))")
    }

    private func list(_ ids: [UInt32]) -> String { ids.map(String.init).joined(separator: " ") }

    /// A small key=value file for scripts and tests (the same facts, and more, are in cmap over
    /// the local IPC).
    private func writeStatusIfDirty() {
        guard statusDirty else { return }
        statusDirty = false
        let stats = protection.stats
        lastStatsWritten = stats
        var lines = [
            "node_id=\(nodeID)",
            "incarnation=\(incarnation)",
            "state=\(stopping ? "stopping" : "\(engine.totem.state)")",
            "ring_id=\(engine.membership.map { "\($0.ring)" } ?? "")",
            "members=\(engine.membership.map { list($0.members) } ?? "")",
            "secure=\(startup.key != nil ? 1 : 0)",
            "links=\(channels.keys.sorted().map(String.init).joined(separator: " "))",
            "packets_sealed=\(stats.sealed)",
            "packets_accepted=\(stats.accepted)",
            "packets_dropped=\(stats.dropped)",
        ]
        for r in PacketProtection.Rejection.allCases { lines.append("packets_dropped_\(r.rawValue)=\(stats[r])") }
        if selector.needsHeartbeats {
            let t = now
            for node in startup.peers.keys.sorted() {
                let up = selector.links.filter { selector.isUp(node, link: $0, at: t) }
                lines.append("node_\(node)_links_up=\(up.map(String.init).joined(separator: " "))")
            }
        }
        lines.append("packets_undecodable=\(undecodable)")
        if let s = lastStatus {
            lines += ["quorate=\(s.quorate ? 1 : 0)", "quorum=\(s.quorum)", "total_votes=\(s.totalVotes)",
                      "expected_votes=\(s.expectedVotes)"]
        }
        do {
            // Atomic (a reader sees the old or the new file) but not synced: this runs on the
            // ring's event loop, about once a second, and an fsync there could stall the token.
            // The file is a view of the running state, worthless after a crash anyway.
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: statusPath), options: .atomic)
        } catch {
            logger.debug("cannot write \(statusPath): \(error)")
        }
    }

    // MARK: reload

    /// `corosync-cfgtool -R`: reads corosync.conf again. What corosync 3.1.7 changes at run
    /// time takes effect: the totem timers (token, token_coefficient, token_retransmit, hold,
    /// token_retransmits_before_loss_const, join, send_join, consensus, merge, downcheck,
    /// fail_recv_const, max_messages, window_size), the logging section (debug, to_stderr,
    /// to_logfile, logfile), the quorum's expected votes and each node's votes, and what cmap
    /// shows of the file. What needs a restart (netmtu, crypto, cluster_name, ports) is
    /// logged as such and left as it runs. A file that does not parse, or that changes this
    /// node's id, the transport or the addresses, is refused with a log line and the running
    /// configuration kept.
    func reloadConfig(requestedBy: UInt32) {
        if let problem = Startup.checkReload(startup) {
            logger.error("[CFG   ] Config reload requested by node \(requestedBy) failed, keeping the running configuration: \(problem)")
            return
        }
        guard let fresh = try? CorosyncConfig.parse(String(decoding: FileManager.default.contents(atPath: startup.configFile) ?? Data(), as: UTF8.self),
                                                    file: startup.configFile) else { return }
        let old = startup.config
        startup.config = fresh
        // Logging first, so that what follows goes where the new settings say.
        if let problem = logSettings?.apply(fresh.logging) { logger.error("[MAIN  ] \(problem)") }
        logger.notice("[CFG   ] Config reloaded from \(startup.configFile) (requested by node \(requestedBy))")
        if fresh.logging != old.logging {
            let l = fresh.logging
            logger.notice("[MAIN  ] Logging: debug \(l.debug.rawValue), to_stderr \(l.toStderr ? "yes" : "no"), to_logfile \(l.toLogfile ? "yes (\(l.logfile ?? ""))" : "no")")
        }
        var timing = fresh.totem.timing(nodeCount: fresh.nodes.count)
        timing.netMTU = engine.totem.timing.netMTU
        if timing != engine.totem.timing {
            engine.updateTiming(timing)
            logger.notice("[TOTEM ] New totem timers: token \(timing.token.milliseconds) ms, token_retransmit \(timing.tokenRetransmit.milliseconds) ms, hold \(timing.hold.milliseconds) ms, join \(timing.join.milliseconds) ms, consensus \(timing.consensus.milliseconds) ms, merge \(timing.merge.milliseconds) ms, fail_recv_const \(timing.failRecvConst), max_messages \(timing.maxMessages), window_size \(timing.windowSize): a failed node is detected within about \(timing.failureDetectionBound.milliseconds) ms")
        }
        var restartOnly: [String] = []
        if fresh.totem.netMTU != old.totem.netMTU || fresh.totem.netMTUConfigured != old.totem.netMTUConfigured { restartOnly.append("totem.netmtu") }
        if fresh.totem.cryptoCipher != old.totem.cryptoCipher || fresh.totem.cryptoHash != old.totem.cryptoHash { restartOnly.append("totem.crypto_cipher/crypto_hash") }
        if fresh.totem.clusterName != old.totem.clusterName { restartOnly.append("totem.cluster_name") }
        if fresh.totem.keyFile != old.totem.keyFile { restartOnly.append("totem.keyfile") }
        if fresh.totem.interfaces.map(\.multicastPort) != old.totem.interfaces.map(\.multicastPort) { restartOnly.append("totem.interface.mcastport") }
        if fresh.totem.ipVersion != old.totem.ipVersion { restartOnly.append("totem.ip_version") }
        if !restartOnly.isEmpty {
            logger.warning("[CFG   ] \(restartOnly.joined(separator: ", ")) changed in \(startup.configFile) but cannot change at run time (as in corosync); they take effect when corosyncd restarts on every node")
        }
        // Runtime changes of votes, as corosync applies them after a reload.
        if engine.quorum != nil {
            if let expected = fresh.quorum.expectedVotes, expected != old.quorum.expectedVotes {
                perform(engine.applyLocally(.setExpectedVotes(expected)))
            }
            for n in fresh.nodes {
                let v = n.quorumVotes ?? fresh.quorum.votes ?? 1
                if v != engine.votes(of: n.nodeID) { perform(engine.applyLocally(.setVotes(node: n.nodeID, votes: v))) }
            }
        }
        publishCMapChanges()
    }

    // MARK: shutdown

    /// Leaves the ring cleanly (the others re-form without waiting for the token timeout), then
    /// closes the socket, which ends the process.
    func shutdown(reason: String) {
        loop.preconditionInEventLoop()
        guard !stopping else { return }
        logger.notice("[MAIN  ] Shutting down: \(reason).")
        notify("STOPPING=1")
        let leave = engine.leave()
        perform(leave)
        stopping = true
        // Send the leave a second time: one lost datagram should not cost the others a token
        // timeout. The socket closes once that copy has been written.
        var written: [EventLoopFuture<Void>] = []
        for case .multicast(let p) in leave {
            let datagram = protection.seal(TotemWire.encode(node: p))
            for addresses in startup.peers.values {
                for (link, address) in addresses {
                    guard let channel = channels[link] else { continue }
                    written.append(channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: datagram)))
                }
            }
        }
        statusDirty = true
        writeStatusIfDirty()
        for (_, t) in timers { t.cancel() }
        timers = [:]
        statusTimer?.cancel()
        heartbeatTimer?.cancel()
        guard !channels.isEmpty else { return }
        let all = channels.values
        EventLoopFuture.andAllComplete(written, on: loop).whenComplete { [logger] _ in
            logger.notice("[MAIN  ] Corosync Cluster Engine exiting normally")
            for c in all { c.close(promise: nil) }
        }
    }

    func notify(_ state: String) {
        _ = sd_notify(0, state)
    }
}

/// Hands the UDP channel's datagrams to the daemon. Errors (an unreachable peer, a full send
/// buffer) are logged and never close the socket.
final class TotemChannelHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let daemon: CorosyncDaemon
    let link: Int

    init(daemon: CorosyncDaemon, link: Int) {
        self.daemon = daemon
        self.link = link
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        daemon.onDatagram(unwrapInboundIn(data), link: link)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        daemon.logger.debug("[TOTEM ] socket error (ignored): \(error)")
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }

    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}

extension UInt64 {
    /// 1, 10, 100, ...: when to log a repeated event again.
    var isPowerOfTen: Bool {
        var v = self
        guard v > 0 else { return false }
        while v % 10 == 0 { v /= 10 }
        return v == 1
    }
}
