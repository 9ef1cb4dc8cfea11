import CIB

/// When the scheduler's answer will change by itself: the earliest moment after `now` at
/// which a failure stops counting (its fail count's newest `last-failure-` plus the
/// resource's failure-timeout). The controller runs the scheduler again then instead of
/// waiting for cluster-recheck-interval, as Pacemaker's does with the transition's
/// recheck-by time; nil when nothing expires.
public enum Recheck {
    public static func next(_ ws: WorkingSet) -> Int? {
        var earliest: Int?
        for r in ws.resources where r.isPrimitive {
            let timeout = (r.meta["failure-timeout"].flatMap(CIBValue.milliseconds) ?? 0) / 1000
            guard timeout > 0 else { continue }
            let names = Set([r.configuredID, r.id])
            for node in ws.nodes {
                for (key, value) in node.attributes where key.hasPrefix("fail-count-") {
                    let suffix = key.dropFirst("fail-count-".count)
                    let id = suffix.firstIndex(of: "#").map { String(suffix[..<$0]) } ?? String(suffix)
                    guard names.contains(id), (CIBValue.score(value) ?? 0) > 0,
                          let last = node.attributes["last-failure-\(suffix)"].flatMap({ Int($0) }), last > 0 else { continue }
                    let expiry = last + timeout
                    if expiry > ws.now { earliest = min(earliest ?? expiry, expiry) }
                }
            }
        }
        return earliest
    }
}
