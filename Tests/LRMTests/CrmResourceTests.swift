import Agents
import CIB
import Foundation
import LRM
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `crm_resource --force-*`: one operation of a configured resource, run directly, with
/// Pacemaker's report line and exit code.
@Suite struct CrmResourceTests {
    static func cib(_ resources: String, opDefaults: String = "") -> String {
        """
        <cib admin_epoch="0" epoch="1" num_updates="0" validate-with="pacemaker-3.9">
          <configuration>
            <crm_config/>
            <nodes/>
            <resources>
        \(resources)
            </resources>
            <constraints/>
        \(opDefaults)
          </configuration>
          <status/>
        </cib>
        """
    }

    func run(_ node: LRMNode, _ cibFile: String, _ args: [String]) throws -> Tool.Result {
        try Tool.run("crm_resource", args + ["--ocf-root", node.ocfRoot], env: ["CIB_file": cibFile, "SWIFTHA_ROOT": node.root])
    }

    @Test func forceStartCheckStopDummy() throws {
        guard dummyInstalled("forceStartCheckStopDummy") else { return }
        let node = try LRMNode(name: "n1")
        let file = node.base + "/cib.xml"
        try Self.cib("""
            <primitive id="d" class="ocf" provider="heartbeat" type="Dummy">
              <instance_attributes id="d-ia"><nvpair id="d-fake" name="fake" value="x"/></instance_attributes>
            </primitive>
            """).write(toFile: file, atomically: true, encoding: .utf8)

        let start = try run(node, file, ["--force-start", "-r", "d"])
        #expect(start.status == 0, "\(start.stderr)")
        #expect(start.stdout == "Operation force-start for d (ocf:heartbeat:Dummy) returned 0 (ok)\n")
        #expect(FileManager.default.fileExists(atPath: node.rscTmp + "/Dummy-d.state"), "the agent kept its state under the node root")
        let check = try run(node, file, ["--force-check", "-r", "d"])
        #expect(check.status == 0)
        #expect(check.stdout.hasPrefix("Operation force-check for d (ocf:heartbeat:Dummy) returned 0 (ok)"))
        let stop = try run(node, file, ["--force-stop", "-r", "d"])
        #expect(stop.status == 0)
        let stopped = try run(node, file, ["--force-check", "-r", "d"])
        #expect(stopped.status == 7)
        #expect(stopped.stdout.hasPrefix("Operation force-check for d (ocf:heartbeat:Dummy) returned 7 (not running"))
        #expect(stopped.stderr.hasSuffix("crm_resource: Error performing operation: Not running\n"))
    }

    /// --force-promote and --force-demote on a promotable clone's primitive (Pacemaker's
    /// Stateful agent): --force-check then says promoted (8) or ok (0), with Pacemaker's lines
    /// and exit codes; the same sequence through Pacemaker's crm_resource gives the same.
    @Test func forcePromoteDemoteStateful() throws {
        let agent = "/usr/lib/ocf/resource.d/pacemaker/Stateful"
        guard FileManager.default.isExecutableFile(atPath: agent) else {
            print("SKIPPED: forcePromoteDemoteStateful: \(agent) is not installed (apt-get install pacemaker)")
            return
        }
        let node = try LRMNode(name: "n1")
        try FileManager.default.createSymbolicLink(atPath: node.ocfRoot + "/resource.d/pacemaker", withDestinationPath: "/usr/lib/ocf/resource.d/pacemaker")
        let file = node.base + "/cib.xml"
        let id = "st-\(UUID().uuidString.prefix(8))"
        try Self.cib("""
            <clone id="ms"><meta_attributes id="ms-m"><nvpair id="ms-p" name="promotable" value="true"/></meta_attributes>
              <primitive id="\(id)" class="ocf" provider="pacemaker" type="Stateful"/>
            </clone>
            """).write(toFile: file, atomically: true, encoding: .utf8)
        let steps: [(String, Int32, String)] = [
            ("--force-start", 0, "0 (ok)"), ("--force-promote", 0, "0 (ok)"), ("--force-check", 8, "8 (promoted)"),
            ("--force-demote", 0, "0 (ok)"), ("--force-check", 0, "0 (ok)"), ("--force-stop", 0, "0 (ok)"),
            ("--force-check", 7, "7 (not running)"),
        ]
        var ours: [(Int32, String)] = []
        for (option, code, said) in steps {
            let r = try run(node, file, [option, "-r", id])
            let line = r.stdout.split(separator: "\n").first.map(String.init) ?? ""
            #expect(r.status == code, "\(option): \(r.stdout)\(r.stderr)")
            #expect(line.hasPrefix("Operation \(option.dropFirst(2)) for \(id) (ocf:pacemaker:Stateful) returned \(said)"), "\(option): \(line)")
            ours.append((r.status, line))
        }
        let peer = "/usr/sbin/crm_resource"
        guard FileManager.default.isExecutableFile(atPath: peer) else {
            print("SKIPPED: forcePromoteDemoteStateful: \(peer) is not installed; Pacemaker's side not compared")
            return
        }
        // Pacemaker's crm_resource keeps Stateful's state under its own HA_VARRUN: another id.
        let theirs = "st-\(UUID().uuidString.prefix(8))"
        let peerFile = node.base + "/peer.xml"
        try (try String(contentsOfFile: file, encoding: .utf8)).replacingOccurrences(of: id, with: theirs)
            .write(toFile: peerFile, atomically: true, encoding: .utf8)
        for (i, (option, _, _)) in steps.enumerated() {
            let r = try Tool.run(executable: peer, [option, "-r", theirs], env: ["CIB_file": peerFile])
            let line = (r.stdout.split(separator: "\n").first.map(String.init) ?? "").replacingOccurrences(of: theirs, with: id)
            #expect(r.status == ours[i].0 && line == ours[i].1, "\(option): Pacemaker \(r.status) \(line), ours \(ours[i].0) \(ours[i].1)")
        }
    }

    @Test func theCIBsTimeoutKillsAHungAgentsWholeGroup() async throws {
        let node = try LRMNode(name: "n1")
        let pidFile = node.base + "/hang.pids"
        _ = try node.hangingAgent(pidFile: pidFile)
        let file = node.base + "/cib.xml"
        try Self.cib("""
            <primitive id="stuck" class="ocf" provider="test" type="Hang">
              <operations><op id="stuck-start" name="start" interval="0" timeout="1s"/></operations>
            </primitive>
            """, opDefaults: #"<op_defaults><meta_attributes id="od"><nvpair id="od-t" name="timeout" value="300s"/></meta_attributes></op_defaults>"#)
            .write(toFile: file, atomically: true, encoding: .utf8)
        let result = try run(node, file, ["--force-start", "-r", "stuck"])
        #expect(result.status == 1)
        #expect(result.stderr.hasSuffix("crm_resource: Error performing operation: Error occurred\n"))
        #expect(result.stderr.hasPrefix("Operation force-start for stuck (ocf:test:Hang) could not be executed (Timed Out: the agent did not complete within 1s"), "\(result.stderr)")
        let spawned = pids(in: pidFile)
        #expect(spawned.count == 2)
        // Unlike Pacemaker 2.1.5's crm_resource, nothing of the agent is left running.
        // (Bounded: killed processes die asynchronously.)
        for pid in spawned { #expect(await eventually(within: .seconds(5)) { !ProcessTable.isRunning(pid) }, "pid \(pid) is still running") }
        if let leader = spawned.last { #expect(await eventually(within: .seconds(5)) { ProcessTable.liveMembers(ofGroup: leader).isEmpty }) }
    }

    @Test func errorsAndTheirExitCodes() throws {
        let node = try LRMNode(name: "n1")
        let file = node.base + "/cib.xml"
        try Self.cib("""
            <group id="g"><primitive id="g1" class="ocf" provider="heartbeat" type="Dummy"/></group>
            <primitive id="ghost" class="ocf" provider="heartbeat" type="NoSuchAgent"/>
            <primitive id="unit" class="systemd" type="nginx"/>
            """).write(toFile: file, atomically: true, encoding: .utf8)
        let unit = try run(node, file, ["--force-start", "-r", "unit"])
        #expect(unit.status == 3)
        // What Pacemaker 2.1.5's crm_resource prints, line for line.
        #expect(unit.stderr == """
            Operation force-start for unit (systemd:nginx) could not be executed (Error: Manual execution of the systemd standard is unsupported)
            crm_resource: Error performing operation: Unimplemented

            """, "\(unit.stderr)")
        let missing = try run(node, file, ["--force-start", "-r", "nope"])
        #expect(missing.status == 105)
        #expect(missing.stderr == "crm_resource: Resource 'nope' not found\nError performing operation: No such object\n", "\(missing.stderr)")
        let group = try run(node, file, ["--force-start", "-r", "g"])
        #expect(group.status == 3)
        #expect(group.stderr == "Sorry, the force-start option doesn't support group resources\ncrm_resource: Error performing operation: Unimplemented\n", "\(group.stderr)")
        let ghost = try run(node, file, ["--force-check", "-r", "ghost"])
        #expect(ghost.status == 5)
        #expect(ghost.stderr.contains("could not be executed (Not installed: resource agent ocf:heartbeat:NoSuchAgent is not installed"))
        let noResource = try run(node, file, ["--force-start"])
        #expect(noResource.status == 64)
        #expect(noResource.stderr == "crm_resource: Must supply a resource id with -r\n")
        let noCommand = try run(node, file, ["-r", "g1"])
        #expect(noCommand.status == 64)
        let noCIB = try Tool.run("crm_resource", ["--force-start", "-r", "d"], env: ["CIB_file": node.base + "/absent.xml"])
        #expect(noCIB.status != 0)
        #expect(noCIB.stderr.contains("absent.xml"))
    }

    /// A real agent given invalid parameters answers OCF_ERR_CONFIGURED (6), with its reason.
    @Test func invalidParametersGiveRc6() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/IPaddr2") else {
            print("SKIPPED: invalidParametersGiveRc6: ocf:heartbeat:IPaddr2 is not installed (apt-get install resource-agents)")
            return
        }
        let node = try LRMNode(name: "n1")
        let file = node.base + "/cib.xml"
        // No ip parameter: IPaddr2 refuses before it touches any interface.
        try Self.cib(#"<primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>"#).write(toFile: file, atomically: true, encoding: .utf8)
        let r = try run(node, file, ["--force-start", "-r", "vip"])
        #expect(r.status == 6)
        #expect(r.stdout.hasPrefix("Operation force-start for vip (ocf:heartbeat:IPaddr2) returned 6 (not configured: IP address (the ip parameter) is mandatory)"), "\(r.stdout)")
    }

    @Test func preparationReadsAgentParametersMetaAndTimeoutFromTheCIB() throws {
        let cib = try CIB.parse(Self.cib("""
            <template id="tpl" class="ocf" provider="heartbeat" type="Dummy">
              <instance_attributes id="tpl-ia"><nvpair id="tpl-a" name="a" value="from-template"/><nvpair id="tpl-b" name="b" value="template"/></instance_attributes>
            </template>
            <clone id="c">
              <meta_attributes id="c-ma"><nvpair id="c-max" name="clone-max" value="2"/></meta_attributes>
              <primitive id="p" template="tpl">
                <instance_attributes id="p-ia"><nvpair id="p-b" name="b" value="own"/></instance_attributes>
                <meta_attributes id="p-ma"><nvpair id="p-tr" name="target-role" value="Started"/></meta_attributes>
                <operations>
                  <op id="p-mon" name="monitor" interval="10s" timeout="45s">
                    <instance_attributes id="p-mon-ia"><nvpair id="p-cl" name="OCF_CHECK_LEVEL" value="10"/></instance_attributes>
                  </op>
                </operations>
              </primitive>
            </clone>
            """, opDefaults: #"<op_defaults><meta_attributes id="od"><nvpair id="od-t" name="timeout" value="90s"/></meta_attributes></op_defaults>"#))
        let check = try ForcedOperation.prepare("force-check", resource: "p:1", in: cib)
        #expect(check.request.agent == ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy"))
        #expect(check.request.resource == "p:1")
        #expect(check.request.action == .monitor)
        #expect(check.request.parameters == ["a": "from-template", "b": "own"])
        #expect(check.request.meta == ["clone-max": "2", "target-role": "Started"])
        #expect(check.request.timeout == .seconds(45))
        #expect(check.request.checkLevel == 10)
        // No start op: op_defaults' timeout; an explicit timeout wins over both.
        #expect(try ForcedOperation.prepare("force-start", resource: "c", in: cib).request.timeout == .seconds(90))
        #expect(try ForcedOperation.prepare("force-start", resource: "p", in: cib, timeout: .seconds(3)).request.timeout == .seconds(3))
        #expect(throws: ForcedOperation.Failure.self) { try ForcedOperation.prepare("force-start", resource: "zzz", in: cib) }
    }
}

/// Differential: Pacemaker's own crm_resource (Debian's pacemaker-cli-utils) and ours on the
/// same CIB print the same lines and exit with the same code.
@Suite struct CrmResourceDifferentialTests {
    @Test func sameOutputAndExitCodesAsPacemaker() throws {
        let peer = "/usr/sbin/crm_resource"
        guard FileManager.default.isExecutableFile(atPath: peer) else {
            print("SKIPPED: sameOutputAndExitCodesAsPacemaker: \(peer) is not installed (apt-get install pacemaker-cli-utils)")
            return
        }
        guard dummyInstalled("sameOutputAndExitCodesAsPacemaker"),
              FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/IPaddr2") else { return }
        let node = try LRMNode(name: "n1")
        let file = node.base + "/cib.xml"
        // A resource id no state file anywhere has, so both see Dummy stopped.
        let id = "swiftha-diff-\(UUID().uuidString.prefix(8))"
        try CrmResourceTests.cib("""
            <primitive id="\(id)" class="ocf" provider="heartbeat" type="Dummy"/>
            <group id="g"><primitive id="g1" class="ocf" provider="heartbeat" type="Dummy"/></group>
            <primitive id="unit" class="systemd" type="nginx"/>
            <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>
            """).write(toFile: file, atomically: true, encoding: .utf8)
        let cases: [[String]] = [
            ["--force-check", "-r", id], ["--force-start", "-r", "g"], ["--force-start", "-r", "nope"],
            ["--force-start", "-r", "unit"], ["--force-start", "-r", "vip"],
            ["--force-start"],
        ]
        for args in cases {
            let theirs = try runPeer(peer, args, cibFile: file)
            let ours = try Tool.run("crm_resource", args, env: ["CIB_file": file, "SWIFTHA_ROOT": node.root])
            #expect(ours.status == theirs.status, "\(args): exit \(ours.status), Pacemaker \(theirs.status)")
            #expect(ours.stdout == theirs.stdout, "\(args): stdout\n\(ours.stdout)\nPacemaker:\n\(theirs.stdout)")
            #expect(ours.stderr == theirs.stderr, "\(args): stderr\n\(ours.stderr)\nPacemaker:\n\(theirs.stderr)")
        }
    }

    func runPeer(_ path: String, _ args: [String], cibFile: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["CIB_file"] = cibFile
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}
