import CIB

/// Why a resource is placed where it is, or why it cannot run, in facts a person can read:
/// where it runs now and where the scheduler puts it; then for each node the facts that made
/// that node's score (node state, location constraints, stickiness, colocations, fail counts,
/// capacity) and the score the assignment decided with; then the facts about the resource as
/// a whole (target-role, management, quorum, clone limits, group membership).
///
/// `explain` is a pure stage over what the scheduler computed (the working set and the
/// transition, scheduled with scores); `lines` turns the facts into plain sentences.
/// (`crm_simulate --explain`, `crm_resource --why` and `crm resource why` print them.)
public struct Explanation: Sendable, Equatable {
    /// One fact that bears on the placement.
    public enum Fact: Sendable, Equatable {
        /// The node cannot host resources: "offline", "unclean", "in standby", "in maintenance",
        /// "shutting down", "pending" (or a node whose host is not placed).
        case nodeState(String)
        /// The node is not in the resource's table (asymmetric cluster, no constraint allows it).
        case notAllowed
        /// A location constraint (and its rule, when a rule matched the node) gave this score.
        case location(id: String, rule: String?, score: Int)
        /// The resource's stickiness where it runs.
        case stickiness(resource: String, score: Int)
        /// Failures on the node: the fail count, the migration-threshold, whether they ban
        /// the node; the failure-timeout (seconds) and when the count expires, if it does.
        case failures(resource: String, operations: [String], count: Int, threshold: Int, bans: Bool,
                      failureTimeout: Int?, expiresAt: Int?)
        /// Failures on the node that no longer count: older than the failure-timeout (seconds).
        case expiredFailures(resource: String, count: Int, failureTimeout: Int)
        /// One of a clone's instances runs on the node, with this stickiness.
        case instanceHere(instance: String, stickiness: Int)
        /// Another instance of the clone goes to the node.
        case otherInstance(clone: String, instance: String, cloneNodeMax: Int)
        /// The resource's history bans it from the node (a failed stop, a hard error).
        case historyBan(resource: String)
        /// A fatal error bans it from every node.
        case fatalFailure(resource: String)
        /// A colocation with another resource: its score, and where that resource goes (nil:
        /// it runs nowhere). `effect` is what it adds on this node.
        case colocation(id: String, score: Int, with: String, withGoesTo: [String], effect: Int)
        /// Another resource colocated with this one (`id`, its score).
        case dependent(id: String, score: Int, resource: String)
        /// Under a placement-strategy, the node's capacity does not hold what it needs.
        case capacity(strategy: String, needs: [String: Int], capacity: [String: Int])
        /// Resource-wide facts.
        case targetRole(Role)
        case unmanaged
        case maintenance(cluster: Bool)
        case noQuorum(policy: String)
        case stopAll
        /// A failure blocked it (on-fail=block): the cluster leaves it as it is.
        case blocked(resource: String)
        case cloneLimits(cloneMax: Int, cloneNodeMax: Int)
        case groupMember(group: String, follows: String?)
        case groupOf(members: [String])
        /// A group member goes only where the member before it goes (not this node).
        case follows(group: String, member: String, goesTo: [String])
        /// Members of the group that can run on no node (the others run).
        case membersNotRunning([String])
    }

    /// The facts about one node.
    public struct NodeFacts: Sendable, Equatable {
        public var node: String
        /// The allocation score as `crm_simulate -s` prints it last for the resource (nil:
        /// the resource has no score there, the node not being allowed).
        public var score: Int?
        public var facts: [Fact]
    }

    public var resource: String
    public var kind: String
    /// Where it runs now.
    public var runningOn: [String]
    /// Where the scheduler puts it (empty: it can run nowhere).
    public var placedOn: [String]
    /// The transition's changes for it.
    public var changes: [PlannedChange]
    public var nodes: [NodeFacts]
    /// Facts about the resource as a whole.
    public var facts: [Fact]

    /// The facts about a node (nil if the node is unknown).
    public func facts(on node: String) -> [Fact]? { nodes.first { $0.node == node }?.facts }
    public func score(on node: String) -> Int? { nodes.first { $0.node == node }?.score }

    /// The index of the resource an id names: the resource (or clone instance) of that id,
    /// else a clone's primitive by its configured id (its clone then).
    public static func resolve(_ ws: WorkingSet, _ id: String) -> Int? {
        if let i = ws.resources.firstIndex(where: { $0.id == id && !$0.orphan }) ?? ws.index(of: id) { return i }
        guard let i = ws.resources.firstIndex(where: { $0.configuredID == id }) else { return nil }
        return Resources.enclosingClone(i, in: ws) ?? i
    }

    /// Schedules the input (with scores) and explains the resource; nil for an unknown id.
    public static func explain(_ input: SchedulerInput, resource id: String) -> Explanation? {
        let (ws, transition) = Simulator.schedule(input, scores: true)
        return explain(ws, transition, resource: id)
    }

    /// The explanation of a resource from the working set and a transition scheduled with
    /// scores (`Simulator.schedule(_:scores: true)`); nil for an unknown id.
    public static func explain(_ ws: WorkingSet, _ transition: Transition, resource id: String) -> Explanation? {
        guard let i = resolve(ws, id) else { return nil }
        let r = ws.resources[i]
        // The same criteria the assignment starts from (stickiness, availability).
        var a = Assignment(ws)
        let prims = ws.primitives(under: i)
        let primIDs = Set(prims.map { ws.resources[$0].id })
        let bundle = r.variant == .bundle
        func goesTo(_ j: Int) -> [String] {
            let ids = Set(ws.primitives(under: j).map { ws.resources[$0].id })
            var out: [String] = []
            for p in transition.placements where ids.contains(p.resource) {
                // (A bundle is where its containers are, not on its replicas' own nodes.)
                if let n = p.next, !out.contains(n), !(bundle && ws.node(named: n)?.isBundleNode == true) { out.append(n) }
            }
            return out
        }
        var running: [String] = []
        for p in prims {
            for n in ws.resources[p].activeOn where !running.contains(n) && !(bundle && ws.node(named: n)?.isBundleNode == true) { running.append(n) }
        }
        let placed = goesTo(i)
        // `a` knows where everything goes, for `available` (remote nodes' connections).
        for (k, res) in ws.resources.enumerated() where res.isPrimitive {
            a.assigned[k] = .some(transition.placements.first { $0.resource == res.id }?.next)
        }
        let changes = transition.changes.filter { primIDs.contains($0.subject) || $0.subject == r.id }

        // The resource and what encloses it: constraints on these reach it.
        var chain = [i]
        var reaches = [i: true]
        var k = i
        while let p = ws.resources[k].parent {
            // A group's constraints reach its first member (the others follow it).
            let through = reaches[k]! && (ws.resources[p].variant != .group || ws.resources[p].children.first == k)
            chain.append(p)
            reaches[p] = through
            k = p
        }
        let scope = Set(chain.filter { reaches[$0] == true })
        // Each node's facts, in the order the nodes are known.
        var facts: [String: [Fact]] = [:]
        func add(_ f: Fact, _ node: String) { facts[node, default: []].append(f) }
        for n in ws.nodes where !n.isBundleNode || prims.contains(where: { ws.resources[$0].parent.flatMap { ws.bundleReplicas[$0] } != nil }) {
            if n.unclean { add(.nodeState("unclean"), n.name) } else if !n.online { add(.nodeState("offline"), n.name) }
            if n.standby || n.standbyOnFail { add(.nodeState("in standby"), n.name) }
            if n.maintenance { add(.nodeState("in maintenance"), n.name) }
            if n.shutdown { add(.nodeState("shutting down"), n.name) }
            if n.pending { add(.nodeState("pending"), n.name) }
            if n.online && !n.unclean && !a.available(n.name) && n.kind != .member && facts[n.name] == nil {
                add(.nodeState("down (its connection will not run)"), n.name)
            }
        }
        // Location constraints.
        _ = ConstraintSet.locations(ws) { m in
            guard scope.contains(m.resource), m.role != .promoted else { return }
            add(.location(id: m.constraint, rule: m.rule, score: m.score), m.node)
        }
        // Stickiness where a managed primitive runs on one node (for a clone, where each
        // instance runs: the instances have the stickiness, not the clone).
        let isClone: Bool = { if case .clone = r.variant { return true } else { return false } }()
        if isClone {
            for inst in r.children {
                guard let p = ws.primitives(under: inst).first, ws.resources[p].managed, ws.resources[p].activeOn.count == 1 else { continue }
                add(.instanceHere(instance: ws.resources[inst].id, stickiness: a.stickiness(p)), ws.resources[p].activeOn[0])
            }
        }
        for p in prims where !isClone {
            let pr = ws.resources[p]
            guard pr.managed, pr.activeOn.count == 1 else { continue }
            let s = a.stickiness(p)
            if s >= 1 { add(.stickiness(resource: pr.id, score: s), pr.activeOn[0]) }
        }
        // Failures and migration-threshold.
        var seenFailures = Set<String>()
        for p in prims {
            let pr = ws.resources[p]
            let threshold = pr.meta["migration-threshold"].flatMap(CIBValue.score) ?? Score.infinity
            let timeout = (pr.meta["failure-timeout"].flatMap(CIBValue.milliseconds) ?? 0) / 1000
            let names = pr.id != pr.configuredID ? [pr.configuredID, pr.id] : [pr.configuredID]
            // An anonymous clone's instances share their fail counts: said once, by the
            // configured id.
            let anonymous = Resources.enclosingClone(p, in: ws).map { c -> Bool in
                if case .clone(_, let unique) = ws.resources[c].variant { return !unique } else { return false }
            } ?? false
            let shown = anonymous ? pr.configuredID : pr.id
            for n in ws.nodes {
                guard !seenFailures.contains(shown + "\u{0}" + n.name) else { continue }
                var fc = 0, last = 0
                var ops: [String] = []
                for name in names {
                    fc = Score.add(fc, Failcounts.count(name, node: n, failureTimeoutSeconds: timeout, now: ws.now))
                    for (key, _) in n.attributes where key.hasPrefix("fail-count-\(name)#") {
                        let op = key.dropFirst("fail-count-\(name)#".count)
                        let task = op.lastIndex(of: "_").map { String(op[..<$0]) } ?? String(op)
                        if !ops.contains(task) { ops.append(task) }
                    }
                    for (key, value) in n.attributes where key == "last-failure-\(name)" || key.hasPrefix("last-failure-\(name)#") {
                        last = max(last, Int(value) ?? 0)
                    }
                }
                if fc == 0 && timeout > 0 {
                    var raw = 0
                    for name in names { raw = Score.add(raw, Failcounts.count(name, node: n, failureTimeoutSeconds: 0, now: ws.now)) }
                    if raw > 0 { add(.expiredFailures(resource: shown, count: raw, failureTimeout: timeout), n.name) }
                }
                guard fc > 0 else { continue }
                seenFailures.insert(shown + "\u{0}" + n.name)
                let bans = threshold > 0 && !pr.failureIgnored && fc >= threshold
                add(.failures(resource: shown, operations: ops.sorted(), count: fc, threshold: threshold, bans: bans,
                              failureTimeout: timeout > 0 ? timeout : nil,
                              expiresAt: timeout > 0 && last > 0 ? last + timeout : nil), n.name)
            }
            var j: Int? = p
            while let x = j {
                for node in (ws.historyBans[x] ?? []).sorted(by: naturalLess) { add(.historyBan(resource: ws.resources[x].id), node) }
                j = ws.resources[x].parent
                if j != nil && !scope.contains(j!) { break }
            }
        }
        // A clone instance: the clone's other instances take the nodes they go to.
        if let c = Resources.enclosingClone(i, in: ws) {
            let own = chain.first { ws.resources[$0].parent == c } ?? i
            let nodeMax = ws.resources[c].meta["clone-node-max"].flatMap { Int($0) } ?? 1
            for other in ws.resources[c].children where other != own {
                for n in goesTo(other) { add(.otherInstance(clone: ws.resources[c].id, instance: ws.resources[other].id, cloneNodeMax: nodeMax), n) }
            }
        }
        // Colocations: with what this resource (or what encloses it) must or wants to be.
        let colocations = ConstraintSet.colocations(ws)
        var general: [Fact] = []
        // (A group's colocations are its first member's; the others' are their own.)
        var inScope = scope
        if r.variant == .group, let firstMember = r.children.first { inScope.formUnion(ws.primitives(under: firstMember)) }
        for c in colocations where inScope.contains(c.dependent) && !inScope.contains(c.primary) {
            let other = ws.resources[c.primary].id
            let where_ = goesTo(c.primary)
            if c.id == "#group-members" {
                // A member goes only where the member before it goes.
                guard c.dependent == i, let g = r.parent else { continue }
                for n in ws.nodes where !n.isBundleNode && !where_.contains(n.name) {
                    add(.follows(group: ws.resources[g].id, member: other, goesTo: where_), n.name)
                }
                continue
            }
            if where_.isEmpty {
                if c.score >= Score.infinity {
                    for n in ws.nodes where !n.isBundleNode {
                        add(.colocation(id: c.id, score: c.score, with: other, withGoesTo: [], effect: -Score.infinity), n.name)
                    }
                } else {
                    general.append(.colocation(id: c.id, score: c.score, with: other, withGoesTo: [], effect: 0))
                }
                continue
            }
            for n in ws.nodes where !n.isBundleNode {
                let same = where_.contains { a.attribute($0, c.nodeAttribute) == a.attribute(n.name, c.nodeAttribute) && a.attribute(n.name, c.nodeAttribute) != nil }
                if same {
                    if c.score < Score.infinity { add(.colocation(id: c.id, score: c.score, with: other, withGoesTo: where_, effect: c.score), n.name) }
                } else if c.score >= Score.infinity {
                    add(.colocation(id: c.id, score: c.score, with: other, withGoesTo: where_, effect: -Score.infinity), n.name)
                }
            }
        }
        for c in colocations where inScope.contains(c.primary) && !inScope.contains(c.dependent) && c.id != "#group-members" {
            general.append(.dependent(id: c.id, score: c.score, resource: ws.resources[c.dependent].id))
        }
        // Capacity under a placement strategy.
        var util = Utilization(ws)
        if util.isActive {
            // What the other resources take where the scheduler puts them.
            let own = Set(prims)
            for (k, res) in ws.resources.enumerated() where res.isPrimitive && !own.contains(k) {
                if let node = a.assigned[k] ?? nil { util.consume(k, on: node) }
            }
            var need: [String: Int] = [:]
            for p in prims { if let x = util.required[p] { Utilization.add(x, to: &need) } }
            if !need.isEmpty {
                for n in ws.nodes where !util.fits(need, on: n.name) {
                    add(.capacity(strategy: ws.options.placementStrategy, needs: need, capacity: util.remaining[n.name] ?? [:]), n.name)
                }
            }
        }
        // Resource-wide facts.
        if let role = r.targetRole, role == .stopped || role == .unpromoted { general.insert(.targetRole(role), at: 0) }
        if !r.managed || prims.contains(where: { !ws.resources[$0].managed }) { general.append(.unmanaged) }
        if ws.options.maintenanceMode { general.append(.maintenance(cluster: true)) } else if r.maintenance { general.append(.maintenance(cluster: false)) }
        if ws.options.stopAllResources { general.append(.stopAll) }
        for p in prims where ws.resources[p].blocked { general.append(.blocked(resource: ws.resources[p].id)) }
        if !ws.haveQuorum && ws.options.noQuorumPolicy != "ignore" { general.append(.noQuorum(policy: ws.options.noQuorumPolicy)) }
        for f in ws.fatallyFailed where scope.contains(f) || prims.contains(f) { general.append(.fatalFailure(resource: ws.resources[f].id)) }
        if case .clone = r.variant {
            let nodesCount = ws.nodes.filter { $0.kind == .member }.count
            let max = r.meta["clone-max"].flatMap { Int($0) } ?? nodesCount
            general.append(.cloneLimits(cloneMax: max, cloneNodeMax: r.meta["clone-node-max"].flatMap { Int($0) } ?? 1))
        }
        if r.variant == .group {
            general.append(.groupOf(members: r.children.map { ws.resources[$0].id }))
            let stopped = r.children.filter { goesTo($0).isEmpty }.map { ws.resources[$0].id }
            if !stopped.isEmpty && stopped.count < r.children.count { general.append(.membersNotRunning(stopped)) }
        }
        if let g = r.parent, ws.resources[g].variant == .group {
            let siblings = ws.resources[g].children
            let pos = siblings.firstIndex(of: i) ?? 0
            general.append(.groupMember(group: ws.resources[g].id, follows: pos > 0 ? ws.resources[siblings[pos - 1]].id : nil))
        }

        // The scores the assignment decided with last, for the resource (else its first primitive).
        var last: [String: Int] = [:]
        var lastFirst: [String: Int] = [:]
        let first = prims.first.map { ws.resources[$0].id }
        for line in transition.scores {
            guard case .allocation(_, let res, let node, let score) = line else { continue }
            if res == r.id { last[node] = score } else if res == first { lastFirst[node] = score }
        }
        if last.isEmpty { last = lastFirst }
        if last.isEmpty, let p = transition.placements.first(where: { $0.resource == first }) {
            for s in p.scores { last[s.node] = s.score }
        }
        var seenNames = Set<String>()
        let nodeNames = ws.nodes.filter { !$0.isBundleNode || facts[$0.name] != nil || last[$0.name] != nil }.map(\.name)
            .filter { seenNames.insert($0).inserted }.sorted(by: naturalLess)
        let nodes = nodeNames.map { n -> NodeFacts in
            var f = facts[n] ?? []
            if last[n] == nil && !f.contains(where: { if case .nodeState = $0 { true } else { false } }) { f.insert(.notAllowed, at: 0) }
            return NodeFacts(node: n, score: last[n], facts: f)
        }
        let kind: String
        switch r.variant {
        case .primitive: kind = Resources.enclosingClone(i, in: ws) != nil ? "clone instance" : "primitive"
        case .group: kind = "group"
        case .clone(let promotable, _): kind = promotable ? "promotable clone" : "clone"
        case .bundle: kind = "bundle"
        }
        return Explanation(resource: r.id, kind: kind, runningOn: running, placedOn: placed, changes: changes, nodes: nodes, facts: general)
    }
}

// MARK: Plain sentences

extension Explanation {
    /// The explanation as plain sentences: what happens, the resource-wide facts, then one
    /// line for each node.
    public var lines: [String] {
        var out: [String] = [summary]
        for f in facts { out.append(Self.sentence(f, resource: resource)) }
        for n in nodes { out.append(Self.nodeSentence(n, resource: resource)) }
        return out
    }

    /// The explanation as one paragraph.
    public var paragraph: String { lines.joined(separator: " ") }

    /// The paragraph broken between words into lines of at most `width` characters (a word
    /// longer than that gets a line of its own).
    public func paragraph(width: Int) -> [String] {
        var out: [String] = []
        var line = ""
        for word in paragraph.split(separator: " ", omittingEmptySubsequences: true) {
            if line.isEmpty { line = String(word); continue }
            if line.count + 1 + word.count > width {
                out.append(line)
                line = String(word)
            } else {
                line += " " + word
            }
        }
        if !line.isEmpty { out.append(line) }
        return out
    }

    static func list(_ names: [String]) -> String {
        switch names.count {
        case 0: return ""
        case 1: return names[0]
        default: return names.dropLast().joined(separator: ", ") + " and " + names.last!
        }
    }

    var summary: String {
        let now = runningOn.isEmpty ? "\(resource) is stopped now" : "\(resource) runs on \(Self.list(runningOn)) now"
        if placedOn.isEmpty {
            // Stopped by a resource-wide fact (said next), or for want of a node.
            let wide = facts.contains { f in
                switch f {
                case .targetRole(.stopped), .noQuorum, .stopAll, .unmanaged, .maintenance, .blocked: return true
                default: return false
                }
            }
            if wide { return runningOn.isEmpty ? "\(now) and stays stopped." : "\(now) and will be stopped." }
            return runningOn.isEmpty ? "\(now) and can run on no node." : "\(now) and will be stopped: it can run on no node."
        }
        if Set(placedOn) == Set(runningOn) {
            let restart = changes.contains { [.restart, .recover, .reload].contains($0.kind) }
            return "\(now) and stays there" + (restart ? " (it is restarted there)." : ".")
        }
        if runningOn.isEmpty { return "\(now) and starts on \(Self.list(placedOn))." }
        let leaving = runningOn.filter { !placedOn.contains($0) }, coming = placedOn.filter { !runningOn.contains($0) }
        if leaving.count == 1 && coming.count == 1 && runningOn.count == 1 { return "\(now) and moves to \(coming[0])." }
        var parts: [String] = []
        if !coming.isEmpty { parts.append("starts on \(Self.list(coming))") }
        if !leaving.isEmpty { parts.append("stops on \(Self.list(leaving))") }
        return "\(now) and " + parts.joined(separator: " and ") + "."
    }

    static func time(_ t: Int) -> String {
        let c = CivilTime(t)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(c.year)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second))Z"
    }

    static func amounts(_ m: [String: Int]) -> String {
        m.keys.sorted().map { "\($0)=\(m[$0]!)" }.joined(separator: ", ")
    }

    static func sentence(_ f: Fact, resource: String) -> String {
        switch f {
        case .targetRole(let role):
            return role == .stopped ? "Its target-role is Stopped, so the cluster keeps it stopped."
                : "Its target-role is \(role), so the cluster does not promote it."
        case .unmanaged: return "It is not managed (is-managed=false), so the cluster neither starts nor stops it."
        case .maintenance(true): return "The cluster is in maintenance mode, so it leaves the resource alone."
        case .maintenance(false): return "It is in maintenance, so the cluster leaves it alone."
        case .blocked(let r):
            return "A failure of \(r) blocked it (on-fail=block), so the cluster leaves it as it is until it is cleaned up (crm_resource --cleanup -r \(r))."
        case .stopAll: return "stop-all-resources is set, so every resource stops."
        case .noQuorum(let policy):
            let effect: String
            switch policy {
            case "freeze": effect = "so what runs keeps running and nothing else starts"
            case "demote": effect = "so promoted instances are demoted and the other resources stop"
            case "suicide", "fence": effect = "so resources stop and the partition's nodes are fenced"
            default: effect = "so resources stop"
            }
            return "This partition has no quorum, and no-quorum-policy is \(policy), \(effect)."
        case .fatalFailure(let r): return "\(r) had a fatal error, which keeps it off every node until it is cleaned up (crm_resource --cleanup -r \(r))."
        case .cloneLimits(let max, let nodeMax):
            return "It runs at most \(max) \(max == 1 ? "copy" : "copies") (clone-max), at most \(nodeMax) on one node (clone-node-max)."
        case .groupOf(let members): return "It is a group: \(list(members)) run together, in that order, where the first member goes."
        case .groupMember(let group, let follows?): return "It is in group \(group), so it runs where \(follows) runs, and after it."
        case .membersNotRunning(let members):
            return "\(list(members)) can run on no node (crm_simulate --explain \(members[0]) says why)."
        case .groupMember(let group, nil): return "It is the first member of group \(group); the other members follow it."
        case .colocation(let id, let score, let with, _, _):
            return "Colocation \(id) (\(Score.text(score))) wants it with \(with), but \(with) runs nowhere."
        case .dependent(let id, let score, let other):
            return "\(other) wants to run with it (colocation \(id), \(Score.text(score)))."
        default: return fragment(f, resource: resource) + "."
        }
    }

    /// A fact as part of a node's line.
    static func fragment(_ f: Fact, resource: String) -> String {
        switch f {
        case .nodeState(let s): return s
        case .notAllowed: return "not allowed (the cluster is not symmetric and no location constraint allows this node)"
        case .location(let id, let rule, let score):
            if id.hasPrefix("cli-ban-") {
                return "banned by \(id) (\(Score.text(score)), made by crm_resource --ban or --move; crm_resource --clear -r \(resource) removes it)"
            }
            if id.hasPrefix("cli-prefer-") {
                return "preferred by \(id) (\(Score.text(score)), made by crm_resource --move; crm_resource --clear -r \(resource) removes it)"
            }
            if score <= -Score.infinity { return "location \(id) bans it (-INFINITY" + (rule.map { ", rule \($0) matched" } ?? "") + ")" }
            return "location \(id) (\(Score.text(score))" + (rule.map { ", rule \($0) matched" } ?? "") + ")"
        case .stickiness(let r, let s): return "resource-stickiness \(Score.text(s))" + (r == resource ? "" : " (\(r))")
        case .failures(let r, let ops, let count, let threshold, let bans, let timeout, let expires):
            let what = ops.isEmpty ? "\(r) failed" : "\(r)'s \(list(ops)) failed"
            var s = "\(what) there \(Score.text(count)) time\(count == 1 ? "" : "s") (migration-threshold \(Score.text(threshold))"
            if let timeout {
                s += "; fail count expires after failure-timeout \(timeout)s" + (expires.map { ", at \(time($0))" } ?? "")
            } else if bans {
                s += "; crm_resource --cleanup -r \(r) clears it"
            }
            s += ")"
            return s
        case .follows(let group, let member, let goes):
            return "it follows \(member) in group \(group), and \(member) " + (goes.isEmpty ? "runs nowhere" : "goes to \(list(goes))")
        case .expiredFailures(let r, let count, let timeout):
            return "\(r) failed there \(count) time\(count == 1 ? "" : "s"), but that no longer counts (failure-timeout \(timeout)s has passed)"
        case .otherInstance(let clone, let inst, let nodeMax):
            return "\(clone)'s instance \(inst) goes here (clone-node-max \(nodeMax))"
        case .instanceHere(let inst, let s): return "\(inst) runs here (resource-stickiness \(Score.text(s)))"
        case .historyBan(let r): return "\(r) failed there in a way that bans it (a failed stop or a hard error; crm_resource --cleanup -r \(r) clears it)"
        case .fatalFailure(let r): return "\(r) had a fatal error"
        case .colocation(let id, let score, let with, let goes, let effect):
            let whereText = goes.isEmpty ? "\(with) runs nowhere" : "\(with) goes to \(list(goes))"
            if effect <= -Score.infinity { return "colocation \(id) (\(Score.text(score))) ties it to \(with), and \(whereText)" }
            return "colocation \(id) with \(with) (\(Score.text(score)); \(whereText))"
        case .capacity(let strategy, let needs, let capacity):
            return "too small for it (placement-strategy \(strategy): needs \(amounts(needs)), the node has \(capacity.isEmpty ? "no capacity" : amounts(capacity)) left once the other resources are placed)"
        default: return sentence(f, resource: resource)
        }
    }

    static func isContribution(_ f: Fact) -> Bool {
        switch f {
        case .location, .stickiness: return true
        case .colocation(_, _, _, _, let effect): return effect > -Score.infinity
        case .failures(_, _, _, _, let bans, _, _): return bans
        case .historyBan: return true
        default: return false
        }
    }

    /// What a contribution adds to a node's score, as far as the fact itself says.
    static func amount(_ f: Fact) -> Int {
        switch f {
        case .location(_, _, let score): return score
        case .stickiness(_, let score): return score
        case .colocation(_, _, _, _, let effect): return effect
        case .failures, .historyBan: return -Score.infinity
        default: return 0
        }
    }

    /// A node's line. The contributions are written as a sum only when they add up to the
    /// score; otherwise (the scheduler weighed them: a colocation with a clone counts that
    /// clone's own scores, a group's stickiness sits on its members) they are listed as what
    /// was weighed, so the line never shows arithmetic that does not hold.
    static func nodeSentence(_ n: NodeFacts, resource: String) -> String {
        let head = "\(n.node) scores " + (n.score.map(Score.text) ?? "nothing")
        guard !n.facts.isEmpty else { return head + "." }
        let contributions = n.facts.filter(isContribution)
        let plus = contributions.map { fragment($0, resource: resource) }
        let other = n.facts.filter { !isContribution($0) }.map { fragment($0, resource: resource) }
        let sum = contributions.reduce(0) { Score.add($0, amount($1)) }
        let adds = n.score == nil || n.score == sum
        var parts: [String] = []
        if !plus.isEmpty { parts.append(plus.joined(separator: adds ? " + " : "; ")) }
        parts += other
        return head + (adds || plus.isEmpty ? ": " : ", weighing: ") + parts.joined(separator: "; ") + "."
    }
}
