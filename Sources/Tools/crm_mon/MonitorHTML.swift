import CIB
import Foundation
import PolicyEngine

/// `crm_mon --output-as html`: the page Pacemaker 2.1.5 writes (its style sheet, the summary,
/// one line per node, the resources as nested lists, the failed actions), serialised the way
/// libxml2's HTML writer lays it out.
enum MonitorHTML {
    /// An HTML node: an element with a class and children, or text.
    indirect enum Node {
        case element(String, [(String, String)], [Node])
        case text(String)

        static func span(_ text: String, _ cls: String? = nil) -> Node {
            .element("span", cls.map { [("class", $0)] } ?? [], [.text(text)])
        }
        static func el(_ name: String, _ children: [Node]) -> Node { .element(name, [], children) }
    }

    static let inline: Set<String> = ["span", "a", "b", "i", "em", "strong", "code"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// libxml2's htmlNodeDumpFormatOutput: a block element breaks the line after its start tag
    /// and before its end tag when it has several children and they do not start (or end) with
    /// text; a block element is followed by a line break when a sibling element follows.
    static func write(_ node: Node, next: Node?, into out: inout String) {
        switch node {
        case .text(let t):
            out += escape(t)
        case .element(let name, let attrs, let children):
            let isInline = inline.contains(name)
            out += "<\(name)" + attrs.map { " \($0.0)=\"\(escape($0.1))\"" }.joined() + ">"
            func isText(_ n: Node?) -> Bool { if case .text = n { return true } else { return false } }
            let several = children.count > 1
            if !isInline && several && !isText(children.first) { out += "\n" }
            for (k, c) in children.enumerated() { write(c, next: k + 1 < children.count ? children[k + 1] : nil, into: &out) }
            if !isInline && several && !isText(children.last) { out += "\n" }
            out += "</\(name)>"
            if !isInline, let next, !isText(next) { out += "\n" }
        }
    }

    static let head = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <title>Cluster Status</title>
        <meta charset="utf-8">
        <style>.bold { font-weight: bold }
        .online { color: green }
        .offline { color: red }
        .maint { color: blue }
        .standby { color: blue }
        .health_red { color: red }
        .health_yellow { color: GoldenRod }
        .rsc-failed { color: red }
        .rsc-failure-ignored { color: DarkGreen }
        .rsc-managed { color: blue }
        .rsc-multiple { color: orange }
        .rsc-ok { color: green }
        .warning { color: red; font-weight: bold }</style>
        </head>

        """

    /// The page when the CIB cannot be read: the message as the only list item.
    static func errorPage(_ message: String) -> String {
        var out = head + "<body>"
        write(.el("ul", [.el("li", [.text(message)])]), next: nil, into: &out)
        return out + "</body>\n</html>"
    }

    static func page(_ cib: CIB, _ ws: WorkingSet, now: Date, inactive: Bool) -> String {
        var body: [Node] = []
        body.append(.el("h2", [.text("Cluster Summary")]))
        body.append(.el("ul", summary(cib, ws, now: now)))
        body.append(.el("h2", [.text("Node List")]))
        body.append(.el("ul", ws.nodes.sorted { naturalLess($0.name, $1.name) }.map { node(ws, $0) }))
        let lines = StatusText.monitorLines(ws, showInactive: inactive)
        if let h = lines.firstIndex(where: { !$0.hasPrefix(" ") && $0.hasSuffix("Resources:") }) {
            body.append(.el("h2", [.text(String(lines[h].dropLast()))]))
            let items = Array(lines[(h + 1)...].prefix { !$0.isEmpty })
            body.append(.el("ul", tree(items[...], depth: 1)))
        }
        let failed = MonitorText.failedActions(cib, ws)
        if !failed.isEmpty {
            body.append(.el("h2", [.text("Failed Resource Actions")]))
            body.append(.el("ul", failed.map { .el("li", [.text(String($0.dropFirst(4)))]) }))
        }
        var out = head
        write(.el("body", body), next: nil, into: &out)
        return out + "\n</html>\n"
    }

    static func item(_ label: String, _ value: String) -> Node {
        .el("li", [.span(label, "bold"), .span(value)])
    }

    static func summary(_ cib: CIB, _ ws: WorkingSet, now: Date) -> [Node] {
        let props = ws.options.raw
        var out: [Node] = [item("Stack: ", props["cluster-infrastructure"] ?? "unknown")]
        if let dc = cib.root["dc-uuid"], let node = ws.nodes.first(where: { $0.id == dc }) {
            out.append(.el("li", [.span("Current DC: ", "bold"), .span("\(node.name) (version \(props["dc-version"] ?? "unknown")) -"),
                                  .span(" partition"), ws.haveQuorum ? .span(" with") : .span(" WITHOUT", "warning"), .span(" quorum")]))
        } else {
            out.append(.el("li", [.span("Current DC: ", "bold"), .span("NONE", "warning")]))
        }
        out.append(item("Last updated: ", MonitorText.timestamp(now)))
        var change = cib.root["cib-last-written"] ?? ""
        if let user = cib.root["update-user"] { change += " by \(user)" }
        if let client = cib.root["update-client"] { change += " via \(client)" }
        if let origin = cib.root["update-origin"] { change += " on \(origin)" }
        out.append(item("Last change: ", change))
        let n = ws.nodes.count
        out.append(.el("li", [.span("\(n) node\(n == 1 ? "" : "s") configured")]))
        let (disabled, blocked, total) = Simulator.instanceCounts(ws)
        let base = "\(total) resource instance\(total == 1 ? "" : "s") configured"
        var r: [Node]
        switch (disabled > 0, blocked > 0) {
        case (true, true): r = [.span(base + " (\(disabled) "), .span("DISABLED", "bold"), .span(", \(blocked) "), .span("BLOCKED", "bold"), .span(" from further action due to failure)")]
        case (true, false): r = [.span(base + " (\(disabled) "), .span("DISABLED", "bold"), .span(")")]
        case (false, true): r = [.span(base + " (\(blocked) "), .span("BLOCKED", "bold"), .span(" from further action due to failure)")]
        case (false, false): r = [.span(base)]
        }
        out.append(.el("li", r))
        return out
    }

    static func node(_ ws: WorkingSet, _ n: SchedulerNode) -> Node {
        var parts: [Node] = [.span("\(n.name):", "bold"), n.online ? .span(" online", "online") : .span(" OFFLINE", "offline")]
        let running = MonitorXML.runningCount(ws, n.name) > 0
        if n.standbyOnFail {
            parts.append(.span(running ? " (in standby due to on-fail, with active resources)" : " (in standby due to on-fail)", "standby"))
        } else if n.standby || (n.pending && n.online) {
            // (An online node still pending counts as standby, as in the XML.)
            parts.append(.span(running ? " (in standby, with active resources)" : " (in standby)", "standby"))
        }
        if n.maintenance { parts.append(.span(" (in maintenance mode)", "maint")) }
        if n.health == .red { parts.append(.span(" (health is RED)", "health_red")) }
        if n.health == .yellow { parts.append(.span(" (health is YELLOW)", "health_yellow")) }
        return .el("li", parts)
    }

    /// The resource lines of the text display (`  * ...`, nested by two spaces) as nested
    /// lists: a line with deeper lines under it is a heading.
    static func tree(_ lines: ArraySlice<String>, depth: Int) -> [Node] {
        var out: [Node] = []
        let prefix = String(repeating: "  ", count: depth) + "* "
        var i = lines.startIndex
        while i < lines.endIndex {
            let line = lines[i]
            let text = line.hasPrefix(prefix) ? String(line.dropFirst(prefix.count)) : line.trimmingCharacters(in: .whitespaces)
            var j = i + 1
            while j < lines.endIndex && lines[j].hasPrefix(String(repeating: "  ", count: depth + 1)) { j += 1 }
            if j > i + 1 {
                let title = text.hasSuffix(":") ? String(text.dropLast()) : text
                out.append(.el("li", [.el("h3", [.text(title)]), .el("ul", tree(lines[(i + 1)..<j], depth: depth + 1))]))
            } else if text.contains("\t(") {
                out.append(.el("li", [.span(text, resourceClass(text))]))
            } else {
                out.append(.el("li", [.text(text)]))
            }
            i = j
        }
        return out
    }

    static func resourceClass(_ line: String) -> String {
        if line.contains("unmanaged") || line.contains("(blocked") || line.contains(", blocked") { return "rsc-managed" }
        if line.contains("FAILED") || line.hasSuffix(" Stopped") || line.contains(" Stopped ") { return "rsc-failed" }
        if line.contains("failure ignored") { return "rsc-failure-ignored" }
        // (Active on several nodes: the list of them ends the line, an orphan's too.)
        if line.contains("\t Started [") || line.contains("\t Promoted [")
            || (line.contains("):\t ") && line.contains(" [ ") && line.hasSuffix(" ]")) { return "rsc-multiple" }
        return "rsc-ok"
    }
}
