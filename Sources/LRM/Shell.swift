import Agents
import CIB
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The thin shell around `OperationQueue`: it performs the queue's directives with the real
/// `AgentExecutor` and a clock, and feeds their outcomes back as events.
///
/// Time is read from the clock it is given (tests may pass any `Clock`). Every launched action
/// and armed timer is a task the shell tracks; `shutdown()` cancels them all, which kills every
/// running agent's process group, and waits for them. There is no IPC here yet: lrmd's socket
/// API will call these methods.
public actor LRMShell<C: Clock> where C.Duration == Duration {
    private var queue: OperationQueue
    private let executor: AgentExecutor
    private let clock: C
    private let origin: C.Instant
    /// The wall-clock time (seconds since 1970) of the queue's time origin: record times
    /// (`started`, `lastChange`) are durations since then. `ResourceHistory.lrmResource`
    /// takes it to write `last-rc-change`.
    public nonisolated let epochOfOrigin: Int
    private let logger: Logger
    private var actions: [Int: Task<Void, Never>] = [:]
    /// Armed timers and when they are due. One task (the alarm) sleeps until the earliest;
    /// a timer is not a task of its own: a cancelled `Task.sleep` keeps its wake-up job (and
    /// memory) until its deadline, so a task per operation timeout (20 s and more, cancelled
    /// when the operation ends in milliseconds) held about 1.5 kB per operation for that long.
    private var deadlines: [LRMTimer: C.Instant] = [:]
    /// The alarm's task, what it sleeps until, and its generation (an alarm that was replaced
    /// and still rings is ignored).
    private var alarm: (task: Task<Void, Never>, until: C.Instant, generation: Int)?
    private var alarmGeneration = 0
    private var subscribers: [Int: AsyncStream<OperationRecord>.Continuation] = [:]
    private var resultHandler: (@Sendable (OperationRecord) -> Void)?
    private var nextSubscriber = 0
    private var stopped = false

    public init(executor: AgentExecutor, clock: C, parallelLimit: Int = 4, logger: Logger = Logger(label: "swiftha.lrmd")) {
        self.queue = OperationQueue(parallelLimit: parallelLimit)
        self.executor = executor
        self.clock = clock
        self.origin = clock.now
        self.epochOfOrigin = Int(Date().timeIntervalSince1970)
        self.logger = logger
    }

    private var now: Duration { origin.duration(to: clock.now) }

    /// Registers a resource with its agent.
    public func register(_ resource: ResourceDefinition) {
        queue.onRegister(resource)
    }

    /// Forgets a resource, cancelling its operations.
    public func unregister(_ id: String) {
        perform(queue.onUnregister(id, now: now))
    }

    /// Submits an operation on a registered resource with the resource's instance and meta
    /// attributes under the operation's own (the operation's win); returns its call id. One
    /// call, where looking the resource up first would be two trips to the actor.
    @discardableResult
    public func submitWithResourceAttributes(_ request: OperationRequest) throws(LRMError) -> Int {
        guard let resource = queue.history(of: request.resource)?.resource else { throw LRMError.unknownResource(request.resource) }
        var op = request
        if op.parameters.isEmpty {
            op.parameters = resource.parameters
        } else if !resource.parameters.isEmpty {
            op.parameters = resource.parameters.merging(op.parameters) { _, new in new }
        }
        if op.meta.isEmpty {
            op.meta = resource.meta
        } else if !resource.meta.isEmpty {
            op.meta = resource.meta.merging(op.meta) { _, new in new }
        }
        return try submit(op)
    }

    /// Submits an operation; returns its call id. Results arrive on `results()`.
    @discardableResult
    public func submit(_ request: OperationRequest) throws(LRMError) -> Int {
        guard !stopped else { throw LRMError.invalidRequest("lrmd is shutting down") }
        let (callID, directives) = try queue.onSubmit(request, now: now)
        perform(directives)
        return callID
    }

    /// Cancels the operation with this key. Returns false when no operation has that key.
    @discardableResult
    public func cancel(_ key: OperationKey) -> Bool {
        let directives = queue.onCancel(key, now: now)
        perform(directives)
        return directives.contains { if case .kill = $0 { true } else if case .report = $0 { true } else { false } }
    }

    /// A resource's operation history.
    public func history(of resource: String) -> ResourceHistory? {
        queue.history(of: resource)
    }

    /// Every registered resource's history, sorted by resource id.
    public func histories() -> [ResourceHistory] {
        queue.registeredResources.compactMap { queue.history(of: $0.id) }
    }

    /// A registered resource's definition.
    public func resource(_ id: String) -> ResourceDefinition? {
        queue.history(of: id)?.resource
    }

    /// How many operations run now, and how many wait.
    public var load: (running: Int, queued: Int, resources: Int) {
        (queue.running.count, queue.queued.count, queue.registeredResources.count)
    }

    /// The results the queue reports, from now on, until `shutdown()`.
    public func results() -> AsyncStream<OperationRecord> {
        let (stream, continuation) = AsyncStream<OperationRecord>.makeStream()
        let id = nextSubscriber
        nextSubscriber += 1
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id) }
        }
        return stream
    }

    /// Calls `handler` with every result the queue reports from now on, synchronously as it is
    /// reported (no stream, no task between the queue and, say, an IPC push), until `shutdown()`
    /// has returned. The handler must not block.
    public func onResult(_ handler: @escaping @Sendable (OperationRecord) -> Void) {
        resultHandler = handler
    }

    /// Cancels every timer and running action (killing their process groups) and waits for them.
    public func shutdown() async {
        stopped = true
        alarm?.task.cancel()
        alarm = nil
        deadlines = [:]
        let running = actions
        for t in running.values { t.cancel() }
        for t in running.values { await t.value }
        for c in subscribers.values { c.finish() }
        subscribers = [:]
    }

    // MARK: - Performing directives

    private func unsubscribe(_ id: Int) {
        subscribers[id] = nil
    }

    private func perform(_ directives: [LRMDirective]) {
        for directive in directives {
            switch directive {
            case .execute(let callID, let request):
                guard !stopped else { continue }
                logger.debug("executing \(request.agent) \(request.action) on \(request.resource)",
                             metadata: ["call": "\(callID)", "resource": "\(request.resource)", "operation": "\(OperationKey(resource: request.resource, action: request.action, interval: request.interval))"])
                let executor = self.executor
                var request = request
                request.callID = callID
                actions[callID] = Task {
                    let result = await executor.run(request)
                    self.completed(callID, result)
                }
            case .kill(let callID):
                actions[callID]?.cancel()
            case .schedule(let timer, let delay):
                // After shutdown no timer may be armed again.
                guard !stopped else { continue }
                let deadline = clock.now.advanced(by: delay)
                deadlines[timer] = deadline
                armAlarm(deadline)
            case .cancelTimer(let timer):
                // The alarm may wake for nothing; it is not cancelled (see `deadlines`).
                deadlines[timer] = nil
            case .report(let record):
                if record.isFailure {
                    logger.warning("\(record.key) (call \(record.callID)): \(record.exitCode), \(record.status)\(record.exitReason.map { ": " + $0 } ?? "")",
                                   metadata: ["resource": "\(record.key.resource)", "operation": "\(record.key)"])
                }
                resultHandler?(record)
                for c in subscribers.values { c.yield(record) }
            }
        }
    }

    private func completed(_ callID: Int, _ result: AgentResult) {
        actions[callID] = nil
        perform(queue.onCompleted(callID: callID, result: result, now: now))
    }

    /// Makes the alarm ring at `deadline` at the latest: a new alarm only when `deadline` is
    /// earlier than the one armed (or none is).
    private func armAlarm(_ deadline: C.Instant) {
        if let a = alarm, a.until <= deadline { return }
        alarm?.task.cancel()
        alarmGeneration += 1
        let generation = alarmGeneration
        let clock = self.clock
        let task = Task {
            do { try await clock.sleep(until: deadline, tolerance: nil) } catch { return }
            guard !Task.isCancelled else { return }
            self.alarmRang(generation)
        }
        alarm = (task, deadline, generation)
    }

    /// Fires every timer that is due, earliest first, then arms the alarm for the next one.
    private func alarmRang(_ generation: Int) {
        guard alarm?.generation == generation else { return }
        alarm = nil
        guard !stopped else { return }
        let instant = clock.now
        let due = deadlines.filter { $0.value <= instant }.sorted { $0.value < $1.value }
        for (timer, deadline) in due where deadlines[timer] == deadline {
            deadlines[timer] = nil
            perform(queue.onTimer(timer, now: now))
        }
        if let next = deadlines.values.min() { armAlarm(next) }
    }
}
