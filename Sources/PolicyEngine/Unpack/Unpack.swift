import CIB

/// The first stage: from a CIB to the working set (nodes and their states, the resource tree
/// with clone instances, and each resource's state from its operation history).
enum Unpack {
    static func run(_ input: SchedulerInput) -> WorkingSet {
        let cib = input.cib
        let config = cib.configuration
        let options = ClusterOptions(config, now: input.now, pacemaker2Names: input.pacemaker2OptionNames)
        let haveQuorum = cib.root["have-quorum"].map(CIBValue.isTrue) ?? false
        let panic = cib.root["no-quorum-panic"].map(CIBValue.isTrue) ?? false
        var ws = WorkingSet(options: options, nodes: [], resources: [], topLevel: [],
                            haveQuorum: haveQuorum, now: input.now, cib: cib)
        var nodes = Nodes.declare(config: config, now: input.now)
        nodes.sort { naturalLess($0.name, $1.name) }
        Nodes.unpackMembers(&nodes, status: cib.status, options: options, haveQuorum: haveQuorum || !panic, noQuorumPanic: panic || haveQuorum)
        for i in nodes.indices where nodes[i].kind == .remote && nodes[i].connection != nil {
            // A remote node is presumed unclean until its status says otherwise.
            if options.fencingEnabled && options.startupFencing { nodes[i].unclean = true }
        }
        // Whether a remote node was fenced since its connection last ran.
        for i in nodes.indices where nodes[i].kind != .member {
            if let state = Nodes.nodeState(for: nodes[i], in: cib.status, pacemaker2: options.pacemaker2Status), let v = state.element["node_fenced"], let n = Int(v), n > 0 {
                nodes[i].remoteWasFenced = true
            }
        }
        ws.nodes = nodes
        ws.indexNodes()
        Resources.unpack(config: config, into: &ws)
        ws.indexNodes()
        Launchers.link(&ws)
        applyHistory(&ws)
        for i in ws.nodes.indices { ws.nodes[i].health = Nodes.health(ws.nodes[i], options: options) }
        return ws
    }

    /// Reads the `<lrm_resources>` of each node into the resources' states, in Pacemaker's
    /// passes: online cluster nodes; then remote and guest nodes whose connection runs; then,
    /// when fencing is possible, every node left (a resource recorded active on a node that is
    /// down gets that node fenced).
    static func applyHistory(_ ws: inout WorkingSet) {
        ws.configuredPrimitives = PrimitiveIndex(ws.resources)
        ws.history = HistoryIndex(ws.cib.status)
        let states = ws.cib.status.nodeStates
        var done = Set<Int>()
        func process(_ k: Int, _ state: NodeState, node n: Int) {
            done.insert(k)
            if ws.nodes[n].kind != .member {
                Nodes.readAttributes(&ws.nodes[n], state)
                if !ws.nodes[n].remoteReset { ws.nodes[n].unclean = false }
            }
            unpackLRM(state, node: ws.nodes[n].name, in: &ws)
        }
        func nodeIndex(_ state: NodeState) -> Int? {
            if ws.options.pacemaker2Status && (state.element["id"] == nil || state.element["uname"] == nil) { return nil }
            return ws.nodes.firstIndex { $0.id == state.id } ?? ws.nodes.firstIndex { $0.name == state.uname }
        }
        // Pass after pass over the status in document order: cluster nodes (offline ones
        // only when fencing or shutdown locks can tell something of them), then remote nodes
        // once their connection is known to run, guests once their container does too.
        func started(_ id: String?) -> Bool {
            guard let id, let i = ws.index(of: id) else { return false }
            return ws.resources[i].role >= .started && !ws.resources[i].activeOn.isEmpty
        }
        var progress = true
        while progress {
            progress = false
            for (k, state) in states.enumerated() where !done.contains(k) {
                guard let n = nodeIndex(state) else { continue }
                switch ws.nodes[n].kind {
                case .member:
                    if !ws.nodes[n].online && !(ws.options.fencingEnabled || ws.options.shutdownLock) { continue }
                case .remote:
                    guard let c = ws.nodes[n].connection, ws.index(of: c) != nil else { continue }
                    if !ws.options.shutdownLock && !started(c) { continue }
                case .guest:
                    guard started(ws.nodes[n].container) else { continue }
                    if ws.index(of: ws.nodes[n].name) != nil && !started(ws.nodes[n].name) { continue }
                }
                if ws.nodes[n].kind != .member { updateRemoteStates(&ws) }
                process(k, state, node: n)
                progress = true
            }
        }
        if ws.options.fencingEnabled {
            for (k, state) in states.enumerated() where !done.contains(k) {
                guard let n = nodeIndex(state) else { continue }
                if ws.nodes[n].kind != .member { updateRemoteStates(&ws) }
                process(k, state, node: n)
            }
        }
        updateRemoteStates(&ws)
        activeAfterFailedMigration(&ws)
        danglingMigrations(&ws)
        partialMigrations(&ws)
        // A migration whose migrate_from failed on the target leaves the resource failed
        // where it still runs (the source).
        for f in ws.failedOperations where f.task == "migrate_from" {
            guard let i = ws.index(of: f.resource), ws.resources[i].isPrimitive,
                  !ws.resources[i].activeOn.isEmpty, !ws.resources[i].activeOn.contains(f.node) else { continue }
            ws.resources[i].failed = true
        }
        // An instance of a promotable clone that runs but is not promoted is Unpromoted.
        for i in ws.resources.indices where ws.resources[i].isPrimitive && ws.resources[i].role == .started {
            if ws.isInPromotableClone(ws.resources[i]) { ws.resources[i].role = .unpromoted }
        }
        // A guest whose container failed is reset: what ran inside it has to be recovered.
        for n in ws.nodes where n.kind == .guest && n.remoteReset {
            for i in ws.resources.indices where ws.resources[i].isPrimitive && ws.resources[i].activeOn.contains(n.name) {
                ws.resources[i].failed = true
            }
        }
    }

    /// Remote nodes are online while their connection resource runs; guest nodes while their
    /// container runs (and its host is not lost).
    static func updateRemoteStates(_ ws: inout WorkingSet) {
        for n in ws.nodes.indices where ws.nodes[n].kind != .member {
            let resourceID = ws.nodes[n].kind == .remote ? ws.nodes[n].connection : ws.nodes[n].container
            guard let rid = resourceID, let r = ws.resources.firstIndex(where: { $0.id == rid }) else {
                ws.nodes[n].online = false
                continue
            }
            let res = ws.resources[r]
            var online = res.role >= .started && !res.activeOn.isEmpty && !res.failed
            if ws.nodes[n].kind == .guest, let host = res.activeOn.first, let h = ws.node(named: host), h.unclean && !h.online {
                online = false
                // A guest whose host is lost is unclean too: it is reset (by recovering its
                // container) along with the host.
                if res.role >= .started, !res.failed { ws.nodes[n].remoteReset = true }
            }
            // A guest is up only once its connection is too.
            if ws.nodes[n].kind == .guest, let ci = ws.index(of: ws.nodes[n].name), ci != r {
                let conn = ws.resources[ci]
                if !(conn.role >= .started && !conn.activeOn.isEmpty && !conn.failed) { online = false }
            }
            if ws.nodes[n].kind == .guest && res.failed { ws.nodes[n].remoteReset = true }
            // A bundle's guest node is up only while its connection runs too; a failed
            // connection resets it.
            if ws.nodes[n].isBundleNode, let conn = Bundles.connection(ofGuest: ws.nodes[n].name, in: ws) {
                if ws.resources[conn].activeOn.isEmpty { online = false }
                if ws.resources[conn].failed {
                    online = false
                    ws.nodes[n].remoteReset = true
                }
            }
            ws.nodes[n].online = online
            // (2.1.5 reads this with the node's status entry: none, no maintenance.)
            if ws.nodes[n].kind == .guest, !res.managed, !ws.options.pacemaker2Status || ws.nodes[n].hasState { ws.nodes[n].maintenance = true }
        }
    }

    /// Whether a history entry records a migrate_to (few do: the passes over migrations look
    /// no further into the others).
    static func recordsMigration(_ lrm: LRMResource) -> Bool {
        lrm.element.children.contains { node in
            if case .element(let op) = node { return op.name == "lrm_rsc_op" && op["operation"] == "migrate_to" }
            return false
        }
    }

    /// A migrate_to that succeeded (the source's latest operation but monitors) whose
    /// migrate_from succeeded on the target completed the migration: the resource runs on the
    /// target only, and the source, not stopped yet, is "dangling" (it gets a stop).
    static func danglingMigrations(_ ws: inout WorkingSet) {
        let states = ws.cib.status.nodeStates
        func callID(_ e: XElement) -> Int { Int(e["call-id"] ?? "") ?? -1 }
        func succeeded(_ e: XElement) -> Bool { (Int(e["rc-code"] ?? "") ?? -1) == 0 && (Int(e["op-status"] ?? "") ?? -1) == 0 }
        for state in states {
            let source = state.uname
            for lrm in state.lrmResources where recordsMigration(lrm) {
                let ops = lrm.element.elements(named: "lrm_rsc_op").filter { $0["operation"] != "monitor" && $0["operation"] != "notify" && $0["operation"] != "cancel" }
                guard let last = ops.max(by: { callID($0) < callID($1) }), last["operation"] == "migrate_to", succeeded(last),
                      last["migrate_source"] == source, let target = last["migrate_target"], target != source else { continue }
                let targetOps = ws.history.operations(lrm.id, on: target)
                guard targetOps.contains(where: { $0["operation"] == "migrate_from" && $0["migrate_source"] == source && succeeded($0) }),
                      let i = ws.resources.indices.first(where: {
                          ws.resources[$0].isPrimitive && ws.resources[$0].historyIDs[source] == lrm.id && ws.resources[$0].activeOn.contains(source)
                      }), ws.resources[i].activeOn.contains(target) else { continue }
                ws.resources[i].activeOn.removeAll { $0 == source }
                ws.resources[i].recurringOn[source] = nil
                ws.danglingMigrations[i, default: []].append(source)
            }
        }
    }

    /// Whether operation `a` is newer than `b` as Pacemaker's pe__is_newer_op decides: on
    /// the same node (by their on_node, else `sameNode`) by call id, otherwise by the time
    /// of the last change; an operation still pending (call id -1) is the newer.
    static func isNewer(_ a: XElement, than b: XElement, sameNode: Bool) -> Bool {
        let same = a["on_node"].flatMap { x in b["on_node"].map { $0.lowercased() == x.lowercased() } } ?? sameNode
        let ca = Int(a["call-id"] ?? "") ?? -1, cb = Int(b["call-id"] ?? "") ?? -1
        if ca == -1 && cb == -1 { return false }
        if same && ca >= 0 && ca < cb { return false }
        if same && cb >= 0 && ca > cb { return true }
        if ca >= 0 && cb >= 0 {
            let ta = a["last-rc-change"].flatMap { Int($0) } ?? -1, tb = b["last-rc-change"].flatMap { Int($0) } ?? -1
            return tb >= 0 && ta > tb
        }
        return ca == -1
    }

    /// Pacemaker's partial migrations (its unpack_migrate_to_success): a successful
    /// migrate_to whose migrate_from has not run (or is pending) on an online target that
    /// recorded nothing newer leaves the resource active on the target as well.
    static func partialMigrations(_ ws: inout WorkingSet) {
        func succeeded(_ e: XElement) -> Bool { (Int(e["rc-code"] ?? "") ?? -1) == 0 && (Int(e["op-status"] ?? "") ?? -1) == 0 }
        let moves: Set<String> = ["start", "stop", "migrate_to", "migrate_from"]
        // Any start, stop or migration on the node newer than `ref`, or a monitor there
        // finding it not running.
        func newerOn(_ ops: [XElement], than ref: XElement, sameNode: Bool) -> Bool {
            if ops.contains(where: { $0 != ref && moves.contains($0["operation"] ?? "") && isNewer($0, than: ref, sameNode: sameNode) }) { return true }
            if let m = ops.first(where: { $0["operation"] == "monitor" && $0["rc-code"] == "7" }) { return isNewer(m, than: ref, sameNode: sameNode) }
            return false
        }
        for state in ws.cib.status.nodeStates {
            let source = state.uname
            for lrm in state.lrmResources where recordsMigration(lrm) {
                let ops = lrm.element.elements(named: "lrm_rsc_op")
                for mt in ops where mt["operation"] == "migrate_to" && succeeded(mt) {
                    guard mt["migrate_source"] == source, let target = mt["migrate_target"], target != source else { continue }
                    let sourceNewer = ops.contains { $0 != mt && moves.contains($0["operation"] ?? "") && isNewer($0, than: mt, sameNode: true) }
                    let targetOps = ws.history.operations(lrm.id, on: target)
                    let from = targetOps.first { $0["operation"] == "migrate_from" && $0["migrate_source"] == source }
                    if sourceNewer && from != nil { continue }
                    let targetNewer = newerOn(targetOps, than: from ?? mt, sameNode: from != nil)
                    if sourceNewer && targetNewer { continue }
                    // (Completed: dangling; failed: see activeAfterFailedMigration.)
                    if let from, succeeded(from) || from["op-status"] != "-1" { continue }
                    // (Only from an online source: 2.1.5's crm_mon shows no target for the
                    // migrate_to of a node shut down since.)
                    guard !targetNewer, let t = ws.node(named: target), t.online, ws.node(named: source)?.online == true,
                          let i = ws.resources.indices.first(where: { ws.resources[$0].isPrimitive && ws.resources[$0].historyIDs[source] == lrm.id })
                    else { continue }
                    ws.partialMigrationTargets[i] = target
                }
            }
        }
    }

    /// A migrate_to that failed (the source's latest operation) may have left the resource
    /// running on the target too: unless the target recorded something newer, it counts as
    /// active there as well (listed first).
    static func activeAfterFailedMigration(_ ws: inout WorkingSet) {
        let states = ws.cib.status.nodeStates
        for state in states {
            let source = state.uname
            for lrm in state.lrmResources where recordsMigration(lrm) {
                let ops = lrm.element.elements(named: "lrm_rsc_op")
                guard let last = ops.max(by: { (Int($0["call-id"] ?? "") ?? -1) < (Int($1["call-id"] ?? "") ?? -1) }),
                      last["operation"] == "migrate_to", let target = last["migrate_target"], target != source,
                      (Int(last["rc-code"] ?? "") ?? 0) != 0 || (Int(last["op-status"] ?? "") ?? 0) != 0,
                      let t = ws.node(named: target), t.online else { continue }
                guard let i = ws.resources.indices.first(where: {
                    ws.resources[$0].isPrimitive && ws.resources[$0].historyIDs[source] == lrm.id && ws.resources[$0].activeOn.contains(source)
                }), !ws.resources[i].activeOn.contains(target) else { continue }
                // Something newer on the target (by the time of its last change) settles it.
                let when = last["last-rc-change"].flatMap { Int($0) }
                let targetOps = ws.history.operations(lrm.id, on: target)
                if let when, targetOps.contains(where: { ($0["last-rc-change"].flatMap { Int($0) } ?? 0) > when }) { continue }
                ws.resources[i].activeOn.insert(target, at: 0)
            }
        }
    }

    static func unpackLRM(_ state: NodeState, node nodeName: String, in ws: inout WorkingSet) {
        guard let node = ws.node(named: nodeName) else { return }
        let entries = state.lrmResources
        ws.historyEntries[nodeName, default: []].reserveCapacity(entries.count)
        // (Per entry, the working set is read in place, never passed whole: a copy of it for
        // each of a million entries is costly.)
        for lrm in entries {
            let ops = lrm.element.elements(named: "lrm_rsc_op")
            guard !ops.isEmpty else { continue }
            ws.historyEntries[nodeName, default: []].insert(lrm.id)
            let configured = ws.configuredPrimitives.find(lrm.id)
            // (What the configured resource says is read here, from one copy of it: each read
            // through the array, or in a closure, would copy it again.)
            var isRemoteConnection = false, connectionManaged = true, remoteFenced = true
            var reconnect: String?, failureTimeout: String?
            if let i = configured {
                let r = ws.resources[i]
                isRemoteConnection = r.agent.map(isRemoteAgent) == true && isConnection(r, in: ws)
                connectionManaged = r.managed
                // A remote connection's failures expire after its reconnect interval.
                if isRemoteConnection { reconnect = r.parameters["reconnect_interval"] }
                failureTimeout = r.meta["failure-timeout"]
                // A connection's monitor failure is kept until its remote node has been fenced.
                if isRemoteConnection { remoteFenced = ws.node(named: r.id)?.remoteWasFenced ?? true }
            }
            let policy: (String, Int) -> FailurePolicy? = { task, interval in
                guard let i = configured else { return nil }
                let own = Resources.configuredOnFail(ws.resources[i], task: task, intervalMS: interval)
                // Losing an established connection to a remote node (any failure but a probe's
                // or a start's) fences the node; an unmanaged connection is just stopped.
                if isRemoteConnection, own == nil || !connectionManaged, !(task == "monitor" && interval == 0), task != "start" {
                    return connectionManaged ? .resetRemote : .stop
                }
                // A launched resource's failures restart its launcher unless told otherwise.
                return own ?? (ws.resources[i].launcher != nil ? .restartContainer : nil)
            }
            var timeout = (reconnect ?? failureTimeout).flatMap(CIBValue.milliseconds) ?? 0
            // Nothing in the history expires while the resource's fail count there has not
            // (a fail count without a last-failure time never does).
            if timeout > 0, let i = configured {
                let unique = ws.resources[i].parent.map { p in
                    if case .clone(_, let u) = ws.resources[p].variant { return u } else { return true }
                } ?? true
                if Failcounts.total(ws.resources[i], unique: unique, node: node, now: ws.now, effective: true,
                                    timeoutSeconds: timeout / 1000) > 0 {
                    timeout = 0
                }
            }
            var h = History.evaluate(ops, fencingEnabled: ws.options.fencingEnabled, failureTimeout: timeout / 1000,
                                     now: ws.now, recurringFailuresExpire: reconnect == nil || !ws.options.fencingEnabled || remoteFenced,
                                     policy: policy)
            for var f in h.failures {
                f.resource = lrm.id
                f.node = nodeName
                // One entry per operation and node (the last failure and the operation's own
                // record describe the same failure).
                if let k = ws.failedOperations.firstIndex(where: { $0.resource == f.resource && $0.node == f.node && $0.task == f.task && $0.intervalMS == f.intervalMS }) {
                    ws.failedOperations[k] = f
                } else {
                    ws.failedOperations.append(f)
                }
            }
            // On a node that will be fenced, a failure changes nothing: everything there
            // is recovered once the node is fenced.
            if node.unclean { h.onFail = nil }
            if let masked = h.maskedProbe, node.online {
                let key = configured.map { ws.resources[$0].configuredID } ?? lrm.id
                ws.maskedProbes[key, default: [:]][nodeName] = masked
            }
            let target: Int?
            if let i = configured {
                // (A copy with an action pending, a recurring monitor's too, takes an instance:
                // Pacemaker shows it, "Stopped node1 (Monitoring)".)
                // (2.1.5's status; the scheduler leaves such a copy out.)
                let pending = ws.options.pacemaker2Status && (h.pendingTask.map { $0 != "monitor" || h.pendingInterval > 0 } ?? false)
                target = instance(for: i, lrmID: lrm.id, node: nodeName, active: h.isActive || h.onFail != nil || pending, in: &ws)
            } else if h.isActive || ws.options.pacemaker2Status, let c = emptyClone(for: lrm.id, in: ws) {
                let base = lrm.id.split(separator: ":").first.map(String.init) ?? lrm.id
                let proto = Primitive(ws.resources[c].element.elements.first { $0.id == base }!)
                // (An orphan instance active nowhere, made for a copy found stopped, is taken
                // first, as Pacemaker takes any inactive instance.)
                if let free = ws.resources[c].children.first(where: { ws.resources[$0].activeOn.isEmpty && ws.resources[$0].pendingTask == nil }) {
                    target = free
                    ws.resources[free].historyIDs[nodeName] = lrm.id
                    record(h, node: nodeName, resource: free, in: &ws)
                    continue
                }
                var r = SchedulerResource(id: "\(base):\(ws.resources[c].children.count)", configuredID: base,
                                          variant: .primitive(proto.agent), parent: c, element: proto.element)
                r.meta = ws.resources[c].meta
                r.orphan = true
                ws.resources.append(r)
                ws.resources[c].children.append(ws.resources.count - 1)
                target = ws.resources.count - 1
            } else if h.isActive || (ws.options.pacemaker2Status && !isRemoteAgent(lrm.agent)) {
                // (Pacemaker makes the orphan for any history: an inactive one is not shown,
                // but holds its place among the orphans. A removed remote connection found
                // stopped defines no node here. For the status display only: the scheduler
                // would clear its fail counts.)
                target = addOrphan(lrm, in: &ws)
            } else {
                target = nil
            }
            guard let r = target else {
                // A stopped anonymous instance's history is not kept, but a ban it implies is.
                if let i = configured, h.banNode || h.maskedProbe != nil { banAnonymous(i, node: nodeName, in: &ws) }
                continue
            }
            ws.resources[r].historyIDs[nodeName] = lrm.id
            record(h, node: nodeName, resource: r, in: &ws)
            // A stop that failed with a hard error where the node cannot be fenced leaves
            // nothing more to try: the resource is blocked (Pacemaker's check_recoverable,
            // expired failures included: 2.1.5's; later versions let those expire).
            if ws.options.pacemaker2Status, ops.contains(where: isUnrecoverableStop), !canFence(ws, node) { ws.resources[r].blocked = true }
        }
    }

    /// A stop that ended (done or error) with "not installed", "invalid parameter",
    /// "insufficient privileges", or as an unimplemented one-shot operation.
    static func isUnrecoverableStop(_ e: XElement) -> Bool {
        guard e["operation"] == "stop", ["0", "4"].contains(e["op-status"] ?? "0") else { return false }
        let rc = Int(e["rc-code"] ?? "") ?? 0
        return [OCFResult.notInstalled, OCFResult.invalidParameter, OCFResult.insufficientPrivileges].contains(rc)
            || (rc == OCFResult.unimplemented && (e["interval"] ?? "0") == "0")
    }

    /// Whether a node can be fenced (Pacemaker's pe_can_fence): a guest node while its
    /// container's hosts are online or can be; otherwise with fencing enabled, a fence
    /// device configured, and quorum (or no-quorum-policy=ignore, or the node online).
    static func canFence(_ ws: WorkingSet, _ n: SchedulerNode) -> Bool {
        if n.kind == .guest {
            guard let c = n.container, let ci = ws.index(of: c) else { return true }
            return ws.resources[ci].activeOn.allSatisfy { h in ws.node(named: h).map { $0.online || canFence(ws, $0) } ?? true }
        }
        guard ws.options.fencingEnabled, ws.resources.contains(where: { $0.agent?.standard == "stonith" && !$0.orphan }) else { return false }
        return ws.haveQuorum || ws.options.noQuorumPolicy == "ignore" || n.online
    }

    /// The configured primitive an lrm_resource id names: the exact id, or for clone
    /// instances the id before the `:N` suffix.
    static func findConfigured(_ id: String, in ws: WorkingSet) -> Int? {
        ws.configuredPrimitives.find(id)
    }

    /// A clone whose configured child is `id` but that has no instances (clone-max 0).
    static func emptyClone(for id: String, in ws: WorkingSet) -> Int? {
        let base = id.split(separator: ":").first.map(String.init) ?? id
        return ws.resources.firstIndex { r in
            // (Its orphans made so far aside.)
            guard case .clone = r.variant, r.children.allSatisfy({ ws.resources[$0].orphan }) else { return false }
            return r.element.elements.contains { $0.name == "primitive" && $0.id == base }
        }
    }

    /// For a clone's primitive, the instance this history belongs to.
    static func instance(for i: Int, lrmID: String, node: String, active: Bool, in ws: inout WorkingSet) -> Int? {
        if let b = ws.resources[i].parent, ws.resources[b].variant == .bundle, ws.resources[i].configuredID != ws.resources[i].id {
            // A bundle's resource: the copy of the replica whose guest node this is.
            return Bundles.replica(onNode: node, of: b, in: ws)?.child
        }
        guard let cloneIndex = Resources.enclosingClone(i, in: ws) else { return i }
        guard case .clone(_, let unique) = ws.resources[cloneIndex].variant else { return i }
        let configuredID = ws.resources[i].configuredID
        let candidates = ws.primitives(under: cloneIndex).filter { ws.resources[$0].configuredID == configuredID }
        if unique {
            if let exact = candidates.first(where: { ws.resources[$0].id == lrmID }) { return exact }
            return active ? addCloneOrphan(clone: cloneIndex, configured: i, id: lrmID, in: &ws) : nil
        }
        // Anonymous: history that shows it inactive is matched the same way (a copy found
        // stopped where another copy runs, with every instance running elsewhere, is an
        // orphan that runs nowhere). In a cloned group, the members on one node belong to one group instance:
        // the instance with members here already, else the first instance active nowhere.
        let snapshot = ws
        let instances = snapshot.resources[cloneIndex].children.filter { !snapshot.resources[$0].orphan }
        func member(of instance: Int) -> Int? {
            snapshot.primitives(under: instance).first { snapshot.resources[$0].configuredID == configuredID }
        }
        func activeHere(_ inst: Int) -> Bool {
            snapshot.primitives(under: inst).contains { snapshot.resources[$0].activeOn.contains(node) }
        }
        func activeAnywhere(_ inst: Int) -> Bool {
            snapshot.primitives(under: inst).contains {
                !snapshot.resources[$0].activeOn.isEmpty || snapshot.resources[$0].onFail != nil || snapshot.resources[$0].pendingNode != nil
            }
        }
        // (History showing it stopped is matched only for the orphan it may need: its
        // operations are not kept.)
        // A copy on a lost cluster node of a resource that does not need fencing is an
        // orphan, unless the clone runs everywhere (it cannot be recovered by fencing).
        let lost = snapshot.node(named: node).map { $0.kind != .guest && (!$0.online || $0.unclean) } ?? false
        let universal = instances.count == snapshot.nodes.count
        func settle(_ m: Int) -> Int? {
            if lost && !universal && !needsFencing(snapshot.resources[m], snapshot) {
                let orphan = addCloneOrphan(clone: cloneIndex, configured: i, id: nil, in: &ws)
                return active ? orphan : nil
            }
            return active ? m : nil
        }
        // A cloned group's orphan instance with a member here already takes the others
        // (Pacemaker makes the whole group instance an orphan).
        let orphanGroups = snapshot.resources[cloneIndex].children.filter { snapshot.resources[$0].orphan && snapshot.resources[$0].variant == .group }
        if let inst = orphanGroups.first(where: activeHere), let m = member(of: inst), !ws.resources[m].activeOn.contains(node) {
            return active ? m : nil
        }
        if let inst = instances.first(where: activeHere), let m = member(of: inst) {
            if !ws.resources[m].activeOn.contains(node) && ws.resources[m].onFail == nil { return settle(m) }
            // A second copy on the same node: an orphan.
            let orphan = addCloneOrphan(clone: cloneIndex, configured: i, id: nil, in: &ws)
            return active ? orphan : nil
        }
        if let inst = instances.first(where: { !activeAnywhere($0) }), let m = member(of: inst) { return settle(m) }
        // The history of a copy found stopped reuses an orphan instance active nowhere (as
        // Pacemaker, which looks through every instance, orphans too, for one inactive).
        if !active, let inst = snapshot.resources[cloneIndex].children.first(where: { snapshot.resources[$0].orphan && !activeAnywhere($0) }),
           let m = member(of: inst) {
            return settle(m)
        }
        let orphan = addCloneOrphan(clone: cloneIndex, configured: i, id: nil, in: &ws)
        return active ? orphan : nil
    }

    /// Whether a resource needs its lost nodes fenced before it starts elsewhere (its
    /// `requires`, by default "fencing" when fencing is enabled, "quorum" for fence devices
    /// and remote connections).
    static func needsFencing(_ r: SchedulerResource, _ ws: WorkingSet) -> Bool {
        if let v = r.meta["requires"]?.lowercased(), ["nothing", "quorum", "fencing", "unfencing"].contains(v) {
            return (v == "fencing" || v == "unfencing") && ws.options.fencingEnabled
        }
        if let a = r.agent, a.standard == "stonith" || (a.standard == "ocf" && a.provider == "pacemaker" && a.type == "remote") {
            return false
        }
        return ws.options.fencingEnabled
    }

    /// An instance beyond clone-max found in the history: an orphan inside the clone.
    static func addCloneOrphan(clone: Int, configured i: Int, id: String?, in ws: inout WorkingSet) -> Int {
        let base = ws.resources[i].configuredID
        let n = ws.resources[clone].children.count
        if id == nil, let g = ws.resources[i].parent, g != clone, ws.resources[g].variant == .group, ws.resources[g].parent == clone {
            // A cloned group: the orphan is a whole group instance ("grrr:2"), every member
            // of it an orphan; the member the history names is returned.
            var group = ws.resources[g]
            group.id = "\(group.configuredID):\(n)"
            group.orphan = true
            group.children = []
            ws.resources.append(group)
            let gi = ws.resources.count - 1
            ws.resources[clone].children.append(gi)
            var found = gi
            for m in ws.resources[g].children {
                var r = ws.resources[m]
                r.id = "\(r.configuredID):\(n)"
                r.orphan = true
                r.activeOn = []
                r.role = .unknown
                r.failed = false
                r.onFail = nil
                r.pendingTask = nil
                r.pendingNode = nil
                r.historyIDs = [:]
                r.children = []
                r.parent = gi
                ws.resources.append(r)
                ws.resources[gi].children.append(ws.resources.count - 1)
                if ws.resources[m].configuredID == base { found = ws.resources.count - 1 }
            }
            return found
        }
        var r = ws.resources[i]
        r.id = id ?? "\(base):\(n)"
        r.orphan = true
        r.activeOn = []
        r.role = .unknown
        r.failed = false
        r.onFail = nil
        r.pendingTask = nil
        r.children = []
        r.parent = clone
        // A cloned group's member becomes its own instance here.
        ws.resources.append(r)
        ws.resources[clone].children.append(ws.resources.count - 1)
        return ws.resources.count - 1
    }

    static func addOrphan(_ lrm: LRMResource, in ws: inout WorkingSet) -> Int {
        // One orphan for all the nodes whose history has it.
        if let existing = ws.resources.firstIndex(where: { $0.orphan && $0.parent == nil && $0.id == lrm.id && $0.isPrimitive }) {
            return existing
        }
        var r = SchedulerResource(id: lrm.id, configuredID: lrm.id, variant: .primitive(lrm.agent), parent: nil,
                                  element: XElement("primitive", ["id": lrm.id]))
        r.orphan = true
        ws.resources.append(r)
        ws.topLevel.append(ws.resources.count - 1)
        // A removed remote connection still defines its node, which is shutting down; one
        // that ran in a container makes that a guest node.
        if lrm.agent.standard == "ocf" && lrm.agent.provider == "pacemaker" && lrm.agent.type == "remote" {
            var k = ws.nodeIndex(named: lrm.id)
            if k == nil {
                ws.nodes.append(SchedulerNode(id: lrm.id, name: lrm.id))
                k = ws.nodes.count - 1
                ws.nodes[k!].kind = .remote
            }
            if let k {
                if let c = lrm.container {
                    ws.nodes[k].kind = .guest
                    ws.nodes[k].container = c
                } else {
                    ws.nodes[k].connection = lrm.id
                }
                ws.nodes[k].shutdown = true
            }
            ws.nodes.sort { naturalLess($0.name, $1.name) }
            ws.indexNodes()
        }
        return ws.resources.count - 1
    }

    /// Whether a resource is the connection of a remote (not guest) node.
    static func isConnection(_ r: SchedulerResource, in ws: WorkingSet) -> Bool {
        guard let a = r.agent, isRemoteAgent(a), let n = ws.node(named: r.id) else { return false }
        return n.kind == .remote
    }

    /// Whether an agent is ocf:pacemaker:remote, a remote node's connection.
    static func isRemoteAgent(_ a: ResourceAgentName) -> Bool {
        a.standard == "ocf" && a.provider == "pacemaker" && a.type == "remote"
    }

    /// Bans `node` for `r`, or for the whole anonymous clone `r` belongs to.
    static func banAnonymous(_ r: Int, node: String, in ws: inout WorkingSet) {
        var target = r
        if let c = Resources.enclosingClone(r, in: ws), case .clone(_, false) = ws.resources[c].variant,
           !(ws.resources[c].parent.map { ws.resources[$0].variant == .bundle } ?? false) {
            target = c
        }
        ws.historyBans[target, default: []].insert(node)
    }

    static func record(_ h: NodeHistory, node: String, resource r: Int, in ws: inout WorkingSet) {
        guard let n = ws.nodeIndex(named: node) else { return }
        if h.isActive && !ws.resources[r].activeOn.contains(node) { ws.resources[r].activeOn.append(node) }
        if h.isActive, let d = h.startDigest { ws.resources[r].startDigests[node] = d }
        // (Without op-force-restart the restart digest covers every parameter: nil names.)
        if h.isActive, let d = h.restartDigest { ws.resources[r].restartDigests[node] = (d, h.forceRestart) }
        if h.isActive, let secure = h.secureDigest { ws.resources[r].secureDigests[node] = secure }
        if !h.activeRecurring.isEmpty, ws.nodes[n].online { ws.resources[r].recurringOn[node] = h.activeRecurring }
        // (Only an active entry adds a node: the others need not look, which copies the resource.)
        if h.isActive, ws.resources[r].activeOn.count > 1, ws.resources[r].meta["multiple-active"] == "block" {
            ws.resources[r].blocked = true
            // A group that says multiple-active=block is blocked as a whole.
            if let g = ws.resources[r].parent, ws.resources[g].variant == .group, ws.resources[g].meta["multiple-active"] == "block" {
                for m in ws.resources[g].children { ws.resources[m].blocked = true }
            }
        }
        if h.isActive { ws.resources[r].role = max(ws.resources[r].role, h.role) }
        if let p = h.pendingTask {
            ws.resources[r].pendingTask = p
            if p != "monitor" || h.pendingInterval > 0 { ws.resources[r].pendingNode = node }
            if p == "monitor", h.pendingInterval == 0, h.role == .unknown { ws.resources[r].pendingProbeOn.insert(node) }
        }
        if h.failureIgnored { ws.resources[r].failureIgnored = true }
        if h.failedStop { ws.historyBans[r, default: []].insert(node) }
        // A hard error, or a probe finding the agent missing, bans the node for the whole of
        // an anonymous clone (every instance is the same resource).
        if h.banNode || h.maskedProbe != nil { banAnonymous(r, node: node, in: &ws) }
        if h.banEverywhere { ws.fatallyFailed.insert(Resources.enclosingClone(r, in: ws) ?? r) }
        // On a node already to be fenced for a failure, the fencing settles this one too: the
        // resource is not shown (or recovered) as failed.
        let settled = ws.options.fencingEnabled && ws.nodes[n].unclean && ws.nodes[n].fenceReason != nil
        if let f = h.onFail {
            ws.resources[r].onFail = max(ws.resources[r].onFail ?? f, f)
            // restart-container: the launcher is stopped where the failure happened (and so
            // started again).
            if f == .restartContainer, !settled, let l = ws.resources[r].launcher { ws.resources[l].launcherRestartOn.insert(node) }
            if f != .ignore { ws.resources[r].failedOn.insert(node) }
            switch f {
            case .ignore:
                break
            case .fence:
                if ws.options.fencingEnabled { Nodes.fence(&ws.nodes[n], "\(ws.resources[r].id) failed there") }
                if !settled { ws.resources[r].failed = true }
                // Without quorum a node out of the membership cannot be fenced: the resource
                // is blocked there instead.
                if !ws.haveQuorum, ws.options.noQuorumPolicy != "ignore", !ws.nodes[n].online { ws.resources[r].blocked = true }
            case .block:
                ws.resources[r].failed = true
                ws.resources[r].blocked = true
            case .standby:
                ws.nodes[n].standbyOnFail = true
                ws.resources[r].failed = true
            case .resetRemote:
                ws.resources[r].failed = true
                if !h.isActive { ws.resources[r].failedInactive = true }
                // The connection failed in a way that leaves the remote node's state unknown.
                if ws.options.fencingEnabled, let k = ws.nodeIndex(named: ws.resources[r].id), ws.nodes[k].kind == .remote,
                   !ws.nodes[k].remoteWasFenced {
                    Nodes.fence(&ws.nodes[k], "remote connection is unrecoverable")
                }
            default:
                if !settled { ws.resources[r].failed = true }
            }
        }
        // A failed connection fences its unclean remote node whether or not it reconnects.
        if ws.resources[r].failed, let k = ws.nodeIndex(named: ws.resources[r].id), ws.nodes[k].kind == .remote, ws.nodes[k].unclean {
            ws.nodes[k].unseen = false
        }
        // A managed resource thought active on a node that is down: the node must be fenced.
        if h.isActive, !ws.nodes[n].online, !ws.nodes[n].maintenance, ws.resources[r].managed, !ws.options.maintenanceMode {
            if ws.nodes[n].kind == .guest {
                // A guest is fenced by recovering its container.
                if let c = ws.nodes[n].container, let ci = ws.index(of: c), ws.resources[ci].managed {
                    ws.resources[ci].failed = true
                    ws.resources[ci].failedInactive = true
                    ws.nodes[n].remoteReset = true
                }
                ws.resources[r].failed = true
            } else if ws.options.fencingEnabled, ws.nodes[n].kind == .remote, let c = ws.nodes[n].connection,
                      let ci = ws.index(of: c), !ws.resources[ci].failed {
                // Fenced only if the connection cannot be re-established elsewhere.
                ws.nodes[n].unseen = true
                Nodes.fence(&ws.nodes[n], "\(ws.resources[r].id) is active there (fencing will be revoked if remote connection can be re-established elsewhere)")
            } else if ws.options.fencingEnabled {
                Nodes.fence(&ws.nodes[n], "\(ws.resources[r].id) is thought to be active there")
            }
        }
    }
}
