import CIB
import PolicyEngine

/// A node's controller lost while the node stays in the ring (`ControllerCore.controllersAway`).
///
/// Pacemaker's DC fences such a node at once ("peer process is no longer available"), though
/// its executor still runs its resources and pacemakerd is already starting a new controller.
/// Here the DC waits, for a bounded grace, with the node frozen in the scheduler's input: shown
/// up and in maintenance, so that what runs there stays where it is (unmanaged), nothing new is
/// placed there and nothing there is recovered elsewhere; no action is sent there. When the
/// new controller joins, the join reads the node's history from its executor again (which
/// still holds it) and the cluster goes on as before: no fencing, nothing started twice. When
/// the grace passes first, or the node leaves the ring, the freeze ends and the node is what
/// the CIB says it is: lost, fenced before anything of it is recovered.
///
/// A `processDown` counts (the node's corosyncd said its process ended), and so does what any
/// controller can observe itself: a node in the corosync ring whose controller is not in the
/// controllers' group (`deriveAway`), so that a controller that did not see the loss (started
/// after it: elected DC after the old DC's power cut, or restarted itself) waits too rather
/// than fencing. The grace runs from this controller's own observation. A node that leaves
/// the ring (a power cut) is not waited for at all. A corosyncd killed on the node and
/// started again at once by pacemakerd, back in the ring before the others' token timeout,
/// comes here too: its node never left the ring, its processes (crmd among them) ended.
///
/// At cluster start the nodes whose controller has not started yet are in the ring too: they
/// are awaited the same way, but frozen only when the CIB has them last in the ring and
/// expected up (a node with no status, never seen, is left to dc-deadtime and
/// startup-fencing as before; one that was shut down or fenced is down), and the DC runs no
/// scheduler before dc-deadtime anyway.
extension ControllerCore {
    /// Notes the members whose controller left while their node stays up, and those that are
    /// back (or gone from the ring after all). Every controller keeps the list; only the DC
    /// acts on it.
    mutating func trackControllersAway(_ members: [ControllerMember],
                                       left: [(member: ControllerMember, clean: Bool, nodeStillUp: Bool)]) -> [Directive] {
        var out: [Directive] = []
        let present = Set(members.map(\.name))
        for name in controllersAway.keys.sorted() where present.contains(name) {
            controllersAway[name] = nil
            out += [.disarm(.controllerGrace(node: name)), .note("\(name)'s controller is back: its history is read again, and it is not fenced")]
        }
        notAwaited.subtract(present)
        // A member back: its join reads what its executor runs (pending operations included).
        for name in inFlightWhenAway.keys where present.contains(name) { inFlightWhenAway[name] = nil }
        let back = present.subtracting(election.members.map(\.name))
        if !back.isEmpty { unansweredRequests = unansweredRequests.filter { !back.contains($0.value.node) } }
        for l in left where l.member != local && !present.contains(l.member.name) {
            let name = l.member.name
            let inRing = ringMembers.map { $0.contains(l.member.nodeID) } ?? true
            if !l.clean && l.nodeStillUp && inRing {
                if controllersAway[name] == nil {
                    if let pending = inFlight(on: name), !pending.isEmpty { inFlightWhenAway[name] = pending }
                    out += [.arm(.controllerGrace(node: name), after: controllerRestartGrace),
                            .note("\(name)'s controller was lost but \(name) is still in the ring: waiting up to \(controllerRestartGrace) for its new controller, with \(name) frozen (in maintenance) for the scheduler")]
                }
                controllersAway[name] = l.member
                awayFromRing.remove(name)
            } else {
                if controllersAway.removeValue(forKey: name) != nil {
                    out.append(.disarm(.controllerGrace(node: name)))
                }
                // Left on purpose (shutting down), or with its node: not awaited in the ring.
                if l.clean { notAwaited.insert(name) }
            }
        }
        return out
    }

    /// The nodes in the corosync ring whose controller is not in the controllers' group
    /// (`members`, which must include this controller: before it has joined the group it sees
    /// nobody's controller), not yet awaited and not given up on (`notAwaited`): awaited from
    /// now, for `controllerRestartGrace` at most, as if this controller had seen their
    /// controller's process end (`awayFromRing`). Needs the ring (`onRing`) and the nodes'
    /// names (`nodeNames`); without them nothing is derived.
    mutating func deriveAway(members: [ControllerMember]) -> [Directive] {
        guard let ring = ringMembers, members.contains(local) else { return [] }
        let present = Set(members.map(\.nodeID))
        var out: [Directive] = []
        for id in ring.sorted() where id != local.nodeID && !present.contains(id) {
            guard let name = nodeNames[id], controllersAway[name] == nil, !notAwaited.contains(name),
                  !members.contains(where: { $0.name == name }) else { continue }
            controllersAway[name] = ControllerMember(nodeID: id, name: name)
            awayFromRing.insert(name)
            out += [.arm(.controllerGrace(node: name), after: controllerRestartGrace),
                    .note("\(name) is in the ring but its controller is not in the group: waiting up to \(controllerRestartGrace) for its controller, with \(name) frozen (in maintenance) for the scheduler while the CIB has it in the ring and expected up")]
        }
        return out
    }

    /// The one-shot resource actions on `node` that the DC's transition is waiting for (nil
    /// when this controller runs no transition), as they were sent.
    func inFlight(on node: String) -> [ActionRequest]? {
        guard let ex = executor, !ex.isFinished else { return nil }
        return ex.running.sorted().compactMap { i -> ActionRequest? in
            let a = ex.graph.actions[i]
            guard a.kind == .resource, a.node == node, a.intervalMS == 0 else { return nil }
            let key = TransitionKey(actionID: a.id, transitionID: transitionID, targetRC: Int(a.meta["op_target_rc"] ?? "") ?? 0, uuid: uuid)
            return ActionRequest(node: node, task: a.task, resource: a.historyName ?? a.resource, agent: a.agent?.description,
                                 intervalMS: 0, timeoutMS: 0, parameters: a.parameters, meta: a.meta, transitionKey: key.description)
        }
    }

    /// The corosync ring's members now (from each quorum report, which corosyncd sends at
    /// every membership change). A node whose controller is awaited and that has left the ring
    /// is not waited for any longer: the DC records it out of the membership and the scheduler
    /// has it fenced.
    public mutating func onRing(_ nodeIDs: Set<UInt32>) -> [Directive] {
        ringMembers = nodeIDs
        notAwaited = notAwaited.filter { name in nodeNames.contains { $0.value == name && nodeIDs.contains($0.key) } }
        var out: [Directive] = []
        var gone: [ControllerMember] = []
        for (name, m) in controllersAway.sorted(by: { $0.key < $1.key }) where !nodeIDs.contains(m.nodeID) {
            controllersAway[name] = nil
            gone.append(m)
            out += [.disarm(.controllerGrace(node: name)), .note("\(name) left the ring while its controller was away: it is treated as lost")]
        }
        out += deriveAway(members: election.members)
        guard !gone.isEmpty, isDC else { return out }
        out += gone.map { .recordLeft($0, clean: false, nodeStillUp: false) }
        return out + requestSchedule("\(gone.map(\.name).joined(separator: ", ")) left the ring")
    }

    /// The nodes frozen in the scheduler's input for `cib`: those whose controller was seen
    /// lost, and those found in the ring without a controller (`awayFromRing`) that the CIB
    /// has last recorded in the ring and expected up.
    public func frozen(in cib: CIB) -> [ControllerMember] {
        controllersAway.values.sorted().filter { m in
            guard awayFromRing.contains(m.name) else { return true }
            return Self.lastInRingAndExpectedUp(String(m.nodeID), in: cib)
        }
    }

    /// Whether the CIB's node_state of `id` has the node in the corosync membership
    /// (`in_ccm`) and not expected down (shut down or fenced since).
    static func lastInRingAndExpectedUp(_ id: String, in cib: CIB) -> Bool {
        guard let state = (try? cib.root.xpathElements("/cib/status/node_state[@id='\(id)']"))?.first else { return false }
        let inCCM = state["in_ccm"] == "true" || (state["in_ccm"].flatMap(Int.init) ?? 0) > 0
        return inCCM && state["expected"] != "down"
    }

    /// The scheduler's input for `cib`: each node whose controller is awaited shown as a
    /// joined member in maintenance (not written to the CIB; the shell saves this input as
    /// the pe-input, so that crm_simulate replays the decision as it was taken); what was in
    /// flight on a node whose controller was lost shown pending there until it is fenced or
    /// back, frozen or not (past the grace the node is fenced, and a start that may have
    /// succeeded there is recovered elsewhere only after that).
    public func schedulerInput(_ cib: CIB) -> CIB {
        let frozen = frozen(in: cib)
        let pending = pendingOffGroup
        let out = Self.freezing(frozen, pending: pending, in: cib)
        let names = Set(frozen.map(\.name))
        let rest = pending.filter { !names.contains($0.key) }
        guard !rest.isEmpty else { return out }
        return Self.addingPending(rest, in: out)
    }

    /// What may be under way on nodes whose controller is not in the group, by node name:
    /// what this DC had in flight when their controller was lost (`inFlightWhenAway`), and
    /// what any DC before it had sent there unanswered (`unansweredRequests`), once each.
    var pendingOffGroup: [String: [ActionRequest]] {
        var out = inFlightWhenAway
        let members = Set(election.members.map(\.name))
        for r in unansweredRequests.values.sorted(by: { $0.transitionKey < $1.transitionKey })
        where !members.contains(r.node) && !(out[r.node] ?? []).contains(where: { $0.transitionKey == r.transitionKey }) {
            out[r.node, default: []].append(r)
        }
        return out
    }

    /// `cib` with these nodes up (in the membership, controller online, joined, expected up)
    /// and their `maintenance` node attribute true; `pending`, by node name, added to their
    /// histories as operations in progress (a start in flight: the resource may be running
    /// there, so it is not started anywhere else meanwhile).
    public static func freezing(_ nodes: [ControllerMember], pending: [String: [ActionRequest]] = [:], in cib: CIB) -> CIB {
        var out = cib
        for m in nodes {
            let id = String(m.nodeID)
            let states = (try? cib.root.xpathElements("/cib/status/node_state[@id='\(id)']")) ?? []
            guard !states.isEmpty else { continue }
            for op: CIBReplica.Operation in [
                .modify(StatusRecords.joined(id: id, uname: m.name), section: .status, allowCreate: true),
                .modify(StatusRecords.transientAttributes(nodeID: id, uname: m.name, [("maintenance", "true")]), section: .status, allowCreate: true),
            ] {
                if let changed = try? CIBReplica.apply(op, to: out) { out = changed }
            }
        }
        return addingPending(pending.filter { p in nodes.contains { $0.name == p.key } }, in: out)
    }

    /// `cib` with `pending`, by node name, added to those nodes' histories as operations in
    /// progress (nodes without a node_state are left out).
    static func addingPending(_ pending: [String: [ActionRequest]], in cib: CIB) -> CIB {
        var out = cib
        for (name, requests) in pending.sorted(by: { $0.key < $1.key }) where !requests.isEmpty {
            out.root.updateElements { section in
                guard section.name == "status" else { return }
                section.updateElements { state in
                    guard state.name == "node_state", state["uname"] == name, let id = state.id else { return }
                    var lrm = state.firstElement(named: "lrm") ?? XElement("lrm", attributes: [XAttribute("id", id)])
                    let list = lrm.firstElement(named: "lrm_resources") ?? XElement("lrm_resources")
                    let withPending = StatusRecords.addingPending(requests, to: list.xmlString(.compact))
                    guard let parsed = try? XElement.parse(Array(withPending.utf8), source: "pending operations") else { return }
                    lrm.setFirstElement(named: "lrm_resources", to: parsed)
                    state.setFirstElement(named: "lrm", to: lrm)
                }
            }
        }
        return out
    }

    /// `graph` without the actions that run on `nodes` (resource and controller actions; a
    /// fencing of such a node is kept: fencing is always safe), nor those ordered after them,
    /// which could not run before them; the inputs renumbered. Also what was taken out.
    public static func deferringActions(on nodes: Set<String>, in graph: ActionGraph) -> (ActionGraph, deferred: [GraphAction]) {
        var dropped = Set(graph.actions.indices.filter { i in
            let a = graph.actions[i]
            return (a.kind == .resource || a.kind == .cluster) && nodes.contains(a.node ?? "")
        })
        guard !dropped.isEmpty else { return (graph, []) }
        // What depends on a dropped action, transitively.
        var changed = true
        while changed {
            changed = false
            for i in graph.actions.indices where !dropped.contains(i) && (i < graph.inputs.count ? graph.inputs[i] : []).contains(where: dropped.contains) {
                dropped.insert(i)
                changed = true
            }
        }
        var newIndex: [Int: Int] = [:]
        var kept = ActionGraph(settings: graph.settings)
        for i in graph.actions.indices where !dropped.contains(i) {
            newIndex[i] = kept.actions.count
            kept.actions.append(graph.actions[i])
        }
        for i in graph.actions.indices where !dropped.contains(i) {
            kept.inputs.append((i < graph.inputs.count ? graph.inputs[i] : []).compactMap { newIndex[$0] })
        }
        return (kept, dropped.sorted().map { graph.actions[$0] })
    }
}
