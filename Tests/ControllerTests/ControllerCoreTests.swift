import CIB
import Controller
import Foundation
import PolicyEngine
import Testing
import TestSupport

/// A whole cluster of `ControllerCore`s in one process: messages delivered to every member in
/// one total order (as CPG does), the CIB a value the DC's `StatusWrites` are applied to, the
/// real scheduler, and for each node a simulated executor that runs Dummy-like resources.
final class SimulatedCluster {
    struct Node {
        var core: ControllerCore
        var up = true
        /// Resources running on this node.
        var running: Set<String> = []
        var callID = 0
        /// Results of the operations run here, oldest first (the node's lrmd history).
        var history: [ActionResult] = []
        var recurring: [String: ActionRequest] = [:]
        var exited = false
        var cleanExit = false
    }

    var nodes: [Node]
    var cib: CIB
    var queue: [(from: ControllerMember, message: ControllerMessage)] = []
    var now = 1_700_000_000
    /// How far the clock moves at each scheduler run (0: everything within one second).
    var secondsPerSchedule = 1
    var fencer: (String) -> FencingResult = { _ in .failed("no fencer") }
    var fenceRequests: [String] = []
    /// Operation keys (`d1_start_0`) that are carried out but whose results never come back.
    var silent: Set<String> = []
    var schedulerRuns = 0
    var startsPerNode: [String: Int] = [:]
    /// Every directive each node was given, for assertions.
    var log: [String] = []
    /// The nodelist the DC's records add to `<nodes>` (empty: only members are added).
    var nodelist: [ControllerMember] = []

    init(nodes count: Int, configuration: String) throws {
        nodes = (1...count).map { Node(core: ControllerCore(local: ControllerMember(nodeID: UInt32($0), name: "node\($0)"), uuid: "uuid-\($0)")) }
        // As crmd has them from corosync's nodelist.
        for i in nodes.indices { nodes[i].core.nodeNames = Self.names(count) }
        cib = try CIB.parse("""
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
          <configuration>\(configuration)</configuration><status/>
        </cib>
        """)
    }

    static func names(_ count: Int) -> [UInt32: String] { Dictionary(uniqueKeysWithValues: (1...count).map { (UInt32($0), "node\($0)") }) }
    func index(_ name: String) -> Int { nodes.firstIndex { $0.core.local.name == name }! }
    var members: [ControllerMember] { nodes.filter(\.up).map(\.core.local) }

    /// Every live node sees the membership change.
    func membershipChanged(left: [(ControllerMember, Bool, Bool)] = []) {
        let ms = members
        for i in nodes.indices where nodes[i].up {
            let d = nodes[i].core.onMembership(ms, left: left.map { (member: $0.0, clean: $0.1, nodeStillUp: $0.2) })
            perform(d, at: i)
        }
    }

    func apply(_ ops: [CIBReplica.Operation]) {
        for op in ops {
            do {
                cib = try CIBReplica.apply(op, to: cib)
            } catch {
                if case .xpath(_, .delete) = op, error.kind == .notFound { continue }
                Issue.record("CIB change failed: \(error) for \(op)")
            }
        }
    }

    func perform(_ directives: [ControllerCore.Directive], at i: Int) {
        let me = nodes[i].core.local
        for d in directives {
            log.append("\(me.name): \(d)")
            switch d {
            case .send(let m):
                queue.append((me, m))
            case .arm, .disarm, .resignedDC, .note:
                break
            case .becameDC, .recordJoin, .recordMembers, .recordLeft, .recordResult, .recordShutdownRequest, .recordExpectedDown, .recordFenced, .clearFailcount:
                let names = nodes.map(\.core.local)
                var w = StatusWrites(nodeID: { n in names.first { $0.name == n }.map { String($0.nodeID) } ?? n }, now: now,
                                     quorate: nodes[i].core.quorate)
                w.nodelist = nodelist
                w.inRing = nodes[i].core.ringMembers.map { Set($0.map(String.init)) }
                w.status = cib.root.firstElement(named: "status")
                w.nodes = cib.root.firstElement(named: "configuration")?.firstElement(named: "nodes")
                apply(w.operations(for: d, dc: me))
            case .sendHistory(let round):
                let witnessed = nodes[i].core.witnessedRequests
                queue.append((me, .joinHistory(round: round, nodeID: me.nodeID, node: me.name, lrmResources: historyXML(i),
                                               unanswered: witnessed.isEmpty ? nil : witnessed)))
            case .runLocally(let req):
                run(req, at: i)
            case .schedule:
                schedulerRuns += 1
                now += secondsPerSchedule
                var input = nodes[i].core.schedulerInput(cib)
                input.root["execution-date"] = String(now)
                let graph = Simulator.schedule(SchedulerInput(cib: input, now: now)).1.graph
                perform(nodes[i].core.onScheduled(graph, recheck: nil), at: i)
            case .fence(let node, _, _, let t, let index):
                fenceRequests.append(node)
                let r = fencer(node)
                if r == .done, let k = nodes.firstIndex(where: { $0.core.local.name == node }) {
                    nodes[k].running = []
                    nodes[k].recurring = [:]
                }
                perform(nodes[i].core.onFenceResult(transition: t, index: index, r), at: i)
            case .exit(let clean):
                nodes[i].exited = true
                nodes[i].cleanExit = clean
            }
        }
    }

    /// The simulated executor: start and stop always work; a monitor tells the truth.
    func run(_ req: ActionRequest, at i: Int) {
        let rsc = req.resource ?? ""
        var rc = 0
        switch req.task {
        case "start":
            nodes[i].running.insert(rsc)
            startsPerNode[nodes[i].core.local.name, default: 0] += 1
        case "stop":
            nodes[i].running.remove(rsc)
            nodes[i].recurring = nodes[i].recurring.filter { $0.value.resource != rsc }
        case "monitor":
            rc = nodes[i].running.contains(rsc) ? 0 : 7
            if req.intervalMS > 0 { nodes[i].recurring[req.operationKey] = req }
        case "cancel":
            nodes[i].recurring = nodes[i].recurring.filter { !($0.value.resource == rsc && $0.value.intervalMS == req.intervalMS) }
        default:
            break
        }
        if silent.contains(req.operationKey) { return }
        report(req, rc: rc, at: i)
    }

    func report(_ req: ActionRequest, rc: Int, at i: Int) {
        nodes[i].callID += 1
        let r = ActionResult(node: nodes[i].core.local.name, resource: req.resource ?? "", agent: req.agent ?? "", task: req.task,
                             intervalMS: req.intervalMS, transitionKey: req.transitionKey, callID: nodes[i].callID, rc: rc,
                             opStatus: 0, lastRCChange: now, digest: req.operationDigest)
        if !["cancel", "delete"].contains(req.task) { nodes[i].history.append(r) }
        queue.append((nodes[i].core.local, .result(r)))
    }

    /// A resource dies on a node: its recurring monitor reports "not running".
    func killResource(_ rsc: String, on name: String) {
        let i = index(name)
        nodes[i].running.remove(rsc)
        for req in nodes[i].recurring.values where req.resource == rsc { report(req, rc: 7, at: i) }
    }

    func historyXML(_ i: Int) -> String {
        var list = XElement("lrm_resources")
        var byResource: [String: [ActionResult]] = [:]
        for r in nodes[i].history { byResource[r.resource, default: []].append(r) }
        for (rsc, results) in byResource.sorted(by: { $0.key < $1.key }) {
            var e = StatusRecords.result(results[0], nodeID: "x").firstElement(named: "lrm")!.firstElement(named: "lrm_resources")!
                .firstElement(named: "lrm_resource")!
            e.children = []
            if let last = results.last(where: { $0.intervalMS == 0 }) { e.append(StatusRecords.operation(last, id: "\(rsc)_last_0")) }
            var seen = Set<String>()
            for r in results.reversed() where r.intervalMS > 0 && seen.insert(r.operationKey).inserted {
                e.append(StatusRecords.operation(r, id: r.operationKey))
            }
            list.append(e)
        }
        return list.xmlString(.compact)
    }

    /// Delivers messages until none is left (bounded).
    @discardableResult
    func settle(maxSteps: Int = 5000) -> Bool {
        var steps = 0
        while !queue.isEmpty {
            steps += 1
            if steps > maxSteps { return false }
            let (from, m) = queue.removeFirst()
            for i in nodes.indices where nodes[i].up {
                perform(nodes[i].core.onMessage(m, from: from), at: i)
            }
            // A node told to shut down leaves the group cleanly.
            for i in nodes.indices where nodes[i].up && nodes[i].exited {
                nodes[i].up = false
                membershipChanged(left: [(nodes[i].core.local, nodes[i].cleanExit, true)])
            }
        }
        return true
    }

    var dc: ControllerMember? { nodes.first { $0.up && $0.core.isDC }?.core.local }
    func whereRunning(_ rsc: String) -> [String] { nodes.filter { $0.running.contains(rsc) }.map(\.core.local.name) }

    /// Where the CIB status says the resource is active (the scheduler's reading of it).
    func activeInCIB(_ rsc: String) -> [String] {
        let ws = Simulator.workingSet(SchedulerInput(cib: cib, now: now))
        return ws.resources.first { $0.id == rsc }?.activeOn ?? []
    }

    func attribute(_ name: String, of node: String) -> String? {
        let id = String(nodes[index(node)].core.local.nodeID)
        return (try? cib.root.xpathElements("/cib/status/node_state[@id='\(id)']/transient_attributes//nvpair[@name='\(name)']"))?.first?["value"]
    }
}

@Suite struct ControllerCoreTests {
    static func configuration(fencing: Bool) -> String {
        """
        <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="\(fencing)"/></cluster_property_set></crm_config>
        <nodes/>
        <resources>\(fencing ? #"<primitive id="fence" class="stonith" type="fence_swiftha"/>"# : "")
        <primitive id="d1" class="ocf" provider="heartbeat" type="Dummy">
          <operations><op id="d1-mon" name="monitor" interval="10s" timeout="20s"/></operations>
        </primitive></resources>
        <constraints>\(fencing ? #"<rsc_location id="prefer2" rsc="d1" node="node2" score="100"/>"# : "")</constraints>
        """
    }

    @Test func theDCStartsTheResourceOnceRecordsItRecoversAFailureAndMovesItAtShutdown() throws {
        let c = try SimulatedCluster(nodes: 3, configuration: Self.configuration(fencing: false))
        c.membershipChanged()
        #expect(c.settle())
        #expect(c.dc?.name == "node1")
        #expect(c.cib.root["dc-uuid"] == "1" && c.cib.root["have-quorum"] == "1")
        // Every member got a node entry and a joined node_state.
        for n in 1...3 {
            let s = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='\(n)']").first)
            #expect(s["crmd"] == "online" && s["join"] == "member" && s["in_ccm"] == "true" && s["expected"] == "member")
            #expect(!(try c.cib.root.xpathElements("/cib/configuration/nodes/node[@id='\(n)'][@uname='node\(n)']")).isEmpty)
        }
        // Started on exactly one node; the status agrees, with the monitor recorded.
        let first = c.whereRunning("d1")
        try #require(first.count == 1, "d1 runs on \(first)")
        let node = first[0]
        #expect(c.activeInCIB("d1") == [node])
        let id = c.nodes[c.index(node)].core.local.nodeID
        let start = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='\(id)']//lrm_rsc_op[@id='d1_last_0']").first)
        #expect(start["operation"] == "start" && start["rc-code"] == "0" && start["op-status"] == "0")
        #expect(start["transition-magic"]?.hasPrefix("0:0;") == true && TransitionKey(start["transition-key"] ?? "") != nil)
        #expect(!(try c.cib.root.xpathElements("/cib/status/node_state[@id='\(id)']//lrm_rsc_op[@id='d1_monitor_10000']")).isEmpty)
        // Probes ran on the other nodes first and found it stopped.
        for other in ["node1", "node2", "node3"] where other != node {
            let oid = c.nodes[c.index(other)].core.local.nodeID
            let probe = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='\(oid)']//lrm_rsc_op[@id='d1_last_0']").first)
            #expect(probe["operation"] == "monitor" && probe["rc-code"] == "7")
        }

        // The monitor finds it dead: a failcount, and it runs again.
        c.killResource("d1", on: node)
        #expect(c.settle())
        #expect(c.attribute("fail-count-d1#monitor_10000", of: node) == "1")
        #expect(c.attribute("last-failure-d1#monitor_10000", of: node) != nil)
        #expect(c.whereRunning("d1").count == 1)
        #expect(c.activeInCIB("d1") == c.whereRunning("d1"))
        let failure = try c.cib.root.xpathElements("/cib/status/node_state[@id='\(id)']//lrm_rsc_op[@id='d1_last_failure_0']")
        #expect(failure.first?["rc-code"] == "7")

        // Its node shuts down: the DC moves d1 away first, then tells the node to go.
        let at = c.whereRunning("d1")[0]
        let k = c.index(at)
        c.perform(c.nodes[k].core.onShutdownRequested(), at: k)
        #expect(c.settle())
        #expect(c.nodes[k].exited && c.nodes[k].cleanExit && !c.nodes[k].up)
        let after = c.whereRunning("d1")
        #expect(after.count == 1 && after != [at], "d1 runs on \(after) after \(at) shut down")
        #expect(c.activeInCIB("d1") == after)
        let gone = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@uname='\(at)']").first)
        #expect(gone["crmd"] == "offline" && gone["expected"] == "down" && gone["join"] == "down")
    }

    @Test func aLostNodeIsFencedBeforeItsResourceIsRecovered() throws {
        let c = try SimulatedCluster(nodes: 3, configuration: Self.configuration(fencing: true))
        c.membershipChanged()
        #expect(c.settle())
        let first = c.whereRunning("d1")
        try #require(first.count == 1)
        // Lose node2, which runs d1 (it prefers node2; node1 is the DC).
        #expect(first == ["node2"])
        let lost = "node2"
        let k = c.index(lost)
        c.nodes[k].up = false
        c.fencer = { _ in .failed("the fence device did not answer") }
        c.membershipChanged(left: [(c.nodes[k].core.local, false, false)])
        // The DC tries to fence, and after the failure asks for a retry later, later each time.
        _ = c.settle(maxSteps: 300)
        #expect(c.fenceRequests == [lost])
        let dcIndex = c.index(c.dc!.name)
        var delays: [Duration] = []
        for _ in 0..<8 {
            c.perform(c.nodes[dcIndex].core.onTimer(.retry), at: dcIndex)
            _ = c.settle(maxSteps: 300)
            delays.append(c.nodes[dcIndex].core.currentRetryDelay)
        }
        #expect(c.fenceRequests.count == 9)
        #expect(delays == [2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) }, "\(delays)")
        let s = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@uname='\(lost)']").first)
        #expect(s["in_ccm"] == "false" && s["crmd"] == "offline" && s["expected"] == "member", "lost, not cleanly down: unclean")
        let ws = Simulator.workingSet(SchedulerInput(cib: c.cib, now: c.now))
        #expect(ws.nodes.first { $0.name == lost }?.unclean == true)
        #expect(c.whereRunning("d1") == [lost], "d1 was recovered before the fencing was confirmed")
        #expect(c.startsPerNode["node1", default: 0] == 0 && c.startsPerNode["node3", default: 0] == 0 || c.whereRunning("d1") == [lost])
        // Fencing now works: the node is recorded down and d1 runs on one survivor.
        c.fencer = { _ in .done }
        c.queue.removeAll()
        c.perform(c.nodes[c.index(c.dc!.name)].core.onTimer(.recheck), at: c.index(c.dc!.name))
        #expect(c.settle())
        let fenced = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@uname='\(lost)']").first)
        #expect(fenced["expected"] == "down" && fenced["join"] == "down")
        #expect(c.whereRunning("d1").count == 1 && !c.whereRunning("d1").contains(lost))
        #expect(c.activeInCIB("d1") == c.whereRunning("d1"))
    }

    /// A member joining later, and the DC itself going away: each time the (new) DC reads every
    /// member's history before scheduling, so a running resource is never started again.
    @Test func aLateMemberAndANewDCNeverStartWhatAlreadyRuns() throws {
        let c = try SimulatedCluster(nodes: 3, configuration: Self.configuration(fencing: false)
            .replacingOccurrences(of: "<constraints></constraints>", with: #"<constraints><rsc_location id="p" rsc="d1" node="node2" score="50"/></constraints>"#))
        c.nodes[2].up = false
        c.membershipChanged()
        #expect(c.settle())
        #expect(c.whereRunning("d1") == ["node2"])
        // node3 joins: probed there, d1 stays on node2.
        c.nodes[2].up = true
        c.membershipChanged()
        #expect(c.settle())
        #expect(c.whereRunning("d1") == ["node2"])
        #expect(c.nodes[2].history.contains { $0.resource == "d1" && $0.isProbe && $0.rc == 7 }, "node3 was not probed")
        // The DC (node1) leaves: node2 takes over, reads the histories, and starts nothing.
        c.nodes[0].up = false
        c.membershipChanged(left: [(c.nodes[0].core.local, true, true)])
        #expect(c.settle())
        #expect(c.dc?.name == "node2")
        #expect(c.whereRunning("d1") == ["node2"])
        #expect(c.startsPerNode.values.reduce(0, +) == 1, "d1 was started \(c.startsPerNode)")
        #expect(c.activeInCIB("d1") == ["node2"])
    }

    @Test func resultsOfAnOlderTransitionAndOfNoTransitionAreRecordedAndAFailureReschedules() {
        var core = ControllerCore(local: ControllerMember(nodeID: 1, name: "node1"), uuid: "u")
        let me = core.local
        let d = core.onMembership([me])
        #expect(d.contains(.becameDC))
        #expect(d.contains(.send(.joinRequest(round: 1, dc: 1))))
        let joined = core.onMessage(.joinHistory(round: 1, nodeID: 1, node: "node1", lrmResources: "<lrm_resources/>"), from: me)
        #expect(joined.contains(.recordMembers([me])))
        #expect(joined.contains { if case .schedule = $0 { return true }; return false })
        // An empty transition completes at once and arms cluster-recheck-interval.
        #expect(core.onScheduled(ActionGraph(), recheck: .seconds(900)).contains(.arm(.recheck, after: .seconds(900))))
        #expect(!core.busy)
        #expect(core.onTimer(.recheck).contains(.schedule(reason: "cluster-recheck-interval")))
        _ = core.onScheduled(ActionGraph(), recheck: .seconds(900))
        let stale = ActionResult(node: "node1", resource: "d1", agent: "ocf:heartbeat:Dummy", task: "monitor", intervalMS: 10_000,
                                 transitionKey: "5:1:0:u", callID: 3, rc: 7, opStatus: 0, lastRCChange: 0)
        let out = core.onMessage(.result(stale), from: me)
        #expect(out.first == .recordResult(stale))
        #expect(out.contains { if case .schedule = $0 { return true }; return false }, "a failed monitor nobody expected reschedules")
        // Not a failure: recorded, nothing more.
        _ = core.onScheduled(ActionGraph(), recheck: nil)
        var ok = stale
        ok.rc = 0
        #expect(core.onMessage(.result(ok), from: me) == [.recordResult(ok)])
        // Pending (a systemd unit activating or deactivating: op-status -1, rc 193): recorded
        // as Pacemaker's controller records it, neither a failure nor a reason to plan again,
        // whether from a recurring monitor or a one-shot action.
        var pending = stale
        pending.rc = 193
        pending.opStatus = -1
        #expect(pending.isPending && !pending.isFailure)
        #expect(core.onMessage(.result(pending), from: me) == [.recordResult(pending)])
        pending.intervalMS = 0
        #expect(core.onMessage(.result(pending), from: me) == [.recordResult(pending)])
        #expect(StatusRecords.failcount(pending, nodeID: "1", now: 5, startFailureIsFatal: true) == nil)
    }

    static let n1 = ControllerMember(nodeID: 1, name: "node1"), n2 = ControllerMember(nodeID: 2, name: "node2"),
               n3 = ControllerMember(nodeID: 3, name: "node3")

    /// node1 as the DC of node1..3, joined, with an empty transition done.
    static func joinedDC() -> ControllerCore {
        var core = ControllerCore(local: n1, uuid: "u")
        _ = core.onMembership([n1, n2, n3])
        for m in [n1, n2, n3] {
            _ = core.onMessage(.joinHistory(round: 1, nodeID: m.nodeID, node: m.name, lrmResources: "<lrm_resources/>"), from: m)
        }
        _ = core.onScheduled(ActionGraph(), recheck: nil)
        return core
    }

    static func isSchedule(_ d: ControllerCore.Directive) -> Bool { if case .schedule = d { return true }; return false }
    static func isFence(_ d: ControllerCore.Directive) -> Bool { if case .fence = d { return true }; return false }

    /// A DC left in a minority: it learns the quorum before the membership, does not fence the
    /// nodes on the other side once quorum is lost (unless no-quorum-policy=ignore), and reruns
    /// the scheduler when corosync's quorum changes.
    @Test func aDCWithoutQuorumDoesNotFenceTheNodesItLost() {
        let fence3 = ActionGraph(actions: [GraphAction(id: 1, kind: .fence, task: "stonith", key: "stonith-node3-reboot", node: "node3",
                                                       meta: ["stonith_action": "reboot"])], inputs: [[]])
        var core = Self.joinedDC()
        #expect(core.isDC && core.joinedOnce && !core.busy)
        // The quorum of the new ring first (no scheduling of its own), then the membership.
        #expect(!core.onQuorum(false, schedule: false).contains(where: Self.isSchedule))
        #expect(!core.quorate)
        let d = core.onMembership([Self.n1], left: [(Self.n2, false, false), (Self.n3, false, false)])
        #expect(d.contains(where: Self.isSchedule))
        // A graph computed from a CIB that still said have-quorum=1 fences node3: not done.
        let out = core.onScheduled(fence3, recheck: nil)
        #expect(!out.contains(where: Self.isFence), "fenced a node outside a partition without quorum: \(out)")
        #expect(!core.busy, "the transition ends (failed), to be retried")
        #expect(out.contains(.arm(.retry, after: core.currentRetryDelay)))
        // no-quorum-policy=ignore: fenced.
        core.noQuorumPolicy = "ignore"
        _ = core.onTimer(.retry)
        #expect(core.onScheduled(fence3, recheck: nil).contains(where: Self.isFence))
        // Quorum regained with no change of the controllers' membership: the scheduler runs
        // again once `quorumSettle` has passed.
        var idle = Self.joinedDC()
        _ = idle.onQuorum(false, schedule: false)
        let gained = idle.onQuorum(true)
        #expect(!gained.contains(where: Self.isSchedule) && gained.contains(.arm(.quorumSettle, after: idle.quorumSettle)))
        #expect(idle.onTimer(.quorumSettle).contains(where: Self.isSchedule))
        #expect(idle.quorate)
        #expect(idle.onScheduled(fence3, recheck: nil).contains(where: Self.isFence))
    }

    /// Found by the whole-cluster simulation (nodes starting a little apart): corosync tells a
    /// node its new ring is quorate before the controllers' process group tells it the ring's
    /// members. The DC of the node's old one-node membership then planned with quorum, seeing
    /// only itself online, and fenced the other nodes as never seen, while the other side's DC
    /// did the same. Now a quorum gained is acted on only once the controllers' membership is
    /// in (or `quorumSettle` has passed without one).
    @Test func aQuorumGainedIsNotActedOnBeforeTheControllersMembership() {
        var core = ControllerCore(local: Self.n3, uuid: "u")
        _ = core.onQuorum(false, schedule: false)
        _ = core.onMembership([Self.n3])
        _ = core.onMessage(.joinHistory(round: 1, nodeID: 3, node: "node3", lrmResources: "<lrm_resources/>"), from: Self.n3)
        _ = core.onScheduled(ActionGraph(), recheck: nil)
        #expect(core.isDC && !core.busy && !core.quorate)
        // The ring of node1 and node3 is quorate: nothing is planned, no fencing allowed yet.
        let gained = core.onQuorum(true)
        #expect(!gained.contains(where: Self.isSchedule), "planned on a quorum without the membership: \(gained)")
        #expect(!core.quorate && !core.mayFence("node2"))
        // Other events meanwhile (a CIB change) plan nothing either.
        #expect(!core.onCIBChanged("a change").contains(where: Self.isSchedule))
        // The controllers' membership of the ring: node1 is the DC; node3 plans nothing at all.
        let d = core.onMembership([Self.n1, Self.n3])
        #expect(!core.isDC && core.quorate && !d.contains(where: Self.isSchedule))
        #expect(d.contains(.disarm(.quorumSettle)))
        // The same, seen from node1 (DC of the new membership): it plans at the join's end.
        var dc = ControllerCore(local: Self.n1, uuid: "v")
        _ = dc.onQuorum(false, schedule: false)
        _ = dc.onMembership([Self.n1])
        _ = dc.onMessage(.joinHistory(round: 1, nodeID: 1, node: "node1", lrmResources: "<lrm_resources/>"), from: Self.n1)
        _ = dc.onScheduled(ActionGraph(), recheck: nil)
        #expect(!dc.onQuorum(true).contains(where: Self.isSchedule))
        _ = dc.onMembership([Self.n1, Self.n3])
        #expect(dc.isDC && dc.quorate)
        var planned: [ControllerCore.Directive] = []
        for m in [Self.n1, Self.n3] {
            planned += dc.onMessage(.joinHistory(round: 2, nodeID: m.nodeID, node: m.name, lrmResources: "<lrm_resources/>"), from: m)
        }
        #expect(planned.contains(where: Self.isSchedule))
        // Quorum lost again before the membership came: nothing pending.
        var lost = Self.joinedDC()
        _ = lost.onQuorum(false, schedule: false)
        _ = lost.onQuorum(true)
        #expect(lost.quorumPending)
        _ = lost.onQuorum(false)
        #expect(!lost.quorumPending && !lost.quorate && lost.onTimer(.quorumSettle).isEmpty)
    }

    /// Found by the whole-cluster simulation: a DC asked node2 to start d1 and was replaced
    /// (a node with a lower id joined) before the start ended. node2's history for the new
    /// DC's join did not show the start, so the new DC started d1 elsewhere too. The start in
    /// flight is now in the history as pending, and the scheduler counts d1 as active there.
    @Test func anActionInFlightIsInTheJoinHistoryAsPending() throws {
        var core = ControllerCore(local: Self.n2, uuid: "u")
        _ = core.onMembership([Self.n2, Self.n3])
        let start = ActionRequest(node: "node2", task: "start", resource: "d1", agent: "ocf:heartbeat:Dummy", intervalMS: 0, timeoutMS: 20_000,
                                  parameters: [:], meta: [:], transitionKey: "4:7:0:u")
        #expect(core.onMessage(.execute(start), from: Self.n2) == [.runLocally(start)])
        #expect(core.runningLocally == ["4:7:0:u": start])
        let probe = #"<lrm_resources><lrm_resource id="d1" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="d1_last_0" operation_key="d1_monitor_0" operation="monitor" call-id="3" rc-code="7" op-status="0" interval="0" transition-key="1:2:7:u" transition-magic="0:7;1:2:7:u"/></lrm_resource></lrm_resources>"#
        let history = StatusRecords.addingPending(Array(core.runningLocally.values), to: probe)
        let list = try XElement.parse(Array(history.utf8), source: "history")
        let ops = try list.xpathElements("//lrm_resource[@id='d1']/lrm_rsc_op")
        #expect(ops.count == 1 && ops.first?["operation"] == "start" && ops.first?["op-status"] == "-1" && ops.first?["call-id"] == "-1")
        // The scheduler reads d1 as active on node2: it plans no start elsewhere.
        let cib = try CIB.parse("""
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0"><configuration>
        <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
        <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
        <resources><primitive id="d1" class="ocf" provider="heartbeat" type="Dummy"/></resources><constraints/></configuration>
        <status><node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/>
        <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="2">\(history)</lrm></node_state>
        </status></cib>
        """)
        let ws = Simulator.workingSet(SchedulerInput(cib: cib, now: 1_700_000_000))
        #expect(ws.resources.first { $0.id == "d1" }?.activeOn == ["node2"])
        let graph = Simulator.schedule(SchedulerInput(cib: cib, now: 1_700_000_000)).1.graph
        #expect(!graph.actions.contains { $0.task == "start" && $0.node == "node1" }, "\(graph.actions.map(\.key))")
        // Its result, multicast: no longer pending.
        let done = ActionResult(node: "node2", resource: "d1", agent: "ocf:heartbeat:Dummy", task: "start", intervalMS: 0,
                                transitionKey: "4:7:0:u", callID: 4, rc: 0, opStatus: 0, lastRCChange: 1)
        _ = core.onMessage(.result(done), from: Self.n2)
        #expect(core.runningLocally.isEmpty)
        #expect(StatusRecords.addingPending([], to: probe) == probe)
        // A stop in flight leaves the start in the history: d1 still runs there until it ends.
        let started = probe.replacingOccurrences(of: #"operation_key="d1_monitor_0" operation="monitor" call-id="3" rc-code="7""#,
                                                 with: #"operation_key="d1_start_0" operation="start" call-id="3" rc-code="0""#)
        var stop = start
        stop.task = "stop"
        stop.transitionKey = "5:8:0:u"
        let stopping = try XElement.parse(Array(StatusRecords.addingPending([stop], to: started).utf8), source: "history")
        #expect(try stopping.xpathElements("//lrm_rsc_op").map { $0["operation"] } == ["start"])
    }

    /// Found by the whole-cluster simulation: node3 lost power while starting d1 and was back
    /// (a new controller process) before the others noticed; CPG reported its old process
    /// leaving and its new one joining in one change, and the DC, seeing the same members,
    /// waited for the start's result until its timeout and never read node3's new history.
    /// A restarted member now counts as lost (its actions fail at once) and joins again.
    @Test func aControllerRestartedWithinOneChangeIsLostAndJoinsAgain() {
        var core = Self.joinedDC()
        let start = ActionGraph(actions: [GraphAction(id: 1, kind: .resource, task: "start", key: "d1_start_0", resource: "d1", node: "node3")],
                                inputs: [[]])
        _ = core.onCIBChanged("a change")
        _ = core.onScheduled(start, recheck: nil)
        #expect(core.busy)
        let d = core.onMembership([Self.n1, Self.n2, Self.n3], restarted: [Self.n3])
        #expect(d.contains(.recordLeft(Self.n3, clean: false, nodeStillUp: true)))
        #expect(d.contains(.send(.joinRequest(round: 2, dc: 1))), "no join round for the restarted member: \(d)")
        #expect(core.join.active && core.join.waitingFor.contains(Self.n3))
        // The start in flight on node3 failed at once; the transition is over.
        #expect(core.executor?.isFinished == true)
    }

    /// A node's lrmd is killed and started again by pacemakerd: the new one knows nothing (no
    /// history, no recurring monitor, call ids from 1), but the resource it had started still
    /// runs. Its controller, connected to the new lrmd, tells the DC; the DC reads the histories
    /// again and the scheduler probes the node: the resource is found running where it is, not
    /// started again anywhere, the node is not fenced, and its monitor runs again (a later
    /// failure is recovered). The same on the DC's own node.
    @Test func aRestartedExecutorIsProbedAgainAndWhatStillRunsStaysWithoutFencing() throws {
        let c = try SimulatedCluster(nodes: 3, configuration: Self.configuration(fencing: true))
        c.fencer = { _ in .done }
        c.membershipChanged()
        #expect(c.settle())
        try #require(c.whereRunning("d1") == ["node2"] && c.dc?.name == "node1")
        for name in ["node2", "node1"] {
            let starts = c.startsPerNode
            let k = c.index(name)
            let running = c.nodes[k].running
            c.nodes[k].history = []
            c.nodes[k].recurring = [:]
            c.nodes[k].callID = 0
            c.perform(c.nodes[k].core.onExecutorRestarted(), at: k)
            #expect(c.queue.contains { $0.message == .executorRestarted(nodeID: c.nodes[k].core.local.nodeID, node: name) })
            #expect(c.settle())
            #expect(c.fenceRequests.isEmpty, "\(name) was fenced after its lrmd restarted")
            #expect(c.startsPerNode == starts, "started again after \(name)'s lrmd restarted: \(c.startsPerNode) (before: \(starts))")
            #expect(c.nodes[k].running == running && c.whereRunning("d1") == ["node2"])
            #expect(c.activeInCIB("d1") == ["node2"])
            for rsc in running {
                #expect(c.nodes[k].history.contains { $0.resource == rsc && $0.isProbe && $0.rc == 0 }, "\(rsc) was not probed on \(name)")
            }
        }
        let k = c.index("node2")
        #expect(c.nodes[k].recurring.values.contains { $0.resource == "d1" && $0.task == "monitor" && $0.intervalMS == 10_000 },
                "d1's monitor was not set up again: \(c.nodes[k].recurring.keys.sorted())")
        // The monitor works again: d1 dies, is found dead and recovered on node2 (preferred).
        let starts = c.startsPerNode["node2", default: 0]
        c.killResource("d1", on: "node2")
        #expect(c.settle())
        #expect(c.whereRunning("d1") == ["node2"] && c.startsPerNode["node2", default: 0] == starts + 1)
        #expect(c.attribute("fail-count-d1#monitor_10000", of: "node2") == "1")
        #expect(c.fenceRequests.isEmpty)
    }

    /// Only the DC acts on an executor restart, and only for a member of its group.
    @Test func anExecutorRestartIsActedOnByTheDCForAMemberOnly() {
        var dc = Self.joinedDC()
        #expect(dc.onMessage(.executorRestarted(nodeID: 9, node: "node9"), from: ControllerMember(nodeID: 9, name: "node9")).isEmpty)
        let d = dc.onMessage(.executorRestarted(nodeID: 3, node: "node3"), from: Self.n3)
        #expect(d.contains(.send(.joinRequest(round: 2, dc: 1))), "no join round after node3's executor restarted: \(d)")
        #expect(dc.join.active)
        var other = ControllerCore(local: Self.n2, uuid: "u2")
        _ = other.onMembership([Self.n1, Self.n2, Self.n3])
        #expect(!other.isDC)
        #expect(other.onMessage(.executorRestarted(nodeID: 3, node: "node3"), from: Self.n3).isEmpty)
    }

    /// A fencing confirmed after its target rejoined the cluster does not mark it down (nor
    /// delete the history its join recorded); one confirmed while it is still away does.
    @Test func aLateFencingOfARejoinedNodeIsNotRecorded() {
        let fence3 = ActionGraph(actions: [GraphAction(id: 1, kind: .fence, task: "stonith", key: "stonith-node3-reboot", node: "node3",
                                                       meta: ["stonith_action": "reboot"])], inputs: [[]])
        func recordsFenced(_ ds: [ControllerCore.Directive]) -> Bool { ds.contains(.recordFenced(node: "node3")) }
        // node3 lost, fenced, and confirmed while it is still away: recorded.
        var core = Self.joinedDC()
        _ = core.onMembership([Self.n1, Self.n2], left: [(Self.n3, false, false)])
        #expect(core.onScheduled(fence3, recheck: nil).contains(where: Self.isFence))
        #expect(recordsFenced(core.onFenceResult(transition: core.transitionID, index: 0, .done)))
        // node3 lost, the fencing asked for, node3 back before the confirmation: not recorded.
        var late = Self.joinedDC()
        _ = late.onMembership([Self.n1, Self.n2], left: [(Self.n3, false, false)])
        #expect(late.onScheduled(fence3, recheck: nil).contains(where: Self.isFence))
        let t = late.transitionID
        _ = late.onMembership([Self.n1, Self.n2, Self.n3])
        let out = late.onFenceResult(transition: t, index: 0, .done)
        #expect(!recordsFenced(out), "a late confirmation marked the rejoined node3 down: \(out)")
    }

    /// SIGTERM before the first membership event: no DC to move resources away. The node leaves
    /// cleanly only when lrmd runs nothing; otherwise it goes as on a failed shutdown, so the
    /// DC sees it lost (and fences it) rather than starting its resources elsewhere.
    @Test func aShutdownWithoutADCLeavesCleanlyOnlyWhenNothingRuns() {
        var busy = ControllerCore(local: Self.n2, uuid: "u")
        let out = busy.onShutdownRequested(resourcesActive: true)
        #expect(out.contains(.exit(clean: false)) && !out.contains(.exit(clean: true)), "\(out)")
        var idle = ControllerCore(local: Self.n2, uuid: "u")
        #expect(idle.onShutdownRequested(resourcesActive: false).contains(.exit(clean: true)))
        // Unknown (the default): assume resources run.
        var unknown = ControllerCore(local: Self.n2, uuid: "u")
        #expect(unknown.onShutdownRequested().contains(.exit(clean: false)))
        // With a DC, the DC is asked to move them away first, whatever runs.
        var member = ControllerCore(local: Self.n2, uuid: "u")
        _ = member.onMembership([Self.n1, Self.n2])
        let asked = member.onShutdownRequested(resourcesActive: true)
        #expect(asked.contains(.send(.shutdownRequest(nodeID: 2, node: "node2"))) && !asked.contains { if case .exit = $0 { return true }; return false })
    }

    /// A result the DC could not write to the CIB: the transition is aborted, and the scheduler
    /// runs again only after the retry delay, longer with every failure in a row (not as if
    /// recorded, and not in a spin while cibd is unavailable).
    @Test func aFailedRecordAbortsTheTransitionAndRetriesWithBackOff() throws {
        let graph = ActionGraph(actions: [
            GraphAction(id: 1, kind: .resource, task: "start", key: "d1_start_0", resource: "d1", node: "node2"),
            GraphAction(id: 2, kind: .resource, task: "start", key: "d2_start_0", resource: "d2", node: "node3"),
            GraphAction(id: 3, kind: .resource, task: "monitor", key: "d2_monitor_10000", resource: "d2", node: "node3", intervalMS: 10_000),
        ], inputs: [[], [], [1]])
        var core = Self.joinedDC()
        #expect(core.onTimer(.recheck).contains(where: Self.isSchedule))
        var delays: [Duration] = []
        for _ in 0..<2 {
            _ = core.onScheduled(graph, recheck: nil)
            let t = core.transitionID
            #expect(core.busy)
            let r1 = ActionResult(node: "node2", resource: "d1", agent: "ocf:heartbeat:Dummy", task: "start", intervalMS: 0,
                                  transitionKey: "1:\(t):0:u", callID: 3, rc: 0, opStatus: 0, lastRCChange: 1)
            let out = core.onMessage(.result(r1), from: Self.n2)
            #expect(out.first == .recordResult(r1))
            // The shell could not write it.
            let failed = core.onRecordFailed("d1_start_0 on node2")
            #expect(!failed.contains(where: Self.isSchedule), "rescheduled at once: \(failed)")
            #expect(core.busy, "d2's start is still in flight")
            // d2 reports: the transition ends aborted (its monitor is not started), and a retry
            // is armed rather than a schedule at once.
            let r2 = ActionResult(node: "node3", resource: "d2", agent: "ocf:heartbeat:Dummy", task: "start", intervalMS: 0,
                                  transitionKey: "2:\(t):0:u", callID: 4, rc: 0, opStatus: 0, lastRCChange: 1)
            let end = core.onMessage(.result(r2), from: Self.n3)
            #expect(!core.busy)
            #expect(!end.contains(where: Self.isSchedule), "\(end)")
            #expect(!end.contains { if case .send(.execute(let req)) = $0 { return req.task == "monitor" }; return false },
                    "carried on with the transition as if recorded: \(end)")
            #expect(end.contains(.arm(.retry, after: core.currentRetryDelay)), "\(end)")
            delays.append(core.currentRetryDelay)
            #expect(core.onTimer(.retry).contains(where: Self.isSchedule))
        }
        #expect(delays[0] > .zero && delays[1] > delays[0], "no back-off: \(delays)")
        // A record failing with no transition in flight: a retry too, never a schedule at once.
        _ = core.onScheduled(ActionGraph(), recheck: nil)
        let idle = core.onRecordFailed("node3 fenced")
        #expect(!idle.contains(where: Self.isSchedule))
        #expect(idle.contains(.arm(.retry, after: core.currentRetryDelay)))
    }

    /// An action whose result does not come in time is recorded as Pacemaker records it (op-status
    /// 2, rc 1, call-id -1), so the scheduler sees the resource failed there; its late result,
    /// even a success, reruns the scheduler.
    @Test func aTimedOutActionIsRecordedAndItsLateResultReschedules() throws {
        let c = try SimulatedCluster(nodes: 2, configuration: Self.configuration(fencing: false))
        c.silent = ["d1_start_0"]
        c.membershipChanged()
        #expect(c.settle())
        let at = c.whereRunning("d1")
        try #require(at.count == 1)
        let dc = c.index(c.dc!.name)
        let ex = try #require(c.nodes[dc].core.executor)
        let i = try #require(ex.running.first)
        #expect(ex.graph.actions[i].key == "d1_start_0")
        #expect(c.activeInCIB("d1") == [], "the start has not reported yet")
        c.perform(c.nodes[dc].core.onTimer(.action(transition: c.nodes[dc].core.transitionID, index: i)), at: dc)
        #expect(c.settle())
        let id = c.nodes[c.index(at[0])].core.local.nodeID
        let op = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='\(id)']//lrm_rsc_op[@id='d1_last_failure_0']").first)
        #expect(op["operation"] == "start" && op["op-status"] == "2" && op["rc-code"] == "1" && op["call-id"] == "-1", "\(op)")
        #expect(op["transition-magic"]?.hasPrefix("2:1;") == true && op["last-rc-change"] != "0")
        #expect(c.activeInCIB("d1") == at, "the scheduler must see the timed-out start as (failed) active there")
        // The retry: d1 is stopped there first, never active twice.
        c.silent = []
        c.perform(c.nodes[dc].core.onTimer(.retry), at: dc)
        #expect(c.settle())
        #expect(c.whereRunning("d1").count == 1)
        #expect(c.activeInCIB("d1") == c.whereRunning("d1"), "\(c.cib.root.firstElement(named: "status")!.xmlString(.pretty))")

        // A late success of an action no transition runs any more: the scheduler runs again.
        var core = Self.joinedDC()
        let late = ActionResult(node: "node2", resource: "d1", agent: "ocf:heartbeat:Dummy", task: "start", intervalMS: 0,
                                transitionKey: "4:1:0:u", callID: 9, rc: 0, opStatus: 0, lastRCChange: 1)
        let out = core.onMessage(.result(late), from: Self.n2)
        #expect(out.first == .recordResult(late))
        #expect(out.contains(where: Self.isSchedule), "a late success did not rerun the scheduler")
    }

    /// The stop that follows a timed-out start supersedes the DC's record of the timeout even
    /// when both are recorded within the same second (soak seed 1495: the status kept the
    /// resource active, and failed, on the node where it had been stopped, besides where it
    /// was started next, and the cluster never settled): the scheduler orders them by their
    /// transitions, as Pacemaker's does.
    @Test func aStopWithinTheSecondOfATimedOutStartSupersedesIt() throws {
        let c = try SimulatedCluster(nodes: 2, configuration: Self.configuration(fencing: false))
        c.secondsPerSchedule = 0
        c.silent = ["d1_start_0"]
        c.membershipChanged()
        #expect(c.settle())
        let at = c.whereRunning("d1")
        try #require(at.count == 1)
        let dc = c.index(c.dc!.name)
        let i = try #require(c.nodes[dc].core.executor?.running.first)
        c.perform(c.nodes[dc].core.onTimer(.action(transition: c.nodes[dc].core.transitionID, index: i)), at: dc)
        #expect(c.settle())
        #expect(c.activeInCIB("d1") == at)
        c.silent = []
        c.perform(c.nodes[dc].core.onTimer(.retry), at: dc)
        #expect(c.settle())
        let id = c.nodes[c.index(at[0])].core.local.nodeID
        let ops = try c.cib.root.xpathElements("/cib/status/node_state[@id='\(id)']//lrm_resource[@id='d1']/lrm_rsc_op")
        #expect(ops.contains { $0["operation"] == "stop" && $0["call-id"] != "-1" } && ops.contains { $0["call-id"] == "-1" },
                "the stop and the timeout are both recorded there: \(ops)")
        #expect(Set(ops.compactMap { $0["last-rc-change"] }).count == 1, "all within one second")
        #expect(c.whereRunning("d1").count == 1)
        #expect(c.activeInCIB("d1") == c.whereRunning("d1"), "\(c.cib.root.firstElement(named: "status")!.xmlString(.pretty))")
    }

    /// A node is expected down only once the DC tells it to go; lost before that (its shutdown
    /// still pending), it is unclean and fenced, not taken as shut down.
    @Test func aNodeLostWhileItsShutdownIsPendingIsFenced() throws {
        let c = try SimulatedCluster(nodes: 3, configuration: Self.configuration(fencing: true))
        c.membershipChanged()
        #expect(c.settle())
        #expect(c.whereRunning("d1") == ["node2"])
        let k = c.index("node2")
        c.perform(c.nodes[k].core.onShutdownRequested(), at: k)
        // Only the request reaches the DC; then node2 is lost.
        let (from, m) = c.queue.removeFirst()
        let dc = c.index(c.dc!.name)
        c.perform(c.nodes[dc].core.onMessage(m, from: from), at: dc)
        #expect(c.attribute("shutdown", of: "node2") != nil)
        let pending = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='2']").first)
        #expect(pending["expected"] == "member", "expected down before the DC told it to go")
        c.nodes[k].up = false
        c.fencer = { _ in .done }
        c.membershipChanged(left: [(c.nodes[k].core.local, false, false)])
        #expect(c.settle())
        #expect(c.fenceRequests == ["node2"], "a node lost with its shutdown pending must be fenced")
        #expect(c.whereRunning("d1").count == 1 && !c.whereRunning("d1").contains("node2"))

        // do_shutdown sent: expected down from then on.
        var core = Self.joinedDC()
        let g = ActionGraph(actions: [GraphAction(id: 1, kind: .cluster, task: "do_shutdown", key: "do_shutdown-node2", node: "node2")], inputs: [[]])
        #expect(core.onCIBChanged("test").contains(where: Self.isSchedule))
        let out = core.onScheduled(g, recheck: nil)
        let down = try #require(out.firstIndex(of: .recordExpectedDown(node: "node2")))
        let sent = try #require(out.firstIndex { if case .send(.execute(let r)) = $0 { return r.task == "do_shutdown" }; return false })
        #expect(down < sent)
    }

    /// Only the current DC's actions (and its do_shutdown) are carried out.
    @Test func actionsAndShutdownAreTakenOnlyFromTheDC() {
        var core = ControllerCore(local: ControllerMember(nodeID: 2, name: "node2"), uuid: "u2")
        let n1 = ControllerMember(nodeID: 1, name: "node1"), n3 = ControllerMember(nodeID: 3, name: "node3")
        _ = core.onMembership([n1, core.local, n3])
        #expect(!core.isDC)
        let req = ActionRequest(node: "node2", task: "start", resource: "d1", agent: "ocf:heartbeat:Dummy", intervalMS: 0,
                                timeoutMS: 20_000, parameters: [:], meta: [:], transitionKey: "1:1:0:x")
        #expect(!core.onMessage(.execute(req), from: n3).contains(.runLocally(req)), "an action from a node that is not the DC ran")
        #expect(!core.onMessage(.execute(req), from: core.local).contains(.runLocally(req)))
        #expect(core.onMessage(.execute(req), from: n1).contains(.runLocally(req)))
        var shut = req
        shut.task = "do_shutdown"
        shut.resource = nil
        #expect(!core.onMessage(.execute(shut), from: n3).contains(.exit(clean: true)), "a do_shutdown from a node that is not the DC was obeyed")
        #expect(core.onMessage(.execute(shut), from: n1).contains(.exit(clean: true)))
    }

    @Test func statusRecordsAreShapedAsPacemakerWritesThem() throws {
        let r = ActionResult(node: "node2", resource: "d1", agent: "ocf:heartbeat:Dummy", task: "start", intervalMS: 0,
                             transitionKey: "7:3:0:abc", callID: 12, rc: 1, opStatus: 0, execTimeMS: 15, lastRCChange: 1_700_000_000,
                             digest: "f2317cad3d54cec5d7d7aa7d0bf35cf8", exitReason: "boom")
        let e = StatusRecords.result(r, nodeID: "2")
        let rsc = try #require(e.firstElement(named: "lrm")?.firstElement(named: "lrm_resources")?.firstElement(named: "lrm_resource"))
        #expect(rsc["class"] == "ocf" && rsc["provider"] == "heartbeat" && rsc["type"] == "Dummy")
        let ops = rsc.elements(named: "lrm_rsc_op")
        #expect(ops.map(\.id) == ["d1_last_0", "d1_last_failure_0"])
        #expect(ops[0]["transition-magic"] == "0:1;7:3:0:abc" && ops[0]["call-id"] == "12" && ops[0]["exit-reason"] == "boom")
        #expect(ops[0]["op-digest"] == "f2317cad3d54cec5d7d7aa7d0bf35cf8" && ops[0]["last-rc-change"] == "1700000000")
        // A failed start counts INFINITY under start-failure-is-fatal; a monitor one more.
        let fc = try #require(StatusRecords.failcount(r, nodeID: "2", now: 5, startFailureIsFatal: true))
        let pairs = try fc.xpathElements("//nvpair")
        #expect(pairs.map { $0["name"] } == ["fail-count-d1#start_0", "last-failure-d1#start_0"])
        #expect(pairs[0]["value"] == "INFINITY" && pairs[0]["id"] == "status-2-fail-count-d1.start_0")
        var mon = r
        mon.task = "monitor"
        mon.intervalMS = 10_000
        mon.transitionKey = "8:3:0:abc"
        mon.rc = 7
        #expect(try StatusRecords.failcount(mon, nodeID: "2", now: 5, startFailureIsFatal: true)?.xpathElements("//nvpair").first?["value"] == "value++")
        var probe = mon
        probe.intervalMS = 0
        probe.transitionKey = "9:3:7:abc"
        #expect(!probe.isFailure && StatusRecords.failcount(probe, nodeID: "2", now: 5, startFailureIsFatal: true) == nil)
        #expect(PEInputNames.highest(in: ["pe-input-3.xml", "pe-input-12.xml", "pe-input-x.xml", "other"]) == 12)
        #expect(PEInputNames.highest(in: []) == nil)
        let status = try XElement.parse(Array("""
        <status><node_state id="1" uname="a" crmd="online" join="member"/><node_state id="2" uname="b" crmd="offline" join="down"/>
        <node_state id="3" uname="c" crmd="online" join="member"/></status>
        """.utf8))
        #expect(StatusRecords.staleNodes(in: status, members: ["1"]).map(\.uname) == ["c"])
    }
}
