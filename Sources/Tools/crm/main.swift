import Agents
import ArgumentParser
import CIB
import CrmShell
import Dispatch
import Foundation
import HASupport
import PolicyEngine
import ToolSupport

#if canImport(Glibc)
import Glibc
#endif

/// crm: the cluster shell, in crmsh's syntax. `crm LEVEL COMMAND ...` runs one command (a
/// configure definition is committed at once, as crmsh does); `crm` alone reads commands
/// from the terminal or from piped input, and `crm -f FILE` from a file. The parsing and the
/// configuration logic live in CrmShell; this is the I/O around it.
@main
struct Crm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm",
        abstract: "The cluster shell (crmsh syntax).",
        discussion: """
            Levels: configure, resource, node, ra, status, cluster.
            Examples:
              crm configure primitive vip ocf:heartbeat:IPaddr2 params ip=10.0.0.10 op monitor interval=10s
              crm configure show
              crm resource stop vip
              crm node standby node2
              crm ra info ocf:heartbeat:IPaddr2
              crm -f commands.txt
            In the interactive form (crm, then configure), changes stay in a working copy until
            commit; leaving with changes pending asks on a terminal, and commits them when the
            commands come from a file or a pipe (as crmsh does in batch mode).
            The CIB is the file CIB_file names, else the running cluster's (through cibd).
            """)

    @Option(name: [.customShort("f"), .customLong("file")], help: "Read the commands from a file ('-' for stdin).")
    var file: String?

    @Flag(name: [.customShort("F"), .customLong("force")], help: "Commit even when the configuration does not verify.")
    var force = false

    @Flag(name: [.customShort("w"), .customLong("wait")], help: "Accepted for compatibility.")
    var wait = false

    @Argument(parsing: .remaining, help: "A command: LEVEL COMMAND [ARGUMENTS...].")
    var words: [String] = []

    func run() throws {
        var session = CrmSession(host: ShellHost())
        session.force = force
        if !words.isEmpty {
            // `crm "configure show"`: one quoted command line is split as crmsh splits lines.
            var words = self.words
            if words.count == 1, words[0].contains(" ") {
                do { words = try CrmLexer.words(words[0]) } catch {
                    session.error(error.message)
                    Foundation.exit(1)
                }
            }
            session.execute(words)
            // A one-shot level name alone (`crm configure`) opens that level interactively.
            if words.count == 1 && !session.level.isEmpty {
                readLines(from: FileHandle.standardInput, interactive: isatty(0) == 1, session: &session)
            } else if session.failures == 0 {
                _ = session.finish()
            }
            Foundation.exit(session.failures == 0 ? 0 : 1)
        }
        if let file, file != "-" {
            guard let handle = FileHandle(forReadingAtPath: file) else {
                ToolSupport.fail("crm", "cannot read \(file): no such file or not readable", .noInput)
            }
            readLines(from: handle, interactive: false, session: &session)
        } else {
            readLines(from: FileHandle.standardInput, interactive: file == nil && isatty(0) == 1, session: &session)
        }
        Foundation.exit(session.failures == 0 ? 0 : 1)
    }

    func prompt(_ session: CrmSession) -> String {
        let node = ShellHost.hostname()
        let place = CIBLocation.fromEnvironment() == .live ? "live/\(node)" : "file"
        return "crm(\(place))\(session.level.joined(separator: "."))# "
    }

    /// Reads commands until quit or the end of input; continuation lines end with `\`.
    func readLines(from handle: FileHandle, interactive: Bool, session: inout CrmSession) {
        var reader = LineReader(handle: handle)
        var pending = ""
        while true {
            if interactive {
                FileHandle.standardOutput.write(Data((pending.isEmpty ? prompt(session) : "> ").utf8))
            }
            guard let line = reader.next() else { break }
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
                continue
            }
            let full = pending + line
            pending = ""
            let words: [String]
            do { words = try CrmLexer.words(full) } catch {
                session.error(error.message)
                continue
            }
            guard let first = words.first else { continue }
            if ["quit", "exit", "bye", "q"].contains(first) && words.count == 1 {
                _ = session.leave(all: true)
                return
            }
            session.execute(words)
        }
        if interactive { print("") }
        if session.pending {
            if interactive {
                _ = session.leave(all: true)
            } else {
                _ = session.finish()
            }
        }
    }
}

/// Lines of a file handle, read as they arrive (so that a terminal session answers each line).
struct LineReader {
    let handle: FileHandle
    var buffer: [UInt8] = []
    var eof = false

    init(handle: FileHandle) { self.handle = handle }

    mutating func next() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            if eof {
                guard !buffer.isEmpty else { return nil }
                defer { buffer = [] }
                return String(decoding: buffer, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(handle.fileDescriptor, &chunk, chunk.count)
            if n <= 0 { eof = true } else { buffer += chunk[..<n] }
        }
    }
}

/// The real world behind the shell: the CIB through CIBLocation, our other tools beside this
/// executable, $EDITOR, the terminal, the agents installed here.
struct ShellHost: CrmHost {
    let location = CIBLocation.fromEnvironment()

    static func hostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    var localNode: String? { NodeEnvironment().node ?? ShellHost.hostname() }

    func loadCIB() throws(CrmError) -> CIB { location.load(program: "crm") }

    func saveCIB(_ cib: CIB, original: CIB) throws(CrmError) {
        location.save(cib, original: original, program: "crm")
    }

    /// Our tools are installed beside crm.
    static func toolPath(_ name: String) -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
    }

    func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let path = ShellHost.toolPath(tool)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            err("ERROR: \(tool) is not installed beside crm (looked for \(path))")
            return 1
        }
        return spawn(path, arguments)
    }

    func spawn(_ path: String, _ arguments: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        do { try p.run() } catch {
            err("ERROR: cannot run \(path): \(error.localizedDescription)")
            return 1
        }
        p.waitUntilExit()
        return p.terminationStatus
    }

    func edit(_ text: String) throws(CrmError) -> String {
        let path = NSTemporaryDirectory() + "crm-edit-\(getpid()).txt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch { throw CrmError("cannot write \(path): \(error.localizedDescription)") }
        let editor = ProcessInfo.processInfo.environment["EDITOR"].flatMap { $0.isEmpty ? nil : $0 } ?? "vi"
        let status = spawn("/bin/sh", ["-c", "\(editor) \"$1\"", "sh", path])
        guard status == 0 else { throw CrmError("configure.edit: the editor (\(editor)) exited with \(status); nothing changed") }
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch { throw CrmError("cannot read \(path) back: \(error.localizedDescription)") }
    }

    func readFile(_ path: String) throws(CrmError) -> String {
        guard let s = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CrmError("cannot read \(path): no such file or not readable")
        }
        return s
    }

    func confirm(_ question: String) -> Bool? {
        guard isatty(0) == 1 else { return nil }
        while true {
            FileHandle.standardOutput.write(Data((question + " ").utf8))
            guard let line = readLine() else { return false }
            switch line.trimmingCharacters(in: .whitespaces).lowercased() {
            case "y", "yes": return true
            case "n", "no": return false
            default: continue
            }
        }
    }

    func out(_ text: String) { print(text) }
    func err(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

    func external(_ level: String, _ words: [String], _ session: inout CrmSession) -> Bool? {
        switch level {
        case "status":
            return run("crm_mon", ["-1"] + words.filter { $0 != "bynode" && $0 != "simple" }) == 0
        case "ra": return ra(words, &session)
        case "cluster": return cluster(words)
        case "wait-stopped": return waitStopped(words[0])
        case "history":
            err("ERROR: history: transition history is not available in this build; use crm_simulate -x <pe-input> -S to replay a transition")
            return false
        default: return nil
        }
    }

    // MARK: ra

    var catalog: AgentCatalog {
        let env = ProcessInfo.processInfo.environment
        return AgentCatalog(host: AgentHost(ocfRoot: env["OCF_ROOT"] ?? "/usr/lib/ocf"))
    }

    static let raUsage = "ra {classes | list <class> [<provider>] | info [<class>:[<provider>:]]<type> | providers <type> [<class>]}"

    func ra(_ words: [String], _ session: inout CrmSession) -> Bool {
        guard let w = words.first else { return true }
        let args = Array(words.dropFirst())
        switch w {
        case "classes":
            out(String(catalog.classesListing().dropLast()))
            return true
        case "list":
            guard let cls = args.first, let standard = AgentStandard(rawValue: cls) else {
                err("ERROR: ra.list: name a class (\(catalog.standards().map(\.rawValue).joined(separator: ", "))); usage: list <class> [<provider>]")
                return false
            }
            let names = catalog.agents(standard: standard, provider: args.count > 1 ? args[1] : nil)
            if !names.isEmpty { out(CrmRA.columns(names)) }
            return true
        case "providers":
            guard let type = args.first else { err("ERROR: ra.providers: usage: providers <type> [<class>]"); return false }
            let found = catalog.providers().filter { catalog.agents(standard: .ocf, provider: $0).contains(type) }
            out(found.joined(separator: " "))
            return true
        case "info", "meta":
            guard let spec = args.first else { err("ERROR: ra.info: usage: info [<class>:[<provider>:]]<type>"); return false }
            let agent = ShellHost.agentName(spec)
            switch metadataWithXML(agent) {
            case .success(let (m, xml)):
                out(CrmRA.info(m, agent: agent.description, actionsXML: xml?.firstElement(named: "actions")?.elements(named: "action")))
                return true
            case .failure(let e):
                err("ERROR: \(agent): got no meta-data, does this RA exist? (\(e))")
                return false
            }
        default:
            err("ERROR: ra.\(w): No such command; usage: \(ShellHost.raUsage)")
            return false
        }
    }

    /// `IPaddr2` is ocf:heartbeat:IPaddr2; `fence_xvm` a stonith agent.
    static func agentName(_ spec: String) -> ResourceAgentName {
        let parts = spec.split(separator: ":").map(String.init)
        switch parts.count {
        case 3: return ResourceAgentName(standard: parts[0], provider: parts[1], type: parts[2])
        case 2: return ResourceAgentName(standard: parts[0], provider: parts[0] == "ocf" ? "heartbeat" : nil, type: parts[1])
        default:
            if spec.hasPrefix("fence_") { return ResourceAgentName(standard: "stonith", provider: nil, type: spec) }
            return ResourceAgentName(standard: "ocf", provider: "heartbeat", type: spec)
        }
    }

    final class Box: @unchecked Sendable { var result: Result<(AgentMetadata, XElement?), any Error>? }

    /// The agent's meta-data, typed, and (for OCF and fence agents) as the XML it printed.
    func metadataWithXML(_ agent: ResourceAgentName) -> Result<(AgentMetadata, XElement?), any Error> {
        let executor = AgentExecutor(host: catalog.host)
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                if agent.standard == "ocf" || agent.standard == "stonith" {
                    let r = await executor.run(AgentRequest(resource: agent.type, agent: agent, action: .metaData, timeout: .seconds(10)))
                    if r.status == .done, r.exitCode == .success, let xml = try? XElement.parse(Array(r.standardOutput.utf8), source: agent.description),
                       let m = try? AgentMetadata.parse(xml, agent: agent.description) {
                        box.result = .success((m, xml))
                        done.signal()
                        return
                    }
                }
                box.result = .success((try await executor.metadata(for: agent), nil))
            } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return box.result!
    }

    func metadata(_ agent: ResourceAgentName) -> Result<AgentMetadata, any Error> {
        metadataWithXML(agent).map(\.0)
    }

    func checkPrimitive(_ primitive: XElement) -> [String] {
        guard let cls = primitive["class"], let type = primitive["type"], cls != "systemd", cls != "service" else { return [] }
        let agent = ResourceAgentName(standard: cls, provider: primitive["provider"], type: type)
        do { _ = try catalog.executable(for: agent) } catch {
            return ["\(primitive.id ?? ""): \(error) (the definition is kept: the agent must be installed on every node that may run it)"]
        }
        guard cls == "ocf" || cls == "stonith", case .success(let m) = metadata(agent) else { return [] }
        var params: [String: String] = [:]
        for set in primitive.elements(named: "instance_attributes") {
            for p in set.elements(named: "nvpair") { params[p["name"] ?? ""] = p["value"] ?? "" }
        }
        return m.problems(in: params, agent: agent.description).map { "\(primitive.id ?? ""): parameter '\($0.parameter)': \($0.message)" }
    }

    // MARK: cluster

    /// pacemakerd for this node: through systemctl when systemd runs this machine, else the
    /// pacemakerd executable beside crm, started in the background (with the node's root).
    func cluster(_ words: [String]) -> Bool {
        let env = NodeEnvironment()
        let systemd = FileManager.default.fileExists(atPath: "/run/systemd/system")
        let pidFile = env.path("run/swiftha/pacemakerd.pid")
        func running() -> Int32? {
            guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  kill(pid, 0) == 0 else { return nil }
            return pid
        }
        switch words.first {
        case "start":
            if systemd { return spawn("/bin/systemctl", ["start", "pacemaker"]) == 0 }
            if let pid = running() { out("INFO: The cluster stack is already running on this node (pacemakerd \(pid))"); return true }
            let path = ShellHost.toolPath("pacemakerd")
            guard FileManager.default.isExecutableFile(atPath: path) else { err("ERROR: cluster.start: pacemakerd is not installed beside crm (looked for \(path))"); return false }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = ["--root", env.root] + (env.node.map { ["--node", $0] } ?? [])
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            do { try p.run() } catch { err("ERROR: cluster.start: cannot run \(path): \(error.localizedDescription)"); return false }
            try? FileManager.default.createDirectory(atPath: env.path("run/swiftha"), withIntermediateDirectories: true)
            try? "\(p.processIdentifier)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
            out("INFO: The cluster stack started on \(localNode ?? "this node")")
            return true
        case "stop":
            if systemd { return spawn("/bin/systemctl", ["stop", "pacemaker"]) == 0 }
            guard let pid = running() else { out("INFO: The cluster stack is not running on this node"); return true }
            kill(pid, SIGTERM)
            for _ in 0..<600 where kill(pid, 0) == 0 { usleep(100_000) }
            try? FileManager.default.removeItem(atPath: pidFile)
            out("INFO: The cluster stack stopped on \(localNode ?? "this node")")
            return true
        case "status":
            if systemd { return spawn("/bin/systemctl", ["status", "pacemaker", "--no-pager"]) == 0 }
            if let pid = running() { out("pacemakerd is running (pid \(pid)) with root \(env.root)") } else { out("pacemakerd is not running (root \(env.root))") }
            return true
        default:
            err("ERROR: cluster.\(words.first ?? ""): No such command; usage: cluster {start|stop|status}")
            return false
        }
    }

    func active(_ ids: [String], in cib: CIB) -> [String] {
        let ws = Simulator.workingSet(SchedulerInput(cib: cib, now: Int(Date().timeIntervalSince1970)))
        return ids.filter { id in
            guard let i = ws.resources.firstIndex(where: { $0.id == id || $0.configuredID == id }) else { return false }
            return ws.primitives(under: i).contains { !ws.resources[$0].activeOn.isEmpty }
        }
    }

    /// Waits (up to a minute) until a resource stops on the live cluster; a file does not change.
    func waitStopped(_ rsc: String) -> Bool {
        guard location == .live else { return true }
        for _ in 0..<120 {
            let cib = location.load(program: "crm")
            let ws = Simulator.workingSet(SchedulerInput(cib: cib, now: Int(Date().timeIntervalSince1970)))
            guard let i = ws.resources.firstIndex(where: { $0.id == rsc || $0.configuredID == rsc }) else { return true }
            if ws.primitives(under: i).allSatisfy({ ws.resources[$0].activeOn.isEmpty }) { return true }
            usleep(500_000)
        }
        err("WARNING: \(rsc) did not stop within a minute")
        return true
    }
}
