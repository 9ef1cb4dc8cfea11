#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EssentialsExtras
import HostProcesses
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// lrmd's record, under the node root, of every agent process it is running, so that an lrmd
/// started after one that was killed (SIGKILL, a crash) can end what that one left running.
///
/// Without it, an agent that hangs in a start, or a long monitor, outlives a killed lrmd with
/// nobody to time it out, and the new lrmd does not know it exists.
///
/// - One lrmd per root holds `<root>/run/lrmd/lrmd.lock` (flock) for its lifetime; the kernel
///   drops the lock when it dies however it dies, and only the holder reads or ends records.
/// - Before an agent is launched, a record `<root>/run/lrmd/operations/<token>` is written:
///   the resource, the operation, the call id, this boot's id and this lrmd's pid and start
///   time. Once the agent runs, its pid (also its process group and session: agents run in
///   a session of their own) and its start time (field 22 of /proc/PID/stat) are added. The
///   record is removed when the agent has been reaped (and, after a timeout, its group killed).
/// - The agent gets `SWIFTHA_LRMD_OPERATION=<token>` in its environment, which its children
///   inherit, also those that leave its process group (setsid, double fork) or start before
///   the pid reaches the record.
///
/// `endInterrupted` (in the new lrmd, before it serves anyone) ends the processes of each
/// record left over: those carrying the record's token, and the recorded agent and the members
/// of its group and session. A process is only ever signalled when it has SWIFTHA_ROOT=<root>
/// in its environment and either the record's token, or is the recorded pid with the recorded
/// start time, or (its leader gone) is a member of that group started no earlier than the
/// agent: a pid reused by an unrelated process is left alone. Records of another boot are
/// dropped. The end is the one a timeout gives: SIGTERM (and SIGCONT), SIGKILL after the grace.
///
/// Not durable across a power cut (no fsync): none of the processes survive one either.
public final class OperationJournal: Sendable {
    /// The environment variable that carries an operation's token to its processes.
    public static let variable = "SWIFTHA_LRMD_OPERATION"

    /// The node root whose agents are recorded.
    public let root: String
    /// `<root>/run/lrmd`.
    public let directory: String
    /// `<root>/run/lrmd/operations`, one file per running agent process.
    public var operationsDirectory: String { directory + "/operations" }
    /// `<root>/run/lrmd/lrmd.lock`.
    public var lockPath: String { directory + "/lrmd.lock" }

    private let lockDescriptor: Int32
    private let boot: String
    private let me: (pid: Int32, start: UInt64)
    private let sequence = Atomic<UInt64>(0)

    /// Takes the node's lrmd lock and makes the directories. Throws `.alreadyRunning` when
    /// another lrmd holds the lock.
    public static func open(root: String) throws(JournalError) -> OperationJournal {
        let directory = NodeProcesses.normalized(root) == "/" ? "/run/lrmd" : NodeProcesses.normalized(root) + "/run/lrmd"
        for dir in [directory, directory + "/operations"] {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw .io("cannot create \(dir): \(failureReason(error)); check the node root (--root / SWIFTHA_ROOT) and its permissions")
            }
        }
        let lockPath = directory + "/lrmd.lock"
        let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let why = errno
            let holder = NodeProcesses.readFile(lockPath).map { String(decoding: $0, as: UTF8.self).trimmingWhitespace() } ?? ""
            close(fd)
            if why == EWOULDBLOCK {
                throw .alreadyRunning("another lrmd\(holder.isEmpty ? "" : " (pid \(holder))") is already serving the node root \(root) (it holds \(lockPath)): stop it first (only one lrmd may run per node root)")
            }
            throw .io("cannot lock \(lockPath): \(String(cString: strerror(why)))")
        }
        let pid = getpid()
        let text = Array("\(pid)\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, text, text.count, 0)
        return OperationJournal(root: root, directory: directory, lockDescriptor: fd,
                                me: (pid, ProcessTable.entry(of: pid)?.startTime ?? 0))
    }

    private init(root: String, directory: String, lockDescriptor: Int32, me: (pid: Int32, start: UInt64)) {
        self.root = root
        self.directory = directory
        self.lockDescriptor = lockDescriptor
        self.me = me
        self.boot = Self.bootID()
    }

    deinit { close(lockDescriptor) }

    /// This boot's id (/proc/sys/kernel/random/boot_id), "" when unknown.
    public static func bootID() -> String {
        NodeProcesses.readFile("/proc/sys/kernel/random/boot_id").map { String(decoding: $0, as: UTF8.self).trimmingWhitespace() } ?? ""
    }

    // MARK: Recording

    /// Records an agent process about to be launched; nil when the record cannot be written
    /// (the operation runs all the same).
    public func begin(resource: String, operation: String, callID: Int?) -> Entry? {
        let n = sequence.add(1, ordering: .relaxed).newValue
        let token = "\(me.pid).\(me.start).\(n)"
        let record = Record(token: token, resource: resource, operation: operation, callID: callID, boot: boot,
                            lrmd: me.pid, lrmdStart: me.start)
        let path = operationsDirectory + "/" + token
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0o644)
        guard fd >= 0 else { return nil }
        let bytes = Array(record.text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else {
            close(fd)
            unlink(path)
            return nil
        }
        return Entry(token: token, path: path, fd: fd)
    }

    /// One recorded agent process, from just before its launch until it was reaped.
    public final class Entry: Sendable {
        /// The value of `SWIFTHA_LRMD_OPERATION` for the agent.
        public let token: String
        let path: String
        private let fd: Mutex<Int32>

        init(token: String, path: String, fd: Int32) {
            self.token = token
            self.path = path
            self.fd = Mutex(fd)
        }

        /// Adds the agent's pid and start time to the record.
        public func launched(_ pid: Int32) {
            var line = "pid=\(pid)\n"
            if let start = ProcessTable.entry(of: pid)?.startTime { line += "start=\(start)\n" }
            let bytes = Array(line.utf8)
            fd.withLock { fd in
                if fd >= 0 { _ = write(fd, bytes, bytes.count) }
            }
        }

        /// Removes the record (the agent has been reaped).
        public func end() {
            let was = fd.withLock { fd in
                let was = fd
                fd = -1
                return was
            }
            guard was >= 0 else { return }
            close(was)
            unlink(path)
        }

        deinit { end() }
    }

    /// One record: `key=value` lines.
    public struct Record: Sendable, Hashable {
        public var token: String
        public var resource: String
        /// The operation key, e.g. `db_start_0`.
        public var operation: String
        public var callID: Int?
        /// The boot the record was written in.
        public var boot: String
        /// The lrmd that wrote it: pid and start time.
        public var lrmd: Int32
        public var lrmdStart: UInt64
        /// The agent process, once it was launched: pid and start time.
        public var pid: Int32?
        public var start: UInt64?

        public init(token: String, resource: String, operation: String, callID: Int?, boot: String,
                    lrmd: Int32, lrmdStart: UInt64, pid: Int32? = nil, start: UInt64? = nil) {
            self.token = token
            self.resource = resource
            self.operation = operation
            self.callID = callID
            self.boot = boot
            self.lrmd = lrmd
            self.lrmdStart = lrmdStart
            self.pid = pid
            self.start = start
        }

        /// The file's text.
        public var text: String {
            var s = "token=\(token)\nresource=\(resource)\noperation=\(operation)\n"
            if let callID { s += "call=\(callID)\n" }
            s += "boot=\(boot)\nlrmd=\(lrmd)\nlrmd-start=\(lrmdStart)\n"
            if let pid { s += "pid=\(pid)\n" }
            if let start { s += "start=\(start)\n" }
            return s
        }

        /// Reads a record; nil when a required line is missing or malformed. An unfinished
        /// last line (lrmd killed while writing it) is ignored.
        public init?(parsing text: String) {
            var values: [String: String] = [:]
            let complete = text.hasSuffix("\n") ? text[...] : text[..<(text.lastIndex(of: "\n") ?? text.startIndex)]
            for line in complete.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { return nil }
                values[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            guard let token = values["token"], !token.isEmpty, !token.contains("/"),
                  let resource = values["resource"], let operation = values["operation"], let boot = values["boot"],
                  let lrmd = values["lrmd"].flatMap({ Int32($0) }), let lrmdStart = values["lrmd-start"].flatMap({ UInt64($0) })
            else { return nil }
            let pid = values["pid"].flatMap { Int32($0) }
            if values["pid"] != nil && (pid ?? 0) <= 1 { return nil }
            self.init(token: token, resource: resource, operation: operation, callID: values["call"].flatMap { Int($0) },
                      boot: boot, lrmd: lrmd, lrmdStart: lrmdStart, pid: pid, start: values["start"].flatMap { UInt64($0) })
        }
    }

    // MARK: After a restart

    /// Ends the agent processes a previous lrmd of this root left running (see the type's
    /// description), logs each, removes their records and returns what was ended. Call it
    /// once, before serving clients.
    public func endInterrupted(grace: Duration, logger: Logger) async -> [InterruptedOperation] {
        var records: [(file: String, record: Record)] = []
        let dir = operationsDirectory
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
            let file = dir + "/" + name
            guard let bytes = NodeProcesses.readFile(file) else { continue }
            guard let record = Record(parsing: String(decoding: bytes, as: UTF8.self)) else {
                logger.warning("removing \(file): it is not an operation record lrmd wrote (unreadable or incomplete)")
                unlink(file)
                continue
            }
            if record.boot != boot {
                logger.debug("removing \(file): written in an earlier boot")
                unlink(file)
                continue
            }
            if record.lrmd == me.pid && record.lrmdStart == me.start { continue }
            if let e = ProcessTable.entry(of: record.lrmd), e.startTime == record.lrmdStart, e.state != "Z", e.state != "X" {
                // Cannot happen while the lock is held; never touch a live lrmd's agents.
                logger.warning("keeping \(file): the lrmd that wrote it (pid \(record.lrmd)) still runs")
                continue
            }
            records.append((file, record))
        }
        guard !records.isEmpty else { return [] }
        let clock = ContinuousClock()
        let rs = records.map(\.record)
        var found = Self.processes(of: rs, root: root)
        var ended: [InterruptedOperation] = []
        for (i, (_, r)) in records.enumerated() {
            let pids = found.filter { $0.record == i }.map(\.pid).sorted()
            let what = "\(r.operation) of \(r.resource)\(r.callID.map { " (call \($0))" } ?? "")"
            if pids.isEmpty {
                if let pid = r.pid, let e = ProcessTable.entry(of: pid), e.startTime != r.start || r.start == nil {
                    logger.notice("the previous lrmd (pid \(r.lrmd)) was running \(what); process \(pid) is now another process, not its agent: left alone")
                } else {
                    logger.notice("the previous lrmd (pid \(r.lrmd)) was running \(what); its agent\(r.pid.map { " (pid \($0))" } ?? "") is gone already")
                }
            } else {
                logger.warning("the previous lrmd (pid \(r.lrmd)) was killed while running \(what): ending its agent\(r.pid.map { " (pid \($0), process group \($0))" } ?? ""): SIGTERM to pid \(pids.map(String.init).joined(separator: ", "))",
                               metadata: ["resource": "\(r.resource)", "operation": "\(r.operation)"])
            }
            ended.append(InterruptedOperation(resource: r.resource, operation: r.operation, callID: r.callID,
                                              processGroup: r.pid, processes: pids, previousLRMD: r.lrmd))
        }
        for p in found {
            kill(p.pid, SIGTERM)
            kill(p.pid, SIGCONT)
        }
        let deadline = clock.now + grace
        while !found.isEmpty && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
            found = Self.processes(of: rs, root: root)
        }
        var rounds = 0
        var told = Set<Int32>()
        while !found.isEmpty && rounds < 250 {
            for p in found {
                if told.insert(p.pid).inserted {
                    logger.warning("process \(p.pid) of \(rs[p.record].operation) (left by the previous lrmd) outlived SIGTERM: SIGKILL",
                                   metadata: ["resource": "\(rs[p.record].resource)", "operation": "\(rs[p.record].operation)"])
                }
                kill(p.pid, SIGKILL)
            }
            try? await Task.sleep(for: .milliseconds(20))
            found = Self.processes(of: rs, root: root)
            rounds += 1
        }
        for p in found {
            logger.error("process \(p.pid) of \(rs[p.record].operation) (left by the previous lrmd) could not be killed")
        }
        for (i, r) in rs.enumerated() where !ended[i].processes.isEmpty {
            logger.notice("ended \(r.operation) of \(r.resource): the previous lrmd's agent processes \(ended[i].processes.map(String.init).joined(separator: ", ")) are gone; the operation counts as failed (interrupted: lrmd restarted)",
                          metadata: ["resource": "\(r.resource)", "operation": "\(r.operation)"])
        }
        for (file, _) in records { unlink(file) }
        return ended
    }

    /// The live processes (not zombies) that belong to one of `records`' operations: the
    /// recorded agent (its pid with its start time) and every member of its group and session;
    /// when the agent is gone, the members of its group and session that have SWIFTHA_ROOT=
    /// `root` and started no earlier than it; and every process with SWIFTHA_ROOT=`root` and
    /// a record's token. (A pid that is a live process's group or session id is not reused.)
    static func processes(of records: [Record], root: String) -> [(pid: Int32, record: Int)] {
        enum Leader { case verified, absent, other }
        let rootValue = NodeProcesses.normalized(root)
        let leaders: [Leader] = records.map { r in
            guard let pid = r.pid, let start = r.start else { return .other }
            guard let e = ProcessTable.entry(of: pid) else { return .absent }
            guard e.startTime == start else { return .other }
            // A zombie's environment cannot be read; its pid and start time name it.
            if e.state == "Z" || e.state == "X" { return .verified }
            return environment(of: pid, root: rootValue)?.hasRoot == true ? .verified : .other
        }
        let tokens = Dictionary(records.enumerated().map { ($0.element.token, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let me = getpid()
        var out: [(pid: Int32, record: Int)] = []
        processes: for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(name), pid > 1, pid != me, let e = ProcessTable.entry(of: pid),
                  e.state != "Z", e.state != "X" else { continue }
            // The verified agent and its group and session, whatever their environment.
            var inGroupOf: Int?
            for (i, r) in records.enumerated() {
                guard let leader = r.pid else { continue }
                if pid == leader || e.processGroup == leader || e.session == leader {
                    if leaders[i] == .verified {
                        out.append((pid, i))
                        continue processes
                    }
                    if pid != leader && leaders[i] == .absent, let start = r.start, e.startTime >= start { inGroupOf = i }
                }
            }
            guard let (hasRoot, token) = environment(of: pid, root: rootValue), hasRoot else { continue }
            if let token, let i = tokens[token] {
                out.append((pid, i))
            } else if let i = inGroupOf {
                out.append((pid, i))
            }
        }
        return out
    }

    /// Whether a process has SWIFTHA_ROOT=`root` (normalized) in its environment, and its
    /// operation token; nil when the environment cannot be read.
    static func environment(of pid: Int32, root: String) -> (hasRoot: Bool, token: String?)? {
        guard let environ = NodeProcesses.readFile("/proc/\(pid)/environ") else { return nil }
        var hasRoot = false
        var token: String?
        for entry in environ.split(separator: 0) {
            if entry.starts(with: "SWIFTHA_ROOT=".utf8) {
                hasRoot = NodeProcesses.normalized(String(decoding: entry.dropFirst(13), as: UTF8.self)) == root
            } else if entry.starts(with: (variable + "=").utf8) {
                token = String(decoding: entry.dropFirst(variable.utf8.count + 1), as: UTF8.self)
            }
        }
        return (hasRoot, token)
    }
}

/// An operation a previous lrmd of the node was running when it died, ended by this one.
public struct InterruptedOperation: Codable, Sendable, Hashable, CustomStringConvertible {
    public var resource: String
    /// The operation key, e.g. `db_start_0`.
    public var operation: String
    /// Its call id in the previous lrmd.
    public var callID: Int?
    /// The agent's process group (its pid), when it was known.
    public var processGroup: Int32?
    /// The processes that were ended (empty: none was left).
    public var processes: [Int32]
    /// The previous lrmd's pid.
    public var previousLRMD: Int32

    public init(resource: String, operation: String, callID: Int?, processGroup: Int32?, processes: [Int32], previousLRMD: Int32) {
        self.resource = resource
        self.operation = operation
        self.callID = callID
        self.processGroup = processGroup
        self.processes = processes
        self.previousLRMD = previousLRMD
    }

    public var description: String {
        "\(operation) (interrupted: lrmd restarted; " + (processes.isEmpty ? "no process was left" : "processes \(processes.map(String.init).joined(separator: ", ")) ended") + ")"
    }
}

/// Why the journal could not be opened.
public enum JournalError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Another lrmd serves this root.
    case alreadyRunning(String)
    case io(String)

    public var description: String {
        switch self {
        case .alreadyRunning(let s), .io(let s): s
        }
    }
}
