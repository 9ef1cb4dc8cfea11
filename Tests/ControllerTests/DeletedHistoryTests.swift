import CIB
import Controller
import Testing

/// Which of a node's resource histories a CIB change deleted (crm_resource --cleanup and
/// --refresh): the node's controller has lrmd forget those, and nothing else.
@Suite struct DeletedHistoryTests {
    static func state(_ id: String, _ resources: [String]) -> String {
        let rscs = resources.map {
            #"<lrm_resource id="\#($0)" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="\#($0)_last_0" operation_key="\#($0)_start_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0"/></lrm_resource>"#
        }.joined()
        return #"<node_state id="\#(id)" uname="node\#(id)"><lrm id="\#(id)"><lrm_resources>\#(rscs)</lrm_resources></lrm></node_state>"#
    }

    static func cib(_ states: String) throws -> CIB {
        try CIB.parse(#"<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/><resources/><constraints/></configuration><status>\#(states)</status></cib>"#)
    }

    @Test func aDeletedLrmResourceIsNamedForItsNodeOnly() throws {
        let before = try Self.cib(Self.state("1", ["d1", "d2"]) + Self.state("2", ["d1", "d2"]))
        // node1's d1 and node2's d2 deleted; node1's d2 loses only an operation.
        let after = try Self.cib(Self.state("1", ["d2"]) + Self.state("2", ["d1"]))
        let patch = CIBPatch.diff(before, after)
        #expect(StatusWrites.deletedHistories(in: patch, nodeID: "1") == ["d1"])
        #expect(StatusWrites.deletedHistories(in: patch, nodeID: "2") == ["d2"])
        #expect(StatusWrites.deletedHistories(in: patch, nodeID: "3").isEmpty)
        // An operation deleted (a cancelled monitor), or the whole lrm (a fenced node, a join
        // record written again): no history named.
        let opOnly = try Self.cib(Self.state("1", ["d1", "d2"]).replacingOccurrences(of: #"<lrm_rsc_op id="d2_last_0" operation_key="d2_start_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0"/>"#, with: "") + Self.state("2", ["d1", "d2"]))
        #expect(StatusWrites.deletedHistories(in: CIBPatch.diff(before, opOnly), nodeID: "1").isEmpty)
        let noLrm = try Self.cib(#"<node_state id="1" uname="node1"/>"# + Self.state("2", ["d1", "d2"]))
        #expect(StatusWrites.deletedHistories(in: CIBPatch.diff(before, noLrm), nodeID: "1").isEmpty)
    }
}
