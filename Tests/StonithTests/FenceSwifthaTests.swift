import Foundation
import Stonith
import Testing
import TestSupport

/// fence_swiftha against real processes: it kills every process of the fenced node's root,
/// and nothing else.
@Suite(.serialized) struct FenceSwifthaTests {
    /// Starts a shell (and a background child) carrying SWIFTHA_ROOT=root.
    func startNode(root: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "sleep 300 & exec sleep 300"]
        p.environment = ["SWIFTHA_ROOT": root, "PATH": "/usr/bin:/bin"]
        try p.run()
        return p
    }

    func waitUntil(_ what: String, timeout: Double = 5, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() && Date() < deadline { usleep(20_000) }
        #expect(condition(), "timed out waiting for: \(what)")
    }

    @Test func fencingKillsAllOfOneNodesProcessesAndNoOther() throws {
        let base = scratchDirectory("fence-swiftha")
        let r1 = base + "/node1", r2 = base + "/node2"
        for r in [r1, r2] { try FileManager.default.createDirectory(atPath: r, withIntermediateDirectories: true) }
        let n1 = try startNode(root: r1), n2 = try startNode(root: r2)
        defer {
            for pid in NodeProcesses.find(root: r2) + NodeProcesses.find(root: r1) { kill(pid, SIGKILL) }
            n1.waitUntilExit(); n2.waitUntilExit()
        }
        waitUntil("both children of node1 running") { NodeProcesses.find(root: r1).count == 2 }
        waitUntil("both children of node2 running") { NodeProcesses.find(root: r2).count == 2 }
        let roots = "node1:\(r1);node2:\(r2)"

        let status = try Tool.run("fence_swiftha", ["-o", "status", "-n", "node1", "--roots=\(roots)"])
        #expect(status.status == 0, "node1 is on")

        // What stonithd sends: key=value lines on stdin.
        let off = try Tool.run("fence_swiftha", [], stdin: "action=reboot\nplug=node1\nroots=\(roots)\n")
        #expect(off.status == 0, "\(off.stderr)")
        n1.waitUntilExit()
        waitUntil("node1's processes gone") { NodeProcesses.find(root: r1).filter { !NodeProcesses.isZombie($0) }.isEmpty }
        #expect(NodeProcesses.find(root: r2).count == 2, "node2 must not be touched")
        #expect(n2.isRunning)

        let after = try Tool.run("fence_swiftha", ["-o", "status", "-n", "node1", "--roots=\(roots)"])
        #expect(after.status == 2, "node1 is off")
        let list = try Tool.run("fence_swiftha", ["-o", "list", "--roots=\(roots)"])
        #expect(list.stdout == "node1,\nnode2,\n")
    }

    /// `on` starts the node's launcher (pacemakerd; here a script standing in for it, given
    /// with the pacemakerd parameter) in a session of its own with the node's SWIFTHA_ROOT and
    /// SWIFTHA_NODE: the node's status is then ON; `on` again changes nothing; `off` ends it.
    @Test func onStartsTheNodesLauncher() throws {
        let base = scratchDirectory("fence-swiftha-on")
        let root = base + "/node1"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let launcher = base + "/launcher"
        try """
            #!/bin/sh
            echo "$@ $SWIFTHA_ROOT $SWIFTHA_NODE" > "\(base)/started"
            sleep 300 &
            exec sleep 300
            """.write(toFile: launcher, atomically: true, encoding: .utf8)
        chmod(launcher, 0o755)
        defer { NodeProcesses.killAll(root: root) }
        let roots = "node1:\(root)"
        #expect(try Tool.run("fence_swiftha", ["-o", "status", "-n", "node1", "--roots=\(roots)"]).status == 2)
        let on = try Tool.run("fence_swiftha", [], stdin: "action=on\nplug=node1\nroots=\(roots)\npacemakerd=\(launcher)\n")
        #expect(on.status == 0, "\(on.stderr)")
        #expect(on.stdout.hasPrefix("Success: node1 powered on"))
        waitUntil("the launcher and its child running") { NodeProcesses.find(root: root).count == 2 }
        #expect((try? String(contentsOfFile: base + "/started", encoding: .utf8)) == "--root \(root) --node node1 \(root) node1\n")
        #expect(try Tool.run("fence_swiftha", ["-o", "status", "-n", "node1", "--roots=\(roots)"]).status == 0)
        // In a session of its own: not the fencer's, not the test's.
        let pid = try #require(NodeProcesses.find(root: root).first)
        #expect(getsid(pid) != getsid(0))
        let again = try Tool.run("fence_swiftha", ["-o", "on", "-n", "node1", "--roots=\(roots)", "--pacemakerd=\(launcher)"])
        #expect(again.status == 0 && again.stdout == "Success: node1 is already on\n")
        #expect(NodeProcesses.find(root: root).count == 2)
        let off = try Tool.run("fence_swiftha", ["-o", "off", "-n", "node1", "--roots=\(roots)"])
        #expect(off.status == 0)
        waitUntil("node1 off") { NodeProcesses.find(root: root).filter { !NodeProcesses.isZombie($0) }.isEmpty }
        // A launcher that fails at once: on says so.
        let broken = base + "/broken"
        try "#!/bin/sh\nexit 3\n".write(toFile: broken, atomically: true, encoding: .utf8)
        chmod(broken, 0o755)
        let failed = try Tool.run("fence_swiftha", ["-o", "on", "-n", "node1", "--roots=\(roots)", "--pacemakerd=\(broken)"])
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("cannot power node1 on: \(broken) exited at once"), "\(failed.stderr)")
    }

    @Test func badParametersAreNamed() throws {
        let noRoots = try Tool.run("fence_swiftha", ["-o", "off", "-n", "node1"])
        #expect(noRoots.status == 1)
        #expect(noRoots.stderr.contains("roots parameter is missing"))
        let bad = try Tool.run("fence_swiftha", ["-o", "off", "-n", "node1", "--roots=node1"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("'node1' has no ':'"))
        let unknown = try Tool.run("fence_swiftha", ["-o", "off", "-n", "node9", "--roots=node1:/tmp"])
        #expect(unknown.stderr.contains("node 'node9' is not in roots"))
        let on = try Tool.run("fence_swiftha", ["-o", "on", "-n", "node1", "--roots=node1:/nonexistent-root", "--pacemakerd=/nonexistent/pacemakerd"])
        #expect(on.status == 1)
        #expect(on.stderr == "fence_swiftha: cannot power node1 on: /nonexistent/pacemakerd is not an executable program\n", "\(on.stderr)")
        let meta = try Tool.run("fence_swiftha", ["-o", "metadata"])
        #expect(meta.status == 0)
        #expect(meta.stdout.contains(#"<resource-agent name="fence_swiftha""#))
        #expect(meta.stdout.contains(#"<parameter name="roots""#))
    }

    /// fence-agents' `delay`: off and reboot wait that long before the node is touched; a
    /// delay that is not a number of seconds is named.
    @Test func delayWaitsBeforeFencing() async throws {
        let base = scratchDirectory("fence-swiftha-delay")
        let root = base + "/node1"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let node = try startNode(root: root)
        defer {
            for pid in NodeProcesses.find(root: root) { kill(pid, SIGKILL) }
            node.waitUntilExit()
            try? FileManager.default.removeItem(atPath: base)
        }
        waitUntil("node1's processes running") { NodeProcesses.find(root: root).count == 2 }
        let roots = "node1:\(root)"
        let bad = try Tool.run("fence_swiftha", [], stdin: "action=off\nplug=node1\nroots=\(roots)\ndelay=soon\n")
        #expect(bad.status == 1 && bad.stderr == "fence_swiftha: delay 'soon' is not a number of seconds from 0 to 3600; give delay=SECONDS\n", "\(bad.stderr)")
        #expect(NodeProcesses.find(root: root).count == 2, "a bad delay fenced the node")

        let fencing = Task.detached { try Tool.run("fence_swiftha", [], stdin: "action=reboot\nplug=node1\nroots=\(roots)\ndelay=3\n") }
        // Within its delay, the node runs on (however slowly the agent started).
        try await Task.sleep(for: .seconds(1))
        #expect(node.isRunning && NodeProcesses.find(root: root).count == 2, "node1 was fenced before the delay was over")
        let r = try await fencing.value
        #expect(r.status == 0 && r.stdout == "Success: node1 fenced (reboot)\n", "\(r.status) \(r.stderr)")
        node.waitUntilExit()
        waitUntil("node1's processes gone") { NodeProcesses.find(root: root).filter { !NodeProcesses.isZombie($0) }.isEmpty }
        let meta = try Tool.run("fence_swiftha", ["-o", "metadata"])
        #expect(meta.stdout.contains(#"<parameter name="delay" unique="0" required="0">"#))
    }

    @Test func rootsParse() throws {
        let r = try NodeRoots("node1:/a; node2:/b/")
        #expect(r.root(of: "node2") == "/b/")
        #expect(throws: NodeRootsError.self) { try NodeRoots("node1:/a;node1:/b") }
        #expect(throws: NodeRootsError.self) { try NodeRoots("node1:relative") }
        #expect(throws: NodeRootsError.self) { try NodeRoots("") }
    }
}

