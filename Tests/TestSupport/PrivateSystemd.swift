import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real systemd (the machine's /lib/systemd/systemd) for one test, where the machine itself
/// does not boot with systemd: it runs as PID 1 of its own PID, mount, cgroup, UTS, IPC and
/// network namespaces, with a private /dev, a read-only /proc/sys and a cgroup of its own
/// (created under this process's cgroup2 group and removed at the end), without
/// CAP_SYS_TIME, CAP_SYS_MODULE and CAP_SYS_BOOT. Its units are only the test's own (its unit
/// path is `SYSTEMD_UNIT_PATH=/run/systemd/system:<dir>/units`, the first for runtime drop-ins
/// such as the cluster's) plus a D-Bus system bus (`dbus.socket`,
/// `dbus.service`) that systemd joins as on any machine, reached from outside at
/// ``busAddress``, which is what `DBUS_SYSTEM_BUS_ADDRESS` is set to for the product.
///
/// A launcher script stays outside the namespaces as systemd's watcher: when the test process
/// dies, it kills the namespace's init (and so everything in it) and removes the cgroup.
/// ``stop()`` asks systemd to exit (`Manager.Exit`), then falls back to the launcher.
public final class PrivateSystemd: @unchecked Sendable {
    public static let systemd = "/lib/systemd/systemd"
    static let tools = ["/usr/bin/dbus-daemon", "/usr/bin/busctl", "/usr/bin/unshare", "/usr/bin/setpriv", "/usr/bin/findmnt", "/usr/bin/nsenter"]

    /// The directory of this instance: `units/`, `run/` (the namespace's /run), `launcher.log`.
    public let directory: String
    public var unitDirectory: String { directory + "/units" }
    /// The system bus inside, from outside: `unix:path=<dir>/run/dbus/system_bus_socket`.
    public var busAddress: String { "unix:path=\(directory)/run/dbus/system_bus_socket" }
    /// The namespace's /run/systemd/system from outside: where the product writes its drop-ins
    /// for this systemd (`SWIFTHA_SYSTEMD_RUNTIME_DIR`). It is on this systemd's unit path, as
    /// /run/systemd/system is on every systemd's.
    public var runtimeDirectory: String { directory + "/run/systemd/system" }
    private let launcher: Process
    private var stopped = false

    /// Why a private systemd cannot run here, or nil.
    public static var unavailable: String? {
        guard getuid() == 0 else { return "a private systemd needs root (uid is \(getuid()))" }
        for tool in [systemd] + tools where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is not installed (apt-get install systemd dbus-daemon util-linux)"
        }
        guard FileManager.default.fileExists(atPath: "/usr/share/dbus-1/system.conf") else {
            return "/usr/share/dbus-1/system.conf is not installed (apt-get install dbus-system-bus-common)"
        }
        guard let r = try? Tool.run(executable: "/usr/bin/findmnt", ["-n", "-t", "cgroup2", "-o", "TARGET"]),
              !r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return "no cgroup2 file system is mounted"
        }
        return nil
    }

    /// A private systemd for one test, or nil with a printed SKIPPED line saying why.
    public static func forTest(_ test: String, units: [String: String]) -> PrivateSystemd? {
        if let why = unavailable {
            print("SKIPPED: \(test): \(why)")
            return nil
        }
        do {
            return try PrivateSystemd(units: units)
        } catch {
            print("SKIPPED: \(test): no private systemd could run here: \(error)")
            return nil
        }
    }

    /// Units for tests: `web` a long-running service that marks its start and stop in
    /// `<dir>/web.up`, `broken` a oneshot that fails with status 3, `slow` a oneshot whose
    /// start takes 300 s, `bad` a unit file systemd refuses (no ExecStart: bad-setting),
    /// `noexec` a service whose program does not exist, `pending` a service that is activating
    /// for 2 s (ExecStartPre=/bin/sleep 2) and deactivating for 2 s (ExecStop=/bin/sleep 2),
    /// `respawn` a long-running service with Restart=always.
    public static func testUnits(marker dir: String) -> [String: String] {
        [
            "web.service": """
                [Unit]
                Description=SwiftHA test web service
                [Service]
                ExecStart=/bin/sh -c 'echo up > \(dir)/web.up; exec sleep 1000'
                ExecStopPost=/bin/rm -f \(dir)/web.up

                """,
            "broken.service": """
                [Service]
                Type=oneshot
                RemainAfterExit=yes
                ExecStart=/bin/sh -c 'echo "no configuration" >&2; exit 3'

                """,
            "bad.service": "[Service]\nType=simple\n",
            "noexec.service": "[Service]\nType=exec\nExecStart=/nonexistent/swiftha-program\n",
            "pending.service": """
                [Service]
                ExecStartPre=/bin/sleep 2
                ExecStart=/bin/sleep 1000
                ExecStop=/bin/sleep 2

                """,
            "respawn.service": """
                [Unit]
                StartLimitIntervalSec=0
                [Service]
                ExecStart=/bin/sleep 1000
                Restart=always
                RestartSec=100ms

                """,
            "slow.service": """
                [Service]
                Type=oneshot
                RemainAfterExit=yes
                TimeoutStartSec=infinity
                ExecStart=/bin/sleep 300

                """,
        ]
    }

    /// Starts systemd with the test's units (file name → contents) and waits (bounded, 60 s)
    /// until it runs and is on its bus. Throws, with systemd's log, when it does not come up.
    public init(units: [String: String]) throws {
        var tmp = NSTemporaryDirectory()
        while tmp.hasSuffix("/") && tmp.count > 1 { tmp.removeLast() }
        var template = Array((tmp + "/swiftha-systemd-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw PrivateSystemdError("mkdtemp failed") }
        directory = String(cString: made)
        let fm = FileManager.default
        for d in ["units", "run"] { try fm.createDirectory(atPath: directory + "/" + d, withIntermediateDirectories: true) }
        var all = Self.scaffold
        for (name, text) in units { all[name] = text }
        for (name, text) in all { try text.write(toFile: "\(directory)/units/\(name)", atomically: true, encoding: .utf8) }
        try Self.inner.write(toFile: directory + "/inner.sh", atomically: true, encoding: .utf8)
        try Self.outer.write(toFile: directory + "/launcher.sh", atomically: true, encoding: .utf8)
        chmod(directory + "/inner.sh", 0o755)
        chmod(directory + "/launcher.sh", 0o755)

        launcher = Process()
        launcher.executableURL = URL(fileURLWithPath: "/bin/bash")
        launcher.arguments = [directory + "/launcher.sh", directory, String(getpid())]
        launcher.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        _ = fm.createFile(atPath: directory + "/launcher.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/launcher.log"))
        launcher.standardOutput = log
        launcher.standardError = log
        launcher.standardInput = FileHandle.nullDevice
        do {
            try launcher.run()
        } catch {
            try? fm.removeItem(atPath: directory)
            throw error
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            if !launcher.isRunning {
                let why = "systemd exited (status \(launcher.terminationStatus)) before it was up: \(self.log)"
                try? fm.removeItem(atPath: directory)
                throw PrivateSystemdError(why)
            }
            if fm.fileExists(atPath: directory + "/run/dbus/system_bus_socket"),
               let state = try? busctl(["get-property", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "SystemState"]),
               state.status == 0, state.stdout.contains("\"running\"") || state.stdout.contains("\"degraded\"") {
                return
            }
            if ContinuousClock.now > deadline {
                stop()
                throw PrivateSystemdError("systemd did not come up within 60 s: \(log)")
            }
            usleep(100_000)
        }
    }

    /// The launcher's output: what systemd and the namespace setup printed.
    public var log: String {
        ((try? String(contentsOfFile: directory + "/launcher.log", encoding: .utf8)) ?? "").suffix(3000).description
    }

    /// busctl against this systemd's bus: an independent look at what systemd says.
    public func busctl(_ args: [String]) throws -> Tool.Result {
        try Tool.run(executable: "/usr/bin/timeout", ["10", "/usr/bin/busctl", "--system", "--no-pager"] + args,
                     env: ["DBUS_SYSTEM_BUS_ADDRESS": busAddress])
    }

    /// A unit's property as systemd reports it through busctl (`ActiveState` → `active`).
    public func unitProperty(_ unit: String, _ name: String, interface: String = "org.freedesktop.systemd1.Unit") -> String {
        guard let path = try? busctl(["call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "LoadUnit", "s", unit]),
              let objectPath = path.stdout.split(separator: "\"").dropFirst().first,
              let value = try? busctl(["get-property", "org.freedesktop.systemd1", String(objectPath), interface, name]) else { return "" }
        // `s "active"` or `i 3`
        let text = value.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let space = text.firstIndex(of: " ") else { return text }
        return text[text.index(after: space)...].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    /// Jobs systemd has queued (`ListJobs`), as busctl prints them (`a(usssoo) 0` when none).
    public var jobs: String {
        (try? busctl(["call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "ListJobs"]))?.stdout
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
    }

    /// Stops systemd and everything it runs, removes its cgroup and directory. Bounded: asks
    /// systemd to exit, then has the launcher kill the namespace's init.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        if launcher.isRunning {
            _ = try? busctl(["call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "Exit"])
            if !waitForLauncher(.seconds(15)) {
                kill(launcher.processIdentifier, SIGTERM)
                if !waitForLauncher(.seconds(15)) { kill(launcher.processIdentifier, SIGKILL) }
            }
            launcher.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func waitForLauncher(_ limit: Duration) -> Bool {
        let deadline = ContinuousClock.now + limit
        while launcher.isRunning && ContinuousClock.now < deadline { usleep(50_000) }
        return !launcher.isRunning
    }

    deinit { stop() }

    /// Targets systemd expects to exist (empty here), the bus, and `exit.target` for `Exit`.
    static let scaffold: [String: String] = {
        var units: [String: String] = [:]
        for t in ["sysinit", "basic", "sockets", "local-fs", "shutdown", "umount", "swap", "paths", "timers", "slices", "network", "exit"] {
            units["\(t).target"] = "[Unit]\nDescription=\(t)\n"
        }
        units["swiftha-test.target"] = "[Unit]\nDescription=SwiftHA test\nWants=dbus.socket dbus.service\n"
        units["dbus.socket"] = "[Unit]\nDescription=D-Bus System Message Bus Socket\n[Socket]\nListenStream=/run/dbus/system_bus_socket\n"
        units["dbus.service"] = """
            [Unit]
            Description=D-Bus System Message Bus
            Requires=dbus.socket
            [Service]
            ExecStart=/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only

            """
        return units
    }()

    /// Outside the namespaces: makes the cgroup, starts the namespaces, watches the test
    /// process, cleans up. Arguments: the directory, the test's pid.
    static let outer = """
        #!/bin/bash
        T=$1; WATCH=$2
        CGROOT=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
        OWN=$(sed -n 's/^0:://p' /proc/self/cgroup)
        CG="${CGROOT}${OWN%/}/swiftha-systemd-$$"
        mkdir "$CG" || { echo "cannot create the cgroup $CG"; exit 3; }
        cleanup() {
            for i in $(seq 1 100); do
                find "$CG" -depth -type d -exec rmdir {} + 2>/dev/null
                [ -d "$CG" ] || return 0
                sleep 0.1
            done
            echo "cannot remove the cgroup $CG"
        }
        ( echo $BASHPID > "$CG/cgroup.procs" &&
          exec setpriv --bounding-set -sys_time,-sys_module,-sys_boot \\
            unshare --pid --fork --kill-child --mount --propagation private --mount-proc --cgroup --uts --ipc --net \\
            "$T/inner.sh" "$T" ) &
        child=$!
        trap 'kill -KILL $child 2>/dev/null' TERM INT
        while kill -0 $child 2>/dev/null; do
            kill -0 "$WATCH" 2>/dev/null || kill -KILL $child 2>/dev/null
            sleep 0.2
        done
        wait $child; rc=$?
        cleanup
        echo "systemd's namespace ended (status $rc)"
        # The test died without stopping it: nobody else will remove the directory.
        if ! kill -0 "$WATCH" 2>/dev/null; then
            case "$T" in */swiftha-systemd-*) rm -rf "$T";; esac
        fi
        exit $rc
        """

    /// Inside the namespaces: private /dev, /run (the directory's run/), cgroup2 root, then
    /// systemd as PID 1.
    static let inner = """
        #!/bin/bash
        set -e
        T=$1
        mount --make-rprivate /
        mount -t cgroup2 cgroup2 /sys/fs/cgroup
        mount --bind "$T/run" /run
        mount --bind /proc/sys /proc/sys
        mount -o remount,bind,ro /proc/sys
        mkdir -p "$T/dev"
        mount -t tmpfs -o mode=755 swiftha-dev "$T/dev"
        mknod -m 666 "$T/dev/null" c 1 3; mknod -m 666 "$T/dev/zero" c 1 5; mknod -m 666 "$T/dev/full" c 1 7
        mknod -m 666 "$T/dev/random" c 1 8; mknod -m 666 "$T/dev/urandom" c 1 9; mknod -m 666 "$T/dev/tty" c 5 0
        mkdir "$T/dev/shm" "$T/dev/pts"
        touch "$T/dev/console" "$T/console.log"
        mount --bind "$T/console.log" "$T/dev/console"
        mount --bind "$T/dev" /dev
        exec env -i container=swiftha-test PATH=/usr/sbin:/usr/bin:/sbin:/bin SYSTEMD_UNIT_PATH="/run/systemd/system:$T/units" \\
            /lib/systemd/systemd --system --unit=swiftha-test.target --default-standard-output=null --show-status=no
        """
}

public struct PrivateSystemdError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
