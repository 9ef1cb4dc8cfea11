import Foundation
import Stonith
import Testing

/// stonithd's API values travel as JSON frames: every request, reply and event survives the
/// trip, and a result says plainly whether and why fencing failed.
@Suite struct StonithAPITests {
    let event = FenceEvent(id: "node1:1:42", target: "node3", action: .reboot, state: .done, delegate: "node2", origin: "node1",
                           client: "stonith_admin.42", exitReason: nil, requested: Date(timeIntervalSince1970: 1_700_000_000),
                           completed: Date(timeIntervalSince1970: 1_700_000_003.25))

    func roundTrip<T: Codable & Equatable>(_ value: T) throws -> T {
        try JSONDecoder().decode(T.self, from: JSONEncoder().encode(value))
    }

    @Test func requestsRepliesAndEventsRoundTrip() throws {
        let requests: [StonithRequest] = [
            .fence(target: "node3", action: .off, timeoutMilliseconds: 60_000, client: "crmd"),
            .confirm(target: "node3", client: "stonith_admin"), .history(target: nil), .history(target: "node3"),
            .devices(target: "node2"), .agents, .metadata(agent: "fence_swiftha"), .subscribe, .status,
        ]
        for r in requests { #expect(try roundTrip(r) == r) }
        let failed = FenceResult(outcome: .failed(reason: "fence_bad off: exit 1"), event: event)
        let replies: [StonithReply] = [
            .done, .result(FenceResult(outcome: .ok, event: event)), .result(failed), .history([event]), .names(["a", "b"]),
            .text("<resource-agent/>"), .status(StonithStatus(node: "node1", root: "/r", pid: 7, members: ["node1"], devices: ["d"])),
            .failure(StonithFailure(.notFound, "no device 'x'")),
        ]
        for r in replies { #expect(try roundTrip(r) == r) }
        #expect(try roundTrip(StonithEvent.fenced(event)) == .fenced(event))
    }

    @Test func resultsNameTheirReason() {
        #expect(FenceResult(outcome: .ok, event: event).succeeded)
        #expect(FenceResult(outcome: .ok, event: event).reason == nil)
        let t = FenceResult(outcome: .timedOut(reason: "no result within 60s"), event: event)
        #expect(!t.succeeded && t.reason == "no result within 60s")
        #expect(FenceAction.off.displayName == "turning off")
        #expect(FenceAction.on.displayName == "unfencing")
        #expect(StonithAPI.socketPath(root: "/srv/n1") == "/srv/n1/run/swiftha/stonithd.sock")
        #expect(StonithAPI.socketPath(root: "/") == "/run/swiftha/stonithd.sock")
    }
}
