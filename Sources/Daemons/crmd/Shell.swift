import Agents
import CIB
import CIBClient
import CSystemd
import Controller
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import HASupport
import LRM
import LocalIPC
import Logging
import Messaging
import PolicyEngine
import Stonith

/// What reaches the shell's one loop.
enum ShellEvent: Sendable {
    case cpg(CPGEvent)
    case cibChanged(CIBPatch)
    /// cibd's copy was replaced by another member's (a sync).
    case cibReplaced(CIBPatch, from: String)
    case lrm(OperationRecord)
    case quorum(Bool)
    /// The corosync ring's members (node ids), as corosyncd reports them with each quorum.
    case ring(Set<UInt32>)
    case timer(ControllerCore.Timer)
    /// A local operation ended (its record), or could not run (rc, op-status, why).
    case localDone(ActionRequest, OperationRecord?, failure: (rc: Int, status: Int, reason: String)?)
    /// A recurring operation was accepted by lrmd with this call id.
    case recurringStarted(ActionRequest, callID: Int)
    case fenced(transition: Int, index: Int, FencingResult)
    /// A result this controller made itself (fence devices).
    case localResult(ActionResult)
    case signal(Int32)
    case lost(String)
    /// The connection to lrmd ended (`generation`: which connection, see `watchResults`).
    case lrmdLost(generation: Int)
    /// The connection to cibd ended (`generation`: which connection, see `watchCIB`).
    case cibdLost(generation: Int)
    /// A record (a result, a fencing) could not be written to the CIB.
    case recordFailed(String)
}

/// The shell: one loop that owns the core and performs its directives in order (each CIB write
/// is awaited before the next directive, so the scheduler always sees what was recorded).
final class ControllerShell: @unchecked Sendable {
    let env: NodeEnvironment
    var core: ControllerCore
    var names: [UInt32: String]
    /// The connection to this node's cibd; replaced when cibd is restarted (`reconnectCIB`).
    var cib: CIBClient
    var cibGeneration = 0
    /// The connection to this node's lrmd; replaced when lrmd is restarted (`reconnectLRM`).
    var lrmd: LRMClient
    /// Counts the connections to lrmd: an end reported for an older one is not news.
    var lrmdGeneration = 0
    /// How long to wait for a restarted lrmd, or a restarted cibd to be synced, before giving
    /// up (and exiting: the DC then sees this controller lost, and the node is fenced).
    let reconnectTimeout: Duration
    /// Why the loop must end (a connection that could not be made again).
    var lostReason: String?
    let group: CPGHandle
    let sink: AsyncStream<ShellEvent>.Continuation
    let logger: Logger
    let fencer: (any NodeFencer)?
    /// The quorum as last heard from corosyncd (false while not known: have-quorum="0").
    var quorate = false
    /// Asks corosyncd for this partition's quorum and the ring's members now (nil: no answer).
    var quorumQuery: (@Sendable () async -> (quorate: Bool, ring: Set<UInt32>)?)?
    var timers: [ControllerCore.Timer: Task<Void, Never>] = [:]
    /// Versions produced by this controller's own CIB writes: their notifications are not news.
    var ownVersions: Set<CIBVersion> = []
    /// Recurring operations started here: call id → the request (for its later results).
    var recurring: [Int: ActionRequest] = [:]
    /// Results of recurring operations that arrived before lrmd's answer named their call id.
    var early: [Int: OperationRecord] = [:]
    /// Transition keys of operations run here, by call id (added to the history at a join).
    var keysByCallID: [Int: String] = [:]
    let peInputs: PEInputSeries
    /// --shutdown-timeout, which replaces the cluster's shutdown-escalation (nil: not given).
    let shutdownOverride: Duration?
    var startFailureIsFatal = true
    var exiting = false
    /// Whether to leave the group on purpose when exiting (see `ControllerCore.Directive.exit`).
    var cleanExit = false
    /// cibd's count of copy replacements when the current join round's first record was
    /// written (see `schedule`), and whether the round has taken it yet.
    var replacementsAtJoin: Int?
    var joinBaselineTaken = false
    /// Recurring monitors of fence devices started here, by device (see `watchDevice`).
    var deviceMonitors: [String: Task<Void, Never>] = [:]
    /// Fence devices started on this node (see `runLocally`).
    var startedDevices: [String: ActionResult] = [:]
    /// The last failed result of each resource on this node, as Pacemaker's controller keeps
    /// it in its history: lrmd cannot tell a failure (a monitor that finds the resource
    /// stopped is one only when it was expected running), so a join round would otherwise
    /// record the history without its `RSC_last_failure_0`. Forgotten with the history
    /// (crm_resource --cleanup/--refresh, a delete).
    var lastFailures: [String: ActionResult] = [:]
    /// Call ids for results this controller makes itself (fence devices, actions lrmd could
    /// not take): increasing across restarts, above lrmd's.
    var nextCallID = Int(Date().timeIntervalSince1970) * 10

    init(env: NodeEnvironment, local: ControllerMember, names: [UInt32: String], cib: CIBClient, lrmd: LRMClient,
         group: CPGHandle, sink: AsyncStream<ShellEvent>.Continuation, logger: Logger, shutdownTimeout: Duration?,
         fencer: (any NodeFencer)? = nil, quorum: Bool?, reconnectTimeout: Duration = .seconds(60)) {
        self.env = env
        self.reconnectTimeout = reconnectTimeout
        core = ControllerCore(local: local, uuid: UUID().uuidString.lowercased(), quorum: quorum)
        core.nodeNames = names
        quorate = quorum ?? false
        shutdownOverride = shutdownTimeout
        self.names = names
        self.cib = cib
        self.lrmd = lrmd
        self.group = group
        self.sink = sink
        self.logger = logger
        self.fencer = fencer
        peInputs = PEInputSeries(directory: env.path("var/lib/pacemaker/pengine"))
    }

    var localName: String { core.local.name }

    func nodeID(of name: String) -> String {
        names.first { $0.value == name }.map { String($0.key) } ?? name
    }

    /// Runs until the core says exit; returns "exit", or why it ended.
    func run(_ events: AsyncStream<ShellEvent>) async -> String? {
        await adoptRecurring()
        for await event in events {
            switch event {
            case .lost(let why):
                return why
            default:
                await handle(event)
            }
            if let why = lostReason { return why }
            if exiting { return cleanExit ? "exit" : "exit-unclean" }
        }
        return "the event stream ended"
    }

    func handle(_ event: ShellEvent) async {
        switch event {
        case .cpg(.configurationChange(let members, _, let left)):
            var seen = Set<UInt32>()
            let ms = members.filter { seen.insert($0.nodeID).inserted }.map { member($0.nodeID) }
            let stillThere = Set(ms.map(\.nodeID))
            // A member that left on purpose is shutting its node down (pacemakerd stops corosyncd
            // next): recorded out of the membership. One whose process ended is still in it.
            let gone = left.filter { !stillThere.contains($0.member.nodeID) }.map {
                (member: member($0.member.nodeID), clean: $0.reason == .leave, nodeStillUp: $0.reason == .processDown)
            }
            // A node whose old controller left and whose new one joined in this one change.
            let restarted = Set(left.filter { stillThere.contains($0.member.nodeID) }.map(\.member.nodeID)).sorted().map { member($0) }
            logger.info("CPG group 'crmd': \(ms.map(\.description).joined(separator: ", ")); left: \(gone.map { "\($0.member) (\($0.clean ? "clean" : "lost"))" }.joined(separator: ", "))")
            // corosyncd reports the quorum of the new ring after its membership: ask for it now,
            // so that have-quorum is written before the scheduler runs on this membership (a
            // minority must not act on the quorum its ring had before the split).
            let q = await quorumQuery?()
            if let q { await applyQuorum(q.quorate, schedule: false) }
            await perform(core.onMembership(ms, left: gone, restarted: restarted))
            // After the membership: a member whose controller left with its node still in the
            // ring is awaited (`ControllerCore.controllersAway`), unless the ring now says the
            // node is gone too.
            if let q { await perform(core.onRing(q.ring)) }
        case .cpg(.message(let sender, let payload)):
            guard let m = try? ControllerMessage.decode(payload) else {
                logger.warning("dropped a message from \(sender) that is not a controller message")
                return
            }
            await perform(core.onMessage(m, from: member(sender.nodeID)))
        case .cibChanged(let patch):
            if ownVersions.remove(patch.target) != nil { return }
            // A resource's history here deleted (crm_resource --cleanup/--refresh): lrmd
            // forgets it too (its operations are cancelled), before the DC probes it again.
            for rsc in StatusWrites.deletedHistories(in: patch, nodeID: String(core.local.nodeID)) {
                logger.notice("\(rsc)'s history on this node was deleted from the CIB: lrmd forgets it, and it is probed again")
                try? await lrmd.unregister(rsc)
                lastFailures[rsc] = nil
            }
            guard core.isDC else { return }
            if StatusWrites.namesOtherDC(patch, dcID: String(core.local.nodeID)) {
                logger.notice("a change named another node as DC (a former DC's write after a merge): writing dc-uuid again")
                await writeRootAttributes()
            }
            await perform(core.onCIBChanged("the CIB changed (now \(patch.target))"))
        case .cibReplaced(let patch, let from):
            ownVersions.removeAll()
            guard core.isDC else { return }
            joinBaselineTaken = false
            await perform(core.onCIBReplaced("the CIB was replaced by \(from)'s copy (now \(patch.target))"))
        case .lrm(let record):
            onLRMRecord(record)
            if let (req, record) = takeRecurringResult(record) { await sendResult(req, record) }
        case .quorum(let q):
            await applyQuorum(q, schedule: true)
        case .ring(let ids):
            await perform(core.onRing(ids))
        case .timer(let t):
            timers[t] = nil
            await perform(core.onTimer(t))
        case .localDone(let req, let record, let failure):
            if req.task == "delete", let rsc = req.resource { lastFailures[rsc] = nil }
            if let record {
                remember(record.callID, req.transitionKey)
                await sendResult(req, record)
            } else if let failure {
                nextCallID += 1
                let r = ActionResult(node: localName, resource: req.resource ?? "", agent: req.agent ?? "", task: req.task,
                                     intervalMS: req.intervalMS, transitionKey: req.transitionKey, callID: nextCallID, rc: failure.rc,
                                     opStatus: failure.status, lastRCChange: Int(Date().timeIntervalSince1970),
                                     exitReason: failure.reason)
                await send(.result(r))
            }
        case .recurringStarted(let req, let callID):
            recurring[callID] = req
            remember(callID, req.transitionKey)
            if let record = early.removeValue(forKey: callID) { await sendResult(req, record) }
        case .fenced(let t, let i, let result):
            await perform(core.onFenceResult(transition: t, index: i, result))
        case .localResult(let r):
            if r.agent.hasPrefix("stonith:"), r.task == "start", r.intervalMS == 0 {
                startedDevices[r.resource] = r.rc == 0 ? r : nil
            }
            await send(.result(r))
        case .signal(let sig):
            logger.info("received \(sig == SIGINT ? "SIGINT" : "SIGTERM"): asking the DC to move this node's resources away before stopping")
            // Whether lrmd may still run resources here (unknown: assume so).
            let active = (try? await lrmd.histories()).map { $0.contains(where: \.mayBeActive) } ?? true
            core.shutdownEscalation = await shutdownEscalation()
            await perform(core.onShutdownRequested(resourcesActive: active))
        case .recordFailed(let what):
            await perform(core.onRecordFailed(what))
        case .lrmdLost(let generation):
            guard generation == lrmdGeneration else { return }
            await reconnectLRM()
        case .cibdLost(let generation):
            guard generation == cibGeneration else { return }
            await reconnectCIB()
        case .lost:
            break
        }
    }

    /// How long to wait at a stop for the DC: --shutdown-timeout if given, else the cluster
    /// option shutdown-escalation as cibd has it now (read within 5 s; else the default).
    func shutdownEscalation() async -> Duration {
        if let shutdownOverride { return shutdownOverride }
        let cib = self.cib
        let options: ClusterOptions? = await withTaskGroup(of: ClusterOptions?.self) { group in
            group.addTask { (try? await cib.query()).map { ClusterOptions($0.configuration, now: Int(Date().timeIntervalSince1970)) } }
            group.addTask {
                try? await Task.sleep(for: .seconds(5))
                return nil
            }
            let first: ClusterOptions?? = await group.next()
            group.cancelAll()
            return first ?? nil
        }
        guard let options else {
            logger.warning("cannot read shutdown-escalation from cibd; using the default (20min)")
            return ControllerCore.defaultShutdownEscalation
        }
        let (d, problem) = ControllerCore.shutdownEscalation(from: options)
        if let problem { logger.warning("\(problem)") }
        return d
    }

    /// A quorum state from corosyncd: recorded (have-quorum, when DC) before the core hears it.
    func applyQuorum(_ q: Bool, schedule: Bool) async {
        guard q != quorate || q != core.quorate || !core.quorumKnown else { return }
        quorate = q
        logger.info("quorum \(q ? "gained" : "lost")")
        if core.isDC { await writeRootAttributes() }
        await perform(core.onQuorum(q, schedule: schedule))
    }

    func member(_ id: UInt32) -> ControllerMember {
        ControllerMember(nodeID: id, name: names[id] ?? "node\(id)")
    }

    // MARK: The connection to lrmd

    /// Forwards the results of the current lrmd connection to the loop; its end comes as
    /// `.lrmdLost` with this connection's generation.
    func watchResults() {
        let generation = lrmdGeneration
        let results = lrmd.results()
        let sink = self.sink
        Task {
            for await r in results { sink.yield(.lrm(r)) }
            sink.yield(.lrmdLost(generation: generation))
        }
    }

    /// lrmd went away (killed: pacemakerd starts it again). The resources it started keep
    /// running (their processes are not lrmd's), so instead of exiting (which the DC would see
    /// as this controller lost, and fence the node) the controller waits, up to
    /// `reconnectTimeout`, for the new lrmd, connects to it and has the DC read this
    /// node's history again: the scheduler probes the node's resources, finds those that still
    /// run, and sets up their recurring monitors again. The loop waits meanwhile, so that no
    /// action is sent to a dead lrmd; the actions the old one was running report a failure
    /// (their own tasks see the connection end). If lrmd does not come back in time, the
    /// controller exits: its node is then fenced, as before.
    func reconnectLRM() async {
        logger.error("lost the connection to lrmd; waiting up to \(reconnectTimeout) for it to be started again")
        let root = env.root
        let fresh: LRMClient
        do {
            fresh = try await CRMDaemonCommand.retry(until: ContinuousClock.now + reconnectTimeout) {
                try await LRMClient.connect(root: root, timeout: .seconds(5))
            }
        } catch {
            lostReason = "the connection to lrmd ended and lrmd could not be reached again within \(reconnectTimeout): \(error)"
            return
        }
        let old = lrmd
        lrmd = fresh
        lrmdGeneration += 1
        await old.close()
        watchResults()
        // A new lrmd starts with no history and its own call ids: what was known of the old
        // one's operations is dropped (the same lrmd, reached again, still has them).
        let histories = (try? await fresh.histories()) ?? []
        if histories.isEmpty {
            recurring = [:]
            early = [:]
            keysByCallID = [:]
        }
        logger.notice("connected to lrmd again (\(histories.isEmpty ? "a new lrmd, with no history" : "its history kept"))")
        // What the killed lrmd was running, the new one ended before serving (its processes
        // killed); those actions already failed here when the connection ended.
        if let gone = try? await fresh.status().interrupted, !gone.isEmpty {
            logger.warning("the new lrmd ended what the killed one was running: \(gone.map(\.description).joined(separator: "; "))")
        }
        await adoptRecurring()
        await perform(core.onExecutorRestarted())
    }

    // MARK: The connection to cibd

    /// Subscribes to the current cibd connection's notifications and forwards them to the
    /// loop; their end comes as `.cibdLost` with this connection's generation.
    func watchCIB() async throws {
        let generation = cibGeneration
        let changes = try await cib.notifications()
        let sink = self.sink
        Task {
            for await n in changes {
                switch n {
                case .changed(let p): sink.yield(.cibChanged(p))
                case .replaced(let p, let from): sink.yield(.cibReplaced(p, from: from))
                }
            }
            sink.yield(.cibdLost(generation: generation))
        }
    }

    /// cibd went away (killed: pacemakerd starts it again, and the new one syncs its copy from
    /// the other members'). Pacemaker's controller exits here (and its node is usually fenced);
    /// this one waits, up to `reconnectTimeout`, for the new cibd to be synced, connects to
    /// it, and, when DC, has every member's history read and recorded again (a write in flight
    /// when cibd died may be lost) before the scheduler runs. Nothing is decided meanwhile:
    /// the loop waits. The node's resources are not touched: where they run is what the
    /// executors say, not the CIB. If cibd is not back and synced in time, the controller
    /// exits and its node is fenced, as before.
    func reconnectCIB() async {
        logger.error("lost the connection to cibd; waiting up to \(reconnectTimeout) for it to be started again and synced with its peers")
        let root = env.root
        let fresh: CIBClient
        do {
            fresh = try await CRMDaemonCommand.retry(until: ContinuousClock.now + reconnectTimeout) {
                let c = try await CIBClient.connect(root: root, timeout: .seconds(5))
                guard try await c.status().synced else {
                    await c.close()
                    throw IPCError.cannotConnect(service: "cibd", path: CIBAPI.socketPath(root: root), reason: "its copy is not synced yet")
                }
                return c
            }
        } catch {
            lostReason = "the connection to cibd ended and cibd was not back and synced within \(reconnectTimeout): \(error)"
            return
        }
        let old = cib
        cib = fresh
        cibGeneration += 1
        await old.close()
        do {
            try await watchCIB()
        } catch {
            lostReason = "cannot subscribe to the restarted cibd's changes: \(error)"
            return
        }
        ownVersions.removeAll()
        replacementsAtJoin = nil
        joinBaselineTaken = false
        logger.notice("connected to cibd again (its copy synced)")
        await perform(core.onCIBReplaced("this node's cibd was restarted and synced its copy from its peers"))
    }

    // MARK: Local operations

    /// Recurring operations lrmd already runs (this crmd restarted): their later results are
    /// reported like those of the operations this crmd starts, as expecting success.
    func adoptRecurring() async {
        guard let histories = try? await lrmd.histories() else { return }
        for h in histories {
            for op in h.operations.values where op.key.interval > .zero && recurring[op.callID] == nil {
                let ms = Int(op.key.interval.components.seconds * 1000 + op.key.interval.components.attoseconds / 1_000_000_000_000_000)
                recurring[op.callID] = ActionRequest(
                    node: localName, task: op.key.action.rawValue, resource: h.resource.id, agent: h.resource.agent.description,
                    intervalMS: ms, timeoutMS: 20_000, parameters: h.resource.parameters, meta: [:],
                    transitionKey: TransitionKey(actionID: 0, transitionID: 0, targetRC: 0, uuid: "adopted").description)
            }
        }
        if !recurring.isEmpty { logger.info("watching \(recurring.count) recurring operation(s) lrmd already runs") }
    }

    /// Remembers the transition key of an operation run here (bounded).
    func remember(_ callID: Int, _ key: String) {
        keysByCallID[callID] = key
        if keysByCallID.count > 20_000 {
            for id in keysByCallID.keys.sorted().prefix(10_000) { keysByCallID[id] = nil }
        }
    }

    func onLRMRecord(_ record: OperationRecord) {
        guard record.key.interval > .zero, recurring[record.callID] == nil, record.status != .cancelled else { return }
        early[record.callID] = record
        if early.count > 256, let first = early.keys.min() { early[first] = nil }
    }

    func takeRecurringResult(_ record: OperationRecord) -> (ActionRequest, OperationRecord)? {
        guard let req = recurring[record.callID] else { return nil }
        if record.status == .cancelled {
            recurring[record.callID] = nil
            return nil
        }
        return (req, record)
    }

    func sendResult(_ req: ActionRequest, _ record: OperationRecord) async {
        let last = Int(Date().timeIntervalSince1970) // lrmd's record times are its own; the change is now
        let r = ActionResult(node: localName, resource: req.resource ?? record.key.resource, agent: req.agent ?? "",
                             task: req.task, intervalMS: req.intervalMS, transitionKey: req.transitionKey,
                             callID: record.callID, rc: Int(record.exitCode.rawValue), opStatus: record.status.pacemakerCode,
                             execTimeMS: Int(record.execTime.components.seconds * 1000 + record.execTime.components.attoseconds / 1_000_000_000_000_000),
                             queueTimeMS: Int(record.queueTime.components.seconds * 1000 + record.queueTime.components.attoseconds / 1_000_000_000_000_000),
                             lastRCChange: last, digest: record.parameterDigest, exitReason: record.exitReason)
        await send(.result(r))
    }

    /// Runs an action on this node's lrmd in a task of its own; its end comes back as an event.
    func runLocally(_ req: ActionRequest) {
        let lrmd = self.lrmd
        let sink = self.sink
        let logger = self.logger
        let stopping = req.task == "stop" ? recurring.filter { $0.value.resource == req.resource }.map(\.value) : []
        // Fence devices: stonithd runs them, straight from the CIB; "started" only says where
        // the cluster watches one, kept here as Pacemaker's executor keeps it. A start runs the
        // device's monitor through this node's stonithd, as Pacemaker's executor does (a
        // failed monitor is a failed start); a stop always succeeds; a monitor says running
        // where started, not running elsewhere.
        if req.agent?.hasPrefix("stonith:") == true, let rsc = req.resource, req.task == "start" {
            startDevice(req, rsc)
            return
        }
        if req.agent?.hasPrefix("stonith:") == true, let rsc = req.resource {
            var rc = 0
            switch req.task {
            case "stop":
                startedDevices[rsc] = nil
                deviceMonitors.removeValue(forKey: rsc)?.cancel()
            case "cancel":
                deviceMonitors.removeValue(forKey: rsc)?.cancel()
            case "monitor":
                rc = startedDevices[rsc] != nil ? 0 : 7
            default:
                rc = 3
            }
            nextCallID += 1
            if req.task == "monitor", req.intervalMS > 0, rc == 0 { watchDevice(req, rsc, callID: nextCallID) }
            let r = ActionResult(node: localName, resource: rsc, agent: req.agent ?? "", task: req.task, intervalMS: req.intervalMS,
                                 transitionKey: req.transitionKey, callID: nextCallID, rc: rc, opStatus: 0,
                                 lastRCChange: Int(Date().timeIntervalSince1970), digest: req.operationDigest,
                                 exitReason: rc == 3 ? "\(req.task) is not an action of fence devices" : nil)
            let sink = self.sink
            Task { sink.yield(.localResult(r)) }
            return
        }
        Task {
            func fail(_ rc: Int, _ status: Int, _ why: String) {
                logger.error("\(req.operationKey) on this node: \(why)")
                sink.yield(.localDone(req, nil, failure: (rc, status, why)))
            }
            guard let rsc = req.resource else { return fail(1, 4, "the action names no resource") }
            do {
                switch req.task {
                case "cancel":
                    let action = AgentAction(rawValue: req.meta["operation"] ?? "monitor") ?? .monitor
                    try await lrmd.cancel(OperationKey(resource: rsc, action: action, interval: .milliseconds(req.intervalMS)))
                    sink.yield(.localDone(req, nil, failure: (0, 0, "cancelled")))
                    return
                case "delete":
                    try? await lrmd.unregister(rsc)
                    sink.yield(.localDone(req, nil, failure: (0, 0, "deleted")))
                    return
                default:
                    break
                }
                guard let text = req.agent, let agent = ResourceAgentName(parsing: text) else {
                    return fail(5, 7, "no agent given for \(rsc) (\(req.agent ?? "none")); fix the primitive's class, provider and type")
                }
                guard let action = AgentAction(rawValue: req.task) else {
                    return fail(3, 3, "'\(req.task)' is not an action this controller runs")
                }
                try await lrmd.register(ResourceDefinition(id: rsc, agent: agent, parameters: req.parameters))
                // A stop ends the resource's recurring operations first, as Pacemaker's controller does.
                for r in stopping {
                    let a = AgentAction(rawValue: r.task) ?? .monitor
                    try? await lrmd.cancel(OperationKey(resource: rsc, action: a, interval: .milliseconds(r.intervalMS)))
                }
                let op = OperationRequest(resource: rsc, action: action, interval: .milliseconds(req.intervalMS),
                                          timeout: .milliseconds(max(1, req.timeoutMS)), parameters: req.parameters,
                                          meta: req.meta.filter { !["on_node", "on_node_uuid", "op_target_rc"].contains($0.key) })
                if req.intervalMS > 0 {
                    let callID = try await lrmd.execute(op)
                    sink.yield(.recurringStarted(req, callID: callID))
                } else {
                    let record = try await lrmd.run(op)
                    sink.yield(.localDone(req, record, failure: nil))
                }
            } catch let f as LRMFailure {
                switch f.kind {
                case .notInstalled, .invalidAgent: fail(5, 7, f.message)
                default: fail(1, 4, f.message)
                }
            } catch IPCError.disconnected {
                // lrmd died with the action running; the next lrmd ends what is left of it
                // (its process group) before it serves, and this node is probed again.
                fail(1, 8, "interrupted: lrmd restarted (the connection to lrmd ended while the action ran)")
            } catch {
                fail(1, 8, "lrmd: \(error)")
            }
        }
    }

    /// Starts a fence device: its agent's monitor, run by this node's stonithd (which registers
    /// devices from the CIB itself: one just configured may not be there yet, so "not found" is
    /// asked again until the action's timeout). The result comes back as `.localResult`.
    func startDevice(_ req: ActionRequest, _ rsc: String) {
        nextCallID += 1
        let callID = nextCallID
        let sink = self.sink
        let root = env.root
        let node = localName
        let logger = self.logger
        Task {
            let clock = ContinuousClock()
            let deadline = clock.now + .milliseconds(max(1000, req.timeoutMS))
            let began = clock.now
            var failure: String?
            var outcome = FenceDeviceOutcome.ok
            while true {
                do {
                    let client = try await StonithClient.connect(root: root, name: "crmd", timeout: .seconds(10))
                    defer { Task { await client.close() } }
                    try await client.monitor(device: rsc)
                    failure = nil
                    outcome = .ok
                    break
                } catch let f as StonithFailure where f.kind == .notFound && clock.now < deadline {
                    failure = f.message
                    outcome = .noDevice
                } catch let f as StonithFailure {
                    failure = f.message
                    outcome = Self.outcome(f)
                    break
                } catch {
                    failure = "cannot ask stonithd to monitor \(rsc): \(error)"
                    outcome = .notConnected
                    guard clock.now < deadline else { break }
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
            let elapsed = clock.now - began
            if let failure { logger.error("\(rsc) start on \(node): its monitor failed: \(failure)") }
            let recorded = FenceDeviceResult.record(task: req.task, outcome)
            let r = ActionResult(node: node, resource: rsc, agent: req.agent ?? "", task: req.task, intervalMS: req.intervalMS,
                                 transitionKey: req.transitionKey, callID: callID, rc: recorded.rc,
                                 opStatus: recorded.opStatus,
                                 execTimeMS: Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000),
                                 lastRCChange: Int(Date().timeIntervalSince1970), digest: req.operationDigest,
                                 exitReason: failure)
            sink.yield(.localResult(r))
        }
    }

    /// What a fencer's refusal of a device's monitor means for its operation history.
    static func outcome(_ f: StonithFailure) -> FenceDeviceOutcome {
        switch f.kind {
        case .agentFailed: .agentError
        case .timedOut: .timedOut
        case .notFound: .noDevice
        case .invalidRequest, .shuttingDown, .notAuthorized: .notConnected
        }
    }

    /// A fence device's recurring monitor, as Pacemaker's executor runs it: every interval the
    /// agent's monitor through this node's stonithd; a change of result (a failure, or a
    /// recovery) is reported with the operation's call id, like lrmd's recurring operations.
    func watchDevice(_ req: ActionRequest, _ rsc: String, callID: Int) {
        deviceMonitors.removeValue(forKey: rsc)?.cancel()
        let sink = self.sink
        let root = env.root
        let node = localName
        let logger = self.logger
        deviceMonitors[rsc] = Task {
            var last = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(max(100, req.intervalMS)))
                guard !Task.isCancelled else { return }
                var failure: String?
                var outcome = FenceDeviceOutcome.ok
                do {
                    let client = try await StonithClient.connect(root: root, name: "crmd", timeout: .seconds(10))
                    defer { Task { await client.close() } }
                    try await client.monitor(device: rsc)
                } catch let f as StonithFailure {
                    failure = f.message
                    outcome = Self.outcome(f)
                } catch {
                    failure = "cannot ask stonithd to monitor \(rsc): \(error)"
                    outcome = .notConnected
                }
                let recorded = FenceDeviceResult.record(task: req.task, outcome)
                let rc = recorded.rc
                guard rc != last, !Task.isCancelled else { continue }
                last = rc
                if let failure { logger.error("\(rsc) monitor on \(node) failed: \(failure)") }
                sink.yield(.localResult(ActionResult(
                    node: node, resource: rsc, agent: req.agent ?? "", task: req.task, intervalMS: req.intervalMS,
                    transitionKey: req.transitionKey, callID: callID, rc: rc, opStatus: recorded.opStatus,
                    lastRCChange: Int(Date().timeIntervalSince1970), digest: req.operationDigest, exitReason: failure)))
            }
        }
    }

    /// This node's history as `<lrm_resources>`, with the transition keys known here.
    func localHistory() async -> String {
        var list = XElement("lrm_resources")
        do {
            for r in try await lrmd.lrmResources(node: localName) {
                var e = r.element
                if e["class"] == "stonith" { continue }
                e.updateElements { op in
                    guard op.name == "lrm_rsc_op", let id = op["call-id"].flatMap(Int.init), let key = keysByCallID[id] else { return }
                    op["transition-key"] = key
                    op["transition-magic"] = "\(op["op-status"] ?? "0"):\(op["rc-code"] ?? "0");\(key)"
                }
                if let id = e.id, let failure = lastFailures[id], !e.elements.contains(where: { $0.id == "\(id)_last_failure_0" }) {
                    e.append(StatusRecords.operation(failure, id: "\(id)_last_failure_0"))
                }
                list.append(e)
            }
        } catch {
            logger.error("cannot read lrmd's history for the join: \(error)")
        }
        for (id, start) in startedDevices.sorted(by: { $0.key < $1.key }) {
            if let rsc = StatusRecords.result(start, nodeID: "x").firstElement(named: "lrm")?.firstElement(named: "lrm_resources")?
                .firstElement(named: "lrm_resource") {
                var e = rsc
                e.children = [.element(StatusRecords.operation(start, id: "\(id)_last_0"))]
                list.append(e)
            }
        }
        // What the DC asked this node to run and has not reported yet: pending.
        return StatusRecords.addingPending(Array(core.runningLocally.values), to: list.xmlString(.compact))
    }

    // MARK: Directives

    func perform(_ directives: [ControllerCore.Directive]) async {
        for d in directives {
            await perform(d)
        }
    }

    func perform(_ d: ControllerCore.Directive) async {
        switch d {
        case .send(let m):
            await send(m)
        case .arm(let t, let after):
            if t == .shutdownEscalation {
                // The supervisor (pacemakerd, or systemd) is told how long this stop may take:
                // the escalation, and a margin for the exit itself.
                let total = after + .seconds(30)
                let usec = total.components.seconds * 1_000_000 + total.components.attoseconds / 1_000_000_000_000
                _ = sd_notify(0, "STOPPING=1\nEXTEND_TIMEOUT_USEC=\(usec)")
            }
            timers[t]?.cancel()
            let sink = self.sink
            timers[t] = Task {
                do { try await Task.sleep(for: after) } catch { return }
                sink.yield(.timer(t))
            }
        case .disarm(let t):
            timers.removeValue(forKey: t)?.cancel()
        case .becameDC, .recordJoin, .recordMembers, .recordLeft, .recordResult, .recordShutdownRequest, .recordExpectedDown, .recordFenced, .clearFailcount:
            switch d {
            case .becameDC: logger.info("this node (\(core.local)) is the DC")
            case .recordMembers(let ms): logger.info("join complete: \(ms.map(\.description).joined(separator: ", "))")
            case .recordLeft(let m, let clean, _): logger.info("\(m.name) left \(clean ? "cleanly" : "without a clean leave: it is unclean until fenced")")
            case .recordFenced(let node): logger.notice("\(node) was fenced")
            case .recordResult(let r):
                logger.info("\(r.operationKey) on \(r.node): rc=\(r.rc) status=\(r.opStatus)\(r.isFailure ? " (failed)" : "")\(r.execTimeMS > 0 ? " exec=\(r.execTimeMS)ms" : "")",
                            metadata: ["node": "\(r.node)", "resource": "\(r.resource)", "operation": "\(r.operationKey)"])
            default: break
            }
            if !(await record(d)) {
                // Not recorded: the core aborts the transition and plans again after a pause.
                switch d {
                case .recordResult(let r): sink.yield(.recordFailed("the result of \(r.operationKey) on \(r.node)"))
                case .recordFenced(let node): sink.yield(.recordFailed("the fencing of \(node)"))
                default: break
                }
            }
        case .resignedDC:
            logger.info("this node is no longer the DC")
        case .sendHistory(let round):
            let history = await localHistory()
            let witnessed = core.witnessedRequests
            await send(.joinHistory(round: round, nodeID: core.local.nodeID, node: localName, lrmResources: history,
                                    unanswered: witnessed.isEmpty ? nil : witnessed))
        case .runLocally(let req):
            logger.info("running \(req.operationKey) (\(req.transitionKey))",
                        metadata: ["node": "\(localName)", "resource": "\(req.resource ?? "")", "operation": "\(req.operationKey)"])
            runLocally(req)
        case .schedule(let reason):
            await schedule(reason)
        case .fence(let node, let action, let timeout, let t, let i):
            logger.warning("fencing \(node) (\(action))")
            guard let fencer else {
                logger.error("cannot fence \(node): this crmd has no fencer; its resources stay where they are until it is cleanly down")
                sink.yield(.fenced(transition: t, index: i, .failed("no fencer configured")))
                return
            }
            let sink = self.sink, logger = self.logger
            Task {
                let r = await fencer.fence(target: node, action: action, timeout: timeout)
                if case .failed(let why) = r {
                    // As Pacemaker's controller: the transition is aborted and the scheduler,
                    // finding the node still unclean, asks for its fencing again; nothing of
                    // the node is recovered meanwhile.
                    logger.warning("fencing \(node) (\(action)) failed: \(why); \(node) stays unclean and is fenced again before anything of it is recovered")
                } else {
                    logger.notice("\(node) fenced (\(action)): confirmed by stonithd")
                }
                sink.yield(.fenced(transition: t, index: i, r))
            }
        case .exit(let clean):
            exiting = true
            cleanExit = clean
        case .note(let s):
            logger.info("\(s)")
        }
    }

    func send(_ m: ControllerMessage) async {
        if case .result(let r) = m, r.node == localName, r.isFailure, !["cancel", "delete", "notify", "do_shutdown"].contains(r.task) {
            lastFailures[r.resource] = r
        }
        do {
            try await group.multicast(m.encoded())
        } catch {
            logger.error("cannot multicast to CPG group 'crmd': \(error)")
            sink.yield(.lost("cannot multicast to CPG group 'crmd': \(error)"))
        }
    }

    /// Writes through cibd; false when it failed.
    @discardableResult
    func write(_ op: CIBReplica.Operation, quietIfMissing: Bool = false) async -> Bool {
        do {
            let v = try await cib.change(op)
            ownVersions.insert(v)
            if ownVersions.count > 4096 { ownVersions.removeAll() }
            return true
        } catch let e as CIBError where e.kind == .notFound && quietIfMissing {
            return false
        } catch let e as CIBError where e.kind == .noQuorum {
            // A configuration write (a node's <node> entry, dc-version) in a partition without
            // quorum: the DC writes it again once the partition has quorum or merges.
            logger.notice("not written without quorum: \(e.message)")
            return false
        } catch {
            logger.error("cannot update the CIB: \(error)")
            return false
        }
    }

    func writeRootAttributes() async {
        await record(.becameDC)
    }

    /// Carries out a record directive: its CIB changes, in order. False when one of them
    /// failed (deleting what is already gone does not count).
    @discardableResult
    func record(_ d: ControllerCore.Directive) async -> Bool {
        let names = self.names
        var writes = StatusWrites(nodeID: { n in names.first { $0.value == n }.map { String($0.key) } ?? n },
                                  now: Int(Date().timeIntervalSince1970), startFailureIsFatal: startFailureIsFatal, quorate: quorate)
        writes.nodelist = names.sorted { $0.key < $1.key }.map { ControllerMember(nodeID: $0.key, name: $0.value) }
        writes.inRing = core.ringMembers.map { Set($0.map(String.init)) }
        if StatusWrites.needsSections(d) {
            writes.status = (try? await cib.queryXML(section: .status)).flatMap { try? XElement.parse(Array($0.utf8), source: "cibd's status") }
            writes.nodes = (try? await cib.queryXML(section: .nodes)).flatMap { try? XElement.parse(Array($0.utf8), source: "cibd's nodes") }
        }
        switch d {
        case .recordJoin where !joinBaselineTaken:
            joinBaselineTaken = true
            replacementsAtJoin = (try? await cib.status())?.replacements
        case .recordMembers:
            joinBaselineTaken = false
        default:
            break
        }
        var ok = true
        for op in writes.operations(for: d, dc: core.local) {
            var quiet = false
            if case .xpath(_, .delete) = op { quiet = true }
            if !(await write(op, quietIfMissing: quiet)) && !quiet { ok = false }
        }
        return ok
    }

    /// Runs the scheduler on the CIB as it is now and hands the graph to the core.
    func schedule(_ reason: String) async {
        let cibNow: CIB
        do {
            cibNow = try await cib.query()
        } catch {
            logger.error("cannot read the CIB to run the scheduler: \(error); trying again at the next event")
            await perform(core.onScheduled(ActionGraph(), recheck: .seconds(5)))
            return
        }
        // A copy replaced (a merge's sync) since this join's records were written may not hold
        // them: the histories are read again instead of planning on it (the status is asked
        // after the CIB, so a replacement before the CIB was read is counted).
        if let before = replacementsAtJoin, let now = (try? await cib.status())?.replacements, now != before {
            replacementsAtJoin = now
            joinBaselineTaken = false
            await perform(core.onCIBReplaced("the CIB was replaced since the join's records were written"))
            return
        }
        let now = Int(Date().timeIntervalSince1970)
        // Nodes whose controller is being restarted are frozen (in maintenance) for this run.
        var input = core.schedulerInput(cibNow)
        let frozen = core.frozen(in: cibNow).map(\.name)
        if !frozen.isEmpty {
            logger.info("scheduling with \(frozen.joined(separator: ", ")) in maintenance until its controller is back")
        }
        input.root["execution-date"] = String(now)
        let n = peInputs.save(input)
        let (ws, transition) = Simulator.schedule(SchedulerInput(cib: input, now: now))
        startFailureIsFatal = ws.options.startFailureIsFatal
        core.noQuorumPolicy = ws.options.noQuorumPolicy
        let text = ws.options.raw["cluster-recheck-interval"] ?? "15min"
        let ms = CIBValue.milliseconds(text) ?? 900_000
        var recheck: Duration? = ms > 0 ? .milliseconds(ms) : nil
        // A failure that stops counting (failure-timeout) or a date rule that begins or ends
        // before then is a reason to plan again at that moment (a second after it, so that
        // it has surely passed).
        if let expiry = Recheck.next(ws) {
            let wait = Duration.seconds(max(1, expiry - now + 1))
            if recheck.map({ wait < $0 }) ?? true {
                recheck = wait
                logger.info("a failure-timeout or a date rule changes the placement at \(expiry): the scheduler runs again in \(max(1, expiry - now + 1))s")
            }
        }
        logger.info("scheduler run (\(reason)): \(transition.graph.actions.count) action(s)\(n.map { ", input saved as pe-input-\($0).xml" } ?? "")")
        await perform(core.onScheduled(transition.graph, recheck: recheck))
    }
}

/// The saved scheduler inputs: `pe-input-N.xml`, N one more than the highest already there
/// (so the series continues across restarts).
final class PEInputSeries: @unchecked Sendable {
    let directory: String
    var next: Int

    init(directory: String) {
        self.directory = directory
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        next = (PEInputNames.highest(in: names) ?? -1) + 1
    }

    func save(_ cib: CIB) -> Int? {
        let n = next
        let path = "\(directory)/pe-input-\(n).xml"
        do {
            try Data(cib.root.xmlBytes(.pretty)).write(to: URL(fileURLWithPath: path), options: .atomic)
            next += 1
            return n
        } catch {
            return nil
        }
    }
}
