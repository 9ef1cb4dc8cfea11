import Foundation
import TestSupport
import Testing

/// `make demo`'s walk-through (scripts/failover.py demo) with this build: three nodes on
/// 127.0.0.1-3, a fence device and a web server grouped with a dummy address, crm_mon, a
/// power cut of the node serving the page, the node fenced and the page answered from
/// another node, then everything stopped and removed.
@Suite struct DemoTests {
    @Test func theDemoRunsThroughAndLeavesNothing() throws {
        let fm = FileManager.default
        guard fm.isExecutableFile(atPath: "/usr/bin/python3"),
              fm.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/anything"),
              fm.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Dummy") else {
            print("SKIPPED: theDemoRunsThroughAndLeavesNothing needs python3 and Debian's resource-agents (make test installs them)")
            return
        }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        // A short directory: the nodes' socket paths live under it.
        let work = "/tmp/swd-\(UUID().uuidString.prefix(6))"
        try fm.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: work) }
        let r = try Tool.run(executable: "/usr/bin/python3",
                             [package + "/scripts/failover.py", "demo", "--bin", Tool.binDir.path, "--work", work])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let out = r.stdout
        #expect(out.contains("Started node"), "crm_mon shows the service started: \(out)")
        // The node cut off is fenced (stonith_admin --history) and shown OFFLINE; the page
        // answers from another node, with the time it took.
        let cut = try #require(out.firstMatch(of: /== 4\. Power cut of (node\d)/)?.1).description
        let answered = try #require(out.firstMatch(of: /The web server answers again, now from (node\d): ([0-9.]+) s after the power cut/), "\(out)")
        #expect(answered.1 != cut)
        #expect(out.contains("reboot of \(cut) successful"), "\(out)")
        #expect(out.contains("OFFLINE: [ \(cut) ]"), "\(out)")
        #expect(out.contains("->  \(answered.1)"))
        #expect(out.hasSuffix("done\n"))
        // Everything stopped and removed: no process of the demo's nodes, no roots left.
        let left = (try? fm.contentsOfDirectory(atPath: work)) ?? []
        #expect(left.isEmpty, "the demo left \(left) in \(work)")
        let mark = Array("SWIFTHA_ROOT=\(work)".utf8)
        var strays: [String] = []
        for pid in (try? fm.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(pid) != nil {
            guard let env = fm.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if env.split(separator: 0).contains(where: { Array($0.prefix(mark.count)) == mark }) { strays.append(pid) }
        }
        #expect(strays.isEmpty, "processes of the demo's nodes still running: \(strays)")
    }
}
