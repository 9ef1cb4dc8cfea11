import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A daemon started with SWIFTHA_DIE_WITH_PARENT=<its parent's PID> (tests do this, pacemakerd
/// does it for its daemons) stops when that parent dies, even by SIGKILL.
@Suite(.serialized) struct ParentWatchTests {
    /// Whether `pid` is gone: no such process, or a zombie nobody has reaped yet.
    static func gone(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        // "PID (comm) STATE ...": the state follows the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state == "Z" || state == "X"
    }

    /// The processes whose parent is `parent` (from /proc/PID/stat).
    static func children(of parent: pid_t) -> [pid_t] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { pid_t($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == parent
        }
    }

    /// Waits (bounded) for a file to hold a PID.
    static func pid(in file: String) async -> pid_t? {
        _ = await eventually(within: .seconds(20)) { !pids(in: file).isEmpty }
        return pids(in: file).first
    }

    /// lrmd started by a short-lived shell (which names itself as lrmd's parent), the shell
    /// SIGKILLed: lrmd exits, and says why.
    @Test func lrmdStopsWhenTheProcessThatStartedItIsKilled() async throws {
        let node = try LRMNode(name: "orphan")
        let pidFile = node.base + "/lrmd.pid"
        let lrmd = Tool.binDir.appendingPathComponent("lrmd").path
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", """
            SWIFTHA_DIE_WITH_PARENT=$$ "$0" --root "$1" --node orphan --ocf-root "$2" >"$3" 2>&1 &
            echo $! > "$4"
            wait
            """, lrmd, node.root, node.ocfRoot, node.logPath, pidFile]
        shell.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SWIFTHA_") && $0.key != "NOTIFY_SOCKET" }
        try shell.run()
        guard let child = await Self.pid(in: pidFile) else {
            kill(shell.processIdentifier, SIGKILL)
            Issue.record("the shell did not start lrmd")
            return
        }
        defer { if !Self.gone(child) { kill(child, SIGKILL) } }
        let serving = await eventually(within: .seconds(20)) { FileManager.default.fileExists(atPath: node.socketPath) }
        #expect(serving, "lrmd serves its socket: \(node.log)")
        #expect(!Self.gone(child), "lrmd runs while the shell does")

        kill(shell.processIdentifier, SIGKILL)
        shell.waitUntilExit()
        let exited = await eventually(within: .seconds(20)) { Self.gone(child) }
        #expect(exited, "lrmd (PID \(child)) still runs 20 s after its parent was killed: \(node.log)")
        #expect(node.log.contains("exited: stopping"), "lrmd says why it stops: \(node.log)")
        #expect(node.log.contains("lrmd stopped"), "lrmd stops cleanly (SIGTERM), not by a kill: \(node.log)")
    }

    /// A daemon whose process to stop with has gone before it looked does not start at all.
    @Test func lrmdDoesNotStartWhenTheProcessToStopWithIsAlreadyGone() throws {
        let node = try LRMNode(name: "late")
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let r = try Tool.run("lrmd", ["--root", node.root, "--node", "late", "--ocf-root", node.ocfRoot],
                             env: ["SWIFTHA_DIE_WITH_PARENT": String(gone.processIdentifier)])
        #expect(r.status == 0 && r.stderr.contains("has already exited; not starting"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: node.socketPath))
    }

    /// pacemakerd started by a short-lived shell that names itself: pacemakerd passes the PID
    /// on to its daemons; the shell SIGKILLed, pacemakerd and its lrmd stop.
    @Test func aTestsPacemakerdAndItsDaemonsStopWhenTheTestGoes() async throws {
        let node = try LRMNode(name: "pm")
        let out = node.base + "/pacemakerd.out"
        let pidFile = node.base + "/pacemakerd.pid"
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", """
            SWIFTHA_DIE_WITH_PARENT=$$ "$0" --root "$1" --node pm --daemons lrmd >"$2" 2>&1 &
            echo $! > "$3"
            wait
            """, Tool.binDir.appendingPathComponent("pacemakerd").path, node.root, out, pidFile]
        shell.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SWIFTHA_") && $0.key != "NOTIFY_SOCKET" }
        try shell.run()
        defer { if shell.isRunning { kill(shell.processIdentifier, SIGKILL); shell.waitUntilExit() } }
        guard let pacemakerd = await Self.pid(in: pidFile) else {
            Issue.record("the shell did not start pacemakerd")
            return
        }
        defer { if !Self.gone(pacemakerd) { kill(pacemakerd, SIGKILL) } }
        let log = { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        let started = await eventually(within: .seconds(30)) { log().contains("all daemons started") }
        #expect(started, "pacemakerd starts lrmd: \(log())")
        // lrmd's PID: the process whose parent is pacemakerd.
        let lrmdPIDs = Self.children(of: pacemakerd)
        #expect(lrmdPIDs.count == 1, "pacemakerd has one child, lrmd: \(lrmdPIDs)")
        guard let child = lrmdPIDs.first else { return }
        defer { if !Self.gone(child) { kill(child, SIGKILL) } }

        kill(shell.processIdentifier, SIGKILL)
        shell.waitUntilExit()
        let exited = await eventually(within: .seconds(20)) { Self.gone(pacemakerd) && Self.gone(child) }
        #expect(exited, "pacemakerd (\(Self.gone(pacemakerd) ? "gone" : "runs")) or lrmd (\(Self.gone(child) ? "gone" : "runs")) outlived the shell by 20 s: \(log())")
    }

    /// pacemakerd SIGKILLed alone (a crash): its daemons run on, as Pacemaker's do, so that a
    /// node's power cut stays one (every process killed at once, none shutting down cleanly).
    @Test func pacemakerdsDaemonsOutliveAPacemakerdCrash() async throws {
        let node = try LRMNode(name: "crash")
        let out = node.base + "/pacemakerd.out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let p = Process()
        p.executableURL = Tool.binDir.appendingPathComponent("pacemakerd")
        p.arguments = ["--root", node.root, "--node", "crash", "--daemons", "lrmd"]
        p.environment = TestDaemon.tied(ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SWIFTHA_") && $0.key != "NOTIFY_SOCKET" })
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = FileHandle(forWritingAtPath: out)
        try p.run()
        defer { if !Self.gone(p.processIdentifier) { kill(p.processIdentifier, SIGKILL) } }
        let log = { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        let started = await eventually(within: .seconds(30)) { log().contains("all daemons started") }
        #expect(started, "pacemakerd starts lrmd: \(log())")
        let lrmdPIDs = Self.children(of: p.processIdentifier)
        #expect(lrmdPIDs.count == 1, "pacemakerd has one child, lrmd: \(lrmdPIDs)")
        guard let child = lrmdPIDs.first else { return }
        defer { if !Self.gone(child) { kill(child, SIGTERM) } }

        kill(p.processIdentifier, SIGKILL)
        _ = await eventually(within: .seconds(10)) { Self.gone(p.processIdentifier) }
        try await Task.sleep(for: .seconds(2))
        #expect(!Self.gone(child), "lrmd stopped with pacemakerd: \(log())")
        // Tied to this test process, it still stops with it (checked by the tests above).
        let env = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(child)/environ"))) ?? Data()
        #expect(String(decoding: env, as: UTF8.self).contains("SWIFTHA_DIE_WITH_PARENT=\(ProcessInfo.processInfo.processIdentifier)"))
    }
}
