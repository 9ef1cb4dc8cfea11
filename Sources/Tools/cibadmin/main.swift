import ArgumentParser
import CIB
import CIBClient
import Dispatch
import Foundation
import HASupport
import LocalIPC
import ToolSupport

/// cibadmin: query and edit the CIB, with Pacemaker's options and exit codes.
/// With CIB_file=FILE it works on that file and writes changes back atomically; without, on
/// the running cluster through the node's cibd (`<root>/run/swiftha/cibd.sock`, the root from
/// SWIFTHA_ROOT), with the same output and exit codes.
struct CibAdmin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cibadmin",
        abstract: "Query and edit the Pacemaker configuration (the CIB).",
        discussion: """
        The CIB is the running cluster's, or the file named by the environment variable CIB_file.
        Examples:
          cibadmin --query --scope crm_config
          cibadmin --query --xpath "//nvpair[@name='target-role']"
          cibadmin --create --scope resources --xml-text '<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"/>'
          cibadmin --delete --xml-text '<primitive id="old"/>'
          cibadmin --delete-all --xpath "//nvpair[@name='is-managed']"
          cibadmin --replace --scope resources --xml-text '<resources/>'
        """)

    // Commands.
    @Flag(name: [.customShort("u"), .long], help: "Upgrade the configuration to the latest syntax.") var upgrade = false
    @Flag(name: [.customShort("Q"), .long], help: "Query the contents of the CIB.") var query = false
    @Flag(name: [.customShort("E"), .long], help: "Erase the contents of the whole CIB (needs --force).") var erase = false
    @Flag(name: [.customShort("B"), .long], help: "Increase the CIB's epoch value by 1.") var bump = false
    @Flag(name: [.customShort("C"), .long], help: "Create an object in the CIB (fails if it already exists).") var create = false
    @Flag(name: [.customShort("M"), .long], help: "Find an object and update it (fails if it does not exist unless -c).") var modify = false
    @Flag(name: [.customShort("P"), .long], help: "Apply an update given as an XML diff (<diff format=\"2\">).") var patch = false
    @Flag(name: [.customShort("R"), .long], help: "Recursively replace an object in the CIB.") var replace = false
    @Flag(name: [.customShort("D"), .long], help: "Delete the first object matching the element name and all given attributes.") var delete = false
    @Flag(name: [.customShort("d"), .customLong("delete-all")], help: "With --xpath, delete every match instead of the first.") var deleteAll = false
    @Flag(name: [.customShort("a"), .long], help: "Output an empty CIB.") var empty = false
    @Flag(name: [.customShort("5"), .customLong("md5-sum")], help: "Print the CIB digest.") var md5 = false
    @Flag(name: [.customShort("6"), .customLong("md5-sum-versioned")], help: "Print the versioned CIB digest.") var md5Versioned = false

    // Options.
    @Flag(name: [.customShort("f"), .long], help: "Force the action (needed by --erase; on the live cluster, also where this node's partition has no quorum).") var force = false
    @Option(name: [.customShort("t"), .long], help: "Seconds to wait for the operation (accepted for compatibility).") var timeout: Int?
    @Option(name: [.customShort("U"), .long], help: "Run the command with the permissions of the named user.") var user: String?
    @Flag(name: [.customShort("s"), .customLong("sync-call")], help: "Wait for the call to complete (always the case here).") var syncCall = false
    @Flag(name: [.customShort("l"), .long], help: "Take effect locally (queries).") var local = false
    @Flag(name: [.customShort("c"), .customLong("allow-create")], help: "Let --modify create its target when it does not exist.") var allowCreate = false
    @Flag(name: [.customShort("n"), .customLong("no-children")], help: "With --query, omit the children of the result.") var noChildren = false
    @Flag(name: [.customShort("V"), .long], help: "Increase debug output.") var verbose: Int

    // Data.
    @Option(name: [.customShort("X"), .customLong("xml-text")], help: "XML given as a string.") var xmlText: String?
    @Option(name: [.customShort("x"), .customLong("xml-file")], help: "XML read from a file.") var xmlFile: String?
    @Flag(name: [.customShort("p"), .customLong("xml-pipe")], help: "XML read from stdin.") var xmlPipe = false
    @Option(name: [.customShort("o"), .long], help: "Limit the operation to one section: \(CIBSection.names).") var scope: String?
    @Option(name: [.customShort("A"), .long], help: "An XPath expression to use instead of --scope.") var xpath: String?
    @Flag(name: [.customShort("e"), .customLong("node-path")], help: "With --xpath, print the path of each match.") var nodePath = false
    @Option(name: [.customShort("N"), .long], help: "Send the command to the named host.") var node: String?

    func run() throws {
        let program = "cibadmin"
        let commands: [(Bool, String)] = [
            (upgrade, "--upgrade"), (query, "--query"), (erase, "--erase"), (bump, "--bump"), (create, "--create"),
            (modify, "--modify"), (patch, "--patch"), (replace, "--replace"), (delete, "--delete"),
            (deleteAll, "--delete-all"), (empty, "--empty"), (md5, "--md5-sum"), (md5Versioned, "--md5-sum-versioned"),
        ]
        let chosen = commands.filter(\.0).map(\.1)
        if chosen.count > 1 && chosen != ["--delete", "--delete-all"] {
            ToolSupport.fail(program, "give one command only, not \(chosen.joined(separator: " and "))", .usage)
        }
        let section: CIBSection?
        if let scope {
            guard let s = CIBSection(rawValue: scope) else {
                ToolSupport.fail(program, "unknown scope '\(scope)'; use one of \(CIBSection.names)", .usage)
            }
            section = s
        } else {
            section = nil
        }
        let input = XMLInput(text: xmlText, file: xmlFile, pipe: xmlPipe)
        let xml: XElement?
        do { xml = try input.element() } catch { ToolSupport.fail(program, error) }

        if empty {
            print(CIB.empty().xmlString(), terminator: "")
            return
        }
        if md5 || md5Versioned {
            guard let xml else { ToolSupport.fail(program, "--md5-sum needs the XML to digest: give -X, -x or -p", .usage) }
            print(CIBDigest.digest(of: xml))
            return
        }
        guard let command = chosen.first else {
            ToolSupport.fail(program, "no command given; use one of --query, --create, --modify, --replace, --delete, --patch, --upgrade, --bump, --erase (see --help)", .usage)
        }
        let location = CIBLocation.fromEnvironment()
        let live = location == .live ? LiveCIB(program: program) : nil
        var cib = live?.load() ?? location.load(program: program)
        let before = cib

        do {
            switch command {
            case "--query":
                try runQuery(cib, section: section, xml: xml)
                return
            case "--upgrade":
                cib = cib.upgraded()
            case "--bump":
                cib.bumpVersion(for: .configuration)
            case "--erase":
                guard force else {
                    ToolSupport.fail(program, "--erase removes the whole configuration and status; add --force if you mean it", .unsafe)
                }
                var fresh = CIB.empty(validateWith: cib.validateWith ?? CIB.empty().validateWith!)
                var v = cib.version
                v.epoch += 1
                v.numUpdates = 0
                fresh.version = v
                cib = fresh
            case "--patch":
                guard let xml else { ToolSupport.fail(program, "--patch needs the diff: give -X, -x or -p", .usage) }
                cib = try cib.applying(try CIBPatch(xml: xml))
            case "--delete", "--delete-all":
                if let xpath {
                    try cib.edit(xpath: xpath, .delete(all: deleteAll))
                } else {
                    guard let xml else { ToolSupport.fail(program, "--delete needs the element to delete (-X '<primitive id=\"old\"/>') or --xpath", .usage) }
                    try cib.delete(xml, in: section)
                }
            case "--create", "--modify", "--replace":
                guard let xml else { ToolSupport.fail(program, "\(command) needs XML: give -X, -x or -p", .usage) }
                if let xpath {
                    let edit: CIB.XPathEdit = command == "--create" ? .create(xml) : command == "--modify" ? .modify(xml) : .replace(xml)
                    try cib.edit(xpath: xpath, edit)
                } else if command == "--create" {
                    try cib.create(xml, in: section)
                } else if command == "--modify" {
                    try cib.modify(xml, in: section, allowCreate: allowCreate)
                } else {
                    try cib.replace(xml, in: section)
                }
            default:
                ToolSupport.fail(program, "\(command) is not supported", .usage)
            }
        } catch let error as CIBError {
            ToolSupport.fail(program, error)
        }

        guard cib != before else { return }
        // Refuse an edit that makes the CIB invalid; the file stays as it was.
        let introduced = CIBWriteCheck.newProblems(before: before, after: cib)
        if !introduced.isEmpty && !force {
            for p in introduced { ToolSupport.printError(program, p.description) }
            ToolSupport.fail(program, "the change was refused because it makes the configuration invalid (nothing was written); fix the problems above, or add --force to write it anyway", .config)
        }
        if let live {
            live.apply(liveOperation(command, xml: xml, section: section, result: cib), force: force)
        } else {
            location.save(cib, original: before, program: program)
        }
    }

    /// The change to send to cibd for a command, the same edit the file mode made locally.
    /// (Whole-CIB commands send the result, whose version the command has raised.)
    func liveOperation(_ command: String, xml: XElement?, section: CIBSection?, result: CIB) -> CIBReplica.Operation {
        switch command {
        case "--patch":
            if let xml, let p = try? CIBPatch(xml: xml) { return .patch(p) }
        case "--delete", "--delete-all":
            if let xpath { return .xpath(xpath, .delete(all: deleteAll)) }
            if let xml { return .delete(xml, section: section) }
        case "--create", "--modify", "--replace":
            guard let xml else { break }
            if let xpath {
                return .xpath(xpath, command == "--create" ? .create(xml) : command == "--modify" ? .modify(xml) : .replace(xml))
            }
            if command == "--create" { return .create(xml, section: section) }
            if command == "--modify" { return .modify(xml, section: section, allowCreate: allowCreate) }
            return .replace(xml, section: section)
        default:
            break
        }
        return .replaceAll(result)
    }

    func runQuery(_ cib: CIB, section: CIBSection?, xml: XElement?) throws {
        if let xpath {
            let matches = try cib.query(xpath: xpath)
            if nodePath {
                for m in matches { print(cib.nodePath(m.path)) }
                return
            }
            var elements = matches.compactMap { cib.root.element(at: $0.path) }
            if noChildren { elements = elements.map { XElement($0.name, attributes: $0.attributes) } }
            if elements.count == 1 {
                print(elements[0].xmlString(), terminator: "")
            } else {
                print(XElement("xpath-query", attributes: [], children: elements.map { .element($0) }).xmlString(), terminator: "")
            }
            return
        }
        var e = try cib.query(section: section)
        if noChildren { e = XElement(e.name, attributes: e.attributes) }
        print(e.xmlString(), terminator: "")
    }
}


CibAdmin.main()
