import CIB
import Foundation
import HASupport

/// What crm_attribute, crm_standby and crm_failcount share: reading, setting and deleting one
/// attribute of the CIB with Pacemaker's output and exit codes.
public enum AttributeTool {
    public enum Action: Sendable { case query(default: String?), update(String), delete }

    /// The scope an attribute lives in: the given type, else a node's (permanent, or transient
    /// with lifetime reboot), else the cluster options.
    public static func scope(type: String?, node: String?, lifetime: String?, program: String) -> CIBAttributeScope {
        if let type {
            let t = type == "forever" ? "nodes" : (type == "reboot" ? "status" : type)
            guard let s = CIBAttributeScope(rawValue: t) else {
                ToolSupport.fail(program, "--type \(type): use crm_config, rsc_defaults, op_defaults, nodes or status", .usage)
            }
            return s
        }
        if node != nil {
            switch lifetime ?? "forever" {
            case "forever": return .nodes
            case "reboot": return .status
            default: ToolSupport.fail(program, "--lifetime \(lifetime!): use forever or reboot", .usage)
            }
        }
        return .crmConfig
    }

    /// Performs the action on the CIB the environment names (CIB_file) and prints what
    /// Pacemaker's tool prints.
    public static func run(program: String, name: String, action: Action, scope: CIBAttributeScope, node: String?, quiet: Bool) {
        let location = CIBLocation.fromEnvironment()
        var cib = location.load(program: program)
        let original = cib
        if let node, scope == .nodes || scope == .status {
            let known = cib.configuration.element.firstElement(named: "nodes")?.elements(named: "node").contains { $0["uname"] == node || $0.id == node } ?? false
            let inStatus = cib.status.nodeStates.contains { $0.uname == node || $0.id == node }
            if !known && !inStatus { ToolSupport.fail(program, "Could not map name=\(node) to a UUID", .noSuchObject) }
        }
        do throws(CIBError) {
            switch action {
            case .query(let fallback):
                if let a = try cib.attribute(name, scope: scope, node: node) {
                    print(quiet ? a.value : "scope=\(scope.rawValue)  name=\(name) value=\(a.value)")
                } else if let fallback {
                    print(quiet ? fallback : "scope=\(scope.rawValue)  name=\(name) value=\(fallback)")
                } else {
                    ToolSupport.fail(program, "Error performing operation: No such device or address", .noSuchObject)
                }
            case .update(let value):
                try cib.setAttribute(name, to: value, scope: scope, node: node)
                location.save(cib, original: original, program: program)
            case .delete:
                if let id = try cib.deleteAttribute(name, scope: scope, node: node) {
                    location.save(cib, original: original, program: program)
                    let what = scope == .crmConfig ? "crm_config option" : "\(scope.rawValue) attribute"
                    if !quiet { print("Deleted \(what): id=\(id) name=\(name)") }
                }
            }
        } catch {
            ToolSupport.fail(program, error)
        }
    }
}
