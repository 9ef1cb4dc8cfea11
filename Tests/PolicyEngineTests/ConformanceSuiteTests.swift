import CIB
import Foundation
import PolicyEngine
import Testing
import TestSupport

/// Pacemaker's scheduler regression suite (../shared/conformance/pacemaker-scheduler), compared
/// the way the suite compares: whitespace-insensitive, blank lines ignored. Prints one table of
/// matches per topic, and fails when a case on the ratchet (Tests/PolicyEngineTests/ratchet.txt)
/// stops matching, so the counts only go up. `make ratchet` rewrites the ratchet.
@Suite struct ConformanceSuiteTests {
    static var suiteDirectory: String? { SharedData.schedulerSuite }

    static let ratchetPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("ratchet.txt").path

    @Test func schedulerSuite() throws {
        guard let dir = Self.suiteDirectory else {
            print("SKIPPED: ../shared/conformance/pacemaker-scheduler is not present (set SWIFTHA_SHARED)")
            return
        }
        let index = try String(contentsOfFile: dir + "/INDEX.tsv", encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        let extra = Self.extraArgs(dir)
        var results: [SuiteCaseResult] = []
        for row in index where row.count >= 2 {
            let name = row[0]
            let topic = row[1]
            guard let input = FileManager.default.contents(atPath: "\(dir)/xml/\(name).xml"),
                  let expected = try? String(contentsOfFile: "\(dir)/summary/\(name).summary", encoding: .utf8) else { continue }
            var result = SuiteCaseResult(name: name, topic: topic)
            if let cib = try? CIB.parse(input, source: name) {
                let dateText = extra[name].flatMap(Self.dateText)
                // Without -t or an execution-date, crm_simulate decides at the current time: the
                // expected outputs were made on 2026-07-01 (README of the suite's copy).
                let now = dateText.flatMap(ISO8601Time.parse) ?? SchedulerInput.executionDate(of: cib) ?? Self.suiteMadeAt
                let input = SchedulerInput(cib: cib, now: now, effectiveTimeText: dateText)
                let (ws, transition) = Simulator.schedule(input, scores: true)
                let ours = Simulator.summaryText(input, ws, transition)
                result.compare(ours: ours, expected: expected)
                if let expectedScores = try? String(contentsOfFile: "\(dir)/scores/\(name).scores", encoding: .utf8) {
                    let mine = ScoreLines(transition.scores.map(\.text))
                    let theirs = ScoreLines(expectedScores.split(separator: "\n").map(String.init))
                    result.scores = mine == theirs
                    if ProcessInfo.processInfo.environment["SUITE_SHOW"] == "scores", !result.scores,
                       ProcessInfo.processInfo.environment["SUITE_CASE"].map({ name.hasPrefix($0) }) ?? true {
                        print("=== \(name) [\(topic)]\n" + mine.difference(from: theirs))
                    }
                }
                if let exp = try? String(contentsOfFile: "\(dir)/exp/\(name).exp", encoding: .utf8),
                   let expected = try? GraphShape(XElement.parse(exp)) {
                    let mine = GraphShape(transition.graph.xml())
                    result.graph = mine == expected
                    if ProcessInfo.processInfo.environment["SUITE_SHOW"] == "graph", !result.graph,
                       ProcessInfo.processInfo.environment["SUITE_CASE"].map({ name.hasPrefix($0) }) ?? true {
                        print("=== \(name) [\(topic)]\n" + mine.difference(from: expected))
                    }
                }
                if let show = ProcessInfo.processInfo.environment["SUITE_SHOW"], !result.passedMetrics.contains(show),
                   ProcessInfo.processInfo.environment["SUITE_CASE"].map({ name.hasPrefix($0) }) ?? true {
                    // A developer aid: the first differing section of each failing case.
                    print("=== \(name) [\(topic)]\n--- ours\n\(ours)--- expected\n\(expected)")
                }
            }
            results.append(result)
        }
        let table = SuiteCaseResult.table(results)
        print(table)
        let passing = Set(results.flatMap { r in r.passedMetrics.map { "\($0) \(r.name)" } })
        if ProcessInfo.processInfo.environment["UPDATE_RATCHET"] == "1" {
            try (passing.sorted().joined(separator: "\n") + "\n").write(toFile: Self.ratchetPath, atomically: true, encoding: .utf8)
            print("ratchet rewritten: \(passing.count) entries")
            return
        }
        let ratchet = (try? String(contentsOfFile: Self.ratchetPath, encoding: .utf8))?
            .split(separator: "\n").map(String.init).filter { !$0.isEmpty } ?? []
        let lost = ratchet.filter { !passing.contains($0) }
        #expect(lost.isEmpty, "cases that matched before and no longer do:\n\(lost.prefix(30).joined(separator: "\n"))")
        let gained = passing.subtracting(ratchet)
        if !gained.isEmpty { print("\(gained.count) new matches not yet on the ratchet: run `make ratchet` to record them") }
    }

    /// When the suite's expected files were produced (2026-07-01T00:00:00Z).
    static let suiteMadeAt = 1_782_864_000

    static func extraArgs(_ dir: String) -> [String: [String]] {
        guard let text = try? String(contentsOfFile: dir + "/EXTRA_ARGS.tsv", encoding: .utf8) else { return [:] }
        var out: [String: [String]] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t").map(String.init)
            if f.count >= 2 { out[f[0]] = Array(f.dropFirst()) }
        }
        return out
    }

    /// The `-t DATE` of a case's extra arguments.
    static func dateText(_ args: [String]) -> String? {
        guard let i = args.firstIndex(of: "-t"), i + 1 < args.count else { return nil }
        return args[i + 1]
    }
}

/// One case's comparison.
struct SuiteCaseResult {
    var name: String
    var topic: String
    var transitionSummary = false
    var currentStatus = false
    var wholeSummary = false
    /// The Executing Cluster Transition section: the simulated actions in order.
    var executing = false
    /// The -G graph has the same actions on the same nodes and the same ordering edges as
    /// exp/NAME.exp, up to action numbering (attributes are not compared yet).
    var graph = false
    /// The -sSQ scores equal scores/NAME.scores as the suite compares them (sorted,
    /// whitespace-insensitive).
    var scores = false

    var passedMetrics: [String] {
        var m: [String] = []
        if currentStatus { m.append("status") }
        if transitionSummary { m.append("transition") }
        if executing { m.append("executing") }
        if graph { m.append("graph") }
        if scores { m.append("scores") }
        if wholeSummary { m.append("summary") }
        return m
    }

    mutating func compare(ours: String, expected: String) {
        let a = SummarySections(ours)
        let b = SummarySections(expected)
        currentStatus = a.section("Current cluster status:") == b.section("Current cluster status:")
        transitionSummary = a.section("Transition Summary:") == b.section("Transition Summary:")
        executing = a.section("Executing Cluster Transition:") == b.section("Executing Cluster Transition:")
        wholeSummary = a.all == b.all
    }

    static func table(_ results: [SuiteCaseResult]) -> String {
        var byTopic: [String: [SuiteCaseResult]] = [:]
        for r in results { byTopic[r.topic, default: []].append(r) }
        func row(_ name: String, _ rs: [SuiteCaseResult]) -> String {
            let n = rs.count
            let c = rs.filter(\.currentStatus).count
            let t = rs.filter(\.transitionSummary).count
            let e = rs.filter(\.executing).count
            let w = rs.filter(\.wholeSummary).count
            let g = rs.filter(\.graph).count
            let s = rs.filter(\.scores).count
            return name.padding(toLength: 44, withPad: " ", startingAt: 0)
                + String(format: "%5d %8d %11d %10d %9d %7d %7d", n, c, t, e, w, g, s)
        }
        var lines = ["scheduler suite: cases matching, by topic (status = Current cluster status section)",
                     "topic".padding(toLength: 44, withPad: " ", startingAt: 0) + "cases   status  transition  executing   summary   graph  scores"]
        for topic in byTopic.keys.sorted() { lines.append(row(topic, byTopic[topic]!)) }
        lines.append(row("TOTAL", results))
        let total = max(1, results.count)
        lines.append(String(format: "transition summary %.1f%%, whole summary %.1f%%, graph (actions and edges) %.1f%%, scores %.1f%%",
                            100.0 * Double(results.filter(\.transitionSummary).count) / Double(total),
                            100.0 * Double(results.filter(\.wholeSummary).count) / Double(total),
                            100.0 * Double(results.filter(\.graph).count) / Double(total),
                            100.0 * Double(results.filter(\.scores).count) / Double(total)))
        return lines.joined(separator: "\n")
    }
}

/// A summary split into its sections, each normalised as the suite compares: all whitespace
/// removed from each line, blank lines dropped.
struct SummarySections {
    var all: [String]
    var sections: [String: [String]] = [:]

    static let headers = ["Current cluster status:", "Transition Summary:", "Executing Cluster Transition:", "Revised Cluster Status:"]

    init(_ text: String) {
        var current = "preamble"
        var all: [String] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if Self.headers.contains(line.trimmingCharacters(in: .whitespaces)) { current = line.trimmingCharacters(in: .whitespaces) }
            let norm = line.filter { !$0.isWhitespace }
            guard !norm.isEmpty else { continue }
            all.append(norm)
            sections[current, default: []].append(norm)
        }
        self.all = all
    }

    func section(_ name: String) -> [String] { sections[name] ?? [] }
}

/// A transition graph reduced to what the suite's graph comparison checks: which actions on
/// which nodes, and which action waits for which, with the action numbering left out.
struct GraphShape: Equatable {
    var actions: Set<String> = []
    var edges: Set<String> = []

    init(_ graph: XElement) {
        func name(_ e: XElement) -> String {
            "\(e.name) \(e["operation_key"] ?? "")" + (e["on_node"].map { "@\($0)" } ?? "")
        }
        for synapse in graph.elements(named: "synapse") {
            guard let action = synapse.firstElement(named: "action_set")?.elements.first else { continue }
            actions.insert(name(action))
            for trigger in synapse.firstElement(named: "inputs")?.elements(named: "trigger") ?? [] {
                if let input = trigger.elements.first { edges.insert("\(name(action)) <- \(name(input))") }
            }
        }
    }

    /// What differs, for a developer: lines only in `expected` (-) and only here (+).
    func difference(from expected: GraphShape) -> String {
        var lines: [String] = []
        for a in expected.actions.subtracting(actions).sorted() { lines.append("- \(a)") }
        for a in actions.subtracting(expected.actions).sorted() { lines.append("+ \(a)") }
        for e in expected.edges.subtracting(edges).sorted() { lines.append("- \(e)") }
        for e in edges.subtracting(expected.edges).sorted() { lines.append("+ \(e)") }
        return lines.joined(separator: "\n")
    }
}

/// Score lines as the suite compares them: whitespace removed, blank lines dropped, sorted by
/// bytes (LC_ALL=C), duplicates kept.
struct ScoreLines: Equatable {
    var lines: [String]

    init(_ raw: [String]) {
        lines = raw.map { $0.filter { !$0.isWhitespace } }.filter { !$0.isEmpty }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// What differs, for a developer: lines only in `expected` (-) and only here (+).
    func difference(from expected: ScoreLines) -> String {
        var mine: [String: Int] = [:], theirs: [String: Int] = [:]
        for l in lines { mine[l, default: 0] += 1 }
        for l in expected.lines { theirs[l, default: 0] += 1 }
        var out: [String] = []
        for l in Set(expected.lines).sorted() where theirs[l]! > (mine[l] ?? 0) { out.append("- \(l)" + (theirs[l]! > 1 ? " x\(theirs[l]! - (mine[l] ?? 0))" : "")) }
        for l in Set(lines).sorted() where mine[l]! > (theirs[l] ?? 0) { out.append("+ \(l)" + (mine[l]! > 1 ? " x\(mine[l]! - (theirs[l] ?? 0))" : "")) }
        return out.joined(separator: "\n")
    }
}
