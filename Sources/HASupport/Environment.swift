#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras

/// Where a node's files live and what the node is called.
///
/// Every daemon and tool takes `--root DIR` (or `SWIFTHA_ROOT`, default `/`) and `--node NAME`
/// (or `SWIFTHA_NODE`), and finds the standard files under the root, so that several nodes can
/// run on one machine, each with its own root.
public struct NodeEnvironment: Sendable, Equatable {
    /// The node's root directory; `/` on a normal installation.
    public var root: String
    /// The node's name, when one was given.
    public var node: String?

    public init(root: String? = nil, node: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        let r = root ?? environment["SWIFTHA_ROOT"] ?? "/"
        self.root = r.isEmpty ? "/" : r
        self.node = node ?? environment["SWIFTHA_NODE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A path under the node root: `path("var/lib/pacemaker/cib")`.
    public func path(_ relative: String) -> String {
        let trimmed = relative.hasPrefix("/") ? String(relative.dropFirst()) : relative
        if root == "/" { return "/" + trimmed }
        return (root.hasSuffix("/") ? root : root + "/") + trimmed
    }

    /// The directory holding cib.xml, its digest and its backups.
    public var cibDirectory: String { path("var/lib/pacemaker/cib") }
    /// corosync.conf.
    public var corosyncConf: String { path("etc/corosync/corosync.conf") }
    /// The cluster's shared secret.
    public var authkey: String { path("etc/corosync/authkey") }
    /// The directory of the local IPC sockets.
    public var socketDirectory: String { path("run/swiftha") }
}

/// Prints that a program belongs to an issue not yet delivered, and exits with
/// CRM_EX_UNIMPLEMENT_FEATURE (3).
public func notYetAvailable(program: String, issue: Int) -> Never {
    writeStandardError("\(program): not available yet in this build of SwiftHA (it is delivered by issue #\(issue)); nothing was started\n")
    exit(.unimplementedFeature)
}
