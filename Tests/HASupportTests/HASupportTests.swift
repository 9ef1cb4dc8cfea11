import Foundation
import HASupport
import Logging
import Testing
import ToolSupport

@Suite struct HASupportTests {
    @Test func nodeEnvironmentPaths() {
        let env = NodeEnvironment(root: nil, node: nil, environment: ["SWIFTHA_ROOT": "/tmp/n1", "SWIFTHA_NODE": "node1"])
        #expect(env.root == "/tmp/n1")
        #expect(env.node == "node1")
        #expect(env.cibDirectory == "/tmp/n1/var/lib/pacemaker/cib")
        #expect(env.corosyncConf == "/tmp/n1/etc/corosync/corosync.conf")
        let def = NodeEnvironment(root: nil, node: nil, environment: [:])
        #expect(def.root == "/")
        #expect(def.path("run/swiftha") == "/run/swiftha")
        #expect(NodeEnvironment(root: "/x", node: "n", environment: ["SWIFTHA_ROOT": "/y"]).root == "/x")
    }

    @Test func exitCodesArePacemakers() {
        #expect(CRMExit.config.rawValue == 78)
        #expect(CRMExit.noSuchObject.rawValue == 105)
        #expect(CRMExit.exists.rawValue == 108)
        #expect(CRMExit.usage.rawValue == 64)
        #expect(CRMExit.disconnect.rawValue == 102)
    }

    /// The stderr/log-file line: the journal's short-iso-precise form, which crm history reads.
    @Test func logLinesCarryTimeNodeProgramAndLevel() {
        let t = Date(timeIntervalSince1970: 1_795_514_406.25)
        #expect(JournalLogHandler.line(time: t, host: "node1", label: "crmd", pid: 12, level: .info, message: "transition 1: 3 action(s)",
                                       zone: TimeZone(secondsFromGMT: 0)!)
                == "2026-11-24T10:00:06.250000+00:00 node1 crmd[12]: info: transition 1: 3 action(s)\n")
        #expect(JournalLogHandler.line(time: t, host: "n", label: "lrmd", pid: 1, level: .warning, message: "x", zone: TimeZone(secondsFromGMT: -5400)!)
                == "2026-11-24T08:30:06.250000-01:30 n lrmd[1]: warning: x\n")
    }

    @Test func journalFieldsAndPriorities() {
        #expect(JournalLogHandler.priority(.error) == 3)
        #expect(JournalLogHandler.priority(.debug) == 7)
        #expect(CIBLocation.fromEnvironment(["CIB_file": "/tmp/x.xml"]) == .file("/tmp/x.xml"))
        #expect(CIBLocation.fromEnvironment([:]) == .live)
    }
}
