import CIB

/// The CIB status entries the DC writes, shaped as Pacemaker's controller writes them:
/// `node_state` with `in_ccm`, `crmd`, `join` and `expected`; the operation history under
/// `lrm/lrm_resources/lrm_resource/lrm_rsc_op`; transient attributes (failcounts, shutdown)
/// under `transient_attributes/instance_attributes`. Pure functions: the shell sends the
/// changes to cibd.
public enum StatusRecords {
    /// A node's `node_state` with its membership attributes only (merged into what is there).
    public static func nodeState(id: String, uname: String, inCCM: Bool, crmd: Bool, join: String, expected: String?,
                                 origin: String) -> XElement {
        var e = XElement("node_state", attributes: [XAttribute("id", id), XAttribute("uname", uname)])
        e["in_ccm"] = inCCM ? "true" : "false"
        e["crmd"] = crmd ? "online" : "offline"
        e["crm-debug-origin"] = origin
        e["join"] = join
        if let expected { e["expected"] = expected }
        return e
    }

    /// A joined member: online, a member, expected up.
    public static func joined(id: String, uname: String) -> XElement {
        nodeState(id: id, uname: uname, inCCM: true, crmd: true, join: "member", expected: "member", origin: "do_lrm_query_internal")
    }

    /// A member's history as the `<lrm>` of its node_state (replacing what the status had).
    /// `lrmResources` is the `<lrm_resources>` XML its controller sent; anything else (or
    /// nothing) makes an empty history.
    public static func lrm(id: String, lrmResources: String) -> XElement {
        var resources = (try? XElement.parse(Array(lrmResources.utf8), source: "the member's history")) ?? XElement("lrm_resources")
        if resources.name != "lrm_resources" { resources = XElement("lrm_resources") }
        return XElement("lrm", attributes: [XAttribute("id", id)], children: [.element(resources)])
    }

    /// A member that left: `clean` when it left the group on purpose (it shut down), else it
    /// was lost (a crash, or its node left the ring): its node stays expected up, which the
    /// scheduler reads as unclean.
    public static func left(id: String, uname: String, clean: Bool, nodeStillUp: Bool) -> XElement {
        nodeState(id: id, uname: uname, inCCM: nodeStillUp, crmd: false, join: "down", expected: clean ? "down" : nil,
                  origin: "peer_update_callback")
    }

    /// A fenced node: down, expected down (its history and attributes are deleted separately).
    public static func fenced(id: String, uname: String) -> XElement {
        nodeState(id: id, uname: uname, inCCM: false, crmd: false, join: "down", expected: "down", origin: "send_stonith_update")
    }

    /// The `lrm_rsc_op` ids a result is recorded under: `RSC_last_0` for one-shot operations,
    /// the operation key for recurring ones, plus `RSC_last_failure_0` for a failure.
    public static func operationIDs(_ r: ActionResult) -> [String] {
        var ids = [r.intervalMS > 0 ? r.operationKey : "\(r.resource)_last_0"]
        if r.isFailure { ids.append("\(r.resource)_last_failure_0") }
        return ids
    }

    /// One `lrm_rsc_op` for a result.
    public static func operation(_ r: ActionResult, id: String) -> XElement {
        var op = XElement("lrm_rsc_op", attributes: [XAttribute("id", id)])
        op["operation_key"] = r.operationKey
        op["operation"] = r.task
        op["crm-debug-origin"] = "do_update_resource"
        op["crm_feature_set"] = "3.16.2"
        if let key = r.transitionKey {
            op["transition-key"] = key
            op["transition-magic"] = TransitionKey(key)?.magic(opStatus: r.opStatus, rc: r.rc) ?? "\(r.opStatus):\(r.rc);\(key)"
        }
        op["exit-reason"] = r.exitReason ?? ""
        op["on_node"] = r.node
        op["call-id"] = String(r.callID)
        op["rc-code"] = String(r.rc)
        op["op-status"] = String(r.opStatus)
        op["interval"] = String(r.intervalMS)
        op["last-rc-change"] = String(r.lastRCChange)
        op["exec-time"] = String(r.execTimeMS)
        op["queue-time"] = String(r.queueTimeMS)
        op["op-digest"] = r.digest
        return op
    }

    /// `class`, `provider`, `type` of an agent name (`ocf:heartbeat:Dummy`, `systemd:foo`).
    static func agentAttributes(_ agent: String) -> [XAttribute] {
        let f = agent.split(separator: ":", maxSplits: 2).map(String.init)
        switch f.count {
        case 3: return [XAttribute("class", f[0]), XAttribute("provider", f[1]), XAttribute("type", f[2])]
        case 2: return [XAttribute("class", f[0]), XAttribute("type", f[1])]
        default: return [XAttribute("class", "ocf"), XAttribute("type", agent)]
        }
    }

    /// The node_state change that records a result (merged into the status: each element by
    /// tag and id, created when missing).
    public static func result(_ r: ActionResult, nodeID: String) -> XElement {
        var rsc = XElement("lrm_resource", attributes: [XAttribute("id", r.resource)] + agentAttributes(r.agent))
        for id in operationIDs(r) { rsc.append(operation(r, id: id)) }
        let resources = XElement("lrm_resources", children: [.element(rsc)])
        let lrm = XElement("lrm", attributes: [XAttribute("id", nodeID)], children: [.element(resources)])
        return XElement("node_state", attributes: [XAttribute("id", nodeID), XAttribute("uname", r.node)], children: [.element(lrm)])
    }

    /// A member's history (`<lrm_resources>` XML) with its actions still in flight added as
    /// pending operations (op-status -1, call-id -1), as Pacemaker's controller adds them at a
    /// join: a new DC must know that a start the previous DC asked for may be running, or it
    /// starts the resource a second time elsewhere. A pending one-shot operation takes the
    /// place of the resource's `_last_0` entry, a pending recurring one its own; but a pending
    /// stop or demote leaves what the history says: until it ends, the resource runs as before
    /// (read as stopped, it would be started elsewhere while the stop is still running).
    public static func addingPending(_ pending: [ActionRequest], to lrmResources: String) -> String {
        guard !pending.isEmpty else { return lrmResources }
        var list = (try? XElement.parse(Array(lrmResources.utf8), source: "the member's history")) ?? XElement("lrm_resources")
        if list.name != "lrm_resources" { list = XElement("lrm_resources") }
        for req in pending.sorted(by: { $0.transitionKey < $1.transitionKey }) {
            guard let rsc = req.resource, !["cancel", "delete", "do_shutdown", "notify"].contains(req.task) else { continue }
            let r = ActionResult(node: req.node, resource: rsc, agent: req.agent ?? "", task: req.task, intervalMS: req.intervalMS,
                                 transitionKey: req.transitionKey, callID: -1, rc: 193, opStatus: -1, lastRCChange: 0,
                                 digest: req.operationDigest)
            let id = req.intervalMS > 0 ? r.operationKey : "\(rsc)_last_0"
            let op = operation(r, id: id)
            if let i = list.children.firstIndex(where: { if case .element(let e) = $0 { return e.name == "lrm_resource" && e.id == rsc }; return false }),
               case .element(var e) = list.children[i] {
                if ["stop", "demote"].contains(req.task), e.elements.contains(where: { $0.id == id }) { continue }
                e.children.removeAll { if case .element(let o) = $0 { return o.id == id }; return false }
                e.append(op)
                list.children[i] = .element(e)
            } else {
                list.append(XElement("lrm_resource", attributes: [XAttribute("id", rsc)] + agentAttributes(req.agent ?? ""),
                                     children: [.element(op)]))
            }
        }
        return list.xmlString(.compact)
    }

    /// The failcount attribute names of a failed operation: `fail-count-RSC#OP_INTERVAL` and
    /// `last-failure-RSC#OP_INTERVAL`.
    public static func failcountNames(resource: String, task: String, intervalMS: Int) -> (count: String, last: String) {
        ("fail-count-\(resource)#\(task)_\(intervalMS)", "last-failure-\(resource)#\(task)_\(intervalMS)")
    }

    /// The transient attributes of a node (merged into its node_state), as
    /// `<transient_attributes id><instance_attributes id="status-ID"><nvpair .../>`.
    public static func transientAttributes(nodeID: String, uname: String, _ pairs: [(name: String, value: String)]) -> XElement {
        var set = XElement("instance_attributes", attributes: [XAttribute("id", "status-\(nodeID)")])
        for (name, value) in pairs {
            let id = "status-\(nodeID)-" + name.map { $0 == "#" ? "." : $0 }.map(String.init).joined()
            set.append(XElement("nvpair", attributes: [XAttribute("id", id), XAttribute("name", name), XAttribute("value", value)]))
        }
        let transient = XElement("transient_attributes", attributes: [XAttribute("id", nodeID)], children: [.element(set)])
        return XElement("node_state", attributes: [XAttribute("id", nodeID), XAttribute("uname", uname)], children: [.element(transient)])
    }

    /// The failcount update for a failed result, or nil when it does not count: a start failure
    /// counts INFINITY when start-failure-is-fatal, any other failure one more (`value++`).
    public static func failcount(_ r: ActionResult, nodeID: String, now: Int, startFailureIsFatal: Bool) -> XElement? {
        guard r.isFailure, !["cancel", "delete", "notify", "do_shutdown"].contains(r.task) else { return nil }
        let names = failcountNames(resource: r.resource, task: r.task, intervalMS: r.intervalMS)
        let value = r.task == "start" && startFailureIsFatal ? "INFINITY" : "value++"
        return transientAttributes(nodeID: nodeID, uname: r.node, [(names.count, value), (names.last, String(now))])
    }

    /// The shutdown request of a node: its `shutdown` attribute (the time). It stays expected
    /// up until the DC tells it to go (`expectedDown`): a node that asked to stop and is then
    /// lost before that is unclean, not shut down.
    public static func shutdownRequest(nodeID: String, uname: String, now: Int) -> XElement {
        transientAttributes(nodeID: nodeID, uname: uname, [("shutdown", String(now))])
    }

    /// The DC told the node to shut down (do_shutdown): it is expected down from now on.
    public static func expectedDown(id: String, uname: String) -> XElement {
        var e = XElement("node_state", attributes: [XAttribute("id", id), XAttribute("uname", uname)])
        e["expected"] = "down"
        return e
    }

    /// The node_states the status shows as up (`crmd` online, or in the membership) whose nodes
    /// are not members of the controllers' group: they must be recorded as lost. By node id.
    public static func staleNodes(in status: XElement?, members: Set<String>) -> [(id: String, uname: String)] {
        guard let status else { return [] }
        var out: [(String, String)] = []
        for s in status.elements(named: "node_state") {
            guard let id = s.id, !members.contains(id) else { continue }
            let up = s["crmd"] == "online" || (s["crmd"].flatMap(Int.init) ?? 0) > 0 || s["join"] == "member"
            if up { out.append((id, s["uname"] ?? id)) }
        }
        return out
    }

    /// The configuration `<node>` entries missing for these members (id, uname).
    public static func missingNodes(in nodes: XElement?, members: [(id: String, uname: String)]) -> [XElement] {
        let known = Set((nodes?.elements(named: "node") ?? []).compactMap(\.id))
        return members.filter { !known.contains($0.id) }.map {
            XElement("node", attributes: [XAttribute("id", $0.id), XAttribute("uname", $0.uname)])
        }
    }
}

/// The names of saved scheduler inputs (`pe-input-N.xml`).
public enum PEInputNames {
    /// The highest N among these file names, nil when none is a saved input.
    public static func highest(in names: [String]) -> Int? {
        names.compactMap { name -> Int? in
            guard name.hasPrefix("pe-input-") else { return nil }
            var rest = name.dropFirst("pe-input-".count)
            for suffix in [".xml", ".bz2"] where rest.hasSuffix(suffix) { rest = rest.dropLast(suffix.count) }
            return Int(rest)
        }.max()
    }
}
