import Controller
import Testing
import TestSupport

/// DC election and the join round.
@Suite struct ElectionTests {
    let n1 = ControllerMember(nodeID: 1, name: "node1")
    let n2 = ControllerMember(nodeID: 2, name: "node2")
    let n3 = ControllerMember(nodeID: 3, name: "node3")

    @Test func everyMemberElectsTheSameDCAtOnce() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<100 {
            let members = [n1, n2, n3].filter { _ in Bool.random(using: &rng) }
            var views = [n1, n2, n3].map { DCElection(local: $0) }
            for i in views.indices { _ = views[i].onMembership(members.shuffled(using: &rng)) }
            let dcs = Set(views.filter { members.contains($0.local) }.map { $0.dc })
            #expect(dcs.count <= 1, "members disagree about the DC: \(dcs)")
            #expect(views.filter { $0.isDC }.count == (members.isEmpty ? 0 : 1))
        }
    }

    @Test func theDCResignsWhenALowerIdJoinsAndTakesOverWhenItLeaves() {
        var e = DCElection(local: n2)
        #expect(e.onMembership([n2, n3]) == [.dcChanged(n2), .becomeDC])
        #expect(e.onMembership([n1, n2, n3]) == [.dcChanged(n1), .resignDC])
        #expect(!e.isDC)
        #expect(e.onMembership([n2, n3]) == [.dcChanged(n2), .becomeDC])
        #expect(e.onMembership([n2, n3]).isEmpty, "same membership, nothing to do")
    }

    @Test func partitionsEachHaveOneDC() {
        var a = DCElection(local: n1), b = DCElection(local: n3)
        _ = a.onMembership([n1, n2])
        _ = b.onMembership([n3])
        #expect(a.isDC && b.isDC)
        #expect(b.onMembership([n1, n2, n3]).contains(.resignDC))
    }

    @Test func aJoinRoundCompletesWhenEveryMemberAnswered() {
        var j = JoinRound(deadline: .seconds(3))
        let start = j.start(members: [n1, n2, n3])
        #expect(start.contains(.requestHistory(from: n2, round: 1)))
        #expect(start.contains(.armTimer(round: 1, after: .seconds(3))))
        #expect(j.onHistory(from: n2, round: 1, history: [2]) == [.recordHistory(of: n2, history: [2])])
        _ = j.onHistory(from: n1, round: 1, history: [1])
        let end = j.onHistory(from: n3, round: 1, history: [3])
        #expect(end.last == .complete(round: 1, joined: [n1, n2, n3], missing: []))
        #expect(!j.active)
    }

    @Test func staleAnswersAreIgnoredAndTheDeadlineEndsARound() {
        var j = JoinRound()
        _ = j.start(members: [n1, n2])
        _ = j.start(members: [n1, n2, n3])
        #expect(j.onHistory(from: n2, round: 1, history: [9]).isEmpty, "an answer to an older round")
        _ = j.onHistory(from: n1, round: 2, history: [1])
        #expect(j.onTimer(round: 1).isEmpty, "an older round's timer")
        #expect(j.onTimer(round: 2) == [.complete(round: 2, joined: [n1], missing: [n2, n3])])
        #expect(j.onHistory(from: n2, round: 2, history: [2]).isEmpty, "after the round ended")
    }

    @Test func aMemberLeavingIsNotWaitedFor() {
        var j = JoinRound()
        _ = j.start(members: [n1, n2])
        _ = j.onHistory(from: n1, round: 1, history: [])
        #expect(j.onLeft(n2) == [.complete(round: 1, joined: [n1], missing: [])])
    }
}
