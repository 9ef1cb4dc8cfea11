import Foundation

/// `crm history session`: a saved history (the nodes' logs and inputs, copied as a report
/// directory) and its state file (crmsh's `history_state.cfg`: source, window, detail,
/// excludes); and `diff`'s side-by-side HTML table.
extension CrmHistory {
    public static let sessionUsage = "session [{save|load|delete} <name> | pack [<name>] | update | list]"

    /// The directory of the saved sessions under crmsh's cache directory (`<cache>/history-<user>/session`).
    public static func sessionsDirectory(cache: String, user: String) -> String {
        "\(cache)/history-\(user)/session"
    }

    /// A session's name must be a plain file name (crmsh refuses the same characters).
    public static func checkSessionName(_ name: String) throws(CrmError) {
        let bad: Set<Character> = ["'", "`", "/", "#", "*", "?", "$", "[", "]", ";"]
        if name.isEmpty || name.contains(where: { bad.contains($0) }) || name == "." || name == ".." {
            throw CrmError("history.session: \(name): bad filename (a session's name has none of ' ` / # * ? $ [ ] ;); usage: \(sessionUsage)")
        }
    }

    /// What a session command asks for, checked as crmsh checks it.
    public enum SessionCommand: Equatable, Sendable {
        case show, save(String), load(String), delete(String), pack(String?), update, list
    }

    public static func sessionCommand(_ words: [String]) throws(CrmError) -> SessionCommand {
        guard let sub = words.first else { return .show }
        let known = ["save", "load", "pack", "delete", "list", "update"]
        guard known.contains(sub) else {
            throw CrmError("history.session: unknown history session subcmd: \(sub); usage: \(sessionUsage)")
        }
        if words.count > 2 { throw CrmError("history.session: unknown keyword \"\(words[2])\"; usage: \(sessionUsage)") }
        let name = words.count == 2 ? words[1] : nil
        if let name {
            guard ["save", "load", "pack", "delete"].contains(sub) else {
                throw CrmError("history.session: \(sub) takes no name (was \"\(name)\"); usage: \(sessionUsage)")
            }
            try checkSessionName(name)
        } else if ["save", "load", "delete"].contains(sub) {
            throw CrmError("history.session: \(sub) needs the session's name; usage: \(sessionUsage)")
        }
        switch sub {
        case "save": return .save(name!)
        case "load": return .load(name!)
        case "delete": return .delete(name!)
        case "pack": return .pack(name)
        case "update": return .update
        default: return .list
        }
    }

    /// The state file, as crmsh's configparser writes it.
    public static func sessionState(dir: String, from: String, to: String, detail: Int, excludes: [String]) -> String {
        var s = "[report]\ndir = \(dir)\nfrom_time = \(from)\nto_time = \(to)\ndetail = \(detail)\n\n"
        if !excludes.isEmpty {
            s += "[log]\n" + excludes.enumerated().map { "exclude_\($0.offset) = \($0.element)\n" }.joined() + "\n"
        }
        return s
    }

    /// A state file read back: its report section's items and its excludes; an error names
    /// the file and the line that is wrong.
    public struct SessionState: Equatable, Sendable {
        public var dir: String
        public var from: String
        public var to: String
        public var detail: Int
        public var excludes: [String]

        public init(dir: String, from: String, to: String, detail: Int, excludes: [String]) {
            self.dir = dir
            self.from = from
            self.to = to
            self.detail = detail
            self.excludes = excludes
        }
    }

    public static func parseSessionState(_ text: String, file: String) throws(CrmError) -> SessionState {
        var section = ""
        var report: [String: String] = [:]
        var excludes: [(Int, String)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard let eq = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw CrmError("history.session: \(file):\(i + 1): '\(line)' is not name = value")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            switch section {
            case "report": report[key] = value
            case "log":
                guard key.hasPrefix("exclude_"), let n = Int(key.dropFirst(8)) else {
                    throw CrmError("history.session: \(file):\(i + 1): unknown item \(key) in the section log (exclude_<n> = <regex>)")
                }
                excludes.append((n, value))
            default:
                throw CrmError("history.session: \(file):\(i + 1): '\(line)' is outside the sections report and log")
            }
        }
        guard let dir = report["dir"] else { throw CrmError("history.session: \(file): no dir in the section report") }
        let detailText = report["detail"] ?? "0"
        guard let detail = Int(detailText), detail == 0 || detail == 1 else {
            throw CrmError("history.session: \(file): bad value '\(detailText)' for 'detail' (0 or 1)")
        }
        return SessionState(dir: dir, from: report["from_time"] ?? "", to: report["to_time"] ?? "", detail: detail,
                            excludes: excludes.sorted { $0.0 < $1.0 }.map(\.1))
    }

    // MARK: diff

    /// One step of a line diff.
    public enum DiffStep: Equatable, Sendable {
        case same(Int, Int), removed(Int), added(Int)
    }

    /// A shortest edit script between two lists of lines (longest common subsequence).
    public static func lineDiff(_ a: [String], _ b: [String]) -> [DiffStep] {
        let n = a.count, m = b.count
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var out: [DiffStep] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] {
                out.append(.same(i, j)); i += 1; j += 1
            } else if j < m, i == n || lcs[i][j + 1] > lcs[i + 1][j] {
                out.append(.added(j)); j += 1
            } else {
                out.append(.removed(i)); i += 1
            }
        }
        return out
    }

    /// `diff ... html`: the two texts side by side in a table of the form Python's
    /// difflib.HtmlDiff makes (crmsh's), changed lines marked diff_sub, diff_add and, for a
    /// line changed in place, diff_chg around the part that differs.
    public static func htmlDiff(_ a: String, _ b: String, labels: (String, String)) -> String {
        let left = a.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let right = b.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func html(_ s: String) -> String {
            let expanded = s.replacingOccurrences(of: "\t", with: "  ")
            var t = ""
            for c in expanded {
                switch c {
                case "&": t += "&amp;"
                case "<": t += "&lt;"
                case ">": t += "&gt;"
                case " ": t += "&nbsp;"
                default: t.append(c)
                }
            }
            return t
        }
        func changed(_ x: String, _ y: String) -> (String, String) {
            let xs = Array(x), ys = Array(y)
            var p = 0
            while p < xs.count, p < ys.count, xs[p] == ys[p] { p += 1 }
            var s = 0
            while s < xs.count - p, s < ys.count - p, xs[xs.count - 1 - s] == ys[ys.count - 1 - s] { s += 1 }
            func mark(_ cs: [Character]) -> String {
                html(String(cs[..<p])) + "<span class=\"diff_chg\">" + html(String(cs[p..<(cs.count - s)])) + "</span>" + html(String(cs[(cs.count - s)...]))
            }
            return (mark(xs), mark(ys))
        }
        var rows: [(Int?, String, Int?, String)] = []
        var removed: [Int] = [], added: [Int] = []
        func flush() {
            for k in 0..<max(removed.count, added.count) {
                let l = k < removed.count ? removed[k] : nil, r = k < added.count ? added[k] : nil
                switch (l, r) {
                case let (l?, r?):
                    let (x, y) = changed(left[l], right[r])
                    rows.append((l, x, r, y))
                case let (l?, nil): rows.append((l, "<span class=\"diff_sub\">\(html(left[l]))</span>", nil, ""))
                case let (nil, r?): rows.append((nil, "", r, "<span class=\"diff_add\">\(html(right[r]))</span>"))
                default: break
                }
            }
            removed = []
            added = []
        }
        for step in lineDiff(left, right) {
            switch step {
            case .same(let i, let j):
                flush()
                rows.append((i, html(left[i]), j, html(right[j])))
            case .removed(let i): removed.append(i)
            case .added(let j): added.append(j)
            }
        }
        flush()
        func cell(_ side: String, _ n: Int?, _ text: String) -> String {
            "<td class=\"diff_next\"></td><td class=\"diff_header\"\(n.map { " id=\"\(side)0_\($0 + 1)\">\($0 + 1)" } ?? ">")</td><td nowrap=\"nowrap\">\(text)</td>"
        }
        var out = """

                <table class="diff" id="difflib_chg_to0__top"
                       cellspacing="0" cellpadding="0" rules="groups" >
                    <colgroup></colgroup> <colgroup></colgroup> <colgroup></colgroup>
                    <colgroup></colgroup> <colgroup></colgroup> <colgroup></colgroup>
                    <thead><tr><th class="diff_next"><br /></th><th colspan="2" class="diff_header">\(html(labels.0))</th><th class="diff_next"><br /></th><th colspan="2" class="diff_header">\(html(labels.1))</th></tr></thead>
                    <tbody>

            """
        for r in rows {
            out += "            <tr>" + cell("from", r.0, r.1) + cell("to", r.2, r.3) + "</tr>\n"
        }
        out += "        </tbody>\n    </table>"
        return out.replacingOccurrences(of: "&nbsp;&nbsp;", with: "&nbsp;")
    }

    /// `configure show`'s text with each object on one line (its continuation lines joined),
    /// as crmsh's plain representation writes the configuration for `diff ... html`.
    public static func onePerLine(_ text: String) -> String {
        text.replacingOccurrences(of: " \\\n\t", with: " ")
    }

    /// crm_mon's output without its header (the lines up to the first empty one), as `diff
    /// status` compares it.
    public static func withoutHeader(_ status: String) -> String {
        var lines = status.split(separator: "\n", omittingEmptySubsequences: false)[...]
        while let f = lines.first, !f.isEmpty { lines = lines.dropFirst() }
        while let f = lines.first, f.isEmpty { lines = lines.dropFirst() }
        return lines.joined(separator: "\n")
    }
}
