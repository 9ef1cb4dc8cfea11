import Foundation
import TestSupport
import Testing

/// Plain `crm_mon` on a terminal: it clears the screen and shows the status again at each
/// interval, so a change appears without a new command; `q` ends it, exit 0. Driven through
/// a real pseudo-terminal (Python's pty module).
@Suite struct CrmMonLiveTests {
    static let cib = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources/>
            <constraints/>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>
          </status>
        </cib>
        """

    /// Runs crm_mon -i 1 on a pty: reads 2.5 s of screen, puts node2 in standby in the CIB
    /// file, reads 2.5 s more, types q, and reports both parts and the exit status (crm_mon
    /// is killed if it has not ended 5 s after the q).
    static let driver = #"""
        import json, os, pty, select, signal, sys, time
        crm_mon, cib = sys.argv[1], sys.argv[2]
        pid, fd = pty.fork()
        if pid == 0:
            env = dict(os.environ, CIB_file=cib, TERM="xterm")
            os.execve(crm_mon, [crm_mon, "-i", "1"], env)
        def read_for(seconds):
            out, end = b"", time.time() + seconds
            while time.time() < end:
                r, _, _ = select.select([fd], [], [], 0.1)
                if r:
                    try:
                        out += os.read(fd, 65536)
                    except OSError:
                        break
            return out.decode("utf-8", "replace")
        first = read_for(2.5)
        text = open(cib).read().replace('<node id="2" uname="node2"/>',
            '<node id="2" uname="node2"><instance_attributes id="n2"><nvpair id="n2s" name="standby" value="on"/></instance_attributes></node>')
        open(cib + ".new", "w").write(text)
        os.rename(cib + ".new", cib)
        second = read_for(2.5)
        os.write(fd, b"q")
        status, end = None, time.time() + 5
        while time.time() < end:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
                break
            read_for(0.1)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        print(json.dumps({"first": first, "second": second, "status": status}))
        """#

    @Test func refreshesUntilQ() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            print("SKIPPED: refreshesUntilQ needs python3 for its pseudo-terminal")
            return
        }
        let dir = scratchDirectory("crm_mon-live")
        let cib = dir + "/cib.xml", script = dir + "/driver.py"
        try Self.cib.write(toFile: cib, atomically: true, encoding: .utf8)
        try Self.driver.write(toFile: script, atomically: true, encoding: .utf8)
        let crmMon = Tool.binDir.appendingPathComponent("crm_mon").path
        let r = try Tool.run(executable: "/usr/bin/python3", [script, crmMon, cib])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
        let first = report["first"] as? String ?? "", second = report["second"] as? String ?? ""
        // Each refresh homes the cursor and clears the screen, then shows the whole status.
        let clear = "\u{1B}[H\u{1B}[2J"
        #expect(first.hasPrefix(clear), "\(first.debugDescription)")
        #expect(first.components(separatedBy: clear).count - 1 >= 2, "at least two screens in 2.5 s at -i 1: \(first.debugDescription)")
        #expect(first.contains("Online: [ node1 node2 ]"))
        // The change in the CIB shows on a later screen, with no new command.
        let last = second.components(separatedBy: clear).last ?? ""
        #expect(last.contains("Node node2: standby"), "\(second.debugDescription)")
        #expect(last.contains("Online: [ node1 ]"))
        #expect(report["status"] as? Int == 0, "crm_mon ends with q, exit 0: \(report)")
    }
}
