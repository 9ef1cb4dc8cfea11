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
import Synchronization

/// systemd units driven over D-Bus through libsystemd's sd-bus: start or stop a unit and wait
/// for its job, read its ActiveState.
///
/// Where systemd is not running (no `/run/systemd/system`, as in containers and these build
/// machines), every call fails at once with `AgentError.systemdNotAvailable`: it never waits for
/// a bus that is not there.
public enum Systemd {
    /// The directory systemd creates when it is the init system (what `sd_booted()` checks).
    public static let runtimeDirectory = "/run/systemd/system"

    /// Which bus the unit manager is reached on.
    public enum Bus: Sendable, Hashable {
        /// The system bus of a machine booted with systemd (the normal case).
        case system
        /// A bus at this D-Bus address (`unix:path=...`), used as-is: for tests and for
        /// managers reached through another bus.
        case address(String)
    }

    /// True when systemd is the init system of this machine.
    public static func isAvailable() -> Bool {
        sd_booted() > 0
    }

    /// `nginx` → `nginx.service`; names with a unit suffix are kept.
    public static func unitName(_ type: String) -> String {
        let suffixes = [".service", ".socket", ".target", ".mount", ".timer", ".path", ".slice", ".scope"]
        return suffixes.contains(where: type.hasSuffix) ? type : type + ".service"
    }

    /// The ActiveState of a unit ("active", "inactive", "failed", "activating", ...).
    public static func activeState(unit: String, bus target: Bus = .system) async throws(AgentError) -> String {
        let unit = unitName(unit)
        return try await onBusThread(target) { bus throws(AgentError) in
            let path = try loadUnit(bus, unit)
            return try property(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "ActiveState", unit: unit)
        }
    }

    /// Runs a start, stop or monitor/status of a unit and maps the outcome to OCF.
    ///
    /// start and stop wait for their job (up to `timeout`) and then read ActiveState:
    /// start succeeds when the unit is active, stop when it is inactive or failed. monitor and
    /// status report `success` for active, reloading and activating units, `notRunning` else.
    /// A unit systemd does not know gives `errInstalled`.
    ///
    /// A job that does not finish within `timeout` is cancelled (systemd's `Job.Cancel`) and
    /// `AgentError.systemdJobTimedOut` is thrown. Cancelling the calling task cancels the job
    /// the same way and throws `AgentError.systemdJobCancelled`.
    public static func perform(_ action: AgentAction, unit: String, timeout: Duration, bus target: Bus = .system) async throws(AgentError) -> OCFExitCode {
        let unit = unitName(unit)
        let cancelled = CancelFlag()
        return try await onBusThread(target, cancelled: cancelled) { bus throws(AgentError) -> OCFExitCode in
            let path = try loadUnit(bus, unit)
            let load = try property(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "LoadState", unit: unit)
            if load == "not-found" { return .errInstalled }
            switch action {
            case .start, .stop:
                let job = try call(bus, member: action == .start ? "StartUnit" : "StopUnit", unit: unit)
                try waitForJob(bus, job: job, unit: unit, timeout: timeout, cancelled: cancelled)
                let state = try property(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "ActiveState", unit: unit)
                if action == .start { return state == "active" || state == "reloading" ? .success : .errGeneric }
                return state == "inactive" || state == "failed" ? .success : .errGeneric
            case .monitor, .status:
                let state = try property(bus, path: path, interface: "org.freedesktop.systemd1.Unit", name: "ActiveState", unit: unit)
                switch state {
                case "active", "reloading", "activating": return .success
                default: return .notRunning
                }
            default:
                throw AgentError.unsupportedAction(agent: "systemd:\(unit)", action: action.rawValue)
            }
        }
    }

    /// The service units systemd knows, without the `.service` suffix.
    public static func listUnits(bus target: Bus = .system) throws(AgentError) -> [String] {
        try withBus(target) { bus throws(AgentError) -> [String] in
            var m: OpaquePointer?
            var reply: OpaquePointer?
            var err = sd_bus_error()
            defer { sd_bus_error_free(&err); sd_bus_message_unref(m); sd_bus_message_unref(reply) }
            try check(sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                                     "org.freedesktop.systemd1.Manager", "ListUnitFiles"), unit: "*", call: "ListUnitFiles")
            let r = sd_bus_call(bus, m, 25_000_000, &err, &reply)
            guard r >= 0 else { throw AgentError.systemd(unit: "*", call: "ListUnitFiles", reason: busErrorText(err, r)) }
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
                    if file.hasSuffix(".service") && !file.contains("@") { names.append(String(file.dropLast(8))) }
                }
            }
            return Array(Set(names)).sorted()
        }
    }

    // MARK: - sd-bus plumbing (all calls blocking, so run off the cooperative pool)

    /// Set when the task waiting for a bus thread is cancelled; the thread polls it.
    final class CancelFlag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }

    private static func onBusThread<T: Sendable>(_ target: Bus, cancelled: CancelFlag = CancelFlag(),
                                                 _ body: @escaping @Sendable (OpaquePointer) throws(AgentError) -> T) async throws(AgentError) -> T {
        if target == .system && !isAvailable() {
            throw AgentError.systemdNotAvailable("\(runtimeDirectory) does not exist, so systemd is not the init system")
        }
        let result: Result<T, AgentError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                detachThread {
                    do throws(AgentError) {
                        continuation.resume(returning: .success(try withBus(target, body)))
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

    private static func withBus<T>(_ target: Bus, _ body: (OpaquePointer) throws(AgentError) -> T) throws(AgentError) -> T {
        var bus: OpaquePointer?
        switch target {
        case .system:
            guard isAvailable() else { throw AgentError.systemdNotAvailable("\(runtimeDirectory) does not exist, so systemd is not the init system") }
            let r = sd_bus_open_system(&bus)
            guard r >= 0, bus != nil else {
                throw AgentError.systemdNotAvailable("cannot connect to the system bus: \(String(cString: strerror(-r)))")
            }
        case .address(let address):
            var r = sd_bus_new(&bus)
            if r >= 0 { r = sd_bus_set_address(bus, address) }
            if r >= 0 { r = sd_bus_set_bus_client(bus, 1) }
            if r >= 0 { r = sd_bus_start(bus) }
            guard r >= 0, bus != nil else {
                sd_bus_unref(bus)
                throw AgentError.systemdNotAvailable("cannot connect to the bus at \(address): \(String(cString: strerror(-r)))")
            }
        }
        guard let bus else { throw AgentError.systemdNotAvailable("no bus") }
        defer { sd_bus_flush_close_unref(bus) }
        return try body(bus)
    }

    private static func check(_ r: Int32, unit: String, call: String) throws(AgentError) {
        if r < 0 { throw AgentError.systemd(unit: unit, call: call, reason: String(cString: strerror(-r))) }
    }

    private static func busErrorText(_ err: sd_bus_error, _ r: Int32) -> String {
        if let m = err.message { return String(cString: m) }
        if let n = err.name { return String(cString: n) }
        return String(cString: strerror(-r))
    }

    /// Calls a Manager method that takes (unit name, mode) and returns a job path.
    private static func call(_ bus: OpaquePointer, member: String, unit: String) throws(AgentError) -> String {
        var m: OpaquePointer?
        var reply: OpaquePointer?
        var err = sd_bus_error()
        defer { sd_bus_error_free(&err); sd_bus_message_unref(m); sd_bus_message_unref(reply) }
        try check(sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                                 "org.freedesktop.systemd1.Manager", member), unit: unit, call: member)
        try check(unit.withCString { sd_bus_message_append_basic(m, CChar(UInt8(ascii: "s")), $0) }, unit: unit, call: member)
        try check("replace".withCString { sd_bus_message_append_basic(m, CChar(UInt8(ascii: "s")), $0) }, unit: unit, call: member)
        let r = sd_bus_call(bus, m, 25_000_000, &err, &reply)
        guard r >= 0 else { throw AgentError.systemd(unit: unit, call: member, reason: busErrorText(err, r)) }
        var job: UnsafePointer<CChar>?
        try check(sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "o")), &job), unit: unit, call: member)
        return job.map { String(cString: $0) } ?? ""
    }

    /// The object path of a unit, loading it if needed.
    private static func loadUnit(_ bus: OpaquePointer, _ unit: String) throws(AgentError) -> String {
        var m: OpaquePointer?
        var reply: OpaquePointer?
        var err = sd_bus_error()
        defer { sd_bus_error_free(&err); sd_bus_message_unref(m); sd_bus_message_unref(reply) }
        try check(sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                                 "org.freedesktop.systemd1.Manager", "LoadUnit"), unit: unit, call: "LoadUnit")
        try check(unit.withCString { sd_bus_message_append_basic(m, CChar(UInt8(ascii: "s")), $0) }, unit: unit, call: "LoadUnit")
        let r = sd_bus_call(bus, m, 25_000_000, &err, &reply)
        guard r >= 0 else { throw AgentError.systemd(unit: unit, call: "LoadUnit", reason: busErrorText(err, r)) }
        var path: UnsafePointer<CChar>?
        try check(sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "o")), &path), unit: unit, call: "LoadUnit")
        return path.map { String(cString: $0) } ?? ""
    }

    private static func property(_ bus: OpaquePointer, path: String, interface: String, name: String, unit: String) throws(AgentError) -> String {
        var err = sd_bus_error()
        defer { sd_bus_error_free(&err) }
        var value: UnsafeMutablePointer<CChar>?
        let r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, interface, name, &err, &value)
        guard r >= 0, let value else { throw AgentError.systemd(unit: unit, call: "Get \(name)", reason: busErrorText(err, r)) }
        defer { free(value) }
        return String(cString: value)
    }

    /// Waits until the job object disappears (the job finished). When the timeout passes or
    /// the caller is cancelled first, the job is cancelled and the matching error thrown.
    private static func waitForJob(_ bus: OpaquePointer, job: String, unit: String, timeout: Duration, cancelled: CancelFlag) throws(AgentError) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if cancelled.isSet {
                cancelJob(bus, job: job)
                throw AgentError.systemdJobCancelled(unit: unit, job: job)
            }
            var err = sd_bus_error()
            var value: UnsafeMutablePointer<CChar>?
            let r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", job, "org.freedesktop.systemd1.Job", "State", &err, &value)
            free(value)
            sd_bus_error_free(&err)
            if r < 0 { return }  // the job object is gone: the job is done
            usleep(50_000)
        }
        cancelJob(bus, job: job)
        throw AgentError.systemdJobTimedOut(unit: unit, job: job, timeout: timeout)
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
