import CIB
import PolicyEngine
import Testing

/// The scheduler on small hand-written CIBs: the placements and changes an operator expects.
@Suite struct PlacementTests {
    func schedule(_ resources: String, constraints: String = "", status: String = "") throws -> Transition {
        try TwoNodeCluster.schedule(resources, constraints: constraints, status: status)
    }

    let dummy = #"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"/>"#

    @Test func locationPreferenceDecides() throws {
        let t = try schedule(dummy, constraints: #"<rsc_location id="l" rsc="vip" node="node2" score="100"/>"#)
        #expect(t.placements.first?.next == "node2")
        #expect(t.placements.first?.scores.first?.score == 100)
        #expect(t.changes.map(\.text) == ["  * Start      vip     ( node2 )"])
    }

    @Test func runningResourceStaysWithStickinessAndMovesWithoutIt() throws {
        let running = """
        <lrm id="1"><lrm_resources><lrm_resource id="vip" class="ocf" provider="heartbeat" type="Dummy">
          <lrm_rsc_op id="vip_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
        </lrm_resource></lrm_resources></lrm>
        """
        let sticky = #"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="resource-stickiness" value="200"/></meta_attributes></primitive>"#
        let prefer2 = #"<rsc_location id="l" rsc="vip" node="node2" score="100"/>"#
        let stays = try schedule(sticky, constraints: prefer2, status: running)
        #expect(stays.placements.first?.next == "node1")
        #expect(stays.changes.isEmpty)
        let moves = try schedule(dummy, constraints: prefer2, status: running)
        #expect(moves.changes.map(\.text) == ["  * Move       vip     ( node1 -> node2 )"])
    }

    @Test func mandatoryColocationAndBan() throws {
        let two = dummy + #"<primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/>"#
        let t = try schedule(two, constraints: """
            <rsc_location id="l" rsc="vip" node="node1" score="-INFINITY"/>
            <rsc_colocation id="c" rsc="web" with-rsc="vip" score="INFINITY"/>
            """)
        #expect(t.placements.map(\.next) == ["node2", "node2"])
        let banned = try schedule(two, constraints: """
            <rsc_location id="l1" rsc="vip" node="node1" score="-INFINITY"/>
            <rsc_location id="l2" rsc="vip" node="node2" score="-INFINITY"/>
            <rsc_colocation id="c" rsc="web" with-rsc="vip" score="INFINITY"/>
            """)
        #expect(banned.placements.map(\.next) == [nil, nil])
        #expect(banned.changes.isEmpty)
    }
}
