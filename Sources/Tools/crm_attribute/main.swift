import ArgumentParser
import CIB
import Foundation
import HASupport
import ToolSupport

/// crm_attribute: query, set or delete a cluster option, a resource or operation default, or a
/// node attribute (permanent, or transient with --lifetime reboot). Works on CIB_file; the live
/// cluster's CIB comes with cibd.
struct CrmAttribute: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm_attribute",
        abstract: "Query and update Pacemaker cluster options and node attributes.",
        discussion: """
        Examples:
          crm_attribute --name stonith-enabled --update false
          crm_attribute --node node1 --name site --update a
          crm_attribute --node node1 --name site --lifetime reboot --query
          crm_attribute --node node1 --pattern 'fail-count-.*' --lifetime reboot --query
        """)

    @Option(name: [.customShort("n"), .customLong("name")], help: "The attribute's name (optional for queries: then every attribute of the scope).") var name: String?
    @Option(name: [.customShort("i"), .customLong("id")], help: "(Advanced) The nvpair's XML id.") var id: String?
    @Option(name: [.customShort("P"), .customLong("pattern")], help: "Every attribute whose name matches this regular expression (with -G, or -v/-D).") var pattern: String?
    @Option(name: [.customShort("p"), .customLong("promotion")], help: "The promotion score of this resource (master-RSC, lifetime reboot by default).") var promotion: String?
    @Option(name: [.customShort("s"), .customLong("set-name")], help: "(Advanced) The id of the set the attribute is in.") var setName: String?
    @Option(name: [.customShort("v"), .customLong("update"), .customLong("value")], help: "Set the attribute to this value.") var update: String?
    @Flag(name: [.customShort("G"), .customLong("query")], help: "Show the attribute's value.") var query = false
    @Flag(name: [.customShort("D"), .customLong("delete")], help: "Delete the attribute.") var delete = false
    @Option(name: [.customShort("d"), .customLong("default")], help: "The value to show when the attribute is not set.") var defaultValue: String?
    @Option(name: [.customShort("t"), .customLong("type"), .customLong("scope")], help: "crm_config, rsc_defaults, op_defaults, nodes or status.") var type: String?
    @Option(name: [.customShort("N"), .customLong("node")], help: "The node whose attribute it is.") var node: String?
    @Option(name: [.customShort("l"), .customLong("lifetime")], help: "forever (the default) or reboot.") var lifetime: String?
    @Flag(name: [.customShort("z"), .customLong("utilization")], help: "A utilization attribute of the node.") var utilization = false
    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print only the value.") var quiet = false
    @Option(name: .customLong("output-as"), help: "text (default) or xml.") var outputAs = "text"
    @Flag(name: [.customShort("V"), .long], help: "Print more details.") var verbose: Int

    func run() throws {
        let program = "crm_attribute"
        guard ["text", "xml"].contains(outputAs) else { ToolSupport.fail(program, "--output-as \(outputAs): use text or xml", .usage) }
        // As Pacemaker's: of --query, --update and --delete, the last one given counts.
        var (query, update, delete) = (self.query, self.update, self.delete)
        if [update != nil, query, delete].filter({ $0 }).count > 1 {
            var last = ""
            for a in CommandLine.arguments.dropFirst() {
                if ["-G", "--query"].contains(a) { last = "G" }
                if ["-D", "--delete"].contains(a) { last = "D" }
                if ["-v", "--update", "--value"].contains(a) || a.hasPrefix("--update=") || a.hasPrefix("--value=") { last = "v" }
            }
            query = last == "G"
            delete = last == "D"
            if last != "v" { update = nil }
        }
        var name = self.name
        if let promotion { name = "master-\(promotion)" }
        // As Pacemaker's: --type and --lifetime set the same thing (the last one given counts;
        // reboot is status, forever nodes); without either, a promotion score is transient, an
        // attribute with --node permanent, else a cluster option.
        var typeValue = type ?? lifetime
        if type != nil, lifetime != nil {
            for a in CommandLine.arguments.dropFirst() {
                if ["-t", "--type", "--scope"].contains(a) || a.hasPrefix("--type=") || a.hasPrefix("--scope=") { typeValue = type }
                if ["-l", "--lifetime"].contains(a) || a.hasPrefix("--lifetime=") { typeValue = lifetime }
            }
        }
        let known = typeValue.map { t in ["reboot", "forever"].contains(t) || CIBAttributeScope(rawValue: t) != nil } ?? true
        let scope: CIBAttributeScope
        if let typeValue, known {
            scope = AttributeTool.scope(type: typeValue, node: nil, lifetime: nil, program: program)
        } else {
            scope = promotion != nil ? .status : (node != nil ? .nodes : .crmConfig)
        }
        // Everything but cluster options belongs to a node, by default this one: the name the
        // cluster passes a resource agent, else (with CIB_file) this host's name, else the
        // node's own (SWIFTHA_NODE). It must be a node of the CIB.
        var node = self.node
        if scope != .crmConfig || !known {
            let env = ProcessInfo.processInfo.environment
            if node == nil || ["auto", "localhost"].contains(node!.lowercased()), let target = env["OCF_RESKEY_CRM_meta_on_node"] {
                node = target
            }
            if node == nil {
                // Live: the node's name in the cluster (SWIFTHA_NODE, else the CIB's name for
                // corosyncd's node id, else the host name), as crm_standby finds it.
                node = CIBLocation.fromEnvironment() == .live
                    ? LocalNode.name(cib: CIBLocation.fromEnvironment().load(program: program)) : Self.hostname()
            }
        }
        if !known {
            // Pacemaker maps the node before it looks at the section.
            let cib = CIBLocation.fromEnvironment().load(program: program)
            if !AttributeTool.isNode(node!, of: cib) { ToolSupport.fail(program, "Could not map name=\(node!) to a UUID", .noSuchObject) }
            // Then the CIB finds no such section: Pacemaker's ENOMSG, exit 76.
            ToolSupport.fail(program, "Error performing operation: No message of desired type", .protocolError)
        }
        if delete && update == nil && !query && name == nil && pattern == nil {
            ToolSupport.fail(program, "Error: must specify attribute name or pattern to delete", .usage)
        }
        if name == nil && pattern == nil && id == nil && !query && (update != nil || delete) {
            ToolSupport.fail(program, "which attribute? give --name NAME (or --pattern REGEX, --id ID)", .usage)
        }
        let action: AttributeTool.Action = update.map { .update($0) } ?? (delete ? .delete : .query(default: defaultValue))
        let selector = AttributeSelector(name: name, id: id, set: setName, pattern: name == nil ? pattern : nil, utilization: utilization)
        AttributeTool.run(program: program, selector: selector, action: action, scope: scope, node: node, quiet: quiet, xml: outputAs == "xml")
    }
}

extension CrmAttribute {
    /// This host's name (uname's nodename), as Pacemaker's tools take it.
    static func hostname() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafePointer(to: &u.nodename) { $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) } }
    }
}

ToolSupport.main(CrmAttribute.self, program: "crm_attribute")
