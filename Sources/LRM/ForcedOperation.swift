import Agents
import CIB

/// One operation of a configured resource, run directly on this node (what
/// `crm_resource --force-start` and friends do): the resource's agent, instance and meta
/// attributes and the operation's timeout, read from a CIB.
public struct ForcedOperation: Sendable, Hashable {
    /// The command as the operator gave it (`force-start`), used in the report line.
    public var command: String
    /// The agent request to run.
    public var request: AgentRequest

    /// The `--force-*` commands and the agent action each runs.
    public static let commands: [String: AgentAction] = [
        "force-start": .start, "force-stop": .stop, "force-check": .monitor,
        "force-promote": .promote, "force-demote": .demote,
    ]

    /// Why the operation could not be prepared, with Pacemaker's exit code for it.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        /// The CRM exit code (105 no such object, 3 unimplemented, 64 usage).
        public var exitCode: Int32
        public var description: String { message }
    }

    /// Prepares `command` (`force-start`...) on resource `id` of `cib`.
    ///
    /// - A clone is run as its child (`id` may name an instance, `web:1`); groups and bundles
    ///   are refused, as Pacemaker refuses them.
    /// - Parameters: the resource's instance attributes (a template's first, then the
    ///   primitive's); meta attributes: the parents' and the resource's.
    /// - The timeout: `timeout` when given, else the first `<op>` of that action in the
    ///   resource, else `op_defaults`' timeout, else 20 s.
    public static func prepare(_ command: String, resource id: String, in cib: CIB, timeout: Duration? = nil) throws(Failure) -> ForcedOperation {
        guard let action = commands[command] else {
            throw Failure(message: "unknown command \(command): use one of \(commands.keys.sorted().map { "--" + $0 }.joined(separator: ", "))", exitCode: 64)
        }
        let configuration = cib.configuration
        let baseID = id.split(separator: ":", maxSplits: 1).first.map(String.init) ?? id
        var parents: [Resource] = []
        var found: Resource?
        func search(_ resources: [Resource], _ trail: [Resource]) {
            for r in resources where found == nil {
                if r.id == id || r.id == baseID {
                    found = r
                    parents = trail
                    return
                }
                search(r.children, trail + [r])
            }
        }
        search(configuration.resources, [])
        guard var resource = found else {
            throw Failure(message: "Resource '\(id)' not found", exitCode: 105)
        }
        if case .clone(let clone) = resource {
            guard let child = clone.child else { throw Failure(message: "Resource '\(id)' not found", exitCode: 105) }
            parents.append(resource)
            resource = child
        }
        let primitive: Primitive
        switch resource {
        case .primitive(let p): primitive = p
        case .group: throw Failure(message: "Sorry, the \(command) option doesn't support group resources", exitCode: 3)
        case .bundle: throw Failure(message: "Sorry, the \(command) option doesn't support bundled resources", exitCode: 3)
        case .clone: throw Failure(message: "Sorry, the \(command) option doesn't support clones of clones", exitCode: 3)
        }
        if parents.contains(where: { if case .bundle = $0 { true } else { false } }) {
            throw Failure(message: "Sorry, the \(command) option doesn't support bundled resources", exitCode: 3)
        }

        var agent = primitive.agent
        var parameters: [String: String] = [:]
        var operations = primitive.operations
        if let name = primitive.template, let template = configuration.templates.first(where: { $0.id == name }) {
            if agent.standard.isEmpty { agent = template.agent }
            merge(template.instanceAttributes, into: &parameters)
            if operations.isEmpty { operations = template.operations }
        }
        var own: [String: String] = [:]
        merge(primitive.instanceAttributes, into: &own)
        parameters.merge(own) { _, new in new }
        guard !agent.standard.isEmpty, !agent.type.isEmpty else {
            throw Failure(message: "resource \(primitive.id) has no agent (class and type) in the CIB; fix its definition", exitCode: 78)
        }

        var meta: [String: String] = [:]
        for p in parents { merge(p.metaAttributes, into: &meta, overwrite: true) }
        merge(primitive.metaAttributes, into: &meta, overwrite: true)

        let timeout = timeout ?? configuredTimeout(action: action, operations: operations, defaults: configuration.operationDefaults)
        var checkLevel: Int?
        if action == .monitor, let op = operations.first(where: { $0.name == "monitor" }) {
            for set in op.instanceAttributes {
                if let v = set.value(of: "OCF_CHECK_LEVEL"), let n = Int(v) { checkLevel = n; break }
            }
        }
        let request = AgentRequest(resource: id, agent: agent, action: action, parameters: parameters, meta: meta,
                                   timeout: timeout, checkLevel: checkLevel)
        return ForcedOperation(command: command, request: request)
    }

    /// The timeout the CIB gives an action of a resource.
    static func configuredTimeout(action: AgentAction, operations: [Operation], defaults: [NVSet]) -> Duration {
        if let op = operations.first(where: { $0.name == action.rawValue }) {
            if let t = op.timeout, let ms = CIBValue.milliseconds(t), ms > 0 { return .milliseconds(ms) }
            for set in op.metaAttributes {
                if let t = set.value(of: "timeout"), let ms = CIBValue.milliseconds(t), ms > 0 { return .milliseconds(ms) }
            }
        }
        for set in defaults {
            if let t = set.value(of: "timeout"), let ms = CIBValue.milliseconds(t), ms > 0 { return .milliseconds(ms) }
        }
        return .seconds(20)
    }

    private static func merge(_ sets: [NVSet], into out: inout [String: String], overwrite: Bool = false) {
        // Within one element, the first set that names an attribute wins (rules are not evaluated).
        var seen: [String: String] = [:]
        for set in sets {
            for pair in set.pairs where seen[pair.name] == nil {
                if let v = pair.value { seen[pair.name] = v }
            }
        }
        out.merge(seen) { old, new in overwrite ? new : old }
    }

    /// The line Pacemaker's crm_resource prints for the result, and whether it goes to stderr.
    ///
    /// `Operation force-start for web (ocf:heartbeat:Dummy) returned 0 (ok)` when the agent
    /// ran to its end; `... could not be executed (Timed Out: reason)` otherwise.
    public func report(_ result: AgentResult) -> (line: String, toStandardError: Bool) {
        let agent = request.agent
        let name = "\(agent.standard)\(agent.provider.map { ":" + $0 } ?? ""):\(agent.type)"
        let reason = result.exitReason.map { ": " + $0 } ?? ""
        if result.status == .done {
            return ("Operation \(command) for \(request.resource) (\(name)) returned \(result.exitCode.rawValue) (\(result.exitCode.meaning)\(reason))", false)
        }
        return ("Operation \(command) for \(request.resource) (\(name)) could not be executed (\(Self.statusText(result.status))\(reason))", true)
    }

    /// Pacemaker runs only OCF and LSB agents by hand; for other standards (systemd units,
    /// fence devices) this is the result it gives instead: an error, exit code 3.
    public func unsupportedStandard(resolvedStandard: String) -> AgentResult? {
        let standard = resolvedStandard.lowercased()
        guard standard != "ocf", standard != "lsb" else { return nil }
        let why = "Manual execution of the \(standard) standard is unsupported"
        return AgentResult(exitCode: .errUnimplemented, status: .error(why), exitReason: why)
    }

    /// The exit code: the agent's OCF code (1 when it did not run to its end, 5 when it is not
    /// installed, 193 when the result is pending), as Pacemaker's crm_resource exits.
    public static func exitCode(_ result: AgentResult) -> Int32 {
        switch result.status {
        case .done: return result.exitCode.rawValue
        case .notInstalled: return OCFExitCode.errInstalled.rawValue
        case .pending: return OCFExitCode.unknown.rawValue  // 193, Pacemaker's PCMK_OCF_UNKNOWN
        default: return result.exitCode == .success ? OCFExitCode.errGeneric.rawValue : result.exitCode.rawValue
        }
    }

    /// Pacemaker's names of execution statuses (`pcmk_exec_status_str`).
    static func statusText(_ status: ExecutionStatus) -> String {
        switch status {
        case .done: "complete"
        case .cancelled: "Cancelled"
        case .timedOut: "Timed Out"
        case .crashed, .error: "Error"
        case .notInstalled: "Not installed"
        case .pending: "pending"
        }
    }
}
