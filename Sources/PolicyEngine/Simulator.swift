import CIB

/// What `crm_simulate -S` prints: the current status, the transition summary, the actions in
/// the order a cluster would execute them, and the status they leave.
public enum Simulator {
    /// The working set of a scheduler input (the unpack stage alone).
    public static func workingSet(_ input: SchedulerInput) -> WorkingSet {
        Unpack.run(input)
    }

    /// The line saying which time the simulation uses, if any. (crm_simulate prints it again
    /// after the what-if changes, as it reads the changed CIB.)
    public static func timeLine(_ input: SchedulerInput) -> String? {
        if let t = input.effectiveTimeText { return "Setting effective cluster time: \(t)" }
        if let d = SchedulerInput.executionDate(of: input.cib) {
            let c = CivilTime(d)
            func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
            return "Using the original execution date of: \(c.year)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second))Z"
        }
        return nil
    }

    /// The lines printed before "Current cluster status:": the time, the maintenance-mode
    /// banner, and how many resource instances are disabled or blocked.
    public static func preamble(_ input: SchedulerInput, _ ws: WorkingSet) -> [String] {
        var lines: [String] = []
        if let t = timeLine(input) { lines.append(t) }
        var spacer = false
        if ws.options.maintenanceMode {
            lines += ["", "              *** Resource management is DISABLED ***",
                      "  The cluster will not attempt to start, stop or recover services"]
            spacer = true
        }
        let (disabled, blocked, total) = instanceCounts(ws)
        if disabled > 0 || blocked > 0 {
            lines.append("\(disabled) of \(total) resource instances DISABLED and \(blocked) BLOCKED from further action due to failure")
            spacer = true
        }
        if spacer { lines.append("") }
        return lines
    }

    /// (disabled, blocked, all) over the leaf primitives, removed ones that are stopped left out.
    public static func instanceCounts(_ ws: WorkingSet) -> (Int, Int, Int) {
        var disabled = 0, blocked = 0, total = 0
        for r in ws.resources where r.isPrimitive {
            if r.orphan && r.activeOn.isEmpty { continue }
            total += 1
            let promotableClone = ws.isInPromotableClone(r)
            if r.targetRole == .stopped || (r.targetRole == .unpromoted && promotableClone) { disabled += 1 }
            if r.blocked { blocked += 1 }
        }
        return (disabled, blocked, total)
    }

    /// The scheduler's decision: the working set, the changes and the revised state.
    ///
    /// With `scores`, the transition also carries the allocation and promotion scores each
    /// assignment stage used (recording them costs time and memory, so only when asked).
    ///
    /// `stageDone`, when given, is told the name of each stage as it ends (a caller may time
    /// the stages with it; the scheduler itself reads no clock).
    public static func schedule(_ input: SchedulerInput, scores: Bool = false,
                                stageDone: ((String) -> Void)? = nil) -> (WorkingSet, Transition) {
        let ws = Unpack.run(input)
        stageDone?("unpack")
        let assignment = Assignment.run(ws, recordScores: scores)
        stageDone?("assign")
        // Assignment may learn more about the nodes (a node to fence for a lost ticket).
        // Remote nodes that cannot be reached to stop what runs there are fenced.
        var current = assignment.ws
        TransitionPlanner.fenceUnreachableRemotes(&current, assignment)
        var transition = TransitionPlanner.plan(current, assignment)
        transition.scores = assignment.scoreLog ?? []
        stageDone?("plan")
        transition.graph = GraphBuilder.build(current, assignment, transition)
        // Nodes to unfence first, after the nodes to fence.
        let unfence = Unfencing.requests(current, transition.graph)
        let fences = transition.changes.prefix { $0.kind == .fence }.count
        transition.changes.insert(contentsOf: unfence, at: fences)
        stageDone?("graph")
        return (ws, transition)
    }

    /// The scores as `crm_simulate -s` prints them beside the status: a heading, one item a
    /// line, a blank line. (With -Q, Pacemaker prints the bare lines: `ScoreLine.text`.)
    public static func scoreSection(_ transition: Transition) -> [String] {
        ["Assignment Scores:"] + transition.scores.map { "  * " + $0.text } + [""]
    }

    /// The full `-S` text.
    public static func summaryText(_ input: SchedulerInput) -> String {
        let (ws, transition) = schedule(input)
        return summaryText(input, ws, transition)
    }

    /// The full `-S` text of a transition already scheduled.
    ///
    /// With what-if changes, the status shown first is the one `before` describes (the CIB as
    /// read), then the changes, then the transition of the changed CIB.
    ///
    /// `execution`, when given, is the simulated execution to show (one with failures,
    /// `--op-fail`). When an action failed, the revised status is the one the CIB it leaves
    /// shows, read again as Pacemaker reads it.
    public static func summaryText(_ input: SchedulerInput, _ ws: WorkingSet, _ transition: Transition,
                                   before: (input: SchedulerInput, ws: WorkingSet)? = nil, modifications: [String] = [],
                                   showScores: Bool = false, execution: Execution? = nil) -> String {
        let shown = before ?? (input, ws)
        var lines = preamble(shown.input, shown.ws)
        lines.append("Current cluster status:")
        lines += StatusText.render(shown.ws)
        lines.append("")
        if !modifications.isEmpty {
            lines.append("Performing Requested Modifications:")
            lines += modifications
            if let t = timeLine(input) { lines.append(t) }
            lines.append("")
        }
        if showScores { lines += scoreSection(transition) }
        lines.append("Transition Summary:")
        lines += PlannedChange.lines(transition.changes)
        lines.append("")
        lines.append("Executing Cluster Transition:")
        lines += execution?.lines ?? transition.graph.simulationLines()
        if let t = timeLine(input) { lines.append(t) }
        lines.append("")
        lines.append("Revised Cluster Status:")
        var revised = transition.revised
        if let execution, !execution.failedActions.isEmpty {
            revised = Unpack.run(SchedulerInput(cib: execution.cib, now: input.now, effectiveTimeText: input.effectiveTimeText))
        }
        lines += StatusText.render(revised, options: .init(showPending: false))
        return lines.joined(separator: "\n") + "\n"
    }
}
