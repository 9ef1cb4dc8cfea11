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

    @Flag(name: [.customShort("L"), .customLong("list")], help: "List all resources, with their state.")
    var list = false

    @Flag(name: [.customShort("l"), .customLong("list-raw")], help: "List the ids of all primitives.")
    var listRaw = false

    @Flag(name: [.customShort("W"), .customLong("locate")], help: "Show the nodes where a resource runs.")
    var locate = false

    @Option(name: [.customShort("T"), .customLong("timeout")], help: "(Advanced) The operation's timeout (e.g. 30s, 2min), instead of the CIB's.")
    var timeout: String?

    @Flag(name: [.customShort("f"), .customLong("force")], help: "Accepted for compatibility.")
    var force = false

    @Flag(name: [.customShort("V"), .customLong("verbose")], help: "Trace the agent (OCF_TRACE_RA=1).")
    var verbose: Int

    @Option(help: "The node's root directory (default: $SWIFTHA_ROOT, else /).")
    var root: String?

    @Option(help: "The node's name (default: $SWIFTHA_NODE).")
    var node: String?

    @Option(name: .customLong("ocf-root"), help: ArgumentHelp("Where OCF agents are.", visibility: .hidden))
    var ocfRoot: String = "/usr/lib/ocf"

    var command: String? {
        let chosen = [("force-start", forceStart), ("force-stop", forceStop), ("force-check", forceCheck),
                      ("force-promote", forcePromote), ("force-demote", forceDemote)].filter(\.1).map(\.0)
        return chosen.count == 1 ? chosen[0] : nil
    }

    func validate() throws {
        if list || listRaw || locate {
            if [list, listRaw, locate, forceStart, forceStop, forceCheck, forcePromote, forceDemote].filter({ $0 }).count > 1 {
                throw ValidationError("give only one command")
            }
            return
        }
        let count = [forceStart, forceStop, forceCheck, forcePromote, forceDemote].filter { $0 }.count
        if count == 0 {
            throw ValidationError("say what to do: --force-start, --force-stop, --force-check, --force-promote or --force-demote (the other crm_resource commands are not in this build yet)")
        }
        if count > 1 { throw ValidationError("give only one of --force-start, --force-stop, --force-check, --force-promote and --force-demote") }
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

    func run() async throws {
        let program = "crm_resource"
        if list || listRaw || locate {
            let env = NodeEnvironment(root: root, node: node)
            let cibPath = ProcessInfo.processInfo.environment["CIB_file"].flatMap { $0.isEmpty ? nil : $0 }
                ?? env.cibDirectory + "/cib.xml"
            let cib: CIB
            do { cib = try CIBFile.load(cibPath) } catch { ToolSupport.fail(program, error) }
            let ws = Simulator.workingSet(SchedulerInput(cib: cib, now: Int(Date().timeIntervalSince1970)))
            if list {
                for line in StatusText.resourceList(ws) { print(line) }
            } else if listRaw {
                // Every primitive of the configuration, clone instances by instance id.
                for top in ws.topLevel where !ws.resources[top].orphan {
                    for p in ws.primitives(under: top) { print(ws.resources[p].id) }
                }
            } else {
                guard let resource, !resource.isEmpty else {
                    Self.printErrors("crm_resource: Must supply a resource id with -r")
                    throw ExitCode(CRMExit.usage.rawValue)
                }
                guard let i = ws.resources.firstIndex(where: { $0.id == resource }) ?? ws.resources.firstIndex(where: { $0.configuredID == resource }) else {
                    Self.printErrors("crm_resource: Resource '\(resource)' not found", "Error performing operation: No such object")
                    throw ExitCode(CRMExit.noSuchObject.rawValue)
                }
                let leaves = ws.primitives(under: i).filter { !ws.resources[$0].activeOn.isEmpty }
                if leaves.isEmpty { Self.printErrors("resource \(resource) is NOT running") }
                for p in leaves {
                    for n in ws.resources[p].activeOn {
                        print("resource \(resource) is running on: \(n)" + (ws.resources[p].role == .promoted ? " Promoted" : ""))
                    }
                }
            }
            return
        }
        guard let resource, !resource.isEmpty else {
            Self.printErrors("crm_resource: Must supply a resource id with -r")
            throw ExitCode(CRMExit.usage.rawValue)
        }
        let env = NodeEnvironment(root: root, node: node)
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

        // Like Pacemaker, only OCF and LSB agents are run by hand (service: is whichever of
        // systemd and LSB has the service).
        var standard = request.agent.standard
        if standard.lowercased() == "service" {
            standard = await Systemd.isKnownUnit(request.agent.type) ? "systemd" : "lsb"
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
