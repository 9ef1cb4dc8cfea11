import Agents
import Foundation
import LRM
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// lrmd's log in a real journal: a systemd-journald of the test's own, in a mount namespace
/// (it needs root), receives lrmd's entries through libsystemd; journalctl reads them back
/// with their structured fields.
@Suite struct JournalTests {
    static let journald = "/lib/systemd/systemd-journald"

    /// The entries of the journal that journald keeps under `directory` (its /run/log):
    /// journal/<machine-id>/*.journal, read with journalctl -D ... -o json.
    static func entries(_ directory: String) -> [[String: String]] {
        let base = directory + "/journal"
        guard let machine = (try? FileManager.default.contentsOfDirectory(atPath: base))?.first,
              let r = try? Tool.run(executable: "/usr/bin/journalctl", ["-D", base + "/" + machine, "-o", "json", "--no-pager"]) else { return [] }
        return r.stdout.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            var e: [String: String] = [:]
            for (k, v) in object { if let s = v as? String { e[k] = s } }
            return e
        }
    }

    @Test func everyEntryNamesTheDaemonAndTheNodeAndOperationsTheirResource() async throws {
        guard getuid() == 0 else {
            print("SKIPPED: JournalTests needs root to run a journald of its own in a mount namespace")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: Self.journald),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/journalctl"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            print("SKIPPED: JournalTests needs systemd-journald, journalctl, unshare and python3 (Debian's systemd, util-linux and python3)")
            return
        }
        let node = try LRMNode(name: "jnode")
        let journal = node.base + "/journal"
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: true)
        defer {
            if let text = try? String(contentsOfFile: journal + "/journald.pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGTERM)
            }
        }
        // An agent whose start fails: lrmd logs the failure as a warning, with its resource.
        let failing = try node.agent("Fails", """
            #!/bin/sh
            case "$1" in
            meta-data) echo '<resource-agent name="Fails"><parameters/><actions><action name="start" timeout="20s"/></actions></resource-agent>'; exit 0;;
            start) exit 1;;
            *) exit 7;;
            esac
            """)
        try await node.start(verbose: false, journal: journal)
        let lrmd = try await node.connect()
        try await lrmd.register(ResourceDefinition(id: "web", agent: failing))
        let start = try await lrmd.run(OperationRequest(resource: "web", action: .start, timeout: .seconds(20)))
        #expect(start.exitCode == .errGeneric)

        var found: [[String: String]] = []
        let seen = await eventually(within: .seconds(20)) {
            found = Self.entries(journal).filter { $0["SYSLOG_IDENTIFIER"] == "lrmd" }
            return found.contains { $0["RESOURCE"] == "web" }
        }
        #expect(seen, "lrmd's entries in the journal: \(found)")
        // Every lrmd entry names the daemon and the node.
        #expect(!found.isEmpty)
        #expect(found.allSatisfy { $0["DAEMON"] == "lrmd" && $0["NODE"] == "jnode" }, "\(found)")
        let ready = found.first { ($0["MESSAGE"] ?? "").contains("ready for node jnode") }
        #expect(ready?["PRIORITY"] == "6", "\(found)")
        let failure = found.first { $0["RESOURCE"] == "web" }
        #expect(failure?["OPERATION"] == "web_start_0")
        #expect(failure?["PRIORITY"] == "4")
        // As Pacemaker's, a message starts with its level.
        #expect(failure?["MESSAGE"]?.hasPrefix("warning: web_start_0 (call ") == true, "\(String(describing: failure))")
        // Nothing went to stderr but what journald could not take.
        #expect(!node.log.contains("ready for node jnode"), "lrmd wrote to stderr although journald was there: \(node.log)")
        _ = try await node.terminate()
    }
}
