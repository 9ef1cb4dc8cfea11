import CIB

/// ISO 8601 dates as Pacemaker accepts them (crm_simulate -t, date expressions), computed
/// without any calendar service: calendar dates (2005-01-20), ordinal dates (2005-020) and
/// week dates (2005-W03-4), with an optional time (T11:30[:00]) and offset (Z, +01:00).
public enum ISO8601Time {
    /// Seconds since the epoch, or nil when the text is not such a date.
    public static func parse(_ text: String) -> Int? {
        var s = Substring(text.trimmingSpaces)
        if s.allSatisfy({ $0.isNumber }), s.count > 8, let n = Int(s) { return n }
        var datePart = s
        var timePart: Substring?
        if let t = s.firstIndex(where: { $0 == "T" || $0 == " " }) {
            datePart = s[..<t]
            timePart = s[s.index(after: t)...]
        }
        guard let days = parseDate(datePart) else { return nil }
        var seconds = days * 86_400
        if let tp = timePart {
            guard let t = parseTime(tp) else { return nil }
            seconds += t
        }
        s = ""
        return seconds
    }

    static func parseDate(_ d: Substring) -> Int? {
        let parts = d.split(separator: "-", omittingEmptySubsequences: false)
        guard let first = parts.first, first.count == 4, let year = Int(first) else { return nil }
        if parts.count == 3, let m = Int(parts[1]), let day = Int(parts[2]), (1...12).contains(m), (1...31).contains(day) {
            return daysFromCivil(year, m, day)
        }
        if parts.count == 2, parts[1].count == 3, let ordinal = Int(parts[1]), (1...366).contains(ordinal) {
            return daysFromCivil(year, 1, 1) + ordinal - 1
        }
        if parts.count >= 2, parts[1].hasPrefix("W"), let week = Int(parts[1].dropFirst()) {
            let weekday = parts.count == 3 ? Int(parts[2]) ?? 1 : 1
            // Week 1 is the week with the year's first Thursday; weeks start on Monday.
            let jan4 = daysFromCivil(year, 1, 4)
            let jan4Weekday = ((jan4 + 3) % 7 + 7) % 7 + 1  // 1 = Monday
            let week1Monday = jan4 - (jan4Weekday - 1)
            return week1Monday + (week - 1) * 7 + (weekday - 1)
        }
        if parts.count == 1 { return daysFromCivil(year, 1, 1) }
        return nil
    }

    static func parseTime(_ t: Substring) -> Int? {
        var body = t
        var offset = 0
        if body.hasSuffix("Z") { body = body.dropLast() }
        if let sign = body.lastIndex(where: { $0 == "+" || $0 == "-" }) {
            let tz = body[body.index(after: sign)...].split(separator: ":")
            let h = Int(tz.first ?? "0") ?? 0
            let m = tz.count > 1 ? Int(tz[1]) ?? 0 : 0
            offset = (h * 3600 + m * 60) * (body[sign] == "+" ? 1 : -1)
            body = body[..<sign]
        }
        // "15:00:00 +00:00": a space may stand before the offset.
        while body.last == " " { body = body.dropLast() }
        let f = body.split(separator: ":")
        guard !f.isEmpty, f.count <= 3 else { return nil }
        let nums = f.map { Int($0.split(separator: ".").first ?? "") }
        guard nums.allSatisfy({ $0 != nil }) else { return nil }
        let h = nums[0]!, m = f.count > 1 ? nums[1]! : 0, sec = f.count > 2 ? nums[2]! : 0
        return h * 3600 + m * 60 + sec - offset
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
