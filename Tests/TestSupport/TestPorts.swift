import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// UDP ports for the test clusters' corosyncd, reserved so that two clusters never share one:
/// not two suites of one `swift test` run (Swift Testing runs suites in parallel), nor two test
/// runs at once on this machine (other worktrees), which a port drawn at random or made from
/// the process id could not promise.
///
/// A port is reserved by an exclusive `flock` on its own file under ``lockDirectory``, held
/// until ``PortReservation/release()`` (or the end of the test process: the kernel drops the
/// lock then, so a killed run leaves nothing behind). A port whose lock is held elsewhere, or
/// that cannot be bound now on one of the cluster's addresses (something outside the tests has
/// it), is passed over. Ports are taken below Linux's ephemeral range (32768-60999 by
/// default), where the kernel would hand them to any client socket at any time.
public enum TestPorts {
    public static let range = 20_000..<32_000
    /// Shared by every test process of the machine, whatever its TMPDIR.
    public static let lockDirectory = "/tmp/swiftha-test-ports"

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// `count` consecutive ports (link 0's and link 1's, say), free on every address in
    /// `addresses`, reserved for the caller until it releases them.
    public static func reserve(count: Int = 1, addresses: [String]) throws -> PortReservation {
        mkdir(lockDirectory, 0o777)
        chmod(lockDirectory, 0o777)
        var rng = SystemRandomNumberGenerator()
        let span = range.count - count + 1
        let offset = Int.random(in: 0..<span, using: &rng)
        for step in 0..<span {
            let first = range.lowerBound + (offset + step) % span
            var locks: [Int32] = []
            for port in first..<(first + count) {
                guard let fd = lock(port) else { break }
                locks.append(fd)
            }
            let reservation = PortReservation(first: first, count: count, locks: locks)
            if locks.count == count, (first..<(first + count)).allSatisfy({ port in addresses.allSatisfy { canBind(port, on: $0) } }) {
                return reservation
            }
            reservation.release()
        }
        throw Unavailable(description: "no \(count) free UDP port(s) in \(range) on \(addresses) (every one is reserved under \(lockDirectory) or bound)")
    }

    private static func lock(_ port: Int) -> Int32? {
        let fd = open("\(lockDirectory)/udp-\(port)", O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Whether a UDP socket can be bound to `address`:`port` right now.
    public static func canBind(_ port: Int, on address: String) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &sin.sin_addr) == 1 else { return false }
        return withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// Ports reserved by ``TestPorts/reserve(count:addresses:)``: `port` ..< `port + count`.
public final class PortReservation: @unchecked Sendable {
    public let port: Int
    public let count: Int
    private let lock = NSLock()
    private var locks: [Int32]

    init(first: Int, count: Int, locks: [Int32]) {
        port = first
        self.count = count
        self.locks = locks
    }

    /// Gives the ports back (the lock files stay, unlocked, for the next reservation).
    public func release() {
        let held = lock.withLock { () -> [Int32] in
            defer { locks = [] }
            return locks
        }
        for fd in held { close(fd) }
    }

    deinit { release() }
}
