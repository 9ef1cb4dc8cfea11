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
    static func restartController(_ name: String, in c: SimulatedCluster) {
        let k = c.index(name)
        let me = c.nodes[k].core.local
        c.nodes[k].core = ControllerCore(local: me, uuid: "uuid-\(me.nodeID)-restarted")
        c.nodes[k].up = true
        c.membershipChanged()
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
        // Past the grace: node2 is fenced, and only then is d1 started elsewhere, once.
        let k = c.index("node1")
        c.perform(c.nodes[k].core.onTimer(.controllerGrace(node: "node2")), at: k)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node2"])
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
