/// What cibd does around its `CIBReplica` as a member of CPG group "cib", as an instance: it
/// numbers each configuration, reads the group's messages, and asks for a new round of
/// agreement when a round stalls. cibd's shell (and the whole-cluster simulation) feed it
/// CPG's events and a tick about once a second, and perform the replica's directives.
///
/// Member names are CPG members as `nodeid:pid`: unique per process, and the same text on
/// every node, so the replicas' tie-breaks and `origin`s agree.
///
/// The view number given to the replica for a configuration is a 64-bit FNV-1a hash of its
/// sorted member list. CPG delivers every configuration change, and the messages between
/// them, in one order on every member, and each member computes the number from the list
/// alone, so all members of a configuration agree on it without any extra message. It tells
/// a configuration's offers from those of the one before, which always has another member list
/// (a process that leaves never comes back with the same pid while a peer still runs). A list
/// recurs only after a member joined and left again; offers of the earlier configuration are
/// delivered before the configuration change that ends it, so none is taken for the later one.
///
/// A round of agreement can stall when messages of a configuration are lost while the ring
/// re-forms (nodes starting together). A member still unsynced after `resyncTicks` ticks
/// multicasts `<cib_resync>`; every member takes its delivery, at the same place in the total
/// order, as a new configuration with the same members and the view number of the member
/// list plus the request's origin and count, and agrees on the newest copy again. Changes in
/// flight are redone by their origins, as after any membership change.
public struct CIBGroupMember: Sendable {
    public enum Directive: Sendable, Equatable {
        /// What the replica asks for.
        case replica(CIBReplica.Directive)
        /// Multicast this (a `<cib_resync>` request) to the group.
        case multicastRaw(XElement)
        /// A resync request was taken: worth a line in the log.
        case resyncing(from: String, count: String)
    }

    public private(set) var replica: CIBReplica
    /// The current configuration's members as CPG reported them.
    public private(set) var members: [String] = []
    /// Whether this member's copy has been the agreed one at least once since it started:
    /// from then on its node's transient attributes are live values (set while this process
    /// ran), not leftovers of an earlier boot read from disk.
    private var everSynced = false
    /// Requests this member makes itself (the rewrite of its node's transient attributes);
    /// counted down from the top of the request numbers, so no client's number is taken, and
    /// their replies are not handed to the shell.
    private var ownRequest = UInt64.max
    private var ownRequests: Set<UInt64> = []
    private var unsyncedTicks = 0
    private var resyncsSent = 0
    /// Ticks (of about a second) unsynced before asking for a new round of agreement.
    public static let resyncTicks = 2

    /// This node's transient attributes in the copy this process started with (read from disk,
    /// so of an earlier run): values still equal to these are leftovers, never put back.
    private let startingAttributes: [String: String]

    public init(member: String, cib: CIB) {
        replica = CIBReplica(localName: member, cib: cib)
        startingAttributes = Self.attributeValues(in: cib, nodeID: String(member.prefix { $0 != ":" }))
    }

    /// nvpair id -> value, of a node's transient attributes in `cib`.
    static func attributeValues(in cib: CIB, nodeID: String) -> [String: String] {
        let path = "/cib/status/node_state[@id='\(nodeID)']/transient_attributes/instance_attributes/nvpair"
        var out: [String: String] = [:]
        for pair in (try? cib.root.xpathElements(path)) ?? [] {
            out[pair.id ?? ""] = pair["value"] ?? ""
        }
        return out
    }

    /// The view number of a configuration (see the type's documentation).
    public static func viewNumber(_ members: [String]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in members.sorted().joined(separator: ",").utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    /// CPG's configuration change: agree on the newest copy.
    public mutating func onConfigurationChange(_ names: [String]) -> [Directive] {
        members = names
        unsyncedTicks = 0
        return filtered(replica.onMembership(names, view: Self.viewNumber(names)))
    }

    /// A group message, parsed; a resync request or a replica message.
    public mutating func onMessage(_ e: XElement, from sender: String) throws(CIBError) -> [Directive] {
        if e.name == "cib_resync" {
            guard members.contains(sender), let n = e["n"] else { return [] }
            unsyncedTicks = 0
            return [.resyncing(from: sender, count: n)]
                + filtered(replica.onMembership(members, view: Self.viewNumber(members + ["resync \(sender) \(n)"])))
        }
        let message = try CIBReplica.Message(xml: e)
        let before = replica.cib
        let wasSynced = replica.isSynced
        let out = replica.onDeliver(message)
        return filtered(out) + keepingTransientAttributes(of: before, after: out, wasSynced: wasSynced)
    }

    /// The CIB node id of this member's node (the `nodeid` of its `nodeid:pid` name).
    public var nodeID: String { String(replica.localName.prefix { $0 != ":" }) }

    /// When partitions merge, one partition's copy is kept whole, and the other's status with
    /// it: the transient attributes (`--lifetime reboot`, fail counts) of the nodes of the
    /// partition whose copy lost would be gone. As Pacemaker's attribute manager writes its
    /// node's attributes again after such a sync, each member whose copy was replaced puts back
    /// the transient attributes its node had (merged into what the new copy has for it; its
    /// own values win), through the group like any change. Only live values: a member that
    /// was never synced since it started (its copy read from disk, of an earlier boot) keeps
    /// nothing.
    private mutating func keepingTransientAttributes(of before: CIB, after out: [CIBReplica.Directive], wasSynced: Bool) -> [Directive] {
        let replaced = out.contains { if case .synced = $0 { return true }; return false }
        defer { if replica.isSynced { everSynced = true } }
        guard replaced, !wasSynced, replica.isSynced, everSynced else { return [] }
        let path = "/cib/status/node_state[@id='\(nodeID)']"
        guard var old = (try? before.root.xpathElements(path + "/transient_attributes"))?.first else { return [] }
        // A copy first agreed alone (this node's ring had not merged yet) is still the one read
        // from disk: what it holds unchanged since the start is not live (a restarted node's
        // old `shutdown` request would come back and stop it again).
        old.children = old.children.compactMap { child in
            guard case .element(var set) = child else { return child }
            set.children = set.children.filter { c in
                guard case .element(let pair) = c, pair.name == "nvpair" else { return true }
                return startingAttributes[pair.id ?? ""] != (pair["value"] ?? "")
            }
            return set.elements.isEmpty ? nil : .element(set)
        }
        guard !old.elements.isEmpty else { return [] }
        let now = (try? replica.cib.root.xpathElements(path + "/transient_attributes"))?.first
        // Nothing to do when the new copy already has every value.
        var merged = now ?? XElement("transient_attributes", ["id": nodeID])
        CIB.merge(old, into: &merged)
        if let now, merged == now { return [] }
        var state = XElement("node_state", ["id": nodeID])
        if let uname = (try? before.root.xpathElements(path))?.first?["uname"] { state["uname"] = uname }
        state.append(old)
        let request = ownRequest
        ownRequest -= 1
        ownRequests.insert(request)
        return filtered(replica.onRequest(request, .modify(state, section: .status, allowCreate: true)))
    }

    /// The replica's directives, without the replies to this member's own requests.
    private mutating func filtered(_ directives: [CIBReplica.Directive]) -> [Directive] {
        directives.compactMap { d in
            if case .reply(let request, _) = d, ownRequests.remove(request) != nil { return nil }
            return .replica(d)
        }
    }

    /// A client's change (see `CIBReplica.onRequest`).
    public mutating func onRequest(_ request: UInt64, _ op: CIBReplica.Operation, stamp: CIBReplica.Stamp? = nil,
                                   quorumOverride: Bool = false) -> [Directive] {
        filtered(replica.onRequest(request, op, stamp: stamp, quorumOverride: quorumOverride))
    }

    /// The partition's quorum changed (see `CIBReplica.onQuorum`).
    public mutating func onQuorum(_ quorate: Bool) {
        replica.onQuorum(quorate)
    }

    /// About once a second: asks for a new round of agreement when this copy has been
    /// unsynced for `resyncTicks` ticks.
    public mutating func tick() -> [Directive] {
        guard !replica.isSynced, !members.isEmpty else {
            unsyncedTicks = 0
            return []
        }
        unsyncedTicks += 1
        guard unsyncedTicks >= Self.resyncTicks else { return [] }
        unsyncedTicks = 0
        resyncsSent += 1
        return [.multicastRaw(XElement("cib_resync", ["from": replica.localName, "n": String(resyncsSent)]))]
    }
}
