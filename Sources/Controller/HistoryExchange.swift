#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `crm history` on a cluster of several machines: the tool asks its node's crmd (local IPC,
/// `<root>/run/swiftha/crmd.sock`); that crmd multicasts a query to CPG group "crmd-history";
/// every node's crmd answers with its log lines of the time window and the scheduler inputs it
/// saved as DC (bounded in size, split into parts a ring message carries); the asking crmd
/// gathers the answers until every member answered or the time is up, and hands the tool what
/// came, naming the nodes that did not answer. No ssh, no shared file system.
///
/// What is decided here (which lines and files an answer holds, how it is split and put back
/// together, when a gathering is over) is pure; crmd's shell reads the files, multicasts and
/// arms the timer.
/// What a tool may ask its node's crmd.
public enum ControllerRequest: Codable, Sendable, Equatable {
    /// Every node's history (`HistoryQuery`'s id and origin are set by crmd).
    case history(HistoryQuery)
}

/// crmd's answers.
public enum ControllerReply: Codable, Sendable, Equatable {
    case history(HistoryCollection)
}

/// crmd pushes nothing unasked yet.
public enum ControllerEvent: Codable, Sendable, Equatable {
    case none
}

/// A question to every node's crmd: its history in a time window.
public struct HistoryQuery: Codable, Sendable, Equatable {
    /// Unique per gathering (the asking node's name and a counter).
    public var id: String
    /// The node whose crmd asks (and gathers the answers).
    public var origin: String
    /// The window: log lines and inputs from `from` (seconds since the epoch) to `to` (nil: now).
    public var from: Double
    public var to: Double?
    /// The most bytes (log and files) one node's answer may hold.
    public var maxBytes: Int
    /// The inputs the asker already holds, per node: file name to modification time. Those
    /// are listed in the answer without their content.
    public var known: [String: [String: Int]]
    /// How long the asker waits for the answers, in milliseconds.
    public var timeoutMS: Int

    public init(id: String = "", origin: String = "", from: Double, to: Double?, maxBytes: Int = HistoryQuery.defaultMaxBytes,
                known: [String: [String: Int]] = [:], timeoutMS: Int = HistoryQuery.defaultTimeoutMS) {
        self.id = id
        self.origin = origin
        self.from = from
        self.to = to
        self.maxBytes = maxBytes
        self.known = known
        self.timeoutMS = timeoutMS
    }

    /// 4 MiB per node.
    public static let defaultMaxBytes = 4 * 1024 * 1024
    /// The bound a query may ask for: 16 MiB per node.
    public static let largestMaxBytes = 16 * 1024 * 1024
    /// 5 s: a node that has not answered by then is left out.
    public static let defaultTimeoutMS = 5000
}

/// One saved scheduler input in an answer; `data` nil when the asker already has it (or it
/// did not fit in the bound: then `left` is true).
public struct HistoryFile: Codable, Sendable, Equatable {
    public var name: String
    /// Its modification time (seconds since the epoch).
    public var time: Int
    public var data: Data?
    /// True when it was left out of the answer for the size bound.
    public var left: Bool

    public init(name: String, time: Int, data: Data?, left: Bool = false) {
        self.name = name
        self.time = time
        self.data = data
        self.left = left
    }
}

/// One node's answer.
public struct HistoryBundle: Codable, Sendable, Equatable {
    public var node: String
    /// Its log lines of the window (nil: it has no log it can read).
    public var log: String?
    /// Where the lines come from (the log file, or the journal); without a log, the file
    /// that does not exist or cannot be read.
    public var logSource: String
    /// The inputs it saved as DC in the window, newest last.
    public var files: [HistoryFile]
    /// What was cut for the bound, said to the operator.
    public var notes: [String]

    public init(node: String, log: String?, logSource: String, files: [HistoryFile], notes: [String] = []) {
        self.node = node
        self.log = log
        self.logSource = logSource
        self.files = files
        self.notes = notes
    }
}

/// What a gathering brought: the answers, and the nodes that gave none.
public struct HistoryCollection: Codable, Sendable, Equatable {
    public var bundles: [HistoryBundle]
    /// Members of the group that did not answer within the time (or left before answering).
    public var silent: [String]
    /// Nodes of the nodelist whose crmd is not in the group (down, or not started).
    public var absent: [String]

    public init(bundles: [HistoryBundle], silent: [String], absent: [String]) {
        self.bundles = bundles
        self.silent = silent
        self.absent = absent
    }

    /// The lines the operator is told about the nodes left out and the answers cut short.
    public var warnings: [String] {
        silent.map { "\($0) did not answer: its history is left out" }
            + absent.map { "\($0) is not in the cluster (its crmd is not running): its history is left out" }
            + bundles.flatMap { b in b.notes.map { "\(b.node): \($0)" } }
    }
}

/// What travels in CPG group "crmd-history".
public enum HistoryMessage: Codable, Sendable, Equatable {
    case query(HistoryQuery)
    /// Part `index` (from 0) of `count` of node's answer (JSON of a `HistoryBundle`).
    case part(id: String, node: String, index: Int, count: Int, bytes: Data)

    public func encoded() -> Data { (try? JSONEncoder().encode(self)) ?? Data() }

    public static func decode(_ data: Data) throws -> HistoryMessage { try JSONDecoder().decode(HistoryMessage.self, from: data) }

    /// The group's name.
    public static let group = "crmd-history"
    /// The most bytes of an answer in one part (a ring message holds 1 MiB; the part is
    /// base64 in JSON).
    public static let partSize = 384 * 1024
}

/// The answering side: which lines and inputs an answer holds, and its parts.
public enum HistoryAnswer {
    /// The time at the head of a log line (`2026-11-24T12:11:12.345678+00:00 node1 ...`, the
    /// form the daemons write and journalctl's short-iso-precise), or nil.
    public static func time(of line: Substring) -> Double? {
        let b = Array(line.utf8.prefix(40))
        func num(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for c in b[at..<(at + n)] {
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard b.count >= 19, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 32, b[13] == 58, b[16] == 58,
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 46 {
            i += 1
            var scale = 0.1
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
        }
        var offset = 0
        if i < b.count, b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2) {
            let om = (i + 3 < b.count && b[i + 3] == 58 ? num(i + 4, 2) : num(i + 3, 2)) ?? 0
            offset = (oh * 3600 + om * 60) * (b[i] == 45 ? -1 : 1)
        } else if i < b.count, b[i] == 90 {
            offset = 0
        } else {
            return nil
        }
        // Days since the epoch (proleptic Gregorian).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return Double(days * 86400 + h * 3600 + mi * 60 + s - offset) + fraction
    }

    /// The lines of a log in the window (a line without a time goes with the line before
    /// it; a log with no times at all is kept whole), the newest `maxBytes` of them; and
    /// whether older lines were cut for the bound.
    public static func window(_ text: String, from: Double, to: Double?, maxBytes: Int) -> (text: String, cut: Bool) {
        var kept: [Substring] = []
        var keep = true
        var sawTime = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let t = time(of: line) {
                sawTime = true
                keep = t >= from - 1 && to.map { t <= $0 + 1 } ?? true
            }
            if keep, !line.isEmpty { kept.append(line) }
        }
        if !sawTime { kept = text.split(separator: "\n").map { $0 } }
        var total = 0
        var start = kept.count
        while start > 0, total + kept[start - 1].utf8.count + 1 <= maxBytes {
            total += kept[start - 1].utf8.count + 1
            start -= 1
        }
        let out = kept[start...].map { $0 + "\n" }.joined()
        return (out, start > 0)
    }

    /// The inputs an answer holds: those of the window (by modification time), each with its
    /// content unless the asker has it already; newest first into the bound, the older ones
    /// over it listed as left out. `read` gives a file's content.
    public static func files(_ list: [(name: String, time: Int)], from: Double, to: Double?, known: [String: Int], budget: Int,
                             read: (String) -> Data?) -> (files: [HistoryFile], left: Int) {
        let chosen = list.filter { f in Double(f.time) >= from - 1 && to.map { end in Double(f.time) <= end + 1 } ?? true }
            .sorted { ($0.time, $0.name) < ($1.time, $1.name) }
        var out: [HistoryFile] = []
        var room = budget
        var left = 0
        for f in chosen.reversed() {
            if known[f.name] == f.time {
                out.append(HistoryFile(name: f.name, time: f.time, data: nil))
                continue
            }
            guard let data = read(f.name) else { continue }
            if data.count <= room {
                room -= data.count
                out.append(HistoryFile(name: f.name, time: f.time, data: data))
            } else {
                room = 0
                left += 1
                out.append(HistoryFile(name: f.name, time: f.time, data: nil, left: true))
            }
        }
        return (out.reversed(), left)
    }

    /// A node's answer as the messages that carry it.
    public static func parts(of bundle: HistoryBundle, id: String, size: Int = HistoryMessage.partSize) -> [HistoryMessage] {
        let data = (try? JSONEncoder().encode(bundle)) ?? Data()
        let count = max(1, (data.count + size - 1) / size)
        return (0..<count).map { i in
            let chunk = data.subdata(in: (i * size)..<min(data.count, (i + 1) * size))
            return .part(id: id, node: bundle.node, index: i, count: count, bytes: chunk)
        }
    }
}

/// The asking side: one gathering of every member's answer, a value that is told what comes
/// (parts, members leaving, the timer) and says what to do.
public struct HistoryGathering: Sendable {
    public enum Directive: Sendable, Equatable {
        case multicast(HistoryMessage)
        /// Call `onTimeout` after this long.
        case arm(Duration)
        /// The gathering is over: hand this to the tool.
        case finish(HistoryCollection)
    }

    public let query: HistoryQuery
    /// The members still awaited.
    public private(set) var waiting: [String]
    let absent: [String]
    var silent: [String] = []
    var parts: [String: [Int: Data]] = [:]
    var bundles: [String: HistoryBundle] = [:]
    var order: [String]
    public private(set) var finished = false

    /// `members`: the nodes whose crmd is in the group (the asker among them); `nodes`: every
    /// node of the cluster (those not among the members are reported absent).
    public init(query: HistoryQuery, members: [String], nodes: [String]) {
        self.query = query
        var seen = Set<String>()
        waiting = members.filter { seen.insert($0).inserted }
        absent = nodes.filter { !seen.contains($0) }
        order = nodes + waiting.filter { !nodes.contains($0) }
    }

    public mutating func start() -> [Directive] {
        if waiting.isEmpty { return finish() }
        return [.multicast(.query(query)), .arm(.milliseconds(query.timeoutMS))]
    }

    /// A part of an answer (for another gathering, or from a node not awaited: ignored).
    public mutating func onPart(id: String, node: String, index: Int, count: Int, bytes: Data) -> [Directive] {
        guard !finished, id == query.id, waiting.contains(node), count > 0, (0..<count).contains(index) else { return [] }
        parts[node, default: [:]][index] = bytes
        guard let got = parts[node], got.count == count else { return [] }
        var data = Data()
        for i in 0..<count { data.append(got[i] ?? Data()) }
        parts[node] = nil
        waiting.removeAll { $0 == node }
        if let bundle = try? JSONDecoder().decode(HistoryBundle.self, from: data) {
            bundles[node] = bundle
        } else {
            silent.append(node)
        }
        return waiting.isEmpty ? finish() : []
    }

    /// A member left the group: it will not answer.
    public mutating func onLeft(_ node: String) -> [Directive] {
        guard !finished, waiting.contains(node) else { return [] }
        waiting.removeAll { $0 == node }
        parts[node] = nil
        silent.append(node)
        return waiting.isEmpty ? finish() : []
    }

    /// The time is up: the nodes still awaited are left out.
    public mutating func onTimeout() -> [Directive] {
        guard !finished else { return [] }
        silent += waiting
        waiting = []
        return finish()
    }

    mutating func finish() -> [Directive] {
        finished = true
        let order = self.order
        let rank = { (n: String) in order.firstIndex(of: n) ?? Int.max }
        return [.finish(HistoryCollection(bundles: bundles.values.sorted { rank($0.node) < rank($1.node) },
                                          silent: silent.sorted { rank($0) < rank($1) }, absent: absent))]
    }
}
