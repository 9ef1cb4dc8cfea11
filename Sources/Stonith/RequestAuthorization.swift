import CIB

/// Who may ask stonithd to fence a node.
///
/// As in Pacemaker, fencing is decided by the DC: the scheduler of the DC's partition plans it
/// and the DC's controller asks its node's fencer. A controller that is not the DC (a former
/// DC that has not yet noticed it lost the election, one on the wrong side of a partition)
/// must not fence anybody: its view of who is lost is stale. stonithd therefore carries out a
/// controller's request only on the node the CIB names as DC (`dc-uuid`, written by the DC
/// when it takes office, before it plans anything). An administrator's tool (stonith_admin,
/// run by root or a member of haclient, which the socket's permissions already ensure) is
/// not a controller, and is obeyed wherever it runs.
public enum FenceRequestAuthorization {
    /// The client names the node's controller gives stonithd (ours, and Pacemaker's).
    public static let controllerClients: Set<String> = ["crmd", "pacemaker-controld"]

    public static func isController(_ client: String) -> Bool { controllerClients.contains(client) }

    /// Why stonithd on `localNode` refuses to fence `target` for `client`, reading the DC
    /// from `cib` (that node's current copy); nil when the request is to be carried out.
    public static func refusal(client: String, target: String, localNode: String, cib: CIB) -> String? {
        guard isController(client) else { return nil }
        guard let dcID = cib.root["dc-uuid"], !dcID.isEmpty else {
            return "stonithd on \(localNode) refuses \(client)'s request to fence \(target): the CIB names no DC (no dc-uuid), "
                + "and only the DC's controller may fence; to fence by hand, run stonith_admin as root"
        }
        let dc = cib.configuration.nodes.first { $0.id == dcID }?.uname ?? dcID
        guard dc == localNode else {
            return "stonithd on \(localNode) refuses \(client)'s request to fence \(target): \(localNode) is not the DC "
                + "(the CIB names \(dc), dc-uuid \(dcID)), and only the DC's controller may fence; to fence by hand, run stonith_admin as root"
        }
        return nil
    }
}
