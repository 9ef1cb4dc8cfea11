import Agents
import class Foundation.JSONEncoder
import class Foundation.JSONDecoder
import CIB
import LRM
import Testing
import TestSupport

/// A simulated shell for the queue: time is a number, timers are a list, "running" actions are
/// call ids waiting for the test to complete them.
struct Sim {
    var queue: OperationQueue
    var now: Duration = .zero
    var timers: [LRMTimer: Duration] = [:]
    var running: [Int: AgentRequest] = [:]
    var killed: [Int] = []
    var reports: [OperationRecord] = []
    var executions: [(time: Duration, callID: Int, request: AgentRequest)] = []

    init(limit: Int = 4, resources: [String] = ["a", "b", "c"]) {
        queue = OperationQueue(parallelLimit: limit)
        for r in resources {
            queue.onRegister(ResourceDefinition(id: r, agent: ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy")))
        }
    }

    mutating func apply(_ directives: [LRMDirective]) {
        for d in directives {
            switch d {
            case .execute(let callID, let request):
                #expect(running[callID] == nil, "call \(callID) launched twice")
                running[callID] = request
                executions.append((now, callID, request))
            case .kill(let callID):
                killed.append(callID)
            case .schedule(let timer, let after):
                #expect(after >= .zero)
                timers[timer] = now + after
            case .cancelTimer(let timer):
                timers[timer] = nil
            case .report(let record):
                reports.append(record)
            }
        }
        // Invariants after every step.
        let resources = running.values.map(\.resource)
        #expect(Set(resources).count == resources.count, "two operations run on one resource")
        #expect(running.count <= queue.parallelLimit, "more operations run than the limit allows")
    }

    @discardableResult
    mutating func submit(_ rsc: String, _ action: AgentAction, interval: Duration = .zero, timeout: Duration = .seconds(20),
                         parameters: [String: String] = [:]) -> Int {
        let (callID, directives) = try! queue.onSubmit(OperationRequest(resource: rsc, action: action, interval: interval, timeout: timeout, parameters: parameters), now: now)
        apply(directives)
        return callID
    }

    mutating func complete(_ callID: Int, _ code: OCFExitCode = .success, status: ExecutionStatus = .done) {
        #expect(running[callID] != nil, "call \(callID) is not running")
        running[callID] = nil
        apply(queue.onCompleted(callID: callID, result: AgentResult(exitCode: code, status: status), now: now))
    }

    /// Moves time forward, firing due timers in order.
    mutating func advance(to t: Duration) {
        while let (timer, due) = timers.filter({ $0.value <= t }).min(by: { ($0.value, "\($0.key)") < ($1.value, "\($1.key)") }) {
            now = max(now, due)
            timers[timer] = nil
            apply(queue.onTimer(timer, now: now))
        }
        now = t
    }

    mutating func advance(by d: Duration) { advance(to: now + d) }

    func runningCall(_ rsc: String) -> Int? { running.first { $0.value.resource == rsc }?.key }
}

@Suite struct QueueTests {
    @Test func oneOperationPerResourceInOrder() {
        var sim = Sim()
        let start = sim.submit("a", .start)
        let monitor = sim.submit("a", .monitor)
        let stop = sim.submit("a", .stop)
        #expect(sim.running.keys.sorted() == [start])
        #expect(sim.queue.queued == [monitor, stop])
        sim.advance(by: .seconds(1))
        sim.complete(start)
        #expect(sim.running.keys.sorted() == [monitor])
        sim.complete(monitor, .success)
        #expect(sim.running.keys.sorted() == [stop])
        sim.complete(stop)
        #expect(sim.running.isEmpty)
        #expect(sim.reports.map(\.callID) == [start, monitor, stop])
        #expect(sim.reports.map(\.key.action) == [.start, .monitor, .stop])
    }

    /// A history read while a start runs carries it as in progress, and its status XML shows it
    /// pending in place of what ran before (a controller started meanwhile must not take the
    /// resource for stopped); a stop under way leaves the start it follows.
    @Test func aHistoryReadWhileAStartRunsShowsItPending() throws {
        var sim = Sim()
        let probe = sim.submit("a", .monitor)
        sim.complete(probe, .notRunning)
        let start = sim.submit("a", .start)
        let h = try #require(sim.queue.history(of: "a"))
        #expect(h.inProgress.map(\.action) == [.start])
        let e = h.lrmResource(epochOfOrigin: 0, node: "node1").element
        let last = try #require(e.elements.first { $0.id == "a_last_0" })
        #expect(last["operation"] == "start" && last["call-id"] == "-1" && last["op-status"] == "-1" && last["rc-code"] == "193")
        #expect(e.elements.filter { $0.id == "a_last_0" }.count == 1)
        sim.complete(start)
        #expect(sim.queue.history(of: "a")?.inProgress.isEmpty == true)
        let stop = sim.submit("a", .stop)
        let during = try #require(sim.queue.history(of: "a")).lrmResource(epochOfOrigin: 0).element
        #expect(during.elements.first { $0.id == "a_last_0" }?["operation"] == "start", "a stop under way must leave the start")
        sim.complete(stop)
        // Encoded for the IPC and read back the same.
        let again = try JSONDecoder().decode(ResourceHistory.self, from: JSONEncoder().encode(h))
        #expect(again == h)
    }

    @Test func differentResourcesRunInParallelUpToTheLimit() {
        var sim = Sim(limit: 2)
        let a = sim.submit("a", .start)
        let b = sim.submit("b", .start)
        let c = sim.submit("c", .start)
        #expect(Set(sim.running.keys) == [a, b])
        #expect(sim.queue.queued == [c])
        sim.advance(by: .seconds(3))
        sim.complete(b)
        #expect(Set(sim.running.keys) == [a, c])
        sim.advance(by: .seconds(2))
        sim.complete(c)
        sim.complete(a)
        let recordC = sim.reports.first { $0.callID == c }!
        #expect(recordC.queueTime == .seconds(3))
        #expect(recordC.execTime == .seconds(2))
        #expect(sim.queue.history(of: "a")?.operations[OperationKey(resource: "a", action: .start)]?.execTime == .seconds(5))
    }

    /// A waiting operation of a busy resource does not block other resources behind it.
    @Test func aBusyResourceDoesNotBlockOthers() {
        var sim = Sim(limit: 2)
        let a1 = sim.submit("a", .start)
        let a2 = sim.submit("a", .monitor)
        let b1 = sim.submit("b", .start)
        #expect(Set(sim.running.keys) == [a1, b1])
        sim.complete(b1)
        let c1 = sim.submit("c", .start)
        #expect(Set(sim.running.keys) == [a1, c1])
        sim.complete(a1)
        // a2 is older than nothing else waiting; the slot freed by a1 goes to it.
        #expect(Set(sim.running.keys) == [a2, c1])
    }

    @Test func recurringMonitorRunsAtItsIntervalWithoutDrift() {
        var sim = Sim()
        let m = sim.submit("a", .monitor, interval: .seconds(10))
        #expect(sim.running.keys.sorted() == [m])
        for _ in 0..<5 {
            sim.advance(by: .milliseconds(300))  // the monitor takes 0.3 s
            sim.complete(sim.runningCall("a")!, .success)
            sim.advance(to: sim.timers[.recurring(callID: m)]!)
        }
        let times = sim.executions.map(\.time)
        #expect(times == [0, 10, 20, 30, 40, 50].map { Duration.seconds($0) }, "due times must not drift: \(times)")
        #expect(sim.executions.allSatisfy { $0.callID == m })
        #expect(sim.executions.allSatisfy { $0.request.interval == .seconds(10) })
    }

    @Test func recurringMonitorReportsOnlyChangesAfterTheFirstResult() {
        var sim = Sim()
        let m = sim.submit("a", .monitor, interval: .seconds(5))
        let codes: [OCFExitCode] = [.success, .success, .success, .notRunning, .notRunning, .success, .degraded, .degraded]
        for code in codes {
            sim.complete(sim.runningCall("a")!, code)
            sim.advance(to: sim.timers[.recurring(callID: m)]!)
        }
        #expect(sim.reports.map(\.exitCode) == [.success, .notRunning, .success, .degraded])
        #expect(sim.reports.allSatisfy { $0.callID == m })
        let record = sim.queue.history(of: "a")!.operations[OperationKey(resource: "a", action: .monitor, interval: .seconds(5))]!
        #expect(record.exitCode == .degraded)
        #expect(record.lastChange == .seconds(30))  // the first degraded result
        #expect(record.started == .seconds(35))
        #expect(sim.queue.history(of: "a")!.lastFailure == nil)  // not running and degraded are not failures
    }

    /// A pending result (a systemd unit activating or deactivating) is a change like any
    /// other: reported once, the monitor keeps its interval and reports the next change; it
    /// is no failure, and the status XML writes it as Pacemaker does (op-status -1, rc 193).
    @Test func aRecurringMonitorReportsPendingOnceAndGoesOn() {
        var sim = Sim()
        let m = sim.submit("a", .monitor, interval: .seconds(5))
        let results: [(OCFExitCode, ExecutionStatus)] = [(.success, .done), (.unknown, .pending), (.unknown, .pending), (.success, .done), (.success, .done)]
        for (code, status) in results {
            sim.complete(sim.runningCall("a")!, code, status: status)
            sim.advance(to: sim.timers[.recurring(callID: m)]!)
        }
        #expect(sim.reports.map(\.status) == [.done, .pending, .done])
        #expect(sim.reports.map(\.exitCode) == [.success, .unknown, .success])
        #expect(sim.runningCall("a") != nil, "the monitor still runs at its interval")
        #expect(sim.queue.history(of: "a")!.lastFailure == nil)
        var pendingOnly = Sim()
        let p = pendingOnly.submit("b", .monitor, interval: .seconds(5))
        pendingOnly.complete(p, .unknown, status: .pending)
        let op = pendingOnly.queue.history(of: "b")!.lrmResource(epochOfOrigin: 1_700_000_000, node: "n1").operations.first
        #expect(op?.opStatus == -1 && op?.rcCode == 193, "\(String(describing: op))")
    }

    @Test func slowMonitorSkipsMissedRunsInsteadOfPilingUp() {
        var sim = Sim()
        let m = sim.submit("a", .monitor, interval: .seconds(1), timeout: .seconds(60))
        sim.advance(by: .milliseconds(3500))
        sim.complete(m)
        // Due at 1, 2, 3 passed while it ran; the next run is the next due time, 4 s.
        #expect(sim.timers[.recurring(callID: m)] == .seconds(4))
        sim.advance(to: .seconds(4))
        #expect(sim.executions.count == 2)
    }

    @Test func timeoutKillsAndIsReportedAsTimeout() {
        var sim = Sim()
        let start = sim.submit("a", .start, timeout: .seconds(20))
        let next = sim.submit("a", .stop)
        #expect(sim.timers[.timeout(callID: start)] == .seconds(20))
        sim.advance(to: .seconds(20))
        #expect(sim.killed == [start])
        #expect(sim.running.keys.sorted() == [start], "the resource stays busy until the kill is confirmed")
        sim.advance(by: .milliseconds(10))
        sim.complete(start, .errGeneric, status: .cancelled)  // what the shell's kill looks like
        let record = sim.reports.first { $0.callID == start }!
        #expect(record.status == .timedOut)
        #expect(record.exitCode == .errGeneric)
        #expect(record.exitReason?.contains("did not complete within") == true)
        #expect(sim.queue.history(of: "a")?.lastFailure?.callID == start)
        #expect(sim.running.keys.sorted() == [next])
    }

    @Test func runnerTimeoutBeforeTheQueueTimerIsATimeoutToo() {
        var sim = Sim()
        let start = sim.submit("a", .start, timeout: .seconds(5))
        sim.advance(by: .seconds(5) - .milliseconds(1))
        sim.complete(start, .errGeneric, status: .timedOut)
        #expect(sim.timers[.timeout(callID: start)] == nil)
        #expect(sim.reports.last?.status == .timedOut)
        sim.advance(by: .seconds(10))
        #expect(sim.killed.isEmpty)
    }

    @Test func cancelWaitingRunningAndIdleOperations() {
        var sim = Sim()
        let start = sim.submit("a", .start)
        let waitingMonitor = sim.submit("a", .monitor)
        // Cancel a waiting operation: reported at once, never run.
        sim.advance(by: .seconds(1))
        sim.apply(sim.queue.onCancel(OperationKey(resource: "a", action: .monitor), now: sim.now))
        #expect(sim.reports.last?.callID == waitingMonitor)
        #expect(sim.reports.last?.status == .cancelled)
        #expect(sim.reports.last?.queueTime == .seconds(1))
        // Cancel a running operation: killed, reported when the kill completes.
        sim.apply(sim.queue.onCancel(OperationKey(resource: "a", action: .start), now: sim.now))
        #expect(sim.killed == [start])
        sim.complete(start, .errGeneric, status: .cancelled)
        #expect(sim.reports.last?.callID == start)
        #expect(sim.reports.last?.status == .cancelled)
        #expect(sim.queue.history(of: "a")?.lastFailure == nil)
        // Cancel an idle recurring monitor: its timer is dropped; a stale expiry is ignored.
        let m = sim.submit("b", .monitor, interval: .seconds(10))
        sim.complete(m)
        let due = sim.timers[.recurring(callID: m)]!
        sim.apply(sim.queue.onCancel(OperationKey(resource: "b", action: .monitor, interval: .seconds(10)), now: sim.now))
        #expect(sim.timers[.recurring(callID: m)] == nil)
        #expect(sim.reports.last?.status == .cancelled)
        sim.apply(sim.queue.onTimer(.recurring(callID: m), now: due))
        #expect(sim.running.isEmpty)
        #expect(sim.executions.count == 2)
        #expect(sim.queue.recurring.isEmpty)
    }

    @Test func cancellingARunningRecurringMonitorStopsIt() {
        var sim = Sim()
        let m = sim.submit("a", .monitor, interval: .seconds(10))
        sim.apply(sim.queue.onCancel(callID: m, now: sim.now))
        #expect(sim.killed == [m])
        sim.complete(m, .success)  // it finished anyway: the cancellation wins
        #expect(sim.reports.last?.callID == m)
        #expect(sim.reports.last?.status == .cancelled)
        #expect(sim.timers[.recurring(callID: m)] == nil)
        #expect(sim.queue.recurring.isEmpty)
        // A one-shot operation that completes before the kill lands reports what really happened.
        let start = sim.submit("b", .start)
        sim.apply(sim.queue.onCancel(callID: start, now: sim.now))
        sim.complete(start, .success)
        #expect(sim.reports.last?.callID == start)
        #expect(sim.reports.last?.status == .done)
        #expect(sim.queue.history(of: "b")?.operations[OperationKey(resource: "b", action: .start)]?.exitCode == .success)
    }

    @Test func resubmittingARecurringOperationReplacesIt() {
        var sim = Sim()
        let first = sim.submit("a", .monitor, interval: .seconds(10))
        sim.complete(first)
        let second = sim.submit("a", .monitor, interval: .seconds(10))
        #expect(second > first)
        #expect(sim.reports.contains { $0.callID == first && $0.status == .cancelled })
        #expect(sim.timers[.recurring(callID: first)] == nil)
        #expect(sim.queue.recurring == [OperationKey(resource: "a", action: .monitor, interval: .seconds(10)): second])
        // A different interval is a different operation.
        let other = sim.submit("a", .monitor, interval: .seconds(30))
        #expect(sim.queue.recurring.count == 2)
        #expect(other > second)
    }

    @Test func historyKeepsResultsFailuresCallIDsAndDigests() {
        var sim = Sim()
        let p1 = ["state": "/x", "fake": "1"]
        let start = sim.submit("a", .start, parameters: p1)
        sim.advance(by: .milliseconds(1500))
        sim.complete(start)
        let monitor = sim.submit("a", .monitor, parameters: ["fake": "1", "state": "/x"])
        sim.complete(monitor, .errGeneric)
        let stop = sim.submit("a", .stop, parameters: ["fake": "2", "state": "/x"])
        sim.complete(stop)
        let history = sim.queue.history(of: "a")!
        #expect(history.operations.count == 3)
        let startRecord = history.operations[OperationKey(resource: "a", action: .start)]!
        let monitorRecord = history.operations[OperationKey(resource: "a", action: .monitor)]!
        let stopRecord = history.operations[OperationKey(resource: "a", action: .stop)]!
        #expect([startRecord.callID, monitorRecord.callID, stopRecord.callID] == [start, monitor, stop])
        #expect(start < monitor && monitor < stop)
        #expect(startRecord.execTime == .milliseconds(1500))
        #expect(startRecord.parameterDigest == monitorRecord.parameterDigest, "the digest ignores parameter order")
        #expect(startRecord.parameterDigest != stopRecord.parameterDigest)
        #expect(startRecord.parameterDigest.count == 32)
        #expect(startRecord.parameterDigest == ParameterDigest.digest(["fake": "1", "state": "/x"]))
        #expect(history.lastFailure?.callID == monitor)
        #expect(history.lastFailure?.exitCode == .errGeneric)
        #expect(history.lastOperation?.callID == stop)
        #expect(OperationKey(resource: "a", action: .monitor, interval: .seconds(10)).description == "a_monitor_10000")
    }

    @Test func refusedSubmissionsSayWhy() {
        var queue = OperationQueue()
        do {
            _ = try queue.onSubmit(OperationRequest(resource: "ghost", action: .start), now: .zero)
            Issue.record("an unregistered resource was accepted")
        } catch {
            #expect(error.description.contains("'ghost' is not registered"))
        }
        queue.onRegister(ResourceDefinition(id: "a", agent: ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy")))
        #expect(throws: LRMError.self) { try queue.onSubmit(OperationRequest(resource: "a", action: .start, timeout: .zero), now: .zero) }
    }

    @Test func unregisterCancelsEverything() {
        var sim = Sim()
        let start = sim.submit("a", .start)
        let monitor = sim.submit("a", .monitor, interval: .seconds(10))
        let other = sim.submit("b", .start)
        sim.apply(sim.queue.onUnregister("a", now: sim.now))
        #expect(sim.killed == [start])
        #expect(sim.reports.contains { $0.callID == monitor && $0.status == .cancelled })
        sim.complete(start, .errGeneric, status: .cancelled)
        #expect(sim.queue.history(of: "a") == nil)
        #expect(sim.queue.registeredResources.map(\.id) == ["b", "c"])
        #expect(sim.running.keys.sorted() == [other])
    }

    /// Random workloads with a seeded generator: after every step at most one operation runs per
    /// resource and at most `limit` in all (checked in `Sim.apply`); at the end every one-shot
    /// operation has been reported exactly once.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func randomWorkloadsKeepTheInvariants(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let resources = ["r0", "r1", "r2", "r3", "r4", "r5"]
        var sim = Sim(limit: 3, resources: resources)
        var oneShots = Set<Int>()
        let actions: [AgentAction] = [.start, .stop, .monitor, .promote, .demote]
        for _ in 0..<400 {
            switch rng.next() % 6 {
            case 0, 1:
                let rsc = resources[Int(rng.next() % UInt64(resources.count))]
                let recurring = rng.next() % 4 == 0
                let id = sim.submit(rsc, recurring ? .monitor : actions[Int(rng.next() % UInt64(actions.count))],
                                    interval: recurring ? .seconds(Int64(1 + rng.next() % 5)) : .zero,
                                    timeout: .seconds(Int64(1 + rng.next() % 10)))
                if !recurring { oneShots.insert(id) }
            case 2, 3:
                if let call = sim.running.keys.sorted().first(where: { _ in rng.next() % 2 == 0 }) ?? sim.running.keys.sorted().first {
                    let codes: [OCFExitCode] = [.success, .notRunning, .errGeneric]
                    sim.complete(call, codes[Int(rng.next() % 3)], status: sim.killed.contains(call) ? .cancelled : .done)
                }
            case 4:
                sim.advance(by: .milliseconds(Int64(rng.next() % 3000)))
            default:
                if let (key, _) = sim.queue.recurring.sorted(by: { $0.key < $1.key }).first {
                    sim.apply(sim.queue.onCancel(key, now: sim.now))
                }
            }
        }
        // Drain: cancel every recurring operation, then finish whatever runs.
        for key in sim.queue.recurring.keys.sorted() { sim.apply(sim.queue.onCancel(key, now: sim.now)) }
        var guardSteps = 0
        while !sim.running.isEmpty || !sim.queue.queued.isEmpty {
            guardSteps += 1
            if guardSteps > 10_000 { Issue.record("the queue does not drain"); break }
            if let call = sim.running.keys.sorted().first {
                sim.complete(call, .success, status: sim.killed.contains(call) ? .cancelled : .done)
            } else {
                sim.advance(by: .seconds(1))
            }
        }
        let reportedOneShots = sim.reports.map(\.callID).filter { oneShots.contains($0) }
        #expect(Set(reportedOneShots) == oneShots, "every one-shot operation is reported")
        #expect(reportedOneShots.count == oneShots.count, "and reported only once")
        #expect(sim.queue.recurring.isEmpty)
    }

    /// 500 resources with 1 s monitors, simulated for 20 s with 30 ms runs and 32 slots: every
    /// monitor runs at every due second, none is missed and none drifts.
    @Test func fiveHundredOneSecondMonitorsNeitherDriftNorMiss() {
        let count = 500
        var queue = OperationQueue(parallelLimit: 32)
        var timers: [LRMTimer: Duration] = [:]
        var finishing: [(Duration, Int)] = []
        var starts: [Int: [Duration]] = [:]
        var now = Duration.zero
        var calls: [Int: String] = [:]
        func apply(_ ds: [LRMDirective]) {
            for d in ds {
                switch d {
                case .execute(let call, _):
                    starts[call, default: []].append(now)
                    finishing.append((now + .milliseconds(30), call))
                case .schedule(let t, let after): timers[t] = now + after
                case .cancelTimer(let t): timers[t] = nil
                case .kill, .report: break
                }
            }
        }
        for i in 0..<count {
            let id = "r\(i)"
            queue.onRegister(ResourceDefinition(id: id, agent: ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy")))
            let (call, ds) = try! queue.onSubmit(OperationRequest(resource: id, action: .monitor, interval: .seconds(1), timeout: .seconds(20)), now: now)
            calls[call] = id
            apply(ds)
        }
        let end = Duration.seconds(20)
        while now < end {
            // The next event: a run finishing, or a timer expiring.
            let nextFinish = finishing.map(\.0).min()
            let nextTimer = timers.values.min()
            guard let next = [nextFinish, nextTimer].compactMap({ $0 }).min(), next < end else { break }
            now = next
            let done = finishing.filter { $0.0 == now }
            finishing.removeAll { $0.0 == now }
            for (_, call) in done { apply(queue.onCompleted(callID: call, result: AgentResult(exitCode: .success, status: .done), now: now)) }
            for (t, due) in timers where due == now {
                timers[t] = nil
                apply(queue.onTimer(t, now: now))
            }
        }
        #expect(starts.count == count)
        var late: [String] = []
        for (call, times) in starts {
            #expect(times.count == 20, "\(calls[call]!) ran \(times.count) times in 20 s")
            for (k, t) in times.enumerated() {
                // With 500 × 30 ms of work per second on 32 slots, a run may wait for a slot,
                // but never past its second.
                if t < .seconds(Int64(k)) || t >= .seconds(Int64(k + 1)) { late.append("\(calls[call]!) run \(k) at \(t)") }
            }
        }
        #expect(late.isEmpty, "\(late.prefix(5))")
        #expect(queue.recurring.count == count)
    }

}

/// The history written as CIB status, as Pacemaker writes it.
@Suite struct StatusXMLTests {
    @Test func historyBecomesSchemaValidLRMResource() throws {
        var sim = Sim()
        let start = sim.submit("a", .start, parameters: ["state": "/x", "fake": "1"])
        sim.advance(by: .milliseconds(40))
        sim.complete(start)
        let monitor = sim.submit("a", .monitor, interval: .seconds(10), parameters: ["state": "/x", "fake": "1"])
        sim.advance(by: .milliseconds(15))
        sim.complete(monitor, .notRunning)
        sim.advance(to: sim.timers[.recurring(callID: monitor)]!)
        sim.complete(monitor, .errGeneric)
        let history = try #require(sim.queue.history(of: "a"))
        let rsc = history.lrmResource(epochOfOrigin: 1_700_000_000, node: "n1")
        #expect(rsc.id == "a")
        #expect(rsc.agent.description == "ocf:heartbeat:Dummy")
        let ops = rsc.operations
        #expect(ops.map(\.id) == ["a_last_0", "a_monitor_10000", "a_last_failure_0"])
        let last = ops[0]
        #expect(last.operationKey == "a_start_0")
        #expect(last.callID == start)
        #expect(last.rcCode == 0)
        #expect(last.opStatus == 0)
        #expect(last.execTime == 40)
        #expect(last.opDigest == "3428c5a0872b5464a9cd7132e61183f9")
        #expect(last.lastRCChange == 1_700_000_000)
        #expect(ops[1].interval == 10_000)
        #expect(ops[1].rcCode == 1)
        #expect(ops[1].lastRCChange == 1_700_000_010)
        #expect(ops[2].operationKey == "a_monitor_10000")

        // Inside a whole CIB, the status passes Pacemaker's own schema where it is installed.
        guard let schema = CIBSchema.newestInstalled else {
            print("SKIPPED: historyBecomesSchemaValidLRMResource schema check: pacemaker-schemas is not installed")
            return
        }
        let cib = XElement("cib", ["validate-with": schema, "epoch": "1", "num_updates": "0", "admin_epoch": "0"], children: [
            XElement("configuration", [:], children: [
                XElement("crm_config", [:], children: [XElement("cluster_property_set", ["id": "opts"], children: [
                    XElement("nvpair", ["id": "opts-stonith", "name": "stonith-enabled", "value": "false"]),
                ])]),
                XElement("nodes", [:], children: [XElement("node", ["id": "1", "uname": "n1"])]),
                XElement("resources", [:], children: [XElement("primitive", ["id": "a", "class": "ocf", "provider": "heartbeat", "type": "Dummy"])]),
                XElement("constraints"),
            ]),
            XElement("status", [:], children: [
                XElement("node_state", ["id": "1", "uname": "n1", "in_ccm": "true", "crmd": "online", "join": "member", "expected": "member"], children: [
                    XElement("lrm", ["id": "1"], children: [XElement("lrm_resources", [:], children: [rsc.element])]),
                ]),
            ]),
        ])
        let (parsed, report) = try CIBValidator.validate(Array(cib.xmlString().utf8), source: "lrm-status")
        #expect(report.schemaUsed != nil, "\(report.schemaNote ?? "")")
        #expect(report.errors.isEmpty, "\(report.errors)")
        #expect(parsed.status.nodeStates.first?.lrmResources.first?.operations.count == 3)
    }
}
