import CIB

/// Builds the transition graph from a transition's per-resource plans: the actions each
/// change needs, then the orderings between them.
///
/// Actions are numbered in the order the scheduler creates them (recurring operations found
/// in the history, then probes node by node, then each resource's actions, then fencing and
/// shutdowns). The graph lists each resource's actions newest first, parents before their
/// children, then the node-level actions newest first; the simulated execution order follows
/// from that listing, as it does in Pacemaker.
struct GraphBuilder {
    let ws: WorkingSet
    let assignment: Assignment
    let transition: Transition

    private var actions: [GraphAction] = []
    /// Creation sequence of each action (its id).
    private var owner: [Int?] = []
    /// Each resource's actions, by position, in creation order.
    private var owned: [Int: [Int]] = [:]
    private var inputs: [[Int]] = []
    private var byKey: [String: Int] = [:]
    private var nextID = 0
    /// Ids reserved for recurring operations found in the history, by "rsc key@node".
    private var reserved: [String: Int] = [:]
    /// Recurring operations ("monitor_10000") running where their resource stays, whose
    /// definition changed since they were scheduled: they are scheduled again.
    private var rescheduled: [Int: Set<String>] = [:]
    /// The lost node each implied (pseudo) action of a primitive stands for.
    private var impliedOn: [Int: String] = [:]
    /// History clean-ups of resources whose agent changed, by action.
    private var agentCleanups: Set<Int> = []
    /// Cancellations that wait for the resource's stops (removed operations, maintenance).
    private var cancelsAfterStop: Set<Int> = []
    /// History deletions of resources that exist only in the history, by action.
    private var removedHistory: [Int: String] = [:]
    /// Configured ids the history records some anonymous clone instance under, unnumbered.
    private let historyNamed: Set<String>
    private let opDefaultTimeout: Int?

    init(ws: WorkingSet, assignment: Assignment, transition: Transition) {
        self.ws = ws
        self.assignment = assignment
        self.transition = transition
        opDefaultTimeout = ws.cib.configuration.element.firstElement(named: "op_defaults")?
            .elements(named: "meta_attributes").lazy.compactMap { set in
                set.elements(named: "nvpair").first { $0["name"] == "timeout" }?["value"].flatMap(CIBValue.milliseconds)
            }.first
        historyNamed = ws.historyEntries.values.reduce(into: Set<String>()) { $0.formUnion($1) }
    }

    static func build(_ ws: WorkingSet, _ a: Assignment, _ t: Transition) -> ActionGraph {
        var b = GraphBuilder(ws: ws, assignment: a, transition: t)
        b.reserveHistoryRecurring()
        b.reserveOneOrMorePoints()
        let load = LoadPoints(ws, a)
        b.addLoadPoints(load)
        b.clearExpiredFailcounts()
        b.cancelRemovedOperations()
        b.cleanUpChangedAgents()
        b.findRescheduled()
        b.clearChangedFailcounts()
        b.deleteRemovedHistory()
        b.createProbes()
        b.clearRemovedFailcounts()
        for top in ws.topLevel { b.createActions(top) }
        b.createFencingAndShutdowns()
        b.createGuestFencing()
        b.createNotifications()
        b.orderResources()
        b.orderRemoteActions()
        b.orderGuestFencing()
        b.orderUserConstraints()
        b.orderLoadPoints(load)
        b.orderStartsAfterFencing()
        b.orderAntiColocated()
        return b.finish()
    }

    // MARK: Creating actions

    private static func lookupKey(_ key: String, _ node: String?) -> String { "\(key)@\(node ?? "")" }

    /// The action with this key on this node, if created.
    private func find(_ key: String, on node: String?) -> Int? { byKey[Self.lookupKey(key, node)] }

    @discardableResult
    private mutating func add(_ kind: GraphAction.Kind, task: String, key: String, resource: Int?, node: String?,
                              interval: Int = 0, meta: [String: String] = [:], lookupNode: String? = nil) -> Int {
        let lookup = Self.lookupKey(key, lookupNode ?? node)
        if let existing = byKey[lookup] { return existing }
        let id: Int
        if let r = reserved[lookup] { id = r } else { id = nextID; nextID += 1 }
        actions.append(GraphAction(id: id, kind: kind, task: task, key: key, resource: resource.map(displayName),
                                   node: node, intervalMS: interval, meta: meta))
        if let resource, ws.resources[resource].isPrimitive {
            let r = ws.resources[resource]
            actions[actions.count - 1].agent = r.agent
            actions[actions.count - 1].configuredID = r.configuredID
            actions[actions.count - 1].parameters = r.parameters
            if kind == .resource || kind == .pseudo {
                actions[actions.count - 1].meta["timeout"] = String(timeout(of: r, task: task, interval: interval))
            }
        }
        if let node { actions[actions.count - 1].nodeID = ws.node(named: node)?.id }
        if kind == .resource || kind == .pseudo, let resource, ws.resources[resource].isPrimitive, let name = historyName(resource) {
            actions[actions.count - 1].historyName = name
            actions[actions.count - 1].instanceID = ws.resources[resource].id
        }
        owner.append(resource)
        if let resource { owned[resource, default: []].append(actions.count - 1) }
        inputs.append([])
        byKey[lookup] = actions.count - 1
        return actions.count - 1
    }

    private mutating func order(_ first: Int?, _ then: Int?) {
        guard let first, let then, first != then, !inputs[then].contains(first) else { return }
        inputs[then].append(first)
    }

    /// A cancellation of a recurring operation running on a node.
    @discardableResult
    private mutating func cancel(_ i: Int, _ op: String, on node: String) -> Int {
        let r = ws.resources[i]
        let parts = op.split(separator: "_")
        let interval = parts.last.flatMap { Int($0) } ?? 0
        let name = parts.dropLast().joined(separator: "_")
        // Its key is the operation's; the lookup key tells it apart from the operation itself.
        // It takes the id the running operation was known by.
        let lookup = Self.lookupKey("cancel:\(r.id)_\(op)", node)
        let running = Self.lookupKey("\(r.id)_\(op)", node)
        if reserved[lookup] == nil, let id = reserved[running], byKey[running] == nil {
            reserved[lookup] = id
            reserved[running] = nil
        }
        let k = add(.resource, task: "cancel", key: "cancel:\(r.id)_\(op)", resource: i, node: node, interval: interval,
                    meta: ["interval": String(interval), "operation": name])
        actions[k].key = "\(r.id)_\(op)"
        return k
    }

    /// Recurring operations still running that the configuration no longer has are cancelled,
    /// and all of them in maintenance mode.
    private mutating func cancelRemovedOperations() {
        for i in TransitionPlanner.order(ws) where ws.resources[i].isPrimitive && !ws.resources[i].orphan {
            let r = ws.resources[i]
            // Maintenance mode (the cluster's, the resource's or the node's) cancels them all.
            let maintenance = ws.options.maintenanceMode || r.maintenance
            for n in ws.nodes where maintenance || n.maintenance {
                guard n.maintenance || (n.online && !n.unclean) else { continue }
                for op in r.recurringOn[n.name] ?? [] { cancelsAfterStop.insert(cancel(i, op, on: n.name)) }
            }
            guard ws.options.stopOrphanActions, !maintenance else { continue }
            let configured = Set(Primitive(r.element).operations.compactMap { op -> String? in
                guard let ms = CIBValue.milliseconds(op.interval), ms > 0 else { return nil }
                if let enabled = op.enabled, !CIBValue.isTrue(enabled) { return nil }
                return "\(op.name)_\(ms)"
            })
            for n in ws.nodes.map(\.name) {
                for op in r.recurringOn[n] ?? [] where !configured.contains(op) { cancelsAfterStop.insert(cancel(i, op, on: n)) }
            }
        }
    }

    /// The history of resources no longer configured is deleted, node by node (after the
    /// stop where one still runs).
    private mutating func deleteRemovedHistory() {
        guard ws.options.stopOrphanResources else { return }
        // Node by node in the configuration's order, as the scheduler knows them.
        let states = Dictionary(ws.cib.status.nodeStates.map { ($0.uname, $0) }, uniquingKeysWith: { a, _ in a })
        for n in ws.nodes where n.online && !n.unclean {
            guard let state = states[n.name] else { continue }
            let node = n.name
            for lrm in state.lrmResources where ws.configuredPrimitives.find(lrm.id) == nil {
                guard lrm.element.firstElement(named: "lrm_rsc_op") != nil else { continue }
                let orphan = ws.resources.indices.first { ws.resources[$0].orphan && ws.resources[$0].isPrimitive
                    && (ws.resources[$0].id == lrm.id || ws.resources[$0].historyIDs[node] == lrm.id) }
                if let o = orphan, !ws.resources[o].managed { continue }
                let k = add(.resource, task: "delete", key: "\(lrm.id)_delete_0", resource: orphan, node: node)
                if orphan == nil {
                    removedHistory[k] = lrm.id
                    actions[k].resource = lrm.id
                    actions[k].agent = lrm.agent
                    actions[k].configuredID = lrm.id
                    actions[k].meta["timeout"] = String(opDefaultTimeout ?? 20000)
                }
            }
        }
    }

    /// The failcounts of resources no longer configured are cleared where they are set.
    private mutating func clearRemovedFailcounts() {
        guard ws.options.stopOrphanResources else { return }
        for i in ws.resources.indices where ws.resources[i].orphan && ws.resources[i].isPrimitive && ws.resources[i].parent == nil {
            let id = ws.resources[i].id
            for n in ws.nodes.sorted(by: { naturalLess($0.name, $1.name) }) where n.online && !n.unclean {
                let set = n.attributes.contains { $0.key == "fail-count-\(id)" || $0.key.hasPrefix("fail-count-\(id)#") }
                guard set else { continue }
                add(.cluster, task: "clear_failcount", key: "\(id)_clear_failcount_0", resource: i, node: n.name)
            }
        }
    }

    /// The configured timeout of an operation in milliseconds: the op's own, else the
    /// op_defaults', else 20 s. A probe uses the monitor's.
    private func timeout(of r: SchedulerResource, task: String, interval: Int) -> Int {
        let ops = Primitive(r.element).operations
        let name = task == "monitor" && interval == 0 ? "monitor" : task
        let own = ops.first { $0.name == name && (CIBValue.milliseconds($0.interval) ?? 0) == interval && $0.timeout != nil }
            ?? (interval == 0 && task == "monitor" ? ops.first { $0.name == "monitor" && $0.timeout != nil } : nil)
        if let t = own?.timeout.flatMap(CIBValue.milliseconds) { return t }
        if let t = opDefaultTimeout { return t }
        return 20000
    }

    /// Recurring operations running now were known before anything else was created, and so
    /// was the stop of a resource that failed where it runs (its recovery starts there).
    private mutating func reserveHistoryRecurring() {
        for i in TransitionPlanner.order(ws) where ws.resources[i].isPrimitive {
            let r = ws.resources[i]
            let restartsOnFailure = r.failed && [nil, .restart, .restartContainer, .resetRemote].contains(r.onFail)
            for node in ws.nodes.map(\.name) {
                for op in r.recurringOn[node] ?? [] {
                    reserved[Self.lookupKey("\(r.id)_\(op)", node)] = nextID
                    nextID += 1
                }
                // The stop is known on the nodes where the failure happened.
                if restartsOnFailure && r.activeOn.contains(node) && (r.failedOn.isEmpty || r.failedOn.contains(node)) {
                    reserved[Self.lookupKey("\(r.id)_stop_0", node)] = nextID
                    nextID += 1
                }
            }
        }
    }

    /// The name an action shows for its resource. An anonymous clone's instances are known by
    /// the clone's primitive id when the history records them under it, else by instance id.
    private func displayName(_ i: Int) -> String {
        let r = ws.resources[i]
        guard r.isPrimitive, r.id != r.configuredID else { return r.id }
        // An anonymous instance found in the history under another instance's number keeps it
        // (an orphan instance too: it is known by the history entry it came from).
        if let recorded = historyName(i), recorded != r.configuredID { return recorded }
        if r.orphan && historyName(i) == nil { return r.id }
        guard historyNamed.contains(r.configuredID) else { return r.id }
        return r.configuredID
    }

    private func isUnclean(_ node: String) -> Bool { ws.node(named: node)?.unclean ?? false }

    /// The name the history knows an anonymous clone instance by, when not its own.
    private func historyName(_ i: Int) -> String? {
        let r = ws.resources[i]
        guard r.isPrimitive, r.id != r.configuredID, !isUniqueInstance(i) else { return nil }
        return ws.nodes.lazy.compactMap { r.historyIDs[$0.name] }.first { $0 != r.id }
    }

    // MARK: Probes

    private mutating func createProbes() {
        guard ws.options.startupProbes else { return }
        let nodes = ws.nodes.filter { probesRun(on: $0) }.sorted { naturalLess($0.name, $1.name) }
        for node in nodes {
            for top in ws.topLevel { probe(top, on: node) }
        }
    }

    private mutating func probe(_ i: Int, on node: SchedulerNode) {
        // (The resource is read in place, not copied: this runs for every resource on every node.)
        if node.kind != .member {
            // Remote and guest nodes run no fence devices, no connections, and a guest does
            // not run what holds a guest.
            if ws.resources[i].agent?.standard == "stonith" || isConnectionResource(i) { return }
            // (A bundle decides for its own parts, below.)
            if case .bundle = ws.resources[i].variant {} else if node.kind == .guest && holdsGuest(i) { return }
        }
        let children = ws.resources[i].children
        switch ws.resources[i].variant {
        case .group:
            for c in children { probe(c, on: node) }
        case .clone(_, let unique):
            if unique {
                for c in children { probe(c, on: node) }
            } else {
                // An anonymous clone probes one instance per node: the one already known
                // there, else the one going there, else the first.
                let chosen = children.first { known(ws.primitives(under: $0), on: node.name) }
                    ?? children.first { (assignment.assigned[firstLeaf($0)] ?? nil) == node.name } ?? children.first
                if let c = chosen { probe(c, on: node) }
            }
        case .bundle:
            // Each replica's address and container on the cluster nodes, its resource's copy on
            // its own guest node. (Connections are probed once their container starts: see
            // probeConnections.)
            for rep in ws.bundleReplicas[i] ?? [] {
                if node.kind == .member {
                    for part in [rep.ip, Optional(rep.container)].compactMap({ $0 }) { probe(part, on: node) }
                } else if let child = rep.child, rep.node == node.name, !known([child], on: node.name), !ws.resources[child].orphan {
                    add(.resource, task: "monitor", key: "\(ws.resources[child].id)_monitor_0", resource: child, node: node.name,
                        meta: ["op_target_rc": "7"])
                }
            }
        case .primitive:
            guard !ws.resources[i].orphan, !known(i, on: node.name) else { return }
            let r = ws.resources[i]
            // A launched resource is known through its launcher: never probed (a guest node's
            // connection is, though: it is probed like any resource).
            if r.launcher != nil, !ws.nodes.contains(where: { $0.kind == .guest && $0.name == r.id }) { return }
            if assignment.exclusiveDiscovery.contains(i), !(assignment.probeNodes[i]?.contains(node.name) ?? false) { return }
            if assignment.noProbeNodes[i]?.contains(node.name) == true { return }
            if node.kind != .member {
                if node.isBundleNode || r.meta["container"] != nil { return }
                // On a guest whose container is stopped, or about to stop, nothing runs yet.
                if node.kind == .guest, let c = container(of: node) {
                    let cr = ws.resources[c]
                    if cr.activeOn.isEmpty { return }
                    let next = nextNode(c)
                    if node.remoteReset || node.unclean || cr.failed || next == nil || !cr.activeOn.contains(next!) { return }
                }
            }
            add(.resource, task: "monitor", key: "\(r.id)_monitor_0", resource: i, node: node.name,
                meta: ["op_target_rc": "7"])
        }
    }

    /// Whether the history on a node says anything about any of these primitives.
    private func known(_ leaves: [Int], on node: String) -> Bool {
        leaves.contains { known($0, on: node) }
    }

    /// Whether the history on a node says anything about this primitive.
    private func known(_ p: Int, on node: String) -> Bool {
        if ws.resources[p].pendingProbeOn.contains(node) { return false }
        if ws.resources[p].historyIDs[node] != nil { return true }
        guard let entries = ws.historyEntries[node] else { return false }
        if entries.contains(ws.resources[p].id) { return true }
        // An anonymous instance's history may be recorded under the unnumbered id.
        return ws.resources[p].id != ws.resources[p].configuredID && !isUniqueInstance(p) && entries.contains(ws.resources[p].configuredID)
    }

    private func isUniqueInstance(_ p: Int) -> Bool {
        guard let c = Resources.enclosingClone(p, in: ws), case .clone(_, let unique) = ws.resources[c].variant else { return false }
        return unique
    }

    private func firstLeaf(_ i: Int) -> Int {
        ws.resources[i].isPrimitive ? i : (ws.resources[i].children.first.map(firstLeaf) ?? i)
    }

    // MARK: Resource actions

    private mutating func createActions(_ i: Int) {
        let r = ws.resources[i]
        switch r.variant {
        case .primitive:
            createPrimitiveActions(i)
        case .group:
            for c in r.children { createActions(c) }
            // A group that stops only some members still passes its start point, so that
            // whatever is ordered after the group's start waits for the stop.
            let partial = membersDo(i, "stop") && ws.primitives(under: i).allSatisfy { ws.resources[$0].managed }
                && ws.primitives(under: i).contains { p in
                guard let plan = transition.plans[p] else { return false }
                return plan.blockedStart || (plan.next != nil && ws.resources[p].managed)
            }
            if partial && !membersDo(i, "start") {
                add(.pseudo, task: "start", key: "\(r.id)_start_0", resource: i, node: nil)
            }
            let members = ws.primitives(under: i)
            func assigned(_ p: Int) -> Bool { (transition.plans[p]?.next ?? (assignment.assigned[p] ?? nil)) != nil }
            pseudoIfNeeded(i, "start")
            // Its running point follows every member's start: a member assigned nowhere has a
            // start that cannot run, and so the group is never "running" in this transition.
            if members.allSatisfy(assigned) { pseudoIfNeeded(i, "running") }
            // A managed member that must stop makes the group stop, even when its own stop is
            // blocked (by a member that cannot stop).
            if members.contains(where: { p in
                ws.resources[p].managed && !ws.resources[p].blocked && !ws.resources[p].activeOn.isEmpty && !assigned(p)
            }) {
                add(.pseudo, task: "stop", key: "\(r.id)_stop_0", resource: i, node: nil)
            }
            for task in ["stop", "stopped"] { pseudoIfNeeded(i, task) }
            if r.meta["promotable"].map(CIBValue.isTrue) == true {
                for task in ["demote", "demoted", "promote", "promoted"] { pseudoIfNeeded(i, task) }
            }
        case .clone(let promotable, _):
            for c in r.children { createActions(c) }
            // A clone that stops some instances while others keep running passes its
            // start and running points again.
            let partial = membersDo(i, "stop") && !membersDo(i, "start")
                && ws.primitives(under: i).allSatisfy { ws.resources[$0].managed }
                && ws.primitives(under: i).contains { (transition.plans[$0]?.next ?? nil) != nil }
                && OrderingEffects.orderings(ws).contains { o in
                    // Something counts its running instances (clone-min, require-all="false"),
                    // or must start after it.
                    o.first == i && o.firstAction == "start" && (!o.requireAll || r.meta["clone-min"] != nil
                        || (o.mandatory && ws.primitives(under: o.then).contains { p in
                            switch transition.plans[p]?.mode {
                            case .start?, .restart?, .move(migrate: false)?: return true
                            default: return false
                            }
                        }))
                }
            if partial {
                add(.pseudo, task: "start", key: "\(r.id)_start_0", resource: i, node: nil)
                add(.pseudo, task: "running", key: "\(r.id)_running_0", resource: i, node: nil)
            }
            for task in ["start", "running", "stop", "stopped"] { pseudoIfNeeded(i, task) }
            notificationPoints(i, "start", "running")
            notificationPoints(i, "stop", "stopped")
            if promotable {
                for task in ["promote", "promoted"] { pseudoIfNeeded(i, task) }
                notificationPoints(i, "promote", "promoted")
                for task in ["demote", "demoted"] { pseudoIfNeeded(i, task) }
                notificationPoints(i, "demote", "demoted")
            }
        case .bundle:
            createBundleActions(i)
        }
    }

    // MARK: Bundles

    /// The name of the clone a bundle keeps its resource's copies in: `<bundle>-master` when
    /// its container element sets promoted-max (or the older masters) above 0, else
    /// `<bundle>-clone` (also for a bundle made promotable by its meta attributes).
    private func bundleCloneName(_ b: Int) -> String {
        let container = ws.resources[b].element.elements.first { ["docker", "podman", "rkt"].contains($0.name) }
        let promotedMax = Int(container?["promoted-max"] ?? container?["masters"] ?? "") ?? 0
        return ws.resources[b].id + (promotedMax > 0 ? "-master" : "-clone")
    }

    /// A bundle's resource copies, in the order their actions are listed: those to be
    /// promoted first, then by replica number.
    private func bundleChildren(_ b: Int) -> [Int] {
        let children = (ws.bundleReplicas[b] ?? []).compactMap(\.child)
        return children.filter { transition.plans[$0]?.nextRole == .promoted } + children.filter { transition.plans[$0]?.nextRole != .promoted }
    }

    /// Each replica's address, container and connection.
    private func bundleParts(_ b: Int) -> [Int] {
        (ws.bundleReplicas[b] ?? []).flatMap { [$0.ip, Optional($0.container), $0.connection].compactMap { $0 } }
    }

    /// The points of a bundle's inner clone (owned by the bundle) and of the bundle itself
    /// (owned by nothing: Pacemaker lists them last), each when some member does what it
    /// stands for.
    private mutating func createBundleActions(_ b: Int) {
        let children = bundleChildren(b)
        for c in children { createActions(c) }
        let parts = bundleParts(b)
        for p in parts { createActions(p) }
        probeConnections(b)
        var tasks = [("start", "start"), ("running", "start"), ("stop", "stop"), ("stopped", "stop")]
        if ws.resources[b].bundlePromotable {
            tasks += [("promote", "promote"), ("promoted", "promote"), ("demote", "demote"), ("demoted", "demote")]
        }
        func does(_ members: [Int], _ task: String) -> Bool {
            members.contains { p in (owned[p] ?? []).contains { actions[$0].key == "\(ws.resources[p].id)_\(task)_0" } }
        }
        // Copies stopping while others keep running: the inner clone passes its start and
        // running points again, and the bundle its running point.
        let partial = does(children, "stop") && !does(children, "start")
            && children.contains { (transition.plans[$0]?.next ?? nil) != nil }
        if !children.isEmpty {
            let clone = bundleCloneName(b)
            for (task, member) in tasks where does(children, member) || (partial && (task == "start" || task == "running")) {
                add(.pseudo, task: task, key: "\(clone)_\(task)_0", resource: b, node: nil)
            }
        }
        for (task, member) in tasks where does(children + parts, member) || (partial && task == "running") {
            add(.pseudo, task: task, key: "\(ws.resources[b].id)_\(task)_0", resource: nil, node: nil)
        }
    }

    /// A replica's connection is probed (where its state is unknown) once its container
    /// starts, or at once when the container runs already (not when it cannot start);
    /// never with exclusive discovery for the bundle, which does not name connections.
    private mutating func probeConnections(_ b: Int) {
        guard ws.options.startupProbes else { return }
        let reps = ws.bundleReplicas[b] ?? []
        guard !reps.contains(where: { assignment.exclusiveDiscovery.contains($0.container) }) else { return }
        let nodes = ws.nodes.filter { $0.kind == .member && $0.online && !$0.unclean && !$0.pending }.sorted { naturalLess($0.name, $1.name) }
        for rep in reps {
            guard let conn = rep.connection else { continue }
            let start = actionsOf(rep.container, "start").first
            guard start != nil || !ws.resources[rep.container].activeOn.isEmpty else { continue }
            for node in nodes where !known([conn], on: node.name) && assignment.noProbeNodes[conn]?.contains(node.name) != true {
                let p = add(.resource, task: "monitor", key: "\(ws.resources[conn].id)_monitor_0", resource: conn, node: node.name,
                            meta: ["op_target_rc": "7"])
                order(start, p)
            }
        }
    }

    /// A bundle's points: the bundle's around its inner clone's and its containers', the
    /// clone's around its copies'; demotions before promotions, stops before starts.
    private mutating func orderBundle(_ b: Int) {
        let clone = bundleCloneName(b)
        let id = ws.resources[b].id
        func cp(_ t: String) -> Int? { find("\(clone)_\(t)_0", on: nil) }
        func bp(_ t: String) -> Int? { find("\(id)_\(t)_0", on: nil) }
        let pairs = [("start", "running"), ("stop", "stopped"), ("promote", "promoted"), ("demote", "demoted")]
        for child in bundleChildren(b) {
            for (task, done) in pairs {
                for s in actionsOf(child, task) {
                    order(cp(task), s)
                    order(s, cp(done))
                }
            }
        }
        for (task, done) in pairs {
            order(bp(task), cp(task))
            order(cp(done), bp(done))
            order(cp(task), cp(done))
            order(bp(task), bp(done))
        }
        for prefix in [clone, id] {
            func point(_ t: String) -> Int? { find("\(prefix)_\(t)_0", on: nil) }
            order(point("demoted"), point("promote"))
            order(point("running"), point("promote"))
            order(point("stopped"), point("start"))
            order(point("demoted"), point("stop"))
        }
        for rep in ws.bundleReplicas[b] ?? [] {
            for s in actionsOf(rep.container, "start") {
                order(bp("start"), s)
                order(s, bp("running"))
            }
            for s in actionsOf(rep.container, "stop") {
                order(bp("stop"), s)
                order(s, bp("stopped"))
            }
        }
    }

    /// The action a collective's pseudo-action stands for on its members.
    private static func memberTask(_ task: String) -> String {
        switch task {
        case "running": "start"
        case "stopped": "stop"
        case "promoted": "promote"
        case "demoted": "demote"
        default: task
        }
    }

    /// Whether any primitive under a resource has an action with this task.
    private func membersDo(_ i: Int, _ task: String) -> Bool {
        ws.primitives(under: i).contains { p in
            let id = ws.resources[p].id
            return (owned[p] ?? []).contains { actions[$0].key == "\(id)_\(task)_0" }
        }
    }

    /// A group's or clone's pseudo-action, when any member does what it stands for.
    private mutating func pseudoIfNeeded(_ i: Int, _ task: String) {
        guard membersDo(i, Self.memberTask(task)) else { return }
        add(.pseudo, task: task, key: "\(ws.resources[i].id)_\(task)_0", resource: i, node: nil)
    }

    private mutating func createPrimitiveActions(_ i: Int) {
        let r = ws.resources[i]
        guard let plan = transition.plans[i] else {
            // A resource that stays stopped still gets its Stopped-role monitors.
            if r.managed && !r.orphan && r.activeOn.isEmpty {
                createRecurring(i, ResourcePlan(current: [], origRole: .stopped, next: nil, nextRole: .stopped, mode: .none))
            }
            // An unmanaged resource running on one node is still monitored there.
            if !r.managed, !r.orphan, r.activeOn.count == 1, !assignment.isMaintained(r), !ws.options.maintenanceMode,
               let n = ws.node(named: r.activeOn[0]), n.online, !n.maintenance {
                let role = r.role == .unknown ? Role.started : r.role
                createRecurring(i, ResourcePlan(current: r.activeOn, origRole: role, next: r.activeOn[0], nextRole: role, mode: .none))
            }
            return
        }
        let id = r.id
        @discardableResult func resourceOp(_ task: String, on node: String, meta: [String: String] = [:]) -> Int {
            // What would run on a node being fenced is implied by the fencing.
            // So is a stop on a guest "fenced" by recovering its container.
            let implied = isUnclean(node) || ((task == "stop" || task == "demote") && ws.node(named: node).map { $0.kind == .guest && $0.remoteReset } == true)
            let kind: GraphAction.Kind = implied ? .pseudo : .resource
            let key = "\(id)_\(task)_0"
            if kind == .pseudo, let existing = find(key, on: nil), impliedOn[existing] != node {
                // Active on several lost nodes: each fencing implies its own stop.
                let k = add(.pseudo, task: task, key: key, resource: i, node: nil, meta: meta, lookupNode: "~\(node)")
                impliedOn[k] = node
                return k
            }
            let k = add(kind, task: task, key: key, resource: i, node: kind == .pseudo ? nil : node, meta: meta)
            if kind == .pseudo { impliedOn[k] = node }
            return k
        }
        // The source of a completed migration is stopped first.
        for source in ws.danglingMigrations[i] ?? [] where ws.node(named: source).map({ $0.online && !$0.unclean }) == true {
            resourceOp("stop", on: source)
        }
        func down(_ nodes: [String]) {
            for n in nodes {
                if plan.origRole == .promoted { resourceOp("demote", on: n) }
                resourceOp("stop", on: n)
            }
        }
        func up(_ n: String) {
            resourceOp("start", on: n)
            if plan.nextRole == .promoted { resourceOp("promote", on: n) }
        }
        // A start still pending is in the graph again where the resource is assigned.
        if r.pendingTask == "start", r.pendingNode != nil, let n = plan.next, plan.nextRole >= .started {
            resourceOp("start", on: n)
        }
        switch plan.mode {
        case .none:
            break
        case .start:
            if let n = plan.next { up(n) }
        case .stop:
            down(plan.current)
        case .restart where r.meta["multiple-active"] == "stop_unexpected" && plan.current.count > 1
            && plan.next.map(plan.current.contains) == true && plan.origRole == plan.nextRole:
            // Active where expected and elsewhere: only the unexpected copies stop; the start
            // where it stays is only an ordering point.
            let n = plan.next!
            down(plan.current.filter { $0 != n })
            add(.pseudo, task: "start", key: "\(id)_start_0", resource: i, node: nil)
        case .restart, .move(migrate: false):
            down(plan.current)
            if let n = plan.next { up(n) }
        case .move(migrate: true):
            down(plan.current)
            if let n = plan.next { up(n) }
        case .promote:
            if let n = plan.next { resourceOp("promote", on: n) }
        case .demote:
            if let n = plan.next { resourceOp("demote", on: n) }
        case .reload:
            if let n = plan.next { resourceOp("reload-agent", on: n) }
        }
        createRecurring(i, plan)
        if case .move(migrate: true) = plan.mode, let from = plan.current.first, let to = plan.next {
            let meta = ["migrate_source": from, "migrate_target": to]
            add(.resource, task: "migrate_to", key: "\(id)_migrate_to_0", resource: i, node: from, meta: meta)
            add(.resource, task: "migrate_from", key: "\(id)_migrate_from_0", resource: i, node: to, meta: meta)
            // The start on the target is then only an ordering point.
            if let s = find("\(id)_start_0", on: to) {
                actions[s].kind = .pseudo
                actions[s].node = nil
                byKey[Self.lookupKey("\(id)_start_0", nil)] = s
            }
        }
    }

    /// The recurring operations for the role the resource will have, where it will run, and
    /// the Stopped-role monitors everywhere else.
    private mutating func createRecurring(_ i: Int, _ plan: ResourcePlan) {
        let r = ws.resources[i]
        // Stopped-role monitors are not supported for anonymous clone instances.
        let anonymous = Resources.enclosingClone(i, in: ws).map { c in
            if case .clone(_, let unique) = ws.resources[c].variant { return !unique }
            return false
        } ?? false
        for op in Primitive(r.element).operations where !anonymous && op.role.flatMap({ Role(name: $0) }) == .stopped {
            guard let interval = CIBValue.milliseconds(op.interval), interval > 0 else { continue }
            if let enabled = op.enabled, !CIBValue.isTrue(enabled) { continue }
            let key = "\(op.name)_\(interval)"
            for n in ws.nodes where n.online && !n.unclean && n.kind == .member && n.name != plan.next {
                if (r.recurringOn[n.name] ?? []).contains(key) && find("\(r.id)_stop_0", on: n.name) == nil { continue }
                let m = add(.resource, task: op.name, key: "\(r.id)_\(key)", resource: i, node: n.name, interval: interval,
                            meta: ["interval": String(interval), "name": op.name, "role": "Stopped", "op_target_rc": "7"])
                order(find("\(r.id)_stop_0", on: n.name), m)
                order(find("\(r.id)_monitor_0", on: n.name), m)
            }
        }
        if let node = plan.next, plan.nextRole >= .started {
            for op in Primitive(r.element).operations where op.role.flatMap({ Role(name: $0) }) == .stopped {
                guard let interval = CIBValue.milliseconds(op.interval), interval > 0 else { continue }
                let key = "\(op.name)_\(interval)"
                if (r.recurringOn[node] ?? []).contains(key) {
                    let c = cancel(i, key, on: node)
                    order(c, find("\(r.id)_start_0", on: node))
                }
            }
        }
        guard let node = plan.next, !isUnclean(node), plan.nextRole >= .started else { return }
        let changedHere = find("\(r.id)_start_0", on: node) != nil || find("\(r.id)_promote_0", on: node) != nil
            || find("\(r.id)_demote_0", on: node) != nil || find("\(r.id)_start_0", on: nil) != nil
            || find("\(r.id)_reload-agent_0", on: node) != nil
        let promotable = ws.isInPromotableClone(r)
        let running = r.recurringOn[node] ?? []
        let ops = Primitive(r.element).operations
        // An operation configured twice with the same name and interval is ignored.
        let configured = ops.reduce(into: [String: Int]()) { n, op in
            if let ms = CIBValue.milliseconds(op.interval) { n["\(op.name)_\(ms)", default: 0] += 1 }
        }
        for op in ops {
            guard op.name != "start", op.name != "stop", op.name != "promote", op.name != "demote" else { continue }
            guard let interval = CIBValue.milliseconds(op.interval), interval > 0 else { continue }
            guard configured["\(op.name)_\(interval)"] == 1 else { continue }
            if let enabled = op.enabled, !CIBValue.isTrue(enabled) { continue }
            let wanted: Role = op.role.flatMap { Role(name: $0) } ?? .unknown
            if wanted == .stopped { continue }
            let key = "\(op.name)_\(interval)"
            // An operation without a role watches any role but the promoted one; one with a role
            // watches exactly that role (a promotable instance that is not promoted is Unpromoted).
            let role = plan.nextRole == .started && promotable ? Role.unpromoted : plan.nextRole
            let matches = wanted == .unknown ? plan.nextRole != .promoted : wanted == role
            if !matches {
                // One running here for the role the resource leaves is cancelled first.
                if running.contains(key), find("\(r.id)_start_0", on: node) == nil {
                    let c = cancel(i, key, on: node)
                    let before: String?
                    switch plan.origRole {
                    case .started, .unpromoted:
                        before = plan.nextRole == .promoted ? "promote" : (plan.nextRole == .stopped ? "stop" : nil)
                    case .promoted: before = "demote"
                    default: before = nil
                    }
                    if let before { order(c, find("\(r.id)_\(before)_0", on: node)) }
                }
                continue
            }
            guard changedHere || connectionStarts(node) || !running.contains(key) || (rescheduled[i]?.contains(key) ?? false) else { continue }
            add(.resource, task: op.name, key: "\(r.id)_\(key)", resource: i, node: node, interval: interval,
                meta: ["interval": String(interval), "name": op.name])
        }
    }

    // MARK: Notifications

    private func notifies(_ clone: Int) -> Bool {
        ws.resources[clone].meta["notify"].map(CIBValue.isTrue) ?? false
    }

    /// A notifying clone's pseudo-actions around one of its tasks: "pre" notifications before
    /// the task, "post" ones after it completes, each with a point where all are confirmed.
    private mutating func notificationPoints(_ c: Int, _ task: String, _ done: String) {
        guard notifies(c) else { return }
        let cid = ws.resources[c].id
        let action = find("\(cid)_\(task)_0", on: nil), complete = find("\(cid)_\(done)_0", on: nil)
        func point(_ type: String, _ of: String, _ kind: String) -> Int {
            add(.pseudo, task: kind, key: "\(cid)_\(type)_notify_\(of)_0", resource: c, node: nil,
                meta: ["notify_type": type.hasSuffix("pre") ? "pre" : "post", "notify_operation": task,
                       "notify_key_type": type, "notify_key_operation": of])
        }
        var pre: (Int, Int)?, post: (Int, Int)?
        if let action {
            let p = point("pre", task, "notify"), d = point("confirmed-pre", task, "notified")
            order(p, d)
            order(d, action)
            pre = (p, d)
        }
        if let complete {
            let p = point("post", done, "notify"), d = point("confirmed-post", done, "notified")
            order(complete, p)
            order(p, d)
            post = (p, d)
        }
        if let pre, let post { order(pre.1, post.0) }
    }

    private func notifyPoint(_ c: Int, _ type: String, _ task: String) -> Int? {
        let cid = ws.resources[c].id
        let of: String
        if type.hasSuffix("post") {
            switch task {
            case "start": of = "running"
            case "stop": of = "stopped"
            case "promote": of = "promoted"
            default: of = "demoted"
            }
        } else {
            of = task
        }
        return find("\(cid)_\(type)_notify_\(of)_0", on: nil)
    }

    /// The notify operations each instance receives, created last as in Pacemaker.
    private mutating func createNotifications() {
        for c in ws.resources.indices {
            guard case .clone = ws.resources[c].variant, notifies(c) else { continue }
            for task in ["start", "stop", "promote", "demote"] {
                let leaves = ws.primitives(under: c)
                let doing = leaves.filter { p in (owned[p] ?? []).contains { actions[$0].task == task && actions[$0].intervalMS == 0 } }
                // Start, promote and demote notifications are only sent when some instance does it.
                if task != "stop" && doing.isEmpty { continue }
                for p in leaves { notify(p, clone: c, task: task) }
            }
        }
    }

    private mutating func notify(_ p: Int, clone c: Int, task: String) {
        let r = ws.resources[p]
        guard let plan = transition.plans[p] ?? Optional(ResourcePlan(current: r.activeOn, origRole: r.activeOn.isEmpty ? .stopped : r.role,
                                                                       next: r.activeOn.first, nextRole: r.role, mode: .none)) else { return }
        let pre = notifyPoint(c, "pre", task), preDone = notifyPoint(c, "confirmed-pre", task)
        let post = notifyPoint(c, "post", task), postDone = notifyPoint(c, "confirmed-post", task)
        func online(_ n: String) -> Bool { ws.node(named: n).map { $0.online && !$0.unclean } ?? false }
        func create(_ type: String, on node: String, _ point: Int?, _ done: Int?) {
            guard let point, let done, online(node) else { return }
            let k = add(.resource, task: "notify", key: "\(r.id)_\(type)_notify_\(task)_0", resource: p, node: node,
                        meta: ["notify_type": type, "notify_operation": task])
            order(point, k)
            order(k, done)
            if type == "post" {
                for m in owned[p] ?? [] where actions[m].intervalMS > 0 && actions[m].task != "cancel" { order(done, m) }
            }
        }
        if !r.activeOn.isEmpty && (task == "stop" || task == "demote") {
            let stopping = find("\(r.id)_stop_0", on: nil) != nil || r.activeOn.contains { find("\(r.id)_stop_0", on: $0) != nil }
            for n in r.activeOn {
                create("pre", on: n, pre, preDone)
                if task == "demote" || !stopping { create("post", on: n, post, postDone) }
            }
        }
        if let n = plan.next, plan.nextRole != .stopped, task == "start" || task == "promote" {
            let starting = find("\(r.id)_start_0", on: n) != nil || find("\(r.id)_start_0", on: nil) != nil
            if task != "start" || !starting { create("pre", on: n, pre, preDone) }
            create("post", on: n, post, postDone)
        }
    }

    // MARK: Fencing and shutdowns

    private mutating func createFencingAndShutdowns() {
        // Node by node, in name order; the DC's own fencing or shutdown comes after the others'.
        var fenceAction: [String: String] = [:]
        for change in transition.changes where change.kind == .fence {
            let node = change.subject.split(separator: " ").first.map(String.init) ?? change.subject
            fenceAction[node] = change.fenceAction
        }
        let dc = ws.cib.root["dc-uuid"]
        var dcDown: Int?
        var fencings: [Int] = []
        var shutdowns: [Int] = []
        for n in ws.nodes.sorted(by: { naturalLess($0.name, $1.name) }) where n.kind != .guest {
            let isDC = dc != nil && n.id == dc
            if let action = fenceAction[n.name] {
                let k = add(.fence, task: "stonith", key: "stonith-\(n.name)-\(action)", resource: nil, node: n.name,
                            meta: ["stonith_action": action])
                if isDC {
                    dcDown = k
                } else {
                    // Without concurrent fencing, one node after the other.
                    if !ws.options.concurrentFencing, let previous = fencings.last { order(previous, k) }
                    fencings.append(k)
                }
            } else if n.kind == .member && n.shutdown && n.online && !n.unclean {
                let k = add(.cluster, task: "do_shutdown", key: "do_shutdown-\(n.name)", resource: nil, node: n.name)
                if isDC { dcDown = k } else { shutdowns.append(k) }
            }
        }
        if let dcDown {
            if actions[dcDown].task == "do_shutdown" { for k in shutdowns { order(k, dcDown) } }
            if ws.options.concurrentFencing {
                for k in fencings { order(k, dcDown) }
            } else if let last = fencings.last {
                order(last, dcDown)
            }
        }
    }

    /// Whether recovering a resource from a lost node must wait for the node's fencing.
    private func requiresFencing(_ r: SchedulerResource) -> Bool {
        guard ws.options.fencingEnabled else { return false }
        // Fence devices and remote connections need only quorum by default.
        let connection = r.agent.map { $0.standard == "ocf" && $0.provider == "pacemaker" && $0.type == "remote" } ?? false
        let requires = r.meta["requires"] ?? (r.agent?.standard == "stonith" || connection ? "quorum" : "fencing")
        return requires == "fencing" || requires == "unfencing"
    }

    // MARK: Orderings

    /// A resource's action with a task, on any node (pseudo ones included).
    private func actionsOf(_ i: Int, _ task: String) -> [Int] {
        (owned[i] ?? []).filter { actions[$0].task == task && actions[$0].intervalMS == 0 && !isProbe($0) }
    }

    private func isProbe(_ k: Int) -> Bool { actions[k].task == "monitor" && actions[k].intervalMS == 0 }

    private mutating func orderResources() {
        for i in ws.resources.indices {
            let r = ws.resources[i]
            switch r.variant {
            case .primitive: orderPrimitive(i)
            case .group: orderGroup(i)
            case .clone(let promotable, _): orderClone(i, promotable: promotable)
            case .bundle: orderBundle(i)
            }
        }
        // Fencing comes before whatever it implies, and a node shuts down once stopped.
        let impliedStops = actions.indices.filter { actions[$0].kind == .pseudo && actions[$0].resource != nil && (actions[$0].task == "stop" || actions[$0].task == "demote") }
        for k in actions.indices where actions[k].kind == .fence {
            let node = actions[k].node
            for s in impliedStops {
                if let o = owner[s], ws.resources[o].isPrimitive, transition.plans[o]?.current.contains(node ?? "") == true,
                   requiresFencing(ws.resources[o]), actions[s].task == "stop" || actions[s].task == "demote" {
                    order(k, s)
                    // And before the stop of the top-level resource it belongs to.
                    var top = o
                    while let p = ws.resources[top].parent { top = p }
                    if actions[s].task == "stop", top != o { order(k, find("\(ws.resources[top].id)_stop_0", on: nil)) }
                }
            }
        }
        for k in actions.indices where actions[k].task == "clear_failcount" {
            guard let o = owner[k], ws.resources[o].orphan else { continue }
            for stop in actionsOf(o, "stop") { order(k, stop) }
        }
        // A removed resource's history is deleted everywhere once it has stopped.
        for k in actions.indices where actions[k].task == "delete" {
            guard let o = owner[k] else { continue }
            if agentCleanups.contains(k) {
                // stop (anywhere) -> clean-up -> start
                for s in actionsOf(o, "stop") { order(s, k) }
                for s in actionsOf(o, "start") { order(k, s) }
                continue
            }
            for s in actionsOf(o, "stop") { order(s, k) }
        }
        var byNode: [String: [Int]] = [:]
        for k in actions.indices { if let n = actions[k].node { byNode[n, default: []].append(k) } }
        for k in actions.indices where actions[k].kind == .cluster && actions[k].task == "do_shutdown" {
            for s in byNode[actions[k].node ?? ""] ?? [] where actions[s].kind == .resource
                && (actions[s].task == "stop" || actions[s].task == "demote") {
                order(s, k)
            }
        }
    }

    private mutating func orderPrimitive(_ i: Int) {
        let probes = (owned[i] ?? []).filter { isProbe($0) }
        let starts = actionsOf(i, "start"), stops = actionsOf(i, "stop")
        // Cancellations of removed operations, or for maintenance, come after any stop.
        for k in owned[i] ?? [] where cancelsAfterStop.contains(k) { for s in stops { order(s, k) } }
        let promotes = actionsOf(i, "promote"), demotes = actionsOf(i, "demote")
        // Probe before starting; for a clone instance, before the clone starts.
        let clone = Resources.enclosingClone(i, in: ws)
        for p in probes {
            if let c = clone {
                // An instance's probe comes before the clone starts (and so before the instance).
                order(p, find("\(ws.resources[c].id)_start_0", on: nil))
            } else {
                // And before a reload of what is found running elsewhere.
                for s in starts + actionsOf(i, "reload-agent") { order(p, s) }
            }
        }
        for d in demotes { for s in stops { order(d, s) } }
        for s in stops { for st in starts { order(s, st) } }
        for st in starts { for p in promotes { order(st, p) } }
        for d in demotes { for p in promotes { order(d, p) } }
        // Live migration: migrate_to, migrate_from, stop the source, the start completes.
        if let to = (owned[i] ?? []).first(where: { actions[$0].task == "migrate_to" }),
           let from = (owned[i] ?? []).first(where: { actions[$0].task == "migrate_from" }) {
            order(to, from)
            for p in probes { order(p, to) }
            for s in stops { order(from, s) }
            for st in starts { order(from, st) }
        }
        // Recurring operations after the action that brings the role they watch.
        for k in owned[i] ?? [] where actions[k].intervalMS > 0 && actions[k].task != "cancel" {
            let node = actions[k].node
            for st in starts where actions[st].node == node || actions[st].kind == .pseudo { order(st, k) }
            for reload in actionsOf(i, "reload-agent") { order(reload, k) }
            if transition.plans[i]?.nextRole == .promoted {
                for p in promotes { order(p, k) }
            } else {
                for d in demotes { order(d, k) }
            }
        }
    }

    private mutating func orderGroup(_ g: Int) {
        let gid = ws.resources[g].id
        func pseudo(_ t: String) -> Int? { find("\(gid)_\(t)_0", on: nil) }
        let start = pseudo("start"), running = pseudo("running"), stop = pseudo("stop"), stopped = pseudo("stopped")
        order(stop, stopped)
        order(stopped, start)
        order(start, running)
        let ordered = ws.resources[g].meta["ordered"].map(CIBValue.isTrue) ?? true
        let promotable = ws.isInPromotableClone(ws.resources[g])
        let members = ws.resources[g].children
        var lastActive: Int?
        for (n, m) in members.enumerated() {
            let active = !ws.resources[m].activeOn.isEmpty
            for s in firstActions(m, "stop") { order(stop, s) }
            for s in completionActions(m, "stop") { order(s, stopped) }
            probesBefore(m, stopped.map { [$0] } ?? [])
            for s in firstActions(m, "start") { order(start, s) }
            for s in completionActions(m, "start") { order(s, running) }
            if promotable {
                for s in firstActions(m, "demote") { order(pseudo("demote"), s) }
                for s in completionActions(m, "demote") { order(s, pseudo("demoted")) }
                for s in firstActions(m, "promote") { order(pseudo("promote"), s) }
                for s in completionActions(m, "promote") { order(s, pseudo("promoted")) }
            }
            if ordered, n > 0 {
                let previous = members[n - 1]
                orderResources(previous, "start", m, "start")
                orderResources(m, "stop", previous, "stop")
                let previousActive = !ws.resources[previous].activeOn.isEmpty
                if active && !previousActive {
                    for a in completionActions(m, "stop") { for b in firstActions(previous, "start") { order(a, b) } }
                    probesBefore(m, firstActions(previous, "start"))
                    if let last = lastActive {
                        for a in completionActions(m, "stop") { for b in firstActions(last, "stop") { order(a, b) } }
                        probesBefore(m, firstActions(last, "stop"))
                    }
                }
                if promotable {
                    for a in completionActions(previous, "promote") { for b in firstActions(m, "promote") { order(a, b) } }
                    for a in completionActions(m, "demote") { for b in firstActions(previous, "demote") { order(a, b) } }
                }
            }
            if active { lastActive = m }
        }
    }

    private mutating func orderClone(_ c: Int, promotable: Bool) {
        let cid = ws.resources[c].id
        func pseudo(_ t: String) -> Int? { find("\(cid)_\(t)_0", on: nil) }
        order(pseudo("stopped"), pseudo("start"))
        order(pseudo("start"), pseudo("running"))
        order(pseudo("stop"), pseudo("stopped"))
        if notifies(c) {
            order(notifyPoint(c, "confirmed-post", "stop"), notifyPoint(c, "pre", "start"))
            if promotable {
                order(notifyPoint(c, "confirmed-post", "stop"), notifyPoint(c, "pre", "promote"))
                order(notifyPoint(c, "confirmed-post", "start"), notifyPoint(c, "pre", "promote"))
                order(notifyPoint(c, "confirmed-post", "demote"), notifyPoint(c, "pre", "promote"))
                order(notifyPoint(c, "confirmed-post", "demote"), notifyPoint(c, "pre", "start"))
                order(notifyPoint(c, "confirmed-post", "demote"), notifyPoint(c, "pre", "stop"))
            }
        }
        if promotable {
            order(pseudo("demoted"), pseudo("stop"))
            order(pseudo("running"), pseudo("promote"))
            // (No "promote, then promoted": Pacemaker's graph relies on the instances'.)
            order(pseudo("demote"), pseudo("demoted"))
            order(pseudo("demoted"), pseudo("promote"))
            order(pseudo("stopped"), pseudo("promote"))
            order(pseudo("demoted"), pseudo("start"))
        }
        // Instances of an ordered clone start by number and stop the other way round.
        if ws.resources[c].meta["ordered"].map(CIBValue.isTrue) == true {
            let instances = ws.resources[c].children
            for (n, a) in instances.enumerated() {
                for b in instances.dropFirst(n + 1) {
                    for x in completionActions(a, "start") { for y in firstActions(b, "start") { order(x, y) } }
                    for x in completionActions(b, "stop") { for y in firstActions(a, "stop") { order(x, y) } }
                }
            }
        }
        for inst in ws.resources[c].children {
            for s in firstActions(inst, "start") { order(pseudo("start"), s) }
            for s in completionActions(inst, "start") { order(s, pseudo("running")) }
            for s in firstActions(inst, "stop") { order(pseudo("stop"), s) }
            for s in completionActions(inst, "stop") { order(s, pseudo("stopped")) }
            probesBefore(inst, pseudo("stopped").map { [$0] } ?? [])
            if promotable {
                for s in firstActions(inst, "promote") { order(pseudo("promote"), s) }
                for s in completionActions(inst, "promote") { order(s, pseudo("promoted")) }
                for s in firstActions(inst, "demote") { order(pseudo("demote"), s) }
                for s in completionActions(inst, "demote") { order(s, pseudo("demoted")) }
            }
        }
    }

    /// "First do this to one resource, then that to another": the actions that complete the
    /// first task wait before those that begin the second, with what that implies for probes
    /// and live migrations.
    /// An optional ordering (kind Optional) does not hold back what follows the stop of a
    /// resource that live-migrates: that stop ends the migration, it does not begin the move.
    private mutating func orderResources(_ first: Int, _ firstTask: String, _ then: Int, _ thenTask: String,
                                         optional: Bool = false) {
        let thens = firstActions(then, thenTask)
        let migratingStop = optional && firstTask == "stop" && ws.resources[first].isPrimitive && isMigrating(first)
        if !migratingStop {
            for f in completionActions(first, firstTask) { for t in thens { order(f, t) } }
        }
        if firstTask == "stop" { probesBefore(first, thens) }
        orderMigrations(first, firstTask, then, thenTask)
    }

    private func migrationAction(_ i: Int, _ task: String) -> Int? {
        (owned[i] ?? []).first { actions[$0].task == task }
    }

    private func isMigrating(_ i: Int) -> Bool { migrationAction(i, "migrate_from") != nil }

    private func isAncestor(_ a: Int, of i: Int) -> Bool {
        var p = ws.resources[i].parent
        while let q = p { if q == a { return true }; p = ws.resources[q].parent }
        return false
    }

    /// Orderings with a live-migrating resource apply to its migration: what must come
    /// before its start (or, for a stop, before it leaves) comes before its migrate_to.
    private mutating func orderMigrations(_ first: Int, _ firstTask: String, _ then: Int, _ thenTask: String) {
        // The first may be a collective: its completion (running, stopped, ...) comes first.
        guard ws.resources[then].isPrimitive, first != then, !isAncestor(first, of: then), !isAncestor(then, of: first),
              let migrateTo = migrationAction(then, "migrate_to") else { return }
        let primitiveFirst = ws.resources[first].isPrimitive
        switch (firstTask, thenTask) {
        case ("start", "start"):
            if primitiveFirst, let from = migrationAction(first, "migrate_from") {
                order(from, migrateTo)
            } else {
                for f in completionActions(first, "start") { order(f, migrateTo) }
            }
        case ("stop", "stop"):
            if !(primitiveFirst && isMigrating(first)) { for f in completionActions(first, "stop") { order(f, migrateTo) } }
        case ("promote", "start"):
            for f in completionActions(first, "promote") { order(f, migrateTo) }
        case ("demote", "stop"):
            for f in completionActions(first, "demote") { order(f, migrateTo) }
        default:
            break
        }
    }

    /// "First stop, then something" for a primitive also means: probe it first, so that
    /// what follows does not race with a copy found running.
    private mutating func probesBefore(_ first: Int, _ thens: [Int]) {
        guard ws.resources[first].isPrimitive else { return }
        for p in owned[first] ?? [] where isProbe(p) {
            for t in thens where owner[t] != first { order(p, t) }
        }
    }

    /// The actions that begin a task for a resource: a primitive's own, a collective's pseudo-action.
    private func firstActions(_ i: Int, _ task: String) -> [Int] {
        if ws.resources[i].isPrimitive { return actionsOf(i, task) }
        return find("\(ws.resources[i].id)_\(task)_0", on: nil).map { [$0] } ?? []
    }

    /// The actions that end a task for a resource: a primitive's own, a collective's
    /// "running"/"stopped"/"promoted"/"demoted" pseudo-action.
    private func completionActions(_ i: Int, _ task: String) -> [Int] {
        if ws.resources[i].isPrimitive {
            // A migrating resource has started once its migration completed.
            return actionsOf(i, task)
        }
        let done: String
        switch task {
        case "start": done = "running"
        case "stop": done = "stopped"
        case "promote": done = "promoted"
        case "demote": done = "demoted"
        default: done = task
        }
        // A notifying clone has completed once the notifications after it are confirmed.
        if case .clone = ws.resources[i].variant, notifies(i),
           let confirmed = find("\(ws.resources[i].id)_confirmed-post_notify_\(done)_0", on: nil) {
            return [confirmed]
        }
        return find("\(ws.resources[i].id)_\(done)_0", on: nil).map { [$0] } ?? []
    }

    private static func inverse(_ task: String) -> String? {
        switch task {
        case "start": "stop"
        case "stop": "start"
        case "promote": "demote"
        case "demote": "promote"
        default: nil
        }
    }

    /// A set that does not require all its members (`require-all="false"`) comes before the
    /// next set through a `one-or-more:<set>` point: it follows the members' starts (or
    /// promotes) and what follows waits for it. Stopping needs them all again.
    private mutating func orderAnyOf(_ o: Ordering, set: String) {
        if o.firstAction == "start" || o.firstAction == "promote" {
            let firsts = o.anyOf.flatMap { completionActions($0, o.firstAction) }
            if !firsts.isEmpty {
                let point = add(.pseudo, task: "one-or-more:\(set)", key: "one-or-more:\(set)", resource: nil, node: nil)
                for f in firsts { order(f, point) }
                for t in firstActions(o.then, o.thenAction) { order(point, t) }
            }
        } else {
            for m in o.anyOf where m != o.then { orderResources(m, o.firstAction, o.then, o.thenAction) }
        }
        guard o.inverse, let fi = Self.inverse(o.thenAction), let ti = Self.inverse(o.firstAction) else { return }
        for m in o.anyOf where m != o.then { orderResources(o.then, fi, m, ti) }
    }

    /// The minimum number of a clone's instances an ordering after it needs (clone-min, or
    /// one for `require-all="false"`), if it counts them.
    private func minimumInstances(_ o: Ordering) -> Int? {
        guard o.anyOf.isEmpty, case .clone = ws.resources[o.first].variant else { return nil }
        if let v = ws.resources[o.first].meta["clone-min"] { return Int(v).flatMap { $0 > 0 ? $0 : nil } }
        return o.requireAll ? nil : 1
    }

    /// An ordering after enough of a clone's instances passes through a
    /// `clone-one-or-more:<ordering>` point that follows each instance's action.
    /// The point is runnable, and so in the graph, only when enough instances will be active.
    private mutating func orderAfterInstances(_ o: Ordering, minimum: Int) {
        let children = ws.resources[o.first].children
        let firsts = children.flatMap { firstActions($0, o.firstAction) }
        guard !firsts.isEmpty else { return }
        if o.firstAction == "start" {
            let active = children.filter { c in
                ws.primitives(under: c).allSatisfy { p in
                    transition.plans[p].map { $0.next != nil } ?? !ws.resources[p].activeOn.isEmpty
                }
            }.count
            guard active >= minimum else { return }
        }
        let point = add(.pseudo, task: "clone-one-or-more:\(o.id)", key: "clone-one-or-more:\(o.id)", resource: nil, node: nil)
        for f in firsts { order(f, point) }
        for t in firstActions(o.then, o.thenAction) { order(point, t) }
    }

    /// The points of sets that do not require all their members, and of orderings after
    /// enough clone instances, are known from the start.
    private mutating func reserveOneOrMorePoints() {
        for o in OrderingEffects.orderings(ws) {
            let key: String
            if let set = o.anyOfSet, !o.anyOf.isEmpty, o.firstAction == "start" || o.firstAction == "promote" {
                key = "one-or-more:\(set)"
            } else if minimumInstances(o) != nil {
                key = "clone-one-or-more:\(o.id)"
            } else {
                continue
            }
            let lookup = Self.lookupKey(key, nil)
            guard reserved[lookup] == nil else { continue }
            reserved[lookup] = nextID
            nextID += 1
        }
    }

    private mutating func orderUserConstraints() {
        // (What runs on a guest is ordered by where it runs: see orderRemoteActions.)
        for o in OrderingEffects.orderings(ws) where o.id != "#group-order" && o.id != "#guest-resource" {
            guard o.first != o.then else { continue }
            if let set = o.anyOfSet, !o.anyOf.isEmpty {
                orderAnyOf(o, set: set)
                continue
            }
            if let minimum = minimumInstances(o) {
                orderAfterInstances(o, minimum: minimum)
            } else {
                orderResources(o.first, o.firstAction, o.then, o.thenAction, optional: o.optionalOnly)
            }
            if o.inverse, let fi = Self.inverse(o.thenAction), let ti = Self.inverse(o.firstAction) {
                orderResources(o.then, fi, o.first, ti, optional: o.optionalOnly)
            }
        }
    }

    // MARK: The graph's listing

    private func finish() -> ActionGraph {
        var listing: [Int] = []
        func walk(_ i: Int) {
            let own = (owned[i] ?? []).sorted { actions[$0].id > actions[$1].id }
            let r = ws.resources[i]
            switch r.variant {
            case .bundle:
                // Its copies' actions, its inner clone's points, then each replica's parts'.
                for c in bundleChildren(i) { walk(c) }
                listing += own
                for p in bundleParts(i) { walk(p) }
            case .clone:
                // A clone lists its instances' actions before its own.
                for c in r.children { walk(c) }
                listing += own
            default:
                listing += own
                for c in r.children { walk(c) }
            }
        }
        for top in ws.topLevel { walk(top) }
        // Resources found only in the history come after the configured ones, each with its
        // actions newest first.
        // (In the order the status section's histories name them: as they were unpacked.)
        var byID: [String: [Int]] = [:]
        for k in removedHistory.keys.sorted(by: { actions[$0].id < actions[$1].id }) {
            byID[removedHistory[k]!, default: []].append(k)
        }
        var seen: [String] = []
        for state in ws.cib.status.nodeStates where !byID.isEmpty {
            for lrm in state.lrmResources where byID[lrm.id] != nil && !seen.contains(lrm.id) { seen.append(lrm.id) }
        }
        for id in byID.keys.sorted() where !seen.contains(id) { seen.append(id) }
        for id in seen {
            listing += byID[id]!.sorted { actions[$0].id > actions[$1].id }
        }
        listing += actions.indices.filter { owner[$0] == nil && removedHistory[$0] == nil }.sorted { actions[$0].id > actions[$1].id }
        var position = [Int](repeating: 0, count: actions.count)
        for (p, k) in listing.enumerated() { position[k] = p }
        return ActionGraph(actions: listing.map { actions[$0] },
                           inputs: listing.map { k in inputs[k].map { position[$0] }.sorted { actions[listing[$0]].id < actions[listing[$1]].id } })
    }
}

// MARK: Utilization (load_stopped points)

extension GraphBuilder {
    /// One `load_stopped_<node>` pseudo-action per node a resource needing capacity runs on
    /// or may run on (see LoadPoints).
    fileprivate mutating func addLoadPoints(_ load: LoadPoints) {
        for n in load.nodes { add(.pseudo, task: "load_stopped_\(n)", key: "load_stopped_\(n)", resource: nil, node: nil) }
    }

    /// Stops (and probes) on a node come before its point; starts and migrations to a node
    /// come after it.
    fileprivate mutating func orderLoadPoints(_ load: LoadPoints) {
        var migrations: [(point: Int, migrateTo: Int)] = []
        for e in load.entries {
            let id = ws.resources[e.resource].id
            let plan = transition.plans[e.resource]
            for n in e.current {
                let point = find("load_stopped_\(n)", on: nil)
                let stop = find("\(id)_stop_0", on: n) ?? (isUnclean(n) ? find("\(id)_stop_0", on: nil) : nil)
                order(stop, point)
                order(find("\(id)_monitor_0", on: n), point)
            }
            for n in e.allowed {
                let point = find("load_stopped_\(n)", on: nil)
                order(point, find("\(id)_start_0", on: n))
                guard let plan, plan.next == n else { continue }
                // A live migration's start is an ordering point; its migrate_to runs on the source.
                if let start = find("\(id)_start_0", on: nil), actions[start].kind == .pseudo { order(point, start) }
                if let point, let from = plan.current.first, let m = find("\(id)_migrate_to_0", on: from) {
                    migrations.append((point, m))
                }
            }
        }
        // Two resources migrating to each other's node would wait for each other: an
        // ordering that closes a loop is dropped (checked newest migration first).
        for (point, m) in migrations { order(point, m) }
        for (point, m) in migrations.sorted(by: { actions[$0.migrateTo].id > actions[$1.migrateTo].id }) {
            var seen = Set<Int>()
            var stack = [point]
            var loop = false
            while let k = stack.popLast(), !loop {
                if k == m { loop = true }
                for i in inputs[k] where seen.insert(i).inserted { stack.append(i) }
            }
            if loop { inputs[m].removeAll { $0 == point } }
        }
    }
}

// MARK: Starts after fencing

extension GraphBuilder {
    /// What needs fencing to start (or be promoted) waits for every fencing of the transition;
    /// what needs only quorum waits for the fencing of a node where it might be running
    /// unknown to us (never probed there).
    fileprivate mutating func orderStartsAfterFencing() {
        let fencings = actions.indices.filter {
            (actions[$0].kind == .fence || isGuestFencing($0)) && actions[$0].meta["stonith_action"] != "on"
        }
        guard !fencings.isEmpty else { return }
        for i in ws.resources.indices where ws.resources[i].isPrimitive && ws.resources[i].managed {
            let r = ws.resources[i]
            if requiresFencing(r) {
                // (A live migration begins the start: its migrate_to waits too.)
                let starts = actionsOf(i, "start") + actionsOf(i, "promote") + actionsOf(i, "migrate_to")
                for f in fencings { for k in starts { order(f, k) } }
            } else if (r.meta["requires"] ?? "quorum") == "quorum" {
                let starts = actionsOf(i, "start")
                guard !starts.isEmpty else { continue }
                for f in fencings {
                    guard let target = actions[f].node, assignment.tables[i]?.scores[target] != nil, !known([i], on: target) else { continue }
                    for k in starts { order(f, k) }
                }
            }
        }
    }
}

// MARK: Anti-colocations

extension GraphBuilder {
    /// Two primitives that must never share a node: on any one node, what makes one lose its
    /// role there (stop, or demote) comes before what gives the other its role (start, or
    /// promote), and so does the probe of the first.
    fileprivate mutating func orderAntiColocated() {
        for c in assignment.colocations where c.score <= -Score.infinity && c.id != "#group-members" {
            func plain(_ i: Int) -> Bool { ws.resources[i].isPrimitive || ws.resources[i].variant == .group }
            guard plain(c.dependent), plain(c.primary),
                  Resources.enclosingClone(c.dependent, in: ws) == nil, Resources.enclosingClone(c.primary, in: ws) == nil else { continue }
            order(losing: c.dependent, c.dependentRole, gaining: c.primary, c.primaryRole)
            order(losing: c.primary, c.primaryRole, gaining: c.dependent, c.dependentRole)
        }
    }

    private mutating func order(losing first: Int, _ firstRole: Role?, gaining then: Int, _ thenRole: Role?) {
        let firstTasks = firstRole == .promoted ? ["demote"] : (firstRole == .unpromoted ? ["stop", "promote"] : ["stop"])
        let thenTasks = thenRole == .promoted ? ["promote"] : (thenRole == .unpromoted ? ["start", "demote"] : ["start"])
        // A group stands for its members: its completion first, its start point then.
        let thens = thenTasks.flatMap { firstActions(then, $0) }
        let probes = firstTasks.contains("stop") ? (owned[first] ?? []).filter { isProbe($0) } : []
        for f in firstTasks.flatMap({ completionActions(first, $0) }) + probes {
            for t in thens where actions[f].node == nil || actions[t].node == nil || actions[f].node == actions[t].node {
                order(f, t)
            }
        }
    }
}

// MARK: Remote and guest nodes

extension GraphBuilder {
    /// The connection resource of a remote or guest node.
    fileprivate func connection(of node: SchedulerNode) -> Int? {
        switch node.kind {
        case .member: return nil
        case .remote: return node.connection.flatMap { ws.index(of: $0) }
        case .guest: return ws.index(of: node.name)
        }
    }

    fileprivate func container(of node: SchedulerNode) -> Int? {
        node.kind == .guest ? node.container.flatMap { ws.index(of: $0) } : nil
    }

    /// Where a resource will be once the transition has run.
    fileprivate func nextNode(_ i: Int) -> String? {
        if let plan = transition.plans[i] { return plan.next }
        return ws.resources[i].activeOn.first
    }

    /// Whether a remote or guest node's connection starts in this transition: the recurring
    /// monitors of what runs there are then scheduled again.
    fileprivate func connectionStarts(_ node: String) -> Bool {
        guard let n = ws.node(named: node), n.kind != .member, !n.isBundleNode, let ci = connection(of: n),
              let plan = transition.plans[ci] else { return false }
        switch plan.mode {
        case .start, .restart, .move(migrate: false): return true
        default: return false
        }
    }

    fileprivate func isConnectionResource(_ i: Int) -> Bool {
        guard let a = ws.resources[i].agent else { return false }
        return a.standard == "ocf" && a.provider == "pacemaker" && a.type == "remote"
    }

    /// Whether a resource is, or contains, the container of a guest node.
    fileprivate func holdsGuest(_ i: Int) -> Bool {
        let inside = Set(ws.primitives(under: i).map { ws.resources[$0].id })
        return ws.nodes.contains { $0.kind == .guest && $0.container.map(inside.contains) == true }
    }

    /// Whether resources are probed on a node: a cluster node that is up; a remote or guest
    /// node that is up or whose connection will start (and is not to be fenced), unless it
    /// has resource discovery disabled.
    fileprivate func probesRun(on n: SchedulerNode) -> Bool {
        if n.kind == .member || n.isBundleNode { return n.online && !n.unclean && !n.pending }
        guard let ci = connection(of: n) else { return n.online && !n.unclean }
        let connects = nextNode(ci) != nil && transition.plans[ci]?.blockedStart != true
        let online = n.online || connects
        let unclean = n.unclean && !(n.unseen && connects)
        guard online && !unclean else { return false }
        if let d = n.attributes["resource-discovery-enabled"], !CIBValue.isTrue(d), n.kind == .guest || ws.options.fencingEnabled {
            return false
        }
        return true
    }

    fileprivate enum ConnectionState { case unknown, alive, resting, failed, stopped }

    /// The state of a remote node's connection, for ordering what runs behind it.
    fileprivate func connectionState(_ n: SchedulerNode, _ ci: Int) -> ConnectionState {
        let conn = ws.resources[ci]
        let current = conn.activeOn.first
        if nextNode(ci) == nil {
            if let c = current, ws.node(named: c)?.unclean == true { return .failed }
            if !conn.failed { return .stopped }
            let reconnect = (conn.parameters["reconnect_interval"].flatMap(CIBValue.milliseconds) ?? 0) > 0
            if reconnect && n.remoteWasFenced && !n.shutdown { return .unknown }
            return .failed
        }
        guard let c = current, let host = ws.node(named: c) else { return .unknown }
        if host.unclean || !host.online || conn.activeOn.count > 1 { return .resting }
        return .alive
    }

    /// What runs on a remote or guest node runs while its connection is up: after the
    /// connection starts, before it stops (Pacemaker's remote connection orderings).
    fileprivate mutating func orderRemoteActions() {
        for k in actions.indices where actions[k].kind == .resource || actions[k].kind == .pseudo {
            // A stop implied by fencing a remote node is still ordered as one made there.
            var node = actions[k].node
            if actions[k].kind == .pseudo {
                guard node == nil, actions[k].task == "stop" || actions[k].task == "demote", let o = owner[k], ws.resources[o].isPrimitive,
                      let lost = transition.plans[o]?.current.first(where: { ws.node(named: $0)?.kind == .remote }) else { continue }
                node = lost
            }
            guard let name = node, let n = ws.node(named: name), n.kind != .member, !n.isBundleNode,
                  let ci = connection(of: n), let o = owner[k], o != ci else { continue }
            let starts = actionsOf(ci, "start"), stops = actionsOf(ci, "stop")
            var task = actions[k].task
            if task == "migrate_to" || task == "migrate_from" { task = "stop" }
            let recurring = actions[k].intervalMS > 0
            if n.kind == .guest {
                let containerFailed = container(of: n).map { ws.resources[$0].failed } ?? false
                switch task {
                case "start", "promote":
                    for s in (container(of: n).map { actionsOf($0, "start") } ?? []) + starts { order(s, k) }
                case "stop", "demote":
                    if !containerFailed { for s in stops { order(k, s) } }
                case "cancel":
                    break
                default:
                    for s in starts { order(s, k) }
                }
                continue
            }
            let state = connectionState(n, ci)
            // A resource moving to a remote node stops elsewhere only once the connection is up
            // (should it fail to start, the resource keeps running).
            if task == "start" {
                for stop in actionsOf(o, "stop") where actions[stop].node != name { for s in starts { order(s, stop) } }
            }
            switch task {
            case "start", "promote":
                for s in starts { order(s, k) }
            case "stop":
                if state == .alive || (state != .failed && nextNode(ci) == nil) {
                    for s in stops { order(k, s) }
                } else if state != .failed {
                    for s in starts { order(s, k) }
                }
            case "demote":
                if state == .resting || state == .unknown { for s in starts { order(s, k) } }
            default:
                if recurring {
                    for s in starts { order(s, k) }
                } else if !ws.resources[ci].activeOn.isEmpty && state == .stopped {
                    for s in stops { order(k, s) }
                } else {
                    for s in starts { order(s, k) }
                }
            }
        }
    }
}

extension GraphBuilder {
    fileprivate func isGuestFencing(_ k: Int) -> Bool { actions[k].kind == .pseudo && actions[k].task == "stonith" }

    /// A guest is "fenced" by recovering its container: a pseudo fencing event marks it, after
    /// which what ran on the guest counts as stopped.
    fileprivate mutating func createGuestFencing() {
        var action: [String: String] = [:]
        for change in transition.changes where change.kind == .fence {
            action[change.subject.split(separator: " ").first.map(String.init) ?? change.subject] = change.fenceAction
        }
        for n in ws.nodes.sorted(by: { naturalLess($0.name, $1.name) }) where n.kind == .guest && !n.isBundleNode {
            guard let fenceAction = action[n.name] else { continue }
            add(.pseudo, task: "stonith", key: "stonith-\(n.name)-\(fenceAction)", resource: nil, node: n.name,
                meta: ["stonith_action": fenceAction])
        }
    }

    fileprivate mutating func orderGuestFencing() {
        for k in actions.indices where isGuestFencing(k) {
            guard let name = actions[k].node, let n = ws.node(named: name) else { continue }
            // After the container stops (or its host is fenced), else after the connection stops.
            if let c = container(of: n), let stop = actionsOf(c, "stop").first {
                if actions[stop].kind == .pseudo {
                    let host = ws.resources[c].activeOn.first
                    for f in actions.indices where actions[f].kind == .fence && actions[f].node == host { order(f, k) }
                } else {
                    order(stop, k)
                }
            } else if let ci = connection(of: n), let stop = actionsOf(ci, "stop").first {
                order(stop, k)
            }
            // Before the stops and demotes it implies, and the stop of what they belong to.
            for s in actions.indices where actions[s].kind == .pseudo && (actions[s].task == "stop" || actions[s].task == "demote") {
                guard let o = owner[s], ws.resources[o].isPrimitive, transition.plans[o]?.current.contains(name) == true else { continue }
                order(k, s)
                var top = o
                while let p = ws.resources[top].parent { top = p }
                if top != o { order(k, find("\(ws.resources[top].id)_stop_0", on: nil)) }
            }
        }
    }
}

// MARK: Clearing fail counts

extension GraphBuilder {
    private func isUniqueInstance(of i: Int) -> Bool {
        guard let c = Resources.enclosingClone(i, in: ws), case .clone(_, let unique) = ws.resources[c].variant else { return true }
        return unique
    }

    /// The history entries of a primitive on a node.
    private func historyOps(_ i: Int, on node: String) -> [XElement] {
        let r = ws.resources[i]
        let id = r.historyIDs[node] ?? r.id
        return ws.history.operations(id, on: node)
    }

    /// A failure older than the resource's failure-timeout expires: where some operation of
    /// its history is that old and the fail count is set, but no failure is recent enough to
    /// count, the fail count is cleared.
    /// So is it where a recorded failed start ran with other parameters than the resource has
    /// now (see `LastFailures`).
    fileprivate mutating func clearExpiredFailcounts() {
        let lastFailures = LastFailures(ws.cib.status)
        for i in TransitionPlanner.order(ws) where ws.resources[i].isPrimitive && !ws.resources[i].orphan {
            let r = ws.resources[i]
            for n in ws.nodes where n.online && !n.unclean && lastFailures.startChanged(r, on: n.name, in: ws) {
                add(.cluster, task: "clear_failcount", key: "\(r.id)_clear_failcount_0", resource: i, node: n.name)
            }
            let timeout = (r.meta["failure-timeout"].flatMap(CIBValue.milliseconds) ?? 0) / 1000
            guard timeout > 0 else { continue }
            let unique = isUniqueInstance(of: i)
            for n in ws.nodes where n.online && !n.unclean {
                let old = historyOps(i, on: n.name).contains { op in
                    guard let changed = op["last-rc-change"].flatMap({ Int($0) }) else { return false }
                    return ws.now >= changed + timeout
                }
                guard old, find("\(r.id)_clear_failcount_0", on: n.name) == nil,
                      Failcounts.total(r, unique: unique, node: n, now: ws.now, effective: false) > 0,
                      Failcounts.total(r, unique: unique, node: n, now: ws.now, effective: true) == 0 else { continue }
                add(.cluster, task: "clear_failcount", key: "\(r.id)_clear_failcount_0", resource: i, node: n.name)
            }
        }
    }

    /// The nodes whose history is checked against the configuration: those that can run
    /// resources (online, not lost, shutting down, in standby or in maintenance).
    private func historyChecked(_ n: SchedulerNode) -> Bool {
        n.online && !n.unclean && !n.shutdown && !n.standby && !n.maintenance
    }

    /// Where the history names another agent (class, provider or type) than the
    /// configuration, it is cleaned up (deleted) on that node: after the resource's stops,
    /// before its starts.
    fileprivate mutating func cleanUpChangedAgents() {
        let positions = Dictionary(ws.cib.status.nodeStates.enumerated().map { ($1.uname, $0) }, uniquingKeysWith: { a, _ in a })
        for state in ws.cib.status.nodeStates {
            guard let node = ws.node(named: state.uname), historyChecked(node) else { continue }
            var taken = Set<Int>()
            for lrm in state.lrmResources {
                guard let configured = ws.configuredPrimitives.find(lrm.id), let agent = ws.resources[configured].agent,
                      lrm.agent != agent, lrm.element.firstElement(named: "lrm_rsc_op") != nil else { continue }
                // The instance the history belongs to: the one recorded so, else for an
                // anonymous clone the first instance not running on a node read before.
                var target: Int? = ws.resources.indices.first { ws.resources[$0].isPrimitive && !ws.resources[$0].orphan && ws.resources[$0].historyIDs[node.name] == lrm.id }
                if target == nil {
                    if let c = Resources.enclosingClone(configured, in: ws), case .clone(_, let unique) = ws.resources[c].variant {
                        let base = ws.resources[configured].configuredID
                        let candidates = ws.primitives(under: c).filter { ws.resources[$0].configuredID == base && !ws.resources[$0].orphan }
                        if unique {
                            target = candidates.first { ws.resources[$0].id == lrm.id }
                        } else {
                            let mine = positions[node.name] ?? 0
                            target = candidates.first { p in
                                !taken.contains(p) && !ws.resources[p].activeOn.contains { (positions[$0] ?? Int.max) < mine || $0 == node.name }
                            }
                        }
                    } else {
                        target = configured
                    }
                }
                guard let i = target, ws.resources[i].managed, !ws.resources[i].failed else { continue }
                taken.insert(i)
                // Where it runs, its stop (it restarts as the new agent) comes first.
                if ws.resources[i].activeOn.contains(node.name) {
                    add(.resource, task: "stop", key: "\(ws.resources[i].id)_stop_0", resource: i, node: node.name)
                }
                let k = add(.resource, task: "delete", key: "\(ws.resources[i].id)_delete_0", resource: i, node: node.name)
                agentCleanups.insert(k)
            }
        }
    }

    /// A recurring operation's digest covers the resource's parameters, the operation's own
    /// and its timeout: when it no longer matches the one recorded (or none was), the
    /// operation is scheduled again. (When only secret parameters, shown masked, differ, the
    /// digest without them, and without the timeout, decides.)
    /// Pacemaker also reschedules an operation recorded without a digest; this scheduler
    /// compares only recorded digests, as it does for starts.
    fileprivate mutating func findRescheduled() {
        // The parts a bundle generates (containers, addresses, connections) are left out:
        // their parameters are generated, and a change of the bundle's definition restarts them.
        let generated = Set(ws.bundleReplicas.values.flatMap { $0.flatMap { [Optional($0.container), $0.ip, $0.connection].compactMap { $0 } } })
        for i in ws.resources.indices where ws.resources[i].isPrimitive && !ws.resources[i].orphan && !generated.contains(i) {
            let r = ws.resources[i]
            guard r.managed, !ws.options.maintenanceMode, !r.maintenance, r.activeOn.count == 1,
                  let node = ws.node(named: r.activeOn[0]), historyChecked(node),
                  let running = r.recurringOn[node.name], !running.isEmpty else { continue }
            let history = historyOps(i, on: node.name)
            for op in Primitive(r.element).operations {
                guard let ms = CIBValue.milliseconds(op.interval), ms > 0, running.contains("\(op.name)_\(ms)") else { continue }
                if let enabled = op.enabled, !CIBValue.isTrue(enabled) { continue }
                let recorded = history.filter { $0["operation"] == op.name && Int($0["interval"] ?? "") == ms }
                    .max { (Int($0["call-id"] ?? "") ?? -1) < (Int($1["call-id"] ?? "") ?? -1) }
                guard let recorded else { continue }
                var parameters = r.parameters
                parameters.merge(NVSets.flatten(op.instanceAttributes)) { _, own in own }
                parameters["CRM_meta_timeout"] = String(timeout(of: r, task: op.name, interval: ms))
                // (One recorded without a digest is left alone, as a start without one is.)
                if let digest = recorded["op-digest"] {
                    if ParameterDigest.digest(parameters) == digest { continue }
                    if let secure = recorded["op-secure-digest"] {
                        let hidden = Set((recorded["op-secure-params"] ?? "").split(separator: " ").map(String.init))
                        // (A fence device's pcmk_* host settings are left out of it too.)
                        let fencing = r.agent?.standard == "stonith"
                        if ParameterDigest.digest(parameters.filter {
                            !hidden.contains($0.key) && !(fencing && $0.key.hasPrefix("pcmk_")) && $0.key != "CRM_meta_timeout"
                        }) == secure { continue }
                    }
                } else {
                    continue
                }
                rescheduled[i, default: []].insert("\(op.name)_\(ms)")
            }
        }
    }

    /// Where a resource's configuration changed since it started (it restarts or reloads, or
    /// runs a recurring operation no longer configured), its failures are forgotten: the
    /// fail count there is cleared.
    fileprivate mutating func clearChangedFailcounts() {
        for i in TransitionPlanner.order(ws) where ws.resources[i].isPrimitive && !ws.resources[i].orphan {
            let r = ws.resources[i]
            guard r.managed, r.activeOn.count == 1, let node = ws.node(named: r.activeOn[0]), historyChecked(node) else { continue }
            // A restart forced by the changed definition is known from here: its start was
            // created before anything the resource's own actions add (its stop included).
            // So is a reload.
            if transition.definitionChanged.contains(i), let plan = transition.plans[i], plan.next == node.name {
                if plan.mode == .restart {
                    add(.resource, task: "start", key: "\(r.id)_start_0", resource: i, node: node.name)
                } else if plan.mode == .reload {
                    add(.resource, task: "reload-agent", key: "\(r.id)_reload-agent_0", resource: i, node: node.name)
                }
            }
            var changed = transition.definitionChanged.contains(i) || !(rescheduled[i] ?? []).isEmpty
            if !changed, ws.options.stopOrphanActions, !(ws.options.maintenanceMode || r.maintenance || node.maintenance) {
                let configured = Set(Primitive(r.element).operations.compactMap { op -> String? in
                    guard let ms = CIBValue.milliseconds(op.interval), ms > 0 else { return nil }
                    if let enabled = op.enabled, !CIBValue.isTrue(enabled) { return nil }
                    return "\(op.name)_\(ms)"
                })
                changed = (r.recurringOn[node.name] ?? []).contains { !configured.contains($0) }
            }
            guard changed, Failcounts.total(r, unique: isUniqueInstance(of: i), node: node, now: ws.now, effective: true) != 0 else { continue }
            add(.cluster, task: "clear_failcount", key: "\(r.id)_clear_failcount_0", resource: i, node: node.name)
        }
    }
}
