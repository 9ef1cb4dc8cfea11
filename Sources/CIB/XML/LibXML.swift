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

/// Initialises libxml2 once per process (required before it is used from several threads).
let libxmlReady: Void = {
    xmlInitParser()
}()

/// A problem found while reading XML, with the place it was found.
public struct XMLParseError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or other source) that was being read.
    public var source: String
    /// 1-based line and column, 0 when libxml2 could not tell.
    public var line: Int
    public var column: Int
    /// What is wrong, in plain words.
    public var message: String

    public init(source: String, line: Int, column: Int, message: String) {
        self.source = source
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        var place = source
        if line > 0 { place += ":\(line)" }
        if column > 0 { place += ":\(column)" }
        return "\(place): \(message)"
    }
}

/// Reading limits. The defaults accept any real CIB (the largest benchmark CIB is 184 MB) and
/// refuse inputs that could only exhaust memory or stack.
public struct XMLReadLimits: Sendable {
    /// Largest input accepted, in bytes.
    public var maxBytes: Int
    /// Deepest element nesting accepted (a CIB is about 10 levels deep).
    public var maxDepth: Int
    /// Longest single attribute value or text accepted, in bytes.
    public var maxValueBytes: Int

    public init(maxBytes: Int = 1 << 30, maxDepth: Int = 256, maxValueBytes: Int = 10_000_000) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxValueBytes = maxValueBytes
    }
}

/// A parsed libxml2 document, owned by this object and freed with it.
///
/// Used where libxml2 itself must see the document: RelaxNG validation (whose errors carry the
/// line numbers of the original file) and XPath. Everything else works on `XElement` values.
final class LibXMLDocument {
    let doc: xmlDocPtr

    private init(doc: xmlDocPtr) { self.doc = doc }
    deinit { xmlFreeDoc(doc) }

    /// Parses bytes. Whitespace-only text is dropped, the network is never used, entities are
    /// not expanded (no external entity can be read), and CDATA becomes plain text.
    static func parse(_ data: some ContiguousBytes, source: String, limits: XMLReadLimits = .init()) throws(XMLParseError) -> LibXMLDocument {
        let doc = try parseUnchecked(data, source: source, limits: limits)
        try doc.checkLimits(limits, source: source)
        return doc
    }

    /// Walks the document once, refusing nesting and values beyond the limits, so that the
    /// recursive conversion and every later walk stay well within any thread's stack.
    func checkLimits(_ limits: XMLReadLimits, source: String) throws(XMLParseError) {
        var stack: [(xmlNodePtr, Int)] = [(rootNode, 1)]
        while let (node, depth) = stack.popLast() {
            if depth > limits.maxDepth {
                throw XMLParseError(source: source, line: Int(xmlGetLineNo(node)), column: 0,
                                    message: "elements are nested more than \(limits.maxDepth) levels deep; no CIB is nested that deep, so the file is damaged or not a CIB")
            }
            var prop = node.pointee.properties
            while let p = prop {
                if let c = p.pointee.children, let content = c.pointee.content, strlen(content) > limits.maxValueBytes {
                    throw XMLParseError(source: source, line: Int(xmlGetLineNo(node)), column: 0,
                                        message: "attribute \(LibXMLDocument.string(p.pointee.name)) of <\(LibXMLDocument.string(node.pointee.name))> is over \(limits.maxValueBytes / 1_000_000) MB; no CIB value is that long, so the file is damaged or not a CIB")
                }
                prop = p.pointee.next
            }
            var child = node.pointee.children
            while let c = child {
                if c.pointee.type == XML_ELEMENT_NODE {
                    stack.append((c, depth + 1))
                } else if let content = c.pointee.content, strlen(content) > limits.maxValueBytes {
                    throw XMLParseError(source: source, line: Int(xmlGetLineNo(c)), column: 0,
                                        message: "a text of <\(LibXMLDocument.string(node.pointee.name))> is over \(limits.maxValueBytes / 1_000_000) MB; no CIB value is that long")
                }
                child = c.pointee.next
            }
        }
    }

    private static func parseUnchecked(_ data: some ContiguousBytes, source: String, limits: XMLReadLimits) throws(XMLParseError) -> LibXMLDocument {
        _ = libxmlReady
        try checkSize(data, source: source, limits: limits)
        guard let ctxt = xmlNewParserCtxt() else {
            throw XMLParseError(source: source, line: 0, column: 0, message: "out of memory creating the XML parser")
        }
        defer { xmlFreeParserCtxt(ctxt) }
        // XML_PARSE_HUGE lifts libxml2's look-ahead limit, which large real CIBs (tens of MB)
        // exceed; the depth and value-size limits it also lifts are enforced by `checkedElement`.
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOBLANKS.rawValue | XML_PARSE_HUGE.rawValue
            | XML_PARSE_NOWARNING.rawValue | XML_PARSE_NOCDATA.rawValue)
        // Collect errors (nothing is printed); the first one is the cause, later ones follow from it.
        let box = ErrorBox()
        let unmanaged = Unmanaged.passRetained(box)
        defer { unmanaged.release() }
        xmlSetStructuredErrorFunc(unmanaged.toOpaque(), collectParseError)
        defer { xmlSetStructuredErrorFunc(nil, nil) }
        let doc: xmlDocPtr? = data.withUnsafeBytes { raw in
            raw.withMemoryRebound(to: CChar.self) { chars in
                xmlCtxtReadMemory(ctxt, chars.baseAddress, Int32(clamping: chars.count), source, nil, options)
            }
        }
        let wellFormed = ctxt.pointee.wellFormed != 0
        if let doc, wellFormed, xmlDocGetRootElement(doc) != nil {
            return LibXMLDocument(doc: doc)
        }
        if let doc { xmlFreeDoc(doc) }
        if let first = box.firstError {
            throw first.withSource(source)
        }
        throw parseError(from: xmlCtxtGetLastError(ctxt), source: source)
    }

    /// Refuses empty input and input over the size limit.
    static func checkSize(_ data: some ContiguousBytes, source: String, limits: XMLReadLimits) throws(XMLParseError) {
        let count = data.withUnsafeBytes { $0.count }
        if count == 0 {
            throw XMLParseError(source: source, line: 0, column: 0, message: "the file is empty; a CIB starts with <cib ...>")
        }
        if count > limits.maxBytes {
            throw XMLParseError(source: source, line: 0, column: 0,
                                message: "the input is \(count) bytes, over the limit of \(limits.maxBytes) bytes; this is not a CIB")
        }
    }

    /// Builds a libxml2 document from an element tree, node for node, so that a path of child
    /// indexes in one is the same path in the other.
    convenience init(_ root: XElement) {
        _ = libxmlReady
        let doc = xmlNewDoc("1.0")!
        let node = LibXMLDocument.makeNode(root, doc: doc)
        xmlDocSetRootElement(doc, node)
        self.init(doc: doc)
    }

    private static func makeNode(_ e: XElement, doc: xmlDocPtr) -> xmlNodePtr {
        let node = xmlNewDocNode(doc, nil, e.name, nil)!
        for a in e.attributes { xmlNewProp(node, a.name, a.value) }
        for child in e.children {
            let c: xmlNodePtr
            switch child {
            case .element(let ce): c = makeNode(ce, doc: doc)
            case .text(let t): c = xmlNewDocText(doc, t)
            case .comment(let t): c = xmlNewDocComment(doc, t)
            }
            // xmlAddChild would merge adjacent text nodes and break the index mapping.
            appendRaw(child: c, to: node)
        }
        return node
    }

    private static func appendRaw(child: xmlNodePtr, to parent: xmlNodePtr) {
        child.pointee.parent = parent
        if let last = parent.pointee.last {
            last.pointee.next = child
            child.pointee.prev = last
        } else {
            parent.pointee.children = child
        }
        parent.pointee.last = child
    }

    var rootNode: xmlNodePtr { xmlDocGetRootElement(doc)! }

    /// The element tree of this document.
    func toElement() -> XElement {
        LibXMLDocument.element(from: rootNode)
    }

    static func element(from node: xmlNodePtr) -> XElement {
        var attributes: [XAttribute] = []
        var prop = node.pointee.properties
        while let p = prop {
            attributes.append(XAttribute(string(p.pointee.name), attributeValue(p)))
            prop = p.pointee.next
        }
        var children: [XNode] = []
        var child = node.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_ELEMENT_NODE:
                children.append(.element(element(from: c)))
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                let t = string(c.pointee.content)
                if !t.allSatisfy(\.isWhitespace) { children.append(.text(t)) }
            case XML_COMMENT_NODE:
                children.append(.comment(string(c.pointee.content)))
            case XML_ENTITY_REF_NODE:
                children.append(.text("&" + string(c.pointee.name) + ";"))
            default:
                break
            }
            child = c.pointee.next
        }
        return XElement(string(node.pointee.name), attributes: attributes, children: children)
    }

    private static func attributeValue(_ p: xmlAttrPtr) -> String {
        if let c = p.pointee.children, c.pointee.next == nil, c.pointee.type == XML_TEXT_NODE {
            return string(c.pointee.content)
        }
        guard let v = xmlNodeListGetString(p.pointee.doc, p.pointee.children, 1) else { return "" }
        defer { free(v) }
        return String(cString: v)
    }

    static func string(_ p: UnsafePointer<xmlChar>?) -> String {
        guard let p else { return "" }
        return String(cString: p)
    }

    static func string(_ p: UnsafeMutablePointer<xmlChar>?) -> String {
        guard let p else { return "" }
        return String(cString: p)
    }

    /// Path of child indexes from the root element to `node` (an element or attribute's owner).
    static func indexPath(of node: xmlNodePtr) -> [Int] {
        var path: [Int] = []
        var n = node
        while let parent = n.pointee.parent, parent.pointee.type == XML_ELEMENT_NODE {
            var i = 0
            var s = n.pointee.prev
            while let sib = s {
                if keepsIndex(sib) { i += 1 }
                s = sib.pointee.prev
            }
            path.append(i)
            n = parent
        }
        return path.reversed()
    }

    /// Whether a libxml2 node has a counterpart in `XElement.children` (parsed documents may
    /// hold whitespace text and processing instructions that the tree drops).
    private static func keepsIndex(_ n: xmlNodePtr) -> Bool {
        switch n.pointee.type {
        case XML_ELEMENT_NODE, XML_COMMENT_NODE, XML_ENTITY_REF_NODE: return true
        case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
            return !string(n.pointee.content).allSatisfy(\.isWhitespace)
        default: return false
        }
    }

    static func parseError(from error: UnsafePointer<xmlError>?, source: String) -> XMLParseError {
        guard let e = error?.pointee else {
            return XMLParseError(source: source, line: 0, column: 0, message: "the XML could not be parsed")
        }
        var message = e.message.map { String(cString: $0) } ?? "malformed XML"
        message = message.trimmingWhitespace()
        if message.hasPrefix("Excessive depth") {
            message = "elements are nested more than 256 levels deep; no CIB is nested that deep, so the file is damaged or not a CIB"
        } else if message.contains("not proper UTF-8") || message.contains("encoding") {
            message += " (save the file as UTF-8, or declare its real encoding in <?xml ... encoding=\"...\"?>)"
        } else if message.contains("Premature end") || message.contains("EndTag") {
            message += " (the file looks truncated: check that it ends with </cib>)"
        } else if message.contains("too long") || message.contains("huge") {
            message += " (a single value over 10 MB is refused)"
        }
        return XMLParseError(source: source, line: Int(e.line), column: Int(e.int2), message: message)
    }
}

extension ErrorBox {
    /// The first error-level problem recorded by `collectParseError`.
    var firstError: XMLParseError? { parseErrors.first }
}

extension XMLParseError {
    func withSource(_ s: String) -> XMLParseError {
        var e = self
        e.source = s
        return e
    }
}

/// Records parser errors (warnings are ignored) for `LibXMLDocument.parse`.
private let collectParseError: xmlStructuredErrorFunc = { user, error in
    guard let user, let error, error.pointee.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
    let box = Unmanaged<ErrorBox>.fromOpaque(user).takeUnretainedValue()
    box.parseErrors.append(LibXMLDocument.parseError(from: error, source: ""))
}

extension XElement {
    /// Parses XML bytes into an element tree.
    ///
    /// Throws `XMLParseError` naming the line and column of the first problem.
    public static func parse(_ data: some ContiguousBytes, source: String = "input", limits: XMLReadLimits = .init()) throws(XMLParseError) -> XElement {
        if let tree = try SAXReader.parse(data, source: source, limits: limits) { return tree }
        return try parseThroughDocument(data, source: source, limits: limits)
    }

    /// Parses an XML file into an element tree, reading it a piece at a time (a file with a
    /// DOCTYPE is read whole, through the document path). `source` names it in errors.
    public static func parse(file path: String, source: String? = nil, limits: XMLReadLimits = .init()) throws(XMLParseError) -> XElement {
        let source = source ?? path
        if let tree = try SAXReader.parse(file: path, source: source, limits: limits) { return tree }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw XMLParseError(source: source, line: 0, column: 0, message: "cannot be read (check the path and its permissions)")
        }
        return try parseThroughDocument(data, source: source, limits: limits)
    }

    /// The same, through a libxml2 document (what validation and XPath use).
    static func parseThroughDocument(_ data: some ContiguousBytes, source: String = "input", limits: XMLReadLimits = .init()) throws(XMLParseError) -> XElement {
        try LibXMLDocument.parse(data, source: source, limits: limits).toElement()
    }

    /// Parses an XML string into an element tree.
    public static func parse(_ text: String, source: String = "input") throws(XMLParseError) -> XElement {
        try parse(Array(text.utf8), source: source)
    }
}
