import CIB
import Foundation
import HASupport

/// What every operator tool shares: where the CIB comes from, how input XML is read, and how
/// errors become one clear line and Pacemaker's exit code.
public enum ToolSupport {
    /// Prints `program: message` on stderr.
    public static func printError(_ program: String, _ message: String) {
        FileHandle.standardError.write(Data("\(program): \(message)\n".utf8))
    }

    /// The exit code a CIB error maps to, as Pacemaker's tools use them.
    public static func exitCode(for error: CIBError) -> CRMExit {
        switch error.kind {
        case .malformed: .dataError
        case .invalid: .config
        case .notFound: .noSuchObject
        case .exists: .exists
        case .versionMismatch: .old
        case .digestMismatch: .digest
        case .io: .noInput
        case .badRequest: .usage
        case .multiple: .multiple
        case .noQuorum: .quorum
        }
    }

    /// Prints the error and exits with its code.
    public static func fail(_ program: String, _ error: CIBError) -> Never {
        printError(program, error.message)
        HASupport.exit(exitCode(for: error))
    }

    /// Prints a message and exits with a code.
    public static func fail(_ program: String, _ message: String, _ code: CRMExit) -> Never {
        printError(program, message)
        HASupport.exit(code)
    }
}

/// Where a tool finds the CIB: the file `CIB_file` names, or the running cluster.
public enum CIBLocation: Equatable, Sendable {
    case file(String)
    case live

    /// `CIB_file` when set, else the live cluster.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> CIBLocation {
        if let f = env["CIB_file"], !f.isEmpty { return .file(f) }
        return .live
    }

    /// The message given while the live CIB is not reachable from tools.
    public static let liveUnavailable = "cannot connect to the cluster's CIB: cibd is not running on this node (set CIB_file=FILE to work on a file instead)"

    /// The feature set of the Pacemaker release this build matches (2.1.5).
    public static let featureSet = "3.16.2"

    /// Whether Pacemaker 2.1.5's tools would refuse to change this CIB file: one written by a
    /// newer release (a higher crm_feature_set) is read, never written (EPROTONOSUPPORT).
    public func refusesChanges(to cib: CIB) -> Bool {
        guard case .file = self, let set = cib.root["crm_feature_set"] else { return false }
        func parts(_ v: String) -> [Int] { v.split(separator: ".").map { Int($0) ?? 0 } }
        let (a, b) = (parts(set), parts(Self.featureSet))
        for k in 0..<max(a.count, b.count) {
            let (x, y) = (k < a.count ? a[k] : 0, k < b.count ? b[k] : 0)
            if x != y { return x > y }
        }
        return false
    }

    /// Loads the CIB: the file, or the running cluster's through this node's cibd (102 when
    /// cibd cannot be reached).
    public func load(program: String, root: String? = nil) -> CIB {
        switch self {
        case .file(let path):
            do { return try CIBFile.load(path) } catch { ToolSupport.fail(program, error) }
        case .live:
            return LiveCIB(program: program, root: NodeEnvironment(root: root).root).load()
        }
    }

    /// Writes a changed CIB back: the file atomically; to the running cluster as a patch from
    /// the copy it was made from, made again on the current copy when only the status moved on
    /// in between, so a configuration change someone made meanwhile is never overwritten (the
    /// tool says to try again).
    public func save(_ cib: CIB, original: CIB, program: String, root: String? = nil) {
        if cib == original { return }
        switch self {
        case .file(let path):
            do { try CIBFile.write(cib, to: path, digest: false) } catch { ToolSupport.fail(program, error) }
        case .live:
            LiveCIB(program: program, root: NodeEnvironment(root: root).root).save(cib, original: original)
        }
    }
}

/// XML given on the command line: `-X TEXT`, `-x FILE` or `-p` (stdin).
public struct XMLInput: Sendable {
    public var text: String?
    public var file: String?
    public var pipe: Bool

    public init(text: String?, file: String?, pipe: Bool) {
        self.text = text
        self.file = file
        self.pipe = pipe
    }

    public var isGiven: Bool { text != nil || file != nil || pipe }

    /// The raw bytes and a name for messages, or nil when none was given.
    public func bytes() throws(CIBError) -> (data: Data, source: String)? {
        if let text { return (Data(text.utf8), "--xml-text") }
        if let file { return (try CIBFile.read(file), file) }
        if pipe { return (FileHandle.standardInput.readDataToEndOfFile(), "stdin") }
        return nil
    }

    /// The parsed element, or nil when none was given.
    public func element() throws(CIBError) -> XElement? {
        guard let (data, source) = try bytes() else { return nil }
        do { return try XElement.parse(data, source: source) } catch { throw CIBError(.malformed, error.description) }
    }
}

extension ToolSupport {
    /// Pacemaker's words for an operation's execution status (op-status, pcmk_exec_status_str);
    /// `unknown` for a value outside the table.
    public static func execStatusText(_ status: Int, unknown: String = "UNKNOWN") -> String {
        switch status {
        case -1: "pending"
        case 0: "complete"
        case 1: "Cancelled"
        case 2: "Timed Out"
        case 3: "NOT SUPPORTED"
        case 4: "Error"
        case 5: "Hard error"
        case 6: "Fatal error"
        case 7: "Not installed"
        case 8: "Internal communication failure"
        case 9: "Cannot execute now"
        case 10: "No fence device"
        case 11: "CIB secrets unavailable"
        default: unknown
        }
    }

    /// ArgumentParser's "Unknown option '--x'. Did you mean ...?" as Pacemaker's tools say it:
    /// "Unknown option --x"; any other message as it is.
    public static func pacemakerUnknownOption(_ message: String) -> String {
        guard message.hasPrefix("Unknown option '") else { return message }
        return "Unknown option " + (message.dropFirst(16).components(separatedBy: ". Did you mean").first ?? "").replacingOccurrences(of: "'", with: "")
    }
}
