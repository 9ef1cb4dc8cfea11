/// How an element tree is written out.
public enum XMLFormat: Sendable {
    /// One element per line, indented by two spaces per level, as Pacemaker writes cib.xml.
    case pretty
    /// No whitespace between elements: the form digests are computed over.
    case compact
}

extension XElement {
    /// The XML text of this element (no XML declaration, as Pacemaker writes it).
    public func xmlString(_ format: XMLFormat = .pretty) -> String {
        String(decoding: xmlBytes(format), as: UTF8.self)
    }

    /// The XML of this element as UTF-8 bytes; pretty output ends with a newline.
    public func xmlBytes(_ format: XMLFormat = .pretty) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(into: &out, depth: 0, pretty: format == .pretty)
        return out
    }

    private func write(into out: inout [UInt8], depth: Int, pretty: Bool) {
        if pretty { indent(&out, depth) }
        out.append(UInt8(ascii: "<"))
        out.append(contentsOf: name.utf8)
        for a in attributes {
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: a.name.utf8)
            out.append(contentsOf: "=\"".utf8)
            XElement.escape(a.value, into: &out, attribute: true)
            out.append(UInt8(ascii: "\""))
        }
        if children.isEmpty {
            out.append(contentsOf: "/>".utf8)
            if pretty { out.append(UInt8(ascii: "\n")) }
            return
        }
        out.append(UInt8(ascii: ">"))
        // Mixed content is written as it is: added whitespace would change the text.
        let mixed = children.contains { if case .text = $0 { return true } else { return false } }
        let childPretty = pretty && !mixed
        if childPretty { out.append(UInt8(ascii: "\n")) }
        for child in children {
            switch child {
            case .element(let e):
                e.write(into: &out, depth: depth + 1, pretty: childPretty)
            case .text(let t):
                XElement.escape(t, into: &out, attribute: false)
            case .comment(let c):
                if childPretty { indent(&out, depth + 1) }
                out.append(contentsOf: "<!--".utf8)
                out.append(contentsOf: c.utf8)
                out.append(contentsOf: "-->".utf8)
                if childPretty { out.append(UInt8(ascii: "\n")) }
            }
        }
        if childPretty { indent(&out, depth) }
        out.append(contentsOf: "</".utf8)
        out.append(contentsOf: name.utf8)
        out.append(UInt8(ascii: ">"))
        if pretty { out.append(UInt8(ascii: "\n")) }
    }

    private func indent(_ out: inout [UInt8], _ depth: Int) {
        for _ in 0..<(depth * 2) { out.append(UInt8(ascii: " ")) }
    }

    static func escape(_ s: String, into out: inout [UInt8], attribute: Bool) {
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\"") where attribute: out.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "\n") where attribute: out.append(contentsOf: "&#10;".utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: "&#13;".utf8)
            case UInt8(ascii: "\t") where attribute: out.append(contentsOf: "&#9;".utf8)
            default: out.append(b)
            }
        }
    }
}
