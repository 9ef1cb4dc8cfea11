import Foundation
import HASupport
import Logging
import Messaging
import Synchronization

/// corosyncd's logging settings (corosync.conf's `logging` section), shared by every logger
/// of the process and changed in place by a config reload, as corosync applies `debug`,
/// `to_stderr`, `to_logfile` and `logfile` at run time.
final class LogSettings: Sendable {
    struct State {
        var level: Logger.Level
        var toStderr: Bool
        /// The open log file (`to_logfile: yes`), and its path.
        var file: FileHandle?
        var filePath: String?
    }

    let state: Mutex<State>
    let journal: Bool
    let foreground: Bool
    let environment: NodeEnvironment

    init(_ logging: LoggingConfig, journal: Bool, foreground: Bool, environment: NodeEnvironment) {
        self.journal = journal
        self.foreground = foreground
        self.environment = environment
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
            try? s.file?.close()
            s.file = nil
            s.filePath = nil
            guard let path else { return }
            let dir = (path as NSString).deletingLastPathComponent
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            guard let handle = FileHandle(forWritingAtPath: path) else {
                problem = "cannot open the log file \(path) (logging.logfile); check that its directory is writable"
                return
            }
            handle.seekToEndOfFile()
            s.file = handle
            s.filePath = path
        }
        return problem
    }

    var level: Logger.Level { state.withLock { $0.level } }

    func write(label: String, event: LogEvent) {
        let (toStderr, file) = state.withLock { ($0.toStderr, $0.file) }
        if journal { JournalLogHandler(label: label, journal: true, fields: JournalLogHandler.processFields(daemon: "corosyncd", node: environment.node)).log(event: event) }
        if !journal || (foreground && toStderr) { JournalLogHandler(label: label, journal: false).log(event: event) }
        if let file {
            let stamp = Self.stamp.withLock { $0.string(from: Date()) }
            file.write(Data("\(stamp) [\(getpid())] \(label) \(event.level)\t\(event.message)\n".utf8))
        }
    }

    private static let stamp = Mutex<DateFormatter>({
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "MMM dd HH:mm:ss.SSS"
        return f
    }())
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
