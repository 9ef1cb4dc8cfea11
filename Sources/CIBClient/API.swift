import CIB
import LocalIPC

/// cibd's local IPC API (`<root>/run/swiftha/cibd.sock`): what a client (crmd, cibadmin,
/// crm_mon...) may ask, what it is answered, and the change notifications it is sent after
/// `subscribe`. `CIBClient` wraps it in typed methods.
///
/// XML travels as text (the CIB library's own serialisation), so any client that speaks
/// LocalIPC's JSON frames can use it.
public enum CIBAPI: LocalIPCProtocol {
    public typealias Request = CIBRequest
    public typealias Reply = CIBReply
    public typealias Event = CIBEvent
    public static let name = "cibd"

    /// The socket's file name in the node's socket directory.
    public static let socketName = "cibd.sock"

    /// The socket of the cibd of the node with this root: `<root>/run/swiftha/cibd.sock`.
    public static func socketPath(root: String) -> String {
        (root.hasSuffix("/") ? root : root + "/") + "run/swiftha/" + socketName
    }
}

/// A request to cibd.
public enum CIBRequest: Codable, Sendable, Hashable {
    /// The whole CIB (both nil), one section, or the elements an XPath selects.
    case query(section: String?, xpath: String?)
    /// A change: a `CIBReplica.Operation` in its XML form. Answered once the change has been
    /// delivered to every member in the agreed order, applied and written to disk here.
    /// `force`: the change may touch the configuration even without quorum (`cibadmin
    /// --force`, Pacemaker's cib_quorum_override); otherwise a partition without quorum
    /// refuses it (`noQuorum`) unless no-quorum-policy is ignore.
    case change(operation: String, force: Bool? = nil)
    /// From now on, send this connection every change (`CIBEvent.changed`).
    case subscribe
    /// Stop sending changes to this connection.
    case unsubscribe
    /// The node's copy: its version and whether it is the cluster's agreed one.
    case status
}

/// cibd's answer.
public enum CIBReply: Codable, Sendable, Hashable {
    /// XML: the CIB, a section, or for an XPath the one match or an `<xpath-query>` of all.
    case xml(String)
    /// The version a change produced (or the CIB's, when it changed nothing).
    case version(adminEpoch: Int, epoch: Int, numUpdates: Int)
    /// The request was carried out (subscribe, unsubscribe).
    case done
    /// cibd's copy (`status`).
    case status(CIBDaemonStatus)
    /// The request was refused: a `CIBError.Kind` name and a message saying what to do.
    case failure(kind: String, message: String)
}

/// What cibd sends unasked to subscribed connections.
public enum CIBEvent: Codable, Sendable, Hashable {
    /// A change was applied: its patch (`<diff format="2">`) as XML text.
    case changed(patch: String)
    /// The node's copy was replaced by the cluster's newest one (a sync when members joined,
    /// e.g. at a partition merge): the patch from the old copy to the new one. Like Pacemaker's
    /// replace notification: what this node's partition wrote after a split may be gone (the
    /// DC reads every node's history again).
    case replaced(patch: String, from: String)
}

/// A cibd's state.
public struct CIBDaemonStatus: Codable, Sendable, Hashable {
    /// This cibd as a process group member (`nodeid:pid`).
    public var member: String
    /// The members of the group now, sorted.
    public var members: [String]
    /// Whether the copy is the cluster's agreed one (changes wait until it is).
    public var synced: Bool
    /// The copy's version (`admin_epoch.epoch.num_updates`).
    public var version: String
    /// The copy's digest.
    public var digest: String
    /// How many times this cibd's copy was replaced by another member's (syncs) since it
    /// started: a client that wrote something can tell whether it may have been lost since.
    public var replacements: Int

    public init(member: String, members: [String], synced: Bool, version: String, digest: String, replacements: Int = 0) {
        self.member = member
        self.members = members
        self.synced = synced
        self.version = version
        self.digest = digest
        self.replacements = replacements
    }
}
