import CIB
import Controller
import Foundation
import PolicyEngine
import Testing
import TestSupport

/// The controller at cluster start (quorum not known yet) and after a partition merge (the CIB
/// replaced by the other partition's copy).
@Suite struct ControllerStartupAndMergeTests {
    static let n1 = ControllerMember(nodeID: 1, name: "node1"), n2 = ControllerMember(nodeID: 2, name: "node2"),
               n3 = ControllerMember(nodeID: 3, name: "node3")
    static let fence3 = ActionGraph(actions: [GraphAction(id: 1, kind: .fence, task: "stonith", key: "stonith-node3-reboot", node: "node3",
                                                          meta: ["stonith_action": "reboot"])], inputs: [[]])

    static func isSchedule(_ d: ControllerCore.Directive) -> Bool { if case .schedule = d { return true }; return false }
    static func isFence(_ d: ControllerCore.Directive) -> Bool { if case .fence = d { return true }; return false }

    /// node1 as the DC of `members`, joined, its quorum not known.
    static func joinedWithoutQuorum(_ members: [ControllerMember]) -> (ControllerCore, [ControllerCore.Directive]) {
        var core = ControllerCore(local: n1, uuid: "u", quorum: nil)
        var d = core.onMembership(members)
        for m in members {
            d += core.onMessage(.joinHistory(round: 1, nodeID: m.nodeID, node: m.name, lrmResources: "<lrm_resources/>"), from: m)
        }
        return (core, d)
    }

    /// crmd could not ask corosyncd for the quorum at start: nothing is assumed. The DC joins
    /// the members, but runs no scheduler (so it starts nothing) and fences nobody, whatever
    /// happens, until corosync answers.
    @Test func withoutAnAnswerAboutQuorumTheDCJoinsButNeitherSchedulesNorFences() {
        var (core, d) = Self.joinedWithoutQuorum([Self.n1, Self.n2, Self.n3])
        #expect(!core.quorumKnown && core.isDC && core.joinedOnce)
        #expect(d.contains(.recordMembers([Self.n1, Self.n2, Self.n3])), "the join round still records the members")
        #expect(!d.contains(where: Self.isSchedule), "the scheduler ran before the quorum was known: \(d)")
        #expect(!core.mayFence("node3") && !core.mayFence("node1"))
        // A member lost, a CIB change, cluster-recheck-interval, a retry: still nothing.
        d = core.onMembership([Self.n1, Self.n2], left: [(Self.n3, false, false)])
        d += core.onCIBChanged("a change")
        d += core.onTimer(.recheck)
        d += core.onTimer(.retry)
        #expect(!d.contains(where: Self.isSchedule), "\(d)")
        // Even a graph that arrives anyway fences nobody.
        #expect(!core.onScheduled(Self.fence3, recheck: nil).contains(where: Self.isFence))

        // corosync answers "quorate": the scheduler runs, and node3 (lost) may be fenced.
        (core, _) = Self.joinedWithoutQuorum([Self.n1, Self.n2])
        d = core.onQuorum(true)
        #expect(core.quorumKnown && core.quorate)
        #expect(d.contains(where: Self.isSchedule))
        #expect(core.onScheduled(Self.fence3, recheck: nil).contains(where: Self.isFence))

        // corosync answers "not quorate": the scheduler runs (no-quorum-policy decides), but a
        // node outside the partition is not fenced.
        (core, _) = Self.joinedWithoutQuorum([Self.n1, Self.n2])
        d = core.onQuorum(false)
        #expect(core.quorumKnown && !core.quorate)
        #expect(d.contains(where: Self.isSchedule))
        #expect(!core.onScheduled(Self.fence3, recheck: nil).contains(where: Self.isFence))
        // Knowing the quorum, an answer that does not change it is no news.
        #expect(core.onQuorum(false).isEmpty)
    }

    /// The whole cluster of controllers, each started without an answer about quorum: joined,
    /// nothing started; once the DC hears corosync, the resource starts exactly once.
    @Test func aClusterStartedWithoutQuorumStartsNothingUntilCorosyncAnswers() throws {
        let c = try SimulatedCluster(nodes: 3, configuration: ControllerCoreTests.configuration(fencing: false))
        for i in c.nodes.indices { c.nodes[i].core = ControllerCore(local: c.nodes[i].core.local, uuid: "uuid-\(i + 1)", quorum: nil) }
        c.membershipChanged()
        #expect(c.settle())
        #expect(c.dc?.name == "node1")
        #expect(c.schedulerRuns == 0 && c.whereRunning("d1").isEmpty && c.startsPerNode.isEmpty)
        #expect(try c.cib.root.xpathElements("/cib/status/node_state[@join='member']").count == 3, "the join records every member")
        #expect(c.cib.root["have-quorum"] == "0", "no quorum is assumed in the CIB either")
        let dc = c.index("node1")
        let answered = c.nodes[dc].core.onQuorum(true)
        // As the shell does: have-quorum is written before the scheduler runs.
        c.perform([.becameDC], at: dc)
        c.perform(answered, at: dc)
        #expect(c.settle())
        #expect(c.whereRunning("d1").count == 1 && c.startsPerNode.values.reduce(0, +) == 1)
        #expect(c.activeInCIB("d1") == c.whereRunning("d1"))
    }

    /// A partition merge as cibd carries it out: the members agree on the newest copy, here the
    /// other partition's, where d1's start (made in this partition after the split) is not
    /// recorded, and the DC's copy is replaced after its join round had already written the
    /// histories. The DC reads every member's history again and rewrites each node's `lrm`
    /// from it: the status shows d1 where it runs, with its own history, and nothing is
    /// probed or started again.
    @Test func afterTheCIBIsReplacedTheDCRewritesEveryNodesHistoryFromItsExecutor() throws {
        let c = try SimulatedCluster(nodes: 3, configuration: ControllerCoreTests.configuration(fencing: false)
            .replacingOccurrences(of: "<constraints></constraints>", with: #"<constraints><rsc_location id="p" rsc="d1" node="node3" score="50"/></constraints>"#))
        c.membershipChanged()
        #expect(c.settle())
        #expect(c.whereRunning("d1") == ["node3"])
        let started = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='3']//lrm_rsc_op[@id='d1_last_0']").first)
        #expect(started["operation"] == "start")
        let recordedBefore = c.log.count

        // The other partition's copy: a configuration change made there (epoch one higher)
        // wins the sync; it has no record of d1 on any node.
        var other = c.cib
        try other.edit(xpath: "/cib/status/node_state/lrm/lrm_resources/lrm_resource[@id='d1']", .delete(all: true))
        other.root["epoch"] = String(c.cib.version.epoch + 1)
        other.root["dc-uuid"] = "3"
        c.cib = other
        #expect(c.activeInCIB("d1").isEmpty)

        let dc = c.index(c.dc!.name)
        let d = c.nodes[dc].core.onCIBReplaced("the CIB was replaced")
        #expect(!d.contains(where: Self.isSchedule), "the scheduler must wait for the histories: \(d)")
        #expect(d.contains(.send(.joinRequest(round: 2, dc: 1))))
        c.perform(d, at: dc)
        #expect(c.settle())
        // The status shows d1 on node3 again, from node3's own history (its call id).
        #expect(c.activeInCIB("d1") == ["node3"])
        let again = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='3']//lrm_rsc_op[@id='d1_last_0']").first)
        #expect(again["operation"] == "start" && again["call-id"] == started["call-id"] && again["transition-key"] == started["transition-key"])
        #expect(!(try c.cib.root.xpathElements("/cib/status/node_state[@id='3']//lrm_rsc_op[@id='d1_monitor_10000']")).isEmpty)
        // The DC is recorded again; nothing was probed or started again.
        #expect(c.cib.root["dc-uuid"] == "1")
        #expect(c.whereRunning("d1") == ["node3"] && c.startsPerNode.values.reduce(0, +) == 1)
        let rerun = c.log[recordedBefore...].filter { $0.contains("runLocally") && $0.contains("d1") }
        #expect(rerun.isEmpty, "actions on d1 after the merge: \(rerun)")
        // Found just before the scheduler runs (the shell compares cibd's count of
        // replacements): the run is dropped, the histories are read again, then it runs.
        let dcCore = c.nodes[dc].core
        var core = dcCore
        let asked = core.onCIBChanged("a change")
        #expect(asked.contains(where: Self.isSchedule) && core.busy)
        let again2 = core.onCIBReplaced("replaced since the join")
        #expect(!core.busy && core.join.active && again2.contains(.send(.joinRequest(round: 3, dc: 1))))
        var end: [ControllerCore.Directive] = []
        for m in [Self.n1, Self.n2, Self.n3] {
            end += core.onMessage(.joinHistory(round: 3, nodeID: m.nodeID, node: m.name, lrmResources: "<lrm_resources/>"), from: m)
        }
        #expect(end.contains(where: Self.isSchedule), "the scheduler does not run after the new join: \(end)")
        // Only the DC acts on a replacement.
        var member = c.nodes[c.index("node2")].core
        #expect(member.onCIBReplaced("x").isEmpty)
    }

    /// A cluster of node1..3 where node3 has not started; each controller was told the nodelist
    /// and dc-deadtime at start.
    static func startingWithoutNode3(startupFencing: Bool = true) throws -> SimulatedCluster {
        var config = ControllerCoreTests.configuration(fencing: true)
        if !startupFencing {
            config = config.replacingOccurrences(of: #"value="true"/>"#, with: #"value="true"/><nvpair id="o2" name="startup-fencing" value="false"/>"#)
        }
        let c = try SimulatedCluster(nodes: 3, configuration: config)
        c.nodelist = c.nodes.map(\.core.local)
        c.fencer = { _ in .done }
        for i in c.nodes.indices {
            let d = c.nodes[i].core.onStart(nodes: ["node1", "node2", "node3"], deadtime: .seconds(20))
            // Not armed yet: dc-deadtime counts from the node's first membership.
            #expect(!d.contains(.arm(.dcDeadtime, after: .seconds(20))) && c.nodes[i].core.deadtimeToArm == .seconds(20))
        }
        c.nodes[2].up = false
        c.membershipChanged()
        #expect(c.settle())
        return c
    }

    /// A former DC's write of dc-uuid, redone on the merged copy after the merged cluster's DC
    /// wrote its own, is noticed, so that the DC writes it again (stonithd fences only for the
    /// controller of the node the CIB names).
    @Test func aChangeNamingAnotherDCIsNoticed() throws {
        let base = try CIB.parse(#"<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" dc-uuid="1"><configuration><crm_config/><nodes/><resources/><constraints/></configuration><status/></cib>"#)
        let byOther = try CIBReplica.apply(StatusWrites(nodeID: { $0 }, now: 0).rootAttributes(dc: Self.n3), to: base)
        #expect(StatusWrites.namesOtherDC(CIBPatch.diff(base, byOther), dcID: "1"))
        #expect(!StatusWrites.namesOtherDC(CIBPatch.diff(base, byOther), dcID: "3"))
        let mine = try CIBReplica.apply(StatusWrites(nodeID: { $0 }, now: 0, quorate: false).rootAttributes(dc: Self.n1), to: base)
        #expect(!StatusWrites.namesOtherDC(CIBPatch.diff(base, mine), dcID: "1"), "have-quorum alone changed")
        let other = try CIBReplica.apply(.create(XElement("primitive", ["id": "d", "class": "ocf", "provider": "heartbeat", "type": "Dummy"]), section: .resources), to: base)
        #expect(!StatusWrites.namesOtherDC(CIBPatch.diff(base, other), dcID: "1"))
    }

    /// dc-deadtime counts from when the node is in the membership (the election starts), as in
    /// Pacemaker, not from the controller's start: a controller that waits long for its first
    /// membership (corosync slow to form the ring) still waits the whole dc-deadtime for the
    /// others once it is in it; one whose first membership has every node waits for nothing.
    @Test func dcDeadtimeCountsFromTheFirstMembershipNotFromTheStart() {
        var core = ControllerCore(local: Self.n1, uuid: "u")
        let started = core.onStart(nodes: ["node1", "node2", "node3"], deadtime: .seconds(20))
        #expect(!started.contains { if case .arm(.dcDeadtime, _) = $0 { return true }; return false }, "\(started)")
        #expect(core.awaitingNodes && core.deadtimeToArm == .seconds(20))
        // Whatever time passes before it, the first membership (this node alone) arms it.
        let first = core.onMembership([Self.n1])
        #expect(first.contains(.arm(.dcDeadtime, after: .seconds(20))), "\(first)")
        #expect(core.awaitingNodes && core.deadtimeToArm == nil)
        // It is not armed again at later memberships (it would never pass with nodes coming
        // and going); the last node of the nodelist joining ends the wait.
        let second = core.onMembership([Self.n1, Self.n2])
        #expect(!second.contains { if case .arm(.dcDeadtime, _) = $0 { return true }; return false }, "\(second)")
        let all = core.onMembership([Self.n1, Self.n2, Self.n3])
        #expect(all.contains(.disarm(.dcDeadtime)) && !core.awaitingNodes)

        // Every node in the first membership: nothing is armed, nothing awaited.
        var full = ControllerCore(local: Self.n2, uuid: "u")
        _ = full.onStart(nodes: ["node1", "node2", "node3"], deadtime: .seconds(20))
        let d = full.onMembership([Self.n1, Self.n2, Self.n3])
        #expect(!d.contains { if case .arm(.dcDeadtime, _) = $0 { return true }; return false } && !full.awaitingNodes)
    }

    /// dc-deadtime: at start the DC waits for the nodes of the nodelist before acting as if they
    /// were down. A node never seen is fenced (startup-fencing) only once dc-deadtime has passed;
    /// one that starts within it is just joined.
    @Test func atStartTheDCWaitsUpToDCDeadtimeForTheNodelistBeforeFencingTheUnseen() throws {
        let c = try Self.startingWithoutNode3()
        #expect(c.dc?.name == "node1" && c.nodes[0].core.awaitingNodes)
        #expect(c.schedulerRuns == 0 && c.fenceRequests.isEmpty && c.whereRunning("d1").isEmpty && c.whereRunning("fence").isEmpty,
                "the DC acted before dc-deadtime: \(c.fenceRequests) \(c.startsPerNode)")
        // node3 is known to the CIB (from the nodelist), never seen: no node_state.
        #expect(!(try c.cib.root.xpathElements("/cib/configuration/nodes/node[@id='3'][@uname='node3']")).isEmpty)
        #expect(try c.cib.root.xpathElements("/cib/status/node_state[@id='3']").isEmpty)
        // dc-deadtime passes: node3 is fenced as an unseen node, then d1 starts once.
        c.perform(c.nodes[0].core.onTimer(.dcDeadtime), at: 0)
        #expect(c.settle())
        #expect(c.fenceRequests == ["node3"])
        #expect(c.whereRunning("d1") == ["node2"] && c.startsPerNode.values.reduce(0, +) >= 1)
        let fenced = try #require(try c.cib.root.xpathElements("/cib/status/node_state[@id='3']").first)
        #expect(fenced["join"] == "down" && fenced["expected"] == "down")

        // node3 starts within dc-deadtime: joined, nobody fenced, and the timer is then no news.
        let late = try Self.startingWithoutNode3()
        late.nodes[2].up = true
        late.membershipChanged()
        #expect(late.settle())
        #expect(!late.nodes[0].core.awaitingNodes)
        #expect(late.fenceRequests.isEmpty && late.whereRunning("d1") == ["node2"])
        #expect(late.nodes[0].core.onTimer(.dcDeadtime).isEmpty)

        // startup-fencing=false: after dc-deadtime node3 is taken as down without fencing.
        let unfenced = try Self.startingWithoutNode3(startupFencing: false)
        unfenced.perform(unfenced.nodes[0].core.onTimer(.dcDeadtime), at: 0)
        #expect(unfenced.settle())
        #expect(unfenced.fenceRequests.isEmpty && unfenced.whereRunning("d1") == ["node2"])

        // Without a nodelist (or one of this node alone) nothing is awaited.
        var alone = ControllerCore(local: Self.n1, uuid: "u")
        #expect(alone.onStart(nodes: ["node1"], deadtime: .seconds(20)).isEmpty && !alone.awaitingNodes)
    }
}
