#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras

/// Where a start's time goes, up to the first join: a restarted corosyncd must ask the ring
/// for a new membership before the other nodes give up on the old one (token + consensus),
/// so this is logged at every start (one line, when the first join has been sent).
struct StartupClock {
    /// CLOCK_BOOTTIME in nanoseconds: the clock the kernel's process start times count in.
    static func boottime() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_BOOTTIME, &t)
        return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
    }

    /// When this process started (fork), in CLOCK_BOOTTIME nanoseconds; the kernel keeps it
    /// in clock ticks (10 ms steps).
    static func processStart() -> Int64? {
        guard let data = FileManager.default.contents(atPath: "/proc/self/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        // After "(comm) ": state is field 3, starttime field 22.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Int64(fields[19]) else { return nil }
        let hz = Int64(sysconf(Int32(_SC_CLK_TCK)))
        guard hz > 0 else { return nil }
        return ticks * (1_000_000_000 / hz)
    }

    let processStart: Int64?
    let mainStart: Int64
    private var last: Int64
    private var steps: [(String, Int64)] = []

    init() {
        mainStart = Self.boottime()
        last = mainStart
        processStart = Self.processStart()
    }

    /// The time since the previous mark was spent on `step`.
    mutating func mark(_ step: String) {
        let now = Self.boottime()
        steps.append((step, now - last))
        last = now
    }

    /// "first join sent 85 ms after the process started (60 ms before main, config 5 ms, ...)".
    func summary(event: String) -> String {
        let now = Self.boottime()
        let ms = { (ns: Int64) in "\(max(0, ns) / 1_000_000) ms" }
        var parts: [String] = []
        if let processStart { parts.append("\(ms(mainStart - processStart)) before main") }
        parts += steps.map { "\($0.0) \(ms($0.1))" }
        parts.append("the rest \(ms(now - last))")
        let total = now - (processStart ?? mainStart)
        return "\(event) \(max(0, total) / 1_000_000) ms after the process started (\(parts.joined(separator: ", ")))"
    }
}
