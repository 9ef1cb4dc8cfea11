@testable import CIB
import Foundation
import Testing
import TestSupport

/// The SAX reader gives the very tree the document path gives, and refuses what it refuses.
@Suite struct SAXReaderTests {
    @Test func sameTreeAsTheDocumentPathOnEverySuiteInput() throws {
        guard let dir = SharedData.schedulerSuite.map({ $0 + "/xml" }) else {
            print("SKIPPED: ../shared/conformance is not present (set SWIFTHA_SHARED)")
            return
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".xml") }.sorted()
        #expect(files.count > 600)
        for name in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
            let sax = try SAXReader.parse(data, source: name, limits: .init())
            let dom = try XElement.parseThroughDocument(data, source: name)
            #expect(sax == dom, "\(name): the SAX tree differs from the document's")
        }
    }

    @Test func textCommentsReferencesAndWhitespace() throws {
        let xml = """
        <cib a="x &amp; y &#38; z &lt;&quot;&apos;&#x41;">
          <!-- kept -->
          <b>text &amp; more<![CDATA[ raw <x> ]]></b>
          <c>   </c>
        </cib>
        """
        let sax = try #require(try SAXReader.parse(Array(xml.utf8), source: "t", limits: .init()))
        #expect(sax == (try XElement.parseThroughDocument(Array(xml.utf8), source: "t")))
        #expect(sax["a"] == "x & y & z <\"'A")
        #expect(sax.firstElement(named: "b")?.text == "text & more raw <x> ")
        #expect(sax.firstElement(named: "c")?.children.isEmpty == true)
    }

    @Test func limitsAndMalformedInput() throws {
        let deep = String(repeating: "<a>", count: 300) + String(repeating: "</a>", count: 300)
        #expect(throws: XMLParseError.self) { try XElement.parse(deep) }
        let long = "<a b=\"" + String(repeating: "x", count: 2000) + "\"/>"
        #expect(throws: XMLParseError.self) { try XElement.parse(Array(long.utf8), limits: .init(maxValueBytes: 1000)) }
        do {
            _ = try XElement.parse("<cib>\n<a>\n</cib>")
            Issue.record("accepted a mismatched tag")
        } catch {
            #expect(error.line == 3, "the line of the problem: \(error)")
        }
        #expect(throws: XMLParseError.self) { try XElement.parse("") }
        // A DOCTYPE goes through the document path, entity references kept.
        let withDoctype = "<!DOCTYPE cib [<!ENTITY e \"v\">]><cib>&e;</cib>"
        #expect(try SAXReader.parse(Array(withDoctype.utf8), source: "d", limits: .init()) == nil)
        #expect(try XElement.parse(withDoctype).children == [.text("&e;")])
    }
}

/// A file is read a piece at a time: the tree, and the errors, are those of its bytes.
@Suite struct SAXFileReaderTests {
    func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "swiftha-sax-\(UUID().uuidString).xml"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func sameTreeAsTheBytesOnEverySuiteInput() throws {
        guard let dir = SharedData.schedulerSuite.map({ $0 + "/xml" }) else {
            print("SKIPPED: ../shared/conformance is not present (set SWIFTHA_SHARED)")
            return
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".xml") }.sorted()
        #expect(files.count > 600)
        for name in files {
            let path = dir + "/" + name
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            // Small pieces: most inputs are split somewhere inside an element or a value.
            let fromFile = try SAXReader.parse(file: path, source: name, limits: .init(), pieceSize: 4096)
            #expect(fromFile == (try SAXReader.parse(data, source: name, limits: .init())), "\(name): the file's tree differs from its bytes'")
        }
    }

    @Test func piecesSplitAnywhereGiveTheSameTree() throws {
        var xml = "<cib a=\"x &amp; y\"><status>"
        for k in 0..<2000 {
            xml += #"<lrm_rsc_op id="rsc\#(k)_monitor_10000" transition-magic="0:0;12:1:0:00000000-0000-0000-0000-000000000001" exit-reason="a &amp; b &#x41;" call-id="\#(k)"/>"#
            if k % 97 == 0 { xml += "<!-- note \(k) --><t>text &lt;\(k)&gt;<![CDATA[ raw <x> ]]></t>" }
        }
        xml += "</status></cib>"
        let bytes = Array(xml.utf8)
        let path = try temporaryFile(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let expected = try #require(try SAXReader.parse(bytes, source: "t", limits: .init()))
        for piece in [4096, 4099, 65536, 1 << 20] {
            let tree = try SAXReader.parse(file: path, source: "t", limits: .init(), pieceSize: piece)
            #expect(tree == expected, "pieces of \(piece) bytes")
        }
        #expect(try XElement.parse(file: path) == expected)
    }

    @Test func errorsNameTheFileAndLineAndDoctypeFallsBack() throws {
        // A mismatched tag far beyond the first piece.
        let bad = "<cib>\n" + String(repeating: "<a b=\"0123456789\"/>\n", count: 5000) + "<a>\n</cib>\n"
        let path = try temporaryFile(Array(bad.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try XElement.parse(file: path)
            Issue.record("accepted a mismatched tag")
        } catch {
            #expect(error.source == path)
            #expect(error.line == 5003, "the line of the problem: \(error)")
            do {
                _ = try XElement.parse(Array(bad.utf8), source: path)
            } catch let fromBytes {
                #expect(fromBytes == error, "the same error as reading the bytes")
            }
        }
        let empty = try temporaryFile([])
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: XMLParseError.self) { try XElement.parse(file: empty) }
        #expect(throws: XMLParseError.self) { try XElement.parse(file: "/nonexistent/swiftha-no-such.xml") }
        // A DOCTYPE goes through the document path, entity references kept.
        let doctype = try temporaryFile(Array("<!DOCTYPE cib [<!ENTITY e \"v\">]><cib>&e;</cib>".utf8))
        defer { try? FileManager.default.removeItem(atPath: doctype) }
        #expect(try SAXReader.parse(file: doctype, source: "d", limits: .init()) == nil)
        #expect(try XElement.parse(file: doctype).children == [.text("&e;")])
    }

    @Test func cibFileLoadReadsThePiecesAndRefusesBadPaths() throws {
        let cib = CIB.empty()
        let path = try temporaryFile(cib.root.xmlBytes(.pretty))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try CIBFile.load(path) == cib)
        #expect(throws: CIBError.self) { try CIBFile.load("/nonexistent/swiftha-no-such.xml") }
        #expect(throws: CIBError.self) { try CIBFile.load(NSTemporaryDirectory()) }
    }
}

/// Seeded mutations of real CIBs: the reader either returns a tree or throws a parse error
/// naming a place; it never crashes, hangs or returns a tree the document path refuses.
@Suite struct XMLFuzzTests {
    @Test func mutatedCIBsNeverCrashTheReader() throws {
        guard let dir = SharedData.schedulerSuite.map({ $0 + "/xml" }) else {
            print("SKIPPED: ../shared/conformance is not present (set SWIFTHA_SHARED)")
            return
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".xml") }.sorted().prefix(40)
        var rng = SeededGenerator(seed: 2026)
        var accepted = 0, refused = 0
        let alphabet = Array("<>&;\"'=/ !?[]-#x0aZ".utf8) + [0, 0xFF, 0xC3, 0x80]
        for name in names {
            let original = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
            for _ in 0..<25 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    let at = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: bytes[at] = alphabet.randomElement(using: &rng)!
                    case 1: bytes.remove(at: at)
                    case 2: bytes.insert(alphabet.randomElement(using: &rng)!, at: at)
                    default: bytes = Array(bytes[..<at])
                    }
                    if bytes.isEmpty { break }
                }
                do {
                    let tree = try XElement.parse(bytes, source: name)
                    accepted += 1
                    // What the reader accepts, the document path accepts the same way.
                    #expect(tree == (try? XElement.parseThroughDocument(bytes, source: name)), "\(name): the readers disagree")
                } catch {
                    refused += 1
                    #expect(!error.message.isEmpty)
                }
            }
        }
        #expect(accepted > 0 && refused > 0, "the mutations should both pass and fail: \(accepted) accepted, \(refused) refused")
    }
}

/// Repeated values share storage through the intern table; the tree stays the same.
@Suite struct InternTableTests {
    @Test func internedValuesAreEqualToTheirBytesAndFoundAgain() {
        var table = InternTable()
        var firsts: [String] = []
        for k in 0..<5000 {
            let text = "value-number-\(k)-with-a-long-tail"
            let s = Array(text.utf8).withUnsafeBufferPointer { table.intern($0) }
            #expect(s == text)
            firsts.append(s)
        }
        // Met again (after the table grew many times): the same strings come back.
        for k in stride(from: 0, to: 5000, by: 97) {
            let text = "value-number-\(k)-with-a-long-tail"
            let s = Array(text.utf8).withUnsafeBufferPointer { table.intern($0) }
            #expect(s == firsts[k])
        }
        // Bytes that are no valid UTF-8 decode as before (with replacement characters).
        let bad: [UInt8] = Array("prefix-long-enough-".utf8) + [0xFF, 0xFE]
        let s = bad.withUnsafeBufferPointer { table.intern($0) }
        #expect(s == String(decoding: bad, as: UTF8.self))
    }

    @Test func repeatedLongNamesAndValuesGiveTheDocumentTree() throws {
        var xml = "<cib><status>"
        for k in 0..<300 {
            xml += #"<lrm_rsc_op id="rsc\#(k % 7)_monitor_10000_long" transition-magic="0:0;12:1:0:00000000-0000-0000-0000-000000000001" crm-debug-origin="do_update_resource" op-digest="4811cef7f7f94e3a35a70be7916cb2fd" exit-reason="a &amp; b, long enough to intern" call-id="\#(k)"/>"#
        }
        xml += "</status></cib>"
        let sax = try #require(try SAXReader.parse(Array(xml.utf8), source: "t", limits: .init()))
        #expect(sax == (try XElement.parseThroughDocument(Array(xml.utf8), source: "t")))
        let ops = sax.firstElement(named: "status")?.elements(named: "lrm_rsc_op") ?? []
        #expect(ops.count == 300)
        #expect(ops[8]["id"] == "rsc1_monitor_10000_long")
        #expect(ops[299]["exit-reason"] == "a & b, long enough to intern")
        #expect(ops[299]["call-id"] == "299")
    }
}
