import Foundation
import Testing
import TestSupport
import ToolSupport

/// crm_mon against outputs Pacemaker 2.1.5's crm_mon printed for scheduler-suite inputs,
/// checked in under CrmMonGolden/ (one file per input and option set: a first line
/// `crm_mon ARGS` with `--node`/`--resource` values as given, then the exit status and the
/// output, "Last updated" left out; written by `scripts/crm-mon-compare.py --write-golden`).
/// They pin -R, -b, -n with filters, tickets and the plain layouts fixed against the suite,
/// and run without Pacemaker installed (the suite's inputs are needed: ../shared).
@Suite struct CrmMonGoldenTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("CrmMonGolden").path

    struct Golden {
        var file: String
        var input: String
        var args: [String]
        var expected: String
    }

    static func goldens() throws -> [Golden] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".txt") }.sorted()
        return try names.map { name in
            let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
            let firstLine = text.prefix { $0 != "\n" }
            let words = firstLine.split(separator: " ").map(String.init)
            let input = String(name.prefix { $0 != "@" })
            return Golden(file: name, input: input, args: Array(words.dropFirst()), expected: String(text.dropFirst(firstLine.count + 1)))
        }
    }

    /// Exit status, then stdout and stderr without the "Last updated" line (XML: without the
    /// last_update element and the program's path), as the script records them.
    static func output(_ binary: String, _ path: String, _ args: [String]) throws -> String {
        let r = try Tool.run(executable: binary, args, env: ["CIB_file": path, "TZ": "UTC"])
        var lines = (r.stdout + r.stderr).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if args.contains("xml") {
            lines = lines.filter { !$0.contains("<last_update ") }
                .map { $0.replacingOccurrences(of: #"request="[^"]*crm_mon "#, with: #"request="crm_mon "#, options: .regularExpression) }
        } else {
            // (HTML: the line after the "Last updated" label holds the time.)
            lines = lines.filter { !$0.hasPrefix("  * Last updated:") && !$0.hasPrefix(#"<span class="bold">Last updated: </span>"#) }
        }
        return "\(r.status)\n" + lines.joined(separator: "\n")
    }

    static func ours(_ path: String, _ args: [String]) throws -> String {
        try output(Tool.binDir.appendingPathComponent("crm_mon").path, path, args)
    }

    @Test func sameAsPacemakersRecordedOutputs() throws {
        let goldens = try Self.goldens()
        #expect(goldens.count >= 20, "the golden outputs are missing from \(Self.directory)")
        guard let dir = SharedData.schedulerSuite.map({ $0 + "/xml" }) else {
            print("SKIPPED: ../shared/conformance is not present (set SWIFTHA_SHARED); the golden outputs were not checked")
            return
        }
        for g in goldens {
            let text = try Self.ours(dir + "/" + g.input + ".xml", g.args)
            #expect(text == g.expected, "\(g.file): crm_mon \(g.args.joined(separator: " ")) differs from Pacemaker's:\n\(text)")
        }
    }

    /// The recorded outputs still are what Pacemaker prints (when it is installed), so they
    /// cannot drift from it.
    @Test func recordedOutputsAreStillPacemakers() throws {
        guard FileManager.default.isExecutableFile(atPath: CrmMonTests.pacemaker),
              let dir = SharedData.schedulerSuite.map({ $0 + "/xml" }) else {
            print("SKIPPED: Pacemaker's crm_mon or ../shared is not present; the recorded outputs were not re-checked")
            return
        }
        for g in try Self.goldens() {
            #expect(try Self.output(CrmMonTests.pacemaker, dir + "/" + g.input + ".xml", g.args) == g.expected, "\(g.file)")
        }
    }

    /// Tickets come in the order Pacemaker's hash table holds them (its pcmk__str_hash, GLib
    /// 2.74's placement and growth): these orders are what 2.1.5's crm_mon printed.
    @Test func ticketsInPacemakersHashTableOrder() {
        #expect(GLibHashOrder.order(["tkt-a", "tkt-c", "tkt-b"]) == ["tkt-a", "tkt-c", "tkt-b"])
        // Seven tickets: the table grows from 8 to 16 slots at the seventh.
        let statusOrder = ["lustre", "drbd-local", "drbd-stacked", "testfs-operational", "drbd-testfs-local", "drbd-testfs-stacked", "testfs-allocated"]
        #expect(GLibHashOrder.order(statusOrder + ["lustre", "drbd-local"]) == [
            "drbd-testfs-local", "testfs-allocated", "lustre", "drbd-local", "drbd-testfs-stacked", "drbd-stacked", "testfs-operational",
        ])
        #expect(GLibHashOrder.pacemakerHash("ab") == 97 * 31 + 98)
        #expect(GLibHashOrder.glibHash("a") == 5381 * 33 + 97)
    }
}
