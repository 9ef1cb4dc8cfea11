import CIB

extension StatusText {
    /// `crm_mon -n` (group by node), as Pacemaker 2.1.5 prints it: every node on its own line
    /// with the primitives active there (in the order its history lists them, without the
    /// node), then, with `-r`, the resources that are not active in full ("Inactive Resources").
    /// Both blocks at the left margin, like `monitorLines`.
    public static func monitorByNode(_ ws: WorkingSet, showInactive: Bool, flavour: Flavour = .monitor) -> [String] {
        let byNode = Printer(ws: ws, options: .init(showPending: true, showInactive: showInactive, showNodes: false, flavour: flavour))
        var out: [String] = []
        let nodes = ws.nodes.sorted { naturalLess($0.name, $1.name) }
        if !nodes.isEmpty {
            out.append("Node List:")
            for n in nodes {
                out.append("  * " + nodeLine(ws, n) + ":")
                out.append("    * Resources:")
                for i in runningOrder(ws, node: n) {
                    // A bundle's resource goes by its configured name, as an anonymous clone's.
                    let bundled = byNode.inBundle(ws.resources[i]) ? ws.resources[i].configuredID : nil
                    out.append("      * " + byNode.primitiveLine(i, nameOverride: bundled))
                }
            }
        }
        guard showInactive else { return out }
        let printer = Printer(ws: ws, options: .init(showPending: true, showInactive: true, flavour: flavour))
        if !out.isEmpty { out.append("") }
        out.append("Inactive Resources:")
        var any = false
        for i in ws.topLevel where printer.isShown(i) && !printer.isFullyActive(i) {
            out += printer.lines(i, indent: "  ")
            any = true
        }
        if !any { out.append("  * No inactive resources") }
        return out
    }

    /// The primitives active on a node, as Pacemaker adds them to the node's running list:
    /// in the order of the node's history entries, then any others in configuration order.
    static func runningOrder(_ ws: WorkingSet, node: SchedulerNode) -> [Int] {
        let active = ws.resources.indices.filter { i in
            let r = ws.resources[i]
            return r.isPrimitive && r.activeOn.contains(node.name) && r.meta["internal_rsc"].map(CIBValue.isTrue) != true
        }
        var order: [Int] = []
        var taken = Set<Int>()
        let state = ws.cib.root.firstElement(named: "status")?.elements(named: "node_state").first { $0.id == node.id || $0["uname"] == node.name }
        for entry in state?.firstElement(named: "lrm")?.firstElement(named: "lrm_resources")?.elements(named: "lrm_resource") ?? [] {
            guard let id = entry.id else { continue }
            for i in active where !taken.contains(i) && (ws.resources[i].historyIDs[node.name] ?? ws.resources[i].id) == id {
                order.append(i)
                taken.insert(i)
            }
        }
        return order + active.filter { !taken.contains($0) }
    }
}

extension StatusText.Printer {
    /// Whether a bundle holds the resource.
    func inBundle(_ r: SchedulerResource) -> Bool {
        var p = r.parent
        while let j = p {
            if case .bundle = ws.resources[j].variant { return true }
            p = ws.resources[j].parent
        }
        return false
    }

    /// Whether every part of a resource is active (Pacemaker's `active(rsc, all: true)`).
    func isFullyActive(_ i: Int) -> Bool {
        let r = ws.resources[i]
        if r.isPrimitive { return isActive(i) }
        if case .bundle = r.variant { return ws.primitives(under: i).allSatisfy { isActive($0) } }
        return r.children.allSatisfy { isFullyActive($0) }
    }
}
