import CIB
import Foundation
import Testing
import TestSupport

/// crm_resource against a live three-node cluster (real pacemakerd processes on 127.0.0.1-3):
/// --locate, --move (with and without --lifetime), --ban and --clear move the resource for
/// real; --cleanup after a failed monitor and --refresh forget the history on the live CIB,
/// the resource is probed again and keeps running; wrong names and options give Pacemaker
/// 2.1.5's lines and exit codes.
@Suite(.serialized) struct CrmResourceLiveTests {
    static var unavailable: String? {
        FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Dummy")
            ? nil : "resource-agents is not installed (no /usr/lib/ocf/resource.d/heartbeat/Dummy)"
    }

    /// d1 (ocf:heartbeat:Dummy, monitor every 2 s) preferring node1 with 50, fencing off.
    static func configure(_ c: PacemakerCluster) throws {
        let props = PacemakerCluster.retrying {
            try? c[1].tool("crm_attribute", ["--type", "crm_config", "--name", "stonith-enabled", "--update", "false"])
        }
        guard props?.status == 0 else { throw PacemakerCluster.Failure("crm_attribute: \(props?.stderr ?? "")") }
        try c.create("resources", """
            <primitive id="d1" class="ocf" provider="heartbeat" type="Dummy"><operations>\
            <op id="d1-monitor-2s" name="monitor" interval="2s" timeout="20s"/></operations></primitive>
            """)
        try c.create("constraints", #"<rsc_location id="d1-prefers-node1" rsc="d1" node="node1" score="50"/>"#)
    }

    /// d1's `d1_last_0` entry on node `i` (as node1's cibd has it).
    static func last(_ c: PacemakerCluster, _ i: Int, _ id: String = "d1_last_0") -> XElement? {
        c[1].query("/cib/status/node_state[@id='\(i)']/lrm/lrm_resources/lrm_resource[@id='d1']/lrm_rsc_op[@id='\(id)']").first
    }

    /// Whether d1 runs on node `i` alone: its state file there only, and the CIB's last
    /// operation there a successful start (or probe) with its monitor recorded.
    static func runsOnlyOn(_ c: PacemakerCluster, _ i: Int) -> Bool {
        guard c.nodes.enumerated().allSatisfy({ ($0.offset + 1 == i) == $0.element.runsDummy }),
              let op = last(c, i), op["rc-code"] == "0", ["start", "monitor"].contains(op["operation"] ?? "") else { return false }
        return last(c, i, "d1_monitor_2000")?["rc-code"] == "0"
    }

    func crmResource(_ c: PacemakerCluster, _ args: [String], on node: Int = 3) throws -> Tool.Result {
        try c[node].tool("crm_resource", args)
    }

    @Test func moveBanClearAndLocateMoveTheResource() async throws {
        if let why = Self.unavailable { print("SKIPPED: moveBanClearAndLocateMoveTheResource: \(why)"); return }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        try await c.start()
        try Self.configure(c)
        let home = await PacemakerCluster.waitFor(60) { Self.runsOnlyOn(c, 1) }
        try #require(home, "d1 did not start on node1:\n\(c.report)")

        // --locate, from another node, as Pacemaker prints it; -Q the node alone.
        let locate = try crmResource(c, ["--locate", "-r", "d1"])
        #expect(locate.status == 0 && locate.stdout == "resource d1 is running on: node1\n" && locate.stderr.isEmpty, "\(locate)")
        #expect(try crmResource(c, ["-W", "-r", "d1", "-Q"]).stdout == "node1\n")

        // --move -N node2: a cli-prefer constraint, nothing printed; d1 moves.
        let move = try crmResource(c, ["--move", "-r", "d1", "-N", "node2"])
        #expect(move.status == 0 && move.stdout.isEmpty && move.stderr.isEmpty, "\(move)")
        let prefer = c[1].query("//constraints/rsc_location[@id='cli-prefer-d1']").first
        #expect(prefer?["node"] == "node2" && prefer?["score"] == "INFINITY" && prefer?["role"] == "Started", "\(String(describing: prefer))")
        let moved = await PacemakerCluster.waitFor(60) { Self.runsOnlyOn(c, 2) }
        #expect(moved, "d1 did not move to node2:\n\(c.report)")
        #expect(try crmResource(c, ["--locate", "-r", "d1"]).stdout == "resource d1 is running on: node2\n")
        // Moving it where it is: Pacemaker's 108 (already exists), nothing changed.
        let again = try crmResource(c, ["--move", "-r", "d1", "-N", "node2"])
        #expect(again.status == 108 && again.stderr == "crm_resource: Error performing operation: Requested item already exists\n", "\(again)")

        // --clear: the constraint goes; with stickiness 0, d1 goes back to node1 (score 50).
        let clear = try crmResource(c, ["--clear", "-r", "d1"])
        #expect(clear.status == 0 && clear.stdout == "Removing constraint: cli-prefer-d1\n", "\(clear)")
        #expect(c[1].query("//constraints/rsc_location[@id='cli-prefer-d1']").isEmpty)
        let back = await PacemakerCluster.waitFor(60) { Self.runsOnlyOn(c, 1) }
        #expect(back, "d1 did not move back to node1 after --clear:\n\(c.report)")

        // --move --lifetime PT1M: the end said; the constraint carries it as a date rule.
        let timed = try crmResource(c, ["--move", "-r", "d1", "-N", "node3", "--lifetime", "PT1M"])
        #expect(timed.status == 0, "\(timed)")
        let until = try #require(timed.stdout.firstMatch(of: /^Migration will take effect until: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)Z\n$/), "\(timed.stdout)")
        let rule = c[1].query("//constraints/rsc_location[@id='cli-prefer-d1']/rule[@id='cli-prefer-rule-d1']").first
        #expect(rule?["score"] == "INFINITY" && rule?["boolean-op"] == "and", "\(String(describing: rule))")
        let expr = rule?.elements(named: "expression").first
        #expect(expr?["attribute"] == "#uname" && expr?["operation"] == "eq" && expr?["value"] == "node3" && expr?["type"] == "string")
        let date = rule?.elements(named: "date_expression").first
        #expect(date?.id == "cli-prefer-lifetime-end-d1" && date?["operation"] == "lt" && date?["end"] == "\(until.1)Z", "\(String(describing: date))")
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let end = try #require(format.date(from: String(until.1)))
        #expect(abs(end.timeIntervalSinceNow - 60) < 15, "PT1M ends about a minute from now: \(until.1)")
        let timedMove = await PacemakerCluster.waitFor(60) { Self.runsOnlyOn(c, 3) }
        #expect(timedMove, "d1 did not move to node3 under the timed constraint:\n\(c.report)")
        #expect(try crmResource(c, ["--clear", "-r", "d1"], on: 2).stdout == "Removing constraint: cli-prefer-d1\n")
        let back2 = await PacemakerCluster.waitFor(60) { Self.runsOnlyOn(c, 1) }
        #expect(back2, "d1 did not come back to node1:\n\(c.report)")

        // --ban without a node: the node it runs on, with Pacemaker's warning; d1 leaves it.
        let ban = try crmResource(c, ["--ban", "-r", "d1"])
        #expect(ban.status == 0, "\(ban)")
        #expect(ban.stdout == """
            WARNING: Creating rsc_location constraint 'cli-ban-d1-on-node1' with a score of -INFINITY for resource d1 on node1.
            \tThis will prevent d1 from running on node1 until the constraint is removed using the clear option or by editing the CIB with an appropriate tool
            \tThis will be the case even if node1 is the last node in the cluster

            """, "\(ban.stdout)")
        let banned = c[1].query("//constraints/rsc_location[@id='cli-ban-d1-on-node1']").first
        #expect(banned?["node"] == "node1" && banned?["score"] == "-INFINITY" && banned?["role"] == "Started")
        let left = await PacemakerCluster.waitFor(60) { Self.runsOnlyOn(c, 2) || Self.runsOnlyOn(c, 3) }
        #expect(left, "d1 did not leave node1 after --ban:\n\(c.report)")
        #expect(try crmResource(c, ["--clear", "-r", "d1"]).stdout == "Removing constraint: cli-ban-d1-on-node1\n")
        let back3 = await PacemakerCluster.waitFor(60) { Self.runsOnlyOn(c, 1) }
        #expect(back3, "d1 did not come back to node1 after the ban was cleared:\n\(c.report)")
        #expect(c[1].query("//constraints/rsc_location[starts-with(@id,'cli-')]").isEmpty)

        // Wrong names: 105 with Pacemaker's two lines; wrong options: 64 (usage).
        let ghost = try crmResource(c, ["--locate", "-r", "ghost"])
        #expect(ghost.status == 105 && ghost.stdout.isEmpty
                    && ghost.stderr == "crm_resource: Resource 'ghost' not found\nError performing operation: No such object\n", "\(ghost)")
        for args in [["--move", "-r", "ghost", "-N", "node2"], ["--ban", "-r", "ghost"], ["--clear", "-r", "ghost"],
                     ["--cleanup", "-r", "ghost"], ["--refresh", "-r", "ghost"]] {
            let r = try crmResource(c, args)
            #expect(r.status == 105 && r.stderr == "crm_resource: Resource 'ghost' not found\nError performing operation: No such object\n", "\(args): \(r)")
        }
        let noNode = try crmResource(c, ["--move", "-r", "d1", "-N", "ghost"])
        #expect(noNode.status == 105 && noNode.stderr == "crm_resource: Node 'ghost' not found\nError performing operation: No such object\n", "\(noNode)")
        let noRsc = try crmResource(c, ["--move"])
        #expect(noRsc.status == 64 && noRsc.stderr == "crm_resource: Must supply a resource id with -r\n", "\(noRsc)")
        let unknown = try crmResource(c, ["--frob"])
        #expect(unknown.status == 64 && unknown.stderr.hasPrefix("crm_resource: Unknown option --frob\n"), "\(unknown)")
        let lifetime = try crmResource(c, ["--move", "-r", "d1", "-N", "node2", "--lifetime", "soon"])
        #expect(lifetime.status == 64 && lifetime.stderr == """
            Invalid duration specified: soon
            Please refer to https://en.wikipedia.org/wiki/ISO_8601#Durations for examples of valid durations

            """, "\(lifetime)")
        // None of them changed anything: d1 stays on node1, no constraint was made.
        #expect(c[1].query("//constraints/rsc_location[starts-with(@id,'cli-')]").isEmpty)
        #expect(Self.runsOnlyOn(c, 1))
    }

    /// The failcount of d1's 2 s monitor on node `i`, if any.
    static func failcount(_ c: PacemakerCluster, _ i: Int) -> String? {
        c[1].query("/cib/status/node_state[@id='\(i)']/transient_attributes//nvpair[@name='fail-count-d1#monitor_2000']").first?["value"]
    }

    @Test func cleanupAndRefreshForgetTheHistoryAndReprobe() async throws {
        if let why = Self.unavailable { print("SKIPPED: cleanupAndRefreshForgetTheHistoryAndReprobe: \(why)"); return }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        try await c.start()
        try Self.configure(c)
        let home = await PacemakerCluster.waitFor(60) { Self.runsOnlyOn(c, 1) && Self.last(c, 2) != nil && Self.last(c, 3) != nil }
        try #require(home, "d1 did not start on node1:\n\(c.report)")

        // The resource dies under its monitor: a failcount and a failed operation; it is
        // started again on node1 (its failcount 1 is under the threshold, INFINITY).
        try FileManager.default.removeItem(atPath: c[1].stateFile)
        let failed = await PacemakerCluster.waitFor(60) {
            Self.failcount(c, 1) == "1" && Self.last(c, 1, "d1_last_failure_0")?["rc-code"] == "7" && Self.runsOnlyOn(c, 1)
        }
        try #require(failed, "no failcount, failed operation and recovery on node1:\n\(c.report)")
        let mon = try c[2].tool("crm_mon", ["-1"])
        #expect(mon.stdout.contains("Failed Resource Actions:") && mon.stdout.contains("* d1 2s-interval monitor on node1 returned 'not running'"), "\(mon.stdout)")
        // A join round (node3 leaves and comes back) records every node's history from its
        // executor again: the failure stays recorded, as with Pacemaker.
        let firstProbe = Self.last(c, 3)?["transition-key"]
        c[3].stop()
        let down = await PacemakerCluster.waitFor(60) { c[3].hasExited }
        try #require(down, "node3 did not stop:\n\(c.report)")
        try await c.start([c[3]])
        let joined = await PacemakerCluster.waitFor(60) {
            Self.last(c, 3).map { $0["transition-key"] != firstProbe } == true && Self.runsOnlyOn(c, 1)
        }
        #expect(joined, "node3 was not probed again after it rejoined:\n\(c.report)")
        #expect(Self.failcount(c, 1) == "1" && Self.last(c, 1, "d1_last_failure_0")?["rc-code"] == "7",
                "the failure was lost in the join: \(c[1].query("/cib/status/node_state[@id='1']//lrm_rsc_op").map { $0.id ?? "" })")
        #expect(try c[2].tool("crm_mon", ["-1"]).stdout.contains("* d1 2s-interval monitor on node1 returned 'not running'"))
        let probes = (2...3).map { Self.last(c, $0)?["transition-key"] }

        // --cleanup: the failcount and the failed operation go from the live CIB; the
        // resource is probed again on node1 (where it failed) and goes on running there.
        let cleanup = try crmResource(c, ["--cleanup", "-r", "d1"])
        #expect(cleanup.status == 0, "\(cleanup)")
        let cleanupLines = cleanup.stdout.split(separator: "\n").map(String.init)
        #expect(Set(cleanupLines.prefix(3)) == ["Cleaned up d1 on node1", "Cleaned up d1 on node2", "Cleaned up d1 on node3"], "\(cleanup.stdout)")
        #expect(Array(cleanupLines.dropFirst(3)) == ["Waiting for 1 reply from the controller", "... got reply (done)"], "\(cleanup.stdout)")
        let cleaned = await PacemakerCluster.waitFor(60) {
            Self.failcount(c, 1) == nil && Self.last(c, 1, "d1_last_failure_0") == nil
                && Self.last(c, 1)?["operation_key"] == "d1_monitor_0" && Self.runsOnlyOn(c, 1)
        }
        #expect(cleaned, "after --cleanup: failcount \(Self.failcount(c, 1) ?? "-"), last \(Self.last(c, 1).map { "\($0.attributes)" } ?? "-")\n\(c.report)")
        let monAfter = try c[2].tool("crm_mon", ["-1"])
        #expect(!monAfter.stdout.contains("Failed Resource Actions:") && monAfter.stdout.contains("Started node1"), "\(monAfter.stdout)")
        // Only node1 had a failure: the probes of node2 and node3 stay as they were.
        #expect((2...3).map { Self.last(c, $0)?["transition-key"] } == probes)

        // A join round (node3 leaves and comes back) reads every node's history from its
        // executor again: the failure forgotten by --cleanup does not come back.
        let node3Probe = Self.last(c, 3)?["transition-key"]
        c[3].stop()
        let stopped = await PacemakerCluster.waitFor(60) { c[3].hasExited }
        try #require(stopped, "node3 did not stop:\n\(c.report)")
        try await c.start([c[3]])
        // Its executor is a new one: the join records no history for it, and it is probed.
        let rejoined = await PacemakerCluster.waitFor(60) {
            Self.last(c, 3).map { $0["transition-key"] != node3Probe } == true && Self.runsOnlyOn(c, 1)
        }
        #expect(rejoined, "node3 was not probed again after it rejoined:\n\(c.report)")
        #expect(Self.failcount(c, 1) == nil && Self.last(c, 1, "d1_last_failure_0") == nil,
                "the failure came back after a join: \(c[1].query("/cib/status/node_state[@id='1']//lrm_resource[@id='d1']").map { "\($0)" })")
        #expect(!(try c[2].tool("crm_mon", ["-1"]).stdout.contains("Failed Resource Actions:")))

        // --refresh: the whole history goes on every node and is probed again; d1 is not
        // restarted (its state file is the one its last start made, no start recorded).
        let started = try FileManager.default.attributesOfItem(atPath: c[1].stateFile)[.modificationDate] as? Date
        let before = (1...3).map { Self.last(c, $0)?["transition-key"] }
        let refresh = try crmResource(c, ["--refresh", "-r", "d1"])
        #expect(refresh.status == 0, "\(refresh)")
        let refreshLines = refresh.stdout.split(separator: "\n").map(String.init)
        #expect(Set(refreshLines.prefix(3)) == ["Cleaned up d1 on node1", "Cleaned up d1 on node2", "Cleaned up d1 on node3"], "\(refresh.stdout)")
        #expect(Array(refreshLines.dropFirst(3)) == ["Waiting for 3 replies from the controller", "... got reply", "... got reply", "... got reply (done)"],
                "\(refresh.stdout)")
        let reprobed = await PacemakerCluster.waitFor(60) {
            (1...3).allSatisfy { i in
                guard let op = Self.last(c, i) else { return false }
                return op["operation_key"] == "d1_monitor_0" && op["transition-key"] != before[i - 1] && op["rc-code"] == (i == 1 ? "0" : "7")
            } && Self.runsOnlyOn(c, 1)
        }
        #expect(reprobed, "d1 was not probed again everywhere: \((1...3).map { Self.last(c, $0).map { "\($0.attributes)" } ?? "-" })\n\(c.report)")
        #expect(try FileManager.default.attributesOfItem(atPath: c[1].stateFile)[.modificationDate] as? Date == started, "d1 was restarted by --refresh")
        #expect(try crmResource(c, ["--locate", "-r", "d1"]).stdout == "resource d1 is running on: node1\n")

        // Without -r: --cleanup asks the controller about each resource that failed on each
        // node (d1 on node1: one reply), --refresh makes one reprobe request (one reply), and
        // each waits for it as Pacemaker's crm_resource does.
        try FileManager.default.removeItem(atPath: c[1].stateFile)
        let failedAgain = await PacemakerCluster.waitFor(60) {
            Self.failcount(c, 1) == "1" && Self.last(c, 1, "d1_last_failure_0")?["rc-code"] == "7" && Self.runsOnlyOn(c, 1)
        }
        try #require(failedAgain, "no second failure and recovery on node1:\n\(c.report)")
        let cleanupAll = try crmResource(c, ["--cleanup"])
        #expect(cleanupAll.status == 0, "\(cleanupAll)")
        #expect(cleanupAll.stdout == "Cleaned up all resources on all nodes\nWaiting for 1 reply from the controller\n... got reply (done)\n", "\(cleanupAll)")
        let cleanedAll = await PacemakerCluster.waitFor(60) {
            Self.failcount(c, 1) == nil && Self.last(c, 1, "d1_last_failure_0") == nil && Self.runsOnlyOn(c, 1)
        }
        #expect(cleanedAll, "after --cleanup without -r: failcount \(Self.failcount(c, 1) ?? "-")\n\(c.report)")
        let beforeAll = (1...3).map { Self.last(c, $0)?["transition-key"] }
        let refreshAll = try crmResource(c, ["--refresh"])
        #expect(refreshAll.status == 0, "\(refreshAll)")
        #expect(refreshAll.stdout == "Waiting for 1 reply from the controller\n... got reply (done)\n", "\(refreshAll)")
        let reprobedAll = await PacemakerCluster.waitFor(60) {
            (1...3).allSatisfy { i in Self.last(c, i).map { $0["transition-key"] != beforeAll[i - 1] } == true } && Self.runsOnlyOn(c, 1)
        }
        #expect(reprobedAll, "d1 was not probed again everywhere after --refresh without -r:\n\(c.report)")
    }
}
