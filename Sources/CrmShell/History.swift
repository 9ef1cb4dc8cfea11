import CIB

/// `crm history`: the transitions the DC ran, as the scheduler inputs it saved
/// (`pe-input-N`, `pe-warn-N`, `pe-error-N`, `.xml` or `.bz2`, under
/// var/lib/pacemaker/pengine). Which file a command means and how it is replayed are decided
/// here; the crm executable reads the directory and runs crm_simulate.
public enum CrmHistory {
    public static let usage = "history {info | log [<node>...] | events | resource <rsc>... | node <node>... | transitions | peinputs [<n>|<n>:<m>...] [v] | transition [<number>|<index>|<file>] [nograph] [v...] [scores] [actions] [utilization] | transition showdot|log|tags [<pe>] | transition save [<pe> [<name>]] | latest | show <pe>|live [status] | diff <pe> <pe> [status] [html] | wdiff <pe> <pe> [status] | graph <pe> [<gtype> [<file> [<img_format>]]] | setnodes <node>... | source [<dir>|live] | refresh [force] | session [{save|load|delete} <name> | pack [<name>] | update | list] | limit [<from> [<to>]] | exclude [<regex>|clear] | detail <0|1>}"

    /// How long back `info` and `log` look on the live cluster: the last hour, crmsh's default.
    public static let livePeriod = 3600

    /// The daemons whose messages `log` shows (their journal identifiers).
    public static let daemons = ["corosyncd", "pacemakerd", "cibd", "stonithd", "lrmd", "crmd"]

    /// The groups, clones (promotable ones too) and primitives of a configuration, each in
    /// document order (primitives inside groups and clones included), as `info` lists them.
    public static func objects(_ cib: CIB) -> (groups: [String], clones: [String], primitives: [String]) {
        var groups: [String] = [], clones: [String] = [], primitives: [String] = []
        cib.root.firstElement(named: "configuration")?.firstElement(named: "resources")?.walk { e in
            guard let id = e.id else { return }
            switch e.name {
            case "group": groups.append(id)
            case "clone", "master": clones.append(id)
            case "primitive": primitives.append(id)
            default: break
            }
        }
        return (groups, clones, primitives)
    }

    /// The transitions line of `info`: the numbers of the last 20 inputs, after "... " when
    /// there are more, as crmsh shortens it; a `*` marks those whose log has events (tags).
    public static func shortList(_ list: [Input], tagged: Set<String> = []) -> String {
        (list.count > 20 ? "... " : "") + list.suffix(20).map { "\($0.number)\(tagged.contains($0.name) || tagged.contains($0.shortName) ? "*" : "")" }.joined(separator: " ")
    }

    /// `info`: crmsh's summary of the source (`Source:`, `Created on:`, `By:`, `Period:`,
    /// `Nodes:`, `Groups:`, `Clones:`, `Resources:`, `Transitions:`), for the live cluster:
    /// the period is the window (`limit`; by default the last hour up to now), the
    /// transitions the inputs the DC saved in it.
    public static func info(cib: CIB, inputs: [Input], now: Int, format: (Int, String) -> String,
                            window: (from: Int, to: Int?)? = nil, tagged: Set<String> = []) -> String {
        let from = window?.from ?? now - livePeriod
        let to = window?.to
        let nodes = cib.root.firstElement(named: "configuration")?.firstElement(named: "nodes")?.elements(named: "node").compactMap { $0["uname"] ?? $0.id } ?? []
        let (groups, clones, primitives) = objects(cib)
        let recent = inputs.filter { input in input.time >= from && to.map { input.time <= $0 } ?? true }
        return [
            "Source: live",
            "Created on: \(format(now, "%a %d %b %H:%M:%S %Z %Y"))",
            "By: crm history",
            "Period: \(format(from, "%F %T")) - \(format(to ?? now, "%F %T"))",
            "Nodes: \(nodes.joined(separator: " "))",
            "Groups: \(groups.joined(separator: " "))",
            "Clones: \(clones.joined(separator: " "))",
            "Resources: \(primitives.joined(separator: " "))",
            "Transitions: \(shortList(recent, tagged: tagged))",
        ].joined(separator: "\n")
    }

    /// `log`'s node words: none (this node) or this node's own name; the logs of other nodes
    /// are on those nodes.
    public static func checkLogNodes(_ words: [String], local: String?) throws(CrmError) {
        for w in words where w != local {
            throw CrmError("history.log: \(w)'s log is on \(w) (this is \(local ?? "an unnamed node")): run crm history log there; usage: log [<node>]")
        }
    }

    /// One saved scheduler input.
    public struct Input: Equatable, Sendable {
        /// input, warn or error (pe-input-, pe-warn-, pe-error-).
        public var series: String
        public var number: Int
        /// The file's name (`pe-input-12.bz2`).
        public var file: String
        /// When it was written (seconds since the epoch), for the order of the list.
        public var time: Int
        /// The node that saved it (the DC then); empty when not known.
        public var node: String
        /// The directory it is in (empty: the file name alone is its path).
        public var directory: String

        public init(series: String, number: Int, file: String, time: Int, node: String = "", directory: String = "") {
            self.series = series
            self.number = number
            self.file = file
            self.time = time
            self.node = node
            self.directory = directory
        }

        /// `pe-input-12`: the name without `.bz2`/`.xml`, as crmsh shows it.
        public var shortName: String { "pe-\(series)-\(number)" }
        /// `node1:pe-input-12`, crmsh's name of the transition (the short name alone when
        /// the node is not known).
        public var name: String { node.isEmpty ? shortName : "\(node):\(shortName)" }
        /// Its path.
        public var path: String { directory.isEmpty ? file : directory + "/" + file }
        public var compressed: Bool { file.hasSuffix(".bz2") }
    }

    /// The input a file name is, or nil when it is not one (`pe-input-12.bz2` is input 12).
    public static func input(named file: String, time: Int = 0) -> Input? {
        for series in ["input", "warn", "error"] {
            let prefix = "pe-\(series)-"
            guard file.hasPrefix(prefix) else { continue }
            var rest = Substring(file.dropFirst(prefix.count))
            for suffix in [".bz2", ".xml"] where rest.hasSuffix(suffix) { rest = rest.dropLast(suffix.count) }
            guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(rest) else { return nil }
            return Input(series: series, number: n, file: file, time: time)
        }
        return nil
    }

    /// The saved inputs among a directory's files (name, modification time), oldest first
    /// (the numbers wrap at pe-input-series-max, so time decides; the number breaks ties).
    public static func inputs(_ files: [(name: String, time: Int)], node: String = "", directory: String = "") -> [Input] {
        files.compactMap { f in
            input(named: f.name, time: f.time).map { i in
                var i = i
                i.node = node
                i.directory = directory
                return i
            }
        }.sorted { ($0.time, $0.number, $0.series) < ($1.time, $1.number, $1.series) }
    }

    /// The inputs of several nodes (each node's, as `inputs` reads them) as one list, oldest
    /// first: each was saved by the node that was DC at the time.
    public static func merged(_ lists: [[Input]]) -> [Input] {
        let nodes = lists.compactMap(\.first?.node)
        return lists.flatMap { $0 }.enumerated().sorted { a, b in
            let (x, y) = (a.element, b.element)
            if x.time != y.time { return x.time < y.time }
            if x.node != y.node { return (nodes.firstIndex(of: x.node) ?? 0) < (nodes.firstIndex(of: y.node) ?? 0) }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// The input a `transition`/`show` argument means, as crmsh reads it: a name (anything
    /// with `pe-` in it, matched as part of the file name), a number N > 0 (pe-*-N), or an
    /// index counted back from the latest (0 is the latest, -1 the one before).
    public static func select(_ spec: String?, from list: [Input]) throws(CrmError) -> Input {
        guard let spec else {
            guard let last = list.last else { throw CrmError("history: no transitions found in the source") }
            return last
        }
        if spec.contains("pe-") {
            // A part of the path (crmsh's form), or the transition's name (node1:pe-input-3).
            var found = list.filter { $0.path.contains(spec) }
            if found.count != 1, let exact = list.first(where: { $0.name == spec || $0.path == spec }) { found = [exact] }
            if found.isEmpty { found = list.filter { $0.name.contains(spec) } }
            if found.isEmpty { throw CrmError("history: \(spec): path not found") }
            if found.count > 1 { throw CrmError("history: \(spec): path ambiguous (\(found.map(label).joined(separator: ", ")))") }
            return found[0]
        }
        guard let n = Int(spec) else {
            throw CrmError("history.transition: unknown keyword \"\(spec)\"; name a transition as <number> (pe-input-<number>), <index> (0 the latest, -1 the one before) or a file name with pe- in it")
        }
        if n > 0 {
            let found = list.filter { $0.number == n }
            if found.isEmpty { throw CrmError("history: PE file \(n) not found (saved: \(summary(list)))") }
            if found.count > 1 {
                let named = Set(found.map(\.node)).count > 1
                throw CrmError("history: PE file \(n) ambiguous (\(found.map(label).joined(separator: ", "))); name the \(named ? "transition as <node>:pe-input-<number>" : "file")")
            }
            return found[0]
        }
        let index = list.count - 1 + n
        guard index >= 0, index < list.count else {
            if list.isEmpty { throw CrmError("history: no transitions found in the source") }
            throw CrmError("history: PE input file for index \(n) not found (there are \(list.count) transitions: 0 to \(1 - list.count))")
        }
        return list[index]
    }

    /// An input as errors name it: its file, with its node when the list spans nodes.
    static func label(_ input: Input) -> String { input.node.isEmpty ? input.file : "\(input.node):\(input.file)" }

    static func summary(_ list: [Input]) -> String {
        guard let first = list.first, let last = list.last else { return "none" }
        return list.count == 1 ? first.name : "\(list.count), \(first.name) to \(last.name)"
    }

    /// `peinputs` arguments: numbers and `a:b` ranges select by number; nil selects all.
    public static func ranges(_ words: [String]) throws(CrmError) -> [ClosedRange<Int>]? {
        guard !words.isEmpty else { return nil }
        var out: [ClosedRange<Int>] = []
        for w in words {
            let parts = w.split(separator: ":", omittingEmptySubsequences: false)
            let ints = parts.compactMap { Int($0) }
            guard ints.count == parts.count, (1...2).contains(ints.count) else {
                throw CrmError("history.peinputs: unknown keyword \"\(w)\"; usage: peinputs [<number>|<from>:<to>...] [v]")
            }
            let (a, b) = (ints[0], ints.count == 2 ? ints[1] : ints[0])
            guard a <= b else { throw CrmError("history.peinputs: \(w): invalid peinputs range (the first number must not be above the second)") }
            out.append(a...b)
        }
        return out
    }

    /// How `transition` replays an input: crm_simulate's arguments (after `-x FILE`), and
    /// whether only the transition summary is wanted (`actions`).
    public struct Replay: Equatable, Sendable {
        public var arguments: [String]
        public var actionsOnly: Bool
        /// The words that were not replay options (the input's name, if any).
        public var rest: [String]

        public init(arguments: [String], actionsOnly: Bool, rest: [String]) {
            self.arguments = arguments
            self.actionsOnly = actionsOnly
            self.rest = rest
        }
    }

    public static func replay(_ words: [String]) throws(CrmError) -> Replay {
        var scores = false, utilization = false, actions = false
        var rest: [String] = []
        for w in words {
            switch w {
            case "nograph": break  // no graph viewer is run
            case "scores": scores = true
            case "utilization": utilization = true
            case "actions": actions = true
            default:
                if !w.isEmpty && w.allSatisfy({ $0 == "v" }) { break }  // verbosity: crm_simulate's own output is shown
                rest.append(w)
            }
        }
        if rest.count > 1 {
            throw CrmError("history.transition: unknown keyword \"\(rest[1])\"; usage: transition [<number>|<index>|<file>] [nograph] [v...] [scores] [actions] [utilization]")
        }
        var args = ["-S"]
        if scores { args.append("-s") }
        if utilization {
            throw CrmError("history.transition: utilization: crm_simulate's utilization display (-U) is not available in this build yet; leave out utilization")
        }
        return Replay(arguments: args, actionsOnly: actions, rest: rest)
    }

    /// The `Transition Summary:` section of crm_simulate's output (what `actions` shows).
    public static func actions(in output: String) -> String {
        var out: [Substring] = []
        var inside = false
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Transition Summary:") { inside = true; continue }
            if inside {
                if !line.hasPrefix(" ") && !line.isEmpty { break }
                if !line.isEmpty { out.append(line) }
            }
        }
        return out.joined(separator: "\n")
    }
}

/// Writing a change to a CIB that moved on while crm held its copy.
public enum CrmRebase {
    /// The patch from `original` to `changed`, made again for `current` (the cluster's copy
    /// now): allowed only when the configuration is as crm read it (the cluster writes
    /// operation results to the status all the time), so that no one's configuration change
    /// is overwritten. The patch has no digest (the status it lands on differs).
    public static func patch(from original: CIB, to changed: CIB, onto current: CIB) throws(CrmError) -> CIBPatch {
        do {
            return try CIBPatch.rebased(from: original, to: changed, onto: current)
        } catch {
            throw CrmError("the cluster's configuration changed since crm read it (now version \(current.version)); nothing was written; look at it again (configure refresh, or run the command again)")
        }
    }
}
