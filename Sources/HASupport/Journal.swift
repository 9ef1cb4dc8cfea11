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
    private let useJournal: Bool

    /// `identifier` is the SYSLOG_IDENTIFIER (the program's name).
    public init(label: String, journal: Bool = JournalLogHandler.journalAvailable) {
        self.label = label
        self.useJournal = journal
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
            var fields = [
                "MESSAGE=\(event.message)",
                "PRIORITY=\(Self.priority(event.level))",
                "SYSLOG_IDENTIFIER=\(label)",
                "CODE_FILE=\(event.file)",
                "CODE_LINE=\(event.line)",
                "CODE_FUNC=\(event.function)",
            ]
            for (k, v) in all.sorted(by: { $0.key < $1.key }) {
                fields.append("\(Self.journalFieldName(k))=\(v)")
            }
            if Self.send(fields) { return }
        }
        let meta = all.isEmpty ? "" : " " + all.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        writeStandardError("\(label): \(event.level): \(event.message)\(meta)\n")
    }

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

/// Sets swift-log up once for a program: journald when available, stderr otherwise.
public func bootstrapLogging(program: String, level: Logger.Level = .info) {
    LoggingSystem.bootstrap { label in
        var h = JournalLogHandler(label: program == label ? label : "\(program)[\(label)]")
        h.logLevel = level
        return h
    }
}
