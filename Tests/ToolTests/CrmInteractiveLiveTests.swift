import CIB
import Foundation
import Testing
import TestSupport

/// The interactive crm shell on a pseudo-terminal against a live three-node cluster: the
/// configure level keeps its definitions in a working copy until commit (the live CIB does not
/// change before), leaving with changes pending asks (y commits, n discards), and the resource
/// and node levels act on the cluster at once. Prompts and messages are crmsh 4.4's.
@Suite(.serialized) struct CrmInteractiveLiveTests {
    /// Runs a program on a pty and plays steps (JSON): `{"send": LINE}` types a line and reads
    /// until the next prompt (`# ` or `(y/n)? ` at the end) or 20 s; `{"run": ARGV, "until":
    /// REGEX, "timeout": S}` runs a command (again, every 0.5 s, until its output matches).
    /// Prints the transcript as JSON:
    /// each step's output and whether it ended as expected, then the exit status (the program
    /// is killed if it has not ended 10 s after the last step).
    static let driver = #"""
        import json, os, pty, re, select, signal, subprocess, sys, time
        program, steps = sys.argv[1], json.load(open(sys.argv[2]))
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(program, [program], dict(os.environ, TERM="dumb"))
        prompt = re.compile(r"(# |\(y/n\)\? )$")
        def read_until(timeout, done):
            out, end = b"", time.time() + timeout
            while time.time() < end:
                if done(out.decode("utf-8", "replace")):
                    return out.decode("utf-8", "replace"), True
                r, _, _ = select.select([fd], [], [], 0.1)
                if r:
                    try:
                        chunk = os.read(fd, 65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    out += chunk
            text = out.decode("utf-8", "replace")
            return text, done(text)
        transcript = []
        first, ok = read_until(20, lambda t: prompt.search(t) is not None)
        transcript.append({"step": "start", "out": first, "ok": ok})
        for step in steps:
            if "send" in step:
                os.write(fd, (step["send"] + "\n").encode())
                if step.get("last"):
                    out, ok = read_until(10, lambda t: False)
                    ok = True
                else:
                    out, ok = read_until(20, lambda t: prompt.search(t) is not None)
                transcript.append({"step": step["send"], "out": out.replace("\r\n", "\n"), "ok": ok})
            else:
                end, out, ok = time.time() + step.get("timeout", 0), "", False
                while True:
                    r = subprocess.run(step["run"], capture_output=True, text=True)
                    out = r.stdout + r.stderr
                    ok = "until" not in step or re.search(step["until"], out) is not None
                    if ok or time.time() >= end:
                        break
                    time.sleep(0.5)
                transcript.append({"step": " ".join(step["run"]), "out": out, "ok": ok})
        status, end = None, time.time() + 10
        while time.time() < end:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
                break
            read_until(0.1, lambda t: False)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        print(json.dumps({"transcript": transcript, "status": status}))
        """#

    struct Step {
        var name: String
        var out: String
        var ok: Bool
    }

    @Test func configureCommitsOnlyAtCommitAndAsksBeforeLeaving() async throws {
        let fm = FileManager.default
        guard fm.isExecutableFile(atPath: "/usr/bin/python3"), fm.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/Dummy") else {
            print("SKIPPED: configureCommitsOnlyAtCommitAndAsksBeforeLeaving needs python3 (for its pseudo-terminal) and resource-agents (Dummy)")
            return
        }
        let c = try PacemakerCluster()
        defer { c.tearDown() }
        try await c.start()
        let props = PacemakerCluster.retrying {
            try? c[1].tool("crm_attribute", ["--type", "crm_config", "--name", "stonith-enabled", "--update", "false"])
        }
        try #require(props?.status == 0, "\(props?.stderr ?? "")")

        let bin = Tool.binDir.path
        func cib(_ xpath: String) -> [String] { ["\(bin)/cibadmin", "--query", "--xpath", xpath] }
        func locate(_ rsc: String) -> [String] { ["\(bin)/crm_resource", "--locate", "-r", rsc] }
        let steps: [[String: Any]] = [
            ["send": "configure"],
            ["send": "primitive d2 ocf:heartbeat:Dummy op monitor interval=5s"],
            ["send": "primitive d3 Dummy"],
            ["send": "group g1 d2 d3"],
            ["send": "location l-g1 g1 100: node2"],
            ["send": "show"],
            // Nothing has reached the cluster yet.
            ["run": cib("//resources")],
            ["send": "verify"],
            ["send": "commit"],
            ["run": cib("//group[@id='g1']")],
            ["run": cib("//rsc_location[@id='l-g1']")],
            ["run": locate("g1"), "until": "resource g1 is running on: node2", "timeout": 60],
            ["send": "commit"],
            // Pending again; up asks; n discards and goes up.
            ["send": "primitive d4 Dummy"],
            ["send": "up"],
            ["send": "n"],
            ["run": cib("//primitive[@id='d4']")],
            // The resource level acts at once.
            ["send": "resource"],
            ["send": "stop g1"],
            ["run": locate("g1"), "until": "NOT running", "timeout": 60],
            ["send": "start g1"],
            ["run": locate("g1"), "until": "resource g1 is running on: node2", "timeout": 60],
            ["send": "cleanup d2"],
            ["send": "up"],
            // So does the node level.
            ["send": "node"],
            ["send": "standby node2"],
            ["run": cib("//node[@uname='node2']//nvpair[@name='standby']")],
            ["run": locate("g1"), "until": "running on: node[13]", "timeout": 60],
            ["send": "online node2"],
            ["run": cib("//node[@uname='node2']//nvpair[@name='standby']")],
            ["run": locate("g1"), "until": "resource g1 is running on: node2", "timeout": 60],
            ["send": "up"],
            // Changes pending at exit: asked; y commits them and ends the session.
            ["send": "configure"],
            ["send": "primitive d5 Dummy meta target-role=Stopped"],
            ["send": "exit"],
            ["send": "y", "last": true],
        ]
        let dir = scratchDirectory("crm-interactive")
        defer { try? fm.removeItem(atPath: dir) }
        try Self.driver.write(toFile: dir + "/driver.py", atomically: true, encoding: .utf8)
        try JSONSerialization.data(withJSONObject: steps).write(to: URL(fileURLWithPath: dir + "/steps.json"))
        let r = try Tool.run(executable: "/usr/bin/python3", [dir + "/driver.py", bin + "/crm", dir + "/steps.json"],
                             env: ["SWIFTHA_ROOT": c[1].root, "SWIFTHA_NODE": "node1"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\(r.stderr)")
        let transcript = (report["transcript"] as? [[String: Any]] ?? []).map {
            Step(name: $0["step"] as? String ?? "", out: $0["out"] as? String ?? "", ok: $0["ok"] as? Bool ?? false)
        }
        try #require(transcript.count == steps.count + 1, "\(transcript)")
        let all = transcript.map { "[\($0.name)] \($0.out)" }.joined(separator: "\n")
        for s in transcript { #expect(s.ok, "step '\(s.name)' did not end as expected: \(s.out.debugDescription)\n\(all)\n\(c.report)") }
        func out(_ i: Int) -> String { transcript[i + 1].out }

        // crmsh's prompts: crm(live/HOST)# at the top, the level after it.
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(transcript[0].out == "crm(live/\(host))# ", "\(transcript[0].out.debugDescription)")
        #expect(out(0) == "configure\ncrm(live/\(host))configure# ", "\(out(0).debugDescription)")
        #expect(out(4) == "location l-g1 g1 100: node2\ncrm(live/\(host))configure# ")
        // show: the pending definitions.
        #expect(out(5).contains("primitive d2 Dummy \\\n\top monitor interval=5s\n") && out(5).contains("group g1 d2 d3\n")
                    && out(5).contains("location l-g1 g1 100: node2\n"), "\(out(5))")
        // The live CIB had none of it before commit.
        #expect(out(6).contains("<resources/>") || out(6).contains("<resources></resources>"), "before commit: \(out(6))")
        // verify and commit: quiet when all is well.
        #expect(out(7) == "verify\ncrm(live/\(host))configure# ", "\(out(7).debugDescription)")
        #expect(out(8) == "commit\ncrm(live/\(host))configure# ", "\(out(8).debugDescription)")
        #expect(out(9).contains(#"<primitive id="d2""#) && out(9).contains(#"<primitive id="d3""#), "\(out(9))")
        #expect(out(10).contains(#"rsc="g1""#) && out(10).contains(#"node="node2""#), "\(out(10))")
        // A commit with nothing pending says so, as crmsh does.
        #expect(out(12) == "commit\nINFO: apparently there is nothing to commit\nINFO: try changing something first\ncrm(live/\(host))configure# ", "\(out(12).debugDescription)")
        // up with changes pending asks; n discards them and goes up.
        #expect(out(14) == "up\nThere are changes pending. Do you want to commit them (y/n)? ", "\(out(14).debugDescription)")
        #expect(out(15) == "n\ncrm(live/\(host))# ", "\(out(15).debugDescription)")
        #expect(!out(16).contains("<primitive"), "d4 reached the cluster: \(out(16))")
        #expect(out(17) == "resource\ncrm(live/\(host))resource# ")
        // stop and start: quiet, as crmsh's (a meta attribute set at once).
        #expect(out(18) == "stop g1\ncrm(live/\(host))resource# ", "\(out(18).debugDescription)")
        #expect(out(20) == "start g1\ncrm(live/\(host))resource# ", "\(out(20).debugDescription)")
        // cleanup: crm_resource's lines (d2 stands for its group: d2 and d3, where known).
        #expect(out(22).hasPrefix("cleanup d2\n") && out(22).contains("Cleaned up d2 on node2\n") && out(22).contains("Cleaned up d3 on node2\n"),
                "\(out(22).debugDescription)")
        #expect(out(24) == "node\ncrm(live/\(host))node# ")
        #expect(out(25) == "standby node2\nINFO: standby node node2\ncrm(live/\(host))node# ", "\(out(25).debugDescription)")
        #expect(out(26).contains(#"value="on""#), "\(out(26))")
        #expect(out(28) == "online node2\nINFO: online node node2\ncrm(live/\(host))node# ", "\(out(28).debugDescription)")
        #expect(out(29).contains(#"value="off""#), "\(out(29))")
        // exit: crmsh's deprecation notice, the question, y commits, bye.
        #expect(out(34) == "exit\nWARNING: This command 'exit' is deprecated, please use 'quit'\nINFO: \"exit\" is accepted as \"quit\"\nThere are changes pending. Do you want to commit them (y/n)? ",
                "\(out(34).debugDescription)")
        #expect(out(35) == "y\nbye\n", "\(out(35).debugDescription)")
        #expect(report["status"] as? Int == 0, "\(report)")
        #expect(c[1].query("//primitive[@id='d5']").count == 1, "d5 was not committed at exit")
        #expect(c[1].query("//primitive[@id='d4']").isEmpty)

        // Another session: quit with changes pending, answered n: discarded, and it ends.
        try JSONSerialization.data(withJSONObject: [["send": "configure"], ["send": "primitive d6 Dummy"], ["send": "quit"], ["send": "n", "last": true]])
            .write(to: URL(fileURLWithPath: dir + "/steps.json"))
        let second = try Tool.run(executable: "/usr/bin/python3", [dir + "/driver.py", bin + "/crm", dir + "/steps.json"],
                                  env: ["SWIFTHA_ROOT": c[2].root, "SWIFTHA_NODE": "node2"])
        let report2 = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any], "\(second.stdout)\(second.stderr)")
        let outs = (report2["transcript"] as? [[String: Any]] ?? []).map { $0["out"] as? String ?? "" }
        try #require(outs.count == 5, "\(outs)")
        #expect(outs[3] == "quit\nThere are changes pending. Do you want to commit them (y/n)? ", "\(outs[3].debugDescription)")
        #expect(outs[4] == "n\nbye\n", "\(outs[4].debugDescription)")
        #expect(report2["status"] as? Int == 0, "\(report2)")
        #expect(c[1].query("//primitive[@id='d6']").isEmpty, "d6 was committed though the answer was n")
    }
}
