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
