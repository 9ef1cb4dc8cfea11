#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import LocalIPC
import Messaging
import NIOCore

/// A request corosyncd refuses: the message names what and how to fix it.
struct LocalRequestError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// The local IPC's state: which local processes are in which groups, and who tracks what.
struct LocalClients {
    typealias Connection = IPCConnection<CorosyncAPI>

    /// A local process in a group (or joining it: `active` once its join is delivered).
    struct GroupMember {
        var connection: Connection
        var active: Bool
        /// Its leave is on the ring: it may no longer multicast.
        var leaving = false
    }

    /// group -> pid -> member.
    var groups: [String: [UInt32: GroupMember]] = [:]
    var quorumTrackers: [UInt64: Connection] = [:]
    var cmapTrackers: [UInt64: (connection: Connection, prefixes: Set<String>)] = [:]
    /// The cmap as last published to trackers.
    var lastCMap: [String: CMapValue] = [:]
    /// Keys set (a value) or deleted (nil) through cmap, over what corosyncd computes.
    var cmapWrites: [String: CMapValue?] = [:]
    /// Connections whose close is watched.
    var watched: Set<UInt64> = []
    /// Multicasts answered `tryAgain` (the ring's send queue was full).
    var tryAgainCount: UInt64 = 0
    /// Connections with deliveries in their write buffer, flushed once the directives of one
    /// event are done (a token visit's deliveries leave in one write).
    var unflushed: [UInt64: Connection] = [:]

    /// Sends what the deliveries left in the connections' write buffers.
    mutating func flush() {
        guard !unflushed.isEmpty else { return }
        for c in unflushed.values { c.flush() }
        unflushed = [:]
    }
}

/// The largest CPG message a client may multicast (the ring's own limit, less the header).
let maximumGroupMessage = TotemNode.maxMessageSize - 256

/// Ring payloads (fragments) that may wait to be sent before clients are told to try again:
/// a client that sends faster than the ring carries is slowed down, never buffered without
/// bound (a few MB for small and middle-sized messages).
let maximumQueuedPayloads = 256

/// And the bytes they may hold: packed or large messages fill 64 kB payloads (knet), so 256
/// of them would be 16 MB; 4 MB is still several token visits' worth of sending.
let maximumQueuedBytes = 4 << 20

/// Events waiting in a client's socket buffer (its own deliveries, mostly) beyond which its
/// multicasts are answered try again, as corosync flow-controls a client whose dispatch queue
/// is full: a sender that sends faster than it reads does not make corosyncd hold the
/// difference (tens of MB in a flood) in its memory.
let maximumUnsentBytesOfASender = 2 << 20

extension CorosyncDaemon {
    /// Answers one local request; runs on `loop`.
    func handle(_ request: CorosyncRequest, from connection: IPCConnection<CorosyncAPI>) throws -> CorosyncReply {
        loop.preconditionInEventLoop()
        guard !stopping else { throw LocalRequestError("corosyncd is shutting down; reconnect once it runs again") }
        watch(connection)
        let pid = UInt32(clamping: max(0, connection.peer.pid))
        switch request {
        case .localNodeID:
            return .nodeID(nodeID)

        case .cpgJoin(let group):
            if local.groups[group]?[pid] != nil {
                throw LocalRequestError("process \(pid) is already a member of CPG group '\(group)' on node \(nodeID) (or its join or leave is under way); a process joins a group once")
            }
            let join: ProcessGroups.Request
            do {
                join = try engine.processGroups.join(group, pid: pid)
            } catch {
                throw LocalRequestError(Self.badName(group))
            }
            local.groups[group, default: [:]][pid] = .init(connection: connection, active: false)
            perform(engine.submit(join))
            return .done

        case .cpgLeave(let group):
            guard let m = local.groups[group]?[pid], m.connection == connection, !m.leaving else {
                throw LocalRequestError("this connection (pid \(pid)) is not a member of CPG group '\(group)' on node \(nodeID) (or is already leaving it); join it first")
            }
            local.groups[group]![pid]!.leaving = true
            perform(engine.submit(try engine.processGroups.leave(group, pid: pid)))
            return .done

        case .cpgMulticast(let group, let payload):
            guard let m = local.groups[group]?[pid], m.connection == connection, !m.leaving else {
                throw LocalRequestError("this connection (pid \(pid)) is not a member of CPG group '\(group)' on node \(nodeID) (or is leaving it); join the group before multicasting to it")
            }
            guard payload.count <= maximumGroupMessage else {
                throw LocalRequestError("a CPG message of \(payload.count) bytes is larger than the limit of \(maximumGroupMessage) bytes; split it")
            }
            let queued = engine.totem.queuedPayloads
            guard queued < maximumQueuedPayloads, engine.totem.queuedBytes < maximumQueuedBytes,
                  connection.unsentBytes < maximumUnsentBytesOfASender else {
                local.tryAgainCount += 1
                return .tryAgain(queued: queued)
            }
            perform(engine.submit(try engine.processGroups.multicast(group, pid: pid, payload: Array(payload))))
            return .done

        case .cpgMembers(let group):
            return .members(engine.processGroups.members(of: group).map { CPGMember(nodeID: $0.node, pid: $0.pid) })

        case .cpgGroups:
            let pg = engine.processGroups
            return .groups(pg.groups.keys.sorted().map { name in
                CPGGroup(name: name, members: pg.members(of: name).map { CPGMember(nodeID: $0.node, pid: $0.pid) })
            })

        case .quorumState:
            return .quorum(quorumState)

        case .quorumTrack(let on):
            if on {
                local.quorumTrackers[connection.id] = connection
                // The current state first, in order with the changes that follow.
                connection.push(.quorumChanged(quorumState))
            } else {
                local.quorumTrackers[connection.id] = nil
            }
            return .done

        case .cmapGet(let key):
            guard let value = cmap()[key] else {
                throw LocalRequestError("cmap has no key '\(key)' on node \(nodeID) (CS_ERR_NOT_EXIST); list the keys with corosync-cmapctl")
            }
            return .cmap([CMapEntry(key: key, value: value)])

        case .cmapList(let prefix):
            return .cmap(cmap().filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map { CMapEntry(key: $0.key, value: $0.value) })

        case .cmapTrack(let prefix):
            if local.cmapTrackers[connection.id] == nil {
                local.cmapTrackers[connection.id] = (connection, [])
                // The baseline for the diffs: what the tracker could read now.
                if local.cmapTrackers.count == 1 { local.lastCMap = cmap() }
            }
            local.cmapTrackers[connection.id]!.prefixes.insert(prefix)
            return .done

        case .cmapUntrack(let prefix):
            local.cmapTrackers[connection.id]?.prefixes.remove(prefix)
            if local.cmapTrackers[connection.id]?.prefixes.isEmpty == true { local.cmapTrackers[connection.id] = nil }
            return .done

        case .cmapSet(let key, let value):
            guard !key.isEmpty, key.utf8.count <= 255, !key.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw LocalRequestError("the cmap key '\(key.prefix(40))' is empty, longer than 255 bytes or holds white space (CS_ERR_INVALID_PARAM); use a name like totem.token")
            }
            logger.info("[CMAP  ] \(key) set to \(value) (\(value.typeName)) by pid \(pid)")
            local.cmapWrites[key] = .some(value)
            publishCMapChanges()
            return .done

        case .cmapDelete(let key):
            guard cmap()[key] != nil else {
                throw LocalRequestError("cmap has no key '\(key)' on node \(nodeID) (CS_ERR_NOT_EXIST); list the keys with corosync-cmapctl")
            }
            local.cmapWrites[key] = .some(nil)
            publishCMapChanges()
            return .done

        case .cmapDeletePrefix(let prefix):
            for key in cmap().keys where key.hasPrefix(prefix) { local.cmapWrites[key] = .some(nil) }
            publishCMapChanges()
            return .done

        case .cfgRingStatus:
            return .ringStatus(ringStatus)

        case .quorumSetExpectedVotes(let votes):
            guard let q = engine.quorum else { throw LocalRequestError("CS_ERR_NOT_EXIST: votequorum is not running (corosync.conf has no `quorum { provider: corosync_votequorum }`)") }
            guard q.acceptsExpectedVotes(votes) else {
                throw LocalRequestError("CS_ERR_INVALID_PARAM (with \(q.totalVotes) votes present, expected votes \(votes) would give a quorum they could not meet)")
            }
            logger.notice("[VOTEQ ] Expected votes set to \(votes) by pid \(pid) (uid \(connection.peer.uid))")
            perform(engine.submit(.setExpectedVotes(votes)))
            return .done

        case .quorumSetVotes(let node, let votes):
            guard let q = engine.quorum else { throw LocalRequestError("CS_ERR_NOT_EXIST: votequorum is not running (corosync.conf has no `quorum { provider: corosync_votequorum }`)") }
            guard q.members.contains(where: { $0.nodeID == node }) else {
                throw LocalRequestError("CS_ERR_NAME_NOT_FOUND (node \(node) is not a member; corosync-quorumtool -l lists the members)")
            }
            guard q.acceptsVotes(votes, for: node) else {
                throw LocalRequestError("CS_ERR_INVALID_PARAM (node \(node) with \(votes) votes would give a quorum the votes present could not meet)")
            }
            logger.notice("[VOTEQ ] Votes of node \(node) set to \(votes) by pid \(pid) (uid \(connection.peer.uid))")
            perform(engine.submit(.setVotes(node: node, votes: votes)))
            return .done

        case .cfgReloadConfig:
            // Checked here first: a file that does not parse is refused before any member
            // tries it (each member still reads its own copy).
            if let problem = Startup.checkReload(startup) { throw LocalRequestError("CS_ERR_INVALID_PARAM (\(problem))") }
            logger.notice("[CFG   ] Config reload requested by pid \(pid) (uid \(connection.peer.uid))")
            perform(engine.submit(.reloadConfig))
            return .done

        case .cfgKillNode(let node, let reason):
            guard engine.membership?.members.contains(node) == true else {
                throw LocalRequestError("CS_ERR_NOT_EXIST (node \(node) is not a member of the ring; corosync-cfgtool -n lists the nodes)")
            }
            logger.notice("[CFG   ] Request to kill node \(node) from pid \(pid) (uid \(connection.peer.uid)): \(reason)")
            perform(engine.submit(.killNode(node, reason: reason)))
            return .done

        case .cfgShutdown:
            logger.notice("[CFG   ] Shutdown requested by pid \(pid) (uid \(connection.peer.uid)) over the local IPC")
            // After the reply has gone out.
            loop.scheduleTask(in: .milliseconds(50)) { [self] in
                shutdown(reason: "shutdown requested by pid \(pid) through cfg")
            }
            return .done
        }
    }

    private static func badName(_ group: String) -> String {
        "the CPG group name '\(group.prefix(40))\(group.count > 40 ? "..." : "")' is empty or longer than \(ProcessGroups.maxNameLength) bytes; use a name of 1 to \(ProcessGroups.maxNameLength) bytes"
    }

    /// When a connection closes, its process leaves its groups (its members see it leave, reason
    /// processDown) and its subscriptions end.
    private func watch(_ connection: IPCConnection<CorosyncAPI>) {
        guard local.watched.insert(connection.id).inserted else { return }
        let loop = self.loop
        connection.onClose { [self] in
            loop.execute { self.connectionClosed(connection) }
        }
    }

    private func connectionClosed(_ connection: IPCConnection<CorosyncAPI>) {
        local.watched.remove(connection.id)
        local.quorumTrackers[connection.id] = nil
        local.cmapTrackers[connection.id] = nil
        for group in local.groups.keys.sorted() {
            for (pid, m) in local.groups[group]! where m.connection == connection {
                local.groups[group]![pid] = nil
                if !stopping, let down = try? engine.processGroups.processDown(group, pid: pid) {
                    perform(engine.submit(down))
                }
            }
            if local.groups[group]?.isEmpty == true { local.groups[group] = nil }
        }
    }

    /// Routes a group event to the group's local members.
    func route(_ event: ProcessGroups.Event) {
        func member(_ m: ProcessGroups.Member) -> CPGMember { CPGMember(nodeID: m.node, pid: m.pid) }
        func change(_ c: ProcessGroups.Change) -> CPGChange {
            let reason: CPGReason = switch c.reason {
            case .join: .join
            case .leave: .leave
            case .nodeDown: .nodeDown
            case .nodeUp: .nodeUp
            case .processDown: .processDown
            }
            return CPGChange(member: member(c.member), reason: reason)
        }
        switch event {
        case .configurationChange(let group, let members, let joined, let left):
            guard var locals = local.groups[group] else { return }
            let out = CorosyncEvent.cpgConfigurationChange(group: group, members: members.map(member),
                                                           joined: joined.map(change), left: left.map(change))
            for pid in locals.keys.sorted() {
                var m = locals[pid]!
                let me = ProcessGroups.Member(node: nodeID, pid: pid)
                if !m.active {
                    // Events before its own join are not its business.
                    guard joined.contains(where: { $0.member == me }) else { continue }
                    m.active = true
                    locals[pid] = m
                }
                m.connection.push(out)
                if left.contains(where: { $0.member == me }) { locals[pid] = nil }
            }
            local.groups[group] = locals.isEmpty ? nil : locals
        case .deliver(let group, let from, let payload):
            guard let locals = local.groups[group] else { return }
            let out = CorosyncEvent.cpgDeliver(group: group, sender: member(from), payload: Data(payload))
            for pid in locals.keys.sorted() where locals[pid]!.active {
                let c = locals[pid]!.connection
                if c.pushWithoutFlush(out) { local.unflushed[c.id] = c }
            }
        }
    }

    // MARK: quorum

    var quorumState: QuorumState {
        let ring = engine.membership
        let ids = ring?.members ?? []
        let q = engine.quorum
        let config = startup.config
        let nodes = ids.map { id in
            QuorumState.Node(nodeID: id, votes: q?.members.first { $0.nodeID == id }?.votes ?? config.node(id: id)?.quorumVotes ?? config.quorum.votes ?? 1,
                             name: config.node(id: id)?.name)
        }
        let total = nodes.reduce(0) { $0 + $1.votes }
        guard let s = q?.status else {
            // Without a quorum provider corosync reports the node as quorate.
            return QuorumState(nodeID: nodeID, quorate: true, expectedVotes: total, highestExpected: total, totalVotes: total,
                               quorum: 0, members: nodes, flags: [], ringRepresentative: ring?.ring.representative ?? nodeID,
                               ringSequence: ring?.ring.seq ?? 0, providerConfigured: false)
        }
        return QuorumState(nodeID: nodeID, quorate: s.quorate, expectedVotes: s.expectedVotes, highestExpected: s.highestExpected,
                           totalVotes: s.totalVotes, quorum: s.quorum, members: nodes, flags: s.flags,
                           ringRepresentative: ring?.ring.representative ?? nodeID, ringSequence: ring?.ring.seq ?? 0,
                           providerConfigured: true)
    }

    func publishQuorum() {
        guard !local.quorumTrackers.isEmpty else { return }
        let event = CorosyncEvent.quorumChanged(quorumState)
        for id in local.quorumTrackers.keys.sorted() { local.quorumTrackers[id]!.push(event) }
    }

    // MARK: cfg

    var ringStatus: RingStatus {
        let t = now
        let members = Set(engine.membership?.members ?? [])
        let links = channels.keys.sorted().map { link in
            let peers = startup.config.nodes.filter { $0.addresses[link] != nil }.sorted { $0.nodeID < $1.nodeID }.map { n in
                let state: String
                if n.nodeID == nodeID {
                    state = "localhost"
                } else if selector.needsHeartbeats {
                    state = selector.isUp(n.nodeID, link: link, at: t) ? "connected" : "disconnected"
                } else {
                    // One link: a peer is reachable when it is in the ring (the token may rest
                    // on an idle ring, so silence alone says nothing).
                    state = members.contains(n.nodeID) ? "connected" : "disconnected"
                }
                return LinkStatus.Peer(nodeID: n.nodeID, state: state)
            }
            return LinkStatus(link: link, address: startup.bindAddresses[link]?.ipAddress ?? "?", nodes: peers)
        }
        return RingStatus(nodeID: nodeID, transport: startup.config.totem.transport.rawValue, links: links)
    }

    // MARK: cmap

    /// The runtime keys, with corosync's names where corosync has them.
    func cmap() -> [String: CMapValue] {
        let config = startup.config
        let totem = config.totem
        let timing = engine.totem.timing
        var m: [String: CMapValue] = [:]
        func ms(_ d: Duration) -> CMapValue { .u32(UInt32(clamping: max(0, d.milliseconds))) }

        // The configuration as read.
        m["totem.version"] = .u32(UInt32(clamping: totem.version))
        if let name = totem.clusterName { m["totem.cluster_name"] = .string(name) }
        m["totem.transport"] = .string(totem.transport.rawValue)
        m["totem.token"] = ms(totem.token)
        m["totem.token_coefficient"] = ms(totem.tokenCoefficient)
        m["totem.token_retransmits_before_loss_const"] = .u32(UInt32(clamping: totem.tokenRetransmitsBeforeLossConst))
        m["totem.join"] = ms(totem.join)
        m["totem.send_join"] = ms(totem.sendJoin)
        if let c = totem.consensus { m["totem.consensus"] = ms(c) }
        m["totem.fail_recv_const"] = .u32(UInt32(clamping: totem.failRecvConst))
        m["totem.max_messages"] = .u32(UInt32(clamping: totem.maxMessages))
        m["totem.window_size"] = .u32(UInt32(clamping: totem.windowSize))
        m["totem.netmtu"] = .u32(UInt32(clamping: totem.netMTU))
        m["totem.crypto_cipher"] = .string(totem.cryptoCipher.rawValue)
        m["totem.crypto_hash"] = .string(totem.cryptoHash.rawValue)
        m["totem.link_mode"] = .string(totem.linkMode)
        m["totem.config_version"] = .u64(totem.configVersion)
        for i in totem.interfaces {
            if let p = i.multicastPort { m["totem.interface.\(i.linkNumber).mcastport"] = .u16(UInt16(clamping: p)) }
            if let b = i.bindNetAddress { m["totem.interface.\(i.linkNumber).bindnetaddr"] = .string(b) }
        }
        for (pos, n) in config.nodes.enumerated() {
            m["nodelist.node.\(pos).nodeid"] = .u32(n.nodeID)
            if let name = n.name { m["nodelist.node.\(pos).name"] = .string(name) }
            for (link, address) in n.addresses { m["nodelist.node.\(pos).ring\(link)_addr"] = .string(address) }
            if let v = n.quorumVotes { m["nodelist.node.\(pos).quorum_votes"] = .u32(UInt32(clamping: v)) }
            if n.nodeID == nodeID { m["nodelist.local_node_pos"] = .u32(UInt32(pos)) }
        }
        let quorum = config.quorum
        if let p = quorum.provider { m["quorum.provider"] = .string(p) }
        if let e = quorum.expectedVotes { m["quorum.expected_votes"] = .u32(UInt32(clamping: e)) }
        if let v = quorum.votes { m["quorum.votes"] = .u32(UInt32(clamping: v)) }
        m["quorum.two_node"] = .u8(quorum.twoNode ? 1 : 0)
        m["quorum.wait_for_all"] = .u8(quorum.waitForAll ? 1 : 0)
        m["quorum.last_man_standing"] = .u8(quorum.lastManStanding ? 1 : 0)
        m["quorum.auto_tie_breaker"] = .u8(quorum.autoTieBreaker ? 1 : 0)

        // The effective timers.
        m["runtime.config.totem.token"] = ms(timing.token)
        m["runtime.config.totem.token_retransmit"] = ms(timing.tokenRetransmit)
        m["runtime.config.totem.hold"] = ms(timing.hold)
        m["runtime.config.totem.join"] = ms(timing.join)
        m["runtime.config.totem.send_join"] = ms(timing.sendJoin)
        m["runtime.config.totem.consensus"] = ms(timing.consensus)
        m["runtime.config.totem.merge"] = ms(timing.merge)
        m["runtime.config.totem.downcheck"] = ms(timing.downcheck)
        m["runtime.config.totem.fail_recv_const"] = .u32(UInt32(clamping: timing.failRecvConst))
        m["runtime.config.totem.token_retransmits_before_loss_const"] = .u32(UInt32(clamping: timing.tokenRetransmitsBeforeLossConst))
        m["runtime.config.totem.max_messages"] = .u32(UInt32(clamping: timing.maxMessages))
        m["runtime.config.totem.window_size"] = .u32(UInt32(clamping: timing.windowSize))

        // The membership.
        let members = engine.membership?.members ?? []
        for id in members {
            let n = config.node(id: id)
            let ips = (n?.addresses ?? [:]).sorted { $0.key < $1.key }.map { "r(\($0.key)) ip(\($0.value))" }.joined(separator: " ")
            m["runtime.members.\(id).ip"] = .string(ips + " ")
            m["runtime.members.\(id).status"] = .string("joined")
            m["runtime.members.\(id).config_version"] = .u64(totem.configVersion)
        }
        if let ring = engine.membership?.ring {
            m["runtime.totem.ring_id"] = .string("\(ring.representative).\(String(ring.seq, radix: 16))")
        }
        m["runtime.totem.state"] = .string("\(engine.totem.state)")
        m["runtime.totem.member_count"] = .u32(UInt32(members.count))

        // votequorum.
        m["runtime.votequorum.this_node_id"] = .u32(nodeID)
        let q = quorumState
        m["runtime.votequorum.quorate"] = .u8(q.quorate ? 1 : 0)
        m["runtime.votequorum.expected_votes"] = .u32(UInt32(clamping: q.expectedVotes))
        m["runtime.votequorum.highest_expected"] = .u32(UInt32(clamping: q.highestExpected))
        m["runtime.votequorum.total_votes"] = .u32(UInt32(clamping: q.totalVotes))
        m["runtime.votequorum.quorum"] = .u32(UInt32(clamping: q.quorum))
        m["runtime.votequorum.two_node"] = .u8(quorum.twoNode ? 1 : 0)
        m["runtime.votequorum.wait_for_all_status"] = .u8(engine.quorum?.isWaitingForAll == true ? 1 : 0)
        if let lowest = members.min() { m["runtime.votequorum.lowest_node_id"] = .u32(lowest) }
        if let highest = members.max() { m["runtime.votequorum.highest_node_id"] = .u32(highest) }

        // Statistics.
        let stats = protection.stats
        m["stats.srp.packets_sent"] = .u64(stats.sealed)
        m["stats.srp.packets_received"] = .u64(stats.accepted)
        m["stats.srp.rx_msg_dropped"] = .u64(stats.dropped)
        for r in PacketProtection.Rejection.allCases { m["stats.srp.rx_dropped.\(r.rawValue)"] = .u64(stats[r]) }
        m["stats.srp.rx_undecodable"] = .u64(undecodable)
        m["stats.srp.delivered"] = .u64(engine.deliveredCount)
        m["stats.srp.malformed_service_messages"] = .u64(engine.malformedServiceMessages)
        m["stats.cpg.groups"] = .u32(UInt32(clamping: engine.processGroups.groups.count))
        m["stats.cpg.try_again"] = .u64(local.tryAgainCount)
        m["stats.srp.queued"] = .u32(UInt32(clamping: engine.totem.queuedPayloads))
        m["stats.ipc.connections_tracked"] = .u32(UInt32(clamping: local.watched.count))
        for (key, value) in local.cmapWrites { m[key] = value }
        return m
    }

    /// Tells cmap trackers what changed under their prefixes since the last call.
    func publishCMapChanges() {
        guard !local.cmapTrackers.isEmpty else { return }
        let current = cmap()
        let before = local.lastCMap
        local.lastCMap = current
        var changes: [(String, CMapValue?)] = []
        for (k, v) in current where before[k] != v { changes.append((k, v)) }
        for k in before.keys where current[k] == nil { changes.append((k, nil)) }
        guard !changes.isEmpty else { return }
        changes.sort { $0.0 < $1.0 }
        for id in local.cmapTrackers.keys.sorted() {
            let t = local.cmapTrackers[id]!
            for (k, v) in changes where t.prefixes.contains(where: { k.hasPrefix($0) }) {
                t.connection.push(.cmapChanged(key: k, value: v))
            }
        }
    }
}
