import CIB

/// The first stage: from a CIB to the working set (nodes and their states, the resource tree
/// with clone instances, and each resource's state from its operation history).
enum Unpack {
    static func run(_ input: SchedulerInput) -> WorkingSet {
        let cib = input.cib
        let config = cib.configuration
        let options = ClusterOptions(config)
        let haveQuorum = cib.root["have-quorum"].map(CIBValue.isTrue) ?? false
        var ws = WorkingSet(options: options, nodes: [], resources: [], topLevel: [],
                            haveQuorum: haveQuorum, now: input.now, cib: cib)
        ws.nodes = Nodes.unpack(config: config, status: cib.status, options: options)
        Resources.unpack(config: config, into: &ws)
        applyHistory(&ws)
        return ws
    }

    /// Reads every node's `<lrm_resources>` into the resources' states.
    static func applyHistory(_ ws: inout WorkingSet) {
        for state in ws.cib.status.nodeStates {
            let nodeName = state.uname
            guard ws.nodes.contains(where: { $0.name == nodeName }) else { continue }
            for lrm in state.lrmResources {
                let ops = lrm.element.elements(named: "lrm_rsc_op")
                guard !ops.isEmpty else { continue }
                let configured = findConfigured(lrm.id, in: ws)
                let policy: (String, Int) -> FailurePolicy? = { task, interval in
                    guard let i = configured else { return nil }
                    return Resources.configuredOnFail(ws.resources[i], task: task, intervalMS: interval)
                }
                let h = History.evaluate(ops, fencingEnabled: ws.options.fencingEnabled, policy: policy)
                let target: Int?
                if let i = configured {
                    target = instance(for: i, lrmID: lrm.id, node: nodeName, active: h.isActive || h.onFail != nil, in: &ws)
                } else if h.isActive {
                    target = addOrphan(lrm, in: &ws)
                } else {
                    target = nil
                }
                guard let r = target else { continue }
                record(h, node: nodeName, resource: r, in: &ws)
            }
        }
    }

    /// The configured primitive an lrm_resource id names: the exact id, or for clone
    /// instances the id before the `:N` suffix.
    static func findConfigured(_ id: String, in ws: WorkingSet) -> Int? {
        if let i = ws.resources.firstIndex(where: { $0.id == id && $0.isPrimitive }) { return i }
        let base = id.split(separator: ":").first.map(String.init) ?? id
        return ws.resources.firstIndex { $0.configuredID == base && $0.isPrimitive }
    }

    /// For a clone's primitive, the instance this history belongs to.
    static func instance(for i: Int, lrmID: String, node: String, active: Bool, in ws: inout WorkingSet) -> Int? {
        guard let cloneIndex = Resources.enclosingClone(i, in: ws) else { return i }
        guard case .clone(_, let unique) = ws.resources[cloneIndex].variant else { return i }
        let configuredID = ws.resources[i].configuredID
        let candidates = ws.primitives(under: cloneIndex).filter { ws.resources[$0].configuredID == configuredID }
        if unique || lrmID.contains(":") {
            if let exact = candidates.first(where: { ws.resources[$0].id == lrmID }) {
                if unique { return exact }
                // Anonymous clones may name any instance; keep it if it is free on this node.
                if !active || !ws.resources[exact].activeOn.contains(where: { _ in true }) { return exact }
            }
            if unique { return nil }
        }
        guard active else { return nil }
        // Anonymous: an instance already here, else the first one active nowhere.
        if let here = candidates.first(where: { ws.resources[$0].activeOn.contains(node) }) { return here }
        return candidates.first { ws.resources[$0].activeOn.isEmpty && ws.resources[$0].onFail == nil }
    }

    static func addOrphan(_ lrm: LRMResource, in ws: inout WorkingSet) -> Int {
        var r = SchedulerResource(id: lrm.id, configuredID: lrm.id, variant: .primitive(lrm.agent), parent: nil,
                                  element: XElement("primitive", ["id": lrm.id]))
        r.orphan = true
        ws.resources.append(r)
        ws.topLevel.append(ws.resources.count - 1)
        return ws.resources.count - 1
    }

    static func record(_ h: NodeHistory, node: String, resource r: Int, in ws: inout WorkingSet) {
        if h.isActive && !ws.resources[r].activeOn.contains(node) { ws.resources[r].activeOn.append(node) }
        if h.isActive { ws.resources[r].role = max(ws.resources[r].role, h.role) }
        if let p = h.pendingTask { ws.resources[r].pendingTask = p }
        if h.failureIgnored { ws.resources[r].failureIgnored = true }
        if let f = h.onFail {
            ws.resources[r].onFail = max(ws.resources[r].onFail ?? f, f)
            switch f {
            case .ignore:
                break
            case .fence:
                if let n = ws.nodes.firstIndex(where: { $0.name == node }), ws.options.fencingEnabled {
                    ws.nodes[n].unclean = true
                    ws.nodes[n].fenceReason = "\(ws.resources[r].id) failed there"
                }
                ws.resources[r].failed = true
            case .block:
                ws.resources[r].failed = true
                ws.resources[r].blocked = true
            case .standby:
                if let n = ws.nodes.firstIndex(where: { $0.name == node }) { ws.nodes[n].standbyOnFail = true }
                ws.resources[r].failed = true
            default:
                ws.resources[r].failed = true
            }
        }
    }
}
