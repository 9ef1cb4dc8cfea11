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

/// What an agent action came to: the OCF code, how the run ended, why, what it printed and how
/// long it took.
public struct AgentResult: Sendable, Hashable, CustomStringConvertible {
    /// The result in OCF terms (also for LSB, systemd and fence agents).
    public var exitCode: OCFExitCode
    /// How the run ended (done, timed out, crashed, ...). Only `.done` carries the agent's own answer.
    public var status: ExecutionStatus
    /// Why it failed: the agent's last `ocf-exit-reason:` line, or SwiftHA's explanation.
    public var exitReason: String?
    /// The exit status exactly as the process returned it, when it exited.
    public var rawExitStatus: Int32?
    /// What the agent printed (bounded; see `outputTruncated`).
    public var standardOutput: String
    public var standardError: String
    public var outputTruncated: Bool
    /// The time the action ran for.
    public var duration: Duration

    public init(exitCode: OCFExitCode, status: ExecutionStatus, exitReason: String? = nil, rawExitStatus: Int32? = nil,
                standardOutput: String = "", standardError: String = "", outputTruncated: Bool = false, duration: Duration = .zero) {
        self.exitCode = exitCode
        self.status = status
        self.exitReason = exitReason
        self.rawExitStatus = rawExitStatus
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.outputTruncated = outputTruncated
        self.duration = duration
    }

    /// `OCF_NOT_RUNNING (7): not running (complete)` plus the reason when there is one.
    public var description: String {
        var s = "\(exitCode) (\(status))"
        if let exitReason { s += ": \(exitReason)" }
        return s
    }

    /// The text after the last `ocf-exit-reason:` line of stderr, as ocf_exit_reason writes it.
    public static func exitReason(fromStandardError text: String) -> String? {
        var reason: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let r = line.firstRange(of: "ocf-exit-reason:") {
                let s = line[r.upperBound...].trimmingSpaces()
                if !s.isEmpty { reason = String(s.prefix(512)) }
            }
        }
        return reason
    }
}

/// Runs agent actions of every standard on one node.
///
/// OCF agents get the OCF 1.1 environment (`OCFEnvironment`), LSB scripts their action as the
/// argument (monitor runs `status`), fence agents the key=value lines on stdin, systemd units go
/// over D-Bus. Every process runs in its own session under `ProcessRunner`, so a timeout kills its
/// whole process group. This is the I/O half of lrmd; the queue instance decides what to run.
public struct AgentExecutor: Sendable {
    public var catalog: AgentCatalog
    /// After SIGTERM, how long a timed-out agent's group has before SIGKILL.
    public var killGrace: Duration
    /// Bytes of stdout and of stderr kept per action.
    public var outputLimit: Int
    /// Where runs are logged: each launch at debug, timeouts, crashes and launch failures as
    /// warnings.
    public var logger: Logger
    /// Where systemd's unit manager is reached (the system bus, unless told otherwise).
    public var systemdBus: Systemd.Bus = .system
    /// Where the cluster's drop-ins for the systemd services it starts go (see
    /// `ClusterDropIn`): `/run/systemd/system` unless `SWIFTHA_SYSTEMD_RUNTIME_DIR` says.
    public var systemdDropInRoot: String = Systemd.defaultDropInRoot
    /// Where every agent process is recorded while it runs (lrmd's, stonithd's), so that the
    /// daemon started after this one was killed can end what it left running; nil records
    /// nothing.
    public var journal: OperationJournal?

    public init(host: AgentHost, killGrace: Duration = .seconds(5), outputLimit: Int = 64 * 1024,
                logger: Logger = Logger(label: "swiftha.agents")) {
        self.catalog = AgentCatalog(host: host)
        self.killGrace = killGrace
        self.outputLimit = outputLimit
        self.logger = logger
    }

    public var host: AgentHost { catalog.host }

    /// Runs one action to its end. Never throws: every failure is a result with a reason.
    ///
    /// Runs on the global executor, not on the caller's actor: starting a process holds its
    /// thread until the agent's exec, and operations of a queue's actor start in parallel.
    @concurrent
    public func run(_ request: AgentRequest) async -> AgentResult {
        let standard: AgentStandard
        do {
            standard = try AgentStandard(of: request.agent)
        } catch {
            return AgentResult(exitCode: .errConfigured, status: .error(error.description), exitReason: error.description)
        }
        switch standard {
        case .ocf: return await runOCF(request)
        case .lsb: return await runLSB(request)
        case .stonith: return await runFence(request)
        case .systemd: return await runSystemd(request)
        case .service:
            // As Pacemaker: an init script first (a file check), then a systemd unit, else LSB's
            // "not installed".
            let lsb = ResourceAgentName(standard: "lsb", provider: nil, type: request.agent.type)
            if (try? catalog.executable(for: lsb)) == nil, await Systemd.isKnownUnit(request.agent.type, bus: systemdBus) {
                return await runSystemd(request)
            }
            return await runLSB(request)
        }
    }

    /// The agent's meta-data: from its meta-data action (OCF, fence), synthesised for LSB and
    /// systemd.
    public func metadata(for agent: ResourceAgentName, timeout: Duration = .seconds(10)) async throws(AgentError) -> AgentMetadata {
        let standard = try AgentStandard(of: agent)
        switch standard {
        case .lsb, .systemd, .service:
            if standard == .lsb { _ = try catalog.executable(for: agent) }
            return AgentMetadata.synthesized(standard: standard == .lsb ? .lsb : .systemd, type: agent.type)
        case .ocf, .stonith:
            let result = await run(AgentRequest(resource: agent.type, agent: agent, action: .metaData, timeout: timeout))
            if result.status == .notInstalled {
                _ = try catalog.executable(for: agent)  // throws the detailed notInstalled
            }
            guard result.status == .done, result.exitCode == .success else {
                throw AgentError.badMetadata(agent: agent.description, reason: "its meta-data action failed: \(result)")
            }
            return try AgentMetadata.parse(Array(result.standardOutput.utf8), agent: agent.description)
        }
    }

    // MARK: - Standards

    private func runOCF(_ request: AgentRequest) async -> AgentResult {
        let exe: String
        do { exe = try catalog.executable(for: request.agent) } catch { return notInstalled(error) }
        do { try host.prepareDirectories() } catch { return AgentResult(exitCode: .errPerm, status: .error(error.description), exitReason: error.description) }
        let env = OCFEnvironment.variables(for: request, on: host)
        return await launch(ProcessRequest(executable: exe, arguments: [request.action.rawValue], environment: env,
                                           timeout: request.timeout, killGrace: killGrace, outputLimit: outputLimit), for: request) { code in
            OCFExitCode(exitStatus: code)
        }
    }

    private func runLSB(_ request: AgentRequest) async -> AgentResult {
        let lsbName = ResourceAgentName(standard: "lsb", provider: nil, type: request.agent.type)
        let exe: String
        do { exe = try catalog.executable(for: lsbName) } catch { return notInstalled(error) }
        let argument: String
        switch request.action {
        case .start, .stop, .status: argument = request.action.rawValue
        case .monitor: argument = "status"
        case .reload: argument = "force-reload"
        default:
            let why = AgentError.unsupportedAction(agent: request.agent.description, action: request.action.rawValue).description
            return AgentResult(exitCode: .errUnimplemented, status: .done, exitReason: why)
        }
        do { try host.prepareDirectories() } catch { return AgentResult(exitCode: .errPerm, status: .error(error.description), exitReason: error.description) }
        return await launch(ProcessRequest(executable: exe, arguments: [argument], environment: host.nodeEnvironment,
                                           timeout: request.timeout, killGrace: killGrace, outputLimit: outputLimit), for: request) { code in
            LSBMapping.ocfCode(exitStatus: code, action: request.action)
        }
    }

    private func runFence(_ request: AgentRequest) async -> AgentResult {
        let exe: String
        do { exe = try catalog.executable(for: request.agent) } catch { return notInstalled(error) }
        guard AgentAction.fence.contains(request.action) else {
            let why = AgentError.unsupportedAction(agent: request.agent.description, action: request.action.rawValue).description
            return AgentResult(exitCode: .errUnimplemented, status: .done, exitReason: why)
        }
        let input = FenceProtocol.standardInput(action: request.action, parameters: request.parameters)
        return await launch(ProcessRequest(executable: exe, environment: host.nodeEnvironment, standardInput: input,
                                           timeout: request.timeout, killGrace: killGrace, outputLimit: outputLimit), for: request) { code in
            FenceProtocol.ocfCode(exitStatus: code, action: request.action)
        }
    }

    private func runSystemd(_ request: AgentRequest) async -> AgentResult {
        let clock = ContinuousClock()
        let started = clock.now
        do {
            let outcome = try await Systemd.perform(request.action, unit: request.agent.type, timeout: request.timeout, bus: systemdBus,
                                                    dropInRoot: systemdDropInRoot, logger: logger)
            return AgentResult(exitCode: outcome.exitCode, status: outcome.status, exitReason: outcome.reason, duration: clock.now - started)
        } catch {
            switch error {
            case .systemdNotAvailable:
                return AgentResult(exitCode: .errInstalled, status: .notInstalled, exitReason: error.description, duration: clock.now - started)
            case .systemdJobTimedOut:
                return AgentResult(exitCode: .errGeneric, status: .timedOut, exitReason: error.description, duration: clock.now - started)
            case .systemdJobCancelled:
                return AgentResult(exitCode: .errGeneric, status: .cancelled, exitReason: error.description, duration: clock.now - started)
            default:
                break
            }
            return AgentResult(exitCode: .errGeneric, status: .error(error.description), exitReason: error.description, duration: clock.now - started)
        }
    }

    // MARK: - Helpers

    private func notInstalled(_ error: AgentError) -> AgentResult {
        switch error {
        case .notInstalled:
            return AgentResult(exitCode: .errInstalled, status: .notInstalled, exitReason: error.description)
        default:
            return AgentResult(exitCode: .errConfigured, status: .error(error.description), exitReason: error.description)
        }
    }

    private func launch(_ process: ProcessRequest, for request: AgentRequest, map: (Int32) -> OCFExitCode) async -> AgentResult {
        var process = process
        let entry = journal?.begin(resource: request.resource,
                                   operation: "\(request.resource)_\(request.action.rawValue)_\(request.interval.wholeMilliseconds)",
                                   callID: request.callID,
                                   target: request.agent.standard == "stonith" ? request.parameters["nodename"] : nil)
        if let entry, let journal { process.environment[journal.variable] = entry.token }
        var launched: (@Sendable (Int32) -> Void)?
        if let entry { launched = { pid in entry.launched(pid) } }
        let result = await launchUnlogged(process, launched: launched, map: map)
        entry?.end()
        // The text is made only when the message is logged.
        func what() -> String { "\(process.executable) \(process.arguments.joined(separator: " "))" }
        switch result.status {
        case .done:
            logger.debug("\(what()): \(result.exitCode) after \(result.duration)")
        default:
            logger.warning("\(what()): \(result)")
        }
        return result
    }

    private func launchUnlogged(_ process: ProcessRequest, launched: (@Sendable (Int32) -> Void)?, map: (Int32) -> OCFExitCode) async -> AgentResult {
        let outcome: ProcessOutcome
        do {
            outcome = try await ProcessRunner.run(process, launched: launched)
        } catch {
            if error.notFound {
                return AgentResult(exitCode: .errInstalled, status: .notInstalled, exitReason: error.description)
            }
            return AgentResult(exitCode: .errGeneric, status: .error(error.description), exitReason: error.description)
        }
        var result = AgentResult(exitCode: .errGeneric, status: .done,
                                 standardOutput: outcome.standardOutput, standardError: outcome.standardError,
                                 outputTruncated: outcome.outputTruncated, duration: outcome.duration)
        if case .exited(let code) = outcome.termination { result.rawExitStatus = code }
        switch (outcome.ending, outcome.termination) {
        case (.timedOut, _):
            result.status = .timedOut
            result.exitReason = "the agent did not complete within \(process.timeout.cibText); its process group \(outcome.processGroup) was killed"
        case (.cancelled, _):
            result.status = .cancelled
            result.exitReason = "the operation was cancelled; its process group \(outcome.processGroup) was killed"
        case (.finished, .signalled(let signal)):
            result.status = .crashed(signal: signal)
            result.exitReason = "the agent was killed by \(signalName(signal))"
        case (.finished, .exited(let code)):
            result.exitCode = map(code)
            result.exitReason = AgentResult.exitReason(fromStandardError: outcome.standardError)
        }
        return result
    }
}
