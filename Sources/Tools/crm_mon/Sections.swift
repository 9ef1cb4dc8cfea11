import Foundation
import CIB
import PolicyEngine

/// The sections crm_mon prints, as Pacemaker 2.1.5 chooses them: a default set, changed by
/// `--include`/`--exclude` (and the options that stand for them: -A, -f, -o, -t, -c, -L, -D,
/// -m, -Q) from left to right.
struct MonitorSections: OptionSet, Sendable {
    let rawValue: UInt32
    static let stack = MonitorSections(rawValue: 1 << 0)
    static let dc = MonitorSections(rawValue: 1 << 1)
    static let times = MonitorSections(rawValue: 1 << 2)
    static let counts = MonitorSections(rawValue: 1 << 3)
    static let options = MonitorSections(rawValue: 1 << 4)
    static let nodes = MonitorSections(rawValue: 1 << 5)
    static let resources = MonitorSections(rawValue: 1 << 6)
    static let attributes = MonitorSections(rawValue: 1 << 7)
    static let failcounts = MonitorSections(rawValue: 1 << 8)
    static let operations = MonitorSections(rawValue: 1 << 9)
    static let fenceFailed = MonitorSections(rawValue: 1 << 10)
    static let fencePending = MonitorSections(rawValue: 1 << 11)
    static let fenceWorked = MonitorSections(rawValue: 1 << 12)
    static let tickets = MonitorSections(rawValue: 1 << 13)
    static let bans = MonitorSections(rawValue: 1 << 14)
    static let failures = MonitorSections(rawValue: 1 << 15)
    static let maintMode = MonitorSections(rawValue: 1 << 16)

    static let fencing: MonitorSections = [.fenceFailed, .fencePending, .fenceWorked]
    static let summary: MonitorSections = [.stack, .dc, .times, .counts, .maintMode]
    /// `all` for text: everything but the cluster options (as Pacemaker's text output).
    static let allText = MonitorSections(rawValue: ~MonitorSections.options.rawValue)
    static let all: MonitorSections = [.summary, .options, .nodes, .resources, .attributes, .failcounts,
                                       .operations, .fencing, .tickets, .bans, .failures]
    static let defaultText: MonitorSections = [.summary, .nodes, .resources, .failures]

    static let names: [(String, MonitorSections)] = [
        ("attributes", .attributes), ("bans", .bans), ("counts", .counts), ("dc", .dc), ("failcounts", .failcounts),
        ("failures", .failures), ("fencing", .fencing), ("fencing-failed", .fenceFailed),
        ("fencing-pending", .fencePending), ("fencing-succeeded", .fenceWorked), ("maint-mode", .maintMode),
        ("nodes", .nodes), ("operations", .operations), ("options", .options), ("resources", .resources),
        ("stack", .stack), ("summary", .summary), ("tickets", .tickets), ("times", .times),
    ]

    static let includeHelp = "--include options: all, attributes, bans[:PREFIX], counts, dc, default, failcounts, failures, fencing, fencing-failed, fencing-pending, fencing-succeeded, maint-mode, nodes, none, operations, options, resources, stack, summary, tickets, times"
    static let excludeHelp = "--exclude options: all, attributes, bans, counts, dc, failcounts, failures, fencing, fencing-failed, fencing-pending, fencing-succeeded, maint-mode, nodes, none, operations, options, resources, stack, summary, tickets, times"

    static func bit(_ name: String) -> MonitorSections? {
        names.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }

    /// One step: `--include=LIST` or `--exclude=LIST`; false (with the list's help) for an
    /// unknown name. A `bans:PREFIX` sets the bans' id prefix.
    mutating func apply(include: Bool, _ list: String, all: MonitorSections, defaults: MonitorSections, banPrefix: inout String?) -> Bool {
        for name in list.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            if name == "all" {
                self = include ? all : []
            } else if name == "none" {
                self = include ? [] : all
            } else if include && name.hasPrefix("bans") {
                insert(.bans)
                banPrefix = name.count > 4 && name.dropFirst(4).first == ":" ? String(name.dropFirst(5)) : nil
            } else if include && (name == "default" || name == "defaults") {
                formUnion(defaults)
            } else if let b = Self.bit(name) {
                if include { formUnion(b) } else { subtract(b) }
            } else {
                return false
            }
        }
        return true
    }

    /// The steps the command line asks for, in its order: ("--include", LIST) or
    /// ("--exclude", LIST). `-A`, `-f`, `-o`, `-t`, `-c`, `-L[PREFIX]` and `-D` are includes or
    /// excludes too, as in Pacemaker. Arguments as normalizedArguments leaves them.
    static func steps(_ args: [String]) -> [(include: Bool, list: String)] {
        var out: [(Bool, String)] = []
        let long: [String: (Bool, String)] = [
            "--show-node-attributes": (true, "attributes"), "--failcounts": (true, "failcounts"),
            "--operations": (true, "failcounts,operations"), "--timing-details": (true, "operations"),
            "--tickets": (true, "tickets"), "--neg-locations": (true, "bans"), "--hide-headers": (false, "summary"),
        ]
        let short: [Character: (Bool, String)] = [
            "A": (true, "attributes"), "f": (true, "failcounts"), "o": (true, "failcounts,operations"),
            "t": (true, "operations"), "c": (true, "tickets"), "L": (true, "bans"), "D": (false, "summary"),
        ]
        // Options of ours that take a value (the next argument when not attached).
        let valued: Set<String> = ["--output-as", "--interval", "--node", "--resource", "--fence-history", "--include", "--exclude"]
        var i = 0
        while i < args.count {
            let a = args[i]
            i += 1
            if a == "--" { break }
            if a.hasPrefix("--") {
                let name = a.split(separator: "=", maxSplits: 1).first.map(String.init) ?? a
                let value: String? = a.contains("=") ? String(a.drop { $0 != "=" }.dropFirst()) : nil
                if name == "--include" || name == "--exclude" {
                    let v = value ?? (i < args.count ? args[i] : "")
                    if value == nil { i += 1 }
                    out.append((name == "--include", v))
                } else if name == "--neg-locations", let v = value {
                    out.append((true, "bans:" + v))
                } else if let step = long[name] {
                    out.append(step)
                } else if valued.contains(name), value == nil {
                    i += 1
                }
            } else if a.hasPrefix("-"), a.count > 1 {
                var chars = Array(a.dropFirst())
                while !chars.isEmpty {
                    let c = chars.removeFirst()
                    if c == "I" || c == "U" {
                        let v = chars.isEmpty ? (i < args.count ? args[i] : "") : String(chars)
                        if chars.isEmpty { i += 1 }
                        out.append((c == "I", v.hasPrefix("=") ? String(v.dropFirst()) : v))
                        break
                    } else if c == "i" {
                        if chars.isEmpty { i += 1 }
                        break
                    } else if let step = short[c] {
                        out.append(step)
                    }
                }
            }
        }
        return out
    }
}

/// crm_mon's --node and --resource, resolved as Pacemaker does: a node's name (any case) or a
/// tag of nodes; a resource's id or a tag of resources. A name that is neither matches
/// nothing; none (or `*`) matches all.
struct MonitorFilter {
    /// Lowercased node names; nil: all.
    var nodes: Set<String>?
    /// Resource ids; nil: all.
    var resources: Set<String>?

    static let none = MonitorFilter(nodes: nil, resources: nil)

    init(nodes: Set<String>?, resources: Set<String>?) {
        self.nodes = nodes
        self.resources = resources
    }

    init(_ cib: CIB, _ ws: WorkingSet, node: String?, resource: String?) {
        let tags = cib.root.firstElement(named: "configuration")?.firstElement(named: "tags")?.elements(named: "tag") ?? []
        func tagged(_ id: String) -> [String] {
            tags.first { $0.id == id }?.elements(named: "obj_ref").compactMap(\.id) ?? []
        }
        if let node, node != "*" {
            if ws.nodes.contains(where: { $0.name.lowercased() == node.lowercased() }) {
                nodes = [node.lowercased()]
            } else {
                let refs = Set(tagged(node))
                nodes = Set(ws.nodes.filter { refs.contains($0.id) || refs.contains($0.name) }.map { $0.name.lowercased() })
            }
        }
        if let resource, resource != "*" {
            if ws.resources.contains(where: { $0.id == resource }) {
                resources = [resource]
            } else if let r = ws.resources.first(where: { $0.configuredID == resource }) {
                // A clone's child by its configured name: the first instance, which in a
                // unique clone is that instance alone.
                var unique = false
                var up = r.parent
                while let k = up {
                    if case .clone(_, let u) = ws.resources[k].variant { unique = u }
                    up = ws.resources[k].parent
                }
                resources = [unique ? r.id : resource]
            } else {
                resources = Set(tagged(resource))
            }
        }
    }

    func passes(node name: String) -> Bool { nodes?.contains(name.lowercased()) ?? true }

    /// A history's resource id (`rsc:N` of an anonymous clone passes as `rsc`).
    func passes(resource id: String) -> Bool {
        guard let resources else { return true }
        return resources.contains(id) || resources.contains(String(id.split(separator: ":").first ?? ""))
    }
}
