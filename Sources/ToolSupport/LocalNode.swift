import CIB
import Foundation
import HASupport

/// This node's name, for a tool given no --node: SWIFTHA_NODE, else the name the CIB gives
/// the node id this node's corosyncd runs as (its `run/swiftha/corosyncd.status`), else the
/// host name (Pacemaker's last resort, `uname -n`). A node whose corosync.conf name is not
/// its host name is thus found as Pacemaker finds it, from the cluster layer.
public enum LocalNode {
    public static func name(env: NodeEnvironment = NodeEnvironment(), cib: @autoclosure () -> CIB?) -> String {
        if let node = env.node { return node }
        if let id = corosyncNodeID(env: env), let cib = cib(),
           let uname = cib.root.firstElement(named: "configuration")?.firstElement(named: "nodes")?
               .elements(named: "node").first(where: { $0["id"] == id })?["uname"] {
            return uname
        }
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `node_id=N` from the status file corosyncd keeps while it runs, or nil.
    static func corosyncNodeID(env: NodeEnvironment) -> String? {
        guard let text = try? String(contentsOfFile: env.path("run/swiftha/corosyncd.status"), encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("node_id=") }.map { String($0.dropFirst("node_id=".count)) }
    }
}
