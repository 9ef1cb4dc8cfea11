import CIB
import PolicyEngine
import Testing

/// --op-fail in the engine: which action a spec names, and how a failure stops the simulated
/// transition.
@Suite struct OperationFailureTests {
    let group = """
    <primitive id="d1" class="ocf" provider="heartbeat" type="Dummy"/>
    <group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></group>
    """
    let constraints = #"<rsc_location id="l1" rsc="d1" node="node1" score="100"/><rsc_location id="l2" rsc="g" node="node2" score="100"/>"#

    func names(_ g: ActionGraph, _ order: [Int]) -> [String] {
        order.map { g.actions[$0].key + (g.actions[$0].node.map { "@\($0)" } ?? "") }
    }

    /// The spec names an action by status id or configured id, task, interval and node,
    /// without regard to case; it gives the name it matched.
    @Test func specMatchesByEitherNameIgnoringCase() throws {
        let cib = try CIB.parse(TwoNodeCluster.xml(group))
        let f = try OperationFailure("D1_Start_0@NODE1=7", in: cib)
        #expect(f.resource == "D1" && f.task == "Start" && f.intervalMS == 0 && f.node == "NODE1" && f.rc == 7)
        var a = GraphAction(id: 3, kind: .resource, task: "start", key: "d1:1_start_0", resource: "d1:1", node: "node1")
        a.configuredID = "d1"
        #expect(f.matchedName(a) == "d1")
        #expect(try OperationFailure("d1:1_start_0@node1=1", in: cib).matchedName(a) == "d1:1")
        #expect(try OperationFailure("d1_start_0@node2=1", in: cib).matchedName(a) == nil)
        #expect(try OperationFailure("d1_monitor_10000@node1=1", in: cib).matchedName(a) == nil)
        let migrate = try OperationFailure("d1_migrate_to_0@node1=1", in: cib)
        #expect(migrate.task == "migrate_to")
    }

    @Test(arguments: ["garbage", "d1_start_0@node1", "d1_start_0@node1=", "d1_start_0@node1=one", "d1@node1=1", "d1_start_x@node1=1", "d1_start_0@=1"])
    func malformedSpecIsAUsageError(_ spec: String) throws {
        let cib = try CIB.parse(TwoNodeCluster.xml(group))
        #expect { try OperationFailure(spec, in: cib) } throws: { error in
            guard let e = error as? CIBError else { return false }
            return e.kind == .badRequest && e.message.contains("'\(spec)'") && e.message.contains("RESOURCE_TASK_INTERVAL@NODE=RC")
        }
        #expect { try OperationFailure("web_start_0@node1=1", in: cib) } throws: { error in
            (error as? CIBError)?.kind == .notFound
        }
    }

    /// Without failures the execution is the plain order; with one, every action not yet
    /// run that needs the executor is left out, even one that does not wait for the failed
    /// action, while pseudo-actions whose inputs completed still run.
    @Test func aFailureAbortsWhatHasNotRunYet() throws {
        let t = try TwoNodeCluster.schedule(group, constraints: constraints)
        let g = t.graph
        #expect(g.execution(failing: { _ in false }).order == g.executionOrder())
        let start = try #require(g.actions.firstIndex { $0.key == "d1_start_0" })
        let run = g.execution(failing: { $0 == start })
        #expect(run.failed == [start])
        let ran = names(g, run.order)
        #expect(ran.last == "d1_start_0@node1")
        #expect(ran.contains("g_start_0"))
        #expect(!ran.contains("a_start_0@node2") && !ran.contains("g_running_0"))
        // Every action the plain order runs before the failing one runs here too, in order.
        #expect(Array(names(g, g.executionOrder()).prefix(ran.count)) == ran)
    }

    /// A failed action counts as completed for the pseudo-actions that wait for it.
    @Test func pseudoActionsAfterAFailedInputStillRun() throws {
        let t = try TwoNodeCluster.schedule(group)
        let g = t.graph
        let b = try #require(g.actions.firstIndex { $0.key == "b_start_0" })
        let ran = names(g, g.execution(failing: { $0 == b }).order)
        #expect(ran.last == "g_running_0")
        #expect(ran.dropLast().last?.hasPrefix("b_start_0@") == true)
    }

    /// The CIB the failed transition leaves: the failure recorded as the resource's last
    /// (failed) operation, its fail count INFINITY for a start (start failures are fatal by
    /// default), and nothing after it; read again, the resource is failed on that node.
    @Test func executionRecordsTheFailure() throws {
        let cib = try CIB.parse(TwoNodeCluster.xml(group, constraints: constraints))
        let (_, t) = Simulator.schedule(SchedulerInput(cib: cib, now: 100))
        let failure = try OperationFailure("d1_start_0@node1=1", in: cib)
        let unused = try OperationFailure("a_stop_0@node2=1", in: cib)
        let e = Simulator.execute(cib, t, now: 100, failures: [failure, unused])
        #expect(e.failedActions.count == 1)
        #expect(e.unmatched == [unused])
        #expect(e.lines.contains("Pretending action \(e.failedActions[0]) failed with rc=1"))
        #expect(e.lines.contains("  * Injecting attribute fail-count-d1#start_0=INFINITY into /node_state '1'"))
        var ops: [XElement] = [], attrs: [String: String] = [:]
        e.cib.root.walk { x in
            if x.name == "lrm_rsc_op" { ops.append(x) }
            if x.name == "nvpair", let n = x["name"], n.contains("#") { attrs[n] = x["value"] }
        }
        #expect(Set(ops.map { $0.id ?? "" }).isSuperset(of: ["d1_last_0", "d1_last_failure_0"]))
        #expect(!ops.contains { $0["operation"] == "start" && ($0.id ?? "").hasPrefix("a_") })
        #expect(attrs == ["fail-count-d1#start_0": "INFINITY", "last-failure-d1#start_0": "100"])
        let ws = Simulator.workingSet(SchedulerInput(cib: e.cib, now: 100))
        let d1 = try #require(ws.resources.first { $0.id == "d1" })
        #expect(d1.failed)
        // A one-time operation finding the resource not running counts no failure.
        let rc7 = Simulator.execute(cib, t, now: 100, failures: [try OperationFailure("d1_start_0@node1=7", in: cib)])
        #expect(!rc7.lines.contains { $0.contains("fail-count") })
    }
}
