import ArgumentParser
import CIB
import Foundation
import HASupport
import ToolSupport

/// crm_standby: put a node in standby (no resources run on it), take it out, or ask. Without
/// --lifetime, as Pacemaker's: a query shows the permanent setting if there is one, else the
/// transient one (off when neither); --update sets the permanent one; --delete removes both.
struct CrmStandby: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crm_standby", abstract: "Query, enable, or disable standby mode for a node.")

    @Option(name: [.customShort("N"), .customLong("node"), .customShort("U"), .customLong("uname")], help: "The node (default: this node, SWIFTHA_NODE).") var node: String?
    @Option(name: [.customShort("v"), .customLong("update"), .customLong("attr-value")], help: "on or off.") var update: String?
    @Flag(name: [.customShort("G"), .customLong("query"), .customLong("get-value")], help: "Show the node's standby mode.") var query = false
    @Flag(name: [.customShort("D"), .customLong("delete"), .customLong("delete-attr")], help: "Remove the setting (the node is not in standby).") var delete = false
    @Option(name: [.customShort("l"), .customLong("lifetime")], help: "forever or reboot (see above for the default).") var lifetime: String?
    @Option(name: [.customShort("i"), .customLong("id"), .customLong("attr-id")], help: "(Advanced) The XML id of the standby attribute.") var id: String?
    @Flag(name: [.customShort("q"), .customShort("Q"), .customLong("quiet")], help: "Print only the value.") var quiet = false
    @Flag(name: [.customShort("V"), .long], help: "Print more details.") var verbose: Int

    func run() throws {
        let program = "crm_standby"
        let node = node ?? LocalNode.name(cib: CIBLocation.fromEnvironment().load(program: program))
        if let update, !["on", "off", "true", "false", "yes", "no", "1", "0"].contains(update.lowercased()) {
            ToolSupport.fail(program, "--update \(update): use on or off", .usage)
        }
        let sel = AttributeSelector(name: "standby", id: id)
        func run(_ action: AttributeTool.Action, _ lifetime: String) {
            let scope = AttributeTool.scope(type: nil, node: node, lifetime: lifetime, program: program)
            // (Pacemaker's crm_standby is a script that runs crm_attribute: its errors are
            // crm_attribute's.)
            AttributeTool.run(program: "crm_attribute", selector: sel, action: action, scope: scope, node: node, quiet: quiet, exits: false)
        }
        if let update {
            run(.update(update), lifetime ?? "forever")
        } else if delete {
            if let lifetime { run(.delete, lifetime) } else { run(.delete, "forever"); run(.delete, "reboot") }
        } else if let lifetime {
            run(.query(default: nil), lifetime)
        } else {
            let cib = CIBLocation.fromEnvironment().load(program: program)
            let permanent = (try? cib.attributes(sel, scope: .nodes, node: node)) ?? []
            if permanent.isEmpty { run(.query(default: "off"), "reboot") } else { run(.query(default: nil), "forever") }
        }
    }
}

ToolSupport.main(CrmStandby.self, program: "crm_standby")
