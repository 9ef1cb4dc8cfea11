import CIB
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras

/// An agent's meta-data (OCF 1.1 section 5), parsed into types.
///
/// OCF, fence and Pacemaker's own agents all print this `<resource-agent>` document for their
/// `meta-data` action; LSB scripts and systemd units get one synthesised from their name.
public struct AgentMetadata: Sendable, Hashable, Codable {
    /// The `name` attribute of `<resource-agent>`.
    public var name: String
    /// The agent's own version (`version` attribute).
    public var agentVersion: String?
    /// The OCF version the meta-data follows (`<version>`), e.g. "1.1".
    public var ocfVersion: String?
    public var shortDescription: String?
    public var longDescription: String?
    public var parameters: [Parameter]
    public var actions: [Action]

    /// One instance attribute the agent accepts.
    public struct Parameter: Sendable, Hashable, Codable {
        public var name: String
        public var shortDescription: String?
        public var longDescription: String?
        public var type: ContentType
        /// The default, as written (it may name shell variables, e.g. `${HA_RSCTMP}/...`).
        public var defaultValue: String?
        public var required: Bool
        /// Must be unique across resources of this agent (`unique="1"`).
        public var unique: Bool
        /// OCF 1.1 `unique-group`: the combination of the group's parameters must be unique.
        public var uniqueGroup: String?
        /// Can be changed with `reload` (`reloadable="1"`).
        public var reloadable: Bool
        public var deprecated: Bool
        /// Fence agents: the parameter this one replaces (`obsoletes`).
        public var obsoletes: String?

        public init(name: String, shortDescription: String? = nil, longDescription: String? = nil,
                    type: ContentType = .string, defaultValue: String? = nil, required: Bool = false,
                    unique: Bool = false, uniqueGroup: String? = nil, reloadable: Bool = false,
                    deprecated: Bool = false, obsoletes: String? = nil) {
            self.name = name
            self.shortDescription = shortDescription
            self.longDescription = longDescription
            self.type = type
            self.defaultValue = defaultValue
            self.required = required
            self.unique = unique
            self.uniqueGroup = uniqueGroup
            self.reloadable = reloadable
            self.deprecated = deprecated
            self.obsoletes = obsoletes
        }
    }

    /// The `<content type=...>` of a parameter.
    public enum ContentType: Sendable, Hashable, Codable, CustomStringConvertible {
        case string, integer, boolean, time, port
        /// One of the listed `<option value=...>`s.
        case select([String])
        /// A type this parser does not know, kept as written.
        case other(String)

        public var description: String {
            switch self {
            case .string: "string"
            case .integer: "integer"
            case .boolean: "boolean"
            case .time: "time"
            case .port: "port"
            case .select: "select"
            case .other(let t): t
            }
        }
    }

    /// One `<action>` line: an action with its advised timeout and, for monitors, interval.
    public struct Action: Sendable, Hashable, Codable {
        public var name: String
        public var timeout: Duration?
        public var interval: Duration?
        /// `depth` (the OCF_CHECK_LEVEL the monitor runs at).
        public var depth: Int?
        /// `role` (Promoted/Unpromoted, or the old Master/Slave) of a monitor.
        public var role: String?
        public var startDelay: Duration?

        public init(name: String, timeout: Duration? = nil, interval: Duration? = nil,
                    depth: Int? = nil, role: String? = nil, startDelay: Duration? = nil) {
            self.name = name
            self.timeout = timeout
            self.interval = interval
            self.depth = depth
            self.role = role
            self.startDelay = startDelay
        }
    }

    public init(name: String, agentVersion: String? = nil, ocfVersion: String? = nil,
                shortDescription: String? = nil, longDescription: String? = nil,
                parameters: [Parameter] = [], actions: [Action] = []) {
        self.name = name
        self.agentVersion = agentVersion
        self.ocfVersion = ocfVersion
        self.shortDescription = shortDescription
        self.longDescription = longDescription
        self.parameters = parameters
        self.actions = actions
    }

    /// The parameter with this name.
    public func parameter(_ name: String) -> Parameter? {
        parameters.first { $0.name == name }
    }

    /// The advised timeout of an action; for monitors, the one with this interval if there is one.
    public func timeout(for action: String, interval: Duration? = nil) -> Duration? {
        let matching = actions.filter { $0.name == action }
        if let interval, let exact = matching.first(where: { ($0.interval ?? .zero) == interval }) {
            return exact.timeout
        }
        return matching.first?.timeout
    }

    /// True when the agent lists the action.
    public func supports(_ action: String) -> Bool {
        actions.contains { $0.name == action }
    }

    /// Parses meta-data printed by `agent` (named only in errors).
    public static func parse(_ bytes: some ContiguousBytes, agent: String) throws(AgentError) -> AgentMetadata {
        let root: XElement
        do {
            root = try XElement.parse(bytes, source: agent, limits: XMLReadLimits(maxBytes: 4 << 20, maxDepth: 32, maxValueBytes: 1 << 20))
        } catch {
            throw AgentError.badMetadata(agent: agent, reason: "not well-formed XML at \(error.description)")
        }
        return try parse(root, agent: agent)
    }

    /// Parses meta-data text.
    public static func parse(_ text: String, agent: String) throws(AgentError) -> AgentMetadata {
        try parse(Array(text.utf8), agent: agent)
    }

    /// Reads a parsed `<resource-agent>` element.
    public static func parse(_ root: XElement, agent: String) throws(AgentError) -> AgentMetadata {
        guard root.name == "resource-agent" else {
            throw AgentError.badMetadata(agent: agent, reason: "the document element is <\(root.name)>, not <resource-agent>")
        }
        guard let name = root["name"], !name.isEmpty else {
            throw AgentError.badMetadata(agent: agent, reason: "<resource-agent> has no name attribute")
        }
        var meta = AgentMetadata(name: name)
        meta.agentVersion = root["version"]
        meta.ocfVersion = root.firstElement(named: "version").map { trimmed($0.text) }
        meta.shortDescription = description(root, "shortdesc") ?? root["shortdesc"]
        meta.longDescription = description(root, "longdesc")

        var seen = Set<String>()
        for p in root.firstElement(named: "parameters")?.elements(named: "parameter") ?? [] {
            guard let pname = p["name"], !pname.isEmpty else {
                throw AgentError.badMetadata(agent: agent, reason: "a <parameter> has no name attribute")
            }
            guard seen.insert(pname).inserted else {
                throw AgentError.badMetadata(agent: agent, reason: "parameter '\(pname)' is declared twice")
            }
            var param = Parameter(name: pname)
            param.shortDescription = description(p, "shortdesc")
            param.longDescription = description(p, "longdesc")
            param.required = try flag(p, "required", agent: agent)
            param.unique = try flag(p, "unique", agent: agent)
            param.reloadable = try flag(p, "reloadable", agent: agent)
            param.deprecated = try flag(p, "deprecated", agent: agent) || p.firstElement(named: "deprecated") != nil
            param.uniqueGroup = p["unique-group"]
            param.obsoletes = p["obsoletes"]
            if let content = p.firstElement(named: "content") {
                param.defaultValue = content["default"]
                switch content["type"]?.lowercased() ?? "string" {
                case "string": param.type = .string
                case "integer", "int": param.type = .integer
                case "boolean", "bool": param.type = .boolean
                case "time", "duration", "timeout": param.type = .time
                case "port": param.type = .port
                case "select": param.type = .select(content.elements(named: "option").compactMap { $0["value"] })
                case let other: param.type = .other(other)
                }
            }
            meta.parameters.append(param)
        }

        for a in root.firstElement(named: "actions")?.elements(named: "action") ?? [] {
            guard let aname = a["name"], !aname.isEmpty else {
                throw AgentError.badMetadata(agent: agent, reason: "an <action> has no name attribute")
            }
            var action = Action(name: aname)
            action.timeout = try duration(a, "timeout", action: aname, agent: agent)
            action.interval = try duration(a, "interval", action: aname, agent: agent)
            action.startDelay = try duration(a, "start-delay", action: aname, agent: agent)
            if let depth = a["depth"] {
                guard let d = Int(trimmed(depth)), d >= 0 else {
                    throw AgentError.badMetadata(agent: agent, reason: "action '\(aname)' has depth=\"\(depth)\", which is not a non-negative integer")
                }
                action.depth = d
            }
            action.role = a["role"]
            meta.actions.append(action)
        }
        return meta
    }

    private static func trimmed(_ s: String) -> String {
        s.trimmingWhitespace()
    }

    /// The English (or first) description child, trimmed.
    private static func description(_ e: XElement, _ name: String) -> String? {
        let all = e.elements(named: name)
        let pick = all.first { ($0["lang"] ?? "en") == "en" } ?? all.first
        guard let text = pick.map({ trimmed($0.text) }), !text.isEmpty else { return nil }
        return text
    }

    private static func flag(_ e: XElement, _ attribute: String, agent: String) throws(AgentError) -> Bool {
        guard let v = e[attribute] else { return false }
        switch trimmed(v).lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off", "": return false
        default:
            throw AgentError.badMetadata(agent: agent, reason: "parameter '\(e["name"] ?? "?")' has \(attribute)=\"\(v)\"; use 0 or 1")
        }
    }

    private static func duration(_ e: XElement, _ attribute: String, action: String, agent: String) throws(AgentError) -> Duration? {
        guard let v = e[attribute] else { return nil }
        guard let ms = CIBValue.milliseconds(v) else {
            throw AgentError.badMetadata(agent: agent, reason: "action '\(action)' has \(attribute)=\"\(v)\", which is not a duration (write e.g. 20s, 500ms or PT1M)")
        }
        return .milliseconds(ms)
    }
}

extension AgentMetadata {
    /// The meta-data Pacemaker synthesises for an LSB script or systemd unit, which print none.
    public static func synthesized(standard: AgentStandard, type: String) -> AgentMetadata {
        AgentMetadata(
            name: type, agentVersion: "1.0", ocfVersion: "1.1",
            shortDescription: standard == .lsb ? "LSB init script \(type)" : "systemd unit file for \(type)",
            longDescription: standard == .lsb ? "LSB init script \(type), run with start, stop and status" : "Cluster controlled systemd unit \(type)",
            parameters: [],
            actions: [
                Action(name: "start", timeout: .seconds(100)),
                Action(name: "stop", timeout: .seconds(100)),
                Action(name: "status", timeout: .seconds(100)),
                Action(name: "monitor", timeout: .seconds(100), interval: .seconds(60)),
                Action(name: "meta-data", timeout: .seconds(5)),
            ])
    }
}

extension AgentMetadata {
    /// Something wrong with the parameters given to an agent, found from its meta-data.
    public struct ParameterProblem: Sendable, Hashable, CustomStringConvertible {
        public enum Severity: String, Sendable, Hashable { case warning, error }
        public var severity: Severity
        public var parameter: String
        /// What is wrong and what to do about it.
        public var message: String
        /// A required parameter that was not given.
        public var isMissing = false

        public var description: String { "\(severity.rawValue): parameter '\(parameter)': \(message)" }
    }

    /// Names every agent accepts besides its own parameters: ocf-shellfuncs reads the tracing
    /// ones, monitors take a depth, and Pacemaker's `pcmk_*` fencing options are for the cluster.
    static let universalParameters: Set<String> = ["OCF_CHECK_LEVEL", "trace_ra", "trace_file"]

    /// Checks parameters against this meta-data: required parameters without a default that are
    /// missing, values that are not of the declared type, and unknown names (a warning: agents
    /// may accept more than they declare). A deprecated parameter, or one that replaces
    /// another (`obsoletes`), is not required (either name may be given), and an empty default
    /// is no default (IPaddr2's `ip`). `suppliedByCluster`: parameters the cluster fills in
    /// itself (a fence agent's action and port/plug, from the fencer).
    public func problems(in parameters: [String: String], agent: String, suppliedByCluster: Set<String> = []) -> [ParameterProblem] {
        var out: [ParameterProblem] = []
        for p in self.parameters where p.required && !p.deprecated && p.obsoletes == nil && parameters[p.name] == nil
            && (p.defaultValue ?? "").isEmpty && !suppliedByCluster.contains(p.name) {
            out.append(ParameterProblem(severity: .error, parameter: p.name,
                                        message: "\(agent) requires it and it has no default; set it in the resource's instance_attributes",
                                        isMissing: true))
        }
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) {
            guard let p = parameter(name) else {
                if !Self.universalParameters.contains(name) && !name.hasPrefix("pcmk_") {
                    let known = self.parameters.map(\.name).sorted().joined(separator: ", ")
                    out.append(ParameterProblem(severity: .warning, parameter: name,
                                                message: "\(agent) does not declare it (its parameters: \(known.isEmpty ? "none" : known)); check the spelling"))
                }
                continue
            }
            if let why = typeProblem(value, p.type) {
                out.append(ParameterProblem(severity: .error, parameter: name, message: "value \"\(value)\" \(why)"))
            }
            if p.deprecated {
                out.append(ParameterProblem(severity: .warning, parameter: name, message: "\(agent) marks it deprecated"))
            }
        }
        return out
    }

    private func typeProblem(_ value: String, _ type: ContentType) -> String? {
        let v = value.trimmingSpaces()
        switch type {
        case .string, .other: return nil
        case .integer:
            return Int(v) == nil ? "is not an integer" : nil
        case .boolean:
            return CIBValue.isBoolean(v) ? nil : "is not a boolean (use true or false)"
        case .time:
            return CIBValue.milliseconds(v) == nil ? "is not a duration (write e.g. 20s, 500ms or PT1M)" : nil
        case .port:
            guard let n = Int(v), (0...65535).contains(n) else { return "is not a port number (0 to 65535)" }
            return nil
        case .select(let options):
            return options.isEmpty || options.contains(v) ? nil : "is not one of \(options.joined(separator: ", "))"
        }
    }
}
