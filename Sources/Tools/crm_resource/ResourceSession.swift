import CIB
import Foundation
import HASupport
import PolicyEngine
import ToolSupport

/// One run of a crm_resource cluster command (everything but --force-*): it reads the CIB
/// (CIB_file, or the live cluster through cibd), does what Pacemaker 2.1.5's crm_resource does,
/// prints what it prints, writes the changed CIB back (atomically to the file, or as one patch
/// to cibd) and returns Pacemaker's exit code.
struct ResourceSession {
    let o: CrmResource
    let command: String
    let program = "crm_resource"
    let location = CIBLocation.fromEnvironment()
    var cib: CIB
    let original: CIB
    let ws: WorkingSet
    let now: Date
    /// The requests --cleanup/--refresh made of the controllers: each the histories it deleted
    /// (ids) on some nodes. On the live cluster each is answered when a node among them has
    /// probed one of those again (its history is back); one that deleted nothing at once.
    var cleared: [(ids: Set<String>, nodes: Set<String>)] = []

    init(options: CrmResource, command: String, now: Date = Date()) {
        self.o = options
        self.command = command
        self.now = now
        cib = location.load(program: program, root: options.root)
        original = cib
        // Pacemaker 2.1.5 knows the cluster options by their 2.1.5 names only.
        var input = SchedulerInput(cib: cib, now: Int(now.timeIntervalSince1970))
        input.pacemaker2OptionNames = true
        ws = Simulator.workingSet(input)
    }

    // MARK: Output as Pacemaker's text output gives it

    func info(_ line: String) { if !o.quiet { print(line) } }
    func err(_ line: String) {
        fflush(nil)
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// The closing lines of a failed run: `crm_resource: MESSAGE` and, unless the code is a
    /// usage error, `Error performing operation: TEXT`.
    func fail(_ code: CRMExit, _ message: String? = nil) -> CRMExit {
        if let message {
            err("\(program): \(message)")
            if code != .usage { err("Error performing operation: \(code.summary)") }
        } else if code != .usage {
            err("\(program): Error performing operation: \(code.summary)")
        }
        return code
    }

    // MARK: Lookups

    /// The resource `-r` names, as Pacemaker finds it: by id, else a clone's primitive by its
    /// configured id (which stands for the clone).
    func findResource(_ id: String) -> Int? {
        if let i = ws.resources.firstIndex(where: { $0.id == id && !$0.orphan }) { return i }
        if let i = ws.resources.firstIndex(where: { $0.configuredID == id && !$0.orphan }) {
            let anonymous = !["set-parameter", "get-parameter", "delete-parameter", "locate"].contains(command)
            if anonymous, let p = ws.resources[i].parent, case .clone = ws.resources[p].variant { return p }
            return i
        }
        return ws.resources.firstIndex { $0.id == id || $0.configuredID == id }
    }

    func topParent(_ i: Int) -> Int {
        var j = i
        while let p = ws.resources[j].parent { j = p }
        return j
    }

    func isClone(_ i: Int) -> Bool { if case .clone = ws.resources[i].variant { return true } else { return false } }
    func isPromotable(_ i: Int) -> Bool { if case .clone(let p, _) = ws.resources[i].variant { return p } else { return false } }

    /// The distinct nodes where any primitive of the resource is active.
    func activeNodes(_ i: Int) -> [String] {
        var out: [String] = []
        for p in ws.primitives(under: i) { for n in ws.resources[p].activeOn where !out.contains(n) { out.append(n) } }
        return out
    }

    /// The nodes where instances of a promotable clone are promoted.
    func promotedNodes(_ i: Int) -> [String] {
        ws.primitives(under: i).filter { ws.resources[$0].role == .promoted }.flatMap { ws.resources[$0].activeOn }
    }

    var nodeNames: [String] { ws.nodes.map(\.name) }

    // MARK: Dispatch

    mutating func run() -> CRMExit {
        let needsResource: Set<String> = ["query-xml", "query-xml-raw", "locate", "move", "ban", "clear", "constraints", "set-parameter", "get-parameter", "delete-parameter", "delete"]
        if needsResource.contains(command) && (o.resource ?? "").isEmpty {
            return fail(.usage, "Must supply a resource id with -r")
        }
        if command == "list" { return listResources() }
        if command == "list-raw" { return listRawResources() }
        if command == "list-operations" || command == "list-all-operations" {
            for line in operationLines(active: command == "list-operations") { print(line) }
            return .ok
        }
        if command == "delete" { return deleteResource() }
        var rsc: Int?
        var removed: String?
        if let id = o.resource, !id.isEmpty, findResource(id) == nil, ["cleanup", "refresh"].contains(command),
           ws.historyEntries.values.contains(where: { $0.contains(id) }) {
            // Deleted from the configuration, its history still on some nodes: Pacemaker's
            // crm_resource finds it (as an orphan) and cleans it up where it is known.
            removed = id
        } else if let id = o.resource, !id.isEmpty {
            guard let i = findResource(id) else { return fail(.noSuchObject, "Resource '\(id)' not found") }
            if id.contains(":"), let p = ws.resources[i].parent, isClone(p), ["ban", "clear", "move"].contains(command) {
                return fail(.invalidParameter, "Cannot operate on clone resource instance '\(id)'")
            }
            rsc = i
        }
        if let node = o.node, ws.node(named: node) == nil {
            return fail(.noSuchObject, "Node '\(node)' not found")
        }
        let code: CRMExit
        switch command {
        case "locate": code = locate(rsc!)
        case "query-xml", "query-xml-raw": code = queryXML(rsc!, raw: command == "query-xml-raw")
        case "move": code = o.node == nil ? banOrMove(rsc!) : moveTo(rsc!, o.node!)
        case "ban": code = o.node == nil ? banOrMove(rsc!) : banOn(o.resource!, o.node!, promoted: o.promoted)
        case "clear": code = clearConstraints()
        case "cleanup", "refresh":
            code = removed.map { cleanupRemoved($0, refresh: command == "refresh") } ?? cleanup(rsc, refresh: command == "refresh")
        case "constraints": code = showConstraints(rsc!)
        case "why": code = explain(rsc)
        case "set-parameter" where location.refusesChanges(to: cib), "delete-parameter" where location.refusesChanges(to: cib):
            // A CIB file of a newer feature set: Pacemaker 2.1.5 does not write it.
            code = fail(.protocolError)
        case "get-parameter": code = getParameter(rsc!, o.getParameter!)
        case "set-parameter": code = setParameter(rsc!, o.setParameter!)
        case "delete-parameter": code = deleteParameter(rsc!, o.deleteParameter!)
        default: code = fail(.usage, "Unimplemented command: \(command)")
        }
        if code == .ok || code == .usage || cib != original {
            location.save(cib, original: original, program: program, root: o.root)
        }
        if code == .ok && ["cleanup", "refresh"].contains(command) { return awaitControllers() }
        return code
    }

    // MARK: --locate

    func locate(_ i: Int) -> CRMExit {
        let id = o.resource!
        // Where a resource is active, as Pacemaker's running_on: a primitive's nodes; for a
        // group or bundle each node once, in the order its members were found there.
        func nodes(_ k: Int) -> [String] {
            if ws.resources[k].isPrimitive { return ws.resources[k].activeOn }
            var seen: [String] = []
            for p in ws.primitives(under: k) { for n in ws.resources[p].activeOn where !seen.contains(n) { seen.append(n) } }
            return seen
        }
        func isClone(_ k: Int) -> (promotable: Bool, unique: Bool)? {
            if case .clone(let p, let u) = ws.resources[k].variant { return (p, u) }
            return nil
        }
        // Pacemaker gathers the nodes each in front of the last: the last found comes first.
        var found: [(node: String, promoted: Bool)] = []
        let r = ws.resources[i]
        var cloneIndex: Int? = isClone(i) != nil ? i : nil
        if cloneIndex == nil, let parent = r.parent, let c = isClone(parent), !c.unique, id == r.configuredID, id != r.id,
           r.historyIDs.values.contains(id) {
            cloneIndex = parent  // an anonymous clone's instances, by the common id their history uses
        }
        if let c = cloneIndex {
            let promotable = isClone(c)!.promotable
            for child in ws.resources[c].children {
                for n in nodes(child) { found.insert((n, promotable && ws.resources[child].role == .promoted), at: 0) }
            }
        } else {
            for n in nodes(i) { found.insert((n, r.isPrimitive && r.role == .promoted), at: 0) }
        }
        if found.isEmpty && !o.quiet { err("resource \(id) is NOT running") }
        for f in found { print(o.quiet ? f.node : "resource \(id) is running on: \(f.node)" + (f.promoted ? " Promoted" : "")) }
        return .ok
    }

    // MARK: --list, --list-raw

    /// `--list`: the resources as crm_mon lists them (text, or its `<resources>` section with
    /// `--output-as xml`); none to list is "No resources" and exit 105 (no such object).
    func listResources() -> CRMExit {
        if o.outputAs == "xml" {
            var list = ResourcesXML.resources(ws.showingPartialMigrations())
            let none = list.elements.isEmpty
            if none {
                var item = XElement("item")
                item.children = [.text("No resources")]
                list.append(item)
            }
            var result = XMLResult(program: program)
            result.body.append(list)
            return result.finish(none ? .noSuchObject : .ok)
        }
        for line in StatusText.resourceList(ws.showingPartialMigrations()) { print(line) }
        if ResourcesXML.resources(ws).elements.isEmpty { return fail(.noSuchObject) }
        return .ok
    }

    /// `--list-raw`: the ids of the primitives (`<list name="resource names">` with xml); none
    /// is "NO resources configured" and exit 105.
    func listRawResources() -> CRMExit {
        var ids: [String] = []
        for top in ws.topLevel where !ws.resources[top].orphan {
            for p in ws.primitives(under: top) { ids.append(ws.resources[p].id) }
        }
        if o.outputAs == "xml" {
            var result = XMLResult(program: program)
            if ids.isEmpty {
                result.errors.append("NO resources configured\n")
                return result.finish(.noSuchObject)
            }
            var list = XElement("list", ["name": "resource names", "count": String(ids.count)])
            for id in ids {
                var item = XElement("item", ["name": "resource"])
                item.children = [.text(id)]
                list.append(item)
            }
            result.body.append(list)
            return result.finish(.ok)
        }
        if ids.isEmpty {
            err("NO resources configured\n")
            return fail(.noSuchObject)
        }
        for id in ids { print(id) }
        return .ok
    }

    // MARK: --list-operations, --list-all-operations, --query-xml

    /// The operations recorded in the status (of -r, on -N), node by node as the status lists
    /// them, each resource's oldest first by call id; with `active`, only those since its last
    /// start (none when it was stopped since). Nodes offline count only while fencing is
    /// enabled, as in Pacemaker's `find_operations`.
    func operationLines(active: Bool) -> [String] {
        var out: [String] = []
        let fencing = ws.options.fencingEnabled
        for state in cib.root.firstElement(named: "status")?.elements(named: "node_state") ?? [] {
            let uname = state["uname"] ?? ""
            if let n = o.node, n.lowercased() != uname.lowercased() { continue }
            guard let node = ws.node(named: uname), node.online || fencing else { continue }
            for lrm in state.elements(named: "lrm") {
                for list in lrm.elements(named: "lrm_resources") {
                    for entry in list.elements(named: "lrm_resource") {
                        let id = entry.id ?? ""
                        if let r = o.resource, r.lowercased() != id.lowercased() { continue }
                        out += operations(of: entry, id: id, node: uname, active: active)
                    }
                }
            }
        }
        return out
    }

    func operations(of entry: XElement, id: String, node: String, active: Bool) -> [String] {
        let recorded = entry.elements(named: "lrm_rsc_op")
        // Oldest first: by call id, operations still pending (no call id) last; at equal call
        // ids by last-rc-change.
        let order = recorded.indices.sorted { a, b in
            let ca = Int(recorded[a]["call-id"] ?? "") ?? -1, cb = Int(recorded[b]["call-id"] ?? "") ?? -1
            if ca != cb {
                if ca < 0 || cb < 0 { return cb < 0 }
                return ca < cb
            }
            let la = Int(recorded[a]["last-rc-change"] ?? "") ?? -1, lb = Int(recorded[b]["last-rc-change"] ?? "") ?? -1
            return la != lb ? la < lb : a < b
        }
        var ops = order.map { recorded[$0] }
        if active {
            var start = -1, stop = -1, impliedMonitor = -1, impliedClone = -1
            for (k, op) in ops.enumerated() {
                let task = (op["operation"] ?? "").lowercased()
                if task == "stop" && op["op-status"] == "0" {
                    stop = k
                } else if task == "start" || task == "migrate_from" {
                    start = k
                } else if impliedMonitor <= stop && task == "monitor" {
                    if ["0", "8"].contains(op["rc-code"] ?? "") { impliedMonitor = k }
                } else if task == "promote" || task == "demote" {
                    impliedClone = k
                }
            }
            if start == -1 { start = impliedClone != -1 ? impliedClone : impliedMonitor }
            if start < stop { return [] }
            ops = Array(ops.dropFirst(max(start, 0)))
        }
        let primitive = ws.resources.firstIndex { $0.isPrimitive && $0.id == id }
            ?? ws.resources.firstIndex { $0.isPrimitive && ($0.configuredID == id || $0.historyIDs.values.contains(id)) }
        let owner = primitive.map { StatusText.operationOwnerText(ws, $0) } ?? "Unknown resource \(id)"
        return ops.map { op in
            var change = ""
            if let t = op["last-rc-change"].flatMap({ Int($0) }) {
                change = ", last-rc-change='\(Self.ctime(t))', exec=\(op["exec-time"] ?? "(null)")ms"
            }
            let status = Int(op["op-status"] ?? "") ?? -2
            return "\(owner): \(op["operation_key"] ?? op.id ?? "(null)") (node=\(node), call=\(op["call-id"] ?? "(null)"), rc=\(op["rc-code"] ?? "(null)")\(change)): \(ToolSupport.execStatusText(status, unknown: "UNKNOWN!"))"
        }
    }

    /// C's ctime() without its newline, in the local time zone: `Mon Jan  1 00:00:00 2024`.
    static func ctime(_ t: Int) -> String {
        var time = time_t(t)
        var buf = [CChar](repeating: 0, count: 32)
        guard ctime_r(&time, &buf) != nil else { return "" }
        return String(cString: buf).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The resource as crm_mon shows it, then its configuration as the CIB has it.
    func queryXML(_ i: Int, raw: Bool) -> CRMExit {
        for line in StatusText.plainResourceLines(ws, i) { print(line) }
        print("Resource XML:")
        let id = ws.resources[i].configuredID
        var found: XElement?
        if let path = cib.sectionPath(.resources) {
            cib.root.element(at: path)?.walkWithPath { e, p in
                if found == nil, !p.isEmpty, ["primitive", "group", "clone", "master", "bundle"].contains(e.name), e.id == id { found = e }
            }
        }
        if let found { print(found.xmlString(), terminator: found.xmlString().hasSuffix("\n") ? "" : "\n") }
        return .ok
    }

    // MARK: --move, --ban

    /// The end of `--lifetime`, printed as Pacemaker prints it; `.failure` after the error lines.
    func lifetimeEnd() -> Result<String?, CRMExit> {
        guard let spec = o.lifetime else { return .success(nil) }
        guard let end = CLIConstraint.lifetimeEnd(spec, now: now) else {
            err("Invalid duration specified: \(spec)\nPlease refer to https://en.wikipedia.org/wiki/ISO_8601#Durations for examples of valid durations")
            return .failure(.usage)
        }
        info("Migration will take effect until: \(end)")
        return .success(end)
    }

    mutating func banOn(_ id: String, _ node: String, promoted: Bool) -> CRMExit {
        let end: String?
        switch lifetimeEnd() {
        case .success(let e): end = e
        case .failure(let c): return c
        }
        info(CLIConstraint.banWarning(resource: id, node: node, promoted: promoted))
        cib.putConstraint(CLIConstraint.ban(resource: id, node: node, end: end, promoted: promoted))
        return .ok
    }

    /// `--move` or `--ban` without a node: ban the one node the resource is active (or
    /// promoted) on.
    mutating func banOrMove(_ i: Int) -> CRMExit {
        let id = o.resource!
        let active = activeNodes(i)
        if active.count == 1 { return banOn(id, active[0], promoted: o.promoted) }
        if isPromotable(i) {
            let promoted = promotedNodes(i)
            if promoted.count == 1 { return banOn(id, promoted[0], promoted: o.promoted) }
            return fail(.usage, "Resource '\(id)' not moved: active in \(active.count) locations (promoted in \(promoted.count)).\nTo prevent '\(id)' from running on a specific location, specify a node.To prevent '\(id)' from being promoted at a specific location, specify a node and the --promoted option.")
        }
        return fail(.usage, "Resource '\(id)' not moved: active in \(active.count) locations.\nTo prevent '\(id)' from running on a specific location, specify a node.")
    }

    /// `--move --node`: clear earlier preferences, prefer the node, and with --force also ban
    /// the node the resource is on.
    mutating func moveTo(_ start: Int, _ dest: String) -> CRMExit {
        var i = start
        var id = o.resource!
        var promotedOnly = o.promoted
        if promotedOnly && !isPromotable(i) {
            let top = topParent(i)
            if isPromotable(top) {
                info("Using parent '\(ws.resources[i].id)' for move instead of '\(id)'.")
                id = ws.resources[top].id
                i = top
            } else {
                info("Ignoring --promoted option: \(id) is not promotable")
                promotedOnly = false
            }
        }
        let active = activeNodes(i)
        var count = active.count
        var current = active.first
        if isPromotable(i) {
            let promoted = promotedNodes(i)
            if promotedOnly || !promoted.isEmpty {
                count = promoted.count
                current = promoted.last
            }
        }
        if count > 1 {
            if isClone(i) { current = nil } else { return fail(.multiple) }
        }
        let currentIsDest = current == dest
        if currentIsDest && !o.force { return fail(.exists) }

        let end: String?
        switch lifetimeEnd() {
        case .success(let e): end = e
        case .failure(let c): return c
        }
        for n in nodeNames { cib.clearCLIConstraints(resource: id, node: n, bans: false, force: o.force) }
        cib.clearCLIConstraints(resource: id, node: dest, bans: true, force: o.force)
        cib.putConstraint(CLIConstraint.prefer(resource: id, node: dest, end: end, promoted: promotedOnly))
        if o.force && !currentIsDest {
            if let current {
                info(CLIConstraint.banWarning(resource: id, node: current, promoted: promotedOnly))
                cib.putConstraint(CLIConstraint.ban(resource: id, node: current, end: end, promoted: promotedOnly))
            } else if count > 1 {
                let state = promotedOnly ? "promoted" : "active"
                info("Resource '\(id)' is currently \(state) in \(count) locations. One may now move to \(dest)")
                info("To prevent '\(id)' from being \(state) at a specific location, specify a node.")
            }
        }
        return .ok
    }

    // MARK: --clear

    mutating func clearConstraints() -> CRMExit {
        let id = o.resource!
        let before = cib.locationConstraintIDs
        if o.expired {
            cib.clearExpiredCLIConstraints(resource: id, node: o.node, promoted: o.promoted, now: now)
        } else if let node = o.node {
            cib.clearCLIConstraints(resource: id, node: node, bans: true, force: o.force)
        } else {
            for n in nodeNames { cib.clearCLIConstraints(resource: id, node: n, bans: true, force: o.force) }
        }
        let after = Set(cib.locationConstraintIDs)
        for gone in before where !after.contains(gone) { info("Removing constraint: \(gone)") }
        return .ok
    }

    // MARK: --cleanup, --refresh

    /// Forgets failures (--cleanup) or the whole history (--refresh) as the controller does when
    /// Pacemaker's crm_resource asks it: the failcounts and the history of the resource on each
    /// node that knows it. The change goes to the file, or to the cluster through cibd.
    mutating func cleanup(_ rsc: Int?, refresh: Bool) -> CRMExit {
        let intervalMS: Int?
        if let spec = o.interval {
            guard let ms = CIBValue.milliseconds(spec) else {
                return fail(.invalidParameter, "--interval \(spec) is not an interval: write e.g. 10s, 1min or 0")
            }
            intervalMS = ms
        } else {
            intervalMS = o.operation == nil ? nil : 0
        }
        guard let rsc else {
            // Of everything: Pacemaker's --cleanup asks each node's controller to forget each
            // resource that failed there (a reply each); --refresh makes one reprobe request of
            // the controller for all the nodes (one reply).
            let nodes = o.node.map { [$0] } ?? nodeNames
            var reprobed: Set<String> = []
            for n in nodes {
                for top in ws.topLevel {
                    for p in ws.primitives(under: top) {
                        forget(p, on: n, refresh: refresh, operation: refresh ? nil : o.operation, intervalMS: refresh ? nil : intervalMS, all: refresh)
                    }
                }
                if refresh {
                    let known = Set(ws.historyEntries[n] ?? [])
                    _ = cib.deleteResourceHistory(known, node: n)
                    reprobed.formUnion(known)
                }
            }
            if refresh {
                // Those that come back: the configured primitives' histories.
                let configured = Set(ws.resources.filter { $0.isPrimitive && !$0.orphan }.flatMap { [$0.id, $0.configuredID] + $0.historyIDs.values })
                cleared = [(reprobed.intersection(configured), Set(nodes))]
            } else {
                info("Cleaned up all resources on \(o.node ?? "all nodes")")
            }
            return .ok
        }
        let target = o.force ? rsc : topParent(rsc)
        for p in ws.primitives(under: target) {
            let r = ws.resources[p]
            var nodes: [String]
            if let n = o.node {
                nodes = [n]
            } else {
                let known = Set(r.historyIDs.keys)
                nodes = known.isEmpty ? nodeNames : nodeNames.filter { known.contains($0) }
                nodes = nodes.filter { n in ws.node(named: n)?.online ?? false }
            }
            for n in nodes {
                forget(p, on: n, refresh: refresh, operation: refresh ? nil : o.operation, intervalMS: refresh ? nil : intervalMS, all: false)
                info("Cleaned up \(r.id) on \(n)")
            }
        }
        if !o.quiet { printChecks(target, node: o.node) }
        return .ok
    }

    /// A resource no longer configured, known from the history of some nodes: its failcounts
    /// there go, and its history where it failed (--cleanup) or wholly (--refresh).
    mutating func cleanupRemoved(_ id: String, refresh: Bool) -> CRMExit {
        let nodes = (o.node.map { [$0] } ?? nodeNames).filter { (ws.historyEntries[$0] ?? []).contains(id) }
        for n in nodes {
            cib.deleteFailAttributes(resource: id, node: n, operation: refresh ? nil : o.operation, intervalMS: nil)
            if refresh || ws.failedOperations.contains(where: { $0.node == n && $0.resource == id }) {
                if cib.deleteResourceHistory([id], node: n) { cleared.append(([id], [n])) }
            }
            info("Cleaned up \(id) on \(n)")
        }
        return .ok
    }

    /// The failcounts of a primitive on a node, and its history there (on --refresh always; on
    /// --cleanup when it holds a failure that matches).
    mutating func forget(_ p: Int, on node: String, refresh: Bool, operation: String?, intervalMS: Int?, all: Bool) {
        let r = ws.resources[p]
        cib.deleteFailAttributes(resource: r.configuredID, node: node, operation: operation, intervalMS: intervalMS)
        var ids: Set<String> = [r.id, r.configuredID]
        if let h = r.historyIDs[node] { ids.insert(h) }
        let failed = refresh || ws.failedOperations.contains { f in
            f.node == node && ids.contains(f.resource) && (operation == nil || (f.task == operation && f.intervalMS == (intervalMS ?? 0)))
        }
        if failed && cib.deleteResourceHistory(ids, node: node) && !all { cleared.append((ids, [node])) }
    }

    /// On the live cluster, after --cleanup/--refresh of a resource: Pacemaker's wait for the
    /// controllers' replies, each the resource's history on that node written again by its
    /// probe. 60 s at most, then Pacemaker's timeout (124).
    func awaitControllers() -> CRMExit {
        guard location == .live, !cleared.isEmpty else { return .ok }
        info("Waiting for \(cleared.count) \(cleared.count == 1 ? "reply" : "replies") from the controller")
        let live = LiveCIB(program: program, root: NodeEnvironment(root: o.root).root)
        let deadline = Date().addingTimeInterval(60)
        var waiting = cleared
        var printed = 0
        while !waiting.isEmpty {
            guard Date() < deadline else {
                err("\(program): Aborting because no messages received in 60 seconds")
                return .timeout
            }
            usleep(250_000)
            let status = live.load().root.firstElement(named: "status")
            waiting.removeAll { w in
                if w.ids.isEmpty { return true }
                let back = status?.elements(named: "node_state").contains { state in
                    w.nodes.contains(state["uname"] ?? "") && state.elements(named: "lrm").contains { lrm in
                        lrm.elements(named: "lrm_resources").contains { $0.elements(named: "lrm_resource").contains { w.ids.contains($0.id ?? "") } }
                    }
                } ?? false
                return back
            }
            let answered = cleared.count - waiting.count
            while printed < answered {
                printed += 1
                info(printed == cleared.count ? "... got reply (done)" : "... got reply")
            }
        }
        return .ok
    }

    // MARK: --why

    /// The checks Pacemaker lists after --why and --cleanup: what in the configuration keeps
    /// the resource as it is.
    func checks(_ i: Int) -> [String] {
        let r = ws.resources[i]
        let parent = ws.resources[topParent(i)].id
        var out: [String] = []
        if r.targetRole == .stopped { out.append("Configuration specifies '\(parent)' should remain stopped") }
        if r.targetRole == .unpromoted && isPromotable(topParent(i)) { out.append("Configuration specifies '\(parent)' should not be promoted") }
        if let m = r.meta["is-managed"], !CIBValue.isTrue(m) { out.append("Configuration prevents cluster from stopping or starting unmanaged '\(parent)'") }
        return out
    }

    func printChecks(_ i: Int, node: String?) {
        for line in checks(i) { print(line) }
    }

    func explain(_ rsc: Int?) -> CRMExit {
        var lines: [String] = []
        switch (rsc, o.node) {
        case (nil, nil):
            for top in ws.topLevel {
                lines.append("Resource \(ws.resources[top].id) is \(activeNodes(top).isEmpty ? "not " : "")running")
                lines += checks(top)
            }
        case (let i?, let node?):
            lines.append("Resource \(ws.resources[i].id) is \(activeNodes(i).contains(node) ? "" : "not ")running on host \(node)")
            lines += checks(i)
        case (nil, let node?):
            // In the order Pacemaker found them running there: that of the node's history.
            let states = cib.root.firstElement(named: "status")?.elements(named: "node_state") ?? []
            let history = states.first { $0["uname"] == node }?.descendants().filter { $0.name == "lrm_resource" }.compactMap(\.id) ?? []
            func rank(_ i: Int) -> Int {
                let r = ws.resources[i]
                return history.firstIndex(of: r.historyIDs[node] ?? r.id) ?? history.firstIndex(of: r.id) ?? Int.max
            }
            let running = ws.resources.indices.filter { ws.resources[$0].isPrimitive && ws.resources[$0].activeOn.contains(node) }
            for i in running.enumerated().sorted(by: { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }).map(\.element) {
                lines.append("Resource \(ws.resources[i].id) is running on host \(node)")
                lines += checks(i)
            }
        case (let i?, nil):
            lines.append("Resource \(ws.resources[i].id) is \(activeNodes(i).isEmpty ? "not " : "")running")
            lines += checks(i)
        }
        for l in lines { print(l) }
        // The plain-words paragraph goes only to a terminal (or with -V), so that scripts that
        // read Pacemaker's lines see exactly those.
        if let rsc, !o.quiet, isatty(1) != 0 || o.verbose > 0 {
            let input = SchedulerInput(cib: ws.cib, now: Int(now.timeIntervalSince1970))
            if let words = Explanation.explain(input, resource: ws.resources[rsc].id) {
                // The reason as one paragraph, broken for a terminal.
                print("")
                for line in words.paragraph(width: 100) { print(line) }
            }
        }
        return .ok
    }

    // MARK: --constraints / --stack

    func showConstraints(_ start: Int) -> CRMExit {
        let i = o.force ? start : topParent(start)
        var printer = ListPrinter()
        ConstraintText.print(ws, cib, resource: ws.resources[i].id, recursive: o.stack || o.recursive, into: &printer)
        for l in printer.lines { print(l) }
        return .ok
    }

    // MARK: --get-parameter, --set-parameter, --delete-parameter

    var attributeKind: ResourceAttributeSet { o.meta ? .meta : (o.utilization ? .utilization : .instance) }

    func getParameter(_ i: Int, _ name: String) -> CRMExit {
        let r = ws.resources[i]
        // As Pacemaker's: active on several nodes, no node's rules apply (it says so).
        if activeNodes(i).count > 1 {
            err("\(r.id) is active on more than one node, returning the default value for \(name)")
        }
        let value: String?
        switch attributeKind {
        case .instance:
            value = r.isPrimitive ? r.parameters[name] : cib.resourceAttributes(r.configuredID, kind: .instance, name: name).first?.value
        case .meta:
            value = r.meta[name] ?? cib.resourceAttributes(r.configuredID, kind: .meta, name: name).first?.value
        case .utilization:
            value = cib.resourceAttributes(r.configuredID, kind: .utilization, name: name).first?.value
        }
        // ("#default" is how a set says the default applies: as if not set.)
        if let value, value != "#default" { print(value) } else { err("Attribute '\(name)' not found for '\(r.id)'") }
        return .ok
    }

    /// The resources an update goes to, as Pacemaker chooses them: with --force only the named
    /// one; a clone's primitive without the attribute gives way to its clone, a clone whose
    /// primitive has it gives way to the primitive; a group's members that have it come first.
    func attributeTargets(_ i: Int, _ name: String, verb: String) -> [String] {
        let r = ws.resources[i]
        if o.force { return [r.configuredID] }
        let kind = attributeKind
        if let p = r.parent, isClone(p) {
            if cib.resourceAttributes(r.configuredID, kind: kind, set: o.setName, name: name).isEmpty {
                info("Performing \(verb) of '\(name)' on '\(ws.resources[p].id)', the parent of '\(o.resource!)'")
                return [ws.resources[p].configuredID]
            }
            return [r.configuredID]
        }
        if r.parent == nil, isClone(i), let child = r.children.first, ws.resources[child].isPrimitive {
            let cid = ws.resources[child].configuredID
            if !cib.resourceAttributes(cid, kind: kind, set: o.setName, name: name).isEmpty {
                info("A value for '\(name)' already exists in child '\(cid)', performing \(verb) on that instead of '\(o.resource!)'")
                return [cid]
            }
            return [r.configuredID]
        }
        var out: [String] = []
        func visit(_ j: Int, depth: Int) {
            for c in ws.resources[j].children {
                visit(c, depth: depth + 1)
                if isClone(j) { break }
            }
            let cid = ws.resources[j].configuredID
            if depth == 0 || !cib.resourceAttributes(cid, kind: kind, set: o.setName, name: name).isEmpty {
                if !out.contains(cid) { out.append(cid) }
            }
        }
        visit(i, depth: 0)
        return out
    }

    mutating func setParameter(_ i: Int, _ name: String) -> CRMExit {
        guard let value = o.parameterValue, !value.isEmpty else {
            return fail(.usage, "You need to supply a value with the -v option")
        }
        let top = ws.resources[topParent(i)].configuredID
        var targets: [String]
        if attributeKind == .instance {
            if !o.force, let m = cib.resourceAttributes(top, kind: .meta, set: o.setName, name: name).first {
                if !o.quiet {
                    err("WARNING: There is already a meta attribute for '\(top)' called '\(name)' (id=\(m.id))")
                    err("         Delete '\(m.id)' first or use the force option to override")
                }
                return fail(.multiple)
            }
            targets = [ws.resources[i].configuredID]
        } else {
            targets = attributeTargets(i, name, verb: "update")
        }
        if o.setName != nil || o.nvpair != nil { targets = Array(targets.suffix(1)) }
        for t in targets {
            do throws(CIBError) {
                let (id, newSet) = try cib.setResourceAttribute(t, kind: attributeKind, set: o.setName, id: o.nvpair, name: name, value: value)
                let set = newSet ?? o.setName
                info("Set '\(t)' option: id=\(id)\(set.map { " set=\($0)" } ?? "") name=\(name) value=\(value)")
            } catch {
                return fail(ToolSupport.exitCode(for: error), error.message)
            }
            if o.recursive && attributeKind == .meta {
                // Colocated dependents get the same meta attribute.
                for c in cib.constraintElements where c.name == "rsc_colocation" && c["with-rsc"] == t {
                    if let dep = c["rsc"], (CIBValue.score(c["score"] ?? "0") ?? 0) > 0,
                       (try? cib.setResourceAttribute(dep, kind: .meta, set: nil, id: nil, name: name, value: value)) != nil {
                        info("Set '\(dep)' option: id=\(dep)-meta_attributes-\(name) set=\(dep)-meta_attributes name=\(name) value=\(value)")
                    }
                }
            }
        }
        return .ok
    }

    mutating func deleteParameter(_ i: Int, _ name: String) -> CRMExit {
        let targets = attributeKind == .meta ? attributeTargets(i, name, verb: "delete") : [ws.resources[i].configuredID]
        for t in targets {
            let found = cib.resourceAttributes(t, kind: attributeKind, set: o.setName, name: name).filter { o.nvpair == nil || $0.id == o.nvpair }
            guard let pair = found.first else { continue }
            if found.count > 1 {
                info("Multiple attributes match name=\(name)")
                for f in found { info("  Value: \(f.value) \t(id=\(f.id))") }
                info("")
                return fail(.multiple)
            }
            cib.deleteResourceAttribute(t, pairID: pair.id)
            info("Deleted '\(t)' option: id=\(pair.id)\(o.setName.map { " set=\($0)" } ?? "") name=\(name)")
        }
        return .ok
    }

    // MARK: --delete

    mutating func deleteResource() -> CRMExit {
        guard let type = o.resourceType else {
            return fail(.noSuchObject, "You need to specify a resource type with -t")
        }
        let id = o.resource!
        guard let path = cib.sectionPath(.resources) else { return fail(.noSuchObject) }
        var removed = 0
        // Pacemaker's CIB delete finds the element anywhere in the section.
        var target: [Int]?
        cib.root.element(at: path)?.walkWithPath { e, p in
            if target == nil, !p.isEmpty, e.name == type, e.id == id { target = path + p }
        }
        if let target {
            cib.root.removeNode(at: target)
            cib.bumpVersion(for: .configuration)
            removed = 1
        }
        if removed == 0 { return fail(.noSuchObject) }
        location.save(cib, original: original, program: program, root: o.root)
        return .ok
    }
}

/// Pacemaker's text lists: a titled list at the top level prints `Title:`, nested ones
/// `* Title:`; items are indented two spaces per level.
struct ListPrinter {
    var lines: [String] = []
    var depth = 0

    mutating func header(_ title: String) {
        depth += 1
        lines.append(depth == 1 ? "\(title):" : String(repeating: "  ", count: depth - 1) + "* \(title):")
    }
    mutating func begin() { depth += 1 }
    mutating func end() { depth -= 1 }
    mutating func item(_ text: String) { lines.append(String(repeating: "  ", count: depth) + "* " + text) }
}

extension CRMExit: Error {}

/// Pacemaker's `<pacemaker-result>` document for `--output-as xml`: the elements, then
/// `<status>` with the errors (each, and the closing `crm_resource: Error performing
/// operation: TEXT`, as an `<error>`).
struct XMLResult {
    let program: String
    var body: [XElement] = []
    var errors: [String] = []

    func finish(_ code: CRMExit) -> CRMExit {
        var result = XElement("pacemaker-result", ["api-version": "2.25", "request": CommandLine.arguments.joined(separator: " ")])
        for e in body { result.append(e) }
        var status = XElement("status", ["code": String(code.rawValue), "message": code.summary])
        var lines = errors
        if code != .ok { lines.append("\(program): Error performing operation: \(code.summary)") }
        if !lines.isEmpty {
            var list = XElement("errors")
            for line in lines {
                var e = XElement("error")
                e.children = [.text(line)]
                list.append(e)
            }
            status.append(list)
        }
        result.append(status)
        print(result.xmlString(), terminator: "")
        return code
    }
}
