import CIB
import Controller
import PolicyEngine
import Testing

/// A node's controller (crmd) is killed while the node stays in the corosync ring: pacemakerd
/// starts a new one, and the node's executor still runs its resources. The DC neither fences
/// the node nor moves its resources nor sends it anything while it waits (up to
/// `controllerRestartGrace`) with the node frozen in maintenance for the scheduler; the new
/// controller's join reads the node's history again. Past the grace, or when the node leaves
/// the ring, the node is fenced as before.
@Suite struct ControllerRestartTests {
    static let n1 = ControllerMember(nodeID: 1, name: "node1"), n2 = ControllerMember(nodeID: 2, name: "node2"),
               n3 = ControllerMember(nodeID: 3, name: "node3")

    /// Three nodes with fencing, d1 running on node2 (node1 is the DC), everything settled.
    static func running() throws -> SimulatedCluster {
        let c = try SimulatedCluster(nodes: 3, configuration: ControllerCoreTests.configuration(fencing: true))
        c.fencer = { _ in .done }
        c.membershipChanged()
        #expect(c.settle())
        try #require(c.whereRunning("d1") == ["node2"] && c.dc?.name == "node1")
        return c
    }

    /// `name`'s controller process ends (SIGKILL); its node, executor and resources stay.
    static func killController(_ name: String, in c: SimulatedCluster) {
        let k = c.index(name)
        c.nodes[k].up = false
        c.membershipChanged(left: [(c.nodes[k].core.local, false, true)])
    }

    /// pacemakerd starts a new controller on `name`: a new process, knowing nothing; the
    /// executor (history, running resources, recurring monitors) is the same.
    static func restartController(_ name: String, in c: SimulatedCluster, ring: Set<UInt32>? = nil) {
        let k = c.index(name)
        let me = c.nodes[k].core.local
        c.nodes[k].core = ControllerCore(local: me, uuid: "uuid-\(me.nodeID)-restarted")
        c.nodes[k].core.nodeNames = SimulatedCluster.names(c.nodes.count)
        c.nodes[k].up = true
        // As crmd asks corosyncd for the ring at its first membership: known before its join
        // round is over.
        if let ring { c.perform(c.nodes[k].core.onRing(ring), at: k) }
        c.membershipChanged()
    }

    /// The ring's members as corosyncd reports them (quorum reports), to every live controller.
    static func ring(_ ids: Set<UInt32>, in c: SimulatedCluster) {
        for i in c.nodes.indices where c.nodes[i].up { c.perform(c.nodes[i].core.onRing(ids), at: i) }
    }

    /// A power cut of `name`: it leaves the ring and the controllers' group at once (CPG's
    /// nodedown); what ran there stays, as far as anyone knows, until it is fenced.
    static func powerCut(_ name: String, in c: SimulatedCluster, ring: Set<UInt32>) {
        let k = c.index(name)
        c.nodes[k].up = false
        Self.ring(ring, in: c)
        c.membershipChanged(left: [(c.nodes[k].core.local, false, false)])
    }

    /// Three nodes with fencing: d1 prefers node2, d2 prefers node1 (the DC); settled, the
    /// ring known to every controller.
    static func runningTwo() throws -> SimulatedCluster {
        let c = try twoResources()
        #expect(c.settle())
        try #require(c.whereRunning("d1") == ["node2"] && c.whereRunning("d2") == ["node1"] && c.dc?.name == "node1")
        #expect(c.nodes.allSatisfy { $0.core.controllersAway.isEmpty })
        return c
    }

    /// `runningTwo`'s cluster before anything has run: the membership made, the ring known.
    static func twoResources() throws -> SimulatedCluster {
        let configuration = ControllerCoreTests.configuration(fencing: true)
            .replacingOccurrences(of: "</primitive></resources>", with: """
            </primitive><primitive id="d2" class="ocf" provider="heartbeat" type="Dummy">            <operations><op id="d2-mon" name="monitor" interval="10s" timeout="20s"/></operations></primitive></resources>
            """)
            .replacingOccurrences(of: "</constraints>", with: #"<rsc_location id="prefer1" rsc="d2" node="node1" score="100"/></constraints>"#)
        let c = try SimulatedCluster(nodes: 3, configuration: configuration)
        c.fencer = { _ in .done }
        c.membershipChanged()
        Self.ring([1, 2, 3], in: c)
        return c
    }

    /// The position in the log of the first directive matching `what` from `from` on.
    static func firstIndex(in c: SimulatedCluster, from: Int = 0, _ what: (String) -> Bool) -> Int? {
        c.log[from...].firstIndex(where: what)
    }

    static func isStart(_ rsc: String, on node: String) -> (String) -> Bool {
        { $0.contains("execute(") && $0.contains("task: \"start\"") && $0.contains("resource: Optional(\"\(rsc)\")") && $0.contains("node: \"\(node)\"") }
    }

    /// Whether any action was sent to `node` in the log from position `from` on.
    static func sentTo(_ node: String, in c: SimulatedCluster, from: Int) -> [String] {
        c.log[from...].filter { $0.contains("execute(") && $0.contains("node: \"\(node)\"") }
    }

    @Test func aControllerLostWhileItsNodeStaysUpIsNotFencedAndItsNodeIsFrozen() throws {
        let c = try Self.running()
        let starts = c.startsPerNode
        let mark = c.log.count
        Self.killController("node2", in: c)
        #expect(c.settle())
        let dc = c.nodes[c.index("node1")].core
        #expect(dc.controllersAway == ["node2": Self.n2])
        #expect(c.log[mark...].contains("node1: \(ControllerCore.Directive.arm(.controllerGrace(node: "node2"), after: ControllerCore.defaultControllerRestartGrace))"))
        // The other survivor waits too (it would, were it elected DC meanwhile).
        #expect(c.nodes[c.index("node3")].core.controllersAway.keys.sorted() == ["node2"])
        #expect(c.fenceRequests.isEmpty, "node2 was fenced though only its controller was lost")
        #expect(c.whereRunning("d1") == ["node2"] && c.startsPerNode == starts)
        #expect(Self.sentTo("node2", in: c, from: mark).isEmpty, "actions sent to node2 while its controller is away: \(Self.sentTo("node2", in: c, from: mark))")
        // The CIB says what happened (node2's controller offline: unclean to the scheduler)...
        let state = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='2']").first)
        #expect(state["crmd"] == "offline" && state["expected"] == "member")
        #expect(Simulator.workingSet(SchedulerInput(cib: c.cib, now: c.now)).nodes.first { $0.name == "node2" }?.unclean == true)
        #expect(c.attribute("maintenance", of: "node2") == nil, "the freeze was written to the CIB")
        // ...but the scheduler's input has node2 up and in maintenance, d1 active there.
        let ws = Simulator.workingSet(SchedulerInput(cib: dc.schedulerInput(c.cib), now: c.now))
        let n2 = try #require(ws.nodes.first { $0.name == "node2" })
        #expect(n2.online && !n2.unclean && n2.maintenance)
        #expect(ws.resources.first { $0.id == "d1" }?.activeOn == ["node2"])
    }

    /// The controller is lost while a start it was given is still running in its node's
    /// executor (its result not back): the start may yet succeed, so the DC takes the resource
    /// as starting there and starts it nowhere else while it waits.
    @Test func aStartInFlightWhenTheControllerIsLostIsTakenAsRunningThereNotStartedElsewhere() throws {
        let c = try SimulatedCluster(nodes: 3, configuration: ControllerCoreTests.configuration(fencing: true))
        c.fencer = { _ in .done }
        c.silent = ["d1_start_0"]
        c.membershipChanged()
        #expect(c.settle())
        try #require(c.whereRunning("d1") == ["node2"] && c.dc?.name == "node1")
        #expect(c.activeInCIB("d1") == [], "the start has not reported yet")
        Self.killController("node2", in: c)
        #expect(c.settle())
        let dc = c.nodes[c.index("node1")].core
        #expect(dc.inFlightWhenAway["node2"]?.map(\.task) == ["start"])
        #expect(c.whereRunning("d1") == ["node2"], "d1 was started elsewhere while its start on node2 may still be running")
        #expect(c.fenceRequests.isEmpty)
        let ws = Simulator.workingSet(SchedulerInput(cib: dc.schedulerInput(c.cib), now: c.now))
        #expect(ws.resources.first { $0.id == "d1" }?.activeOn == ["node2"])
        // Past the grace: node2 is fenced, and only then is d1 started elsewhere, once. The
        // start may have succeeded there: while a first fencing fails, d1 (still pending on
        // node2 for the scheduler, though node2 is no longer frozen) is started nowhere else.
        c.silent = []
        c.fencer = { $0 == "node2" ? .failed("the device did not answer") : .done }
        let k = c.index("node1")
        c.perform(c.nodes[k].core.onTimer(.controllerGrace(node: "node2")), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node2"])
        #expect(c.whereRunning("d1") == ["node2"], "d1 was started elsewhere before node2 was fenced")
        #expect(c.nodes[k].core.controllersAway.isEmpty && c.nodes[k].core.inFlightWhenAway["node2"]?.map(\.task) == ["start"])
        c.fencer = { _ in .done }
        c.perform(c.nodes[k].core.onTimer(.retry), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node2", "node2"])
        #expect(c.whereRunning("d1").count == 1 && !c.whereRunning("d1").contains("node2"))
        #expect(c.nodes[k].core.inFlightWhenAway.isEmpty)
    }

    @Test func aControllerBackWithinTheGraceJoinsWithItsHistoryAndNothingIsFencedOrStartedAgain() throws {
        let c = try Self.running()
        let starts = c.startsPerNode
        let running = c.nodes[c.index("node2")].running
        Self.killController("node2", in: c)
        #expect(c.settle())
        let mark = c.log.count
        Self.restartController("node2", in: c)
        #expect(c.settle())
        // The join asked node2's new controller for its history, and recorded it.
        #expect(c.log[mark...].contains { $0.hasPrefix("node2: sendHistory") }, "node2's history was not read again")
        #expect(c.log[mark...].contains("node1: \(ControllerCore.Directive.disarm(.controllerGrace(node: "node2")))"))
        let state = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='2']").first)
        #expect(state["crmd"] == "online" && state["join"] == "member" && state["expected"] == "member")
        #expect(c.activeInCIB("d1") == ["node2"])
        #expect(c.nodes.allSatisfy { $0.core.controllersAway.isEmpty })
        #expect(c.fenceRequests.isEmpty && c.startsPerNode == starts && c.nodes[c.index("node2")].running == running)
        // A grace timer that fires late (its disarm raced with it) changes nothing.
        let k = c.index("node1")
        c.perform(c.nodes[k].core.onTimer(.controllerGrace(node: "node2")), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests.isEmpty && c.whereRunning("d1") == ["node2"])
        // node2 is managed again: d1 dies there and is recovered there.
        c.killResource("d1", on: "node2")
        #expect(c.settle())
        #expect(c.whereRunning("d1") == ["node2"] && c.startsPerNode["node2", default: 0] == starts["node2", default: 0] + 1)
    }

    @Test func aControllerNotBackWithinTheGraceHasItsNodeFencedBeforeItsResourcesMove() throws {
        let c = try Self.running()
        Self.killController("node2", in: c)
        #expect(c.settle())
        #expect(c.fenceRequests.isEmpty)
        let k = c.index("node1")
        c.perform(c.nodes[k].core.onTimer(.controllerGrace(node: "node2")), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node2"])
        #expect(c.whereRunning("d1").count == 1 && !c.whereRunning("d1").contains("node2"))
        #expect(c.nodes[k].core.controllersAway.isEmpty)
    }

    /// The node leaves the ring while its controller is awaited (pacemakerd gave up and stopped
    /// the node, or its power went): not waited for any longer.
    @Test func aNodeThatLeavesTheRingWhileItsControllerIsAwaitedIsFencedAtOnce() throws {
        let c = try Self.running()
        Self.killController("node2", in: c)
        #expect(c.settle())
        let k = c.index("node1")
        c.perform(c.nodes[k].core.onRing([1, 2, 3]), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests.isEmpty, "node2 is still in the ring")
        c.perform(c.nodes[k].core.onRing([1, 3]), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node2"])
        #expect(c.whereRunning("d1").count == 1 && !c.whereRunning("d1").contains("node2"))
    }

    /// A node that leaves the ring (a power cut: CPG says nodedown) is not waited for at all,
    /// nor is a controller that is lost when the ring already lacks its node.
    @Test func aNodeLostFromTheRingIsNeverGivenTheGrace() {
        var core = ControllerCoreTests.joinedDC()
        let d = core.onMembership([Self.n1, Self.n3], left: [(Self.n2, false, false)])
        #expect(core.controllersAway.isEmpty)
        #expect(!d.contains { if case .arm(.controllerGrace, _) = $0 { return true }; return false })
        #expect(d.contains(where: ControllerCoreTests.isSchedule))
        var other = ControllerCoreTests.joinedDC()
        _ = other.onRing([1, 3])
        _ = other.onMembership([Self.n1, Self.n3], left: [(Self.n2, false, true)])
        #expect(other.controllersAway.isEmpty, "node2 is not in the ring: lost")
        // A clean leave (the node shuts down) is not awaited either.
        var clean = ControllerCoreTests.joinedDC()
        _ = clean.onMembership([Self.n1, Self.n3], left: [(Self.n2, true, true)])
        #expect(clean.controllersAway.isEmpty)
    }

    /// The DC's own controller is killed: the new DC (node2) waits for node1's new controller
    /// rather than fencing node1; node1's new controller, elected again, reads every history.
    @Test func theDCsControllerLostIsAwaitedByTheNewDCAndNothingIsFencedOrStartedAgain() throws {
        let c = try Self.running()
        let starts = c.startsPerNode
        let mark = c.log.count
        Self.killController("node1", in: c)
        #expect(c.settle())
        #expect(c.dc?.name == "node2")
        #expect(c.nodes[c.index("node2")].core.controllersAway.keys.sorted() == ["node1"])
        #expect(c.fenceRequests.isEmpty, "node1 was fenced though only its controller was lost")
        #expect(Self.sentTo("node1", in: c, from: mark).isEmpty)
        Self.restartController("node1", in: c)
        #expect(c.settle())
        #expect(c.dc?.name == "node1")
        #expect(c.fenceRequests.isEmpty && c.startsPerNode == starts && c.whereRunning("d1") == ["node2"])
        #expect(c.activeInCIB("d1") == ["node2"])
        #expect(c.nodes.allSatisfy { $0.core.controllersAway.isEmpty })
    }

    /// node2's controller is killed, then the DC (node1) loses power within the grace. node3,
    /// the new DC, fences node1 and recovers d2 (node1's) only once that fencing is confirmed
    /// (a first attempt fails: nothing of node1's moves meanwhile); node2, in the ring without
    /// a controller, is waited for, not fenced, d1 left on it and nothing sent there; its
    /// new controller joins and everything goes on as before.
    @Test func theDCLostWithinTheGraceOfAnotherNodesControllerIsFencedAndRecoveredWhileThatNodeIsStillAwaited() throws {
        let c = try Self.runningTwo()
        let starts = c.startsPerNode
        Self.killController("node2", in: c)
        #expect(c.settle())
        #expect(c.fenceRequests.isEmpty)
        c.fencer = { $0 == "node1" ? .failed("the device did not answer") : .done }
        let mark = c.log.count
        Self.powerCut("node1", in: c, ring: [2, 3])
        #expect(c.settle())
        #expect(c.dc?.name == "node3")
        let k = c.index("node3")
        #expect(c.nodes[k].core.controllersAway.keys.sorted() == ["node2"])
        #expect(c.fenceRequests == ["node1"], "fenced: \(c.fenceRequests)")
        // node1 not fenced yet: d2 is not started anywhere (it may still run on node1).
        #expect(c.whereRunning("d2") == ["node1"] && Self.firstIndex(in: c, from: mark, Self.isStart("d2", on: "node3")) == nil)
        #expect(Self.sentTo("node2", in: c, from: mark).isEmpty, "sent to node2: \(Self.sentTo("node2", in: c, from: mark))")
        // The fencing works the second time (the retry after the failed transition).
        c.fencer = { _ in .done }
        c.perform(c.nodes[k].core.onTimer(.retry), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node1", "node1"], "fenced: \(c.fenceRequests)")
        #expect(c.whereRunning("d2") == ["node3"] && c.whereRunning("d1") == ["node2"])
        let fenced = try #require(Self.firstIndex(in: c, from: mark) { $0.hasPrefix("node3: recordFenced(node: \"node1\")") })
        let started = try #require(Self.firstIndex(in: c, from: mark, Self.isStart("d2", on: "node3")))
        #expect(fenced < started, "d2 was started on node3 before node1's fencing was confirmed")
        #expect(Self.sentTo("node2", in: c, from: mark).isEmpty, "sent to node2: \(Self.sentTo("node2", in: c, from: mark))")
        #expect(c.startsPerNode["node2", default: 0] == starts["node2", default: 0])
        // node2's controller is back: read again, not fenced, d1 never moved.
        Self.restartController("node2", in: c, ring: [2, 3])
        #expect(c.settle())
        #expect(c.dc?.name == "node2", "the lowest id is DC")
        #expect(c.nodes.filter(\.up).allSatisfy { $0.core.controllersAway.isEmpty })
        #expect(!c.fenceRequests.contains("node2") && c.whereRunning("d1") == ["node2"] && c.whereRunning("d2") == ["node3"])
        #expect(c.startsPerNode["node2", default: 0] == starts["node2", default: 0])
        #expect(c.activeInCIB("d1") == ["node2"] && c.activeInCIB("d2") == ["node3"])
        // Managed again: d1 dies on node2 and is recovered there.
        c.killResource("d1", on: "node2")
        #expect(c.settle())
        #expect(c.whereRunning("d1") == ["node2"] && c.startsPerNode["node2", default: 0] == starts["node2", default: 0] + 1)
    }

    /// The DC and node2's controller lost at once, while node2 runs a start the DC sent it
    /// (its result not back). node3, elected DC, never ran that transition, but it saw the
    /// request delivered and no result (`unansweredRequests`): d1 may be starting on node2, so
    /// it is pending there for node3's scheduler and started nowhere else; node2, awaited, is
    /// not fenced; node1 is, before d2 is recovered. node2's new controller joins: d1 found
    /// running there, once. Without that knowledge node3 would start d1 too.
    @Test func aStartUnderWayWhenTheDCAndTheTargetsControllerAreLostAtOnceIsNotStartedElsewhere() throws {
        let c = try Self.twoResources()
        c.silent = ["d1_start_0"]
        #expect(c.settle())
        try #require(c.whereRunning("d1") == ["node2"] && c.dc?.name == "node1")
        #expect(c.activeInCIB("d1") == [], "the start has not reported yet")
        let observer = c.nodes[c.index("node3")].core
        #expect(observer.unansweredRequests.values.map { "\($0.task) \($0.resource ?? "") \($0.node)" } == ["start d1 node2"])
        let mark = c.log.count
        Self.killController("node2", in: c)
        Self.powerCut("node1", in: c, ring: [2, 3])
        #expect(c.settle())
        let k = c.index("node3")
        #expect(c.dc?.name == "node3" && c.fenceRequests == ["node1"], "fenced: \(c.fenceRequests)")
        #expect(c.whereRunning("d1") == ["node2"], "d1 was started elsewhere while its start on node2 may still be running")
        #expect(Self.firstIndex(in: c, from: mark, Self.isStart("d1", on: "node3")) == nil)
        let ws = Simulator.workingSet(SchedulerInput(cib: c.nodes[k].core.schedulerInput(c.cib), now: c.now))
        #expect(ws.resources.first { $0.id == "d1" }?.activeOn == ["node2"])
        #expect(c.whereRunning("d2") == ["node3"])
        c.silent = []
        Self.restartController("node2", in: c, ring: [2, 3])
        #expect(c.settle())
        #expect(!c.fenceRequests.contains("node2") && c.whereRunning("d1") == ["node2"] && c.activeInCIB("d1") == ["node2"])
        // (The simulated executor keeps no record of a start whose result it was told to
        // drop, so node2's join shows d1 probed stopped and it is started there again; lrmd
        // keeps the start in its history, pending or done. What matters: never on node3.)
        #expect(Self.firstIndex(in: c, from: mark, Self.isStart("d1", on: "node3")) == nil, "d1 was started on node3")
        #expect(c.nodes.filter(\.up).allSatisfy { $0.core.unansweredRequests.isEmpty && $0.core.controllersAway.isEmpty })
    }

    /// The same, but node2's controller does not come back: when the grace runs out under the
    /// new DC, node2 is fenced (a first attempt fails: d1 stays put meanwhile), and d1 is
    /// recovered on node3 only after that fencing is confirmed.
    @Test func theGraceRunningOutUnderTheNewDCFencesTheNodeBeforeItsResourcesAreRecovered() throws {
        let c = try Self.runningTwo()
        Self.killController("node2", in: c)
        #expect(c.settle())
        Self.powerCut("node1", in: c, ring: [2, 3])
        #expect(c.settle())
        #expect(c.dc?.name == "node3" && c.fenceRequests == ["node1"] && c.whereRunning("d2") == ["node3"])
        let k = c.index("node3")
        c.fencer = { $0 == "node2" ? .failed("the device did not answer") : .done }
        let mark = c.log.count
        c.perform(c.nodes[k].core.onTimer(.controllerGrace(node: "node2")), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node1", "node2"])
        #expect(c.whereRunning("d1") == ["node2"], "d1 was recovered before node2 was fenced")
        #expect(c.nodes[k].core.controllersAway.isEmpty)
        // Not awaited again while it stays in the ring without a controller.
        Self.ring([2, 3], in: c)
        #expect(c.nodes[k].core.controllersAway.isEmpty && c.nodes[k].core.notAwaited == ["node2"])
        c.fencer = { _ in .done }
        c.perform(c.nodes[k].core.onTimer(.retry), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node1", "node2", "node2"])
        #expect(c.whereRunning("d1") == ["node3"] && c.whereRunning("d2") == ["node3"])
        let fenced = try #require(Self.firstIndex(in: c, from: mark) { $0.hasPrefix("node3: recordFenced(node: \"node2\")") })
        let started = try #require(Self.firstIndex(in: c, from: mark, Self.isStart("d1", on: "node3")))
        #expect(fenced < started, "d1 was started on node3 before node2's fencing was confirmed")
    }

    /// A start under way on node2 when node2's controller is lost; then the DC's (node1's)
    /// controller is lost too and node3, which saw the start sent, becomes DC; then node1's
    /// new controller starts and is elected DC again. It never saw that start, but node3 tells
    /// it at the join (its history message carries what it saw sent and not answered): d1 is
    /// pending on node2 for node1's scheduler and started nowhere else. Without that, node1
    /// started d1 on another node (the simulation's crmd-kill seed 157).
    @Test func aDCRestartedAfterAStartWasSentLearnsOfItAtTheJoin() throws {
        let c = try Self.twoResources()
        c.silent = ["d1_start_0"]
        #expect(c.settle())
        try #require(c.whereRunning("d1") == ["node2"] && c.dc?.name == "node1")
        let mark = c.log.count
        Self.killController("node2", in: c)
        #expect(c.settle())
        Self.killController("node1", in: c)
        #expect(c.settle())
        #expect(c.dc?.name == "node3" && c.fenceRequests.isEmpty)
        Self.restartController("node1", in: c, ring: [1, 2, 3])
        #expect(c.settle())
        let k = c.index("node1")
        #expect(c.dc?.name == "node1")
        #expect(c.nodes[k].core.unansweredRequests.values.map { "\($0.task) \($0.resource ?? "") \($0.node)" } == ["start d1 node2"],
                "the new DC does not know of the start under way on node2")
        #expect(c.whereRunning("d1") == ["node2"], "d1 was started elsewhere while its start on node2 may still be running")
        for other in ["node1", "node3"] {
            #expect(Self.firstIndex(in: c, from: mark, Self.isStart("d1", on: other)) == nil, "d1 was started on \(other)")
        }
        let ws = Simulator.workingSet(SchedulerInput(cib: c.nodes[k].core.schedulerInput(c.cib), now: c.now))
        #expect(ws.resources.first { $0.id == "d1" }?.activeOn == ["node2"])
        #expect(c.fenceRequests.isEmpty)
    }

    /// A controller that never saw node2's controller end: node2's controller is killed, then
    /// node1's (the DC's), and node1's new controller, elected DC again (lowest id), finds
    /// node2 in the ring without a controller. It waits for it too, from its own observation
    /// (its own grace timer), with node2 frozen: no fencing, d1 left on node2, nothing sent
    /// there; node2's controller back, all is as before. A second round where node2's does not
    /// come back: at node1's grace node2 is fenced, and only then is d1 recovered.
    @Test func aRestartedControllerThatNeverSawTheLossWaitsForTheControllerToo() throws {
        let c = try Self.runningTwo()
        let starts = c.startsPerNode
        Self.killController("node2", in: c)
        #expect(c.settle())
        Self.killController("node1", in: c)
        #expect(c.settle())
        #expect(c.dc?.name == "node3" && c.fenceRequests.isEmpty)
        let mark = c.log.count
        Self.restartController("node1", in: c, ring: [1, 2, 3])
        #expect(c.settle())
        let k = c.index("node1")
        #expect(c.dc?.name == "node1")
        #expect(c.nodes[k].core.controllersAway.keys.sorted() == ["node2"] && c.nodes[k].core.awayFromRing == ["node2"])
        #expect(c.log[mark...].contains("node1: \(ControllerCore.Directive.arm(.controllerGrace(node: "node2"), after: ControllerCore.defaultControllerRestartGrace))"))
        #expect(c.fenceRequests.isEmpty, "node2 was fenced by a controller that did not see its controller end")
        #expect(c.whereRunning("d1") == ["node2"] && c.whereRunning("d2") == ["node1"] && c.startsPerNode == starts)
        #expect(Self.sentTo("node2", in: c, from: mark).isEmpty, "sent to node2: \(Self.sentTo("node2", in: c, from: mark))")
        // The CIB keeps node2 in the ring, its controller lost (so would a later controller).
        let state = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='2']").first)
        #expect(state["in_ccm"] == "true" && state["crmd"] == "offline" && state["expected"] == "member")
        let ws = Simulator.workingSet(SchedulerInput(cib: c.nodes[k].core.schedulerInput(c.cib), now: c.now))
        #expect(ws.nodes.first { $0.name == "node2" }.map { $0.online && $0.maintenance } == true)
        Self.restartController("node2", in: c, ring: [1, 2, 3])
        #expect(c.settle())
        #expect(c.nodes.allSatisfy { $0.core.controllersAway.isEmpty })
        #expect(c.fenceRequests.isEmpty && c.startsPerNode == starts && c.whereRunning("d1") == ["node2"])
        #expect(c.activeInCIB("d1") == ["node2"])

        // Again, and this time node2's controller stays away past node1's grace.
        Self.killController("node2", in: c)
        #expect(c.settle())
        Self.killController("node1", in: c)
        #expect(c.settle())
        Self.restartController("node1", in: c, ring: [1, 2, 3])
        #expect(c.settle())
        #expect(c.fenceRequests.isEmpty && c.nodes[k].core.awayFromRing == ["node2"])
        let before = c.log.count
        c.perform(c.nodes[k].core.onTimer(.controllerGrace(node: "node2")), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node2"])
        #expect(c.whereRunning("d1") == ["node3"] || c.whereRunning("d1") == ["node1"])
        let fenced = try #require(Self.firstIndex(in: c, from: before) { $0.hasPrefix("node1: recordFenced(node: \"node2\")") })
        let started = try #require(Self.firstIndex(in: c, from: before) { $0.contains("execute(") && $0.contains("task: \"start\"") && $0.contains("resource: Optional(\"d1\")") })
        #expect(fenced < started)
    }

    /// What a controller derives from the ring alone (`ControllerCore.deriveAway`): a node in
    /// the ring whose controller is not in the group is awaited, from this observation, but
    /// frozen only where the CIB has it last in the ring and expected up: a node never seen
    /// (no status: cold start, startup-fencing as before), fenced or shut down (expected
    /// down), or recorded out of the ring (a power cut, now booting) is not. Not awaited
    /// again once its grace ran out, unless it leaves the ring and comes back; a controller
    /// that left on purpose (its node shutting down) and a node lost with its ring (CPG's
    /// nodedown, before the ring's report) are not awaited.
    @Test func aNodeInTheRingWithoutAControllerIsAwaitedButFrozenOnlyWhenTheCIBHasItUp() throws {
        var core = ControllerCore(local: Self.n1, uuid: "u")
        core.nodeNames = SimulatedCluster.names(3)
        #expect(core.onRing([1, 2, 3]).isEmpty, "not in the group yet: nothing derived")
        let d = core.onMembership([Self.n1])
        #expect(core.controllersAway.keys.sorted() == ["node2", "node3"] && core.awayFromRing == ["node2", "node3"])
        #expect(d.contains(.arm(.controllerGrace(node: "node2"), after: ControllerCore.defaultControllerRestartGrace)))
        let nodes = "<nodes>" + (1...3).map { #"<node id="\#($0)" uname="node\#($0)"/>"# }.joined() + "</nodes>"
        func cib(_ states: String) throws -> CIB {
            try CIB.parse("""
            <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0"><configuration>\
            \(ControllerCoreTests.configuration(fencing: true).replacingOccurrences(of: "<nodes/>", with: nodes))\
            </configuration><status>\(states)</status></cib>
            """)
        }
        func frozen(_ c: CIB) -> [String] { core.frozen(in: c).map(\.name) }
        // Cold start: no status for them, nothing frozen (dc-deadtime and startup-fencing decide).
        #expect(frozen(try cib("")).isEmpty)
        let up = #"<node_state id="2" uname="node2" in_ccm="true" crmd="offline" join="down" expected="member"/>"#
        let fenced = #"<node_state id="3" uname="node3" in_ccm="false" crmd="offline" join="down" expected="down"/>"#
        let outOfRing = #"<node_state id="3" uname="node3" in_ccm="false" crmd="offline" join="down" expected="member"/>"#
        let shutDown = #"<node_state id="3" uname="node3" in_ccm="true" crmd="offline" join="down" expected="down"/>"#
        #expect(frozen(try cib(up + fenced)) == ["node2"])
        #expect(frozen(try cib(up + outOfRing)) == ["node2"])
        #expect(frozen(try cib(up + shutDown)) == ["node2"])
        let ws = Simulator.workingSet(SchedulerInput(cib: core.schedulerInput(try cib(up + outOfRing)), now: 1_700_000_000))
        #expect(ws.nodes.first { $0.name == "node2" }.map { $0.online && $0.maintenance } == true)
        #expect(ws.nodes.first { $0.name == "node3" }.map { !$0.online && !$0.maintenance } == true)
        // Its controller joins: no longer away.
        _ = core.onMembership([Self.n1, Self.n3])
        #expect(core.controllersAway.keys.sorted() == ["node2"])
        // The grace runs out: not awaited again while it stays in the ring...
        _ = core.onTimer(.controllerGrace(node: "node2"))
        #expect(core.controllersAway.isEmpty && core.notAwaited == ["node2"])
        #expect(core.onRing([1, 2, 3]).allSatisfy { if case .arm = $0 { return false }; return true })
        _ = core.onMembership([Self.n1, Self.n3])
        #expect(core.controllersAway.isEmpty)
        // ...but after it left the ring and came back (rebooted), it is.
        _ = core.onRing([1, 3])
        #expect(core.notAwaited.isEmpty)
        _ = core.onRing([1, 2, 3])
        #expect(core.controllersAway.keys.sorted() == ["node2"])
        // A controller leaving on purpose (its node shutting down) is not awaited.
        _ = core.onMembership([Self.n1, Self.n2, Self.n3])
        _ = core.onMembership([Self.n1, Self.n2], left: [(Self.n3, true, false)])
        #expect(core.controllersAway.isEmpty && core.notAwaited == ["node3"])
        // Lost with its node (nodedown) before the ring's report came in: not awaited.
        _ = core.onMembership([Self.n1], left: [(Self.n2, false, false)])
        #expect(core.controllersAway.isEmpty)
        #expect(core.ringMembers == [1, 3])
    }

    /// Cold start: node3's corosync is in the ring but its controller never starts. node1 and
    /// node2 await it from the ring (its grace armed), but it has no status (never seen), so
    /// it is not frozen: when dc-deadtime passes it is fenced (startup-fencing) as before,
    /// without waiting for its grace, and d1 runs on a node that started.
    @Test func atColdStartANodeNeverSeenIsFencedAfterDCDeadtimeNotAwaitedPastIt() throws {
        let c = try ControllerStartupAndMergeTests.startingWithoutNode3()
        Self.ring([1, 2, 3], in: c)
        #expect(c.settle())
        let k = c.index("node1")
        #expect(c.dc?.name == "node1" && c.nodes[k].core.awaitingNodes)
        #expect(c.nodes[k].core.controllersAway.keys.sorted() == ["node3"] && c.nodes[k].core.awayFromRing == ["node3"])
        #expect(c.fenceRequests.isEmpty && c.schedulerRuns == 0)
        c.perform(c.nodes[k].core.onTimer(.dcDeadtime), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node3"], "node3, never seen, was not fenced after dc-deadtime: \(c.fenceRequests)")
        #expect(c.nodes[k].core.controllersAway.keys.sorted() == ["node3"], "its grace has not run out")
        #expect(c.whereRunning("d1").count == 1 && !c.whereRunning("d1").contains("node3"))
    }

    /// While a node is frozen, actions there are deferred with what is ordered after them; a
    /// fencing of that node is kept, and actions elsewhere run.
    @Test func actionsOnAFrozenNodeAndTheirDependentsAreDeferred() {
        let graph = ActionGraph(actions: [
            GraphAction(id: 1, kind: .resource, task: "cancel", key: "d1_monitor_10000", resource: "d1", node: "node2"),
            GraphAction(id: 2, kind: .pseudo, task: "stopped", key: "g_stopped_0"),
            GraphAction(id: 3, kind: .resource, task: "start", key: "d2_start_0", resource: "d2", node: "node3"),
            GraphAction(id: 4, kind: .fence, task: "stonith", key: "stonith-node2-reboot", node: "node2"),
            GraphAction(id: 5, kind: .resource, task: "monitor", key: "d2_monitor_10000", resource: "d2", node: "node3"),
        ], inputs: [[], [0], [], [], [2]])
        let (kept, deferred) = ControllerCore.deferringActions(on: ["node2"], in: graph)
        #expect(deferred.map(\.id) == [1, 2])
        #expect(kept.actions.map(\.id) == [3, 4, 5])
        #expect(kept.inputs == [[], [], [0]])
        let (same, none) = ControllerCore.deferringActions(on: ["node9"], in: graph)
        #expect(none.isEmpty && same.actions == graph.actions)
    }
}
