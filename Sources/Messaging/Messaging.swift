/// The Messaging module: membership, total order, quorum and process groups over authenticated
/// UDP (issue #4). What is here so far:
///
/// - ``CorosyncConfig``: the `corosync.conf` parser (totem, nodelist, quorum, logging, system),
///   with corosync's defaults and the effective totem timers (``TotemTiming``).
/// - ``AuthKey`` and ``PacketProtection``: the cluster key and the sealing of every packet
///   (AES-256-GCM under HKDF-SHA256 keys, sender id, sequence number, replay window).
/// - ``Votequorum``: votequorum's rules as a pure value type.
/// - ``TotemRing`` (token passing, sequence numbers, retransmission, flow control, token loss,
///   failure to receive) and ``TotemNode`` (gather, commit, recovery of the old ring's messages,
///   merge detection, clean leave) as instances, and ``TotemWire``, their byte layout.
/// - ``ClusterEngine``: what corosyncd runs, totem, votequorum and closed process groups
///   (``ProcessGroups``, corosync's CPG semantics) composed, with the node information and join
///   list exchanges; the daemon (Sources/Daemons/corosyncd) is its NIO shell.
/// - ``CorosyncAPI`` and ``CorosyncClient``: corosyncd's local IPC (CPG, quorum, cmap, cfg) and
///   its Swift client (``CPGHandle``, typed async methods, AsyncStreams of events);
///   ``CorosyncToolOutput``, what corosync-quorumtool, -cfgtool and -cmapctl print.
/// - ``LinkSelector``: which knet link reaches each peer (passive link mode, heartbeats).
/// - ``BootCounter`` and ``PersistentCounter``: numbers kept durably across restarts (the
///   packet incarnation, the ring sequence number).
///
/// Protocol cores are instances (docs/DESIGN.md): value types that never read a clock, never
/// sleep and never do I/O; time comes in as a parameter and timers go out as directives.
public enum MessagingModule {
    /// The issue that delivers this module.
    public static let issue = 4
}
