import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// corosyncd's scheduling and memory locking, as corosync's: SCHED_RR at the highest
/// priority unless `system.sched_rr: no` or `-p`; a nice value from `system.priority` without
/// it; a clear warning (and the ring all the same) when it is not permitted.
@Suite(.serialized) struct CorosyncdSchedulingTests {
    /// One thread's scheduling, from /proc/PID/task/TID/stat.
    struct ThreadScheduling: CustomStringConvertible {
        var name: String
        /// 0 SCHED_OTHER, 2 SCHED_RR.
        var policy: Int
        var rtPriority: Int
        var nice: Int
        var description: String { "\(name): policy \(policy) rt \(rtPriority) nice \(nice)" }
    }

    static func threads(of pid: Int32) -> [ThreadScheduling] {
        let dir = "/proc/\(pid)/task"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap { tid in
            guard let stat = try? String(contentsOfFile: "\(dir)/\(tid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let f = stat[stat.index(after: close)...].split(separator: " ").map(String.init)
            // After the name: field 3 (state) is f[0]; nice is field 19, rt_priority 40, policy 41.
            guard f.count > 38, let nice = Int(f[16]), let rt = Int(f[37]), let policy = Int(f[38]) else { return nil }
            let name = (try? String(contentsOfFile: "\(dir)/\(tid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? tid
            return ThreadScheduling(name: name, policy: policy, rtPriority: rt, nice: nice)
        }
    }

    /// The threads of swift-nio's event loop (where the ring runs).
    static func eventLoopThreads(of pid: Int32) -> [ThreadScheduling] {
        threads(of: pid).filter { $0.name.hasPrefix("NIO-ELT") }
    }

    /// Whether this process may set realtime scheduling (root, or CAP_SYS_NICE).
    static var mayRealtime: Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let caps = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return caps & (1 << 23) != 0
    }

    /// CPU time (user + system) of a process so far, in clock ticks.
    static func cpuTicks(_ pid: Int32) -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let f = stat[stat.index(after: close)...].split(separator: " ")
        guard f.count > 12, let u = Int(f[11]), let s = Int(f[12]) else { return nil }
        return u + s
    }

    /// node1 with the defaults runs its ring at SCHED_RR, highest priority (when this test may
    /// grant it; else it says it could not); node2 with `-p` and node3 with `sched_rr: no` and
    /// `priority: 5` do not, node3 at nice 5; the three form one ring; each start says when
    /// its first join went out; and node1, realtime and idle, does not spin (it sleeps in
    /// epoll between token visits and heartbeats).
    @Test func realtimeSchedulingFollowsTheSystemSectionAndTheOptions() throws {
        let c = try CorosyncdProcessTests.freshCluster(start: []) { c in
            c[2].arguments = ["-p"]
            let conf = "\(c[3].root)/etc/corosync/corosync.conf"
            let text = try String(contentsOfFile: conf, encoding: .utf8) + "system {\n    sched_rr: no\n    priority: 5\n}\n"
            try text.write(toFile: conf, atomically: true, encoding: .utf8)
        }
        defer { c.tearDown() }
        guard try c.start([1, 2, 3]) else {
            Issue.record("corosyncd did not start:\n\(c.all.map(\.log).joined(separator: "\n"))")
            return
        }
        let formed = CorosyncdCluster.waitFor(30) { c.all.allSatisfy { $0.members == [1, 2, 3] } }
        #expect(formed != nil, "no ring of three:\n\(c.all.map(\.log).joined(separator: "\n---\n"))")
        for n in c.all {
            #expect(n.log.contains("[MAIN  ] first join sent "), "\(n.name) did not log its first join:\n\(n.log)")
        }

        let rrMax = Int(sched_get_priority_max(SCHED_RR))
        let pid1 = c[1].process!.processIdentifier
        let loop1 = Self.eventLoopThreads(of: pid1)
        #expect(!loop1.isEmpty, "no event loop thread in \(Self.threads(of: pid1))")
        if Self.mayRealtime {
            #expect(loop1.allSatisfy { $0.policy == Int(SCHED_RR) && $0.rtPriority == rrMax }, "\(loop1)")
            #expect(c[1].log.contains("[MAIN  ] Scheduling: SCHED_RR at priority \(rrMax) (system.sched_rr: yes)"), "\(c[1].log)")
            #expect(!c[1].log.contains("Could not lock memory"), "\(c[1].log)")
        } else {
            print("corosyncd scheduling: this test may not grant realtime scheduling; checking the warning instead")
            #expect(c[1].log.contains("Could not set SCHED_RR at priority \(rrMax)"), "\(c[1].log)")
        }
        let all2 = Self.threads(of: c[2].process!.processIdentifier)
        #expect(!all2.isEmpty && all2.allSatisfy { $0.policy == Int(SCHED_OTHER) }, "-p: \(all2)")
        #expect(!c[2].log.contains("SCHED_RR"), "\(c[2].log)")
        // The main thread and the event loop's (libdispatch sets its own workers' nice values
        // by their QoS class).
        let all3 = Self.threads(of: c[3].process!.processIdentifier)
        let ring3 = all3.filter { $0.name == "corosyncd" || $0.name.hasPrefix("NIO-ELT") }
        #expect(all3.allSatisfy { $0.policy == Int(SCHED_OTHER) }, "sched_rr: no: \(all3)")
        #expect(ring3.count >= 2 && ring3.allSatisfy { $0.nice == 5 }, "priority: 5: \(all3)")
        #expect(c[3].log.contains("[MAIN  ] Scheduling: nice 5"), "\(c[3].log)")

        // Idle and realtime: it blocks between events. Spinning would take all of a CPU.
        let hz = Int(sysconf(Int32(_SC_CLK_TCK)))
        guard let before = Self.cpuTicks(pid1) else { return }
        usleep(3_000_000)
        guard let after = Self.cpuTicks(pid1) else { return }
        #expect(after - before < hz * 3 / 2, "an idle corosyncd used \(after - before) ticks of CPU in 3 s (\(hz) a second)")
    }

    /// Without the right (a non-root corosyncd; here root without CAP_SYS_NICE, CAP_IPC_LOCK
    /// and CAP_SYS_RESOURCE): one warning for the scheduling, one for the fallback priority,
    /// one for the memory lock, and the node runs and joins the ring all the same.
    @Test func withoutThePrivilegeItSaysSoAndRunsAllTheSame() throws {
        let setpriv = "/usr/bin/setpriv"
        let root = getuid() == 0
        if root && !FileManager.default.isExecutableFile(atPath: setpriv) {
            print("SKIPPED: withoutThePrivilege...: \(setpriv) is not installed (util-linux), and this test runs as root")
            return
        }
        let c = try CorosyncdProcessTests.freshCluster(start: []) { c in
            if root {
                c[1].launcher = [setpriv, "--bounding-set=-sys_nice,-ipc_lock,-sys_resource", "--inh-caps=-sys_nice,-ipc_lock,-sys_resource"]
            }
        }
        defer { c.tearDown() }
        guard try c.start([1, 2]) else {
            Issue.record("corosyncd did not start:\n\(c.all.map(\.log).joined(separator: "\n"))")
            return
        }
        let formed = CorosyncdCluster.waitFor(30) { [c[1], c[2]].allSatisfy { $0.members == [1, 2] } }
        #expect(formed != nil, "no ring of two:\n\(c[1].log)\n---\n\(c[2].log)")
        let rrMax = sched_get_priority_max(SCHED_RR)
        let log = c[1].log
        #expect(log.contains("[MAIN  ] Could not set SCHED_RR at priority \(rrMax): Operation not permitted"), "\(log)")
        #expect(log.contains("system.sched_rr: no"), "the warning does not say how to turn it off:\n\(log)")
        #expect(log.contains("[MAIN  ] Could not set priority -20: Permission denied"), "\(log)")
        #expect(log.contains("[MAIN  ] Could not lock memory of service to avoid page faults"), "\(log)")
        let threads = Self.threads(of: c[1].process!.processIdentifier)
        #expect(!threads.isEmpty && threads.allSatisfy { $0.policy == Int(SCHED_OTHER) }, "\(threads)")
        #expect(c[1].isRunning)
    }

    /// -p and -r (corosync 3.0's options) together: a usage error, nothing started.
    @Test func minusPAndMinusRTogetherAreRefused() throws {
        let r = try Tool.run("corosyncd", ["-p", "-r", "--root", "/nonexistent"])
        #expect(r.status == 64, "\(r.status): \(r.stderr)")
        #expect(r.stderr.contains("-p (no realtime scheduling) and -r (realtime scheduling) contradict each other"), "\(r.stderr)")
        let help = try Tool.run("corosyncd", ["--help"])
        #expect(help.stdout.contains("sched_rr") && help.stdout.contains("-p") && help.stdout.contains("-r"))
    }
}
