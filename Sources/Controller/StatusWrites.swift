import CIB

/// The CIB changes that carry out the core's record directives, in order. Pure: the daemon
/// sends them to cibd (a delete of something absent, `notFound`, is not an error there), and
/// the tests apply them to a CIB value with `CIBReplica.apply`.
public struct StatusWrites: Sendable {
    /// The CIB node id of a node name (corosync's node id, as text).
    public var nodeID: @Sendable (String) -> String
    /// Seconds since 1970.
    public var now: Int
    public var startFailureIsFatal: Bool
    public var quorate: Bool
    /// The `<status>` and `<nodes>` sections as they are now (for join and membership records).
    public var status: XElement?
    public var nodes: XElement?
    /// The cluster's nodelist (corosync.conf): at the end of each join round, its nodes not yet
    /// in `<nodes>` are added, as Pacemaker's DC does, so that the scheduler knows the nodes it
    /// has never seen (unclean with startup-fencing, fenced before their resources are used).
    public var nodelist: [ControllerMember] = []
    /// The corosync ring's members now, as node ids (`ControllerCore.ringMembers`); nil: not
    /// known. A node the status shows up that is no longer a member of the controllers' group
    /// is recorded lost at the end of a join round; while it is in the ring it is recorded in
    /// it (`in_ccm`), its controller lost (as when the loss was seen: `recordLeft`), so that
    /// every controller, one started later included, finds it so (`ControllerCore.frozen`).
    public var inRing: Set<String>?

    public init(nodeID: @escaping @Sendable (String) -> String, now: Int, startFailureIsFatal: Bool = true, quorate: Bool = true,
                status: XElement? = nil, nodes: XElement? = nil) {
        self.nodeID = nodeID
        self.now = now
        self.startFailureIsFatal = startFailureIsFatal
        self.quorate = quorate
        self.status = status
        self.nodes = nodes
    }

    /// Whether a directive needs the current `status` and `nodes` sections.
    public static func needsSections(_ d: ControllerCore.Directive) -> Bool {
        switch d {
        case .recordJoin, .recordMembers: return true
        default: return false
        }
    }

    static func statePath(_ id: String) -> String { "/cib/status/node_state[@id='\(id)']" }

    /// What the DC writes as `dc-version`: the Pacemaker version it is compatible with.
    public static let dcVersion = "2.1.5-swiftha"

    /// Whether a change (not the DC's own) names another node as DC than `dcID`: a controller
    /// that was DC of a partition until the merge may have had its write of `dc-uuid` redone
    /// on the merged copy, after the merged cluster's DC wrote its own. The DC then writes
    /// `dc-uuid` again (stonithd fences only for the controller of the node the CIB names).
    public static func namesOtherDC(_ patch: CIBPatch, dcID: String) -> Bool {
        patch.changes.contains { change in
            guard case .modify(let path, let set, _, _) = change, path == "/cib" else { return false }
            return set.contains { $0.name == "dc-uuid" && $0.value != dcID }
        }
    }

    /// The resources whose whole history on node `nodeID` a change deleted (their
    /// `lrm_resource` under the node's `lrm`), as crm_resource --cleanup and --refresh do so
    /// that they are probed again. The node's controller has its executor forget them too, as
    /// Pacemaker's controller does when asked to, so that the next join round (which records
    /// each node's history from its executor) does not bring a forgotten failure back.
    public static func deletedHistories(in patch: CIBPatch, nodeID: String) -> [String] {
        patch.changes.compactMap { change in
            guard case .delete(let path) = change else { return nil }
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 7, parts[1] == "cib", parts[2] == "status", parts[3] == "node_state[@id='\(nodeID)']",
                  parts[4] == "lrm" || parts[4].hasPrefix("lrm[@id="), parts[5] == "lrm_resources",
                  parts[6].hasPrefix("lrm_resource[@id='"), parts[6].hasSuffix("']") else { return nil }
            return String(parts[6].dropFirst("lrm_resource[@id='".count).dropLast(2))
        }
    }

    /// `dc-uuid` and `have-quorum` on the `<cib>` element.
    public func rootAttributes(dc: ControllerMember) -> CIBReplica.Operation {
        var e = XElement("cib")
        e["have-quorum"] = quorate ? "1" : "0"
        e["dc-uuid"] = String(dc.nodeID)
        return .xpath("/cib", .modify(e))
    }

    public func operations(for d: ControllerCore.Directive, dc: ControllerMember) -> [CIBReplica.Operation] {
        switch d {
        case .becameDC:
            // As Pacemaker's DC does: the DC's version and the stack, for crm_mon.
            var set = XElement("cluster_property_set", attributes: [XAttribute("id", "cib-bootstrap-options")])
            for (name, value) in [("dc-version", Self.dcVersion), ("cluster-infrastructure", "corosync")] {
                set.append(XElement("nvpair", attributes: [XAttribute("id", "cib-bootstrap-options-\(name)"),
                                                           XAttribute("name", name), XAttribute("value", value)]))
            }
            return [rootAttributes(dc: dc), .modify(set, section: .crmConfig, allowCreate: true)]
        case .recordJoin(let m, let lrm):
            let id = String(m.nodeID)
            var ops: [CIBReplica.Operation] = StatusRecords.missingNodes(in: nodes, members: [(id, m.name)]).map { .create($0, section: .nodes) }
            ops.append(.modify(StatusRecords.joined(id: id, uname: m.name), section: .status, allowCreate: true))
            ops.append(.xpath(Self.statePath(id) + "/lrm", .delete(all: true)))
            ops.append(.xpath(Self.statePath(id), .create(StatusRecords.lrm(id: id, lrmResources: lrm))))
            return ops
        case .recordMembers(let members):
            // The DC and quorum again: a write of the DC before this one may have been redone
            // after this DC's first one.
            let ids = Set(members.map { String($0.nodeID) })
            // Every member's membership attributes again: when partitions merge, cibd keeps the
            // newest copy, which may be one where a member (the DC itself, even) was recorded
            // down by the other partition's DC, after this round's own join record was written.
            let joined = members.map { m -> CIBReplica.Operation in
                .modify(StatusRecords.joined(id: String(m.nodeID), uname: m.name), section: .status, allowCreate: true)
            }
            let unseen = StatusRecords.missingNodes(in: nodes, members: nodelist.map { (String($0.nodeID), $0.name) })
                .map { CIBReplica.Operation.create($0, section: .nodes) }
            return [rootAttributes(dc: dc)] + joined + unseen + StatusRecords.staleNodes(in: status, members: ids).flatMap { n -> [CIBReplica.Operation] in
                [.modify(StatusRecords.left(id: n.id, uname: n.uname, clean: false, nodeStillUp: inRing?.contains(n.id) ?? false),
                          section: .status, allowCreate: true),
                 // Lost, not shut down: a pending shutdown request no longer applies.
                 .xpath(Self.statePath(n.id) + "/transient_attributes/instance_attributes/nvpair[@name='shutdown']", .delete(all: true))]
            }
        case .recordLeft(let m, let clean, let up):
            let id = String(m.nodeID)
            var ops: [CIBReplica.Operation] = [.modify(StatusRecords.left(id: id, uname: m.name, clean: clean, nodeStillUp: up),
                                                       section: .status, allowCreate: true)]
            if clean {
                ops.append(.xpath(Self.statePath(id) + "/transient_attributes", .delete(all: true)))
            } else {
                // Lost while its shutdown was pending: not a shutdown. Without its `shutdown`
                // attribute the scheduler sees it unclean, and it is fenced.
                ops.append(.xpath(Self.statePath(id) + "/transient_attributes/instance_attributes/nvpair[@name='shutdown']", .delete(all: true)))
            }
            return ops
        case .recordResult(var r):
            // A result the DC made itself (a timeout) carries no time of its own.
            if r.lastRCChange == 0 { r.lastRCChange = now }
            let id = nodeID(r.node)
            let base = Self.statePath(id) + "/lrm/lrm_resources/lrm_resource[@id='\(r.resource)']"
            switch r.task {
            case "cancel": return [.xpath(base + "/lrm_rsc_op[@interval='\(r.intervalMS)']", .delete(all: true))]
            case "delete": return [.xpath(base, .delete(all: true))]
            case "do_shutdown": return []
            default: break
            }
            var ops: [CIBReplica.Operation] = [.modify(StatusRecords.result(r, nodeID: id), section: .status, allowCreate: true)]
            if let fc = StatusRecords.failcount(r, nodeID: id, now: now, startFailureIsFatal: startFailureIsFatal) {
                ops.append(.modify(fc, section: .status, allowCreate: true))
            }
            return ops
        case .recordShutdownRequest(let nodeID, let node):
            return [.modify(StatusRecords.shutdownRequest(nodeID: String(nodeID), uname: node, now: now), section: .status, allowCreate: true)]
        case .recordExpectedDown(let node):
            return [.modify(StatusRecords.expectedDown(id: nodeID(node), uname: node), section: .status, allowCreate: true)]
        case .recordFenced(let node):
            let id = nodeID(node)
            return [.modify(StatusRecords.fenced(id: id, uname: node), section: .status, allowCreate: true),
                    .xpath(Self.statePath(id) + "/lrm", .delete(all: true)),
                    .xpath(Self.statePath(id) + "/transient_attributes", .delete(all: true))]
        case .clearFailcount(let rsc, let node):
            let id = nodeID(node)
            return [.xpath(Self.statePath(id) + "/transient_attributes/instance_attributes/nvpair[starts-with(@name,'fail-count-\(rsc)#') or starts-with(@name,'last-failure-\(rsc)#')]",
                           .delete(all: true))]
        default:
            return []
        }
    }
}
