import Foundation
import Messaging
import Testing
import TestSupport

/// Whole ``ClusterEngine``s (totem + votequorum + CPG) with CPG client processes, on a simulated
/// network that drops, duplicates, delays and reorders packets and is cut into partitions, with
/// simultaneous or staggered starts, crashes and restarts; seeded, in simulated time.
///
/// Checked: Extended Virtual Synchrony at the level the clients see, the CPG configuration
/// changes and messages: every pair of nodes that pass from ring C to ring C' delivered, while in
/// C, the same group messages in the same order and the same sequence of group configurations
/// (a node whose view of a group was already the one the others move to is told nothing new);
/// the members of each group are the same at every node once the network heals, and are exactly
/// the live processes that joined and did not leave.
struct CPGSimulation {
    typealias NodeID = UInt32
    typealias Member = ProcessGroups.Member

    enum Kind {
        case packet(TotemNode.Packet, to: NodeID, from: NodeID, incarnation: Int)
        case timer(ClusterEngine.Timer, node: NodeID, generation: Int)
        case boot(NodeID)
        case client(NodeID)
    }

    /// What one node's clients saw while the node was in one ring.
    struct RingLog: Equatable {
        /// Per group, the member lists of the configuration changes, in order.
        var views: [String: [[Member]]] = [:]
        /// Messages delivered, in order: group, sender, payload.
        var messages: [String] = []
    }

    let config: CorosyncConfig
    let ids: [NodeID]
    var rng: SeededGenerator
    var faults: TotemSimulation.Faults
    var blocked: Set<[NodeID]> = []
    var engines: [NodeID: ClusterEngine] = [:]
    var alive: Set<NodeID> = []
    var incarnation: [NodeID: Int] = [:]
    var queue = EventQueue<Kind>()
    var order = 0
    var now: Int64 = 0
    var generation: [NodeID: [ClusterEngine.Timer: Int]] = [:]
    var disk: [NodeID: UInt64] = [:]
    /// Clients act until then (microseconds).
    var clientsUntil: Int64 = 0

    // Client processes: pid -> groups it asked to join (and did not leave), per node.
    var processes: [NodeID: [UInt32: Set<String>]] = [:]
    var nextPid: [NodeID: UInt32] = [:]
    var sent = 0

    // What the checks track.
    var ring: [NodeID: TotemRing.RingID] = [:]
    var log: [NodeID: RingLog] = [:]
    /// Each node's view of every group, as its events made it.
    var view: [NodeID: [String: [Member]]] = [:]
    /// The views at the start of the current ring.
    var prior: [NodeID: [String: [Member]]] = [:]
    /// [C, C'] -> node -> (its view at the start of C, what it saw in C).
    var moves: [[TotemRing.RingID]: [NodeID: ([String: [Member]], RingLog)]] = [:]
    var violations: [String] = []
    var ringChanges = 0

    static let groups = ["g", "h"]

    init(seed: UInt64, nodes: Int, faults: TotemSimulation.Faults) {
        config = EngineCluster.config(nodes: nodes)
        ids = (1...NodeID(nodes)).map { $0 }
        rng = SeededGenerator(seed: seed)
        self.faults = faults
    }

    mutating func push(_ kind: Kind, after micros: Int64) {
        order += 1
        queue.push(.init(time: now + micros, order: order, payload: kind))
    }

    mutating func boot(_ id: NodeID) {
        incarnation[id, default: 0] += 1
        engines[id] = ClusterEngine(nodeID: id, config: config, ringSeq: disk[id] ?? 0, seed: UInt64(id) &* 77 &+ UInt64(incarnation[id]!))
        alive.insert(id)
        generation[id] = [:]
        processes[id] = [:]
        ring[id] = nil
        log[id] = RingLog()
        view[id] = [:]
        prior[id] = [:]
        perform(engines[id]!.start(), at: id)
    }

    mutating func crash(_ id: NodeID) {
        alive.remove(id)
        generation[id] = [:]
        processes[id] = [:]
    }

    mutating func transmit(_ p: TotemNode.Packet, from: NodeID, to: NodeID) {
        guard !blocked.contains([min(from, to), max(from, to)]) else { return }
        guard case .success(let decoded) = TotemWire.decodeNode(TotemWire.encode(node: p)) else {
            violations.append("\(p) does not survive the wire codec")
            return
        }
        if Double.random(in: 0..<1, using: &rng) < faults.drop { return }
        let inc = incarnation[from]!
        push(.packet(decoded, to: to, from: from, incarnation: inc), after: Int64.random(in: faults.delay, using: &rng))
        if Double.random(in: 0..<1, using: &rng) < faults.duplicate {
            push(.packet(decoded, to: to, from: from, incarnation: inc), after: Int64.random(in: faults.delay, using: &rng))
        }
    }

    mutating func perform(_ directives: [ClusterEngine.Directive], at id: NodeID) {
        for d in directives {
            switch d {
            case .multicast(let p):
                for other in ids where other != id { transmit(p, from: id, to: other) }
            case .send(let p, let to):
                transmit(p, from: id, to: to)
            case .schedule(let t, let after):
                let g = (generation[id]?[t] ?? 0) + 1
                generation[id, default: [:]][t] = g
                push(.timer(t, node: id, generation: g), after: TotemSimulation.micros(after))
            case .cancel(let t):
                generation[id, default: [:]][t, default: 0] += 1
            case .storeRingSeq(let s): disk[id] = s
            case .membershipChanged(let m): installed(m.ring, at: id)
            case .processGroup(let e): groupEvent(e, at: id)
            case .gathering, .transitionalMembership, .quorumChanged, .deliver, .reloadConfig, .killed: break
            }
        }
    }

    mutating func installed(_ new: TotemRing.RingID, at id: NodeID) {
        ringChanges += 1
        if let old = ring[id] {
            moves[[old, new], default: [:]][id] = (prior[id]!, log[id]!)
            compare(moves[[old, new]]!, old: old, new: new)
        }
        ring[id] = new
        log[id] = RingLog()
        prior[id] = view[id]!
    }

    mutating func groupEvent(_ e: ProcessGroups.Event, at id: NodeID) {
        switch e {
        case .configurationChange(let group, let members, let joined, let left):
            guard ring[id] != nil else {
                violations.append("node \(id) delivered a configuration of \(group) before its first ring")
                return
            }
            let before = Set(view[id]![group] ?? [])
            let expected = before.union(joined.map(\.member)).subtracting(left.map(\.member))
            if expected != Set(members) {
                violations.append("node \(id): configuration of \(group) \(members) does not follow from \(before.sorted()) + \(joined) - \(left)")
            }
            if joined.isEmpty && left.isEmpty { violations.append("node \(id): an empty configuration change of \(group)") }
            view[id]![group] = members.isEmpty ? nil : members
            log[id]!.views[group, default: []].append(members)
        case .deliver(let group, let from, let payload):
            if view[id]![group]?.contains(from) != true {
                violations.append("node \(id) delivered a message of \(from) in \(group), which it does not count as a member")
            }
            log[id]!.messages.append("\(group)/\(from)/\(payload)")
        }
    }

    /// EVS for the clients: nodes that made the same move saw the same things in the old ring.
    mutating func compare(_ seen: [NodeID: ([String: [Member]], RingLog)], old: TotemRing.RingID, new: TotemRing.RingID) {
        guard seen.count > 1 else { return }
        let nodes = seen.keys.sorted()
        let (p, q) = (nodes[0], nodes.last!)
        for other in nodes.dropFirst() {
            let (a, b) = (seen[nodes[0]]!, seen[other]!)
            if a.1.messages != b.1.messages {
                let common = zip(a.1.messages, b.1.messages).prefix { $0 == $1 }.count
                violations.append("moving from \(old) to \(new), nodes \(nodes[0]) and \(other) delivered different messages in \(old): \(a.1.messages.count) and \(b.1.messages.count), the first \(common) alike, then \(a.1.messages.dropFirst(common).prefix(2)) / \(b.1.messages.dropFirst(common).prefix(2))")
            }
            for g in Set(a.1.views.keys).union(b.1.views.keys) {
                let va = a.1.views[g] ?? [], vb = b.1.views[g] ?? []
                if va == vb { continue }
                // A node whose view was already the first configuration the other was told of.
                if va.count == vb.count + 1, Array(va.dropFirst()) == vb, va.first == (b.0[g] ?? []) { continue }
                if vb.count == va.count + 1, Array(vb.dropFirst()) == va, vb.first == (a.0[g] ?? []) { continue }
                violations.append("moving from \(old) to \(new), nodes \(nodes[0]) and \(other) saw different configurations of \(g) in \(old): \(va) (from \(a.0[g] ?? [])) / \(vb) (from \(b.0[g] ?? []))")
            }
        }
        _ = (p, q)
    }

    /// One client action on node `id`.
    mutating func clientAct(_ id: NodeID) {
        guard alive.contains(id), now < clientsUntil else { return }
        var procs = processes[id]!
        let roll = Int.random(in: 0..<100, using: &rng)
        let group = Self.groups.randomElement(using: &rng)!
        func submit(_ r: ProcessGroups.Request) { perform(engines[id]!.submit(r), at: id) }
        if procs.isEmpty || (roll < 8 && procs.count < 3) {
            nextPid[id, default: 0] += 1
            let pid = id * 10_000 + nextPid[id]!
            procs[pid] = []
        }
        let pid = procs.keys.sorted().randomElement(using: &rng)!
        let pg = engines[id]!.processGroups
        if roll < 10, procs.count > 1 {
            // The process ends: it leaves every group it asked for.
            for g in procs[pid]!.sorted() { submit(try! pg.processDown(g, pid: pid)) }
            procs[pid] = nil
        } else if !procs[pid]!.contains(group) {
            submit(try! pg.join(group, pid: pid))
            procs[pid]!.insert(group)
        } else if roll < 22 {
            submit(try! pg.leave(group, pid: pid))
            procs[pid]!.remove(group)
        } else {
            sent += 1
            submit(try! pg.multicast(group, pid: pid, payload: Array("\(pid)-\(sent)".utf8)))
        }
        processes[id] = procs
        push(.client(id), after: Int64.random(in: 5_000...150_000, using: &rng))
    }

    mutating func step() -> Bool {
        guard let e = queue.pop() else { return false }
        now = e.time
        switch e.payload {
        case .packet(let p, let to, let from, let inc):
            guard alive.contains(to), incarnation[from] == inc || true else { return true }
            perform(engines[to]!.onPacket(p, from: from), at: to)
        case .timer(let t, let node, let g):
            guard alive.contains(node), generation[node]?[t] == g else { return true }
            perform(engines[node]!.onTimer(t), at: node)
        case .boot(let id):
            boot(id)
            push(.client(id), after: Int64.random(in: 0...100_000, using: &rng))
        case .client(let id):
            clientAct(id)
        }
        return true
    }

    mutating func run(until: Int64, done: (CPGSimulation) -> Bool = { _ in false }) {
        while let next = queue.heap.first, next.time <= until {
            _ = step()
            if done(self) { return }
        }
        now = max(now, until)
    }

    /// Every live node runs one ring of every live node.
    var converged: Bool {
        let rings = Set(alive.map { engines[$0]!.totem.ring?.ring })
        guard rings.count == 1, rings.first! != nil else { return false }
        return alive.allSatisfy { engines[$0]!.totem.state == .operational && engines[$0]!.membership?.members == alive.sorted() }
    }

    /// The groups as the live clients made them: every process with the groups it joined.
    var expectedGroups: [String: [Member]] {
        var out: [String: [Member]] = [:]
        for id in alive {
            for (pid, groups) in processes[id]! {
                for g in groups { out[g, default: []].append(Member(node: id, pid: pid)) }
            }
        }
        return out.mapValues { $0.sorted() }
    }

    /// Every live node's view of the groups, as its clients were told, is the expected one.
    var groupsSettled: Bool {
        let expected = expectedGroups
        return alive.allSatisfy { view[$0]! == expected }
    }

    /// The end of the run counts as a move for the nodes in the last ring: they too must have
    /// seen the same things in it.
    mutating func finish() {
        let end = TotemRing.RingID(seq: .max, representative: 0)
        for id in alive.sorted() {
            if let r = ring[id] { installed(end, at: id); ring[id] = r }
        }
    }
}

@Suite struct TotemSimulationCPGTests {
    enum Start: CaseIterable { case together, staggered }

    /// One seeded run. Returns the simulation and whether it healed (one ring, groups settled).
    static func scenario(seed: UInt64) -> (CPGSimulation, healed: Bool) {
        var pick = SeededGenerator(seed: seed &* 0x9E37_79B9 &+ 1)
        let nodes = Int.random(in: 3...5, using: &pick)
        let drop = [0.0, 0.02, 0.1].randomElement(using: &pick)!
        let faults = TotemSimulation.Faults(drop: drop, duplicate: drop == 0 ? 0 : 0.05,
                                            delay: Bool.random(using: &pick) ? 50...300 : 20...4000)
        var sim = CPGSimulation(seed: seed, nodes: nodes, faults: faults)
        let staggered = Bool.random(using: &pick)
        for id in sim.ids {
            sim.push(.boot(id), after: staggered ? Int64.random(in: 0...1_500_000, using: &pick) : Int64.random(in: 0...2_000, using: &pick))
        }
        let faultyFor = Int64.random(in: 1_500_000...4_000_000, using: &pick)
        sim.clientsUntil = faultyFor + 500_000
        // Partitions and crashes at random times within the faulty phase.
        var t: Int64 = Int64.random(in: 200_000...1_500_000, using: &pick)
        while t < faultyFor {
            sim.run(until: t)
            switch Int.random(in: 0..<3, using: &pick) {
            case 0:
                let side = Set(sim.ids.filter { _ in Bool.random(using: &pick) })
                sim.blocked = []
                for a in side { for b in sim.ids where !side.contains(b) { sim.blocked.insert([min(a, b), max(a, b)]) } }
            case 1:
                sim.blocked = []
            default:
                let victim = sim.ids.randomElement(using: &pick)!
                if sim.alive.contains(victim) {
                    sim.crash(victim)
                    sim.push(.boot(victim), after: Int64.random(in: 100_000...1_000_000, using: &pick))
                }
            }
            t += Int64.random(in: 300_000...1_200_000, using: &pick)
        }
        sim.run(until: faultyFor)
        sim.blocked = []
        sim.faults = .init()
        sim.run(until: sim.clientsUntil)
        sim.run(until: sim.now + 30_000_000) { $0.converged && $0.groupsSettled && $0.queue.heap.allSatisfy { e in
            if case .client = e.payload { false } else { true }
        } }
        // A little longer, so that nothing is still on its way.
        sim.run(until: sim.now + 1_000_000)
        let healed = sim.converged && sim.groupsSettled
        sim.finish()
        return (sim, healed)
    }

    static func check(seeds: ClosedRange<UInt64>) {
        var changes = 0
        for seed in seeds {
            let (sim, healed) = scenario(seed: seed)
            changes += sim.ringChanges
            #expect(sim.violations.isEmpty, "seed \(seed): \(sim.violations.prefix(3))")
            #expect(healed, "seed \(seed): no convergence: rings \(sim.alive.sorted().map { "\($0): \(String(describing: sim.engines[$0]!.membership?.members))" }); views \(sim.view) expected \(sim.expectedGroups)")
            if !sim.violations.isEmpty || !healed { return }
        }
        #expect(changes > seeds.count * 3)
    }

    /// 400 seeds in the default run; SWIFTHA_SOAK=1 runs 2000 more.
    @Test func cpgConfigurationsKeepExtendedVirtualSynchrony() {
        Self.check(seeds: 1...400)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["SWIFTHA_SOAK"] != nil))
    func cpgConfigurationsKeepExtendedVirtualSynchronySoak() {
        Self.check(seeds: 401...2400)
    }
}
