import CIB

extension Simulator {
    /// The CIB as the simulated transition leaves it (`crm_simulate -S -O FILE`): every
    /// resource action of the graph recorded, in the order it would run, in its node's
    /// operation history with the result the scheduler expects of it, and every fenced node
    /// down with its history and transient attributes cleared. A pure function: `now` is the
    /// time recorded for the operations.
    ///
    /// Reading the result again gives the status the simulation shows as "Revised Cluster
    /// Status".
    public static func resultingCIB(_ cib: CIB, _ transition: Transition, now: Int) -> CIB {
        execute(cib, transition, now: now).cib
    }

    /// What simulating a transition's execution does: the lines of "Executing Cluster
    /// Transition" and the CIB it leaves.
    public struct Execution: Sendable {
        /// The lines crm_simulate prints while it runs the actions.
        public var lines: [String]
        /// The CIB with every result recorded.
        public var cib: CIB
        /// The graph ids of the actions that failed (--op-fail).
        public var failedActions: [Int]
        /// The failures that matched no action the simulation ran.
        public var unmatched: [OperationFailure]
    }

    /// Simulates the execution of a transition on `cib`, as `crm_simulate -S` does.
    ///
    /// An action a `failures` entry names gets that result instead of the expected one: it
    /// is recorded as the resource's failure (counted as `--op-inject` counts one) and the
    /// transition is aborted, so that what waits for it, and every other action not yet
    /// started, does not run.
    public static func execute(_ cib: CIB, _ transition: Transition, now: Int,
                               failures: [OperationFailure] = []) -> Execution {
        var out = cib
        let graph = transition.graph
        let ws = transition.revised
        let byID = Dictionary(ws.resources.indices.map { (ws.resources[$0].id, $0) }, uniquingKeysWith: { a, _ in a })
        /// The id the node's history knows the resource by: the one it has there already, else
        /// (for an anonymous clone's instance) the configured id without the instance number.
        func historyID(_ rsc: String, _ node: String) -> String {
            guard let i = byID[rsc] else { return rsc }
            if let known = ws.resources[i].historyIDs[node] { return known }
            if let c = Resources.enclosingClone(i, in: ws), case .clone(_, false) = ws.resources[c].variant {
                return ws.resources[i].configuredID
            }
            return rsc
        }
        // Which failure (and under which name) each failing action gets.
        var failing: [Int: (failure: OperationFailure, name: String)] = [:]
        var used = Set<Int>()
        let run = graph.execution(failing: { i in
            let a = graph.actions[i]
            guard a.kind == .resource, a.task != "delete", a.task != "meta-data" else { return false }
            for (n, f) in failures.enumerated() {
                if let name = f.matchedName(a) {
                    failing[i] = (f, name)
                    used.insert(n)
                    return true
                }
            }
            return false
        })
        let startFailureIsFatal = ClusterOptions(cib.configuration, now: now).startFailureIsFatal
        var lines: [String] = []
        for i in run.order {
            let a = graph.actions[i]
            lines.append(graph.simulationLine(a))
            guard let node = a.node else { continue }
            switch a.kind {
            case .resource:
                guard let rsc = a.resource else { continue }
                if let (f, name) = failing[i] {
                    lines.append("Pretending action \(a.id) failed with rc=\(f.rc)")
                    let infinite = a.task == "stop" || (a.task == "start" && startFailureIsFatal)
                    lines += out.injectFailCount(resource: name, task: a.task, intervalMS: a.intervalMS, rc: f.rc,
                                                 node: node, now: now, infinite: infinite)
                }
                out.recordOperation(a, resource: historyID(rsc, node), node: node, now: now, rc: failing[i]?.failure.rc)
            case .fence:
                guard (a.meta["stonith_action"] ?? "reboot") != "on" else { continue }
                out.updateNodeState(node) { s in
                    s["in_ccm"] = "false"
                    s["crmd"] = "offline"
                    s["join"] = "down"
                    s["expected"] = "down"
                    s["crm-debug-origin"] = "simulate_fencing_action"
                    s.removeElements { $0.name == "lrm" || $0.name == "transient_attributes" }
                }
            case .pseudo, .cluster:
                continue
            }
        }
        let unmatched = failures.indices.filter { !used.contains($0) }.map { failures[$0] }
        return Execution(lines: lines, cib: out, failedActions: run.failed.map { graph.actions[$0].id }, unmatched: unmatched)
    }
}

extension CIB {
    /// Records a simulated operation as the controller records one: the recurring ones under
    /// their own key, notifications under theirs (`rsc_post_notify_start_0`, always a
    /// success: their errors are ignored), the others as the resource's last operation on
    /// the node. `rc`, when given, is the result instead of the expected one (--op-fail).
    mutating func recordOperation(_ a: GraphAction, resource rsc: String, node: String, now: Int, rc: Int? = nil) {
        let expected = Int(a.meta["op_target_rc"] ?? "") ?? (a.task == "monitor" && a.meta["role"] == "Promoted" ? 8 : 0)
        // The digest covers the agent's parameters, and for recurring operations their timeout.
        var parameters = a.parameters.filter { !$0.key.hasPrefix("CRM_meta") }
        if a.intervalMS > 0, let timeout = a.meta["timeout"] { parameters["CRM_meta_timeout"] = timeout }
        var notification: String?
        if a.task == "notify", let type = a.meta["notify_type"], let operation = a.meta["notify_operation"] {
            notification = "\(rsc)_\(type)_notify_\(operation)_0"
        }
        recordResult(resource: rsc, task: a.task, intervalMS: a.intervalMS, rc: notification == nil ? rc ?? expected : expected,
                     expected: expected, node: node, agent: a.agent.map { ($0.standard, $0.provider, $0.type) },
                     digest: ParameterDigest.digest(parameters), now: now, id: notification,
                     exitReason: rc == nil ? "Simulated action result" : "User-injected result")
    }

    /// Records an operation result in a node's history as Pacemaker's simulation records one
    /// (crm_simulate -S and --op-inject): the call numbered after the resource's highest call
    /// id, the transition key built from that number, transition -1 and a dummy uuid. A result
    /// other than the expected one is the resource's last failure (and, for a one-time
    /// operation, also its last operation); a recurring success is kept under its own key, any
    /// other success as the last operation. A record of the same id is updated in place, so
    /// recurring monitors stay recorded after a stop, as in Pacemaker's simulation.
    ///
    /// `id`, when given, is the record's id (a notification's); `exitReason` is the reason a
    /// failure records.
    mutating func recordResult(resource rsc: String, task: String, intervalMS: Int, rc: Int, expected: Int, node: String,
                               agent: (standard: String, provider: String?, type: String)?, digest: String?, now: Int,
                               id: String? = nil, exitReason: String = "Simulated action result") {
        updateNodeState(node) { s in
            var lrm = s.firstElement(named: "lrm") ?? XElement("lrm", ["id": s["id"] ?? node])
            var resources = lrm.firstElement(named: "lrm_resources") ?? XElement("lrm_resources")
            var entry = resources.elements(named: "lrm_resource").first { $0.id == rsc } ?? XElement("lrm_resource", ["id": rsc])
            if let agent {
                if entry["class"] == nil { entry["class"] = agent.standard }
                if entry["provider"] == nil, let p = agent.provider { entry["provider"] = p }
                if entry["type"] == nil { entry["type"] = agent.type }
            }
            var callID = 0
            for op in entry.elements(named: "lrm_rsc_op") { callID = max(callID, Int(op["call-id"] ?? "") ?? 0) }
            callID += 1
            let key = "\(rsc)_\(task)_\(intervalMS)"
            let ids: [String]
            if let id {
                ids = [id]
            } else if rc != expected {
                ids = intervalMS == 0 ? ["\(rsc)_last_failure_0", "\(rsc)_last_0"] : ["\(rsc)_last_failure_0"]
            } else {
                ids = [intervalMS > 0 ? key : "\(rsc)_last_0"]
            }
            let transitionKey = "\(callID):-1:\(expected):xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
            for id in ids {
                var op = entry.elements(named: "lrm_rsc_op").first { $0.id == id } ?? XElement("lrm_rsc_op", ["id": id])
                let values: KeyValuePairs<String, String> = [
                    "operation_key": key, "operation": task, "crm-debug-origin": "crm_simulate",
                    "crm_feature_set": "3.16.1", "transition-key": transitionKey,
                    "transition-magic": "0:\(rc);\(transitionKey)", "exit-reason": rc == expected ? "" : exitReason,
                    "call-id": String(callID), "rc-code": String(rc), "op-status": "0",
                    "interval": String(intervalMS), "last-rc-change": String(now), "exec-time": "0", "queue-time": "0",
                ]
                for (name, value) in values { op[name] = value }
                if let digest { op["op-digest"] = digest }
                entry.replaceElement(withID: id, named: "lrm_rsc_op", by: op)
            }
            resources.replaceElement(withID: rsc, named: "lrm_resource", by: entry)
            lrm.setFirstElement(named: "lrm_resources", to: resources)
            s.setFirstElement(named: "lrm", to: lrm)
        }
    }
}
