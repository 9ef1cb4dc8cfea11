import CIB
import PolicyEngine
import Testing

/// The allocation and promotion scores the scheduler reports (crm_simulate -s): the node
/// scores each assignment stage decided with, and each promotable instance's promotion score.
@Suite struct ScoreTests {
    func lines(_ resources: String, constraints: String = "", status: String = "") throws -> [String] {
        try TwoNodeCluster.schedule(resources, constraints: constraints, status: status, scores: true).scores.map(\.text)
    }

    @Test func scoresAreOnlyRecordedWhenAskedFor() throws {
        let t = try TwoNodeCluster.schedule(#"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"/>"#)
        #expect(t.scores.isEmpty)
    }

    @Test func primitiveScoresIncludeLocationsAndStickiness() throws {
        let sticky = #"<primitive id="vip" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m"><nvpair id="m1" name="resource-stickiness" value="200"/></meta_attributes></primitive>"#
        let running = """
        <lrm id="1"><lrm_resources><lrm_resource id="vip" class="ocf" provider="heartbeat" type="Dummy">
          <lrm_rsc_op id="vip_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
        </lrm_resource></lrm_resources></lrm>
        """
        let l = try lines(sticky, constraints: #"<rsc_location id="l" rsc="vip" node="node2" score="100"/>"#, status: running)
        #expect(l == ["pcmk__primitive_assign: vip allocation score on node1: 200",
                      "pcmk__primitive_assign: vip allocation score on node2: 100"])
    }

    @Test func groupScoresThenEachMemberAfterColocation() throws {
        let group = """
        <group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></group>
        """
        let l = try lines(group, constraints: #"<rsc_location id="l" rsc="g" node="node1" score="-INFINITY"/>"#)
        // The group and its members as the group stage sees them, then each member when it is
        // placed: the second follows the first (a mandatory colocation), so node1 is out.
        #expect(l.contains("pcmk__group_assign: g allocation score on node1: -INFINITY"))
        #expect(l.contains("pcmk__group_assign: a allocation score on node1: -INFINITY"))
        #expect(l.contains("pcmk__primitive_assign: a allocation score on node2: 0"))
        #expect(l.contains("pcmk__primitive_assign: b allocation score on node1: -INFINITY"))
        #expect(l.contains("pcmk__primitive_assign: b allocation score on node2: 0"))
        #expect(l.count == 10)
    }

    @Test func promotableCloneShowsPromotionScores() throws {
        let clone = """
        <clone id="ms"><meta_attributes id="msm"><nvpair id="msm1" name="promotable" value="true"/><nvpair id="msm2" name="clone-max" value="3"/></meta_attributes>
          <primitive id="st" class="ocf" provider="pacemaker" type="Stateful"/></clone>
        """
        let l = try lines(clone, constraints: """
            <rsc_location id="l" rsc="ms" role="Promoted" node="node2" score="40"/>
            """)
        #expect(l.contains("pcmk__clone_assign: ms allocation score on node1: 0"))
        // Two instances run (one a node); the third runs nowhere. With no promotion score
        // attribute an instance's priority is -1, plus 40 for the Promoted role on node2.
        let promotion = l.filter { $0.contains("promotion score") }.sorted()
        #expect(promotion.count == 3)
        #expect(promotion.contains { $0.hasSuffix("promotion score on node2: 39") })
        #expect(promotion.contains { $0.hasSuffix("promotion score on node1: -1") })
        #expect(promotion.contains { $0.hasSuffix("promotion score (inactive): -INFINITY") })
    }
}
