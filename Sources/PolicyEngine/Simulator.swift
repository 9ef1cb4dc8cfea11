/// What `crm_simulate -S` prints: the current status, the transition summary, the actions in
/// the order a cluster would execute them, and the status they leave.
public enum Simulator {
    /// The working set of a scheduler input (the unpack stage alone).
    public static func workingSet(_ input: SchedulerInput) -> WorkingSet {
        Unpack.run(input)
    }

    /// The full `-S` text.
    public static func summaryText(_ input: SchedulerInput) -> String {
        let ws = Unpack.run(input)
        var lines = ["Current cluster status:"]
        lines += StatusText.render(ws)
        lines.append("")
        lines.append("Transition Summary:")
        lines.append("")
        lines.append("Executing Cluster Transition:")
        lines.append("")
        lines.append("Revised Cluster Status:")
        lines += StatusText.render(ws)
        return lines.joined(separator: "\n") + "\n"
    }
}
