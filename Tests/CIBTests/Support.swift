import CIB
import Foundation
import Testing

/// Where ../shared is: SWIFTHA_SHARED, or beside the package.
enum Shared {
    static var directory: String? {
        let env = ProcessInfo.processInfo.environment["SWIFTHA_SHARED"]
        let beside = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared").path
        for d in [env, beside].compactMap({ $0 }) where FileManager.default.fileExists(atPath: d + "/conformance") {
            return d
        }
        return nil
    }

    static var conformanceXML: String? {
        directory.map { $0 + "/conformance/pacemaker-scheduler/xml" }
    }

    /// The conformance input files, sorted; empty (with a printed reason) when ../shared is absent.
    static var conformanceFiles: [String] {
        guard let dir = conformanceXML,
              let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            print("SKIPPED: ../shared/conformance is not present (set SWIFTHA_SHARED); the conformance inputs were not checked")
            return []
        }
        return names.filter { $0.hasSuffix(".xml") }.sorted().map { dir + "/" + $0 }
    }
}

/// A small deterministic generator (SplitMix64) so that random tests repeat exactly.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
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
