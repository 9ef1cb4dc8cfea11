import CIB

/// The resource-agent standards (Pacemaker calls them classes).
public enum AgentStandard: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Open Cluster Framework agents, `ocf:provider:type`, under `$OCF_ROOT/resource.d`.
    case ocf
    /// LSB init scripts, `lsb:name`, in /etc/init.d (a node root's own etc/init.d first).
    case lsb
    /// systemd units, `systemd:name`, driven over D-Bus.
    case systemd
    /// `service:name`: a systemd unit when systemd runs and has it, else the LSB script.
    case service
    /// Fence agents, `stonith:fence_*`, speaking key=value on stdin.
    case stonith

    /// True when agents of this standard are named with a provider (`ocf:heartbeat:Dummy`).
    public var needsProvider: Bool { self == .ocf }

    public var description: String { rawValue }

    /// The standard of an agent name, or an error that lists the known standards.
    public init(of agent: ResourceAgentName) throws(AgentError) {
        guard let standard = AgentStandard(rawValue: agent.standard.lowercased()) else {
            throw AgentError.unknownStandard(agent.standard)
        }
        if standard.needsProvider && (agent.provider ?? "").isEmpty {
            throw AgentError.invalidName(agent.description, "an OCF agent needs a provider: write ocf:PROVIDER:TYPE, e.g. ocf:heartbeat:\(agent.type)")
        }
        self = standard
    }
}

/// An action an agent is asked to perform.
///
/// OCF 1.1 defines start, stop, monitor, promote, demote, notify, reload, reload-agent,
/// migrate_to, migrate_from, meta-data and validate-all. LSB scripts know start, stop and status
/// (monitor is run as status). Fence agents add list, status, reboot, off and on.
public enum AgentAction: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case start
    case stop
    case monitor
    case promote
    case demote
    case notify
    case reload
    case reloadAgent = "reload-agent"
    case migrateTo = "migrate_to"
    case migrateFrom = "migrate_from"
    case metaData = "meta-data"
    case validateAll = "validate-all"
    /// LSB and fence agents; OCF agents are asked `monitor` instead.
    case status
    /// Fence agents: the ports (nodes) the device can fence.
    case list
    /// Fence agents: power-cycle the target.
    case reboot
    /// Fence agents: power the target off.
    case off
    /// Fence agents: power the target on (unfencing).
    case on

    /// The spelling the agent receives on its command line or stdin.
    public var description: String { rawValue }

    /// Parses an action name; `promote`, `meta-data`, and Pacemaker's `metadata` alias.
    public init?(name: String) {
        if let a = AgentAction(rawValue: name) { self = a; return }
        switch name {
        case "metadata": self = .metaData
        case "validate_all": self = .validateAll
        case "reload_agent": self = .reloadAgent
        default: return nil
        }
    }

    /// The actions OCF 1.1 defines.
    public static let ocf: [AgentAction] = [
        .start, .stop, .monitor, .promote, .demote, .notify, .reload, .reloadAgent,
        .migrateTo, .migrateFrom, .metaData, .validateAll,
    ]

    /// The actions of the fence-agent protocol that SwiftHA uses.
    public static let fence: [AgentAction] = [.list, .status, .monitor, .reboot, .off, .on, .metaData, .validateAll]
}
