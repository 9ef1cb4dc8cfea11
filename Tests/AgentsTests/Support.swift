import Agents
import CIB
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A scratch node: a temporary root for the node's state and a private OCF root for the test's
/// own scripted agents (provider `test`). Removed when the test ends.
final class Scratch: @unchecked Sendable {
    let base: String
    let root: String
    let ocfRoot: String
    let lsbDirectory: String
    let fenceDirectory: String

    init() throws {
        var tmp = NSTemporaryDirectory()
        while tmp.hasSuffix("/") && tmp.count > 1 { tmp.removeLast() }
        var template = Array((tmp + "/swiftha-agents-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw POSIXError(.EIO) }
        base = String(cString: made)
        root = base + "/node"
        ocfRoot = base + "/ocf"
        lsbDirectory = base + "/init.d"
        fenceDirectory = base + "/sbin"
        for d in [root, ocfRoot + "/resource.d/test", ocfRoot + "/lib/heartbeat", lsbDirectory, fenceDirectory] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    /// A host whose agents are the test's own scripts.
    var host: AgentHost {
        AgentHost(root: root, ocfRoot: ocfRoot, lsbDirectory: lsbDirectory, fenceDirectory: fenceDirectory)
    }

    /// A host with this scratch root but the system's installed agents.
    var systemHost: AgentHost { AgentHost(root: root) }

    /// Writes an executable script; returns its path.
    @discardableResult
    func script(_ directory: String, _ name: String, _ body: String) throws -> String {
        let path = directory + "/" + name
        try body.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    /// Writes an OCF agent `ocf:test:<name>`.
    @discardableResult
    func ocfAgent(_ name: String, _ body: String) throws -> ResourceAgentName {
        try script(ocfRoot + "/resource.d/test", name, body)
        return ResourceAgentName(standard: "ocf", provider: "test", type: name)
    }

    /// Writes `ocf:test:Hang`: an agent that starts a background `sleep 1000`, records its
    /// child's and its own pid in `pids`, and never returns.
    func hangingAgent(pids: String) throws -> ResourceAgentName {
        try ocfAgent("Hang", """
            #!/bin/sh
            sleep 1000 &
            echo $! > "\(pids)"
            echo $$ >> "\(pids)"
            while :; do sleep 1; done
            """)
    }

    func file(_ name: String) -> String { base + "/" + name }

    func read(_ name: String) -> String {
        (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? ""
    }
}

/// Installed real agents, or nil with a printed SKIPPED line.
enum Installed {
    static func agent(_ path: String, for test: String) -> Bool {
        if FileManager.default.isExecutableFile(atPath: path) { return true }
        print("SKIPPED: \(test): \(path) is not installed (apt-get install resource-agents fence-agents)")
        return false
    }
}

/// Waits (bounded) until `condition` holds; returns whether it did.
func eventually(within: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + within
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// True when a process exists and has not terminated. A killed orphan whose reaping is up to
/// init (a zombie) is not alive.
func isAlive(_ pid: Int32) -> Bool { ProcessTable.isRunning(pid) }
