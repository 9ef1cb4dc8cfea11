import CIB

/// The cluster status as text, laid out as `crm_mon -1` and `crm_simulate` print it:
/// a node list, then the full list of resources (inactive ones included).
public enum StatusText {
    /// What to show beyond the defaults.
    public struct Options: Sendable {
        /// Pending actions ("Starting", "(Monitoring)"): shown for the current status only.
        public var showPending: Bool
        /// Stopped resources too (crm_simulate, `crm_mon -r`); otherwise only active ones.
        public var showInactive: Bool
        /// The node a primitive runs on (crm_resource --list leaves it out).
        public var showNodes: Bool
        /// Whose layout: the two tools differ on unmanaged resources (see `Flavour`).
        public var flavour: Flavour
        /// crm_mon --node: only these nodes (lowercased names) and the resources active there.
        public var onlyNodes: Set<String>?
        /// crm_mon --resource: only these resources (ids), with their members.
        public var onlyResources: Set<String>?
        /// crm_mon -b: primitives counted by agent and node, not listed one by one.
        public var brief = false
        /// crm_mon -R (Pacemaker's pcmk_show_details): node ids and feature sets, every clone
        /// instance on its own line, a bundle's implicit resources.
        public var detail = false
        public init(showPending: Bool = true, showInactive: Bool = true, showNodes: Bool = true, flavour: Flavour = .simulate) {
            self.showPending = showPending
            self.showInactive = showInactive
            self.showNodes = showNodes
            self.flavour = flavour
        }
    }

    /// The two layouts of the same status. `crm_simulate`'s (the scheduler suite's expected
    /// output) names maintenance "(maintenance)" and lists a group's or clone's flags as
    /// "disabled, maintenance"; Pacemaker 2.1.5's crm_mon and crm_resource say "(unmanaged)"
    /// for any resource the cluster does not manage, put "unmanaged" before "disabled" on
    /// groups and clones, give a bundle's flags in separate parentheses, and show a
    /// promotable resource's "target-role:Unpromoted".
    public enum Flavour: Sendable {
        case simulate
        case monitor
    }

    /// `crm_resource --list`: every resource, with its state but not its node.
    public static func resourceList(_ ws: WorkingSet, flavour: Flavour = .monitor) -> [String] {
        let printer = Printer(ws: ws, options: .init(showPending: true, showInactive: true, showNodes: false, flavour: flavour))
        var out = ["Full List of Resources:"]
        for i in ws.topLevel where printer.isShown(i) { out += printer.lines(i, indent: "  ") }
        if out.count == 1 { out.append("  * No resources") }
        return out
    }

    /// A primitive as `crm_resource --list-operations` names it before each operation: its
    /// state line without its node (`rsc\t(ocf:heartbeat:Dummy):\t Started`), under its
    /// configured id when it is an anonymous clone's instance.
    public static func operationOwnerText(_ ws: WorkingSet, _ i: Int) -> String {
        let printer = Printer(ws: ws, options: .init(showPending: true, showInactive: true, showNodes: false, flavour: .monitor))
        return printer.primitiveLine(i, nameOverride: printer.inAnonymousClone(ws.resources[i]) ? ws.resources[i].configuredID : ws.resources[i].id)
    }

    /// `crm_resource --query-xml`'s first lines: the resource as `crm_mon` shows it, without
    /// the headers of groups, clones and bundles and without bullets or indentation (Pacemaker
    /// prints that list as plain text).
    public static func plainResourceLines(_ ws: WorkingSet, _ i: Int) -> [String] {
        // Inactive resources are left out (Pacemaker prints this list without
        // pcmk_show_inactive_rscs), except the primitive asked about.
        let primitive = ws.resources[i].isPrimitive
        var options = Options(showPending: true, showInactive: primitive, flavour: .monitor)
        options.onlyResources = [ws.resources[i].id]
        let printer = Printer(ws: ws, options: options)
        if !primitive && !printer.isShown(i) { return [] }
        return printer.lines(i, indent: "").compactMap { line in
            var body = Substring(line.drop { $0 == " " })
            if body.hasPrefix("* ") { body = body.dropFirst(2) }
            let headers = ["Resource Group:", "Clone Set:", "Container bundle set:", "Container bundle:", "Replica["]
            if body.hasSuffix(":") && headers.contains(where: { body.hasPrefix($0) }) { return nil }
            return String(body)
        }
    }

    /// The status as `crm_mon -1` prints it below its summary: the node list, then the active
    /// resources (or all of them), each block at the left margin.
    public static func monitorLines(_ ws: WorkingSet, showInactive: Bool, flavour: Flavour = .monitor,
                                    onlyNodes: Set<String>? = nil, onlyResources: Set<String>? = nil, brief: Bool = false,
                                    detail: Bool = false) -> [String] {
        var out: [String] = []
        var options = Options(showPending: true, showInactive: showInactive, flavour: flavour)
        options.brief = brief
        options.detail = detail
        options.onlyNodes = onlyNodes
        options.onlyResources = onlyResources
        for line in render(ws, options: options) {
            guard line.hasPrefix("  ") else { out.append(line); continue }
            let body = String(line.dropFirst(2))
            // The block headers lose their bullet.
            if body == "* Node List:" || body == "* Full List of Resources:" || body == "* Active Resources:" {
                out.append(String(body.dropFirst(2)))
            } else {
                out.append(body)
            }
        }
        return out
    }

    /// The lines of the "Node List" and "Full List of Resources" blocks (two-space indented).
    public static func render(_ ws: WorkingSet, options: Options = .init()) -> [String] {
        var out: [String] = []
        let nodes = nodeList(ws, only: options.onlyNodes, detail: options.detail)
        if !nodes.isEmpty {
            out.append("  * Node List:")
            out += nodes.map { "    * " + $0 }
            out.append("")
        }
        out.append(options.showInactive ? "  * Full List of Resources:" : "  * Active Resources:")
        let printer = Printer(ws: ws, options: options)
        var any = false
        if options.brief {
            // The top-level primitives in one count per agent and node, before the rest.
            let brief = printer.briefLines(ws.topLevel.filter { printer.passesResourceFilter($0) }, indent: "    ", all: options.showInactive)
            out += brief
            any = !brief.isEmpty
        }
        for i in ws.topLevel where printer.isShown(i) && printer.passesFilters(i) && !(options.brief && ws.resources[i].isPrimitive) {
            out += printer.lines(i, indent: "    ")
            any = true
        }
        if !any { out.append(options.showInactive ? "    * No resources" : "    * No active resources") }
        return out
    }

    // MARK: nodes

    static func nodeList(_ ws: WorkingSet, only: Set<String>? = nil, detail: Bool = false) -> [String] {
        var lines: [String] = []
        var online: [String] = [], offline: [String] = []
        var remoteOnline: [String] = [], remoteOffline: [String] = []
        var guestOnline: [String] = []
        for n in ws.nodes.sorted(by: { naturalLess($0.name, $1.name) }) where only?.contains(n.name.lowercased()) ?? true {
            // (With -R every node has its own line, an offline guest node too.)
            if detail {
                lines.append(nodeLine(ws, n, detail: true))
                continue
            }
            // (A node in a bad state has its own line, an offline guest node too once its
            // status entry was read; other offline guest nodes are left out.)
            let individual = n.unclean || n.pending || (n.standbyOnFail && n.online) || n.standby || n.maintenance || n.health != .green
            // (2.1.5; later versions leave every offline guest node out.)
            let guestShown = ws.options.pacemaker2Status && n.hasState
            if individual && !(n.kind == .guest && !n.online && !guestShown) {
                lines.append(nodeLine(ws, n))
                continue
            }
            if n.kind == .guest && !n.online { continue }
            switch (n.kind, n.online) {
            case (.member, true): online.append(n.name)
            case (.member, false): offline.append(n.name)
            case (.remote, true): remoteOnline.append(n.name)
            case (.remote, false): remoteOffline.append(n.name)
            case (.guest, true): guestOnline.append(n.name)
            case (.guest, false): break
            }
        }
        for (label, names) in [("Online", online), ("OFFLINE", offline), ("RemoteOnline", remoteOnline),
                               ("RemoteOFFLINE", remoteOffline), ("GuestOnline", guestOnline)] where !names.isEmpty {
            lines.append("\(label): [ \(names.joined(separator: " ")) ]")
        }
        return lines
    }

    /// A node's name as Pacemaker displays it: with -R, a guest node's host after `@` (empty
    /// when its container runs nowhere) and the node's id in parentheses when it differs from
    /// the name.
    public static func displayName(_ ws: WorkingSet, _ n: SchedulerNode, detail: Bool) -> String {
        guard detail else { return n.name }
        var name = n.name
        if n.kind == .guest {
            let host = n.container.flatMap { ws.index(of: $0) }.flatMap { ws.resources[$0].activeOn.first }
            name += "@" + (host ?? "")
        }
        if n.id.lowercased() != n.name.lowercased() { name += " (\(n.id))" }
        return name
    }

    /// A cluster node's feature set as -R shows it: its `#feature-set` attribute, or
    /// `<3.15.1` (older versions did not set one); none for offline, remote and guest nodes.
    public static func featureSet(_ n: SchedulerNode) -> String? {
        guard n.online, n.kind == .member else { return nil }
        return n.attributes["#feature-set"] ?? "<3.15.1"
    }

    /// Whether the online cluster nodes run different feature sets (the DC line says
    /// "MIXED-VERSION").
    public static func isMixedVersion(_ ws: WorkingSet) -> Bool {
        Set(ws.nodes.compactMap(featureSet)).count > 1
    }

    /// A node on its own line: `Node node1: standby (with active resources)`.
    static func nodeLine(_ ws: WorkingSet, _ n: SchedulerNode, detail: Bool = false) -> String {
        let kind = n.kind == .member ? "Node" : (n.kind == .remote ? "RemoteNode" : "GuestNode")
        let health = n.health == .red ? " (health is RED)" : (n.health == .yellow ? " (health is YELLOW)" : "")
        let status: String
        if n.unclean {
            status = "UNCLEAN (\(n.online ? "online" : (n.pending ? "pending" : "offline")))"
        } else if n.pending {
            status = "pending"
        } else if n.standbyOnFail && n.online {
            status = "standby (on-fail)"
        } else if n.standby {
            let active = ws.resources.contains { $0.isPrimitive && $0.activeOn.contains(n.name) && $0.role >= .started }
            status = !n.online ? "OFFLINE (standby)" : (active ? "standby (with active resources)" : "standby")
        } else if n.maintenance {
            status = n.online ? "maintenance" : "OFFLINE (maintenance)"
        } else {
            status = n.online ? "online" : "OFFLINE"
        }
        let features = detail ? featureSet(n).map { ", feature set \($0)" } ?? "" : ""
        return "\(kind) \(displayName(ws, n, detail: detail)): \(status)\(health)\(features)"
    }

    // MARK: resources

    struct Printer {
        let ws: WorkingSet
        let options: Options

        /// Inactive orphans and the hidden connections of guest nodes are not shown.
        func isShown(_ i: Int) -> Bool {
            let r = ws.resources[i]
            if r.meta["internal_rsc"].map(CIBValue.isTrue) == true && !options.detail { return false }
            if r.orphan && !isActive(i) && r.activeOn.isEmpty { return false }
            if !options.showInactive && !isActive(i) { return false }
            return true
        }

        /// crm_mon's --node and --resource: a resource active elsewhere only is left out, and
        /// so is one that neither is, nor holds, nor belongs to a resource asked for.
        func passesFilters(_ i: Int) -> Bool {
            if let nodes = options.onlyNodes {
                let on = ws.primitives(under: i).flatMap { ws.resources[$0].activeOn }
                if !on.isEmpty && !on.contains(where: { nodes.contains($0.lowercased()) }) { return false }
            }
            if let wanted = options.onlyResources {
                func matches(_ j: Int) -> Bool {
                    let r = ws.resources[j]
                    return wanted.contains(r.id) || wanted.contains(r.configuredID) || r.children.contains(where: matches)
                }
                var up: Int? = i
                var any = false
                while let k = up { if wanted.contains(ws.resources[k].id) || wanted.contains(ws.resources[k].configuredID) { any = true }; up = ws.resources[k].parent }
                if !any && !matches(i) { return false }
            }
            return true
        }

        /// crm_mon --resource alone (its brief counts ignore --node).
        func passesResourceFilter(_ i: Int) -> Bool {
            guard let wanted = options.onlyResources else { return true }
            let r = ws.resources[i]
            if wanted.contains(r.id) || wanted.contains(r.configuredID) { return true }
            if let p = r.parent { return wanted.contains(ws.resources[p].id) || wanted.contains(ws.resources[p].configuredID) }
            return false
        }

        /// crm_mon -b: `N/M\t(class:provider:type):\tActive node` for each agent (in byte
        /// order) and node it is active on (in natural order); `N` alone without `all`; with
        /// `all`, `0/M ... Active` for an agent active nowhere.
        func briefLines(_ list: [Int], indent: String, all: Bool, nodeNames: Bool = true) -> [String] {
            var total: [String: Int] = [:]
            var active: [String: [String: Int]] = [:]
            for i in list where ws.resources[i].isPrimitive {
                let r = ws.resources[i]
                let type = agentText(r)
                total[type, default: 0] += 1
                for n in r.activeOn {
                    if let node = ws.node(named: n), !node.unclean, !node.online, r.managed { continue }
                    active[type, default: [:]][n, default: 0] += 1
                }
            }
            var out: [String] = []
            for type in total.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                var sum = 0
                let counts = active[type] ?? [:]
                for node in counts.keys.sorted(by: naturalLess) {
                    let c = counts[node]!
                    sum += c
                    out.append(indent + "* " + (all ? "\(c)/\(total[type]!)" : "\(c)") + "\t(\(type)):\tActive \(nodeNames ? node : "")")
                }
                if all && sum == 0 { out.append(indent + "* 0/\(total[type]!)\t(\(type)):\tActive") }
            }
            return out
        }

        /// Active, but not on a node --node names.
        func filteredByNode(_ i: Int) -> Bool {
            guard let nodes = options.onlyNodes else { return false }
            let on = ws.primitives(under: i).flatMap { ws.resources[$0].activeOn }
            return !on.isEmpty && !on.contains { nodes.contains($0.lowercased()) }
        }

        /// A member shown under its group or clone: all of them when the parent was asked for.
        func memberPasses(_ i: Int) -> Bool {
            if filteredByNode(i) { return false }
            guard let wanted = options.onlyResources else { return true }
            var up: Int? = i
            while let k = up {
                if wanted.contains(ws.resources[k].id) || wanted.contains(ws.resources[k].configuredID) { return true }
                up = ws.resources[k].parent
            }
            func below(_ j: Int) -> Bool {
                ws.resources[j].children.contains { wanted.contains(ws.resources[$0].id) || wanted.contains(ws.resources[$0].configuredID) || below($0) }
            }
            return below(i)
        }

        func lines(_ i: Int, indent: String) -> [String] {
            let r = ws.resources[i]
            switch r.variant {
            case .primitive:
                return [indent + "* " + primitiveLine(i)]
            case .group:
                var flags = groupFlags(r)
                var members = r.children.filter { options.showInactive || isActive($0) }
                let inactive = r.children.count - members.count
                // A member --resource names shows even when inactive.
                if let wanted = options.onlyResources, r.parent == nil {
                    members = r.children.filter { members.contains($0) || wanted.contains(ws.resources[$0].id) }
                }
                if inactive > 0 { flags.insert("\(inactive) member\(inactive == 1 ? "" : "s") inactive", at: 0) }
                var lines = [indent + "* Resource Group: \(r.id)" + flagText(flags) + ":"]
                if options.brief {
                    let listed = r.children.filter { passesResourceFilter($0) }
                    return listed.isEmpty ? [] : lines + briefLines(listed, indent: indent + "  ", all: true)
                }
                // A clone's instance shows all its members, as Pacemaker's.
                for c in members where r.parent != nil ? !filteredByNode(c) : memberPasses(c) {
                    lines += self.lines(c, indent: indent + "  ")
                }
                // No member to show, no header (a stopped instance of a cloned group with -R).
                if (options.detail || r.parent != nil) && lines.count == 1 { return [] }
                return lines
            case .clone(let promotable, let unique):
                return cloneLines(i, indent: indent, promotable: promotable, unique: unique)
            case .bundle:
                return bundleLines(i, indent: indent)
            }
        }

        func flagText(_ flags: [String]) -> String {
            flags.isEmpty ? "" : " (\(flags.joined(separator: ", ")))"
        }

        func isMaintenance(_ r: SchedulerResource) -> Bool {
            ws.options.maintenanceMode || r.maintenance
                || r.activeOn.contains { ws.node(named: $0)?.maintenance == true }
        }

        func isManaged(_ r: SchedulerResource) -> Bool {
            r.managed && !isMaintenance(r) && !(r.orphan && !ws.options.stopOrphanResources) && !r.blocked
        }

        func groupFlags(_ r: SchedulerResource) -> [String] {
            var flags: [String] = []
            let disabled = r.targetRole == .stopped || (r.targetRole == .unpromoted && inPromotable(r))
            if options.flavour == .monitor {
                if !collectiveManaged(r) { flags.append("unmanaged") }
                if disabled { flags.append("disabled") }
                return flags
            }
            if disabled { flags.append("disabled") }
            if ws.options.maintenanceMode || r.maintenance { flags.append("maintenance") } else if !r.managed { flags.append("unmanaged") }
            return flags
        }

        /// Whether the cluster manages a group, clone or bundle: not in maintenance (the
        /// cluster's or its own) and not is-managed=false.
        func collectiveManaged(_ r: SchedulerResource) -> Bool {
            !(ws.options.maintenanceMode || r.maintenance) && r.managed
        }

        /// Whether the top non-bundle ancestor is a promotable clone, or the resource is the
        /// bundled resource of a promotable bundle.
        func inPromotable(_ r: SchedulerResource) -> Bool {
            var p = r.parent
            var promotable = false
            while let j = p {
                switch ws.resources[j].variant {
                case .clone(let pr, _): promotable = pr
                case .bundle: promotable = ws.resources[j].bundlePromotable && r.id != r.configuredID
                default: break
                }
                p = ws.resources[j].parent
            }
            return promotable
        }

        /// Whether the resource's top ancestor is a promotable clone.
        func topIsPromotable(_ r: SchedulerResource) -> Bool {
            var top = r
            while let p = top.parent { top = ws.resources[p] }
            if case .clone(let promotable, _) = top.variant { return promotable }
            return false
        }

        func inAnonymousClone(_ r: SchedulerResource) -> Bool {
            var p = r.parent
            while let j = p {
                if case .clone(_, let unique) = ws.resources[j].variant { return !unique }
                p = ws.resources[j].parent
            }
            return false
        }

        /// The nodes that count for display: unclean or online ones, or any for an unmanaged
        /// resource.
        func displayNodes(_ r: SchedulerResource) -> [String] {
            r.activeOn.filter { name in
                guard let n = ws.node(named: name) else { return false }
                return n.unclean || n.online || !r.managed
            }
        }

        func isActive(_ i: Int) -> Bool {
            let r = ws.resources[i]
            if r.isPrimitive { return !displayNodes(r).isEmpty }
            return ws.primitives(under: i).contains { !displayNodes(ws.resources[$0]).isEmpty }
        }

        func name(_ r: SchedulerResource) -> String {
            inAnonymousClone(r) ? r.configuredID : r.id
        }

        /// `rsc\t(ocf:heartbeat:IPaddr2):\t Started node1 (flags)`.
        func primitiveLine(_ i: Int, nameOverride: String? = nil, nodeOverride: String?? = nil) -> String {
            let r = ws.resources[i]
            let role: Role = r.activeOn.isEmpty || r.role == .unknown ? .stopped : r.role
            var words: [String] = []
            if r.orphan { words.append("ORPHANED") }
            let pending = options.showPending ? r.pendingTask : nil
            // (A launched resource whose stop failed counts as stopped, yet failed.)
            if r.failed && (!r.activeOn.isEmpty || r.failureIgnored || r.failedInactive) {
                words.append("FAILED")
                if role == .promoted { words.append("Promoted") }
            } else if let p = pending, let word = ResourcesXML.pendingState(p) {
                words.append(word)
            } else if role == .started && inPromotable(r) {
                words.append("Unpromoted")
            } else {
                words.append(role.description)
            }
            var node: String?
            if r.activeOn.count == 1 {
                node = r.activeOn[0]
            } else if r.activeOn.isEmpty, let p = r.pendingNode, options.showPending {
                node = p
            }
            if let override = nodeOverride { node = override }
            if r.activeOn.count <= 1, let node, options.showNodes { words.append(node) }
            var text = "\(nameOverride ?? name(r))\t(\(agentText(r))):\t " + words.joined(separator: " ")
            if role == .stopped, let masked = maskedProbe(r, node: node) { text += " (\(masked)) " }
            var flags: [String] = []
            if options.showNodes, let node, let n = ws.node(named: node), n.unclean, !n.online, r.activeOn.count <= 1 { flags.append("UNCLEAN") }
            if options.showPending, r.pendingTask == "monitor", r.pendingNode != nil { flags.append("Monitoring") }
            if r.targetRole == .stopped && !r.orphan {
                flags.append("disabled")
            } else if options.flavour == .monitor, r.targetRole == .unpromoted, topIsPromotable(r), let raw = r.meta["target-role"] {
                flags.append("target-role:" + raw)
            }
            if r.blocked {
                flags.append("blocked")
            } else if options.flavour == .monitor, !isManaged(r) {
                flags.append("unmanaged")
            } else if isMaintenance(r) {
                flags.append("maintenance")
            } else if !r.managed || (r.orphan && !ws.options.stopOrphanResources) {
                flags.append("unmanaged")
            }
            if r.failureIgnored { flags.append("failure ignored") }
            text += flagText(flags)
            if r.activeOn.count > 1 && options.showNodes { text += " [ " + r.activeOn.joined(separator: " ") + " ]" }
            return text
        }

        func maskedProbe(_ r: SchedulerResource, node: String?) -> String? {
            guard let byNode = ws.maskedProbes[r.configuredID] else { return nil }
            if let node { return byNode[node].map(maskedWords) }
            return ws.nodes.sorted { naturalLess($0.name, $1.name) }.lazy.compactMap { byNode[$0.name] }.first.map(maskedWords)
        }

        /// A masked probe's result as the status names it: 2.1.5 in its OCF words
        /// ("not installed"), later versions capitalized.
        func maskedWords(_ s: String) -> String {
            ws.options.pacemaker2Status ? s.lowercased() : s
        }

        func agentText(_ r: SchedulerResource) -> String {
            guard let a = r.agent else { return "" }
            if a.standard == "ocf" { return a.description }
            return "\(a.standard):\(a.type)"
        }


        // MARK: clones

        func cloneLines(_ i: Int, indent: String, promotable: Bool, unique: Bool) -> [String] {
            let r = ws.resources[i]
            var attrs: [String] = []
            if promotable { attrs.append("promotable") }
            if unique { attrs.append("unique") }
            let cloneDisabled = r.targetRole == .stopped || (promotable && r.targetRole == .unpromoted)
            if options.flavour == .monitor {
                if !collectiveManaged(r) { attrs.append("unmanaged") }
                if cloneDisabled { attrs.append("disabled") }
            } else {
                if cloneDisabled { attrs.append("disabled") }
                if ws.options.maintenanceMode || r.maintenance { attrs.append("maintenance") } else if !r.managed { attrs.append("unmanaged") }
            }
            let childName = ws.resources[i].element.elements.first { $0.name == "primitive" || $0.name == "group" }?.id ?? ""
            var lines = [indent + "* Clone Set: \(r.id) [\(childName)]" + flagText(attrs) + ":"]
            let inner = indent + "  "
            if options.detail {
                // -R: every instance on its own line, stopped ones too (an orphan instance the
                // history of a stopped copy made as well: "ORPHANED Stopped").
                for c in r.children where memberPasses(c) {
                    lines += self.lines(c, indent: inner)
                }
                return lines.count > 1 ? lines : []
            }
            if unique {
                // Every instance but stopped orphans, active or not (crm_mon without -r too).
                let everyInstance = options.flavour == .monitor || options.showInactive
                for c in r.children where !(ws.resources[c].orphan && !isActive(c)) && (everyInstance || isActive(c)) && memberPasses(c) {
                    lines += self.lines(c, indent: inner)
                }
                return lines
            }
            var promoted: [String] = [], started: [String] = []
            var full: [Int] = []
            for c in r.children where memberPasses(c) {
                let prims = ws.primitives(under: c)
                let activePrims = prims.filter { !displayNodes(ws.resources[$0]).isEmpty }
                let nodes = Set(activePrims.flatMap { displayNodes(ws.resources[$0]) })
                let partly = !activePrims.isEmpty
                let fully = partly && activePrims.count == prims.count
                // (A pending action other than a probe: a recurring monitor's has its node.)
                let pending = options.showPending && prims.contains { p in
                    ws.resources[p].pendingTask.map { $0 != "monitor" || ws.resources[p].pendingNode != nil } ?? false
                }
                let troubled = prims.contains { ws.resources[$0].orphan || !isManaged(ws.resources[$0]) || ws.resources[$0].failed }
                let uncleanNode = nodes.count == 1 && ws.node(named: nodes.first!).map { $0.unclean && !$0.online } == true
                if pending || (partly && troubled) || (fully && uncleanNode) || (fully && nodes.count > 1) || (partly && !fully) {
                    full.append(c)
                } else if fully, let node = nodes.first {
                    let role = prims.map { ws.resources[$0].role }.max() ?? .started
                    if role == .promoted { promoted.append(node) } else { started.append(node) }
                }
            }
            // (An instance with an action pending shows even when inactive.)
            for c in full where options.showInactive || isActive(c) || (options.showPending && ws.primitives(under: c).contains { ws.resources[$0].pendingNode != nil }) {
                lines += self.lines(c, indent: inner)
            }
            if !promoted.isEmpty { lines.append(inner + "* Promoted: [ \(sortedNames(promoted)) ]") }
            if !started.isEmpty {
                let label = promotable ? (r.targetRole == .unpromoted ? "Unpromoted (target-role)" : "Unpromoted") : "Started"
                lines.append(inner + "* \(label): [ \(sortedNames(started)) ]")
            }
            let cloneMax = Resources.cloneMax(r.meta, nodeCount: r.children.filter { !ws.resources[$0].orphan }.count)
            let activeInstances = promoted.count + started.count
            guard cloneMax > activeInstances, options.showInactive else { return lines }
            let everActive = Set(r.children.flatMap { ws.primitives(under: $0) }.flatMap { ws.resources[$0].activeOn })
            // A bundle's nodes count only when the nodes section declares them.
            let declared = Set(ws.cib.configuration.nodes.map(\.uname))
            // Nor do the nodes of removed connections, known only from the history.
            var candidates = ws.nodes.filter { n in
                guard !n.isBundleNode || declared.contains(n.name) else { return false }
                guard n.kind != .member, !declared.contains(n.name),
                      let c = ws.index(of: n.kind == .guest ? n.name : (n.connection ?? n.name)) else { return true }
                return !ws.resources[c].orphan
            }.map(\.name)
            if !ws.options.symmetricCluster {
                // (Without a symmetric cluster, the nodes where its state is known: where it
                // runs, or where the history has an entry for it.)
                let prims = r.children.flatMap { ws.primitives(under: $0) }
                var probed = Set(prims.flatMap { ws.resources[$0].activeOn })
                for n in candidates {
                    let entries = ws.historyEntries[n] ?? []
                    if prims.contains(where: { p in
                        entries.contains(ws.resources[p].historyIDs[n] ?? ws.resources[p].id) || entries.contains(ws.resources[p].configuredID)
                    }) { probed.insert(n) }
                }
                candidates = candidates.filter { probed.contains($0) }
            }
            candidates = candidates.filter { !everActive.contains($0) && (options.onlyNodes?.contains($0.lowercased()) ?? true) }
            let childID = childName
            let disabled = r.targetRole.map { $0 == .stopped } ?? (r.children.first.map { ws.resources[$0].targetRole == .stopped } ?? false)
            var byStatus: [String: [String]] = [:]
            for n in candidates {
                var status = "Stopped"
                if let masked = ws.maskedProbes[childID]?[n] ?? firstMemberMasked(r, node: n) {
                    status = "Stopped (\(maskedWords(masked)))"
                } else if disabled {
                    status = "Stopped (disabled)"
                }
                byStatus[status, default: []].append(n)
            }
            for status in byStatus.keys.sorted() {
                lines.append(inner + "* \(status): [ \(sortedNames(byStatus[status]!)) ]")
            }
            return lines
        }

        /// For a cloned group, a masked probe of one of its members on the node.
        func firstMemberMasked(_ clone: SchedulerResource, node: String) -> String? {
            guard let first = clone.children.first else { return nil }
            for p in ws.primitives(under: first) {
                if let m = ws.maskedProbes[ws.resources[p].configuredID]?[node] { return m }
            }
            return nil
        }

        func sortedNames(_ names: [String]) -> String {
            names.sorted(by: naturalLess).joined(separator: " ")
        }

        // MARK: bundles

        func bundleLines(_ i: Int, indent: String) -> [String] {
            let r = ws.resources[i]
            let replicas = ws.bundleReplicas[i] ?? []
            var attrs: [String] = []
            if r.meta["globally-unique"].map(CIBValue.isTrue) == true { attrs.append("unique") }
            if ws.options.maintenanceMode || r.maintenance { attrs.append("maintenance") } else if !r.managed { attrs.append("unmanaged") }
            let word = replicas.count > 1 ? "Container bundle set" : "Container bundle"
            // 2.1.5's crm_mon: each flag in its own parentheses, "unmanaged" for maintenance.
            let flags = options.flavour == .monitor
                ? attrs.map { " (\($0 == "maintenance" ? "unmanaged" : $0))" }.joined()
                : flagText(attrs)
            var lines = [indent + "* \(word): \(r.id) [\(r.bundleImage ?? "")]" + flags + ":"]
            if options.detail {
                // -R: each replica's address, resource, container and connection, under
                // "Replica[N]" when there are several.
                for rep in replicas where !filteredByNode(rep.container) {
                    if replicas.count > 1 { lines.append(indent + "  * Replica[\(rep.number)]") }
                    for part in [rep.ip, rep.child, rep.container, rep.connection].compactMap({ $0 }) {
                        // The bundled resource by its configured name (unless the bundle is unique).
                        let bundled = part == rep.child && r.meta["globally-unique"].map(CIBValue.isTrue) != true
                        lines.append(indent + "    * " + primitiveLine(part, nameOverride: bundled ? ws.resources[part].configuredID : nil))
                    }
                }
                return lines
            }
            for rep in replicas where !filteredByNode(rep.container) {
                let shown = rep.child ?? rep.container
                let containerRes = ws.resources[rep.container]
                var name = rep.connection.map { ws.resources[$0].id } ?? containerRes.id
                if let ip = rep.ipAddress { name += " (\(ip))" }
                let child = ws.resources[shown]
                let containerNode: String?? = child.activeOn.count > 1 ? .some(nil) : .some(containerRes.activeOn.first)
                lines.append(indent + "  * " + primitiveLine(shown, nameOverride: name, nodeOverride: containerNode))
            }
            return lines
        }
    }
}
