import CIB

/// `crm_simulate --op-fail RSC_TASK_INTERVAL@NODE=RC`: an action of the simulated transition
/// that gets result RC instead of succeeding.
///
/// The resource may be named as the status names it (`web:1`) or as it is configured
/// (`web`, for an anonymous clone's instance); the interval is in milliseconds; names are
/// compared without regard to case, as Pacemaker compares them.
public struct OperationFailure: Sendable, Equatable {
    /// The option's value, as given.
    public var spec: String
    public var resource: String
    public var task: String
    public var intervalMS: Int
    public var node: String
    /// The result the action gets.
    public var rc: Int

    /// Reads a spec; a malformed one, or one naming no primitive of `cib`, is an error that
    /// names it and says how to write it.
    public init(_ spec: String, in cib: CIB) throws(CIBError) {
        let usage = "write it as RESOURCE_TASK_INTERVAL@NODE=RC, like web_monitor_10000@node1=7 or web_start_0@node2=1"
        guard let at = spec.firstIndex(of: "@"), let eq = spec.firstIndex(of: "="), at < eq else {
            throw CIBError(.badRequest, "--op-fail '\(spec)': \(usage)")
        }
        guard let rc = Int(spec[spec.index(after: eq)...]) else {
            throw CIBError(.badRequest, "--op-fail '\(spec)': the result code after '=' must be an integer; \(usage)")
        }
        let key = String(spec[..<at]), node = String(spec[spec.index(after: at)..<eq])
        guard let (rsc, task, interval) = SchedulerInjections.parseKey(key), !node.isEmpty else {
            throw CIBError(.badRequest, "--op-fail '\(spec)': '\(key)@\(node)' is not RESOURCE_TASK_INTERVAL@NODE; \(usage)")
        }
        let base = rsc.split(separator: ":").first.map(String.init) ?? rsc
        var known = false
        cib.configuration.element.firstElement(named: "resources")?.walk { e in
            if e.name == "primitive", e.id?.lowercased() == base.lowercased() { known = true }
        }
        guard known else {
            throw CIBError(.notFound, "--op-fail '\(spec)': no primitive '\(base)' in the configuration")
        }
        self.spec = spec
        self.resource = rsc
        self.task = task
        self.intervalMS = interval
        self.node = node
        self.rc = rc
    }

    /// The name the failure gives `action`'s resource if it names that action: its id in
    /// the status, or else its configured id; nil when it names another action.
    public func matchedName(_ action: GraphAction) -> String? {
        guard action.kind == .resource, action.task.lowercased() == task.lowercased(), action.intervalMS == intervalMS,
              let on = action.node, on.lowercased() == node.lowercased() else { return nil }
        for name in [action.resource, action.configuredID].compactMap({ $0 }) where name.lowercased() == resource.lowercased() {
            return name
        }
        return nil
    }
}
