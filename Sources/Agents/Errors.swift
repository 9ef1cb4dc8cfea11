import CIB

/// Something that stops an agent action from being run or understood. Every case names what is
/// wrong, where, and how to fix it.
public enum AgentError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The class of an agent name is not one SwiftHA knows.
    case unknownStandard(String)
    /// An agent name that cannot be resolved (missing provider, a path in the type, ...).
    case invalidName(String, String)
    /// No executable for the agent: its name and the places looked at.
    case notInstalled(agent: String, searched: [String])
    /// The agent's meta-data is not the XML OCF 1.1 describes.
    case badMetadata(agent: String, reason: String)
    /// The action is not one this standard can perform.
    case unsupportedAction(agent: String, action: String)
    /// systemd is not running on this node (or its bus cannot be reached).
    case systemdNotAvailable(String)
    /// A systemd D-Bus call failed.
    case systemd(unit: String, call: String, reason: String)
    /// A directory the node's agents need could not be created.
    case directory(path: String, reason: String)
    /// A systemd job did not finish within the operation's timeout; it was cancelled.
    case systemdJobTimedOut(unit: String, job: String, timeout: Duration)
    /// The operation was cancelled while its systemd job ran; the job was cancelled too.
    case systemdJobCancelled(unit: String, job: String)

    public var description: String {
        switch self {
        case .unknownStandard(let s):
            return "unknown resource agent class '\(s)': use one of \(AgentStandard.allCases.map(\.rawValue).joined(separator: ", "))"
        case .invalidName(let name, let why):
            return "invalid resource agent name '\(name)': \(why)"
        case .notInstalled(let agent, let searched):
            return "resource agent \(agent) is not installed on this node (looked for \(searched.joined(separator: ", "))): install the package that provides it, or correct the agent's name; `crm ra list` shows what is installed"
        case .badMetadata(let agent, let reason):
            return "meta-data of \(agent) is not valid OCF 1.1 meta-data: \(reason); check the agent's meta-data action (it must print a <resource-agent> XML document)"
        case .unsupportedAction(let agent, let action):
            return "\(agent) cannot perform '\(action)': that action is not part of its standard"
        case .systemdNotAvailable(let why):
            return "systemd is not available on this node (\(why)): use an lsb: or ocf: agent instead, or run the node under systemd"
        case .systemd(let unit, let call, let reason):
            return "systemd unit \(unit): \(call) failed: \(reason)"
        case .systemdJobTimedOut(let unit, let job, let timeout):
            return "systemd's job \(job) for \(unit) did not finish within \(timeout.cibText) and was cancelled; raise the operation's timeout if the unit needs longer, or check `systemctl status \(unit)`"
        case .systemdJobCancelled(let unit, let job):
            return "the operation on \(unit) was cancelled; systemd's job \(job) was cancelled too"
        case .directory(let path, let reason):
            return "cannot create \(path): \(reason); check the node root (--root / SWIFTHA_ROOT) and its permissions"
        }
    }
}
