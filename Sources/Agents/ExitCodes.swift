/// The result of an agent action in OCF 1.1 terms: the exit codes 0 to 9 and the degraded codes
/// 190 and 191.
///
/// Every standard is reported in these terms: LSB status codes, systemd unit states and fence
/// agent exit codes are mapped onto them (see `LSBMapping`), just as Pacemaker does.
public enum OCFExitCode: Int32, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// `OCF_SUCCESS`: the action succeeded (for monitor: the resource is running).
    case success = 0
    /// `OCF_ERR_GENERIC`: a generic or unspecified error; the resource may be recovered here.
    case errGeneric = 1
    /// `OCF_ERR_ARGS`: the agent was called with invalid arguments (a node-local hard error).
    case errArgs = 2
    /// `OCF_ERR_UNIMPLEMENTED`: the agent does not implement this action.
    case errUnimplemented = 3
    /// `OCF_ERR_PERM`: insufficient privileges on this node.
    case errPerm = 4
    /// `OCF_ERR_INSTALLED`: the agent or software it needs is not installed on this node.
    case errInstalled = 5
    /// `OCF_ERR_CONFIGURED`: the resource's configuration is invalid (fatal on every node).
    case errConfigured = 6
    /// `OCF_NOT_RUNNING`: the resource is cleanly stopped.
    case notRunning = 7
    /// `OCF_RUNNING_PROMOTED` (formerly `OCF_RUNNING_MASTER`): running in the promoted role.
    case runningPromoted = 8
    /// `OCF_FAILED_PROMOTED` (formerly `OCF_FAILED_MASTER`): failed in the promoted role.
    case failedPromoted = 9
    /// `OCF_DEGRADED`: running, but degraded (a monitor result that is not a failure).
    case degraded = 190
    /// `OCF_DEGRADED_PROMOTED`: running promoted, but degraded.
    case degradedPromoted = 191
    /// Pacemaker's `PCMK_OCF_UNKNOWN` (193): no result yet. It goes with the execution status
    /// `pending` (a systemd unit still activating or deactivating, an operation in flight) and
    /// is what the CIB records as the rc-code of a pending operation. No agent returns it.
    case unknown = 193

    /// Maps any exit status to an OCF code. Codes outside the OCF set (193 included: an agent
    /// cannot say "pending") become `errGeneric`, which is what Pacemaker does with them.
    public init(exitStatus: Int32) {
        self = exitStatus == OCFExitCode.unknown.rawValue ? .errGeneric : OCFExitCode(rawValue: exitStatus) ?? .errGeneric
    }

    /// The constant's name in OCF 1.1, as `ocf-returncodes` spells it.
    public var name: String {
        switch self {
        case .success: "OCF_SUCCESS"
        case .errGeneric: "OCF_ERR_GENERIC"
        case .errArgs: "OCF_ERR_ARGS"
        case .errUnimplemented: "OCF_ERR_UNIMPLEMENTED"
        case .errPerm: "OCF_ERR_PERM"
        case .errInstalled: "OCF_ERR_INSTALLED"
        case .errConfigured: "OCF_ERR_CONFIGURED"
        case .notRunning: "OCF_NOT_RUNNING"
        case .runningPromoted: "OCF_RUNNING_PROMOTED"
        case .failedPromoted: "OCF_FAILED_PROMOTED"
        case .degraded: "OCF_DEGRADED"
        case .degradedPromoted: "OCF_DEGRADED_PROMOTED"
        case .unknown: "PCMK_OCF_UNKNOWN"
        }
    }

    /// The meaning in the words `crm_mon` and `crm_resource` print ("not running", ...).
    public var meaning: String {
        switch self {
        case .success: "ok"
        case .errGeneric: "error"
        case .errArgs: "invalid parameter"
        case .errUnimplemented: "unimplemented feature"
        case .errPerm: "insufficient privileges"
        case .errInstalled: "not installed"
        case .errConfigured: "not configured"
        case .notRunning: "not running"
        case .runningPromoted: "promoted"
        case .failedPromoted: "promoted (failed)"
        case .degraded: "degraded"
        case .degradedPromoted: "promoted (degraded)"
        case .unknown: "unknown"
        }
    }

    /// `name (code): meaning`, e.g. `OCF_NOT_RUNNING (7): not running`.
    public var description: String { "\(name) (\(rawValue)): \(meaning)" }

    /// How far a failure reaches, as OCF 1.1 and Pacemaker define it.
    public enum Severity: Sendable, Hashable {
        /// Not a failure (success, not running, promoted, degraded).
        case none
        /// A soft error: the resource may be recovered on this node.
        case soft
        /// A hard error: the resource must not run on this node until cleaned up.
        case hard
        /// A fatal error: the configuration is wrong, the resource must not run anywhere.
        case fatal
    }

    /// The severity of this code when it is not the expected result of an action.
    public var severity: Severity {
        switch self {
        case .success, .notRunning, .runningPromoted, .degraded, .degradedPromoted, .unknown: .none
        case .errGeneric, .failedPromoted: .soft
        case .errArgs, .errUnimplemented, .errPerm, .errInstalled: .hard
        case .errConfigured: .fatal
        }
    }

    /// True when a monitor with this result means the resource is active (in any role).
    public var meansActive: Bool {
        switch self {
        case .success, .runningPromoted, .degraded, .degradedPromoted, .failedPromoted: true
        default: false
        }
    }
}

/// How an action ended, beside its OCF code: like Pacemaker's execution status.
public enum ExecutionStatus: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The agent ran to the end; its exit code is the answer.
    case done
    /// The agent did not finish within the timeout; its whole process group was killed.
    case timedOut
    /// The agent was killed by a signal it did not expect (it crashed).
    case crashed(signal: Int32)
    /// The operation was cancelled before it finished; its process group was killed.
    case cancelled
    /// The agent is not installed on this node.
    case notInstalled
    /// The agent could not be run at all (launch failure, systemd unavailable, ...).
    case error(String)
    /// No result yet (Pacemaker's `PCMK_EXEC_PENDING`): a monitor found the systemd unit
    /// activating or deactivating. Not a failure; a recurring monitor reports again later.
    case pending

    /// Pacemaker's execution status code (`op-status` in the CIB): -1 pending, 0 done,
    /// 1 cancelled, 2 timed out, 4 error, 7 not installed.
    public var pacemakerCode: Int {
        switch self {
        case .pending: -1
        case .done: 0
        case .cancelled: 1
        case .timedOut: 2
        case .crashed, .error: 4
        case .notInstalled: 7
        }
    }

    public var description: String {
        switch self {
        case .done: "complete"
        case .timedOut: "timed out"
        case .crashed(let s): "killed by signal \(s) (\(signalName(s)))"
        case .cancelled: "cancelled"
        case .notInstalled: "not installed"
        case .error(let why): "error: \(why)"
        case .pending: "pending"
        }
    }
}

/// The conventional name of a signal number, for messages.
public func signalName(_ signal: Int32) -> String {
    switch signal {
    case 1: "SIGHUP"
    case 2: "SIGINT"
    case 3: "SIGQUIT"
    case 4: "SIGILL"
    case 6: "SIGABRT"
    case 7: "SIGBUS"
    case 8: "SIGFPE"
    case 9: "SIGKILL"
    case 11: "SIGSEGV"
    case 13: "SIGPIPE"
    case 14: "SIGALRM"
    case 15: "SIGTERM"
    default: "signal \(signal)"
    }
}

/// LSB init scripts: their exit codes mapped to OCF ones.
///
/// For start, stop, restart and the like, LSB's codes 0 to 7 mean what OCF's mean; anything
/// else is a generic error. The `status` action has its own codes (LSB 3.1, table 20.2); they are
/// mapped as Pacemaker maps them, including its 150 "not installed" and 151 "insufficient
/// privileges" from the range LSB reserves for applications.
public enum LSBMapping {
    /// LSB status codes.
    public enum StatusCode: Int32, Sendable, CaseIterable {
        case running = 0
        case deadWithPidFile = 1
        case deadWithLockFile = 2
        case notRunning = 3
        case unknown = 4
        case notInstalled = 150
        case insufficientPrivileges = 151
    }

    /// The OCF code for the exit status of an LSB action.
    public static func ocfCode(exitStatus: Int32, action: AgentAction) -> OCFExitCode {
        if action == .monitor || action == .status {
            switch StatusCode(rawValue: exitStatus) {
            case .running: return .success
            case .deadWithPidFile, .deadWithLockFile, .notRunning: return .notRunning
            case .notInstalled: return .errInstalled
            case .insufficientPrivileges: return .errPerm
            case .unknown, nil: return .errGeneric
            }
        }
        if (0...7).contains(exitStatus), let code = OCFExitCode(rawValue: exitStatus) { return code }
        return .errGeneric
    }
}
