import CIB

/// Score arithmetic with Pacemaker's infinities: -INFINITY wins over everything, then
/// +INFINITY; finite sums saturate at ±1 000 000.
public enum Score {
    public static let infinity = CIBValue.infinity

    public static func add(_ a: Int, _ b: Int) -> Int {
        if a <= -infinity || b <= -infinity { return -infinity }
        if a >= infinity || b >= infinity { return infinity }
        return max(-infinity, min(infinity, a + b))
    }

    /// "INFINITY", "-INFINITY" or the number, as crm_simulate prints scores.
    public static func text(_ s: Int) -> String {
        if s >= infinity { return "INFINITY" }
        if s <= -infinity { return "-INFINITY" }
        return String(s)
    }
}

/// Node scores for one resource: the nodes it may run on and how much it wants each.
/// A node absent from the table is not allowed at all (asymmetric clusters).
public struct NodeScores: Sendable, Equatable {
    public var scores: [String: Int] = [:]

    public subscript(node: String) -> Int? {
        get { scores[node] }
        set { scores[node] = newValue }
    }

    /// Adds to a node's score, allowing the node if it was not.
    public mutating func add(_ value: Int, to node: String) {
        scores[node] = Score.add(scores[node] ?? 0, value)
    }

    /// Adds to the score of a node only if it is allowed already.
    public mutating func addIfAllowed(_ value: Int, to node: String) {
        if let s = scores[node] { scores[node] = Score.add(s, value) }
    }
}

/// Failcounts from the node attributes (`fail-count-RSC#OP_INTERVAL`, or the older
/// `fail-count-RSC`), with failure-timeout expiry.
enum Failcounts {
    /// The total failcount of a resource (by configured id) on a node.
    static func count(_ resourceID: String, node: SchedulerNode, failureTimeoutSeconds: Int, now: Int) -> Int {
        var total = 0
        let exact = "fail-count-\(resourceID)", prefix = "fail-count-\(resourceID)#"
        for (name, value) in node.attributes {
            guard name == exact || name.hasPrefix(prefix) else { continue }
            total = add(total, name, value, node: node, failureTimeoutSeconds: failureTimeoutSeconds, now: now)
        }
        return total
    }

    /// `total` plus one fail-count attribute, unless its failure has expired.
    static func add(_ total: Int, _ name: String, _ value: String, node: SchedulerNode, failureTimeoutSeconds: Int, now: Int) -> Int {
        if failureTimeoutSeconds > 0 {
            let suffix = name.dropFirst("fail-count-".count)
            let last = node.attributes["last-failure-\(suffix)"].flatMap { Int($0) } ?? 0
            if last > 0 && last + failureTimeoutSeconds <= now { return total }
        }
        return Score.add(total, CIBValue.score(value) ?? 0)
    }
}

/// The fail-count attributes of each node (by position) under the resource id they name,
/// in the order `Failcounts.count` reads them: counting every resource on every node then
/// reads only the node's attributes for that resource.
struct FailcountIndex {
    private let byNode: [[String: [(name: String, value: String)]]]

    init(_ nodes: [SchedulerNode]) {
        byNode = nodes.map { n in
            var entries: [String: [(name: String, value: String)]] = [:]
            for (name, value) in n.attributes where name.hasPrefix("fail-count-") {
                let rest = name.dropFirst("fail-count-".count)
                let id = rest.firstIndex(of: "#").map { String(rest[..<$0]) } ?? String(rest)
                entries[id, default: []].append((name, value))
            }
            return entries
        }
    }

    /// `Failcounts.count` for the node at `position` of the nodes indexed.
    func count(_ resourceID: String, position: Int, node: SchedulerNode, failureTimeoutSeconds: Int, now: Int) -> Int {
        // (An id with "#" in it is no XML id; read such a one the long way.)
        guard position < byNode.count, !resourceID.contains("#") else {
            return Failcounts.count(resourceID, node: node, failureTimeoutSeconds: failureTimeoutSeconds, now: now)
        }
        var total = 0
        for (name, value) in byNode[position][resourceID] ?? [] {
            total = Failcounts.add(total, name, value, node: node, failureTimeoutSeconds: failureTimeoutSeconds, now: now)
        }
        return total
    }
}

extension Failcounts {
    /// A resource's fail count on a node as Pacemaker sums it: every `fail-count-NAME#OP_INTERVAL`
    /// (or legacy `fail-count-NAME`) attribute, where NAME is the resource's id, with any
    /// instance number for an anonymous clone's instance; and the newest `last-failure-`.
    /// `effective`: zero once the newest failure is older than the failure timeout.
    static func total(_ r: SchedulerResource, unique: Bool, node: SchedulerNode, now: Int, effective: Bool) -> Int {
        let timeout = (r.meta["failure-timeout"].flatMap(CIBValue.milliseconds) ?? 0) / 1000
        return total(r, unique: unique, node: node, now: now, effective: effective, timeoutSeconds: timeout)
    }

    /// The same, with the failure timeout given (a remote connection's failures expire after
    /// its reconnect interval).
    static func total(_ r: SchedulerResource, unique: Bool, node: SchedulerNode, now: Int, effective: Bool, timeoutSeconds timeout: Int) -> Int {
        let name = unique ? r.id : r.configuredID
        func matches(_ key: String, prefix: String) -> Bool {
            guard key.hasPrefix(prefix + name) else { return false }
            var rest = Substring(key.dropFirst(prefix.count + name.count))
            if !unique, rest.first == ":" {
                let digits = rest.dropFirst().prefix { $0.isNumber }
                guard !digits.isEmpty else { return false }
                rest = rest.dropFirst(1 + digits.count)
            }
            if rest.isEmpty { return true }
            // "#<op>_<interval>"
            guard rest.first == "#", let us = rest.lastIndex(of: "_"), us > rest.index(after: rest.startIndex) else { return false }
            let interval = rest[rest.index(after: us)...]
            return !interval.isEmpty && interval.allSatisfy(\.isNumber)
        }
        var count = 0, last = 0
        for (key, value) in node.attributes {
            if matches(key, prefix: "fail-count-") {
                count = Score.add(count, CIBValue.score(value) ?? 0)
            } else if matches(key, prefix: "last-failure-") {
                last = max(last, Int(value) ?? 0)
            }
        }
        if effective, count > 0, last > 0, timeout > 0, now > last + timeout { return 0 }
        return count
    }
}
