import Agents
import ArgumentParser
import CIB
import CIBClient
import Controller
import ControllerClient
import CrmShell
import Dispatch
import Foundation
import HASupport
import LocalIPC
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
            Levels: configure, resource, node, ra, status, cluster, history.
            Examples:
              crm configure primitive vip ocf:heartbeat:IPaddr2 params ip=10.0.0.10 op monitor interval=10s
              crm configure show
              crm resource stop vip
              crm node standby node2
              crm ra info ocf:heartbeat:IPaddr2
              crm cluster start       (this node: SWIFTHA_ROOT or systemd)
              crm history transitions ; crm history transition -1 ; crm history info ; crm history log
              crm history events ; crm history resource d1 ; crm history node node2 ; crm history latest
              crm history diff -1 0 ; crm history transition showdot node2:pe-input-7 ; crm history session save s1
              (history reads every node whose root lies beside this one, named after it, or SWIFTHA_ROOTS=node:/root;...)
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

    @Argument(parsing: .captureForPassthrough, help: "A command: LEVEL COMMAND [ARGUMENTS...].")
    var words: [String] = []

    func run() throws {
        var session = CrmSession(host: ShellHost())
        session.force = force
        if let first = words.first, ["--help", "-h", "help"].contains(first) && words.count == 1 && first != "help" {
            print(Crm.helpMessage())
            return
        }
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

    /// crmsh 4.4's prompt: `crm(live/HOST)LEVEL# `, the same with CIB_file or CIB_shadow set
    /// (crmsh names only a shadow CIB chosen with `cib use`); green and bold on a terminal that
    /// has colours (TERM set and not dumb), as crmsh writes it with xterm's sequences.
    func prompt(_ session: CrmSession) -> String {
        let text = "crm(live/\(ShellHost.hostname()))\(session.level.joined(separator: "."))# "
        let term = ProcessInfo.processInfo.environment["TERM"] ?? ""
        if term.isEmpty || term == "dumb" { return text }
        return "\u{1B}[32m\u{1B}[1m" + text + "\u{1B}(B\u{1B}[m"
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
                session.noteAlias(first)
                _ = session.leave(all: true)
                // crmsh's last word on a terminal.
                if interactive { print("bye") }
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
        if interactive { print("bye") }
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

    var localNode: String? { LocalNode.name(cib: try? loadCIB()) }

    /// The CIB; on the live cluster a failure (cibd not running) is an error of the command,
    /// so that an interactive session goes on.
    func loadCIB() throws(CrmError) -> CIB {
        guard location == .live else { return location.load(program: "crm") }
        let root = NodeEnvironment().root
        final class Box: @unchecked Sendable { var result: Result<CIB, any Error>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                let client = try await CIBClient.connect(root: root, timeout: .seconds(10))
                do { box.result = .success(try await client.query()) } catch { box.result = .failure(error) }
                await client.close()
            } catch {
                box.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        switch box.result! {
        case .success(let cib): return cib
        case .failure(let e as CIBError): throw CrmError(e.message)
        case .failure:
            throw CrmError("cannot connect to the cluster's CIB at \(CIBAPI.socketPath(root: root)): cibd is not running on this node (start the cluster with crm cluster start, set SWIFTHA_ROOT to the node's root, or set CIB_file=FILE to work on a file instead)")
        }
    }

    /// On a file, written at once. On the live cluster, a patch from the copy crm read: when
    /// cibd refuses it because the version moved on while only the status changed (the
    /// cluster records operation results all the time), the same change is made again on
    /// the current copy, as crmsh's version-less patches apply; a configuration someone
    /// else changed in between is never overwritten.
    func saveCIB(_ cib: CIB, original: CIB) throws(CrmError) {
        guard location == .live else {
            location.save(cib, original: original, program: "crm")
            return
        }
        if cib == original { return }
        let root = NodeEnvironment().root
        var patch = CIBPatch.diff(original, cib)
        for _ in 0..<20 {
            switch ShellHost.change(.patch(patch), root: root) {
            case nil:
                return
            case let e? where e.kind == .versionMismatch:
                patch = try CrmRebase.patch(from: original, to: cib, onto: try loadCIB())
            case let e?:
                throw CrmError(e.message)
            }
        }
        throw CrmError("the cluster's CIB kept changing while crm wrote to it (20 tries); nothing was written; try again")
    }

    final class ErrorBox: @unchecked Sendable { var error: CIBError?; var other: String? }

    /// One change through this node's cibd: nil when done, else cibd's refusal.
    static func change(_ operation: CIBReplica.Operation, root: String) -> CIBError? {
        let box = ErrorBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                let client = try await CIBClient.connect(root: root, timeout: .seconds(10))
                do { _ = try await client.change(operation) } catch let e as CIBError { box.error = e } catch { box.other = "\(error)" }
                await client.close()
            } catch {
                box.other = "cannot reach cibd: \(error)"
            }
            done.signal()
        }
        done.wait()
        if let other = box.other { return CIBError(.badRequest, other) }
        return box.error
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
        fflush(nil)  // what crm printed comes before what the tool prints
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
        case "status": return status(words)
        case "ra": return ra(words, &session)
        case "cluster": return cluster(words)
        case "wait-stopped": return waitStopped(words[0])
        case "history": return history(words, &session.history)
        default: return nil
        }
    }

    // MARK: status

    /// crmsh's status options and the crm_mon options they stand for.
    static let statusOptions: [String: [String]] = [
        "inactive": ["-r"], "failcounts": ["-f"], "simple": ["-s"], "verbose": ["-V"],
        "xml": ["--output-as", "xml"], "html": ["--output-as", "html"],
        "bynode": ["-n"], "ops": ["-o"], "timing": ["-t"], "tickets": ["-c"], "noheaders": ["-D"],
        "full": ["-n", "-c", "-r", "-f", "-t"],
        "quiet": ["-Q"], "detail": ["-R"], "brief": ["-b"],
    ]

    /// `crm status [<option>...]`: crm_mon -1 with crmsh's options (none: -r, as crmsh).
    func status(_ words: [String]) -> Bool {
        var args = ["-1"]
        if words.isEmpty { args.append("-r") }
        for w in words {
            if let o = ShellHost.statusOptions[w] { args += o; continue }
            err("ERROR: status: unknown keyword \"\(w)\"; usage: status [\(ShellHost.statusOptions.keys.sorted().joined(separator: "|"))...]")
            return false
        }
        // crmsh pages crm_mon's output with a line of its own after it.
        let (code, text) = capture("crm_mon", args)
        if !text.isEmpty { out(text) }
        return code == 0
    }

    // MARK: ra

    var catalog: AgentCatalog {
        let env = ProcessInfo.processInfo.environment
        // The node's root too: its own etc/init.d holds lsb: scripts before /etc/init.d.
        return AgentCatalog(host: AgentHost(root: NodeEnvironment().root, ocfRoot: env["OCF_ROOT"] ?? "/usr/lib/ocf"))
    }

    /// The catalog to find one agent in: a fence agent is looked for in /usr/sbin, then
    /// beside crm (fence_swiftha), where stonithd and stonith_admin find it too.
    func catalog(for agent: ResourceAgentName) -> AgentCatalog {
        let base = catalog
        guard agent.standard == "stonith", !agent.type.contains("/") else { return base }
        let own = URL(fileURLWithPath: ShellHost.toolPath("crm")).deletingLastPathComponent().path
        for dir in ["/usr/sbin", own] where FileManager.default.isExecutableFile(atPath: dir + "/" + agent.type) {
            var host = base.host
            host.fenceDirectory = dir
            return AgentCatalog(host: host)
        }
        return base
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
        let executor = AgentExecutor(host: catalog(for: agent).host)
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

    func checkPrimitive(_ primitive: XElement) -> [CrmCheck] {
        guard let cls = primitive["class"], let type = primitive["type"], cls != "systemd", cls != "service" else { return [] }
        let id = primitive.id ?? ""
        let agent = ResourceAgentName(standard: cls, provider: primitive["provider"], type: type)
        do { _ = try catalog(for: agent).executable(for: agent) } catch {
            return [CrmCheck("\(id): \(error) (the definition is kept: the agent must be installed on every node that may run it)")]
        }
        guard cls == "ocf" || cls == "stonith", case .success(let m) = metadata(agent) else { return [] }
        var params: [String: String] = [:]
        for set in primitive.elements(named: "instance_attributes") {
            for p in set.elements(named: "nvpair") { params[p["name"] ?? ""] = p["value"] ?? "" }
        }
        // The fencer gives a fence agent its action and the node to act on (crmsh's exception).
        let supplied: Set<String> = cls == "stonith" ? ["action", "port", "plug"] : []
        var checks = m.problems(in: params, agent: agent.description, suppliedByCluster: supplied).map { p in
            p.isMissing
                ? CrmCheck(refuses: true, "\(id): required parameter \"\(p.parameter)\" not defined; \(agent) needs it: add params \(p.parameter)=<value> (crm ra info \(agent) describes it)")
                : CrmCheck("\(id): parameter '\(p.parameter)': \(p.message)")
        }
        // Operations the agent does not have never run (crmsh's warning); the cluster runs
        // start and stop of a fence device itself.
        let actions = Set(m.actions.map(\.name))
        for op in primitive.firstElement(named: "operations")?.elements(named: "op") ?? [] {
            guard let name = op["name"], !actions.isEmpty, !actions.contains(name) else { continue }
            if cls == "stonith" && (name == "start" || name == "stop") { continue }
            let near = CrmParser.closest(to: name, in: actions).map { "; did you mean '\($0)'?" } ?? "; its actions: \(actions.sorted().joined(separator: ", "))"
            checks.append(CrmCheck("\(id): action '\(name)' not found in Resource Agent meta-data\(near)"))
        }
        return checks
    }

    // MARK: cluster

    /// pacemakerd for this node: through systemctl on a normal installation where systemd
    /// runs, else (a node root from SWIFTHA_ROOT, or no systemd) the pacemakerd executable
    /// beside crm, started in the background with the node's root and name. Its pid is kept
    /// in <root>/run/swiftha/pacemakerd.pid and its output goes to
    /// <root>/var/log/pacemaker/pacemaker.log.
    func cluster(_ words: [String]) -> Bool {
        let env = NodeEnvironment()
        let systemd = env.root == "/" && FileManager.default.fileExists(atPath: "/run/systemd/system")
        let pidFile = env.path("run/swiftha/pacemakerd.pid")
        let logFile = env.path("var/log/pacemaker/pacemaker.log")
        let node = env.node ?? localNode ?? "this node"
        /// The recorded pacemakerd, when it still runs (a stale file, or a pid now used by
        /// another program, does not count).
        func running() -> Int32? {
            guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  pid > 1, kill(pid, 0) == 0,
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  let argv0 = cmdline.split(separator: 0).first, String(decoding: argv0, as: UTF8.self).hasSuffix("pacemakerd"),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let state = stat.split(separator: ")").last?.split(separator: " ").first, state != "Z" else { return nil }
            return pid
        }
        let usage = "cluster {start|stop|restart|status}"
        if words.count > 1 {
            err("ERROR: cluster.\(words[0]): unknown keyword \"\(words[1])\"; usage: \(usage) (on this node; other nodes are not reached from here)")
            return false
        }
        switch words.first {
        case "start":
            if systemd { return spawn("/bin/systemctl", ["start", "pacemaker"]) == 0 }
            if let pid = running() { out("INFO: The cluster stack already started on \(node) (pacemakerd \(pid))"); return true }
            let path = ShellHost.toolPath("pacemakerd")
            guard FileManager.default.isExecutableFile(atPath: path) else { err("ERROR: cluster.start: pacemakerd is not installed beside crm (looked for \(path))"); return false }
            guard FileManager.default.fileExists(atPath: env.corosyncConf) else {
                err("ERROR: cluster.start: \(env.corosyncConf) does not exist; write the cluster's corosync.conf first (crm cluster start runs this node's stack from it)")
                return false
            }
            for dir in [env.path("run/swiftha"), env.path("var/log/pacemaker")] {
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            if !FileManager.default.fileExists(atPath: logFile) { FileManager.default.createFile(atPath: logFile, contents: nil) }
            guard let log = FileHandle(forWritingAtPath: logFile) else { err("ERROR: cluster.start: cannot write \(logFile)"); return false }
            log.seekToEndOfFile()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = ["--root", env.root] + (env.node.map { ["--node", $0] } ?? [])
            var environment = ProcessInfo.processInfo.environment
            environment["SWIFTHA_ROOT"] = env.root
            if let n = env.node { environment["SWIFTHA_NODE"] = n }
            environment.removeValue(forKey: "CIB_file")
            p.environment = environment
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = log
            p.standardError = log
            do { try p.run() } catch { err("ERROR: cluster.start: cannot run \(path): \(error.localizedDescription)"); return false }
            do { try "\(p.processIdentifier)\n".write(toFile: pidFile, atomically: true, encoding: .utf8) } catch {
                err("ERROR: cluster.start: cannot write \(pidFile): \(error.localizedDescription); stopping pacemakerd \(p.processIdentifier)")
                kill(p.processIdentifier, SIGTERM)
                return false
            }
            // pacemakerd refuses a bad setup at once; give it a moment to say so.
            for _ in 0..<10 where p.isRunning { usleep(100_000) }
            if !p.isRunning {
                try? FileManager.default.removeItem(atPath: pidFile)
                err("ERROR: cluster.start: pacemakerd exited with status \(p.terminationStatus); see \(logFile)")
                return false
            }
            out("INFO: The cluster stack started on \(node)")
            return true
        case "stop":
            if systemd { return spawn("/bin/systemctl", ["stop", "pacemaker"]) == 0 }
            guard let pid = running() else {
                try? FileManager.default.removeItem(atPath: pidFile)
                out("INFO: The cluster stack already stopped on \(node)")
                return true
            }
            // pacemakerd stops the daemons, crmd first (which moves the resources away).
            kill(pid, SIGTERM)
            var left = 1200
            while running() != nil && left > 0 { usleep(100_000); left -= 1 }
            if running() != nil {
                err("ERROR: cluster.stop: pacemakerd \(pid) is still running after 2 minutes; see \(logFile)")
                return false
            }
            try? FileManager.default.removeItem(atPath: pidFile)
            out("INFO: The cluster stack stopped on \(node)")
            return true
        case "restart":
            return cluster(["stop"]) && cluster(["start"])
        case "status":
            if systemd { return spawn("/bin/systemctl", ["status", "pacemaker", "--no-pager"]) == 0 }
            if let pid = running() {
                out("pacemakerd is running on \(node) (pid \(pid), root \(env.root))")
            } else {
                out("pacemakerd is not running on \(node) (root \(env.root))")
            }
            return true
        default:
            err("ERROR: cluster.\(words.first ?? ""): No such command; usage: \(usage)")
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
        out("WARNING: \(rsc) did not stop within a minute")
        return true
    }
}

/// `crm history`: the files behind it (every node's log and saved scheduler inputs, a
/// report or saved session's directory, the sessions, the shadow CIBs) and the tools it
/// runs (crm_simulate, crm_mon, diff, tar, bzip2, journalctl). What to show is decided in
/// CrmShell.
extension ShellHost {
    static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    static func isFile(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && !d.boolValue
    }

    /// The nodes the history reads: the report's (a session or `source DIR`), else the live
    /// cluster's that this machine holds (their roots), limited to `setnodes`' when set.
    func historyNodes(_ settings: CrmHistory.Settings) throws(CrmError) -> [CrmHistory.NodeSource] {
        if let dir = settings.source {
            let nodes = CrmHistory.reportNodes(dir, contents: { ShellHost.isDirectory($0) ? (try? FileManager.default.contentsOfDirectory(atPath: $0)) : nil },
                                               isFile: ShellHost.isFile)
            guard !nodes.isEmpty else { throw CrmError("history: \(dir): no nodes in the report (it holds a directory per node with its cib.xml, log or pengine directory)") }
            return nodes.filter { settings.nodes?.contains($0.name) ?? true }
        }
        if let gathered = gatherLive(settings) { return gathered }
        return try liveNodePairs(settings.nodes).map { CrmHistory.rootSource(name: $0.node, root: $0.root) }
    }

    /// What the last gathering from the cluster brought, for the window and nodes it was
    /// made for (one gathering serves one command).
    final class Gathered: @unchecked Sendable {
        nonisolated(unsafe) static var last: (key: String, nodes: [CrmHistory.NodeSource])?
        nonisolated(unsafe) static var fromCluster = false
        /// The log file a node that answered without a log would have read.
        nonisolated(unsafe) static var noLog: [String: String] = [:]
    }

    /// The live history from every node through the cluster: this node's crmd asks every
    /// node's crmd (CPG group crmd-history) for its log lines of the window and its saved
    /// inputs, and answers with what came in time; each node's part is kept in crm's cache
    /// (`<cache>/history-<user>/live/<node>/`, a report's layout), and only inputs not there
    /// yet travel. A node that did not answer is named on stderr. nil (the files on this
    /// machine are read instead) with SWIFTHA_ROOTS set, or when this node's crmd is not
    /// running.
    func gatherLive(_ settings: CrmHistory.Settings) -> [CrmHistory.NodeSource]? {
        let environment = ProcessInfo.processInfo.environment
        if let roots = environment["SWIFTHA_ROOTS"], !roots.isEmpty { return nil }
        let env = NodeEnvironment()
        let socket = ControllerAPI.socketPath(root: env.root)
        guard FileManager.default.fileExists(atPath: socket) else { Gathered.fromCluster = false; return nil }
        let now = Date().timeIntervalSince1970
        let from = settings.from ?? now - Double(CrmHistory.livePeriod)
        let key = "\(settings.from.map { "\($0)" } ?? "-")|\(settings.to.map { "\($0)" } ?? "-")|\(settings.nodes?.joined(separator: ",") ?? "*")"
        if let last = Gathered.last, last.key == key { return last.nodes }
        let dir = crmCache + "/history-\(ShellHost.userName)/live"
        let fm = FileManager.default
        func mtime(_ path: String) -> Int? {
            var st = stat()
            return stat(path, &st) == 0 ? Int(st.st_mtim.tv_sec) : nil
        }
        var known: [String: [String: Int]] = [:]
        for node in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
            let pe = dir + "/" + node + "/pengine"
            for f in (try? fm.contentsOfDirectory(atPath: pe)) ?? [] { known[node, default: [:]][f] = mtime(pe + "/" + f) }
        }
        var timeout = HistoryQuery.defaultTimeoutMS
        if let t = environment["SWIFTHA_HISTORY_TIMEOUT"].flatMap(Double.init), t > 0 { timeout = Int(t * 1000) }
        let query = HistoryQuery(from: from, to: settings.to, known: known, timeoutMS: timeout)
        final class Box: @unchecked Sendable { var result: Result<HistoryCollection, any Error>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                let client = try await IPCClient<ControllerAPI>.connect(path: socket, timeout: .seconds(5), maximumFrameSize: ControllerAPI.maximumFrameSize)
                do {
                    guard case .history(let c) = try await client.request(.history(query), timeout: .milliseconds(timeout + 10_000)) else {
                        throw CrmError("history: crmd's answer is not a history")
                    }
                    box.result = .success(c)
                } catch { box.result = .failure(error) }
                await client.close()
            } catch {
                box.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        let collection: HistoryCollection
        switch box.result! {
        case .success(let c): collection = c
        case .failure(let e):
            // crmd not running (or too old to answer): the files on this machine.
            err("WARNING: history: cannot ask the cluster through this node's crmd (\(e)); reading the files on this machine")
            Gathered.fromCluster = false
            return nil
        }
        for w in collection.warnings { err("WARNING: \(w)") }
        var nodes: [CrmHistory.NodeSource] = []
        for b in collection.bundles where settings.nodes?.contains(b.node) ?? true {
            let d = dir + "/" + b.node
            let pe = d + "/pengine"
            try? fm.createDirectory(atPath: pe, withIntermediateDirectories: true)
            try? (b.log ?? "").write(toFile: d + "/ha-log.txt", atomically: true, encoding: .utf8)
            // The node's inputs of the window, as it listed them: new ones written, those it
            // no longer has (or has anew under the same name) removed.
            let listed = Set(b.files.map(\.name))
            for f in (try? fm.contentsOfDirectory(atPath: pe)) ?? [] where !listed.contains(f) { try? fm.removeItem(atPath: pe + "/" + f) }
            for f in b.files {
                let path = pe + "/" + f.name
                if let data = f.data {
                    fm.createFile(atPath: path, contents: data)
                    var times = [timespec(tv_sec: f.time, tv_nsec: 0), timespec(tv_sec: f.time, tv_nsec: 0)]
                    utimensat(AT_FDCWD, path, &times, 0)
                } else if f.left {
                    try? fm.removeItem(atPath: path)
                }
            }
            if b.log == nil { Gathered.noLog[b.node] = b.logSource }
            nodes.append(CrmHistory.NodeSource(name: b.node, log: b.log == nil ? nil : d + "/ha-log.txt", peDirectory: pe, cib: nil))
        }
        Gathered.last = (key, nodes)
        Gathered.fromCluster = true
        return nodes
    }

    /// The live cluster's nodes (`names`, else corosync.conf's nodelist) with their roots.
    func liveNodePairs(_ names: [String]?) throws(CrmError) -> [(node: String, root: String)] {
        let env = NodeEnvironment()
        let local = env.node ?? ShellHost.hostname()
        let listed = names ?? CrmHistory.nodelistNames((try? String(contentsOfFile: env.corosyncConf, encoding: .utf8)) ?? "")
        return try CrmHistory.liveNodes(names: listed, local: local, root: env.root, roots: ProcessInfo.processInfo.environment["SWIFTHA_ROOTS"],
                                        exists: ShellHost.isDirectory)
    }

    /// Every node's saved inputs, as one list in time order.
    func historyInputs(_ nodes: [CrmHistory.NodeSource]) throws(CrmError) -> [CrmHistory.Input] {
        var lists: [[CrmHistory.Input]] = []
        var missing: [String] = []
        for n in nodes {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: n.peDirectory) else {
                missing.append(n.peDirectory)
                continue
            }
            lists.append(CrmHistory.inputs(names.map { name in
                var st = stat()
                let time = stat(n.peDirectory + "/" + name, &st) == 0 ? Int(st.st_mtim.tv_sec) : 0
                return (name, time)
            }, node: n.name, directory: n.peDirectory))
        }
        if lists.isEmpty {
            throw CrmError("history: no transitions found: \(missing.isEmpty ? "no nodes" : missing.joined(separator: ", ")) \(missing.count > 1 ? "do" : "does") not exist or cannot be read (the DC saves its scheduler inputs there)")
        }
        return CrmHistory.merged(lists)
    }

    /// The input as XML in a file crm_simulate reads (a .bz2 is decompressed with bzip2 into
    /// a temporary file, which `done` removes).
    func readable(_ input: CrmHistory.Input) throws(CrmError) -> (path: String, done: () -> Void) {
        let path = input.path
        guard input.compressed else { return (path, {}) }
        guard let bzip2 = ["/usr/bin/bzip2", "/bin/bzip2"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CrmError("history: \(input.file) is compressed and bzip2 is not installed (apt-get install bzip2)")
        }
        let tmp = NSTemporaryDirectory() + "crm-\(input.shortName)-\(getpid()).xml"
        FileManager.default.createFile(atPath: tmp, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bzip2)
        p.arguments = ["-dc", path]
        p.standardOutput = FileHandle(forWritingAtPath: tmp)
        do { try p.run() } catch { throw CrmError("history: cannot run \(bzip2): \(error.localizedDescription)") }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw CrmError("history: \(path) is not a bzip2 file bzip2 can read")
        }
        return (tmp, { try? FileManager.default.removeItem(atPath: tmp) })
    }

    func loadInput(_ input: CrmHistory.Input) throws(CrmError) -> CIB {
        let (path, done) = try readable(input)
        defer { done() }
        do { return try CIBFile.load(path) } catch { throw CrmError("history: \(input.file): \(error.message)") }
    }

    static func localTime(_ t: Int, _ format: String) -> String {
        var time = time_t(t)
        var parts = tm()
        localtime_r(&time, &parts)
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, buf.count, format, &parts)
        return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }

    /// When the scheduler ran on the input (its execution-date), else the file's time; and
    /// the DC it names.
    func details(_ input: CrmHistory.Input) -> (time: Int, dc: String, cib: CIB?) {
        guard let cib = try? loadInput(input) else { return (input.time, input.node, nil) }
        let time = cib.root["execution-date"].flatMap { Int($0) } ?? input.time
        let dcID = cib.root["dc-uuid"] ?? ""
        let dc = cib.root.firstElement(named: "configuration")?.firstElement(named: "nodes")?.elements(named: "node")
            .first { $0.id == dcID }?["uname"] ?? (input.node.isEmpty ? dcID : input.node)
        return (time, dc, cib)
    }

    /// Runs a tool beside crm (with extra environment) and returns its exit status and output.
    func capture(_ tool: String, _ arguments: [String], environment: [String: String?] = [:]) -> (Int32, String) {
        let path = ShellHost.toolPath(tool)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        if !environment.isEmpty {
            var env = ProcessInfo.processInfo.environment
            for (k, v) in environment { env[k] = v }
            p.environment = env
        }
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch {
            err("ERROR: cannot run \(path): \(error.localizedDescription)")
            return (1, "")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs a program and returns its exit status and standard output.
    func captureExecutable(_ path: String, _ arguments: [String]) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch { return (127, "") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The nodes' logs: the journal on a normal installation (every node's entries on this
    /// machine, each with its NODE), else each node's log file. Empty, with what is missing,
    /// when there is none.
    func historyLogs(_ nodes: [CrmHistory.NodeSource], live: Bool, from: Double, to: Double?) -> (logs: [(node: String, text: String)], missing: String) {
        let env = NodeEnvironment()
        if live, !Gathered.fromCluster, env.root == "/", JournalLogHandler.journalAvailable,
           let journalctl = ["/usr/bin/journalctl", "/bin/journalctl"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            var args = ["--no-pager", "-q", "-o", "json", "--since", "@\(Int(from))"]
            if let to { args += ["--until", "@\(Int(to) + 1)"] }
            let (status, text) = captureExecutable(journalctl, args + CrmHistory.daemons.flatMap { ["-t", $0] })
            guard status == 0 else { return ([], "journalctl exited with \(status)") }
            return ([(localNode ?? "", CrmHistory.journalLines(text, zone: .current))], "")
        }
        var logs: [(String, String)] = []
        var missing: [String] = []
        for n in nodes {
            if let file = n.log, let text = try? String(contentsOfFile: file, encoding: .utf8) {
                logs.append((n.name, text))
            } else {
                missing.append(n.log ?? Gathered.noLog[n.name].map { "\($0) on \(n.name)" } ?? "\(n.name)'s log")
            }
        }
        let how = live ? " (crm cluster start writes it; under journald the daemons log to the journal)" : ""
        return (logs, missing.isEmpty ? "" : "\(missing.joined(separator: ", ")) \(missing.count > 1 ? "do" : "does") not exist or cannot be read\(how)")
    }

    /// The CIB of the source: the live cluster's (or CIB_file), or the report's first node's.
    func historyCIB(_ settings: CrmHistory.Settings, _ nodes: [CrmHistory.NodeSource]) throws(CrmError) -> CIB {
        guard settings.source != nil else { return try loadCIB() }
        guard let file = nodes.compactMap(\.cib).first else { throw CrmError("history: \(settings.source ?? ""): no cib.xml in the report's node directories") }
        do { return try CIBFile.load(file) } catch { throw CrmError("history: \(error.message)") }
    }

    /// crmsh's cache directory (`/var/cache/crm`, under the node root), or SWIFTHA_CRM_CACHE.
    var crmCache: String {
        if let c = ProcessInfo.processInfo.environment["SWIFTHA_CRM_CACHE"], !c.isEmpty { return c }
        return NodeEnvironment().path("var/cache/crm")
    }

    static var userName: String {
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return "\(geteuid())"
    }

    /// Runs a program, its output to ours; its exit status.
    func runQuiet(_ path: String, _ arguments: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        do { try p.run() } catch { return 127 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// The session directory made from the live cluster: a report's layout, a directory
    /// per node with its log (ha-log.txt), its saved inputs (pengine/) and its CIB (cib.xml).
    func copyLive(_ nodes: [CrmHistory.NodeSource], into dir: String, from: Double, to: Double?) throws(CrmError) {
        let fm = FileManager.default
        let (logs, _) = historyLogs(nodes, live: true, from: from, to: to)
        let now = Int(Date().timeIntervalSince1970)
        let journal = NodeEnvironment().root == "/" && JournalLogHandler.journalAvailable && !Gathered.fromCluster
        do {
            for n in nodes {
                let d = dir + "/" + n.name
                try fm.createDirectory(atPath: d + "/pengine", withIntermediateDirectories: true)
                // The journal (one log of every node on this machine) goes to each node as its own lines.
                var text = logs.first { $0.node == n.name && !journal }?.text ?? ""
                if journal, let all = logs.first?.text {
                    text = CrmHistory.parseLog(all, now: Double(now), zone: .current).filter { $0.node == n.name }.map { $0.text + "\n" }.joined()
                }
                try text.write(toFile: d + "/ha-log.txt", atomically: true, encoding: .utf8)
                for f in (try? fm.contentsOfDirectory(atPath: n.peDirectory)) ?? [] where CrmHistory.input(named: f) != nil {
                    try fm.copyItem(atPath: n.peDirectory + "/" + f, toPath: d + "/pengine/" + f)
                    var st = stat()
                    if stat(n.peDirectory + "/" + f, &st) == 0 {
                        var times = [timespec(tv_sec: st.st_mtim.tv_sec, tv_nsec: 0), timespec(tv_sec: st.st_mtim.tv_sec, tv_nsec: 0)]
                        utimensat(AT_FDCWD, d + "/pengine/" + f, &times, 0)
                    }
                }
                if let cib = n.cib, ShellHost.isFile(cib) { try fm.copyItem(atPath: cib, toPath: d + "/cib.xml") }
            }
            try "Date: \(ShellHost.localTime(now, "%a %d %b %H:%M:%S %Z %Y"))\nBy: crm history\n".write(toFile: dir + "/description.txt", atomically: true, encoding: .utf8)
        } catch {
            throw CrmError("history.session: cannot copy the cluster's history into \(dir): \(error.localizedDescription)")
        }
    }

    func history(_ words: [String], _ settings: inout CrmHistory.Settings) -> Bool {
        guard let w = words.first else { return true }
        // Every command gathers the live history afresh (once).
        Gathered.last = nil
        var args = Array(words.dropFirst())
        let now = Date().timeIntervalSince1970
        let live = settings.source == nil
        // The live cluster's window is the last hour by default; a report's is all of it.
        let from = settings.from ?? (live ? now - Double(CrmHistory.livePeriod) : 0)
        let to = settings.to
        let zone = TimeZone.current
        let format: (Double, String) -> String = { ShellHost.localTime(Int($0), $1) }
        let current = settings
        func nodes() throws(CrmError) -> [CrmHistory.NodeSource] { try historyNodes(current) }
        func peInputs() throws(CrmError) -> [CrmHistory.Input] { try historyInputs(try nodes()) }
        /// The nodes' log lines in the window, merged, the excludes applied; nil (with why) when there is no log.
        func logLines() throws(CrmError) -> (lines: [CrmHistory.LogLine]?, missing: String) {
            let (logs, missing) = historyLogs(try nodes(), live: live, from: from, to: to)
            guard !logs.isEmpty else { return (nil, missing) }
            let excludes = try CrmHistory.excludePatterns(current.excludes)
            let merged = CrmHistory.merge(logs.map { ($0.node, CrmHistory.parseLog($0.text, now: now, zone: zone)) })
            return (CrmHistory.excluding(CrmHistory.within(merged, from: from, to: to), excludes), "")
        }
        /// The transitions the logs have (none without a log).
        func logged() -> [CrmHistory.Transition] {
            guard let lines = (try? logLines())?.lines else { return [] }
            return CrmHistory.transitions(lines, detail: current.detail)
        }
        func show(_ lines: [CrmHistory.LogLine]) {
            if !lines.isEmpty { out(lines.map(\.text).joined(separator: "\n")) }
        }
        let window = "between \(format(from, "%F %T")) and \(to.map { format($0, "%F %T") } ?? "now")"
        /// crmsh's transition log: the summary line and the events between its start and end.
        func transitionLog(_ input: CrmHistory.Input, full: Bool) throws(CrmError) -> Bool {
            let (lines, missing) = try logLines()
            guard let lines else { throw CrmError("history.\(w): \(input.path): transition not found: there is no log (\(missing))") }
            let list = CrmHistory.transitions(lines, detail: current.detail)
            guard let t = CrmHistory.transition(of: input, in: list) else {
                throw CrmError("history.\(w): \(input.path): transition not found in the log \(window) (widen the window with limit <from> [<to>])")
            }
            let inside = CrmHistory.within(lines, from: t.start, to: t.end)
            if full {
                show(inside)
            } else {
                out(CrmHistory.transitionInfo(t, format: format))
                show(CrmHistory.events(inside, detail: current.detail).map(\.line))
            }
            return true
        }
        func inWindow(_ list: [CrmHistory.Input]) -> [CrmHistory.Input] {
            list.filter { input in Double(input.time) >= from - 1 && to.map { Double(input.time) <= $0 + 1 } ?? true }
        }
        /// A transition's input, or the live CIB (`live`), as `show` and `diff` read them.
        func configuration(_ spec: String, status: Bool, command: String) throws(CrmError) -> String {
            if spec == "live" {
                guard live else { throw CrmError("history.\(command): live: the source is \(current.source ?? ""), not the live cluster (source live)") }
                if status {
                    let (code, text) = capture("crm_mon", ["-1"])
                    guard code == 0 else { throw CrmError("history.\(command): crm_mon exited with code \(code)") }
                    return text
                }
                return try CrmShow.render(try loadCIB())
            }
            let input = try CrmHistory.select(spec, from: peInputs())
            if status {
                let (path, done) = try readable(input)
                defer { done() }
                let (code, text) = capture("crm_mon", ["-1"], environment: ["CIB_file": path])
                guard code == 0 else { throw CrmError("history.\(command): crm_mon exited with code \(code) on \(input.path)") }
                return text
            }
            return try CrmShow.render(try loadInput(input))
        }
        do throws(CrmError) {
            switch w {
            case "info":
                guard args.isEmpty else { throw CrmError("history.info: unknown keyword \"\(args[0])\"; usage: info") }
                let sources = try nodes()
                // No saved inputs yet (no DC has run here) is not an error: the list is empty.
                let inputs = (try? historyInputs(sources)) ?? []
                let tagged = Set(logged().filter { !$0.tags.isEmpty }.map(\.name))
                var text = CrmHistory.info(cib: try historyCIB(current, sources), inputs: inputs, now: Int(now), format: ShellHost.localTime,
                                           window: (Int(from), to.map { Int($0) }), tagged: tagged)
                if let dir = current.source {
                    text = text.replacingOccurrences(of: "Source: live", with: "Source: \(dir)")
                    // A report's description says when and by what it was made.
                    if let desc = try? String(contentsOfFile: dir + "/description.txt", encoding: .utf8) {
                        for field in ["Date", "By"] {
                            guard let line = desc.split(separator: "\n").first(where: { $0.hasPrefix(field + ": ") }) else { continue }
                            let label = field == "Date" ? "Created on" : "By"
                            text = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasPrefix(label + ": ") ? label + ": " + line.dropFirst(field.count + 2) : String($0) }.joined(separator: "\n")
                        }
                    }
                } else if location != .live, let file = ProcessInfo.processInfo.environment["CIB_file"] {
                    text = text.replacingOccurrences(of: "Source: live", with: "Source: \(file)")
                }
                out(text)
                return true
            case "log":
                try CrmHistory.checkNodes(args, known: try nodes().map(\.name), command: "log", usage: "log [<node> ...]")
                let (lines, missing) = try logLines()
                guard let lines else { throw CrmError("history.log: there is no log to show: \(missing)") }
                show(CrmHistory.lines(lines, of: args))
                return true
            case "events":
                guard args.isEmpty else { throw CrmError("history.events: unknown keyword \"\(args[0])\"; usage: events") }
                let (lines, missing) = try logLines()
                guard let lines else { throw CrmError("history.events: there is no log to read: \(missing)") }
                show(CrmHistory.events(lines, detail: current.detail).map(\.line))
                return true
            case "resource", "node":
                let usage = "\(w) <\(w == "node" ? "node" : "rsc")> [<\(w == "node" ? "node" : "rsc")> ...]"
                guard !args.isEmpty else { throw CrmError("history.\(w): name at least one \(w == "node" ? "node" : "resource"); usage: \(usage)") }
                if let bad = args.first(where: { (try? NSRegularExpression(pattern: $0)) == nil }) {
                    throw CrmError("history.\(w): \"\(bad)\" is neither a name nor a regular expression; usage: \(usage)")
                }
                let (lines, missing) = try logLines()
                guard let lines else { throw CrmError("history.\(w): there is no log to read: \(missing)") }
                let cib = try? historyCIB(current, try nodes())
                let kind: CrmHistory.EventKind = w == "node" ? .node : .resource
                let names = w == "node" ? args : CrmHistory.expand(args, in: cib)
                let found = CrmHistory.events(lines, kinds: [kind], names: names, detail: current.detail)
                if let cib {
                    let known: [String]
                    if w == "node" {
                        known = cib.root.firstElement(named: "configuration")?.firstElement(named: "nodes")?.elements(named: "node").compactMap { $0["uname"] ?? $0.id } ?? []
                    } else {
                        let o = CrmHistory.objects(cib)
                        known = o.primitives + o.groups + o.clones
                    }
                    // A word that names nothing configured and nothing in the log is a mistake.
                    for a in args where CrmHistory.unknown([a], among: known) != nil {
                        let logged = CrmHistory.events(lines, kinds: [kind], names: w == "node" ? [a] : CrmHistory.expand([a], in: cib), detail: 1)
                        if logged.isEmpty {
                            throw CrmError("history.\(w): no \(w == "node" ? "node" : "resource") \"\(a)\" in the configuration or the log (\(w == "node" ? "nodes" : "resources"): \(known.isEmpty ? "none" : known.joined(separator: " "))); usage: \(usage)")
                        }
                    }
                }
                show(found.map(\.line))
                return true
            case "limit", "timeframe":
                guard args.count <= 2 else { throw CrmError("history.\(w): unknown keyword \"\(args[2])\"; usage: \(w) [<from_time> [<to_time>]]") }
                var times: [Double] = []
                for a in args {
                    guard let t = CrmHistory.parseTime(a, now: now, zone: zone) else {
                        throw CrmError("history.\(w): \"\(a)\" is not a time; give one as 10:15, 15h22m, 3pm, \"2026-11-24 10:15\", \"Nov 24 10:15\" or \"Tue Nov 24 10:15:00 UTC 2026\"; usage: \(w) [<from_time> [<to_time>]]")
                    }
                    times.append(t)
                }
                if times.count == 2 {
                    if times[0] == times[1] { throw CrmError("history.\(w): \(args[0]) - \(args[1]): the start and the end of the window cannot be the same") }
                    if times[1] < times[0] { times.swapAt(0, 1) }
                }
                settings.from = times.first
                settings.to = times.count == 2 ? times[1] : nil
                return true
            case "exclude":
                guard args.count <= 1 else { throw CrmError("history.exclude: unknown keyword \"\(args[1])\" (quote a regex with spaces); usage: exclude [<regex>|clear]") }
                switch args.first {
                case nil: if !settings.excludes.isEmpty { out(settings.excludes.joined(separator: "\n")) }
                case "clear": settings.excludes = []
                case let regex?:
                    _ = try CrmHistory.excludePatterns([regex])
                    settings.excludes.append(regex)
                }
                return true
            case "detail":
                guard args.count == 1, let n = Int(args[0]), n == 0 || n == 1 else {
                    throw CrmError("history.detail: expected 0 or 1 (was \(args.first.map { "'\($0)'" } ?? "nothing")); usage: detail <detail_level>")
                }
                settings.detail = n
                return true
            case "setnodes":
                let usage = "setnodes <node> [<node> ...]"
                guard !args.isEmpty else { throw CrmError("history.setnodes: name at least one node; usage: \(usage)") }
                if let dup = args.enumerated().first(where: { args.firstIndex(of: $0.element) != $0.offset }) {
                    throw CrmError("history.setnodes: \(dup.element) is named twice; usage: \(usage)")
                }
                if let dir = current.source {
                    out("INFO: setting nodes not necessary for existing reports, proceeding anyway")
                    var all = current
                    all.nodes = nil
                    try CrmHistory.checkNodes(args, known: try historyNodes(all).map(\.name), command: "setnodes", usage: "\(usage) (the nodes of \(dir))")
                } else {
                    let env = NodeEnvironment()
                    var known = CrmHistory.nodelistNames((try? String(contentsOfFile: env.corosyncConf, encoding: .utf8)) ?? "")
                    if known.isEmpty, let cib = try? loadCIB() {
                        known = cib.root.firstElement(named: "configuration")?.firstElement(named: "nodes")?.elements(named: "node").compactMap { $0["uname"] } ?? []
                    }
                    if !known.isEmpty { try CrmHistory.checkNodes(args, known: known, command: "setnodes", usage: "\(usage) (the cluster's nodes)") }
                    let found = try liveNodePairs(args).map(\.node)
                    let cluster = ProcessInfo.processInfo.environment["SWIFTHA_ROOTS"].map(\.isEmpty) ?? true
                        && FileManager.default.fileExists(atPath: ControllerAPI.socketPath(root: env.root))
                    for n in args where !found.contains(n) && !cluster {
                        err("WARNING: history.setnodes: \(n)'s log and inputs are not on this machine (no node root for it beside \(env.root); SWIFTHA_ROOTS=node:/root;... names them)")
                    }
                }
                settings.nodes = args
                return true
            case "source":
                guard args.count <= 1 else { throw CrmError("history.source: unknown keyword \"\(args[1])\"; usage: source {<dir>|live}") }
                guard let src = args.first else { out("Current source: \(current.source ?? "live")"); return true }
                if src == "live" {
                    settings.source = nil
                } else {
                    let sessionDir = CrmHistory.sessionsDirectory(cache: crmCache, user: ShellHost.userName) + "/" + src
                    if ShellHost.isDirectory(src) {
                        settings.source = URL(fileURLWithPath: src).standardizedFileURL.path
                    } else if !src.contains("/"), ShellHost.isFile(sessionDir + "/history_state.cfg") {
                        return history(["session", "load", src], &settings)
                    } else {
                        throw CrmError("history.source: source \(src) doesn't exist (a crm report directory, a saved session's name or live); usage: source {<dir>|live}")
                    }
                }
                settings.session = nil
                settings.from = nil
                settings.to = nil
                return true
            case "session":
                return try session(try CrmHistory.sessionCommand(args), &settings, from: from, to: to)
            case "refresh":
                guard args.isEmpty || (args.count == 1 && ["force", "--force"].contains(args[0])) else {
                    throw CrmError("history.refresh: Expected 'force' or '--force' (was '\(args[0])'); usage: refresh [force]")
                }
                // The live cluster's files are read afresh by every command; a report's are counted again.
                guard current.source != nil else { return true }
                out("Refreshing log data...")
                let (lines, _) = try logLines()
                let events = CrmHistory.events(lines ?? [], detail: current.detail).count
                out("\((lines.map { CrmHistory.transitions($0, detail: current.detail) } ?? []).count) transitions, \(events) events.")
                return true
            case "transitions":
                guard args.isEmpty else { throw CrmError("history.transitions: unknown keyword \"\(args[0])\"; usage: transitions") }
                let list = inWindow(try peInputs())
                let log = logged()
                out("\(ShellHost.pad("Time", 30))  \(ShellHost.pad("Name", 15)) \(ShellHost.pad("Node", 15)) Tags")
                for input in list {
                    let d = details(input)
                    let t = CrmHistory.transition(of: input, in: log)
                    let start = t?.start ?? Double(d.time)
                    let end = t?.end.map { ShellHost.localTime(Int($0), "%T") } ?? "--:--:--"
                    let dc = t?.dc ?? (input.node.isEmpty ? d.dc : input.node)
                    let line = "\(ShellHost.localTime(Int(start), "%F")) \(ShellHost.localTime(Int(start), "%T")) - \(end): \(ShellHost.pad(input.shortName, 15)) \(ShellHost.pad(dc, 15)) \((t?.tags ?? []).sorted().joined(separator: " "))"
                    out(String(line.reversed().drop { $0 == " " }.reversed()))
                }
                return true
            case "peinputs":
                let verbose = args.contains("v")
                args.removeAll { $0 == "v" }
                let ranges = try CrmHistory.ranges(args)
                let list = inWindow(try peInputs()).filter { input in ranges.map { $0.contains { $0.contains(input.number) } } ?? true }
                guard !list.isEmpty else {
                    throw CrmError("history.peinputs: no transitions found\(ranges == nil ? "" : " in \(args.joined(separator: " "))") in \(try nodes().map(\.peDirectory).joined(separator: ", ")) \(window) (widen the window with limit <from> [<to>])")
                }
                let log = verbose ? logged() : []
                if verbose {
                    out("Date       Start    End       Filename      Client     User       Origin      Tags")
                    out("====       =====    ===       ========      ======     ====       ======      ====")
                }
                for input in list {
                    guard verbose else { out(input.path); continue }
                    let d = details(input)
                    let t = CrmHistory.transition(of: input, in: log)
                    let start = t.map { Int($0.start) } ?? d.time
                    let end = t?.end.map { ShellHost.localTime(Int($0), "%T") } ?? "--:--:--"
                    let attr = { (name: String, none: String) in d.cib?.root[name] ?? none }
                    out("\(ShellHost.localTime(start, "%F")) \(ShellHost.localTime(start, "%T")) \(end)  \(ShellHost.pad(input.shortName, 13)) \(ShellHost.pad(attr("update-client", "no-client"), 10)) \(ShellHost.pad(attr("update-user", "no-user"), 10)) \(attr("update-origin", "no-origin"))   \((t?.tags ?? []).sorted().joined(separator: " "))")
                }
                return true
            case "latest":
                guard args.isEmpty else { throw CrmError("history.latest: unknown keyword \"\(args[0])\"; usage: latest") }
                return try transitionLog(try CrmHistory.select(nil, from: peInputs()), full: false)
            case "transition":
                if let sub = args.first, ["log", "tags", "showdot", "save"].contains(sub) {
                    let max = sub == "save" ? 3 : 2
                    guard args.count <= max else {
                        throw CrmError("history.transition: unknown keyword \"\(args[max])\"; usage: transition \(sub) [<number>|<index>|<file>\(sub == "save" ? " [<name>]" : "")]")
                    }
                    let input = try CrmHistory.select(args.count >= 2 ? args[1] : nil, from: peInputs())
                    switch sub {
                    case "log":
                        return try transitionLog(input, full: true)
                    case "showdot":
                        return try showDot(input)
                    case "save":
                        return try saveShadow(input, name: args.count == 3 ? args[2] : input.shortName)
                    default:
                        let (lines, missing) = try logLines()
                        guard let lines else { throw CrmError("history.transition: \(input.path): transition not found: there is no log (\(missing))") }
                        guard let t = CrmHistory.transition(of: input, in: CrmHistory.transitions(lines, detail: current.detail)) else {
                            throw CrmError("history.transition: \(input.path): transition not found in the log (widen the window with limit <from> [<to>])")
                        }
                        out(t.tags.isEmpty ? "No tags." : t.tags.sorted().joined(separator: " "))
                        return true
                    }
                }
                let replay = try CrmHistory.replay(args)
                let input = try CrmHistory.select(replay.rest.first, from: peInputs())
                let (path, done) = try readable(input)
                defer { done() }
                out("INFO: running ptest with \(input.path)")
                let (status, text) = capture("crm_simulate", ["-x", path] + replay.arguments)
                if status != 0 { out("WARNING: Simulation was unsuccessful (RC=\(status)).") }
                if replay.actionsOnly {
                    let actions = CrmHistory.actions(in: text)
                    if actions.isEmpty { out("WARNING: No actions found.") } else { out(actions) }
                } else if !text.isEmpty {
                    out(String(text.hasSuffix("\n") ? text.dropLast() : Substring(text)))
                }
                // Then, as crmsh, the transition's summary and events from the log; an input
                // the log does not reach (or no log) is said on stderr: the replay stands.
                do { _ = try transitionLog(input, full: false) } catch { err("WARNING: \(error.message)") }
                return status == 0
            case "show":
                guard let spec = args.first else { throw CrmError("history.show: name the transition; usage: show <pe>|live [status]") }
                if args.count > 1 && (args[1] != "status" || args.count > 2) {
                    throw CrmError("history.show: unknown keyword \"\(args[args[1] == "status" ? 2 : 1])\"; usage: show <pe>|live [status]")
                }
                let text = try configuration(spec, status: args.count == 2, command: "show")
                if !text.isEmpty { out(String(text.hasSuffix("\n") ? text.dropLast() : Substring(text))) }
                return true
            case "diff":
                let usage = "diff <pe> <pe> [status] [html]"
                guard args.count >= 2 else { throw CrmError("history.diff: name two transitions (a number, an index, a file or live); usage: \(usage)") }
                let (t1, t2) = (args[0], args[1])
                var status = false, html = false
                for a in args.dropFirst(2) {
                    switch a {
                    case "status": status = true
                    case "html": html = true
                    default: throw CrmError("history.diff: unknown keyword \"\(a)\"; usage: \(usage)")
                    }
                }
                var s1 = try configuration(t1, status: status, command: "diff")
                var s2 = try configuration(t2, status: status, command: "diff")
                if status { (s1, s2) = (CrmHistory.withoutHeader(s1), CrmHistory.withoutHeader(s2)) }
                if html {
                    // The table has one line per object (crmsh's configuration without line continuations).
                    if !status { (s1, s2) = (CrmHistory.onePerLine(s1), CrmHistory.onePerLine(s2)) }
                    FileHandle.standardOutput.write(Data(CrmHistory.htmlDiff(s1, s2, labels: (t1, t2)).utf8))
                    return true
                }
                return try unifiedDiff(s1, s2, labels: (t1, t2))
            case "graph":
                // crmsh's configuration graph of a transition's input (or live), in dot.
                guard let spec = args.first else { throw CrmError("history.graph: name the transition; usage: graph <pe> [<gtype> [<file> [<img_format>]]]") }
                let (_, file, format) = try CrmGraph.arguments(Array(args.dropFirst()))
                let cib: CIB
                if spec == "live" {
                    guard live else { throw CrmError("history.graph: live: the source is \(current.source ?? ""), not the live cluster (source live)") }
                    cib = try loadCIB()
                } else {
                    cib = try loadInput(try CrmHistory.select(spec, from: peInputs()))
                }
                let dot = CrmGraph.dot(cib)
                guard let file else {
                    throw CrmError("history.graph: dotty not found (no graph viewer here); save the graph instead: graph \(spec) dot <file> [<img_format>]")
                }
                if format == "dot" {
                    do { try dot.write(toFile: file, atomically: true, encoding: .utf8) } catch {
                        throw CrmError("history.graph: cannot write \(file): \(error.localizedDescription)")
                    }
                    return true
                }
                guard let dotTool = ["/usr/bin/dot", "/bin/dot"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                    throw CrmError("history.graph: dot not found (apt-get install graphviz), or save the dot text: graph \(spec) dot <file>")
                }
                let tmp = NSTemporaryDirectory() + "crm-graph-\(getpid()).dot"
                defer { try? FileManager.default.removeItem(atPath: tmp) }
                do { try dot.write(toFile: tmp, atomically: true, encoding: .utf8) } catch { throw CrmError("history.graph: cannot write \(tmp): \(error.localizedDescription)") }
                let status = runQuiet(dotTool, ["-T\(format)", "-o\(file)", tmp])
                guard status == 0 else { throw CrmError("history.graph: dot -T\(format) exited with \(status)") }
                return true
            case "wdiff":
                // crmsh's: GNU wdiff of the two configurations (or statuses, without header).
                let usage = "wdiff <pe> <pe> [status]"
                guard args.count >= 2 else { throw CrmError("history.wdiff: name two transitions (a number, an index, a file or live); usage: \(usage)") }
                let (t1, t2) = (args[0], args[1])
                var status = false
                for a in args.dropFirst(2) {
                    guard a == "status" else { throw CrmError("history.wdiff: unknown keyword \"\(a)\"; usage: \(usage)") }
                    status = true
                }
                var s1 = try configuration(t1, status: status, command: "wdiff")
                var s2 = try configuration(t2, status: status, command: "wdiff")
                if status { (s1, s2) = (CrmHistory.withoutHeader(s1), CrmHistory.withoutHeader(s2)) }
                return try wordDiff(s1, s2)
            default:
                throw CrmError("history.\(w): No such command; usage: \(CrmHistory.usage)")
            }
        } catch {
            err("ERROR: \(error.message)")
            return false
        }
    }

    /// `transition showdot`: the transition graph in graphviz's dot language, as crm_simulate
    /// -D writes it for the input (no viewer is started: `dot -Tsvg` draws it).
    func showDot(_ input: CrmHistory.Input) throws(CrmError) -> Bool {
        let (path, done) = try readable(input)
        defer { done() }
        let dot = NSTemporaryDirectory() + "crm-\(input.shortName)-\(getpid()).dot"
        defer { try? FileManager.default.removeItem(atPath: dot) }
        let (status, _) = capture("crm_simulate", ["-x", path, "-D", dot, "-Q"])
        guard status == 0, let text = try? String(contentsOfFile: dot, encoding: .utf8) else {
            throw CrmError("history.transition: showdot: crm_simulate made no graph of \(input.path) (exit status \(status))")
        }
        out(String(text.hasSuffix("\n") ? text.dropLast() : Substring(text)))
        return true
    }

    /// `transition save`: the input as the shadow CIB `name` (shadow.NAME in CIB_shadow_dir,
    /// else the node's CIB directory, where crm_shadow keeps them).
    func saveShadow(_ input: CrmHistory.Input, name: String) throws(CrmError) -> Bool {
        if name.isEmpty || name.contains(where: { "'`/#*?$[];".contains($0) }) {
            throw CrmError("history.transition: save: \(name): bad name for a shadow CIB (none of ' ` / # * ? $ [ ] ;); usage: transition save [<pe> [<name>]]")
        }
        let (path, done) = try readable(input)
        defer { done() }
        let env = ProcessInfo.processInfo.environment
        let dir = env["CIB_shadow_dir"].flatMap { $0.isEmpty ? nil : $0 } ?? NodeEnvironment().path("var/lib/pacemaker/cib")
        let shadow = dir + "/shadow." + name
        out("INFO: transition \(input.path) saved to shadow \(name)")
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            try data.write(to: URL(fileURLWithPath: shadow), options: .atomic)
        } catch {
            throw CrmError("history.transition: save: cannot write \(shadow): \(error.localizedDescription)")
        }
        return true
    }

    /// crmsh's `diff -U 0 -d -b` of the two texts, labelled with the words that named them.
    func unifiedDiff(_ a: String, _ b: String, labels: (String, String)) throws(CrmError) -> Bool {
        guard let diff = ["/usr/bin/diff", "/bin/diff"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CrmError("history.diff: diff is not installed (apt-get install diffutils)")
        }
        let base = NSTemporaryDirectory() + "crm-diff-\(getpid())"
        let (f1, f2) = (base + "-1", base + "-2")
        defer { for f in [f1, f2] { try? FileManager.default.removeItem(atPath: f) } }
        do {
            try (a.hasSuffix("\n") || a.isEmpty ? a : a + "\n").write(toFile: f1, atomically: true, encoding: .utf8)
            try (b.hasSuffix("\n") || b.isEmpty ? b : b + "\n").write(toFile: f2, atomically: true, encoding: .utf8)
        } catch { throw CrmError("history.diff: cannot write \(base): \(error.localizedDescription)") }
        let (status, text) = captureExecutable(diff, ["-U", "0", "-d", "-b", "--label", labels.0, "--label", labels.1, f1, f2])
        guard status == 0 || status == 1 else { throw CrmError("history.diff: diff exited with \(status)") }
        if !text.isEmpty { out(String(text.hasSuffix("\n") ? text.dropLast() : Substring(text))) }
        return true
    }

    /// crmsh's `wdiff FILE1 FILE2` of the two texts: the words removed as [-...-], those
    /// added as {+...+}, inline.
    func wordDiff(_ a: String, _ b: String) throws(CrmError) -> Bool {
        guard let wdiff = ["/usr/bin/wdiff", "/bin/wdiff"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CrmError("history.wdiff: wdiff is not installed (apt-get install wdiff), or use diff <pe> <pe>")
        }
        let base = NSTemporaryDirectory() + "crm-wdiff-\(getpid())"
        let (f1, f2) = (base + "-1", base + "-2")
        defer { for f in [f1, f2] { try? FileManager.default.removeItem(atPath: f) } }
        do {
            try a.write(toFile: f1, atomically: true, encoding: .utf8)
            try b.write(toFile: f2, atomically: true, encoding: .utf8)
        } catch { throw CrmError("history.wdiff: cannot write \(base): \(error.localizedDescription)") }
        let (status, text) = captureExecutable(wdiff, [f1, f2])
        guard status == 0 || status == 1 else { throw CrmError("history.wdiff: wdiff exited with \(status)") }
        if !text.isEmpty { out(String(text.hasSuffix("\n") ? text.dropLast() : Substring(text))) }
        return true
    }

    /// `session`: save (the live history copied as a report), load, delete, list, pack, update.
    func session(_ command: CrmHistory.SessionCommand, _ settings: inout CrmHistory.Settings, from: Double, to: Double?) throws(CrmError) -> Bool {
        let sessions = CrmHistory.sessionsDirectory(cache: crmCache, user: ShellHost.userName)
        let fm = FileManager.default
        func stateText(dir: String) -> String {
            CrmHistory.sessionState(dir: dir, from: settings.from.map { ShellHost.localTime(Int($0), "%F %T") } ?? "",
                                    to: settings.to.map { ShellHost.localTime(Int($0), "%F %T") } ?? "", detail: settings.detail, excludes: settings.excludes)
        }
        func writeState(_ dir: String, source: String) throws(CrmError) {
            do { try stateText(dir: source).write(toFile: dir + "/history_state.cfg", atomically: true, encoding: .utf8) } catch {
                throw CrmError("history.session: Failed to save state: \(error.localizedDescription)")
            }
        }
        switch command {
        case .show:
            out("current session: \(settings.session ?? "None")")
        case .list:
            for name in ((try? fm.contentsOfDirectory(atPath: sessions)) ?? []).sorted() where ShellHost.isDirectory(sessions + "/" + name) { out(name) }
        case .save(let name):
            let dir = sessions + "/" + name
            if fm.fileExists(atPath: dir) { throw CrmError("history.session: history session \(name) exists (session delete \(name) first, or pick another name)") }
            do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw CrmError("history.session: cannot make \(dir): \(error.localizedDescription)")
            }
            var source = settings.source ?? dir
            do throws(CrmError) {
                if settings.source == nil { try copyLive(try historyNodes(settings), into: dir, from: from, to: to) }
                if settings.source == nil { source = dir }
                try writeState(dir, source: source)
            } catch {
                try? fm.removeItem(atPath: dir)
                throw error
            }
            settings.source = source
            settings.session = name
        case .load(let name):
            let dir = sessions + "/" + name
            guard fm.fileExists(atPath: dir) else { throw CrmError("history.session: history session \(name) does not exist (session list shows the saved ones)") }
            let file = dir + "/history_state.cfg"
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw CrmError("history.session: Failed to load state: cannot read \(file)") }
            let state = try CrmHistory.parseSessionState(text, file: file)
            guard ShellHost.isDirectory(state.dir) else {
                throw CrmError("history.session: session state file \(file) points to a non-existing directory: \(state.dir)")
            }
            let now = Date().timeIntervalSince1970
            func time(_ s: String, _ what: String) throws(CrmError) -> Double? {
                guard !s.isEmpty else { return nil }
                guard let t = CrmHistory.parseTime(s, now: now, zone: .current) else { throw CrmError("history.session: \(file): bad value '\(s)' for '\(what)'") }
                return t
            }
            let excludes = try CrmHistory.excludePatterns(state.excludes)
            _ = excludes
            settings.from = try time(state.from, "from_time")
            settings.to = try time(state.to, "to_time")
            settings.detail = state.detail
            settings.excludes = state.excludes
            settings.source = state.dir
            settings.session = name
            settings.nodes = nil
        case .delete(let name):
            let dir = sessions + "/" + name
            guard fm.fileExists(atPath: dir) else { throw CrmError("history.session: history session \(name) does not exist (session list shows the saved ones)") }
            do { try fm.removeItem(atPath: dir) } catch { throw CrmError("history.session: cannot remove \(dir): \(error.localizedDescription)") }
            if settings.session == name {
                out("INFO: current history session deleted, setting source to live")
                settings = CrmHistory.Settings()
            }
        case .update:
            guard let name = settings.session else { throw CrmError("history.session: need to load a history session before update/pack (session load <name>)") }
            let dir = sessions + "/" + name
            guard fm.fileExists(atPath: dir) else { throw CrmError("history.session: history session \(name) does not exist") }
            try writeState(dir, source: settings.source ?? dir)
        case .pack(let given):
            guard let name = given ?? settings.session else { throw CrmError("history.session: need to load a history session before update/pack (or name it: session pack <name>)") }
            let dir = sessions + "/" + name
            guard fm.fileExists(atPath: dir) else { throw CrmError("history.session: history session \(name) does not exist (session list shows the saved ones)") }
            guard let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty else {
                throw CrmError("history.session: no home directory, nowhere to pack report (set HOME)")
            }
            let archive = "\(home)/\(name).tar.bz2"
            guard let tar = ["/usr/bin/tar", "/bin/tar"].first(where: { fm.isExecutableFile(atPath: $0) }) else { throw CrmError("history.session: tar is not installed") }
            let status = runQuiet(tar, ["-C", sessions, "-cj", "-f", archive, name])
            guard status == 0 else { throw CrmError("history.session: could not pack report, tar -C \(sessions) -cj -f \(archive) \(name) exited with \(status) (is bzip2 installed?)") }
            out("Report saved in '\(archive)'")
        }
        return true
    }
}
