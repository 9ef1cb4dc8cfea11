import CIB
import Foundation

/// The constraints `crm_resource --move/--ban/--clear` write and remove, with the ids, roles and
/// lifetimes Pacemaker 2.1.5 gives them (`cli-prefer-RSC`, `cli-ban-RSC-on-NODE`).
public enum CLIConstraint {
    /// An ISO 8601 duration (`PT1H`, `P1D`, `P1Y2M3DT4H5M6S`, `P2W`), as calendar components.
    public struct Duration: Equatable, Sendable {
        public var years = 0, months = 0, days = 0, hours = 0, minutes = 0, seconds = 0

        public init(years: Int = 0, months: Int = 0, days: Int = 0, hours: Int = 0, minutes: Int = 0, seconds: Int = 0) {
            self.years = years; self.months = months; self.days = days
            self.hours = hours; self.minutes = minutes; self.seconds = seconds
        }
    }

    /// Parses an ISO 8601 duration; nil when it is not one.
    public static func parseDuration(_ text: String) -> Duration? {
        var s = Substring(text.trimmingCharacters(in: .whitespaces))
        guard s.first == "P" || s.first == "p" else { return nil }
        s = s.dropFirst()
        var d = Duration()
        var inTime = false
        var number = ""
        var any = false
        for c in s {
            if c.isNumber { number.append(c); continue }
            if c == "T" || c == "t" {
                guard number.isEmpty, !inTime else { return nil }
                inTime = true
                continue
            }
            guard let n = Int(number) else { return nil }
            number = ""
            any = true
            switch (c.uppercased(), inTime) {
            case ("Y", false): d.years += n
            case ("M", false): d.months += n
            case ("W", false): d.days += 7 * n
            case ("D", false): d.days += n
            case ("H", true): d.hours += n
            case ("M", true): d.minutes += n
            case ("S", true): d.seconds += n
            default: return nil
            }
        }
        return number.isEmpty && any ? d : nil
    }

    /// The end of a lifetime as Pacemaker writes it: `2026-11-24 01:21:13Z` in UTC,
    /// `2026-11-24 02:21:13 +01:00` elsewhere. Nil when `spec` is not a duration.
    public static func lifetimeEnd(_ spec: String, now: Date, timeZone: TimeZone = .current) -> String? {
        guard let d = parseDuration(spec) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        var c = DateComponents()
        c.year = d.years; c.month = d.months; c.day = d.days
        c.hour = d.hours; c.minute = d.minutes; c.second = d.seconds
        guard let later = calendar.date(byAdding: c, to: now) else { return nil }
        return format(later, timeZone: timeZone)
    }

    /// `YYYY-MM-DD HH:MM:SSZ` or `... +HH:MM`.
    public static func format(_ date: Date, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let p = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ n: Int?) -> String { String(format: "%02d", n ?? 0) }
        let base = "\(String(format: "%04d", p.year ?? 0))-\(two(p.month))-\(two(p.day)) \(two(p.hour)):\(two(p.minute)):\(two(p.second))"
        let offset = timeZone.secondsFromGMT(for: date)
        if offset == 0 { return base + "Z" }
        let sign = offset < 0 ? "-" : "+"
        let a = abs(offset)
        return base + " \(sign)\(two(a / 3600)):\(two(a % 3600 / 60))"
    }

    /// Parses an end as Pacemaker writes it (and ISO 8601 with a `T`); nil when unreadable.
    public static func parseEnd(_ text: String) -> Date? {
        var s = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "T", with: " ")
        var offset = 0
        if s.hasSuffix("Z") {
            s.removeLast()
        } else if let r = s.range(of: #" ?[+-]\d\d:?\d\d$"#, options: .regularExpression) {
            let tail = s[r].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ":", with: "")
            let sign = tail.hasPrefix("-") ? -1 : 1
            let digits = tail.dropFirst()
            offset = sign * ((Int(digits.prefix(2)) ?? 0) * 3600 + (Int(digits.suffix(2)) ?? 0) * 60)
            s = String(s[..<r.lowerBound])
        }
        let parts = s.split(whereSeparator: { $0 == " " || $0 == "-" || $0 == ":" }).compactMap { Int($0) }
        guard parts.count >= 3 else { return nil }
        var c = DateComponents()
        c.year = parts[0]; c.month = parts[1]; c.day = parts[2]
        c.hour = parts.count > 3 ? parts[3] : 0
        c.minute = parts.count > 4 ? parts[4] : 0
        c.second = parts.count > 5 ? parts[5] : 0
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: offset)!
        return calendar.date(from: c)
    }

    /// The role a constraint is written for.
    static func role(_ promoted: Bool) -> String { promoted ? "Promoted" : "Started" }

    /// `cli-ban-RSC-on-NODE`: -INFINITY on the node, with a rule when it has a lifetime.
    public static func ban(resource: String, node: String, end: String?, promoted: Bool) -> XElement {
        let id = "cli-ban-\(resource)-on-\(node)"
        guard let end else {
            return XElement("rsc_location", ["id": id, "rsc": resource, "role": role(promoted), "node": node, "score": "-INFINITY"])
        }
        return XElement("rsc_location", ["id": id, "rsc": resource, "role": role(promoted)], children: [
            XElement("rule", ["id": "\(id)-rule", "score": "-INFINITY", "boolean-op": "and"], children: [
                XElement("expression", ["id": "\(id)-expr", "attribute": "#uname", "operation": "eq", "value": node, "type": "string"]),
                XElement("date_expression", ["id": "\(id)-lifetime", "operation": "lt", "end": end]),
            ]),
        ])
    }

    /// `cli-prefer-RSC`: INFINITY on the node, with a rule when it has a lifetime.
    public static func prefer(resource: String, node: String, end: String?, promoted: Bool) -> XElement {
        let id = "cli-prefer-\(resource)"
        guard let end else {
            return XElement("rsc_location", ["id": id, "rsc": resource, "role": role(promoted), "node": node, "score": "INFINITY"])
        }
        return XElement("rsc_location", ["id": id, "rsc": resource, "role": role(promoted)], children: [
            XElement("rule", ["id": "cli-prefer-rule-\(resource)", "score": "INFINITY", "boolean-op": "and"], children: [
                XElement("expression", ["id": "cli-prefer-expr-\(resource)", "attribute": "#uname", "operation": "eq", "value": node, "type": "string"]),
                XElement("date_expression", ["id": "cli-prefer-lifetime-end-\(resource)", "operation": "lt", "end": end]),
            ]),
        ])
    }

    /// The warning Pacemaker prints before it writes a ban.
    public static func banWarning(resource: String, node: String, promoted: Bool) -> String {
        "WARNING: Creating rsc_location constraint 'cli-ban-\(resource)-on-\(node)' with a score of -INFINITY for resource \(resource) on \(node).\n"
            + "\tThis will prevent \(resource) from \(promoted ? "being promoted" : "running") on \(node) until the constraint is removed using the clear option or by editing the CIB with an appropriate tool\n"
            + "\tThis will be the case even if \(node) is the last node in the cluster"
    }
}

extension CIB {
    /// Every element of the constraints section (empty when there is none).
    public var constraintElements: [XElement] {
        sectionPath(.constraints).flatMap { root.element(at: $0) }?.elements ?? []
    }

    /// The ids of every rsc_location, sorted as strcmp sorts them (for "Removing constraint").
    public var locationConstraintIDs: [String] {
        constraintElements.filter { $0.name == "rsc_location" }.compactMap(\.id).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// Adds a constraint, or replaces the one with its id (a CIB update of the section).
    public mutating func putConstraint(_ constraint: XElement) {
        let path = ensureSection(.constraints)
        root.modifyElement(at: path) { section in
            if section.elements.contains(where: { $0.name == constraint.name && $0.id == constraint.id }) {
                section.replaceElements(where: { $0.name == constraint.name && $0.id == constraint.id }, with: [constraint])
            } else {
                section.append(constraint)
            }
        }
        bumpVersion(for: .configuration)
    }

    /// Removes the constraints for which `predicate` holds; returns how many went.
    @discardableResult
    public mutating func removeConstraints(where predicate: (XElement) -> Bool) -> Int {
        guard let path = sectionPath(.constraints) else { return 0 }
        var n = 0
        root.modifyElement(at: path) { n = $0.removeElements(where: predicate) }
        if n > 0 { bumpVersion(for: .configuration) }
        return n
    }

    /// What `crm_resource --clear -N NODE` removes for one node: the `cli-prefer-RSC` whose rule
    /// names the node, the `cli-ban-RSC-on-NODE` (when `bans`), and the short-form
    /// `cli-prefer-RSC` on that node (on any node with `force`).
    public mutating func clearCLIConstraints(resource: String, node: String, bans: Bool, force: Bool) {
        let prefer = "cli-prefer-\(resource)"
        removeConstraints { e in
            guard e.name == "rsc_location" else { return false }
            if e.id == prefer, let rule = e.firstElement(named: "rule"), rule.id == "cli-prefer-rule-\(resource)",
               rule.elements(named: "expression").contains(where: { $0["attribute"] == "#uname" && $0["value"] == node }) {
                return true
            }
            if bans && e.id == "cli-ban-\(resource)-on-\(node)" { return true }
            if e.id == prefer && (force || e["node"] == node) { return true }
            return false
        }
    }

    /// `--clear --expired`: the cli- constraints (of a resource, on a node, for the promoted
    /// role, when given) whose lifetime ended before `now`.
    public mutating func clearExpiredCLIConstraints(resource: String?, node: String?, promoted: Bool, now: Date) {
        removeConstraints { e in
            guard e.name == "rsc_location", let id = e.id, id.hasPrefix("cli-ban-") || id.hasPrefix("cli-prefer-") else { return false }
            if let resource, e["rsc"] != resource { return false }
            if promoted && e["role"] != "Promoted" { return false }
            if let node {
                let named = e["node"] == node || e.elements(named: "rule").contains {
                    $0.elements(named: "expression").contains { $0["attribute"] == "#uname" && $0["value"] == node }
                }
                if !named { return false }
            }
            let lifetimeID = id.hasPrefix("cli-ban-") ? "\(id)-lifetime" : "cli-prefer-lifetime-end-\(e["rsc"] ?? "")"
            guard let date = e.descendants().first(where: { $0.name == "date_expression" && $0.id == lifetimeID }),
                  let end = date["end"].flatMap(CLIConstraint.parseEnd) else { return false }
            return now > end
        }
    }
}

/// Resource attributes as `crm_resource -p/-g/-d` read and write them: instance attributes,
/// meta attributes or utilization, in the resource's own sets, with Pacemaker's ids.
public enum ResourceAttributeSet: String, Sendable {
    case instance = "instance_attributes"
    case meta = "meta_attributes"
    case utilization
}

public struct ResourceNVPair: Sendable, Equatable {
    public var resource: String
    public var set: String
    public var id: String
    public var value: String
}

extension CIB {
    /// Child-index path to the configured element with this id under `resources`.
    public func resourcePath(_ id: String) -> [Int]? {
        guard let base = sectionPath(.resources) else { return nil }
        var found: [Int]?
        root.element(at: base)?.walkWithPath { e, path in
            if found == nil, !path.isEmpty, e.id == id, ["primitive", "group", "clone", "master", "bundle"].contains(e.name) {
                found = base + path
            }
        }
        return found
    }

    /// The nvpairs named `name` in the resource's own sets of a kind (optionally one set),
    /// or, with `kind` nil, anywhere under the resource.
    public func resourceAttributes(_ resource: String, kind: ResourceAttributeSet?, set: String? = nil, name: String) -> [ResourceNVPair] {
        guard let path = resourcePath(resource), let r = root.element(at: path) else { return [] }
        var out: [ResourceNVPair] = []
        if let kind {
            for s in r.elements(named: kind.rawValue) where set == nil || s.id == set {
                for p in s.descendants() where p.name == "nvpair" && p["name"] == name {
                    out.append(ResourceNVPair(resource: resource, set: s.id ?? "", id: p.id ?? "", value: p["value"] ?? ""))
                }
            }
        } else {
            for p in r.descendants() where p.name == "nvpair" && p["name"] == name {
                out.append(ResourceNVPair(resource: resource, set: "", id: p.id ?? "", value: p["value"] ?? ""))
            }
        }
        return out
    }

    /// Sets an nvpair in the resource's set of a kind: the existing pair, else a new one in
    /// the named (or first, or a new `RSC-KIND`) set with id `SET-NAME`. Returns the pair's id,
    /// and the set's id when the pair is new.
    @discardableResult
    public mutating func setResourceAttribute(_ resource: String, kind: ResourceAttributeSet, set: String?, id: String?, name: String, value: String) throws(CIBError) -> (id: String, newSet: String?) {
        guard let path = resourcePath(resource) else { throw CIBError(.notFound, "no resource \(resource) in the configuration") }
        var result: (String, String?) = ("", nil)
        root.modifyElement(at: path) { r in
            // The existing pair, when there is one.
            var done = false
            r.updateElements { s in
                guard !done, s.name == kind.rawValue, set == nil || s.id == set else { return }
                s.updateElements { p in
                    if !done, p.name == "nvpair", p["name"] == name, id == nil || p.id == id {
                        p["value"] = value
                        result = (p.id ?? "", nil)
                        done = true
                    }
                }
            }
            if done { return }
            let setID = set ?? "\(resource)-\(kind.rawValue)"
            let pairID = id ?? "\(setID)-\(name)"
            let pair = XElement("nvpair", ["id": pairID, "name": name, "value": value])
            var added = false
            r.updateElements { s in
                if !added, s.name == kind.rawValue, s.id == setID {
                    s.append(pair)
                    added = true
                }
            }
            if !added { r.append(XElement(kind.rawValue, ["id": setID], children: [pair])) }
            result = (pairID, setID)
        }
        bumpVersion(for: .configuration)
        return result
    }

    /// Deletes the nvpair with this id from the resource; true when there was one.
    @discardableResult
    public mutating func deleteResourceAttribute(_ resource: String, pairID: String) -> Bool {
        guard let path = resourcePath(resource) else { return false }
        var removed = 0
        root.modifyElement(at: path) { r in
            r.updateElements { s in
                guard ["instance_attributes", "meta_attributes", "utilization"].contains(s.name) else { return }
                removed += s.removeElements { $0.name == "nvpair" && $0.id == pairID }
            }
        }
        if removed > 0 { bumpVersion(for: .configuration) }
        return removed > 0
    }
}

/// What `crm_resource --cleanup/--refresh` does to the status section, as the controller
/// does it on Pacemaker's behalf: the resource's history on a node goes, and so do its
/// failcounts (`fail-count-RSC#OP_INTERVAL`, `last-failure-...`).
extension CIB {
    /// Removes a resource's history (`lrm_resource` ids given) from a node; true when there was some.
    @discardableResult
    public mutating func deleteResourceHistory(_ ids: Set<String>, node: String) -> Bool {
        guard let statusPath = sectionPath(.status), let status = root.element(at: statusPath) else { return false }
        var removed = 0
        for (k, child) in status.children.enumerated() {
            guard case .element(let state) = child, state.name == "node_state", state["uname"] == node || state.id == node else { continue }
            root.modifyElement(at: statusPath + [k]) { s in
                s.updateElements { lrm in
                    guard lrm.name == "lrm" else { return }
                    lrm.updateElements { list in
                        guard list.name == "lrm_resources" else { return }
                        removed += list.removeElements { $0.name == "lrm_resource" && ids.contains($0.id ?? "") }
                    }
                }
            }
        }
        if removed > 0 { bumpVersion(for: .status) }
        return removed > 0
    }

    /// Removes a resource's failcounts on a node: all, or one operation's (`--operation`,
    /// `--interval`, in milliseconds). Returns how many attributes went.
    @discardableResult
    public mutating func deleteFailAttributes(resource: String, node: String, operation: String? = nil, intervalMS: Int? = nil) -> Int {
        guard let statusPath = sectionPath(.status), let status = root.element(at: statusPath) else { return 0 }
        func matches(_ name: String) -> Bool {
            for prefix in ["fail-count-", "last-failure-"] where name.hasPrefix(prefix) {
                let rest = name.dropFirst(prefix.count)
                let (rsc, op) = rest.firstIndex(of: "#").map { (rest[..<$0], Optional(rest[rest.index(after: $0)...])) } ?? (rest, nil)
                guard rsc == resource || rsc.hasPrefix(resource + ":") else { continue }
                guard let operation else { return true }
                return op == "\(operation)_\(intervalMS ?? 0)"
            }
            return false
        }
        var removed = 0
        for (k, child) in status.children.enumerated() {
            guard case .element(let state) = child, state.name == "node_state", state["uname"] == node || state.id == node else { continue }
            root.modifyElement(at: statusPath + [k]) { s in
                s.updateElements { t in
                    guard t.name == "transient_attributes" else { return }
                    t.updateElements { set in
                        guard set.name == "instance_attributes" else { return }
                        removed += set.removeElements { $0.name == "nvpair" && matches($0["name"] ?? "") }
                    }
                }
            }
        }
        if removed > 0 { bumpVersion(for: .status) }
        return removed
    }
}

extension CIB {
    /// `crm_node --remove`: the node's entry in the configuration's nodes section and its
    /// node_state in the status section (by name, or by id when `name` is a number). Returns
    /// how many elements went.
    @discardableResult
    public mutating func removeNode(_ name: String) -> Int {
        var removed = 0
        for section in [CIBSection.nodes, .status] {
            guard let path = sectionPath(section) else { continue }
            root.modifyElement(at: path) { s in
                removed += s.removeElements { e in
                    (e.name == "node" || e.name == "node_state") && (e["uname"] == name || e.id == name)
                }
            }
        }
        if removed > 0 { bumpVersion(for: .configuration) }
        return removed
    }
}
