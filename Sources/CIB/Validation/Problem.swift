/// One thing wrong (or suspicious) in a CIB, written so that an operator can fix it:
/// which element, where, what is wrong, and what to do.
public struct ValidationProblem: Hashable, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable, Comparable {
        case warning, error
        public static func < (a: Severity, b: Severity) -> Bool { a == .warning && b == .error }
    }

    public var severity: Severity
    /// The element the problem is about (its tag name).
    public var element: String
    /// The element's id, when it has one.
    public var elementID: String?
    /// The line in the input, when known (RelaxNG errors always know it).
    public var line: Int?
    /// What is wrong and how to fix it.
    public var message: String

    public init(_ severity: Severity, element: String, id: String?, line: Int? = nil, _ message: String) {
        self.severity = severity
        self.element = element
        self.elementID = id
        self.line = line
        self.message = message
    }

    /// `error: primitive 'vip' (line 12): <message>`.
    public var description: String {
        var subject = element
        if let elementID, !elementID.isEmpty { subject += " '\(elementID)'" }
        if let line { subject += " (line \(line))" }
        return "\(severity.rawValue): \(subject): \(message)"
    }
}

/// The outcome of validating a CIB.
public struct ValidationReport: Sendable {
    /// Every problem, errors and warnings, in the order found.
    public var problems: [ValidationProblem] = []
    /// The schema the RelaxNG check used, or nil when none was applied (and why).
    public var schemaUsed: String?
    public var schemaNote: String?

    public var errors: [ValidationProblem] { problems.filter { $0.severity == .error } }
    public var warnings: [ValidationProblem] { problems.filter { $0.severity == .warning } }
    public var isValid: Bool { errors.isEmpty }
}
