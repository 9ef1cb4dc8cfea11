import CIB

/// The assignment stage: where each resource should run, and in which role.
///
/// Follows Pacemaker's order: node tables from the configuration and the history, location
/// constraints, stickiness and failure bans; then each resource is assigned in priority
/// order, its colocation primaries first, its dependents' preferences merged in.
struct Assignment {
    var ws: WorkingSet
    /// Allowed nodes and scores per resource index.
    var tables: [Int: NodeScores] = [:]
    var colocations: [Colocation] = [] {
        didSet {
            byDependent = Dictionary(grouping: colocations.indices, by: { colocations[$0].dependent })
            byPrimary = Dictionary(grouping: colocations.indices, by: { colocations[$0].primary })
            withThisMemo = [:]
        }
    }
    /// Positions in `colocations` by dependent and by primary, in list order.
    private(set) var byDependent: [Int: [Int]] = [:]
    private(set) var byPrimary: [Int: [Int]] = [:]
    /// `withThis` of each resource asked so far (the colocations do not change while
    /// resources are assigned; setting them empties it).
    private var withThisMemo: [Int: [Colocation]] = [:]

    /// `withThis(i)`, sorted once.
    mutating func withThisSorted(_ i: Int) -> [Colocation] {
        if let known = withThisMemo[i] { return known }
        let list = withThis(i)
        withThisMemo[i] = list
        return list
    }

    /// The colocations where `i` is the dependent, in list order.
    func colocations(dependent i: Int) -> [Colocation] { (byDependent[i] ?? []).map { colocations[$0] } }
    /// The colocations where `i` is the primary, in list order.
    func colocations(primary i: Int) -> [Colocation] { (byPrimary[i] ?? []).map { colocations[$0] } }
    var promotedLocations: [(Int, String, Int)] = []
    /// The node each assigned resource goes to (nil: stopped). Unassigned resources are absent.
    var assigned: [Int: String?] = [:]
    var assigning: Set<Int> = []
    var nextRole: [Int: Role] = [:]
    /// resource-discovery: primitives probed only where an exclusive constraint allows them,
    /// those nodes, and nodes where a primitive is never probed.
    var exclusiveDiscovery = Set<Int>()
    var probeNodes: [Int: Set<String>] = [:]
    var noProbeNodes: [Int: Set<String>] = [:]
    /// Primitives assigned to each node in this run (the tie-breaker).
    var numResources: [String: Int] = [:]
    var updating: Set<Int> = []
    /// What merging each source adds, worked out once (see `mergeDeltas`).
    private var mergeDeltaCache: [MergeDeltas.Key: MergeDeltas] = [:]
    /// The node position of each entry of the table merged into last (a hint, checked by name).
    private var mergePositions: [Int] = []
    /// Capacities and needs under the placement strategy (see Utilization.swift).
    var utilization: Utilization
    /// The nodes each primitive needing capacity may run on before assignment (for the
    /// graph's load_stopped points).
    var initialAllowed: [Int: [String]] = [:]
    /// The scores each stage decided with, in the order they were used; nil unless asked for
    /// (see ScoreLog.swift).
    var scoreLog: [ScoreLine]?

    init(_ ws: WorkingSet) {
        self.ws = ws
        utilization = Utilization(ws)
    }

    // MARK: node criteria

    func available(_ node: String) -> Bool {
        guard let k = ws.nodeIndex(named: node) else { return false }
        // (Read in place: a copy of the node would copy its attributes too.)
        if ws.nodes[k].kind == .member {
            return !(ws.nodes[k].shutdown || ws.nodes[k].standby || ws.nodes[k].standbyOnFail || ws.nodes[k].maintenance
                     || ws.nodes[k].pending) && ws.nodes[k].online && !ws.nodes[k].unclean
        }
        let n = ws.nodes[k]
        guard !n.shutdown && !n.standby && !n.standbyOnFail && !n.maintenance && !n.pending else { return false }
        if n.kind != .member {
            // A remote or guest node is usable where its connection (or container) is placed.
            let carrier = n.kind == .guest ? n.container : n.connection
            if let c = carrier, let ci = ws.index(of: c), let placed = assigned[ci] {
                // A remote node to be fenced runs nothing until it is back, unless it was only
                // presumed lost with its connection's host.
                if n.kind == .remote && n.unclean && !n.unseen { return false }
                return placed != nil
            }
            // A guest whose container is being recovered comes back where the container goes.
            return (n.online || (n.kind == .guest && n.remoteReset)) && !n.unclean
        }
        return n.online && !n.unclean
    }

    func stickiness(_ i: Int) -> Int {
        let r = ws.resources[i]
        if let v = r.meta["resource-stickiness"] ?? r.meta["default-resource-stickiness"] { return CIBValue.score(v) ?? 0 }
        return Resources.enclosingClone(i, in: ws) != nil ? 1 : 0
    }

    /// The resource and everything under it.
    func subtree(_ i: Int) -> [Int] {
        [i] + ws.resources[i].children.flatMap { subtree($0) }
    }

    mutating func buildTables() {
        let baseScores = Dictionary(ws.cib.configuration.nodes.map { ($0.uname, CIBValue.score($0.element["score"] ?? "0") ?? 0) },
                                    uniquingKeysWith: { a, _ in a })
        for i in ws.resources.indices {
            var t = NodeScores()
            if ws.options.symmetricCluster {
                for n in ws.nodes { t[n.name] = baseScores[n.name] ?? 0 }
            } else if ws.resources[i].meta["internal_rsc"] != nil {
                for n in ws.nodes { t[n.name] = 0 }
            }
            let r = ws.resources[i]
            // An unmanaged resource stays wherever it is active.
            if r.isPrimitive && !r.managed { for n in r.activeOn { t.add(Score.infinity, to: n) } }
            if r.orphan && ws.options.stopOrphanResources { for n in ws.nodes { t[n.name] = -Score.infinity } }
            // Bans from the history, the resource's own and those of what encloses it.
            var k: Int? = i
            while let j = k {
                for node in ws.historyBans[j] ?? [] { t.add(-Score.infinity, to: node) }
                k = ws.resources[j].parent
            }
            // A bundle's replica nodes host only that bundle's own resource.
            for n in ws.nodes where n.isBundleNode {
                let own = ws.resources[i].parent.flatMap { p in ws.bundleReplicas[p]?.first { $0.node == n.name }?.child } == i
                if !own { t.scores.removeValue(forKey: n.name) }
            }
            // A remote connection, or a guest's container, runs on a cluster node, never on a
            // remote or guest node (a bundle's container may run on a remote node).
            let isContainer = ws.nodes.contains { $0.kind == .guest && !$0.isBundleNode && $0.container == r.id }
            if let a = r.agent, isContainer || a.standard == "stonith" || (a.standard == "ocf" && a.provider == "pacemaker" && a.type == "remote") {
                for n in ws.nodes where n.kind != .member { t[n.name] = -Score.infinity }
            }
            // A connection that failed with a reconnect interval stays down until the
            // interval has passed (its failure expires then).
            if r.onFail == .resetRemote, r.failed, Unpack.isConnection(r, in: ws),
               (r.parameters["reconnect_interval"].flatMap(CIBValue.milliseconds) ?? 0) > 0 {
                for n in ws.nodes { t[n.name] = -Score.infinity }
            }
            tables[i] = t
        }
        for f in ws.fatallyFailed { for j in subtree(f) { for n in ws.nodes { tables[j]?[n.name] = -Score.infinity } } }
    }

    mutating func location(_ r: Int, _ node: String, _ score: Int) {
        switch ws.resources[r].variant {
        case .group:
            tables[r]?.add(score, to: node)
            for (k, m) in ws.resources[r].children.enumerated() { location(m, node, k == 0 ? score : 0) }
        case .bundle:
            // A bundle's locations apply to it, its containers and addresses (not to the
            // connections, which go where the containers are, nor to its resource's copies).
            tables[r]?.add(score, to: node)
            for rep in ws.bundleReplicas[r] ?? [] {
                for part in [Optional(rep.container), rep.ip].compactMap({ $0 }) { location(part, node, score) }
            }
        case .clone:
            tables[r]?.add(score, to: node)
            for c in ws.resources[r].children { location(c, node, score) }
        case .primitive:
            tables[r]?.add(score, to: node)
        }
    }

    /// Node health under node-health-strategy: the sum of the node's `#health*` attributes
    /// (red, yellow and green mapped to the strategy's scores) applies to every resource.
    func healthScore(_ n: SchedulerNode) -> Int {
        let strategy = ws.options.nodeHealthStrategy
        guard strategy != "none" else { return 0 }
        let raw = ws.options.raw
        let (red, yellow, green): (Int, Int, Int)
        switch strategy {
        case "migrate-on-red": (red, yellow, green) = (-Score.infinity, 0, 0)
        case "only-green": (red, yellow, green) = (-Score.infinity, -Score.infinity, 0)
        default:
            red = raw["node-health-red"].flatMap(CIBValue.score) ?? 0
            yellow = raw["node-health-yellow"].flatMap(CIBValue.score) ?? 0
            green = raw["node-health-green"].flatMap(CIBValue.score) ?? 0
        }
        var sum = strategy == "progressive" ? (raw["node-health-base"].flatMap(CIBValue.score) ?? 0) : 0
        for (name, value) in n.attributes where name.hasPrefix("#health") {
            switch value.lowercased() {
            case "red": sum = Score.add(sum, red)
            case "yellow": sum = Score.add(sum, yellow)
            case "green": sum = Score.add(sum, green)
            default: sum = Score.add(sum, CIBValue.score(value) ?? 0)
            }
        }
        return sum
    }

    mutating func applyNodeCriteria() {
        for n in ws.nodes {
            let h = healthScore(n)
            guard h != 0 else { continue }
            for r in ws.topLevel {
                if h < 0, ws.resources[r].meta["allow-unhealthy-nodes"].map(CIBValue.isTrue) == true { continue }
                location(r, n.name, h)
            }
        }
        let (placement, promoted, discovery) = ConstraintSet.locations(ws)
        for (r, node, s) in placement { location(r, node, s) }
        promotedLocations = promoted
        // Exclusive discovery: a resource runs only on nodes that a location constraint with
        // resource-discovery=exclusive names for it; "never" only stops probes there.
        var exclusive: [Int: Set<String>] = [:]
        for d in discovery {
            // (A bundle's are its containers' and addresses', as for its locations.)
            let leaves = ws.resources[d.resource].variant == .bundle
                ? (ws.bundleReplicas[d.resource] ?? []).flatMap { [Optional($0.container), $0.ip].compactMap { $0 } }
                : ws.primitives(under: d.resource)
            for leaf in leaves {
                if d.mode == "exclusive" {
                    exclusive[leaf, default: []].formUnion(d.nodes)
                    probeNodes[leaf, default: []].formUnion(d.nodes)
                } else {
                    noProbeNodes[leaf, default: []].formUnion(d.nodes)
                }
            }
            if d.mode == "exclusive" { exclusiveDiscovery.formUnion(ws.primitives(under: d.resource)) }
        }
        for (leaf, allowed) in exclusive {
            for n in ws.nodes where !allowed.contains(n.name) { tables[leaf]?[n.name] = -Score.infinity }
        }
        // Stickiness where a managed leaf runs on exactly one node.
        for i in ws.resources.indices where ws.resources[i].isPrimitive {
            let r = ws.resources[i]
            guard r.managed, r.activeOn.count == 1 else { continue }
            let s = stickiness(i)
            guard s >= 1 else { continue }
            if ws.options.symmetricCluster { tables[i]?.add(s, to: r.activeOn[0]) } else { tables[i]?.addIfAllowed(s, to: r.activeOn[0]) }
        }
        // migration-threshold: enough failures ban the node.
        let launchedBy = Launchers.launchedMap(ws)
        let failcounts = FailcountIndex(ws.nodes)
        let lastFailures = LastFailures(ws.cib.status)
        for i in ws.resources.indices where ws.resources[i].isPrimitive {
            let r = ws.resources[i]
            if r.onFail == .stop { for j in subtree(anonymousClone(of: i) ?? i) { for n in ws.nodes { tables[j]?[n.name] = -Score.infinity } } }
            let threshold = r.meta["migration-threshold"].flatMap(CIBValue.score) ?? Score.infinity
            guard threshold > 0, !r.failureIgnored else { continue }
            let timeout = (r.meta["failure-timeout"].flatMap(CIBValue.milliseconds) ?? 0) / 1000
            // A launcher (outside bundles) also counts the failures of what it launches.
            let launched = launchedBy[i] ?? []
            for (k, n) in ws.nodes.enumerated() {
                // (A fail count to be cleared, the failed start having had other parameters, bans nothing.)
                if n.online && !n.unclean && lastFailures.startChanged(r, on: n.name, in: ws) { continue }
                var fc = failcounts.count(r.configuredID, position: k, node: n, failureTimeoutSeconds: timeout, now: ws.now)
                    + (r.id != r.configuredID ? failcounts.count(r.id, position: k, node: n, failureTimeoutSeconds: timeout, now: ws.now) : 0)
                for l in launched {
                    let lt = (ws.resources[l].meta["failure-timeout"].flatMap(CIBValue.milliseconds) ?? 0) / 1000
                    fc += failcounts.count(ws.resources[l].configuredID, position: k, node: n, failureTimeoutSeconds: lt, now: ws.now)
                }
                guard fc >= threshold else { continue }
                let target = anonymousClone(of: i) ?? i
                for j in subtree(target) { tables[j]?[n.name] = -Score.infinity }
            }
        }
        colocations = ConstraintSet.colocations(ws)
        applyTickets()
    }

    /// Resources that depend on a ticket the site does not hold (not granted, or in standby):
    /// by loss-policy, stopped (the default), frozen in place, or kept from being promoted.
    var frozen: Set<Int> = []
    var noPromotion: Set<Int> = []

    mutating func applyTickets() {
        let states = Dictionary(ws.cib.status.tickets.compactMap { t in t.id.map { ($0, t) } }, uniquingKeysWith: { a, _ in a })
        for c in ws.cib.configuration.constraints where c.kind == .ticket {
            let e = c.element
            guard let ticket = e["ticket"] else { continue }
            let state = states[ticket]
            let granted = state?["granted"].map(CIBValue.isTrue) ?? false
            let standby = state?["standby"].map(CIBValue.isTrue) ?? false
            guard !granted || standby else { continue }
            var targets: [(Int, String?)] = []
            if let rsc = e["rsc"] { for i in ConstraintSet.resolve(rsc, ws) { targets.append((i, e["rsc-role"])) } }
            for set in c.resourceSets {
                for id in set.resources { for i in ConstraintSet.resolve(id, ws) { targets.append((i, set.role ?? e["rsc-role"])) } }
            }
            let policy = e["loss-policy"] ?? "stop"
            for (r, roleName) in targets {
                let role = roleName.flatMap { Role(name: $0) }
                // A promotable clone may promote nothing while a Promoted-role ticket is
                // missing or in standby.
                if role == .promoted { for j in subtree(r) { noPromotion.insert(j) } }
                for j in subtree(r) where ws.resources[j].isPrimitive {
                    let leaf = ws.resources[j]
                    let active = !leaf.activeOn.isEmpty
                    var current = active ? leaf.role : .stopped
                    if current == .started && ws.isInPromotableClone(leaf) { current = .unpromoted }
                    let roleMatches = role == nil || role == current
                    func ban() { for n in ws.nodes { tables[j]?[n.name] = -Score.infinity } }
                    if !granted && active {
                        switch policy {
                        case "demote":
                            // Demotion is all a Promoted-role ticket asks; any other role stops.
                            if role != .promoted { ban() }
                        case "fence":
                            // The site lost the ticket: the nodes running what matches are fenced.
                            guard roleMatches else { continue }
                            ban()
                            for n in ws.nodes.indices where leaf.activeOn.contains(ws.nodes[n].name) {
                                Nodes.fence(&ws.nodes[n], "deadman ticket was lost")
                            }
                        case "freeze":
                            if roleMatches { frozen.insert(j) }
                        default:
                            ban()
                        }
                    } else if role != .promoted || policy == "stop" {
                        // Not running, or the ticket is only in standby: it may not start.
                        ban()
                    }
                }
            }
        }
    }

    func anonymousClone(of i: Int) -> Int? {
        guard let c = Resources.enclosingClone(i, in: ws), case .clone(_, let unique) = ws.resources[c].variant, !unique else { return nil }
        return c
    }

    // MARK: assignment

    mutating func assignAll() {
        // What carries remote and guest nodes first (their connections and containers), so
        // that those nodes are known to be usable or not when the rest is placed.
        // (A bundle is placed in its turn: its connections are not top-level resources.)
        // Remote connections go in the order resources are assigned (which decides ties
        // between equally good nodes by how many each has been given); then the containers
        // of guest nodes, whose connections Pacemaker lists after the configured resources.
        let order = assignmentOrder()
        let carriers = ws.nodes.filter { $0.kind != .member && !$0.isBundleNode }
        let connections = Set(carriers.filter { $0.kind == .remote }.compactMap { $0.connection.flatMap(ws.index(of:)).map(topAncestor) })
        for i in order where connections.contains(i) { assign(i) }
        for n in carriers where n.kind == .guest {
            if let c = n.container, let ci = ws.index(of: c) { assign(topAncestor(ci)) }
        }
        for i in order { assign(i) }
    }

    func topAncestor(_ i: Int) -> Int {
        var j = i
        while let p = ws.resources[j].parent { j = p }
        return j
    }

    mutating func assign(_ i: Int) {
        switch ws.resources[i].variant {
        case .primitive: _ = assignPrimitive(i, prefer: nil)
        case .group: assignGroup(i)
        case .clone: assignClone(i)
        case .bundle: assignBundle(i)
        }
    }

    mutating func assignGroup(_ g: Int) {
        guard assigned[g] == nil, !assigning.contains(g) else { return }
        assigning.insert(g)
        showScores("pcmk__group_assign", g)
        var first: String??
        for m in ws.resources[g].children {
            let node = assignPrimitive(m, prefer: nil)
            if first == nil { first = .some(node) }
        }
        assigned[g] = first ?? .some(nil)
        assigning.remove(g)
    }

    /// The colocations where `i` is the dependent ("this with"), and where it is the primary
    /// ("with this"); a group member also sees its group's.
    func thisWith(_ i: Int) -> [Colocation] {
        var list = colocations(dependent: i)
        if let g = ws.resources[i].parent, ws.resources[g].variant == .group {
            let members = ws.resources[g].children
            if members.first == i {
                list += colocations(dependent: g)
            } else if members.prefix { $0 != i }.contains(where: { !ws.resources[$0].managed }) {
                // Later members follow the group's colocations through the member before
                // them, unless an earlier member is unmanaged: then they apply the mandatory
                // ones themselves.
                list += colocations(dependent: g).filter { $0.score >= Score.infinity }
            }
        }
        // A clone's instance (or the first member of a cloned group) carries the clone's.
        if let c = cloneOf(instanceOrFirstMember: i) { list += colocations(dependent: c) }
        // A bundle's containers carry the bundle's colocations.
        if let b = ws.resources[i].parent, ws.resources[b].variant == .bundle,
           ws.bundleReplicas[b]?.contains(where: { $0.container == i }) == true {
            list += colocations(dependent: b)
        }
        return byPriority(list, \.primary)
    }

    func withThis(_ i: Int) -> [Colocation] {
        var list = colocations(primary: i)
        if let g = ws.resources[i].parent, ws.resources[g].variant == .group, ws.resources[g].children.last == i {
            list += colocations(primary: g)
            if let c = ws.resources[g].parent, case .clone = ws.resources[c].variant { list += colocations(primary: c) }
        } else if let c = ws.resources[i].parent, case .clone = ws.resources[c].variant {
            list += colocations(primary: c)
        }
        return byPriority(list, \.dependent)
    }

    /// The clone whose colocations `i` applies: its own clone when `i` is an instance, the
    /// group's clone when `i` is the first member of a cloned group.
    func cloneOf(instanceOrFirstMember i: Int) -> Int? {
        guard let p = ws.resources[i].parent else { return nil }
        if case .clone = ws.resources[p].variant { return p }
        if ws.resources[p].variant == .group, ws.resources[p].children.first == i,
           let c = ws.resources[p].parent, case .clone = ws.resources[c].variant { return c }
        return nil
    }

    /// Colocations in the order Pacemaker applies them: the other resource's priority first,
    /// then clones before groups before primitives, then the other resource's id.
    func byPriority(_ list: [Colocation], _ other: KeyPath<Colocation, Int>) -> [Colocation] {
        func rank(_ v: ResourceVariant) -> Int {
            switch v {
            case .primitive: 0
            case .group: 1
            case .clone(let promotable, _): promotable ? 3 : 2
            case .bundle: 4
            }
        }
        return list.enumerated().sorted { a, b in
            let x = ws.resources[a.element[keyPath: other]], y = ws.resources[b.element[keyPath: other]]
            let px = Resources.priority(x), py = Resources.priority(y)
            if px != py { return px > py }
            let vx = rank(x.variant), vy = rank(y.variant)
            if vx != vy { return vx > vy }
            if x.id != y.id { return x.id.utf8.lexicographicallyPrecedes(y.id.utf8) }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// The resource a colocation's primary stands for when applying it: a group's last member
    /// for mandatory colocations, its first for finite ones.
    func effectivePrimary(_ c: Colocation) -> Int {
        let p = c.primary
        guard ws.resources[p].variant == .group, let first = ws.resources[p].children.first,
              let last = ws.resources[p].children.last else { return p }
        return abs(c.score) >= Score.infinity ? last : first
    }

    mutating func assignPrimitive(_ i: Int, prefer: String?) -> String? {
        if let p = ws.resources[i].parent, ws.resources[p].variant == .group, assigned[p] == nil, !assigning.contains(p) {
            assignGroup(p)
            return assigned[i] ?? nil
        }
        if let done = assigned[i] { return done }
        if assigning.contains(i) { return nil }
        // A guest node's hidden connection goes wherever the guest's container goes.
        if ws.resources[i].meta["internal_rsc"] != nil, ws.resources[i].parent == nil,
           let guest = ws.node(named: ws.resources[i].id), guest.kind == .guest, let c = guest.container, let ci = ws.index(of: c) {
            assign(ci)
            return place(i, assigned[ci] ?? nil)
        }
        assigning.insert(i)
        defer { assigning.remove(i) }
        let this = thisWith(i), with = withThisSorted(i)
        for c in this where abs(c.score) >= Score.infinity { applyThisWith(c, to: i) }
        for c in with where abs(c.score) >= Score.infinity { addDependentScores(c, primary: i) }
        for c in this where abs(c.score) < Score.infinity { applyThisWith(c, to: i) }
        for c in with where abs(c.score) < Score.infinity { addDependentScores(c, primary: i) }
        let r = ws.resources[i]
        var role = r.targetRole ?? .started
        if role == .promoted || role == .unpromoted { role = .started }
        if r.targetRole == .stopped {
            for n in ws.nodes { tables[i]?[n.name] = -Score.infinity }
        }
        showScores("pcmk__primitive_assign", i)
        if ws.options.fencingEnabled && !hasFenceDevice && !ws.options.haveWatchdog {
            return place(i, r.activeOn.first)
        }
        // (A clone instance blocked by a failure is left as it is, like an unmanaged one.)
        // (Not one left on a lost node: that is blocked only for want of fencing.)
        let blockedInstance = r.blocked && r.parent.map { if case .clone = ws.resources[$0].variant { true } else { false } } == true
            && r.activeOn.allSatisfy { ws.node(named: $0).map { !$0.unclean } ?? false }
        if !r.managed || blockedInstance || isMaintained(r) || frozen.contains(i) {
            return place(i, r.activeOn.count == 1 ? r.activeOn[0] : nil)
        }
        if ws.options.stopAllResources { return place(i, nil) }
        return assignBestNode(i, prefer: prefer)
    }

    var hasFenceDevice: Bool {
        ws.resources.contains { $0.agent?.standard == "stonith" && !$0.orphan }
    }

    func isMaintained(_ r: SchedulerResource) -> Bool {
        ws.options.maintenanceMode || r.maintenance || r.activeOn.contains { ws.node(named: $0)?.maintenance == true }
    }

    @discardableResult
    mutating func place(_ i: Int, _ node: String?) -> String? {
        assigned[i] = .some(node)
        if let node {
            numResources[node, default: 0] += 1
            if utilization.isActive { utilization.consume(i, on: node) }
        }
        return node
    }

    mutating func assignBestNode(_ i: Int, prefer: String?) -> String? {
        let mostFree = banInsufficientCapacity(i)
        let prefer = prefer ?? mostFree
        let table = tables[i] ?? NodeScores()
        let current = ws.resources[i].activeOn.first { ws.node(named: $0).map { $0.online && !$0.unclean } ?? false }
        var effectiveScores: [String: Int] = [:]
        for n in table.scores.keys { effectiveScores[n] = available(n) ? (table[n] ?? -Score.infinity) : -Score.infinity }
        func effective(_ n: String) -> Int { effectiveScores[n] ?? (available(n) ? (table[n] ?? -Score.infinity) : -Score.infinity) }
        // The best node: the highest score, then the fewest resources, then where it runs now,
        // then the name.
        let best = table.scores.keys.min { a, b in
            let ea = effectiveScores[a]!, eb = effectiveScores[b]!
            if ea != eb { return ea > eb }
            return utilization.prefers(a, over: b, counts: numResources, current: current)
        }
        guard let best else { return place(i, nil) }
        var chosen = best
        var preferred = false
        if let prefer, let ps = table[prefer], ps >= (table[best] ?? 0), available(prefer), ps >= 0 {
            chosen = prefer
            preferred = true
        }
        if !preferred, (table[best] ?? 0) > 0, available(best), let cur = current, available(cur),
           (table[cur] ?? -1) >= 0, table[cur] == table[best], effective(cur) == effective(best) {
            let unique = Resources.enclosingClone(i, in: ws).map { c -> Bool in
                if case .clone(_, let u) = ws.resources[c].variant { return u } else { return false }
            } ?? false
            if !unique { chosen = cur }
        }
        if (table[chosen] ?? -Score.infinity) < 0 || !available(chosen) { return place(i, nil) }
        return place(i, chosen)
    }

    /// The dependent side of a colocation: the primary's placement changes the dependent's
    /// scores.
    mutating func applyThisWith(_ c: Colocation, to dependent: Int) {
        let primary = effectivePrimary(c)
        if assigned[primary] == nil { assign(primary) }
        // A primary still unassigned (a colocation loop) has nothing to say yet.
        if assigned[primary] == nil { return }
        // For a promotable dependent, a colocation of its Promoted role decides only which
        // instance is promoted (see assignRoles), not where instances run.
        if c.dependentRole == .promoted, case .clone(true, _) = ws.resources[c.dependent].variant { return }
        // So for a promotable bundle (see BundleRoles.swift).
        if c.dependentRole == .promoted, ws.resources[c.dependent].variant == .bundle, ws.resources[c.dependent].bundlePromotable { return }
        if case .clone = ws.resources[primary].variant {
            applyCloneColocation(c, primary: primary, dependent: dependent)
            return
        }
        if ws.resources[primary].variant == .bundle {
            applyCloneColocation(c, primary: primary, dependent: dependent)
            return
        }
        guard var table = tables[dependent] else { return }
        let archive = table
        if let pr = c.primaryRole, (nextRole[primary] ?? .started) != pr && !(pr == .unpromoted && (nextRole[primary] ?? .started) == .started) {
            return
        }
        let target = assigned[primary] ?? nil
        if let node = target {
            let value = attribute(node, c.nodeAttribute)
            for n in table.scores.keys {
                if attribute(n, c.nodeAttribute)?.lowercased() == value?.lowercased() && value != nil {
                    if c.score < Score.infinity { table[n] = Score.add(table[n]!, c.score) }
                } else if c.score >= Score.infinity {
                    table[n] = -Score.infinity
                }
            }
        } else {
            if c.score < 0 { return }
            for n in table.scores.keys { table[n] = Score.add(table[n]!, -c.score) }
        }
        if abs(c.score) >= Score.infinity || table.scores.contains(where: { available($0.key) && $0.value >= 0 }) {
            tables[dependent] = table
        } else {
            tables[dependent] = archive
        }
    }

    mutating func applyCloneColocation(_ c: Colocation, primary: Int, dependent: Int) {
        guard var table = tables[dependent] else { return }
        // Where the primary's instances will be: node, role, and the instance's score there.
        var instances: [(node: String, role: Role, score: Int)] = []
        if ws.resources[primary].variant == .bundle {
            // A bundle is where its containers run.
            for rep in ws.bundleReplicas[primary] ?? [] {
                // In the role its resource will have there.
                let role = rep.child.map { nextRole[$0] ?? .started } ?? .started
                if let node = assigned[rep.container] ?? nil { instances.append((node, role, 0)) }
            }
        } else {
            for inst in ws.resources[primary].children {
                let leaves = ws.primitives(under: inst)
                guard let first = leaves.first, let node = assigned[first] ?? nil else { continue }
                let role = leaves.map { nextRole[$0] ?? .started }.max() ?? .started
                instances.append((node, role, tables[first]?[node] ?? 0))
            }
        }
        let promotable: Bool = { if case .clone(true, _) = ws.resources[primary].variant { return true } else { return false } }()
        if let pr = c.primaryRole {
            instances = instances.filter { $0.role == pr || (pr == .unpromoted && $0.role == .started) }
        }
        func same(_ n: String, _ host: String) -> Bool {
            guard let v = attribute(host, c.nodeAttribute) else { return false }
            return attribute(n, c.nodeAttribute)?.lowercased() == v.lowercased()
        }
        if c.score >= Score.infinity {
            if promotable && c.primaryRole != nil {
                // Only where an instance will have the role, with that instance's score added
                // (unless both sides are Promoted: that decides roles, not places).
                guard !(c.dependentRole == .promoted && c.primaryRole == .promoted) else { return }
                for n in table.scores.keys {
                    if let host = instances.last(where: { $0.node == n }) {
                        table[n] = Score.add(table[n]!, host.score)
                    } else {
                        table[n] = -Score.infinity
                    }
                }
            } else {
                let hosts = Set(instances.map(\.node))
                for n in table.scores.keys where !hosts.contains(n) { table[n] = -Score.infinity }
            }
        } else {
            // Each instance adds the score where it will be.
            for host in instances {
                for n in table.scores.keys where same(n, host.node) { table[n] = Score.add(table[n]!, c.score) }
            }
        }
        tables[dependent] = table
    }

    func attribute(_ node: String, _ name: String) -> String? {
        if name == "#uname" { return node }
        return ws.nodeIndex(named: node).flatMap { ws.nodes[$0].attributes[name] }
    }

    /// The primary side: the dependent's preferences, scaled by the colocation's strength,
    /// are merged into the primary's scores (when the dependent has influence).
    /// A clone takes only what keeps its scores from turning negative (`nonnegative`).
    mutating func addDependentScores(_ c: Colocation, primary: Int, nonnegative: Bool = false) {
        guard c.influence || ws.resources[primary].activeOn.isEmpty else { return }
        var target = tables[primary] ?? NodeScores()
        let dependent = firstLeaf(c.dependent)
        merge(source: dependent, into: &target, colocation: c, factor: Float(c.score) / 1_000_000, primary: primary,
              nonnegative: nonnegative)
        tables[primary] = target
    }

    /// A node marked unusable while merging only nonnegative scores (it becomes 1 at the end).
    static let unusableMark = -100 * Score.infinity

    func firstLeaf(_ i: Int) -> Int {
        if ws.resources[i].variant == .group, let f = ws.resources[i].children.first { return f }
        return i
    }

    mutating func merge(source: Int, into nodes: inout NodeScores, colocation c: Colocation, factor: Float, primary: Int,
                        nonnegative: Bool = false) {
        guard !updating.contains(source) else { return }
        updating.insert(source)
        defer { updating.remove(source) }
        var work = nodes
        let src = tables[source] ?? NodeScores()
        // The source's best score among the usable nodes sharing each value of the attribute.
        // (With the usual attribute, #uname, each value is one node: its own score.)
        let byName = c.nodeAttribute == "#uname"
        if byName {
            // What the source adds on each node depends only on its table, the nodes and the
            // colocation: worked out once and reused (the instances of a clone merge the same
            // sources one after the other), then applied here with one lookup a node.
            let deltas = mergeDeltas(source: source, src, colocation: c, factor: factor, primary: primary)
            // A table and its copies keep their order, and one table takes many merges in a
            // row: the position found for each entry last time is tried first.
            var ordinal = 0
            for k in work.scores.indices {
                defer { ordinal += 1 }
                let name = work.scores[k].key
                var p = ordinal < mergePositions.count ? mergePositions[ordinal] : -1
                if p < 0 || p >= deltas.nodes.count || deltas.nodes[p].name != name {
                    p = ws.nodeIndex(named: name) ?? -1
                    if ordinal >= mergePositions.count { mergePositions.append(contentsOf: repeatElement(-1, count: ordinal + 1 - mergePositions.count)) }
                    mergePositions[ordinal] = p
                }
                // (Positions with the same name have the same delta.)
                let d = p >= 0 && p < deltas.delta.count ? deltas.delta[p] : deltas.absent
                if d == MergeDeltas.skip { continue }
                let old = work.scores[k].value
                if old == Self.unusableMark { continue }
                let new = Score.add(d, old)
                if nonnegative && new < 0 {
                    if old > 0 { work.scores.values[k] = Self.unusableMark }
                    continue
                }
                work.scores.values[k] = new
            }
            finishMerge(source: source, work: work, into: &nodes, factor: factor, primary: primary, nonnegative: nonnegative)
            return
        }
        var bestByValue: [String?: Int] = [:]
        if !byName {
            bestByValue.reserveCapacity(src.scores.count)
            for (m, s) in src.scores where isUsable(m) {
                let v = attribute(m, c.nodeAttribute)
                bestByValue[v] = max(bestByValue[v] ?? -Score.infinity, s)
            }
        }
        let allowed = factor < 0 ? src.scores.values.filter { $0 >= 0 }.count : 0
        // (Through the table's positions: each score is read and written without a lookup.)
        for k in work.scores.indices {
            let n = work.scores[k].key
            let best = byName ? (src.scores[n].flatMap { isUsable(n) ? $0 : nil } ?? -Score.infinity)
                : (bestByValue[attribute(n, c.nodeAttribute)] ?? -Score.infinity)
            if factor < 0 && best < 0 {
                if stickiness(primary) >= -best || !c.influence || allowed != 1 { continue }
            }
            let old = work.scores[k].value
            if old == Self.unusableMark { continue }
            let product = Float(factor) * Float(best)
            var d = Int(product.rounded(.toNearestOrAwayFromZero))
            if d == 0 && best != 0 { d = factor < 0 ? -1 : 1 }
            let new = Score.add(d, old)
            if nonnegative && new < 0 {
                if old > 0 { work.scores.values[k] = Self.unusableMark }
                continue
            }
            work.scores.values[k] = new
        }
        finishMerge(source: source, work: work, into: &nodes, factor: factor, primary: primary, nonnegative: nonnegative)
    }

    /// The end of a merge: when some usable node is left allowed, what is colocated with the
    /// source is merged too, and the result kept.
    private mutating func finishMerge(source: Int, work: NodeScores, into nodes: inout NodeScores, factor: Float, primary: Int,
                                      nonnegative: Bool) {
        var work = work
        if work.scores.contains(where: { available($0.key) && $0.value >= 0 }) {
            for c2 in withThisSorted(source) where c2.influence && c2.dependent != primary {
                merge(source: firstLeaf(c2.dependent), into: &work, colocation: c2,
                      factor: factor * Float(c2.score) / 1_000_000, primary: primary, nonnegative: nonnegative)
            }
            if nonnegative { for (n, v) in work.scores where v == Self.unusableMark { work[n] = 1 } }
            nodes = work
        }
    }

    /// What merging `source` (by node name) adds to each node, by position in `ws.nodes`, and
    /// to a node the nodes do not list; `MergeDeltas.skip` where it leaves the node alone.
    /// Kept per source, factor, influence and (for a negative factor) the primary's
    /// stickiness, and reused while the source's table and the nodes are unchanged (the entry
    /// holds both, so a change to either makes a new copy and the comparison fails at once).
    private mutating func mergeDeltas(source: Int, _ src: NodeScores, colocation c: Colocation, factor: Float,
                                      primary: Int) -> MergeDeltas {
        let stick = factor < 0 ? stickiness(primary) : 0
        let key = MergeDeltas.Key(source: source, factor: factor.bitPattern, influence: c.influence, stickiness: stick)
        if let known = mergeDeltaCache[key], known.source == src, known.nodes == ws.nodes { return known }
        let allowed = factor < 0 ? src.scores.values.filter { $0 >= 0 }.count : 0
        func delta(_ best: Int) -> Int {
            if factor < 0 && best < 0 {
                if stick >= -best || !c.influence || allowed != 1 { return MergeDeltas.skip }
            }
            let product = Float(factor) * Float(best)
            var d = Int(product.rounded(.toNearestOrAwayFromZero))
            if d == 0 && best != 0 { d = factor < 0 ? -1 : 1 }
            return d
        }
        let absent = delta(-Score.infinity)
        var deltas = [Int](repeating: absent, count: ws.nodes.count)
        for k in ws.nodes.indices {
            let n = ws.nodes[k].name
            deltas[k] = delta(src.scores[n].flatMap { isUsable(n) ? $0 : nil } ?? -Score.infinity)
        }
        let entry = MergeDeltas(source: src, nodes: ws.nodes, delta: deltas, absent: absent)
        mergeDeltaCache[key] = entry
        return entry
    }

    func isUsable(_ node: String) -> Bool {
        guard let k = ws.nodeIndex(named: node) else { return false }
        return ws.nodes[k].online && !ws.nodes[k].unclean && !ws.nodes[k].shutdown && !ws.nodes[k].standby && !ws.nodes[k].maintenance
    }

    // MARK: clones and bundles

    mutating func assignClone(_ c: Int) {
        guard assigned[c] == nil, !assigning.contains(c) else { return }
        assigning.insert(c)
        defer { assigning.remove(c) }
        let r = ws.resources[c]
        guard case .clone(let promotable, let unique) = r.variant else { return }
        // What the clone is colocated with is placed first (its instances then apply those
        // colocations themselves); the preferences of what is colocated with the clone count.
        for col in colocations(dependent: c) {
            let p = effectivePrimary(col)
            if assigned[p] == nil { assign(p) }
        }
        for col in withThis(c) { addDependentScores(col, primary: c, nonnegative: true) }
        let nodeMax = unique ? (Int(r.meta["clone-node-max"] ?? "1") ?? 1) : 1
        var perNode: [String: Int] = [:]
        let cloneTable = tables[c] ?? NodeScores()
        let instances = orderInstances(c, r.children.filter { !ws.resources[$0].orphan })
        let availableCount = max(1, ws.nodes.filter { available($0.name) && (cloneTable[$0.name] ?? -1) >= 0 }.count)
        let optimal = max(1, instances.count / availableCount)
        func restrict(_ inst: Int) {
            for leaf in subtree(inst) where tables[leaf] != nil {
                // (Nodes the instance may not run on at all stay out of its table.)
                for n in ws.nodes where !available(n.name) || (cloneTable[n.name] ?? -Score.infinity) < 0 || perNode[n.name, default: 0] >= nodeMax {
                    if tables[leaf]?[n.name] != nil { tables[leaf]?[n.name] = -Score.infinity }
                }
            }
        }
        func assignInstance(_ inst: Int, prefer: String?) -> String? {
            restrict(inst)
            switch ws.resources[inst].variant {
            case .group:
                assignGroup(inst)
                return assigned[inst] ?? nil
            default:
                return assignPrimitive(inst, prefer: prefer)
            }
        }
        // A promotable clone's instances are drawn to where they would be promoted: a
        // positive promotion score (the node's master-ID attribute) adds to the placement.
        if promotable {
            let occupied = Set(instances.flatMap { activeNodes($0) })
            for inst in instances {
                let here = Set(activeNodes(inst))
                for leaf in ws.primitives(under: inst) {
                    let res = ws.resources[leaf]
                    for n in ws.nodes where available(n.name) {
                        // It counts where the instance runs, or, for an instance running
                        // nowhere, on nodes no other instance occupies.
                        guard here.contains(n.name) || (here.isEmpty && !occupied.contains(n.name)) else { continue }
                        let keys = (res.historyIDs[n.name].map { ["master-\($0)"] } ?? [])
                            + (unique ? ["master-\(res.id)"] : ["master-\(res.id)", "master-\(res.configuredID)"])
                        guard let v = keys.lazy.compactMap({ n.attributes[$0] }).first, let score = CIBValue.score(v), score > 0 else { continue }
                        tables[leaf]?.addIfAllowed(score, to: n.name)
                    }
                }
            }
        }
        showScores("pcmk__clone_assign", c)
        // First, instances running now stay where they are when they can.
        var done = Set<Int>()
        for inst in instances {
            let nodes = activeNodes(inst)
            let failed = ws.primitives(under: inst).contains { ws.resources[$0].failed }
            // A multiply active instance is tried where it was first seen active.
            let first = ws.primitives(under: inst).compactMap { ws.resources[$0].activeOn.first }.first
            guard !nodes.isEmpty, let current = nodes.count == 1 ? nodes.first : first, !failed, available(current),
                  (cloneTable[current] ?? -1) >= 0, perNode[current, default: 0] < min(optimal, nodeMax) else { continue }
            let leaves = ws.primitives(under: inst)
            guard leaves.allSatisfy({ (tables[$0]?[current] ?? -1) >= 0 }) else { continue }
            // Try to keep it where it is: when it would land elsewhere, undo that, rule that
            // node out for this instance, and try again (a bounded number of times).
            var kept: String?
            let before = tables
            let budget = max(1, instances.count)
            var attempt = 0
            while attempt < budget {
                attempt += 1
                let saved = (tables, assigned, numResources, nextRole, utilization)
                let node = assignInstance(inst, prefer: current)
                if node == current { kept = node; break }
                // Each attempt only rules out the node the last one chose, so the nodes the
                // attempts would choose in turn can be read off this attempt's table: rule
                // them out at once and make only the attempt that would succeed (or the
                // last one). Not when the scores are shown: each attempt shows its own.
                let skip = attempt == 1 && scoreLog == nil ? attemptsAhead(inst, current: current, numResources: saved.2) : []
                // The attempt is undone, but the scores it used were shown (as Pacemaker does).
                (tables, assigned, numResources, nextRole, utilization) = saved
                guard let elsewhere = node else { break }
                for leaf in subtree(inst) { tables[leaf]?[elsewhere] = -Score.infinity }
                if skip.first == elsewhere {
                    for n in skip.dropFirst().prefix(max(0, budget - 1 - attempt)) {
                        for leaf in subtree(inst) { tables[leaf]?[n] = -Score.infinity }
                        attempt += 1
                    }
                }
            }
            if let kept {
                perNode[kept, default: 0] += 1
                done.insert(inst)
            } else {
                tables = before
                for leaf in subtree(inst) { assigned.removeValue(forKey: leaf) }
            }
        }
        // Then the rest, in order.
        for inst in instances where !done.contains(inst) {
            if let node = assignInstance(inst, prefer: nil) { perNode[node, default: 0] += 1 }
        }
        for o in r.children where ws.resources[o].orphan { for leaf in subtree(o) { assigned[leaf] = .some(nil) } }
        if promotable { assignRoles(c) }
        assigned[c] = .some(nil)
    }

    /// The nodes that attempts to keep primitive instance `inst` on `current` would choose
    /// in turn, each ruling out the one before, read off the table the first attempt left:
    /// the nodes ranked above `current` (as `assignBestNode` ranks them) whose score beats
    /// it (every usable node, when `current` is not usable). Empty when that cannot be read
    /// off (capacities, a group).
    func attemptsAhead(_ inst: Int, current: String, numResources counts: [String: Int]) -> [String] {
        guard ws.resources[inst].isPrimitive, !utilization.isActive, let table = tables[inst] else { return [] }
        // The score that keeps the instance where it runs, if any can.
        let keeping = table[current].flatMap { $0 >= 0 && available(current) ? $0 : nil }
        let running = ws.resources[inst].activeOn.first { ws.node(named: $0).map { $0.online && !$0.unclean } ?? false }
        var effective: [String: Int] = [:]
        for (n, v) in table.scores { effective[n] = available(n) ? v : -Score.infinity }
        let ranked = table.scores.keys.sorted { a, b in
            let ea = effective[a]!, eb = effective[b]!
            if ea != eb { return ea > eb }
            return utilization.prefers(a, over: b, counts: counts, current: running)
        }
        var ahead: [String] = []
        for n in ranked {
            // The attempt that finds `current` at least as good as the best left keeps it;
            // one whose best is unusable places the instance nowhere (and the attempts end).
            if n == current { break }
            if let cs = keeping, cs >= (table[n] ?? 0) { break }
            if (table[n] ?? -Score.infinity) < 0 || !available(n) { break }
            ahead.append(n)
        }
        return ahead
    }

    /// The order in which a clone's instances are placed (as Pacemaker orders them): running
    /// ones before stopped ones, those on allowed and usable nodes first, healthy before
    /// failed, then by how much the clone's colocations favour the node each runs on, then by
    /// instance number.
    mutating func orderInstances(_ c: Int, _ instances: [Int]) -> [Int] {
        let cloneTable = tables[c] ?? NodeScores()
        struct Key { var active: Int; var current: String?; var allowed: Bool; var usable: Bool; var parentAllowed: Bool
                     var failed: Bool; var colocation: Int }
        func key(_ inst: Int) -> Key {
            let active = activeNodes(inst)
            let current = active.first
            let leaves = ws.primitives(under: inst)
            let allowed = current.map { n in (tables[inst]?[n] ?? -1) >= 0 } ?? true
            let usable = current.map { n in ws.node(named: n).map { !$0.unclean && $0.online && !$0.shutdown && !$0.standby && !$0.maintenance } ?? false } ?? false
            // The clone's colocations, merged into a table of the current node alone (what
            // is colocated with the clone counts only while it keeps the score nonnegative).
            var colocation = 0
            if let n = current {
                var table = NodeScores(scores: [n: 0])
                for col in colocations(dependent: c) where col.dependentRole == nil {
                    merge(source: firstLeaf(effectivePrimary(col)), into: &table, colocation: col,
                          factor: Float(col.score) / 1_000_000, primary: inst)
                }
                for col in colocations(primary: c) where col.influence || active.isEmpty {
                    merge(source: firstLeaf(col.dependent), into: &table, colocation: col,
                          factor: Float(col.score) / 1_000_000, primary: inst, nonnegative: true)
                }
                colocation = table[n] ?? 0
            }
            return Key(active: active.count, current: current, allowed: allowed, usable: usable,
                       parentAllowed: current.map { cloneTable[$0] != nil } ?? false,
                       failed: leaves.contains { ws.resources[$0].failed }, colocation: colocation)
        }
        let keys = Dictionary(uniqueKeysWithValues: instances.map { ($0, key($0)) })
        func before(_ a: Int, _ b: Int) -> Bool? {
            let x = keys[a]!, y = keys[b]!
            if x.active > 0 && y.active > 0 && x.active != y.active { return x.active < y.active }
            if x.allowed != y.allowed { return x.allowed }
            if (x.current == nil) != (y.current == nil) { return x.current != nil }
            if x.current == nil { return nil }
            if x.usable != y.usable { return x.usable }
            if x.parentAllowed != y.parentAllowed { return x.parentAllowed }
            if x.failed != y.failed { return !x.failed }
            if x.colocation != y.colocation { return x.colocation > y.colocation }
            return nil
        }
        // A stable insertion sort: ties keep the instance order.
        var out: [Int] = []
        for inst in instances {
            var k = out.count
            while k > 0, before(inst, out[k - 1]) == true { k -= 1 }
            out.insert(inst, at: k)
        }
        return out
    }

    func activeNodes(_ inst: Int) -> [String] {
        Array(Set(ws.primitives(under: inst).flatMap { ws.resources[$0].activeOn }))
    }

    /// Promotion: each started instance's priority is the promotion score on its node
    /// (`master-ID` node attributes) plus Promoted-role location scores; the best promoted-max
    /// ones are promoted.
    /// Where a resource will run (in a role, when one is given): its leaves' nodes.
    func nodes(of i: Int, role: Role?) -> [String] {
        var out: [String] = []
        for leaf in ws.primitives(under: i) {
            guard let n = assigned[leaf] ?? nil else { continue }
            if let role, role > .started {
                let r = nextRole[leaf] ?? .started
                if role == .promoted ? r != .promoted : r == .promoted { continue }
            }
            if !out.contains(n) { out.append(n) }
        }
        if out.isEmpty, let n = assigned[i] ?? nil { out.append(n) }
        return out
    }

    mutating func assignRoles(_ c: Int) {
        let r = ws.resources[c]
        // The roles of what this clone's promotion follows are decided first.
        for col in colocations where col.dependent == c && col.dependentRole == .promoted {
            let top = topAncestor(effectivePrimary(col))
            if top != c && !assigning.contains(top) { assign(top) }
        }
        let promotedMax = Int(r.meta["promoted-max"] ?? r.meta["master-max"] ?? "1") ?? 1
        var candidates: [(Int, Int, String)] = []
        for inst in r.children where !ws.resources[inst].orphan {
            let leaves = ws.primitives(under: inst)
            guard let node = assigned[leaves.first ?? inst] ?? nil else { continue }
            for leaf in leaves { nextRole[leaf] = .unpromoted }
            var priority = -1
            for leaf in leaves {
                let res = ws.resources[leaf]
                let n = ws.node(named: node)
                let keys = (res.historyIDs[node].map { ["master-\($0)"] } ?? []) + ["master-\(res.id)", "master-\(res.configuredID)"]
                if let v = keys.lazy.compactMap({ n?.attributes[$0] }).first, let s = CIBValue.score(v) {
                    priority = max(priority, s)
                }
                if res.targetRole == .unpromoted { priority = -Score.infinity }
            }
            for (rsc, locNode, s) in promotedLocations where (rsc == c || rsc == inst) && locNode == node {
                priority = Score.add(priority, s)
            }
            // Colocations of a role with another resource: the Promoted role is drawn to where
            // the other resource is (and kept away by a mandatory one), the Unpromoted role
            // pushes promotion away.
            for col in colocations where col.dependent == c && (col.dependentRole == .promoted || col.dependentRole == .unpromoted) {
                let primary = effectivePrimary(col)
                let targets = nodes(of: primary, role: col.primaryRole)
                let here = targets.contains { attribute(node, col.nodeAttribute) == attribute($0, col.nodeAttribute) }
                if here {
                    priority = Score.add(priority, col.dependentRole == .unpromoted ? -col.score : col.score)
                } else if col.score >= Score.infinity && col.dependentRole == .promoted {
                    priority = -Score.infinity
                }
            }
            candidates.append((inst, priority, node))
        }
        // The willing instances' priorities add up on their nodes, on top of the clone's own
        // score there; each willing instance is then ranked by its node's total.
        var nodeTotals = tables[c] ?? NodeScores()
        for (_, priority, node) in candidates where priority >= 0 {
            nodeTotals[node] = Score.add(priority, nodeTotals[node] ?? 0)
        }
        // Without a ticket its Promoted role needs, the clone may promote nowhere.
        if noPromotion.contains(c) { for n in nodeTotals.scores.keys { nodeTotals[n] = -Score.infinity } }
        let ownPriority = Dictionary(candidates.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        candidates = candidates.map { inst, priority, node in
            // An instance left promoted as it is (unmanaged or blocked) keeps that role.
            let leaves = ws.primitives(under: inst)
            if leaves.contains(where: { (!ws.resources[$0].managed || ws.resources[$0].blocked) && ws.resources[$0].role == .promoted }) {
                return (inst, Score.infinity, node)
            }
            return (inst, priority >= 0 ? (nodeTotals[node] ?? priority) : priority, node)
        }
        candidates.sort { a, b in
            if a.1 != b.1 { return a.1 > b.1 }
            let ra = ws.primitives(under: a.0).map { ws.resources[$0].role }.max() ?? .stopped
            let rb = ws.primitives(under: b.0).map { ws.resources[$0].role }.max() ?? .stopped
            if ra != rb { return ra > rb }
            // Then as instances are ordered for placement: the higher own priority first.
            let pa = ownPriority[a.0] ?? 0, pb = ownPriority[b.0] ?? 0
            if pa != pb { return pa > pb }
            return a.0 < b.0
        }
        let promotedNodeMax = Int(r.meta["promoted-node-max"] ?? r.meta["master-node-max"] ?? "1") ?? 1
        var promoted = 0
        var promotedOn: [String: Int] = [:]
        for (inst, priority, node) in candidates { showPromotionScore(inst, node: node, score: priority) }
        for inst in r.children where !candidates.contains(where: { $0.0 == inst }) {
            showPromotionScore(inst, node: nil, score: -Score.infinity)
        }
        for (inst, priority, node) in candidates {
            // An instance left promoted as it is keeps the role wherever it is, and takes one
            // of the clone's promoted places.
            let leaves = ws.primitives(under: inst)
            if leaves.contains(where: { (!ws.resources[$0].managed || ws.resources[$0].blocked) && ws.resources[$0].role == .promoted }) {
                for leaf in leaves { nextRole[leaf] = .promoted }
                promoted += 1
                promotedOn[node, default: 0] += 1
                continue
            }
            guard promoted < promotedMax, priority >= 0, available(node), ws.resources[inst].managed,
                  !noPromotion.contains(inst), promotedOn[node, default: 0] < promotedNodeMax else { continue }
            for leaf in ws.primitives(under: inst) { nextRole[leaf] = .promoted }
            promoted += 1
            promotedOn[node, default: 0] += 1
        }
    }

    mutating func assignBundle(_ b: Int) {
        guard assigned[b] == nil else { return }
        assigned[b] = .some(nil)
        showScores("pcmk__bundle_assign", b)
        let perHost = Int(ws.resources[b].element.elements.first { ["docker", "podman", "rkt"].contains($0.name) }?["replicas-per-host"] ?? "1") ?? 1
        var used: [String: Int] = [:]
        // Replicas running now come first, then by number.
        let replicas = (ws.bundleReplicas[b] ?? []).sorted { a, c in
            let aa = !ws.resources[a.container].activeOn.isEmpty, ca = !ws.resources[c.container].activeOn.isEmpty
            return aa != ca ? aa : a.number < c.number
        }
        let bundleTable = tables[b] ?? NodeScores()
        let availableCount = max(1, ws.nodes.filter { $0.kind == .member && available($0.name) && (bundleTable[$0.name] ?? -1) >= 0 }.count)
        // As for clone instances: no node takes more than its share while replicas stay put.
        let optimal = max(1, replicas.count / availableCount)
        func restrict(_ rep: BundleReplica) {
            for (n, count) in used where count >= perHost { tables[rep.container]?[n] = -Score.infinity }
            // Containers run on cluster nodes, never inside another guest.
            for n in ws.nodes where n.kind == .guest {
                for part in [Optional(rep.container), rep.ip, rep.connection].compactMap({ $0 }) { tables[part]?[n.name] = -Score.infinity }
            }
            // They may run on remote nodes, but their connection may not: it wants (10000) to
            // be with its container, which so prefers cluster nodes (unless that would leave
            // it nowhere to run: then the preference is dropped, as Pacemaker drops it).
            if rep.connection != nil, var t = tables[rep.container] {
                for n in ws.nodes where n.kind == .remote {
                    if let s = t[n.name], s > -Score.infinity { t[n.name] = Score.add(s, -10000) }
                }
                if t.scores.contains(where: { $0.value >= 0 && available($0.key) }) { tables[rep.container] = t }
            }
        }
        func finish(_ rep: BundleReplica, on node: String?) {
            if let node { used[node, default: 0] += 1 }
            // The address and the connection go with the container.
            for part in [rep.ip, rep.connection].compactMap({ $0 }) {
                // (A connection to a container on a remote node runs on some cluster node.)
                let free = part == rep.connection && node.flatMap { ws.node(named: $0)?.kind } == .remote
                if let node, !free { for n in ws.nodes where n.name != node { tables[part]?[n.name] = -Score.infinity } }
                // A connection whose container cannot run is still placed (its start is then
                // unrunnable); an address is not.
                _ = node == nil && part != rep.connection ? place(part, nil)
                    : assignPrimitive(part, prefer: free ? ws.resources[part].activeOn.first : node)
            }
            if let child = rep.child, let guest = rep.node {
                // (A copy running in a container that cannot run stays assigned to its guest:
                // its container's unrunnable start stops it.)
                if (node != nil || !ws.resources[child].activeOn.isEmpty), ws.resources[child].managed {
                    place(child, guest)
                    // (A promotable bundle's roles are chosen below.)
                    if ws.resources[child].role == .promoted { nextRole[child] = .promoted }
                } else {
                    place(child, nil)
                }
            }
        }
        // First, replicas running now stay where they are when they can (an attempt that
        // lands elsewhere is undone); then the rest go where they are preferred.
        var done = Set<Int>()
        for rep in replicas {
            let c = rep.container
            guard ws.resources[c].activeOn.count == 1, let current = ws.resources[c].activeOn.first, !ws.resources[c].failed,
                  available(current), (bundleTable[current] ?? -1) >= 0, used[current, default: 0] < min(optimal, perHost),
                  (tables[c]?[current] ?? -1) >= 0 else { continue }
            let saved = (tables, assigned, numResources, nextRole, utilization)
            restrict(rep)
            let node = assignPrimitive(c, prefer: current)
            if node == current {
                finish(rep, on: node)
                done.insert(rep.number)
            } else {
                (tables, assigned, numResources, nextRole, utilization) = saved
            }
        }
        for rep in replicas where !done.contains(rep.number) {
            restrict(rep)
            let node = assignPrimitive(rep.container, prefer: ws.resources[rep.container].activeOn.first)
            finish(rep, on: node)
        }
        assignBundleRoles(b)
    }

    /// Runs every assignment stage.
    static func run(_ ws: WorkingSet, recordScores: Bool = false) -> Assignment {
        var a = Assignment(ws)
        if recordScores { a.scoreLog = [] }
        a.buildTables()
        a.applyNodeCriteria()
        if a.utilization.isActive {
            for i in a.utilization.required.keys { a.initialAllowed[i] = a.tables[i].map { Array($0.scores.keys) } ?? [] }
        }
        a.assignAll()
        for i in ws.resources.indices where ws.resources[i].isPrimitive && a.assigned[i] == nil {
            _ = a.assignPrimitive(i, prefer: nil)
        }
        for i in ws.resources.indices where ws.resources[i].isPrimitive && a.nextRole[i] == nil {
            a.nextRole[i] = (a.assigned[i] ?? nil) == nil ? .stopped : .started
        }
        for i in ws.resources.indices where ws.resources[i].isPrimitive && (a.assigned[i] ?? nil) == nil {
            a.nextRole[i] = .stopped
        }
        return a
    }
}

/// What merging one source's scores adds to each node (see `Assignment.mergeDeltas`).
struct MergeDeltas {
    struct Key: Hashable {
        var source: Int
        var factor: UInt32
        var influence: Bool
        var stickiness: Int
    }
    /// The node is left as it is.
    static let skip = Int.min
    /// The source's table and the nodes the deltas were worked out from.
    var source: NodeScores
    var nodes: [SchedulerNode]
    /// By position in `nodes`.
    var delta: [Int]
    /// For a node `nodes` does not list.
    var absent: Int
}
