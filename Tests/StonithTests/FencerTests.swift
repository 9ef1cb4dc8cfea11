import CIB
import Foundation
import Stonith
import Testing
import TestSupport

let T0 = Date(timeIntervalSince1970: 1_700_000_000)

/// The fencer instances of a whole cluster, joined by an in-order "group" that delivers every
/// multicast to every member in one order (as CPG does), with agents answered by the test.
struct FencerCluster {
    var fencers: [String: Fencer] = [:]   // by member
    var queue: [(from: String, FencerMessage)] = []
    var replies: [UInt64: FenceResult] = [:]
    var done: Set<UInt64> = []
    var runs: [(member: String, id: String, device: String, action: String, target: String)] = []
    /// The client delay each agent run was given (`stonith_admin --delay`), in order.
    var requestedDelays: [Int?] = []
    var assessments: [(member: String, id: String, target: String)] = []
    var notified: [String: [FenceEvent]] = [:]
    var timers: [(member: String, timer: Fencer.Timer, after: Duration)] = []
    var now: Date { T0 }
    /// What each member offers for any target.
    var capability: [String: (String) -> [[String]]] = [:]

    init(_ nodes: [(member: String, node: String)]) {
        for n in nodes { fencers[n.member] = Fencer(node: n.node, member: n.member) }
        let all = nodes.map(\.member)
        for m in all { perform(m, fencers[m]!.onMembershipMutating(all, joined: all, left: [], T0)) }
    }

    mutating func perform(_ member: String, _ directives: [Fencer.Directive]) {
        for d in directives {
            switch d {
            case .multicast(let m): queue.append((member, m))
            case .assess(let id, let target, _): assessments.append((member, id, target))
            case .runAgent(let id, let device, let action, let target, _, let delay):
                runs.append((member, id, device, action, target))
                requestedDelays.append(delay)
            case .reply(let token, let r): replies[token] = r
            case .notify(let e): notified[member, default: []].append(e)
            case .schedule(let t, let after): timers.append((member, t, after))
            case .log: break
            case .done(let token): done.insert(token)
            }
        }
    }

    /// Delivers queued messages (and answers assessments) until nothing is left.
    mutating func settle() {
        while !queue.isEmpty || !assessments.isEmpty {
            if !queue.isEmpty {
                let (_, m) = queue.removeFirst()
                for member in fencers.keys.sorted() {
                    var f = fencers[member]!
                    let out = f.onMessage(m, now: T0)
                    fencers[member] = f
                    perform(member, out)
                }
            } else {
                let a = assessments.removeFirst()
                var f = fencers[a.member]!
                let out = f.onAssessed(id: a.id, levels: capability[a.member]?(a.target) ?? [])
                fencers[a.member] = f
                perform(a.member, out)
            }
        }
    }

    mutating func call(_ member: String, _ body: (inout Fencer) -> [Fencer.Directive]) {
        var f = fencers[member]!
        let out = body(&f)
        fencers[member] = f
        perform(member, out)
    }

    mutating func agentAnswers(success: Bool, output: String = "") {
        let pending = runs
        runs = []
        for r in pending { call(r.member) { $0.onAgentResult(id: r.id, success: success, output: output, now: T0) } }
    }

    mutating func leave(_ member: String) {
        fencers[member] = nil
        let all = fencers.keys.sorted()
        for m in all { call(m) { $0.onMembership(members: all, joined: [], left: [member], at: T0) } }
    }
}

extension Fencer {
    mutating func onMembershipMutating(_ members: [String], joined: [String], left: [String], _ now: Date) -> [Directive] {
        onMembership(members: members, joined: joined, left: left, at: now)
    }
}

@Suite struct FencerTests {
    static let nodes = [(member: "1:100", node: "node1"), (member: "2:200", node: "node2"), (member: "3:300", node: "node3")]

    func cluster(everyoneCan levels: [[String]] = [["fence-all"]]) -> FencerCluster {
        var c = FencerCluster(Self.nodes)
        for n in Self.nodes { c.capability[n.member] = { _ in levels } }
        return c
    }

    @Test func anotherNodeFencesAndEveryNodeRecordsIt() {
        var c = cluster()
        // node3 asks to fence node3... no: node1 asks to reboot node3.
        c.call("1:100") { $0.onFenceRequest(token: 7, target: "node3", action: .reboot, timeout: .seconds(60), client: "stonith_admin.42", now: T0) }
        c.settle()
        // The origin, node1, runs its own device: never the target while another can.
        #expect(c.runs.map(\.member) == ["1:100"])
        #expect(c.runs.first?.action == "reboot" && c.runs.first?.target == "node3" && c.runs.first?.device == "fence-all")
        for f in c.fencers.values { #expect(f.history(target: "node3").first?.state == .pending) }
        c.agentAnswers(success: true)
        c.settle()
        let r = try! #require(c.replies[7])
        #expect(r.outcome == .ok)
        #expect(r.event.delegate == "node1" && r.event.origin == "node1" && r.event.client == "stonith_admin.42")
        for (member, f) in c.fencers {
            let h = f.history()
            #expect(h.count == 1 && h[0].state == .done && h[0].delegate == "node1", "\(member): \(h)")
            #expect(c.notified[member]?.map(\.state) == [.done])
        }
    }

    @Test func theTargetFencesItselfOnlyWhenNoOtherCan() {
        var c = cluster()
        c.capability["1:100"] = { _ in [] }
        c.capability["2:200"] = { _ in [] }
        c.call("1:100") { $0.onFenceRequest(token: 1, target: "node3", action: .off, timeout: .seconds(30), client: "crmd.1", now: T0) }
        c.settle()
        #expect(c.runs.map(\.member) == ["3:300"])
        // With node2 able, node2 does it.
        var d = cluster()
        d.capability["1:100"] = { _ in [] }
        d.call("1:100") { $0.onFenceRequest(token: 1, target: "node3", action: .off, timeout: .seconds(30), client: "crmd.1", now: T0) }
        d.settle()
        #expect(d.runs.map(\.member) == ["2:200"])
        let order = Fencer.candidates([.init(member: "3:300", node: "node3", levels: [["a"]]), .init(member: "2:200", node: "node2", levels: [["a"]]),
                                       .init(member: "1:100", node: "node1", levels: [])], target: "node3", originMember: "1:100")
        #expect(order.map(\.node) == ["node2", "node3"])
    }

    @Test func aFailingDeviceIsReportedWithItsReasonEverywhere() {
        var c = cluster(everyoneCan: [["bad"]])
        c.call("2:200") { $0.onFenceRequest(token: 3, target: "node3", action: .reboot, timeout: .seconds(60), client: "crmd.9", now: T0) }
        c.settle()
        #expect(c.runs.map(\.member) == ["2:200"])
        c.agentAnswers(success: false, output: "fence_bad: exit status 1: power switch unreachable")
        c.settle()
        let r = try! #require(c.replies[3])
        guard case .failed(let why) = r.outcome else { Issue.record("not failed: \(r)"); return }
        #expect(why.contains("bad reboot: fence_bad: exit status 1: power switch unreachable"))
        for f in c.fencers.values { #expect(f.history().first?.state == .failed && f.history().first?.exitReason == why) }
    }

    @Test func noDeviceAnywhereIsNoDevice() {
        var c = cluster(everyoneCan: [])
        c.call("1:100") { $0.onFenceRequest(token: 4, target: "node9", action: .reboot, timeout: .seconds(60), client: "x.1", now: T0) }
        c.settle()
        guard case .noDevice(let why) = c.replies[4]?.outcome else { Issue.record("\(String(describing: c.replies[4]))"); return }
        #expect(why.contains("no fence device can fence node9"))
    }

    @Test func anExecutorThatLeavesIsReplacedAndATimeoutEndsIt() {
        var c = cluster()
        c.capability["1:100"] = { _ in [] }
        c.call("1:100") { $0.onFenceRequest(token: 5, target: "node3", action: .reboot, timeout: .seconds(60), client: "crmd.1", now: T0) }
        c.settle()
        #expect(c.runs.map(\.member) == ["2:200"])
        c.runs = []
        c.leave("2:200")
        c.settle()
        // node3 is the only one left that can: it fences itself.
        #expect(c.runs.map(\.member) == ["3:300"])
        // It never answers: the origin's request timer ends it as timed out.
        let id = c.fencers["1:100"]!.history().first!.id
        c.call("1:100") { $0.onTimer(.request(id: id), now: T0) }
        c.settle()
        guard case .timedOut = c.replies[5]?.outcome else { Issue.record("\(String(describing: c.replies[5]))"); return }
        #expect(c.fencers["3:300"]!.history().first?.timedOut == true)
    }

    /// A target fencing itself whose stonithd leaves the group (a crash, a restart, a
    /// partition) is not thereby fenced: the request fails, it never reports success.
    @Test func aTargetFencingItselfThatLeavesTheGroupIsNotCountedAsFenced() {
        var c = cluster()
        c.capability["1:100"] = { _ in [] }
        c.capability["2:200"] = { _ in [] }
        c.call("1:100") { $0.onFenceRequest(token: 6, target: "node3", action: .reboot, timeout: .seconds(60), client: "crmd.1", now: T0) }
        c.settle()
        // Only node3 can: it fences itself.
        #expect(c.runs.map(\.member) == ["3:300"])
        c.runs = []
        c.leave("3:300")
        c.settle()
        let r = c.replies[6]
        #expect(r != nil && r?.outcome != .ok, "\(String(describing: r))")
        if case .failed = r?.outcome {} else { Issue.record("not failed: \(String(describing: r))") }
        for m in ["1:100", "2:200"] { #expect(c.fencers[m]!.history(target: "node3").allSatisfy { $0.state != .done }) }
    }

    @Test func theSameRequestTwiceIsJoinedAndAConfirmationSettlesIt() {
        var c = cluster()
        c.call("1:100") { $0.onFenceRequest(token: 1, target: "node3", action: .reboot, timeout: .seconds(60), client: "crmd.1", now: T0) }
        c.settle()
        c.call("2:200") { $0.onFenceRequest(token: 2, target: "node3", action: .reboot, timeout: .seconds(60), client: "stonith_admin.5", now: T0) }
        c.settle()
        #expect(c.runs.count == 1, "one execution for both requests")
        c.call("2:200") { $0.onConfirm(token: 3, target: "node3", client: "stonith_admin.6", now: T0) }
        c.settle()
        for t: UInt64 in [1, 2, 3] { #expect(c.replies[t]?.outcome == .ok, "token \(t)") }
        let h = c.fencers["3:300"]!.history(target: "node3")
        #expect(h.count == 2 && h.allSatisfy { $0.state == .done && $0.delegate == FenceEvent.human })
        #expect(h.last?.action == .off)
        // The agent's late answer changes nothing.
        c.agentAnswers(success: false, output: "late")
        c.settle()
        #expect(c.fencers["1:100"]!.history(target: "node3").allSatisfy { $0.state == .done })
    }

    @Test func aCleanupForgetsOneTargetsFinishedOperationsEverywhere() {
        var c = cluster()
        c.call("1:100") { $0.onConfirm(token: 1, target: "node3", client: "a.1", now: T0) }
        c.call("1:100") { $0.onConfirm(token: 2, target: "node2", client: "a.1", now: T0) }
        c.settle()
        c.call("2:200") { $0.onCleanHistory(token: 3, target: "NODE3") }
        c.settle()
        #expect(c.done == [3])
        for f in c.fencers.values { #expect(f.history().map(\.target) == ["node2"]) }
        c.call("3:300") { $0.onCleanHistory(token: 4, target: nil) }
        c.settle()
        for f in c.fencers.values { #expect(f.history().isEmpty) }
    }

    @Test func aJoiningMemberLearnsTheHistory() {
        var c = cluster()
        c.call("1:100") { $0.onConfirm(token: 1, target: "node3", client: "a.1", now: T0) }
        c.settle()
        var newcomer = Fencer(node: "node4", member: "4:400")
        let all = ["1:100", "2:200", "3:300", "4:400"]
        c.fencers["4:400"] = newcomer
        for m in all { c.call(m) { $0.onMembership(members: all, joined: ["4:400"], left: [], at: T0) } }
        c.settle()
        newcomer = c.fencers["4:400"]!
        #expect(newcomer.history().map(\.target) == ["node3"])
        #expect(c.fencers["1:100"]!.history().count == 1, "no duplicate on the old members")
    }

    @Test func capabilityFromConfigurationAndAgents() throws {
        let cib = try CIB.parse("""
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/><resources>
          <primitive id="sw" class="stonith" type="fence_swiftha"><instance_attributes id="a"><nvpair id="a1" name="roots" value="node1:/r1;node3:/r3"/></instance_attributes></primitive>
          <primitive id="ipmi3" class="stonith" type="fence_ipmilan"><instance_attributes id="b"><nvpair id="b1" name="pcmk_host_list" value="node3"/><nvpair id="b2" name="pcmk_reboot_action" value="off"/><nvpair id="b3" name="pcmk_reboot_timeout" value="90s"/></instance_attributes></primitive>
          <primitive id="off" class="stonith" type="fence_swiftha"><meta_attributes id="m"><nvpair id="m1" name="target-role" value="Stopped"/></meta_attributes></primitive>
        </resources><constraints/></configuration><status/></cib>
        """)
        let devices = FenceDevice.all(in: cib)
        let installed: (String) -> Bool = { $0 == "fence_swiftha" || $0 == "fence_ipmilan" }
        #expect(FenceCapability.questions(target: "node3", devices: devices, installed: installed).map(\.device.id) == ["sw"])
        #expect(devices[0].listNames("node3", output: "node1,\nnode3,\n"))
        #expect(!devices[0].listNames("node2", output: "node1,\nnode3,\n"))
        #expect(FenceCapability.levels(target: "node3", devices: devices, topology: [], installed: installed, answers: ["sw": true]) == [["sw"], ["ipmi3"]])
        #expect(FenceCapability.levels(target: "node3", devices: devices, topology: [], installed: { $0 == "fence_swiftha" }, answers: ["sw": false]) == [])
        #expect(devices[1].agentAction(for: "reboot") == "off")
        #expect(devices[1].timeout(for: "reboot", default: .seconds(60)) == .seconds(90))
        let p = devices[0].agentParameters(target: "node3", defaultHostArgument: "plug")
        #expect(p["plug"] == "node3" && p["nodename"] == "node3" && p["roots"] == "node1:/r1;node3:/r3")
        #expect(FenceDevice.parseDuration("2min") == .seconds(120))
        #expect(FenceDevice.parseDuration("1500ms") == .milliseconds(1500))
        #expect(FenceDevice.parseDuration("x") == nil)
    }
}

@Suite struct DeviceUseTests {
    @Test func bannedDevicesAreNotUsedAndAttributeLevelsMatch() throws {
        let cib = try CIB.parse("""
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/>
          <nodes><node id="1" uname="node1"><instance_attributes id="n1"><nvpair id="n1a" name="rack" value="r1"/></instance_attributes></node><node id="2" uname="node2"/></nodes>
          <resources>
            <primitive id="pdu-r1" class="stonith" type="fence_apc"><instance_attributes id="a"><nvpair id="a1" name="pcmk_host_check" value="none"/></instance_attributes></primitive>
            <primitive id="ipmi" class="stonith" type="fence_ipmilan"><instance_attributes id="b"><nvpair id="b1" name="pcmk_host_list" value="node1 node2"/></instance_attributes></primitive>
          </resources>
          <constraints><rsc_location id="ban" rsc="ipmi" node="node2" score="-INFINITY"/><rsc_location id="pref" rsc="pdu-r1" node="node2" score="100"/></constraints>
          <fencing-topology><fencing-level id="l1" target-attribute="rack" target-value="r1" index="1" devices="pdu-r1"/></fencing-topology>
        </configuration><status/></cib>
        """)
        #expect(FenceDevice.usable(on: "node1", in: cib).map(\.id) == ["pdu-r1", "ipmi"])
        #expect(FenceDevice.usable(on: "node2", in: cib).map(\.id) == ["pdu-r1"], "ipmi is banned from node2")
        let attrs = FenceDevice.nodeAttributes(in: cib)
        #expect(attrs["node1"] == ["rack": "r1"])
        let devices = FenceDevice.usable(on: "node2", in: cib)
        let levels = cib.configuration.fencingLevels
        #expect(FenceCapability.levels(target: "node1", devices: devices, topology: levels, attributes: attrs["node1"] ?? [:],
                                       installed: { _ in true }, answers: [:]) == [["pdu-r1"]])
        // node2 has no rack attribute: no level names it, so each capable device on its own.
        #expect(FenceCapability.levels(target: "node2", devices: devices, topology: levels, attributes: attrs["node2"] ?? [:],
                                       installed: { _ in true }, answers: [:]) == [["pdu-r1"]])
        // A level whose device this node cannot run is not offered.
        #expect(FenceCapability.levels(target: "node1", devices: devices, topology: levels, attributes: ["rack": "r1"],
                                       installed: { $0 != "fence_apc" }, answers: [:]) == [])
    }
}

@Suite struct DelayTests {
    @Test func delaysAsPacemakerComputesThem() {
        var rng = SeededGenerator(seed: 7)
        let fixed = FenceDevice(id: "d", agent: "fence_x", parameters: ["pcmk_delay_base": "5s"])
        #expect(fixed.delay(action: "reboot", target: "node1", using: &rng) == .seconds(5))
        #expect(fixed.delay(action: "on", target: "node1", using: &rng) == .zero, "unfencing is never delayed")
        let mapped = FenceDevice(id: "d", agent: "fence_x", parameters: ["pcmk_delay_base": "node1:10s;node2:0s"])
        #expect(mapped.delay(action: "off", target: "node1", using: &rng) == .seconds(10))
        #expect(mapped.delay(action: "off", target: "node2", using: &rng) == .zero)
        #expect(mapped.delay(action: "off", target: "node3", using: &rng) == .zero)
        let random = FenceDevice(id: "d", agent: "fence_x", parameters: ["pcmk_delay_base": "2", "pcmk_delay_max": "6s"])
        var seen = Set<Duration>()
        for _ in 0..<200 {
            let d = random.delay(action: "reboot", target: "n", using: &rng)
            #expect(d >= .seconds(2) && d < .seconds(6))
            seen.insert(d)
        }
        #expect(seen.count == 4, "2, 3, 4 and 5 s all occur")
        let capped = FenceDevice(id: "d", agent: "fence_x", parameters: ["pcmk_delay_base": "9s", "pcmk_delay_max": "3s"])
        #expect(capped.delay(action: "reboot", target: "n", using: &rng) == .seconds(3), "base is limited to max")
        #expect(FenceDevice(id: "d", agent: "a").delay(action: "reboot", target: "n", using: &rng) == .zero)
        // stonith_admin --delay: added to the device's delays; -1 disables them all.
        #expect(fixed.delay(action: "reboot", target: "node1", requested: 3, using: &rng) == .seconds(8))
        #expect(fixed.delay(action: "on", target: "node1", requested: 3, using: &rng) == .seconds(3))
        #expect(fixed.delay(action: "reboot", target: "node1", requested: -1, using: &rng) == .zero)
        #expect(random.delay(action: "reboot", target: "n", requested: -1, using: &rng) == .zero)
    }

    /// Absurd delays (a client's, or pcmk_delay_base / pcmk_delay_max) are bounded, so that no
    /// timer or sleep is asked for a duration it cannot take; a request asking for more is refused.
    @Test func hugeDelaysAreBoundedAndAHugeRequestIsRefused() {
        var rng = SeededGenerator(seed: 3)
        let cap = Duration.seconds(FenceDevice.maxDelaySeconds)
        for params in [["pcmk_delay_base": "99999999999h"], ["pcmk_delay_max": "9223372036854775807"],
                       ["pcmk_delay_base": "9223372036854775807s", "pcmk_delay_max": "9223372036854775807ms"]] {
            let d = FenceDevice(id: "d", agent: "fence_x", parameters: params).delay(action: "reboot", target: "n", using: &rng)
            #expect(d <= cap && d >= .zero, "\(params): \(d)")
        }
        let plain = FenceDevice(id: "d", agent: "fence_x", parameters: ["pcmk_delay_base": "3500s"])
        #expect(plain.delay(action: "reboot", target: "n", requested: Int.max, using: &rng) == cap)
        #expect(FenceDevice.delayProblem(Int.max)?.contains("at most 3600 seconds") == true)
        #expect(FenceDevice.delayProblem(3600) == nil && FenceDevice.delayProblem(-1) == nil && FenceDevice.delayProblem(nil) == nil)
        // The fencer's own timers stay bounded whatever the request says.
        var c = FencerTests().cluster()
        c.call("1:100") { $0.onFenceRequest(token: 1, target: "node3", action: .off, timeout: .seconds(60), client: "x.1", delay: Int.max, now: T0) }
        let request = c.timers.first { if case .request = $0.timer { true } else { false } }
        #expect(request?.after == .seconds(60) + cap)
        #expect(c.timers.allSatisfy { $0.after <= .seconds(60) + cap + .seconds(5) })
    }

    @Test func theClientsDelayIsForTheFirstDeviceOnlyAndMinusOneForEvery() {
        // A reboot through two levels: the first fails, the second runs its off and on.
        for (requested, expected) in [(5, [5, nil, nil]), (-1, [-1, -1, -1]), (0, [0, nil, nil])] as [(Int, [Int?])] {
            var c = FencerTests().cluster(everyoneCan: [["first"], ["second"]])
            c.capability["2:200"] = { _ in [] }
            c.capability["3:300"] = { _ in [] }
            c.call("1:100") { $0.onFenceRequest(token: 1, target: "node3", action: .off, timeout: .seconds(60), client: "stonith_admin.1", delay: requested, now: T0) }
            c.settle()
            c.agentAnswers(success: false)
            c.settle()
            c.agentAnswers(success: true)
            c.settle()
            #expect(c.replies[1]?.outcome == .ok, "\(String(describing: c.replies[1]))")
            #expect(Array(c.requestedDelays.prefix(2)) == Array(expected.prefix(2)), "delay \(requested): \(c.requestedDelays)")
            // The request's timer is pushed back by the requested delay.
            let request = c.timers.first { if case .request = $0.timer { true } else { false } }
            #expect(request?.after == .seconds(60 + max(0, requested)))
        }
    }
}
