#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EssentialsExtras
import HASupport
import Logging
import Messaging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// corosyncd's logging settings (corosync.conf's `logging` section), shared by every logger
/// of the process and changed in place by a config reload, as corosync applies `debug`,
/// `to_stderr`, `to_logfile` and `logfile` at run time.
final class LogSettings: Sendable {
    struct State {
        var level: Logger.Level
        var toStderr: Bool
        /// The open log file (`to_logfile: yes`), and its path.
        var file: LogFile?
        var filePath: String?
    }

    let state: Mutex<State>
    let journal: Bool
    let foreground: Bool
    let environment: NodeEnvironment
    /// The journal fields of every entry (DAEMON, NODE), made once.
    let journalFields: [String: String]

    init(_ logging: LoggingConfig, journal: Bool, foreground: Bool, environment: NodeEnvironment) {
        self.journal = journal
        self.foreground = foreground
        self.environment = environment
        journalFields = JournalLogHandler.processFields(daemon: "corosyncd", node: environment.node)
        state = Mutex(State(level: logging.debug == .off ? .info : .debug, toStderr: logging.toStderr))
    }

    /// Takes new settings (at start and at each reload); returns what could not be applied (a log file that cannot be
    /// opened: logging carries on without it).
    func apply(_ logging: LoggingConfig) -> String? {
        // logfile is read under the node root, like corosync.conf itself.
        let path = logging.toLogfile ? logging.logfile.map { environment.path($0) } : nil
        var problem: String?
        state.withLock { s in
            s.level = logging.debug == .off ? .info : .debug
            s.toStderr = logging.toStderr
            guard path != s.filePath else { return }
            s.file = nil
            s.filePath = nil
            guard let path else { return }
            let dir = deletingLastPathComponent(path)
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            guard let handle = LogFile(path: path) else {
                problem = "cannot open the log file \(path) (logging.logfile); check that its directory is writable"
                return
            }
            s.file = handle
            s.filePath = path
        }
        return problem
    }

    var level: Logger.Level { state.withLock { $0.level } }

    func write(label: String, event: LogEvent) {
        let (toStderr, file) = state.withLock { ($0.toStderr, $0.file) }
        if journal { JournalLogHandler(label: label, journal: true, fields: journalFields).log(event: event) }
        if !journal || (foreground && toStderr) { JournalLogHandler(label: label, journal: false).log(event: event) }
        if let file {
            file.write("\(Self.stamp()) [\(getpid())] \(label) \(event.level)\t\(event.message)\n")
        }
    }

    /// The local time as corosync's log file has it: `Nov 24 12:30:05.123`.
    static func stamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var t = now.tv_sec
        var tm = tm()
        localtime_r(&t, &tm)
        var out = [CChar](repeating: 0, count: 64)
        let n = strftime(&out, out.count, "%b %d %H:%M:%S", &tm)
        let head = String(decoding: out[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return head + "." + zeroPadded(now.tv_nsec / 1_000_000, width: 3)
    }
}

/// The log file (`to_logfile: yes`), opened for writing at its end; closed when let go.
final class LogFile: Sendable {
    let fd: Int32

    init?(path: String) {
        fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        lseek(fd, 0, SEEK_END)
    }

    func write(_ line: String) {
        var bytes = Array(line.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }

    deinit { _ = Glibc.close(fd) }
}

/// A swift-log handler over ``LogSettings``: its level is the settings' level at each call.
struct CorosyncLogHandler: LogHandler {
    let label: String
    let settings: LogSettings
    var metadata: Logger.Metadata = [:]

    var logLevel: Logger.Level {
        get { settings.level }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var e = event
        if !metadata.isEmpty { e.metadata = metadata.merging(event.metadata ?? [:]) { _, new in new } }
        settings.write(label: label, event: e)
    }
}
