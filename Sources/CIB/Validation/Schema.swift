import CLibXML2
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras
import Synchronization

/// Pacemaker's RelaxNG schemas, as Debian's pacemaker-common installs them in
/// /usr/share/pacemaker (or where `PCMK_schema_directory` points), checked with libxml2.
public enum CIBSchema {
    /// The directory the schemas are read from.
    public static var directory: String {
        ProcessInfo.processInfo.environment["PCMK_schema_directory"] ?? "/usr/share/pacemaker"
    }

    /// The `pacemaker-X.Y` schemas installed, oldest first.
    public static var installed: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.compactMap { f -> String? in
            guard f.hasPrefix("pacemaker-"), f.hasSuffix(".rng") else { return nil }
            let name = String(f.dropLast(4))
            return version(of: name) == nil ? nil : name
        }.sorted { version(of: $0)! < version(of: $1)! }
    }

    /// The newest installed schema, e.g. "pacemaker-3.9".
    public static var newestInstalled: String? { installed.last }

    /// (major, minor) of "pacemaker-3.10"; nil for "pacemaker-next", "none" and others.
    public static func version(of name: String) -> SchemaVersion? {
        guard name.hasPrefix("pacemaker-") else { return nil }
        let parts = name.dropFirst("pacemaker-".count).split(separator: ".")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]) else { return nil }
        return SchemaVersion(major: a, minor: b)
    }

    /// The file that checks a `validate-with` value, or nil with the reason there is none.
    public static func file(for validateWith: String) -> (path: String?, note: String?) {
        if validateWith == "none" {
            return (nil, "validate-with=\"none\": schema validation is disabled (set it to \(newestInstalled ?? "pacemaker-3.9") to enable it)")
        }
        let path = directory + "/" + validateWith + ".rng"
        if FileManager.default.fileExists(atPath: path) { return (path, nil) }
        if installed.isEmpty {
            return (nil, "no Pacemaker schemas in \(directory): install Debian's pacemaker-common to check the schema too")
        }
        if let v = version(of: validateWith), let newest = newestInstalled.flatMap(version(of:)), v > newest {
            return (nil, "\(validateWith) is newer than the newest installed schema (\(newestInstalled!)); only SwiftHA's own rules apply")
        }
        return (nil, "unknown schema '\(validateWith)': use one of \(installed.first!) to \(newestInstalled!)")
    }

    private static let cache = Mutex<[String: CompiledSchema]>([:])

    /// The compiled schema at a path, compiled once per process.
    static func compiled(_ path: String) -> CompiledSchema? {
        if let s = cache.withLock({ $0[path] }) { return s }
        guard let s = CompiledSchema(path: path) else { return nil }
        cache.withLock { $0[path] = s }
        return s
    }

    /// Validates a parsed document against the schema its `validate-with` names.
    static func validate(_ doc: LibXMLDocument, validateWith: String) -> (problems: [ValidationProblem], used: String?, note: String?) {
        let (path, note) = file(for: validateWith)
        guard let path else { return ([], nil, note) }
        guard let schema = compiled(path) else {
            return ([], nil, "the schema \(path) could not be compiled; only SwiftHA's own rules apply")
        }
        return (schema.validate(doc, schemaName: validateWith), validateWith, nil)
    }
}

/// A schema version, ordered numerically (3.10 is newer than 3.9).
public struct SchemaVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public static func < (a: SchemaVersion, b: SchemaVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    public var description: String { "pacemaker-\(major).\(minor)" }
}

/// A compiled RelaxNG schema. libxml2's compiled schemas are read-only during validation,
/// so one can serve every thread; each validation has its own context.
final class CompiledSchema: @unchecked Sendable {
    private let schema: xmlRelaxNGPtr

    init?(path: String) {
        _ = libxmlReady
        guard let pctxt = xmlRelaxNGNewParserCtxt(path) else { return nil }
        defer { xmlRelaxNGFreeParserCtxt(pctxt) }
        let box = ErrorBox()
        let unmanaged = Unmanaged.passRetained(box)
        defer { unmanaged.release() }
        xmlRelaxNGSetParserStructuredErrors(pctxt, collectError, unmanaged.toOpaque())
        guard let s = xmlRelaxNGParse(pctxt) else { return nil }
        schema = s
    }

    deinit { xmlRelaxNGFree(schema) }

    func validate(_ doc: LibXMLDocument, schemaName: String) -> [ValidationProblem] {
        guard let vctxt = xmlRelaxNGNewValidCtxt(schema) else { return [] }
        defer { xmlRelaxNGFreeValidCtxt(vctxt) }
        let box = ErrorBox()
        let unmanaged = Unmanaged.passRetained(box)
        defer { unmanaged.release() }
        xmlRelaxNGSetValidStructuredErrors(vctxt, collectError, unmanaged.toOpaque())
        // ID/IDREF checks report through libxml2's per-thread handler; collect those too.
        xmlSetStructuredErrorFunc(unmanaged.toOpaque(), collectError)
        defer { xmlSetStructuredErrorFunc(nil, nil) }
        _ = xmlRelaxNGValidateDoc(vctxt, doc.doc)
        return CompiledSchema.summarise(box, schemaName: schemaName)
    }

    /// libxml2 reports a cascade for each real problem ("failed to validate content", "has
    /// extra content", "Invalid sequence in interleave" for every enclosing element). Keep the
    /// specific messages; keep a generic one only for an element with nothing more specific.
    static func summarise(_ box: ErrorBox, schemaName: String) -> [ValidationProblem] {
        let generic = ["Invalid sequence in interleave", "failed to validate content", "has extra content",
                       "Extra element", "Expecting an element", "Element cib failed to validate attributes"]
        var seen = Set<String>()
        var specific: [ValidationProblem] = []
        var fallback: [ValidationProblem] = []
        for e in box.details {
            let key = "\(e.line)|\(e.message)"
            guard seen.insert(key).inserted else { continue }
            let p = ValidationProblem(.error, element: e.element, id: e.id, line: e.line > 0 ? e.line : nil,
                                      "does not match the \(schemaName) schema: \(e.message)")
            if generic.contains(where: { e.message.contains($0) }) { fallback.append(p) } else { specific.append(p) }
        }
        if specific.isEmpty, let first = fallback.first { return [first] }
        return specific
    }
}

/// The structured error callback: records the message, the line and the element it concerns.
private let collectError: xmlStructuredErrorFunc = { user, error in
    guard let user, let error else { return }
    let box = Unmanaged<ErrorBox>.fromOpaque(user).takeUnretainedValue()
    var message = error.pointee.message.map { String(cString: $0) } ?? "schema error"
    message = message.trimmingWhitespace()
    var element = "document"
    var id: String?
    if let raw = error.pointee.node {
        let node = raw.assumingMemoryBound(to: xmlNode.self)
        if node.pointee.type == XML_ELEMENT_NODE {
            element = LibXMLDocument.string(node.pointee.name)
            if let v = xmlGetProp(node, "id") {
                id = String(cString: v)
                free(v)
            }
        }
    }
    box.messages.append(message)
    box.details.append(ErrorBox.Detail(line: Int(error.pointee.line), element: element, id: id, message: message))
}
