import EssentialsExtras
/// Splits crmsh input into words, as crmsh's own reader does: words are separated by blanks;
/// "double" and 'single' quotes group words (and are removed); a backslash escapes the next
/// character outside single quotes. A line whose first word starts with `#` is a comment.
public enum CrmLexer {
    public static func words(_ line: String) throws(CrmError) -> [String] {
        var out: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escape = false
        for c in line {
            if escape {
                // Inside double quotes only \" and \\ are escapes (POSIX); elsewhere any character.
                if quote == "\"" && c != "\"" && c != "\\" { current.append("\\") }
                current.append(c)
                escape = false
                inWord = true
                continue
            }
            if let q = quote {
                if c == q { quote = nil } else if c == "\\" && q == "\"" { escape = true } else { current.append(c) }
                continue
            }
            switch c {
            case "\\": escape = true
            case "\"", "'": quote = c; inWord = true
            case " ", "\t", "\n", "\r":
                if inWord { out.append(current); current = ""; inWord = false }
            default:
                current.append(c); inWord = true
            }
        }
        if quote != nil { throw CrmError("unterminated quote in: \(line)") }
        if inWord { out.append(current) }
        if let first = out.first, first.hasPrefix("#") { return [] }
        return out
    }

    /// Joins physical lines ending in a backslash into logical lines (crmsh's line continuation),
    /// dropping blank lines.
    public static func logicalLines(_ text: String) -> [String] {
        var out: [String] = []
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.hasSuffix("\\") && !line.hasSuffix("\\\\") {
                // An `xml <...>` object keeps its lines (a comment's text stays as it was);
                // show writes each with " \\" after it.
                if (pending.isEmpty ? Substring(line) : Substring(pending)).drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("xml ") {
                    var l = line.dropLast()
                    if l.hasSuffix(" ") { l = l.dropLast() }
                    pending += l + "\n"
                } else {
                    pending += line.dropLast() + " "
                }
                continue
            }
            pending += line
            if !pending.allSatisfy({ $0 == " " || $0 == "\t" }) { out.append(pending) }
            pending = ""
        }
        if !pending.allSatisfy({ $0 == " " || $0 == "\t" }) { out.append(pending) }
        return out
    }

    /// A value as crmsh prints it: bare when it is only letters, digits, `_`, `.` and `-`,
    /// else in double quotes (inner quotes escaped).
    public static func quoted(_ v: String) -> String {
        if !v.isEmpty && v.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "." || $0 == "-" }) {
            return v
        }
        return "\"" + v.replacingEvery("\"", with: "\\\"") + "\""
    }
}

/// One error of the shell: printed as `ERROR: <message>`; the command exits 1.
public struct CrmError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
