import ArgumentParser
import CIB
import DurableFile
import Foundation
import HASupport
import PolicyEngine
import ToolSupport

/// crm_simulate: show what the cluster would do with a given CIB.
///
/// It shows the cluster status as Pacemaker's crm_simulate does (the same layout as
/// `crm_mon -1`), computes the transition (-R), simulates its execution (-S) and saves its
/// graph (-G), prints the allocation and promotion scores (-s), saves the CIB the simulation
/// leaves (-O), and answers what-if questions: nodes up, down or failed, operation results
/// injected before scheduling (-i), and actions failing while the transition runs (-F).
struct CrmSimulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm_simulate",
        abstract: "Simulate a Pacemaker cluster's response to events.",
        discussion: """
        Examples:
          crm_simulate -x pe-input-42.xml            (show the cluster status it records)
          crm_simulate -x pe-input-42.xml -S         (what the cluster did with it, step by step)
          crm_simulate -x pe-input-42.xml -R -G g.xml (save the transition graph)
          CIB_file=cib.xml crm_simulate -L
          crm_simulate -x pe-input-42.xml --explain d1  (why d1 runs where it does, in plain words)
        """)

    @Option(name: [.customShort("x"), .customLong("xml-file")], help: "Use the CIB in the named file.") var xmlFile: String?
    @Flag(name: [.customShort("L"), .customLong("live-check")], help: "Use the running cluster's CIB (or CIB_file).") var live = false
    @Flag(name: [.customShort("p"), .customLong("xml-pipe")], help: "Read the CIB from stdin.") var xmlPipe = false
    @Flag(name: [.customShort("S"), .customLong("simulate")], help: "Simulate the transition's execution and show the result.") var simulate = false
    @Flag(name: [.customShort("R"), .customLong("run")], help: "Compute the transition without simulating its execution.") var runOnly = false
    @Flag(name: [.customShort("s"), .customLong("show-scores")], help: "Show allocation scores.") var showScores = false
    @Flag(name: [.customShort("Q"), .customLong("quiet")], help: "Print less (no status).") var quiet = false
    @Option(name: [.customShort("G"), .customLong("save-graph")], help: "Save the transition graph to FILE.") var saveGraph: String?
    @Option(name: [.customShort("D"), .customLong("save-dotfile")], help: "Save the transition graph in DOT format to FILE.") var saveDot: String?
    @Option(name: [.customShort("O"), .customLong("save-output")], help: "Save the resulting CIB to FILE.") var saveOutput: String?
    @Option(name: [.customShort("t"), .customLong("set-datetime")], help: "Evaluate at this ISO 8601 date and time.") var dateTime: String?
    @Option(name: [.customShort("u"), .customLong("node-up")], help: "Bring a node online.") var nodeUp: [String] = []
    @Option(name: [.customShort("d"), .customLong("node-down")], help: "Take a node offline.") var nodeDown: [String] = []
    @Option(name: [.customShort("f"), .customLong("node-fail")], help: "Mark a node as failed.") var nodeFail: [String] = []
    @Option(name: [.customShort("i"), .customLong("op-inject")], help: "Inject an operation result: RSC_TASK_INTERVAL@NODE=RC.") var opInject: [String] = []
    @Option(name: [.customShort("F"), .customLong("op-fail")], help: "Fail an operation when simulating: RSC_TASK_INTERVAL@NODE=RC.") var opFail: [String] = []
    @Option(name: .customLong("explain"), help: "Say in plain sentences why the resource is placed where it is, or why it cannot run.") var explain: String?
    @Flag(name: [.customShort("V"), .long], help: "Print more details.") var verbose: Int

    func run() throws {
        let program = "crm_simulate"
        StageTimer.shared.mark("start")
        let cib = loadCIB(program: program)
        StageTimer.shared.mark("load")
        var now = SchedulerInput.executionDate(of: cib) ?? Int(Date().timeIntervalSince1970)
        if let dateTime {
            guard let t = ISO8601Time.parse(dateTime) else {
                ToolSupport.fail(program, "--set-datetime '\(dateTime)' is not an ISO 8601 date; write it like 2024-03-01T12:00:00Z or 2005-020", .usage)
            }
            now = t
        }
        let input = SchedulerInput(cib: cib, now: now, effectiveTimeText: dateTime)
        let failures: [OperationFailure]
        do { failures = try opFail.map { spec throws(CIBError) in try OperationFailure(spec, in: cib) } } catch { ToolSupport.fail(program, error) }
        if !failures.isEmpty && !simulate {
            ToolSupport.printError(program, "warning: --op-fail takes effect only when the transition's execution is simulated (-S); it was ignored")
        }
        let injections = SchedulerInjections(nodeUp: nodeUp, nodeDown: nodeDown, nodeFail: nodeFail, opInject: opInject, now: now)
        if let explain {
            // --explain: the sentences alone, for the CIB as the what-if options leave it.
            var explained = input
            if !injections.isEmpty {
                do { explained = SchedulerInput(cib: try injections.apply(to: cib).cib, now: now, effectiveTimeText: dateTime) } catch { ToolSupport.fail(program, error) }
            }
            guard let e = Explanation.explain(explained, resource: explain) else {
                ToolSupport.fail(program, "Resource '\(explain)' not found", .noSuchObject)
            }
            for line in e.lines { print(line) }
            return
        }
        if !injections.isEmpty {
            let changed: (cib: CIB, lines: [String])
            do { changed = try injections.apply(to: cib) } catch { ToolSupport.fail(program, error) }
            let modified = SchedulerInput(cib: changed.cib, now: now, effectiveTimeText: dateTime)
            let (ws, transition) = Simulator.schedule(modified, scores: showScores)
            let execution = simulate ? simulateExecution(modified, transition, failures) : nil
            saveResult(modified, transition, execution)
            if let saveGraph { writeGraph(transition.graph, to: saveGraph, program: program) }
            if let saveDot { write(transition.graph.dot(), to: saveDot, what: "DOT file", program: program) }
            if quiet { printQuietScores(transition, spacerBefore: true) }
            if simulate {
                let before = (input: input, ws: Simulator.workingSet(input))
                print(Simulator.summaryText(modified, ws, transition, before: before, modifications: changed.lines,
                                            showScores: showScores, execution: execution), terminator: "")
                return
            }
            let original = Simulator.workingSet(input)
            for line in Simulator.preamble(input, original) { print(line) }
            print("Current cluster status:")
            for line in StatusText.render(original) { print(line) }
            print("")
            print("Performing Requested Modifications:")
            for line in changed.lines { print(line) }
            if let t = Simulator.timeLine(modified) { print(t) }
            if showScores {
                print("")
                for line in Simulator.scoreSection(transition).dropLast() { print(line) }
            }
            if simulate || runOnly || showScores {
                print("")
                print("Transition Summary:")
                for line in PlannedChange.lines(transition.changes) { print(line) }
            }
            return
        }
        if !(simulate || runOnly || showScores || saveGraph != nil || saveDot != nil) {
            if let saveOutput { write(cib.xmlString(.pretty), to: saveOutput, what: "resulting CIB", program: program) }
            if quiet { return }
            let ws = Simulator.workingSet(input)
            for line in Simulator.preamble(input, ws) { print(line) }
            print("Current cluster status:")
            for line in StatusText.render(ws) { print(line) }
            return
        }
        let (ws, transition) = Simulator.schedule(input, scores: showScores, stageDone: StageTimer.shared.hook)
        let execution = simulate ? simulateExecution(input, transition, failures) : nil
        saveResult(input, transition, execution)
        if let saveGraph { writeGraph(transition.graph, to: saveGraph, program: program) }
        StageTimer.shared.mark("write graph")
        if let saveDot { write(transition.graph.dot(), to: saveDot, what: "DOT file", program: program) }
        if quiet { printQuietScores(transition, spacerBefore: false) }
        if simulate {
            print(Simulator.summaryText(input, ws, transition, showScores: showScores, execution: execution), terminator: "")
            return
        }
        for line in Simulator.preamble(input, ws) { print(line) }
        print("Current cluster status:")
        for line in StatusText.render(ws) { print(line) }
        print("")
        if showScores { for line in Simulator.scoreSection(transition) { print(line) } }
        print("Transition Summary:")
        for line in PlannedChange.lines(transition.changes) { print(line) }
    }

    /// With -Q, Pacemaker prints only the scores (when asked for), as bare lines, and a blank
    /// line where the simulation would begin; then the process ends, leaving the (large)
    /// scheduler state to the kernel rather than freeing it piece by piece.
    func printQuietScores(_ transition: Transition, spacerBefore: Bool) -> Never {
        var out = ""
        if showScores {
            if spacerBefore { out += "\n" }
            for line in transition.scores { out += line.text + "\n" }
        }
        if simulate && (showScores || spacerBefore) { out += "\n" }
        print(out, terminator: "")
        Foundation.exit(0)
    }

    /// -S: the simulated execution, with the --op-fail failures (nil without any: the plain
    /// simulation is done where it is shown). A failure that names no action the simulation
    /// ran is said on stderr, as it changed nothing.
    func simulateExecution(_ input: SchedulerInput, _ transition: Transition, _ failures: [OperationFailure]) -> Simulator.Execution? {
        guard !failures.isEmpty else { return nil }
        let execution = Simulator.execute(input.cib, transition, now: input.now, failures: failures)
        for f in execution.unmatched {
            ToolSupport.printError("crm_simulate", "warning: --op-fail '\(f.spec)' matched no action the simulated transition ran; nothing failed for it")
        }
        return execution
    }

    /// -O: the CIB the simulated transition leaves (with -S), or the CIB as scheduled.
    func saveResult(_ input: SchedulerInput, _ transition: Transition, _ execution: Simulator.Execution?) {
        guard let saveOutput else { return }
        let result = simulate ? (execution?.cib ?? Simulator.resultingCIB(input.cib, transition, now: input.now)) : input.cib
        write(result.xmlString(.pretty), to: saveOutput, what: "resulting CIB", program: "crm_simulate")
    }

    func writeGraph(_ graph: ActionGraph, to path: String, program: String) {
        write(graph.xml().xmlString(.pretty), to: path, what: "graph", program: program)
    }

    func write(_ text: String, to path: String, what: String, program: String) {
        do {
            try DurableFile.write(Array(text.utf8), to: path, mode: 0o644)
        } catch {
            ToolSupport.fail(program, "could not write the \(what) to \(path): \(error)", .cantCreate)
        }
    }

    func loadCIB(program: String) -> CIB {
        let sources = [xmlFile != nil, live, xmlPipe].filter { $0 }.count
        if sources > 1 { ToolSupport.fail(program, "give only one of -x, -L and -p", .usage) }
        do {
            if let xmlFile { return try CIBFile.load(xmlFile) }
            if xmlPipe { return try CIB.parse(FileHandle.standardInput.readDataToEndOfFile(), source: "stdin") }
        } catch {
            ToolSupport.fail(program, error)
        }
        return CIBLocation.fromEnvironment().load(program: program)
    }
}

/// With SWIFTHA_STAGE_TIMES=1 in the environment, the time each stage took goes to stderr
/// (load, unpack, assign, plan, graph, write graph): a profiling aid for the benchmark.
final class StageTimer: @unchecked Sendable {
    static let shared = StageTimer()
    let enabled = ProcessInfo.processInfo.environment["SWIFTHA_STAGE_TIMES"] == "1"
    var last = Date()

    var hook: ((String) -> Void)? { enabled ? { self.mark($0) } : nil }

    func mark(_ stage: String) {
        guard enabled else { return }
        let now = Date()
        let line = "stage " + stage.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: " %8.3f s\n", now.timeIntervalSince(last))
        FileHandle.standardError.write(Data(line.utf8))
        last = now
    }
}

CrmSimulate.main()
