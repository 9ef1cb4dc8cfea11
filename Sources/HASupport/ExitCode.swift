#if canImport(Glibc)
import Glibc
#endif

/// The exit codes Pacemaker's tools use (its `crm_exit_t`), so that scripts written against
/// Pacemaker keep working.
public enum CRMExit: Int32, Sendable, CaseIterable {
    case ok = 0
    case error = 1
    case invalidParameter = 2
    case unimplementedFeature = 3
    case insufficientPrivileges = 4
    case notInstalled = 5
    case notConfigured = 6
    case notRunning = 7
    case usage = 64
    case dataError = 65
    case noInput = 66
    case noUser = 67
    case noHost = 68
    case unavailable = 69
    case software = 70
    case osError = 71
    case osFile = 72
    case cantCreate = 73
    case ioError = 74
    case tempFail = 75
    case protocolError = 76
    case noPermission = 77
    case config = 78
    case fatal = 100
    case panic = 101
    case disconnect = 102
    case old = 103
    case digest = 104
    case noSuchObject = 105
    case quorum = 106
    case unsafe = 107
    case exists = 108
    case multiple = 109
    case expired = 110
    case notYetInEffect = 111
    case indeterminate = 112
    case unsatisfied = 113
    case timeout = 124

    /// Pacemaker's one-line description of the code (what `crm_error` prints).
    public var summary: String {
        switch self {
        case .ok: "OK"
        case .error: "Error occurred"
        case .invalidParameter: "Invalid parameter"
        case .unimplementedFeature: "Unimplemented"
        case .insufficientPrivileges: "Insufficient privileges"
        case .notInstalled: "Not installed"
        case .notConfigured: "Not configured"
        case .notRunning: "Not running"
        case .usage: "Incorrect usage"
        case .dataError: "Invalid data given"
        case .noInput: "Input file not available"
        case .noUser: "User does not exist"
        case .noHost: "Host does not exist"
        case .unavailable: "Necessary service unavailable"
        case .software: "Internal software bug"
        case .osError: "Operating system error occurred"
        case .osFile: "System file not available"
        case .cantCreate: "Cannot create output file"
        case .ioError: "I/O error occurred"
        case .tempFail: "Temporary failure, try again"
        case .protocolError: "Protocol violated"
        case .noPermission: "Insufficient privileges"
        case .config: "Invalid configuration"
        case .fatal: "Fatal error occurred, will not respawn"
        case .panic: "System panic required"
        case .disconnect: "Not connected"
        case .old: "Update was older than existing configuration"
        case .digest: "Digest mismatch"
        case .noSuchObject: "No such object"
        case .quorum: "Quorum required"
        case .unsafe: "Operation not safe"
        case .exists: "Requested item already exists"
        case .multiple: "Multiple items match request"
        case .expired: "Requested item has expired"
        case .notYetInEffect: "Requested item is not yet in effect"
        case .indeterminate: "Could not determine status"
        case .unsatisfied: "Not applicable under current conditions"
        case .timeout: "Timeout occurred"
        }
    }
}

/// Ends the process with a Pacemaker exit code.
public func exit(_ code: CRMExit) -> Never {
    Glibc.exit(code.rawValue)
}
