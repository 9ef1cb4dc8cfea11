import Agents
import CIB

/// A timer the queue asks its shell to arm; its expiry comes back as `onTimer`.
public enum LRMTimer: Sendable, Hashable {
    /// The next run of a recurring operation is due.
    case recurring(callID: Int)
    /// A running operation reached its timeout.
    case timeout(callID: Int)
}

/// What the queue asks its shell to do.
public enum LRMDirective: Sendable, Hashable {
    /// Run this agent action; report its end with `onCompleted(callID:result:now:)`.
    case execute(callID: Int, AgentRequest)
    /// Kill the running action's whole process group; its end is still reported with
    /// `onCompleted` (with whatever result the kill produced).
    case kill(callID: Int)
    /// Arm a timer; call `onTimer` when it expires.
    case schedule(LRMTimer, after: Duration)
    /// Disarm a timer (a stale expiry is ignored anyway).
    case cancelTimer(LRMTimer)
    /// Tell subscribers about a result.
    case report(OperationRecord)
}

/// Why a submission was refused.
public enum LRMError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownResource(String)
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .unknownResource(let id):
            return "resource '\(id)' is not registered with lrmd: register it (with its agent) before running operations on it"
        case .invalidRequest(let why):
            return "invalid operation request: \(why)"
        }
    }
}

/// lrmd's operation queue as an instance (docs/STYLE.md 1 and 2): a value that is told what
/// happened and returns what to do. It never reads a clock, sleeps or runs a process: `now`
/// comes in with every event (time since any origin the shell picks), timers and launches go
/// out as directives, and their results come back as events.
///
/// - One operation per resource runs at a time; operations of one resource run in the order
///   they were submitted.
/// - Operations of different resources run in parallel, at most `parallelLimit` at once; the
///   longest-waiting go first.
/// - A recurring operation (interval > 0) runs at once and then every interval, due times
///   counted from the first one so that they do not drift; after its first result it reports
///   only results that differ from the last one reported.
/// - Every run has a timeout timer: when it expires, the run is killed and reported timed out.
/// - Operations can be cancelled: waiting ones are dropped, running ones killed; both are
///   reported as cancelled.
/// - Each resource has a history: last result per operation, last failure, call ids, exec time,
///   queue time and parameter digest.
public struct OperationQueue: Sendable {
    /// How many operations may run at once across resources.
    public var parallelLimit: Int

    private var resources: [String: ResourceHistory] = [:]
    private var operations: [Int: Operation] = [:]
    /// Call ids waiting to run, oldest first.
    private var waiting: [Int] = []
    private var busy: [String: Int] = [:]
    private var nextCallID = 1
    /// The last parameter digest taken per resource, with what it was taken of: a resource's
    /// operations nearly always run with the same parameters, so the digest (sorting, escaping
    /// and MD5) is taken once per change of them, not once per operation.
    private var digests: [DigestKey: DigestInput] = [:]

    private struct DigestKey: Sendable, Hashable {
        var resource: String
        var intervalMS: Int
    }

    private struct DigestInput: Sendable {
        var parameters: [String: String]
        var timeoutMS: Int
        var digest: String
    }

    private struct Operation: Sendable {
        var request: OperationRequest
        var agent: ResourceAgentName
        var callID: Int
        var state: State
        /// For a recurring operation: when its current run became due.
        var due: Duration
        var lastReported: (OCFExitCode, ExecutionStatus)?
        var killReason: ExecutionStatus?
        var cancelled = false
        /// `request.operationDigest`, taken at submission.
        var digest: String

        enum State: Sendable {
            case waiting(since: Duration)
            case running(started: Duration, queued: Duration)
            /// A recurring operation between runs.
            case idle
        }
    }

    public init(parallelLimit: Int = 4) {
        self.parallelLimit = max(1, parallelLimit)
    }

    // MARK: - Reading

    /// The registered resources.
    public var registeredResources: [ResourceDefinition] { resources.values.map(\.resource).sorted { $0.id < $1.id } }

    /// The history of a resource.
    /// The history of a resource, with its one-shot operations queued or running now.
    public func history(of resource: String) -> ResourceHistory? {
        guard var h = resources[resource] else { return nil }
        if busy[resource] != nil || !waiting.isEmpty {
            h.inProgress = operations.values.filter { op in
                guard op.request.resource == resource, !op.request.isRecurring, !op.cancelled else { return false }
                if case .idle = op.state { return false }
                return true
            }.sorted { $0.callID < $1.callID }.map(\.request)
        }
        return h
    }

    /// The call ids now running.
    public var running: [Int] { busy.values.sorted() }

    /// The call ids waiting for their resource or a free slot, oldest first.
    public var queued: [Int] { waiting }

    /// The recurring operations, by key, with their call ids.
    public var recurring: [OperationKey: Int] {
        var out: [OperationKey: Int] = [:]
        for op in operations.values where op.request.isRecurring && !op.cancelled { out[op.request.key] = op.callID }
        return out
    }

    // MARK: - Events

    /// Registers (or re-registers, changing the agent of) a resource.
    public mutating func onRegister(_ resource: ResourceDefinition) {
        if resources[resource.id] != nil {
            resources[resource.id]?.resource = resource
        } else {
            resources[resource.id] = ResourceHistory(resource: resource)
        }
    }

    /// Forgets a resource: its operations are cancelled and its history dropped.
    public mutating func onUnregister(_ id: String, now: Duration) -> [LRMDirective] {
        var out: [LRMDirective] = []
        for callID in operations.keys.sorted() where operations[callID]?.request.resource == id {
            out += cancel(callID: callID, now: now)
        }
        resources[id] = nil
        digests = digests.filter { $0.key.resource != id }
        return out
    }

    /// Submits an operation; returns its call id and what to do.
    ///
    /// Submitting a recurring operation whose key is already recurring replaces the old one
    /// (which is reported cancelled), as Pacemaker does.
    public mutating func onSubmit(_ request: OperationRequest, now: Duration) throws(LRMError) -> (callID: Int, directives: [LRMDirective]) {
        guard let history = resources[request.resource] else { throw LRMError.unknownResource(request.resource) }
        guard request.timeout > .zero else {
            throw LRMError.invalidRequest("\(request.key) has timeout \(request.timeout.cibText); give it a positive timeout")
        }
        guard request.interval >= .zero else {
            throw LRMError.invalidRequest("\(request.key) has a negative interval")
        }
        var out: [LRMDirective] = []
        if request.isRecurring {
            for (callID, op) in operations.sorted(by: { $0.key < $1.key }) where op.request.key == request.key && op.request.isRecurring && !op.cancelled {
                out += cancel(callID: callID, now: now)
            }
        }
        let callID = nextCallID
        nextCallID += 1
        let opDigest = digest(of: request)
        operations[callID] = Operation(request: request, agent: history.resource.agent, callID: callID,
                                       state: .waiting(since: now), due: now, digest: opDigest)
        waiting.append(callID)
        out += dispatch(now: now)
        return (callID, out)
    }

    /// An operation the shell ran has ended.
    public mutating func onCompleted(callID: Int, result: AgentResult, now: Duration) -> [LRMDirective] {
        guard var op = operations[callID], case .running(let started, let queued) = op.state else { return [] }
        var out: [LRMDirective] = [.cancelTimer(.timeout(callID: callID))]
        busy[op.request.resource] = nil

        var exitCode = result.exitCode
        var status = result.status
        var reason = result.exitReason
        if op.cancelled && op.request.isRecurring {
            // A cancelled recurring operation ends as cancelled, however its last run ended.
            status = .cancelled
            exitCode = .errGeneric
            reason = "the operation was cancelled"
        } else if let killed = op.killReason, result.status != .done {
            // The queue killed it (and the agent did not finish first): report why.
            status = killed
            exitCode = .errGeneric
            if killed == .timedOut {
                reason = "the operation did not complete within \(op.request.timeout.cibText) and was killed"
            } else {
                reason = "the operation was cancelled"
            }
        }
        op.killReason = nil

        let key = op.request.key
        let previous = resources[op.request.resource]?.operations[key]
        let changed = previous.map { $0.exitCode != exitCode || $0.status != status } ?? true
        let record = OperationRecord(
            key: key, callID: callID, exitCode: exitCode, status: status, exitReason: reason,
            started: started, execTime: now - started, queueTime: queued,
            lastChange: changed ? now : (previous?.lastChange ?? now),
            parameterDigest: op.digest)
        if resources[op.request.resource] != nil, status != .cancelled {
            resources[op.request.resource]!.operations[key] = record
            if record.isFailure { resources[op.request.resource]!.lastFailure = record }
        }

        if op.cancelled {
            operations[callID] = nil
            out.append(.report(record))
        } else if op.request.isRecurring {
            let sameAsLast = op.lastReported.map { $0.0 == exitCode && $0.1 == status } ?? false
            if !sameAsLast {
                out.append(.report(record))
                op.lastReported = (exitCode, status)
            }
            // Fixed rate: the next run is due one interval after this one was due; missed
            // runs are not made up, the next one is simply run as soon as possible.
            var next = op.due + op.request.interval
            if next < now {
                let missed = (now - op.due) / op.request.interval
                next = op.due + op.request.interval * Int(missed.rounded(.down) + 1)
                if next < now { next = now }
            }
            op.due = next
            op.state = .idle
            operations[callID] = op
            out.append(.schedule(.recurring(callID: callID), after: next - now))
        } else {
            operations[callID] = nil
            out.append(.report(record))
        }
        out += dispatch(now: now)
        return out
    }

    /// A timer the queue asked for has expired.
    public mutating func onTimer(_ timer: LRMTimer, now: Duration) -> [LRMDirective] {
        switch timer {
        case .recurring(let callID):
            guard var op = operations[callID], case .idle = op.state, !op.cancelled else { return [] }
            op.state = .waiting(since: now)
            operations[callID] = op
            waiting.append(callID)
            return dispatch(now: now)
        case .timeout(let callID):
            guard var op = operations[callID], case .running = op.state, op.killReason == nil else { return [] }
            op.killReason = .timedOut
            operations[callID] = op
            return [.kill(callID: callID)]
        }
    }

    /// Cancels the operation with this key: a waiting or idle one at once, a running one by
    /// killing it (its cancellation is reported when the kill completes).
    public mutating func onCancel(_ key: OperationKey, now: Duration) -> [LRMDirective] {
        var out: [LRMDirective] = []
        for callID in operations.keys.sorted() where operations[callID]?.request.key == key && operations[callID]?.cancelled == false {
            out += cancel(callID: callID, now: now)
        }
        return out + dispatch(now: now)
    }

    /// Cancels one call.
    public mutating func onCancel(callID: Int, now: Duration) -> [LRMDirective] {
        cancel(callID: callID, now: now) + dispatch(now: now)
    }

    // MARK: - Internals

    /// `request.operationDigest`, from the resource's cache when its parameters, interval and
    /// timeout are those of the last digest taken.
    private mutating func digest(of request: OperationRequest) -> String {
        let intervalMS = Int(request.interval.wholeMilliseconds), timeoutMS = Int(request.timeout.wholeMilliseconds)
        // The timeout is part of the digest of recurring operations only.
        let key = DigestKey(resource: request.resource, intervalMS: intervalMS)
        if let c = digests[key], c.timeoutMS == timeoutMS || intervalMS == 0, c.parameters == request.parameters {
            return c.digest
        }
        let digest = request.operationDigest
        digests[key] = DigestInput(parameters: request.parameters, timeoutMS: timeoutMS, digest: digest)
        return digest
    }

    private mutating func cancel(callID: Int, now: Duration) -> [LRMDirective] {
        guard var op = operations[callID], !op.cancelled else { return [] }
        op.cancelled = true
        let cancelled = OperationRecord(
            key: op.request.key, callID: callID, exitCode: .errGeneric, status: .cancelled,
            exitReason: "the operation was cancelled", started: now, execTime: .zero, queueTime: .zero,
            lastChange: now, parameterDigest: op.digest)
        switch op.state {
        case .waiting(let since):
            waiting.removeAll { $0 == callID }
            operations[callID] = nil
            var record = cancelled
            record.queueTime = now - since
            return [.report(record)]
        case .idle:
            operations[callID] = nil
            return [.cancelTimer(.recurring(callID: callID)), .report(cancelled)]
        case .running:
            if op.killReason == nil { op.killReason = .cancelled }
            operations[callID] = op
            return [.kill(callID: callID)]
        }
    }

    /// Starts waiting operations while there are free slots, oldest first, one per resource.
    private mutating func dispatch(now: Duration) -> [LRMDirective] {
        var out: [LRMDirective] = []
        var blocked = Set<String>()
        var remaining: [Int] = []
        for callID in waiting {
            guard var op = operations[callID], case .waiting(let since) = op.state else { continue }
            let rsc = op.request.resource
            if busy.count >= parallelLimit || busy[rsc] != nil || blocked.contains(rsc) {
                blocked.insert(rsc)
                remaining.append(callID)
                continue
            }
            busy[rsc] = callID
            op.state = .running(started: now, queued: now - since)
            operations[callID] = op
            let r = op.request
            let agentRequest = AgentRequest(resource: rsc, agent: op.agent, action: r.action, parameters: r.parameters,
                                            meta: r.meta, timeout: r.timeout, interval: r.interval, checkLevel: r.checkLevel)
            out.append(.execute(callID: callID, agentRequest))
            out.append(.schedule(.timeout(callID: callID), after: r.timeout))
        }
        waiting = remaining
        return out
    }
}
