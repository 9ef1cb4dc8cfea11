/// Which link to reach each peer on, when the nodes have several (knet's `ring0_addr`,
/// `ring1_addr`, ... with `link_mode: passive`): the lowest-numbered link on which the peer was
/// heard recently; when none was, every link, so that a packet gets through whichever works.
///
/// A link is heard by any packet that authenticates on it; on links that carry nothing else,
/// the shell sends a small heartbeat (``heartbeat``) every ``pingInterval`` so that a working
/// backup link is known before it is needed. A link is down when nothing came over it for
/// ``timeout``, which is well under the token timeout, so traffic moves to another link before
/// the ring notices anything.
///
/// Time comes in as a parameter (a monotonic `Duration`); nothing here reads a clock.
public struct LinkSelector: Sendable, Equatable {
    public typealias NodeID = UInt32

    /// The payload of a link heartbeat (a type no totem packet uses).
    public static let heartbeat: [UInt8] = [0x07]

    /// The link numbers this node can send on, lowest (preferred) first.
    public let links: [Int]
    /// How often the shell sends heartbeats on every link (only with two links or more).
    public let pingInterval: Duration
    /// A link not heard from for this long is down.
    public let timeout: Duration
    private var lastHeard: [NodeID: [Int: Duration]] = [:]

    /// - Parameters:
    ///   - links: the link numbers this node has a socket on.
    ///   - token: the effective token timeout; the link timers follow from it (heartbeats every
    ///     token / 8, at least 20 ms; down after token / 2).
    public init(links: [Int], token: Duration) {
        self.links = links.sorted()
        pingInterval = max(.milliseconds(20), token / 8)
        timeout = max(.milliseconds(60), token / 2)
    }

    /// Whether heartbeats are needed (two links or more).
    public var needsHeartbeats: Bool { links.count > 1 }

    /// A packet from `peer` authenticated on `link`.
    public mutating func heard(from peer: NodeID, on link: Int, at now: Duration) {
        lastHeard[peer, default: [:]][link] = now
    }

    /// Whether `peer` was heard on `link` within ``timeout``.
    public func isUp(_ peer: NodeID, link: Int, at now: Duration) -> Bool {
        guard let t = lastHeard[peer]?[link] else { return false }
        return now - t <= timeout
    }

    /// The links to send a packet to `peer` on now.
    public func links(to peer: NodeID, at now: Duration) -> [Int] {
        if let best = links.first(where: { isUp(peer, link: $0, at: now) }) { return [best] }
        return links
    }
}
