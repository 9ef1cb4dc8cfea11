import Agents
import CIB
import Foundation
import LRM
import Testing

/// The queue's shell with the real runner and real agents.
@Suite struct ShellTests {
    /// Reads records from a stream until `stop` says so (bounded by a deadline).
    static func collect(_ stream: AsyncStream<OperationRecord>, within: Duration = .seconds(20),
                        until stop: @escaping @Sendable ([OperationRecord]) -> Bool) async -> [OperationRecord] {
        await withTaskGroup(of: [OperationRecord]?.self) { group in
            group.addTask {
                var got: [OperationRecord] = []
                for await r in stream {
                    got.append(r)
                    if stop(got) { return got }
                }
                return got
            }
            group.addTask {
                try? await Task.sleep(for: within)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? []
        }
    }

    @Test func dummyStartRecurringMonitorAndStop() async throws {
        guard Installed.agent("/usr/lib/ocf/resource.d/heartbeat/Dummy", for: "dummyStartRecurringMonitorAndStop") else { return }
        let s = try Scratch()
        let shell = LRMShell(executor: AgentExecutor(host: s.systemHost), clock: ContinuousClock(), parallelLimit: 2)
        await shell.register(ResourceDefinition(id: "d", agent: ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy")))
        let stream = await shell.results()
        let start = try await shell.submit(OperationRequest(resource: "d", action: .start, timeout: .seconds(20)))
        let monitor = try await shell.submit(OperationRequest(resource: "d", action: .monitor, interval: .milliseconds(100), timeout: .seconds(20)))
        let first = await Self.collect(stream) { $0.contains { $0.callID == monitor } }
        #expect(first.map(\.callID) == [start, monitor])
        #expect(first.allSatisfy { $0.exitCode == .success && $0.status == .done })
        #expect(FileManager.default.fileExists(atPath: s.root + "/run/resource-agents/Dummy-d.state"))
        // Let the monitor run a few more times: unchanged results are not reported again.
        try await Task.sleep(for: .milliseconds(400))
        await shell.cancel(OperationKey(resource: "d", action: .monitor, interval: .milliseconds(100)))
        let stop = try await shell.submit(OperationRequest(resource: "d", action: .stop, timeout: .seconds(20)))
        let rest = await Self.collect(stream) { $0.contains { $0.callID == stop } }
        #expect(rest.filter { $0.callID == monitor }.map(\.status) == [.cancelled], "unchanged monitor results are not reported: \(rest)")
        #expect(rest.last?.exitCode == .success)
        #expect(!FileManager.default.fileExists(atPath: s.root + "/run/resource-agents/Dummy-d.state"))
        let history = try #require(await shell.history(of: "d"))
        #expect(history.operations[OperationKey(resource: "d", action: .start)]?.callID == start)
        #expect(history.operations[OperationKey(resource: "d", action: .monitor, interval: .milliseconds(100))]?.exitCode == .success)
        #expect(history.lastFailure == nil)
        await shell.shutdown()
    }

    /// The queue's timeout kills a hung agent's whole group through the shell.
    @Test func queueTimeoutKillsAHungAgent() async throws {
        let s = try Scratch()
        let pids = s.file("pids")
        let agent = try s.hangingAgent(pids: pids)
        let shell = LRMShell(executor: AgentExecutor(host: s.host, killGrace: .milliseconds(300)), clock: ContinuousClock())
        await shell.register(ResourceDefinition(id: "h", agent: agent))
        let stream = await shell.results()
        let call = try await shell.submit(OperationRequest(resource: "h", action: .start, timeout: .milliseconds(500)))
        let records = await Self.collect(stream) { $0.contains { $0.callID == call } }
        let record = try #require(records.first { $0.callID == call })
        #expect(record.status == .timedOut)
        #expect(record.exitCode == .errGeneric)
        for pid in s.read("pids").split(separator: "\n").compactMap({ Int32($0) }) {
            #expect(await eventually { !isAlive(pid) }, "process \(pid) survived the timeout")
        }
        #expect(await shell.history(of: "h")?.lastFailure?.callID == call)
        await shell.shutdown()
    }

    /// Shutting down kills running agents and ends the result streams.
    @Test func shutdownKillsRunningAgents() async throws {
        let s = try Scratch()
        let pids = s.file("pids")
        let agent = try s.ocfAgent("Slow", "#!/bin/sh\necho $$ > \"\(pids)\"\nsleep 1000\n")
        let shell = LRMShell(executor: AgentExecutor(host: s.host, killGrace: .milliseconds(300)), clock: ContinuousClock())
        await shell.register(ResourceDefinition(id: "s", agent: agent))
        try await shell.submit(OperationRequest(resource: "s", action: .start, timeout: .seconds(60)))
        #expect(await eventually { !s.read("pids").isEmpty })
        await shell.shutdown()
        let pid = try #require(Int32(s.read("pids").trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await eventually { !isAlive(pid) })
        await #expect(throws: LRMError.self) { try await shell.submit(OperationRequest(resource: "s", action: .stop)) }
    }
}
