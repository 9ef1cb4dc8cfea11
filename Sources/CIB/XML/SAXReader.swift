import CLibXML2
import Foundation

/// Reads XML straight into an element tree with libxml2's SAX2 interface: no libxml2 document
/// is built and then walked, which halves the time of reading a large CIB.
///
/// The tree is the one `LibXMLDocument.toElement()` gives for the same bytes (the tests check
/// every input of the scheduler suite): whitespace-only text dropped, CDATA as text, comments
/// kept. A document with a DOCTYPE (and so possibly entity declarations) is read through the
/// document path instead, which keeps entity references as they are.
enum SAXReader {
    final class Builder {
        var stack: [XElement] = []
        var root: XElement?
        var text: [UInt8] = []
        var hasText = false
        let limits: XMLReadLimits
        let source: String
        var limitError: XMLParseError?
        var ctxt: xmlParserCtxtPtr?
        /// Names by libxml2's interned pointer, and values met before: a large CIB repeats
        /// the same names, digests, keys and nodes hundreds of thousands of times, and each
        /// repeat then shares one string's storage instead of allocating its own.
        var names: [UnsafePointer<xmlChar>: String] = [:]
        var values = InternTable()

        func name(_ p: UnsafePointer<xmlChar>?) -> String {
            guard let p else { return "" }
            let count = strlen(UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
            if let known = names[p], InternTable.equal(known, UnsafeBufferPointer(start: p, count: count)) { return known }
            let s = String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)
            names[p] = s
            return s
        }

        func value(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
            // Short values are stored inline anyway; long ones are rarely repeated.
            guard bytes.count > 15 && bytes.count <= 96 else { return String(decoding: bytes, as: UTF8.self) }
            return values.intern(bytes)
        }

        init(limits: XMLReadLimits, source: String) {
            self.limits = limits
            self.source = source
        }

        func flushText() {
            guard hasText else { return }
            hasText = false
            defer { text.removeAll(keepingCapacity: true) }
            guard text.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }) else { return }
            let t = String(decoding: text, as: UTF8.self)
            if !stack.isEmpty { stack[stack.count - 1].children.append(.text(t)) }
        }

        func fail(_ message: String) {
            guard limitError == nil else { return }
            let line = ctxt.map { Int(xmlSAX2GetLineNumber(UnsafeMutableRawPointer($0))) } ?? 0
            limitError = XMLParseError(source: source, line: line, column: 0, message: message)
            if let ctxt { xmlStopParser(ctxt) }
        }
    }

    static func builder(_ ctx: UnsafeMutableRawPointer?) -> Builder? {
        guard let ctx else { return nil }
        let c = ctx.assumingMemoryBound(to: xmlParserCtxt.self)
        guard let p = c.pointee._private else { return nil }
        return Unmanaged<Builder>.fromOpaque(p).takeUnretainedValue()
    }

    /// `&amp;`, `&#38;` and the like, left in attribute values when entities are not replaced.
    static func decodeReferences(_ s: String) -> String {
        guard s.utf8.contains(0x26) else { return s }
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { out += rest[amp...]; return out }
            let name = rest[rest.index(after: amp)..<semi]
            var decoded: String?
            switch name {
            case "amp": decoded = "&"
            case "lt": decoded = "<"
            case "gt": decoded = ">"
            case "quot": decoded = "\""
            case "apos": decoded = "'"
            default:
                if name.hasPrefix("#x") || name.hasPrefix("#X"), let v = UInt32(name.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) {
                    decoded = String(Character(u))
                } else if name.hasPrefix("#"), let v = UInt32(name.dropFirst()), let u = Unicode.Scalar(v) {
                    decoded = String(Character(u))
                }
            }
            if let decoded { out += decoded } else { out += rest[amp...semi] }
            rest = rest[rest.index(after: semi)...]
        }
        out += rest
        return out
    }

    static func string(_ p: UnsafePointer<xmlChar>?) -> String {
        guard let p else { return "" }
        return String(cString: p)
    }

    static let startElement: startElementNsSAX2Func = { ctx, localname, _, _, _, _, nbAttributes, _, attributes in
        guard let b = builder(ctx) else { return }
        b.flushText()
        if b.stack.count >= b.limits.maxDepth {
            b.fail("elements are nested more than \(b.limits.maxDepth) levels deep; no CIB is nested that deep, so the file is damaged or not a CIB")
            return
        }
        var attrs: [XAttribute] = []
        attrs.reserveCapacity(Int(nbAttributes))
        if let attributes {
            for i in 0..<Int(nbAttributes) {
                let name = b.name(attributes[i * 5])
                guard let begin = attributes[i * 5 + 3], let end = attributes[i * 5 + 4] else { continue }
                let count = end - begin
                if count > b.limits.maxValueBytes {
                    b.fail("attribute \(name) of <\(string(localname))> is over \(b.limits.maxValueBytes / 1_000_000) MB; no CIB value is that long, so the file is damaged or not a CIB")
                    return
                }
                let bytes = UnsafeBufferPointer(start: begin, count: count)
                let value = b.value(bytes)
                // Only a value with a reference left in it needs decoding.
                attrs.append(XAttribute(name, bytes.contains(0x26) ? decodeReferences(value) : value))
            }
        }
        b.stack.append(XElement(b.name(localname), attributes: attrs, children: []))
    }

    static let endElement: endElementNsSAX2Func = { ctx, _, _, _ in
        guard let b = builder(ctx), b.limitError == nil else { return }
        b.flushText()
        guard let done = b.stack.popLast() else { return }
        if b.stack.isEmpty { b.root = done } else { b.stack[b.stack.count - 1].children.append(.element(done)) }
    }

    static let characters: charactersSAXFunc = { ctx, ch, len in
        guard let b = builder(ctx), let ch, len > 0 else { return }
        if b.text.count + Int(len) > b.limits.maxValueBytes {
            b.fail("a text is over \(b.limits.maxValueBytes / 1_000_000) MB; no CIB value is that long")
            return
        }
        b.text.append(contentsOf: UnsafeBufferPointer(start: ch, count: Int(len)))
        b.hasText = true
    }

    static let comment: commentSAXFunc = { ctx, value in
        guard let b = builder(ctx) else { return }
        b.flushText()
        if !b.stack.isEmpty { b.stack[b.stack.count - 1].children.append(.comment(string(value))) }
    }

    static let reference: referenceSAXFunc = { ctx, name in
        guard let b = builder(ctx) else { return }
        b.flushText()
        if !b.stack.isEmpty { b.stack[b.stack.count - 1].children.append(.text("&" + string(name) + ";")) }
    }

    static let ignorable: ignorableWhitespaceSAXFunc = { _, _, _ in }

    /// The element tree of the bytes, or nil when the document path must read them (a DOCTYPE).
    static func parse(_ data: some ContiguousBytes, source: String, limits: XMLReadLimits) throws(XMLParseError) -> XElement? {
        _ = libxmlReady
        try LibXMLDocument.checkSize(data, source: source, limits: limits)
        let hasDoctype = data.withUnsafeBytes { raw -> Bool in
            let needle = Array("<!DOCTYPE".utf8)
            let limit = min(raw.count, 4096)
            guard limit >= needle.count else { return false }
            for i in 0...(limit - needle.count) where raw[i] == needle[0] {
                if (0..<needle.count).allSatisfy({ raw[i + $0] == needle[$0] }) { return true }
            }
            return false
        }
        if hasDoctype { return nil }
        let builder = Builder(limits: limits, source: source)
        let box = ErrorBox()
        let unmanagedBox = Unmanaged.passRetained(box)
        defer { unmanagedBox.release() }
        let unmanagedBuilder = Unmanaged.passRetained(builder)
        defer { unmanagedBuilder.release() }
        var handler = xmlSAXHandler()
        handler.initialized = XML_SAX2_MAGIC
        handler.startElementNs = startElement
        handler.endElementNs = endElement
        handler.characters = characters
        handler.cdataBlock = characters
        handler.comment = comment
        handler.reference = reference
        handler.ignorableWhitespace = ignorable
        handler.serror = collectSAXError
        handler._private = unmanagedBox.toOpaque()
        let ok: Bool = data.withUnsafeBytes { raw in
            raw.withMemoryRebound(to: CChar.self) { chars -> Bool in
                guard let ctxt = xmlCreateMemoryParserCtxt(chars.baseAddress, Int32(clamping: chars.count)) else { return false }
                defer { xmlFreeParserCtxt(ctxt) }
                if let sax = ctxt.pointee.sax { sax.pointee = handler }
                ctxt.pointee._private = unmanagedBuilder.toOpaque()
                builder.ctxt = ctxt
                let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOBLANKS.rawValue | XML_PARSE_HUGE.rawValue
                    | XML_PARSE_NOWARNING.rawValue | XML_PARSE_NOCDATA.rawValue)
                xmlCtxtUseOptions(ctxt, options)
                xmlParseDocument(ctxt)
                builder.ctxt = nil
                return ctxt.pointee.wellFormed != 0
            }
        }
        if let e = builder.limitError { throw e }
        if let first = box.firstError { throw first.withSource(source) }
        guard ok, let root = builder.root else {
            throw XMLParseError(source: source, line: 0, column: 0, message: "the XML could not be parsed")
        }
        return root
    }
}

/// Records SAX parser errors: the handler's `_private` is the error box.
private let collectSAXError: xmlStructuredErrorFunc = { user, error in
    guard let error, error.pointee.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
    // The structured error callback of a SAX handler receives the parser context.
    guard let user else { return }
    let c = user.assumingMemoryBound(to: xmlParserCtxt.self)
    guard let sax = c.pointee.sax, let p = sax.pointee._private else { return }
    let box = Unmanaged<ErrorBox>.fromOpaque(p).takeUnretainedValue()
    box.parseErrors.append(LibXMLDocument.parseError(from: error, source: ""))
}

/// A set of strings looked up by their bytes (open addressing), so that a value met before
/// is found without building a string for it first.
struct InternTable {
    private var slots: [(hash: Int, string: String)?] = Array(repeating: nil, count: 1024)
    private var count = 0

    static func equal(_ s: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        s.utf8.count == bytes.count && s.utf8.elementsEqual(bytes)
    }

    /// A hash of the bytes, eight at a time.
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        let raw = UnsafeRawBufferPointer(bytes)
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(raw.count)
        var i = 0
        while i + 8 <= raw.count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            i += 8
        }
        var tail: UInt64 = 0
        while i < raw.count {
            tail = (tail << 8) | UInt64(raw[i])
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let h = Self.hash(bytes)
        var mask = slots.count - 1
        var i = h & mask
        while let slot = slots[i] {
            if slot.hash == h && Self.equal(slot.string, bytes) { return slot.string }
            i = (i + 1) & mask
        }
        let s = String(decoding: bytes, as: UTF8.self)
        if (count + 1) * 2 > slots.count {
            grow()
            mask = slots.count - 1
            i = h & mask
            while slots[i] != nil { i = (i + 1) & mask }
        }
        slots[i] = (h, s)
        count += 1
        return s
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: nil, count: old.count * 2)
        let mask = slots.count - 1
        for case let slot? in old {
            var i = slot.hash & mask
            while slots[i] != nil { i = (i + 1) & mask }
            slots[i] = slot
        }
    }
}
