import CSystemd
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras
import Logging

/// A swift-log handler that writes to journald through libsystemd's `sd_journal_send`, with
/// the syslog priority and the metadata as journal fields. Falls back to stderr when there is
/// no journal socket (containers, test machines), so a message is never lost silently.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public let label: String
    /// Fields every journal entry of this process carries (DAEMON, NODE): they make
    /// `journalctl DAEMON=crmd NODE=node2` work. They are left out of the stderr lines,
    /// which already start with the program's name.
    public var fields: [String: String]
    private let useJournal: Bool

    /// `label` is the SYSLOG_IDENTIFIER (the program's name).
    public init(label: String, journal: Bool = JournalLogHandler.journalAvailable, fields: [String: String] = [:]) {
        self.label = label
        self.useJournal = journal
        self.fields = fields
    }

    /// The fields of a daemon's entries: DAEMON, and NODE when the node's name is known
    /// (given, else SWIFTHA_NODE).
    public static func processFields(daemon: String, node: String? = nil) -> [String: String] {
        var f = ["DAEMON": daemon]
        if let n = node ?? ProcessInfo.processInfo.environment["SWIFTHA_NODE"], !n.isEmpty { f["NODE"] = n }
        return f
    }

    /// Whether journald's socket exists on this machine.
    public static var journalAvailable: Bool {
        FileManager.default.fileExists(atPath: "/run/systemd/journal/socket")
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The syslog priority of a swift-log level.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        if useJournal {
            // The level leads the message, as in Pacemaker's syslog lines ("notice: ..."), so
            // that `journalctl -o short-iso` shows it (crm history reads it there).
            var fields = [
                "MESSAGE=\(event.level): \(event.message)",
                "PRIORITY=\(Self.priority(event.level))",
                "SYSLOG_IDENTIFIER=\(label)",
                "CODE_FILE=\(event.file)",
                "CODE_LINE=\(event.line)",
                "CODE_FUNC=\(event.function)",
            ]
            var named = self.fields
            for (k, v) in all { named[Self.journalFieldName(k)] = "\(v)" }
            for (k, v) in named.sorted(by: { $0.key < $1.key }) { fields.append("\(k)=\(v)") }
            if Self.send(fields) { return }
        }
        let meta = all.isEmpty ? "" : " " + all.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        writeStandardError(Self.line(time: Date(), host: Self.host, label: label, pid: getpid(), level: event.level, message: "\(event.message)\(meta)"))
    }

    /// A log line as `journalctl -o short-iso-precise` shows the journal's, so that one reader
    /// (crm history) takes both: `2026-11-24T12:11:12.345678+00:00 node1 crmd[1234]: notice: text`.
    public static func line(time: Date, host: String, label: String, pid: Int32, level: Logger.Level, message: String, zone: TimeZone = .current) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: time)
        let micros = Int((time.timeIntervalSince1970 - time.timeIntervalSince1970.rounded(.down)) * 1_000_000)
        let offset = zone.secondsFromGMT(for: time)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let micro = String(micros + 1_000_000).dropFirst()
        let stamp = "\(c.year ?? 1970)-\(two(c.month ?? 1))-\(two(c.day ?? 1))T\(two(c.hour ?? 0)):\(two(c.minute ?? 0)):\(two(c.second ?? 0)).\(micro)"
            + "\(offset < 0 ? "-" : "+")\(two(abs(offset) / 3600)):\(two(abs(offset) % 3600 / 60))"
        return "\(stamp) \(host) \(label)[\(pid)]: \(level): \(message)\n"
    }

    /// The node name a line carries: the node's (SWIFTHA_NODE, as pacemakerd passes it down),
    /// else the host name.
    static let host: String = {
        if let node = ProcessInfo.processInfo.environment["SWIFTHA_NODE"], !node.isEmpty { return node }
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return "localhost" }
        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.split(separator: ".").first.map(String.init) ?? name
    }()

    /// Journal field names are upper-case letters, digits and underscores.
    static func journalFieldName(_ key: String) -> String {
        let mapped = key.uppercased().map { c -> Character in
            (c.isASCII && (c.isLetter || c.isNumber)) ? c : "_"
        }
        let name = String(mapped)
        return name.first?.isNumber == true || name.hasPrefix("_") ? "F" + name : name
    }

    private static func send(_ fields: [String]) -> Bool {
        // One contiguous buffer holds every field; the iovecs point into it.
        var bytes: [UInt8] = []
        var spans: [(Int, Int)] = []
        for f in fields {
            spans.append((bytes.count, f.utf8.count))
            bytes.append(contentsOf: f.utf8)
        }
        let rc: Int32 = bytes.withUnsafeMutableBytes { raw in
            let iov = spans.map { iovec(iov_base: raw.baseAddress! + $0.0, iov_len: $0.1) }
            return sd_journal_sendv(iov, Int32(iov.count))
        }
        return rc >= 0
    }
}

/// Sets swift-log up once for a program: journald when available (each entry with the
/// DAEMON and NODE fields), stderr otherwise.
public func bootstrapLogging(program: String, level: Logger.Level = .info, node: String? = nil) {
    let fields = JournalLogHandler.processFields(daemon: program, node: node)
    LoggingSystem.bootstrap { label in
        var h = JournalLogHandler(label: program == label ? label : "\(program)[\(label)]", fields: fields)
        h.logLevel = level
        return h
    }
}
