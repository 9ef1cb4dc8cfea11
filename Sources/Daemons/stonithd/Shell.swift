import Agents
import CIB
import CIBClient
import CSystemd
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import LocalIPC
import Logging
import Messaging
import Stonith

/// The shell around `Fencer`: feeds it CPG's events, clients' requests, agents' results and
/// timers, and performs what it asks (multicast, assess devices, run agents, reply, notify,
/// arm timers). It also holds the fence devices and levels read from the CIB.
actor FencerShell {
    private var fencer: Fencer
    private let runner: AgentRunner
    private let outbox: AsyncStream<Data>.Continuation
    private let logger: Logger
    private var server: IPCServer<StonithAPI>?
    private var subscribers: Set<UInt64> = []
    private var waiting: [UInt64: CheckedContinuation<FenceResult, Never>] = [:]
    private var cleaning: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextToken: UInt64 = 1
    private(set) var devices: [FenceDevice] = []
    private var topology: [FencingLevel] = []
    private var nodeAttributes: [String: [String: String]] = [:]
    private var stonithTimeout: Duration = .seconds(60)
    private var configured = false
    let node: String
    let root: String

    /// What the previous stonithd of this root was running when it was killed (ended).
    let interrupted: [InterruptedOperation]

    init(node: String, member: String, root: String, runner: AgentRunner, outbox: AsyncStream<Data>.Continuation,
         interrupted: [InterruptedOperation] = [], logger: Logger) {
        fencer = Fencer(node: node, member: member)
        self.interrupted = interrupted
        self.node = node
        self.root = root
        self.runner = runner
        self.outbox = outbox
        self.logger = logger
    }

    func attach(_ server: IPCServer<StonithAPI>) {
        self.server = server
    }

    // MARK: - Configuration

    /// Takes the fence devices, levels and stonith-timeout from a CIB.
    func configure(from cib: CIB) async {
        let newDevices = FenceDevice.usable(on: node, in: cib)
        nodeAttributes = FenceDevice.nodeAttributes(in: cib)
        let newLevels = cib.configuration.fencingLevels
        let option = cib.configuration.clusterOption("stonith-timeout") ?? cib.configuration.clusterOption("fencing-timeout")
        let timeout = option.flatMap(FenceDevice.parseDuration) ?? .seconds(60)
        let changed = !configured || newDevices != devices || newLevels.map { $0.element.xmlString(.compact) } != topology.map { $0.element.xmlString(.compact) }
            || timeout != stonithTimeout
        devices = newDevices
        topology = newLevels
        stonithTimeout = timeout
        configured = true
        guard changed else { return }
        await runner.forgetLists()
        // Read each agent's meta-data and each dynamic device's list now, so that the first
        // fencing does not wait for them.
        let runner = self.runner, askTimeout = min(timeout, .seconds(20))
        Task {
            for d in newDevices where runner.isInstalled(d.agent) {
                _ = await runner.hostArgument(agent: d.agent)
                if d.hostCheck == .dynamicList { _ = await runner.agentCanFence(d, "", check: .dynamicList, timeout: askTimeout) }
            }
        }
        for d in newDevices where !runner.isInstalled(d.agent) {
            logger.warning("device \(d.id): fence agent \(d.agent) is not installed on this node (looked in \(runner.directories.joined(separator: ", "))); other nodes may still use it")
        }
        logger.notice("fence devices from the CIB usable on \(node): \(newDevices.isEmpty ? "none" : newDevices.map { "\($0.id) (\($0.agent))" }.joined(separator: ", ")); \(newLevels.count) topology level(s); stonith-timeout \(timeout.cibText)")
    }

    // MARK: - Clients

    /// Why a controller's fencing request is refused (`FenceRequestAuthorization`): read from
    /// cibd's current copy, not from the copy this shell last followed, so that a DC whose
    /// `dc-uuid` write was just acknowledged is not refused for a notification still on its way.
    private func controllerRefusal(client: String, target: String) async -> String? {
        do {
            let cib = try await CIBClient.connect(root: root, timeout: .seconds(5))
            let copy: Result<CIB, any Error>
            do { copy = .success(try await cib.query()) } catch { copy = .failure(error) }
            await cib.close()
            return FenceRequestAuthorization.refusal(client: client, target: target, localNode: node, cib: try copy.get())
        } catch {
            return "stonithd on \(node) refuses \(client)'s request to fence \(target): cannot read the CIB from cibd to check that \(node) is the DC (\(error)); only the DC's controller may fence"
        }
    }

    func handle(_ request: StonithRequest, from connection: IPCConnection<StonithAPI>) async -> StonithReply {
        switch request {
        case .fence(let target, let action, let ms, let client, let delay):
            guard Self.validNodeName(target) else {
                return .failure(StonithFailure(.invalidRequest, "'\(target)' is not a node name; give the name of the node to fence"))
            }
            guard ms > 0 else { return .failure(StonithFailure(.invalidRequest, "the timeout must be positive (got \(ms) ms)")) }
            if let why = FenceDevice.delayProblem(delay) { return .failure(StonithFailure(.invalidRequest, why)) }
            if FenceRequestAuthorization.isController(client), let why = await controllerRefusal(client: client, target: target) {
                logger.warning("\(why)")
                return .failure(StonithFailure(.notAuthorized, why))
            }
            let who = "\(client).\(connection.peer.pid)"
            return .result(await wait { token, now in
                fencer.onFenceRequest(token: token, target: target, action: action, timeout: .milliseconds(Int64(ms)), client: who, delay: delay, now: now)
            })
        case .confirm(let target, let client):
            guard Self.validNodeName(target) else {
                return .failure(StonithFailure(.invalidRequest, "'\(target)' is not a node name; give the name of the node that is down"))
            }
            let who = "\(client).\(connection.peer.pid)"
            return .result(await wait { token, now in fencer.onConfirm(token: token, target: target, client: who, now: now) })
        case .history(let target):
            return .history(fencer.history(target: target))
        case .cleanHistory(let target):
            let token = nextToken
            nextToken += 1
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                cleaning[token] = c
                perform(fencer.onCleanHistory(token: token, target: target))
            }
            return .done
        case .devices(let target):
            guard let target else { return .names(devices.filter { !$0.isDisabled }.map(\.id)) }
            let levels = await assess(target: target)
            var seen = Set<String>()
            return .names(levels.flatMap { $0 }.filter { seen.insert($0).inserted })
        case .targets(let id), .monitor(let id):
            guard let device = devices.first(where: { $0.id == id }) else {
                return .failure(StonithFailure(.notFound, "no fence device '\(id)' is registered on \(node); stonith_admin --list-registered lists them"))
            }
            var params = device.parameters
            params.removeValue(forKey: await runner.hostArgument(agent: device.agent))
            let action = request == .targets(device: id) ? "list" : "monitor"
            let r = await runner.run(agent: device.agent, resource: device.id, action: device.agentAction(for: action), parameters: params,
                                     timeout: device.timeout(for: action, default: stonithTimeout))
            guard r.status == .done, r.exitCode == .success else {
                let kind: StonithFailure.Kind = switch r.status {
                case .timedOut: .timedOut
                default: .agentFailed
                }
                return .failure(StonithFailure(kind, "\(device.id) \(action): \(device.agent): \(AgentRunner.summary(r))"))
            }
            return action == "list" ? .names(StonithAdminOutput.parseTargets(r.standardOutput)) : .done
        case .agents:
            return .names(runner.installed())
        case .metadata(let agent):
            do {
                let raw = try await runner.metadata(agent: agent)
                // As Pacemaker's fencer gives it: with start and stop, action/plug/port not required.
                return .text((try? FenceAgentMetadata.pacemakerForm(raw, agent: agent)) ?? raw)
            } catch {
                return .failure(error)
            }
        case .subscribe:
            let id = connection.id
            subscribers.insert(id)
            connection.onClose { [weak self] in Task { await self?.unsubscribe(id) } }
            return .done
        case .status:
            return .status(StonithStatus(node: node, root: root, pid: getpid(), members: fencer.memberNames.sorted(), devices: devices.map(\.id),
                                         interrupted: interrupted))
        }
    }

    private func unsubscribe(_ id: UInt64) {
        subscribers.remove(id)
    }

    /// Gives the instance a request with a fresh token and waits for its reply directive.
    private func wait(_ body: (UInt64, Date) -> [Fencer.Directive]) async -> FenceResult {
        let token = nextToken
        nextToken += 1
        return await withCheckedContinuation { continuation in
            waiting[token] = continuation
            perform(body(token, Date()))
        }
    }

    /// Failure replies for clients still waiting (stonithd is stopping).
    func failWaiting() {
        for (_, c) in cleaning { c.resume() }
        cleaning = [:]
        let all = waiting
        waiting = [:]
        for (_, c) in all {
            let e = FenceEvent(id: "", target: "", action: .reboot, state: .failed, origin: node, client: "", exitReason: "stonithd is stopping", requested: Date())
            c.resume(returning: FenceResult(outcome: .failed(reason: "stonithd on \(node) stopped before the request finished"), event: e))
        }
    }

    static func validNodeName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 255 && !s.contains(where: { $0.isWhitespace || $0 == "/" || $0.isNewline })
    }

    // MARK: - CPG

    func onEvent(_ event: CPGEvent) {
        switch event {
        case .configurationChange(let members, let joined, let left):
            logger.info("CPG group 'stonith-ng' now has \(members.count) member(s) [\(members.map(\.description).joined(separator: " "))]")
            perform(fencer.onMembership(members: members.map(\.description), joined: joined.map(\.member.description),
                                        left: left.map(\.member.description), at: Date()))
        case .message(let sender, let payload):
            guard let message = try? JSONDecoder().decode(FencerMessage.self, from: payload) else {
                logger.error("dropped a message from \(sender) in group 'stonith-ng' that is not a fencer message")
                return
            }
            perform(fencer.onMessage(message, now: Date()))
        }
    }

    // MARK: - Directives

    private func perform(_ directives: [Fencer.Directive]) {
        for d in directives {
            switch d {
            case .multicast(let m):
                if let data = try? JSONEncoder().encode(m) { outbox.yield(data) }
            case .assess(let id, let target, _):
                Task {
                    let levels = await self.assess(target: target)
                    self.assessed(id, levels)
                }
            case .runAgent(let id, let deviceID, let action, let target, let timeout, let requestedDelay):
                let device = devices.first { $0.id == deviceID }
                let fallback = stonithTimeout
                Task {
                    let (ok, output): (Bool, String)
                    if let device {
                        (ok, output) = await self.runner.fence(device: device, action: action, target: target, limit: timeout, defaultTimeout: fallback, requestedDelay: requestedDelay)
                    } else {
                        (ok, output) = (false, "device \(deviceID) is no longer configured")
                    }
                    self.agentDone(id, ok, output)
                }
            case .reply(let token, let result):
                waiting.removeValue(forKey: token)?.resume(returning: result)
            case .notify(let event):
                let subs = subscribers
                server?.broadcast(.fenced(event)) { subs.contains($0.id) }
            case .schedule(let timer, let after):
                Task {
                    try? await Task.sleep(for: after)
                    self.fire(timer)
                }
            case .done(let token):
                cleaning.removeValue(forKey: token)?.resume()
            case .log(let line):
                logger.notice("\(line)")
            }
        }
    }

    private func assessed(_ id: String, _ levels: [[String]]) {
        perform(fencer.onAssessed(id: id, levels: levels))
    }

    private func agentDone(_ id: String, _ ok: Bool, _ output: String) {
        perform(fencer.onAgentResult(id: id, success: ok, output: output, now: Date()))
    }

    private func fire(_ timer: Fencer.Timer) {
        perform(fencer.onTimer(timer, now: Date()))
    }

    /// The levels of this node's devices that can fence `target` (asking agents where needed).
    func assess(target: String) async -> [[String]] {
        let devs = devices, topo = topology
        let askTimeout = min(stonithTimeout, .seconds(20))
        var answers: [String: Bool] = [:]
        for q in FenceCapability.questions(target: target, devices: devs, installed: runner.isInstalled) {
            answers[q.device.id] = await runner.agentCanFence(q.device, target, check: q.check, timeout: askTimeout)
        }
        return FenceCapability.levels(target: target, devices: devs, topology: topo, attributes: nodeAttributes[target] ?? [:],
                                      installed: runner.isInstalled, answers: answers)
    }
}
