import EssentialsExtras
import CIB

/// Utilization and placement strategy (Pacemaker Explained, "Utilization and Placement
/// Strategy").
///
/// Nodes offer capacities (`<node><utilization>`), primitives need amounts of them
/// (`<primitive><utilization>`). With a `placement-strategy` other than `default`:
/// - a resource may only go to a node whose remaining capacity holds it and whatever is
///   mandatorily colocated with it and not placed yet (or, when no node holds all of that,
///   at least the resource itself);
/// - equally good nodes are told apart by the strategy: `utilization` and `default` prefer
///   the node with fewer resources, `balanced` first the node with more free capacity,
///   `minimal` only the node's name (filling nodes one after the other);
/// - resources are placed in an order that lets the most important and best-rooted go first;
/// - the transition graph gets a `load_stopped_<node>` point per node, so that what leaves a
///   node has stopped before what replaces it starts.
struct Utilization: Sendable {
    enum Strategy: Sendable, Equatable {
        case `default`, utilization, minimal, balanced

        init(_ text: String) {
            switch text.lowercased() {
            case "utilization": self = .utilization
            case "minimal": self = .minimal
            case "balanced": self = .balanced
            default: self = .default
            }
        }
    }

    let strategy: Strategy
    /// What is left of each node's capacity, by node name, as resources are assigned.
    private(set) var remaining: [String: [String: Int]] = [:]
    /// What each primitive needs, by resource index (primitives that need nothing are absent).
    let required: [Int: [String: Int]]

    init(_ ws: WorkingSet) {
        strategy = Strategy(ws.options.placementStrategy)
        guard strategy != .default else {
            required = [:]
            return
        }
        let context = RuleContext(now: ws.now)
        for node in ws.cib.configuration.nodes {
            let values = NVSets.flatten(node.utilization, context: context).mapValues(Self.amount)
            if !values.isEmpty { remaining[node.uname] = values }
        }
        var required: [Int: [String: Int]] = [:]
        for (i, r) in ws.resources.enumerated() where r.isPrimitive {
            let values = NVSets.flatten(Primitive(r.element).utilization, context: context).mapValues(Self.amount)
            if !values.isEmpty { required[i] = values }
        }
        // A bundle's resource is tied to its replica's guest node, which has no capacities:
        // what it needs is needed by the replica's container instead.
        for replicas in ws.bundleReplicas.values {
            for rep in replicas {
                guard let child = rep.child, let need = required.removeValue(forKey: child) else { continue }
                required[rep.container] = need
            }
        }
        self.required = required
    }

    /// Whether utilization counts at all.
    var isActive: Bool { strategy != .default }

    /// A utilization amount: an integer; anything else counts as 0.
    static func amount(_ text: String) -> Int {
        Int(text.trimmingSpaces()) ?? 0
    }

    /// Takes what a primitive needs from a node's remaining capacity.
    mutating func consume(_ i: Int, on node: String) {
        guard let need = required[i] else { return }
        var left = remaining[node] ?? [:]
        for (name, amount) in need { left[name] = Self.clamp((left[name] ?? 0) - amount) }
        remaining[node] = left
    }

    private static func clamp(_ v: Int) -> Int { max(Int(Int32.min), min(Int(Int32.max), v)) }

    /// Adds one set of needs to another.
    static func add(_ need: [String: Int], to total: inout [String: Int]) {
        for (name, amount) in need { total[name] = clamp((total[name] ?? 0) + amount) }
    }

    /// Whether a node's remaining capacity holds these needs.
    func fits(_ need: [String: Int], on node: String) -> Bool {
        let left = remaining[node] ?? [:]
        return need.allSatisfy { $0.value <= (left[$0.key] ?? 0) }
    }

    /// Negative when node `a` has more free capacity than `b` (on more of their capacity
    /// names than the other way round), positive when `b` has, 0 when they are even.
    func compareCapacities(_ a: String, _ b: String) -> Int {
        let ca = remaining[a] ?? [:], cb = remaining[b] ?? [:]
        var result = 0
        for name in Set(ca.keys).union(cb.keys) {
            let x = ca[name] ?? 0, y = cb[name] ?? 0
            if x > y { result -= 1 } else if x < y { result += 1 }
        }
        return result
    }

    /// Which of two nodes with the same score a resource goes to: under `balanced`, the one
    /// with more free capacity; then (except under `minimal`) the one with fewer resources
    /// assigned, then the one the resource runs on; finally the lower name.
    func prefers(_ a: String, over b: String, counts: [String: Int], current: String?) -> Bool {
        if strategy != .minimal {
            if strategy == .balanced {
                let c = compareCapacities(a, b)
                if c != 0 { return c < 0 }
            }
            let ca = counts[a, default: 0], cb = counts[b, default: 0]
            if ca != cb { return ca < cb }
            if (a == current) != (b == current) { return a == current }
        }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}

// MARK: Capacity checks during assignment

extension Assignment {
    private func isClone(_ i: Int) -> Bool {
        if case .clone = ws.resources[i].variant { return true } else { return false }
    }

    /// A group whose members all run together (the default), or any group inside a clone.
    private func groupIsCollocated(_ g: Int) -> Bool {
        let collocated = ws.resources[g].meta["collocated"].map(CIBValue.isTrue) ?? true
        return collocated || ws.resources[g].parent.map(isClone) == true
    }

    private func isExplicit(_ c: Colocation) -> Bool { c.id != "#group-members" }

    /// The colocations where `rsc` is the dependent, as they apply when assigning `orig`:
    /// a resource's own and its parents'; a group's first member also has the group's and
    /// those of the other members.
    func thisWithList(_ rsc: Int, for orig: Int) -> [Colocation] {
        let r = ws.resources[rsc]
        let own = colocations(dependent: rsc)
        switch r.variant {
        case .group:
            guard let first = r.children.first else { return [] }
            if rsc == orig || orig == first {
                var list = own
                if let p = r.parent { list += thisWithList(p, for: orig) }
                guard groupIsCollocated(rsc) else { return list }
                for m in r.children where m != orig { list += thisWithList(m, for: orig) }
                return list
            }
            // Later members follow through the chain of members, unless an earlier one is
            // unmanaged: then the group's mandatory colocations apply to them directly.
            for m in r.children {
                if m == orig { break }
                if !ws.resources[m].managed { return own.filter { $0.score >= Score.infinity } }
            }
            return []
        case .primitive:
            guard rsc == orig else { return own.filter(isExplicit) }
            return own + (r.parent.map { thisWithList($0, for: orig) } ?? [])
        case .clone, .bundle:
            return own + (r.parent.map { thisWithList($0, for: orig) } ?? [])
        }
    }

    /// The colocations where `rsc` is the primary, as they apply when assigning `orig`
    /// (a group's with its last member).
    func withThisList(_ rsc: Int, for orig: Int) -> [Colocation] {
        let r = ws.resources[rsc]
        let own = colocations(primary: rsc)
        switch r.variant {
        case .group:
            guard let last = r.children.last, orig == rsc || orig == last else { return [] }
            var list = own
            if let p = r.parent { list += withThisList(p, for: orig) }
            guard groupIsCollocated(rsc) else { return list }
            for m in r.children where m != orig { list += withThisList(m, for: orig) }
            return list
        case .primitive:
            guard rsc == orig else { return own.filter(isExplicit) }
            return own + (r.parent.map { withThisList($0, for: orig) } ?? [])
        case .clone, .bundle:
            return own + (r.parent.map { withThisList($0, for: orig) } ?? [])
        }
    }

    /// Whether a colocation decides placement (rather than a role) while nothing is placed.
    private func affectsLocation(_ c: Colocation) -> Bool {
        c.dependentRole == nil && c.primaryRole == nil
    }

    /// Everything that must run where `rsc` runs: followed through mandatory colocations in
    /// both directions (but not from a clone to a non-clone dependent, which need not be with
    /// every instance).
    private func collectColocated(_ rsc: Int, orig: Int, into list: inout [Int], seen: inout Set<Int>) {
        let r = ws.resources[rsc]
        if r.variant == .group, groupIsCollocated(rsc) {
            if seen.insert(rsc).inserted { list.append(rsc) }
            for m in r.children { collectColocated(m, orig: orig, into: &list, seen: &seen) }
            return
        }
        guard seen.insert(rsc).inserted else { return }
        list.append(rsc)
        for c in thisWithList(rsc, for: rsc) where c.primary != orig {
            if c.score >= Score.infinity && affectsLocation(c) {
                collectColocated(c.primary, orig: orig, into: &list, seen: &seen)
            }
        }
        for c in withThisList(rsc, for: rsc) where c.dependent != orig {
            if isClone(rsc) && !isClone(c.dependent) { continue }
            if c.score >= Score.infinity && affectsLocation(c) {
                collectColocated(c.dependent, orig: orig, into: &list, seen: &seen)
            }
        }
    }

    /// What a resource of the colocated set adds to the set's needs, counting only what is
    /// not assigned yet and nothing twice.
    private func addNeeds(_ rsc: Int, members: Set<Int>, into total: inout [String: Int]) {
        let r = ws.resources[rsc]
        // (A bundle is marked assigned as soon as its assignment begins; its containers tell.)
        guard assigned[rsc] == nil || r.variant == .bundle else { return }
        switch r.variant {
        case .primitive:
            if let need = utilization.required[rsc] { Utilization.add(need, to: &total) }
        case .group:
            let counted = groupIsCollocated(rsc) ? r.children : Array(r.children.prefix(1))
            for m in counted where assigned[m] == nil && !members.contains(m) {
                addNeeds(m, members: members, into: &total)
            }
        case .clone:
            var existing = false
            for child in r.children {
                if members.contains(child) {
                    existing = true
                } else if ws.resources[child].children.contains(where: members.contains) {
                    addNeeds(child, members: members, into: &total)
                    existing = true
                }
            }
            if !existing, let first = r.children.first { addNeeds(first, members: members, into: &total) }
        case .bundle:
            // The replicas are alike: the first container stands for any.
            if let first = ws.bundleReplicas[rsc]?.first?.container { addNeeds(first, members: members, into: &total) }
        }
    }

    /// Bans a primitive from the nodes whose remaining capacity is too small: too small for it
    /// and everything colocated with it when some node can hold all that, else too small for
    /// it alone. In the second case, returns the node with the most free capacity (the one
    /// to prefer when scores are even).
    mutating func banInsufficientCapacity(_ i: Int) -> String? {
        guard utilization.isActive, var table = tables[i] else { return nil }
        var list: [Int] = []
        var seen = Set<Int>()
        collectColocated(i, orig: i, into: &list, seen: &seen)
        if !seen.contains(i) { list.append(i); seen.insert(i) }
        var together: [String: Int] = [:]
        for r in list { addNeeds(r, members: seen, into: &together) }
        let candidates = Utilization.hashOrder(table.scores.keys.map { $0 }, ids: nodeIDs)
            .filter { available($0) && (table[$0] ?? -1) >= 0 }
        var anyCapable = false
        var mostCapable: String?
        for node in candidates {
            if utilization.fits(together, on: node) { anyCapable = true }
            if mostCapable == nil || utilization.compareCapacities(node, mostCapable!) < 0 { mostCapable = node }
        }
        let need = anyCapable ? together : (utilization.required[i] ?? [:])
        for node in candidates where !utilization.fits(need, on: node) { table[node] = -Score.infinity }
        tables[i] = table
        return anyCapable ? nil : mostCapable
    }

    /// Node ids by name, for the order Pacemaker's hash tables visit nodes in.
    var nodeIDs: [String: String] {
        Dictionary(ws.nodes.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
    }

    // MARK: The order resources are assigned in

    /// The top-level resources in the order they are assigned: by priority; then, under a
    /// strategy other than `default`, the one with the higher score where it runs now, then
    /// the one with the higher score on the best nodes (scores counting what the resource is
    /// colocated with).
    func assignmentOrder() -> [Int] {
        guard utilization.isActive else { return ws.topLevel }
        let baseScores = Dictionary(ws.cib.configuration.nodes.map { ($0.uname, CIBValue.score($0.element["score"] ?? "0") ?? 0) },
                                    uniquingKeysWith: { a, _ in a })
        let nodes = ws.nodes.map(\.name).sorted { a, b in
            let sa = available(a) ? baseScores[a] ?? 0 : -Score.infinity
            let sb = available(b) ? baseScores[b] ?? 0 : -Score.infinity
            if sa != sb { return sa > sb }
            return utilization.prefers(a, over: b, counts: [:], current: nil)
        }
        struct Key {
            var priority: Int
            var current: Int
            var scores: [Int]
        }
        let keys: [Int: Key] = Dictionary(uniqueKeysWithValues: ws.topLevel.map { r in
            let table = colocatedNodeScores(r)
            let current = ws.primitives(under: r).lazy.compactMap { self.ws.resources[$0].activeOn.first }.first
            let key = Key(priority: Resources.priority(ws.resources[r]),
                          current: current.flatMap { table[$0] } ?? -Score.infinity,
                          scores: nodes.map { table[$0] ?? -Score.infinity })
            return (r, key)
        })
        return ws.topLevel.enumerated().sorted { a, b in
            let ka = keys[a.element]!, kb = keys[b.element]!
            if ka.priority != kb.priority { return ka.priority > kb.priority }
            if ka.current != kb.current { return ka.current > kb.current }
            for (x, y) in zip(ka.scores, kb.scores) where x != y { return x > y }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// A resource's node scores with those of the resources it is colocated with (followed
    /// through "this with" colocations, scaled by each one's strength). A group counts from
    /// its last member, whose colocations chain back through the others.
    func colocatedNodeScores(_ r: Int) -> NodeScores {
        var start = r
        if ws.resources[r].variant == .group, let last = ws.resources[r].children.last { start = last }
        var work = tables[start] ?? NodeScores()
        guard anyAvailable(work) else { return work }
        var visiting: Set<Int> = [r, start]
        for c in thisWithList(start, for: start) {
            addPrimaryScores(c.primary, into: &work, colocation: c, factor: Float(c.score) / Float(Score.infinity),
                             visiting: &visiting)
        }
        return work
    }

    private func anyAvailable(_ t: NodeScores) -> Bool {
        t.scores.contains { available($0.key) && $0.value >= 0 }
    }

    private func addPrimaryScores(_ source: Int, into nodes: inout NodeScores, colocation c: Colocation, factor: Float,
                                  visiting: inout Set<Int>) {
        guard visiting.insert(source).inserted else { return }
        defer { visiting.remove(source) }
        var source = source
        if ws.resources[source].variant == .group {
            guard let first = ws.resources[source].children.first, visiting.insert(first).inserted else { return }
            source = first
        }
        defer { visiting.remove(source) }
        var work = nodes
        let src = tables[source] ?? NodeScores()
        for n in work.scores.keys {
            let value = attribute(n, c.nodeAttribute)?.lowercased()
            var best = -Score.infinity
            for (m, s) in src.scores where s > best && available(m) && attribute(m, c.nodeAttribute)?.lowercased() == value {
                best = s
            }
            if factor < 0 && best < 0 {
                let allowedOnOne = (tables[c.dependent] ?? NodeScores()).scores.values.filter { $0 >= 0 }.count == 1
                if stickiness(c.primary) >= -best || !c.influence || !allowedOnOne { continue }
            }
            var delta = Int((factor * Float(best)).rounded(.toNearestOrAwayFromZero))
            if delta == 0 && best != 0 { delta = factor > 0 ? 1 : (factor < 0 ? -1 : 0) }
            work[n] = Score.add(delta, work[n]!)
        }
        guard anyAvailable(work) else { return }
        for c2 in thisWithList(source, for: source) {
            addPrimaryScores(c2.primary, into: &work, colocation: c2, factor: factor * Float(c2.score) / Float(Score.infinity),
                             visiting: &visiting)
        }
        nodes = work
    }
}

// MARK: Pacemaker's hash-table order

extension Utilization {
    /// Node names in the order a GLib hash table keyed by node id (filled in name order)
    /// visits them. Pacemaker breaks some ties by that order ("the first one found").
    static func hashOrder(_ names: [String], ids: [String: String]) -> [String] {
        let sorted = names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var shift = 3
        var slots: [(hash: UInt32, name: String)?] = []
        func strHash(_ s: String) -> UInt32 {
            var h: UInt32 = 5381
            for c in s.utf8 { h = (h &<< 5) &+ h &+ UInt32(bitPattern: Int32(Int8(bitPattern: c))) }
            return h
        }
        let primes: [UInt32] = [1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521]
        func insert(_ entry: (hash: UInt32, name: String), into table: inout [(hash: UInt32, name: String)?], shift: Int) {
            let size = 1 << shift
            let mod = shift < primes.count ? primes[shift] : UInt32(size - 1)
            var index = Int((entry.hash &* 11) % mod)
            var step = 0
            while table[index] != nil {
                step += 1
                index = (index + step) & (size - 1)
            }
            table[index] = entry
        }
        slots = Array(repeating: nil, count: 1 << shift)
        var count = 0
        for name in sorted {
            var h = strHash(ids[name] ?? name)
            if h < 2 { h = 2 }
            insert((h, name), into: &slots, shift: shift)
            count += 1
            if slots.count <= count + count / 16 {
                // Grow: about 4/3 of the entries, rounded up to a power of two.
                var n = count * 4 / 3
                var s = 0
                while n > 0 { n >>= 1; s += 1 }
                shift = max(3, s)
                var grown: [(hash: UInt32, name: String)?] = Array(repeating: nil, count: 1 << shift)
                for e in slots.compactMap({ $0 }) { insert(e, into: &grown, shift: shift) }
                slots = grown
            }
        }
        return slots.compactMap { $0?.name }
    }
}

// MARK: load_stopped points of the transition graph

/// The `load_stopped_<node>` pseudo-actions: with a strategy other than `default`, each
/// managed primitive that needs capacity is stopped on its current nodes before that node's
/// point, and is started (or migrated) to a node only after that node's point.
struct LoadPoints {
    struct Entry {
        var resource: Int
        var current: [String]
        var allowed: [String]
    }

    /// The nodes with a point, in the order the points are created.
    var nodes: [String] = []
    var entries: [Entry] = []

    init(_ ws: WorkingSet, _ a: Assignment) {
        guard a.utilization.isActive else { return }
        var seen = Set<String>()
        func walk(_ i: Int) {
            let r = ws.resources[i]
            guard r.isPrimitive else {
                for c in r.children { walk(c) }
                // A bundle's containers carry what its resource needs.
                for rep in ws.bundleReplicas[i] ?? [] where !r.children.contains(rep.container) { walk(rep.container) }
                return
            }
            guard r.managed, a.utilization.required[i] != nil else { return }
            // In a symmetric cluster every node is allowed to begin with (bundle nodes too,
            // though banned); otherwise those the constraints name.
            let allowed = (ws.options.symmetricCluster ? ws.nodes.map(\.name) : a.initialAllowed[i] ?? [])
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            let entry = Entry(resource: i, current: r.activeOn, allowed: allowed)
            for n in entry.current + entry.allowed where seen.insert(n).inserted { nodes.append(n) }
            entries.append(entry)
        }
        for top in ws.topLevel { walk(top) }
    }
}
