import CIB
import Foundation
import Testing
import TestSupport

/// The suite's inputs, through the shared test support.
enum Shared {
    static var conformanceFiles: [String] { SharedData.conformanceFiles }
}

let sampleCIB = """
<cib validate-with="pacemaker-3.9" epoch="3" num_updates="2" admin_epoch="0" crm_feature_set="3.16.1">
  <configuration>
    <crm_config>
      <cluster_property_set id="opts">
        <nvpair id="opts-se" name="stonith-enabled" value="true"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="1" uname="node1"/>
      <node id="2" uname="node2"/>
    </nodes>
    <resources>
      <primitive id="fence1" class="stonith" type="fence_dummy"/>
      <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2">
        <instance_attributes id="vip-ia">
          <nvpair id="vip-ip" name="ip" value="192.0.2.10"/>
        </instance_attributes>
        <operations>
          <op id="vip-mon" name="monitor" interval="10s" timeout="20s"/>
        </operations>
      </primitive>
      <group id="web">
        <primitive id="apache" class="lsb" type="apache2"/>
      </group>
      <master id="ms-db">
        <meta_attributes id="ms-db-meta">
          <nvpair id="ms-db-mm" name="master-max" value="1"/>
        </meta_attributes>
        <primitive id="db" class="ocf" provider="pacemaker" type="Stateful"/>
      </master>
    </resources>
    <constraints>
      <rsc_location id="loc-vip" rsc="vip" node="node1" score="100"/>
      <rsc_colocation id="col-web" rsc="web" with-rsc="vip" score="INFINITY"/>
      <rsc_colocation id="col-db" rsc="vip" with-rsc="ms-db" with-rsc-role="Master" score="INFINITY"/>
      <rsc_order id="ord-web" first="vip" then="web" kind="Mandatory"/>
    </constraints>
  </configuration>
  <status/>
</cib>
"""
