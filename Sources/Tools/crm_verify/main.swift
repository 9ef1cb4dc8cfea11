import ArgumentParser
import CIB
import Foundation
import HASupport
import ToolSupport

/// crm_verify: check a configuration for errors, as Pacemaker's crm_verify does, with one line
/// per problem naming the element and the fix. Exit 0 when valid, 78 (CRM_EX_CONFIG) when not.
struct CrmVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm_verify",
        abstract: "Check a Pacemaker configuration for errors.",
        discussion: """
        Checks that the XML is well-formed, that it conforms to the schema it declares (with
        Pacemaker's RelaxNG schemas from /usr/share/pacemaker when installed), and SwiftHA's own
        rules: unique ids, references to existing resources, valid scores, durations and roles.
        Errors must be fixed before the cluster will work properly; warnings are for the
        administrator to judge.
        Examples:
          crm_verify -x /var/lib/pacemaker/cib/cib.xml
          CIB_file=cib.xml crm_verify -L
        """)

    @Flag(name: [.customShort("L"), .customLong("live-check")], help: "Check the configuration of the running cluster (or CIB_file).") var live = false
    @Option(name: [.customShort("x"), .customLong("xml-file")], help: "Check the configuration in the named file.") var xmlFile: String?
    @Flag(name: [.customShort("p"), .customLong("xml-pipe")], help: "Check the configuration piped in on stdin.") var xmlPipe = false
    @Option(name: [.customShort("X"), .customLong("xml-text")], help: "Check the configuration given as a string.") var xmlText: String?
    @Option(name: [.customShort("S"), .customLong("save-xml")], help: "Save the verified XML to the named file.") var saveXML: String?
    @Flag(name: [.customShort("V"), .long], help: "Print more details (the schema used, and notes).") var verbose: Int
    @Option(name: .customLong("output-as"), help: "Output format: text (default).") var outputAs: String = "text"

    /// The bytes to check and a name for them in messages.
    func readInput(program: String) -> (Data, String) {
        do {
            if live {
                guard case .file(let path) = CIBLocation.fromEnvironment() else {
                    // The running cluster's CIB, through this node's cibd.
                    // Unreachable: exit 66 (no input), as Pacemaker's crm_verify -L.
                    let cib = LiveCIB(program: program, unreachable: .noInput).load()
                    return (Data(cib.xmlString().utf8), "the live CIB")
                }
                return (try CIBFile.read(path), path)
            }
            if let (d, s) = try XMLInput(text: xmlText, file: xmlFile, pipe: xmlPipe).bytes() { return (d, s) }
        } catch {
            ToolSupport.fail(program, error)
        }
        ToolSupport.fail(program, "no input", .usage)
    }

    func run() throws {
        let program = "crm_verify"
        let sources = [live, xmlFile != nil, xmlPipe, xmlText != nil].filter { $0 }.count
        if sources == 0 {
            ToolSupport.fail(program, "say which configuration to check: -L (the cluster, or CIB_file), -x FILE, -p or -X TEXT", .usage)
        }
        if sources > 1 { ToolSupport.fail(program, "give only one of -L, -x, -p and -X", .usage) }
        if outputAs != "text" { ToolSupport.fail(program, "--output-as \(outputAs) is not supported yet; use text", .usage) }

        let (data, source) = readInput(program: program)

        let result: (CIB, ValidationReport)
        do {
            result = try CIBValidator.validate(data, source: source)
        } catch {
            ToolSupport.printError(program, "error: \(error.message)")
            ToolSupport.fail(program, "Errors found during check: config not valid", .config)
        }
        let (cib, report) = result
        if verbose > 0 {
            if let used = report.schemaUsed { ToolSupport.printError(program, "checked against the \(used) schema and SwiftHA's rules") }
            if let note = report.schemaNote { ToolSupport.printError(program, "note: \(note)") }
        }
        // Like Pacemaker's, the problems go to stderr.
        for p in report.problems { FileHandle.standardError.write(Data((p.description + "\n").utf8)) }
        if let saveXML {
            do { try CIBFile.write(cib, to: saveXML, digest: false) } catch { ToolSupport.fail(program, error) }
        }
        if !report.isValid {
            ToolSupport.printError(program, "Errors found during check: config not valid")
            if verbose == 0 { FileHandle.standardError.write(Data("  -V may provide more details\n".utf8)) }
            HASupport.exit(.config)
        }
        if !report.warnings.isEmpty {
            ToolSupport.printError(program, "Warnings found during check: config may not be valid")
        }
    }
}

CrmVerify.main()
