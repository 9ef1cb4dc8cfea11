import Foundation
import TestSupport
import Testing

/// contrib/systemd's unit files, checked by systemd's own systemd-analyze verify (syntax,
/// known keys and values, dependencies), with ExecStart pointed at this build's daemons.
@Suite struct UnitFilesTests {
    static let analyze = "/usr/bin/systemd-analyze"

    /// systemd-analyze verify on copies of `units` (name -> text) in a scratch directory,
    /// /usr/sbin/ replaced by this build's directory.
    func verify(_ units: [String: String]) throws -> Tool.Result {
        let dir = scratchDirectory("units")
        var paths: [String] = []
        for (name, text) in units.sorted(by: { $0.key < $1.key }) {
            let path = dir + "/" + name
            try text.replacingOccurrences(of: "/usr/sbin/", with: Tool.binDir.path + "/").write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        return try Tool.run(executable: Self.analyze, ["verify"] + paths)
    }

    @Test func systemdAcceptsEveryUnit() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.analyze) else {
            print("SKIPPED: systemdAcceptsEveryUnit needs systemd-analyze (Debian's systemd package)")
            return
        }
        let contrib = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/contrib/systemd"
        let names = try FileManager.default.contentsOfDirectory(atPath: contrib).filter { $0.hasSuffix(".service") }
        #expect(Set(names) == ["pacemakerd.service", "corosyncd.service", "cibd.service", "stonithd.service", "lrmd.service", "crmd.service"])
        var units: [String: String] = [:]
        for n in names { units[n] = try String(contentsOfFile: contrib + "/" + n, encoding: .utf8) }
        for (n, text) in units {
            #expect(text.contains("Type=notify"), "\(n): the daemons say READY=1 through sd_notify")
            #expect(text.contains("ExecStart=/usr/sbin/"), "\(n)")
        }
        let r = try verify(units)
        #expect(r.status == 0 && r.stdout.isEmpty && r.stderr.isEmpty, "systemd-analyze verify: \(r.stdout)\(r.stderr)")
        // The check can fail: a wrong value and an unknown key are reported.
        var broken = units
        broken["crmd.service"] = units["crmd.service"]!.replacingOccurrences(of: "Type=notify", with: "Type=notifyy\nRestartz=always")
        let bad = try verify(broken)
        #expect(bad.stderr.contains("crmd.service"), "\(bad.stderr)")
    }
}
