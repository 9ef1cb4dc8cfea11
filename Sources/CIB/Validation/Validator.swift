import CLibXML2
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Validation in two parts: Pacemaker's RelaxNG schema through libxml2 (when installed and
/// when `validate-with` names one), then SwiftHA's own semantic rules (always).
public enum CIBValidator {
    /// Parses and validates XML bytes. Problems carry the line numbers of the input.
    /// Throws only when the bytes are not a CIB at all (malformed XML, another root).
    public static func validate(_ data: some ContiguousBytes, source: String) throws(CIBError) -> (CIB, ValidationReport) {
        let doc: LibXMLDocument
        do { doc = try LibXMLDocument.parse(data, source: source) } catch { throw CIBError.from(error) }
        let cib: CIB
        do { cib = try CIB(doc.toElement()) } catch { throw CIBError(.invalid, "\(source): \(error.message)") }
        let lines = lineIndex(doc)
        var report = validate(cib, doc: doc)
        for i in report.problems.indices where report.problems[i].line == nil {
            if let id = report.problems[i].elementID {
                report.problems[i].line = lines["\(report.problems[i].element)#\(id)"]
            }
        }
        return (cib, report)
    }

    /// Validates a CIB value (problems have no line numbers).
    public static func validate(_ cib: CIB) -> ValidationReport {
        validate(cib, doc: LibXMLDocument(cib.root))
    }

    static func validate(_ cib: CIB, doc: LibXMLDocument) -> ValidationReport {
        var report = ValidationReport()
        let rules = CIBRules.check(cib)
        if let schema = cib.validateWith {
            let (problems, used, note) = CIBSchema.validate(doc, validateWith: schema)
            report.problems += withoutExplained(problems, by: rules)
            report.schemaUsed = used
            report.schemaNote = note
        } else {
            report.problems.append(ValidationProblem(.error, element: "cib", id: nil,
                "the cib has no validate-with attribute; add validate-with=\"\(CIBSchema.newestInstalled ?? "pacemaker-3.9")\""))
        }
        report.problems += rules
        return report
    }

    /// The schema's problems, less those a rule of ours says better about the same element:
    /// libxml2's "IDREF attribute rsc references an unknown ID" beside "rsc 'ghost' names no
    /// resource; define it first or correct the name", or its generic "Invalid sequence in
    /// interleave" beside "an ocf resource needs a provider". One problem, one line.
    static func withoutExplained(_ schema: [ValidationProblem], by rules: [ValidationProblem]) -> [ValidationProblem] {
        let explained = Set(rules.filter { $0.severity == .error }.map { "\($0.element)#\($0.elementID ?? "")" })
        let restated = ["references an unknown ID", "Invalid sequence in interleave", "failed to validate content",
                        "has extra content", "Expecting an element", "failed to validate attributes"]
        return schema.filter { p in
            !(explained.contains("\(p.element)#\(p.elementID ?? "")") && restated.contains { p.message.contains($0) })
        }
    }

    /// "name#id" → line, for the elements of a parsed document that have ids.
    static func lineIndex(_ doc: LibXMLDocument) -> [String: Int] {
        var index: [String: Int] = [:]
        func visit(_ node: xmlNodePtr) {
            if let v = xmlGetProp(node, "id") {
                let key = LibXMLDocument.string(node.pointee.name) + "#" + String(cString: v)
                free(v)
                if index[key] == nil { index[key] = Int(xmlGetLineNo(node)) }
            }
            var c = node.pointee.children
            while let child = c {
                if child.pointee.type == XML_ELEMENT_NODE { visit(child) }
                c = child.pointee.next
            }
        }
        visit(doc.rootNode)
        return index
    }
}
