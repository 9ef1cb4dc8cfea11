import CIB
import PolicyEngine

/// A two-node cluster (node1, node2; fencing off; quorum) with the given resources,
/// constraints and node1 history, scheduled at time 0: what the hand-written scheduler tests
/// start from.
enum TwoNodeCluster {
    static func schedule(_ resources: String, constraints: String = "", status: String = "", scores: Bool = false) throws -> Transition {
        let xml = xml(resources, constraints: constraints, status: status)
        return Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 0), scores: scores).1
    }

    /// The CIB text `schedule` reads.
    static func xml(_ resources: String, constraints: String = "", status: String = "") -> String {
        """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources>\(resources)</resources>
            <constraints>\(constraints)</constraints>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">\(status)</node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>
          </status>
        </cib>
        """
    }
}
