import CIB

/// The `<resources>` section of Pacemaker 2.1.5's XML output (`crm_mon --output-as xml`,
/// `crm_resource --list --output-as xml`), element for element.
public enum ResourcesXML {
    static func bool(_ b: Bool) -> String { b ? "true" : "false" }

    public static func agentName(_ r: SchedulerResource) -> String {
        // A bundle's implicit resources (container, address, connection) have no configured
        // element: their agent is the scheduler's.
        let e = r.element
        if e["class"] == nil, let a = r.agent { return "\(a.standard)\(a.provider.map { ":" + $0 } ?? ""):\(a.type)" }
        return "\(e["class"] ?? "")\(e["provider"].map { ":" + $0 } ?? ""):\(e["type"] ?? "")"
    }

    public static func displayRole(_ ws: WorkingSet, _ r: SchedulerResource) -> String {
        var role = r.activeOn.isEmpty ? Role.stopped : r.role
        if role == .unknown { role = r.activeOn.isEmpty ? .stopped : .started }
        if role == .started && ws.isInPromotableClone(r) { role = .unpromoted }
        return role.description
    }

    /// Pacemaker's native_active: active on some node, a cleanly offline node counting only
    /// for a resource the cluster does not manage.
    public static func isActive(_ ws: WorkingSet, _ r: SchedulerResource) -> Bool {
        let managed = isManaged(ws, r)
        return r.activeOn.contains { n in
            guard let node = ws.node(named: n) else { return true }
            return node.online || node.unclean || !managed
        }
    }

    /// Whether the resource is an instance (or an instance's member) of a globally unique
    /// clone; a bundle's resource by the bundle's globally-unique.
    public static func inUniqueClone(_ ws: WorkingSet, _ r: SchedulerResource) -> Bool {
        var p = r.parent
        while let j = p {
            switch ws.resources[j].variant {
            case .clone(_, let unique): return unique
            case .bundle: return CIBValue.isTrue(ws.resources[j].meta["globally-unique"] ?? "false")
            default: p = ws.resources[j].parent
            }
        }
        return false
    }

    /// The role a pending action leads to, as crm_mon names it.
    public static func pendingState(_ task: String) -> String? {
        switch task {
        case "start": "Starting"
        case "stop": "Stopping"
        case "promote": "Promoting"
        case "demote": "Demoting"
        case "migrate_to", "migrate_from": "Migrating"
        default: nil
        }
    }

    /// Pacemaker's pe__resource_is_disabled: the target-role of the resource's meta
    /// attributes (its own, else its parent's or the resource defaults').
    public static func isDisabled(_ r: SchedulerResource, promotable: Bool) -> Bool {
        guard let t = (r.element.firstElementValue(meta: "target-role") ?? r.meta["target-role"]).flatMap(Role.init(name:)) else { return false }
        return t == .stopped || (t == .unpromoted && promotable)
    }

    /// Whether the cluster manages a primitive: not blocked, not is-managed=false, and not in
    /// maintenance (its own, the cluster's, or that of a node it is active on).
    public static func isManaged(_ ws: WorkingSet, _ r: SchedulerResource) -> Bool {
        r.managed && !r.maintenance && !r.blocked && !ws.options.maintenanceMode
            && !r.activeOn.contains { ws.node(named: $0)?.maintenance == true }
    }

    public static func resource(_ ws: WorkingSet, _ i: Int) -> XElement? {
        let r = ws.resources[i]
        switch r.variant {
        case .primitive:
            let unique = inUniqueClone(ws, r)
            // A pending action shows as the role it leads to ("Starting"); a pending monitor
            // as pending="Monitoring" (Pacemaker's native_pending_state and _task).
            let pendingRole = r.pendingTask.flatMap(pendingState)
            var attrs: [XAttribute] = [.init("id", unique ? r.id : r.configuredID), .init("resource_agent", agentName(r)),
                                       .init("role", pendingRole ?? displayRole(ws, r))]
            if let t = r.meta["target-role"] { attrs.append(.init("target_role", t)) }
            attrs += [.init("active", bool(isActive(ws, r))), .init("orphaned", bool(r.orphan)), .init("blocked", bool(r.blocked)),
                      .init("managed", bool(isManaged(ws, r))), .init("failed", bool(r.failed)),
                      .init("failure_ignored", bool(r.failureIgnored)), .init("nodes_running_on", String(r.activeOn.count))]
            if r.pendingTask == "monitor" && r.pendingNode != nil { attrs.append(.init("pending", "Monitoring")) }
            var e = XElement("resource", attributes: attrs)
            for n in r.activeOn {
                let node = ws.node(named: n)
                e.append(XElement("node", ["name": n, "id": node?.id ?? n, "cached": bool(node?.online ?? false)]))
            }
            return e
        case .group:
            var e = XElement("group", ["id": r.id, "number_resources": String(r.children.count), "managed": bool(r.managed && !r.maintenance && !ws.options.maintenanceMode),
                                       "disabled": bool(isDisabled(r, promotable: false))])
            for c in r.children { if let x = resource(ws, c) { e.append(x) } }
            return e
        case .clone(let promotable, let unique):
            // (A clone of agents that cannot tell instances apart, LSB and the like, is
            // anonymous whatever globally-unique says.)
            var attrs: [XAttribute] = [.init("id", r.id), .init("multi_state", bool(promotable)),
                                       .init("unique", bool(unique)),
                                       .init("managed", bool(r.managed && !r.maintenance && !ws.options.maintenanceMode)), .init("disabled", bool(isDisabled(r, promotable: promotable))),
                                       .init("failed", bool(r.failed)), .init("failure_ignored", bool(r.failureIgnored))]
            if let t = r.meta["target-role"] ?? r.children.first.flatMap({ ws.resources[$0].meta["target-role"] }) { attrs.append(.init("target_role", t)) }
            var e = XElement("clone", attributes: attrs)
            for c in r.children { if let x = resource(ws, c) { e.append(x) } }
            return e
        case .bundle:
            // Each replica: its address, its resource, its container, its connection.
            let kind = ["docker", "podman", "rkt"].first { r.element.firstElement(named: $0) != nil } ?? "docker"
            var e = XElement("bundle", attributes: [
                .init("id", r.id), .init("type", kind), .init("image", r.bundleImage ?? ""),
                .init("unique", bool(CIBValue.isTrue(r.meta["globally-unique"] ?? "false"))),
                .init("managed", bool(r.managed && !r.maintenance && !ws.options.maintenanceMode)), .init("failed", bool(r.failed)),
            ])
            for replica in ws.bundleReplicas[i] ?? [] {
                var x = XElement("replica", ["id": String(replica.number)])
                for part in [replica.ip, replica.child, replica.container, replica.connection].compactMap({ $0 }) {
                    if let y = resource(ws, part) { x.append(y) }
                }
                e.append(x)
            }
            return e
        }
    }

    public static func resources(_ ws: WorkingSet) -> XElement {
        var list = XElement("resources")
        for top in ws.topLevel {
            let r = ws.resources[top]
            // (A removed resource is listed only while active somewhere.)
            if r.orphan && r.isPrimitive && r.activeOn.isEmpty && r.pendingTask == nil { continue }
            if let x = resource(ws, top) { list.append(x) }
        }
        return list
    }
}

extension XElement {
    /// The value of a meta attribute in the element's own meta_attributes.
    public func firstElementValue(meta name: String) -> String? {
        for set in elements(named: "meta_attributes") {
            for p in set.elements(named: "nvpair") where p["name"] == name { return p["value"] }
        }
        return nil
    }
}
