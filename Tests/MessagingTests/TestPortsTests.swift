import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The ports of the test clusters (TestSupport's TestPorts): reservations made at once never
/// overlap, a port held here is refused to another process (flock(1), as another test run
/// would try), and a port something has bound is not taken for free.
@Suite struct TestPortsTests {
    @Test func reservationsMadeAtOnceNeverOverlap() async throws {
        let held = try await withThrowingTaskGroup(of: PortReservation.self) { group in
            for _ in 0..<40 { group.addTask { try TestPorts.reserve(count: 2, addresses: ["127.0.0.1", "127.0.0.2"]) } }
            var all: [PortReservation] = []
            for try await r in group { all.append(r) }
            return all
        }
        defer { for r in held { r.release() } }
        let ports = held.flatMap { $0.port..<($0.port + $0.count) }
        #expect(Set(ports).count == 80, "overlapping reservations: \(ports.sorted())")
        #expect(ports.allSatisfy { TestPorts.range.contains($0) && $0 < 32_768 }, "a port outside the range below the ephemeral ports: \(ports.sorted())")
    }

    @Test func aHeldPortIsRefusedToAnotherProcessUntilReleased() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else {
            print("SKIPPED: aHeldPortIsRefused...: no /usr/bin/flock (util-linux)")
            return
        }
        let r = try TestPorts.reserve(addresses: ["127.0.0.1"])
        let file = "\(TestPorts.lockDirectory)/udp-\(r.port)"
        let busy = try Tool.run(executable: "/usr/bin/flock", ["-n", file, "true"])
        #expect(busy.status == 1, "another process took the lock of a reserved port: \(busy.status) \(busy.stderr)")
        r.release()
        let free = try Tool.run(executable: "/usr/bin/flock", ["-n", file, "true"])
        #expect(free.status == 0, "the lock of a released port is still held: \(free.status) \(free.stderr)")
    }

    /// What a reservation checks besides the locks: a port something has bound (here, on a
    /// port reserved first, so that no other test's cluster is disturbed) is not free.
    @Test func aBoundPortIsNotFree() throws {
        let r = try TestPorts.reserve(addresses: ["127.0.0.1"])
        defer { r.release() }
        #expect(TestPorts.canBind(r.port, on: "127.0.0.1"))
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(r.port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr)
        let bound = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        try #require(bound, "cannot bind the reserved port \(r.port)")
        #expect(!TestPorts.canBind(r.port, on: "127.0.0.1"), "port \(r.port) is bound, yet said free")
        close(fd)
        #expect(TestPorts.canBind(r.port, on: "127.0.0.1"))
    }
}
