#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Messaging

/// How corosyncd keeps the CPU and its memory when the machine is busy, as corosync does:
/// round-robin realtime scheduling at the highest priority (`system.sched_rr: yes`, the
/// default; corosync 3.0's `-r`), else a nice value (`system.priority`, used only without
/// sched_rr; when SCHED_RR cannot be set, the highest priority, nice -20, is tried instead),
/// and its memory locked against paging (mlockall; `MCL_ONFAULT`: the pages it uses are
/// locked as they are touched, so that a start is not slowed by paging in all its libraries).
/// corosync 3.0's `-p` turns realtime scheduling off like `sched_rr: no`.
///
/// Realtime here cannot starve the machine: corosyncd's threads block in epoll between
/// events (swift-nio's loop; an idle ring's token is held on the `hold` timer, never passed
/// round in a loop), and the kernel keeps 5 % of each CPU for other tasks
/// (kernel.sched_rt_runtime_us).
enum ProcessPriority {
    enum Request: Equatable {
        case realtime
        case nice(Int32)
        /// Leave the scheduling as it is; but a SCHED_RR inherited from pacemakerd (which starts
        /// corosyncd that way, so that its start-up is not delayed on a busy machine) is dropped.
        case normal
    }

    /// What the options and the `system` section ask for. `-p` and `-r` win over the file.
    static func request(system: SystemConfig, noRealtime: Bool, realtime: Bool) -> Request {
        let rr = realtime || (!noRealtime && system.schedRR)
        if rr { return .realtime }
        guard let p = system.priority else { return .normal }
        return .nice(niceValue(p))
    }

    static func niceValue(_ priority: String) -> Int32 {
        switch priority {
        case "max": return -20
        case "min": return 19
        default: return Int32(priority) ?? 0
        }
    }

    /// A log line to write once the logger is up.
    struct Note {
        var level: Logger.Level
        var message: String
    }

    /// Applies `request` to every thread of the process (threads started later inherit it
    /// from the thread that starts them). Returns what to log.
    static func apply(_ request: Request) -> [Note] {
        var notes: [Note] = []
        switch request {
        case .realtime:
            let max = sched_get_priority_max(SCHED_RR)
            var param = sched_param(sched_priority: max)
            if let failure = forEachThread({ sched_setscheduler($0, SCHED_RR, &param) }) {
                notes.append(Note(level: .warning, message: "[MAIN  ] Could not set SCHED_RR at priority \(max): \(failure) (needs root or CAP_SYS_NICE; turn it off with system.sched_rr: no); trying the highest priority instead"))
                notes += setNice(-20)
            } else {
                notes.append(Note(level: .info, message: "[MAIN  ] Scheduling: SCHED_RR at priority \(max) (system.sched_rr: yes)"))
            }
        case .nice(let value):
            notes += dropInheritedRealtime()
            notes += setNice(value)
        case .normal:
            notes += dropInheritedRealtime()
        }
        notes += lockMemory()
        return notes
    }

    /// Back to SCHED_OTHER when the process was started with a realtime policy.
    private static func dropInheritedRealtime() -> [Note] {
        guard sched_getscheduler(0) != SCHED_OTHER else { return [] }
        var param = sched_param(sched_priority: 0)
        if let failure = forEachThread({ sched_setscheduler($0, SCHED_OTHER, &param) }) {
            return [Note(level: .warning, message: "[MAIN  ] Could not leave the realtime scheduling it was started with: \(failure)")]
        }
        return [Note(level: .info, message: "[MAIN  ] Scheduling: SCHED_OTHER (system.sched_rr: no)")]
    }

    private static func setNice(_ value: Int32) -> [Note] {
        let failure = forEachThread { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t($0), value) }
        if let failure {
            return [Note(level: .warning, message: "[MAIN  ] Could not set priority \(value): \(failure)")]
        }
        return [Note(level: .info, message: "[MAIN  ] Scheduling: nice \(value)")]
    }

    /// mlockall, with the memory lock limit raised first (as corosync does).
    private static func lockMemory() -> [Note] {
        var unlimited = rlimit(rlim_cur: rlim_t.max, rlim_max: rlim_t.max)  // RLIM_INFINITY
        _ = setrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &unlimited)
        // MCL_ONFAULT (Linux 4.4): not in every Glibc module map.
        let onFault: Int32 = 4
        if mlockall(MCL_CURRENT | MCL_FUTURE | onFault) != 0 {
            return [Note(level: .warning, message: "[MAIN  ] Could not lock memory of service to avoid page faults: \(String(cString: strerror(errno)))")]
        }
        return []
    }

    /// Runs `body` with each thread id of this process; the first failure's reason, or nil.
    private static func forEachThread(_ body: (pid_t) -> Int32) -> String? {
        let tids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []).compactMap { pid_t($0) }
        var failure: String?
        for tid in tids.isEmpty ? [0] : tids where body(tid) != 0 {
            // ESRCH: a thread that ended meanwhile.
            if errno != ESRCH && failure == nil { failure = String(cString: strerror(errno)) }
        }
        return failure
    }
}
