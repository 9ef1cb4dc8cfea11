import CIB

/// What a rule is evaluated against: a node's attributes, the time, and (for resource and
/// operation defaults) the resource or operation in question.
public struct RuleContext: Sendable {
    public var nodeAttributes: [String: String] = [:]
    /// Seconds since the epoch.
    public var now: Int
    public var role: Role?
    public var resourceAgent: ResourceAgentName?
    public var operation: (name: String, intervalMS: Int)?
    public var resourceParameters: [String: String] = [:]
    public var resourceMeta: [String: String] = [:]

    public init(now: Int, nodeAttributes: [String: String] = [:]) {
        self.now = now
        self.nodeAttributes = nodeAttributes
    }
}

/// Evaluation of Pacemaker rules: attribute expressions, date expressions (ranges, durations
/// and date specs), resource and operation expressions, nested rules with and/or.
public enum RuleEvaluator {
    /// Whether a `<rule>` passes. `rules` gives the rules an `id-ref` may name.
    public static func passes(_ rule: XElement, _ ctx: RuleContext, rules: [String: XElement] = [:]) -> Bool {
        var rule = rule
        if let ref = rule["id-ref"], let target = rules[ref] { rule = target }
        if let role = rule["role"], let r = Role(name: role), let current = ctx.role, r != current { return false }
        let isOr = rule["boolean-op"]?.lowercased() == "or"
        var any = false
        for e in rule.elements {
            let result: Bool
            switch e.name {
            case "expression": result = attributeExpression(e, ctx)
            case "date_expression": result = dateExpression(e, ctx.now)
            case "rule": result = passes(e, ctx, rules: rules)
            case "rsc_expression": result = resourceExpression(e, ctx)
            case "op_expression": result = operationExpression(e, ctx)
            default: continue
            }
            any = true
            if isOr && result { return true }
            if !isOr && !result { return false }
        }
        // An empty rule passes; an "or" of expressions none of which held fails.
        return isOr ? !any : true
    }

    static func attributeExpression(_ e: XElement, _ ctx: RuleContext) -> Bool {
        guard let attribute = e["attribute"], let op = e["operation"]?.lowercased() else { return false }
        let actual = ctx.nodeAttributes[attribute]
        switch op {
        case "defined": return actual != nil
        case "not_defined": return actual == nil
        default: break
        }
        var expected = e["value"]
        switch e["value-source"] {
        case "param": expected = expected.flatMap { ctx.resourceParameters[$0] }
        case "meta": expected = expected.flatMap { ctx.resourceMeta[$0] }
        default: break
        }
        guard let actual, let expected else {
            // A missing side (no such node attribute, or no such parameter for value-source):
            // as Pacemaker, two missing sides are equal and one missing side is unequal to the
            // other; any ordering comparison with a missing side is false.
            let order = actual == nil && expected == nil ? 0 : 1
            return op == "eq" || op == "ne" ? test(op, order) : false
        }
        let type = e["type"]?.lowercased() ?? inferType(op, actual, expected)
        let order: Int
        switch type {
        case "integer":
            // Parsed as C's strtoll does: the leading integer, whatever follows ("3.6" is 3).
            guard let a = leadingInteger(actual), let b = leadingInteger(expected) else {
                return compareStrings(op, actual, expected)
            }
            order = a < b ? -1 : (a > b ? 1 : 0)
        case "number":
            guard let a = Double(actual.trimmingSpaces), let b = Double(expected.trimmingSpaces) else {
                return compareStrings(op, actual, expected)
            }
            order = a < b ? -1 : (a > b ? 1 : 0)
        case "version":
            order = compareVersions(actual, expected)
        default:
            return compareStrings(op, actual, expected)
        }
        return test(op, order)
    }

    /// The integer a text starts with (after blanks, with an optional sign), if any.
    static func leadingInteger(_ text: String) -> Int? {
        var chars = Substring(text.trimmingSpaces)
        var sign = ""
        if let f = chars.first, f == "-" || f == "+" { sign = f == "-" ? "-" : ""; chars = chars.dropFirst() }
        let digits = chars.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { return nil }
        return Int(sign + digits) ?? (sign == "-" ? Int.min : Int.max)
    }

    static func inferType(_ op: String, _ a: String, _ b: String) -> String {
        if ["lt", "gt", "lte", "gte"].contains(op), Double(a.trimmingSpaces) != nil, Double(b.trimmingSpaces) != nil {
            return a.contains(".") || b.contains(".") ? "number" : "integer"
        }
        return "string"
    }

    static func compareStrings(_ op: String, _ a: String, _ b: String) -> Bool {
        let x = a.lowercased(), y = b.lowercased()
        return test(op, x < y ? -1 : (x > y ? 1 : 0))
    }

    static func test(_ op: String, _ order: Int) -> Bool {
        switch op {
        case "lt": order < 0
        case "gt": order > 0
        case "lte": order <= 0
        case "gte": order >= 0
        case "eq": order == 0
        case "ne": order != 0
        default: false
        }
    }

    static func compareVersions(_ a: String, _ b: String) -> Int {
        let x = a.split(separator: ".").map { Int($0) ?? 0 }
        let y = b.split(separator: ".").map { Int($0) ?? 0 }
        for i in 0..<max(x.count, y.count) {
            let p = i < x.count ? x[i] : 0, q = i < y.count ? y[i] : 0
            if p != q { return p < q ? -1 : 1 }
        }
        return 0
    }

    static func resourceExpression(_ e: XElement, _ ctx: RuleContext) -> Bool {
        guard let agent = ctx.resourceAgent else { return false }
        if let c = e["class"], c != agent.standard { return false }
        if let p = e["provider"], p != agent.provider { return false }
        if let t = e["type"], t != agent.type { return false }
        return true
    }

    static func operationExpression(_ e: XElement, _ ctx: RuleContext) -> Bool {
        guard let op = ctx.operation else { return false }
        if let n = e["name"], n != op.name { return false }
        if let i = e["interval"], CIBValue.milliseconds(i) != op.intervalMS { return false }
        return true
    }

    // MARK: dates

    static func dateExpression(_ e: XElement, _ now: Int) -> Bool {
        let op = e["operation"]?.lowercased() ?? "in_range"
        let start = e["start"].flatMap(ISO8601Time.parse)
        var end = e["end"].flatMap(ISO8601Time.parse)
        switch op {
        case "lt":
            guard let end else { return false }
            return now < end
        case "gt":
            guard let start else { return false }
            return now > start
        case "in_range":
            if end == nil, let start, let d = e.firstElement(named: "duration") { end = addDuration(d, to: start) }
            if let start, now < start { return false }
            if let end, now > end { return false }
            return start != nil || end != nil
        case "date_spec":
            guard let spec = e.firstElement(named: "date_spec") else { return false }
            return dateSpec(spec, now)
        default:
            return false
        }
    }

    /// Adds a `<duration years= months= weeks= days= hours= minutes= seconds=>` to a time.
    static func addDuration(_ d: XElement, to t: Int) -> Int {
        var c = CivilTime(t)
        c.year += Int(d["years"] ?? "0") ?? 0
        let months = Int(d["months"] ?? "0") ?? 0
        let totalMonths = c.month - 1 + months
        c.year += totalMonths >= 0 ? totalMonths / 12 : (totalMonths - 11) / 12
        c.month = ((totalMonths % 12) + 12) % 12 + 1
        var seconds = c.epoch
        seconds += (Int(d["weeks"] ?? "0") ?? 0) * 7 * 86_400
        seconds += (Int(d["days"] ?? "0") ?? 0) * 86_400
        seconds += (Int(d["hours"] ?? "0") ?? 0) * 3600
        seconds += (Int(d["minutes"] ?? "0") ?? 0) * 60
        seconds += Int(d["seconds"] ?? "0") ?? 0
        return seconds
    }

    /// A `<date_spec>`: every field given must contain the current value ("9-16", "1,3").
    static func dateSpec(_ spec: XElement, _ now: Int) -> Bool {
        let c = CivilTime(now)
        let fields: [(String, Int)] = [
            ("seconds", c.second), ("minutes", c.minute), ("hours", c.hour), ("monthdays", c.day),
            ("weekdays", c.weekday), ("yeardays", c.yearday), ("months", c.month), ("weeks", c.isoWeek),
            ("years", c.year), ("weekyears", c.isoWeekYear), ("moon", c.moonPhase),
        ]
        for (name, value) in fields {
            guard let range = spec[name] else { continue }
            if !inRanges(range, value) { return false }
        }
        return true
    }

    static func inRanges(_ text: String, _ value: Int) -> Bool {
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-", maxSplits: 1).map { Int(String($0).trimmingSpaces) }
            if bounds.count == 1, let a = bounds[0], value == a { return true }
            if bounds.count == 2, let a = bounds[0], let b = bounds[1], value >= a && value <= b { return true }
        }
        return false
    }
}

/// A UTC calendar view of an epoch time.
struct CivilTime {
    var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int

    init(_ t: Int) {
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = t - days * 86_400
        hour = secs / 3600
        minute = secs % 3600 / 60
        second = secs % 60
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    var epoch: Int {
        let maxDay = [31, isLeap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return ISO8601Time.daysFromCivil(year, month, min(day, maxDay)) * 86_400 + hour * 3600 + minute * 60 + second
    }

    var isLeap: Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }
    var daysSinceEpoch: Int { ISO8601Time.daysFromCivil(year, month, day) }
    /// 1 = Monday ... 7 = Sunday.
    var weekday: Int { ((daysSinceEpoch + 3) % 7 + 7) % 7 + 1 }
    var yearday: Int { daysSinceEpoch - ISO8601Time.daysFromCivil(year, 1, 1) + 1 }
    var isoWeekYear: Int {
        let thursday = daysSinceEpoch - weekday + 4
        return CivilTime(thursday * 86_400).year
    }
    var isoWeek: Int {
        let thursday = daysSinceEpoch - weekday + 4
        let y = CivilTime(thursday * 86_400).year
        return (thursday - ISO8601Time.daysFromCivil(y, 1, 1)) / 7 + 1
    }
    /// 0 (new) to 7, as Pacemaker's date_spec moon field counts.
    var moonPhase: Int {
        let d = Double(daysSinceEpoch) - 6.8
        let cycle = 29.530588853
        let phase = (d.truncatingRemainder(dividingBy: cycle) + cycle).truncatingRemainder(dividingBy: cycle)
        return Int(phase / cycle * 8) % 8
    }
}
