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
    private var unsyncedTicks = 0
    private var resyncsSent = 0
    /// Ticks (of about a second) unsynced before asking for a new round of agreement.
    public static let resyncTicks = 2

    public init(member: String, cib: CIB) {
        replica = CIBReplica(localName: member, cib: cib)
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
        return replica.onMembership(names, view: Self.viewNumber(names)).map { .replica($0) }
    }

    /// A group message, parsed; a resync request or a replica message.
    public mutating func onMessage(_ e: XElement, from sender: String) throws(CIBError) -> [Directive] {
        if e.name == "cib_resync" {
            guard members.contains(sender), let n = e["n"] else { return [] }
            unsyncedTicks = 0
            return [.resyncing(from: sender, count: n)]
                + replica.onMembership(members, view: Self.viewNumber(members + ["resync \(sender) \(n)"])).map { .replica($0) }
        }
        let message = try CIBReplica.Message(xml: e)
        return replica.onDeliver(message).map { .replica($0) }
    }

    /// A client's change (see `CIBReplica.onRequest`).
    public mutating func onRequest(_ request: UInt64, _ op: CIBReplica.Operation, stamp: CIBReplica.Stamp? = nil) -> [Directive] {
        replica.onRequest(request, op, stamp: stamp).map { .replica($0) }
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
