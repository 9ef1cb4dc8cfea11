import CIB
import Foundation
import Testing
import TestSupport

/// Differential: Pacemaker's own crm_verify (Debian's pacemaker-cli-utils, 2.1.5) against
/// SwiftHA's validation, on every input of the scheduler suite. Where Pacemaker accepts a
/// configuration, SwiftHA must accept it too. (SwiftHA may refuse more: it is stricter where
/// Pacemaker is silent, and it knows options newer than 2.1.5, such as fencing-enabled.)
@Suite struct DifferentialTests {
    static let pacemakerVerify = "/usr/sbin/crm_verify"

    static var sharedXML: String? { SharedData.schedulerSuite.map { $0 + "/xml" } }

    @Test func whatPacemakerAcceptsSwiftHAAccepts() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.pacemakerVerify) else {
            print("SKIPPED: Pacemaker's crm_verify is not installed (make test installs pacemaker-cli-utils as root)")
            return
        }
        guard let dir = Self.sharedXML else {
            print("SKIPPED: ../shared/conformance is not present (set SWIFTHA_SHARED)")
            return
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".xml") }.sorted()
        var acceptedByPacemaker = 0
        var disagreements: [String] = []
        for name in files {
            let path = dir + "/" + name
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.pacemakerVerify)
            p.arguments = ["-x", path]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { continue }
            acceptedByPacemaker += 1
            let (_, report) = try CIBValidator.validate(try Data(contentsOf: URL(fileURLWithPath: path)), source: name)
            if !report.isValid { disagreements.append("\(name): \(report.errors[0])") }
        }
        print("differential crm_verify: Pacemaker 2.1.5 accepts \(acceptedByPacemaker) of \(files.count) inputs; SwiftHA accepts \(acceptedByPacemaker - disagreements.count) of those")
        #expect(acceptedByPacemaker > 100)
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10).joined(separator: "\n"))")
    }
}
