import Messaging
import Testing

/// New totem timers at run time (`corosync-cfgtool -R`): timers armed from then on use them;
/// the packet size stays.
struct TotemReloadTests {
    static func scheduled(_ timer: TotemNode.Timer, in directives: [TotemNode.Directive]) -> Duration? {
        for d in directives {
            if case .schedule(let t, let after) = d, t == timer { return after }
        }
        return nil
    }

    @Test func newTimersApplyToTimersArmedFromNowOn() {
        var config = TotemConfig()
        config.transport = .udpu
        config.token = .milliseconds(300)
        config.tokenCoefficient = .zero
        var node = TotemNode(nodeID: 1, nodelist: [1, 2, 3], timing: config.timing(nodeCount: 3))
        let before = node.timing
        let first = node.start()
        #expect(Self.scheduled(.consensus, in: first) == before.consensus)
        #expect(node.state == .operational, "alone, node 1 forms a ring of one")

        var fresh = config
        fresh.token = .milliseconds(1200)
        fresh.consensus = .milliseconds(2000)
        fresh.join = .milliseconds(80)
        fresh.netMTU = 1400
        fresh.netMTUConfigured = true
        node.updateTiming(fresh.timing(nodeCount: 3))
        #expect(node.timing.token == .milliseconds(1200))
        #expect(node.timing.consensus == .milliseconds(2000))
        #expect(node.timing.join == .milliseconds(80))
        #expect(node.timing.tokenRetransmit == fresh.timing(nodeCount: 3).tokenRetransmit)
        #expect(node.timing.netMTU == before.netMTU, "netmtu needs a restart")
        #expect(node.ring?.timing == node.timing, "the running ring takes them too")

        // The token is lost: the gather round that follows runs on the new join and consensus
        // timeouts.
        let lost = node.onTimer(.ring(.tokenLoss))
        #expect(Self.scheduled(.join, in: lost) == .milliseconds(80), "\(lost)")
        #expect(Self.scheduled(.consensus, in: lost) == .milliseconds(2000), "\(lost)")
    }
}
