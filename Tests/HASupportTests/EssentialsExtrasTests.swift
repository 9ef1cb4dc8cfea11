import EssentialsExtras
import Foundation
import Testing
import TestSupport

/// The helpers that replace Foundation proper in the libraries and daemons give what the
/// Foundation calls they replace gave: each is compared with that call on the same input.
@Suite struct EssentialsExtrasTests {
    static let texts = ["", " ", "\t\n", "abc", "  abc  ", "\t a b \t", "\n\r\n x \r\n", "\u{00A0}nbsp\u{2003}",
                        "\u{2028}line\u{2029}", "\u{0085}next\u{000B}\u{000C}", "é ", " \u{0301}x", "日本 ", "a\u{200B}",
                        "\u{180E}x\u{180E}", "\u{3000}x\u{205F}", "\u{202F}x\u{1680}", "\u{2060}x"]

    @Test func trimmingIsFoundations() {
        for t in Self.texts {
            #expect(t.trimmingWhitespace() == t.trimmingCharacters(in: .whitespacesAndNewlines), "\(t.debugDescription)")
            #expect(t.trimmingSpaces() == t.trimmingCharacters(in: .whitespaces), "\(t.debugDescription)")
            let sub = Substring("  " + t + "\t")
            #expect(sub.trimmingSpaces() == sub.trimmingCharacters(in: .whitespaces), "\(t.debugDescription)")
        }
    }

    @Test func replacingIsFoundations() {
        let cases: [(String, String, String)] = [("a-b-c", "-", "_"), ("x\r\ny\nz", "\n", "\n    "), ("say \"hi\"", "\"", "\\\""),
                                                 ("INFINITY and -INFINITY", "INFINITY", "inf"), ("a\\nb\\n", "\\n", "\n"),
                                                 ("", "-", "_"), ("aaa", "aa", "b"), ("é-é", "-", "–")]
        for (text, target, with) in cases {
            #expect(text.replacingEvery(target, with: with) == text.replacingOccurrences(of: target, with: with), "\(text.debugDescription)")
        }
    }

    @Test func paddingIsFoundations() {
        for (text, n) in [("abc", 8), ("abcdef", 3), ("", 2), ("web-server", 15), ("exact", 5)] {
            #expect(text.padded(toLength: n) == text.padding(toLength: n, withPad: " ", startingAt: 0))
        }
    }

    @Test func pathsAreNSStrings() {
        for p in ["/a/b/c", "/a/b/c/", "/a", "/", "a/b", "a/b/", "/a//b", "//a", "", "/var/lib/pacemaker/cib/cib.xml"] {
            #expect(deletingLastPathComponent(p) == (p as NSString).deletingLastPathComponent, "\(p)")
        }
        // A name without a slash: "" as on Darwin (this Foundation traps on it).
        #expect(deletingLastPathComponent("cib.xml") == "")
    }

    @Test func numbersAreStringFormats() {
        for v in [0.0, 1.5, -2.25, 1234.5678901, 1e-7, 0.05, 0.15, 1e20] {
            #expect(fixedPoint(v, decimals: 6) == String(format: "%.6f", v))
            #expect(fixedPoint(v, decimals: 1) == String(format: "%.1f", v))
        }
        for b: UInt8 in [0, 9, 0x1F, 0x7F, 0xAB, 0xFF] {
            #expect(zeroPadded(b, width: 2, radix: 16, uppercase: true) == String(format: "%02X", b))
        }
        for v in [0, 7, 42, 2026, 12345, -5] {
            #expect(zeroPadded(v, width: 2) == String(format: "%02d", v))
            #expect(zeroPadded(v, width: 4) == String(format: "%04d", v))
        }
    }

    @Test func failureReasonsNameTheErrno() {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("essentials-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            _ = try Data(contentsOf: dir.appendingPathComponent("missing"))
            Issue.record("reading a missing file succeeded")
        } catch {
            #expect(failureReason(error) == String(cString: strerror(ENOENT)))
        }
        #expect(failureReason(POSIXError(.EACCES)) == String(cString: strerror(EACCES)))
    }

    @Test func lockAndThread() async {
        let lock = ThreadLock()
        final class Counter: @unchecked Sendable { var n = 0 }
        let counter = Counter()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            detachThread {
                for _ in 0..<1000 { lock.withLock { counter.n += 1 } }
                done.resume()
            }
        }
        lock.withLock { counter.n += 1 }
        #expect(counter.n == 1001)
    }
}

/// The daemons stay off Foundation proper: a module they link that imports Foundation (not
/// FoundationEssentials) brings libFoundation, FoundationInternationalization and ICU back into
/// every daemon, about 6 MB of resident memory each.
@Suite struct DaemonLibrariesTests {
    static let readelf = "/usr/bin/readelf"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: readelf), "needs readelf (binutils)"))
    func daemonsDoNotLinkFoundationProper() throws {
        for daemon in ["pacemakerd", "corosyncd", "cibd", "stonithd", "lrmd", "crmd"] {
            let path = Tool.binDir.appendingPathComponent(daemon).path
            try #require(FileManager.default.isExecutableFile(atPath: path), "\(daemon) is not built beside the tests (swift build --build-tests builds it)")
            let r = try Tool.run(executable: Self.readelf, ["-d", path])
            try #require(r.status == 0, "readelf -d \(path): \(r.stderr)")
            let needed = r.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }
            #expect(needed.contains { $0.contains("libFoundationEssentials.so") }, "\(daemon): \(needed)")
            for library in ["libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so"] {
                #expect(!needed.contains { $0.contains("[\(library)]") }, "\(daemon) links \(library): a module it uses imports Foundation instead of FoundationEssentials")
            }
        }
    }
}
