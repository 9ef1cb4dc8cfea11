import ArgumentParser
import CIB
import Foundation
import HASupport
import PolicyEngine
import Stonith
import ToolSupport

/// crm_mon: the cluster's status, laid out as Pacemaker's crm_mon prints it.
///
/// It reads the CIB named by CIB_file (Pacemaker's crm_mon does the same). The live cluster's
/// CIB comes with cibd (issue #6); until then, without CIB_file, it says so and exits 102.
struct CrmMon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm_mon",
        abstract: "Show the cluster's status.",
        discussion: """
        Examples:
          CIB_file=cib.xml crm_mon -1       (the status a CIB records)
          CIB_file=cib.xml crm_mon -1 -r    (stopped resources too)
        """)

    @Flag(name: [.customShort("1"), .customLong("one-shot")], help: "Show the status once and exit.") var oneShot = false
    @Flag(name: [.customShort("r"), .customLong("inactive")], help: "Show inactive resources too.") var inactive = false
    @Flag(name: [.customShort("s"), .customLong("simple-status")], help: "One line of status, as for a monitoring check.") var simple = false
    @Option(name: .customLong("output-as"), help: "text (default), xml (Pacemaker 2.1.5's <pacemaker-result> layout) or html.") var outputAs = "text"
    @Flag(name: [.customShort("f"), .customLong("failcounts")], help: "Display resource fail counts (Migration Summary).") var failcounts = false
    @Flag(name: [.customShort("A"), .customLong("show-node-attributes")], help: "Display node attributes.") var nodeAttributes = false
    @Option(name: [.customShort("i"), .customLong("interval")], help: "Update frequency of the refreshing display (default 5s).") var interval = "5s"
    @Flag(name: [.customShort("L"), .customLong("neg-locations")], help: "Display negative location constraints (bans).") var negLocations = false
    @Flag(name: [.customShort("n"), .customLong("group-by-node")], help: "Group resources by node.") var groupByNode = false
    @Flag(name: [.customShort("o"), .customLong("operations")], help: "Display resource operation history.") var operations = false
    @Flag(name: [.customShort("t"), .customLong("timing-details")], help: "Display resource operation history with timing details.") var timing = false
    @Flag(name: [.customShort("c"), .customLong("tickets")], help: "Display cluster tickets.") var tickets = false
    @Option(name: [.customShort("m"), .customLong("fence-history")], help: ArgumentHelp(
        "Show fence history: 0=off, 1=failures and pending (default without option), 2=add successes (default without value for option), 3=show full history.",
        valueName: "LEVEL")) var fenceHistory: Int?
    @Flag(name: [.customShort("D"), .customLong("hide-headers")], help: "Hide all headers.") var hideHeaders = false
    @Flag(name: [.customShort("V"), .long], help: "Print more details.") var verbose: Int
    @Flag(name: [.customShort("Q"), .long], help: "Be less descriptive in output.") var quiet = false
    @Flag(name: [.customShort("R"), .customLong("show-detail")], help: "Show more details (node IDs, individual clone instances).") var showDetail = false
    @Flag(name: [.customShort("b"), .customLong("brief")], help: "Brief output.") var brief = false
    @Option(name: [.customShort("I"), .customLong("include")], help: ArgumentHelp("A list of sections to include in the output (all, attributes, bans, counts, dc, default, failcounts, failures, fencing, fencing-failed, fencing-pending, fencing-succeeded, maint-mode, nodes, none, operations, options, resources, stack, summary, tickets, times).", valueName: "SECTIONS")) var include: [String] = []
    @Option(name: [.customShort("U"), .customLong("exclude")], help: ArgumentHelp("A list of sections to exclude from the output.", valueName: "SECTIONS")) var exclude: [String] = []
    @Option(name: .customLong("node"), help: "Only show output for this node (a name or a tag).") var node: String?
    @Option(name: .customLong("resource"), help: "Only show output for this resource (an id or a tag).") var resource: String?

    /// `-m` takes an optional level (`-m`, `-m2`, `--fence-history`, `--fence-history=3`), as
    /// Pacemaker's does: a bare one means 2.
    static func normalizedArguments(_ args: [String]) -> [String] {
        var out: [String] = []
        for a in args {
            if a == "-m" || a == "--fence-history" {
                out.append("--fence-history=2")
            } else if a.hasPrefix("-m"), !a.hasPrefix("--"), a.count > 2 {
                out.append("--fence-history=" + a.dropFirst(2))
            } else if a.hasPrefix("-I") || a.hasPrefix("-U"), a.count > 2 {
                // `-Inodes` (glib's attached value) is `--include=nodes`.
                out.append((a.hasPrefix("-I") ? "--include=" : "--exclude=") + a.dropFirst(a.dropFirst(2).hasPrefix("=") ? 3 : 2))
            } else {
                out.append(a)
            }
        }
        return out
    }

    func run() throws {
        let program = "crm_mon"
        guard ["text", "xml", "html"].contains(outputAs) else {
            ToolSupport.fail(program, "--output-as \(outputAs): use text, xml or html", .usage)
        }
        if let level = fenceHistory, !(0...3).contains(level) {
            ToolSupport.fail(program, "Fence history must be 0-3 (got \(level))", .usage)
        }
        guard let intervalMS = CIBValue.milliseconds(interval), intervalMS > 0 else {
            ToolSupport.fail(program, "Invalid value for -i: \(interval) (write a duration, e.g. 5s, 500ms or 1min)", .usage)
        }
        _ = chosenSections()
        // The refreshing display, on a terminal only; elsewhere (a pipe, a file) one shot.
        if outputAs == "text" && !oneShot && !simple && isatty(STDOUT_FILENO) != 0 {
            LiveDisplay.run(every: intervalMS) { render() }
            return
        }
        for line in render() { print(line) }
    }

    /// The sections to print, whether to ask stonithd for its history, and the bans' id
    /// prefix: Pacemaker's defaults, then its own includes and excludes (-m, -Q, a CIB file),
    /// then the user's, from left to right.
    func chosenSections() -> (show: MonitorSections, fenceConnect: Bool, banPrefix: String?) {
        let all: MonitorSections = outputAs == "text" ? .allText : .all
        let defaults: MonitorSections = outputAs == "xml" ? all : .defaultText
        var show = defaults
        var prefix: String?
        var ownSteps: [(Bool, String)] = [(true, "fencing-failed,fencing-pending")]
        var connect = true
        if let level = fenceHistory {
            ownSteps.append(level == 0 ? (false, "fencing") : level == 1 ? (true, "fencing-failed,fencing-pending") : (true, "fencing"))
            connect = level != 0
        }
        if quiet { ownSteps.append((false, "times")) }
        if CIBLocation.fromEnvironment() != .live {
            ownSteps.append((false, "fencing"))
            connect = false
        }
        for (include, list) in ownSteps {
            _ = show.apply(include: include, list, all: all, defaults: defaults, banPrefix: &prefix)
        }
        for step in MonitorSections.steps(CrmMon.normalizedArguments(Array(CommandLine.arguments.dropFirst()))) {
            guard show.apply(include: step.include, step.list, all: all, defaults: defaults, banPrefix: &prefix) else {
                ToolSupport.fail("crm_mon", step.include ? MonitorSections.includeHelp : MonitorSections.excludeHelp, .usage)
            }
        }
        return (show, connect, prefix)
    }

    /// The status once: loaded fresh from CIB_file or the cluster.
    func render() -> [String] {
        let program = "crm_mon"
        let location = CIBLocation.fromEnvironment()
        // -s is a monitoring check: no cluster is CRITICAL (exit 2), as Pacemaker's crm_mon
        // says it, not a tool error.
        let cib = simple && location == .live
            ? LiveCIB(program: program, unreachable: .invalidParameter, unreachableLead: "CLUSTER CRIT: Connection to cluster failed: ").load()
            : location.load(program: program)
        if cib.root["validate-with"] == "none" {
            FileHandle.standardError.write(Data("Schema validation of configuration is disabled (enabling is encouraged and prevents common misconfigurations)\n".utf8))
        }
        if let problem = MonitorText.unreadable(cib) {
            // Pacemaker's crm_mon says it could not connect (and still exits 0).
            let message = "Could not connect to the CIB: \(problem)"
            if outputAs == "xml" {
                let request = CommandLine.arguments.joined(separator: " ")
                var status = XElement("status", ["code": "0", "message": "OK"])
                var errors = XElement("errors")
                errors.append(XElement("error", children: [.text(message)]))
                status.append(errors)
                let doc = XElement("pacemaker-result", ["api-version": "2.25", "request": request], children: [status])
                return [String(doc.xmlString().dropLast())]
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            if outputAs == "html" { return [MonitorHTML.errorPage(message)] }
            return []
        }
        let now = Int(Date().timeIntervalSince1970)
        // Pacemaker 2.1.5's crm_mon knows the cluster options by their 2.1.5 names only.
        var input = SchedulerInput(cib: cib, now: now)
        input.pacemaker2OptionNames = true
        var ws = Simulator.workingSet(input).showingPartialMigrations()
        let chosen = chosenSections()
        // Pacemaker reads the constraints only for tickets and bans; a lost ticket then shows.
        // (The summary's counts are taken before: Pacemaker counts blocked resources while
        // unpacking the status, and a frozen ticket blocks them later.)
        let unpacked = ws
        if !chosen.show.isDisjoint(with: [.tickets, .bans]) { MonitorText.applyLostTickets(&ws) }
        if outputAs == "xml" {
            let request = CommandLine.arguments.joined(separator: " ")
            let text = MonitorXML.document(cib, ws, unpacked: unpacked, request: request, now: Date(timeIntervalSince1970: Double(now))).xmlString()
            return [text.hasSuffix("\n") ? String(text.dropLast()) : text]
        }
        if outputAs == "html" {
            let text = MonitorHTML.page(cib, ws, now: Date(timeIntervalSince1970: Double(now)), inactive: inactive)
            return [String(text.dropLast())]
        }
        if simple { return [MonitorText.simpleStatus(cib, ws)] }
        var show = chosen.show
        // The sections in Pacemaker 2.1.5's order, a blank line between those that print.
        var sections: [[String]] = []
        // Pacemaker always names a missing DC.
        if !ws.nodes.contains(where: { $0.id == cib.root["dc-uuid"] }) { show.insert(.dc) }
        let summary = MonitorText.summary(cib, unpacked, now: Date(), show: show, detail: showDetail)
        if !summary.isEmpty { sections.append(summary) }
        if show.contains(.maintMode), let banner = MonitorText.managementDisabled(ws) {
            // Pacemaker writes a newline before the banner, even when nothing precedes it.
            sections.append(sections.isEmpty ? [""] + banner : banner)
        }
        let filter = MonitorFilter(cib, ws, node: node, resource: resource)
        let blocks = MonitorText.split(groupByNode
            ? StatusText.monitorByNode(ws, showInactive: inactive, detail: showDetail, brief: brief,
                                       onlyNodes: filter.nodes, onlyResources: filter.resources)
            : StatusText.monitorLines(ws, showInactive: inactive, onlyNodes: filter.nodes, onlyResources: filter.resources, brief: brief,
                                      detail: showDetail))
        for block in blocks {
            let isNodes = block.first == "Node List:"
            if show.contains(isNodes ? .nodes : .resources) { sections.append(block) }
        }
        if show.contains(.attributes) { sections.append(MonitorText.nodeAttributes(ws, filter: filter, detail: showDetail)) }
        if show.contains(.operations) {
            sections.append(MonitorText.operations(cib, ws, timing: timing, filter: filter, detail: showDetail))
        } else if show.contains(.failcounts) {
            sections.append(MonitorText.migrationSummary(cib, ws, filter: filter, detail: showDetail))
        }
        if show.contains(.failures) {
            let failed = showDetail ? MonitorText.failedActionsInDetail(cib, ws, filter: filter) : MonitorText.failedActions(cib, ws, filter: filter)
            if !failed.isEmpty { sections.append(["Failed Resource Actions:"] + failed) }
        }
        // The live cluster's stonithd history (a CIB file has no fencer, as in Pacemaker).
        var fencing: (failed: [String], history: [String]) = ([], [])
        if chosen.fenceConnect, !show.isDisjoint(with: .fencing) {
            let level = show.isSuperset(of: .fencing) ? 3 : show.contains(.fenceWorked) ? 2 : 1
            fencing = MonitorText.fencing(level: level)
            if !show.contains(.fenceFailed) && !fencing.failed.contains(where: { $0.contains("Failed to get fencing history") }) {
                fencing.failed = []
            }
            if !show.contains(.fenceWorked) && !show.contains(.fencePending) { fencing.history = [] }
        }
        sections.append(fencing.failed)
        if show.contains(.tickets) { sections.append(MonitorText.tickets(cib)) }
        if show.contains(.bans) {
            let bans = MonitorText.negativeLocations(cib, ws).filter { chosen.banPrefix == nil || $0.id.hasPrefix(chosen.banPrefix!) }
            if !bans.isEmpty {
                sections.append(["Negative Location Constraints:"]
                    + bans.map { "  * \($0.id)\tprevents \($0.resource) from running \($0.promoted ? "in Promoted role " : "")on \(MonitorText.nodeTitle(ws, $0.node, detail: showDetail))" })
            }
        }
        sections.append(fencing.history)
        return sections.filter { !$0.isEmpty }.enumerated().flatMap { $0.offset == 0 ? $0.element : [""] + $0.element }
    }
}

/// crm_mon's refreshing display: the status redrawn every interval until q (or Q) is typed or
/// SIGINT comes; the terminal is put back as it was.
enum LiveDisplay {
    nonisolated(unsafe) static var saved = termios()
    nonisolated(unsafe) static var changed = false

    static func restore() {
        if changed { tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
    }

    static func run(every ms: Int, _ render: () -> [String]) {
        if isatty(STDIN_FILENO) != 0, tcgetattr(STDIN_FILENO, &saved) == 0 {
            var raw = saved
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
            tcsetattr(STDIN_FILENO, TCSANOW, &raw)
            changed = true
        }
        signal(SIGINT) { _ in
            LiveDisplay.restore()
            print("")
            exit(0)
        }
        // SIGTERM (kill, timeout) also leaves the terminal as it was.
        signal(SIGTERM) { _ in
            LiveDisplay.restore()
            _exit(0)
        }
        defer { restore() }
        while true {
            let text = render().joined(separator: "\n")
            // Home, clear the screen, then the status.
            print("\u{1B}[H\u{1B}[2J" + text, terminator: "\n")
            fflush(nil)
            var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)]
            let deadline = Date().addingTimeInterval(Double(ms) / 1000)
            while Date() < deadline {
                let left = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
                guard poll(&fds, 1, left) > 0 else { continue }
                var c: UInt8 = 0
                if read(STDIN_FILENO, &c, 1) == 1 {
                    if c == UInt8(ascii: "q") || c == UInt8(ascii: "Q") { return }
                } else {
                    // stdin closed: keep refreshing on the timer alone.
                    fds[0].fd = -1
                }
            }
        }
    }
}

/// What crm_mon prints that crm_simulate does not.
enum MonitorText {
    /// Why Pacemaker 2.1.5's crm_mon cannot read a CIB its schemas do not cover: one that
    /// declares a `pacemaker-X.Y` newer than the newest it knows (the installed schemas',
    /// else pacemaker-3.9).
    static func unreadable(_ cib: CIB) -> String? {
        guard let declared = cib.root["validate-with"].flatMap(CIBSchema.version(of:)) else { return nil }
        let newest = CIBSchema.newestInstalled.flatMap(CIBSchema.version(of:)) ?? CIBSchema.version(of: "pacemaker-3.9")!
        return declared > newest ? "Update does not conform to the configured schema" : nil
    }

    /// The "Cluster Summary" block: the parts `show` names (none: no block).
    static func summary(_ cib: CIB, _ ws: WorkingSet, now: Date, show: MonitorSections = .summary, detail: Bool = false) -> [String] {
        let props = ws.options.raw
        var lines: [String] = []
        if show.contains(.stack) {
            lines.append("  * Stack: \(props["cluster-infrastructure"] ?? "unknown")")
        }
        if show.contains(.dc) {
            if let dc = cib.root["dc-uuid"], let node = ws.nodes.first(where: { $0.id == dc }) {
                let version = props["dc-version"] ?? "unknown"
                let mixed = StatusText.isMixedVersion(ws) ? "MIXED-VERSION " : ""
                lines.append("  * Current DC: \(StatusText.displayName(ws, node, detail: detail)) (version \(version)) - \(mixed)partition \(ws.haveQuorum ? "with" : "WITHOUT") quorum")
            } else {
                lines.append("  * Current DC: NONE")
            }
        }
        if show.contains(.times) {
            lines.append("  * Last updated: \(timestamp(now))")
            var change = "  * Last change:  \(cib.root["cib-last-written"] ?? "")"
            if let user = cib.root["update-user"] { change += " by \(user)" }
            if let client = cib.root["update-client"] { change += " via \(client)" }
            if let origin = cib.root["update-origin"] { change += " on \(origin)" }
            lines.append(change)
        }
        if show.contains(.counts) {
            let nodes = ws.nodes.count
            lines.append("  * \(nodes) node\(nodes == 1 ? "" : "s") configured")
            let (disabled, blocked, total) = Simulator.instanceCounts(ws)
            var instances = "  * \(total) resource instance\(total == 1 ? "" : "s") configured"
            if disabled > 0 || blocked > 0 {
                var parts: [String] = []
                if disabled > 0 { parts.append("\(disabled) DISABLED") }
                if blocked > 0 { parts.append("\(blocked) BLOCKED from further action due to failure") }
                instances += " (" + parts.joined(separator: ", ") + ")"
            }
            lines.append(instances)
        }
        if show.contains(.options) {
            let o = ws.options
            // 2.1.5 knows the option by its old name only (fencing-enabled came with 3.0).
            let fencing = o.raw["stonith-enabled"].map(CIBValue.isTrue) ?? true
            lines.append("  * STONITH of failed nodes \(fencing ? "enabled" : "disabled")")
            lines.append("  * Cluster is \(o.symmetricCluster ? "symmetric" : "asymmetric")")
            let policy: String
            switch o.noQuorumPolicy.lowercased() {
            case "freeze": policy = "Freeze resources"
            case "ignore": policy = "Ignore"
            case "demote": policy = "Demote promotable resources and stop all other resources"
            case "suicide": policy = fencing ? "Suicide" : "Stop ALL resources"
            default: policy = "Stop ALL resources"
            }
            lines.append("  * No quorum policy: \(policy)")
        }
        return lines.isEmpty ? [] : ["Cluster Summary:"] + lines
    }

    /// "Resource management is DISABLED", as 2.1.5's crm_mon says it below the summary in
    /// maintenance mode or with stop-all-resources.
    static func managementDisabled(_ ws: WorkingSet) -> [String]? {
        if ws.options.maintenanceMode {
            return ["              *** Resource management is DISABLED ***",
                    "  The cluster will not attempt to start, stop or recover services"]
        }
        if ws.options.stopAllResources {
            return ["    *** Resource management is DISABLED ***",
                    "  The cluster will keep all resources stopped"]
        }
        return nil
    }

    /// What reading the rsc_ticket constraints changes in the status (Pacemaker 2.1.5 reads
    /// them for `-c` and `-L` only): for a ticket not granted, the active resources that
    /// depend on it with loss-policy=freeze are blocked, and with loss-policy=fence their
    /// nodes are unclean (the role, when the constraint names one, must match).
    static func applyLostTickets(_ ws: inout WorkingSet) {
        let states = Dictionary((ws.cib.root.firstElement(named: "status")?.firstElement(named: "tickets")?.elements(named: "ticket_state") ?? [])
            .compactMap { s in s.id.map { ($0, s) } }, uniquingKeysWith: { a, _ in a })
        for c in ws.cib.constraintElements where c.name == "rsc_ticket" {
            guard let ticket = c["ticket"], !(states[ticket]?["granted"].map(CIBValue.isTrue) ?? false) else { continue }
            let policy = c["loss-policy"] ?? "stop"
            guard policy == "freeze" || policy == "fence" else { continue }
            var targets: [(id: String, role: String?)] = []
            if let rsc = c["rsc"] { targets.append((rsc, c["rsc-role"])) }
            for set in c.elements(named: "resource_set") {
                for ref in set.elements(named: "resource_ref") { if let id = ref.id { targets.append((id, set["role"] ?? c["rsc-role"])) } }
            }
            for (id, roleName) in targets {
                guard let top = ws.resources.firstIndex(where: { $0.id == id && !$0.orphan }) else { continue }
                let role = roleName.flatMap { Role(name: $0) }
                for j in ws.primitives(under: top) where !ws.resources[j].activeOn.isEmpty {
                    var current = ws.resources[j].role
                    if current == .started && ws.isInPromotableClone(ws.resources[j]) { current = .unpromoted }
                    guard role == nil || role == current else { continue }
                    if policy == "freeze" {
                        ws.resources[j].blocked = true
                    } else {
                        for n in ws.nodes.indices where ws.resources[j].activeOn.contains(ws.nodes[n].name) { ws.nodes[n].unclean = true }
                    }
                }
            }
        }
    }

    /// The fencing sections from this node's stonithd. As in Pacemaker, a stonithd that cannot
    /// be reached (not running on this node) leaves them out; one that is reached but cannot
    /// answer gives the "Failed to get fencing history" item.
    static func fencing(level: Int) -> (failed: [String], history: [String]) {
        final class Box: @unchecked Sendable { var result: Result<[FenceEvent], any Error>? = .success([]) }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let root = NodeEnvironment(root: nil).root
        Task {
            if let client = try? await StonithClient.connect(root: root, name: "crm_mon", timeout: .seconds(5)) {
                do {
                    box.result = .success(try await client.history())
                } catch {
                    box.result = .failure(error)
                }
                await client.close()
            } else {
                box.result = nil
            }
            done.signal()
        }
        done.wait()
        switch box.result {
        case nil: return ([], [])
        case .success(let events)?: return StonithAdminOutput.monitorSections(events, level: level)
        case .failure(let error)?: return (["Failed Fencing Actions:", "  * Failed to get fencing history: \(error)"], [])
        }
    }

    /// A node by name as -R shows it (with its id), or as named.
    static func nodeTitle(_ ws: WorkingSet, _ name: String, detail: Bool) -> String {
        guard detail, let n = ws.node(named: name) else { return name }
        return StatusText.displayName(ws, n, detail: true)
    }

    /// Lines cut into blocks at their blank lines.
    static func split(_ lines: [String]) -> [[String]] {
        lines.split(separator: "", omittingEmptySubsequences: true).map(Array.init)
    }

    /// `crm_mon -o` / `-t`: "Operations", each online node's resources with their history
    /// (probes that found nothing and notifications left out), by call id; the heading alone
    /// when no online node has any.
    static func operations(_ cib: CIB, _ ws: WorkingSet, timing: Bool, filter: MonitorFilter = .none, detail: Bool = false) -> [String] {
        guard let history = MonitorXML.nodeHistory(cib, ws) else { return [] }
        var lines = ["Operations:"]
        for node in history.elements where filter.passes(node: node["name"] ?? "") {
            lines.append("  * Node: \(nodeTitle(ws, node["name"] ?? "", detail: detail)):")
            for rsc in node.elements where filter.passes(resource: rsc["id"] ?? "") {
                let id = rsc["id"] ?? ""
                if rsc["orphan"] == "true" {
                    lines.append("    * \(id): orphan")
                } else {
                    var header = "    * \(id): migration-threshold=\(rsc["migration-threshold"] ?? "")"
                    if let c = rsc["fail-count"] { header += " fail-count=\(c)" }
                    if let l = rsc["last-failure"] { header += " last-failure='\(l)'" }
                    lines.append(header + ":")
                }
                for op in rsc.elements {
                    var line = "      * (\(op["call"] ?? "")) \(op["task"] ?? "")"
                    let interval = op["interval"].map { " interval=\"\($0)\"" } ?? ""
                    if timing {
                        line += ":" + interval
                        if let t = op["last-rc-change"] { line += " last-rc-change=\"\(t)\"" }
                        if let e = op["exec-time"] { line += " exec-time=\"\(e)\"" }
                        if let q = op["queue-time"] { line += " queue-time=\"\(q)\"" }
                        line += " rc=\(op["rc"] ?? "") (\(op["rc_text"] ?? ""))"
                    } else if !interval.isEmpty {
                        line += ":" + interval
                    }
                    lines.append(line)
                }
            }
        }
        // The heading comes with the first online node, whether or not it has a history.
        return lines
    }

    /// `crm_mon -c`: "Tickets", `id: granted|revoked [standby] last-granted="DATE"`: the
    /// status's tickets in document order, then those only constraints name.
    static func tickets(_ cib: CIB) -> [String] {
        let all = MonitorXML.ticketOrder(cib)
        guard !all.isEmpty else { return [] }
        return ["Tickets:"] + all.map { t in
            var line = "  * \(t.id): \(t.granted ? "granted" : "revoked")\(t.standby ? " [standby]" : "")"
            if let g = t.lastGranted { line += " last-granted=\"\(ctimeText(g))\"" }
            return line
        }
    }

    static func ctimeText(_ seconds: Int) -> String { MonitorXML.ctime(seconds) }

    /// `Mon Nov 23 23:14:10 2026`, in local time.
    static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        localtime_r(&t, &tm)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S %Y", &tm)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// "Failed Resource Actions": `rsc 10s-interval monitor on node1 returned 'not running'
    /// (reason) at TIME after 12ms`, or `... could not be executed (Timed Out)`.
    static func failedActions(_ cib: CIB, _ ws: WorkingSet, filter: MonitorFilter = .none) -> [String] {
        MonitorXML.failedOperationRecords(ws, cib).compactMap { f, op in
            // Pacemaker names the resource, action and interval from the operation's key
            // (an instance's own history may name another: a bundle's, a group's old name);
            // one it cannot parse is left out.
            var (resource, task, interval) = (f.resource, f.task, f.intervalMS)
            if let op {
                let key = op["operation_key"].flatMap { $0.isEmpty ? nil : $0 } ?? op.id ?? ""
                guard let parsed = parseOperationKey(key) else { return nil }
                (resource, task, interval) = parsed
            }
            guard filter.passes(node: f.node) && filter.passes(resource: resource) else { return nil }
            var line = "  * \(resource) "
            if interval > 0 { line += "\(readableInterval(interval))-interval " }
            // A monitor without an interval is a probe.
            line += "\(task == "monitor" && interval == 0 ? "probe" : task) on \(f.node) "
            if f.status == 0 {
                line += "returned '\(rcText(f.rc))'"
                if let r = f.exitReason, !r.isEmpty { line += " (\(r))" }
            } else {
                line += "could not be executed (\(ToolSupport.execStatusText(f.status))"
                if let r = f.exitReason, !r.isEmpty { line += ": \(r)" }
                line += ")"
            }
            if let t = f.lastRCChange, t > 0 { line += " at \(timestamp(Date(timeIntervalSince1970: Double(t))))" }
            if let e = f.execTimeMS, e > 0 { line += " after \(readableInterval(e))" }
            return line
        }
    }

    /// An operation key (`RSC_TASK_INTERVAL`) taken apart as Pacemaker's parse_op_key does:
    /// with two underscores, the resource before the first; with more, a migration or
    /// notification task when it reads as one, else the task between the last two.
    static func parseOperationKey(_ key: String) -> (resource: String, task: String, intervalMS: Int)? {
        func interval<S: StringProtocol>(_ s: S) -> Int { Int(s.prefix { $0.isASCII && $0.isNumber }) ?? 0 }
        let parts = key.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        if parts.count == 3 { return (String(parts[0]), String(parts[1]), interval(parts[2])) }
        let pattern = #"^(.*)_(migrate_(from|to)|(pre|post)_notify_([a-z]+|migrate_(from|to)))_([0-9]+)$"#
        if let re = try? NSRegularExpression(pattern: pattern),
           let m = re.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)),
           let r = Range(m.range(at: 1), in: key), let t = Range(m.range(at: 2), in: key), let i = Range(m.range(at: 7), in: key) {
            return (String(key[r]), String(key[t]), interval(key[i]))
        }
        return (parts.dropLast(2).joined(separator: "_"), String(parts[parts.count - 2]), interval(parts[parts.count - 1]))
    }

    /// "Failed Resource Actions" with -R, as Pacemaker's technical layout: `KEY on NODE
    /// 'STATUS' (RC): call=N, status='S', exitreason='...', last-rc-change='TIME', queued=Nms,
    /// exec=Nms`, the values as the history records them.
    static func failedActionsInDetail(_ cib: CIB, _ ws: WorkingSet, filter: MonitorFilter = .none) -> [String] {
        MonitorXML.failedOperationRecords(ws, cib).compactMap { f, op in
            let key = op?["operation_key"].flatMap { $0.isEmpty ? nil : $0 } ?? op?.id ?? "unknown operation"
            let resource = op == nil ? f.resource : parseOperationKey(key)?.resource
            guard let resource, filter.passes(node: f.node) && filter.passes(resource: resource) else { return nil }
            let call = op?["call-id"].flatMap { $0.isEmpty ? nil : $0 } ?? "unknown"
            var line = "  * \(key) on \(f.node) '\(rcText(f.rc))' (\(f.rc)): call=\(call), status='\(ToolSupport.execStatusText(f.status))'"
            if let r = op?["exit-reason"] ?? f.exitReason, !r.isEmpty { line += ", exitreason='\(r)'" }
            if let t = op?["last-rc-change"].flatMap({ Int($0) }) ?? f.lastRCChange {
                line += ", last-rc-change='\(timestamp(Date(timeIntervalSince1970: Double(t))))'"
            }
            if let q = op?["queue-time"], !q.isEmpty { line += ", queued=\(q)ms" }
            if let e = op?["exec-time"], !e.isEmpty { line += ", exec=\(e)ms" }
            return line
        }
    }

    /// An OCF result code in words, as Pacemaker names them.
    static func rcText(_ rc: Int) -> String {
        switch rc {
        case 0: "ok"
        case 1: "error"
        case 2: "invalid parameter"
        case 3: "unimplemented feature"
        case 4: "insufficient privileges"
        case 5: "not installed"
        case 6: "not configured"
        case 7: "not running"
        case 8: "promoted"
        case 9: "promoted (failed)"
        case 190: "OCF_DEGRADED"
        case 191: "promoted (degraded)"
        case 194: "interrupted by signal (DEPRECATED STATUS)"
        case 195: "not supported (DEPRECATED STATUS)"
        case 196: "pending (DEPRECATED STATUS)"
        case 197: "cancelled (DEPRECATED STATUS)"
        case 198: "timeout (DEPRECATED STATUS)"
        case 199: "other error (DEPRECATED STATUS)"
        default: "unknown"
        }
    }

    /// A duration as Pacemaker 2.1.5 writes it in failed actions: days, hours and minutes
    /// each only when the rest is more than one of them, then `Ns`, `N.NNNs` or `NNNms`
    /// (also only above a second). 10000 -> "10s", 90000 -> "1m30s", 30061 -> "30.061s",
    /// and, as Pacemaker prints them, 1000 -> "1000ms", 60000 -> "60s", 61000 -> "1m1000ms".
    static func readableInterval(_ ms: Int) -> String {
        var rest = ms
        var out = ""
        for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)] where rest > size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        if rest > 1000 {
            out += "\(rest / 1000)"
            if rest % 1000 > 0 { out += "." + String(String(1000 + rest % 1000).dropFirst()) }
            out += "s"
        } else if rest > 0 {
            out += "\(rest)ms"
        } else if out.isEmpty {
            out = "0s"
        }
        return out
    }

    /// `crm_mon -A`: each online node's attributes but the internal ones, `name : value`.
    static func nodeAttributes(_ ws: WorkingSet, filter: MonitorFilter = .none, detail: Bool = false) -> [String] {
        guard let list = MonitorXML.nodeAttributes(ws) else { return [] }
        var lines = ["Node Attributes:"]
        for node in list.elements where filter.passes(node: node["name"] ?? "") {
            lines.append("  * Node: \(nodeTitle(ws, node["name"] ?? "", detail: detail)):")
            for a in node.elements {
                let name = a["name"] ?? "", value = a["value"] ?? ""
                var line = "    * " + name.padding(toLength: max(32, name.count), withPad: " ", startingAt: 0) + "\t: " + value.padding(toLength: max(10, value.count), withPad: " ", startingAt: 0)
                if let e = a["expected"].flatMap({ Int($0) }) {
                    let v = Int(value) ?? 0
                    if v <= 0 { line += "\t: Connectivity is lost" } else if v < e { line += "\t: Connectivity is degraded (Expected=\(e))" }
                }
                lines.append(line)
            }
        }
        return lines
    }

    /// `crm_mon -f`: "Migration Summary", each online node's resources that have failed there.
    static func migrationSummary(_ cib: CIB, _ ws: WorkingSet, filter: MonitorFilter = .none, detail: Bool = false) -> [String] {
        var lines: [String] = []
        for state in cib.root.firstElement(named: "status")?.elements(named: "node_state") ?? [] {
            guard let node = ws.nodes.first(where: { $0.id == state.id }), node.online, filter.passes(node: node.name) else { continue }
            if lines.isEmpty { lines.append("Migration Summary:") }
            var header = false
            for entry in state.firstElement(named: "lrm")?.firstElement(named: "lrm_resources")?.elements(named: "lrm_resource") ?? [] {
                let id = entry.id ?? ""
                let base = id.split(separator: ":").first.map(String.init) ?? id
                guard let r = ws.resources.first(where: { ($0.id == id || $0.configuredID == base) && !$0.orphan }) else { continue }
                guard filter.passes(resource: base) || filter.passes(resource: id) else { continue }
                let (count, last) = MonitorXML.failcount(ws, node: node, resource: base)
                guard count > 0 else { continue }
                if !header { lines.append("  * Node: \(StatusText.displayName(ws, node, detail: detail)):"); header = true }
                let threshold = r.meta["migration-threshold"].flatMap { CIBValue.score($0) }.map { min($0, CIBValue.infinity) } ?? CIBValue.infinity
                var line = "    * \(base): migration-threshold=\(threshold) fail-count=\(count)"
                if last > 0 { line += " last-failure='\(MonitorXML.ctime(last))'" }
                lines.append(line)
            }
        }
        return lines
    }

    /// `crm_mon -s`: one line for a monitoring system.
    /// The negative location scores, as Pacemaker keeps its placement constraints: the last
    /// constraint first; a rule-based one under the rule's id, for each node the rule passes
    /// on (the last node first); a `node=` one only for a known node.
    static func negativeLocations(_ cib: CIB, _ ws: WorkingSet) -> [(id: String, resource: String, node: String, weight: Int, promoted: Bool)] {
        var out: [(id: String, resource: String, node: String, weight: Int, promoted: Bool)] = []
        let dc = cib.root["dc-uuid"]
        let nodes = ws.nodes.sorted { naturalLess($0.name, $1.name) }
        func promoted(_ e: XElement) -> Bool { ["Promoted", "Master"].contains(e["role"] ?? "") }
        for c in cib.constraintElements.reversed() where c.name == "rsc_location" {
            // rsc-pattern: each top-level resource whose id the regular expression finds
            // (with "!", each it does not), one constraint apiece, the last first.
            for rsc in locationTargets(c, ws).reversed() {
                if let node = c["node"] {
                    if ws.node(named: node) != nil, let score = CIBValue.score(c["score"] ?? ""), score < 0 {
                        out.append((c.id ?? "", rsc, node, max(score, -CIBValue.infinity), promoted(c)))
                    }
                    continue
                }
                for rule in c.elements(named: "rule").reversed() {
                    guard let score = rule["score"].flatMap(CIBValue.score), score < 0 else { continue }
                    // An "and" rule starts from a copy of all the nodes (reversed) and drops those
                    // it fails on; an "or" rule appends those it passes on.
                    let isOr = rule["boolean-op"]?.lowercased() == "or"
                    for n in isOr ? nodes : nodes.reversed() {
                        var attrs = n.configuredAttributes
                        for (k, v) in n.attributes { attrs[k] = v }
                        attrs["#uname"] = n.name
                        attrs["#id"] = n.id
                        attrs["#kind"] = n.kind == .member ? "cluster" : (n.kind == .remote ? "remote" : "container")
                        attrs["#is_dc"] = n.id == dc ? "true" : "false"
                        guard RuleEvaluator.passes(rule, RuleContext(now: ws.now, nodeAttributes: attrs)) else { continue }
                        out.append((rule.id ?? c.id ?? "", rsc, n.name, max(score, -CIBValue.infinity), promoted(c) || promoted(rule)))
                    }
                }
            }
        }
        return out
    }

    /// The resources a location constraint applies to: its `rsc`, or the top-level
    /// resources (in configuration order) its `rsc-pattern` matches, as regexec searches.
    static func locationTargets(_ c: XElement, _ ws: WorkingSet) -> [String] {
        if let rsc = c["rsc"] { return [rsc] }
        guard var pattern = c["rsc-pattern"] else { return [] }
        let invert = pattern.hasPrefix("!")
        if invert { pattern.removeFirst() }
        guard let re = try? NSRegularExpression(pattern: pattern) else { return [] }
        return ws.topLevel.map { ws.resources[$0].id }.filter { id in
            (re.firstMatch(in: id, range: NSRange(id.startIndex..., in: id)) != nil) != invert
        }
    }

    /// `-s`: one line for a monitoring check, as Pacemaker's: CLUSTER WARN without a DC or
    /// with offline nodes (named), else CLUSTER OK with the counts.
    static func simpleStatus(_ cib: CIB, _ ws: WorkingSet) -> String {
        let noDC = !ws.nodes.contains { $0.id == cib.root["dc-uuid"] }
        var online = 0, standby = 0, maintenance = 0
        var offline: [String] = []
        for n in ws.nodes.sorted(by: { naturalLess($0.name, $1.name) }) {
            if n.standby && n.online { standby += 1 } else if n.maintenance && n.online { maintenance += 1 } else if n.online { online += 1 } else { offline.append("offline node: \(n.name)") }
        }
        if noDC || !offline.isEmpty {
            return "CLUSTER WARN: " + (noDC ? "No DC" : "") + (noDC && !offline.isEmpty ? ", " : "") + offline.joined(separator: " ")
        }
        func plural(_ n: Int) -> String { n == 1 ? "" : "s" }
        let (_, _, instances) = Simulator.instanceCounts(ws)
        return "CLUSTER OK: \(online) node\(plural(online)) online"
            + (standby > 0 ? ", \(standby) standby node\(plural(standby))" : "")
            + (maintenance > 0 ? ", \(maintenance) maintenance node\(plural(maintenance))" : "")
            + ", \(instances) resource instance\(plural(instances)) configured"
    }
}

ToolSupport.main(CrmMon.self, program: "crm_mon", arguments: CrmMon.normalizedArguments(Array(CommandLine.arguments.dropFirst())))
