import ArgumentParser
import CIB
import Foundation
import HASupport
import ToolSupport

/// crm_failcount: how often a resource failed on a node (the sum over its operations), or
/// clear that count.
struct CrmFailcount: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crm_failcount", abstract: "Query or reset a resource's failcount.")

    @Option(name: [.customShort("r"), .customLong("resource")], help: "The resource.") var resource: String
    @Option(name: [.customShort("N"), .customLong("node")], help: "The node (default: this node, SWIFTHA_NODE).") var node: String?
    @Flag(name: [.customShort("G"), .customLong("query")], help: "Show the failcount (the default).") var query = false
    @Flag(name: [.customShort("D"), .customLong("delete")], help: "Reset the failcount.") var delete = false
    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print only the value.") var quiet = false

    func run() throws {
        let program = "crm_failcount"
        guard let node = node ?? NodeEnvironment().node else {
            ToolSupport.fail(program, "which node? give --node NAME (or set SWIFTHA_NODE)", .usage)
        }
        let location = CIBLocation.fromEnvironment()
        var cib = location.load(program: program)
        let original = cib
        let prefixes = ["fail-count-\(resource)", "last-failure-\(resource)"]
        func matches(_ name: String, _ prefix: String) -> Bool { name == prefix || name.hasPrefix(prefix + "#") }
        let attrs = (try? cib.attributes(prefix: "fail-count-\(resource)", scope: .status, node: node)) ?? []
        if delete {
            do throws(CIBError) {
                for p in prefixes {
                    for a in (try? cib.attributes(prefix: p, scope: .status, node: node)) ?? [] where matches(a.name, p) {
                        try cib.deleteAttribute(a.name, scope: .status, node: node)
                    }
                }
            } catch { ToolSupport.fail(program, error) }
            location.save(cib, original: original, program: program)
            return
        }
        // The counts of every operation, INFINITY if any is.
        var total = 0
        for a in attrs where matches(a.name, "fail-count-\(resource)") {
            total = min(CIBValue.infinity, total + (CIBValue.score(a.value) ?? 0))
        }
        let value = total >= CIBValue.infinity ? "INFINITY" : String(total)
        print(quiet ? value : "scope=status  name=fail-count-\(resource) value=\(value)")
    }
}

CrmFailcount.main()
