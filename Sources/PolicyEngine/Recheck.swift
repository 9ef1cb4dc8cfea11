import CIB

/// When the scheduler's answer will change by itself: the earliest moment after `now` at
/// which a failure stops counting (its fail count's newest `last-failure-` plus the
/// resource's failure-timeout), or a date rule's range begins or ends (date_expression's
/// start and end; date_spec is left to cluster-recheck-interval, as in Pacemaker). The
/// controller runs the scheduler again then instead of waiting for cluster-recheck-interval,
/// as Pacemaker's does with the transition's recheck-by time; nil when nothing changes.
public enum Recheck {
    public static func next(_ ws: WorkingSet) -> Int? {
        var earliest = dateBoundary(ws)
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

    /// The first moment after now at which a date_expression of the configuration changes
    /// its answer.
    static func dateBoundary(_ ws: WorkingSet) -> Int? {
        guard let configuration = ws.cib.root.firstElement(named: "configuration") else { return nil }
        var earliest: Int?
        func consider(_ t: Int?) {
            guard let t, t > ws.now else { return }
            earliest = min(earliest ?? t, t)
        }
        configuration.walk { e in
            guard e.name == "date_expression" else { return }
            let start = e["start"].flatMap(ISO8601Time.parse)
            var end = e["end"].flatMap(ISO8601Time.parse)
            switch e["operation"]?.lowercased() ?? "in_range" {
            case "lt": consider(end)
            case "gt": consider(start.map { $0 + 1 })
            case "in_range":
                if end == nil, let start, let d = e.firstElement(named: "duration") { end = RuleEvaluator.addDuration(d, to: start) }
                consider(start)
                consider(end.map { $0 + 1 })
            default: break
            }
        }
        return earliest
    }
}
