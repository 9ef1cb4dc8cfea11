#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras

/// The text corosync 3.1's tools print, from corosyncd's answers; pure, so the layout is
/// tested without a daemon. The tools (Sources/Tools/corosync-*) only fetch and print.
public enum CorosyncToolOutput {
    /// `corosync-quorumtool -s`: the Quorum information, Votequorum information and Membership
    /// information sections. `date` is the local time as ctime(3) prints it.
    public static func quorumStatus(_ q: QuorumState, date: String) -> String {
        var out = """
        Quorum information
        ------------------
        Date:             \(date)
        Quorum provider:  \(q.providerConfigured ? "corosync_votequorum" : "(none)")
        Nodes:            \(q.members.count)
        Node ID:          \(q.nodeID)
        Ring ID:          \(String(q.ringRepresentative, radix: 16)).\(String(q.ringSequence, radix: 16))
        Quorate:          \(q.quorate ? "Yes" : "No")

        """
        if q.providerConfigured {
            out += """

            Votequorum information
            ----------------------
            Expected votes:   \(q.expectedVotes)
            Highest expected: \(q.highestExpected)
            Total votes:      \(q.totalVotes)
            Quorum:           \(q.quorum) \(q.quorate ? " " : "Activity blocked")
            Flags:            \(q.flags.map { $0 + " " }.joined())

            """
        }
        return out + membership(q)
    }

    /// `corosync-cpgtool`: every group and its members, as corosync 3.1 lays them out: a header,
    /// then each group's name on a line of its own and a line per member (pid, node id and the
    /// node's ring0 address); with `delimiter`, one line per member, fields separated by it;
    /// with `namesOnly`, the group names alone. Unprintable bytes of a name are shown as `\xHH`
    /// unless `escape` is false.
    public static func processGroups(_ groups: [CPGGroup], addresses: [UInt32: String], delimiter: String? = nil,
                                     namesOnly: Bool = false, escape: Bool = true) -> String {
        func name(_ g: CPGGroup) -> String {
            guard escape else { return g.name }
            var out = ""
            for b in g.name.utf8 {
                if b < 0x20 || b >= 0x7F { out += "\\x" + zeroPadded(b, width: 2, radix: 16, uppercase: true) } else { out.append(Character(Unicode.Scalar(b))) }
            }
            return out
        }
        if namesOnly {
            return groups.map { name($0) + "\n" }.joined()
        }
        if let d = delimiter {
            var out = "GRP_NAME\(d)PID\(d)NODEID\n"
            for g in groups {
                for m in g.members { out += "\(name(g))\(d)\(m.pid)\(d)\(m.nodeID)\n" }
            }
            return out
        }
        func right(_ s: String) -> String { String(repeating: " ", count: max(0, 10 - s.count)) + s }
        var out = "Group Name\t" + right("PID") + "\t" + right("Node ID") + "\n"
        for g in groups {
            out += name(g) + "\n"
            for m in g.members {
                out += "\t\t" + right("\(m.pid)") + "\t" + right("\(m.nodeID)") + " (\(addresses[m.nodeID] ?? "?"))\n"
            }
        }
        return out
    }

    /// `corosync-quorumtool -l`: the Membership information section (a node id and votes per
    /// member, this node marked `(local)`).
    public static func membership(_ q: QuorumState) -> String {
        var out = "\nMembership information\n----------------------\n" + pad("Nodeid") + " " + pad("Votes") + " Name\n"
        for n in q.members {
            let name = n.name ?? "\(n.nodeID)"
            out += pad("\(n.nodeID)") + " " + pad("\(n.votes)") + " " + name + (n.nodeID == q.nodeID ? " (local)" : "") + "\n"
        }
        return out
    }

    /// `corosync-cfgtool -s`: the local node id and transport, then every link with this
    /// node's address and each node's state on it.
    public static func ringStatus(_ r: RingStatus) -> String {
        var out = "Local node ID \(r.nodeID), transport \(r.transport)\n"
        for link in r.links {
            out += "LINK ID \(link.link) udp\n\taddr\t= \(link.address)\n\tstatus:\n"
            for n in link.nodes {
                out += "\t\tnodeid: \(pad("\(n.nodeID)")):\t\(n.state)\n"
            }
        }
        return out
    }

    /// `corosync-cmapctl`: a `key (type) = value` line per entry.
    public static func cmap(_ entries: [CMapEntry]) -> String {
        entries.map { $0.line + "\n" }.joined()
    }

    /// Right-aligned in 10 columns (printf's `%10s`).
    static func pad(_ s: String) -> String {
        String(repeating: " ", count: max(0, 10 - s.count)) + s
    }
}
