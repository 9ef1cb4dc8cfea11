import Controller
import Testing

/// What the operation history records for a fence device's actions: Pacemaker's executor's
/// mapping of the fencer's results (an agent that ran and failed completed with rc 1).
@Suite struct FenceDeviceResultTests {
    func r(_ task: String, _ outcome: FenceDeviceOutcome) -> [Int] {
        let x = FenceDeviceResult.record(task: task, outcome)
        return [x.rc, x.opStatus]
    }

    @Test func agentFailuresCompleteWithTheGenericError() {
        // fence_xvm's monitor without fence_virtd exits 1: the start "returned 'error'".
        #expect(r("start", .agentError) == [1, 0])
        #expect(r("monitor", .agentError) == [1, 0])
        #expect(r("start", .ok) == [0, 0])
        #expect(r("monitor", .timedOut) == [1, 2])
        // No such device: not running for a monitor, stopped for a stop, not installed for a start.
        #expect(r("monitor", .noDevice) == [7, 4])
        #expect(r("stop", .noDevice) == [0, 4])
        #expect(r("start", .noDevice) == [5, 4])
        #expect(r("start", .notConnected) == [1, 4])
    }

    /// The result as the DC sees it: an agent error is a completed operation with the wrong
    /// rc (a failure the transition reacts to), not an execution error.
    @Test func theRecordedResultIsAFailureOfACompletedOperation() {
        let (rc, status) = FenceDeviceResult.record(task: "start", .agentError)
        let r = ActionResult(node: "node1", resource: "vmfence", agent: "stonith:fence_xvm", task: "start", intervalMS: 0,
                             transitionKey: "3:1:0:u", callID: 4, rc: rc, opStatus: status, lastRCChange: 1,
                             exitReason: "vmfence monitor: fence_xvm: exit status 1: Operation failed")
        #expect(r.isFailure)
        #expect(r.opStatus == 0 && r.rc == 1)
    }
}
