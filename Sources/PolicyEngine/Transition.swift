import EssentialsExtras
import CIB

/// One line of the Transition Summary: what changes for a resource or node, and why.
public struct PlannedChange: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case start = "Start", stop = "Stop", move = "Move", recover = "Recover", restart = "Restart"
        case promote = "Promote", demote = "Demote", fence = "Fence", migrate = "Migrate", reload = "Reload"
    }
    public var kind: Kind
    public var subject: String
    public var details: String
    public var reason: String?
    /// For fencing: reboot, off or on.
    public var fenceAction = "reboot"

    /// The line alone, with the narrowest columns.
    public var text: String { Self.lines([self])[0] }

    /// The lines as crm_simulate prints them: the change, then the resource and the details
    /// in columns. The columns widen as longer names come (the resource column to the name
    /// and two more, the details column to the details), and Pacemaker 3 lays the changes
    /// out twice, first to its log: the widths the first pass ends with hold for every line
    /// printed.
    public static func lines(_ changes: [PlannedChange]) -> [String] {
        var resourceWidth = 5, detailWidth = 5
        for c in changes where c.kind != .fence {
            if c.subject.count > resourceWidth { resourceWidth = c.subject.count + 2 }
            if c.details.count > detailWidth { detailWidth = c.details.count }
        }
        return changes.map { c in
            if c.kind == .fence { return "  * Fence (\(c.fenceAction)) \(c.subject) '\(c.details)'" }
            let kind = c.kind.rawValue.padded(toLength: 8)
            let rsc = c.subject.padded(toLength: max(resourceWidth, c.subject.count))
            let details = String(repeating: " ", count: max(0, detailWidth - c.details.count)) + c.details
            return "  * \(kind)   \(rsc)   ( \(details) )" + (c.reason.map { "  \($0)" } ?? "")
        }
    }
}

/// Where one resource will run, and the node scores that decided it.
public struct Placement: Sendable, Equatable {
    public var resource: String
    /// Where it runs now.
    public var current: [String]
    /// Where it will run; nil when it will be stopped.
    public var next: String?
    public var role: Role
    /// Its score for each node it may run on (unavailable nodes are left out), best first.
    public var scores: [(node: String, score: Int)]

    public static func == (a: Placement, b: Placement) -> Bool {
        a.resource == b.resource && a.current == b.current && a.next == b.next && a.role == b.role
            && a.scores.map(\.node) == b.scores.map(\.node) && a.scores.map(\.score) == b.scores.map(\.score)
    }
}

/// The scheduler's decision for one CIB: the changes, and the state they leave.
public struct Transition: Sendable {
    public var changes: [PlannedChange]
    /// The working set as it will be once the transition has run.
    public var revised: WorkingSet
    /// Each primitive's placement, in the status list's order.
    public var placements: [Placement] = []
    /// What happens to each managed primitive, by resource index: the basis of the action graph.
    var plans: [Int: ResourcePlan] = [:]
    /// The actions and their order.
    public var graph = ActionGraph()
    /// The allocation and promotion scores the assignment decided with, in the order it used
    /// them (empty unless asked for: see `Simulator.schedule(_:scores:)`).
    public var scores: [ScoreLine] = []
    /// Active primitives whose configuration changed since they started where they run
    /// (they restart or reload there).
    var definitionChanged: Set<Int> = []
}

/// What the transition does to one primitive, in terms of where and in which role it runs.
struct ResourcePlan: Sendable, Equatable {
    enum Mode: Sendable, Equatable {
        /// Nothing changes (though missing recurring monitors may still be scheduled).
        case none
        case start, stop, promote, demote
        /// Stop where it runs, start on another node (or live-migrate there).
        case move(migrate: Bool)
        /// Stop and start again: after a failure, on a definition change, or as ordered.
        case restart
        /// Reload changed parameters in place.
        case reload
    }
    var current: [String]
    var origRole: Role
    var next: String?
    var nextRole: Role
    var mode: Mode
    /// It should start but cannot (no quorum, an unrunnable dependency).
    var blockedStart = false
}

/// Turns an assignment into the transition summary and the revised state.
enum TransitionPlanner {
    static func plan(_ ws: WorkingSet, _ a: Assignment) -> Transition {
        var changes: [PlannedChange] = []
        var plans: [Int: ResourcePlan] = [:]
        var revised = ws
        // Fencing needs a device (or a watchdog), and quorum unless told to ignore its loss.
        let policy = ws.options.noQuorumPolicy
        // Without quorum, only nodes still in the membership (online) can be fenced.
        let fencingPossible = ws.options.fencingEnabled && (a.hasFenceDevice || ws.options.haveWatchdog)
        let fenceable = Set(ws.nodes.filter {
            $0.unclean && ($0.kind == .member || remoteNeedsFencing($0, ws, a)) && fencingPossible && (ws.haveQuorum || policy == "ignore" || $0.online)
        }.map(\.name))
        let canFence = !fenceable.isEmpty
        // Fencing: the newest request first; nodes the status never mentions were added last.
        // A guest is "fenced" by recovering its container; that needs no fence device.
        // (Guests by name, bundles' included, the last first.)
        for n in ws.nodes.filter({ $0.kind == .guest && $0.remoteReset }).sorted(by: { naturalLess($0.name, $1.name) }).reversed() {
            var change = PlannedChange(kind: .fence, subject: "\(n.name) (resource: \(n.container ?? ""))", details: "guest is unclean", reason: nil)
            // A guest whose container will not run again is switched off, not rebooted.
            if let c = n.container, let ci = ws.index(of: c), (a.assigned[ci] ?? nil) == nil { change.fenceAction = "off" }
            changes.append(change)
        }
        if canFence {
            let order = ws.cib.status.nodeStates.map(\.uname)
            let unclean = ws.nodes.filter { fenceable.contains($0.name) }
            let seen = unclean.filter { order.contains($0.name) }.sorted { order.firstIndex(of: $0.name)! > order.firstIndex(of: $1.name)! }
            let unseen = unclean.filter { !order.contains($0.name) }
            // Remote nodes whose connection cannot be recovered are fenced last, when the
            // actions there are ordered against the connection (newest first: those found
            // with resources to probe after those with resources to stop), so they come first.
            func stage(_ n: SchedulerNode) -> Int {
                switch n.fenceReason {
                case Nodes.unknownStateUnrecoverable: 0
                case Nodes.activeUnrecoverable: 1
                default: 2
                }
            }
            let listed = unseen.reversed() + seen
            for n in listed.enumerated().sorted(by: { (stage($0.element), $0.offset) < (stage($1.element), $1.offset) }).map(\.element) {
                changes.append(PlannedChange(kind: .fence, subject: n.name, details: n.fenceReason ?? "node is unclean", reason: nil))
            }
            for i in revised.nodes.indices where fenceable.contains(revised.nodes[i].name) {
                revised.nodes[i].unclean = false
                revised.nodes[i].online = false
                revised.nodes[i].pending = false
                revised.nodes[i].standby = revised.nodes[i].configuredAttributes["standby"].map(CIBValue.isTrue) ?? false
                revised.nodes[i].fenceReason = nil
            }
        }
        let quorumStop = !ws.haveQuorum && (policy == "stop" || policy == "suicide" || policy == "fence")
        // no-quorum-policy=demote: promoted instances are demoted, the rest stops as with "stop".
        let quorumDemote = !ws.haveQuorum && policy == "demote"
        let quorumFreeze = !ws.haveQuorum && policy == "freeze"
        let resources = order(ws).filter { ws.resources[$0].isPrimitive }
        // First where everything goes; then what orderings make of it.
        var next: [Int: String?] = [:]
        var starting = Set<Int>()
        for i in resources {
            let r = ws.resources[i]
            next[i] = a.assigned[i] ?? nil
            guard let n = next[i] ?? nil, r.managed, !a.isMaintained(r), !r.blocked, !a.frozen.contains(i) else { continue }
            if r.activeOn.first != n || r.failed || r.activeOn.count > 1 || r.launcherRestartOn.contains(n) { starting.insert(i) }
        }
        // A resource whose parameters changed since it started restarts where it is.
        var definitionChanged = Set<Int>()
        var reloads = Set<Int>()
        var agentChanged = Set<Int>()
        for i in resources {
            let r = ws.resources[i]
            // Removed resources, bundle parts and fence devices (whose digests leave out the
            // pcmk_* host settings) are not compared.
            guard let n = next[i] ?? nil, r.activeOn == [n], !starting.contains(i), let recorded = r.startDigests[n],
                  r.managed, !a.isMaintained(r), !r.orphan,
                  !(r.parent.map { ws.resources[$0].variant == .bundle } ?? false) else { continue }
            // The start ran with the resource's parameters and the start operation's own.
            let own = startOperationParameters(r)
            let parameters = r.parameters.merging(own) { _, op in op }
            // crm_simulate reads a sanitized CIB: when only secret parameters (shown masked)
            // differ, the digest without them decides.
            var secureMatch = false
            if let secure = r.secureDigests[n] {
                // (Fence devices' pcmk_* host settings are left out of it too.)
                let fencing = r.agent?.standard == "stonith"
                secureMatch = ParameterDigest.digest(parameters.filter {
                    !secure.parameters.contains($0.key) && !(fencing && $0.key.hasPrefix("pcmk_"))
                }) == secure.digest
            }
            // The history names another agent (class, provider or type): the resource is
            // restarted as the new one, which gives no reason.
            let historyID = r.historyIDs[n] ?? r.id
            let recordedAgent = ws.history.entry(historyID, on: n).map { LRMResource($0).agent }
            if let recordedAgent, let agent = r.agent, recordedAgent != agent {
                agentChanged.insert(i)
                definitionChanged.insert(i)
                starting.insert(i)
                continue
            }
            if ParameterDigest.digest(parameters) != recorded && !secureMatch {
                // When only parameters the agent can reload changed, it reloads in place
                // (unless the start has parameters of its own: they only apply by starting).
                if own.isEmpty, let (restartDigest, names) = r.restartDigests[n],
                   ParameterDigest.digest(parameters.filter { names?.contains($0.key) ?? true }) == restartDigest {
                    reloads.insert(i)
                    continue
                }
                definitionChanged.insert(i)
                starting.insert(i)
            }
        }
        // Those that move by live migration (as far as can be told before the orderings):
        // their start is no restart of what is ordered after them.
        let migrating = Set(resources.filter { i in
            let r = ws.resources[i]
            guard starting.contains(i), !definitionChanged.contains(i), r.activeOn.count == 1, let c = r.activeOn.first,
                  let n = next[i] ?? nil, c != n, !r.failed, (ws.danglingMigrations[i] ?? []).isEmpty,
                  r.role == .started || r.role == .unknown, (a.nextRole[i] ?? .started) == .started,
                  ws.node(named: c).map({ $0.online && !$0.unclean }) == true else { return false }
            let isConnection = r.meta["internal_rsc"] == nil && (r.agent.map { $0.standard == "ocf" && $0.provider == "pacemaker" && $0.type == "remote" } ?? false)
            return r.meta["allow-migrate"].map(CIBValue.isTrue) ?? isConnection
        })
        var effects = OrderingEffects.compute(ws, next: next, starting: starting, migrating: migrating)
        // A bundle's copy that cannot start because its replica cannot run anywhere waits
        // for the connection to its guest node, which is not even placed: that is the start
        // named (one whose connection is placed but cannot start names the container).
        for (_, replicas) in ws.bundleReplicas {
            for rep in replicas {
                guard let child = rep.child, let conn = rep.connection, (next[conn] ?? nil) == nil,
                      effects.unrunnable[child] == "unrunnable \(ws.resources[rep.container].id) start" else { continue }
                effects.unrunnable[child] = "unrunnable \(ws.resources[conn].id) start"
            }
        }
        // What must run with a resource that cannot start cannot run either.
        var colocatedChange = true
        var colocatedRounds = 0
        while colocatedChange && colocatedRounds < 20 {
            colocatedChange = false
            colocatedRounds += 1
            for c in a.colocations where c.score >= Score.infinity && c.dependentRole == nil && c.primaryRole == nil
                && !c.id.hasPrefix("#") && ws.resources[c.dependent].isPrimitive && ws.resources[c.dependent].parent == nil {
                let primaries: [Int]
                if ws.resources[c.primary].isPrimitive, ws.resources[c.primary].parent == nil { primaries = [c.primary] }
                else if ws.resources[c.primary].variant == .group, ws.resources[c.primary].parent == nil { primaries = ws.resources[c.primary].children }
                else { continue }
                guard primaries.contains(where: { effects.unrunnable[$0].map { !$0.isEmpty } ?? false }) else { continue }
                let d = c.dependent
                guard effects.unrunnable[d] == nil, (next[d] ?? nil) != nil else { continue }
                effects.unrunnable[d] = "colocation with \(ws.resources[c.primary].id)"
                colocatedChange = true
            }
        }
        // A bundle that must run with another bundle none of whose containers can run
        // cannot start its copies: the colocation is the reason given (it is found as the
        // actions are made, before the orderings name a container).
        for c in a.colocations where c.score >= Score.infinity && c.dependentRole == nil && c.primaryRole == nil
            && ws.resources[c.dependent].variant == .bundle && ws.resources[c.primary].variant == .bundle {
            guard let primaryReplicas = ws.bundleReplicas[c.primary], let last = primaryReplicas.last,
                  primaryReplicas.allSatisfy({ (next[$0.container] ?? nil) == nil || effects.unrunnable[$0.container] != nil }) else { continue }
            for rep in ws.bundleReplicas[c.dependent] ?? [] {
                guard let child = rep.child, (next[child] ?? nil) != nil else { continue }
                effects.unrunnable[child] = "colocation with \(ws.resources[last.container].id)"
            }
        }
        // The Promoted role of a clone that must be with a primitive which cannot start cannot
        // be taken: the primitive's id.
        func promotionBlocker(_ i: Int) -> String? {
            guard let p = ws.resources[i].parent else { return nil }
            for c in a.colocations where c.dependent == p && c.dependentRole == .promoted && c.score >= Score.infinity {
                guard ws.resources[c.primary].isPrimitive, let reason = effects.unrunnable[c.primary], !reason.isEmpty else { continue }
                return ws.resources[c.primary].id
            }
            return nil
        }
        // A stop that must wait for a dependent which cannot stop (blocked or unmanaged) is
        // blocked too.
        var stopBlocked = Set<Int>()
        let allOrders = OrderingEffects.orderings(ws)
        // Resources that move without migrating (a stop, then a start elsewhere): what is
        // ordered after them cannot migrate either.
        var stoppedPlainly = Set<Int>()
        func stuck(_ i: Int) -> Bool {
            ws.primitives(under: i).contains { t in
                !ws.resources[t].activeOn.isEmpty && (ws.resources[t].blocked || !ws.resources[t].managed)
            }
        }
        for o in allOrders where o.mandatory {
            if o.symmetrical && o.firstAction == "start" && o.thenAction == "start", stuck(o.then) {
                for f in ws.primitives(under: o.first) { stopBlocked.insert(f) }
            }
            // "Stop this, then stop that": that cannot stop while this cannot.
            if o.firstAction == "stop" && o.thenAction == "stop", stuck(o.first) {
                for t in ws.primitives(under: o.then) { stopBlocked.insert(t) }
            }
        }
        for i in resources {
            let r = ws.resources[i]
            // Active on several nodes, the copies on nodes being fenced are stopped by the
            // fencing: only the clean copies count (a resource left on one clean node is not
            // multiply active).
            let cleanActive = r.activeOn.filter { n in !(fenceable.contains(n) && (ws.node(named: n)?.unclean ?? false)) }
            let active = r.activeOn.count > 1 && !cleanActive.isEmpty ? cleanActive : r.activeOn
            let current = active.first
            var next = a.assigned[i] ?? nil
            let origRole: Role = active.isEmpty ? .stopped : (r.role == .unknown ? .started : r.role)
            var nextRole = next == nil ? Role.stopped : (a.nextRole[i] ?? .started)
            let managed = r.managed && !a.isMaintained(r) && !r.blocked && !a.frozen.contains(i)
            if !managed { continue }
            if r.orphan && active.isEmpty { continue }
            if current == nil && next == nil { continue }
            let needRole = origRole > .started || nextRole > .unpromoted
            // On a lost node that cannot be fenced, nothing can be stopped: it stays as it is.
            if let c = current, let node = ws.node(named: c), node.unclean, !fenceable.contains(c), next != c {
                let reason = quorumStop ? "due to no quorum (blocked)" : "blocked"
                for n in active {
                    changes.append(PlannedChange(kind: .stop, subject: r.id, details: needRole ? "\(origRole) \(n)" : n, reason: reason))
                }
                continue
            }
            // Left where it is on lost nodes that none can fence: nothing can be done there.
            if active.count > 1, let n = next, active.contains(n), active.allSatisfy({ c in
                ws.node(named: c).map { $0.unclean && !fenceable.contains(c) } ?? false
            }) {
                plans[i] = ResourcePlan(current: active, origRole: origRole, next: next, nextRole: nextRole, mode: .none)
                continue
            }
            var mode = ResourcePlan.Mode.none
            var blockedStart = false
            func roleText(_ role: Role) -> String { role == .started && ws.isInPromotableClone(r) ? "Unpromoted" : role.description }
            var blockedReason: String?
            // Without quorum nothing new starts, except what requires nothing.
            // Without quorum (policy stop) everything that needs it stops, wherever it is.
            if quorumDemote, ws.isInPromotableClone(r), current != nil, next == current {
                if nextRole == .promoted { nextRole = origRole == .promoted ? .unpromoted : .started }
            } else if quorumStop || quorumDemote, r.meta["requires"] != "nothing", next != nil {
                // (One that could run nowhere anyway stops for that reason, below.)
                blockedReason = "no quorum"
            } else if quorumFreeze, r.meta["requires"] != "nothing", next != nil, (current == nil || current != next || nextRole > origRole) {
                blockedReason = quorumStop ? "no quorum" : "quorum freeze"
            } else if let reason = effects.unrunnable[i], next != nil || current != nil {
                blockedReason = reason
            }
            if let reason = blockedReason {
                if let current {
                    if quorumFreeze && reason == "quorum freeze" {
                        next = current
                        nextRole = origRole
                    } else {
                        mode = .stop
                        for node in active {
                            changes.append(PlannedChange(kind: .stop, subject: r.id, details: needRole ? "\(roleText(origRole)) \(node)" : node,
                                                         reason: reason.isEmpty ? nil : "due to \(reason)"))
                        }
                        next = nil
                        nextRole = .stopped
                    }
                } else if let n = next {
                    let details = needRole ? "\(roleText(origRole)) -> \(roleText(nextRole)) \(n)" : n
                    // An interleaved instance blocked by its peer is not listed.
                    if !reason.isEmpty {
                        changes.append(PlannedChange(kind: nextRole == .promoted ? .promote : .start, subject: r.id, details: details,
                                                     reason: "due to \(reason) (blocked)"))
                    }
                    blockedStart = true
                    next = nil
                    nextRole = .stopped
                }
            } else if current == nil, let n = next, let pending = ws.nodes.first(where: { p in
                p.pending && p.kind == .member && !(ws.historyEntries[p.name] ?? []).contains(r.historyIDs[p.name] ?? r.id)
                    && !(ws.historyEntries[p.name] ?? []).contains(r.configuredID)
            }) {
                // A start waits for the probe on a node still joining (pending), which
                // cannot run yet: it is blocked. For an anonymous clone that probe is one
                // instance's (the one known there, else the first): another instance's is named.
                var reason = "blocked"
                if let c = r.parent, case .clone(_, let unique) = ws.resources[c].variant, !unique,
                   ws.resources[c].children.allSatisfy({ ws.resources[$0].isPrimitive }) {
                    let kids = ws.resources[c].children.filter { !ws.resources[$0].orphan }
                    let probed = kids.first { ws.resources[$0].historyIDs[pending.name] != nil } ?? kids.first
                    if let p = probed, p != i { reason = "due to unrunnable \(ws.resources[p].id) monitor (blocked)" }
                }
                let details = needRole ? "\(roleText(origRole)) -> \(roleText(nextRole)) \(n)" : n
                changes.append(PlannedChange(kind: nextRole == .promoted ? .promote : .start, subject: r.id, details: details, reason: reason))
                blockedStart = true
                next = nil
                nextRole = .stopped
            } else if current == nil, let n = next {
                mode = .start
                let details = needRole ? "\(roleText(origRole)) -> \(roleText(nextRole)) \(n)" : n
                if nextRole == .promoted, let blocker = promotionBlocker(i) {
                    // It starts, but its promotion waits for what cannot start.
                    changes.append(PlannedChange(kind: .promote, subject: r.id, details: details, reason: "due to colocation with \(blocker) (blocked)"))
                    nextRole = .unpromoted
                } else {
                    changes.append(PlannedChange(kind: nextRole == .promoted ? .promote : .start, subject: r.id, details: details, reason: nil))
                }
            } else if next == nil {
                mode = .stop
                let blocked = stopBlocked.contains(i)
                for node in active {
                    let details = needRole ? "\(roleText(origRole)) \(node)" : node
                    changes.append(PlannedChange(kind: .stop, subject: r.id, details: details,
                                                 reason: blocked ? "due to node availability (blocked)" : "due to node availability"))
                }
                if blocked { continue }
            } else if let c = current, let n = next, c != n, !(r.failed && active.count > 1 && active.contains(n)) {
                // (Failed on several nodes, one of them the chosen one: it is recovered
                // there, below.)
                var details = "\(c) -> \(n)"
                if needRole {
                    details = origRole == nextRole ? "\(c) -> \(n) \(roleText(origRole))" : "\(roleText(origRole)) \(c) -> \(roleText(nextRole)) \(n)"
                }
                // A resource that allows it moves by live migration when both ends are up.
                // Remote connections migrate unless told not to.
                let isConnection = r.meta["internal_rsc"] == nil && (r.agent.map { $0.standard == "ocf" && $0.provider == "pacemaker" && $0.type == "remote" } ?? false)
                var canMigrate = (r.meta["allow-migrate"].map(CIBValue.isTrue) ?? isConnection) && !r.failed && active.count == 1
                    && ws.node(named: c).map { $0.online && !$0.unclean } == true && origRole == nextRole && origRole == .started
                    && effects.restart[i] == nil
                    // (Nor while an earlier migration's source still needs its stop.)
                    && (ws.danglingMigrations[i] ?? []).isEmpty
                var reason: String?
                if canMigrate {
                    for o in allOrders where o.mandatory && o.firstAction == "start" {
                        let thens = ws.resources[o.then].variant == .group ? Array(ws.resources[o.then].children.prefix(1)) : ws.primitives(under: o.then)
                        guard thens.contains(i), ws.primitives(under: o.first).contains(where: { stoppedPlainly.contains($0) }) else { continue }
                        canMigrate = false
                        let firstName = ws.resources[o.first].id
                        reason = "due to unmigrateable \(firstName) stop"
                        break
                    }
                }
                if !canMigrate { stoppedPlainly.insert(i) }
                mode = .move(migrate: canMigrate && !r.failed)
                changes.append(PlannedChange(kind: r.failed ? .recover : (canMigrate ? .migrate : .move), subject: r.id, details: details, reason: reason))
            } else if let n = next, active.count > 1, r.meta["multiple-active"] == "stop_only" {
                _ = n
                mode = .stop
                for node in active {
                    changes.append(PlannedChange(kind: .stop, subject: r.id, details: node, reason: "due to node availability"))
                }
                next = nil
                nextRole = .stopped
            } else if let n = next {
                // on-fail=demote: a failed promoted instance is only demoted where it is.
                let demoteOnly = r.onFail == .demote && active.count == 1 && origRole == .promoted && nextRole < .promoted
                if (r.failed && !demoteOnly) || active.count > 1 {
                    mode = .restart
                    let details = needRole && origRole != nextRole ? "\(roleText(origRole)) -> \(roleText(nextRole)) \(n)" : (needRole ? "\(roleText(origRole)) \(n)" : n)
                    // Active on several nodes: a failed resource is recovered (saying why
                    // when the unexpected copies alone are stopped); a healthy one restarts.
                    let unexpected = active.count > 1 && r.meta["multiple-active"] == "stop_unexpected"
                    changes.append(PlannedChange(kind: r.failed ? .recover : .restart, subject: r.id, details: details,
                                                 reason: r.failed && unexpected ? "due to being multiply active" : nil))
                } else if r.launcherRestartOn.contains(n) && current == n {
                    // A launched resource failed: its launcher restarts in place.
                    mode = .restart
                    changes.append(PlannedChange(kind: .restart, subject: r.id, details: needRole ? "\(roleText(origRole)) \(n)" : n, reason: nil))
                } else if reloads.contains(i) && effects.restart[i] == nil {
                    mode = .reload
                    changes.append(PlannedChange(kind: .reload, subject: r.id, details: needRole ? "\(roleText(origRole)) \(n)" : n, reason: nil))
                } else if definitionChanged.contains(i) {
                    mode = .restart
                    let details = needRole ? "\(roleText(origRole)) \(n)" : n
                    changes.append(PlannedChange(kind: .restart, subject: r.id, details: details,
                                                 // (A start still under way is started again, giving no reason.)
                                                 reason: agentChanged.contains(i) || (r.pendingTask == "start" && r.pendingNode == n)
                                                    ? nil : "due to resource definition change"))
                } else if let reason = effects.restart[i] {
                    mode = .restart
                    let details = needRole && origRole != nextRole ? "\(roleText(origRole)) -> \(roleText(nextRole)) \(n)" : (needRole ? "\(roleText(origRole)) \(n)" : n)
                    changes.append(PlannedChange(kind: .restart, subject: r.id, details: details, reason: reason.isEmpty ? nil : "due to \(reason)"))
                } else if origRole == .promoted && nextRole < .promoted {
                    mode = .demote
                    changes.append(PlannedChange(kind: .demote, subject: r.id, details: "Promoted -> \(roleText(nextRole)) \(n)", reason: nil))
                } else if nextRole == .promoted && origRole < .promoted, let blocker = promotionBlocker(i) {
                    changes.append(PlannedChange(kind: .promote, subject: r.id, details: "\(roleText(origRole)) -> Promoted \(n)",
                                                 reason: "due to colocation with \(blocker) (blocked)"))
                    nextRole = origRole
                } else if nextRole == .promoted && origRole < .promoted {
                    mode = .promote
                    changes.append(PlannedChange(kind: .promote, subject: r.id, details: "\(roleText(origRole)) -> Promoted \(n)", reason: nil))
                }
            }
            plans[i] = ResourcePlan(current: active, origRole: origRole, next: next, nextRole: next == nil ? .stopped : nextRole, mode: mode,
                                    blockedStart: blockedStart)
            revised.resources[i].activeOn = next.map { [$0] } ?? []
            revised.resources[i].role = next == nil ? .stopped : nextRole
            // A connection's failure under a reconnect interval outlives its stop, and so does
            // the need to fence its node (the simulated fencing does not record it as fenced).
            let keepsFailure = next == nil && r.onFail == .resetRemote && Unpack.isConnection(r, in: ws)
                && (r.parameters["reconnect_interval"].flatMap(CIBValue.milliseconds) ?? 0) > 0
            revised.resources[i].failed = keepsFailure
            revised.resources[i].failedInactive = keepsFailure
            if keepsFailure, let k = revised.nodeIndex(named: r.id), !revised.nodes[k].remoteWasFenced {
                revised.nodes[k].remoteReset = true
            }
            if keepsFailure { continue }
            revised.resources[i].onFail = nil
            revised.resources[i].pendingTask = nil
            revised.resources[i].pendingNode = nil
        }
        // Resources recorded on fenced nodes are gone from there.
        if canFence {
            let fenced = fenceable
            for i in revised.resources.indices where revised.resources[i].isPrimitive {
                let before = revised.resources[i].activeOn
                revised.resources[i].activeOn = before.filter { !fenced.contains($0) }
                if revised.resources[i].activeOn.isEmpty && !before.isEmpty { revised.resources[i].role = .stopped }
            }
        }
        // A bundle's guest node is up afterwards when its container and connection run.
        for k in revised.nodes.indices where revised.nodes[k].isBundleNode {
            guard let c = revised.nodes[k].container.flatMap({ revised.index(of: $0) }),
                  let conn = Bundles.connection(ofGuest: revised.nodes[k].name, in: revised) else { continue }
            revised.nodes[k].online = !revised.resources[c].activeOn.isEmpty && !revised.resources[conn].activeOn.isEmpty
            revised.nodes[k].remoteReset = false
            revised.nodes[k].unclean = false
        }
        reviseRemoteNodes(&revised, ws, fenced: fenceable)
        // The usable nodes in natural order, found once: each placement lists its scores best
        // first, ties in that order.
        var seenNames = Set<String>()
        let usableInOrder = ws.nodes.map(\.name).filter { seenNames.insert($0).inserted && a.available($0) }.sorted(by: naturalLess)
        let placements = order(ws).filter { ws.resources[$0].isPrimitive && ws.resources[$0].meta["internal_rsc"] == nil }.map { i in
            let table = a.tables[i]?.scores ?? [:]
            let scores = usableInOrder.enumerated().compactMap { k, n in table[n].map { (k, n, $0) } }
                .sorted { $0.2 != $1.2 ? $0.2 > $1.2 : $0.0 < $1.0 }
                .map { (node: $0.1, score: $0.2) }
            return Placement(resource: ws.resources[i].id, current: ws.resources[i].activeOn,
                             next: revised.resources[i].activeOn.first, role: revised.resources[i].role, scores: scores)
        }
        return Transition(changes: changes, revised: revised, placements: placements, plans: plans,
                          definitionChanged: definitionChanged.union(reloads))
    }

    /// A remote node whose connection will run nowhere, while its host is lost or it failed,
    /// cannot be reached to stop what runs there (or to learn what does): it is fenced.
    static func fenceUnreachableRemotes(_ ws: inout WorkingSet, _ a: Assignment) {
        // A remote node presumed lost only with its connection's host is clean once the
        // connection is placed again: it will be reached through it.
        for k in ws.nodes.indices where ws.nodes[k].kind == .remote && ws.nodes[k].unseen && ws.nodes[k].unclean {
            guard let c = ws.nodes[k].connection, let ci = ws.index(of: c), (a.assigned[ci] ?? nil) != nil else { continue }
            ws.nodes[k].unclean = false
            ws.nodes[k].remoteReset = false
            ws.nodes[k].fenceReason = nil
            ws.nodes[k].online = true
        }
        guard ws.options.fencingEnabled else { return }
        for k in ws.nodes.indices where ws.nodes[k].kind == .remote && !ws.nodes[k].unclean {
            let n = ws.nodes[k]
            guard let c = n.connection, let ci = ws.index(of: c), ws.resources[ci].managed,
                  (a.assigned[ci] ?? nil) == nil || ws.resources[ci].targetRole == .stopped else { continue }
            let conn = ws.resources[ci]
            let hostLost = conn.activeOn.first.flatMap { ws.node(named: $0) }.map { $0.unclean } ?? false
            let reconnect = (conn.parameters["reconnect_interval"].flatMap(CIBValue.milliseconds) ?? 0) > 0
            let failed = hostLost || (conn.failed && !(reconnect && n.remoteWasFenced && !n.shutdown))
            guard failed else { continue }
            let active = ws.resources.contains { $0.isPrimitive && $0.managed && $0.activeOn.contains(n.name) }
            if active {
                Nodes.fence(&ws.nodes[k], Nodes.activeUnrecoverable)
            } else if !n.online {
                Nodes.fence(&ws.nodes[k], "the connection is unrecoverable")
            } else if ws.options.startupProbes && hasUnknownResources(n, ws, a) {
                // What would be probed there cannot be.
                Nodes.fence(&ws.nodes[k], Nodes.unknownStateUnrecoverable)
            }
        }
    }

    /// Whether a remote node has resources whose state there is unknown (they would be probed).
    static func hasUnknownResources(_ n: SchedulerNode, _ ws: WorkingSet, _ a: Assignment) -> Bool {
        if let d = n.attributes["resource-discovery-enabled"], !CIBValue.isTrue(d) { return false }
        let known = ws.historyEntries[n.name] ?? []
        return ws.resources.indices.contains { i in
            let r = ws.resources[i]
            guard r.isPrimitive, !r.orphan, r.managed, r.meta["container"] == nil, let agent = r.agent, agent.standard != "stonith",
                  !(agent.standard == "ocf" && agent.provider == "pacemaker" && agent.type == "remote"),
                  !(r.parent.map { ws.resources[$0].variant == .bundle } ?? false) else { return false }
            if a.noProbeNodes[i]?.contains(n.name) == true { return false }
            if a.exclusiveDiscovery.contains(i), !(a.probeNodes[i]?.contains(n.name) ?? false) { return false }
            return !known.contains(r.id) && !known.contains(r.configuredID) && r.historyIDs[n.name] == nil
        }
    }

    /// Remote and guest nodes once the transition has run: up where their connection (and a
    /// guest's container) runs, clean once fenced or reconnected.
    static func reviseRemoteNodes(_ revised: inout WorkingSet, _ ws: WorkingSet, fenced: Set<String>) {
        func running(_ id: String?) -> Bool {
            guard let id, let i = revised.index(of: id) else { return false }
            let r = revised.resources[i]
            return !r.activeOn.isEmpty && r.role >= .started
        }
        for k in revised.nodes.indices where revised.nodes[k].kind != .member && !revised.nodes[k].isBundleNode {
            let n = revised.nodes[k]
            let up = n.kind == .guest ? running(n.name) && running(n.container) : running(n.connection)
            if n.kind == .remote && n.remoteReset && !up && n.connection.flatMap({ revised.index(of: $0) }).map({ revised.resources[$0].failedInactive }) == true {
                // Still to be fenced: its connection's failure remains.
                revised.nodes[k].unclean = true
                revised.nodes[k].online = false
                continue
            }
            if up || fenced.contains(n.name) || n.kind == .guest {
                revised.nodes[k].unclean = false
                revised.nodes[k].remoteReset = false
                revised.nodes[k].unseen = false
                revised.nodes[k].fenceReason = nil
            }
            revised.nodes[k].online = up
        }
        // A removed guest connection that stopped has its history deleted: its node is gone.
        let declared = Set(ws.cib.configuration.nodes.map(\.uname))
        let snapshot = revised
        revised.nodes.removeAll { n in
            guard n.kind == .guest, !n.isBundleNode, !n.online, !declared.contains(n.name),
                  let i = snapshot.index(of: n.kind == .guest ? n.name : (n.connection ?? n.name)) else { return false }
            return snapshot.resources[i].orphan
        }
        revised.indexNodes()
    }

    /// Whether an unclean remote node is fenced: not when its connection is unmanaged, nor when
    /// it was only presumed lost with its connection's host and the connection runs again.
    static func remoteNeedsFencing(_ n: SchedulerNode, _ ws: WorkingSet, _ a: Assignment) -> Bool {
        guard n.kind == .remote, let c = n.connection, let ci = ws.index(of: c) else { return false }
        if !ws.resources[ci].managed { return false }
        if n.unseen, (a.assigned[ci] ?? nil) != nil { return false }
        return true
    }

    /// The instance attributes the configured start operation (interval 0) adds to the
    /// resource's parameters.
    static func startOperationParameters(_ r: SchedulerResource) -> [String: String] {
        guard let ops = r.element.firstElement(named: "operations") else { return [:] }
        for op in ops.elements(named: "op") where op["name"] == "start" {
            guard (op["interval"].flatMap(CIBValue.milliseconds) ?? 0) == 0 else { continue }
            var out: [String: String] = [:]
            for set in op.elements(named: "instance_attributes") {
                for pair in set.elements(named: "nvpair") {
                    if let name = pair["name"], let value = pair["value"], out[name] == nil { out[name] = value }
                }
            }
            return out
        }
        return [:]
    }

    /// Resources in the status list's order, children depth first.
    static func order(_ ws: WorkingSet) -> [Int] {
        func walk(_ i: Int) -> [Int] {
            let r = ws.resources[i]
            if case .bundle = r.variant {
                return (ws.bundleReplicas[i] ?? []).flatMap { rep in [rep.ip, Optional(rep.container), rep.connection, rep.child].compactMap { $0 } }
            }
            return [i] + r.children.flatMap(walk)
        }
        return ws.topLevel.flatMap(walk)
    }
}
