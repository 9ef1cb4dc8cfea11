import ArgumentParser
import CIB
import Foundation
import HASupport
import ToolSupport

/// crm_standby: put a node in standby (no resources run on it), take it out, or ask.
struct CrmStandby: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crm_standby", abstract: "Manage a node's standby mode.")

    @Option(name: [.customShort("N"), .customLong("node")], help: "The node (default: this node, SWIFTHA_NODE).") var node: String?
    @Option(name: [.customShort("v"), .customLong("update")], help: "on or off.") var update: String?
    @Flag(name: [.customShort("G"), .customLong("query")], help: "Show the node's standby mode.") var query = false
    @Flag(name: [.customShort("D"), .customLong("delete")], help: "Remove the setting (the node is not in standby).") var delete = false
    @Option(name: [.customShort("l"), .customLong("lifetime")], help: "forever (the default) or reboot.") var lifetime: String?
    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print only the value.") var quiet = false

    func run() throws {
        let program = "crm_standby"
        guard let node = node ?? NodeEnvironment().node else {
            ToolSupport.fail(program, "which node? give --node NAME (or set SWIFTHA_NODE)", .usage)
        }
        if let update, !["on", "off", "true", "false", "yes", "no", "1", "0"].contains(update.lowercased()) {
            ToolSupport.fail(program, "--update \(update): use on or off", .usage)
        }
        let action: AttributeTool.Action = update.map { .update($0) } ?? (delete ? .delete : .query(default: "off"))
        let scope = AttributeTool.scope(type: nil, node: node, lifetime: lifetime, program: program)
        AttributeTool.run(program: program, name: "standby", action: action, scope: scope, node: node, quiet: quiet)
    }
}

CrmStandby.main()
