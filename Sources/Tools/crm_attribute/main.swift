import ArgumentParser
import CIB
import Foundation
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
        var lifetime = self.lifetime
        if let promotion {
            name = "master-\(promotion)"
            lifetime = lifetime ?? "reboot"
        }
        if name == nil && pattern == nil && id == nil && !query && (update != nil || delete) {
            ToolSupport.fail(program, "which attribute? give --name NAME (or --pattern REGEX, --id ID)", .usage)
        }
        let action: AttributeTool.Action = update.map { .update($0) } ?? (delete ? .delete : .query(default: defaultValue))
        let scope = AttributeTool.scope(type: type, node: node, lifetime: lifetime, program: program)
        let selector = AttributeSelector(name: name, id: id, set: setName, pattern: name == nil ? pattern : nil, utilization: utilization)
        AttributeTool.run(program: program, selector: selector, action: action, scope: scope, node: node, quiet: quiet, xml: outputAs == "xml")
    }
}

ToolSupport.main(CrmAttribute.self, program: "crm_attribute")
