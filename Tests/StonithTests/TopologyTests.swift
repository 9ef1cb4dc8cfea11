import CIB
import Stonith
import Testing

/// Fence devices from the CIB, topology levels, and a fencing request carried out level by level.
@Suite struct TopologyTests {
    let cib = """
    <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
      <configuration><crm_config/><nodes/>
        <resources>
          <primitive id="ipmi-1" class="stonith" type="fence_ipmilan">
            <instance_attributes id="i1"><nvpair id="i1a" name="pcmk_host_list" value="node1"/><nvpair id="i1b" name="ip" value="10.0.0.1"/></instance_attributes>
          </primitive>
          <primitive id="pdu" class="stonith" type="fence_apc">
            <instance_attributes id="p1"><nvpair id="p1a" name="pcmk_host_map" value="node1:3;node2:4"/></instance_attributes>
          </primitive>
          <primitive id="pdu2" class="stonith" type="fence_apc"/>
          <primitive id="web" class="ocf" provider="heartbeat" type="Dummy"/>
        </resources>
        <constraints/>
        <fencing-topology>
          <fencing-level id="l2" target="node1" index="2" devices="pdu,pdu2"/>
          <fencing-level id="l1" target="node1" index="1" devices="ipmi-1"/>
          <fencing-level id="lp" target-pattern="^rack2-" index="1" devices="pdu"/>
        </fencing-topology>
      </configuration><status/>
    </cib>
    """

    @Test func devicesAndWhatTheyCanFence() throws {
        let devices = FenceDevice.all(in: try CIB.parse(cib))
        #expect(devices.map(\.id) == ["ipmi-1", "pdu", "pdu2"])
        #expect(devices[0].canFence("node1") == true)
        #expect(devices[0].canFence("node2") == false)
        #expect(devices[1].canFence("node2") == true)
        #expect(devices[1].plug(for: "node2") == "4")
        #expect(devices[2].canFence("node1") == nil, "without a list, the agent must be asked")
    }

    @Test func levelsByTargetPatternOrDefault() throws {
        let c = try CIB.parse(cib)
        let devices = FenceDevice.all(in: c)
        let levels = c.configuration.fencingLevels
        #expect(FencingTopology.levels(for: "node1", levels: levels, devices: devices) { _ in true } == [["ipmi-1"], ["pdu", "pdu2"]])
        #expect(FencingTopology.levels(for: "rack2-n7", levels: levels, devices: devices) { _ in true } == [["pdu"]])
        // No level names node2: each device that can fence it, alone.
        #expect(FencingTopology.levels(for: "node2", levels: levels, devices: devices) { $0.canFence("node2") ?? false } == [["pdu"]])
    }

    @Test func aFailedLevelHandsOverToTheNextAndRebootGoesOffThenOn() {
        var op = FencingOperation(target: "node1", action: "reboot", levels: [["ipmi-1"], ["pdu", "pdu2"]], timeout: .seconds(30))
        #expect(op.start() == [.run(device: "ipmi-1", action: "reboot", target: "node1", timeout: .seconds(30))])
        #expect(op.onResult(success: false, output: "BMC unreachable") == [.run(device: "pdu", action: "off", target: "node1", timeout: .seconds(30))])
        #expect(op.onResult(success: true) == [.run(device: "pdu2", action: "off", target: "node1", timeout: .seconds(30))])
        #expect(op.onResult(success: true) == [.run(device: "pdu", action: "on", target: "node1", timeout: .seconds(30))])
        #expect(op.onResult(success: true) == [.run(device: "pdu2", action: "on", target: "node1", timeout: .seconds(30))])
        let end = op.onResult(success: true)
        #expect(end == [.finished(success: true, detail: "node1 fenced (reboot) by pdu,pdu2 at level 2")])
        #expect(op.isFinished)
        #expect(op.onResult(success: true).isEmpty)
    }

    @Test func aFailedOnAfterEveryOffIsStillAFencedNode() {
        var op = FencingOperation(target: "node1", action: "reboot", levels: [["psu1", "psu2"]])
        _ = op.start()
        _ = op.onResult(success: true)
        _ = op.onResult(success: true)
        #expect(op.onResult(success: false, output: "agent cannot power on") == [.run(device: "psu2", action: "on", target: "node1", timeout: .seconds(60))])
        guard case .finished(true, let detail)? = op.onResult(success: true).first else { Issue.record("not fenced"); return }
        #expect(detail.contains("switching it back on failed: psu1 on: agent cannot power on"))
    }

    @Test func everyLevelFailingIsAFailureWithTheReasons() {
        var op = FencingOperation(target: "node1", action: "off", levels: [["a"], ["b"]])
        _ = op.start()
        _ = op.onResult(success: false, output: "timeout")
        guard case .finished(false, let detail)? = op.onResult(success: false, output: "no route").first else { Issue.record("not a failure"); return }
        #expect(detail.contains("a off: timeout") && detail.contains("b off: no route"))
        var none = FencingOperation(target: "node3", action: "off", levels: [])
        guard case .finished(false, let why)? = none.start().first else { Issue.record("fenced without a device"); return }
        #expect(why.contains("no fence device"))
    }
}
