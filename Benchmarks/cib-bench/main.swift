import CIB
import CLibXML2
import Foundation
import PolicyEngine

// make bench: times the CIB library on one large CIB, beside libxml2's bare parse of the same
// bytes and, when installed, Pacemaker's crm_verify on the same file. Prints ratios.
// Usage: cib-bench FILE [ROUNDS]

let args = CommandLine.arguments
guard args.count >= 2 else {
    FileHandle.standardError.write(Data("usage: cib-bench FILE [ROUNDS]\n".utf8))
    exit(64)
}
let path = args[1]
let rounds = args.count > 2 ? Int(args[2]) ?? 3 : 3
guard let data = FileManager.default.contents(atPath: path) else {
    FileHandle.standardError.write(Data("cib-bench: cannot read \(path)\n".utf8))
    exit(66)
}

/// The best of `rounds` runs, in seconds.
func best(_ body: () throws -> Void) rethrows -> Double {
    var times: [Double] = []
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        times.append(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
    return times.min()!
}

func fmt(_ s: Double) -> String { String(format: "%8.3f s", s) }

print("CIB benchmark: \(path) (\(data.count / 1_000_000) MB), best of \(rounds)")
xmlInitParser()
let bare = best {
    data.withUnsafeBytes { raw in
        let doc = xmlReadMemory(raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count), path, nil,
                                Int32(XML_PARSE_NOBLANKS.rawValue | XML_PARSE_NONET.rawValue | XML_PARSE_HUGE.rawValue))
        xmlFreeDoc(doc)
    }
}
var cib: CIB!
let parse = try best { cib = try CIB.parse(data, source: path) }
var report: ValidationReport!
let validate = try best { report = try CIBValidator.validate(data, source: path).1 }
var changed = cib!
let first = changed.configuration.resources.first!.element
try changed.modify(XElement(first.name, ["id": first.id!, "description": "bench"]), in: .resources)
changed.root.modifyElement(at: changed.sectionPath(.status)!) { $0.children.reverse() }
var patch: CIBPatch!
let diff = best { patch = CIBPatch.diff(cib, changed) }
let apply = try best { _ = try cib.applying(patch) }
let out = NSTemporaryDirectory() + "cib-bench-\(getpid()).xml"
let write = try best { try CIBFile.write(cib, to: out, digest: true) }
unlink(out)
unlink(out + ".sig")

print("  libxml2 bare parse        \(fmt(bare))")
print("  SwiftHA parse to model    \(fmt(parse))   \(String(format: "%.2fx", parse / bare)) of bare parse")
print("  SwiftHA validate          \(fmt(validate))   (\(report.schemaUsed ?? "own rules only"), \(report.problems.count) problems)")
print("  SwiftHA diff              \(fmt(diff))   (\(patch.changes.count) changes)")
print("  SwiftHA apply patch       \(fmt(apply))")
print("  SwiftHA write + fsync     \(fmt(write))")

// The scheduler as far as it goes today (unpack, assignment, transition summary).
var changes = 0
let schedule = best {
    let input = SchedulerInput(cib: cib, now: SchedulerInput.executionDate(of: cib) ?? 0)
    changes = Simulator.schedule(input).1.changes.count
}
print("  SwiftHA schedule          \(fmt(schedule))   (unpack + assignment + summary, \(changes) changes)")

// Pacemaker's crm_verify on the same file, for a side-by-side figure.
if FileManager.default.isExecutableFile(atPath: "/usr/sbin/crm_verify") {
    let t = best {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/crm_verify")
        p.arguments = ["-x", path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try? p.run()
        p.waitUntilExit()
    }
    print("  Pacemaker crm_verify -x   \(fmt(t))")
    print("  ratio: Pacemaker crm_verify / SwiftHA validate = \(String(format: "%.2f", t / validate))")
} else {
    print("  Pacemaker crm_verify: not installed (make bench installs pacemaker-cli-utils)")
}
