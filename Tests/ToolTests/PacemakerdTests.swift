import Foundation
import Stonith
import Testing
import TestSupport

/// pacemakerd with real processes: stand-in daemons that record what happens to them, then
/// the real corosyncd and lrmd.
@Suite(.serialized) struct PacemakerdTests {
    /// A stand-in daemon: logs its start and SIGTERM with a monotonic time, says READY=1 on
    /// NOTIFY_SOCKET, then waits.
    static let fake = """
    #!/usr/bin/env python3
    import os, signal, socket, sys, time
    name = os.path.basename(sys.argv[0])
    log = os.path.join(os.environ["SWIFTHA_ROOT"], name + ".log")
    def note(what):
        with open(log, "a") as f: f.write("%s %d %.6f %s\\n" % (what, os.getpid(), time.monotonic(), " ".join(sys.argv[1:])))
    note("start")
    with open(os.path.join(os.environ["SWIFTHA_ROOT"], name + ".sched"), "a") as f:
        f.write("%d %d %d\\n" % (os.getpid(), os.sched_getscheduler(0), os.sched_getparam(0).sched_priority))
    def term(*a):
        note("term")
        sys.exit(0)
    signal.signal(signal.SIGTERM, term)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
    while True: time.sleep(1)
    """

    static let daemons = ["corosyncd", "cibd", "stonithd", "lrmd", "crmd"]

    struct Entry { var what: String; var pid: Int32; var time: Double; var args: String }

    static func entries(_ root: String, _ daemon: String) -> [Entry] {
        guard let text = try? String(contentsOfFile: "\(root)/\(daemon).log", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", maxSplits: 3).map(String.init)
            guard f.count >= 3, let pid = Int32(f[1]), let t = Double(f[2]) else { return nil }
            return Entry(what: f[0], pid: pid, time: t, args: f.count > 3 ? f[3] : "")
        }
    }

    static func waitUntil(_ what: String, timeout: Double = 15, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { Issue.record("timed out waiting for: \(what)"); return false }
            usleep(50_000)
        }
        return true
    }

    static func pacemakerd(_ args: [String], output: String, launcher: [String] = []) throws -> Process {
        let p = Process()
        let path = Tool.binDir.appendingPathComponent("pacemakerd").path
        p.executableURL = URL(fileURLWithPath: launcher.first ?? path)
        p.arguments = launcher.isEmpty ? args : Array(launcher.dropFirst()) + [path] + args
        p.environment = TestDaemon.tied(ProcessInfo.processInfo.environment)
        p.standardOutput = FileHandle(forWritingAtPath: output)
        p.standardError = FileHandle(forWritingAtPath: output)
        try p.run()
        return p
    }

    /// pacemakerd started over the stand-in daemons, for node1 in a scratch root: the root,
    /// pacemakerd's output file, and its process.
    static func fakeNode(_ label: String, launcher: [String] = []) throws -> (root: String, out: String, process: Process) {
        let base = scratchDirectory(label)
        let bin = base + "/bin", root = base + "/root"
        for d in [bin, root] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        try fake.write(toFile: bin + "/fake", atomically: true, encoding: .utf8)
        chmod(bin + "/fake", 0o755)
        for d in daemons { try FileManager.default.createSymbolicLink(atPath: "\(bin)/\(d)", withDestinationPath: "fake") }
        let out = base + "/pacemakerd.out"
        FileManager.default.createFile(atPath: out, contents: nil)
        let p = try pacemakerd(["--root", root, "--node", "node1", "--daemons-from", bin], output: out, launcher: launcher)
        return (root, out, p)
    }

    @Test func startsInOrderRestartsADeadDaemonAndStopsInReverse() throws {
        let (root, out, p) = try Self.fakeNode("pacemakerd-fake")
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            for pid in NodeProcesses.find(root: root) { kill(pid, SIGKILL) }
        }
        guard Self.waitUntil("all five started", { Self.daemons.allSatisfy { !Self.entries(root, $0).isEmpty } }) else { return }
        let starts = Self.daemons.map { Self.entries(root, $0)[0] }
        #expect(starts.map(\.time) == starts.map(\.time).sorted(), "started out of order")
        #expect(starts.allSatisfy { $0.args == "--root \(root) --node node1" })

        // A daemon killed outright is started again.
        let cibd = starts[1].pid
        kill(cibd, SIGKILL)
        guard Self.waitUntil("cibd restarted", { Self.entries(root, "cibd").filter { $0.what == "start" }.count == 2 }) else { return }

        // SIGTERM: crmd first, corosyncd last; pacemakerd exits 0 and nothing of the node is left.
        kill(p.processIdentifier, SIGTERM)
        guard Self.waitUntil("pacemakerd exits", { !p.isRunning }) else { return }
        #expect(p.terminationStatus == 0)
        let terms = Self.daemons.map { d in Self.entries(root, d).last { $0.what == "term" }?.time ?? -1 }
        #expect(terms.allSatisfy { $0 > 0 }, "a daemon was not asked to stop: \(terms)")
        #expect(terms == terms.sorted(by: >), "not stopped in reverse order")
        #expect(NodeProcesses.find(root: root).filter { !NodeProcesses.isZombie($0) }.isEmpty)
        let log = try String(contentsOfFile: out, encoding: .utf8)
        #expect(log.contains("cibd exited with status 137; restarting it"))
    }

    /// A daemon that keeps dying (cibd killed six times within the 60 s window, the limit
    /// being five restarts): pacemakerd gives up and stops the node as on SIGTERM, crmd first
    /// (which moves the node's resources away), corosyncd last, then exits 1.
    @Test func aDaemonThatKeepsDyingStopsTheNodeCleanly() throws {
        let (root, out, p) = try Self.fakeNode("pacemakerd-limit")
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            for pid in NodeProcesses.find(root: root) { kill(pid, SIGKILL) }
        }
        guard Self.waitUntil("all five started", { Self.daemons.allSatisfy { !Self.entries(root, $0).isEmpty } }) else { return }
        for round in 1...6 {
            let starts = Self.entries(root, "cibd").filter { $0.what == "start" }
            guard starts.count == round, let victim = starts.last else {
                Issue.record("cibd started \(starts.count) times before kill \(round)")
                return
            }
            kill(victim.pid, SIGKILL)
            if round < 6 {
                guard Self.waitUntil("cibd restarted after kill \(round)", { Self.entries(root, "cibd").filter { $0.what == "start" }.count == round + 1 }) else { return }
            }
        }
        guard Self.waitUntil("pacemakerd gives up and exits", timeout: 30, { !p.isRunning }) else { return }
        #expect(p.terminationStatus == 1)
        let log = try String(contentsOfFile: out, encoding: .utf8)
        #expect(log.contains("cibd died 6 times within 60.0 seconds; giving up and stopping this node's daemons"), "\(log)")
        // Not started a seventh time; the others stopped in reverse order, crmd first.
        #expect(Self.entries(root, "cibd").filter { $0.what == "start" }.count == 6)
        let others = ["corosyncd", "stonithd", "lrmd", "crmd"]
        let terms = others.map { d in Self.entries(root, d).last { $0.what == "term" }?.time ?? -1 }
        #expect(terms.allSatisfy { $0 > 0 }, "a daemon was not asked to stop: \(terms)")
        #expect(terms == terms.sorted(by: >), "not stopped in reverse order: \(terms)")
        #expect(NodeProcesses.find(root: root).filter { !NodeProcesses.isZombie($0) }.isEmpty)
    }

    /// A root that does not exist is refused at once with one line and EX_CONFIG, nothing
    /// made under it (before the fix pacemakerd created <root>/run/swiftha, then started
    /// corosyncd six times over the missing corosync.conf and exited 1).
    @Test func aRootThatDoesNotExistIsRefusedAtOnce() throws {
        let base = scratchDirectory("pacemakerd-noroot")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let root = base + "/nosuch"
        let r = try Tool.run("pacemakerd", ["--root", root, "--node", "node1"])
        #expect(r.status == 78, "\(r.stderr)")
        #expect(r.stderr == "pacemakerd: the node root \(root) does not exist; give the node's root with --root DIR (or SWIFTHA_ROOT), the directory holding etc/corosync/corosync.conf\n")
        #expect(!FileManager.default.fileExists(atPath: root))
    }

    /// A second pacemakerd for a node root that already has one is refused (CRM_EX_FATAL,
    /// naming the first one's pid), and leaves the first one's daemons and notify sockets
    /// alone (before the fix it unlinked the first one's notify sockets and started a second
    /// set of daemons).
    @Test func aSecondPacemakerdOnOneRootIsRefused() throws {
        let (root, _, p) = try Self.fakeNode("pacemakerd-twice")
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            for pid in NodeProcesses.find(root: root) { kill(pid, SIGKILL) }
        }
        guard Self.waitUntil("all five started", { Self.daemons.allSatisfy { !Self.entries(root, $0).isEmpty } }) else { return }
        let base = (root as NSString).deletingLastPathComponent
        let out = base + "/second.out"
        FileManager.default.createFile(atPath: out, contents: nil)
        let second = try Self.pacemakerd(["--root", root, "--node", "node1", "--daemons-from", base + "/bin"], output: out)
        defer { if second.isRunning { kill(second.processIdentifier, SIGKILL); second.waitUntilExit() } }
        guard Self.waitUntil("the second pacemakerd exits", { !second.isRunning }) else { return }
        #expect(second.terminationStatus == 100)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "pacemakerd: another pacemakerd (pid \(p.processIdentifier)) already runs for the node root \(root); stop it first (crm cluster stop, or kill -TERM \(p.processIdentifier)), or give this one its own --root\n")
        #expect(p.isRunning)
        for d in Self.daemons {
            #expect(Self.entries(root, d).filter { $0.what == "start" }.count == 1, "\(d) was started again")
            #expect(FileManager.default.fileExists(atPath: "\(root)/run/swiftha/notify-\(d).sock"), "\(d)'s notify socket is gone")
        }
        // The first one still hears its daemons: a restarted cibd says READY again and the
        // node stops cleanly on SIGTERM.
        kill(Self.entries(root, "cibd")[0].pid, SIGKILL)
        guard Self.waitUntil("cibd restarted", { Self.entries(root, "cibd").filter { $0.what == "start" }.count == 2 }) else { return }
        kill(p.processIdentifier, SIGTERM)
        guard Self.waitUntil("pacemakerd exits", { !p.isRunning }) else { return }
        #expect(p.terminationStatus == 0)
    }

    /// Each start's scheduling (policy, realtime priority) as the stand-in saw it.
    static func scheduling(_ root: String, _ daemon: String) -> [(policy: Int, priority: Int)] {
        guard let text = try? String(contentsOfFile: "\(root)/\(daemon).sched", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ").compactMap { Int($0) }
            return f.count == 3 ? (f[1], f[2]) : nil
        }
    }

    /// corosyncd is started with SCHED_RR at the highest priority, and so is its restart after
    /// SIGKILL (at once: a busy machine must not hold up its rejoining the ring); the other
    /// daemons are not.
    @Test func corosyncdIsStartedWithRealtimeSchedulingAndRestartedSo() throws {
        guard getuid() == 0 else {
            print("SKIPPED: corosyncdIsStartedWithRealtimeScheduling...: needs root (pacemakerd may not set SCHED_RR otherwise)")
            return
        }
        let (root, _, p) = try Self.fakeNode("pacemakerd-rr")
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            for pid in NodeProcesses.find(root: root) { kill(pid, SIGKILL) }
        }
        guard Self.waitUntil("all five started", { Self.daemons.allSatisfy { !Self.scheduling(root, $0).isEmpty } }) else { return }
        let rr = Int(SCHED_RR), max = Int(sched_get_priority_max(SCHED_RR))
        #expect(Self.scheduling(root, "corosyncd").map(\.policy) == [rr] && Self.scheduling(root, "corosyncd").map(\.priority) == [max])
        for d in Self.daemons.dropFirst() {
            #expect(Self.scheduling(root, d).map(\.policy) == [Int(SCHED_OTHER)], "\(d) was started with \(Self.scheduling(root, d))")
        }
        kill(Self.entries(root, "corosyncd")[0].pid, SIGKILL)
        guard Self.waitUntil("corosyncd restarted", { Self.scheduling(root, "corosyncd").count == 2 }) else { return }
        #expect(Self.scheduling(root, "corosyncd").map(\.policy) == [rr, rr])
        kill(p.processIdentifier, SIGTERM)
        _ = Self.waitUntil("pacemakerd exits", { !p.isRunning })
    }

    /// A pacemakerd that may not set realtime scheduling (root without CAP_SYS_NICE here, as a
    /// non-root one) says so once and starts corosyncd without it.
    @Test func withoutThePrivilegeCorosyncdIsStartedNormallyAndItIsSaid() throws {
        let setpriv = "/usr/bin/setpriv"
        let launcher = getuid() == 0 ? [setpriv, "--bounding-set=-sys_nice", "--inh-caps=-sys_nice"] : []
        if !launcher.isEmpty && !FileManager.default.isExecutableFile(atPath: setpriv) {
            print("SKIPPED: withoutThePrivilegeCorosyncd...: \(setpriv) is not installed (util-linux), and this test runs as root")
            return
        }
        let (root, out, p) = try Self.fakeNode("pacemakerd-norr", launcher: launcher)
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            for pid in NodeProcesses.find(root: root) { kill(pid, SIGKILL) }
        }
        guard Self.waitUntil("all five started", { Self.daemons.allSatisfy { !Self.scheduling(root, $0).isEmpty } }) else { return }
        #expect(Self.scheduling(root, "corosyncd").map(\.policy) == [Int(SCHED_OTHER)])
        let log = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(log.contains("cannot start corosyncd with realtime scheduling (SCHED_RR: Operation not permitted); starting it without"), "\(log)")
        #expect(log.contains("all daemons started"), "\(log)")
        kill(p.processIdentifier, SIGTERM)
        _ = Self.waitUntil("pacemakerd exits", { !p.isRunning })
    }

    @Test func runsTheRealCorosyncdAndLrmd() throws {
        let root = scratchDirectory("pacemakerd-real")
        try FileManager.default.createDirectory(atPath: root + "/etc/corosync", withIntermediateDirectories: true)
        // A port of its own, reserved while the test runs (no other test cluster takes it).
        let ports = try TestPorts.reserve(addresses: ["127.0.0.1"])
        defer { ports.release() }
        let port = ports.port
        try """
        totem {
            version: 2
            cluster_name: pacemakerd-test
            transport: udpu
            token: 300
            crypto_cipher: none
            crypto_hash: none
            interface {
                mcastport: \(port)
            }
        }
        quorum {
            provider: corosync_votequorum
        }
        logging {
            to_stderr: yes
        }
        nodelist {
            node {
                ring0_addr: 127.0.0.1
                name: node1
                nodeid: 1
            }
        }
        """.write(toFile: root + "/etc/corosync/corosync.conf", atomically: true, encoding: .utf8)
        let out = root + "/pacemakerd.out"
        FileManager.default.createFile(atPath: out, contents: nil)
        let p = try Self.pacemakerd(["--root", root, "--node", "node1"], output: out)
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            for pid in NodeProcesses.find(root: root) { kill(pid, SIGKILL) }
        }
        guard Self.waitUntil("all daemons started", {
            (try? String(contentsOfFile: out, encoding: .utf8))?.contains("all daemons started") ?? false
        }) else { return }
        let log = try String(contentsOfFile: out, encoding: .utf8)
        #expect(log.contains("corosyncd is ready"))
        #expect(log.contains("lrmd is ready"))
        #expect(log.contains("stonithd is ready"), "\(log)")
        #expect(log.contains("crmd is ready"), "\(log)")
        #expect(FileManager.default.fileExists(atPath: root + "/run/swiftha/lrmd.sock"))
        #expect(FileManager.default.fileExists(atPath: root + "/run/swiftha/stonithd.sock"))
        #expect(NodeProcesses.find(root: root).count >= 2, "corosyncd and lrmd carry the node's SWIFTHA_ROOT")
        kill(p.processIdentifier, SIGTERM)
        guard Self.waitUntil("pacemakerd exits", { !p.isRunning }) else { return }
        #expect(p.terminationStatus == 0)
        #expect(NodeProcesses.find(root: root).filter { !NodeProcesses.isZombie($0) }.isEmpty, "daemons left behind")
    }
}
