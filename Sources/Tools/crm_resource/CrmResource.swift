import Agents
import ArgumentParser
import CIB
import Dispatch
import Foundation
import HASupport
import LRM
import PolicyEngine
import ToolSupport

#if canImport(Glibc)
import Glibc
#endif

/// crm_resource: in this build, the `--force-*` commands, which run one operation of a
/// configured resource's agent directly on this node, as Pacemaker's crm_resource does.
@main
struct CrmResource: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm_resource",
        abstract: "Perform tasks related to cluster resources.",
        discussion: """
            The --force-* commands run the resource's agent on this node, bypassing the cluster, \
            and exit with the agent's OCF code. The resource, its agent, parameters and the \
            operation's timeout come from the CIB: the file CIB_file names, else \
            <root>/var/lib/pacemaker/cib/cib.xml. When the timeout expires the agent's whole \
            process group is killed (SIGTERM, then SIGKILL).
            Examples:
              crm_resource --force-start -r web
              CIB_file=cib.xml crm_resource --force-check -r db -V
            """)

    @Option(name: [.customShort("r"), .customLong("resource")], help: "Resource ID.")
    var resource: String?

    @Flag(name: .customLong("force-start"), help: "(Advanced) Bypass the cluster and start a resource on the local node.")
    var forceStart = false
    @Flag(name: .customLong("force-stop"), help: "(Advanced) Bypass the cluster and stop a resource on the local node.")
    var forceStop = false
    @Flag(name: .customLong("force-check"), help: "(Advanced) Bypass the cluster and check the state of a resource on the local node.")
    var forceCheck = false
    @Flag(name: .customLong("force-promote"), help: "(Advanced) Bypass the cluster and promote a resource on the local node.")
    var forcePromote = false
    @Flag(name: .customLong("force-demote"), help: "(Advanced) Bypass the cluster and demote a resource on the local node.")
    var forceDemote = false

    @Option(name: .customLong("output-as"), help: "text (default) or xml: Pacemaker 2.1.5's <pacemaker-result> document (with --list and --list-raw).")
    var outputAs = "text"

    @Flag(name: [.customShort("L"), .customLong("list")], help: "List all resources, with their state.")
    var list = false

    @Flag(name: [.customShort("l"), .customLong("list-raw")], help: "List the ids of all primitives.")
    var listRaw = false

    @Flag(name: [.customShort("O"), .customLong("list-operations")], help: "List the active resource operations (optionally of -r, on -N).")
    var listOperations = false
    @Flag(name: [.customShort("o"), .customLong("list-all-operations")], help: "List all resource operations (optionally of -r, on -N).")
    var listAllOperations = false
    @Flag(name: [.customShort("q"), .customLong("query-xml")], help: "Show the configuration of a resource (after any template expansion).")
    var queryXML = false
    @Flag(name: [.customShort("w"), .customLong("query-xml-raw")], help: "Show the configuration of a resource (before any template expansion).")
    var queryXMLRaw = false

    @Flag(name: [.customShort("W"), .customLong("locate")], help: "Show the nodes where a resource runs.")
    var locate = false

    @Flag(name: [.customShort("M"), .customLong("move")], help: "Move a resource: prefer --node, or ban the node it runs on.")
    var move = false
    @Flag(name: [.customShort("B"), .customLong("ban")], help: "Keep a resource off --node (default: the node it runs on).")
    var ban = false
    @Flag(name: [.customShort("U"), .customLong("clear")], help: "Remove the constraints --move and --ban made.")
    var clear = false
    @Flag(name: [.customShort("e"), .customLong("expired")], help: "With --clear: only those whose lifetime ended.")
    var expired = false
    @Option(name: [.customShort("u"), .customLong("lifetime")], help: "With --move/--ban: how long (ISO 8601 duration, e.g. PT1H).")
    var lifetime: String?
    @Flag(name: [.customLong("promoted"), .customLong("master")], help: "With --move/--ban/--clear: the promoted role only.")
    var promoted = false

    @Flag(name: [.customShort("C"), .customLong("cleanup")], help: "Forget failures (and the history of failed resources).")
    var cleanup = false
    @Flag(name: [.customShort("R"), .customLong("refresh")], help: "Forget the history so the state is probed again.")
    var refresh = false
    @Option(name: [.customShort("n"), .customLong("operation")], help: "With --cleanup: only this operation's failures.")
    var operation: String?
    @Option(name: [.customShort("I"), .customLong("interval")], help: "With --cleanup --operation: its interval (default 0).")
    var interval: String?

    @Flag(name: [.customShort("a"), .customLong("constraints")], help: "Show the location and colocation constraints of a resource.")
    var constraints = false
    @Flag(name: [.customShort("A"), .customLong("stack")], help: "Like --constraints, following colocations recursively.")
    var stack = false
    @Flag(name: .customLong("recursive"), help: "Follow colocations (with --set-parameter --meta, and --constraints).")
    var recursive = false
    @Flag(name: [.customShort("Y"), .customLong("why")], help: "Say why a resource is (not) running.")
    var why = false

    @Option(name: [.customShort("p"), .customLong("set-parameter")], help: "Set a parameter (with --parameter-value).")
    var setParameter: String?
    @Option(name: [.customShort("g"), .customLong("get-parameter")], help: "Show a parameter's value.")
    var getParameter: String?
    @Option(name: [.customShort("d"), .customLong("delete-parameter")], help: "Delete a parameter.")
    var deleteParameter: String?
    @Option(name: [.customShort("v"), .customLong("parameter-value")], help: "The value for --set-parameter.")
    var parameterValue: String?
    @Flag(name: [.customShort("m"), .customLong("meta")], help: "A meta attribute instead of a parameter.")
    var meta = false
    @Flag(name: [.customShort("z"), .customLong("utilization")], help: "A utilization attribute instead of a parameter.")
    var utilization = false
    @Option(name: [.customShort("s"), .customLong("set-name")], help: "The id of the attribute set.")
    var setName: String?
    @Option(name: [.customShort("i"), .customLong("nvpair")], help: "The id of the nvpair.")
    var nvpair: String?
    @Option(name: [.customShort("t"), .customLong("resource-type")], help: "The element of the resource, for --delete (primitive, group...).")
    var resourceType: String?
    @Flag(name: [.customShort("D"), .customLong("delete")], help: "Delete a resource from the configuration (with -t).")
    var delete = false

    @Option(name: [.customShort("N"), .customLong("node")], help: "The node (for --move, --ban, --clear, --cleanup, --refresh, --why).")
    var node: String?

    @Flag(name: [.customShort("Q"), .customLong("quiet")], help: "Print only what is essential.")
    var quiet = false

    @Option(name: [.customShort("T"), .customLong("timeout")], help: "(Advanced) The operation's timeout (e.g. 30s, 2min), instead of the CIB's.")
    var timeout: String?

    @Flag(name: [.customShort("f"), .customLong("force")], help: "Override checks: --move also bans the current node, --cleanup/--refresh act on this resource only, attributes go where named.")
    var force = false

    @Flag(name: [.customShort("V"), .customLong("verbose")], help: "Trace the agent (OCF_TRACE_RA=1).")
    var verbose: Int

    @Option(help: "The node's root directory (default: $SWIFTHA_ROOT, else /).")
    var root: String?

    @Option(name: .customLong("ocf-root"), help: ArgumentHelp("Where OCF agents are.", visibility: .hidden))
    var ocfRoot: String = "/usr/lib/ocf"

    var command: String? {
        let chosen = [("force-start", forceStart), ("force-stop", forceStop), ("force-check", forceCheck),
                      ("force-promote", forcePromote), ("force-demote", forceDemote)].filter(\.1).map(\.0)
        return chosen.count == 1 ? chosen[0] : nil
    }

    /// The cluster commands (everything but --force-*), by name; at most one may be given.
    var clusterCommands: [String] {
        [("list", list), ("list-raw", listRaw), ("list-operations", listOperations), ("list-all-operations", listAllOperations),
         ("query-xml", queryXML), ("query-xml-raw", queryXMLRaw), ("locate", locate), ("move", move), ("ban", ban), ("clear", clear),
         ("cleanup", cleanup), ("refresh", refresh), ("constraints", constraints || stack), ("why", why),
         ("set-parameter", setParameter != nil), ("get-parameter", getParameter != nil),
         ("delete-parameter", deleteParameter != nil), ("delete", delete)].filter(\.1).map(\.0)
    }

    func validate() throws {
        let forced = [forceStart, forceStop, forceCheck, forcePromote, forceDemote].filter { $0 }.count
        if clusterCommands.count + forced > 1 {
            throw ValidationError("give only one command (got --\((clusterCommands + (forced > 0 ? ["force-*"] : [])).joined(separator: ", --")))")
        }
        if !clusterCommands.isEmpty || forced == 0 { return }
        if let timeout, CIBValue.milliseconds(timeout) == nil || CIBValue.milliseconds(timeout)! <= 0 {
            throw ValidationError("--timeout \(timeout) is not a duration: write e.g. 30s, 500ms or 2min")
        }
    }

    /// Writes lines on stderr.
    static func printErrors(_ lines: String...) {
        FileHandle.standardError.write(Data(lines.map { $0 + "\n" }.joined().utf8))
    }

    /// Pacemaker's words for an exit code (`crm_exit_str`), for its closing error line.
    static func exitText(_ code: Int32) -> String {
        if let known = CRMExit(rawValue: code) { return known.summary }
        switch code {
        case 8: return "Promoted"
        case 9: return "Failed in promoted role"
        case 190: return "Service active but more likely to fail soon"
        case 191: return "Service promoted but more likely to fail soon"
        default: return "Unknown exit status"
        }
    }

    /// As Pacemaker's crm_resource: a wrong option or value is one line on stderr
    /// (`crm_resource: Unknown option --bogus`) and exit 64.
    static func main() async {
        do {
            guard var command = try parseAsRoot() as? CrmResource else {
                ToolSupport.printError("crm_resource", "unexpected command")
                HASupport.exit(.usage)
            }
            try await command.run()
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .validationFailure {
                let message = ToolSupport.pacemakerUnknownOption(self.message(for: error))
                ToolSupport.printError("crm_resource", message)
                HASupport.exit(.usage)
            }
            exit(withError: error)
        }
    }

    func run() async throws {
        let program = "crm_resource"
        if command == nil && clusterCommands.isEmpty {
            // (Not in validate(): an unknown option is said first, as Pacemaker does.)
            Self.printErrors("\(program): say what to do: e.g. --list, --locate, --move, --ban, --clear, --cleanup, --refresh, --why, --constraints, --set-parameter, --get-parameter or --force-start (see --help)")
            throw ExitCode(CRMExit.usage.rawValue)
        }
        guard ["text", "xml"].contains(outputAs) else {
            // Pacemaker's two lines (exit 1), before anything else is done.
            Self.printErrors("\(program): Error creating output format \(outputAs): Unknown output format", "Error performing operation: Error occurred")
            throw ExitCode(CRMExit.error.rawValue)
        }
        if outputAs == "xml" && !["list", "list-raw"].contains(clusterCommands.first ?? "") {
            Self.printErrors("\(program): --output-as xml is implemented for --list and --list-raw only: drop it, or use text output for --\(clusterCommands.first ?? command ?? "")")
            throw ExitCode(CRMExit.usage.rawValue)
        }
        if let name = clusterCommands.first {
            var session = ResourceSession(options: self, command: name)
            let code = session.run()
            throw ExitCode(code.rawValue)
        }
        guard let resource, !resource.isEmpty else {
            Self.printErrors("crm_resource: Must supply a resource id with -r")
            throw ExitCode(CRMExit.usage.rawValue)
        }
        let env = NodeEnvironment(root: root)
        let cibPath = ProcessInfo.processInfo.environment["CIB_file"].flatMap { $0.isEmpty ? nil : $0 }
            ?? env.cibDirectory + "/cib.xml"
        let cib: CIB
        do { cib = try CIBFile.load(cibPath) } catch { ToolSupport.fail(program, error) }

        let operation: ForcedOperation
        do {
            operation = try ForcedOperation.prepare(command!, resource: resource, in: cib,
                                                    timeout: timeout.flatMap(CIBValue.milliseconds).map { .milliseconds($0) })
        } catch {
            // The lines Pacemaker 2.1.5 prints, prefixes included.
            if error.exitCode == CRMExit.noSuchObject.rawValue {
                Self.printErrors("\(program): \(error.message)", "Error performing operation: \(Self.exitText(error.exitCode))")
            } else {
                Self.printErrors(error.message, "\(program): Error performing operation: \(Self.exitText(error.exitCode))")
            }
            throw ExitCode(error.exitCode)
        }
        var request = operation.request
        request.trace = verbose > 0

        var executor = AgentExecutor(host: AgentHost(root: env.root, ocfRoot: ocfRoot), killGrace: .seconds(5))
        executor.logger.logLevel = .critical

        // Like Pacemaker, only OCF and LSB agents are run by hand. service: is LSB when an init
        // script has the name, else systemd when a unit has it, else neither ("unspecified").
        var standard = request.agent.standard
        if standard.lowercased() == "service" {
            let lsb = ResourceAgentName(standard: "lsb", provider: nil, type: request.agent.type)
            if (try? executor.catalog.executable(for: lsb)) != nil {
                standard = "lsb"
            } else {
                standard = await Systemd.isKnownUnit(request.agent.type) ? "systemd" : "unspecified"
            }
        }
        if let refused = operation.unsupportedStandard(resolvedStandard: standard) {
            let code = ForcedOperation.exitCode(refused)
            Self.printErrors(operation.report(refused).line, "\(program): Error performing operation: \(Self.exitText(code))")
            throw ExitCode(code)
        }

        // SIGINT/SIGTERM cancel the operation, which kills the agent's process group: an
        // interrupted crm_resource leaves nothing running behind it.
        let task = Task { await executor.run(request) }
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { task.cancel() }
            s.resume()
            sources.append(s)
        }
        let result = await task.value
        for s in sources { s.cancel() }

        let (line, toStderr) = operation.report(result)
        if toStderr {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        } else {
            print(line)
        }
        // The agent's own output, as Pacemaker prints it (each text and a newline).
        for text in [result.standardOutput, result.standardError] where !text.isEmpty {
            print(text)
        }
        let code = ForcedOperation.exitCode(result)
        if code != 0 {
            Self.printErrors("\(program): Error performing operation: \(Self.exitText(code))")
        }
        throw ExitCode(code)
    }
}
