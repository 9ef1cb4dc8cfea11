#if canImport(Glibc)
import Glibc
#endif

/// The drop-in the cluster gives every systemd service it starts, as Pacemaker 2.1.5 does:
/// `<root>/<unit>.d/50-pacemaker.conf` (root `/run/systemd/system`, so it is gone after a
/// reboot), written before the start (and systemd reloaded), removed before the stop (its directory is
/// left, as Pacemaker leaves it).
///
/// ```
/// [Unit]
/// Description=Cluster Controlled web
/// Before=pacemakerd.service lrmd.service pacemaker.service pacemaker_remote.service
///
/// [Service]
/// Restart=no
/// ```
///
/// `Restart=no`: once the cluster runs a service, systemd must not restart it behind the
/// cluster's back; the cluster's monitor sees the failure and recovers it (elsewhere, if need
/// be). `Before=`: systemd never starts the service itself, but at shutdown the ordering is
/// reversed, so systemd stops the service only after the cluster stack, which stops it first
/// in order. Pacemaker names its own units there; SwiftHA's are `pacemakerd.service` (the whole
/// node) and `lrmd.service` (lrmd run on its own), both in contrib/systemd. Pacemaker's names
/// stay too: a node moved from Pacemaker, or a unit file copied from one, orders the same way
/// (ordering against a unit that does not exist is harmless).
///
/// Unlike Pacemaker 2.1.5, the directory is named after the unit (`web.service.d` also for the
/// type `web.service`, where Pacemaker writes `web.service.service.d`, which systemd never
/// reads), only services get one (a `[Service]` section means nothing to a socket or a
/// mount), and the file is replaced atomically (a temporary file renamed over it), so systemd
/// never reads half of it.
public struct ClusterDropIn: Sendable, Hashable {
    /// The file name Pacemaker uses; kept so that either stack finds and removes the other's.
    public static let fileName = "50-pacemaker.conf"
    /// The units the managed service is ordered before (see the type's description).
    public static let clusterUnits = ["pacemakerd.service", "lrmd.service", "pacemaker.service", "pacemaker_remote.service"]

    /// `web.service`
    public let unit: String
    /// systemd's runtime unit directory (`/run/systemd/system`).
    public let root: String
    /// `<root>/web.service.d`
    public let directory: String
    /// `<root>/web.service.d/50-pacemaker.conf`
    public let file: String
    /// What the file holds.
    public let contents: String

    /// The drop-in for `unit` (a full unit name) whose resource's type is `type` (as the CIB
    /// gives it, used in the Description as Pacemaker does); nil for units that are not
    /// services.
    public init?(unit: String, type: String, root: String) {
        guard unit.hasSuffix(".service") else { return nil }
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.unit = unit
        self.root = root
        directory = "\(root)/\(unit).d"
        file = "\(directory)/\(Self.fileName)"
        contents = """
            [Unit]
            Description=Cluster Controlled \(type)
            Before=\(Self.clusterUnits.joined(separator: " "))

            [Service]
            Restart=no


            """
    }

    /// Writes the file unless it already holds `contents`; true when it was written (systemd
    /// must then reload to see it). World-readable (0644), as systemd wants unit files.
    public func install() throws(AgentError) -> Bool {
        if Self.read(file) == contents { return false }
        try makeDirectories()
        let temporary = "\(directory)/.\(Self.fileName).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("create \(temporary)") }
        var ok = fchmod(fd, 0o644) == 0
        let bytes = Array(contents.utf8)
        var written = 0
        while ok && written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false } else { written += n }
        }
        if ok { ok = fsync(fd) == 0 }
        let error = errno
        close(fd)
        guard ok else {
            unlink(temporary)
            throw AgentError.systemd(unit: unit, call: "writing \(temporary)", reason: String(cString: strerror(error)))
        }
        guard rename(temporary, file) == 0 else {
            let e = failure("rename \(temporary) to \(file)")
            unlink(temporary)
            throw e
        }
        return true
    }

    /// Removes the file (its directory stays, as with Pacemaker); true when there was one
    /// (systemd must then reload to forget it).
    public func remove() throws(AgentError) -> Bool {
        if unlink(file) == 0 { return true }
        if errno == ENOENT { return false }
        throw failure("remove \(file)")
    }

    /// Creates `<unit>.d`, but never the runtime directory itself: systemd makes that when it
    /// boots, and its presence is how programs tell that systemd is the init system
    /// (`sd_booted()`), so creating it on a machine without systemd would mislead them.
    private func makeDirectories() throws(AgentError) {
        if mkdir(directory, 0o755) == 0 || errno == EEXIST { return }
        if errno == ENOENT {
            throw AgentError.systemd(unit: unit, call: "the cluster's drop-in: create \(directory)",
                                     reason: "systemd's runtime directory \(root) does not exist (is systemd the init system here? SWIFTHA_SYSTEMD_RUNTIME_DIR names another)")
        }
        throw failure("create \(directory)")
    }

    private func failure(_ what: String) -> AgentError {
        .systemd(unit: unit, call: "the cluster's drop-in: \(what)", reason: String(cString: strerror(errno)))
    }

    /// The file's text, or nil when it cannot be read.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            data += buffer[0..<n]
            if data.count > 65536 { return nil }
        }
        return String(decoding: data, as: UTF8.self)
    }
}
