/// The check a write must pass: an edit may not introduce schema violations or semantic
/// errors that the CIB did not already have. (Problems that were already there do not block
/// unrelated edits, so an operator can fix a CIB one step at a time.)
public enum CIBWriteCheck {
    /// The errors `after` has that `before` had not.
    public static func newProblems(before: CIB, after: CIB) -> [ValidationProblem] {
        let old = Set(problems(before).map(\.description))
        return problems(after).filter { !old.contains($0.description) }
    }

    static func problems(_ cib: CIB) -> [ValidationProblem] {
        var report = [ValidationProblem]()
        if let schema = cib.validateWith {
            report += CIBSchema.validate(LibXMLDocument(cib.root), validateWith: schema).problems
        }
        report += CIBRules.check(cib, operational: false)
        return report.filter { $0.severity == .error }
    }
}
