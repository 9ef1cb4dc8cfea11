import Messaging
import Testing

@Suite struct LinkSelectorTests {
    @Test func thePeerIsReachedOnItsLowestLinkHeardRecently() {
        var s = LinkSelector(links: [1, 0], token: .milliseconds(800))
        #expect(s.links == [0, 1])
        #expect(s.pingInterval == .milliseconds(100) && s.timeout == .milliseconds(400))
        #expect(s.needsHeartbeats)
        // Nothing heard yet: every link.
        #expect(s.links(to: 2, at: .seconds(1)) == [0, 1])
        s.heard(from: 2, on: 1, at: .seconds(1))
        #expect(s.links(to: 2, at: .seconds(1)) == [1])
        s.heard(from: 2, on: 0, at: .seconds(1))
        #expect(s.links(to: 2, at: .milliseconds(1_100)) == [0])
        // Link 0 goes quiet while link 1 keeps working: failover to link 1.
        s.heard(from: 2, on: 1, at: .milliseconds(1_500))
        #expect(!s.isUp(2, link: 0, at: .milliseconds(1_500)))
        #expect(s.links(to: 2, at: .milliseconds(1_500)) == [1])
        // Both quiet: every link again. Another peer is not affected.
        #expect(s.links(to: 2, at: .seconds(3)) == [0, 1])
        #expect(s.links(to: 3, at: .milliseconds(1_500)) == [0, 1])
    }

    @Test func oneLinkNeedsNoHeartbeatsAndIsAlwaysUsed() {
        let s = LinkSelector(links: [0], token: .milliseconds(300))
        #expect(!s.needsHeartbeats)
        #expect(s.links(to: 2, at: .zero) == [0])
        #expect(s.pingInterval >= .milliseconds(20) && s.timeout >= .milliseconds(60))
    }
}
