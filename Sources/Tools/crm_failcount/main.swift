import ArgumentParser
import CIB
import Foundation
import HASupport
import ToolSupport

/// crm_failcount: how often a resource failed on a node (the sum over its operations, or one
/// operation's with -n/-I), or clear its failures (through crm_resource --cleanup, as
/// Pacemaker's script does).
struct CrmFailcount: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crm_failcount", abstract: "Query or delete resource fail counts.")

    static let usage = """
    Usage: crm_failcount <command> [<options>]
    Common options:
     --help                 Display this text, then exit
     --version              Display version information, then exit
     -V, --verbose          Specify multiple times to increase debug output
     -q, --quiet            Print only the value (if querying)

    Commands:
     -G, --query            Query the current value of the resource's fail count
     -D, --delete           Delete resource's recorded failures

    Additional Options:
     -r, --resource=value   Name of the resource to use (required)
     -n, --operation=value  Name of operation to use (instead of all operations)
     -I, --interval=value   If operation is specified, its interval
     -N, --node=value       Use failcount on named node (instead of local node)
    """

    @Option(name: [.customShort("r"), .customLong("resource"), .customLong("resource-id")], help: "The resource.") var resource: String?
    @Option(name: [.customShort("N"), .customLong("node"), .customShort("U"), .customLong("uname")], help: "The node (default: this node, SWIFTHA_NODE).") var node: String?
    @Flag(name: [.customShort("G"), .customLong("query"), .customLong("get-value")], help: "Show the failcount.") var query = false
    @Flag(name: [.customShort("D"), .customLong("delete"), .customLong("delete-attr")], help: "Delete the resource's recorded failures.") var delete = false
    @Option(name: [.customShort("n"), .customLong("operation")], help: "Only this operation's failures.") var operation: String?
    @Option(name: [.customShort("I"), .customLong("interval")], help: "With --operation: its interval (default 0).") var interval = "0"
    @Option(name: [.customShort("v"), .customLong("attr-value")], help: "(Deprecated) 0 means --delete.") var value: String?
    @Option(name: [.customShort("i"), .customLong("attr-id"), .customShort("l"), .customLong("lifetime")], help: "(Deprecated, ignored).") var ignored: String?
    @Flag(name: [.customShort("q"), .customShort("Q"), .customLong("quiet")], help: "Print only the value.") var quiet = false
    @Flag(name: [.customShort("V"), .long], help: "Print more details.") var verbose: Int

    func usageError(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        print("\n" + Self.usage)
        HASupport.exit(.usage)
    }

    func run() throws {
        let program = "crm_failcount"
        if ignored != nil { FileHandle.standardError.write(Data("warning: ignoring deprecated option '-i'/'-l'\n".utf8)) }
        var delete = self.delete
        if let value {
            if value == "0" { delete = true } else { FileHandle.standardError.write(Data("warning: ignoring deprecated option '-v' with nonzero value\n".utf8)) }
        }
        guard query || delete else { usageError("must specify a command") }
        guard let resource else { usageError("resource name required") }
        let node = node ?? LocalNode.name(cib: CIBLocation.fromEnvironment().load(program: program))
        guard let ms = CIBValue.milliseconds(interval) else {
            ToolSupport.fail(program, "--interval \(interval) is not a duration: write e.g. 10s, 500ms or 1min", .usage)
        }
        if delete { cleanup(resource: resource, node: node, intervalMS: ms) }
        let cib = CIBLocation.fromEnvironment().load(program: program)
        func values(_ sel: AttributeSelector) -> [String] {
            ((try? cib.attributes(sel, scope: .status, node: node)) ?? []).map(\.value)
        }
        let base = "fail-count-\(resource)"
        var display = base
        var total = 0
        func add(_ v: String) {
            guard let n = v == "INFINITY" || v == "+INFINITY" ? CIBValue.infinity : Int(v) else { return }
            total = min(CIBValue.infinity, total + n)
        }
        if let operation {
            display = "\(base)#\(operation)_\(ms)"
            values(AttributeSelector(name: display)).prefix(1).forEach(add)
        } else {
            let all = ((try? cib.attributes(AttributeSelector(), scope: .status, node: node)) ?? []).filter { $0.name.hasPrefix(base + "#") }
            all.map(\.value).forEach(add)
            if total == 0 { values(AttributeSelector(name: base)).prefix(1).forEach(add) }
        }
        let text = total >= CIBValue.infinity ? "INFINITY" : String(total)
        print(quiet ? text : "scope=status  name=\(display) value=\(text)")
    }

    /// `crm_resource --cleanup` (beside this executable) for the resource on the node, as
    /// Pacemaker's crm_failcount does; its output and exit code are this tool's.
    func cleanup(resource: String, node: String, intervalMS: Int) -> Never {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let sibling = dir.appendingPathComponent("crm_resource").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: sibling) ? sibling : "/usr/bin/env")
        var args = FileManager.default.isExecutableFile(atPath: sibling) ? [] : ["crm_resource"]
        if quiet { args.append("--quiet") }
        args += Array(repeating: "-V", count: verbose)
        args += ["--cleanup", "-N", node, "-r", resource]
        if let operation { args += ["-n", operation, "-I", "\(intervalMS)ms"] }
        p.arguments = args
        do { try p.run() } catch {
            ToolSupport.fail("crm_failcount", "cannot run crm_resource --cleanup: \(error)", .notInstalled)
        }
        p.waitUntilExit()
        Glibc.exit(p.terminationStatus)
    }
}

ToolSupport.main(CrmFailcount.self, program: "crm_failcount")
