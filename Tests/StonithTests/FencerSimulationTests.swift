import Foundation
import Stonith
import Testing
import TestSupport

/// Whole clusters of fencer instances in one process, driven by a seeded generator: client
/// requests and confirmations on any node, group messages delivered in one total order,
/// agents answering success or failure in any order, timers firing at any time, members
/// crashing. After every step, and once everything has settled, the invariants are checked.
struct FencerSimulation {
    enum Item { case message(FencerMessage), membership(members: [String], joined: [String], left: [String]) }

    var rng: SeededGenerator
    var fencers: [String: Fencer] = [:]
    var queue: [Item] = []
    var assessments: [(member: String, id: String, target: String)] = []
    var runs: [(member: String, id: String, target: String)] = []
    var timers: [(member: String, timer: Fencer.Timer)] = []
    /// Token to the member that took it, and how many replies it got.
    var tokens: [UInt64: String] = [:]
    var replies: [UInt64: Int] = [:]
    var nextToken: UInt64 = 1
    /// Which targets each member's devices can fence.
    var reach: [String: Set<String>] = [:]
    var nodeOf: [String: String] = [:]
    var problems: [String] = []
    /// What happened, for a failing seed's report.
    var trace: [String] = []
    var clock = Date(timeIntervalSince1970: 1_700_000_000)
    /// Members that have joined the group (a restarted member only after its join is delivered).
    var active: Set<String> = []
    /// Nodes whose member crashed, and a counter for new pids.
    var down: [String] = []
    var pid = 1000

    init(seed: UInt64) {
        rng = SeededGenerator(seed: seed)
        let n = Int.random(in: 2...5, using: &rng)
        let members = (1...n).map { "\($0):\(100 * $0)" }
        for (i, m) in members.enumerated() {
            fencers[m] = Fencer(node: "node\(i + 1)", member: m)
            nodeOf[m] = "node\(i + 1)"
            reach[m] = Set((1...n + 1).map { "node\($0)" }.filter { _ in Bool.random(using: &rng) })
        }
        active = Set(members)
        for m in members { perform(m, fencers[m]!.onMembership(members: members, joined: members, left: [], at: clock)) }
    }

    var alive: [String] { fencers.keys.sorted() }

    mutating func perform(_ member: String, _ directives: [Fencer.Directive]) {
        for d in directives {
            switch d {
            case .multicast(let m):
                trace.append("\(member) multicasts \(m)")
                queue.append(.message(m))
            case .assess(let id, let target, _): assessments.append((member, id, target))
            case .runAgent(let id, _, _, let target, _, _):
                if let other = runs.first(where: { $0.id == id && $0.member != member && fencers[$0.member] != nil }) {
                    problems.append("\(id) runs on \(member) while \(other.member) still runs it")
                }
                runs.append((member, id, target))
            case .reply(let token, _):
                replies[token, default: 0] += 1
                if replies[token]! > 1 { problems.append("token \(token) answered twice") }
                if tokens[token] != member { problems.append("token \(token) answered by \(member), taken by \(tokens[token] ?? "nobody")") }
            case .notify: break
            case .schedule(let t, _): timers.append((member, t))
            case .log, .done: break
            }
        }
    }

    mutating func call(_ member: String, _ body: (inout Fencer) -> [Fencer.Directive]) {
        guard var f = fencers[member] else { return }
        let out = body(&f)
        fencers[member] = f
        perform(member, out)
    }

    mutating func deliverOne() {
        guard !queue.isEmpty else { return }
        let item = queue.removeFirst()
        let now = clock
        if case .membership(_, let joined, _) = item { active.formUnion(joined.filter { fencers[$0] != nil }) }
        let members = active.sorted()
        for m in members {
            switch item {
            case .message(let msg): call(m) { $0.onMessage(msg, now: now) }
            case .membership(_, let joined, let left):
                call(m) { $0.onMembership(members: members, joined: joined.filter { members.contains($0) }, left: left, at: now) }
            }
        }
    }

    mutating func step(requestsLeft: inout Int, crashesLeft: inout Int) {
        clock += 0.1
        let now = clock
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<35:
            deliverOne()
        case 35..<50:
            guard !assessments.isEmpty else { return }
            let a = assessments.remove(at: Int.random(in: 0..<assessments.count, using: &rng))
            let levels = reach[a.member]?.contains(a.target) == true ? [["dev-\(a.member)"]] : []
            call(a.member) { $0.onAssessed(id: a.id, levels: levels) }
        case 50..<65:
            guard !runs.isEmpty else { return }
            let r = runs.remove(at: Int.random(in: 0..<runs.count, using: &rng))
            let ok = Int.random(in: 0..<4, using: &rng) > 0
            call(r.member) { $0.onAgentResult(id: r.id, success: ok, output: ok ? "" : "switch unreachable", now: now) }
        case 65..<72:
            guard !timers.isEmpty else { return }
            let t = timers.remove(at: Int.random(in: 0..<timers.count, using: &rng))
            trace.append("\(t.member) timer \(t.timer)")
            call(t.member) { $0.onTimer(t.timer, now: now) }
        case 72..<88:
            guard requestsLeft > 0, let m = alive.filter({ active.contains($0) }).randomElement(using: &rng) else { return }
            requestsLeft -= 1
            let token = nextToken
            nextToken += 1
            tokens[token] = m
            let target = "node\(Int.random(in: 1...(fencers.count + 2), using: &rng))"
            if Int.random(in: 0..<6, using: &rng) == 0 {
                call(m) { $0.onConfirm(token: token, target: target, client: "admin.\(token)", now: now) }
            } else {
                let action: FenceAction = Bool.random(using: &rng) ? .reboot : .off
                call(m) { $0.onFenceRequest(token: token, target: target, action: action, timeout: .seconds(60), client: "crmd.\(token)", now: now) }
            }
        case 88..<94:
            guard !down.isEmpty else { return }
            let node = down.remove(at: Int.random(in: 0..<down.count, using: &rng))
            restart(node)
        default:
            guard crashesLeft > 0, alive.count > 1, let victim = alive.randomElement(using: &rng) else { return }
            crashesLeft -= 1
            crash(victim)
        }
    }

    /// A member crashes: it receives nothing more; its queued messages that were not yet
    /// delivered are lost (virtual synchrony: delivered to all survivors or to none); the
    /// survivors see it leave, in order.
    mutating func crash(_ victim: String) {
        fencers[victim] = nil
        active.remove(victim)
        if let n = nodeOf[victim] { down.append(n) }
        trace.append("\(victim) crashes")
        assessments.removeAll { $0.member == victim }
        runs.removeAll { $0.member == victim }
        timers.removeAll { $0.member == victim }
        for (t, m) in tokens where m == victim { tokens[t] = nil }
        queue.append(.membership(members: alive, joined: [], left: [victim]))
    }

    /// A crashed node starts again: a new process, empty, that joins the group.
    mutating func restart(_ node: String) {
        pid += 1
        let id = node.dropFirst(4)
        let member = "\(id):\(pid)"
        fencers[member] = Fencer(node: node, member: member)
        nodeOf[member] = node
        reach[member] = reach.first { nodeOf[$0.key] == node }?.value ?? []
        trace.append("\(member) (\(node)) starts again")
        queue.append(.membership(members: alive, joined: [member], left: []))
    }

    /// Lets everything finish: messages delivered, assessments and agents answered, timers fired.
    mutating func settle() {
        var rounds = 0
        while (!queue.isEmpty || !assessments.isEmpty || !runs.isEmpty || !timers.isEmpty) && rounds < 100_000 {
            rounds += 1
            let now = clock
            if !queue.isEmpty { deliverOne(); continue }
            if !assessments.isEmpty {
                let a = assessments.removeFirst()
                let levels = reach[a.member]?.contains(a.target) == true ? [["dev-\(a.member)"]] : []
                call(a.member) { $0.onAssessed(id: a.id, levels: levels) }
                continue
            }
            if !runs.isEmpty {
                let r = runs.removeFirst()
                call(r.member) { $0.onAgentResult(id: r.id, success: true, output: "", now: now) }
                continue
            }
            let t = timers.removeFirst()
            call(t.member) { $0.onTimer(t.timer, now: now) }
        }
    }

    /// The members there from the start (a member that joined later learns the history as it
    /// was when it joined, and may see an operation in flight then end otherwise: see
    /// `restartedMembersAnswerTheirClients`).
    var original: [String] { alive.filter { active.contains($0) && Int($0.split(separator: ":")[1])! < 1000 } }

    /// Members that agree on the group's order have the same finished entries.
    func checkHistories() -> [String] {
        var out: [String] = []
        let members = original
        guard let first = members.first, let reference = fencers[first] else { return [] }
        let finished = Dictionary(reference.history().filter { $0.state != .pending }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for m in members.dropFirst() where active.contains(m) {
            for e in fencers[m]!.history() where e.state != .pending {
                if let r = finished[e.id], (r.state, r.delegate, r.exitReason, r.target, r.action) != (e.state, e.delegate, e.exitReason, e.target, e.action) { out.append("\(m) records \(e.id) as \(e.state)/\(e.delegate ?? "-"), \(first) as \(r.state)/\(r.delegate ?? "-")") }
            }
        }
        return out
    }
}

@Suite struct FencerSimulationTests {
    @Test(arguments: 0..<500)
    func clustersAgreeAndAnswerEveryRequestOnce(seed: Int) {
        var sim = FencerSimulation(seed: UInt64(seed) &* 0x9E37_79B9 &+ 1)
        var requests = 20, crashes = 3
        for _ in 0..<400 {
            sim.step(requestsLeft: &requests, crashesLeft: &crashes)
            let h = sim.checkHistories()
            if !h.isEmpty { sim.problems += h; break }
        }
        sim.settle()
        sim.problems += sim.checkHistories()
        // Every request taken by a member still running is answered exactly once.
        for (token, _) in sim.tokens where sim.replies[token] != 1 {
            sim.problems.append("token \(token) got \(sim.replies[token] ?? 0) replies")
        }
        // Nothing is left pending once everything has settled, and every member knows the same.
        for m in sim.original {
            let pending = sim.fencers[m]!.history().filter { $0.state == .pending }
            if !pending.isEmpty { sim.problems.append("\(m) still has \(pending.map(\.id)) pending") }
        }
        let lists = Set(sim.original.map { Set(sim.fencers[$0]!.history().map(\.id)) })
        if lists.count > 1 { sim.problems.append("members' histories differ: \(lists)") }
        #expect(sim.problems.isEmpty, "seed \(seed): \(sim.problems.prefix(5))\n\(sim.trace.suffix(80).joined(separator: "\n"))")
    }
}
