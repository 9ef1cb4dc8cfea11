import ArgumentParser
import CIB
import ToolSupport

/// crm_attribute: query, set or delete a cluster option, a resource or operation default, or a
/// node attribute (permanent, or transient with --lifetime reboot). Works on CIB_file; the live
/// cluster's CIB comes with cibd.
struct CrmAttribute: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm_attribute",
        abstract: "Manage node attributes and cluster options.",
        discussion: """
        Examples:
          crm_attribute --name stonith-enabled --update false
          crm_attribute --node node1 --name site --update a
          crm_attribute --node node1 --name site --lifetime reboot --query
        """)

    @Option(name: [.customShort("n"), .customLong("name")], help: "The attribute's name.") var name: String
    @Option(name: [.customShort("v"), .customLong("update"), .customLong("value")], help: "Set the attribute to this value.") var update: String?
    @Flag(name: [.customShort("G"), .customLong("query")], help: "Show the attribute's value.") var query = false
    @Flag(name: [.customShort("D"), .customLong("delete")], help: "Delete the attribute.") var delete = false
    @Option(name: [.customShort("d"), .customLong("default")], help: "The value to show when the attribute is not set.") var defaultValue: String?
    @Option(name: [.customShort("t"), .customLong("type"), .customLong("scope")], help: "crm_config, rsc_defaults, op_defaults, nodes or status.") var type: String?
    @Option(name: [.customShort("N"), .customLong("node")], help: "The node whose attribute it is.") var node: String?
    @Option(name: [.customShort("l"), .customLong("lifetime")], help: "forever (the default) or reboot.") var lifetime: String?
    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print only the value.") var quiet = false

    func run() throws {
        let program = "crm_attribute"
        let chosen = [update != nil, query, delete].filter { $0 }.count
        guard chosen <= 1 else { ToolSupport.fail(program, "give only one of --update, --query and --delete", .usage) }
        let action: AttributeTool.Action = update.map { .update($0) } ?? (delete ? .delete : .query(default: defaultValue))
        let scope = AttributeTool.scope(type: type, node: node, lifetime: lifetime, program: program)
        AttributeTool.run(program: program, name: name, action: action, scope: scope, node: node, quiet: quiet)
    }
}

CrmAttribute.main()
