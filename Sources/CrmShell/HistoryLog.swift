import CIB
import Foundation

/// `crm history` over the node's log: its lines with their times, the transitions the DC's
/// crmd logged, the important events (fencing, failed actions, nodes lost and joined,
/// resources started and stopped, quorum), and the time window, excludes and detail level a
/// session sets. The crm executable reads the log (the node root's pacemaker.log, or the
/// journal through journalctl) and hands its text here.
extension CrmHistory {
    /// What `limit`/`timeframe`, `exclude` and `detail` set for the rest of a session.
    public struct Settings: Sendable, Equatable {
        /// The window's start (seconds since the epoch); nil: the last hour, crmsh's default
        /// for the live cluster.
        public var from: Double?
        /// The window's end; nil: open (up to now and on).
        public var to: Double?
        /// Regular expressions of log lines not to show.
        public var excludes: [String] = []
        /// 0 or 1: 1 adds probes, notifies and warnings to the events.
        public var detail = 0
        /// The nodes `setnodes` named (nil: the cluster's).
        public var nodes: [String]?
        /// A report or saved session's directory (`source`, `session load`); nil: live.
        public var source: String?
        /// The session loaded or saved last, when there is one.
        public var session: String?

        public init() {}

        /// The window as times: its start and (when closed) its end.
        public func window(now: Double) -> (from: Double, to: Double?) {
            (from ?? now - Double(CrmHistory.livePeriod), to)
        }
    }

    // MARK: log lines

    /// One line of the log, with what its head says.
    public struct LogLine: Sendable, Equatable {
        public var text: String
        /// When it was written; a line without a time of its own takes the one before's.
        public var time: Double?
        /// The node that wrote it (the host field).
        public var node: String?
        /// The program (`crmd`, `stonithd`...), without its pid.
        public var program: String?
        /// What follows `program[pid]: `.
        public var message: String

        public init(text: String, time: Double?, node: String?, program: String?, message: String) {
            self.text = text
            self.time = time
            self.node = node
            self.program = program
            self.message = message
        }
    }

    /// The lines of a log: `journalctl -o short-iso-precise` lines and our daemons' own
    /// (`2026-11-24T12:11:12.345678+00:00 node1 crmd[1234]: notice: text`), syslog lines
    /// (`Nov 24 12:11:12 node1 crmd[1234]: text`, of the year that puts them before `now`)
    /// and lines without a head (`crmd: info: text`).
    public static func parseLog(_ text: String, now: Double, zone: TimeZone) -> [LogLine] {
        var out: [LogLine] = []
        var last: Double?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = parseLine(String(raw), now: now, zone: zone)
            if line.time == nil { line.time = last } else { last = line.time }
            out.append(line)
        }
        return out
    }

    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    public static func parseLine(_ text: String, now: Double, zone: TimeZone) -> LogLine {
        var rest = Substring(text)
        var time: Double?
        var node: String?
        if let (t, after) = isoStamp(rest, zone: zone) ?? syslogStamp(rest, now: now, zone: zone) {
            time = t
            rest = after.drop { $0 == " " }
            if let space = rest.firstIndex(of: " ") {
                node = String(rest[..<space])
                rest = rest[space...].drop { $0 == " " }
            }
        }
        // `program[pid]: message` or `program: message`.
        var program: String?
        // The first ": " ends the head, when the head has no space.
        var colon: Range<Substring.Index>?
        if let space = rest.firstIndex(of: " "), space > rest.startIndex, rest[rest.index(before: space)] == ":" {
            colon = rest.index(before: space)..<rest.index(after: space)
        }
        if let colon {
            var head = rest[..<colon.lowerBound]
            if !head.contains(" ") {
                if head.hasSuffix("]"), let open = head.lastIndex(of: "["),
                   head[head.index(after: open)..<head.index(before: head.endIndex)].allSatisfy(\.isNumber) {
                    head = head[..<open]
                }
                program = String(head)
                rest = rest[colon.upperBound...]
            }
        }
        return LogLine(text: text, time: time, node: node, program: program, message: String(rest))
    }

    /// Digits at `s`'s start: their value and what follows.
    static func number(_ s: Substring, count: Int) -> (Int, Substring)? {
        let digits = s.prefix(count)
        guard digits.count == count, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits) else { return nil }
        return (n, s.dropFirst(count))
    }

    static func isoStamp(_ s: Substring, zone: TimeZone) -> (Double, Substring)? {
        guard let (y, a) = number(s, count: 4), a.first == "-", let (mo, b) = number(a.dropFirst(), count: 2), b.first == "-",
              let (d, c) = number(b.dropFirst(), count: 2), c.first == "T" || c.first == " ",
              let (h, e) = number(c.dropFirst(), count: 2), e.first == ":", let (mi, f) = number(e.dropFirst(), count: 2), f.first == ":",
              let (sec, g) = number(f.dropFirst(), count: 2) else { return nil }
        var rest = g
        var fraction = 0.0
        if rest.first == "." || rest.first == "," {
            let digits = rest.dropFirst().prefix { $0.isASCII && $0.isNumber }
            fraction = Double("0." + digits) ?? 0
            rest = rest.dropFirst(1 + digits.count)
        }
        var offset: Int?
        if rest.first == "Z" {
            offset = 0
            rest = rest.dropFirst()
        } else if let sign = rest.first, sign == "+" || sign == "-", let (oh, r1) = number(rest.dropFirst(), count: 2) {
            var r = r1
            if r.first == ":" { r = r.dropFirst() }
            guard let (om, r2) = number(r, count: 2) else { return nil }
            offset = (sign == "-" ? -1 : 1) * (oh * 3600 + om * 60)
            rest = r2
        }
        guard rest.isEmpty || rest.first == " " else { return nil }
        if let offset {
            // The common case (every line our daemons and journalctl write): plain arithmetic.
            guard let days = daysSinceEpoch(year: y, month: mo, day: d), (0...23).contains(h), (0...59).contains(mi), (0...60).contains(sec) else { return nil }
            return (Double(days * 86400 + h * 3600 + mi * 60 + sec - offset) + fraction, rest)
        }
        guard let t = epoch(year: y, month: mo, day: d, hour: h, minute: mi, second: sec, zone: zone) else { return nil }
        return (t + fraction, rest)
    }

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar; nil for a day the
    /// month does not have.
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int? {
        guard (1...12).contains(month), day >= 1 else { return nil }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= lengths[month - 1] else { return nil }
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func syslogStamp(_ s: Substring, now: Double, zone: TimeZone) -> (Double, Substring)? {
        guard let m = months.firstIndex(of: s.prefix(3).lowercased()), s.dropFirst(3).first == " " else { return nil }
        var rest = s.dropFirst(4).drop { $0 == " " }
        let dayDigits = rest.prefix { $0.isNumber }
        guard let d = Int(dayDigits), (1...31).contains(d) else { return nil }
        rest = rest.dropFirst(dayDigits.count)
        guard rest.first == " ", let (h, e) = number(rest.dropFirst(), count: 2), e.first == ":",
              let (mi, f) = number(e.dropFirst(), count: 2), f.first == ":", let (sec, g) = number(f.dropFirst(), count: 2) else { return nil }
        rest = g
        var fraction = 0.0
        if rest.first == "." {
            let digits = rest.dropFirst().prefix { $0.isASCII && $0.isNumber }
            fraction = Double("0." + digits) ?? 0
            rest = rest.dropFirst(1 + digits.count)
        }
        guard rest.isEmpty || rest.first == " " else { return nil }
        // Syslog has no year: the one that does not put the line more than a day ahead of now.
        let year = components(now, zone: zone).year ?? 1970
        guard var t = epoch(year: year, month: m + 1, day: d, hour: h, minute: mi, second: sec, zone: zone) else { return nil }
        if t > now + 86400, let earlier = epoch(year: year - 1, month: m + 1, day: d, hour: h, minute: mi, second: sec, zone: zone) { t = earlier }
        return (t + fraction, rest)
    }

    static func calendar(_ zone: TimeZone) -> Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = zone
        return c
    }

    static func components(_ t: Double, zone: TimeZone) -> DateComponents {
        calendar(zone).dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: t))
    }

    static func epoch(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, zone: TimeZone) -> Double? {
        guard (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second) else { return nil }
        let c = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard let date = calendar(zone).date(from: c) else { return nil }
        // No rollover: 31 Feb is not 3 Mar.
        guard calendar(zone).component(.day, from: date) == day else { return nil }
        return date.timeIntervalSince1970
    }

    // MARK: times typed by the user

    /// A time as `limit` takes it, in crmsh's (dateutil's) common forms: `10:15`, `15:00:30`,
    /// `3pm`, `15h22m`, `16h`, `2026-11-24 10:00`, `2010/9/1 2pm`, `Jul 18 12:00`,
    /// `Sun 5 20:46`, `date`'s `Tue Sep 15 20:46:27 CEST 2010`, ISO `2026-11-24T10:00:00Z`.
    /// The parts left out are today's (at midnight when no time is given). Nil when a word is
    /// not a part of a time.
    public static func parseTime(_ text: String, now: Double, zone: TimeZone) -> Double? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "," }).map { String($0) }
        guard !words.isEmpty else { return nil }
        if words.count == 1, let (t, rest) = isoStamp(Substring(words[0]), zone: zone), rest.isEmpty { return t }
        var zone = zone
        let today = components(now, zone: zone)
        var year: Int?, month: Int?, day: Int?
        var hour: Int?, minute = 0, second = 0
        for w in words {
            let lower = w.lowercased()
            if let m = months.firstIndex(where: { lower.hasPrefix($0) && fullName(lower, of: $0, in: monthNames) }) {
                guard month == nil else { return nil }
                month = m + 1
            } else if weekdays.contains(where: { lower.hasPrefix($0) && fullName(lower, of: $0, in: dayNames) }) {
                continue
            } else if let (y, mo, d) = dateWord(lower) {
                guard year == nil, month == nil, day == nil else { return nil }
                year = y
                month = mo
                day = d
            } else if let (h, mi, s) = timeWord(lower) {
                guard hour == nil else { return nil }
                hour = h
                minute = mi
                second = s
            } else if let n = Int(lower), lower.allSatisfy(\.isNumber) {
                if lower.count == 4, year == nil {
                    year = n
                } else if day == nil, (1...31).contains(n) {
                    day = n
                } else {
                    return nil
                }
            } else if ["utc", "gmt", "z"].contains(lower) {
                zone = TimeZone(secondsFromGMT: 0)!
            } else if lower.allSatisfy(\.isLetter), lower.count <= 5, let z = TimeZone(abbreviation: w.uppercased()) {
                zone = z
            } else if lower.allSatisfy(\.isLetter), lower.count <= 5, w == w.uppercased() {
                continue  // a zone abbreviation this system does not know: the local time is meant
            } else {
                return nil
            }
        }
        return epoch(year: year ?? today.year ?? 1970, month: month ?? today.month ?? 1, day: day ?? today.day ?? 1,
                     hour: hour ?? 0, minute: minute, second: second, zone: zone)
    }

    static let monthNames = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"]
    static let dayNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    /// `word` is the abbreviation `short` or a prefix of its full name (`sept`, `thurs`).
    static func fullName(_ word: String, of short: String, in names: [String]) -> Bool {
        names.contains { $0.hasPrefix(short) && $0.hasPrefix(word.hasSuffix(".") ? String(word.dropLast()) : word) }
    }

    /// `2026-11-24`, `2010/9/1`.
    static func dateWord(_ w: String) -> (Int, Int, Int)? {
        let parts = w.split(separator: w.contains("-") ? "-" : "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        return (y, m, d)
    }

    /// `10:15`, `10:15:30`, `3pm`, `2:30am`, `15h22m`, `16h`, `15h22m10s`.
    static func timeWord(_ w: String) -> (Int, Int, Int)? {
        var s = Substring(w)
        var meridiem: String?
        for m in ["am", "pm"] where s.hasSuffix(m) {
            meridiem = m
            s = s.dropLast(2)
        }
        var h: Int?, mi = 0, sec = 0
        if s.contains(":") {
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else { return nil }
            h = Int(parts[0])
            mi = Int(parts[1]) ?? -1
            sec = parts.count == 3 ? Int(parts[2]) ?? -1 : 0
        } else if s.contains("h") {
            var number = ""
            for c in s {
                if c.isNumber { number.append(c); continue }
                guard let n = Int(number) else { return nil }
                switch c {
                case "h" where h == nil: h = n
                case "m" where h != nil: mi = n
                case "s" where h != nil: sec = n
                default: return nil
                }
                number = ""
            }
            guard number.isEmpty else { return nil }
        } else if meridiem != nil, s.allSatisfy(\.isNumber) {
            h = Int(s)
        }
        guard var hour = h, (0...59).contains(mi), (0...59).contains(sec) else { return nil }
        if let meridiem {
            guard (1...12).contains(hour) else { return nil }
            hour = hour % 12 + (meridiem == "pm" ? 12 : 0)
        }
        guard (0...23).contains(hour) else { return nil }
        return (hour, mi, sec)
    }

    /// The lines within the window (a line without any time is kept: nothing says it is not).
    public static func within(_ lines: [LogLine], from: Double?, to: Double?) -> [LogLine] {
        lines.filter { l in
            guard let t = l.time else { return true }
            if let from, t < from { return false }
            if let to, t > to { return false }
            return true
        }
    }

    /// Compiles the excludes; the first that is not a regular expression is named.
    public static func excludePatterns(_ excludes: [String]) throws(CrmError) -> [NSRegularExpression] {
        var out: [NSRegularExpression] = []
        for e in excludes {
            do { out.append(try NSRegularExpression(pattern: e)) } catch {
                throw CrmError("history.exclude: bad regex \"\(e)\": it is not a regular expression (quote it, escape ( [ { with \\); usage: exclude [<regex>|clear]")
            }
        }
        return out
    }

    /// The lines that no exclude matches.
    public static func excluding(_ lines: [LogLine], _ excludes: [NSRegularExpression]) -> [LogLine] {
        guard !excludes.isEmpty else { return lines }
        return lines.filter { l in !excludes.contains { matches($0, l.text) } }
    }

    static func matches(_ re: NSRegularExpression, _ s: String) -> Bool {
        re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    // MARK: transitions

    /// A transition as the DC's crmd logged it: the scheduler's run that saved the input, the
    /// transition that carried its graph out, and how that ended.
    public struct Transition: Sendable, Equatable {
        /// The input's name (`pe-input-12`).
        public var input: String
        /// The DC (the node that wrote the lines).
        public var dc: String
        /// The transition's number at that DC, once it started.
        public var number: Int?
        public var start: Double
        public var end: Double?
        /// "Complete" or "Aborted", once ended.
        public var state: String?
        /// The ending line's counts that are not 0 (`Complete=5`), in its order.
        public var actions: [(String, Int)] = []
        /// The actions the scheduler planned.
        public var planned: Int
        /// Lower-cased names the transition's events name (resources, nodes, error, warning).
        public var tags: Set<String> = []

        public init(input: String, dc: String, number: Int?, start: Double, end: Double?, state: String?, planned: Int) {
            self.input = input
            self.dc = dc
            self.number = number
            self.start = start
            self.end = end
            self.state = state
            self.planned = planned
        }

        public static func == (a: Transition, b: Transition) -> Bool {
            a.input == b.input && a.dc == b.dc && a.number == b.number && a.start == b.start && a.end == b.end && a.state == b.state
                && a.actions.map(\.0) == b.actions.map(\.0) && a.actions.map(\.1) == b.actions.map(\.1) && a.planned == b.planned && a.tags == b.tags
        }

        /// `node1:pe-input-12`, as crmsh names a transition.
        public var name: String { "\(dc):\(input)" }
        public var total: Int { actions.reduce(0) { $0 + $1.1 } }
    }

    nonisolated(unsafe) static let scheduled = try! NSRegularExpression(pattern: #"^scheduler run \(.*\): (\d+) action\(s\), input saved as (pe-[a-z]+-\d+)"#)
    nonisolated(unsafe) static let started = try! NSRegularExpression(pattern: #"^transition (\d+): (\d+) action\(s\)$"#)
    nonisolated(unsafe) static let ended = try! NSRegularExpression(pattern: #"^transition (\d+) (complete|aborted)(?: \(([^)]*)\))?"#)

    /// A line's message without its level (`info: `).
    static func text(of l: LogLine) -> String {
        // Pacemaker's syslog lines have two spaces before the level.
        let message = l.message.drop { $0 == " " }
        for level in ["trace", "debug", "info", "notice", "warning", "error", "critical"] where message.hasPrefix(level + ": ") {
            return String(message.dropFirst(level.count + 2))
        }
        return String(message)
    }

    /// Pacemaker's controller's lines (crmd or pacemaker-controld), in a crm report of a
    /// Pacemaker cluster: `Processing graph 7 (ref=...) derived from
    /// /var/lib/pacemaker/pengine/pe-input-12.bz2` and `Transition 7 (Complete=3, ...,
    /// Source=/var/lib/pacemaker/pengine/pe-input-12.bz2): Complete`.
    nonisolated(unsafe) static let pacemakerStarted = try! NSRegularExpression(pattern: #"Processing graph (\d+) .*derived from \S*?(pe-[a-z]+-\d+)\.bz2"#)
    nonisolated(unsafe) static let pacemakerEnded = try! NSRegularExpression(pattern: #"Transition (\d+) \((.*), Source=\S*?(pe-[a-z]+-\d+)\.bz2\): (Complete|Stopped|Terminated)"#)

    static func groups(_ re: NSRegularExpression, _ s: String) -> [String?]? {
        guard let m = re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) else { return nil }
        return (1..<m.numberOfRanges).map { i in Range(m.range(at: i), in: s).map { String(s[$0]) } }
    }

    /// The transitions in crmd's lines (`scheduler run (...): N action(s), input saved as
    /// pe-input-M.xml`, `transition T: N action(s)`, `transition T complete (Complete=...)`),
    /// with the tags of the events between their start and end, oldest first.
    public static func transitions(_ lines: [LogLine], detail: Int = 0) -> [Transition] {
        var out: [Transition] = []
        var pending: [String: Int] = [:]   // node -> index of the input saved, waiting for its transition
        var running: [String: Int] = [:]   // node -> index of the transition under way
        for l in lines where l.program == "crmd" || l.program == "pacemaker-controld" {
            guard let t = l.time else { continue }
            let node = l.node ?? ""
            let message = text(of: l)
            if let g = groups(pacemakerStarted, message), let input = g[1] {
                if let i = running[node] { out[i].end = out[i].end ?? t }
                out.append(Transition(input: input, dc: node, number: Int(g[0] ?? ""), start: t, end: nil, state: nil, planned: 0))
                running[node] = out.count - 1
            } else if let g = groups(pacemakerEnded, message), let i = running[node], out[i].number == Int(g[0] ?? ""), out[i].input == g[2] {
                running[node] = nil
                out[i].end = t
                out[i].state = g[3]
                for part in (g[1] ?? "").split(separator: ",") {
                    let kv = part.split(separator: "=")
                    if kv.count == 2, let n = Int(kv[1]), n != 0 { out[i].actions.append((kv[0].trimmingCharacters(in: .whitespaces), n)) }
                }
                out[i].planned = out[i].total
            } else if let g = groups(scheduled, message), let input = g[1] {
                // A run whose graph never started (the scheduler ran again at once) ends here.
                if let i = pending[node] { out[i].end = t }
                out.append(Transition(input: input, dc: node, number: nil, start: t, end: nil, state: nil, planned: Int(g[0] ?? "") ?? 0))
                pending[node] = out.count - 1
            } else if let g = groups(started, message), let i = pending.removeValue(forKey: node) {
                out[i].number = Int(g[0] ?? "")
                running[node] = i
            } else if let g = groups(ended, message), let i = running[node], out[i].number == Int(g[0] ?? "") {
                running[node] = nil
                out[i].end = t
                out[i].state = g[1] == "complete" ? "Complete" : "Aborted"
                for part in (g[2] ?? "").split(separator: ",") {
                    let kv = part.split(separator: "=")
                    if kv.count == 2, let n = Int(kv[1]), n != 0 { out[i].actions.append((kv[0].trimmingCharacters(in: .whitespaces), n)) }
                }
            }
        }
        let eventLines = events(lines, detail: detail)
        for i in out.indices {
            let end = out[i].end ?? (i + 1 < out.count ? out[i + 1].start : .infinity)
            for e in eventLines where (e.line.time ?? 0) >= out[i].start && (e.line.time ?? 0) <= end {
                out[i].tags.formUnion(e.tags)
            }
        }
        return out
    }

    /// crmsh's summary of a transition: `Transition node1:pe-input-3 (12:00:01 - 12:00:05):`
    /// and the total of its actions, or `[unfinished])`.
    public static func transitionInfo(_ t: Transition, format: (Double, String) -> String) -> String {
        guard let end = t.end else { return "Transition \(t.name) (\(format(t.start, "%H:%M:%S")) - [unfinished])" }
        let counts = t.actions.map { "\($0.1) \($0.0)" }.joined(separator: ", ")
        return "Transition \(t.name) (\(format(t.start, "%H:%M:%S")) - \(format(end, "%H:%M:%S"))):\n\ttotal \(t.total) actions: \(counts)"
    }

    /// The transition of an input, when the log has it (the latest run that saved it).
    public static func transition(of input: Input, in list: [Transition]) -> Transition? {
        list.last { $0.input == input.shortName && (input.node.isEmpty || $0.dc == input.node) }
    }

    // MARK: events

    /// The kinds of important lines, as crmsh sorts them.
    public enum EventKind: String, Sendable, CaseIterable {
        case resource, node, quorum, events
    }

    /// The patterns of a kind, in our daemons' words, up to a detail level. `%%` stands for
    /// the names asked for (a group of alternatives), or any name.
    static func patterns(_ kind: EventKind, detail: Int) -> [String] {
        let crmd = #"^crmd\[\d+\]: \w+: "#
        let levels: [[String]]
        switch kind {
        case .resource:
            levels = [[
                crmd + #"running %%_(?:start|stop|promote|demote|migrate_to|migrate_from)_\d+ "#,
                crmd + #"%%_(?:start|stop|promote|demote|migrate_to|migrate_from)_\d+ on \S+: rc="#,
                crmd + #"%%_\S+ on \S+: rc=\d+ status=\d+ \(failed\)"#,
                crmd + #"%% (?:start on \S+: its monitor failed|monitor on \S+ failed)"#,
                #"^lrmd\S*\[\d+\]: \w+: %%_\S+ \(call \d+\): "#,
            ], [
                crmd + #"running %%_(?:monitor_0|notify_\d+) "#,
                crmd + #"%%_(?:monitor_0|notify_\d+) on \S+: rc="#,
            ]]
        case .node:
            levels = [[
                crmd + #"%% left (?:cleanly|without a clean leave)"#,
                crmd + #"fencing %% \("#,
                crmd + #"%% was fenced"#,
                crmd + #"cannot fence %%:"#,
                crmd + #"crmd \d+ started for node %% "#,
                crmd + #"join complete: (?:.*, )?%% \(id "#,
                crmd + #"CPG group 'crmd': .*; left: (?:.*, )?%% \(lost\)"#,
                #"^stonithd\[\d+\]: \w+: \S+ of %%(?: by \S+)? for \S+: (?:done|failed)"#,
                #"^stonithd\[\d+\]: \w+: \S+ asks to \S+ %% "#,
                #"^stonithd\[\d+\]: \w+: \S+ confirms that %% is down"#,
            ], []]
        case .quorum:
            levels = [[
                crmd + #"(quorum) (?:gained|lost)"#,
                #"^corosyncd\[\d+\]: \w+: \[(QUORUM)\] This node is within the (?:non-)?primary component"#,
            ], []]
        case .events:
            levels = [[#"^\S+\[\d+\]: (critical|error): "#], [#"^\S+\[\d+\]: (warning): "#]]
        }
        return levels.prefix(detail + 1).flatMap { $0 }
    }

    /// The compiled patterns of a kind, each with the program its lines come from (nil: any);
    /// `names` nil or empty: any name.
    static func compiled(_ kind: EventKind, detail: Int, names: [String]?) -> [(program: String?, regex: NSRegularExpression)] {
        let group = (names?.isEmpty ?? true) ? #"(\S+?)"# : "(" + names!.joined(separator: "|") + ")"
        return patterns(kind, detail: detail).compactMap { p in
            guard let re = try? NSRegularExpression(pattern: p.replacingOccurrences(of: "%%", with: group)) else { return nil }
            let program = ["crmd", "lrmd", "stonithd", "corosyncd"].first { p.hasPrefix("^\($0)") }
            return (program, re)
        }
    }

    /// An event: its line, its kind and the names it mentions.
    public struct Event: Sendable, Equatable {
        public var line: LogLine
        public var kind: EventKind
        public var tags: Set<String>
    }

    /// The important lines: those of the given kinds (all by default) that name one of
    /// `names` (any when nil), each once, in the log's order. The text matched is the part
    /// after the head (`crmd[12]: notice: ...`), so the head's node and time cannot match.
    public static func events(_ lines: [LogLine], kinds: [EventKind] = EventKind.allCases, names: [String]? = nil, detail: Int = 0) -> [Event] {
        let table = kinds.map { ($0, compiled($0, detail: detail, names: names)) }
        var out: [Event] = []
        for l in lines {
            guard let program = l.program else { continue }
            let body = "\(program)[0]: \(l.message)"
            var first: EventKind?
            var tags = Set<String>()
            for (kind, res) in table {
                for (only, re) in res where only.map({ program.hasPrefix($0) }) ?? true {
                    guard let m = re.firstMatch(in: body, range: NSRange(body.startIndex..., in: body)) else { continue }
                    first = first ?? kind
                    for i in 1..<max(1, m.numberOfRanges) {
                        if let r = Range(m.range(at: i), in: body) { tags.insert(body[r].lowercased()) }
                    }
                }
            }
            if let first { out.append(Event(line: l, kind: first, tags: tags)) }
        }
        return out
    }

    /// The members of groups and the primitives of clones, for `resource`: names as they are
    /// logged (crmsh expands them too: groups and clones are never logged themselves), with
    /// a clone's instance number allowed.
    public static func expand(_ names: [String], in cib: CIB?) -> [String] {
        guard let resources = cib?.root.firstElement(named: "configuration")?.firstElement(named: "resources") else { return names }
        var out: [String] = []
        for n in names {
            var found: XElement?
            resources.walk { e in if found == nil, e.id == n, ["group", "clone", "master", "primitive", "bundle"].contains(e.name) { found = e } }
            guard let e = found else {
                out.append(n)
                continue
            }
            var cloned = e.name == "clone" || e.name == "master"
            var inside = false
            resources.walk { x in
                if !inside, ["clone", "master"].contains(x.name), x.walkContains(id: n) { inside = true }
            }
            cloned = cloned || inside
            var prims: [String] = []
            if e.name == "primitive" { prims = [n] } else { e.walk { x in if x.name == "primitive", let id = x.id { prims.append(id) } } }
            out += prims.map { cloned ? NSRegularExpression.escapedPattern(for: $0) + "(?::[0-9]+)?" : NSRegularExpression.escapedPattern(for: $0) }
        }
        return out
    }

    /// A name (or regular expression) of `resource`/`node` that names nothing in the list:
    /// the first such word.
    public static func unknown(_ words: [String], among known: [String]) -> String? {
        words.first { w in
            guard let re = try? NSRegularExpression(pattern: "^(?:" + w + ")$") else { return true }
            return !known.contains { matches(re, $0) }
        }
    }
}

extension XElement {
    /// Whether this element or one inside it has the id.
    func walkContains(id: String) -> Bool {
        var found = false
        walk { if $0.id == id { found = true } }
        return found
    }
}
