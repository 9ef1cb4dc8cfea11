import Foundation
import Stonith
import Testing

/// stonith_admin's output in Pacemaker 2.1.5's layout (st_output.c, pcmk_fence.c).
@Suite struct AdminOutputTests {
    let utc = TimeZone(identifier: "UTC")!
    let paris = TimeZone(identifier: "Europe/Paris")!

    func event(_ id: String, _ target: String, _ action: FenceAction, _ state: FenceEvent.State, delegate: String?, completed: Double?, reason: String? = nil) -> FenceEvent {
        FenceEvent(id: id, target: target, action: action, state: state, delegate: delegate, origin: "node1", client: "stonith_admin.42",
                   exitReason: reason, requested: Date(timeIntervalSince1970: 1_700_000_000), completed: completed.map { Date(timeIntervalSince1970: $0) })
    }

    @Test func timesAreLocalWithTheirOffset() {
        let d = Date(timeIntervalSince1970: 1_700_000_000)  // 2023-11-14 22:13:20 UTC
        #expect(StonithAdminOutput.time(d, in: utc) == "2023-11-14 22:13:20Z")
        #expect(StonithAdminOutput.time(d, in: paris) == "2023-11-14 23:13:20 +01:00")
    }

    @Test func historyLikePacemaker() {
        let ok = event("a", "node3", .reboot, .done, delegate: "node1", completed: 1_700_000_010)
        let bad = event("b", "node3", .reboot, .failed, delegate: "node2", completed: 1_700_000_005, reason: "fence_x: exit status 1")
        let pending = event("c", "node3", .off, .pending, delegate: nil, completed: nil)
        let verbose = StonithAdminOutput.historyText([bad, ok, pending], verbose: true, quiet: false, zone: utc)
        #expect(verbose == """
        turning off of node3 pending: client=stonith_admin.42, origin=node1
        reboot of node3 successful: delegate=node1, client=stonith_admin.42, origin=node1, completed='2023-11-14 22:13:30Z'
        reboot of node3 failed (fence_x: exit status 1): delegate=node2, client=stonith_admin.42, origin=node1, completed='2023-11-14 22:13:25Z' (a later attempt from node1 succeeded)
        3 events found

        """)
        let short = StonithAdminOutput.historyText([bad, ok], verbose: false, quiet: false, zone: utc)
        #expect(short == "reboot of node3 successful: delegate=node1, client=stonith_admin.42, origin=node1, last-successful='2023-11-14 22:13:30Z'\n1 event found\n")
        #expect(StonithAdminOutput.historyText([], verbose: false, quiet: false) == "0 events found\n")
        #expect(StonithAdminOutput.historyText([bad, ok], verbose: false, quiet: true) == "1700000010\n")
        let confirmation = event("d", "node4", .off, .done, delegate: FenceEvent.human, completed: 1_700_000_000)
        #expect(StonithAdminOutput.historyText([confirmation], verbose: true, quiet: false, zone: utc)
                == "turning off of node4 successful: delegate=a human, client=stonith_admin.42, origin=node1, completed='2023-11-14 22:13:20Z'\n1 event found\n")
    }

    @Test func listOutputIsReadAsPacemakerReadsIt() {
        #expect(StonithAdminOutput.parseTargets("node1,\nnode2,alias2\n") == ["node1", "node2", "alias2"])
        #expect(StonithAdminOutput.parseTargets("vm-1 on\nvm-2 off\nWARNING: invalid option x\n") == ["vm-1", "vm-2"])
        #expect(StonithAdminOutput.parseTargets("a;b c\\nd") == ["a", "b", "c", "d"])
    }

    @Test func listsAndXML() {
        #expect(StonithAdminOutput.listText(["a"], singular: "fence device", plural: "fence devices") == "a\n1 fence device found\n")
        #expect(StonithAdminOutput.listText([], singular: "fence device", plural: "fence devices") == "0 fence devices found\n")
        let xml = StonithAdminOutput.xmlResult(request: "stonith_admin -L --output-as=xml",
                                               body: StonithAdminOutput.xmlList(name: "registered fence devices", items: ["d<1>"], itemName: "device"),
                                               code: 0, message: "OK")
        #expect(xml == """
        <pacemaker-result api-version="2.25" request="stonith_admin -L --output-as=xml">
          <list name="registered fence devices" count="1">
            <item name="device">d&lt;1&gt;</item>
          </list>
          <status code="0" message="OK"/>
        </pacemaker-result>

        """)
        let ok = event("a", "node3", .reboot, .done, delegate: "node1", completed: 1_700_000_010)
        #expect(StonithAdminOutput.xmlEvent(ok, zone: utc)
                == #"<fence_event action="reboot" target="node3" client="stonith_admin.42" origin="node1" status="success" delegate="node1" completed="2023-11-14 22:13:30Z"/>"#)
    }
}
