import Foundation
import Testing
import TestSupport

/// Seeded whole-cluster runs (see `ClusterSimulation`): 120 seeds of the crash scenario and
/// 380 of random faults in `make test`. A failing seed prints its number and the last events;
/// `SWIFTHA_SIM_SEED=N` replays that one seed and prints every event. `SWIFTHA_SOAK=1` runs
/// 5 000 more seeds with longer faults. For exploring: `SWIFTHA_SIM_RANGE=A-B` runs those
/// fault seeds, `SWIFTHA_SIM_ALL=1` goes on past a failing seed, `SWIFTHA_SIM_STATS=1` prints
/// each seed's figures.
@Suite struct ClusterSimulationTests {
    static let env = ProcessInfo.processInfo.environment
    static var replaySeed: UInt64? { env["SWIFTHA_SIM_SEED"].flatMap(UInt64.init) }
    static var soak: Bool { env["SWIFTHA_SOAK"] != nil }

    /// Seconds of simulated time.
    static func s(_ x: Double) -> Int64 { Int64(x * 1_000_000) }

    /// Runs until the cluster settles, at most `limit` seconds more; nil when it did.
    static func settle(_ sim: inout ClusterSimulation, within limit: Double) -> String? {
        let end = sim.now + s(limit)
        var lastCheck: Int64 = 0
        sim.run(until: end) { sim in
            // Settling is looked at every 100 ms of simulated time, not at every packet.
            guard sim.now - lastCheck >= 100_000 else { return false }
            lastCheck = sim.now
            return sim.unsettled == nil
        }
        return sim.unsettled
    }

    // MARK: The simple scenario

    /// Three nodes form a cluster and start the resources; the node running rsc1 loses power.
    /// It is fenced (rebooted), and only then are its resources started elsewhere, once each.
    static func crashScenario(seed: UInt64) -> (ClusterSimulation, problem: String?) {
        var sim = ClusterSimulation(seed: seed, nodes: 3)
        sim.traceAll = replaySeed == seed
        sim.replay = "swift test --skip-build --filter ClusterSimulationTests/aCrashedNode"
        for id in sim.ids {
            let at = Int64.random(in: 0...200_000, using: &sim.rng)
            sim.push(.boot(id), after: at)
        }
        if let why = settle(&sim, within: 60) { return (sim, "the cluster did not form: \(why)") }
        guard let victim = sim.ids.first(where: { sim.active[$0]!.contains("rsc1") }) else { return (sim, "rsc1 runs nowhere") }
        let wait = Int64.random(in: 0...2_000_000, using: &sim.rng)
        sim.run(until: sim.now + wait)
        sim.crash(victim)
        if let why = settle(&sim, within: 90) { return (sim, "no recovery after the crash: \(why)") }
        if sim.fencings < 1 { return (sim, "the crashed node was not fenced") }
        return (sim, nil)
    }

    static func checkCrash(seeds: ClosedRange<UInt64>) {
        for seed in seeds {
            let (sim, problem) = crashScenario(seed: seed)
            #expect(sim.violations.isEmpty && problem == nil, "\(problem ?? "")\n\(sim.report)")
            if !sim.violations.isEmpty || problem != nil { return }
        }
    }

    @Test func aCrashedNodeIsFencedBeforeItsResourcesRecover() {
        if let seed = Self.replaySeed { return Self.checkCrash(seeds: seed...seed) }
        Self.checkCrash(seeds: 1...120)
    }
}

// MARK: Faults at random

extension ClusterSimulationTests {
    /// 3 to 5 nodes; for a while: packet loss, duplication and delay, partitions and heals,
    /// power cuts (some nodes come back by themselves), resources dying, starts and stops
    /// failing, fence devices failing, and administrators' CIB changes. Then the network
    /// heals, the failures stop, every node is powered on, and the cluster must settle.
    /// `long`: faults for 5 to 25 s (the soak); otherwise for 2 to 8 s. `crmdKills`: crmd
    /// alone is SIGKILLed too (the DC's or another node's, pacemakerd starting it again half a
    /// second later), among the other faults; the seeds without it run as they always did.
    static func faultScenario(seed: UInt64, long: Bool = false, crmdKills: Bool = false) -> (ClusterSimulation, problem: String?) {
        var pick = SeededGenerator(seed: seed &* 0x9E37_79B9 &+ 7)
        // 3 to 5 nodes; 3 and 4 more often (the cost grows with the nodes), 5 in the soak alike.
        let n = long ? Int.random(in: 3...5, using: &pick) : [3, 3, 3, 4, 4, 5].randomElement(using: &pick)!
        var sim = ClusterSimulation(seed: seed, nodes: n)
        sim.traceAll = replaySeed == seed
        sim.replay = (long ? "SWIFTHA_SIM_LONG=1 " : "")
            + (crmdKills ? "swift test --skip-build --filter ClusterSimulationTests/crmdKills" : "swift test --skip-build --filter ClusterSimulationTests/faultsNever")
        let staggered = Bool.random(using: &pick)
        for id in sim.ids { sim.push(.boot(id), after: Int64.random(in: 0...(staggered ? 3_000_000 : 200_000), using: &pick)) }
        if let why = settle(&sim, within: 60) { return (sim, "the cluster did not form: \(why)") }

        let drop = [0.0, 0.0, 0.02, 0.1].randomElement(using: &pick)!
        sim.faults = .init(drop: drop, duplicate: drop == 0 ? 0 : 0.05,
                           delay: Bool.random(using: &pick) ? 50...300 : 20...4000,
                           startFailure: [0.0, 0.05, 0.2].randomElement(using: &pick)!,
                           stopFailure: [0.0, 0.0, 0.05].randomElement(using: &pick)!,
                           fenceFailure: [0.0, 0.0, 0.2].randomElement(using: &pick)!)
        let faultyUntil = sim.now + (long ? Int64.random(in: s(5)...s(25), using: &pick) : Int64.random(in: s(2)...s(8), using: &pick))
        var t = sim.now + Int64.random(in: s(0.2)...s(2), using: &pick)
        while t < faultyUntil {
            sim.run(until: t)
            if !sim.violations.isEmpty { return (sim, nil) }
            let live = sim.ids.filter { sim.nodes[Int($0) - 1].alive }
            switch Int.random(in: 0..<(crmdKills ? 13 : 10), using: &pick) {
            case 0, 1:
                let side = Set(sim.ids.filter { _ in Bool.random(using: &pick) })
                sim.blocked = []
                for a in side { for b in sim.ids where !side.contains(b) { sim.blocked.insert([min(a, b), max(a, b)]) } }
                sim.note("PARTITION \(side.sorted()) | \(sim.ids.filter { !side.contains($0) })")
            case 2:
                sim.blocked = []
                sim.note("HEAL")
            case 3, 4:
                // A power cut; sometimes the node comes back by itself (before or after fencing).
                if let victim = live.randomElement(using: &pick), live.count > 1 {
                    sim.crash(victim)
                    if Bool.random(using: &pick) {
                        sim.push(.boot(victim), after: Int64.random(in: s(0.5)...s(8), using: &pick))
                    }
                }
            case 5, 6:
                let running = live.flatMap { id in sim.active[id]!.sorted().map { (id, $0) } }
                if let (id, rsc) = running.randomElement(using: &pick) { sim.resourceFails(rsc, at: id) }
            case 10, 11, 12:
                // crmd alone: the DC's half the time, else any node's; now and then together
                // with a power cut of another node (the DC's, when the victim is not the DC).
                let dc = live.first { sim.nodes[Int($0) - 1].crmdAlive && sim.nodes[Int($0) - 1].crmd.core.isDC }
                guard let victim = (Bool.random(using: &pick) ? dc : nil) ?? live.randomElement(using: &pick) else { break }
                sim.killCrmd(victim)
                if Int.random(in: 0..<4, using: &pick) == 0, live.count > 2,
                   let other = (dc != victim ? dc : nil) ?? live.filter({ $0 != victim }).randomElement(using: &pick) {
                    sim.crash(other)
                    if Bool.random(using: &pick) { sim.push(.boot(other), after: Int64.random(in: s(0.5)...s(8), using: &pick)) }
                }
            default:
                // An administrator's change, through a node of a quorate partition. (cibd
                // refuses a configuration change without quorum: one acknowledged there would
                // be lost when the partitions merge and the newest copy wins, and could outbid
                // the quorate side's. A node that loses quorum while the change is in flight
                // answers it with that error.)
                if let id = live.filter({ sim.nodes[Int($0) - 1].quorate }).randomElement(using: &pick) { sim.adminChange(at: id) }
            }
            t += Int64.random(in: s(0.3)...s(3), using: &pick)
        }
        sim.run(until: faultyUntil)
        if !sim.violations.isEmpty { return (sim, nil) }
        // The faults stop: the network heals and every node is powered on.
        sim.blocked = []
        sim.faults = .init()
        sim.note("END OF FAULTS: the network heals, every node is powered on")
        for id in sim.ids where !sim.nodes[Int(id) - 1].alive && !sim.bootPending.contains(id) { sim.push(.boot(id), after: 0) }
        if let why = settle(&sim, within: 120) { return (sim, "the cluster did not settle within 120 s after the faults: \(why)") }
        return (sim, nil)
    }

    static func checkFaults(seeds: ClosedRange<UInt64>, long: Bool = false, crmdKills: Bool = false) {
        var fencings = 0, crashes = 0, kills = 0
        for seed in seeds {
            let t0 = ContinuousClock.now
            let (sim, problem) = faultScenario(seed: seed, long: long, crmdKills: crmdKills)
            kills += sim.crmdKills
            if env["SWIFTHA_SIM_STATS"] != nil { print("seed \(seed): \(sim.ids.count) nodes, \(sim.steps) steps, \(sim.schedulerRuns) scheduler runs, \(sim.cibChanges) CIB changes, \(sim.now / 1_000_000) s simulated, \(ContinuousClock.now - t0)") }
            fencings += sim.fencings
            crashes += sim.crashes
            #expect(sim.violations.isEmpty && problem == nil, "\(problem ?? "")\n\(sim.report)")
            if (!sim.violations.isEmpty || problem != nil) && env["SWIFTHA_SIM_ALL"] == nil { return }
        }
        // The faults did happen.
        #expect(seeds.count < 20 || (fencings > 0 && crashes > 0))
        #expect(!crmdKills || seeds.count < 20 || kills > seeds.count / 2, "only \(kills) crmd kills in \(seeds.count) seeds")
    }

    @Test func faultsNeverBreakSafetyAndTheClusterSettlesAfterThem() {
        if let seed = Self.replaySeed { return Self.checkFaults(seeds: seed...seed, long: Self.env["SWIFTHA_SIM_LONG"] != nil) }
        let range = Self.env["SWIFTHA_SIM_RANGE"].map { $0.split(separator: "-").compactMap { UInt64($0) } }.flatMap { $0.count == 2 ? $0[0]...$0[1] : nil }
        Self.checkFaults(seeds: range ?? 1...380, long: range != nil && Self.env["SWIFTHA_SIM_LONG"] != nil)
    }

    /// crmd SIGKILLed alone among the other faults (120 seeds; SWIFTHA_SIM_RANGE=A-B with
    /// SWIFTHA_SIM_CRMD=1 runs others): the node keeps its resources and is not fenced while
    /// its new crmd comes back within the grace, and nothing runs twice meanwhile.
    @Test func crmdKillsNeverBreakSafetyAndTheClusterSettlesAfterThem() {
        if let seed = Self.replaySeed { return Self.checkFaults(seeds: seed...seed, long: Self.env["SWIFTHA_SIM_LONG"] != nil, crmdKills: true) }
        if Self.env["SWIFTHA_SIM_RANGE"] != nil && Self.env["SWIFTHA_SIM_CRMD"] == nil {
            print("SKIPPED: crmdKillsNeverBreakSafety: SWIFTHA_SIM_RANGE without SWIFTHA_SIM_CRMD=1 runs the seeds without crmd kills (faultsNever)")
            return
        }
        let range = Self.env["SWIFTHA_SIM_RANGE"].map { $0.split(separator: "-").compactMap { UInt64($0) } }.flatMap { $0.count == 2 ? $0[0]...$0[1] : nil }
        Self.checkFaults(seeds: range ?? 1...120, long: range != nil && Self.env["SWIFTHA_SIM_LONG"] != nil, crmdKills: true)
        guard range == nil else { return }
        // Long seeds that found bugs. 157: node1's crmd restarted, then elected DC, had not seen
        // the old DC's start sent to node4, whose crmd was killed with the start under way:
        // it started rsc2 on node1 too (now the members tell a DC at its join what they saw
        // sent and not answered).
        for seed: UInt64 in [157] { Self.checkFaults(seeds: seed...seed, long: true, crmdKills: true) }
    }

    /// SWIFTHA_SOAK=1: 5000 more seeds with longer faults (replay one with SWIFTHA_SIM_SEED=N
    /// SWIFTHA_SIM_LONG=1).
    @Test(.enabled(if: ClusterSimulationTests.soak))
    func faultsSoak() {
        Self.checkFaults(seeds: 1001...6000, long: true)
    }
}
