import CIB

/// Operation execution status (`op-status`), as the executor records it.
enum ExecStatus: Int {
    case pending = -1, done = 0, cancelled = 1, timeout = 2, notSupported = 3, error = 4,
         errorHard = 5, errorFatal = 6, notInstalled = 7, notConnected = 8, invalid = 9,
         noFenceDevice = 10, noSecrets = 11
}

/// OCF result codes the history interprets.
enum OCFResult {
    static let ok = 0, error = 1, invalidParameter = 2, unimplemented = 3, insufficientPrivileges = 4,
               notInstalled = 5, notConfigured = 6, notRunning = 7, runningPromoted = 8, failedPromoted = 9,
               degraded = 190, degradedPromoted = 191
}

/// What one node's operation history says about one resource there.
/// A start's digest without its secret parameters, and their names.
public struct SecureDigest: Equatable, Sendable {
    public var digest: String
    public var parameters: [String]
}

struct NodeHistory: Equatable {
    var role: Role = .unknown
    var onFail: FailurePolicy?
    var pendingTask: String?
    var lastFailureTask: String?
    /// The operation key (without the resource) of the latest failure so far, "monitor_15000":
    /// a later success of the same operation clears it.
    var lastFailureKey: String?
    /// A probe found the agent missing: the resource can never run on this node.
    var notInstalled = false
    /// A failure happened whose on-fail is ignore.
    var failureIgnored = false
    /// A probe result that only means "cannot run here": "Not installed", "Invalid parameter".
    var maskedProbe: String?
    var pendingInterval = 0
    /// A stop that failed and was not followed by a successful one: never run here again
    /// until cleaned up.
    var failedStop = false
    /// A hard error (agent not installed, ...): the resource cannot run on this node.
    var banNode = false
    /// A fatal error (not configured): the resource cannot run anywhere.
    var banEverywhere = false
    /// The parameter digest the resource was last started with here.
    var startDigest: String?
    /// The digest of the parameters that need a restart when changed (the others can be
    /// reloaded), and their names, as the last start recorded them.
    var restartDigest: String?
    var forceRestart: [String]?
    /// The digest without the secret parameters, and their names, as the last start recorded
    /// them (a sanitized CIB shows those parameters masked).
    var secureDigest: SecureDigest?
    /// The recurring operations active here since the resource last started, oldest first,
    /// as operation keys without the resource ("monitor_10000").
    var activeRecurring: [String] = []
    /// The failed operations, oldest first, as crm_mon lists them.
    var failures: [FailedOperation] = []

    var isActive: Bool { role >= .started }
}

/// One `<lrm_rsc_op>`, decoded.
struct RecordedOp {
    var id: String
    var task: String
    var intervalMS: Int
    var callID: Int
    var rc: Int
    var status: ExecStatus
    var targetRC: Int?
    var lastRCChange: Int?
    var digest: String?
    var secureDigest: SecureDigest?
    var restartDigest: String?
    var forceRestart: [String]?
    var exitReason: String?
    var execTimeMS: Int?

    init(_ e: XElement) {
        // The attributes are read in one pass (the first of each name counts, as with
        // `e[name]`): a large history has a million operations.
        var exitReasonText, execTime, opDigest, opRestartDigest, opSecureDigest, opSecureParams, opForceRestart: String?
        var lastRCChangeText, idText, operation, interval, callIDText, rcCode, opStatus, transitionKey, transitionMagic: String?
        for a in e.attributes {
            // (By length first: most names are then told apart without comparing them with
            // every other name, a million operations times over.)
            switch a.name.utf8.count {
            case 2:
                if a.name == "id", idText == nil { idText = a.value }
            case 7:
                if a.name == "call-id" { if callIDText == nil { callIDText = a.value } }
                else if a.name == "rc-code" { if rcCode == nil { rcCode = a.value } }
            case 8:
                if a.name == "interval", interval == nil { interval = a.value }
            case 9:
                switch a.name {
                case "operation": if operation == nil { operation = a.value }
                case "op-status": if opStatus == nil { opStatus = a.value }
                case "op-digest": if opDigest == nil { opDigest = a.value }
                case "exec-time": if execTime == nil { execTime = a.value }
                default: break
                }
            case 11:
                if a.name == "exit-reason", exitReasonText == nil { exitReasonText = a.value }
            case 14:
                if a.name == "transition-key" { if transitionKey == nil { transitionKey = a.value } }
                else if a.name == "last-rc-change" { if lastRCChangeText == nil { lastRCChangeText = a.value } }
            case 16:
                switch a.name {
                case "transition-magic": if transitionMagic == nil { transitionMagic = a.value }
                case "op-secure-digest": if opSecureDigest == nil { opSecureDigest = a.value }
                case "op-secure-params": if opSecureParams == nil { opSecureParams = a.value }
                case "op-force-restart": if opForceRestart == nil { opForceRestart = a.value }
                default: break
                }
            case 17:
                if a.name == "op-restart-digest", opRestartDigest == nil { opRestartDigest = a.value }
            default:
                break
            }
        }
        exitReason = exitReasonText.flatMap { $0.isEmpty ? nil : $0 }
        execTimeMS = execTime.flatMap { Int($0) }
        digest = opDigest
        restartDigest = opRestartDigest
        if let d = opSecureDigest {
            secureDigest = SecureDigest(digest: d, parameters: (opSecureParams ?? "").split(separator: " ").map(String.init))
        }
        forceRestart = opForceRestart.map { $0.split(separator: " ").map(String.init) }
        lastRCChange = lastRCChangeText.flatMap { Int($0) }
        id = idText ?? ""
        task = operation ?? ""
        intervalMS = Int(interval ?? "0") ?? 0
        callID = Int(callIDText ?? "") ?? -1
        rc = Int(rcCode ?? "") ?? 0
        status = ExecStatus(rawValue: Int(opStatus ?? "0") ?? 0) ?? .error
        // transition-key: "action:transition:target-rc:uuid"
        if let key = transitionKey { targetRC = Self.thirdField(key) }
        if callID == -1 && status == .done && transitionMagic == nil { status = .pending }
    }

    var isProbe: Bool { task == "monitor" && intervalMS == 0 }

    /// The transition that asked for an operation: its number and its controller's uuid.
    typealias Transition = (id: Int, uuid: Substring)

    /// Whether `op`, recorded without a call id (a timeout the controller recorded itself),
    /// is older than `other`, which has one, as Pacemaker's scheduler compares them
    /// (`pe__is_newer_op`): by the transitions that asked for them. Asked for by the same
    /// controller (the same uuid) in different transitions, the one of the lower transition is
    /// older (an operation of transition -1, a shutdown's, is the newest); from different
    /// controllers, or the same transition, the one without a call id is the newer. Without
    /// both keys, by `last-rc-change` (the later one is newer; at the same second, `op` is).
    static func isOlder(_ op: RecordedOp, _ mine: Transition?, than other: RecordedOp, _ theirs: Transition?) -> Bool {
        guard let mine, let theirs else { return (other.lastRCChange ?? 0) > (op.lastRCChange ?? Int.max) }
        guard mine.uuid == theirs.uuid, mine.id != theirs.id else { return false }
        return (mine.id >= 0 && mine.id < theirs.id) || theirs.id == -1
    }

    /// The transition of an `lrm_rsc_op`, from its transition key
    /// ("action:transition:target-rc:uuid"), read from `transition-magic` ("status:rc;KEY")
    /// as Pacemaker does, else from `transition-key`.
    static func transition(of e: XElement) -> Transition? {
        let key: Substring
        if let m = e["transition-magic"], let semicolon = m.firstIndex(of: ";") {
            key = m[m.index(after: semicolon)...]
        } else if let k = e["transition-key"] {
            key = k[...]
        } else {
            return nil
        }
        let f = key.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
        guard f.count == 4, let id = Int(f[1]) else { return nil }
        return (id, f[3])
    }

    /// The third colon-separated field as a number (a transition key's expected result),
    /// read without splitting the string: the history of a large cluster has many thousands.
    static func thirdField(_ key: String) -> Int? {
        var field = 0
        var value = 0, digits = 0
        for b in key.utf8 {
            if b == UInt8(ascii: ":") {
                if field == 2 { break }
                field += 1
                continue
            }
            guard field == 2 else { continue }
            guard b >= 48 && b <= 57 else { return nil }
            value = value * 10 + Int(b - 48)
            digits += 1
            if digits > 9 { return nil }
        }
        return field == 2 && digits > 0 ? value : nil
    }
}

enum History {
    /// Replays a resource's operations on one node, oldest first, into its state there.
    ///
    /// `policy(task, interval)` gives the configured on-fail for an operation, or nil for the
    /// default.
    /// `recurringFailuresExpire` false keeps recurring monitor failures past the failure
    /// timeout (a remote connection's, until its node has been fenced).
    static func evaluate(_ elements: [XElement], fencingEnabled: Bool, failureTimeout: Int = 0, now: Int = 0,
                         recurringFailuresExpire: Bool = true,
                         policy: (String, Int) -> FailurePolicy?) -> NodeHistory {
        let all = elements.map(RecordedOp.init)
        // Oldest first, by call id; pending operations (no call id yet) are the newest. An
        // operation the controller recorded without a call id (one that timed out, call-id -1)
        // is placed as Pacemaker compares such operations (`RecordedOp.isOlder`): by the
        // transitions that asked for them, so a stop that came after it is newer even when it
        // ended within the same second.
        var ops: [RecordedOp]
        if all.allSatisfy({ $0.callID >= 0 }) {
            // (The usual case, sorted in place: a large history has a million entries.)
            ops = all
            ops.sort { $0.callID != $1.callID ? $0.callID < $1.callID : ($0.lastRCChange ?? -1) < ($1.lastRCChange ?? -1) }
        } else {
            // (Rare: the transition keys are read only here.) By position in `all`.
            let transitions = elements.map(RecordedOp.transition(of:))
            var order = all.indices.filter { all[$0].callID >= 0 }.sorted {
                all[$0].callID != all[$1].callID ? all[$0].callID < all[$1].callID : (all[$0].lastRCChange ?? -1) < (all[$1].lastRCChange ?? -1)
            }
            for k in all.indices where all[k].callID < 0 && all[k].status != .pending {
                // After every operation with a call id it is not older than (and after the
                // operations without one already placed there: among themselves, as recorded).
                var at = order.lastIndex { all[$0].callID >= 0 && !RecordedOp.isOlder(all[k], transitions[k], than: all[$0], transitions[$0]) }
                    .map { $0 + 1 } ?? 0
                while at < order.count && all[order[at]].callID < 0 { at += 1 }
                order.insert(k, at: at)
            }
            order += all.indices.filter { all[$0].callID < 0 && all[$0].status == .pending }
            ops = order.map { all[$0] }
        }
        var h = NodeHistory()
        h.activeRecurring = activeRecurring(ops)
        for op in ops {
            switch op.task {
            case "notify", "cancel", "meta-data", "validate-all":
                continue
            default:
                break
            }
            if op.status == .pending {
                h.pendingTask = op.task
                h.pendingInterval = op.intervalMS
                if op.task == "start" || op.task == "migrate_from" || op.task == "promote" || op.task == "demote" || op.task == "stop" {
                    if h.role < .started && op.task != "stop" { h.role = .started }
                }
                // A start under way runs with the parameters it records: its digest is the one
                // the definition is compared with (it cannot be reloaded before it completes).
                if op.task == "start", op.digest != nil {
                    h.startDigest = op.digest
                    h.restartDigest = nil
                    h.forceRestart = nil
                    h.secureDigest = op.secureDigest
                }
                continue
            }
            if op.status == .cancelled { continue }
            // A degraded monitor result counts as success, yet is listed among the failed
            // actions (Pacemaker's remap_operation records it).
            if op.task == "monitor", op.rc == OCFResult.degraded || op.rc == OCFResult.degradedPromoted {
                h.failures.append(FailedOperation(task: op.task, intervalMS: op.intervalMS, rc: op.rc, status: op.status.rawValue,
                                                  exitReason: op.exitReason, lastRCChange: op.lastRCChange, execTimeMS: op.execTimeMS))
            }
            if let outcome = success(op) {
                apply(success: outcome, of: op, to: &h)
            } else if failureTimeout > 0, let changed = op.lastRCChange, changed + failureTimeout <= now,
                      recurringFailuresExpire || !(op.task == "monitor" && op.intervalMS > 0) {
                // An expired failure no longer counts, but what it says about the resource
                // still does: a failed stop leaves it running.
                if op.task == "stop", h.role < .started { h.role = .started }
                if op.task == "start" || (op.task == "monitor" && !op.isProbe) { if h.role < .started { h.role = .started } }
            } else {
                fail(op, &h, fencingEnabled: fencingEnabled, policy: policy)
            }
        }
        return h
    }

    /// The recurring operations still running: those recorded after the last start (or the
    /// last operation implying one), unless a later stop ended them.
    static func activeRecurring(_ ops: [RecordedOp]) -> [String] {
        var start = -1, stop = -1, impliedMonitor = -1, impliedPromotable = -1
        for (k, op) in ops.enumerated() {
            if op.task == "stop" && op.status == .done {
                stop = k
            } else if op.task == "start" || op.task == "migrate_from" {
                start = k
            } else if impliedMonitor <= stop && op.task == "monitor" {
                if op.rc == OCFResult.ok || op.rc == OCFResult.runningPromoted { impliedMonitor = k }
            } else if op.task == "promote" || op.task == "demote" {
                impliedPromotable = k
            }
        }
        if start == -1 { start = impliedPromotable != -1 ? impliedPromotable : impliedMonitor }
        var keys: [String] = []
        for (k, op) in ops.enumerated() {
            if start < stop && k <= stop { continue }
            if k < start || op.intervalMS == 0 || op.status == .pending { continue }
            let key = "\(op.task)_\(op.intervalMS)"
            if !keys.contains(key) { keys.append(key) }
        }
        return keys
    }

    /// The role a successful operation leaves, or nil when the operation failed.
    private static func success(_ op: RecordedOp) -> Role?? {
        // The degraded results mean running (190) and running promoted (191).
        var rc = op.rc
        if rc == OCFResult.degraded { rc = OCFResult.ok } else if rc == OCFResult.degradedPromoted { rc = OCFResult.runningPromoted }
        // Old executors recorded an unexpected result as op-status 4 (error) with the real
        // rc: judge those by the rc, as for a completed operation.
        guard op.status == .done || op.status == .error else { return nil }
        let expected = op.targetRC
        if op.task == "monitor" {
            switch rc {
            case OCFResult.notRunning:
                // A probe finding nothing, or a monitor told to expect that.
                if op.isProbe || expected == rc { return .some(.stopped) }
                return nil
            case OCFResult.ok, OCFResult.degraded:
                if expected == nil || expected == rc || expected == OCFResult.ok || op.isProbe { return .some(.started) }
                // A monitor of the Stopped role found the resource running.
                if expected == OCFResult.notRunning { return nil }
                if expected == OCFResult.runningPromoted { return nil }
                return .some(.started)
            case OCFResult.runningPromoted, OCFResult.degradedPromoted:
                if op.isProbe || expected == nil || expected == rc { return .some(.promoted) }
                return nil
            default:
                return nil
            }
        }
        // "Not running" when that was expected means stopped, whatever the operation. An
        // error code is a failure even when it was the expected result.
        guard [OCFResult.ok, OCFResult.notRunning, OCFResult.runningPromoted].contains(rc) else { return nil }
        if let expected, rc == expected { return rc == OCFResult.notRunning ? .some(.stopped) : .some(nil) }
        if expected == nil && (rc == OCFResult.ok || rc == OCFResult.degraded) { return .some(nil) }
        return nil
    }

    private static let clearable: Set<FailurePolicy> = [.block, .ignore, .demote, .restart, .restartContainer]

    private static func clearPastFailure(_ h: inout NodeHistory) {
        if let f = h.onFail, clearable.contains(f) { h.onFail = nil }
    }

    private static func apply(success outcome: Role?, of op: RecordedOp, to h: inout NodeHistory) {
        if outcome == .stopped, op.task != "monitor" {
            h.role = .stopped
            clearPastFailure(&h)
            return
        }
        switch op.task {
        case "monitor":
            // A probe finding the resource running stands for its start: its digest is the
            // one the definition is compared with.
            if op.isProbe, outcome != .stopped, h.role < .started, op.digest != nil {
                h.startDigest = op.digest
                h.restartDigest = op.restartDigest
                h.forceRestart = op.forceRestart
                h.secureDigest = op.secureDigest
            }
            if outcome == .stopped {
                h.role = .stopped
                clearPastFailure(&h)
            } else if outcome == .promoted {
                h.role = .promoted
            } else if h.role < .started {
                h.role = .started
            }
            // The same monitor succeeding after its failure clears that failure.
            if outcome != .stopped, h.lastFailureKey == "\(op.task)_\(op.intervalMS)" { clearPastFailure(&h) }
        case "start", "migrate_from":
            h.role = .started
            h.startDigest = op.digest
            h.restartDigest = op.restartDigest
            h.forceRestart = op.forceRestart
            h.secureDigest = op.secureDigest
            clearPastFailure(&h)
        case "stop":
            h.role = .stopped
            h.failedStop = false
            clearPastFailure(&h)
        case "promote":
            h.role = .promoted
            clearPastFailure(&h)
        case "demote":
            if h.onFail == .demote { clearPastFailure(&h) }
            h.role = .unpromoted
        case "migrate_to":
            // The resource still runs here until the migration completes and it is stopped.
            if h.role < .started { h.role = .started }
        default:
            if h.role < .started { h.role = .started }
        }
    }

    private static func fail(_ op: RecordedOp, _ h: inout NodeHistory, fencingEnabled: Bool,
                             policy: (String, Int) -> FailurePolicy?) {
        let configured = policy(op.task, op.intervalMS)
        var action: FailurePolicy
        if let configured {
            action = configured
        } else if op.task == "stop" {
            action = fencingEnabled ? .fence : .block
        } else {
            action = .restart
        }
        if action == .fence && !fencingEnabled { action = .block }
        // A failure because the agent is not installed cannot be ignored: the resource is
        // recovered elsewhere (the node is banned below).
        if action == .ignore && op.status == .notInstalled { action = .restart }
        h.failures.append(FailedOperation(task: op.task, intervalMS: op.intervalMS, rc: op.rc, status: op.status.rawValue,
                                          exitReason: op.exitReason, lastRCChange: op.lastRCChange, execTimeMS: op.execTimeMS))
        // A probe that finds the agent missing, or its parameters invalid here, only means
        // the resource cannot run on this node: not a failure.
        if op.isProbe && (op.rc == OCFResult.notInstalled || op.rc == OCFResult.invalidParameter || op.status == .notInstalled) {
            h.notInstalled = true
            h.maskedProbe = op.rc == OCFResult.invalidParameter ? "Invalid parameter" : "Not installed"
            h.role = .stopped
            return
        }
        h.lastFailureTask = op.task
        h.lastFailureKey = "\(op.task)_\(op.intervalMS)"
        if op.task == "stop" { h.failedStop = true }
        // (An ignored error result counts as success: it bans nothing. The executor finding
        // the agent missing still does.)
        let ignored = action == .ignore || (action == .restartContainer && op.task == "stop")
        if op.status == .notInstalled || (!ignored && (op.rc == OCFResult.notInstalled || op.status == .errorHard
            || op.rc == OCFResult.invalidParameter || op.rc == OCFResult.insufficientPrivileges)) {
            h.banNode = true
        }
        if !ignored, op.rc == OCFResult.notConfigured || op.status == .errorFatal { h.banEverywhere = true }
        if action == .restartContainer && op.task == "stop" {
            // A launched resource's failed stop counts as done: the launcher's restart
            // stops it for sure.
            h.failureIgnored = true
            h.failedStop = false
            h.role = .stopped
            h.onFail = max(h.onFail ?? action, action)
            return
        }
        if action == .ignore {
            h.failureIgnored = true
            // An ignored failure counts as the operation's success: an ignored failed stop
            // leaves the resource stopped.
            if op.task == "stop" {
                h.failedStop = false
                h.role = .stopped
                return
            }
        } else {
            h.onFail = max(h.onFail ?? action, action)
        }
        switch op.task {
        case "promote":
            h.role = .promoted
        case "demote":
            // A demote that failed with on-fail=block leaves it promoted (and left alone);
            // otherwise it is taken as unpromoted, to be recovered by a stop.
            h.role = action == .block ? .promoted : .unpromoted
        default:
            if op.rc == OCFResult.failedPromoted || op.rc == OCFResult.runningPromoted {
                h.role = .promoted
            } else if h.role < .started {
                h.role = .started
            }
        }
    }
}

/// A failed operation from the history.
public struct FailedOperation: Sendable, Equatable {
    public var resource = ""
    public var node = ""
    public var task: String
    public var intervalMS: Int
    public var rc: Int
    /// The executor's op-status (0 done, 2 timed out, 4 error...).
    public var status: Int
    public var exitReason: String?
    public var lastRCChange: Int?
    public var execTimeMS: Int?
}
