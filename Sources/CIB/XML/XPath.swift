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

/// A node an XPath expression selected, named by its place in the tree.
public struct XPathMatch: Hashable, Sendable {
    /// Child indexes from the root element to the element (or the attribute's owner).
    public var path: [Int]
    /// Set when the expression selected an attribute rather than an element.
    public var attribute: String?
}

/// An XPath expression that libxml2 refused.
public struct XPathError: Error, CustomStringConvertible, Sendable, Equatable {
    public var expression: String
    public var message: String
    public var description: String {
        "invalid XPath expression '\(expression)': \(message)"
    }
}

extension XElement {
    /// Evaluates an XPath 1.0 expression with libxml2 against this element as the document
    /// root, and returns the elements and attributes it selects, in document order.
    public func xpath(_ expression: String) throws(XPathError) -> [XPathMatch] {
        let doc = LibXMLDocument(self)
        return try doc.xpath(expression)
    }

    /// The elements an XPath expression selects (attribute matches give their owner).
    public func xpathElements(_ expression: String) throws(XPathError) -> [XElement] {
        try xpath(expression).compactMap { element(at: $0.path) }
    }
}

extension LibXMLDocument {
    func xpath(_ expression: String) throws(XPathError) -> [XPathMatch] {
        guard let ctx = xmlXPathNewContext(doc) else {
            throw XPathError(expression: expression, message: "out of memory")
        }
        defer { xmlXPathFreeContext(ctx) }
        // Errors from libxml2's XPath engine go to its generic handler; collect them instead.
        let box = ErrorBox()
        let unmanaged = Unmanaged.passRetained(box)
        defer { unmanaged.release() }
        xmlXPathSetErrorHandler(ctx, unmanaged.toOpaque())
        guard let obj = xmlXPathEvalExpression(expression, ctx) else {
            throw XPathError(expression: expression, message: box.messages.last ?? "libxml2 could not evaluate it")
        }
        defer { xmlXPathFreeObject(obj) }
        guard obj.pointee.type == XPATH_NODESET, let set = obj.pointee.nodesetval else {
            if obj.pointee.type == XPATH_NODESET { return [] }
            throw XPathError(expression: expression, message: "it computes a value, not a set of elements")
        }
        var matches: [XPathMatch] = []
        let n = Int(set.pointee.nodeNr)
        for i in 0..<n {
            guard let node = set.pointee.nodeTab[i] else { continue }
            switch node.pointee.type {
            case XML_ELEMENT_NODE:
                matches.append(XPathMatch(path: LibXMLDocument.indexPath(of: node), attribute: nil))
            case XML_ATTRIBUTE_NODE:
                if let owner = node.pointee.parent {
                    matches.append(XPathMatch(path: LibXMLDocument.indexPath(of: owner),
                                              attribute: LibXMLDocument.string(node.pointee.name)))
                }
            default:
                continue
            }
        }
        return matches
    }
}

/// Collects libxml2 error messages through a structured error callback.
final class ErrorBox {
    /// One reported error: the line, the element it concerns, and the message.
    struct Detail {
        var line: Int
        var element: String
        var id: String?
        var message: String
    }
    var messages: [String] = []
    var details: [Detail] = []
    var parseErrors: [XMLParseError] = []
}

/// Installs a structured error handler on an XPath context.
private func xmlXPathSetErrorHandler(_ ctx: xmlXPathContextPtr, _ box: UnsafeMutableRawPointer) {
    ctx.pointee.userData = box
    ctx.pointee.error = { user, error in
        guard let user, let error else { return }
        let box = Unmanaged<ErrorBox>.fromOpaque(user).takeUnretainedValue()
        let msg = error.pointee.message.map { String(cString: $0) } ?? "error"
        box.messages.append(msg.trimmingWhitespace())
    }
}
