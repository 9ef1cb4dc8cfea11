import Foundation
import CIB
import Controller
import Foundation
import PolicyEngine
import Testing
import TestSupport

/// The transition executor on graphs the scheduler makes from small CIBs: what starts when,
/// what a failure or a timeout does, and that nothing runs before what it depends on.
@Suite struct TransitionExecutorTests {
    static func cib(resources: String, constraints: String = "", node1: String = "", node2Online: Bool = true,
                    fencing: Bool = false) -> String {
        let node2 = node2Online
            ? #"<node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>"#
            : #"<node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="member"/>"#
        return """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="\(fencing)"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/><node id="3" uname="node3"/></nodes>
            <resources>\(resources)</resources>
            <constraints>\(constraints)</constraints>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">\(node1)</node_state>
            \(node2)
            <node_state id="3" uname="node3" in_ccm="true" crmd="online" join="member" expected="member"/>
          </status>
        </cib>
        """
    }

    static func graph(_ xml: String) throws -> ActionGraph {
        Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 0)).1.graph
    }

    static func running(_ id: String, on node: String = "node1", type: String = "Dummy", cls: String = "ocf") -> String {
        """
        <lrm id="x"><lrm_resources><lrm_resource id="\(id)" class="\(cls)" \(cls == "ocf" ? "provider=\"heartbeat\"" : "") type="\(type)">
          <lrm_rsc_op id="\(id)_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
        </lrm_resource></lrm_resources></lrm>
        """
    }

    let dummy = #"<primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/>"#

    /// Drives an executor, completing every launched action with `result(action)`, in the
    /// order `pick` chooses among those in flight; checks that every launched action's
    /// inputs had succeeded. Returns the launch order and the outcome.
    static func drive(_ g: ActionGraph, batchLimit: Int = 0, pick: (inout [Int]) -> Int = { $0.removeFirst() },
                      result: (GraphAction) -> TransitionExecutor.Result = { a in .finished(rc: Int(a.meta["op_target_rc"] ?? "0")!) })
        -> (launched: [String], outcome: TransitionExecutor.Outcome?) {
        var ex = TransitionExecutor(graph: g, batchLimit: batchLimit)
        var queue: [Int] = []
        var launched: [String] = []
        var outcome: TransitionExecutor.Outcome?
        var succeeded = Set<Int>()
        func apply(_ ds: [TransitionExecutor.Directive]) {
            for d in ds {
                switch d {
                case .execute(let a, _), .fence(let a, _):
                    let i = g.actions.firstIndex(of: a)!
                    #expect(g.inputs[i].allSatisfy { succeeded.contains($0) }, "\(a.key) launched before its inputs succeeded")
                    launched.append(a.key + (a.node.map { "@\($0)" } ?? ""))
                    queue.append(i)
                case .confirmed(let a, _):
                    succeeded.insert(g.actions.firstIndex(of: a)!)
                case .finished(let o):
                    #expect(outcome == nil, "finished twice")
                    outcome = o
                default:
                    break
                }
            }
            if batchLimit > 0 { #expect(queue.count <= batchLimit) }
        }
        apply(ex.start())
        var steps = 0
        while !queue.isEmpty && steps < 10_000 {
            steps += 1
            let i = pick(&queue)
            apply(ex.onResult(action: i, result(g.actions[i])))
        }
        return (launched, outcome)
    }

    @Test func aMoveStopsThenStartsThenCompletes() throws {
        let g = try Self.graph(Self.cib(resources: dummy, constraints: #"<rsc_location id="l" rsc="web" node="node2" score="INFINITY"/>"#,
                                       node1: Self.running("web")))
        let (launched, outcome) = Self.drive(g)
        #expect(outcome == .complete)
        #expect(launched.firstIndex(of: "web_stop_0@node1")! < launched.firstIndex(of: "web_start_0@node2")!)
    }

    @Test func aFailedActionAbortsAndNothingNewStarts() throws {
        let g = try Self.graph(Self.cib(resources: dummy, constraints: #"<rsc_location id="l" rsc="web" node="node2" score="INFINITY"/>"#,
                                       node1: Self.running("web")))
        let (launched, outcome) = Self.drive(g, result: { a in a.task == "stop" ? .finished(rc: 1) : .finished(rc: Int(a.meta["op_target_rc"] ?? "0")!) })
        #expect(!launched.contains("web_start_0@node2"), "started although the stop failed")
        guard case .aborted(let reason) = outcome else { Issue.record("not aborted: \(String(describing: outcome))"); return }
        #expect(reason.contains("web_stop_0"))
    }

    @Test func aProbeFindingTheResourceRunningAbortsTheTransition() throws {
        let g = try Self.graph(Self.cib(resources: dummy, constraints: #"<rsc_location id="l" rsc="web" node="node1" score="100"/>"#))
        // The probes expect "not running" (7); node2 says it runs there (0).
        let (launched, outcome) = Self.drive(g, result: { a in a.task == "monitor" && a.node == "node2" ? .finished(rc: 0) : .finished(rc: Int(a.meta["op_target_rc"] ?? "0")!) })
        #expect(!launched.contains("web_start_0@node1"))
        guard case .aborted = outcome else { Issue.record("not aborted"); return }
    }

    @Test func aTimeoutCountsAsAFailure() throws {
        let g = try Self.graph(Self.cib(resources: dummy, constraints: #"<rsc_location id="l" rsc="web" node="node2" score="INFINITY"/>"#,
                                       node1: Self.running("web")))
        var ex = TransitionExecutor(graph: g, clusterDelay: .seconds(5))
        let first = ex.start()
        let stop = try #require(g.actions.firstIndex { $0.key == "web_stop_0" })
        #expect(first.contains(.armTimer(action: stop, after: .seconds(25))), "20 s default timeout plus the cluster delay")
        // Everything but the stop completes; the stop times out.
        for d in first {
            if case .execute(let a, _) = d, a.task != "stop" {
                _ = ex.onResult(action: g.actions.firstIndex(of: a)!, .finished(rc: Int(a.meta["op_target_rc"] ?? "0")!))
            }
        }
        let after = ex.onTimeout(action: stop)
        #expect(after.contains { if case .failed(let a, _, let r) = $0 { return a.key == "web_stop_0" && r.contains("timed out") } else { return false } })
        #expect(after.contains { if case .finished(.aborted) = $0 { return true } else { return false } })
        #expect(ex.isFinished)
        // The counts crmd logs at the end (crm history reads them): what ran (the failed stop
        // too), nothing in flight, what never started (the start, waiting on the stop).
        let counts = Dictionary(uniqueKeysWithValues: ex.tally.split(separator: ",").map { part -> (String, Int) in
            let kv = part.split(separator: "=")
            return (kv[0].trimmingCharacters(in: .whitespaces), Int(kv[1])!)
        })
        #expect(counts.keys.sorted() == ["Complete", "Fired", "Incomplete", "Pending", "Skipped"])
        #expect(counts["Fired"] == 0 && counts["Incomplete"]! >= 1 && counts["Complete"]! >= 1, "\(ex.tally)")
        #expect(counts["Complete"]! + counts["Incomplete"]! == g.actions.count, "\(ex.tally)")
        // A late result changes nothing.
        #expect(ex.onResult(action: stop, .finished(rc: 0)).isEmpty)
    }

    @Test func theBatchLimitBoundsActionsInFlight() throws {
        let three = (1...3).map { #"<primitive id="r\#($0)" class="ocf" provider="heartbeat" type="Dummy"/>"# }.joined()
        let g = try Self.graph(Self.cib(resources: three))
        let (launched, outcome) = Self.drive(g, batchLimit: 2)
        #expect(outcome == .complete)
        #expect(launched.count == g.actions.filter { $0.kind != .pseudo }.count)
    }

    @Test func nothingIsRecoveredFromALostNodeBeforeItsFencingIsConfirmed() throws {
        let resources = dummy + #"<primitive id="fence" class="stonith" type="fence_dummy"/>"#
        let node2History = """
        <lrm id="2"><lrm_resources><lrm_resource id="web" class="ocf" provider="heartbeat" type="Dummy">
          <lrm_rsc_op id="web_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
        </lrm_resource></lrm_resources></lrm>
        """
        var xml = Self.cib(resources: resources, node2Online: false, fencing: true)
        xml = xml.replacingOccurrences(of: #"join="down" expected="member"/>"#, with: #"join="down" expected="member">\#(node2History)</node_state>"#)
        let g = try Self.graph(xml)
        let fence = try #require(g.actions.first { $0.kind == .fence })
        #expect(fence.node == "node2")
        // Fencing fails: web must never start anywhere.
        let failed = Self.drive(g, result: { a in a.kind == .fence ? .error("fence agent failed") : .finished(rc: Int(a.meta["op_target_rc"] ?? "0")!) })
        #expect(!failed.launched.contains { $0.hasPrefix("web_start_0") }, "\(failed.launched)")
        // Fencing succeeds: web starts, after it.
        let ok = Self.drive(g)
        let started = try #require(ok.launched.firstIndex { $0.hasPrefix("web_start_0") })
        #expect(ok.launched.firstIndex { $0.hasPrefix("stonith-node2") }! < started)
        #expect(ok.outcome == .complete)
    }

    @Test func anyCompletionOrderRespectsTheGraph() throws {
        let group = """
        <group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/>
        <primitive id="c" class="ocf" provider="heartbeat" type="Dummy"/></group>
        <clone id="cl"><primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/></clone>
        """
        let g = try Self.graph(Self.cib(resources: group, constraints: #"<rsc_order id="o" first="cl" then="g"/>"#))
        for seed in 1...200 {
            var rng = SeededGenerator(seed: UInt64(seed))
            let (launched, outcome) = Self.drive(g, batchLimit: seed % 3, pick: { q in q.remove(at: Int.random(in: 0..<q.count, using: &rng)) })
            #expect(outcome == .complete)
            #expect(launched.firstIndex(of: "a_start_0@node1").map { launched.firstIndex(of: "b_start_0@node1")! > $0 } ?? true)
            #expect(Set(launched).count == launched.count, "an action launched twice")
        }
    }

    @Test func anOutsideAbortWaitsForActionsInFlight() throws {
        let g = try Self.graph(Self.cib(resources: dummy))
        var ex = TransitionExecutor(graph: g)
        let started = ex.start().compactMap { d -> Int? in if case .execute(let a, _) = d { return g.actions.firstIndex(of: a) } else { return nil } }
        #expect(!started.isEmpty)
        let afterAbort = ex.abort(reason: "node3 left")
        #expect(!afterAbort.contains { if case .finished = $0 { return true } else { return false } }, "finished with actions in flight")
        var last: [TransitionExecutor.Directive] = []
        for i in started { last = ex.onResult(action: i, .finished(rc: 7)) }
        #expect(last.contains(.finished(.aborted(reason: "node3 left"))))
        #expect(!ex.running.contains { g.actions[$0].task == "start" })
    }
}
