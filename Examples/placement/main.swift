// An example of using SwiftHA's CIB and PolicyEngine libraries from another Swift tool: read a
// CIB file, ask the scheduler where each resource would run, and print the node scores that
// decided it.
//
//     swift run placement /var/lib/pacemaker/cib/cib.xml

import CIB
import Foundation
import PolicyEngine

guard let path = CommandLine.arguments.dropFirst().first else {
    print("usage: placement CIB.xml")
    exit(64)
}

do {
    let cib = try CIBFile.load(path)
    let now = SchedulerInput.executionDate(of: cib) ?? Int(Date().timeIntervalSince1970)
    let (_, transition) = Simulator.schedule(SchedulerInput(cib: cib, now: now))
    for p in transition.placements {
        let now = p.current.isEmpty ? "stopped" : p.current.joined(separator: ", ")
        let next = p.next.map { "\(p.role) on \($0)" } ?? "stopped"
        let best = p.scores.prefix(3).map { "\($0.node) \(Score.text($0.score))" }.joined(separator: ", ")
        print("\(p.resource): \(now) -> \(next)" + (best.isEmpty ? "  (no node may run it)" : "  (scores: \(best))"))
    }
    if !transition.changes.isEmpty {
        print("\nChanges:")
        for c in transition.changes { print(c.text) }
    }
} catch {
    print("placement: \(error)")
    exit(65)
}
