import Messaging
import Testing

typealias M = Votequorum.Member

func members(_ ids: UInt32...) -> [M] { ids.map { M($0) } }

func published(_ d: [Votequorum.Directive]) -> Votequorum.Status? {
    for case .publish(let s) in d { return s }
    return nil
}

func schedulesLMS(_ d: [Votequorum.Directive]) -> Bool {
    d.contains { if case .schedule(.lastManStanding, _) = $0 { true } else { false } }
}

@Suite struct VotequorumTests {
    @Test func simpleMajority() {
        var q = Votequorum(nodeID: 1, settings: .init(expectedVotes: 3))
        let alone = q.onMembership(members(1))
        #expect(!q.isQuorate && q.quorum == 2)
        #expect(published(alone)?.quorate == false)
        let two = q.onMembership(members(1, 2))
        #expect(q.isQuorate)
        #expect(published(two) == Votequorum.Status(quorate: true, expectedVotes: 3, highestExpected: 3, totalVotes: 2,
                                                    quorum: 2, members: [1, 2], flags: ["Quorate"]))
        _ = q.onMembership(members(1, 2, 3))
        #expect(q.isQuorate && q.totalVotes == 3)
        _ = q.onMembership(members(1))
        #expect(!q.isQuorate)
        // Nothing changed: nothing to publish.
        #expect(q.onMembership(members(1)).isEmpty)
    }

    @Test func quorumNeverDropsByItselfAndExpectedVotesRise() {
        var q = Votequorum(nodeID: 1, settings: .init(expectedVotes: 2))
        _ = q.onMembership(members(1, 2, 3, 4, 5))
        #expect(q.expectedVotes == 5 && q.quorum == 3 && q.isQuorate)
        _ = q.onMembership(members(1, 2))
        #expect(q.quorum == 3 && !q.isQuorate)
        // The administrator may lower expected votes (corosync-quorumtool -e).
        _ = q.setExpectedVotes(2)
        #expect(q.expectedVotes == 2 && q.quorum == 2 && q.isQuorate)
    }

    @Test func votesAreWeighted() {
        var q = Votequorum(nodeID: 1, settings: .init(expectedVotes: 5))
        _ = q.onMembership([M(1, votes: 3)])
        #expect(q.quorum == 3 && q.isQuorate)
        var other = Votequorum(nodeID: 2, settings: .init(expectedVotes: 5))
        _ = other.onMembership([M(2), M(3)])
        #expect(!other.isQuorate)
    }

    @Test func twoNodeKeepsQuorumWithOneNodeAfterWaitingForBoth() {
        var q = Votequorum(nodeID: 1, settings: .init(expectedVotes: 2, twoNode: true))
        #expect(q.settings.waitForAll)
        _ = q.onMembership(members(1))
        #expect(!q.isQuorate && q.isWaitingForAll)
        _ = q.onMembership(members(1, 2))
        #expect(q.isQuorate && !q.isWaitingForAll && q.quorum == 1)
        #expect(q.status.flags == ["2Node", "Quorate", "WaitForAll"])
        _ = q.onMembership(members(1))
        #expect(q.isQuorate && q.quorum == 1)
        // A third node switches two_node's special quorum off.
        _ = q.onMembership(members(1, 2, 3))
        #expect(q.quorum == 2 && q.isQuorate)
    }

    @Test func twoNodeWithoutWaitForAllIsQuorateAlone() {
        var q = Votequorum(nodeID: 1, settings: .init(expectedVotes: 2, twoNode: true, waitForAll: false))
        _ = q.onMembership(members(1))
        #expect(q.isQuorate)
    }

    @Test func waitForAllHoldsUntilEveryoneWasSeen() {
        var q = Votequorum(nodeID: 1, settings: .init(expectedVotes: 3, waitForAll: true))
        _ = q.onMembership(members(1, 2))
        #expect(!q.isQuorate && q.isWaitingForAll)
        _ = q.onMembership(members(1, 2, 3))
        #expect(q.isQuorate && !q.isWaitingForAll)
        _ = q.onMembership(members(1, 2))
        #expect(q.isQuorate)
        // Quorum lost: waiting for all again.
        _ = q.onMembership(members(1))
        #expect(!q.isQuorate && q.isWaitingForAll)
        _ = q.onMembership(members(1, 2))
        #expect(!q.isQuorate)
        // Joining a quorate node that no longer waits ends the wait.
        _ = q.onMembership([M(1), M(3, isQuorate: true, expectedVotes: 3)])
        #expect(q.isQuorate && !q.isWaitingForAll)
    }

    @Test func aQuoratePeerMayLowerOurExpectedVotes() {
        var q = Votequorum(nodeID: 4, settings: .init(expectedVotes: 8))
        _ = q.onMembership(members(4))
        #expect(!q.isQuorate)
        // A quorate cluster that last_man_standing brought down to 3 expected votes.
        _ = q.onMembership([M(1, isQuorate: true, expectedVotes: 3), M(2, isQuorate: true, expectedVotes: 3), M(4)])
        #expect(q.expectedVotes == 3 && q.quorum == 2 && q.isQuorate)
    }

    @Test func lastManStandingFollowsTheManPagesChain() {
        let window = Duration.milliseconds(10_000)
        var q = Votequorum(nodeID: 1, settings: .init(expectedVotes: 8, lastManStanding: true, lastManStandingWindow: window))
        _ = q.onMembership(members(1, 2, 3, 4, 5, 6, 7, 8))
        #expect(q.isQuorate && q.quorum == 5)
        // 3 nodes die: still quorate, the window starts.
        let d = q.onMembership(members(1, 2, 3, 4, 5))
        #expect(d.contains(.schedule(.lastManStanding, after: window)))
        #expect(q.isQuorate && q.expectedVotes == 8 && q.quorum == 5)
        _ = q.onTimer(.lastManStanding)
        #expect(q.expectedVotes == 5 && q.quorum == 3)
        #expect(schedulesLMS(q.onMembership(members(1, 2, 3))))
        #expect(q.isQuorate)
        _ = q.onTimer(.lastManStanding)
        #expect(q.expectedVotes == 3 && q.quorum == 2)
        #expect(schedulesLMS(q.onMembership(members(1, 2))))
        _ = q.onTimer(.lastManStanding)
        #expect(q.expectedVotes == 2 && q.quorum == 2 && q.isQuorate)
        // Without auto_tie_breaker the last node is not quorate.
        _ = q.onMembership(members(1))
        #expect(!q.isQuorate)
        #expect(q.onTimer(.lastManStanding).isEmpty)
        #expect(q.expectedVotes == 2)
    }

    @Test func lastManStandingTimerIsNotArmedWhenTooFewRemain() {
        var q = Votequorum(nodeID: 1, settings: .init(expectedVotes: 5, lastManStanding: true))
        _ = q.onMembership(members(1, 2, 3, 4, 5))
        // 2 of 5 left: below quorum, so no recalculation, and a stray expiry does nothing.
        #expect(!schedulesLMS(q.onMembership(members(1, 2))))
        #expect(!q.isQuorate)
        #expect(q.onTimer(.lastManStanding).isEmpty)
        #expect(q.expectedVotes == 5)
    }

    @Test func autoTieBreakerLowestWinsAnEvenSplit() {
        let s = Votequorum.Settings(expectedVotes: 4, autoTieBreaker: true)
        var low = Votequorum(nodeID: 1, settings: s)
        var high = Votequorum(nodeID: 3, settings: s)
        _ = low.onMembership(members(1, 2, 3, 4))
        _ = high.onMembership(members(1, 2, 3, 4))
        #expect(low.isQuorate && high.isQuorate)
        _ = low.onMembership(members(1, 2))
        _ = high.onMembership(members(3, 4))
        #expect(low.isQuorate)
        #expect(!high.isQuorate)
        #expect(low.status.flags.contains("AutoTieBreaker"))
    }

    @Test func autoTieBreakerHighestAndList() {
        var high = Votequorum(nodeID: 4, settings: .init(expectedVotes: 4, autoTieBreaker: true, tieBreaker: .highest))
        _ = high.onMembership(members(1, 2, 3, 4))
        _ = high.onMembership(members(3, 4))
        #expect(high.isQuorate)

        // List "3 1": the half with 3 wins.
        let s = Votequorum.Settings(expectedVotes: 4, autoTieBreaker: true, tieBreaker: .nodes([3, 1]))
        var a = Votequorum(nodeID: 1, settings: s)
        var b = Votequorum(nodeID: 3, settings: s)
        _ = a.onMembership(members(1, 2, 3, 4))
        _ = b.onMembership(members(1, 2, 3, 4))
        _ = a.onMembership(members(1, 2))
        _ = b.onMembership(members(3, 4))
        #expect(!a.isQuorate)
        #expect(b.isQuorate)
    }

    @Test func autoTieBreakerNeedsAnExactHalf() {
        var q = Votequorum(nodeID: 1, settings: .init(expectedVotes: 6, autoTieBreaker: true))
        _ = q.onMembership(members(1, 2, 3, 4, 5, 6))
        _ = q.onMembership(members(1, 2))
        #expect(!q.isQuorate)
        // Never quorate before: no tie-breaker is known yet.
        var fresh = Votequorum(nodeID: 1, settings: .init(expectedVotes: 4, autoTieBreaker: true))
        _ = fresh.onMembership(members(1, 2))
        #expect(!fresh.isQuorate)
    }

    @Test func lastManStandingWithTieBreakerGoesDownToOne() {
        var q = Votequorum(nodeID: 1, settings: .init(expectedVotes: 3, waitForAll: true, lastManStanding: true, autoTieBreaker: true))
        _ = q.onMembership(members(1, 2, 3))
        _ = q.onMembership(members(1, 2))
        _ = q.onTimer(.lastManStanding)
        #expect(q.expectedVotes == 2 && q.quorum == 2 && q.isQuorate)
        // Node 2 fails: node 1 holds the lowest id, keeps quorum by the tie-breaker...
        let d = q.onMembership(members(1))
        #expect(q.isQuorate)
        #expect(schedulesLMS(d))
        // ...and after the window it is a cluster of one.
        _ = q.onTimer(.lastManStanding)
        #expect(q.expectedVotes == 1 && q.quorum == 1 && q.isQuorate)
    }

    @Test func settingsFromCorosyncConf() throws {
        let c = try CorosyncConfig.parse("""
        nodelist {
            node {
                ring0_addr: 10.0.0.1
                nodeid: 1
            }
            node {
                ring0_addr: 10.0.0.2
                nodeid: 2
            }
        }
        quorum {
            provider: corosync_votequorum
            two_node: 1
        }
        """)
        let s = try #require(Votequorum.Settings(c))
        #expect(s.expectedVotes == 2 && s.twoNode && s.waitForAll)
        #expect(Votequorum.Settings(try CorosyncConfig.parse("totem {\n}\n")) == nil)
    }
}
