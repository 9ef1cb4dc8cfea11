import Agents
import ArgumentParser
import CIB
import Foundation
import HASupport
import LocalIPC
import Stonith

/// stonith_admin: the fencing API from the command line, with Pacemaker 2.1.5's options,
/// output and exit codes. It talks to this node's stonithd (`--root` / SWIFTHA_ROOT); listing
/// installed agents and reading their meta-data need no stonithd.
@main
struct StonithAdmin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stonith_admin",
        abstract: "Access the fencing API.",
        discussion: """
        Examples:
          stonith_admin --list-registered        (the fence devices of the CIB)
          stonith_admin --reboot node3           (exits 0 once node3 is fenced)
          stonith_admin --confirm node3          (node3 is down: record it)
          stonith_admin --history '*' --verbose  (every fencing operation)
        """,
        helpNames: [.customShort("?"), .customLong("help")])

    @Flag(name: [.customShort("L"), .customLong("list-registered")], help: "List all registered devices.") var listRegistered = false
    @Option(name: [.customShort("l"), .customLong("list")], help: "List devices that can terminate the specified host.") var listFor: String?
    @Option(name: [.customShort("s"), .customLong("list-targets")], help: "List the targets that can be fenced by the named device.") var listTargets: String?
    @Option(name: [.customShort("Q"), .customLong("query")], help: "Check the named device's status.") var query: String?
    @Flag(name: [.customShort("I"), .customLong("list-installed")], help: "List all installed devices.") var listInstalled = false
    @Flag(name: [.customShort("M"), .customLong("metadata")], help: "Show agent metadata. Requires: --agent.") var metadata = false
    @Option(name: [.customShort("H"), .customLong("history")], help: "Show last successful fencing operation for named node (or '*' for all nodes).") var history: String?
    @Option(name: [.customShort("h"), .customLong("last")], help: "Indicate when the named node was last fenced.") var last: String?
    @Option(name: [.customShort("F"), .customLong("fence")], help: "Fence named host.") var fence: String?
    @Option(name: [.customShort("U"), .customLong("unfence")], help: "Unfence named host.") var unfence: String?
    @Option(name: [.customShort("B"), .customLong("reboot")], help: "Reboot named host.") var reboot: String?
    @Option(name: [.customShort("C"), .customLong("confirm")], help: "Tell cluster that named host is now safely down.") var confirm: String?
    @Option(name: [.customShort("a"), .customLong("agent")], help: "The agent to use (with --metadata).") var agent: String?
    @Option(name: [.customShort("t"), .customLong("timeout")], help: "Operation timeout in seconds (default 120).") var timeout: Int = 120
    @Option(name: [.customShort("y"), .customLong("delay")], help: "Apply a fencing delay in seconds. Any static/random delays from pcmk_delay_base/max will be added, otherwise all disabled with the value -1 (default 0; with --fence, --reboot, --unfence).") var delay: Int = 0
    @Option(name: .customLong("tolerance"), help: "Do nothing if an equivalent --fence request succeeded less than this many seconds earlier.") var tolerance: Int = 0
    @Flag(name: [.customShort("c"), .customLong("cleanup")], help: "Cleanup wherever appropriate. Requires --history.") var cleanup = false
    @Flag(name: [.customShort("b"), .customLong("broadcast")], help: "Broadcast wherever appropriate (every node already holds the whole history).") var broadcast = false
    @Option(name: [.customShort("T"), .customLong("tag")], help: "Identify fencing operations with the specified tag.") var tag: String?
    @Option(name: .customLong("output-as"), help: "Output format: text (default) or xml.") var outputAs = "text"
    @Flag(name: [.customShort("V"), .customLong("verbose")], help: "Show all recorded and pending operations (with --history).") var verbose: Int
    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Be less descriptive in output.") var quiet = false
    @Option(help: "The node's root directory (default: $SWIFTHA_ROOT, else /).") var root: String?

    static let program = "stonith_admin"

    func validate() throws {
        guard outputAs == "text" || outputAs == "xml" else {
            throw ValidationError("--output-as must be text or xml (got '\(outputAs)')")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be a positive number of seconds (got \(timeout))") }
        guard tolerance >= 0 else { throw ValidationError("--tolerance must not be negative (got \(tolerance))") }
    }

    var request: String { ([Self.program] + CommandLine.arguments.dropFirst()).joined(separator: " ") }
    var xml: Bool { outputAs == "xml" }

    /// Ends with Pacemaker's exit code; errors go to stderr (or into the XML result).
    func finish(_ code: CRMExit, body: String = "", error: String? = nil, prefixed: Bool = true) -> Never {
        if xml {
            print(StonithAdminOutput.xmlResult(request: request, body: body, code: code.rawValue, message: code.summary,
                                               errors: error.map { [$0] } ?? []), terminator: "")
        } else {
            if !body.isEmpty { print(body, terminator: "") }
            if let error { FileHandle.standardError.write(Data(((prefixed ? "\(Self.program): " : "") + error + "\n").utf8)) }
        }
        Foundation.exit(code.rawValue)
    }

    func run() async throws {
        // An agent that exits without reading its stdin (fence_ack_manual) must not kill us.
        signal(SIGPIPE, SIG_IGN)
        let env = NodeEnvironment(root: root)
        let actions = [listRegistered || listFor != nil, listInstalled, listTargets != nil, query != nil, metadata, history != nil, last != nil,
                       fence != nil, unfence != nil, reboot != nil, confirm != nil].filter { $0 }.count
        guard actions > 0 else {
            finish(.usage, error: "no command given; use --list-registered, --list-installed, --reboot NODE, --fence NODE, --confirm NODE or --history NODE (see --help)")
        }
        let name = tag.map { "\(Self.program).\($0)" } ?? Self.program

        if listInstalled { installed() }
        if metadata { await showMetadata(env: env) }
        if let target = reboot ?? fence ?? unfence {
            let action: FenceAction = reboot != nil ? .reboot : fence != nil ? .off : .on
            await request(target: target, action: action, env: env, name: name)
        }

        // The rest need stonithd.
        let client: StonithClient
        do {
            client = try await StonithClient.connect(root: env.root, name: name)
        } catch {
            finish(.disconnect, error: "Could not connect to fencer: Transport endpoint is not connected (\(Self.describe(error)))", prefixed: false)
        }
        if let target = confirm {
            do {
                let r = try await client.confirm(target: target)
                guard r.succeeded else { finish(.error, error: "Couldn't confirm \(target): \(r.reason ?? "failed")") }
                finish(.ok)
            } catch {
                finish(Self.exitCode(error), error: "Couldn't confirm \(target): \(Self.describe(error))")
            }
        }
        if let device = listTargets {
            do {
                let targets = try await client.targets(device: device)
                finish(.ok, body: xml ? StonithAdminOutput.xmlList(name: "fence targets", items: targets, itemName: nil)
                                      : StonithAdminOutput.listText(targets, singular: "fence target", plural: "fence targets"))
            } catch {
                finish(Self.exitCode(error), error: "Couldn't list targets: \(Self.describe(error))", prefixed: false)
            }
        }
        if let device = query {
            do {
                try await client.monitor(device: device)
                finish(.ok)
            } catch {
                finish(Self.exitCode(error), error: "Couldn't query \(device): \(Self.describe(error))")
            }
        }
        if listRegistered || listFor != nil {
            do {
                let devices = try await client.registeredDevices(target: listFor)
                let body = xml ? StonithAdminOutput.xmlList(name: "registered fence devices", items: devices, itemName: "device")
                    : StonithAdminOutput.listText(devices, singular: "fence device", plural: "fence devices")
                finish(.ok, body: body)
            } catch {
                finish(Self.exitCode(error), error: "Failed to list registered devices: \(Self.describe(error))", prefixed: false)
            }
        }
        if cleanup {
            guard let target = history else { finish(.usage, error: "--cleanup requires --history NODE (or '*')") }
            var info = ""
            if !quiet && !xml { info = "cleaning up fencing-history\(target.isEmpty ? "" : " for node \(target)")\n" }
            if broadcast && !quiet && !xml { info += "gather fencing-history from all nodes\n" }
            do {
                try await client.cleanHistory(target: target == "*" ? nil : target)
            } catch {
                finish(Self.exitCode(error), body: info, error: "Couldn't clean up the fencing history: \(Self.describe(error))")
            }
            finish(.ok, body: info)
        }
        if let target = history ?? last {
            if broadcast && !quiet && !xml { print("gather fencing-history from all nodes") }
            let events: [FenceEvent]
            do {
                events = try await client.history(target: target == "*" ? nil : target)
            } catch {
                finish(Self.exitCode(error), error: "Couldn't read the fencing history: \(Self.describe(error))")
            }
            if last != nil {
                let when = events.filter { $0.state == .done }.compactMap(\.completed).max()
                if xml {
                    let body = when.map { "  <last-fenced target=\"\(StonithAdminOutput.xmlEscape(target))\" when=\"\(StonithAdminOutput.time($0))\"/>\n" } ?? ""
                    finish(.ok, body: body)
                }
                finish(.ok, body: when.map { "Node \(target) last fenced at: \(Self.ctime($0))" } ?? "Node \(target) has never been fenced\n")
            }
            let body = xml ? StonithAdminOutput.historyXML(events, verbose: verbose > 0)
                : StonithAdminOutput.historyText(events, verbose: verbose > 0, quiet: quiet)
            finish(.ok, body: body)
        }
        finish(.ok)
    }

    /// --list-installed: the fence agents in /usr/sbin and beside this program (where
    /// stonithd finds them too).
    func installed() -> Never {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var names = Set<String>()
        for dir in ["/usr/sbin", URL(fileURLWithPath: exe).deletingLastPathComponent().path] {
            names.formUnion(AgentCatalog(host: AgentHost(fenceDirectory: dir)).agents(standard: .stonith))
        }
        let list = names.sorted()
        finish(.ok, body: xml ? StonithAdminOutput.xmlList(name: "installed fence devices", items: list, itemName: "device")
                              : StonithAdminOutput.listText(list, singular: "fence device", plural: "fence devices"))
    }

    /// --metadata --agent AGENT: the agent's own meta-data.
    func showMetadata(env: NodeEnvironment) async -> Never {
        guard let agent else {
            finish(.usage, error: "Please specify an agent to query using -a,--agent [value]", prefixed: false)
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let dirs = ["/usr/sbin", URL(fileURLWithPath: exe).deletingLastPathComponent().path]
        guard !agent.contains("/"), let dir = dirs.first(where: { FileManager.default.isExecutableFile(atPath: $0 + "/" + agent) }) else {
            finish(.noSuchObject, error: "Can't get fence agent meta-data: No such device (\(agent) is not in \(dirs.joined(separator: " or ")))", prefixed: false)
        }
        let executor = AgentExecutor(host: AgentHost(root: env.root, fenceDirectory: dir))
        let r = await executor.run(AgentRequest(resource: agent, agent: ResourceAgentName(standard: "stonith", provider: nil, type: agent),
                                                action: .metaData, timeout: .seconds(timeout)))
        guard r.status == .done, r.exitCode == .success, !r.standardOutput.isEmpty else {
            let what = r.standardOutput.isEmpty ? "No data available" : "Error"
            finish(.error, error: "Can't get fence agent meta-data: \(what) (\(agent) metadata: \(r.exitReason ?? "\(r)"))", prefixed: false)
        }
        let text: String
        do {
            text = try FenceAgentMetadata.pacemakerForm(r.standardOutput, agent: agent)
        } catch {
            finish(.error, error: "Can't get fence agent meta-data: Error (the agent's meta-data is not valid XML: \(Self.describe(error)))", prefixed: false)
        }
        if xml {
            let indented = text.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
            finish(.ok, body: "  <metadata>\n" + indented + "\n  </metadata>\n")
        }
        finish(.ok, body: text)
    }

    /// --reboot, --fence, --unfence: waits for the result; Pacemaker's exit codes.
    func request(target: String, action: FenceAction, env: NodeEnvironment, name: String) async -> Never {
        let what = action == .on ? "unfence" : "fence"
        let client: StonithClient
        do {
            client = try await StonithClient.connect(root: env.root, name: name)
        } catch {
            finish(.disconnect, error: "Couldn't \(what) \(target): Transport endpoint is not connected (\(Self.describe(error)))")
        }
        if tolerance > 0, let events = try? await client.history(target: target),
           events.contains(where: { $0.state == .done && $0.action == action && ($0.completed ?? .distantPast) > Date().addingTimeInterval(-Double(tolerance)) }) {
            finish(.ok)
        }
        let r: FenceResult
        do {
            r = try await client.fence(target: target, action: action, timeout: .seconds(timeout), delay: delay)
        } catch {
            finish(Self.exitCode(error), error: "Couldn't \(what) \(target): \(Self.describe(error))")
        }
        switch r.outcome {
        case .ok: finish(.ok)
        case .failed(let why): finish(.error, error: "Couldn't \(what) \(target): Error (\(why))")
        case .noDevice(let why): finish(.noSuchObject, error: "Couldn't \(what) \(target): No such device (\(why))")
        case .timedOut(let why): finish(.timeout, error: "Couldn't \(what) \(target): Timer expired (\(why))")
        }
    }

    static func describe(_ error: any Error) -> String {
        String(describing: error)
    }

    static func exitCode(_ error: any Error) -> CRMExit {
        if let f = error as? StonithFailure {
            switch f.kind {
            case .invalidRequest: return .invalidParameter
            case .notFound: return .noSuchObject
            case .agentFailed: return .error
            case .timedOut: return .timeout
            case .shuttingDown: return .disconnect
            case .notAuthorized: return .insufficientPrivileges
            }
        }
        if let e = error as? IPCError {
            switch e {
            case .timedOut: return .timeout
            default: return .disconnect
            }
        }
        return .error
    }

    /// ctime(3)'s form, with its newline: `Tue Nov 24 00:25:29 2026`.
    static func ctime(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var buf = [CChar](repeating: 0, count: 32)
        guard ctime_r(&t, &buf) != nil else { return "\(date)\n" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
