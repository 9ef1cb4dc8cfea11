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

/// A daemon's record, under the node root, of every agent process it is running, so that the
/// daemon started after one that was killed (SIGKILL, a crash) can end what that one left
/// running. lrmd records its resource agents under `<root>/run/lrmd`, stonithd its fence
/// agents under `<root>/run/stonithd` (`Owner`); each reads and ends only its own records.
///
/// Without it, an agent that hangs in a start, or a long monitor, outlives a killed lrmd with
/// nobody to time it out, and the new lrmd does not know it exists; a fence agent outlives a
/// killed stonithd and may still power a node off after the request it served was failed and
/// handed to another node.
///
/// - One daemon of a kind per root holds `<root>/run/<daemon>/<daemon>.lock` (flock) for its
///   lifetime; the kernel drops the lock when it dies however it dies, and only the holder
///   reads or ends records.
/// - Before an agent is launched, a record `<root>/run/<daemon>/operations/<token>` is
///   written: the resource, the operation, the call id, this boot's id and this daemon's pid
///   and start time. Once the agent runs, its pid (also its process group and session: agents
///   run in a session of their own) and its start time (field 22 of /proc/PID/stat) are
///   added. The record is removed when the agent has been reaped (and, after a timeout, its
///   group killed).
/// - The agent gets `<owner's variable>=<token>` in its environment (`SWIFTHA_LRMD_OPERATION`,
///   `SWIFTHA_STONITHD_OPERATION`), which its children inherit, also those that leave its
///   process group (setsid, double fork) or start before the pid reaches the record.
///
/// `endInterrupted` (in the new daemon, before it serves anyone) ends the processes of each
/// record left over: those carrying the record's token, and the recorded agent and the members
/// of its group and session. A process is only ever signalled when it has SWIFTHA_ROOT=<root>
/// in its environment and either the record's token, or is the recorded pid with the recorded
/// start time, or (its leader gone) is a member of that group started no earlier than the
/// agent: a pid reused by an unrelated process is left alone. Records of another boot are
/// dropped. The end is the one a timeout gives: SIGTERM (and SIGCONT), SIGKILL after the grace.
///
/// Not durable across a power cut (no fsync): none of the processes survive one either.
public final class OperationJournal: Sendable {
    /// Which daemon's agents a journal records: its directory under `<root>/run` (and lock
    /// file name), and the environment variable that carries a token to its agents.
    public struct Owner: Sendable, Hashable {
        /// `lrmd`, `stonithd`: the directory `<root>/run/<daemon>` and the name in messages.
        public var daemon: String
        /// The environment variable that carries an operation's token to its processes.
        public var variable: String

        public init(daemon: String, variable: String) {
            self.daemon = daemon
            self.variable = variable
        }

        /// lrmd's resource agents: `<root>/run/lrmd`, `SWIFTHA_LRMD_OPERATION`.
        public static let lrmd = Owner(daemon: "lrmd", variable: "SWIFTHA_LRMD_OPERATION")
        /// stonithd's fence agents: `<root>/run/stonithd`, `SWIFTHA_STONITHD_OPERATION`.
        public static let stonithd = Owner(daemon: "stonithd", variable: "SWIFTHA_STONITHD_OPERATION")
    }

    /// The environment variable that carries lrmd's operation tokens (`Owner.lrmd.variable`).
    public static let variable = Owner.lrmd.variable

    /// Whose agents this journal records.
    public let owner: Owner
    /// The environment variable that carries this journal's tokens to its agents.
    public var variable: String { owner.variable }
    /// The node root whose agents are recorded.
    public let root: String
    /// `<root>/run/<daemon>`.
    public let directory: String
    /// `<root>/run/<daemon>/operations`, one file per running agent process.
    public var operationsDirectory: String { directory + "/operations" }
    /// `<root>/run/<daemon>/<daemon>.lock`.
    public var lockPath: String { directory + "/\(owner.daemon).lock" }

    private let lockDescriptor: Int32
    private let boot: String
    private let me: (pid: Int32, start: UInt64)
    private let sequence = Atomic<UInt64>(0)

    /// `<root>/run/<daemon>` (`/run/<daemon>` for the root `/`).
    public static func directory(root: String, owner: Owner) -> String {
        NodeProcesses.normalized(root) == "/" ? "/run/\(owner.daemon)" : NodeProcesses.normalized(root) + "/run/\(owner.daemon)"
    }

    /// Takes the node's lock for `owner` and makes the directories. Throws `.alreadyRunning`
    /// when another daemon of that kind holds the lock.
    public static func open(root: String, owner: Owner = .lrmd) throws(JournalError) -> OperationJournal {
        let directory = directory(root: root, owner: owner)
        for dir in [directory, directory + "/operations"] {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw .io("cannot create \(dir): \(failureReason(error)); check the node root (--root / SWIFTHA_ROOT) and its permissions")
            }
        }
        let lockPath = directory + "/\(owner.daemon).lock"
        let fd = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let why = errno
            let holder = NodeProcesses.readFile(lockPath).map { String(decoding: $0, as: UTF8.self).trimmingWhitespace() } ?? ""
            close(fd)
            if why == EWOULDBLOCK {
                throw .alreadyRunning("another \(owner.daemon)\(holder.isEmpty ? "" : " (pid \(holder))") is already serving the node root \(root) (it holds \(lockPath)): stop it first (only one \(owner.daemon) may run per node root)")
            }
            throw .io("cannot lock \(lockPath): \(String(cString: strerror(why)))")
        }
        let pid = getpid()
        let text = Array("\(pid)\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, text, text.count, 0)
        return OperationJournal(owner: owner, root: root, directory: directory, lockDescriptor: fd,
                                me: (pid, ProcessTable.entry(of: pid)?.startTime ?? 0))
    }

    private init(owner: Owner, root: String, directory: String, lockDescriptor: Int32, me: (pid: Int32, start: UInt64)) {
        self.owner = owner
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
    /// `target`: the node a fence agent acts on, when it is one.
    public func begin(resource: String, operation: String, callID: Int?, target: String? = nil) -> Entry? {
        let n = sequence.add(1, ordering: .relaxed).newValue
        let token = "\(me.pid).\(me.start).\(n)"
        let record = Record(token: token, resource: resource, operation: operation, callID: callID, boot: boot,
                            daemon: me.pid, daemonStart: me.start, target: target.flatMap { $0.contains("\n") ? nil : $0 })
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
        /// The value of the owner's variable (`SWIFTHA_LRMD_OPERATION`...) for the agent.
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
        /// The daemon that wrote it: pid and start time.
        public var daemon: Int32
        public var daemonStart: UInt64
        /// The agent process, once it was launched: pid and start time.
        public var pid: Int32?
        public var start: UInt64?
        /// The node a fence agent acts on.
        public var target: String?

        public init(token: String, resource: String, operation: String, callID: Int?, boot: String,
                    daemon: Int32, daemonStart: UInt64, target: String? = nil, pid: Int32? = nil, start: UInt64? = nil) {
            self.target = target
            self.token = token
            self.resource = resource
            self.operation = operation
            self.callID = callID
            self.boot = boot
            self.daemon = daemon
            self.daemonStart = daemonStart
            self.pid = pid
            self.start = start
        }

        /// The file's text.
        public var text: String {
            var s = "token=\(token)\nresource=\(resource)\noperation=\(operation)\n"
            if let callID { s += "call=\(callID)\n" }
            s += "boot=\(boot)\ndaemon=\(daemon)\ndaemon-start=\(daemonStart)\n"
            if let target { s += "target=\(target)\n" }
            if let pid { s += "pid=\(pid)\n" }
            if let start { s += "start=\(start)\n" }
            return s
        }

        /// Reads a record; nil when a required line is missing or malformed. An unfinished
        /// last line (the daemon killed while writing it) is ignored. `lrmd=` and
        /// `lrmd-start=` (what lrmd wrote before stonithd kept records too) read as the daemon's.
        public init?(parsing text: String) {
            var values: [String: String] = [:]
            let complete = text.hasSuffix("\n") ? text[...] : text[..<(text.lastIndex(of: "\n") ?? text.startIndex)]
            for line in complete.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { return nil }
                values[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            guard let token = values["token"], !token.isEmpty, !token.contains("/"),
                  let resource = values["resource"], let operation = values["operation"], let boot = values["boot"],
                  let daemon = (values["daemon"] ?? values["lrmd"]).flatMap({ Int32($0) }),
                  let daemonStart = (values["daemon-start"] ?? values["lrmd-start"]).flatMap({ UInt64($0) })
            else { return nil }
            let pid = values["pid"].flatMap { Int32($0) }
            if values["pid"] != nil && (pid ?? 0) <= 1 { return nil }
            self.init(token: token, resource: resource, operation: operation, callID: values["call"].flatMap { Int($0) },
                      boot: boot, daemon: daemon, daemonStart: daemonStart, target: values["target"], pid: pid, start: values["start"].flatMap { UInt64($0) })
        }
    }

    // MARK: After a restart

    /// Ends the agent processes a previous daemon of this kind and root left running (see the type's
    /// description), logs each, removes their records and returns what was ended. Call it
    /// once, before serving clients.
    public func endInterrupted(grace: Duration, logger: Logger) async -> [InterruptedOperation] {
        let d = owner.daemon
        var records: [(file: String, record: Record)] = []
        let dir = operationsDirectory
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
            let file = dir + "/" + name
            guard let bytes = NodeProcesses.readFile(file) else { continue }
            guard let record = Record(parsing: String(decoding: bytes, as: UTF8.self)) else {
                logger.warning("removing \(file): it is not an operation record \(d) wrote (unreadable or incomplete)")
                unlink(file)
                continue
            }
            if record.boot != boot {
                logger.debug("removing \(file): written in an earlier boot")
                unlink(file)
                continue
            }
            if record.daemon == me.pid && record.daemonStart == me.start { continue }
            if let e = ProcessTable.entry(of: record.daemon), e.startTime == record.daemonStart, e.state != "Z", e.state != "X" {
                // Cannot happen while the lock is held; never touch a live daemon's agents.
                logger.warning("keeping \(file): the \(d) that wrote it (pid \(record.daemon)) still runs")
                continue
            }
            records.append((file, record))
        }
        guard !records.isEmpty else { return [] }
        let clock = ContinuousClock()
        let rs = records.map(\.record)
        var found = Self.processes(of: rs, root: root, variable: variable)
        var ended: [InterruptedOperation] = []
        for (i, (_, r)) in records.enumerated() {
            let pids = found.filter { $0.record == i }.map(\.pid).sorted()
            let what = "\(r.operation) of \(r.resource)\(r.target.map { " against \($0)" } ?? "")\(r.callID.map { " (call \($0))" } ?? "")"
            if pids.isEmpty {
                if let pid = r.pid, let e = ProcessTable.entry(of: pid), e.startTime != r.start || r.start == nil {
                    logger.notice("the previous \(d) (pid \(r.daemon)) was running \(what); process \(pid) is now another process, not its agent: left alone")
                } else {
                    logger.notice("the previous \(d) (pid \(r.daemon)) was running \(what); its agent\(r.pid.map { " (pid \($0))" } ?? "") is gone already")
                }
            } else {
                logger.warning("the previous \(d) (pid \(r.daemon)) was killed while running \(what): ending its agent\(r.pid.map { " (pid \($0), process group \($0))" } ?? ""): SIGTERM to pid \(pids.map(String.init).joined(separator: ", "))",
                               metadata: ["resource": "\(r.resource)", "operation": "\(r.operation)"])
            }
            ended.append(InterruptedOperation(resource: r.resource, operation: r.operation, callID: r.callID,
                                              processGroup: r.pid, processes: pids, previousDaemon: r.daemon, daemon: d, target: r.target))
        }
        for p in found {
            kill(p.pid, SIGTERM)
            kill(p.pid, SIGCONT)
        }
        let deadline = clock.now + grace
        while !found.isEmpty && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
            found = Self.processes(of: rs, root: root, variable: variable)
        }
        var rounds = 0
        var told = Set<Int32>()
        while !found.isEmpty && rounds < 250 {
            for p in found {
                if told.insert(p.pid).inserted {
                    logger.warning("process \(p.pid) of \(rs[p.record].operation) (left by the previous \(d)) outlived SIGTERM: SIGKILL",
                                   metadata: ["resource": "\(rs[p.record].resource)", "operation": "\(rs[p.record].operation)"])
                }
                kill(p.pid, SIGKILL)
            }
            try? await Task.sleep(for: .milliseconds(20))
            found = Self.processes(of: rs, root: root, variable: variable)
            rounds += 1
        }
        for p in found {
            logger.error("process \(p.pid) of \(rs[p.record].operation) (left by the previous \(d)) could not be killed")
        }
        for (i, r) in rs.enumerated() where !ended[i].processes.isEmpty {
            logger.notice("ended \(r.operation) of \(r.resource): the previous \(d)'s agent processes \(ended[i].processes.map(String.init).joined(separator: ", ")) are gone; the operation counts as failed (interrupted: \(d) restarted)",
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
    static func processes(of records: [Record], root: String, variable: String) -> [(pid: Int32, record: Int)] {
        enum Leader { case verified, absent, other }
        let rootValue = NodeProcesses.normalized(root)
        let leaders: [Leader] = records.map { r in
            guard let pid = r.pid, let start = r.start else { return .other }
            guard let e = ProcessTable.entry(of: pid) else { return .absent }
            guard e.startTime == start else { return .other }
            // A zombie's environment cannot be read; its pid and start time name it.
            if e.state == "Z" || e.state == "X" { return .verified }
            return environment(of: pid, root: rootValue, variable: variable)?.hasRoot == true ? .verified : .other
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
            guard let (hasRoot, token) = environment(of: pid, root: rootValue, variable: variable), hasRoot else { continue }
            if let token, let i = tokens[token] {
                out.append((pid, i))
            } else if let i = inGroupOf {
                out.append((pid, i))
            }
        }
        return out
    }

    /// Whether a process has SWIFTHA_ROOT=`root` (normalized) in its environment, and its
    /// operation token (the value of `variable`); nil when the environment cannot be read.
    static func environment(of pid: Int32, root: String, variable: String) -> (hasRoot: Bool, token: String?)? {
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

/// An operation a previous daemon of the node (lrmd, stonithd) was running when it died,
/// ended by its successor.
public struct InterruptedOperation: Codable, Sendable, Hashable, CustomStringConvertible {
    public var resource: String
    /// The operation key, e.g. `db_start_0`.
    public var operation: String
    /// Its call id in the previous daemon.
    public var callID: Int?
    /// The agent's process group (its pid), when it was known.
    public var processGroup: Int32?
    /// The processes that were ended (empty: none was left).
    public var processes: [Int32]
    /// The previous daemon's pid.
    public var previousDaemon: Int32
    /// Which daemon it was (`lrmd`, `stonithd`).
    public var daemon: String
    /// The node a fence agent acted on.
    public var target: String?

    /// The previous lrmd's pid (`previousDaemon`).
    public var previousLRMD: Int32 { previousDaemon }

    public init(resource: String, operation: String, callID: Int?, processGroup: Int32?, processes: [Int32],
                previousDaemon: Int32, daemon: String = OperationJournal.Owner.lrmd.daemon, target: String? = nil) {
        self.target = target
        self.resource = resource
        self.operation = operation
        self.callID = callID
        self.processGroup = processGroup
        self.processes = processes
        self.previousDaemon = previousDaemon
        self.daemon = daemon
    }

    // The keys lrmd's API has carried since before stonithd kept records (`previousLRMD`);
    // `daemon` is absent from an older lrmd's answer (it was lrmd).
    enum CodingKeys: String, CodingKey {
        case resource, operation, callID, processGroup, processes
        case previousDaemon = "previousLRMD"
        case daemon, target
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        resource = try c.decode(String.self, forKey: .resource)
        operation = try c.decode(String.self, forKey: .operation)
        callID = try c.decodeIfPresent(Int.self, forKey: .callID)
        processGroup = try c.decodeIfPresent(Int32.self, forKey: .processGroup)
        processes = try c.decode([Int32].self, forKey: .processes)
        previousDaemon = try c.decode(Int32.self, forKey: .previousDaemon)
        daemon = try c.decodeIfPresent(String.self, forKey: .daemon) ?? OperationJournal.Owner.lrmd.daemon
        target = try c.decodeIfPresent(String.self, forKey: .target)
    }

    public var description: String {
        "\(operation) (interrupted: \(daemon) restarted; " + (processes.isEmpty ? "no process was left" : "processes \(processes.map(String.init).joined(separator: ", ")) ended") + ")"
    }
}

/// Why the journal could not be opened.
public enum JournalError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Another daemon of the same kind serves this root.
    case alreadyRunning(String)
    case io(String)

    public var description: String {
        switch self {
        case .alreadyRunning(let s), .io(let s): s
        }
    }
}
