import Agents
import CIB

extension ResourceHistory {
    /// The history as the `<lrm_resource>` element of a node's CIB status, shaped as Pacemaker
    /// shapes it: the last one-shot operation as `RSC_last_0`, each recurring operation under its
    /// key (`RSC_monitor_10000`), and the last failure as `RSC_last_failure_0`.
    ///
    /// The queue measures time from an origin of its shell's choosing; `epochOfOrigin` is that
    /// origin in seconds since 1970, for `last-rc-change`. The controller adds what only it knows
    /// (`transition-key`, `transition-magic`).
    public func lrmResource(epochOfOrigin: Int, node: String? = nil) -> LRMResource {
        var e = XElement("lrm_resource", attributes: [XAttribute("id", resource.id), XAttribute("class", resource.agent.standard)])
        if let provider = resource.agent.provider { e["provider"] = provider }
        e["type"] = resource.agent.type
        let oneShots = operations.values.filter { $0.key.interval == .zero }
        if let last = oneShots.max(by: { ($0.started, $0.callID) < ($1.started, $1.callID) }) {
            e.append(Self.operationElement(last, id: "\(resource.id)_last_0", epochOfOrigin: epochOfOrigin, node: node))
        }
        for record in operations.values.filter({ $0.key.interval > .zero }).sorted(by: { $0.key < $1.key }) {
            e.append(Self.operationElement(record, id: record.key.description, epochOfOrigin: epochOfOrigin, node: node))
        }
        if let failure = lastFailure {
            e.append(Self.operationElement(failure, id: "\(resource.id)_last_failure_0", epochOfOrigin: epochOfOrigin, node: node))
        }
        // Operations under way, as Pacemaker records pending ones (call-id -1, op-status -1):
        // one takes the place of the `_last_0` entry, but a stop or demote under way leaves
        // what ran before it (until it ends, the resource runs as before).
        let lastID = "\(resource.id)_last_0"
        for request in inProgress where request.interval == .zero {
            let hasLast = e.elements.contains { $0.id == lastID }
            if hasLast && (request.action == .stop || request.action == .demote) { continue }
            var op = XElement("lrm_rsc_op", attributes: [
                XAttribute("id", lastID),
                XAttribute("operation_key", request.key.description),
                XAttribute("operation", request.action.rawValue),
                XAttribute("crm-debug-origin", "swiftha-lrmd"),
                XAttribute("call-id", "-1"),
                XAttribute("rc-code", "193"),
                XAttribute("op-status", "-1"),
                XAttribute("interval", "0"),
                XAttribute("last-rc-change", "0"),
                XAttribute("exec-time", "0"),
                XAttribute("queue-time", "0"),
                XAttribute("op-digest", request.operationDigest),
            ])
            if let node { op["on_node"] = node }
            e.children.removeAll { if case .element(let x) = $0 { return x.id == lastID }; return false }
            e.children.insert(.element(op), at: 0)
        }
        return LRMResource(e)
    }

    static func operationElement(_ r: OperationRecord, id: String, epochOfOrigin: Int, node: String?) -> XElement {
        var op = XElement("lrm_rsc_op", attributes: [
            XAttribute("id", id),
            XAttribute("operation_key", r.key.description),
            XAttribute("operation", r.key.action.rawValue),
            XAttribute("crm-debug-origin", "swiftha-lrmd"),
            XAttribute("call-id", String(r.callID)),
            XAttribute("rc-code", String(r.exitCode.rawValue)),
            XAttribute("op-status", String(r.status.pacemakerCode)),
            XAttribute("interval", String(r.key.interval.wholeMilliseconds)),
            XAttribute("last-rc-change", String(epochOfOrigin + Int(r.lastChange.components.seconds))),
            XAttribute("exec-time", String(r.execTime.wholeMilliseconds)),
            XAttribute("queue-time", String(r.queueTime.wholeMilliseconds)),
            XAttribute("op-digest", r.parameterDigest),
        ])
        if let reason = r.exitReason { op["exit-reason"] = reason }
        if let node { op["on_node"] = node }
        return op
    }
}
