import Messaging
import Testing
import TestSupport

/// Several ``ClusterEngine``s (what each corosyncd runs) on a simulated network, in simulated
/// time: membership, quorum from the exchanged node information, clean leave and crashes.
struct EngineCluster {
    typealias NodeID = UInt32

    enum Kind {
        case packet(TotemNode.Packet, to: NodeID, from: NodeID)
        case timer(ClusterEngine.Timer, node: NodeID, generation: Int)
    }

    let config: CorosyncConfig
    var engines: [NodeID: ClusterEngine] = [:]
    var alive: Set<NodeID> = []
    var queue = EventQueue<Kind>()
    var order = 0
    var now: Int64 = 0
    var generation: [NodeID: [ClusterEngine.Timer: Int]] = [:]
    var memberships: [NodeID: [ClusterEngine.Membership]] = [:]
    var quorum: [NodeID: Votequorum.Status] = [:]
    var reasons: [NodeID: [TotemNode.GatherReason]] = [:]
    var transitional: [NodeID: [(TotemRing.RingID, [NodeID])]] = [:]
    var delivered: [NodeID: [[UInt8]]] = [:]
    var groupEvents: [NodeID: [ProcessGroups.Event]] = [:]
    var disk: [NodeID: UInt64] = [:]
    /// Config reloads each node was asked for (by whom), and who asked a node to stop.
    var reloads: [NodeID: [NodeID]] = [:]
    var killedBy: [NodeID: (by: NodeID, reason: String)] = [:]

    static func config(nodes: Int, extraQuorum: String = "", extraTotem: String = "") -> CorosyncConfig {
        var text = "totem {\n token: 300\n token_coefficient: 0\n\(extraTotem)\n}\nquorum {\n provider: corosync_votequorum\n\(extraQuorum)\n}\nnodelist {\n"
        for i in 1...nodes { text += " node {\n  ring0_addr: 127.0.0.\(i)\n  nodeid: \(i)\n }\n" }
        return try! CorosyncConfig.parse(text + "}\n")
    }

    init(nodes: Int, extraQuorum: String = "", extraTotem: String = "") {
        config = Self.config(nodes: nodes, extraQuorum: extraQuorum, extraTotem: extraTotem)
        for id in 1...NodeID(nodes) { boot(id) }
    }

    mutating func boot(_ id: NodeID) {
        engines[id] = ClusterEngine(nodeID: id, config: config, ringSeq: disk[id] ?? 0)
        alive.insert(id)
        groupEvents[id] = []
        generation[id] = [:]
        perform(engines[id]!.start(), at: id)
    }

    mutating func crash(_ id: NodeID) {
        alive.remove(id)
        generation[id] = [:]
    }

    mutating func push(_ kind: Kind, after micros: Int64) {
        order += 1
        queue.push(.init(time: now + micros, order: order, payload: kind))
    }

    mutating func perform(_ directives: [ClusterEngine.Directive], at id: NodeID) {
        for d in directives {
            switch d {
            case .multicast(let p):
                guard let p = throughTheWire(p) else { continue }
                for other in config.nodes.map(\.nodeID) where other != id { push(.packet(p, to: other, from: id), after: 100) }
            case .send(let p, let to):
                guard let p = throughTheWire(p) else { continue }
                push(.packet(p, to: to, from: id), after: 100)
            case .schedule(let t, let after):
                let g = (generation[id]?[t] ?? 0) + 1
                generation[id, default: [:]][t] = g
                push(.timer(t, node: id, generation: g), after: TotemSimulation.micros(after))
            case .cancel(let t):
                generation[id, default: [:]][t, default: 0] += 1
            case .storeRingSeq(let s): disk[id] = s
            case .gathering(let r): reasons[id, default: []].append(r)
            case .membershipChanged(let m): memberships[id, default: []].append(m)
            case .transitionalMembership(let ring, let members): transitional[id, default: []].append((ring, members))
            case .quorumChanged(let s): quorum[id] = s
            case .deliver(let m): delivered[id, default: []].append(m.payload)
            case .processGroup(let e): groupEvents[id, default: []].append(e)
            case .reloadConfig(let by): reloads[id, default: []].append(by)
            case .killed(let by, let reason): killedBy[id] = (by, reason)
            }
        }
    }

    /// Packets honest engines sent that the wire codec refused (a real peer would drop them).
    var undecodable: [TotemNode.Packet] = []

    /// Every packet goes through the wire codec, as between real nodes.
    mutating func throughTheWire(_ p: TotemNode.Packet) -> TotemNode.Packet? {
        guard case .success(let decoded) = TotemWire.decodeNode(TotemWire.encode(node: p)) else {
            undecodable.append(p)
            return nil
        }
        return decoded
    }

    mutating func run(for micros: Int64, until done: (EngineCluster) -> Bool = { _ in false }) {
        let end = now + micros
        while let next = queue.heap.first, next.time <= end {
            let e = queue.pop()!
            now = e.time
            switch e.payload {
            case .packet(let p, let to, let from):
                guard alive.contains(to), alive.contains(from) || true else { continue }
                perform(engines[to]!.onPacket(p, from: from), at: to)
            case .timer(let t, let node, let g):
                guard alive.contains(node), generation[node]?[t] == g else { continue }
                perform(engines[node]!.onTimer(t), at: node)
            }
            if done(self) { return }
        }
        now = max(now, end)
    }

    func members(_ id: NodeID) -> [NodeID] { memberships[id]?.last?.members ?? [] }

    /// Every live node has the same membership of every live node, knows every live member's
    /// votes (the node information went round), and has synchronized its view of the process
    /// groups (every member's join list was delivered).
    var settled: Bool {
        alive.allSatisfy {
            members($0) == alive.sorted() && quorum[$0]?.totalVotes == alive.count && quorum[$0]?.members == alive.sorted()
                && engines[$0]!.processGroups.isSynchronized && engines[$0]!.processGroups.ring == memberships[$0]?.last?.ring
        }
    }
}

@Suite struct ClusterEngineTests {
    @Test func threeEnginesFormOneQuorateMembership() {
        var c = EngineCluster(nodes: 3)
        c.run(for: 5_000_000) { $0.settled }
        #expect(c.settled)
        for id: UInt32 in 1...3 {
            #expect(c.members(id) == [1, 2, 3])
            #expect(c.quorum[id]?.quorate == true)
            #expect(c.quorum[id]?.quorum == 2 && c.quorum[id]?.expectedVotes == 3)
        }
        // Every node saw the same final ring.
        #expect(Set(c.alive.map { c.memberships[$0]!.last!.ring }).count == 1)
    }

    @Test func aCleanLeaveIsSeenWithoutWaitingForTheToken() {
        var c = EngineCluster(nodes: 3)
        c.run(for: 5_000_000) { $0.settled }
        #expect(c.settled)
        let leftAt = c.now
        c.perform(c.engines[3]!.leave(), at: 3)
        // The leaving node sends nothing more.
        #expect(c.engines[3]!.totem.hasLeft)
        c.crash(3)
        c.run(for: 5_000_000) { $0.settled }
        #expect(c.members(1) == [1, 2] && c.members(2) == [1, 2])
        #expect(c.memberships[1]!.last!.left == [3])
        #expect(c.reasons[1]!.contains(.memberLeft(3)) || c.reasons[2]!.contains(.memberLeft(3)))
        let took = c.now - leftAt
        let token = TotemSimulation.micros(c.config.totem.timing(nodeCount: 3).token)
        #expect(took < token, "a clean leave took \(took) us, the token timeout is \(token) us")
        #expect(c.quorum[1]?.quorate == true)
    }

    @Test func aCrashIsDetectedByTokenLossAndQuorumFollows() {
        var c = EngineCluster(nodes: 3)
        c.run(for: 5_000_000) { $0.settled }
        let crashAt = c.now
        c.crash(3)
        c.run(for: 10_000_000) { $0.settled }
        #expect(c.members(1) == [1, 2])
        #expect(c.reasons[1]!.contains(.tokenLost) || c.reasons[2]!.contains(.tokenLost))
        let bound = TotemSimulation.micros(c.config.totem.timing(nodeCount: 3).failureDetectionBound) + 100_000
        #expect(c.now - crashAt <= bound)
        #expect(c.quorum[1]?.quorate == true && c.quorum[2]?.quorate == true)
        // The survivors moved together: each reports the same transitional membership, from
        // the ring of three, holding the two of them.
        let ringOfThree = c.memberships[1]!.dropLast().last!.ring
        #expect(c.transitional[1]!.last!.0 == ringOfThree && c.transitional[1]!.last!.1 == [1, 2])
        #expect(c.transitional[2]!.last!.0 == ringOfThree && c.transitional[2]!.last!.1 == [1, 2])
        // Down to one of three: no quorum.
        c.crash(2)
        c.run(for: 10_000_000) { $0.settled }
        #expect(c.members(1) == [1])
        #expect(c.quorum[1]?.quorate == false)
        // Both come back: one quorate membership of three again.
        c.boot(2)
        c.boot(3)
        c.run(for: 10_000_000) { $0.settled }
        #expect(c.settled && c.members(3) == [1, 2, 3] && c.quorum[3]?.quorate == true)
    }

    /// A node that starts waits for all (wait_for_all) until it has seen every expected vote,
    /// or until a quorate member that no longer waits tells it so through the node
    /// information the engines exchange after each membership change.
    @Test func waitForAllIsReleasedByAQuoratePeersNodeInformation() {
        var c = EngineCluster(nodes: 3, extraQuorum: " wait_for_all: 1")
        c.crash(3)
        c.run(for: 3_000_000) { $0.members(1) == [1, 2] && $0.members(2) == [1, 2] }
        #expect(c.quorum[1]?.quorate == false, "two of three must wait for all at the first start")
        c.boot(3)
        c.run(for: 5_000_000) { $0.settled }
        #expect(c.quorum[1]?.quorate == true && c.quorum[3]?.quorate == true)
        // Node 2 fails and node 3 restarts: 3 waits for all again and sees only 2 of 3 votes,
        // but node 1 is quorate and says so.
        c.crash(2)
        c.crash(3)
        c.boot(3)
        c.run(for: 10_000_000) { $0.members(1) == [1, 3] && $0.members(3) == [1, 3] && $0.quorum[3]?.quorate == true }
        #expect(c.members(3) == [1, 3])
        #expect(c.quorum[1]?.quorate == true)
        #expect(c.quorum[3]?.quorate == true, "node 1's information should release node 3")
        #expect(c.quorum[3]?.flags.contains("WaitForAll") == true)
    }

    /// send_join: every join waits a random delay of up to send_join before it goes out; the
    /// cluster still forms, and a crash is still detected within token + consensus + send_join.
    @Test func sendJoinDelaysJoinsRandomlyAndTheClusterStillForms() {
        let config = EngineCluster.config(nodes: 3, extraTotem: " send_join: 40")
        var engine = ClusterEngine(nodeID: 1, config: config, seed: 7)
        let start = engine.start()
        #expect(!start.contains { if case .multicast(.join) = $0 { true } else { false } }, "the first join must wait")
        let delays = start.compactMap { d -> Duration? in
            if case .schedule(.totem(.sendJoin), let after) = d { return after }
            return nil
        }
        #expect(delays.count == 1)
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .milliseconds(40) })
        // (Alone, it formed a ring of one at once; the delayed join finds nothing to do.)
        #expect(engine.onTimer(.totem(.sendJoin)).isEmpty)
        // A join from node 2: back to gathering, and the answer waits for its delay too.
        let ringSeq = engine.totem.highestRingSeq
        let answer = engine.onPacket(.join(.init(sender: 2, ringSeq: ringSeq, proc: [2, 3], fail: [])), from: 2)
        #expect(engine.totem.state == .gather)
        #expect(!answer.contains { if case .multicast(.join) = $0 { true } else { false } })
        #expect(answer.contains { if case .schedule(.totem(.sendJoin), _) = $0 { true } else { false } })
        let fired = engine.onTimer(.totem(.sendJoin))
        #expect(fired.contains { if case .multicast(.join(let j)) = $0 { j.proc == [1, 2, 3] } else { false } })

        var c = EngineCluster(nodes: 3, extraTotem: " send_join: 40")
        c.run(for: 10_000_000) { $0.settled }
        #expect(c.settled)
        let crashAt = c.now
        c.crash(3)
        c.run(for: 10_000_000) { $0.settled }
        #expect(c.members(1) == [1, 2])
        let timing = c.config.totem.timing(nodeCount: 3)
        let bound = TotemSimulation.micros(timing.failureDetectionBound + timing.sendJoin) + 100_000
        #expect(c.now - crashAt <= bound)
    }

    @Test func membershipPacketsClaimingAnotherSenderAreIgnored() {
        var c = EngineCluster(nodes: 3)
        c.run(for: 5_000_000) { $0.settled }
        let ring = c.memberships[1]!.last!.ring
        // Node 2 (authenticated as 2) forges a leave of node 3: ignored.
        let d = c.engines[1]!.onPacket(.leave(ring, from: 3), from: 2)
        #expect(d.isEmpty)
        let j = c.engines[1]!.onPacket(.join(.init(sender: 3, ringSeq: ring.seq + 100, proc: [1, 3], fail: [2])), from: 2)
        #expect(j.isEmpty)
        #expect(c.engines[1]!.totem.state == .operational)
    }

    @Test func applicationPayloadsAreDeliveredInOneOrder() {
        var c = EngineCluster(nodes: 3)
        c.run(for: 5_000_000) { $0.settled }
        for i in 0..<30 {
            let id = UInt32(i % 3 + 1)
            c.perform(c.engines[id]!.submit([UInt8(i)]), at: id)
        }
        c.run(for: 5_000_000) { c in c.alive.allSatisfy { (c.delivered[$0] ?? []).count == 30 } }
        #expect(c.delivered[1]?.count == 30)
        #expect(c.delivered[1] == c.delivered[2] && c.delivered[2] == c.delivered[3])
    }

    /// Group messages queued while the token is elsewhere are packed into few ring messages,
    /// and every member still delivers each of them, in the order sent.
    @Test func smallGroupMessagesQueuedTogetherTravelPackedAndArriveInOrder() throws {
        var c = EngineCluster(nodes: 3)
        c.run(for: 5_000_000) { $0.settled }
        #expect(c.settled)
        for id: UInt32 in 1...3 {
            let join = try c.engines[id]!.processGroups.join("g", pid: 100 + id)
            c.perform(c.engines[id]!.submit(join), at: id)
        }
        c.run(for: 2_000_000) { c in c.alive.allSatisfy { c.engines[$0]!.processGroups.members(of: "g").count == 3 } }
        // Node 2 does not hold the token (the representative, node 1, holds it on an idle ring).
        let before = c.engines[2]!.totem.queuedPayloads
        var sent: [[UInt8]] = []
        for i in 0..<300 {
            let payload = Array("m\(i)-".utf8) + [UInt8](repeating: UInt8(i % 251), count: 64)
            sent.append(payload)
            c.perform(c.engines[2]!.submit(try c.engines[2]!.processGroups.multicast("g", pid: 102, payload: payload)), at: 2)
        }
        // A large message travels on its own, and later small ones are packed after it.
        let large = [UInt8](repeating: 7, count: ClusterEngine.packable + 1)
        sent.append(large)
        c.perform(c.engines[2]!.submit(try c.engines[2]!.processGroups.multicast("g", pid: 102, payload: large)), at: 2)
        for i in 0..<20 {
            let payload = Array("after\(i)".utf8)
            sent.append(payload)
            c.perform(c.engines[2]!.submit(try c.engines[2]!.processGroups.multicast("g", pid: 102, payload: payload)), at: 2)
        }
        let queued = c.engines[2]!.totem.queuedPayloads - before
        #expect(queued >= 1 && queued <= 4, "321 messages in \(queued) ring payloads")
        c.run(for: 5_000_000) { c in
            c.alive.allSatisfy { id in c.groupEvents[id]!.filter { if case .deliver = $0 { true } else { false } }.count == sent.count }
        }
        for id: UInt32 in 1...3 {
            let got = c.groupEvents[id]!.compactMap { e -> [UInt8]? in
                guard case .deliver(let g, let from, let payload) = e, g == "g" else { return nil }
                #expect(from == ProcessGroups.Member(node: 2, pid: 102))
                return payload
            }
            #expect(got == sent, "node \(id) delivered \(got.count) of \(sent.count), or out of order")
        }
        #expect(c.engines[1]!.malformedServiceMessages == 0)
    }

    /// corosync-quorumtool -e/-v and corosync-cfgtool -R/-k: an administrator's request sent
    /// from one node is applied by every member at the same place in the order.
    @Test func administratorsRequestsReachEveryMember() {
        var c = EngineCluster(nodes: 3)
        c.run(for: 5_000_000) { $0.settled }
        #expect(c.settled)
        // Expected votes 5 with 3 votes present: quorum 3 everywhere, still quorate.
        #expect(c.engines[1]!.quorum!.acceptsExpectedVotes(5))
        #expect(!c.engines[1]!.quorum!.acceptsExpectedVotes(7), "quorum 4 could not be met by 3 votes")
        c.perform(c.engines[2]!.submit(.setExpectedVotes(5)), at: 2)
        c.run(for: 2_000_000) { c in (1...3).allSatisfy { c.quorum[$0]?.expectedVotes == 5 } }
        for id: UInt32 in 1...3 {
            #expect(c.quorum[id]?.expectedVotes == 5 && c.quorum[id]?.quorum == 3 && c.quorum[id]?.quorate == true, "node \(id): \(String(describing: c.quorum[id]))")
        }
        // Node 3 gets 3 votes: total 5 at every node.
        c.perform(c.engines[1]!.submit(.setVotes(node: 3, votes: 3)), at: 1)
        c.run(for: 2_000_000) { c in (1...3).allSatisfy { c.quorum[$0]?.totalVotes == 5 } }
        for id: UInt32 in 1...3 { #expect(c.quorum[id]?.totalVotes == 5, "node \(id): \(String(describing: c.quorum[id]))") }
        #expect(c.engines[2]!.votes(of: 3) == 3)
        // Reload reaches all; kill reaches only its target.
        c.perform(c.engines[1]!.submit(.reloadConfig), at: 1)
        c.perform(c.engines[1]!.submit(.killNode(2, reason: "Killed by corosync-cfgtool")), at: 1)
        c.run(for: 2_000_000) { c in c.killedBy[2] != nil && (1...3).allSatisfy { c.reloads[$0] != nil } }
        for id: UInt32 in 1...3 { #expect(c.reloads[id] == [1]) }
        #expect(c.killedBy[2]?.by == 1 && c.killedBy[2]?.reason == "Killed by corosync-cfgtool")
        #expect(c.killedBy[1] == nil && c.killedBy[3] == nil)
    }
}

/// Packets a confused or hostile member could send (well-formed, so they pass the decoder, but
/// with any content): the engines never trap, and the cluster heals afterwards.
@Suite struct ClusterEngineFuzzTests {
    /// A packet aimed at an engine: near its current ring (so it gets past the first checks)
    /// or anywhere, from any of 1...5 (4 and 5 are not in the nodelist).
    static func hostilePacket(_ rng: inout SeededGenerator, near ring: TotemRing.RingID?) -> TotemNode.Packet {
        func id() -> UInt32 { UInt32.random(in: 0...5, using: &rng) }
        func ids() -> [UInt32] { (0..<Int.random(in: 0..<6, using: &rng)).map { _ in id() } }
        func seq() -> UInt64 {
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: return TotemWire.maxSequence - UInt64.random(in: 0...3, using: &rng)  // the edge the codec allows
            case 1, 2, 3: return UInt64.random(in: 0...64, using: &rng)
            default: return UInt64.random(in: 0...TotemWire.maxSequence, using: &rng)
            }
        }
        let r = (ring != nil && Bool.random(using: &rng)) ? ring! : TotemRing.RingID(seq: seq(), representative: id())
        func payload() -> [UInt8] {
            var p = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Often one of the tags the layers above look at.
            if !p.isEmpty, Bool.random(using: &rng) { p[0] = UInt8.random(in: 0...3, using: &rng) }
            if p.count > 1, Bool.random(using: &rng) { p[1] = UInt8.random(in: 0...1, using: &rng) }
            return p
        }
        switch Int.random(in: 0..<7, using: &rng) {
        case 0: return .join(.init(sender: id(), ringSeq: seq(), proc: ids(), fail: ids()))
        case 1:
            let entries = ids().map { TotemNode.CommitToken.Entry(node: $0, oldRing: Bool.random(using: &rng) ? nil : r, oldAru: seq()) }
            return .commit(.init(ring: .init(seq: r.seq &+ UInt64.random(in: 0...8, using: &rng), representative: id()),
                                 members: ids() + [UInt32.random(in: 1...3, using: &rng)], phase: Int.random(in: 0...3, using: &rng), entries: entries))
        case 2: return .mergeDetect(r, from: id())
        case 3: return .leave(r, from: id())
        case 4, 5:
            return .ring(.message(.init(ring: r, seq: seq(), sender: id(), payload: payload())))
        default:
            return .ring(.token(.init(ring: r, tokenSeq: seq(), seq: seq(), aru: seq(), aruID: Bool.random(using: &rng) ? nil : id(),
                                      rtr: (0..<Int.random(in: 0..<8, using: &rng)).map { _ in seq() }, fcc: Int.random(in: 0...100, using: &rng))))
        }
    }

    @Test func hostilePacketsNeverTrapAndTheClusterHeals() {
        for seed in UInt64(1)...5 {
            var rng = SeededGenerator(seed: seed)
            var c = EngineCluster(nodes: 3)
            c.run(for: 5_000_000) { $0.settled }
            #expect(c.settled)
            for round in 0..<4_000 {
                let target = UInt32.random(in: 1...3, using: &rng)
                // The authenticated sender is a member (whoever holds the key).
                let from = UInt32.random(in: 1...3, using: &rng)
                let p = Self.hostilePacket(&rng, near: c.memberships[target]?.last?.ring)
                c.perform(c.engines[target]!.onPacket(p, from: from), at: target)
                if round % 40 == 0 { c.run(for: 5_000) }
            }
            // The storm is over: one ring of three again, quorate.
            // Whatever they were fed, the engines only ever sent what the codec accepts.
            let stormEnd = c.undecodable.count
            #expect(stormEnd == 0, "seed \(seed): during the storm, honest nodes sent packets their peers cannot decode: \(c.undecodable.prefix(2))")
            c.run(for: 30_000_000) { $0.settled }
            let sentUndecodable = c.undecodable.count - stormEnd
            #expect(sentUndecodable == 0, "seed \(seed): after the storm, honest nodes sent packets their peers cannot decode: \(c.undecodable.suffix(2))")
            let settled = c.settled
            let states = c.alive.sorted().map { "\($0): \(c.members($0)) \(c.engines[$0]!.totem.state)" }
            #expect(settled, "seed \(seed): \(states)")
            let quorate = c.alive.allSatisfy { c.quorum[$0]?.quorate == true }
            #expect(quorate)
        }
    }
}
