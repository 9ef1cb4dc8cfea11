/// Parsers for the value syntaxes the CIB uses: booleans, scores and durations.
public enum CIBValue {
    /// Pacemaker's true spellings: true, on, yes, y, 1 (any case).
    public static func isTrue(_ s: String) -> Bool {
        ["true", "on", "yes", "y", "1"].contains(s.lowercased())
    }

    /// Whether a string is one of Pacemaker's boolean spellings.
    public static func isBoolean(_ s: String) -> Bool {
        ["true", "on", "yes", "y", "1", "false", "off", "no", "n", "0"].contains(s.lowercased())
    }

    /// The score Pacemaker treats as infinite.
    public static let infinity = 1_000_000

    /// Parses a score: an integer, or INFINITY, +INFINITY, -INFINITY. Integers beyond
    /// ±1 000 000 are clamped to it, as Pacemaker does. Nil when the text is not a score.
    public static func score(_ text: String) -> Int? {
        let s = text.trimmingSpaces
        switch s.uppercased() {
        case "INFINITY", "+INFINITY": return infinity
        case "-INFINITY": return -infinity
        default: break
        }
        var digits = Substring(s)
        var sign = 1
        if digits.first == "+" { digits.removeFirst() } else if digits.first == "-" { sign = -1; digits.removeFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        guard let v = Int(digits) else { return sign * infinity }
        return max(-infinity, min(infinity, sign * v))
    }

    /// Parses a duration into milliseconds.
    ///
    /// Accepts what Pacemaker accepts for intervals and timeouts: an integer with an optional
    /// unit (ms, msec, us, usec, s, sec, m, min, h, hr; none means seconds), or an ISO 8601
    /// duration such as PT30S or P1DT2H. Nil when the text is not a duration.
    public static func milliseconds(_ text: String) -> Int? {
        let s = text.trimmingSpaces
        if s.uppercased().hasPrefix("P") { return iso8601Milliseconds(s.uppercased()) }
        let digits = s.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let n = Int(digits) else { return nil }
        let unit = String(s.dropFirst(digits.count)).trimmingSpaces.lowercased()
        switch unit {
        case "", "s", "sec": return n.multipliedReportingOverflow(by: 1000).overflow ? nil : n * 1000
        case "ms", "msec": return n
        case "us", "usec": return n / 1000
        case "m", "min": return n.multipliedReportingOverflow(by: 60_000).overflow ? nil : n * 60_000
        case "h", "hr": return n.multipliedReportingOverflow(by: 3_600_000).overflow ? nil : n * 3_600_000
        default: return nil
        }
    }

    private static func iso8601Milliseconds(_ s: String) -> Int? {
        var total = 0
        var inTime = false
        var number = ""
        var sawField = false
        for c in s.dropFirst() {
            if c == "T" {
                guard !inTime, number.isEmpty else { return nil }
                inTime = true
                continue
            }
            if c.isASCII && c.isNumber { number.append(c); continue }
            guard let n = Int(number) else { return nil }
            number = ""
            let factor: Int
            switch (c, inTime) {
            // Pacemaker also takes hours and seconds before the T ("P10S").
            case ("H", false): factor = 3_600_000
            case ("S", false): factor = 1000
            case ("Y", false): factor = 365 * 86_400_000
            case ("M", false): factor = 30 * 86_400_000
            case ("W", false): factor = 7 * 86_400_000
            case ("D", false): factor = 86_400_000
            case ("H", true): factor = 3_600_000
            case ("M", true): factor = 60_000
            case ("S", true): factor = 1000
            default: return nil
            }
            total += n * factor
            sawField = true
        }
        return number.isEmpty && sawField ? total : nil
    }
}
