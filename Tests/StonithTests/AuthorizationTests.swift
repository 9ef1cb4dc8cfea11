import CIB
import Stonith
import Testing

/// stonithd carries out a controller's fencing request only on the DC's node (the CIB's
/// dc-uuid); an administrator's tool is obeyed anywhere.
@Suite struct AuthorizationTests {
    static func cib(dc: String?) throws -> CIB {
        let attribute = dc.map { #" dc-uuid="\#($0)""# } ?? ""
        return try CIB.parse("""
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0"\(attribute)><configuration><crm_config/>\
        <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/><node id="3" uname="node3"/></nodes>\
        <resources/><constraints/></configuration><status/></cib>
        """)
    }

    @Test func onlyTheDCsControllerMayFence() throws {
        let dc1 = try Self.cib(dc: "1")
        // The DC's controller, under our name and Pacemaker's.
        #expect(FenceRequestAuthorization.refusal(client: "crmd", target: "node3", localNode: "node1", cib: dc1) == nil)
        #expect(FenceRequestAuthorization.refusal(client: "pacemaker-controld", target: "node3", localNode: "node1", cib: dc1) == nil)
        // Another node's controller is refused, with what to do.
        let refused = try #require(FenceRequestAuthorization.refusal(client: "crmd", target: "node3", localNode: "node2", cib: dc1))
        #expect(refused.contains("node2 is not the DC") && refused.contains("the CIB names node1") && refused.contains("stonith_admin"), "\(refused)")
        // No DC at all: refused.
        let none = try #require(FenceRequestAuthorization.refusal(client: "crmd", target: "node3", localNode: "node1", cib: try Self.cib(dc: nil)))
        #expect(none.contains("no DC"), "\(none)")
        // A DC the nodes section does not name: compared by id, so still refused elsewhere.
        #expect(FenceRequestAuthorization.refusal(client: "crmd", target: "node1", localNode: "node2", cib: try Self.cib(dc: "9")) != nil)
        // An administrator's tool is no controller: obeyed on any node, with or without a DC.
        #expect(FenceRequestAuthorization.refusal(client: "stonith_admin", target: "node3", localNode: "node2", cib: dc1) == nil)
        #expect(FenceRequestAuthorization.refusal(client: "stonith_admin", target: "node3", localNode: "node2", cib: try Self.cib(dc: nil)) == nil)
    }
}
