import CIB
import PolicyEngine
import Testing

/// Utilization and placement-strategy on small hand-written CIBs: node capacities limit what
/// may run where, and each strategy breaks ties between equally good nodes its own way.
@Suite struct UtilizationTests {
    /// Two (or more) online nodes with the given cpu capacities, nothing running.
    func schedule(strategy: String, capacities: [Int], resources: String, constraints: String = "") throws -> Transition {
        let nodes = capacities.enumerated().map { n, cpu in
            """
            <node id="\(n + 1)" uname="node\(n + 1)"><utilization id="u\(n + 1)">\
            <nvpair id="u\(n + 1)-cpu" name="cpu" value="\(cpu)"/></utilization></node>
            """
        }.joined()
        let states = capacities.indices.map { n in
            #"<node_state id="\#(n + 1)" uname="node\#(n + 1)" in_ccm="true" crmd="online" join="member" expected="member"/>"#
        }.joined()
        let xml = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o">
              <nvpair id="o1" name="stonith-enabled" value="false"/>
              <nvpair id="o2" name="placement-strategy" value="\(strategy)"/>
            </cluster_property_set></crm_config>
            <nodes>\(nodes)</nodes>
            <resources>\(resources)</resources>
            <constraints>\(constraints)</constraints>
          </configuration>
          <status>\(states)</status>
        </cib>
        """
        return Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 0)).1
    }

    /// A primitive needing `cpu`, with an optional priority.
    func rsc(_ id: String, cpu: Int, priority: Int? = nil) -> String {
        let meta = priority.map { #"<meta_attributes id="\#(id)-m"><nvpair id="\#(id)-p" name="priority" value="\#($0)"/></meta_attributes>"# } ?? ""
        return """
        <primitive id="\(id)" class="ocf" provider="pacemaker" type="Dummy">\(meta)\
        <utilization id="\(id)-u"><nvpair id="\(id)-u-cpu" name="cpu" value="\(cpu)"/></utilization></primitive>
        """
    }

    func placed(_ t: Transition) -> [String: String] {
        Dictionary(uniqueKeysWithValues: t.placements.map { ($0.resource, $0.next ?? "-") })
    }

    @Test func aResourceGoesOnlyWhereItFits() throws {
        // node1 is preferred, but only node2 has room for 3 cpus.
        let t = try schedule(strategy: "utilization", capacities: [2, 4], resources: rsc("big", cpu: 3),
                             constraints: #"<rsc_location id="l" rsc="big" node="node1" score="100"/>"#)
        #expect(placed(t) == ["big": "node2"])
        // Without a strategy, capacities are ignored and the preference wins.
        let ignored = try schedule(strategy: "default", capacities: [2, 4], resources: rsc("big", cpu: 3),
                                   constraints: #"<rsc_location id="l" rsc="big" node="node1" score="100"/>"#)
        #expect(placed(ignored) == ["big": "node1"])
    }

    @Test func whatFitsNowhereStaysStoppedAndCapacityIsUsedUp() throws {
        let t = try schedule(strategy: "utilization", capacities: [2, 2],
                             resources: rsc("a", cpu: 2) + rsc("b", cpu: 2) + rsc("c", cpu: 1) + rsc("huge", cpu: 5))
        let p = placed(t)
        #expect(p["huge"] == "-")
        #expect(Set([p["a"], p["b"]]) == ["node1", "node2"])
        // a and b fill both nodes: nothing is left for c.
        #expect(p["c"] == "-")
        #expect(!t.changes.map(\.text).contains { $0.contains("huge") })
    }

    @Test func eachStrategyBreaksTiesItsOwnWay() throws {
        let two = rsc("r1", cpu: 1) + rsc("r2", cpu: 1)
        // minimal fills the first node before using another.
        #expect(placed(try schedule(strategy: "minimal", capacities: [4, 8], resources: two)) == ["r1": "node1", "r2": "node1"])
        // utilization spreads by the number of resources.
        #expect(placed(try schedule(strategy: "utilization", capacities: [4, 8], resources: two)) == ["r1": "node1", "r2": "node2"])
        // balanced prefers the node with more free capacity: node2 keeps more even after r1.
        #expect(placed(try schedule(strategy: "balanced", capacities: [4, 8], resources: two)) == ["r1": "node2", "r2": "node2"])
        // ... and evens out once the capacities are equal.
        #expect(placed(try schedule(strategy: "balanced", capacities: [4, 5], resources: two)) == ["r1": "node2", "r2": "node1"])
    }

    @Test func aGroupNeedsRoomForAllItsMembers() throws {
        let group = #"<group id="g">"# + rsc("m1", cpu: 2) + rsc("m2", cpu: 2) + "</group>"
        // node1 is preferred and holds either member alone, but not both.
        let t = try schedule(strategy: "utilization", capacities: [3, 4], resources: group,
                             constraints: #"<rsc_location id="l" rsc="g" node="node1" score="100"/>"#)
        #expect(placed(t) == ["m1": "node2", "m2": "node2"])
    }

    @Test func colocatedResourcesAreCountedTogether() throws {
        // dep must run with base; together they need 4 cpus, which only node2 has.
        let t = try schedule(strategy: "utilization", capacities: [3, 4], resources: rsc("base", cpu: 2) + rsc("dep", cpu: 2),
                             constraints: """
                             <rsc_colocation id="c" rsc="dep" with-rsc="base" score="INFINITY"/>
                             <rsc_location id="l" rsc="base" node="node1" score="100"/>
                             """)
        #expect(placed(t) == ["base": "node2", "dep": "node2"])
    }

    @Test func whenNothingHoldsAllTheMostCapableNodeIsPreferred() throws {
        // base and dep need 5 cpus together, which no node has: base goes where most is free
        // (node2, though node1 sorts first), and dep, which fits only beside it, cannot follow.
        let t = try schedule(strategy: "utilization", capacities: [3, 4], resources: rsc("base", cpu: 2) + rsc("dep", cpu: 3),
                             constraints: #"<rsc_colocation id="c" rsc="dep" with-rsc="base" score="INFINITY"/>"#)
        #expect(placed(t) == ["base": "node2", "dep": "-"])
    }

    @Test func higherPriorityIsPlacedFirst() throws {
        // One slot: the more important resource takes it, whatever the configuration order.
        let t = try schedule(strategy: "utilization", capacities: [2, 0],
                             resources: rsc("low", cpu: 2, priority: 1) + rsc("high", cpu: 2, priority: 10))
        #expect(placed(t) == ["low": "-", "high": "node1"])
    }

    @Test func startsWaitForTheirNodesLoadStoppedPoint() throws {
        let t = try schedule(strategy: "utilization", capacities: [2, 2], resources: rsc("a", cpu: 1))
        let g = t.graph
        let keys = g.actions.map(\.key)
        #expect(keys.contains("load_stopped_node1") && keys.contains("load_stopped_node2"))
        let start = try #require(g.actions.firstIndex { $0.key == "a_start_0" })
        let node = try #require(g.actions[start].node)
        #expect(g.inputs[start].map { g.actions[$0].key }.contains("load_stopped_\(node)"))
        #expect(g.simulationLines().contains("  * Pseudo action:   load_stopped_node1"))
        // The default strategy has no such points.
        let plain = try schedule(strategy: "default", capacities: [2, 2], resources: rsc("a", cpu: 1))
        #expect(!plain.graph.actions.contains { $0.key.hasPrefix("load_stopped") })
    }
}
