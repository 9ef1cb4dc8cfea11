import ArgumentParser
import CIB
import Foundation
import HASupport
#if canImport(Glibc)
import Glibc
#endif

/// What crm_attribute, crm_standby and crm_failcount share: reading, setting and deleting
/// attributes of the CIB with Pacemaker's output and exit codes.
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

    /// A node's id (its configuration's, else its status's), or the name itself.
    static func nodeID(_ node: String, of cib: CIB) -> String {
        if let n = cib.configuration.element.firstElement(named: "nodes")?.elements(named: "node").first(where: { $0["uname"] == node || $0.id == node }), let id = n.id { return id }
        return cib.status.nodeStates.first { $0.uname == node || $0.id == node }?.id ?? node
    }

    /// Whether the CIB knows a node by this name or id (its configuration or its status).
    public static func isNode(_ node: String, of cib: CIB) -> Bool {
        let known = cib.configuration.element.firstElement(named: "nodes")?.elements(named: "node").contains { $0["uname"] == node || $0.id == node } ?? false
        return known || cib.status.nodeStates.contains { $0.uname == node || $0.id == node }
    }

    /// Performs the action on the CIB the environment names (CIB_file, else the cluster
    /// through cibd) and prints what Pacemaker's tool prints.
    public static func run(program: String, name: String, action: Action, scope: CIBAttributeScope, node: String?, quiet: Bool) {
        run(program: program, selector: AttributeSelector(name: name), action: action, scope: scope, node: node, quiet: quiet)
    }

    /// The same with a full selector (--id, --set-name, --pattern, --utilization); with
    /// `xml`, the result is Pacemaker's `<pacemaker-result>` document, errors included.
    /// With `exits` false it returns after success (for a second action); failures exit.
    public static func run(program: String, selector sel: AttributeSelector, action: Action, scope: CIBAttributeScope, node: String?, quiet: Bool, xml: Bool = false, exits: Bool = true) {
        var out = AttributeOutput(program: program, xml: xml)
        let location = CIBLocation.fromEnvironment()
        var cib = location.load(program: program)
        let original = cib
        if let node, scope != .crmConfig, !isNode(node, of: cib) {
            out.fail("Could not map name=\(node) to a UUID", .noSuchObject)
        }
        do throws(CIBError) {
            switch action {
            case .query(let fallback):
                let found = try cib.attributes(sel, scope: scope, node: node)
                if found.isEmpty, let fallback, let name = sel.name {
                    out.attribute(AttributeValue(scope: scope, id: "", name: name, value: fallback), withID: false, quiet: quiet)
                } else if found.isEmpty && sel.pattern == nil {
                    out.fail("Error performing operation: No such device or address", .noSuchObject)
                }
                for a in found { out.attribute(a, withID: sel.id != nil, quiet: quiet) }
            case .update(let value):
                if location.refusesChanges(to: cib) {
                    // Pacemaker's lines for a CIB of a newer feature set (exit 76).
                    let set = sel.set ?? (scope == .crmConfig ? "cib-bootstrap-options"
                        : scope == .nodes || scope == .status ? "\(scope.rawValue)-\(Self.nodeID(node ?? "", of: cib))" : scope.rawValue)
                    if !xml { FileHandle.standardError.write(Data("Error setting \(sel.name ?? sel.pattern ?? "")=\(value) (section=\(scope.rawValue), set=\(set)): Protocol not supported\n".utf8)) }
                    out.fail("Error performing operation: Protocol not supported", .protocolError)
                }
                if sel.pattern != nil {
                    // Every attribute the pattern matches takes the value.
                    for a in try cib.attributes(sel, scope: scope, node: node) {
                        try cib.setAttribute(AttributeSelector(name: a.name, id: a.id, utilization: sel.utilization), to: value, scope: scope, node: node)
                    }
                } else {
                    try cib.setAttribute(sel, to: value, scope: scope, node: node)
                }
                location.save(cib, original: original, program: program)
            case .delete:
                guard sel.name != nil || sel.pattern != nil || sel.id != nil else {
                    out.fail("give the attribute to delete: --name NAME, --id ID or --pattern REGEX", .usage)
                }
                let found = try cib.attributes(sel, scope: scope, node: node)
                try cib.deleteAttributes(ids: found.map(\.id), scope: scope, node: node)
                location.save(cib, original: original, program: program)
                let what = scope == .crmConfig ? "crm_config option" : "\(scope.rawValue) attribute"
                if !quiet && !xml { for a in found { print("Deleted \(what): id=\(a.id) name=\(a.name)") } }
            }
        } catch {
            out.fail(error.message, ToolSupport.exitCode(for: error))
        }
        if exits { out.finish(.ok) }
    }
}

/// crm_attribute's output: text lines, or Pacemaker's XML result collected and printed at
/// the end (with the status, and the error when there is one).
struct AttributeOutput {
    let program: String
    let xml: Bool
    var result: XElement

    init(program: String, xml: Bool) {
        self.program = program
        self.xml = xml
        result = XElement("pacemaker-result", ["api-version": "2.25", "request": CommandLine.arguments.joined(separator: " ")])
    }

    mutating func attribute(_ a: AttributeValue, withID: Bool, quiet: Bool) {
        if xml {
            result.append(XElement("attribute", ["name": a.name, "value": a.value, "scope": a.scope.rawValue]))
        } else if quiet {
            print(a.value)
        } else if withID {
            print("scope=\(a.scope.rawValue) id=\(a.id) name=\(a.name) value=\(a.value)")
        } else {
            print("scope=\(a.scope.rawValue)  name=\(a.name) value=\(a.value)")
        }
    }

    func finish(_ code: CRMExit, error: String? = nil) -> Never {
        if xml {
            var r = result
            var status = XElement("status", ["code": String(code.rawValue), "message": code.summary])
            if let error {
                var errors = XElement("errors")
                var e = XElement("error")
                e.children = [.text("\(program): \(error)")]
                errors.append(e)
                status.append(errors)
            }
            r.append(status)
            print(r.xmlString(), terminator: "")
            fflush(nil)
        } else if let error {
            ToolSupport.printError(program, error)
        }
        HASupport.exit(code)
    }

    func fail(_ message: String, _ code: CRMExit) -> Never { finish(code, error: message) }
}

extension ToolSupport {
    /// Runs a command as Pacemaker's tools do: a wrong option or value is one line on stderr,
    /// `PROGRAM: Unknown option --bogus`, and exit 64.
    public static func main(_ command: any ParsableCommand.Type, program: String, arguments: [String]? = nil) -> Never {
        do {
            var c = try command.parseAsRoot(arguments)
            try c.run()
            HASupport.exit(.ok)
        } catch let code as ExitCode {
            // (A command's own exit, its message already given: 64 too.)
            fflush(nil)
            Glibc.exit(code.rawValue)
        } catch {
            let code = command.exitCode(for: error)
            if code == .validationFailure {
                var message = command.message(for: error)
                if message.hasPrefix("Unknown option '") { message = "Unknown option " + message.dropFirst(16).replacingOccurrences(of: "'", with: "") }
                printError(program, message)
                HASupport.exit(.usage)
            }
            command.exit(withError: error)
        }
    }
}
