/// The cluster status as text, laid out as `crm_mon -1` and `crm_simulate` print it:
/// a node list, then the full list of resources.
public enum StatusText {
    /// The lines of the "Node List" and "Full List of Resources" blocks (two-space indented).
    public static func render(_ ws: WorkingSet) -> [String] {
        var out = ["  * Node List:"]
        out += nodeList(ws).map { "    * " + $0 }
        out.append("")
        out.append("  * Full List of Resources:")
        for i in ws.topLevel {
            out += resourceLines(i, ws, indent: "    ")
        }
        return out
    }

    // MARK: nodes

    static func nodeList(_ ws: WorkingSet) -> [String] {
        var lines: [String] = []
        var online: [String] = [], offline: [String] = []
        var remoteOnline: [String] = [], remoteOffline: [String] = []
        var guestOnline: [String] = [], guestOffline: [String] = []
        let sorted = ws.nodes.sorted { $0.name < $1.name }
        for n in sorted {
            let active = ws.resources.contains { $0.isPrimitive && $0.activeOn.contains(n.name) }
            if n.unclean {
                lines.append("Node \(n.name): UNCLEAN (\(n.online ? "online" : "offline"))")
            } else if n.pending {
                lines.append("Node \(n.name): pending")
            } else if n.online && (n.standby || n.standbyOnFail) {
                lines.append("Node \(n.name): standby" + (active ? " (with active resources)" : ""))
            } else if n.online && n.maintenance {
                lines.append("Node \(n.name): maintenance")
            } else if n.online {
                switch n.kind {
                case .member: online.append(n.name)
                case .remote: remoteOnline.append(n.name)
                case .guest: guestOnline.append(n.name)
                }
            } else {
                switch n.kind {
                case .member: offline.append(n.name)
                case .remote: remoteOffline.append(n.name)
                case .guest: guestOffline.append(n.name)
                }
            }
        }
        func list(_ label: String, _ names: [String]) {
            if !names.isEmpty { lines.append("\(label): [ \(names.joined(separator: " ")) ]") }
        }
        list("Online", online)
        list("OFFLINE", offline)
        list("RemoteOnline", remoteOnline)
        list("RemoteOFFLINE", remoteOffline)
        list("GuestOnline", guestOnline)
        list("GuestOFFLINE", guestOffline)
        return lines
    }

    // MARK: resources

    static func resourceLines(_ i: Int, _ ws: WorkingSet, indent: String) -> [String] {
        let r = ws.resources[i]
        switch r.variant {
        case .primitive:
            return [indent + "* " + primitiveLine(r, ws)]
        case .group:
            var flags: [String] = []
            if r.targetRole == .stopped { flags.append("disabled") }
            if !r.managed { flags.append("unmanaged") }
            var lines = [indent + "* Resource Group: \(r.id)" + (flags.isEmpty ? "" : " (\(flags.joined(separator: ", ")))") + ":"]
            for c in r.children { lines += resourceLines(c, ws, indent: indent + "  ") }
            return lines
        case .clone(let promotable, let unique):
            return cloneLines(i, ws, indent: indent, promotable: promotable, unique: unique)
        case .bundle:
            var lines = [indent + "* Container bundle: \(r.id):"]
            for c in r.children { lines += resourceLines(c, ws, indent: indent + "  ") }
            return lines
        }
    }

    static func agentText(_ r: SchedulerResource) -> String {
        guard let a = r.agent else { return "" }
        return a.description
    }

    /// `rsc\t(ocf:heartbeat:IPaddr2):\t Started node1 (flags)`.
    static func primitiveLine(_ r: SchedulerResource, _ ws: WorkingSet, showNodes: Bool = true) -> String {
        var state = ""
        if r.orphan { state += "ORPHANED " }
        let role = r.role == .unknown || r.activeOn.isEmpty ? Role.stopped : r.role
        if r.failed && !r.activeOn.isEmpty {
            state += "FAILED" + (role == .promoted ? " Promoted" : "")
        } else if let p = r.pendingTask, !r.activeOn.isEmpty {
            state += pendingWord(p) ?? role.description
        } else {
            state += role.description
        }
        if showNodes {
            if r.activeOn.count == 1 {
                state += " " + r.activeOn[0]
            } else if r.activeOn.count > 1 {
                state += " [ " + r.activeOn.joined(separator: " ") + " ]"
            }
        }
        var flags: [String] = []
        if r.activeOn.count == 1, let n = ws.node(named: r.activeOn[0]), n.unclean { flags.append("UNCLEAN") }
        var rest: [String] = []
        if r.targetRole == .stopped && !r.orphan { rest.append("disabled") }
        if r.blocked { rest.append("blocked") } else if !r.managed || ws.options.maintenanceMode || r.maintenance { rest.append(r.maintenance ? "maintenance" : "unmanaged") }
        if r.failureIgnored { rest.append("failure ignored") }
        var text = "\(r.id)\t(\(agentText(r))):\t \(state)"
        if !flags.isEmpty { text += " (\(flags.joined(separator: ", ")))" }
        if !rest.isEmpty { text += " (\(rest.joined(separator: ", ")))" }
        return text
    }

    static func pendingWord(_ task: String) -> String? {
        switch task {
        case "start": "Starting"
        case "stop": "Stopping"
        case "promote": "Promoting"
        case "demote": "Demoting"
        case "migrate_to", "migrate_from": "Migrating"
        case "monitor": "Monitoring"
        default: nil
        }
    }

    static func cloneLines(_ i: Int, _ ws: WorkingSet, indent: String, promotable: Bool, unique: Bool) -> [String] {
        let r = ws.resources[i]
        var attrs: [String] = []
        if promotable { attrs.append("promotable") }
        if unique { attrs.append("unique") }
        if r.targetRole == .stopped { attrs.append("disabled") }
        if !r.managed { attrs.append("unmanaged") }
        let childName = r.children.first.map { ws.resources[$0].configuredID } ?? ""
        var lines = [indent + "* Clone Set: \(r.id) [\(childName)]" + (attrs.isEmpty ? "" : " (\(attrs.joined(separator: ", ")))") + ":"]
        let inner = indent + "  "
        if unique {
            for c in r.children { lines += resourceLines(c, ws, indent: inner) }
            return lines
        }
        // Anonymous: instances that are simply running (or stopped) are summarised by node.
        var started: [String] = [], promoted: [String] = [], unpromoted: [String] = []
        var detailed: [Int] = []
        for c in r.children {
            let child = ws.resources[c]
            let prims = ws.primitives(under: c).map { ws.resources[$0] }
            let interesting = prims.contains { $0.failed || $0.pendingTask != nil || !$0.managed || $0.activeOn.count > 1 || $0.orphan }
                || (child.variant == .group && prims.contains { $0.activeOn.isEmpty } && prims.contains { !$0.activeOn.isEmpty })
            if interesting { detailed.append(c); continue }
            guard let node = prims.first?.activeOn.first else { continue }
            let role = prims.map(\.role).max() ?? .started
            if promotable {
                if role == .promoted { promoted.append(node) } else { unpromoted.append(node) }
            } else {
                started.append(node)
            }
        }
        for c in detailed { lines += resourceLines(c, ws, indent: inner) }
        func list(_ label: String, _ names: [String]) {
            if !names.isEmpty { lines.append(inner + "* \(label): [ \(names.sorted().joined(separator: " ")) ]") }
        }
        list("Promoted", promoted)
        list("Unpromoted", unpromoted)
        list("Started", started)
        // Where no instance runs: every other node that could run one.
        let running = Set(r.children.flatMap { ws.primitives(under: $0) }.flatMap { ws.resources[$0].activeOn })
        let stoppedNodes = ws.nodes.filter { !running.contains($0.name) && $0.kind == .member }.map(\.name)
        let activeInstances = r.children.filter { c in ws.primitives(under: c).contains { !ws.resources[$0].activeOn.isEmpty } }.count
        if activeInstances < r.children.count && !stoppedNodes.isEmpty {
            list(r.targetRole == .stopped ? "Stopped (disabled)" : "Stopped", stoppedNodes)
        }
        return lines
    }
}
