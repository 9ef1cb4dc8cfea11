/// What became of an action on a fence device (start, stop, monitor), which the controller
/// runs through the node's fencer rather than the executor's agents.
public enum FenceDeviceOutcome: Sendable, Equatable {
    /// The device's agent ran and succeeded.
    case ok
    /// The agent ran and returned an error (fence_xvm's monitor without fence_virtd).
    case agentError
    /// The agent did not finish within the action's timeout.
    case timedOut
    /// The fencer has no such device (not registered, its agent not installed).
    case noDevice
    /// The fencer could not be asked, or refused the request.
    case notConnected
}

/// The rc-code and op-status the operation history records for a fence device's action, as
/// Pacemaker's executor records them: an agent that ran and failed is an operation that
/// completed (op-status 0, "complete") with the generic error rc 1, so crm_mon says
/// `'error' (1): ... status='complete'`; a timeout is op-status 2 ("Timed Out"); a missing
/// device counts as not running for a monitor, stopped for a stop and not installed for a
/// start, with op-status 4 ("Error"), and a fencer that cannot be reached is op-status 4 too.
public enum FenceDeviceResult {
    public static func record(task: String, _ outcome: FenceDeviceOutcome) -> (rc: Int, opStatus: Int) {
        switch outcome {
        case .ok: (0, 0)
        case .agentError: (1, 0)
        case .timedOut: (1, 2)
        case .noDevice:
            switch task {
            case "monitor": (7, 4)
            case "stop": (0, 4)
            default: (5, 4)
            }
        case .notConnected: (1, 4)
        }
    }
}
