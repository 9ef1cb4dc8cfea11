import Foundation
import Testing
import TestSupport

/// The tools on a node whose cluster is not running: each says so on one line, naming the
/// socket it tried, with Pacemaker's exit code.
@Suite struct NoClusterTests {
    func emptyRoot() throws -> String {
        let root = scratchDirectory("nocluster")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root
    }

    /// `crm_mon -s` is a monitoring check: without a cluster it is CRITICAL, exit 2, as
    /// Pacemaker's crm_mon says it (before the fix: exit 102, which a Nagios-style check
    /// reads as UNKNOWN).
    @Test func simpleStatusWithoutAClusterIsCritical() throws {
        let root = try emptyRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Tool.run("crm_mon", ["-s"], env: ["SWIFTHA_ROOT": root])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "crm_mon: CLUSTER CRIT: Connection to cluster failed: cannot connect to the cluster's CIB at \(root)/run/swiftha/cibd.sock: cibd is not running on this node (start the cluster, set SWIFTHA_ROOT to the node's root, or set CIB_file=FILE to work on a file instead)\n")
        // The other forms keep Pacemaker's "not connected".
        #expect(try Tool.run("crm_mon", ["-1"], env: ["SWIFTHA_ROOT": root]).status == 102)
    }

    /// crm_node says Pacemaker's one line; with -V also where it looked, asking once whether
    /// corosyncd runs (before the fix the question came twice: "...(--root /
    /// SWIFTHA_ROOT)?. Is corosyncd (or pacemakerd) running?").
    @Test func crmNodeAsksOnce() throws {
        let root = try emptyRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plain = try Tool.run("crm_node", ["-l"], env: ["SWIFTHA_ROOT": root])
        #expect(plain.status == 102 && plain.stderr == "error: Could not connect to controller: Connection refused\n", "\(plain.stderr)")
        let r = try Tool.run("crm_node", ["-l", "-V"], env: ["SWIFTHA_ROOT": root])
        #expect(r.status == 102)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 2 && lines.first == "error: Could not connect to controller: Connection refused", "\(r.stderr)")
        #expect(lines.last?.hasPrefix("crm_node: could not connect to corosyncd for \(root): cannot connect to corosyncd at \(root)/run/swiftha/corosyncd.sock") == true, "\(r.stderr)")
        #expect(r.stderr.hasSuffix("running for this node root (--root / SWIFTHA_ROOT)?\n"), "\(r.stderr)")
    }
}
