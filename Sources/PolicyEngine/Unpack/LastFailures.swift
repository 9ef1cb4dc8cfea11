import CIB

/// The recorded last failures of starts (`RSC_last_failure_0` entries) whose parameters are
/// no longer the resource's: reading the history, Pacemaker schedules clearing the fail count
/// of such a resource there, and a fail count about to be cleared bans nothing.
struct LastFailures {
    /// node -> history id -> the digest the failed start recorded.
    private var startDigests: [String: [String: String]] = [:]

    init(_ status: Status) {
        for state in status.nodeStates {
            for lrm in state.lrmResources {
                for op in lrm.element.elements(named: "lrm_rsc_op") {
                    guard let id = op["id"], id.hasSuffix("_last_failure_0"), op["operation"] == "start",
                          (op["interval"].flatMap { Int($0) } ?? 0) == 0, let digest = op["op-digest"] else { continue }
                    if startDigests[state.uname, default: [:]][lrm.id] == nil { startDigests[state.uname, default: [:]][lrm.id] = digest }
                }
            }
        }
    }

    /// Whether a failed start of `r` recorded on `node` ran with other parameters than the
    /// resource has now (its fail count there is to be cleared). Bundle parts, whose
    /// parameters are generated, are not compared.
    func startChanged(_ r: SchedulerResource, on node: String, in ws: WorkingSet) -> Bool {
        guard !startDigests.isEmpty, let byID = startDigests[node],
              let recorded = byID[r.historyIDs[node] ?? r.id] ?? byID[r.configuredID],
              !(r.parent.map { ws.resources[$0].variant == .bundle } ?? false) else { return false }
        let parameters = r.parameters.merging(TransitionPlanner.startOperationParameters(r)) { _, op in op }
        return ParameterDigest.digest(parameters) != recorded
    }
}
