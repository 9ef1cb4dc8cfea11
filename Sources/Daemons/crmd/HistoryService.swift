import Agents
import Controller
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HASupport
import LocalIPC
import Logging
import Messaging

#if canImport(Glibc)
import Glibc
#endif

/// crmd's part of `crm history` on a cluster (see `HistoryExchange` in Controller): it serves
/// the node's tools on `<root>/run/swiftha/crmd.sock` (credentials checked as every daemon's
/// socket), answers other nodes' queries in CPG group "crmd-history" with this node's log
/// lines and saved inputs, and gathers the answers to its own tool's query.
actor HistoryService {
    let env: NodeEnvironment
    let localName: String
    let names: [UInt32: String]
    let group: CPGHandle
    let logger: Logger
    /// The members of the group (node names), as last told.
    var members: [String] = []
    var gatherings: [String: (core: HistoryGathering, reply: CheckedContinuation<HistoryCollection, Never>)] = [:]
    var counter = 0

    init(env: NodeEnvironment, localName: String, names: [UInt32: String], group: CPGHandle, logger: Logger) {
        self.env = env
        self.localName = localName
        self.names = names
        self.group = group
        self.logger = logger
    }

    func name(_ id: UInt32) -> String { names[id] ?? "node \(id)" }

    /// The group's events, until the connection ends.
    func run() async {
        for await event in group.events {
            switch event {
            case .configurationChange(let ms, _, let left):
                var seen = Set<String>()
                members = ms.map { name($0.nodeID) }.filter { seen.insert($0).inserted }
                for l in left where !members.contains(name(l.member.nodeID)) {
                    for id in Array(gatherings.keys) {
                        guard var g = gatherings[id] else { continue }
                        let ds = g.core.onLeft(name(l.member.nodeID))
                        gatherings[id]?.core = g.core
                        await perform(id, ds)
                    }
                }
            case .message(_, let payload):
                guard let m = try? HistoryMessage.decode(payload) else {
                    logger.warning("dropped a message in CPG group '\(HistoryMessage.group)' that is not a history message")
                    continue
                }
                switch m {
                case .query(let q):
                    await answer(q)
                case .part(let id, let node, let index, let count, let bytes):
                    guard var g = gatherings[id] else { continue }
                    let ds = g.core.onPart(id: id, node: node, index: index, count: count, bytes: bytes)
                    gatherings[id]?.core = g.core
                    await perform(id, ds)
                }
            }
        }
        // The connection ended: every gathering ends with what it has.
        for id in Array(gatherings.keys) {
            guard var g = gatherings[id] else { continue }
            let ds = g.core.onTimeout()
            gatherings[id]?.core = g.core
            await perform(id, ds)
        }
    }

    /// A tool's query: asked of every member, answered with what came in time.
    func ask(_ query: HistoryQuery, nodes: [String]) async -> HistoryCollection {
        counter += 1
        var q = query
        q.id = "\(localName)-\(getpid())-\(counter)"
        q.origin = localName
        q.maxBytes = min(max(q.maxBytes, 64 * 1024), HistoryQuery.largestMaxBytes)
        q.timeoutMS = min(max(q.timeoutMS, 100), 120_000)
        let id = q.id
        let all = nodes.isEmpty ? members : nodes
        return await withCheckedContinuation { (c: CheckedContinuation<HistoryCollection, Never>) in
            var core = HistoryGathering(query: q, members: members, nodes: all)
            let ds = core.start()
            gatherings[id] = (core, c)
            Task { await self.perform(id, ds) }
        }
    }

    func perform(_ id: String, _ directives: [HistoryGathering.Directive]) async {
        for d in directives {
            switch d {
            case .multicast(let m):
                do { try await group.multicast(m.encoded()) } catch {
                    logger.error("cannot multicast the history query to CPG group '\(HistoryMessage.group)': \(error)")
                    guard var g = gatherings[id] else { return }
                    let ds = g.core.onTimeout()
                    gatherings[id]?.core = g.core
                    await perform(id, ds)
                    return
                }
            case .arm(let after):
                Task {
                    try? await Task.sleep(for: after)
                    await self.timeout(id)
                }
            case .finish(let collection):
                guard let g = gatherings.removeValue(forKey: id) else { continue }
                if !collection.silent.isEmpty {
                    logger.warning("history query \(id): no answer from \(collection.silent.joined(separator: ", ")) within \(g.core.query.timeoutMS) ms")
                }
                g.reply.resume(returning: collection)
            }
        }
    }

    func timeout(_ id: String) async {
        guard var g = gatherings[id] else { return }
        let ds = g.core.onTimeout()
        gatherings[id]?.core = g.core
        await perform(id, ds)
    }

    /// This node's answer to a query: its log lines of the window and its saved inputs.
    func answer(_ q: HistoryQuery) async {
        let bundle = await Self.collect(env: env, node: localName, query: q)
        for part in HistoryAnswer.parts(of: bundle, id: q.id) {
            do { try await group.multicast(part.encoded()) } catch {
                logger.error("cannot multicast the history answer to \(q.origin): \(error)")
                return
            }
        }
        logger.info("history query \(q.id) from \(q.origin): answered with \(bundle.files.filter { $0.data != nil }.count) input(s) and \(bundle.log?.utf8.count ?? 0) bytes of log")
    }

    /// The log file the stack writes under the node root (crm cluster start has it written).
    static func logFile(_ env: NodeEnvironment) -> String { env.path("var/log/pacemaker/pacemaker.log") }

    static func collect(env: NodeEnvironment, node: String, query q: HistoryQuery) async -> HistoryBundle {
        var notes: [String] = []
        let logBudget = q.maxBytes / 4
        var log: String?
        var source = ""
        let file = logFile(env)
        if let text = tail(file, bytes: 64 * 1024 * 1024) {
            let (lines, cut) = HistoryAnswer.window(text, from: q.from, to: q.to, maxBytes: logBudget)
            log = lines
            source = file
            if cut { notes.append("its log is cut to the newest \(logBudget / 1024) KiB of the window (narrow it with limit <from> <to>)") }
        } else if env.root == "/", let journal = await journal(from: q.from, to: q.to) {
            let (lines, cut) = HistoryAnswer.window(journal, from: q.from, to: q.to, maxBytes: logBudget)
            log = lines
            source = "the journal"
            if cut { notes.append("its log is cut to the newest \(logBudget / 1024) KiB of the window (narrow it with limit <from> <to>)") }
        } else {
            source = file
        }
        let pe = env.path("var/lib/pacemaker/pengine")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: pe)) ?? []
        let list: [(name: String, time: Int)] = names.filter { $0.hasPrefix("pe-") }.compactMap { name in
            var st = stat()
            guard stat(pe + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
            return (name, Int(st.st_mtim.tv_sec))
        }
        let budget = max(0, q.maxBytes - (log?.utf8.count ?? 0))
        let (files, left) = HistoryAnswer.files(list, from: q.from, to: q.to, known: q.known[node] ?? [:], budget: budget) { name in
            FileManager.default.contents(atPath: pe + "/" + name)
        }
        if left > 0 { notes.append("\(left) older input(s) of the window left out for the size bound (narrow the window with limit <from> <to>)") }
        return HistoryBundle(node: node, log: log, logSource: source, files: files, notes: notes)
    }

    /// The last `bytes` of a file (from a line's start), or nil when it cannot be read.
    static func tail(_ path: String, bytes: Int) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let size = Int(st.st_size)
        let start = max(0, size - bytes)
        guard lseek(fd, off_t(start), SEEK_SET) >= 0 else { return nil }
        var data = [UInt8](repeating: 0, count: size - start)
        var got = 0
        while got < data.count {
            let n = data.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
            if n <= 0 { break }
            got += n
        }
        var text = String(decoding: data.prefix(got), as: UTF8.self)
        if start > 0, let nl = text.firstIndex(of: "\n") { text = String(text[text.index(after: nl)...]) }
        return text
    }

    /// The daemons' journal entries of the window (journalctl's short-iso-precise lines),
    /// on a normal installation; nil without journalctl.
    static func journal(from: Double, to: Double?) async -> String? {
        let paths: [String] = ["/usr/bin/journalctl", "/bin/journalctl"]
        guard let journalctl = paths.first(where: { p in access(p, X_OK) == 0 }) else { return nil }
        var args = ["--no-pager", "-q", "-o", "short-iso-precise", "--since", "@\(Int(from))"]
        if let to { args += ["--until", "@\(Int(to) + 1)"] }
        for d in ["corosyncd", "pacemakerd", "cibd", "stonithd", "lrmd", "crmd"] { args += ["-t", d] }
        let request = ProcessRequest(executable: journalctl, arguments: args, timeout: .seconds(20), outputLimit: 64 * 1024 * 1024)
        guard let outcome = try? await ProcessRunner.run(request), case .exited(0) = outcome.termination else { return nil }
        return outcome.standardOutput
    }
}
