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
        for i in graph.executionOrder() {
            let a = graph.actions[i]
            guard let node = a.node else { continue }
            switch a.kind {
            case .resource:
                // Notifications leave nothing in the history.
                guard let rsc = a.resource, a.task != "notify" else { continue }
                out.recordOperation(a, resource: historyID(rsc, node), node: node, now: now)
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
        return out
    }
}

extension CIB {
    /// Records a simulated operation as the controller records one: the recurring ones under
    /// their own key, the others as the resource's last operation on the node.
    mutating func recordOperation(_ a: GraphAction, resource rsc: String, node: String, now: Int) {
        let expected = Int(a.meta["op_target_rc"] ?? "") ?? (a.task == "monitor" && a.meta["role"] == "Promoted" ? 8 : 0)
        // The digest covers the agent's parameters, and for recurring operations their timeout.
        var parameters = a.parameters.filter { !$0.key.hasPrefix("CRM_meta") }
        if a.intervalMS > 0, let timeout = a.meta["timeout"] { parameters["CRM_meta_timeout"] = timeout }
        recordResult(resource: rsc, task: a.task, intervalMS: a.intervalMS, rc: expected, expected: expected, node: node,
                     agent: a.agent.map { ($0.standard, $0.provider, $0.type) }, digest: ParameterDigest.digest(parameters), now: now)
    }

    /// Records an operation result in a node's history as Pacemaker's simulation records one
    /// (crm_simulate -S and --op-inject): the call numbered after the resource's highest call
    /// id, the transition key built from that number, transition -1 and a dummy uuid. A result
    /// other than the expected one is the resource's last failure (and, for a one-time
    /// operation, also its last operation); a recurring success is kept under its own key, any
    /// other success as the last operation. A record of the same id is updated in place, so
    /// recurring monitors stay recorded after a stop, as in Pacemaker's simulation.
    mutating func recordResult(resource rsc: String, task: String, intervalMS: Int, rc: Int, expected: Int, node: String,
                               agent: (standard: String, provider: String?, type: String)?, digest: String?, now: Int) {
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
            if rc != expected {
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
                    "transition-magic": "0:\(rc);\(transitionKey)", "exit-reason": rc == expected ? "" : "Simulated action result",
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
