import Messaging
import Testing
import TestSupport

typealias Member = ProcessGroups.Member

extension EngineCluster {
    /// A local process of node `id` asks for something; it goes round the ring.
    mutating func request(_ id: NodeID, _ make: (ProcessGroups) throws -> ProcessGroups.Request) rethrows {
        let r = try make(engines[id]!.processGroups)
        perform(engines[id]!.submit(r), at: id)
    }

    /// Every live node has the same members in every group.
    var groupsAgree: Bool {
        let views = alive.map { engines[$0]!.processGroups.groups }
        return Set(views.map { $0.mapValues { $0.sorted() }.description }).count <= 1
    }

    func configurationChanges(_ id: NodeID, _ group: String) -> [ProcessGroups.Event] {
        (groupEvents[id] ?? []).filter { if case .configurationChange(group, _, _, _) = $0 { true } else { false } }
    }

    func messages(_ id: NodeID, _ group: String) -> [(Member, [UInt8])] {
        (groupEvents[id] ?? []).compactMap { if case .deliver(group, let from, let p) = $0 { (from, p) } else { nil } }
    }
}

@Suite struct ProcessGroupsTests {
    let m1 = Member(node: 1, pid: 100), m2 = Member(node: 2, pid: 200), m3 = Member(node: 3, pid: 300)

    func settledCluster() -> EngineCluster {
        var c = EngineCluster(nodes: 3)
        c.run(for: 5_000_000) { $0.settled }
        return c
    }

    @Test func joinsAndMessagesReachEveryNodeInOneOrder() throws {
        var c = settledCluster()
        for id: UInt32 in 1...3 { try c.request(id) { try $0.join("crmd", pid: id * 100) } }
        c.run(for: 2_000_000) { c in c.alive.allSatisfy { c.engines[$0]!.processGroups.members(of: "crmd").count == 3 } }
        for id: UInt32 in 1...3 {
            #expect(c.engines[id]!.processGroups.members(of: "crmd") == [m1, m2, m3])
        }
        // The same changes, in the same order, everywhere.
        #expect(c.configurationChanges(1, "crmd") == c.configurationChanges(2, "crmd"))
        #expect(c.configurationChanges(2, "crmd") == c.configurationChanges(3, "crmd"))
        #expect(c.configurationChanges(1, "crmd").count == 3)
        // Multicasts from members, interleaved from all three nodes; one from a process that
        // is not a member is not delivered.
        for k in 0..<12 {
            let id = UInt32(k % 3 + 1)
            try c.request(id) { try $0.multicast("crmd", pid: id * 100, payload: [UInt8(k)]) }
        }
        try c.request(2) { try $0.multicast("crmd", pid: 999, payload: [99]) }
        c.run(for: 2_000_000) { c in c.alive.allSatisfy { c.messages($0, "crmd").count >= 12 } }
        let order = c.messages(1, "crmd").map { "\($0.0)/\($0.1)" }
        #expect(order.count == 12)
        #expect(c.messages(2, "crmd").map { "\($0.0)/\($0.1)" } == order)
        #expect(c.messages(3, "crmd").map { "\($0.0)/\($0.1)" } == order)
        #expect(!order.contains { $0.hasPrefix("2:999") })
        // Leaving.
        try c.request(2) { try $0.leave("crmd", pid: 200) }
        c.run(for: 2_000_000) { c in c.alive.allSatisfy { c.engines[$0]!.processGroups.members(of: "crmd").count == 2 } }
        if case .configurationChange(_, let members, _, let left) = c.configurationChanges(3, "crmd").last {
            #expect(members == [m1, m3] && left == [.init(m2, .leave)])
        } else {
            Issue.record("no change for the leave")
        }
    }

    @Test func aNodeThatFailsTakesItsProcessesAlongAndTheyComeBack() throws {
        var c = settledCluster()
        for id: UInt32 in 1...3 { try c.request(id) { try $0.join("cib", pid: id * 100) } }
        c.run(for: 2_000_000) { c in c.alive.allSatisfy { c.engines[$0]!.processGroups.members(of: "cib").count == 3 } }
        c.crash(3)
        c.run(for: 10_000_000) { $0.settled }
        for id: UInt32 in [1, 2] {
            #expect(c.engines[id]!.processGroups.members(of: "cib") == [m1, m2])
            if case .configurationChange(_, _, _, let left) = c.configurationChanges(id, "cib").last {
                #expect(left == [.init(m3, .nodeDown)])
            } else {
                Issue.record("node \(id) saw no change for node 3's failure")
            }
        }
        // Node 3 comes back, and its process joins again before node 3 has even merged with
        // the others: the join lists bring every view together.
        c.boot(3)
        try c.request(3) { try $0.join("cib", pid: 300) }
        c.run(for: 10_000_000) { c in c.settled && c.alive.allSatisfy { c.engines[$0]!.processGroups.members(of: "cib").count == 3 } }
        #expect(c.settled)
        for id: UInt32 in 1...3 {
            #expect(c.engines[id]!.processGroups.members(of: "cib") == [m1, m2, m3], "node \(id)")
        }
        #expect(c.groupsAgree)
        // Node 3 learned the others from their join lists.
        let learned: [ProcessGroups.Change] = c.configurationChanges(3, "cib").flatMap { e -> [ProcessGroups.Change] in
            if case .configurationChange(_, _, let j, _) = e { return j }
            return []
        }
        #expect(learned.contains(ProcessGroups.Change(m1, .nodeUp)) && learned.contains(ProcessGroups.Change(m2, .nodeUp)))
    }

    @Test func aProcessThatEndsLeavesEveryGroup() throws {
        var c = settledCluster()
        try c.request(1) { try $0.join("a", pid: 100) }
        try c.request(1) { try $0.join("b", pid: 100) }
        try c.request(2) { try $0.join("a", pid: 200) }
        c.run(for: 2_000_000) { c in c.alive.allSatisfy { c.engines[$0]!.processGroups.groups.count == 2 } }
        for r in c.engines[1]!.processGroups.processEnded(pid: 100) { c.perform(c.engines[1]!.submit(r), at: 1) }
        c.run(for: 2_000_000) { c in c.alive.allSatisfy { c.engines[$0]!.processGroups.groups.count == 1 } }
        for id: UInt32 in 1...3 {
            #expect(c.engines[id]!.processGroups.groups == ["a": [m2]])
        }
        if case .configurationChange(_, _, _, let left) = c.configurationChanges(3, "a").last {
            #expect(left == [.init(m1, .processDown)])
        }
    }

    @Test func badNamesAndHostilePayloadsAreRefused() {
        var g = ProcessGroups(nodeID: 1)
        #expect(throws: ProcessGroups.RequestError.badName) { try g.join("", pid: 1) }
        #expect(throws: ProcessGroups.RequestError.badName) { try g.join(String(repeating: "x", count: 129), pid: 1) }
        #expect((try? g.join(String(repeating: "x", count: 128), pid: 1)) != nil)
        var rng = SeededGenerator(seed: 5)
        var events = 0
        for _ in 0..<20_000 {
            var p = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !p.isEmpty { p[0] = UInt8.random(in: 0...6, using: &rng) }
            if p.count > 1 { p[1] = UInt8.random(in: 0...8, using: &rng) }
            events += g.onDeliver(p, from: UInt32.random(in: 1...3, using: &rng)).count
        }
        #expect(g.malformed > 10_000)
        // Whatever got in is consistent: no empty group is kept.
        #expect(g.groups.values.allSatisfy { !$0.isEmpty })
        _ = events
    }
}
