import CSystemd
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras
import Logging
import Synchronization

/// systemd units driven over D-Bus through libsystemd's sd-bus: start or stop a unit and wait
/// for its job, read its ActiveState.
///
/// The unit manager is reached on the system bus. Where systemd is not the init system (no
/// `/run/systemd/system`, as in containers) and `DBUS_SYSTEM_BUS_ADDRESS` does not name a system
/// bus, every call fails at once with `AgentError.systemdNotAvailable`. Every bus call is
/// bounded by the operation's deadline: a bus that does not answer gives an error, never a hang.
public enum Systemd {
    /// The directory systemd creates when it is the init system (what `sd_booted()` checks).
    public static let runtimeDirectory = "/run/systemd/system"
    /// Where systemd reads runtime unit configuration (drop-ins included) from, as this process
    /// sees it: `SWIFTHA_SYSTEMD_RUNTIME_DIR` when set (a test's private systemd, whose /run
    /// is a directory of the test's), else `/run/systemd/system`, where Pacemaker writes.
    public static var defaultDropInRoot: String {
        if let dir = ProcessInfo.processInfo.environment["SWIFTHA_SYSTEMD_RUNTIME_DIR"], !dir.isEmpty { return dir }
        return runtimeDirectory
    }
    /// Where the system bus is when `DBUS_SYSTEM_BUS_ADDRESS` does not say.
    public static let defaultSystemBusAddress = "unix:path=/run/dbus/system_bus_socket"
    /// How long a call that has no operation timeout of its own may take.
    public static let defaultCallTimeout: Duration = .seconds(20)

    /// Which bus the unit manager is reached on.
    public enum Bus: Sendable, Hashable {
        /// The system bus: `DBUS_SYSTEM_BUS_ADDRESS` when set (as sd-bus and libdbus honour it),
        /// else the system bus of a machine booted with systemd.
        case system
        /// A bus at this D-Bus address (`unix:path=...`), used as-is.
        case address(String)
    }

    /// What a start, stop or monitor of a unit gave, in OCF terms, with the reason for a failure.
    /// `status` is `.done` for an answer, `.pending` for a monitor of a unit still activating
    /// or deactivating (Pacemaker's `PCMK_OCF_UNKNOWN` with `PCMK_EXEC_PENDING`), `.timedOut`
    /// for a start or stop whose unit did not settle within the operation's timeout, and
    /// `.cancelled` when the operation was cancelled while it waited for that.
    public struct Outcome: Sendable, Hashable {
        public var exitCode: OCFExitCode
        public var reason: String?
        public var status: ExecutionStatus
        public init(_ exitCode: OCFExitCode, _ reason: String? = nil, status: ExecutionStatus = .done) {
            self.exitCode = exitCode
            self.reason = reason
            self.status = status
        }

        /// A monitor's "no answer yet".
        public static let pending = Outcome(.unknown, status: .pending)
    }

    /// `DBUS_SYSTEM_BUS_ADDRESS`, when set and not empty.
    public static var systemBusAddressOverride: String? {
        guard let value = ProcessInfo.processInfo.environment["DBUS_SYSTEM_BUS_ADDRESS"], !value.isEmpty else { return nil }
        return value
    }

    /// True when systemd is the init system of this machine, or `DBUS_SYSTEM_BUS_ADDRESS` names
    /// the system bus to reach it on. No I/O beyond one stat.
    public static func isAvailable() -> Bool {
        sd_booted() > 0 || systemBusAddressOverride != nil
    }

    /// `nginx` → `nginx.service`; names with a unit suffix are kept.
    public static func unitName(_ type: String) -> String {
        let suffixes = [".service", ".socket", ".target", ".mount", ".timer", ".path", ".slice", ".scope"]
        return suffixes.contains(where: type.hasSuffix) ? type : type + ".service"
    }

    /// The ActiveState of a unit ("active", "inactive", "failed", "activating", ...).
    public static func activeState(unit: String, bus target: Bus = .system, timeout: Duration = defaultCallTimeout) async throws(AgentError) -> String {
        let unit = unitName(unit)
        let deadline = ContinuousClock.now + timeout
        return try await onBusThread(target, deadline: deadline) { bus throws(AgentError) in
            let path = try loadUnit(bus, unit, deadline: deadline)
            return try property(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "ActiveState", unit: unit, deadline: deadline)
        }
    }

    /// True when systemd has the unit (its LoadState is `loaded` or `masked`, as Pacemaker
    /// checks): a unit file, or a generated unit (an init script through
    /// systemd-sysv-generator). False where systemd is absent or does not answer.
    public static func isKnownUnit(_ type: String, bus target: Bus = .system, timeout: Duration = .seconds(10)) async -> Bool {
        if target == .system && !isAvailable() { return false }
        let unit = unitName(type)
        let deadline = ContinuousClock.now + timeout
        let load = try? await onBusThread(target, deadline: deadline) { bus throws(AgentError) in
            let path = try loadUnit(bus, unit, deadline: deadline)
            return try property(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "LoadState", unit: unit, deadline: deadline)
        }
        return load == "loaded" || load == "masked"
    }

    /// Runs a start, stop or monitor/status of a unit and maps the outcome to OCF, with
    /// Pacemaker 2.1.5's semantics.
    ///
    /// - monitor and status: `active` and `reloading` are `success`; `activating` and
    ///   `deactivating` are `Outcome.pending` (no answer yet, not a failure); anything else is
    ///   `notRunning` with the state as the reason.
    /// - start: for a service, first the cluster's drop-in (`ClusterDropIn`: `Restart=no`, so
    ///   that systemd never restarts behind the cluster's back, and the shutdown ordering
    ///   after the cluster) and a daemon reload when systemd has not loaded it yet; then
    ///   `StartUnit`, its job waited for (systemd's JobRemoved signal), then ActiveState
    ///   waited on while it is `activating` (Pacemaker's executor re-checks the same way). It
    ///   succeeds when the unit is `active` (or `reloading`); a failed job, or a unit down
    ///   after its job, is `errGeneric` with systemd's reason (the service's Result and its
    ///   main process's exit status).
    /// - stop: the drop-in is removed (and systemd reloaded when there was one), then
    ///   `StopUnit`, its job waited for, then ActiveState until the unit is `inactive` or
    ///   `failed`.
    /// - A unit systemd does not know gives `errInstalled`.
    ///
    /// A job that does not finish within `timeout` is cancelled (systemd's `Job.Cancel`) and
    /// `AgentError.systemdJobTimedOut` is thrown; a unit that is still activating or
    /// deactivating at the deadline is an outcome with status `.timedOut`. Cancelling the
    /// calling task cancels the job the same way and throws `AgentError.systemdJobCancelled`.
    ///
    /// `dropInRoot` is the directory systemd reads runtime unit configuration from, as this
    /// process sees it (`/run/systemd/system`; see `defaultDropInRoot`).
    public static func perform(_ action: AgentAction, unit: String, timeout: Duration, bus target: Bus = .system,
                               dropInRoot: String = defaultDropInRoot, logger: Logger? = nil) async throws(AgentError) -> Outcome {
        let type = unit
        let unit = unitName(unit)
        let cancelled = CancelFlag()
        let deadline = ContinuousClock.now + timeout
        return try await onBusThread(target, deadline: deadline, cancelled: cancelled) { bus throws(AgentError) -> Outcome in
            var path = try loadUnit(bus, unit, deadline: deadline)
            let load = try property(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "LoadState", unit: unit, deadline: deadline)
            if load == "not-found" { return Outcome(.errInstalled, "systemd has no unit \(unit)") }
            switch action {
            case .start, .stop:
                let verb = action == .start ? "start" : "stop"
                if let dropIn = ClusterDropIn(unit: unit, type: type, root: dropInRoot) {
                    var reloadNeeded = false
                    do {
                        if action == .start {
                            reloadNeeded = try dropIn.install()
                                || boolProperty(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "NeedDaemonReload", deadline: deadline) == true
                        } else {
                            reloadNeeded = try dropIn.remove()
                        }
                    } catch {
                        // As Pacemaker: the operation goes on; the unit keeps its own Restart=.
                        logger?.warning("\(unit): \(error)")
                    }
                    if reloadNeeded {
                        if let why = reload(bus, unit: unit, deadline: deadline) {
                            logger?.warning("\(unit): systemd's daemon reload after writing \(dropIn.file) failed: \(why)")
                        } else {
                            logger?.debug("\(unit): \(action == .start ? "installed" : "removed") \(dropIn.file) and reloaded systemd")
                        }
                        // A reload can give the unit a new object; the name is what counts.
                        path = try loadUnit(bus, unit, deadline: deadline)
                    }
                }
                // The bus's match callback points at `watch`: it lives as long as the bus does.
                let watch = JobWatch()
                defer { withExtendedLifetime(watch) {} }
                try watchJobs(bus, watch, unit: unit, deadline: deadline)
                let job = try call(bus, member: action == .start ? "StartUnit" : "StopUnit", unit: unit, deadline: deadline)
                let result = try waitForJob(bus, watch, job: job, unit: unit, timeout: timeout, deadline: deadline, cancelled: cancelled)
                // The job is over: what is left to read may take a moment past the deadline.
                let after = max(deadline, ContinuousClock.now + .seconds(2))
                if let result, result != "done" {
                    let state = try property(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "ActiveState", unit: unit, deadline: after)
                    return Outcome(.errGeneric, "systemd's \(verb) job for \(unit) finished with '\(result)'\(failure(bus, path: path, unit: unit, state: state, deadline: after))")
                }
                // systemd ends some jobs before the unit settles (a Type=simple service whose
                // process dies at once goes on to auto-restart, a socket's service, ...): as
                // Pacemaker's executor, wait until it is no longer in transition.
                let moving: Set<String> = action == .start ? ["activating", "deactivating"] : ["activating", "deactivating", "active", "reloading"]
                let (state, settled) = try waitWhile(moving, bus: bus, path: path, unit: unit, deadline: deadline, cancelled: cancelled)
                if !settled {
                    if cancelled.isSet {
                        return Outcome(.errGeneric, "the \(verb) of \(unit) was cancelled while the unit was \(state)", status: .cancelled)
                    }
                    return Outcome(.errGeneric, "\(unit) was still \(state) after \(timeout.cibText): Investigate reason for timeout, and adjust configured operation timeout if necessary",
                                   status: .timedOut)
                }
                if action == .start {
                    if state == "active" || state == "reloading" { return Outcome(.success) }
                    return Outcome(.errGeneric, "\(unit) did not stay up after its start job\(failure(bus, path: path, unit: unit, state: state, deadline: after))")
                }
                return Outcome(.success)
            case .monitor, .status:
                let state = try property(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "ActiveState", unit: unit, deadline: deadline)
                switch state {
                case "active", "reloading": return Outcome(.success)
                case "activating", "deactivating": return .pending
                default: return Outcome(.notRunning, state)  // Pacemaker's exit reason: the state
                }
            default:
                throw AgentError.unsupportedAction(agent: "systemd:\(unit)", action: action.rawValue)
            }
        }
    }

    /// The units systemd has unit files for that a cluster can manage, as Pacemaker lists them:
    /// services without their `.service` suffix, sockets, mounts, timers and paths with theirs.
    public static func listUnits(bus target: Bus = .system, timeout: Duration = defaultCallTimeout) throws(AgentError) -> [String] {
        let deadline = ContinuousClock.now + timeout
        return try withBus(target, deadline: deadline) { bus throws(AgentError) -> [String] in
            let reply = try methodCall(bus, path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager",
                                       member: "ListUnitFiles", unit: "*", deadline: deadline)
            defer { sd_bus_message_unref(reply) }
            var names: [String] = []
            guard sd_bus_message_enter_container(reply, CChar(UInt8(ascii: "a")), "(ss)") > 0 else { return [] }
            while sd_bus_message_enter_container(reply, CChar(UInt8(ascii: "r")), "ss") > 0 {
                var path: UnsafePointer<CChar>?
                var state: UnsafePointer<CChar>?
                _ = sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "s")), &path)
                _ = sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "s")), &state)
                _ = sd_bus_message_exit_container(reply)
                if let path {
                    let file = String(cString: path).split(separator: "/").last.map(String.init) ?? ""
                    if file.hasSuffix(".service") {
                        names.append(String(file.dropLast(8)))
                    } else if [".socket", ".mount", ".timer", ".path"].contains(where: file.hasSuffix) {
                        names.append(file)
                    }
                }
            }
            return Array(Set(names)).sorted { ($0.lowercased(), $0) < ($1.lowercased(), $1) }
        }
    }

    // MARK: - sd-bus plumbing (all calls blocking, so run off the cooperative pool)

    /// Set when the task waiting for a bus thread is cancelled; the thread polls it.
    final class CancelFlag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }

    /// The results of the jobs systemd reported finished (JobRemoved), by job path. Touched
    /// only by the one bus thread.
    final class JobWatch {
        var results: [String: String] = [:]
    }

    private static func onBusThread<T: Sendable>(_ target: Bus, deadline: ContinuousClock.Instant, cancelled: CancelFlag = CancelFlag(),
                                                 _ body: @escaping @Sendable (OpaquePointer) throws(AgentError) -> T) async throws(AgentError) -> T {
        if target == .system && !isAvailable() { throw notBooted }
        let result: Result<T, AgentError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                detachThread {
                    do throws(AgentError) {
                        continuation.resume(returning: .success(try withBus(target, deadline: deadline, body)))
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                }
            }
        } onCancel: {
            cancelled.set()
        }
        return try result.get()
    }

    private static var notBooted: AgentError {
        .systemdNotAvailable("\(runtimeDirectory) does not exist, so systemd is not the init system, and DBUS_SYSTEM_BUS_ADDRESS is not set")
    }

    /// Microseconds left until `deadline`, at least 1 ms (sd-bus reads 0 as its default of 25 s).
    private static func microseconds(until deadline: ContinuousClock.Instant, atMost cap: Duration? = nil) -> UInt64 {
        var left = deadline - ContinuousClock.now
        if let cap, cap < left { left = cap }
        let us = left.components.seconds * 1_000_000 + left.components.attoseconds / 1_000_000_000_000
        return UInt64(max(us, 1_000))
    }

    /// Connects to the bus and checks that systemd is on it (`GetNameOwner`), so that a bus
    /// without systemd is "not available" at once instead of an activation attempt.
    private static func withBus<T>(_ target: Bus, deadline: ContinuousClock.Instant, _ body: (OpaquePointer) throws(AgentError) -> T) throws(AgentError) -> T {
        var bus: OpaquePointer?
        let address: String
        switch target {
        case .system:
            guard isAvailable() else { throw notBooted }
            address = systemBusAddressOverride ?? defaultSystemBusAddress
        case .address(let a):
            address = a
        }
        var r = sd_bus_new(&bus)
        if r >= 0 { r = sd_bus_set_address(bus, address) }
        if r >= 0 { r = sd_bus_set_bus_client(bus, 1) }
        if r >= 0 { r = sd_bus_start(bus) }
        guard r >= 0, let bus else {
            sd_bus_unref(bus)
            throw AgentError.systemdNotAvailable("cannot connect to the system bus at \(address): \(String(cString: strerror(-r)))")
        }
        // Flushing waits for a handshake that never finished: only a ready bus is flushed.
        defer { if sd_bus_is_ready(bus) > 0 { sd_bus_flush_close_unref(bus) } else { sd_bus_close_unref(bus) } }

        // The handshake (authentication, Hello), bounded by the deadline: sd_bus_call would
        // wait for it with sd-bus's own, much longer, timeout.
        while sd_bus_is_ready(bus) <= 0 {
            r = sd_bus_process(bus, nil)
            if r < 0 {
                throw AgentError.systemdNotAvailable("the system bus at \(address) refused the connection: \(String(cString: strerror(-r)))")
            }
            if r > 0 { continue }
            if ContinuousClock.now >= deadline {
                throw AgentError.systemdNotAvailable("the system bus at \(address) did not answer in time")
            }
            _ = sd_bus_wait(bus, microseconds(until: deadline, atMost: .milliseconds(100)))
        }

        var m: OpaquePointer?
        var reply: OpaquePointer?
        var err = sd_bus_error()
        defer { sd_bus_error_free(&err); sd_bus_message_unref(m); sd_bus_message_unref(reply) }
        r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner")
        if r >= 0 { r = "org.freedesktop.systemd1".withCString { sd_bus_message_append_basic(m, CChar(UInt8(ascii: "s")), $0) } }
        if r >= 0 { r = sd_bus_call(bus, m, microseconds(until: deadline), &err, &reply) }
        if r < 0 {
            if sd_bus_error_has_name(&err, "org.freedesktop.DBus.Error.NameHasNoOwner") > 0 {
                throw AgentError.systemdNotAvailable("nothing owns org.freedesktop.systemd1 on the system bus at \(address), so systemd's unit manager is not running there")
            }
            if r == -ETIMEDOUT {
                throw AgentError.systemdNotAvailable("the system bus at \(address) did not answer in time")
            }
            throw AgentError.systemdNotAvailable("the system bus at \(address) failed: \(busErrorText(err, r))")
        }
        return try body(bus)
    }

    private static func check(_ r: Int32, unit: String, call: String) throws(AgentError) {
        if r < 0 { throw AgentError.systemd(unit: unit, call: call, reason: String(cString: strerror(-r))) }
    }

    private static func busErrorText(_ err: sd_bus_error, _ r: Int32) -> String {
        if r == -ETIMEDOUT && err.message == nil { return "systemd did not answer before the operation's deadline" }
        if let m = err.message { return String(cString: m) }
        if let n = err.name { return String(cString: n) }
        return String(cString: strerror(-r))
    }

    /// Calls a method of systemd's with optional string arguments; returns the reply (unref it).
    private static func methodCall(_ bus: OpaquePointer, path: String, interface: String, member: String, arguments: [String] = [],
                                   unit: String, deadline: ContinuousClock.Instant, cap: Duration? = nil) throws(AgentError) -> OpaquePointer? {
        var m: OpaquePointer?
        var reply: OpaquePointer?
        var err = sd_bus_error()
        defer { sd_bus_error_free(&err); sd_bus_message_unref(m) }
        try check(sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1", path, interface, member), unit: unit, call: member)
        for a in arguments {
            try check(a.withCString { sd_bus_message_append_basic(m, CChar(UInt8(ascii: "s")), $0) }, unit: unit, call: member)
        }
        let r = sd_bus_call(bus, m, microseconds(until: deadline, atMost: cap), &err, &reply)
        guard r >= 0 else { throw AgentError.systemd(unit: unit, call: member, reason: busErrorText(err, r)) }
        return reply
    }

    /// Calls a Manager method that takes (unit name, mode) and returns a job path.
    private static func call(_ bus: OpaquePointer, member: String, unit: String, deadline: ContinuousClock.Instant) throws(AgentError) -> String {
        let reply = try methodCall(bus, path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager",
                                   member: member, arguments: [unit, "replace"], unit: unit, deadline: deadline)
        defer { sd_bus_message_unref(reply) }
        var job: UnsafePointer<CChar>?
        try check(sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "o")), &job), unit: unit, call: member)
        return job.map { String(cString: $0) } ?? ""
    }

    /// The object path of a unit, loading it if needed.
    private static func loadUnit(_ bus: OpaquePointer, _ unit: String, deadline: ContinuousClock.Instant) throws(AgentError) -> String {
        let reply = try methodCall(bus, path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager",
                                   member: "LoadUnit", arguments: [unit], unit: unit, deadline: deadline)
        defer { sd_bus_message_unref(reply) }
        var path: UnsafePointer<CChar>?
        try check(sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "o")), &path), unit: unit, call: "LoadUnit")
        return path.map { String(cString: $0) } ?? ""
    }

    private static func property(_ bus: OpaquePointer, path: String, interface: String, name: String, unit: String,
                                 deadline: ContinuousClock.Instant) throws(AgentError) -> String {
        let reply = try methodCall(bus, path: path, interface: "org.freedesktop.DBus.Properties", member: "Get",
                                   arguments: [interface, name], unit: unit, deadline: deadline)
        defer { sd_bus_message_unref(reply) }
        var value: UnsafePointer<CChar>?
        guard sd_bus_message_enter_container(reply, CChar(UInt8(ascii: "v")), "s") > 0,
              sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "s")), &value) >= 0, let value else {
            throw AgentError.systemd(unit: unit, call: "Get \(name)", reason: "the answer is not a string")
        }
        return String(cString: value)
    }

    private static func boolProperty(_ bus: OpaquePointer, path: String, interface: String, name: String, deadline: ContinuousClock.Instant) -> Bool? {
        guard let reply = try? methodCall(bus, path: path, interface: "org.freedesktop.DBus.Properties", member: "Get",
                                          arguments: [interface, name], unit: "", deadline: deadline, cap: .seconds(2)) else { return nil }
        defer { sd_bus_message_unref(reply) }
        var value: Int32 = 0
        guard sd_bus_message_enter_container(reply, CChar(UInt8(ascii: "v")), "b") > 0,
              sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "b")), &value) >= 0 else { return nil }
        return value != 0
    }

    /// `Manager.Reload` (what `systemctl daemon-reload` asks), waited for: systemd answers once
    /// it has read its unit files again. Nil when done, else why not.
    private static func reload(_ bus: OpaquePointer, unit: String, deadline: ContinuousClock.Instant) -> String? {
        do throws(AgentError) {
            let reply = try methodCall(bus, path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager",
                                       member: "Reload", unit: unit, deadline: deadline)
            sd_bus_message_unref(reply)
            return nil
        } catch {
            return error.description
        }
    }

    /// Reads ActiveState until it is none of `states` (settled: true) or the deadline passes
    /// or the caller is cancelled (settled: false), polling every 100 ms.
    private static func waitWhile(_ states: Set<String>, bus: OpaquePointer, path: String, unit: String,
                                  deadline: ContinuousClock.Instant, cancelled: CancelFlag) throws(AgentError) -> (state: String, settled: Bool) {
        while true {
            let state = try property(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "ActiveState", unit: unit,
                                     deadline: max(deadline, ContinuousClock.now + .seconds(2)))
            if !states.contains(state) { return (state, true) }
            if cancelled.isSet || ContinuousClock.now >= deadline { return (state, false) }
            // Signals (other units' JobRemoved) are of no use here: drop them as they come.
            while sd_bus_process(bus, nil) > 0 {}
            usleep(UInt32(min(100_000, microseconds(until: deadline))))
        }
    }

    private static func intProperty(_ bus: OpaquePointer, path: String, interface: String, name: String, deadline: ContinuousClock.Instant) -> Int32? {
        guard let reply = try? methodCall(bus, path: path, interface: "org.freedesktop.DBus.Properties", member: "Get",
                                          arguments: [interface, name], unit: "", deadline: deadline, cap: .seconds(2)) else { return nil }
        defer { sd_bus_message_unref(reply) }
        var value: Int32 = 0
        guard sd_bus_message_enter_container(reply, CChar(UInt8(ascii: "v")), "i") > 0,
              sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "i")), &value) >= 0 else { return nil }
        return value
    }

    /// Why a unit is down, from systemd's own account: `: the unit is failed: its main process
    /// exited with status 3 (Result=exit-code)`. Empty when systemd says nothing more.
    private static func failure(_ bus: OpaquePointer, path: String, unit: String, state: String, deadline: ContinuousClock.Instant) -> String {
        var text = ": the unit is \(state)"
        guard unit.hasSuffix(".service") else { return text }
        let iface = "org.freedesktop.systemd1.Service"
        let result = try? property(bus, path: path, interface: iface, name: "Result", unit: unit, deadline: min(deadline, ContinuousClock.now + .seconds(2)))
        if let code = intProperty(bus, path: path, interface: iface, name: "ExecMainCode", deadline: deadline),
           let status = intProperty(bus, path: path, interface: iface, name: "ExecMainStatus", deadline: deadline), code > 0 {
            // CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3
            text += code == 1 ? ": its main process exited with status \(status)" : ": its main process was killed by signal \(status)"
        }
        if let result, result != "success" { text += " (Result=\(result))" }
        return text + "; see `systemctl status \(unit)` and `journalctl -u \(unit)`"
    }

    private static let jobRemoved: sd_bus_message_handler_t = { message, userdata, _ in
        guard let message, let userdata else { return 0 }
        let watch = Unmanaged<JobWatch>.fromOpaque(userdata).takeUnretainedValue()
        var id: UInt32 = 0
        var job: UnsafePointer<CChar>?
        var unit: UnsafePointer<CChar>?
        var result: UnsafePointer<CChar>?
        guard sd_bus_message_read_basic(message, CChar(UInt8(ascii: "u")), &id) >= 0,
              sd_bus_message_read_basic(message, CChar(UInt8(ascii: "o")), &job) >= 0,
              sd_bus_message_read_basic(message, CChar(UInt8(ascii: "s")), &unit) >= 0,
              sd_bus_message_read_basic(message, CChar(UInt8(ascii: "s")), &result) >= 0,
              let job, let result else { return 0 }
        watch.results[String(cString: job)] = String(cString: result)
        return 0
    }

    /// Listens to systemd's JobRemoved signal (before the job is queued, so that no result is
    /// missed) and asks systemd to send it (`Subscribe`).
    private static func watchJobs(_ bus: OpaquePointer, _ watch: JobWatch, unit: String, deadline: ContinuousClock.Instant) throws(AgentError) {
        // AddMatch goes out asynchronously, ahead of Subscribe and StartUnit: the bus handles a
        // connection's messages in order, so the match is in place before the job exists.
        try check(sd_bus_match_signal_async(bus, nil, nil, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "JobRemoved",
                                            jobRemoved, nil, Unmanaged.passUnretained(watch).toOpaque()), unit: unit, call: "AddMatch JobRemoved")
        let reply = try methodCall(bus, path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager",
                                   member: "Subscribe", unit: unit, deadline: deadline)
        sd_bus_message_unref(reply)
    }

    /// Waits until systemd reports the job removed and returns its result ("done", "failed",
    /// "canceled", "timeout", "dependency", ...), or nil when the job vanished without a signal
    /// seen. When the deadline passes or the caller is cancelled first, the job is cancelled
    /// and the matching error thrown.
    private static func waitForJob(_ bus: OpaquePointer, _ watch: JobWatch, job: String, unit: String, timeout: Duration,
                                   deadline: ContinuousClock.Instant, cancelled: CancelFlag) throws(AgentError) -> String? {
        let clock = ContinuousClock()
        var nextPoll = clock.now + .seconds(1)
        func dispatch() throws(AgentError) {
            while true {
                let r = sd_bus_process(bus, nil)
                if r < 0 { throw AgentError.systemd(unit: unit, call: "wait for job \(job)", reason: "the bus connection was lost: \(String(cString: strerror(-r)))") }
                if r == 0 { return }
            }
        }
        while true {
            try dispatch()
            if let result = watch.results[job] { return result }
            if cancelled.isSet {
                cancelJob(bus, job: job)
                throw AgentError.systemdJobCancelled(unit: unit, job: job)
            }
            let now = clock.now
            if now >= deadline {
                cancelJob(bus, job: job)
                throw AgentError.systemdJobTimedOut(unit: unit, job: job, timeout: timeout)
            }
            // A fallback for a signal that never comes (systemd re-executed, say): a job whose
            // object is gone has finished.
            if now >= nextPoll {
                nextPoll = now + .seconds(1)
                let reply = try? methodCall(bus, path: job, interface: "org.freedesktop.DBus.Properties", member: "Get",
                                            arguments: ["org.freedesktop.systemd1.Job", "State"], unit: unit, deadline: deadline, cap: .seconds(2))
                guard let reply else {
                    try dispatch()
                    return watch.results[job]
                }
                sd_bus_message_unref(reply)
            }
            _ = sd_bus_wait(bus, microseconds(until: deadline, atMost: .milliseconds(100)))
        }
    }

    /// Asks systemd to cancel a job (`org.freedesktop.systemd1.Job.Cancel`). A job that has
    /// just finished is gone already; that is not an error.
    private static func cancelJob(_ bus: OpaquePointer, job: String) {
        var m: OpaquePointer?
        var reply: OpaquePointer?
        var err = sd_bus_error()
        defer { sd_bus_error_free(&err); sd_bus_message_unref(m); sd_bus_message_unref(reply) }
        guard sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1", job, "org.freedesktop.systemd1.Job", "Cancel") >= 0 else { return }
        _ = sd_bus_call(bus, m, 5_000_000, &err, &reply)
    }
}
