import CIB

extension StatusText {
    /// `crm_mon -n` (group by node), as Pacemaker 2.1.5 prints it: every node on its own line
    /// with the primitives active there (in the order its history lists them, without the
    /// node), then, with `-r`, the resources that are not active in full ("Inactive Resources").
    /// Both blocks at the left margin, like `monitorLines`.
    public static func monitorByNode(_ ws: WorkingSet, showInactive: Bool, flavour: Flavour = .monitor, detail: Bool = false,
                                     brief: Bool = false, onlyNodes: Set<String>? = nil, onlyResources: Set<String>? = nil) -> [String] {
        var byNodeOptions = Options(showPending: true, showInactive: showInactive, showNodes: false, flavour: flavour)
        byNodeOptions.detail = detail
        byNodeOptions.onlyResources = onlyResources
        let byNode = Printer(ws: ws, options: byNodeOptions)
        var out: [String] = []
        // --node: only those nodes; --resource: only the primitives it names (or whose top
        // resource holds one it names), as Pacemaker filters a node's running list.
        let nodes = ws.nodes.sorted { naturalLess($0.name, $1.name) }.filter { onlyNodes?.contains($0.name.lowercased()) ?? true }
        if !nodes.isEmpty {
            var list: [String] = []
            for n in nodes {
                // -b counts every resource the node runs, implicit ones (a bundle's or a guest
                // node's connection) too.
                let running = runningOrder(ws, node: n, includeInternal: brief).filter { !byNode.isFiltered($0, checkParent: true) }
                if brief {
                    // -b: the node only with resources, counted by agent (no node named); a
                    // node whose resources are all left uncounted (active on an offline
                    // node) keeps its empty heading.
                    guard !running.isEmpty else { continue }
                    let counts = byNode.briefLines(running, indent: "      ", all: false, nodeNames: false)
                    list.append("  * " + nodeLine(ws, n, detail: detail) + ":")
                    list.append("    * Resources:")
                    list += counts
                    continue
                }
                list.append("  * " + nodeLine(ws, n, detail: detail) + ":")
                list.append("    * Resources:")
                for i in running where byNode.isShownOnNode(i) {
                    // A bundle's resource goes by its configured name, as an anonymous clone's.
                    let bundled = byNode.inBundle(ws.resources[i]) ? ws.resources[i].configuredID : nil
                    list.append("      * " + byNode.primitiveLine(i, nameOverride: bundled))
                }
            }
            // The heading comes with the first node the filter lets through, even when
            // (with -b) no node has resources to list.
            out = ["Node List:"] + list
        }
        guard showInactive else { return out }
        var inactiveOptions = Options(showPending: true, showInactive: true, flavour: flavour)
        inactiveOptions.detail = detail
        inactiveOptions.brief = brief
        inactiveOptions.onlyNodes = onlyNodes
        inactiveOptions.onlyResources = onlyResources
        let printer = Printer(ws: ws, options: inactiveOptions)
        if !out.isEmpty { out.append("") }
        out.append("Inactive Resources:")
        var any = false
        for i in ws.topLevel where printer.isShown(i) && !printer.isFullyActive(i) && printer.passesFilters(i) {
            let lines = printer.lines(i, indent: "  ")
            out += lines
            any = any || !lines.isEmpty
        }
        if !any { out.append("  * No inactive resources") }
        return out
    }

    /// The primitives active on a node, as Pacemaker adds them to the node's running list:
    /// in the order of the node's history entries, then any others in configuration order.
    static func runningOrder(_ ws: WorkingSet, node: SchedulerNode, includeInternal: Bool = false) -> [Int] {
        let active = ws.resources.indices.filter { i in
            let r = ws.resources[i]
            return r.isPrimitive && r.activeOn.contains(node.name) && (includeInternal || r.meta["internal_rsc"].map(CIBValue.isTrue) != true)
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
    /// An internal resource shows only with -R.
    func isShownOnNode(_ i: Int) -> Bool {
        options.detail || ws.resources[i].meta["internal_rsc"].map(CIBValue.isTrue) != true
    }

    /// The name Pacemaker prints a resource by (`rsc_printable_id`): an anonymous clone's
    /// instance by its configured id.
    func printableID(_ i: Int) -> String { name(ws.resources[i]) }

    /// Pacemaker's `is_filtered` for --resource: whether the resource is left out. A
    /// primitive passes by its own name or (with `checkParent`) when its top resource (below
    /// a bundle: the bundle) passes; a group, clone or bundle by its name, a clone's by its
    /// child's configured id, or when one of its members passes.
    func isFiltered(_ i: Int, checkParent: Bool) -> Bool {
        guard let wanted = options.onlyResources else { return false }
        let r = ws.resources[i]
        switch r.variant {
        case .primitive:
            if wanted.contains(printableID(i)) || wanted.contains(r.id) { return false }
            guard checkParent, r.parent != nil else { return true }
            var up = i
            while let p = ws.resources[up].parent {
                if case .bundle = ws.resources[p].variant { return isFiltered(p, checkParent: false) }
                up = p
            }
            return isFiltered(up, checkParent: false)
        case .group:
            if wanted.contains(printableID(i)) || (r.id.contains(":") && wanted.contains(r.id)) { return false }
            return r.children.allSatisfy { isFiltered($0, checkParent: false) }
        case .clone:
            if wanted.contains(printableID(i)) { return false }
            let childID = r.element.elements.first { $0.name == "primitive" || $0.name == "group" }?.id ?? ""
            if wanted.contains(childID) { return false }
            return r.children.allSatisfy { isFiltered($0, checkParent: false) }
        case .bundle:
            if wanted.contains(r.id) { return false }
            for rep in ws.bundleReplicas[i] ?? [] {
                for part in [rep.ip, rep.child, rep.container, rep.connection].compactMap({ $0 }) where !isFiltered(part, checkParent: false) {
                    return false
                }
            }
            return true
        }
    }

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
