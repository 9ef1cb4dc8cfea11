import CIB

/// crm_simulate's what-if changes to a CIB before it is scheduled: nodes brought up, taken
/// down or failed, and operation results injected into the history. A pure function of the
/// CIB, as Pacemaker's injections are.
public struct SchedulerInjections: Sendable, Equatable {
    public var nodeUp: [String] = []
    public var nodeDown: [String] = []
    public var nodeFail: [String] = []
    /// `RSC_TASK_INTERVAL@NODE=RC`, as in `--op-inject`.
    public var opInject: [String] = []
    /// The time of injected operations (seconds since the epoch).
    public var now: Int = 0

    public init(nodeUp: [String] = [], nodeDown: [String] = [], nodeFail: [String] = [], opInject: [String] = [], now: Int = 0) {
        self.nodeUp = nodeUp
        self.nodeDown = nodeDown
        self.nodeFail = nodeFail
        self.opInject = opInject
        self.now = now
    }

    public var isEmpty: Bool { nodeUp.isEmpty && nodeDown.isEmpty && nodeFail.isEmpty && opInject.isEmpty }

    /// The changed CIB and the lines crm_simulate prints under "Performing Requested
    /// Modifications". A bad operation spec or an unknown resource is an error naming it.
    public func apply(to cib: CIB) throws(CIBError) -> (cib: CIB, lines: [String]) {
        var c = cib
        var lines: [String] = []
        for n in nodeUp {
            lines.append("  * Bringing node \(n) online")
            c.updateNodeState(n) { s in
                s["in_ccm"] = "true"; s["crmd"] = "online"; s["join"] = "member"; s["expected"] = "member"; s["crm-debug-origin"] = "crm_simulate"
            }
        }
        for n in nodeDown {
            lines.append("  * Taking node \(n) offline")
            c.updateNodeState(n) { s in
                s["in_ccm"] = "false"; s["crmd"] = "offline"; s["join"] = "down"; s["expected"] = "down"; s["crm-debug-origin"] = "crm_simulate"
                s.removeElements { $0.name == "lrm" || $0.name == "transient_attributes" }
            }
        }
        for n in nodeFail {
            lines.append("  * Failing node \(n)")
            c.updateNodeState(n) { s in
                s["in_ccm"] = "false"; s["crmd"] = "online"; s["join"] = "member"; s["expected"] = "member"; s["crm-debug-origin"] = "crm_simulate"
            }
        }
        for spec in opInject {
            lines.append("  * Injecting \(spec) into the configuration")
            lines += try inject(spec, into: &c)
        }
        return (c, lines)
    }

    /// `RSC_TASK_INTERVAL@NODE=RC`: the resource's history on the node gets that result, and
    /// a failure counts in its failcount.
    private func inject(_ spec: String, into c: inout CIB) throws(CIBError) -> [String] {
        guard let at = spec.firstIndex(of: "@"), let eq = spec.lastIndex(of: "="), at < eq,
              let rc = Int(spec[spec.index(after: eq)...]) else {
            throw CIBError(.badRequest, "--op-inject '\(spec)': write it as RESOURCE_TASK_INTERVAL@NODE=RC, like web_monitor_10000@node1=7")
        }
        let key = String(spec[..<at]), node = String(spec[spec.index(after: at)..<eq])
        guard let (rsc, task, interval) = Self.parseKey(key) else {
            throw CIBError(.badRequest, "--op-inject '\(spec)': '\(key)' is not RESOURCE_TASK_INTERVAL (web_start_0, web_monitor_10000)")
        }
        let base = rsc.split(separator: ":").first.map(String.init) ?? rsc
        var primitive: XElement?
        c.configuration.element.firstElement(named: "resources")?.walk { e in
            if primitive == nil, e.name == "primitive", e.id == base { primitive = e }
        }
        guard let p = primitive else {
            throw CIBError(.notFound, "--op-inject '\(spec)': no primitive '\(base)' in the configuration")
        }
        let notes = c.injectFailCount(resource: rsc, task: task, intervalMS: interval, rc: rc, node: node, now: now,
                                      infinite: task == "stop" || (task == "start" && ClusterOptions(c.configuration).startFailureIsFatal))
        // The failure is counted first, then the result recorded (the order Pacemaker's
        // status section shows).
        c.recordResult(resource: rsc, task: task, intervalMS: interval, rc: rc, expected: 0, node: node,
                       agent: p["class"].map { ($0, p["provider"], p["type"] ?? "") }, digest: nil, now: now)
        return notes
    }

    /// `rsc_task_interval`: the resource may contain underscores, the interval is the last
    /// part, and migrate_to/migrate_from are tasks with one.
    static func parseKey(_ key: String) -> (String, String, Int)? {
        guard let last = key.lastIndex(of: "_"), let interval = Int(key[key.index(after: last)...]) else { return nil }
        let head = key[..<last]
        for task in ["migrate_to", "migrate_from", "reload-agent", "meta-data"] where head.hasSuffix("_" + task) {
            return (String(head.dropLast(task.count + 1)), task, interval)
        }
        guard let sep = head.lastIndex(of: "_") else { return nil }
        let rsc = String(head[..<sep]), task = String(head[head.index(after: sep)...])
        guard !rsc.isEmpty, !task.isEmpty else { return nil }
        return (rsc, task, interval)
    }
}

extension CIB {
    /// Counts a failed operation result in the node's transient attributes, as Pacemaker's
    /// simulation counts one (--op-inject, --op-fail): the fail count goes up by one, or to
    /// INFINITY when `infinite` (a failed stop, a failed start when start failures are
    /// fatal), and the last failure is `now`. A success, and a one-time operation finding the
    /// resource not running (rc 7), count nothing. Returns the lines crm_simulate prints.
    mutating func injectFailCount(resource rsc: String, task: String, intervalMS interval: Int, rc: Int, node: String,
                                  now: Int, infinite: Bool) -> [String] {
        guard rc != 0, !(rc == 7 && interval == 0) else { return [] }
        var notes: [String] = []
        updateNodeState(node) { s in
            var attrs = s.firstElement(named: "transient_attributes") ?? XElement("transient_attributes", ["id": s["id"] ?? node])
            var set = attrs.firstElement(named: "instance_attributes") ?? XElement("instance_attributes", ["id": s["id"] ?? node])
            let name = "fail-count-\(rsc)#\(task)_\(interval)"
            let last = "last-failure-\(rsc)#\(task)_\(interval)"
            let current = set.elements(named: "nvpair").first { $0["name"] == name }?["value"].flatMap(CIBValue.score) ?? 0
            let value = infinite ? "INFINITY" : String(current + 1)
            let where_ = "/node_state '\(s["id"] ?? node)'"
            notes.append("  * Injecting attribute \(name)=\(infinite ? "INFINITY" : "value++") into \(where_)")
            notes.append("  * Injecting attribute \(last)=\(now) into \(where_)")
            set.removeElements { $0.name == "nvpair" && ($0["name"] == name || $0["name"] == last) }
            // Pacemaker's ids: the node id, a dash, and the name with '#' and ':' as '.'.
            func nvpairID(_ n: String) -> String {
                "\(s["id"] ?? node)-" + String(n.map { $0 == "#" || $0 == ":" ? "." : $0 })
            }
            set.append(XElement("nvpair", ["id": nvpairID(name), "name": name, "value": value]))
            set.append(XElement("nvpair", ["id": nvpairID(last), "name": last, "value": String(now)]))
            attrs.setFirstElement(named: "instance_attributes", to: set)
            s.setFirstElement(named: "transient_attributes", to: attrs)
        }
        return notes
    }

    /// Edits a node's `<node_state>`, creating it (with the node's id from the nodes section)
    /// when the status has none.
    mutating func updateNodeState(_ node: String, _ edit: (inout XElement) -> Void) {
        let statusPath = ensureSection(.status)
        var status = root.element(at: statusPath) ?? XElement("status")
        let id = configuration.element.firstElement(named: "nodes")?.elements(named: "node").first { $0["uname"] == node }?.id ?? node
        var state = status.elements(named: "node_state").first { $0["uname"] == node }
            ?? XElement("node_state", ["id": id, "uname": node])
        edit(&state)
        if status.elements(named: "node_state").contains(where: { $0["uname"] == node }) {
            status.children = status.children.map { child in
                if case .element(let e) = child, e.name == "node_state", e["uname"] == node { return .element(state) }
                return child
            }
        } else {
            status.append(state)
        }
        root.modifyElement(at: statusPath) { $0 = status }
    }
}

extension XElement {
    /// Replaces the child element with this tag and id, or appends it.
    mutating func replaceElement(withID id: String, named name: String, by element: XElement) {
        if let i = children.firstIndex(where: { if case .element(let e) = $0 { return e.name == name && e.id == id } else { return false } }) {
            children[i] = .element(element)
        } else {
            append(element)
        }
    }
}
