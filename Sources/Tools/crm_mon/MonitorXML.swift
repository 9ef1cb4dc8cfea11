import CIB
import Foundation
import PolicyEngine
import ToolSupport

/// `crm_mon --output-as xml`: Pacemaker 2.1.5's `<pacemaker-result api-version="2.25">`
/// document: summary, nodes, resources, node_attributes, node_history, failures, tickets, bans
/// and status, element for element.
enum MonitorXML {
    static func bool(_ b: Bool) -> String { b ? "true" : "false" }

    /// `unpacked`: the working set before lost tickets were applied (the summary's counts).
    static func document(_ cib: CIB, _ ws: WorkingSet, unpacked: WorkingSet? = nil, request: String, now: Date) -> XElement {
        var result = XElement("pacemaker-result", ["api-version": "2.25", "request": request])
        result.append(summary(cib, unpacked ?? ws, now: now))
        result.append(nodes(cib, ws))
        result.append(resources(ws))
        if let a = nodeAttributes(ws) { result.append(a) }
        if let h = nodeHistory(cib, ws) { result.append(h) }
        if let f = failures(ws, cib) { result.append(f) }
        if let t = tickets(cib) { result.append(t) }
        if let b = bans(cib, ws) { result.append(b) }
        result.append(XElement("status", ["code": "0", "message": "OK"]))
        return result
    }

    static func summary(_ cib: CIB, _ ws: WorkingSet, now: Date) -> XElement {
        let props = ws.options.raw
        var s = XElement("summary")
        s.append(XElement("stack", ["type": props["cluster-infrastructure"] ?? "unknown"]))
        if let dc = cib.root["dc-uuid"], let node = ws.nodes.first(where: { $0.id == dc }) {
            s.append(XElement("current_dc", ["present": "true", "version": props["dc-version"] ?? "", "name": node.name, "id": node.id,
                                             "with_quorum": bool(ws.haveQuorum), "mixed_version": bool(StatusText.isMixedVersion(ws))]))
        } else {
            s.append(XElement("current_dc", ["present": "false"]))
        }
        s.append(XElement("last_update", ["time": ctime(Int(now.timeIntervalSince1970))]))
        s.append(XElement("last_change", ["time": cib.root["cib-last-written"] ?? "", "user": cib.root["update-user"] ?? "",
                                          "client": cib.root["update-client"] ?? "", "origin": cib.root["update-origin"] ?? ""]))
        s.append(XElement("nodes_configured", ["number": String(ws.nodes.count)]))
        let (disabled, blocked, total) = Simulator.instanceCounts(ws)
        s.append(XElement("resources_configured", ["number": String(total), "disabled": String(disabled), "blocked": String(blocked)]))
        let timeout = props["stonith-timeout"].flatMap(CIBValue.milliseconds) ?? 60000
        let delay = (props["priority-fencing-delay"].flatMap(CIBValue.milliseconds) ?? 0) / 1000 * 1000
        s.append(XElement("cluster_options", [
            "stonith-enabled": bool(CIBValue.isTrue(props["stonith-enabled"] ?? "true")), "symmetric-cluster": bool(ws.options.symmetricCluster),
            "no-quorum-policy": effectiveNoQuorumPolicy(cib, ws), "maintenance-mode": bool(ws.options.maintenanceMode),
            "stop-all-resources": bool(ws.options.stopAllResources), "stonith-timeout-ms": String(timeout),
            "priority-fencing-delay-ms": String(delay),
        ]))
        return s
    }

    /// The no-quorum-policy in force: "suicide" only with fencing enabled and a cluster that
    /// has had quorum (or no-quorum-panic set), else "stop", as Pacemaker resets it.
    static func effectiveNoQuorumPolicy(_ cib: CIB, _ ws: WorkingSet) -> String {
        let policy = ws.options.noQuorumPolicy
        guard policy == "suicide" else { return policy }
        let panic = (Int(cib.root["no-quorum-panic"] ?? "") ?? 0) != 0
        return ws.options.fencingEnabled && (panic || ws.haveQuorum) ? policy : "stop"
    }

    /// How many primitives are active on a node (Pacemaker's running_rsc).
    static func runningCount(_ ws: WorkingSet, _ node: String) -> Int {
        ws.resources.filter { $0.isPrimitive && $0.activeOn.contains(node) }.count
    }

    /// The nodes; an online node still pending counts as standby, as Pacemaker keeps it.
    static func nodes(_ cib: CIB, _ ws: WorkingSet) -> XElement {
        var list = XElement("nodes")
        let dc = cib.root["dc-uuid"]
        for n in ws.nodes.sorted(by: { naturalLess($0.name, $1.name) }) {
            var attrs: [XAttribute] = [
                .init("name", n.name), .init("id", n.id), .init("online", bool(n.online)), .init("standby", bool(n.standby || (n.pending && n.online))),
                .init("standby_onfail", bool(n.standbyOnFail)), .init("maintenance", bool(n.maintenance && (n.kind == .member || n.hasState))),
                .init("pending", bool(n.pending)), .init("unclean", bool(n.unclean)),
                .init("health", n.health == .red ? "red" : (n.health == .yellow ? "yellow" : "green")),
            ]
            if n.online && n.kind == .member { attrs.append(.init("feature_set", n.attributes["#feature-set"] ?? "<3.15.1")) }
            let shutdown = n.shutdown || remoteStopping(ws, n)
            attrs += [.init("shutdown", bool(shutdown)), .init("expected_up", bool(n.expectedUp && !shutdown)), .init("is_dc", bool(n.id == dc)),
                      .init("resources_running", String(runningCount(ws, n.name))), .init("type", n.kind == .member ? "member" : "remote")]
            if n.kind == .guest, let c = n.container { attrs.append(.init("id_as_resource", c)) }
            list.append(XElement("node", attributes: attrs))
        }
        return list
    }

    /// A remote or guest node whose connection runs but is to stop (its target-role, or its
    /// bundle's, is Stopped) is shutting down, as Pacemaker marks it.
    static func remoteStopping(_ ws: WorkingSet, _ n: SchedulerNode) -> Bool {
        guard n.kind != .member, let c = ws.resources.first(where: { $0.isPrimitive && $0.id == (n.kind == .remote ? n.connection ?? n.name : n.name) }) else { return false }
        return !c.activeOn.isEmpty && c.targetRole == .stopped
    }

    // The <resources> section: PolicyEngine's ResourcesXML, shared with crm_resource --list.
    static func agentName(_ r: SchedulerResource) -> String { ResourcesXML.agentName(r) }
    static func displayRole(_ ws: WorkingSet, _ r: SchedulerResource) -> String { ResourcesXML.displayRole(ws, r) }
    static func isActive(_ ws: WorkingSet, _ r: SchedulerResource) -> Bool { ResourcesXML.isActive(ws, r) }
    static func inUniqueClone(_ ws: WorkingSet, _ r: SchedulerResource) -> Bool { ResourcesXML.inUniqueClone(ws, r) }
    static func pendingState(_ task: String) -> String? { ResourcesXML.pendingState(task) }
    static func isDisabled(_ r: SchedulerResource, promotable: Bool) -> Bool { ResourcesXML.isDisabled(r, promotable: promotable) }
    static func isManaged(_ ws: WorkingSet, _ r: SchedulerResource) -> Bool { ResourcesXML.isManaged(ws, r) }
    static func resource(_ ws: WorkingSet, _ i: Int) -> XElement? { ResourcesXML.resource(ws, i) }
    static func resources(_ ws: WorkingSet) -> XElement { ResourcesXML.resources(ws) }

    static let hiddenAttributes = ["fail-count-", "last-failure-", "shutdown", "terminate", "standby", "#"]

    static func nodeAttributes(_ ws: WorkingSet) -> XElement? {
        var list = XElement("node_attributes")
        for n in ws.nodes.sorted(by: { naturalLess($0.name, $1.name) }) where n.online {
            var all = n.configuredAttributes
            for (k, v) in n.attributes { all[k] = v }
            let names = all.keys.filter { k in !hiddenAttributes.contains { k.hasPrefix($0) } }
                .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            guard !names.isEmpty else { continue }
            var e = XElement("node", ["name": n.name])
            for k in names {
                var a = XElement("attribute", ["name": k, "value": all[k]!])
                if let expected = pingExpected(ws, node: n.name, attribute: k) { a["expected"] = String(expected) }
                e.append(a)
            }
            list.append(e)
        }
        return list.elements.isEmpty ? nil : list
    }

    /// For the attribute a ping resource running on the node sets: the score it gives when
    /// every host answers (hosts times multiplier).
    static func pingExpected(_ ws: WorkingSet, node: String, attribute: String) -> Int? {
        for r in ws.resources where r.isPrimitive && r.activeOn.contains(node) {
            guard let type = r.element["type"]?.lowercased(), type == "ping" || type == "pingd" else { continue }
            let name = r.parameters["name"] ?? "pingd"
            guard name.lowercased() == attribute.lowercased() else { continue }
            let hosts = r.parameters["host_list"].map { $0.components(separatedBy: " ").count } ?? 0
            let multiplier = r.parameters["multiplier"].flatMap { Int($0) } ?? 1
            return hosts * multiplier
        }
        return nil
    }

    /// Whether the CIB's history names fail counts the old way (`fail-count-RSC`, one per
    /// resource), as Pacemaker decides: a crm_feature_set before 3.0.13 (or none). Otherwise
    /// only the per-operation names (`fail-count-RSC#OP_INTERVAL`) count.
    static func legacyFailcounts(_ cib: CIB) -> Bool {
        guard let v = cib.root["crm_feature_set"] else { return true }
        let x = v.split(separator: ".").map { Int($0) ?? 0 }, y = [3, 0, 13]
        for i in 0..<max(x.count, y.count) {
            let p = i < x.count ? x[i] : 0, q = i < y.count ? y[i] : 0
            if p != q { return p < q }
        }
        return false
    }

    /// A resource's failcount on a node (sum over its operations) and its latest failure:
    /// the attributes Pacemaker's pattern takes, `PREFIX-RSC(:N)?` then `#OP_INTERVAL` (or,
    /// for a legacy CIB, nothing).
    static func failcount(_ ws: WorkingSet, node: SchedulerNode, resource: String) -> (Int, Int) {
        var count = 0, last = 0
        var all = node.configuredAttributes
        for (k, v) in node.attributes { all[k] = v }
        let legacy = legacyFailcounts(ws.cib)
        for (k, v) in all {
            for (prefix, isCount) in [("fail-count-", true), ("last-failure-", false)] where k.hasPrefix(prefix + resource) {
                var rest = k.dropFirst(prefix.count + resource.count)
                if rest.first == ":" {
                    let digits = rest.dropFirst().prefix { $0.isASCII && $0.isNumber }
                    guard !digits.isEmpty else { continue }
                    rest = rest.dropFirst(1 + digits.count)
                }
                if legacy {
                    guard rest.isEmpty else { continue }
                } else {
                    guard rest.first == "#", let us = rest.lastIndex(of: "_"), us > rest.index(after: rest.startIndex),
                          rest[rest.index(after: us)...].allSatisfy({ $0.isASCII && $0.isNumber }), rest.index(after: us) < rest.endIndex else { continue }
                }
                if isCount { count = min(CIBValue.infinity, count + (CIBValue.score(v) ?? 0)) } else { last = max(last, Int(v) ?? 0) }
            }
        }
        return (count, last)
    }

    static func nodeHistory(_ cib: CIB, _ ws: WorkingSet) -> XElement? {
        var list = XElement("node_history")
        let states = cib.root.firstElement(named: "status")?.elements(named: "node_state") ?? []
        var any = false
        for state in states {
            guard let node = ws.nodes.first(where: { $0.id == state.id }), node.online else { continue }
            any = true
            var e = XElement("node", ["name": node.name])
            let entries = state.firstElement(named: "lrm")?.firstElement(named: "lrm_resources")?.elements(named: "lrm_resource") ?? []
            for entry in entries {
                let id = entry.id ?? ""
                let ops = entry.elements(named: "lrm_rsc_op").filter { op in
                    let probe = op["operation"] == "monitor" && (op["interval"] ?? "0") == "0"
                    return op["operation"] != "notify" && !(probe && op["rc-code"] == "7")
                }.sorted(by: isOlder)
                guard !ops.isEmpty else { continue }
                let base = id.split(separator: ":").first.map(String.init) ?? id
                // Pacemaker finds the entry's resource among all it knows, orphans too (it
                // makes one for every history entry it cannot place).
                let known = ws.resources.first { $0.id == id && !$0.orphan } ?? ws.resources.first { $0.id == id }
                    ?? ws.resources.first { $0.configuredID == base && !$0.orphan } ?? ws.resources.first { $0.configuredID == base }
                let unique = known.map { k in k.parent.map { CIBValue.isTrue(ws.resources[$0].meta["globally-unique"] ?? "false") } ?? false } ?? false
                var h = XElement("resource_history", ["id": known == nil ? id : (unique ? known!.id : known!.configuredID)])
                if let known {
                    h["orphan"] = "false"
                    // (A guest node's connection, made by Pacemaker, has the resource defaults';
                    // a negative threshold counts as 1.)
                    let guestConnection = ws.node(named: known.id)?.kind == .guest
                    let raw = known.meta["migration-threshold"] ?? (guestConnection ? ws.plainResourceDefaults["migration-threshold"] : nil)
                    h["migration-threshold"] = raw.flatMap { CIBValue.score($0) }.map { String($0 < 0 ? 1 : min($0, CIBValue.infinity)) } ?? String(CIBValue.infinity)
                    let (count, last) = failcount(ws, node: node, resource: base)
                    // (A fail count is a number, INFINITY 1000000; the last failure shows
                    // only with one.)
                    if count > 0 { h["fail-count"] = String(min(count, CIBValue.infinity)) }
                    if count > 0 && last > 0 { h["last-failure"] = ctime(last) }
                } else {
                    h["orphan"] = "false"
                    // A guest node's connection (made by Pacemaker) has the resource defaults'
                    // migration-threshold (a negative one counts as 1).
                    var threshold = CIBValue.infinity
                    if ws.node(named: id)?.kind == .guest, let v = ws.plainResourceDefaults["migration-threshold"].flatMap(CIBValue.score) {
                        threshold = v < 0 ? 1 : min(v, CIBValue.infinity)
                    }
                    h["migration-threshold"] = String(threshold)
                }
                for op in ops {
                    let interval = op["interval"] ?? "0"
                    let task = op["operation"] == "monitor" && interval == "0" ? "probe" : (op["operation"] ?? "")
                    let rc = Int(op["rc-code"] ?? "0") ?? 0
                    var o = XElement("operation_history", ["call": op["call-id"] ?? "", "task": task, "rc": String(rc), "rc_text": MonitorText.rcText(rc)])
                    if interval != "0" { o["interval"] = "\(interval)ms" }
                    if let t = op["last-rc-change"].flatMap({ Int($0) }), t > 0 { o["last-rc-change"] = ctime(t) }
                    if let v = op["exec-time"] { o["exec-time"] = "\(v)ms" }
                    if let v = op["queue-time"] { o["queue-time"] = "\(v)ms" }
                    h.append(o)
                }
                e.append(h)
            }
            if !e.elements.isEmpty { list.append(e) }
        }
        return any ? list : nil
    }

    /// Pacemaker's order of one resource's operations on a node: by call id, a pending one
    /// (call id -1) after the others unless the transition numbers say otherwise, equal call
    /// ids by last-rc-change.
    static func isOlder(_ a: XElement, _ b: XElement) -> Bool {
        let x = Int(a["call-id"] ?? "") ?? -1, y = Int(b["call-id"] ?? "") ?? -1
        if x == -1 && y == -1 { return false }
        if x >= 0 && y >= 0 {
            if x != y { return x < y }
            let p = Int(a["last-rc-change"] ?? "") ?? -1, q = Int(b["last-rc-change"] ?? "") ?? -1
            return p >= 0 && p < q
        }
        if x >= 0 && x < y { return true }
        if y >= 0 && x > y { return false }
        // One is pending: the transitions that asked for them (uuid and number in the magic).
        func transition(_ e: XElement) -> (uuid: String, id: Int)? {
            guard let magic = e["transition-magic"], let key = magic.split(separator: ";", maxSplits: 1).last else { return nil }
            let parts = key.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 4, let id = Int(parts[1]) else { return nil }
            return (parts[3...].joined(separator: ":"), id)
        }
        guard let s = transition(a), let t = transition(b) else { return false }
        if s.uuid.lowercased() != t.uuid.lowercased() || s.id == t.id { return y == -1 }
        return (s.id >= 0 && s.id < t.id) || t.id == -1
    }

    /// The failed operations, each with its entry in the history (found again for its call
    /// id, key and times).
    static func failedOperationRecords(_ ws: WorkingSet, _ cib: CIB) -> [(failure: FailedOperation, op: XElement?)] {
        guard !ws.failedOperations.isEmpty else { return [] }
        var ops: [String: [XElement]] = [:]
        for state in cib.root.firstElement(named: "status")?.elements(named: "node_state") ?? [] {
            let name = state["uname"] ?? ""
            for r in state.firstElement(named: "lrm")?.firstElement(named: "lrm_resources")?.elements(named: "lrm_resource") ?? [] {
                for op in r.elements(named: "lrm_rsc_op") { ops["\(name)|\(r.id ?? "")", default: []].append(op) }
            }
        }
        // A probe that found the agent missing or its parameters invalid is not listed
        // (Pacemaker's pcmk_xe_mask_probe_failure).
        let masked = { (f: FailedOperation) in
            f.task == "monitor" && f.intervalMS == 0 && (f.rc == 5 || f.rc == 2 || f.status == 7)
        }
        // Nor is a failure on a node that is not online (Pacemaker records none there).
        let records = ws.failedOperations.filter { !masked($0) && ws.node(named: $0.node)?.online == true }.map { f in
            let candidates = ops["\(f.node)|\(f.resource)"] ?? []
            let op = candidates.last { ($0["operation"] == f.task) && (Int($0["interval"] ?? "0") ?? 0) == f.intervalMS && (Int($0["rc-code"] ?? "") ?? -1) == f.rc }
            return (failure: f, op: op)
        }
        // Pacemaker keeps one failure per operation key and node (compared without case): a
        // history without operation_key attributes (an old one) has one key, none, so only
        // the first failure on each node is listed.
        var seen = Set<String>()
        return records.filter { r in
            guard r.op != nil else { return true }
            let key = (r.op?["operation_key"].map { "=" + $0.lowercased() } ?? "none") + "|" + r.failure.node.lowercased()
            return seen.insert(key).inserted
        }
    }

    static func failures(_ ws: WorkingSet, _ cib: CIB) -> XElement? {
        let records = failedOperationRecords(ws, cib)
        guard !records.isEmpty else { return nil }
        var list = XElement("failures")
        for (f, op) in records {
            var e = XElement("failure", attributes: [
                .init(op?["operation_key"] == nil ? "id" : "op_key", op?["operation_key"] ?? op?.id ?? ""),
                .init("node", f.node), .init("exitstatus", MonitorText.rcText(f.rc)), .init("exitreason", op?["exit-reason"] ?? f.exitReason ?? "none"),
                .init("exitcode", String(f.rc)), .init("call", op?["call-id"] ?? ""), .init("status", ToolSupport.execStatusText(f.status)),
            ])
            if let t = f.lastRCChange, t > 0 {
                e["last-rc-change"] = CLIConstraint.format(Date(timeIntervalSince1970: Double(t)), timeZone: .current)
                e["queued"] = op?["queue-time"]
                e["exec"] = op?["exec-time"]
                e["interval"] = String(f.intervalMS)
                e["task"] = f.task
            }
            list.append(e)
        }
        return list
    }

    static func tickets(_ cib: CIB) -> XElement? {
        let all = ticketOrder(cib)
        guard !all.isEmpty else { return nil }
        var list = XElement("tickets")
        for t in all {
            var e = XElement("ticket", ["id": t.id, "status": t.granted ? "granted" : "revoked", "standby": bool(t.standby)])
            if let g = t.lastGranted { e["last-granted"] = ctime(g) }
            list.append(e)
        }
        return list
    }

    /// The tickets in the order Pacemaker 2.1.5 prints them: its working set gathers those the
    /// status section holds, in its order, then those only an rsc_ticket constraint names, into
    /// a GLib hash table, and crm_mon lists them as that table iterates.
    static func ticketOrder(_ cib: CIB) -> [TicketInfo] {
        let byID = Dictionary(cib.tickets.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var ids: [String] = []
        for s in cib.root.firstElement(named: "status")?.firstElement(named: "tickets")?.elements(named: "ticket_state") ?? [] {
            if let id = s.id, !ids.contains(id) { ids.append(id) }
        }
        for c in cib.constraintElements where c.name == "rsc_ticket" {
            if let id = c["ticket"], !ids.contains(id) { ids.append(id) }
        }
        for t in cib.tickets where !ids.contains(t.id) { ids.append(t.id) }
        return GLibHashOrder.order(ids).compactMap { byID[$0] }
    }

    /// The negative location constraints, in the order (and with the rules) the text shows them.
    static func bans(_ cib: CIB, _ ws: WorkingSet) -> XElement? {
        var list = XElement("bans")
        for b in MonitorText.negativeLocations(cib, ws) {
            list.append(XElement("ban", ["id": b.id, "resource": b.resource, "node": b.node, "weight": String(b.weight),
                                         "promoted-only": bool(b.promoted), "master_only": bool(b.promoted)]))
        }
        return list.elements.isEmpty ? nil : list
    }

    /// `Tue Nov 24 00:28:14 2026`, as ctime prints it, local time.
    static func ctime(_ seconds: Int) -> String { TicketText.asctime(seconds) }
}
