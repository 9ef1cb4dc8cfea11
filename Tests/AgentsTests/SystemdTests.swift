import Agents
import CIB
import CSystemd
import Foundation
import Testing

/// A stand-in for systemd's unit manager on a private D-Bus: enough of
/// org.freedesktop.systemd1 (LoadUnit, StartUnit, StopUnit, ListUnitFiles, unit and job
/// properties) to drive `Systemd` through real sd-bus round trips where systemd itself is absent.
/// Jobs stay alive for two polls before they finish, so waiting for a job is exercised too;
/// jobs of units named `slow*` never finish until cancelled (`Job.Cancel`).
final class FakeSystemd: @unchecked Sendable {
    let address: String
    /// dbus-daemon, run by our own runner: cancelling the task kills and reaps it.
    private let daemon: Task<Void, Never>
    private var bus: OpaquePointer?
    private let lock = NSLock()
    private var states: [String: String] = [:]
    private var jobs: [String: (unit: String, polls: Int, result: String)] = [:]
    private var nextJob = 1
    private var cancelled: [String] = []
    private var stopped = false
    private var loop: Thread?
    private let done = DispatchSemaphore(value: 0)

    init(directory: String) throws {
        address = "unix:path=\(directory)/bus"
        let request = ProcessRequest(executable: "/usr/bin/dbus-daemon",
                                     arguments: ["--session", "--address=\(address)", "--nofork", "--nopidfile"],
                                     environment: ["PATH": AgentHost.defaultPath], timeout: .seconds(600), killGrace: .milliseconds(500))
        daemon = Task { _ = try? await ProcessRunner.run(request) }
        // Wait (bounded) for the socket.
        for _ in 0..<3000 where !FileManager.default.fileExists(atPath: "\(directory)/bus") { usleep(10_000) }
        var r = sd_bus_new(&bus)
        if r >= 0 { r = sd_bus_set_address(bus, address) }
        if r >= 0 { r = sd_bus_set_bus_client(bus, 1) }
        if r >= 0 { r = sd_bus_start(bus) }
        if r >= 0 { r = sd_bus_request_name(bus, "org.freedesktop.systemd1", 0) }
        if r >= 0 { r = sd_bus_add_fallback(bus, nil, "/org/freedesktop/systemd1", FakeSystemd.handler, Unmanaged.passUnretained(self).toOpaque()) }
        guard r >= 0 else {
            daemon.cancel()
            throw POSIXError(POSIXErrorCode(rawValue: -r) ?? .EIO)
        }
        let thread = Thread { [self] in
            while !isStopped {
                if sd_bus_process(bus, nil) > 0 { continue }
                _ = sd_bus_wait(bus, 20_000)
            }
            done.signal()
        }
        loop = thread
        thread.start()
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    func stop() async {
        lock.withLock { stopped = true }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread { [done] in
                done.wait()
                c.resume()
            }
        }
        sd_bus_flush_close_unref(bus)
        daemon.cancel()
        await daemon.value
    }

    func state(of unit: String) -> String { lock.withLock { states[unit] ?? "inactive" } }
    /// The jobs cancelled through Job.Cancel, in order.
    var cancelledJobs: [String] { lock.withLock { cancelled } }
    /// The jobs not finished yet.
    var pendingJobs: [String] { lock.withLock { Array(jobs.keys) } }

    static func unitPath(_ unit: String) -> String {
        "/org/freedesktop/systemd1/unit/" + unit.unicodeScalars.map { c in
            (c.properties.isAlphabetic && c.isASCII) || ("0"..."9").contains(c) ? String(c) : "_" + String(c.value, radix: 16)
        }.joined()
    }

    private static let handler: sd_bus_message_handler_t = { message, userdata, _ in
        guard let message, let userdata else { return 0 }
        let me = Unmanaged<FakeSystemd>.fromOpaque(userdata).takeUnretainedValue()
        return me.handle(message)
    }

    private func readString(_ m: OpaquePointer) -> String {
        var p: UnsafePointer<CChar>?
        _ = sd_bus_message_read_basic(m, CChar(UInt8(ascii: "s")), &p)
        return p.map { String(cString: $0) } ?? ""
    }

    private func reply(_ call: OpaquePointer, _ fill: (OpaquePointer) -> Void) -> Int32 {
        var r: OpaquePointer?
        guard sd_bus_message_new_method_return(call, &r) >= 0, let r else { return -1 }
        fill(r)
        let sent = sd_bus_send(bus, r, nil)
        sd_bus_message_unref(r)
        return sent < 0 ? sent : 1
    }

    private func append(_ m: OpaquePointer, _ type: Character, _ value: String) {
        _ = value.withCString { sd_bus_message_append_basic(m, CChar(type.asciiValue!), $0) }
    }

    private func fail(_ call: OpaquePointer, _ name: String, _ text: String) -> Int32 {
        var e = sd_bus_error()
        sd_bus_error_set(&e, name, text)
        let r = sd_bus_reply_method_error(call, &e)
        sd_bus_error_free(&e)
        return r < 0 ? r : 1
    }

    private func handle(_ m: OpaquePointer) -> Int32 {
        let path = String(cString: sd_bus_message_get_path(m))
        let member = sd_bus_message_get_member(m).map { String(cString: $0) } ?? ""
        if path == "/org/freedesktop/systemd1" {
            switch member {
            case "LoadUnit":
                let unit = readString(m)
                return reply(m) { append($0, "o", Self.unitPath(unit)) }
            case "StartUnit", "StopUnit":
                let unit = readString(m)
                let job = lock.withLock { () -> String in
                    let path = "/org/freedesktop/systemd1/job/\(nextJob)"
                    nextJob += 1
                    let result = member == "StopUnit" ? "inactive" : (unit.hasPrefix("broken") ? "failed" : "active")
                    jobs[path] = (unit, unit.hasPrefix("slow") ? Int.max : 2, result)
                    states[unit] = member == "StopUnit" ? "deactivating" : "activating"
                    return path
                }
                return reply(m) { append($0, "o", job) }
            case "ListUnitFiles":
                return reply(m) { r in
                    _ = sd_bus_message_open_container(r, CChar(UInt8(ascii: "a")), "(ss)")
                    for (file, state) in [("/lib/systemd/system/web.service", "enabled"), ("/lib/systemd/system/getty@.service", "enabled"), ("/lib/systemd/system/sshd.socket", "disabled")] {
                        _ = sd_bus_message_open_container(r, CChar(UInt8(ascii: "r")), "ss")
                        append(r, "s", file)
                        append(r, "s", state)
                        _ = sd_bus_message_close_container(r)
                    }
                    _ = sd_bus_message_close_container(r)
                }
            default:
                return fail(m, "org.freedesktop.DBus.Error.UnknownMethod", "no method \(member)")
            }
        }
        if member == "Cancel" && path.hasPrefix("/org/freedesktop/systemd1/job/") {
            let known = lock.withLock { () -> Bool in
                guard let job = jobs.removeValue(forKey: path) else { return false }
                cancelled.append(path)
                states[job.unit] = "inactive"
                return true
            }
            guard known else { return fail(m, "org.freedesktop.systemd1.NoSuchJob", "no job \(path)") }
            return reply(m) { _ in }
        }
        guard member == "Get" else { return fail(m, "org.freedesktop.DBus.Error.UnknownMethod", "no method \(member)") }
        _ = readString(m)  // interface
        let property = readString(m)
        if path.hasPrefix("/org/freedesktop/systemd1/job/") {
            let value: String? = lock.withLock {
                guard let job = jobs[path] else { return nil }
                if job.polls > 0 {
                    jobs[path]!.polls -= 1
                    return "running"
                }
                states[job.unit] = job.result
                jobs[path] = nil
                return nil
            }
            guard let value else { return fail(m, "org.freedesktop.DBus.Error.UnknownObject", "no job \(path)") }
            return reply(m) { r in
                _ = sd_bus_message_open_container(r, CChar(UInt8(ascii: "v")), "s")
                append(r, "s", value)
                _ = sd_bus_message_close_container(r)
            }
        }
        let unit = String(path.dropFirst("/org/freedesktop/systemd1/unit/".count))
        let value: String
        switch property {
        case "LoadState": value = unit.hasPrefix("missing") ? "not-found" : "loaded"
        case "ActiveState": value = lock.withLock { states.first { Self.unitPath($0.key) == path }?.value ?? "inactive" }
        default: return fail(m, "org.freedesktop.DBus.Error.UnknownProperty", "no property \(property)")
        }
        return reply(m) { r in
            _ = sd_bus_message_open_container(r, CChar(UInt8(ascii: "v")), "s")
            append(r, "s", value)
            _ = sd_bus_message_close_container(r)
        }
    }
}

/// systemd units over sd-bus, against the stand-in manager on a private bus.
@Suite struct SystemdBusTests {
    @Test func startStatusStopOverDBus() async throws {
        guard Installed.agent("/usr/bin/dbus-daemon", for: "startStatusStopOverDBus") else { return }
        let s = try Scratch()
        let fake = try FakeSystemd(directory: s.base)
        do {
            try await exercise(fake)
        } catch {
            Issue.record("\(error)")
        }
        await fake.stop()
    }

    private func exercise(_ fake: FakeSystemd) async throws {
        let bus = Systemd.Bus.address(fake.address)
        #expect(try await Systemd.perform(.monitor, unit: "web", timeout: .seconds(5), bus: bus) == .notRunning)
        #expect(try await Systemd.perform(.start, unit: "web", timeout: .seconds(5), bus: bus) == .success)
        #expect(fake.state(of: "web.service") == "active")
        #expect(try await Systemd.activeState(unit: "web", bus: bus) == "active")
        #expect(try await Systemd.perform(.status, unit: "web.service", timeout: .seconds(5), bus: bus) == .success)
        #expect(try await Systemd.perform(.stop, unit: "web", timeout: .seconds(5), bus: bus) == .success)
        #expect(try await Systemd.perform(.monitor, unit: "web", timeout: .seconds(5), bus: bus) == .notRunning)
        #expect(try await Systemd.perform(.start, unit: "broken", timeout: .seconds(5), bus: bus) == .errGeneric)
        #expect(try await Systemd.perform(.start, unit: "missing", timeout: .seconds(5), bus: bus) == .errInstalled)
        #expect(try Systemd.listUnits(bus: bus) == ["web"])
        await #expect(throws: AgentError.self) { try await Systemd.perform(.promote, unit: "web", timeout: .seconds(5), bus: bus) }

        // The same through the executor, for systemd: and service: agents.
        let s = try Scratch()
        var executor = AgentExecutor(host: s.host)
        executor.systemdBus = bus
        for standard in ["systemd", "service"] {
            let agent = ResourceAgentName(standard: standard, provider: nil, type: "web")
            func run(_ a: AgentAction) async -> AgentResult { await executor.run(AgentRequest(resource: "web", agent: agent, action: a, timeout: .seconds(5))) }
            #expect(await run(.start).exitCode == .success)
            #expect(await run(.monitor).exitCode == .success)
            #expect(await run(.stop).exitCode == .success)
            #expect(await run(.monitor).exitCode == .notRunning)
        }
        let missing = await executor.run(AgentRequest(resource: "m", agent: ResourceAgentName(standard: "systemd", provider: nil, type: "missing"), action: .start))
        #expect(missing.exitCode == .errInstalled)
        #expect(missing.exitReason == "systemd has no unit missing.service")
    }

    /// A job that outlives the operation's timeout is cancelled and reported as a timeout;
    /// cancelling the operation cancels its job.
    @Test func slowJobsTimeOutAndCancelledOperationsCancelTheirJob() async throws {
        guard Installed.agent("/usr/bin/dbus-daemon", for: "slowJobsTimeOutAndCancelledOperationsCancelTheirJob") else { return }
        let s = try Scratch()
        let fake = try FakeSystemd(directory: s.base)
        var executor = AgentExecutor(host: s.host)
        executor.systemdBus = .address(fake.address)
        let slow = ResourceAgentName(standard: "systemd", provider: nil, type: "slow")

        let timedOut = await executor.run(AgentRequest(resource: "slow", agent: slow, action: .start, timeout: .milliseconds(300)))
        #expect(timedOut.status == .timedOut, "\(timedOut)")
        #expect(timedOut.exitReason?.contains("did not finish within 300ms") == true, "\(timedOut.exitReason ?? "")")
        #expect(fake.cancelledJobs.count == 1, "the timed-out job was cancelled in systemd")
        #expect(fake.pendingJobs.isEmpty)

        let running = Task { await executor.run(AgentRequest(resource: "slow", agent: slow, action: .start, timeout: .seconds(60))) }
        #expect(await eventually { fake.pendingJobs.count == 1 }, "the job was queued")
        running.cancel()
        let result = await running.value
        #expect(result.status == .cancelled, "\(result)")
        #expect(fake.cancelledJobs.count == 2)
        #expect(fake.pendingJobs.isEmpty)
        await fake.stop()
    }

    @Test func unreachableBusIsAClearError() async throws {
        let s = try Scratch()
        do {
            _ = try await Systemd.activeState(unit: "web", bus: .address("unix:path=\(s.base)/no-such-bus"))
            Issue.record("a missing bus answered")
        } catch {
            #expect(error.description.contains("systemd is not available on this node"))
            #expect(error.description.contains("no-such-bus"))
        }
    }
}
