import CIB
@testable import PolicyEngine
import Testing

/// The index of fail-count attributes by resource gives exactly what reading all of a node's
/// attributes gives, for every id, with and without a failure-timeout.
@Suite struct FailcountIndexTests {
    func node(_ name: String, _ attributes: [String: String]) -> SchedulerNode {
        var n = SchedulerNode(id: name, name: name)
        n.attributes = attributes
        return n
    }

    @Test func sameCountsAsReadingEveryAttribute() {
        let n1 = node("node1", [
            "fail-count-a#start_0": "2", "fail-count-a#monitor_10000": "1", "fail-count-a": "3",
            "fail-count-ab#start_0": "5", "fail-count-a:1#start_0": "4", "fail-count-c#stop_0": "INFINITY",
            "last-failure-a#start_0": "100", "last-failure-ab#start_0": "190", "standby": "off", "fail-count-": "7",
        ])
        let n2 = node("node2", ["fail-count-b#start_0": "1", "last-failure-b#start_0": "50"])
        let n3 = node("node3", [:])
        let nodes = [n1, n2, n3]
        let index = FailcountIndex(nodes)
        var compared = 0
        for (k, n) in nodes.enumerated() {
            for id in ["a", "ab", "a:1", "b", "c", "", "d", "a#start_0"] {
                for (timeout, now) in [(0, 0), (50, 120), (50, 200), (100, 300)] {
                    let expected = Failcounts.count(id, node: n, failureTimeoutSeconds: timeout, now: now)
                    #expect(index.count(id, position: k, node: n, failureTimeoutSeconds: timeout, now: now) == expected,
                            "\(id) on \(n.name), timeout \(timeout) at \(now)")
                    compared += 1
                }
            }
        }
        #expect(compared == 96)
        // A few values, to be sure the comparison is not between two zeros.
        #expect(index.count("a", position: 0, node: n1, failureTimeoutSeconds: 0, now: 0) == 6)
        #expect(index.count("a", position: 0, node: n1, failureTimeoutSeconds: 50, now: 200) == 4)
        #expect(index.count("c", position: 0, node: n1, failureTimeoutSeconds: 0, now: 0) == Score.infinity)
        #expect(index.count("b", position: 1, node: n2, failureTimeoutSeconds: 0, now: 0) == 1)
    }
}
