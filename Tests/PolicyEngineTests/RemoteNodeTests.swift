import CIB
import PolicyEngine
import Testing

/// Remote nodes (ocf:pacemaker:remote connections) and guest nodes (remote-node meta on a
/// primitive): their state follows their connection, failures of the connection fence them,
/// a guest is fenced by recovering its container, and what runs on them is ordered behind the
/// connection.
@Suite struct RemoteNodeTests {
    /// Two cluster nodes with fencing (a fence device on node1), the given resources and the
    /// given status entries after node1's and node2's.
    func schedule(_ resources: String, node1: String = "", node2: String = "", extraStatus: String = "",
                  options: String = "") throws -> (WorkingSet, Transition) {
        let xml = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o">\(options)</cluster_property_set></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources>
              <primitive id="fence" class="stonith" type="fence_dummy"/>
              \(resources)
            </resources>
            <constraints/>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">
              <lrm id="1"><lrm_resources>
                <lrm_resource id="fence" class="stonith" type="fence_dummy">
                  <lrm_rsc_op id="fence_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
                </lrm_resource>
                \(node1)
              </lrm_resources></lrm>
            </node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member">
              <lrm id="2"><lrm_resources>\(node2)</lrm_resources></lrm>
            </node_state>
            \(extraStatus)
          </status>
        </cib>
        """
        return Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 1000))
    }

    func op(_ rsc: String, _ task: String, call: Int, rc: Int = 0, interval: Int = 0, expected: Int = 0) -> String {
        #"<lrm_rsc_op id="\#(rsc)_\#(task)_\#(interval)" operation="\#(task)" call-id="\#(call)" rc-code="\#(rc)" op-status="0" interval="\#(interval)" transition-key="1:1:\#(expected):x" last-rc-change="900"/>"#
    }

    func entry(_ rsc: String, agent: String = #"class="ocf" provider="heartbeat" type="Dummy""#, _ ops: String...) -> String {
        #"<lrm_resource id="\#(rsc)" \#(agent)>"# + ops.joined() + "</lrm_resource>"
    }

    let remoteAgent = #"class="ocf" provider="pacemaker" type="remote""#
    let remote1 = #"<primitive id="remote1" class="ocf" provider="pacemaker" type="remote"><operations><op id="remote1-mon" name="monitor" interval="60s"/></operations></primitive>"#
    let dummy = #"<primitive id="rsc1" class="ocf" provider="heartbeat" type="Dummy"/>"#

    func lines(_ t: Transition) -> [String] { t.changes.map { $0.text.split(separator: " ").joined(separator: " ") } }

    func remoteState(_ node: String, online: Bool = true) -> String {
        #"<node_state id="\#(node)" uname="\#(node)" remote_node="true"><lrm id="\#(node)"><lrm_resources/></lrm></node_state>"#
    }

    /// A failed recurring monitor of a connection fences the remote node (on-fail defaults to
    /// reset-remote), and what ran there moves once it is fenced.
    @Test func connectionMonitorFailureFencesTheRemoteNode() throws {
        let status = #"""
            <node_state id="remote1" uname="remote1" remote_node="true"><lrm id="remote1"><lrm_resources>
            <lrm_resource id="rsc1" class="ocf" provider="heartbeat" type="Dummy">\#(op("rsc1", "start", call: 1))</lrm_resource>
            </lrm_resources></lrm></node_state>
            """#
        let (ws, t) = try schedule(remote1 + dummy,
                                   node1: entry("remote1", agent: remoteAgent, op("remote1", "start", call: 2),
                                                op("remote1", "monitor", call: 3, rc: 7, interval: 60000)),
                                   extraStatus: status)
        let node = try #require(ws.node(named: "remote1"))
        #expect(node.kind == .remote)
        #expect(node.unclean && !node.online)
        #expect(lines(t).contains("* Fence (reboot) remote1 'remote connection is unrecoverable'"))
        #expect(lines(t).contains("* Recover remote1 ( node1 )"))
        #expect(lines(t).contains { $0.hasPrefix("* Move rsc1 ( remote1 -> node") })
        // The fencing is a real fencing action, and the stop it implies a pseudo action.
        let graph = t.graph.simulationLines().map { $0.split(separator: " ").joined(separator: " ") }
        #expect(graph.contains("* Fencing remote1 (reboot)"))
        #expect(graph.contains("* Pseudo action: rsc1_stop_0"))
    }

    /// A probe failure of the connection does not fence: only an established connection's
    /// loss does.
    @Test func connectionProbeFailureDoesNotFence() throws {
        let (ws, t) = try schedule(remote1,
                                   node1: entry("remote1", agent: remoteAgent, op("remote1", "monitor", call: 2, rc: 1, expected: 7)),
                                   extraStatus: remoteState("remote1"))
        #expect(ws.node(named: "remote1")?.unclean == false)
        #expect(!lines(t).contains { $0.hasPrefix("* Fence") })
    }

    /// A remote node whose connection starts gets its resources probed, after the start.
    @Test func probesOnARemoteNodeWaitForItsConnection() throws {
        let (_, t) = try schedule(remote1 + dummy,
                                  node1: entry("rsc1", op("rsc1", "start", call: 2)),
                                  extraStatus: remoteState("remote1"))
        #expect(lines(t).contains("* Start remote1 ( node1 )"))
        let graph = t.graph
        let order = graph.executionOrder().map { graph.actions[$0] }
        let start = try #require(order.firstIndex { $0.resource == "remote1" && $0.task == "start" })
        let probe = try #require(order.firstIndex { $0.resource == "rsc1" && $0.task == "monitor" && $0.node == "remote1" })
        #expect(start < probe)
        // Fence devices are never probed there.
        #expect(!order.contains { $0.resource == "fence" && $0.node == "remote1" })
        // Once the connection runs, the node is up.
        #expect(t.revised.node(named: "remote1")?.online == true)
    }

    /// A resource thought active on a remote node whose connection's host is lost is fenced
    /// only if the connection cannot run elsewhere: here it can, so the fencing is revoked.
    @Test func fencingIsRevokedWhenTheConnectionMoves() throws {
        let xml = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"/></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
            <resources><primitive id="fence" class="stonith" type="fence_dummy"/>\(remote1)\(dummy)</resources>
            <constraints/>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="false" crmd="offline" join="down" expected="member">
              <lrm id="1"><lrm_resources>\(entry("remote1", agent: remoteAgent, op("remote1", "start", call: 2)))</lrm_resources></lrm>
            </node_state>
            <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member">
              <lrm id="2"><lrm_resources>\(entry("fence", agent: #"class="stonith" type="fence_dummy""#, op("fence", "start", call: 1)))</lrm_resources></lrm>
            </node_state>
            <node_state id="remote1" uname="remote1" remote_node="true"><lrm id="remote1"><lrm_resources>
              \(entry("rsc1", op("rsc1", "start", call: 1)))
            </lrm_resources></lrm></node_state>
          </status>
        </cib>
        """
        let t = Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 1000)).1
        #expect(lines(t).contains("* Fence (reboot) node1 'peer is no longer part of the cluster'"))
        #expect(lines(t).contains("* Move remote1 ( node1 -> node2 )"))
        #expect(!lines(t).contains { $0.contains("Fence (reboot) remote1") })
        #expect(!lines(t).contains { $0.contains("rsc1") })
    }

    /// A guest whose container failed is fenced by recovering the container: a pseudo fencing
    /// event after the container's stop, what ran inside stops implicitly and starts again.
    @Test func guestIsFencedByRecoveringItsContainer() throws {
        let container = """
            <primitive id="vm1" class="ocf" provider="heartbeat" type="VirtualDomain">
              <meta_attributes id="vm1-m"><nvpair id="vm1-rn" name="remote-node" value="guest1"/></meta_attributes>
            </primitive>
            """
        let node1 = entry("vm1", agent: #"class="ocf" provider="heartbeat" type="VirtualDomain""#,
                          op("vm1", "start", call: 2), op("vm1", "monitor", call: 3, rc: 7, interval: 10000))
            + entry("guest1", agent: remoteAgent, op("guest1", "start", call: 4))
        let status = #"""
            <node_state id="guest1" uname="guest1" remote_node="true"><lrm id="guest1"><lrm_resources>
            \#(entry("rsc1", op("rsc1", "start", call: 1)))
            </lrm_resources></lrm></node_state>
            """#
        let (ws, t) = try schedule(container + dummy,
                                   node1: node1, extraStatus: status)
        #expect(ws.node(named: "guest1")?.kind == .guest)
        #expect(lines(t).contains("* Fence (reboot) guest1 (resource: vm1) 'guest is unclean'"))
        #expect(lines(t).contains("* Recover vm1 ( node1 )"))
        let graph = t.graph.simulationLines().map { $0.split(separator: " ").joined(separator: " ") }
        let fence = try #require(graph.firstIndex(of: "* Pseudo action: stonith-guest1-reboot on guest1"))
        let containerStop = try #require(graph.firstIndex(of: "* Resource action: vm1 stop on node1"))
        #expect(containerStop < fence)
        // The guest's implicit connection is monitored every 30s once restarted.
        #expect(graph.contains("* Resource action: guest1 monitor=30000 on node1"))
    }

    /// A connection that failed under a reconnect interval stays down (shown FAILED) until the
    /// interval has passed.
    @Test func reconnectIntervalKeepsTheConnectionDown() throws {
        let remote = #"""
            <primitive id="remote1" class="ocf" provider="pacemaker" type="remote">
              <instance_attributes id="r-p"><nvpair id="r-ri" name="reconnect_interval" value="10m"/></instance_attributes>
              <operations><op id="remote1-mon" name="monitor" interval="60s"/></operations>
            </primitive>
            """#
        let node1 = entry("remote1", agent: remoteAgent, op("remote1", "start", call: 2),
                          op("remote1", "monitor", call: 3, rc: 7, interval: 60000), op("remote1", "stop", call: 4))
        let fenced = #"<node_state id="remote1" uname="remote1" remote_node="true" node_fenced="1"><lrm id="remote1"><lrm_resources/></lrm></node_state>"#
        let (ws, t) = try schedule(remote, node1: node1, extraStatus: fenced)
        let printed = StatusText.render(ws).map { $0.split(separator: " ").joined(separator: " ") }
        #expect(printed.contains { $0.hasPrefix("* remote1") && $0.hasSuffix("FAILED") })
        #expect(!lines(t).contains { $0.contains("Start remote1") })
    }

    /// Remote connections are assigned first, in the order resources are assigned (the
    /// configuration's), not in their nodes' name order: with equal scores each goes to the
    /// node given fewer resources so far, so the first listed takes the first node.
    @Test func remoteConnectionsAreAssignedInResourceOrder() throws {
        let remote = { (id: String) in #"<primitive id="\#(id)" class="ocf" provider="pacemaker" type="remote"/>"# }
        let (_, t) = try schedule(remote("zz-remote") + remote("aa-remote"))
        let next = Dictionary(uniqueKeysWithValues: t.placements.map { ($0.resource, $0.next) })
        #expect(next["zz-remote"] == "node1")
        #expect(next["aa-remote"] == "node2")
    }

    /// Remote nodes whose connections cannot be recovered (their host is lost, they may not
    /// run elsewhere) are fenced when the actions there are ordered: they are listed first,
    /// those with resources whose state is unknown before those with resources to stop,
    /// whatever the status order. (Checked against Pacemaker 2.1.5's crm_simulate.)
    @Test func unrecoverableRemoteFencingIsListedFirst() throws {
        let xml = """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1">
          <configuration>
            <crm_config><cluster_property_set id="o"/></crm_config>
            <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/><node id="3" uname="node3"/></nodes>
            <resources>
              <primitive id="fence" class="stonith" type="fence_dummy"/>
              <primitive id="remoteA" class="ocf" provider="pacemaker" type="remote"><meta_attributes id="ma"><nvpair id="ma1" name="target-role" value="Stopped"/></meta_attributes></primitive>
              <primitive id="remoteB" class="ocf" provider="pacemaker" type="remote"><meta_attributes id="mb"><nvpair id="mb1" name="target-role" value="Stopped"/></meta_attributes></primitive>
              <primitive id="rsc1" class="ocf" provider="heartbeat" type="Dummy"/>
            </resources>
            <constraints/>
          </configuration>
          <status>
            <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">
              <lrm id="1"><lrm_resources>
                <lrm_resource id="fence" class="stonith" type="fence_dummy"><lrm_rsc_op id="fence_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/></lrm_resource>
              </lrm_resources></lrm>
            </node_state>
            <node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="member">
              <lrm id="2"><lrm_resources>
                <lrm_resource id="remoteA" class="ocf" provider="pacemaker" type="remote"><lrm_rsc_op id="remoteA_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/></lrm_resource>
                <lrm_resource id="remoteB" class="ocf" provider="pacemaker" type="remote"><lrm_rsc_op id="remoteB_last_0" operation="start" call-id="2" rc-code="0" op-status="0" interval="0" transition-key="2:1:0:x"/></lrm_resource>
              </lrm_resources></lrm>
            </node_state>
            <node_state id="3" uname="node3" in_ccm="true" crmd="online" join="member" expected="member"/>
            <node_state id="remoteB" uname="remoteB" remote_node="true"><lrm id="remoteB"><lrm_resources/></lrm></node_state>
            <node_state id="remoteA" uname="remoteA" remote_node="true"><lrm id="remoteA"><lrm_resources>
              <lrm_resource id="rsc1" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="rsc1_last_0" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/></lrm_resource>
            </lrm_resources></lrm></node_state>
          </status>
        </cib>
        """
        let (_, t) = Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: 1000))
        #expect(Array(lines(t).prefix(3)) == [
            "* Fence (reboot) remoteB 'resources are in unknown state and connection is unrecoverable'",
            "* Fence (reboot) remoteA 'resources are active but connection is unrecoverable'",
            "* Fence (reboot) node2 'peer is no longer part of the cluster'",
        ])
    }
}
