import CIB
import Foundation

/// Where `crm history` reads from: every node of the cluster (its log, the scheduler inputs
/// it saved while it was the DC, its CIB), merged in time order. The live cluster's nodes
/// are node roots on this machine (SWIFTHA_ROOTS, or the siblings of this node's root named
/// after the nodes) or, on a normal installation, this machine; a saved session or a
/// `crm report` directory holds one directory per node (`<node>/ha-log.txt`,
/// `<node>/pengine/`, `<node>/cib.xml`). The crm executable looks at the files; the choices
/// are made here.
extension CrmHistory {
    /// One node of the source.
    public struct NodeSource: Sendable, Equatable {
        public var name: String
        /// Its log file, when it has one.
        public var log: String?
        /// The directory of the scheduler inputs it saved as DC.
        public var peDirectory: String
        /// Its CIB file, when there is one.
        public var cib: String?

        public init(name: String, log: String?, peDirectory: String, cib: String?) {
            self.name = name
            self.log = log
            self.peDirectory = peDirectory
            self.cib = cib
        }
    }

    /// A node root's files: var/log/pacemaker/pacemaker.log (what `crm cluster start` makes
    /// the stack write), var/lib/pacemaker/pengine, var/lib/pacemaker/cib/cib.xml.
    public static func rootSource(name: String, root: String) -> NodeSource {
        let base = root == "/" ? "" : (root.hasSuffix("/") ? String(root.dropLast()) : root)
        return NodeSource(name: name, log: base + "/var/log/pacemaker/pacemaker.log", peDirectory: base + "/var/lib/pacemaker/pengine",
                          cib: base + "/var/lib/pacemaker/cib/cib.xml")
    }

    /// The log file names a report's node directory may hold, in crmsh's order of preference.
    public static let reportLogNames = ["ha-log.txt", "syslog", "ha-log", "cluster-log.txt", "journal.log", "pacemaker.log"]

    /// The nodes of a report (or saved session) directory: its subdirectories holding a
    /// cib.xml, a log or a pengine directory, sorted by name as crmsh sorts them.
    /// `contents` lists a directory (nil: not one), `isFile` says whether a file exists.
    public static func reportNodes(_ dir: String, contents: (String) -> [String]?, isFile: (String) -> Bool) -> [NodeSource] {
        (contents(dir) ?? []).sorted().compactMap { name in
            let d = dir + "/" + name
            guard contents(d) != nil else { return nil }
            let log = reportLogNames.map { d + "/" + $0 }.first(where: isFile)
            let cib = isFile(d + "/cib.xml") ? d + "/cib.xml" : nil
            let pe = d + "/pengine"
            guard log != nil || cib != nil || contents(pe) != nil else { return nil }
            return NodeSource(name: name, log: log, peDirectory: pe, cib: cib)
        }
    }

    /// The nodes of the live cluster and their roots: `SWIFTHA_ROOTS` (`node1:/srv/n1;...`)
    /// when given; else, when this node's root is a directory named after this node, the
    /// directories beside it named after the other nodes (as the demo and the tests lay the
    /// nodes out); else only this node, at its root (the other machines' files are there).
    /// `names` are the cluster's nodes (setnodes, else corosync.conf's nodelist, else the
    /// CIB's); `exists` says whether a directory exists.
    public static func liveNodes(names: [String], local: String, root: String, roots: String?, exists: (String) -> Bool) throws(CrmError) -> [(node: String, root: String)] {
        if let roots, !roots.isEmpty {
            var map: [(String, String)] = []
            for part in roots.split(separator: ";") {
                let p = part.trimmingCharacters(in: .whitespaces)
                guard let colon = p.firstIndex(of: ":"), colon != p.startIndex, p[p.index(after: colon)...].hasPrefix("/") else {
                    throw CrmError("history: SWIFTHA_ROOTS: '\(p)' is not node:/path; write the nodes' roots as node1:/srv/n1;node2:/srv/n2")
                }
                map.append((String(p[..<colon]), String(p[p.index(after: colon)...])))
            }
            let wanted = names.isEmpty ? map.map(\.0) : names
            return map.filter { wanted.contains($0.0) }.sorted { (wanted.firstIndex(of: $0.0) ?? 0) < (wanted.firstIndex(of: $1.0) ?? 0) }
        }
        let trimmed = root.hasSuffix("/") && root != "/" ? String(root.dropLast()) : root
        let parent = (trimmed as NSString).deletingLastPathComponent
        guard trimmed != "/", (trimmed as NSString).lastPathComponent == local else { return [(local, root)] }
        var out: [(String, String)] = []
        for n in names.isEmpty ? [local] : names {
            let r = n == local ? trimmed : parent + "/" + n
            if n == local || exists(r) { out.append((n, r)) }
        }
        if !out.contains(where: { $0.0 == local }), names.isEmpty { out.append((local, trimmed)) }
        return out
    }

    /// The node names of corosync.conf's nodelist (`name:` of each `node { }`), in order.
    public static func nodelistNames(_ text: String) -> [String] {
        var out: [String] = []
        var depth = 0
        var inNodelist = false
        for raw in text.split(separator: "\n") {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if let hash = line.firstIndex(of: "#") { line = String(line[..<hash]).trimmingCharacters(in: .whitespaces) }
            if line.hasSuffix("{") {
                let section = line.dropLast().trimmingCharacters(in: .whitespaces)
                if depth == 0 && section == "nodelist" { inNodelist = true }
                depth += 1
            } else if line == "}" {
                depth -= 1
                if depth == 0 { inNodelist = false }
            } else if inNodelist, depth == 2, let colon = line.firstIndex(of: ":"), line[..<colon].trimmingCharacters(in: .whitespaces) == "name" {
                let v = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if !v.isEmpty { out.append(v) }
            }
        }
        return out
    }

    /// The logs of several nodes as one, in time order: each node's lines (a line without a
    /// head of its own is that node's), merged by time; lines of the same time keep the nodes'
    /// order, and each node's own order.
    public static func merge(_ logs: [(node: String, lines: [LogLine])]) -> [LogLine] {
        var all: [(time: Double, node: Int, index: Int, line: LogLine)] = []
        for (n, log) in logs.enumerated() {
            for (i, l) in log.lines.enumerated() {
                var line = l
                if line.node == nil { line.node = log.node }
                all.append((l.time ?? -.infinity, n, i, line))
            }
        }
        all.sort { ($0.time, $0.node, $0.index) < ($1.time, $1.node, $1.index) }
        return all.map(\.line)
    }

    /// The lines of the given nodes (all when none are named).
    public static func lines(_ lines: [LogLine], of nodes: [String]) -> [LogLine] {
        nodes.isEmpty ? lines : lines.filter { $0.node.map(nodes.contains) ?? false }
    }

    /// `log`'s and `setnodes`' node words: each must be a node of the source.
    public static func checkNodes(_ words: [String], known: [String], command: String, usage: String) throws(CrmError) {
        for w in words where !known.contains(w) {
            throw CrmError("history.\(command): no node \"\(w)\" in the source (nodes: \(known.isEmpty ? "none" : known.joined(separator: " "))); usage: \(usage)")
        }
    }

    /// `journalctl -o json` lines (our daemons' entries, each with its NODE field) as log
    /// lines in JournalLogHandler's form, the node being NODE (else the host name): so that
    /// the journal of a machine running several nodes reads as their logs.
    public static func journalLines(_ json: String, zone: TimeZone) -> String {
        var out: [String] = []
        for raw in json.split(separator: "\n") {
            guard let data = raw.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
            func field(_ k: String) -> String? {
                if let s = object[k] as? String { return s }
                if let bytes = object[k] as? [Int] { return String(decoding: bytes.map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self) }
                return nil
            }
            guard let usec = field("__REALTIME_TIMESTAMP").flatMap({ Int($0) }), let message = field("MESSAGE") else { continue }
            let node = field("NODE") ?? field("_HOSTNAME") ?? "localhost"
            let program = field("SYSLOG_IDENTIFIER") ?? "unknown"
            let pid = field("_PID").map { "[\($0)]" } ?? ""
            out.append("\(isoTime(Double(usec) / 1_000_000, zone: zone)) \(node) \(program)\(pid): \(message)")
        }
        return out.joined(separator: "\n")
    }

    /// `2026-11-24T12:11:12.345678+00:00`, as journalctl's short-iso-precise writes a time.
    public static func isoTime(_ t: Double, zone: TimeZone) -> String {
        let whole = t.rounded(.down)
        let c = components(whole, zone: zone)
        let offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: t))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let micro = String(Int(((t - whole) * 1_000_000).rounded()) % 1_000_000 + 1_000_000).dropFirst()
        return "\(c.year ?? 1970)-\(two(c.month ?? 1))-\(two(c.day ?? 1))T\(two(c.hour ?? 0)):\(two(c.minute ?? 0)):\(two(c.second ?? 0)).\(micro)"
            + "\(offset < 0 ? "-" : "+")\(two(abs(offset) / 3600)):\(two(abs(offset) % 3600 / 60))"
    }
}
