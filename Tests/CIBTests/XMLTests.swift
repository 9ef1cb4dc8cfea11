import CIB
import Foundation
import Testing

@Suite struct XMLTests {
    @Test func parsesAndWritesBack() throws {
        let xml = #"<a x="1" y="&lt;&amp;&quot;"><!-- note --><b id="b1"/><c>text &amp; more</c></a>"#
        let e = try XElement.parse(xml)
        #expect(e.name == "a")
        #expect(e["y"] == "<&\"")
        #expect(e.children.count == 3)
        #expect(e.elements.map(\.name) == ["b", "c"])
        #expect(e.firstElement(named: "c")?.text == "text & more")
        let again = try XElement.parse(e.xmlString())
        #expect(again == e)
        let compact = try XElement.parse(e.xmlString(.compact))
        #expect(compact == e)
    }

    @Test func attributeWhitespaceSurvives() throws {
        var e = XElement("a")
        e["v"] = "line1\nline2\ttab"
        let back = try XElement.parse(e.xmlString())
        #expect(back["v"] == "line1\nline2\ttab")
    }

    @Test func malformedXMLNamesLineAndColumn() {
        #expect(throws: XMLParseError.self) { try XElement.parse("<cib>\n  <configuration>\n</cib>") }
        do {
            _ = try XElement.parse("<cib>\n  <configuration>\n</cib>", source: "f.xml")
        } catch {
            #expect(error.source == "f.xml")
            #expect(error.line == 3)
            #expect(error.description.hasPrefix("f.xml:3:"))
        }
    }

    @Test func truncatedFileIsReportedAsTruncated() {
        do {
            _ = try XElement.parse("<cib><configuration><resources>", source: "t.xml")
            Issue.record("a truncated file parsed")
        } catch {
            #expect(error.message.contains("truncated"))
        }
    }

    @Test func emptyInputIsRefused() {
        do {
            _ = try XElement.parse([UInt8](), source: "e.xml")
            Issue.record("empty input parsed")
        } catch {
            #expect(error.message.contains("empty"))
        }
    }

    @Test func wrongEncodingIsRefused() {
        // Latin-1 bytes in a document that declares UTF-8.
        let bytes = Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?><cib a=\"".utf8) + [0xE9, 0xFF] + Array("\"/>".utf8)
        do {
            _ = try XElement.parse(bytes, source: "enc.xml")
            Issue.record("invalid UTF-8 parsed")
        } catch {
            #expect(error.message.contains("UTF-8"))
        }
    }

    @Test func deepNestingIsRefusedWithoutCrash() {
        let depth = 100_000
        var s = ""
        s.reserveCapacity(depth * 7)
        for _ in 0..<depth { s += "<a>" }
        for _ in 0..<depth { s += "</a>" }
        do {
            _ = try XElement.parse(s, source: "deep.xml")
            Issue.record("100000-deep nesting parsed")
        } catch {
            #expect(error.message.contains("nested"))
        }
    }

    @Test func hugeValueIsRefused() {
        // 200 MB in one attribute: refused as soon as the value passes libxml2's 10 MB limit.
        let head = Array(#"<cib validate-with="pacemaker-3.9" x=""#.utf8)
        let tail = Array(#""/>"#.utf8)
        var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 200_000_000)
        bytes.replaceSubrange(0..<head.count, with: head)
        bytes.replaceSubrange((bytes.count - tail.count)..<bytes.count, with: tail)
        do {
            _ = try XElement.parse(bytes, source: "huge.xml")
            Issue.record("a 200 MB attribute parsed")
        } catch {
            #expect(error.message.contains("over 10 MB"))
        }
    }

    @Test func sizeLimitIsEnforced() {
        do {
            _ = try XElement.parse(Array("<cib/>".utf8), source: "s.xml", limits: XMLReadLimits(maxBytes: 3))
            Issue.record("limit ignored")
        } catch {
            #expect(error.message.contains("limit"))
        }
    }

    @Test func externalEntitiesAreNotRead() throws {
        let xml = #"<?xml version="1.0"?><!DOCTYPE cib [<!ENTITY x SYSTEM "file:///etc/passwd">]><cib a="1">&x;</cib>"#
        let e = try XElement.parse(xml)
        #expect(!e.xmlString().contains("root:"))
    }

    @Test func xpathSelectsElementsAndAttributes() throws {
        let cib = try CIB.parse(sampleCIB)
        let prims = try cib.root.xpathElements("//primitive")
        #expect(prims.compactMap(\.id) == ["fence1", "vip", "apache", "db"])
        let attrs = try cib.root.xpath("//nvpair[@name='ip']/@value")
        #expect(attrs.count == 1)
        #expect(attrs[0].attribute == "value")
        #expect(cib.root.element(at: attrs[0].path)?.id == "vip-ip")
        #expect(throws: XPathError.self) { try cib.root.xpath("//primitive[") }
    }

    @Test func xpathPathsSkipCommentsCorrectly() throws {
        let e = try XElement.parse("<r><!--c--><a id='1'/>text<a id='2'/></r>")
        let m = try e.xpath("//a[@id='2']")
        #expect(e.element(at: m[0].path)?.id == "2")
    }
}
