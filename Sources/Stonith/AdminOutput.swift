import CIB
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras

/// What `stonith_admin` prints, as Pacemaker 2.1.5's prints it (lib/fencing/st_output.c,
/// lib/pacemaker/pcmk_fence.c and the text and XML formatters). Pure: times and the time zone
/// are parameters.
public enum StonithAdminOutput {
    /// A completion time as Pacemaker writes it in status displays:
    /// `2023-01-10 14:03:08 +01:00` (local time), or `...08Z` in UTC.
    public static func time(_ date: Date, in zone: TimeZone = .current) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = zone
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        var s = "\(zeroPadded(c.year ?? 0, width: 4))-\(zeroPadded(c.month ?? 0, width: 2))-\(zeroPadded(c.day ?? 0, width: 2))"
            + " \(zeroPadded(c.hour ?? 0, width: 2)):\(zeroPadded(c.minute ?? 0, width: 2)):\(zeroPadded(c.second ?? 0, width: 2))"
        let offset = zone.secondsFromGMT(for: date)
        if offset == 0 {
            s += "Z"
        } else {
            let a = abs(offset)
            s += " \(offset < 0 ? "-" : "+")\(zeroPadded(a / 3600, width: 2)):\(zeroPadded((a % 3600) / 60, width: 2))"
        }
        return s
    }

    /// Newest first, pending operations before all (Pacemaker's stonith__sort_history).
    public static func sorted(_ events: [FenceEvent]) -> [FenceEvent] {
        let pending = events.filter { $0.state == .pending }.reversed()
        let finished = events.filter { $0.state != .pending }.enumerated()
            .sorted { ($0.element.completed ?? .distantPast, $0.offset) > ($1.element.completed ?? .distantPast, $1.offset) }
            .map(\.element)
        return Array(pending) + finished
    }

    /// crm_mon's fencing sections for `-m LEVEL` (Pacemaker 2.1.5): the failed operations
    /// ("Failed Fencing Actions", shown after the failed resource actions) and, at the end,
    /// with level 2 or 3 every other operation ("Fencing History", full descriptions), with
    /// level 1 the pending ones until the first finished one ("Pending Fencing Actions"), on a
    /// history reduced to the latest of each kind.
    public static func monitorSections(_ events: [FenceEvent], level: Int, zone: TimeZone = .current) -> (failed: [String], history: [String]) {
        guard level > 0 else { return ([], []) }
        var list = sorted(events)
        if level == 1 {
            // Pacemaker's reduce_fence_history: an older finished operation goes when a newer
            // one has the same target, action and outcome (and delegate, for failures).
            var kept: [FenceEvent] = []
            for e in list {
                let older = (e.state == .done || e.state == .failed) && kept.contains { k in
                    k.target.lowercased() == e.target.lowercased() && k.action == e.action && k.state == e.state
                        && (e.state == .done || k.delegate?.lowercased() == e.delegate?.lowercased())
                }
                if !older { kept.append(e) }
            }
            list = kept
        }
        let full = level >= 2
        func line(_ e: FenceEvent) -> String { "  * " + description(e, fullHistory: full, laterSucceeded: laterSucceeded(e, in: list), zone: zone) }
        let failed = list.filter { $0.state == .failed }.map(line)
        var history: [String] = []
        if full {
            let rest = list.filter { $0.state != .failed }.map(line)
            if !rest.isEmpty { history = ["Fencing History:"] + rest }
        } else {
            let pending = list.prefix { $0.state == .pending }.map(line)
            if !pending.isEmpty { history = ["Pending Fencing Actions:"] + pending }
        }
        return (failed.isEmpty ? [] : ["Failed Fencing Actions:"] + failed, history)
    }

    /// The node whose later attempt at the same action on the same target succeeded, for a
    /// failed one (history sorted newest first).
    public static func laterSucceeded(_ event: FenceEvent, in sorted: [FenceEvent]) -> String? {
        var other: String?
        for prev in sorted {
            if prev.id == event.id { break }
            guard prev.state == .done, prev.target.lowercased() == event.target.lowercased(), prev.action == event.action,
                  (prev.completed ?? .distantPast) > (event.completed ?? .distantPast) else { continue }
            if event.delegate == nil || event.delegate?.lowercased() == prev.delegate?.lowercased() { return prev.delegate }
            if other == nil { other = prev.delegate ?? "some node" }
        }
        return other
    }

    /// One operation in stonith_admin's technical form:
    /// `reboot of node3 successful: delegate=node1, client=stonith_admin.42, origin=node1, completed='...'`.
    public static func description(_ e: FenceEvent, fullHistory: Bool, laterSucceeded: String?, zone: TimeZone = .current) -> String {
        var s = "\(e.action.displayName) of \(e.target)"
        s += " " + stateWord(e.state)
        if e.state == .failed, let reason = e.exitReason { s += " (\(reason))" }
        s += ": "
        if e.state != .pending, let d = e.delegate { s += "delegate=\(d), " }
        s += "client=\(e.client), origin=\(e.origin)"
        if e.state != .pending, let completed = e.completed {
            s += fullHistory ? ", completed" : (e.state == .failed ? ", last-failed" : ", last-successful")
            s += "='\(time(completed, in: zone))'"
        }
        if e.state == .failed, let later = laterSucceeded { s += " (a later attempt from \(later) succeeded)" }
        return s
    }

    static func stateWord(_ s: FenceEvent.State) -> String {
        switch s {
        case .failed: "failed"
        case .done: "successful"
        case .pending: "pending"
        }
    }

    /// `stonith_admin --history NODE` in text: with `verbose`, every operation (newest
    /// first); without, the last successful one as Pacemaker 2.1.5 picks it; then the count.
    /// With `quiet`, only that operation's completion time in seconds since the epoch.
    public static func historyText(_ events: [FenceEvent], verbose: Bool, quiet: Bool, zone: TimeZone = .current) -> String {
        let list = sorted(events)
        var out = ""
        var count = 0
        var latest: FenceEvent?
        for e in list {
            if e.state == .done { latest = e }  // as pcmk__fence_history: the last done one in this order
            if quiet || !verbose { continue }
            out += description(e, fullHistory: true, laterSucceeded: laterSucceeded(e, in: list), zone: zone) + "\n"
            count += 1
        }
        if let latest {
            if quiet {
                out += "\(Int64((latest.completed ?? .distantPast).timeIntervalSince1970))\n"
            } else if !verbose {
                out += description(latest, fullHistory: false, laterSucceeded: nil, zone: zone) + "\n"
                count += 1
            }
        }
        if !quiet { out += "\(count) \(count == 1 ? "event" : "events") found\n" }
        return out
    }

    /// The targets in a fence agent's `list` output, as Pacemaker reads them: every word
    /// (separated by spaces, commas or semicolons) of the characters a node name may have,
    /// leaving out `on`, `off` and lines of complaints ("invalid", "variable").
    public static func parseTargets(_ output: String) -> [String] {
        var out: [String] = []
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
        for line in output.replacingEvery("\\n", with: "\n").split(separator: "\n") {
            if line.contains("invalid") || line.contains("variable") { continue }
            for word in line.split(whereSeparator: { $0.isWhitespace || $0 == "," || $0 == ";" }) {
                let entry = String(word.prefix { allowed.contains($0) })
                guard !entry.isEmpty, entry.lowercased() != "on", entry.lowercased() != "off" else { continue }
                out.append(entry)
            }
        }
        return out
    }

    /// A list with Pacemaker's text footer: items, then `N fence devices found`.
    public static func listText(_ items: [String], singular: String, plural: String) -> String {
        items.map { $0 + "\n" }.joined() + "\(items.count) \(items.count == 1 ? singular : plural) found\n"
    }

    // MARK: - XML (--output-as=xml)

    public static func xmlEscape(_ s: String) -> String {
        var o = ""
        for ch in s {
            switch ch {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&apos;"
            default: o.append(ch)
            }
        }
        return o
    }

    /// `<pacemaker-result api-version="2.25" request="...">BODY<status code=".." message=".."/></pacemaker-result>`.
    public static func xmlResult(request: String, body: String, code: Int32, message: String, errors: [String] = []) -> String {
        var s = "<pacemaker-result api-version=\"2.25\" request=\"\(xmlEscape(request))\">\n" + body
        if errors.isEmpty {
            s += "  <status code=\"\(code)\" message=\"\(xmlEscape(message))\"/>\n"
        } else {
            s += "  <status code=\"\(code)\" message=\"\(xmlEscape(message))\">\n    <errors>\n"
            for e in errors { s += "      <error>\(xmlEscape(e))</error>\n" }
            s += "    </errors>\n  </status>\n"
        }
        return s + "</pacemaker-result>\n"
    }

    public static func xmlList(name: String, items: [String], itemName: String?) -> String {
        var s = "  <list name=\"\(xmlEscape(name))\" count=\"\(items.count)\">\n"
        for i in items { s += "    <item\(itemName.map { " name=\"\($0)\"" } ?? "")>\(xmlEscape(i))</item>\n" }
        return s + "  </list>\n"
    }

    public static func xmlEvent(_ e: FenceEvent, zone: TimeZone = .current) -> String {
        var s = "<fence_event action=\"\(e.action.rawValue)\" target=\"\(xmlEscape(e.target))\" client=\"\(xmlEscape(e.client))\" origin=\"\(xmlEscape(e.origin))\""
        switch e.state {
        case .failed:
            s += " status=\"failed\""
            if let r = e.exitReason { s += " exit-reason=\"\(xmlEscape(r))\"" }
        case .done: s += " status=\"success\""
        case .pending: s += " status=\"pending\" extended-status=\"1\""
        }
        if let d = e.delegate { s += " delegate=\"\(xmlEscape(d))\"" }
        if e.state != .pending, let c = e.completed { s += " completed=\"\(xmlEscape(time(c, in: zone)))\"" }
        return s + "/>"
    }

    /// `--history` in XML: every operation with --verbose, else the last successful one.
    public static func historyXML(_ events: [FenceEvent], verbose: Bool, zone: TimeZone = .current) -> String {
        let list = sorted(events)
        var chosen: [FenceEvent] = verbose ? list : []
        if !verbose, let latest = list.last(where: { $0.state == .done }) { chosen = [latest] }
        var s = "  <list name=\"fencing history\" count=\"\(chosen.count)\">\n"
        for e in chosen { s += "    " + xmlEvent(e, zone: zone) + "\n" }
        return s + "  </list>\n"
    }
}

/// A fence agent's meta-data as Pacemaker shows it (`stonith_admin --metadata`): the agent's
/// XML with start and stop actions added (the cluster carries them out, with a 20s timeout),
/// the parameters it fills in itself (action, plug, port) not required, written with two
/// spaces per level and no XML declaration.
public enum FenceAgentMetadata {
    public static func pacemakerForm(_ text: String, agent: String) throws -> String {
        var root = try XElement.parse(text, source: "the meta-data of \(agent)")
        var actionsPath: [Int]?
        var hasStop = false
        var parameterPaths: [[Int]] = []
        root.walkWithPath { e, path in
            if e.name == "actions" && actionsPath == nil { actionsPath = path }
            if e.name == "action" && e["name"] == "stop" { hasStop = true }
            if e.name == "parameter", let n = e["name"], ["action", "plug", "port"].contains(n) { parameterPaths.append(path) }
        }
        if !hasStop, let p = actionsPath {
            _ = root.modifyElement(at: p) { actions in
                actions.append(XElement("action", ["name": "stop", "timeout": "20s"]))
                actions.append(XElement("action", ["name": "start", "timeout": "20s"]))
            }
        }
        for p in parameterPaths { _ = root.modifyElement(at: p) { $0["required"] = "0" } }
        return root.xmlString(.pretty)
    }
}
