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

    @Test func journalFieldsAndPriorities() {
        #expect(JournalLogHandler.priority(.error) == 3)
        #expect(JournalLogHandler.priority(.debug) == 7)
        #expect(CIBLocation.fromEnvironment(["CIB_file": "/tmp/x.xml"]) == .file("/tmp/x.xml"))
        #expect(CIBLocation.fromEnvironment([:]) == .live)
    }
}
