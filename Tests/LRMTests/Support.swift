import Agents
import CIB
import Foundation
import LRM
import Synchronization
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// One test node: a scratch root, an OCF root that has the system's heartbeat agents plus the
/// test's own (provider `test`), and a real lrmd process serving it.
final class LRMNode: @unchecked Sendable {
    let base: String
    let root: String
    let ocfRoot: String
    let name: String
    private(set) var process: Process?
    let logPath: String

    init(name: String) throws {
        self.name = name
        base = scratchDirectory("lrm-\(name)")
        root = base + "/root"
        ocfRoot = base + "/ocf"
        logPath = base + "/lrmd.log"
        let fm = FileManager.default
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: ocfRoot + "/resource.d/test", withIntermediateDirectories: true)
        // The installed agents and their shell library, by symlink.
        if fm.fileExists(atPath: "/usr/lib/ocf/resource.d/heartbeat") {
            try fm.createSymbolicLink(atPath: ocfRoot + "/resource.d/heartbeat", withDestinationPath: "/usr/lib/ocf/resource.d/heartbeat")
        }
        if fm.fileExists(atPath: "/usr/lib/ocf/lib") {
            try fm.createSymbolicLink(atPath: ocfRoot + "/lib", withDestinationPath: "/usr/lib/ocf/lib")
        }
    }

    deinit {
        if let p = process, p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: base)
    }

    /// `<root>/run/resource-agents`, where Dummy keeps its state file.
    var rscTmp: String { root + "/run/resource-agents" }
    var socketPath: String { LRMClient.socketPath(root: root) }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Writes an executable agent `ocf:test:NAME`.
    @discardableResult
    func agent(_ name: String, _ body: String) throws -> ResourceAgentName {
        let path = ocfRoot + "/resource.d/test/" + name
        try body.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return ResourceAgentName(standard: "ocf", provider: "test", type: name)
    }

    /// `ocf:test:Hang`: starts a background `sleep 1000`, writes its child's pid and its own to
    /// `pidFile`, and never returns.
    func hangingAgent(pidFile: String) throws -> ResourceAgentName {
        try agent("Hang", """
            #!/bin/sh
            case "$1" in
            meta-data) echo '<resource-agent name="Hang"><parameters/><actions><action name="start" timeout="20s"/></actions></resource-agent>'; exit 0;;
            stop) exit 0;;
            esac
            sleep 1000 &
            echo $! > "\(pidFile)"
            echo $$ >> "\(pidFile)"
            while :; do sleep 1; done
            """)
    }

    /// Starts lrmd and waits (bounded) until it accepts connections. With `journal`, lrmd runs
    /// in a mount namespace of its own beside a real systemd-journald (at most 120 s), whose
    /// /run/log is the directory `journal`: the journal files land there, for journalctl -D.
    func start(extra: [String] = [], environment: [String: String] = [:], verbose: Bool = true, journal: String? = nil) async throws {
        let p = Process()
        let lrmd = Tool.binDir.appendingPathComponent("lrmd").path
        let arguments = ["--root", root, "--node", name, "--ocf-root", ocfRoot, "--kill-grace", "1"] + (verbose ? ["--verbose"] : []) + extra
        if let journal {
            let script = """
                set -e
                mount -t tmpfs tmpfs /run
                mkdir -p /run/systemd/journal /run/log
                mount --bind "\(journal)" /run/log
                # journald gets none of the test's descriptors: Foundation's Process sees
                # lrmd's exit when the last holder of one of them closes it.
                python3 -c 'import os, sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \\
                    timeout 120 /lib/systemd/systemd-journald &
                echo $! > "\(journal)/journald.pid"
                i=0
                while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
                exec "$@"
                """
            p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            p.arguments = ["-m", "--propagation", "private", "/bin/sh", "-c", script, "sh", lrmd] + arguments
        } else {
            p.executableURL = URL(fileURLWithPath: lrmd)
            p.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "SWIFTHA_ROOT")
        env.removeValue(forKey: "SWIFTHA_NODE")
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.merge(environment) { _, new in new }
        p.environment = TestDaemon.tied(env)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        let ok = await eventually(within: .seconds(20)) { FileManager.default.fileExists(atPath: socketPath) || !p.isRunning }
        guard ok, p.isRunning else { throw NodeError("lrmd for \(name) did not start: \(self.log)") }
    }

    /// A client of this node's lrmd. The socket file appears when lrmd binds it, a moment
    /// before it listens: a refused connection is tried again (bounded, 10 s).
    func connect() async throws -> LRMClient {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                return try await LRMClient.connect(root: root)
            } catch {
                guard ContinuousClock.now < deadline, process?.isRunning == true else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Sends SIGTERM to lrmd and waits (bounded) for it to exit; returns its exit status.
    func terminate() async throws -> Int32 {
        guard let p = process else { throw NodeError("lrmd was not started") }
        kill(p.processIdentifier, SIGTERM)
        guard await eventually(within: .seconds(30), { !p.isRunning }) else {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            throw NodeError("lrmd did not exit within 30 s of SIGTERM: \(log)")
        }
        p.waitUntilExit()
        return p.terminationStatus
    }
}

struct NodeError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Waits (bounded) until `condition` holds; returns whether it did.
func eventually(within: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + within
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

/// True when Debian's Dummy agent is installed; otherwise prints why the test is skipped.
func dummyInstalled(_ test: String) -> Bool {
    if FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Dummy") { return true }
    print("SKIPPED: \(test): /usr/lib/ocf/resource.d/heartbeat/Dummy is not installed (apt-get install resource-agents)")
    return false
}

let dummy = ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy")

/// Every result a client receives, kept for the test to look at (bounded waits).
final class ResultLog: Sendable {
    private final class Box: Sendable {
        let records = Mutex<[OperationRecord]>([])
    }
    private let box = Box()
    private let task: Task<Void, Never>

    init(_ client: LRMClient) {
        let stream = client.results()
        let box = self.box
        task = Task {
            for await r in stream { box.records.withLock { $0.append(r) } }
        }
    }

    deinit { task.cancel() }

    var all: [OperationRecord] { box.records.withLock { $0 } }

    func of(_ callID: Int) -> [OperationRecord] { all.filter { $0.callID == callID } }

    /// Waits (bounded) until a result matches; returns it.
    func wait(within: Duration = .seconds(20), for match: (OperationRecord) -> Bool) async -> OperationRecord? {
        _ = await eventually(within: within) { all.contains(where: match) }
        return all.first(where: match)
    }
}

/// The pids written to a file, one a line.
func pids(in file: String) -> [Int32] {
    ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
}
