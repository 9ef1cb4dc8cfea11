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

    @Test func badParametersAreNamed() throws {
        let noRoots = try Tool.run("fence_swiftha", ["-o", "off", "-n", "node1"])
        #expect(noRoots.status == 1)
        #expect(noRoots.stderr.contains("roots parameter is missing"))
        let bad = try Tool.run("fence_swiftha", ["-o", "off", "-n", "node1", "--roots=node1"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("'node1' has no ':'"))
        let unknown = try Tool.run("fence_swiftha", ["-o", "off", "-n", "node9", "--roots=node1:/tmp"])
        #expect(unknown.stderr.contains("node 'node9' is not in roots"))
        let on = try Tool.run("fence_swiftha", ["-o", "on", "-n", "node1", "--roots=node1:/tmp"])
        #expect(on.status == 1)
        let meta = try Tool.run("fence_swiftha", ["-o", "metadata"])
        #expect(meta.status == 0)
        #expect(meta.stdout.contains(#"<resource-agent name="fence_swiftha""#))
        #expect(meta.stdout.contains(#"<parameter name="roots""#))
    }

    @Test func rootsParse() throws {
        let r = try NodeRoots("node1:/a; node2:/b/")
        #expect(r.root(of: "node2") == "/b/")
        #expect(throws: NodeRootsError.self) { try NodeRoots("node1:/a;node1:/b") }
        #expect(throws: NodeRootsError.self) { try NodeRoots("node1:relative") }
        #expect(throws: NodeRootsError.self) { try NodeRoots("") }
    }
}

