import Agents
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
import Logging
import Stonith

/// Runs fence agents for stonithd: finds them (in /usr/sbin, then beside stonithd's own
/// executable, then any --agent-dir), gives them the node's environment (SWIFTHA_ROOT...),
/// and works out which devices can fence a node, asking agents (`list`, `status`) when the
/// configuration does not say. A `list` answer is kept for a minute, as Pacemaker's fencer does.
actor AgentRunner {
    let root: String
    let directories: [String]
    let logger: Logger
    /// Where the fence agents running are recorded (`OperationJournal`, stonithd's).
    let journal: OperationJournal?
    private var listCache: [String: (output: String, at: ContinuousClock.Instant)] = [:]
    private var hostArguments: [String: String] = [:]
    private let clock = ContinuousClock()
    static let listLifetime = Duration.seconds(60)
    /// After SIGTERM, how long a timed-out agent's group has before SIGKILL.
    static let killGrace = Duration.seconds(2)

    init(root: String, directories: [String], journal: OperationJournal? = nil, logger: Logger) {
        self.root = root
        self.journal = journal
        self.directories = directories
        self.logger = logger
    }

    /// The directory holding an agent, or nil.
    nonisolated func directory(of agent: String) -> String? {
        guard !agent.isEmpty, !agent.contains("/"), !agent.hasPrefix(".") else { return nil }
        return directories.first { FileManager.default.isExecutableFile(atPath: $0 + "/" + agent) }
    }

    nonisolated func isInstalled(_ agent: String) -> Bool { directory(of: agent) != nil }

    /// The fence agents installed, by name, sorted.
    nonisolated func installed() -> [String] {
        var names = Set<String>()
        for dir in directories {
            names.formUnion(AgentCatalog(host: AgentHost(root: root, fenceDirectory: dir)).agents(standard: .stonith))
        }
        return names.sorted()
    }

    private func executor(for agent: String) -> AgentExecutor? {
        guard let dir = directory(of: agent) else { return nil }
        var executor = AgentExecutor(host: AgentHost(root: root, fenceDirectory: dir), killGrace: Self.killGrace, logger: logger)
        executor.journal = journal
        return executor
    }

    /// Runs one action of an agent with these parameters.
    func run(agent: String, resource: String, action: String, parameters: [String: String], timeout: Duration) async -> AgentResult {
        guard let executor = executor(for: agent) else {
            return AgentResult(exitCode: .errInstalled, status: .notInstalled,
                               exitReason: "fence agent \(agent) is not installed in \(directories.joined(separator: " or ")); install it (Debian: fence-agents) or fix the device's type")
        }
        guard let a = AgentAction(name: action), AgentAction.fence.contains(a) else {
            return AgentResult(exitCode: .errUnimplemented, status: .done, exitReason: "'\(action)' is not a fence-agent action")
        }
        let request = AgentRequest(resource: resource, agent: ResourceAgentName(standard: "stonith", provider: nil, type: agent),
                                   action: a, parameters: parameters, timeout: timeout)
        return await executor.run(request)
    }

    /// An agent's meta-data XML.
    func metadata(agent: String, timeout: Duration = .seconds(30)) async throws(StonithFailure) -> String {
        guard isInstalled(agent) else {
            throw StonithFailure(.notFound, "fence agent \(agent) is not installed in \(directories.joined(separator: " or "))")
        }
        let r = await run(agent: agent, resource: agent, action: "metadata", parameters: [:], timeout: timeout)
        guard r.status == .done, r.exitCode == .success, !r.standardOutput.isEmpty else {
            throw StonithFailure(.agentFailed, "the meta-data action of \(agent) failed: \(Self.summary(r))")
        }
        return r.standardOutput
    }

    /// The parameter an agent takes the target's plug in: `plug` when its meta-data has it,
    /// else `port`.
    func hostArgument(agent: String) async -> String {
        if let known = hostArguments[agent] { return known }
        var arg = "port"
        if let xml = try? await metadata(agent: agent),
           let meta = try? AgentMetadata.parse(Array(xml.utf8), agent: "stonith:\(agent)"),
           meta.parameters.contains(where: { $0.name == "plug" }) {
            arg = "plug"
        }
        hostArguments[agent] = arg
        return arg
    }

    /// Runs a fencing step of a device against a target: the action after pcmk_<action>_action,
    /// the parameters with nodename and the plug, the device's own timeout within `limit`.
    func fence(device: FenceDevice, action: String, target: String, limit: Duration, defaultTimeout: Duration, requestedDelay: Int? = nil) async -> (success: Bool, output: String) {
        let hostArg = await hostArgument(agent: device.agent)
        let params = device.agentParameters(target: target, defaultHostArgument: hostArg)
        let timeout = min(limit, device.timeout(for: action, default: defaultTimeout))
        let agentAction = device.agentAction(for: action)
        var rng = SystemRandomNumberGenerator()
        let delay = device.delay(action: action, target: target, requested: requestedDelay, using: &rng)
        if delay > .zero {
            logger.notice("delaying \(action) of \(target) with device \(device.id) by \(delay.cibText) (\(requestedDelay.map { $0 > 0 ? "\($0)s requested, " : "" } ?? "")pcmk_delay_base / pcmk_delay_max)")
            try? await Task.sleep(for: delay)
        }
        logger.notice("running \(device.agent) \(agentAction) of \(target) for device \(device.id) (timeout \(timeout.cibText))",
                      metadata: ["resource": "\(device.id)", "operation": "\(agentAction)", "target": "\(target)"])
        let r = await run(agent: device.agent, resource: device.id, action: agentAction, parameters: params, timeout: timeout)
        let ok = r.status == .done && r.exitCode == .success
        return (ok, ok ? "" : "\(device.agent): \(Self.summary(r))")
    }

    /// Whether a device's agent says it can fence a node (dynamic-list or status).
    func agentCanFence(_ device: FenceDevice, _ target: String, check: HostCheck, timeout: Duration) async -> Bool {
        switch check {
        case .dynamicList:
            if let c = listCache[device.id], clock.now - c.at < Self.listLifetime { return device.listNames(target, output: c.output) }
            let hostArg = await hostArgument(agent: device.agent)
            var params = device.parameters
            params.removeValue(forKey: hostArg)
            let r = await run(agent: device.agent, resource: device.id, action: device.agentAction(for: "list"), parameters: params,
                              timeout: device.timeout(for: "list", default: timeout))
            guard r.status == .done, r.exitCode == .success else {
                logger.warning("device \(device.id): its agent's list failed (\(Self.summary(r))); it is not used for \(target)")
                return false
            }
            listCache[device.id] = (r.standardOutput, clock.now)
            return device.listNames(target, output: r.standardOutput)
        case .status:
            let hostArg = await hostArgument(agent: device.agent)
            let r = await run(agent: device.agent, resource: device.id, action: device.agentAction(for: "status"),
                              parameters: device.agentParameters(target: target, defaultHostArgument: hostArg),
                              timeout: device.timeout(for: "status", default: timeout))
            return r.status == .done && (r.exitCode == .success || r.exitCode == .notRunning)
        case .staticList, .none:
            return device.canFence(target) ?? false
        }
    }

    /// Forgets cached list answers (the configuration changed).
    func forgetLists() {
        listCache = [:]
    }

    /// `exit status 1: the last line it wrote`, `timed out after 20s`...
    static func summary(_ r: AgentResult) -> String {
        var s: String
        switch r.status {
        case .done: s = r.rawExitStatus.map { "exit status \($0)" } ?? "\(r.exitCode)"
        default: s = r.exitReason ?? "\(r.status)"
        }
        let said = (r.standardError + "\n" + r.standardOutput).split(separator: "\n").map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty }
        if case .done = r.status, let last = said.last { s += ": " + String(last.prefix(300)) }
        return s
    }
}
