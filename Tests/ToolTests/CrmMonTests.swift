import CIB
import Foundation
import Testing
import TestSupport

/// crm_mon on CIB files: its own behaviour, and side by side with Pacemaker's crm_mon (2.1.5,
/// when installed) on every input of the scheduler suite.
@Suite struct CrmMonTests {
    static let pacemaker = "/usr/sbin/crm_mon"
    /// How many suite inputs give output identical to Pacemaker's (the "Last updated" line
    /// aside). Raise it when more match; the test fails when fewer do.
    static let identicalAtLeast = 666

    /// Stdout and stderr of a run on a CIB file, the "Last updated" line left out.
    static func output(_ binary: String, _ file: String, _ args: [String]) throws -> String {
        let r = try Tool.run(executable: binary, args, env: ["CIB_file": file, "TZ": "UTC"])
        return (r.stdout + r.stderr).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("  * Last updated:") }.joined(separator: "\n")
    }

    @Test func sameAsPacemakersCrmMonOnTheSuite() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.pacemaker) else {
            print("SKIPPED: Pacemaker's crm_mon is not installed (make test installs pacemaker-cli-utils as root)")
            return
        }
        guard let dir = SharedData.schedulerSuite.map({ $0 + "/xml" }) else {
            print("SKIPPED: ../shared/conformance is not present (set SWIFTHA_SHARED)")
            return
        }
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".xml") }.sorted()
        var identical = 0
        var first: [String] = []
        for name in files {
            let a = try Self.output(Self.pacemaker, dir + "/" + name, ["-1"])
            let b = try Self.output(ours, dir + "/" + name, ["-1"])
            if a == b { identical += 1 } else if first.count < 3 { first.append(name) }
        }
        print("crm_mon -1: \(identical) of \(files.count) suite inputs identical to Pacemaker 2.1.5's (first differences: \(first.joined(separator: ", ")))")
        #expect(identical >= Self.identicalAtLeast)
    }

    /// How many suite inputs give `--output-as xml` identical to Pacemaker's (the
    /// last_update element and the program's path in `request` aside).
    static let identicalXMLAtLeast = 653

    /// The XML of a run, without what depends on the moment and the path of the binary.
    static func xmlOutput(_ binary: String, _ file: String) throws -> String {
        let r = try Tool.run(executable: binary, ["--output-as", "xml"], env: ["CIB_file": file, "TZ": "UTC"])
        return "\(r.status)\n" + (r.stdout + r.stderr).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("<last_update ") }
            .map { $0.replacingOccurrences(of: #"request="[^"]*crm_mon "#, with: #"request="crm_mon "#, options: .regularExpression) }
            .joined(separator: "\n")
    }

    /// How many suite inputs give `-1 -A -f` (node attributes, migration summary) identical
    /// to Pacemaker's.
    static let identicalWithAttributesAtLeast = 665

    /// Failed actions with execution times and statuses the suite lacks, as Pacemaker 2.1.5
    /// prints them (its readable interval: `1.500s`, `30.061s`, but `1000ms` and `1m1000ms`;
    /// an exit reason inside the parentheses of a status that is not "done").
    @Test func failedActionTimesAndStatusesAsPacemakerPrintsThem() throws {
        let dir = scratchDirectory("crm-mon-failed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        let cases: [(interval: Int, exec: Int, status: Int, rc: Int, reason: String?, line: String)] = [
            (0, 12, 0, 1, "boom", "  * d1 start on node1 returned 'error' (boom) at Thu Jan  1 00:00:01 1970 after 12ms"),
            (0, 1000, 4, 1, "boom", "  * d1 start on node1 could not be executed (Error: boom) at Thu Jan  1 00:00:01 1970 after 1000ms"),
            (0, 1500, 0, 1, nil, "  * d1 start on node1 returned 'error' at Thu Jan  1 00:00:01 1970 after 1.500s"),
            (0, 30061, 4, 1, "vmfence monitor: fence_xvm: exit status 1: Operation failed",
             "  * d1 start on node1 could not be executed (Error: vmfence monitor: fence_xvm: exit status 1: Operation failed) at Thu Jan  1 00:00:01 1970 after 30.061s"),
            (0, 61000, 2, 1, nil, "  * d1 start on node1 could not be executed (Timed Out) at Thu Jan  1 00:00:01 1970 after 1m1000ms"),
            (0, 90500, 0, 1, nil, "  * d1 start on node1 returned 'error' at Thu Jan  1 00:00:01 1970 after 1m30.500s"),
            (0, 3_600_001, 0, 1, nil, "  * d1 start on node1 returned 'error' at Thu Jan  1 00:00:01 1970 after 1h1ms"),
            (60000, 0, 0, 7, nil, "  * d1 60s-interval monitor on node1 returned 'not running' at Thu Jan  1 00:00:01 1970"),
            (1000, 0, 0, 7, nil, "  * d1 1000ms-interval monitor on node1 returned 'not running' at Thu Jan  1 00:00:01 1970"),
            (90000, 0, 0, 7, nil, "  * d1 1m30s-interval monitor on node1 returned 'not running' at Thu Jan  1 00:00:01 1970"),
        ]
        for (n, c) in cases.enumerated() {
            let task = c.interval > 0 ? "monitor" : "start"
            let reason = c.reason.map { " exit-reason=\"\($0)\"" } ?? ""
            let cib = """
            <cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="5" num_updates="0" admin_epoch="0" dc-uuid="1" have-quorum="1">
              <configuration>
                <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
                <nodes><node id="1" uname="node1"/></nodes>
                <resources><primitive id="d1" class="ocf" provider="heartbeat" type="Dummy"/></resources>
                <constraints/>
              </configuration>
              <status>
                <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="1"><lrm_resources>
                  <lrm_resource id="d1" class="ocf" provider="heartbeat" type="Dummy">
                    <lrm_rsc_op id="d1_last_failure_0" operation_key="d1_\(task)_\(c.interval)" operation="\(task)" crm_feature_set="3.16.1" transition-key="1:1:0:a" transition-magic="\(c.status):\(c.rc);1:1:0:a"\(reason) call-id="3" rc-code="\(c.rc)" op-status="\(c.status)" interval="\(c.interval)" last-rc-change="1" exec-time="\(c.exec)" queue-time="0" op-digest="x"/>
                  </lrm_resource></lrm_resources></lrm></node_state>
              </status>
            </cib>
            """
            let f = "\(dir)/case\(n).xml"
            try cib.write(toFile: f, atomically: true, encoding: .utf8)
            let text = try Self.output(ours, f, ["-1"])
            let line = text.split(separator: "\n").drop { $0 != "Failed Resource Actions:" }.dropFirst().first.map(String.init)
            #expect(line == c.line, "case \(n):\n\(text)")
            if FileManager.default.isExecutableFile(atPath: Self.pacemaker) {
                #expect(try Self.output(Self.pacemaker, f, ["-1"]) == text, "case \(n): Pacemaker's crm_mon differs")
            }
        }
    }

    /// A fence device whose agent ran and failed (fence_xvm's monitor without fence_virtd,
    /// run by the device's start), recorded as crmd records it now and Pacemaker's executor
    /// does: op-status 0 (complete), rc 1. crm_mon's failed action reads the same as
    /// Pacemaker 2.1.5's, and so does the rest of its output (the device is FAILED).
    @Test func aFenceDevicesFailedStartAsPacemakerRecordsAndPrintsIt() throws {
        let dir = scratchDirectory("crm-mon-fence")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reason = "vmfence monitor: fence_xvm: exit status 1: Operation failed"
        let f = dir + "/cib.xml"
        try """
        <cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="5" num_updates="0" admin_epoch="0" dc-uuid="1" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources><primitive id="vmfence" class="stonith" type="fence_xvm"><instance_attributes id="vmfence-instance_attributes">
              <nvpair id="vmfence-instance_attributes-pcmk_host_map" name="pcmk_host_map" value="server2:server2;server3:server3"/></instance_attributes>
              <operations><op name="monitor" interval="1min" id="vmfence-monitor-1min"/></operations></primitive></resources>
            <constraints/>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="1"><lrm_resources>
              <lrm_resource id="vmfence" class="stonith" type="fence_xvm">
                <lrm_rsc_op id="vmfence_last_0" operation_key="vmfence_start_0" operation="start" crm_feature_set="3.16.1" transition-key="3:1:0:a" transition-magic="0:1;3:1:0:a" exit-reason="\(reason)" call-id="4" rc-code="1" op-status="0" interval="0" last-rc-change="1" exec-time="30061" queue-time="0" op-digest="x"/>
                <lrm_rsc_op id="vmfence_last_failure_0" operation_key="vmfence_start_0" operation="start" crm_feature_set="3.16.1" transition-key="3:1:0:a" transition-magic="0:1;3:1:0:a" exit-reason="\(reason)" call-id="4" rc-code="1" op-status="0" interval="0" last-rc-change="1" exec-time="30061" queue-time="0" op-digest="x"/>
              </lrm_resource></lrm_resources></lrm></node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>
          </status>
        </cib>
        """.write(toFile: f, atomically: true, encoding: .utf8)
        let ours = try Self.output(Tool.binDir.appendingPathComponent("crm_mon").path, f, ["-1"])
        let failed = ours.split(separator: "\n").drop { $0 != "Failed Resource Actions:" }.dropFirst().first.map(String.init)
        #expect(failed == "  * vmfence start on node1 returned 'error' (\(reason)) at Thu Jan  1 00:00:01 1970 after 30.061s", "\(ours)")
        #expect(ours.contains("  * vmfence\t(stonith:fence_xvm):\t FAILED node1"), "\(ours)")
        if FileManager.default.isExecutableFile(atPath: Self.pacemaker) {
            #expect(try Self.output(Self.pacemaker, f, ["-1"]) == ours, "Pacemaker's crm_mon differs")
        } else {
            print("SKIPPED (part): Pacemaker's crm_mon is not installed; the fence device's failed start was not compared")
        }
    }

    @Test func attributesAndFailcountsLikePacemakersOnTheSuite() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.pacemaker) else {
            print("SKIPPED: Pacemaker's crm_mon is not installed (make test installs pacemaker-cli-utils as root)")
            return
        }
        let files = SharedData.conformanceFiles
        guard !files.isEmpty else { return }
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        var identical = 0
        for path in files where try Self.output(Self.pacemaker, path, ["-1", "-A", "-f"]) == Self.output(ours, path, ["-1", "-A", "-f"]) {
            identical += 1
        }
        print("crm_mon -1 -A -f: \(identical) of \(files.count) suite inputs identical to Pacemaker 2.1.5's")
        #expect(identical >= Self.identicalWithAttributesAtLeast)
    }

    /// How many suite inputs give `--output-as html` identical to Pacemaker's.
    static let identicalHTMLAtLeast = 657

    @Test func htmlLikePacemakersOnTheSuite() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.pacemaker) else {
            print("SKIPPED: Pacemaker's crm_mon is not installed (make test installs pacemaker-cli-utils as root)")
            return
        }
        let files = SharedData.conformanceFiles
        guard !files.isEmpty else { return }
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        func page(_ binary: String, _ path: String) throws -> String {
            let r = try Tool.run(executable: binary, ["--output-as", "html"], env: ["CIB_file": path, "TZ": "UTC"])
            return "\(r.status)\n" + (r.stdout + r.stderr).split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.contains(">Last updated: <") }.joined(separator: "\n")
        }
        var identical = 0
        for path in files where try page(Self.pacemaker, path) == page(ours, path) { identical += 1 }
        print("crm_mon --output-as html: \(identical) of \(files.count) suite inputs identical to Pacemaker 2.1.5's")
        #expect(identical >= Self.identicalHTMLAtLeast)
    }

    @Test func xmlLikePacemakersOnTheSuite() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.pacemaker) else {
            print("SKIPPED: Pacemaker's crm_mon is not installed (make test installs pacemaker-cli-utils as root)")
            return
        }
        let files = SharedData.conformanceFiles
        guard !files.isEmpty else { return }
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        var identical = 0
        var first: [String] = []
        for path in files {
            if try Self.xmlOutput(Self.pacemaker, path) == Self.xmlOutput(ours, path) {
                identical += 1
            } else if first.count < 3 {
                first.append((path as NSString).lastPathComponent)
            }
        }
        print("crm_mon --output-as xml: \(identical) of \(files.count) suite inputs identical to Pacemaker 2.1.5's (first differences: \(first.joined(separator: ", ")))")
        #expect(identical >= Self.identicalXMLAtLeast)
    }

    /// `-s` (the one line for monitoring checks, stdout and exit code) and `-1 -L` (negative
    /// location constraints) beside Pacemaker's on the suite. (Pacemaker's -s also says "Error
    /// outputting status info" on stderr whenever it warns; that is left out.)
    static let identicalSimpleAtLeast = 677
    static let identicalBansAtLeast = 663

    @Test func simpleStatusAndBansLikePacemakersOnTheSuite() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.pacemaker) else {
            print("SKIPPED: Pacemaker's crm_mon is not installed (make test installs pacemaker-cli-utils as root)")
            return
        }
        let files = SharedData.conformanceFiles
        guard !files.isEmpty else { return }
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        var simple = 0, bans = 0
        for path in files {
            let a = try Tool.run(executable: Self.pacemaker, ["-s"], env: ["CIB_file": path, "TZ": "UTC"])
            let b = try Tool.run(executable: ours, ["-s"], env: ["CIB_file": path, "TZ": "UTC"])
            if (a.status, a.stdout) == (b.status, b.stdout) { simple += 1 }
            if try Self.output(Self.pacemaker, path, ["-1", "-L"]) == Self.output(ours, path, ["-1", "-L"]) { bans += 1 }
        }
        print("crm_mon -s: \(simple) of \(files.count) suite inputs identical to Pacemaker 2.1.5's; -1 -L: \(bans)")
        #expect(simple >= Self.identicalSimpleAtLeast)
        #expect(bans >= Self.identicalBansAtLeast)
    }

    /// A CIB in maintenance mode, with a group, a clone and a primitive running.
    static let maintenanceCIB = """
    <cib validate-with="pacemaker-3.9" epoch="3" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1" cib-last-written="Mon Nov 23 10:00:00 2026">
      <configuration>
        <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/>
          <nvpair id="o2" name="maintenance-mode" value="true"/></cluster_property_set></crm_config>
        <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
        <resources>
          <primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"/>
          <group id="web"><primitive id="fs" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="httpd" class="ocf" provider="heartbeat" type="Dummy"/></group>
          <clone id="ping-clone"><primitive id="ping" class="ocf" provider="pacemaker" type="Dummy"/></clone>
        </resources>
        <constraints/>
      </configuration>
      <status>
        <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">
          <lrm id="1"><lrm_resources>
            <lrm_resource id="vip" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="vip_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/></lrm_resource>
            <lrm_resource id="fs" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="fs_last_0" operation="start" call-id="2" rc-code="0" op-status="0" interval="0" transition-key="2:1:0:x"/></lrm_resource>
            <lrm_resource id="ping" class="ocf" provider="pacemaker" type="Dummy"><lrm_rsc_op id="ping_last_0" operation="start" call-id="3" rc-code="0" op-status="0" interval="0" transition-key="3:1:0:x"/></lrm_resource>
          </lrm_resources></lrm>
        </node_state>
        <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>
      </status>
    </cib>
    """

    /// maintenance-mode: Pacemaker 2.1.5's crm_mon says "(unmanaged)" and prints the
    /// "Resource management is DISABLED" banner, where crm_simulate (the scheduler suite's
    /// expected output) says "(maintenance)"; each tool prints what its counterpart prints.
    @Test func maintenanceModeAsEachToolPrintsIt() throws {
        let path = scratchDirectory("crm_mon-maintenance") + "/cib.xml"
        try Self.maintenanceCIB.write(toFile: path, atomically: true, encoding: .utf8)
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        let text = try Self.output(ours, path, ["-1", "-r"])
        #expect(text.contains("""
          * 5 resource instances configured

                      *** Resource management is DISABLED ***
          The cluster will not attempt to start, stop or recover services

        Node List:
        """), "\(text)")
        #expect(text.contains("  * vip\t(ocf:heartbeat:Dummy):\t Started node1 (unmanaged)\n"), "\(text)")
        #expect(text.contains("  * Resource Group: web (unmanaged):\n    * fs\t(ocf:heartbeat:Dummy):\t Started node1 (unmanaged)\n    * httpd\t(ocf:heartbeat:Dummy):\t Stopped (unmanaged)\n"), "\(text)")
        #expect(text.contains("  * Clone Set: ping-clone [ping] (unmanaged):\n"), "\(text)")
        #expect(!text.contains("maintenance)"), "\(text)")
        // crm_simulate keeps the scheduler suite's layout (it prints the banner too).
        let sim = try Tool.run("crm_simulate", ["-x", path, "-S"], env: ["TZ": "UTC"])
        #expect(sim.stdout.contains("    * vip\t(ocf:heartbeat:Dummy):\t Started node1 (maintenance)\n"), "\(sim.stdout)")
        #expect(sim.stdout.contains("    * Resource Group: web (maintenance):\n"), "\(sim.stdout)")
        // crm_resource --list as Pacemaker's.
        let list = try Tool.run("crm_resource", ["--list"], env: ["CIB_file": path])
        #expect(list.stdout.contains("  * vip\t(ocf:heartbeat:Dummy):\t Started (unmanaged)\n"), "\(list.stdout)")
        guard FileManager.default.isExecutableFile(atPath: Self.pacemaker) else {
            print("SKIPPED (the side-by-side part): Pacemaker's crm_mon is not installed")
            return
        }
        // Side by side: this CIB, and the suite's maintenance cases (per-resource and
        // per-node maintenance), in text and XML.
        var paths = [path]
        if let dir = SharedData.schedulerSuite.map({ $0 + "/xml" }) {
            paths += ["rsc-maintenance", "node-maintenance-1", "node-maintenance-2", "probe-pending-node"].map { "\(dir)/\($0).xml" }
        }
        for p in paths {
            for args in [["-1"], ["-1", "-r"], ["-1", "-n"]] {
                #expect(try Self.output(Self.pacemaker, p, args) == Self.output(ours, p, args), "\(p) \(args)")
            }
            #expect(try Self.xmlOutput(Self.pacemaker, p) == Self.xmlOutput(ours, p), "\(p) --output-as xml")
        }
    }

    /// The display options beside Pacemaker's on every third suite input: how many give
    /// output identical to 2.1.5's for each (the "Last updated" line aside). Raise a figure
    /// when more match; the test fails when fewer do. (On a CIB file Pacemaker shows no fence
    /// history, so -m must change nothing there.)
    static let optionsIdenticalAtLeast: [(args: [String], count: Int)] = [
        (["-1", "-n"], 223), (["-1", "-n", "-r"], 220), (["-1", "-o"], 219), (["-1", "-t"], 219),
        (["-1", "-c"], 220), (["-1", "-D"], 220), (["-1", "-m"], 220), (["-1", "-D", "-o", "-c", "-A"], 219),
        (["-1", "-R"], 214), (["-1", "-R", "-r"], 212), (["-1", "-b"], 221), (["-1", "-b", "-r"], 218), (["-1", "-n", "-b"], 225),
    ]

    @Test func displayOptionsLikePacemakersOnTheSuite() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.pacemaker) else {
            print("SKIPPED: Pacemaker's crm_mon is not installed (make test installs pacemaker-cli-utils as root)")
            return
        }
        let files = SharedData.conformanceFiles.enumerated().filter { $0.offset % 3 == 2 }.map(\.element)
        guard !files.isEmpty else { return }
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        var report: [String] = []
        for (args, atLeast) in Self.optionsIdenticalAtLeast {
            var identical = 0
            for path in files where try Self.output(Self.pacemaker, path, args) == Self.output(ours, path, args) { identical += 1 }
            report.append("\(args.joined(separator: " ")): \(identical)")
            #expect(identical >= atLeast, "crm_mon \(args.joined(separator: " ")): \(identical) of \(files.count) identical, fewer than \(atLeast)")
        }
        print("crm_mon options, of \(files.count) suite inputs identical to Pacemaker 2.1.5's: \(report.joined(separator: "; "))")
    }

    /// The layouts of -n, -o, -t, -c and -D on a small CIB (what Pacemaker 2.1.5 prints for it).
    @Test func groupByNodeOperationsTicketsAndNoHeaders() throws {
        let path = scratchDirectory("crm_mon-options") + "/cib.xml"
        try """
        <cib validate-with="pacemaker-3.9" epoch="3" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1" cib-last-written="Mon Nov 23 10:00:00 2026">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources><primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="db" class="ocf" provider="heartbeat" type="Dummy"/></resources>
            <constraints><rsc_ticket id="t1" rsc="db" ticket="ticketB" loss-policy="stop"/></constraints>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">
              <lrm id="1"><lrm_resources><lrm_resource id="web" class="ocf" provider="heartbeat" type="Dummy">
                <lrm_rsc_op id="web_last_0" operation="start" call-id="4" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x" last-rc-change="1700000000" exec-time="12" queue-time="0"/>
                <lrm_rsc_op id="web_monitor_10000" operation="monitor" call-id="5" rc-code="0" op-status="0" interval="10000" transition-key="2:1:0:x" last-rc-change="1700000001" exec-time="3" queue-time="1"/>
              </lrm_resource></lrm_resources></lrm>
            </node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>
            <tickets><ticket_state id="ticketA" granted="true" last-granted="1700000000"/></tickets>
          </status>
        </cib>
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        let byNode = try Self.output(ours, path, ["-1", "-n", "-r"])
        #expect(byNode.contains("""
        Node List:
          * Node node1: online:
            * Resources:
              * web\t(ocf:heartbeat:Dummy):\t Started
          * Node node2: online:
            * Resources:

        Inactive Resources:
          * db\t(ocf:heartbeat:Dummy):\t Stopped
        """), "\(byNode)")
        let ops = try Self.output(ours, path, ["-1", "-o"])
        #expect(ops.hasSuffix("""

        Operations:
          * Node: node1:
            * web: migration-threshold=1000000:
              * (4) start
              * (5) monitor: interval="10000ms"

        """), "\(ops)")
        let timing = try Self.output(ours, path, ["-1", "-t"])
        #expect(timing.contains("""
              * (4) start: last-rc-change="Tue Nov 14 22:13:20 2023" exec-time="12ms" queue-time="0ms" rc=0 (ok)
              * (5) monitor: interval="10000ms" last-rc-change="Tue Nov 14 22:13:21 2023" exec-time="3ms" queue-time="1ms" rc=0 (ok)
        """), "\(timing)")
        let tickets = try Self.output(ours, path, ["-1", "-c"])
        #expect(tickets.hasSuffix("""

        Tickets:
          * ticketA: granted last-granted="Tue Nov 14 22:13:20 2023"
          * ticketB: revoked

        """), "\(tickets)")
        let bare = try Self.output(ours, path, ["-1", "-D"])
        #expect(bare.hasPrefix("Node List:\n  * Online: [ node1 node2 ]\n\nActive Resources:\n"), "\(bare)")
        let bad = try Tool.run(executable: ours, ["-1", "-m7"], env: ["CIB_file": path])
        #expect(bad.status == 64 && bad.stderr.contains("Fence history must be 0-3"), "\(bad.stderr)")
        for level in ["-m", "-m0", "-m3", "--fence-history=2"] {
            #expect(try Tool.run(executable: ours, ["-1", level], env: ["CIB_file": path]).status == 0, "\(level)")
        }
        if FileManager.default.isExecutableFile(atPath: Self.pacemaker) {
            for args in [["-1", "-n", "-r"], ["-1", "-o"], ["-1", "-t"], ["-1", "-c"], ["-1", "-D"], ["-1", "-m"]] {
                #expect(try Self.output(Self.pacemaker, path, args) == Self.output(ours, path, args), "\(args)")
            }
        }
    }

    /// Without -1 and not on a terminal (a pipe), crm_mon prints the status once and exits.
    @Test func printsOnceOnAPipe() throws {
        let path = scratchDirectory("crm_mon-live") + "/cib.xml"
        try ResourceToolDifferentialTestsCIB.text.write(toFile: path, atomically: true, encoding: .utf8)
        let ours = Tool.binDir.appendingPathComponent("crm_mon").path
        let once = try Tool.run(executable: ours, [], env: ["CIB_file": path])
        #expect(once.status == 0 && once.stdout.components(separatedBy: "Cluster Summary:").count == 2, "\(once.stdout)\(once.stderr)")
        // The terminal display is checked by hand (script -qc "crm_mon -i 1" under a real
        // shell redraws every second): run from this test process, timeout(1) inherits a
        // blocked SIGALRM and never ends it.
    }

    @Test func summaryNodesResourcesAndFailures() throws {
        let dir = scratchDirectory("crm_mon")
        let path = dir + "/cib.xml"
        try """
        <cib validate-with="pacemaker-3.9" epoch="3" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1" cib-last-written="Mon Nov 23 10:00:00 2026">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/>
              <nvpair id="o2" name="cluster-infrastructure" value="corosync"/><nvpair id="o3" name="dc-version" value="swiftha"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources><primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="db" class="ocf" provider="heartbeat" type="Dummy"/></resources>
            <constraints/>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">
              <lrm id="1"><lrm_resources><lrm_resource id="web" class="ocf" provider="heartbeat" type="Dummy">
                <lrm_rsc_op id="web_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
                <lrm_rsc_op id="web_monitor_10000" operation="monitor" call-id="2" rc-code="7" op-status="0" interval="10000" transition-key="2:1:0:x" last-rc-change="0" exit-reason="pid file gone"/>
              </lrm_resource></lrm_resources></lrm>
            </node_state>
            <node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="down"/>
          </status>
        </cib>
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try Tool.run("crm_mon", ["-1"], env: ["CIB_file": path, "TZ": "UTC"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("  * Stack: corosync\n  * Current DC: node1 (version swiftha) - partition with quorum\n"))
        #expect(r.stdout.contains("  * 2 nodes configured\n  * 2 resource instances configured\n"))
        #expect(r.stdout.contains("Node List:\n  * Online: [ node1 ]\n  * OFFLINE: [ node2 ]\n"))
        #expect(r.stdout.contains("Active Resources:\n  * web\t(ocf:heartbeat:Dummy):\t FAILED node1\n"))
        #expect(!r.stdout.contains("db\t"), "a stopped resource is shown only with -r")
        #expect(r.stdout.contains("Failed Resource Actions:\n  * web 10s-interval monitor on node1 returned 'not running' (pid file gone)"))
        let all = try Tool.run("crm_mon", ["-1", "-r"], env: ["CIB_file": path])
        #expect(all.stdout.contains("Full List of Resources:\n"))
        #expect(all.stdout.contains("  * db\t(ocf:heartbeat:Dummy):\t Stopped\n"))
        let piped = try Tool.run("crm_mon", [], env: ["CIB_file": path])
        #expect(piped.status == 0 && piped.stdout.hasPrefix("Cluster Summary:"), "without -1 and without a terminal: one shot")
        let bad = try Tool.run("crm_mon", ["--output-as", "json"], env: ["CIB_file": path])
        #expect(bad.status == 64)
        let none = try Tool.run("crm_mon", ["-1"], env: ["CIB_file": ""])
        #expect(none.status == 102, "no cluster and no CIB_file")
    }
}

/// crm_resource --list, --list-raw and --locate beside Pacemaker's on the suite's inputs.
@Suite struct CrmResourceListTests {
    @Test func listsLikePacemaker() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/crm_resource") else {
            print("SKIPPED: Pacemaker's crm_resource is not installed (make test installs pacemaker-cli-utils as root)")
            return
        }
        guard let dir = SharedData.schedulerSuite.map({ $0 + "/xml" }) else {
            print("SKIPPED: ../shared/conformance is not present (set SWIFTHA_SHARED)")
            return
        }
        let ours = Tool.binDir.appendingPathComponent("crm_resource").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".xml") }.sorted()
        var list = 0, raw = 0
        for name in files {
            let path = dir + "/" + name
            if try CrmMonTests.output("/usr/sbin/crm_resource", path, ["--list"]) == CrmMonTests.output(ours, path, ["--list"]) { list += 1 }
            if try CrmMonTests.output("/usr/sbin/crm_resource", path, ["--list-raw"]) == CrmMonTests.output(ours, path, ["--list-raw"]) { raw += 1 }
        }
        print("crm_resource: --list identical for \(list), --list-raw for \(raw), of \(files.count) suite inputs")
        #expect(list >= 675)
        #expect(raw >= 625)
        let path = dir + "/bug-1820-1.xml"
        for args in [["-W", "-r", "test1"], ["-W", "-r", "p1"], ["-W", "-r", "nothere"]] {
            #expect(try CrmMonTests.output("/usr/sbin/crm_resource", path, args) == CrmMonTests.output(ours, path, args), "\(args)")
        }
    }
}

/// A small CIB for the display tests.
enum ResourceToolDifferentialTestsCIB {
    static let text = """
    <cib validate-with="pacemaker-3.9" epoch="3" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1">
      <configuration>
        <crm_config/>
        <nodes><node id="1" uname="node1"/></nodes>
        <resources><primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/></resources>
        <constraints/>
      </configuration>
      <status><node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/></status>
    </cib>
    """
}
