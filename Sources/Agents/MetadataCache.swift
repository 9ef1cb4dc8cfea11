import CIB

/// Agents' meta-data, read once per agent and kept: lrmd answers `crm ra info` and computes
/// digests from it without running the agent's meta-data action every time.
///
/// Only successful reads are kept, so an agent installed (or fixed) later is read again.
/// `invalidate` forgets entries, e.g. after a package upgrade.
public actor MetadataCache {
    private let executor: AgentExecutor
    private var entries: [ResourceAgentName: AgentMetadata] = [:]

    public init(executor: AgentExecutor) {
        self.executor = executor
    }

    /// The meta-data of an agent, from the cache or from the agent.
    public func metadata(for agent: ResourceAgentName) async throws(AgentError) -> AgentMetadata {
        if let cached = entries[agent] { return cached }
        let meta = try await executor.metadata(for: agent)
        entries[agent] = meta
        return meta
    }

    /// Forgets one agent's meta-data, or every agent's when `agent` is nil.
    public func invalidate(_ agent: ResourceAgentName? = nil) {
        if let agent { entries[agent] = nil } else { entries = [:] }
    }

    /// The agents whose meta-data is held.
    public var cachedAgents: [ResourceAgentName] {
        entries.keys.sorted { $0.description < $1.description }
    }
}
