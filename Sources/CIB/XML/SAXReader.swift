import CLibXML2
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

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
        /// repeat then shares one string's storage instead of allocating its own. The names
        /// are kept in a small table indexed by a hash of the pointer (a CIB has a few dozen).
        var names: [(pointer: UnsafePointer<xmlChar>?, name: String)] = Array(repeating: (nil, ""), count: 256)
        var values = InternTable()

        func name(_ p: UnsafePointer<xmlChar>?) -> String {
            guard let p else { return "" }
            let count = strlen(UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
            let bytes = UnsafeBufferPointer(start: p, count: count)
            let slot = Int(truncatingIfNeeded: (UInt(bitPattern: p) &* 0x9E37_79B9_7F4A_7C15) >> 56) & (names.count - 1)
            if names[slot].pointer == p, InternTable.equal(names[slot].name, bytes) { return names[slot].name }
            let s = String(decoding: bytes, as: UTF8.self)
            names[slot] = (p, s)
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
                attrs.append(XAttribute(name, memchr(begin, 0x26, count) != nil ? decodeReferences(value) : value))
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

    /// Whether the start of a document declares a DOCTYPE (and so possibly entities).
    static func hasDoctype(_ raw: UnsafeRawBufferPointer) -> Bool {
        let needle = Array("<!DOCTYPE".utf8)
        let limit = min(raw.count, 4096)
        guard limit >= needle.count else { return false }
        for i in 0...(limit - needle.count) where raw[i] == needle[0] {
            if (0..<needle.count).allSatisfy({ raw[i + $0] == needle[$0] }) { return true }
        }
        return false
    }

    static let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOBLANKS.rawValue | XML_PARSE_HUGE.rawValue
        | XML_PARSE_NOWARNING.rawValue | XML_PARSE_NOCDATA.rawValue)

    /// The callbacks, with the error box as the handler's `_private`.
    static func handler(errors box: Unmanaged<ErrorBox>) -> xmlSAXHandler {
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
        handler._private = box.toOpaque()
        return handler
    }

    /// Runs `parse` (which creates a parser context with the handler it is given, hands it to
    /// `attach`, parses and returns whether the document was well-formed) and gives the tree.
    static func build(source: String, limits: XMLReadLimits,
                     _ parse: (inout xmlSAXHandler, _ attach: (xmlParserCtxtPtr) -> Void) throws(XMLParseError) -> Bool) throws(XMLParseError) -> XElement {
        let builder = Builder(limits: limits, source: source)
        let box = ErrorBox()
        let unmanagedBox = Unmanaged.passRetained(box)
        defer { unmanagedBox.release() }
        let unmanagedBuilder = Unmanaged.passRetained(builder)
        defer { unmanagedBuilder.release() }
        var handler = handler(errors: unmanagedBox)
        let ok = try parse(&handler) { ctxt in
            xmlCtxtUseOptions(ctxt, options)
            ctxt.pointee._private = unmanagedBuilder.toOpaque()
            builder.ctxt = ctxt
        }
        builder.ctxt = nil
        if let e = builder.limitError { throw e }
        if let first = box.firstError { throw first.withSource(source) }
        guard ok, let root = builder.root else {
            throw XMLParseError(source: source, line: 0, column: 0, message: "the XML could not be parsed")
        }
        return root
    }

    /// The element tree of the bytes, or nil when the document path must read them (a DOCTYPE).
    static func parse(_ data: some ContiguousBytes, source: String, limits: XMLReadLimits) throws(XMLParseError) -> XElement? {
        _ = libxmlReady
        try LibXMLDocument.checkSize(data, source: source, limits: limits)
        if data.withUnsafeBytes({ hasDoctype($0) }) { return nil }
        return try build(source: source, limits: limits) { handler, attach in
            data.withUnsafeBytes { raw in
                raw.withMemoryRebound(to: CChar.self) { chars -> Bool in
                    guard let ctxt = xmlCreateMemoryParserCtxt(chars.baseAddress, Int32(clamping: chars.count)) else { return false }
                    defer { xmlFreeParserCtxt(ctxt) }
                    if let sax = ctxt.pointee.sax { sax.pointee = handler }
                    attach(ctxt)
                    xmlParseDocument(ctxt)
                    return ctxt.pointee.wellFormed != 0
                }
            }
        }
    }

    /// The element tree of a file, read a piece at a time with libxml2's push parser, so that
    /// a CIB of hundreds of MB is never held in memory whole beside its tree. Nil when the
    /// file starts with a DOCTYPE (the caller reads it whole, through the document path).
    static func parse(file path: String, source: String, limits: XMLReadLimits, pieceSize: Int = 1 << 20) throws(XMLParseError) -> XElement? {
        _ = libxmlReady
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw XMLParseError(source: source, line: 0, column: 0, message: "cannot be read: \(String(cString: strerror(errno))) (check the path and its permissions)")
        }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) == 0 {
            if info.st_size == 0 {
                throw XMLParseError(source: source, line: 0, column: 0, message: "the file is empty; a CIB starts with <cib ...>")
            }
            if Int(info.st_size) > limits.maxBytes {
                throw XMLParseError(source: source, line: 0, column: 0,
                                    message: "the input is \(info.st_size) bytes, over the limit of \(limits.maxBytes) bytes; this is not a CIB")
            }
        }
        var piece = [UInt8](repeating: 0, count: max(pieceSize, 4096))
        var total = 0
        /// Fills `piece` as far as the file goes; the number of bytes read.
        func next() throws(XMLParseError) -> Int {
            var filled = 0
            while filled < piece.count {
                let n = piece.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 {
                    throw XMLParseError(source: source, line: 0, column: 0, message: "reading failed: \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                filled += n
            }
            total += filled
            if total > limits.maxBytes {
                throw XMLParseError(source: source, line: 0, column: 0,
                                    message: "the input is over the limit of \(limits.maxBytes) bytes; this is not a CIB")
            }
            return filled
        }
        var count = try next()
        if count == 0 {
            throw XMLParseError(source: source, line: 0, column: 0, message: "the file is empty; a CIB starts with <cib ...>")
        }
        if piece.withUnsafeBytes({ hasDoctype(UnsafeRawBufferPointer(rebasing: $0[..<count])) }) { return nil }
        return try build(source: source, limits: limits) { (handler, attach) throws(XMLParseError) -> Bool in
            // The first bytes go with the context's creation: libxml2 detects the encoding from them.
            let head = min(4, count)
            let created = piece.withUnsafeBytes { raw in
                raw.withMemoryRebound(to: CChar.self) { xmlCreatePushParserCtxt(&handler, nil, $0.baseAddress, Int32(head), nil) }
            }
            guard let ctxt = created else {
                throw XMLParseError(source: source, line: 0, column: 0, message: "out of memory creating the XML parser")
            }
            defer { xmlFreeParserCtxt(ctxt) }
            attach(ctxt)
            var offset = head
            while count > 0 {
                piece.withUnsafeBytes { raw in
                    raw.withMemoryRebound(to: CChar.self) { chars in
                        _ = xmlParseChunk(ctxt, chars.baseAddress! + offset, Int32(count - offset), 0)
                    }
                }
                // A fatal error (or a limit) stops the parser: the rest need not be read.
                if ctxt.pointee.instate == XML_PARSER_EOF { break }
                offset = 0
                count = try next()
            }
            if ctxt.pointee.instate != XML_PARSER_EOF { xmlParseChunk(ctxt, nil, 0, 1) }
            return ctxt.pointee.wellFormed != 0
        }
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
    /// Each slot's hash (with its lowest bit set, so 0 marks an empty slot; the slot is
    /// chosen by the other bits) beside its string: one memory access finds both.
    private var slots: [(hash: Int, string: String)] = Array(repeating: (0, ""), count: 1024)
    private var count = 0

    static func equal(_ s: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var s = s
        return s.withUTF8 { utf8 in
            utf8.count == bytes.count && (utf8.isEmpty || memcmp(utf8.baseAddress!, bytes.baseAddress!, utf8.count) == 0)
        }
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
        let h = Self.hash(bytes) | 1
        var mask = slots.count - 1
        var i = (h >> 1) & mask
        while slots[i].hash != 0 {
            if slots[i].hash == h && Self.equal(slots[i].string, bytes) { return slots[i].string }
            i = (i + 1) & mask
        }
        let s = String(decoding: bytes, as: UTF8.self)
        if (count + 1) * 2 > slots.count {
            grow()
            mask = slots.count - 1
            i = (h >> 1) & mask
            while slots[i].hash != 0 { i = (i + 1) & mask }
        }
        slots[i] = (h, s)
        count += 1
        return s
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: (0, ""), count: old.count * 2)
        let mask = slots.count - 1
        for slot in old where slot.hash != 0 {
            var i = (slot.hash >> 1) & mask
            while slots[i].hash != 0 { i = (i + 1) & mask }
            slots[i] = slot
        }
    }
}
