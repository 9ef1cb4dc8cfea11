import CIB
import Controller
import Foundation
import Messaging
import PolicyEngine
import Stonith
import TestSupport

/// A whole cluster in one process (docs/DESIGN.md, "How it is tested", 3): per node the real
/// `ClusterEngine` (totem, votequorum, CPG), cibd's `CIBGroupMember`, crmd's `ControllerCore`
/// with the scheduler, and stonithd's `Fencer`, on a simulated network that drops, duplicates,
/// delays, reorders and partitions, in simulated time; everything seeded, so a seed replays.
///
/// What is simulated is the world around them: the resource agents (an executor with operation
/// durations and injectable failures, which knows where each resource really runs), the fence
/// device (fencing a node cuts its power: it stops, and its resources with it), disks (a node
/// restarts with the CIB it persisted) and power cuts. The shells around the instances are
/// small copies of the daemons' shells: the controller's performs its directives one after the
/// other and waits for each CIB write to be acknowledged, as crmd's does.
///
/// Invariants checked after every step: at most one DC in each quorate partition; no resource
/// active on two nodes at once (a crashed node's resources count as active until it is fenced:
/// nothing may be recovered before the fencing is confirmed); no acknowledged CIB change is
/// missing from a synced replica in a quorate partition. `converged` tells whether the cluster
/// has settled: one ring, one DC, every resource that can run running exactly once as the CIB
/// says, all replicas equal.
struct ClusterSimulation {
    typealias NodeID = UInt32

    struct Faults {
        var drop = 0.0
        var duplicate = 0.0
        /// One-way delay in microseconds; a wide range reorders packets.
        var delay: ClosedRange<Int64> = 50...300
        /// Chance that an operation of the simulated executor fails.
        var startFailure = 0.0
        var stopFailure = 0.0
        var fenceFailure = 0.0
    }

    enum Event {
        case packet(TotemNode.Packet, to: NodeID, from: NodeID)
        case engineTimer(ClusterEngine.Timer, node: NodeID, incarnation: Int, generation: Int)
        case crmdTimer(ControllerCore.Timer, node: NodeID, incarnation: Int, generation: Int)
        case fencerTimer(Fencer.Timer, node: NodeID, incarnation: Int)
        case fencerAssessed(node: NodeID, incarnation: Int, id: String, target: String)
        case agentDone(node: NodeID, incarnation: Int, id: String, action: String, target: String)
        case operationDone(node: NodeID, incarnation: Int, ActionRequest)
        case monitorTick(node: NodeID, incarnation: Int, key: String, transitionKey: String)
        case cibTick(node: NodeID, incarnation: Int)
        case boot(NodeID)
        /// pacemakerd starts the node's crmd again (its previous one was killed).
        case crmdStart(node: NodeID, incarnation: Int)
    }

    /// What happens in the controller's shell loop, in order (crmd's `ShellEvent`).
    enum CrmdEvent {
        case configuration(members: [ProcessGroups.Member], left: [ProcessGroups.Change])
        case message(from: ProcessGroups.Member, payload: [UInt8])
        case cibChanged(CIBPatch)
        /// The copy was replaced by another member's (a sync at a merge), as crmd's `cibReplaced`.
        case cibReplaced(CIBPatch, from: String)
        case quorum(Bool)
        /// The ring's members, as corosyncd reports them with each quorum (crmd's `ring`).
        case ring(Set<UInt32>)
        case timer(ControllerCore.Timer)
        case localResult(ActionResult)
        case fenced(transition: Int, index: Int, FencingResult)
        case recordFailed(String)
    }

    /// The controller shell's next step.
    enum Work {
        case directive(ControllerCore.Directive)
        case write(CIBReplica.Operation, quiet: Bool)
        /// The writes of a record directive are done; report a failure when `report`.
        case endRecord(ControllerCore.Directive, report: Bool)
        case applyQuorum(Bool, schedule: Bool)
        case coreQuorum(Bool, schedule: Bool)
        case coreMembership([ControllerMember], left: [(member: ControllerMember, clean: Bool, nodeStillUp: Bool)], restarted: [ControllerMember])
    }

    /// crmd's shell around its core.
    struct Crmd {
        var core: ControllerCore
        var inbox: [CrmdEvent] = []
        var work: [Work] = []
        /// The CIB request the shell waits for.
        var waiting: UInt64?
        var writeFailed = false
        var ownVersions: Set<CIBVersion> = []
        var timers: [ControllerCore.Timer: Int] = [:]
        var quorate = true
        var startFailureIsFatal = true
        /// Actions in the last graph the scheduler gave this node (as DC).
        var lastGraph = -1
        var fenceTokens: [UInt64: (transition: Int, index: Int)] = [:]
    }

    /// The simulated executor (lrmd and the agents) of one node.
    struct Executor {
        var history: [ActionResult] = []
        /// Recurring monitors: operation key → the request and the last result reported.
        var recurring: [String: (request: ActionRequest, rc: Int)] = [:]
        var callID = 0
        /// Operations on one resource run one after the other.
        var busyUntil: [String: Int64] = [:]
        var startedDevices: [String: ActionResult] = [:]
        /// Operations queued or running, by transition key: lrmd's own knowledge of what is under
        /// way, which a restarted crmd's join history carries (`ResourceHistory.inProgress`).
        var inFlight: [String: ActionRequest] = [:]
    }

    /// One node's processes and disk-less state. A class: the simulation reads its fields at
    /// every step, and a struct in an array would be copied whole at each read in debug builds.
    final class Node {
        let id: NodeID
        var name: String { "node\(id)" }
        var alive = false
        var incarnation = 0
        var engine: ClusterEngine?
        var quorate = false
        var engineTimers: [ClusterEngine.Timer: Int] = [:]
        var cib: CIBGroupMember
        var crmd: Crmd
        var fencer: Fencer
        var executor = Executor()
        /// The groups this node's processes have seen themselves join.
        var joined: Set<String> = []
        /// Whether the node's crmd runs (false from its SIGKILL until pacemakerd starts it again;
        /// the node's other processes run on meanwhile).
        var crmdAlive = true
        /// crmd processes killed in this incarnation (each restart has a new pid).
        var crmdRestarts = 0
        var pidBase: UInt32 { UInt32(incarnation) * 100 }
        var cibPid: UInt32 { pidBase + 1 }
        var crmdPid: UInt32 { pidBase + 2 + UInt32(crmdRestarts) * 10 }
        var fencerPid: UInt32 { pidBase + 3 }
        /// CIB requests: who waits for each.
        var cibRequests: [UInt64: CIBClient] = [:]
        var nextRequest: UInt64 = 1

        init(id: NodeID, cib: CIBGroupMember, crmd: Crmd, fencer: Fencer) {
            self.id = id
            self.cib = cib
            self.crmd = crmd
            self.fencer = fencer
        }
    }

    enum CIBClient { case crmd(quiet: Bool), admin(update: Int) }

    static let groups = ["cib", "crmd", "stonith-ng"]
    static let resources = ["rsc1", "rsc2", "rsc3"]
    static let epoch: Int64 = 1_700_000_000

    let seed: UInt64
    let config: CorosyncConfig
    /// Whether cibd is told the partition's quorum (and so refuses configuration changes
    /// without it); SWIFTHA_SIM_CIB_QUORUM=0 replays runs from before it was.
    let cibFollowsQuorum = ProcessInfo.processInfo.environment["SWIFTHA_SIM_CIB_QUORUM"] != "0"
    let ids: [NodeID]
    var rng: SeededGenerator
    var faults = Faults()
    var blocked: Set<[NodeID]> = []
    /// By node id - 1.
    var nodes: [Node] = []
    var queue = EventQueue<Event>()
    var order = 0
    var now: Int64 = 0
    var ringSeq: [NodeID: UInt64] = [:]
    /// What each node persisted: the CIB it restarts with.
    var disk: [NodeID: CIB] = [:]
    let initialCIB: CIB

    // The world.
    /// Where each resource really runs (a crashed node's count until it is fenced or restarts).
    var active: [NodeID: Set<String>] = [:]
    /// Nodes whose power is off until the fencing's reboot brings them back.
    var bootPending: Set<NodeID> = []
    var fencings = 0
    var crashes = 0
    var crmdKills = 0
    var starts = 0

    /// Nodes whose copy was just replaced, by whose (the notification that follows says so,
    /// as cibd's does).
    var replacedBy: [NodeID: String] = [:]

    // The admin's CIB changes: acknowledged ones, by number.
    var nextUpdate = 1
    /// Each acknowledged change, with the version its acknowledgement gave.
    var acknowledged: [Int: CIBVersion] = [:]
    /// Versions of each node's copy already checked.
    var checkedVersion: [NodeID: CIBVersion] = [:]

    // Checks and the trace.
    var violations: [String] = []
    var trace: [String] = []
    var traceAll = false
    var steps = 0
    var schedulerRuns = 0
    var cibChanges = 0

    init(seed: UInt64, nodes count: Int) {
        self.seed = seed
        rng = SeededGenerator(seed: seed)
        var text = "totem {\n token: 300\n token_coefficient: 0\n}\nquorum {\n provider: corosync_votequorum\n}\nnodelist {\n"
        for i in 1...count { text += " node {\n  ring0_addr: 127.0.0.\(i)\n  nodeid: \(i)\n }\n" }
        config = try! CorosyncConfig.parse(text + "}\n")
        ids = (1...NodeID(count)).map { $0 }
        initialCIB = try! CIB.parse(Self.cibText(nodes: count))
        for id in ids {
            nodes.append(Node(id: id, cib: CIBGroupMember(member: "\(id):0", cib: initialCIB),
                             crmd: Crmd(core: ControllerCore(local: ControllerMember(nodeID: id, name: "node\(id)"), uuid: "x")),
                             fencer: Fencer(node: "node\(id)", member: "\(id):0")))
            active[id] = []
        }
    }

    static func cibText(nodes: Int) -> String {
        let ns = (1...nodes).map { #"<node id="\#($0)" uname="node\#($0)"/>"# }.joined()
        let rs = resources.map {
            #"<primitive id="\#($0)" class="ocf" provider="pacemaker" type="Dummy"><operations><op id="\#($0)-mon" name="monitor" interval="10s" timeout="20s"/></operations></primitive>"#
        }.joined()
        return """
        <cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0"><configuration>\
        <crm_config><cluster_property_set id="cib-bootstrap-options">\
        <nvpair id="o-stonith" name="stonith-enabled" value="true"/>\
        <nvpair id="o-nqp" name="no-quorum-policy" value="stop"/>\
        <nvpair id="o-st" name="stonith-timeout" value="20s"/>\
        </cluster_property_set></crm_config>\
        <nodes>\(ns)</nodes><resources><primitive id="fence-sim" class="stonith" type="fence_sim"/>\(rs)</resources>\
        <constraints/></configuration><status/></cib>
        """
    }

    // MARK: - Time and the trace

    var wallSeconds: Int { Int(Self.epoch + now / 1_000_000) }
    var date: Date { Date(timeIntervalSince1970: Double(Self.epoch) + Double(now) / 1_000_000) }

    mutating func note(_ s: String) {
        let line = "\(String(format: "%9.3f", Double(now) / 1_000_000)) \(s)"
        if traceAll { print(line) }
        trace.append(line)
        if trace.count > 600 { trace.removeFirst(200) }
    }

    mutating func push(_ e: Event, after micros: Int64) {
        order += 1
        queue.push(.init(time: now + max(0, micros), order: order, payload: e))
    }

    static func micros(_ d: Duration) -> Int64 {
        d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000
    }

    // MARK: - Nodes: boot, crash

    mutating func boot(_ id: NodeID) {
        let n = nodes[Int(id) - 1]
        guard !n.alive else { return }
        n.incarnation += 1
        n.alive = true
        n.crmdAlive = true
        n.crmdRestarts = 0
        n.quorate = false
        n.engineTimers = [:]
        n.joined = []
        n.engine = ClusterEngine(nodeID: id, config: config, ringSeq: ringSeq[id] ?? 0, seed: UInt64(id) &* 77 &+ UInt64(n.incarnation) &+ seed)
        n.cib = CIBGroupMember(member: "\(id):\(n.cibPid)", cib: disk[id] ?? initialCIB)
        // Without quorum until corosync says otherwise (cibd asks it before joining its group).
        if cibFollowsQuorum { n.cib.onQuorum(false) }
        n.crmd = Crmd(core: ControllerCore(local: ControllerMember(nodeID: id, name: n.name), uuid: "uuid-\(id)-\(n.incarnation)"))
        // As crmd has them from corosync's nodelist.
        n.crmd.core.nodeNames = Dictionary(uniqueKeysWithValues: ids.map { ($0, "node\($0)") })
        n.fencer = Fencer(node: n.name, member: "\(id):\(n.fencerPid)")
        n.executor = Executor()
        n.cibRequests = [:]
        // A node that boots runs nothing.
        active[id] = []
        bootPending.remove(id)
        note("boot \(n.name) (incarnation \(n.incarnation))")
        engine(id) { $0.start() }
        let pg = nodes[Int(id) - 1].engine!.processGroups
        for (group, pid) in [("cib", n.cibPid), ("crmd", n.crmdPid), ("stonith-ng", n.fencerPid)] {
            let r = try! pg.join(group, pid: pid)
            engine(id) { $0.submit(r) }
        }
        push(.cibTick(node: id, incarnation: n.incarnation), after: 1_000_000)
    }

    /// A power cut: everything on the node stops at once. Its resources stay where they were
    /// (as far as the others can know) until it is fenced or boots again.
    mutating func crash(_ id: NodeID) {
        guard nodes[Int(id) - 1].alive else { return }
        nodes[Int(id) - 1].alive = false
        crashes += 1
        note("CRASH \(nodes[Int(id) - 1].name) (running \(active[id]!.sorted()))")
    }

    /// crmd alone is SIGKILLed: it leaves its process group (corosync sees its connection
    /// close); lrmd, cibd, stonithd and corosyncd run on, and so do the node's resources.
    /// pacemakerd starts a new crmd half a second later.
    mutating func killCrmd(_ id: NodeID) {
        let n = nodes[Int(id) - 1]
        guard n.alive, n.crmdAlive, n.crmdRestarts < 8 else { return }
        n.crmdAlive = false
        crmdKills += 1
        n.joined.remove("crmd")
        note("KILL crmd of \(n.name) (running \(active[id]!.sorted()))")
        if let r = try? n.engine!.processGroups.processDown("crmd", pid: n.crmdPid) { engine(id) { $0.submit(r) } }
        push(.crmdStart(node: id, incarnation: n.incarnation), after: 500_000)
    }

    /// pacemakerd's new crmd: a new process in the group, knowing only what corosync tells it
    /// (the ring, quorum) and, at the join, what lrmd tells it.
    mutating func startCrmd(_ id: NodeID) {
        let n = nodes[Int(id) - 1]
        guard n.alive, !n.crmdAlive else { return }
        n.crmdRestarts += 1
        n.crmdAlive = true
        var crmd = Crmd(core: ControllerCore(local: ControllerMember(nodeID: id, name: n.name), uuid: "uuid-\(id)-\(n.incarnation)-\(n.crmdRestarts)"))
        crmd.core.nodeNames = Dictionary(uniqueKeysWithValues: ids.map { ($0, "node\($0)") })
        // The killed crmd's timers never fire for this one.
        crmd.timers = n.crmd.timers.mapValues { $0 + 1 }
        // (A late reply to a CIB request of the killed one finds no crmd waiting for it.)
        n.crmd = crmd
        note("\(n.name): pacemakerd starts crmd again (pid \(n.crmdPid))")
        if let ring = n.engine?.membership?.members {
            n.crmd.inbox.append(.quorum(n.quorate))
            n.crmd.inbox.append(.ring(Set(ring)))
        }
        let r = try! n.engine!.processGroups.join("crmd", pid: n.crmdPid)
        engine(id) { $0.submit(r) }
    }

    func isCurrent(_ id: NodeID, _ incarnation: Int) -> Bool {
        nodes[Int(id) - 1].alive && nodes[Int(id) - 1].incarnation == incarnation
    }

    // MARK: - The network and the engines

    mutating func transmit(_ p: TotemNode.Packet, from: NodeID, to: NodeID) {
        guard !blocked.contains([min(from, to), max(from, to)]) else { return }
        if faults.drop > 0, Double.random(in: 0..<1, using: &rng) < faults.drop { return }
        push(.packet(p, to: to, from: from), after: Int64.random(in: faults.delay, using: &rng))
        if faults.duplicate > 0, Double.random(in: 0..<1, using: &rng) < faults.duplicate {
            push(.packet(p, to: to, from: from), after: Int64.random(in: faults.delay, using: &rng))
        }
    }

    mutating func engine(_ id: NodeID, _ body: (inout ClusterEngine) -> [ClusterEngine.Directive]) {
        guard var e = nodes[Int(id) - 1].engine else { return }
        let out = body(&e)
        nodes[Int(id) - 1].engine = e
        for d in out { performEngine(d, at: id) }
    }

    mutating func performEngine(_ d: ClusterEngine.Directive, at id: NodeID) {
        switch d {
        case .multicast(let p):
            for other in ids where other != id { transmit(p, from: id, to: other) }
        case .send(let p, let to):
            transmit(p, from: id, to: to)
        case .schedule(let t, let after):
            let g = (nodes[Int(id) - 1].engineTimers[t] ?? 0) + 1
            nodes[Int(id) - 1].engineTimers[t] = g
            push(.engineTimer(t, node: id, incarnation: nodes[Int(id) - 1].incarnation, generation: g), after: Self.micros(after))
        case .cancel(let t):
            nodes[Int(id) - 1].engineTimers[t, default: 0] += 1
        case .storeRingSeq(let s):
            ringSeq[id] = s
        case .membershipChanged(let m):
            note("\(nodes[Int(id) - 1].name): ring \(m.members) (joined \(m.joined), left \(m.left))")
        case .quorumChanged(let status):
            if status.quorate != nodes[Int(id) - 1].quorate { note("\(nodes[Int(id) - 1].name): quorum \(status.quorate ? "gained" : "lost")") }
            nodes[Int(id) - 1].quorate = status.quorate
            if cibFollowsQuorum { nodes[Int(id) - 1].cib.onQuorum(status.quorate) }
            nodes[Int(id) - 1].crmd.inbox.append(.quorum(status.quorate))
            nodes[Int(id) - 1].crmd.inbox.append(.ring(Set(status.members)))
        case .processGroup(let e):
            groupEvent(e, at: id)
        case .gathering, .transitionalMembership, .deliver:
            break
        case .reloadConfig, .killed:
            // (corosync-cfgtool -R / -k: no operator in the simulation asks for them.)
            break
        }
    }

    mutating func multicast(_ group: String, pid: UInt32, _ payload: [UInt8], from id: NodeID) {
        guard let r = try? nodes[Int(id) - 1].engine!.processGroups.multicast(group, pid: pid, payload: payload) else {
            violations.append("\(nodes[Int(id) - 1].name) cannot multicast to \(group)")
            return
        }
        engine(id) { $0.submit(r) }
    }

    mutating func groupEvent(_ e: ProcessGroups.Event, at id: NodeID) {
        let i = Int(id) - 1
        switch e {
        case .configurationChange(let group, let members, _, let left):
            let pid = group == "cib" ? nodes[i].cibPid : group == "crmd" ? nodes[i].crmdPid : nodes[i].fencerPid
            let me = ProcessGroups.Member(node: id, pid: pid)
            if !nodes[i].joined.contains(group) {
                guard members.contains(me) else { return }
                nodes[Int(id) - 1].joined.insert(group)
            }
            switch group {
            case "cib":
                performCIB(nodes[Int(id) - 1].cib.onConfigurationChange(members.map(\.description)), at: id)
            case "crmd":
                guard nodes[i].crmdAlive else { return }
                nodes[Int(id) - 1].crmd.inbox.append(.configuration(members: members, left: left))
            case "stonith-ng":
                let joined = members.filter { !(nodes[Int(id) - 1].fencer.members.contains($0.description)) }.map(\.description)
                let d = date
                fencer(id) { $0.onMembership(members: members.map(\.description), joined: joined, left: left.map(\.member.description), at: d) }
            default:
                break
            }
        case .deliver(let group, let from, let payload):
            guard nodes[i].joined.contains(group) else { return }
            switch group {
            case "cib":
                do {
                    let x = try XElement.parse(payload, source: "the cib group")
                    var member = nodes[Int(id) - 1].cib
                    let out = try member.onMessage(x, from: from.description)
                    nodes[Int(id) - 1].cib = member
                    performCIB(out, at: id)
                } catch {
                    violations.append("\(nodes[i].name): a CIB message from \(from) was refused: \(error)")
                }
            case "crmd":
                guard nodes[i].crmdAlive else { return }
                nodes[Int(id) - 1].crmd.inbox.append(.message(from: from, payload: payload))
            case "stonith-ng":
                guard let m = try? JSONDecoder().decode(FencerMessage.self, from: Data(payload)) else {
                    violations.append("\(nodes[i].name): a fencer message from \(from) does not decode")
                    return
                }
                let d = date
                fencer(id) { $0.onMessage(m, now: d) }
            default:
                break
            }
        }
    }

    // MARK: - cibd

    mutating func performCIB(_ directives: [CIBGroupMember.Directive], at id: NodeID) {
        for d in directives {
            switch d {
            case .multicastRaw(let e):
                note("\(nodes[Int(id) - 1].name): cib asks for a new round of agreement")
                multicast("cib", pid: nodes[Int(id) - 1].cibPid, e.xmlBytes(.compact), from: id)
            case .resyncing:
                break
            case .replica(let r):
                switch r {
                case .multicast(let m):
                    cibChanges += 1
                    multicast("cib", pid: nodes[Int(id) - 1].cibPid, m.xml.xmlBytes(.compact), from: id)
                case .persist(let cib):
                    disk[id] = cib
                case .notify(let patch):
                    if let from = replacedBy.removeValue(forKey: id) {
                        nodes[Int(id) - 1].crmd.inbox.append(.cibReplaced(patch, from: from))
                    } else {
                        nodes[Int(id) - 1].crmd.inbox.append(.cibChanged(patch))
                    }
                case .synced(let from, let version):
                    replacedBy[id] = from
                    note("\(nodes[Int(id) - 1].name): cib took \(from)'s copy \(version)")
                case .reply(let request, let result):
                    guard let client = nodes[Int(id) - 1].cibRequests.removeValue(forKey: request) else { continue }
                    switch client {
                    case .admin(let u):
                        if case .success(let v) = result {
                            // Acknowledged in a quorate partition: it must never be lost.
                            if nodes[Int(id) - 1].quorate { acknowledged[u] = v }
                            note("\(nodes[Int(id) - 1].name): admin change \(u) acknowledged\(nodes[Int(id) - 1].quorate ? "" : " (without quorum)")")
                        }
                    case .crmd(let quiet):
                        guard nodes[Int(id) - 1].crmd.waiting == request else { continue }
                        nodes[Int(id) - 1].crmd.waiting = nil
                        switch result {
                        case .success(let v):
                            nodes[Int(id) - 1].crmd.ownVersions.insert(v)
                        case .failure(let e):
                            if !quiet {
                                nodes[Int(id) - 1].crmd.writeFailed = true
                                note("\(nodes[Int(id) - 1].name): crmd's CIB write failed: \(e)")
                            }
                        }
                    }
                }
            }
        }
    }

    mutating func cibRequest(_ op: CIBReplica.Operation, by client: CIBClient, at id: NodeID) -> UInt64 {
        let r = nodes[Int(id) - 1].nextRequest
        nodes[Int(id) - 1].nextRequest += 1
        nodes[Int(id) - 1].cibRequests[r] = client
        var member = nodes[Int(id) - 1].cib
        let out = member.onRequest(r, op)
        nodes[Int(id) - 1].cib = member
        performCIB(out, at: id)
        return r
    }

    /// An administrator's change through this node's cibd.
    mutating func adminChange(at id: NodeID) {
        let u = nextUpdate
        nextUpdate += 1
        var set = XElement("cluster_property_set", attributes: [XAttribute("id", "sim-updates")])
        set.append(XElement("nvpair", attributes: [XAttribute("id", "sim-u-\(u)"), XAttribute("name", "sim-u-\(u)"), XAttribute("value", "\(u)")]))
        note("\(nodes[Int(id) - 1].name): admin change \(u) asked")
        _ = cibRequest(.modify(set, section: .crmConfig, allowCreate: true), by: .admin(update: u), at: id)
    }

    static func updates(in cib: CIB) -> Set<Int> {
        guard let set = cib.root.firstElement(named: "configuration")?.firstElement(named: "crm_config")?.elements
            .first(where: { $0["id"] == "sim-updates" }) else { return [] }
        return Set(set.elements.compactMap { $0["value"].flatMap(Int.init) })
    }

    // MARK: - stonithd

    mutating func fencer(_ id: NodeID, _ body: (inout Fencer) -> [Fencer.Directive]) {
        var f = nodes[Int(id) - 1].fencer
        let out = body(&f)
        nodes[Int(id) - 1].fencer = f
        let inc = nodes[Int(id) - 1].incarnation
        for d in out {
            switch d {
            case .multicast(let m):
                multicast("stonith-ng", pid: nodes[Int(id) - 1].fencerPid, Array(try! JSONEncoder().encode(m)), from: id)
            case .assess(let fid, let target, _):
                push(.fencerAssessed(node: id, incarnation: inc, id: fid, target: target), after: 1_000)
            case .runAgent(let fid, _, let action, let target, _, _):
                note("\(nodes[Int(id) - 1].name): fence agent runs: \(action) \(target)")
                push(.agentDone(node: id, incarnation: inc, id: fid, action: action, target: target),
                     after: Int64.random(in: 200_000...2_000_000, using: &rng))
            case .reply(let token, let result):
                if let (t, i) = nodes[Int(id) - 1].crmd.fenceTokens.removeValue(forKey: token) {
                    nodes[Int(id) - 1].crmd.inbox.append(.fenced(transition: t, index: i, result.succeeded ? .done : .failed(result.reason ?? "failed")))
                }
            case .schedule(let timer, let after):
                push(.fencerTimer(timer, node: id, incarnation: inc), after: Self.micros(after))
            case .log(let s):
                note("\(nodes[Int(id) - 1].name): stonithd: \(s)")
            case .notify, .done:
                break
            }
        }
    }

    /// The fence device ran: the target's power is cut (a reboot brings it back a little later).
    mutating func agentDone(at id: NodeID, fenceID: String, action: String, target: String) {
        var ok = true
        if faults.fenceFailure > 0, Double.random(in: 0..<1, using: &rng) < faults.fenceFailure {
            ok = false
            note("\(nodes[Int(id) - 1].name): fence device FAILED to \(action) \(target)")
        } else if let t = ids.first(where: { nodes[Int($0) - 1].name == target }) {
            fencings += 1
            note("FENCED \(target) (\(action)) by \(nodes[Int(id) - 1].name); it ran \(active[t]!.sorted())")
            crash(t)
            active[t] = []
            if action != "off" {
                bootPending.insert(t)
                push(.boot(t), after: Int64.random(in: 1_000_000...3_000_000, using: &rng))
            }
        }
        guard isCurrent(id, nodes[Int(id) - 1].incarnation), nodes[Int(id) - 1].alive else { return }
        let d = date
        fencer(id) { $0.onAgentResult(id: fenceID, success: ok, output: ok ? "" : "simulated device failure", now: d) }
    }

    // MARK: - crmd's shell

    /// Runs the controller's shell until it waits for the CIB or has nothing left to do.
    mutating func runCrmd(_ id: NodeID) {
        var guardSteps = 0
        while nodes[Int(id) - 1].alive, nodes[Int(id) - 1].crmdAlive, nodes[Int(id) - 1].crmd.waiting == nil {
            guardSteps += 1
            if guardSteps > 100_000 {
                violations.append("\(nodes[Int(id) - 1].name): the controller loops")
                return
            }
            if !nodes[Int(id) - 1].crmd.work.isEmpty {
                let w = nodes[Int(id) - 1].crmd.work.removeFirst()
                execute(w, at: id)
            } else if !nodes[Int(id) - 1].crmd.inbox.isEmpty {
                let e = nodes[Int(id) - 1].crmd.inbox.removeFirst()
                handle(e, at: id)
            } else {
                return
            }
        }
    }

    mutating func core(_ id: NodeID, _ body: (inout ControllerCore) -> [ControllerCore.Directive]) {
        var c = nodes[Int(id) - 1].crmd.core
        let out = body(&c)
        nodes[Int(id) - 1].crmd.core = c
        nodes[Int(id) - 1].crmd.work.insert(contentsOf: out.map { .directive($0) }, at: 0)
    }

    func member(_ id: NodeID) -> ControllerMember { ControllerMember(nodeID: id, name: "node\(id)") }

    mutating func handle(_ e: CrmdEvent, at id: NodeID) {
        switch e {
        case .configuration(let members, let left):
            var seen = Set<UInt32>()
            let ms = members.filter { seen.insert($0.node).inserted }.map { member($0.node) }
            let still = Set(ms.map(\.nodeID))
            let gone = left.filter { !still.contains($0.member.node) }.map {
                (member: member($0.member.node), clean: $0.reason == .leave, nodeStillUp: $0.reason == .processDown)
            }
            let restarted = Set(left.filter { still.contains($0.member.node) }.map(\.member.node)).sorted().map { member($0) }
            nodes[Int(id) - 1].crmd.work += [.applyQuorum(nodes[Int(id) - 1].quorate, schedule: false), .coreMembership(ms, left: gone, restarted: restarted)]
        case .message(let from, let payload):
            guard let m = try? ControllerMessage.decode(Data(payload)) else {
                violations.append("\(nodes[Int(id) - 1].name): a controller message from \(from) does not decode")
                return
            }
            let sender = member(from.node)
            core(id) { $0.onMessage(m, from: sender) }
        case .cibChanged(let patch):
            if nodes[Int(id) - 1].crmd.ownVersions.remove(patch.target) != nil { return }
            guard nodes[Int(id) - 1].crmd.core.isDC else { return }
            core(id) { $0.onCIBChanged("the CIB changed (now \(patch.target))") }
            if StatusWrites.namesOtherDC(patch, dcID: String(id)) {
                // Before anything the change led to (crmd writes it, then hands the change on).
                note("\(nodes[Int(id) - 1].name): a change named another node as DC: writing dc-uuid again")
                nodes[Int(id) - 1].crmd.work.insert(contentsOf: recordWork(.becameDC, at: id, report: false), at: 0)
            }
        case .cibReplaced(let patch, let from):
            // As crmd does: the DC joins every member again (its records, dc-uuid among them,
            // may be gone with its copy).
            nodes[Int(id) - 1].crmd.ownVersions.removeAll()
            guard nodes[Int(id) - 1].crmd.core.isDC else { return }
            core(id) { $0.onCIBReplaced("the CIB was replaced by \(from)'s copy (now \(patch.target))") }
        case .quorum(let q):
            nodes[Int(id) - 1].crmd.work.append(.applyQuorum(q, schedule: true))
        case .ring(let ids):
            core(id) { $0.onRing(ids) }
        case .timer(let t):
            core(id) { $0.onTimer(t) }
        case .localResult(let r):
            send(.result(r), from: id)
        case .fenced(let t, let i, let r):
            note("\(nodes[Int(id) - 1].name): fencing result \(r) for transition \(t) action \(i)")
            core(id) { $0.onFenceResult(transition: t, index: i, r) }
        case .recordFailed(let what):
            core(id) { $0.onRecordFailed(what) }
        }
    }

    mutating func send(_ m: ControllerMessage, from id: NodeID) {
        multicast("crmd", pid: nodes[Int(id) - 1].crmdPid, Array(m.encoded()), from: id)
    }

    mutating func execute(_ w: Work, at id: NodeID) {
        switch w {
        case .directive(let d):
            perform(d, at: id)
        case .write(let op, let quiet):
            let r = nodes[Int(id) - 1].nextRequest
            nodes[Int(id) - 1].crmd.waiting = r
            _ = cibRequest(op, by: .crmd(quiet: quiet), at: id)
        case .endRecord(let d, let report):
            let failed = nodes[Int(id) - 1].crmd.writeFailed
            nodes[Int(id) - 1].crmd.writeFailed = false
            guard failed, report else { return }
            switch d {
            case .recordResult(let r): nodes[Int(id) - 1].crmd.inbox.append(.recordFailed("the result of \(r.operationKey) on \(r.node)"))
            case .recordFenced(let node): nodes[Int(id) - 1].crmd.inbox.append(.recordFailed("the fencing of \(node)"))
            default: break
            }
        case .applyQuorum(let q, let schedule):
            let c = nodes[Int(id) - 1].crmd
            guard q != c.quorate || q != c.core.quorate else { return }
            nodes[Int(id) - 1].crmd.quorate = q
            var more: [Work] = []
            if c.core.isDC { more = recordWork(.becameDC, at: id, report: false) }
            nodes[Int(id) - 1].crmd.work.insert(contentsOf: more + [.coreQuorum(q, schedule: schedule)], at: 0)
        case .coreQuorum(let q, let schedule):
            core(id) { $0.onQuorum(q, schedule: schedule) }
        case .coreMembership(let ms, let left, let restarted):
            let wasDC = nodes[Int(id) - 1].crmd.core.isDC
            core(id) { $0.onMembership(ms, left: left, restarted: restarted) }
            let isDC = nodes[Int(id) - 1].crmd.core.isDC
            if wasDC != isDC { note("\(nodes[Int(id) - 1].name): \(isDC ? "is now the DC" : "is no longer the DC") (members \(ms.map(\.name)))") }
        }
    }

    /// The CIB writes of a record directive (crmd's `record`).
    mutating func recordWork(_ d: ControllerCore.Directive, at id: NodeID, report: Bool) -> [Work] {
        let cib = nodes[Int(id) - 1].cib.replica.cib
        var writes = StatusWrites(nodeID: { n in String(n.dropFirst(4)) }, now: wallSeconds,
                                  startFailureIsFatal: nodes[Int(id) - 1].crmd.startFailureIsFatal, quorate: nodes[Int(id) - 1].crmd.quorate)
        writes.inRing = nodes[Int(id) - 1].crmd.core.ringMembers.map { Set($0.map(String.init)) }
        if StatusWrites.needsSections(d) {
            writes.status = cib.root.firstElement(named: "status")
            writes.nodes = cib.root.firstElement(named: "configuration")?.firstElement(named: "nodes")
        }
        let ops = writes.operations(for: d, dc: nodes[Int(id) - 1].crmd.core.local)
        return ops.map { op -> Work in
            if case .xpath(_, .delete) = op { return .write(op, quiet: true) }
            return .write(op, quiet: false)
        } + [.endRecord(d, report: report)]
    }

    mutating func perform(_ d: ControllerCore.Directive, at id: NodeID) {
        let name = nodes[Int(id) - 1].name
        switch d {
        case .send(let m):
            send(m, from: id)
        case .arm(let t, let after):
            let g = (nodes[Int(id) - 1].crmd.timers[t] ?? 0) + 1
            nodes[Int(id) - 1].crmd.timers[t] = g
            push(.crmdTimer(t, node: id, incarnation: nodes[Int(id) - 1].incarnation, generation: g), after: Self.micros(after))
        case .disarm(let t):
            nodes[Int(id) - 1].crmd.timers[t, default: 0] += 1
        case .becameDC, .recordJoin, .recordMembers, .recordLeft, .recordResult, .recordShutdownRequest, .recordExpectedDown, .recordFenced, .clearFailcount:
            switch d {
            case .recordFenced(let n): note("\(name): records \(n) fenced")
            case .recordLeft(let m, let clean, _): note("\(name): records \(m.name) left\(clean ? " cleanly" : ", unclean")")
            case .recordMembers(let ms): note("\(name): join complete \(ms.map(\.name))")
            case .recordResult(let r): note("\(name): records \(r.operationKey) on \(r.node) rc=\(r.rc) status=\(r.opStatus)")
            default: break
            }
            nodes[Int(id) - 1].crmd.work.insert(contentsOf: recordWork(d, at: id, report: true), at: 0)
        case .resignedDC:
            break
        case .sendHistory(let round):
            let witnessed = nodes[Int(id) - 1].crmd.core.witnessedRequests
            send(.joinHistory(round: round, nodeID: id, node: name, lrmResources: historyXML(id), unanswered: witnessed.isEmpty ? nil : witnessed), from: id)
        case .runLocally(let req):
            runLocally(req, at: id)
        case .schedule(let reason):
            schedule(reason, at: id)
        case .fence(let target, let action, let timeout, let t, let i):
            note("\(name): asks stonithd to \(action) \(target) (transition \(t))")
            // stonithd carries out a controller's request only where the CIB names the DC.
            if let why = FenceRequestAuthorization.refusal(client: "crmd", target: target, localNode: name, cib: nodes[Int(id) - 1].cib.replica.cib) {
                note("\(name): stonithd: \(why)")
                nodes[Int(id) - 1].crmd.inbox.append(.fenced(transition: t, index: i, .failed(why)))
                return
            }
            let token = UInt64(order + 1) << 8 | UInt64(id)
            nodes[Int(id) - 1].crmd.fenceTokens[token] = (t, i)
            let d = date
            fencer(id) { $0.onFenceRequest(token: token, target: target, action: FenceAction(rawValue: action) ?? .reboot, timeout: timeout,
                                           client: "crmd", now: d) }
        case .exit(let clean):
            note("\(name): the controller exits (\(clean ? "clean" : "unclean"))")
            violations.append("\(name): the controller exited though nothing asked it to shut down")
        case .note(let s):
            note("\(name): \(s)")
        }
    }

    mutating func schedule(_ reason: String, at id: NodeID) {
        schedulerRuns += 1
        var input = nodes[Int(id) - 1].crmd.core.schedulerInput(nodes[Int(id) - 1].cib.replica.cib)
        input.root["execution-date"] = String(wallSeconds)
        let (ws, transition) = Simulator.schedule(SchedulerInput(cib: input, now: wallSeconds))
        nodes[Int(id) - 1].crmd.startFailureIsFatal = ws.options.startFailureIsFatal
        nodes[Int(id) - 1].crmd.core.noQuorumPolicy = ws.options.noQuorumPolicy
        let graph = transition.graph
        nodes[Int(id) - 1].crmd.lastGraph = graph.actions.count
        note("\(nodes[Int(id) - 1].name): scheduler (\(reason)): \(graph.actions.filter { $0.kind != .pseudo }.map { "\($0.key)@\($0.node ?? "-")" })")
        core(id) { $0.onScheduled(graph, recheck: .seconds(900)) }
    }

    // MARK: - The simulated executor

    mutating func runLocally(_ req: ActionRequest, at id: NodeID) {
        let rsc = req.resource ?? ""
        let inc = nodes[Int(id) - 1].incarnation
        note("\(nodes[Int(id) - 1].name): runs \(req.operationKey)")
        func reply(rc: Int, reason: String? = nil, digest: String = "") {
            nodes[Int(id) - 1].executor.callID += 1
            let r = ActionResult(node: nodes[Int(id) - 1].name, resource: rsc, agent: req.agent ?? "", task: req.task, intervalMS: req.intervalMS,
                                 transitionKey: req.transitionKey, callID: nodes[Int(id) - 1].executor.callID, rc: rc, opStatus: 0,
                                 lastRCChange: wallSeconds, digest: digest, exitReason: reason)
            if req.task == "start" { nodes[Int(id) - 1].executor.startedDevices[rsc] = r }
            nodes[Int(id) - 1].crmd.inbox.append(.localResult(r))
        }
        if req.agent?.hasPrefix("stonith:") == true {
            switch req.task {
            case "start": reply(rc: 0, digest: req.operationDigest)
            case "stop":
                nodes[Int(id) - 1].executor.startedDevices[rsc] = nil
                reply(rc: 0, digest: req.operationDigest)
            case "monitor": reply(rc: nodes[Int(id) - 1].executor.startedDevices[rsc] != nil ? 0 : 7, digest: req.operationDigest)
            default: reply(rc: 3, reason: "not an action of fence devices")
            }
            return
        }
        switch req.task {
        case "cancel":
            nodes[Int(id) - 1].executor.recurring = nodes[Int(id) - 1].executor.recurring.filter { !($0.value.request.resource == rsc && $0.value.request.intervalMS == req.intervalMS) }
            reply(rc: 0, reason: "cancelled")
            return
        case "delete":
            nodes[Int(id) - 1].executor.history.removeAll { $0.resource == rsc }
            reply(rc: 0, reason: "deleted")
            return
        case "stop":
            // A stop ends the resource's recurring operations first.
            nodes[Int(id) - 1].executor.recurring = nodes[Int(id) - 1].executor.recurring.filter { $0.value.request.resource != rsc }
        default:
            break
        }
        let duration: Int64
        switch req.task {
        case "start": duration = Int64.random(in: 20_000...800_000, using: &rng)
        case "stop": duration = Int64.random(in: 20_000...500_000, using: &rng)
        default: duration = Int64.random(in: 5_000...50_000, using: &rng)
        }
        let begin = max(now, nodes[Int(id) - 1].executor.busyUntil[rsc] ?? 0)
        nodes[Int(id) - 1].executor.busyUntil[rsc] = begin + duration
        nodes[Int(id) - 1].executor.inFlight[req.transitionKey] = req
        push(.operationDone(node: id, incarnation: inc, req), after: begin + duration - now)
    }

    mutating func operationDone(_ req: ActionRequest, at id: NodeID) {
        let rsc = req.resource ?? ""
        nodes[Int(id) - 1].executor.inFlight[req.transitionKey] = nil
        var rc = 0
        var reason: String?
        switch req.task {
        case "start":
            // A failed start may have left something running: it counts as active until stopped.
            active[id]!.insert(rsc)
            starts += 1
            if faults.startFailure > 0, Double.random(in: 0..<1, using: &rng) < faults.startFailure {
                rc = 1
                reason = "simulated start failure"
            }
        case "stop":
            if faults.stopFailure > 0, Double.random(in: 0..<1, using: &rng) < faults.stopFailure {
                rc = 1
                reason = "simulated stop failure"
            } else {
                active[id]!.remove(rsc)
            }
        case "monitor":
            rc = active[id]!.contains(rsc) ? 0 : 7
            if req.intervalMS > 0 {
                nodes[Int(id) - 1].executor.recurring[req.operationKey] = (req, rc)
                push(.monitorTick(node: id, incarnation: nodes[Int(id) - 1].incarnation, key: req.operationKey, transitionKey: req.transitionKey),
                     after: Int64(req.intervalMS) * 1000)
            }
        default:
            rc = 3
            reason = "the simulated agent does not do \(req.task)"
        }
        if active[id]!.contains(rsc), activeCount(rsc) > 1 {
            violations.append("\(rsc) is active on \(where_(rsc)) (started on \(nodes[Int(id) - 1].name))")
        }
        note("\(nodes[Int(id) - 1].name): \(req.operationKey) done rc=\(rc)")
        result(req, rc: rc, reason: reason, at: id)
    }

    mutating func result(_ req: ActionRequest, rc: Int, reason: String?, at id: NodeID) {
        nodes[Int(id) - 1].executor.callID += 1
        let r = ActionResult(node: nodes[Int(id) - 1].name, resource: req.resource ?? "", agent: req.agent ?? "", task: req.task,
                             intervalMS: req.intervalMS, transitionKey: req.transitionKey, callID: nodes[Int(id) - 1].executor.callID, rc: rc,
                             opStatus: 0, lastRCChange: wallSeconds, digest: req.operationDigest, exitReason: reason)
        nodes[Int(id) - 1].executor.history.append(r)
        if nodes[Int(id) - 1].executor.history.count > 200 { nodes[Int(id) - 1].executor.history.removeFirst(50) }
        // lrmd hands results to the crmd connected to it; none while crmd is down (the next one
        // reads them in the history at its join).
        if nodes[Int(id) - 1].crmdAlive { nodes[Int(id) - 1].crmd.inbox.append(.localResult(r)) }
    }

    /// A recurring monitor runs again: it reports only a change.
    mutating func monitorTick(key: String, transitionKey: String, at id: NodeID) {
        guard let (req, last) = nodes[Int(id) - 1].executor.recurring[key], req.transitionKey == transitionKey else { return }
        let rc = active[id]!.contains(req.resource ?? "") ? 0 : 7
        if rc != last {
            nodes[Int(id) - 1].executor.recurring[key] = (req, rc)
            note("\(nodes[Int(id) - 1].name): monitor \(key) finds rc=\(rc)")
            result(req, rc: rc, reason: nil, at: id)
        }
        push(.monitorTick(node: id, incarnation: nodes[Int(id) - 1].incarnation, key: key, transitionKey: transitionKey), after: Int64(req.intervalMS) * 1000)
    }

    /// A resource dies on its node (its monitor will notice).
    mutating func resourceFails(_ rsc: String, at id: NodeID) {
        guard nodes[Int(id) - 1].alive, active[id]!.remove(rsc) != nil else { return }
        note("RESOURCE FAILURE: \(rsc) dies on \(nodes[Int(id) - 1].name)")
    }

    /// This node's history as `<lrm_resources>`, as lrmd gives it to crmd at a join.
    func historyXML(_ id: NodeID) -> String {
        var list = XElement("lrm_resources")
        var byResource: [String: [ActionResult]] = [:]
        for r in nodes[Int(id) - 1].executor.history { byResource[r.resource, default: []].append(r) }
        for (rsc, start) in nodes[Int(id) - 1].executor.startedDevices { byResource[rsc, default: []].append(start) }
        for (rsc, results) in byResource.sorted(by: { $0.key < $1.key }) {
            guard var e = StatusRecords.result(results[0], nodeID: "x").firstElement(named: "lrm")?.firstElement(named: "lrm_resources")?
                .firstElement(named: "lrm_resource") else { continue }
            e.children = []
            if let last = results.last(where: { $0.intervalMS == 0 }) { e.append(StatusRecords.operation(last, id: "\(rsc)_last_0")) }
            var seen = Set<String>()
            for r in results.reversed() where r.intervalMS > 0 && seen.insert(r.operationKey).inserted
                && nodes[Int(id) - 1].executor.recurring[r.operationKey] != nil {
                e.append(StatusRecords.operation(r, id: r.operationKey))
            }
            list.append(e)
        }
        // What is under way: what lrmd runs or has queued (for a restarted crmd, its
        // predecessor's requests too), and what this crmd asked for.
        var pending = nodes[Int(id) - 1].executor.inFlight
        pending.merge(nodes[Int(id) - 1].crmd.core.runningLocally) { a, _ in a }
        return StatusRecords.addingPending(pending.values.sorted { $0.transitionKey < $1.transitionKey }, to: list.xmlString(.compact))
    }

    // MARK: - Stepping

    mutating func step() -> Bool {
        guard let e = queue.pop() else { return false }
        now = e.time
        steps += 1
        var touched: NodeID?
        switch e.payload {
        case .packet(let p, let to, let from):
            guard nodes[Int(to) - 1].alive else { return true }
            engine(to) { $0.onPacket(p, from: from) }
            touched = to
        case .engineTimer(let t, let id, let inc, let g):
            guard isCurrent(id, inc), nodes[Int(id) - 1].engineTimers[t] == g else { return true }
            engine(id) { $0.onTimer(t) }
            touched = id
        case .crmdTimer(let t, let id, let inc, let g):
            guard isCurrent(id, inc), nodes[Int(id) - 1].crmd.timers[t] == g else { return true }
            nodes[Int(id) - 1].crmd.inbox.append(.timer(t))
            touched = id
        case .fencerTimer(let t, let id, let inc):
            guard isCurrent(id, inc) else { return true }
            let d = date
            fencer(id) { $0.onTimer(t, now: d) }
            touched = id
        case .fencerAssessed(let id, let inc, let fid, let target):
            guard isCurrent(id, inc) else { return true }
            let levels = ids.contains { nodes[Int($0) - 1].name == target } ? [["fence-sim"]] : []
            fencer(id) { $0.onAssessed(id: fid, levels: levels) }
            touched = id
        case .agentDone(let id, let inc, let fid, let action, let target):
            guard isCurrent(id, inc) else { return true }
            agentDone(at: id, fenceID: fid, action: action, target: target)
            touched = id
        case .operationDone(let id, let inc, let req):
            guard isCurrent(id, inc) else { return true }
            operationDone(req, at: id)
            touched = id
        case .monitorTick(let id, let inc, let key, let tk):
            guard isCurrent(id, inc) else { return true }
            monitorTick(key: key, transitionKey: tk, at: id)
            touched = id
        case .cibTick(let id, let inc):
            guard isCurrent(id, inc) else { return true }
            var member = nodes[Int(id) - 1].cib
            let out = member.tick()
            nodes[Int(id) - 1].cib = member
            performCIB(out, at: id)
            push(.cibTick(node: id, incarnation: inc), after: 1_000_000)
            touched = id
        case .boot(let id):
            boot(id)
            touched = id
        case .crmdStart(let id, let inc):
            guard isCurrent(id, inc) else { return true }
            startCrmd(id)
            touched = id
        }
        if touched != nil {
            for id in ids where nodes[Int(id) - 1].alive { runCrmd(id) }
            check()
        }
        return true
    }

    mutating func run(until: Int64, stopWhen done: (ClusterSimulation) -> Bool = { _ in false }) {
        while let next = queue.heap.first, next.time <= until, violations.isEmpty {
            _ = step()
            if done(self) { return }
        }
        now = max(now, until)
    }

    // MARK: - Invariants

    /// Whether a node's cibd has agreed on a copy with the members of its current ring (not
    /// the copy of the partition it was in before).
    func cibViewCurrent(_ id: NodeID) -> Bool {
        guard let ring = nodes[Int(id) - 1].engine?.membership?.members else { return false }
        let members = nodes[Int(id) - 1].cib.members
        guard members.count == ring.count else { return false }
        return ring.allSatisfy { r in members.contains { $0.hasPrefix("\(r):") } }
    }

    func activeCount(_ rsc: String) -> Int { ids.filter { active[$0]!.contains(rsc) }.count }
    func where_(_ rsc: String) -> [String] { ids.filter { active[$0]!.contains(rsc) }.map { nodes[Int($0) - 1].name } }

    mutating func check() {
        // At most one DC acting with quorum per quorate partition (the nodes of one installed
        // ring), among the controllers that know the ring's membership of the controllers. One
        // that has not yet heard of it (its configuration change waits in its queue) does not
        // count, nor a DC of an older, smaller membership while it does not act on the ring's
        // quorum; what such a stale DC still does is judged by the other invariants.
        // Within one ring, the controllers' group changes too (a crmd killed, or started
        // again): the members hear of it one after the other, so a DC is counted with the
        // group view it acts on; two DCs of one view are two DCs.
        var dcs: [TotemRing.RingID: [Set<UInt32>: [String]]] = [:]
        var quorate: Set<TotemRing.RingID> = []
        for id in ids where nodes[Int(id) - 1].alive {
            guard let ring = nodes[Int(id) - 1].engine?.membership?.ring else { continue }
            if nodes[Int(id) - 1].quorate { quorate.insert(ring) }
            let n = nodes[Int(id) - 1]
            guard n.crmdAlive, n.crmd.core.isDC && n.crmd.core.quorate else { continue }
            // Its process groups must be synchronized for this ring (until then no controller
            // of the node can know the ring's membership).
            let pg = n.engine!.processGroups
            guard pg.isSynchronized, pg.ring == ring else { continue }
            let groupNodes = Set(pg.members(of: "crmd").map(\.node))
            if Set(n.crmd.core.election.members.map(\.nodeID)) == groupNodes { dcs[ring, default: [:]][groupNodes, default: []].append(n.name) }
        }
        for (ring, views) in dcs where quorate.contains(ring) {
            for (view, names) in views where names.count > 1 {
                violations.append("two DCs in the quorate partition of ring \(ring) (controllers \(view.sorted())): \(names)")
            }
        }
        // No resource active twice, anywhere (crashed, unfenced nodes included).
        for rsc in Self.resources where activeCount(rsc) > 1 {
            violations.append("\(rsc) is active on \(where_(rsc)) at once")
        }
        // No acknowledged CIB change missing from a synced copy of a quorate partition that
        // has reached the version the acknowledgement gave (a copy that has not yet had the
        // change delivered is older).
        if !acknowledged.isEmpty {
            for id in ids where nodes[Int(id) - 1].alive && nodes[Int(id) - 1].quorate && nodes[Int(id) - 1].cib.replica.isSynced && cibViewCurrent(id) {
                let cib = nodes[Int(id) - 1].cib.replica.cib
                let v = cib.version
                if checkedVersion[id] == v { continue }
                checkedVersion[id] = v
                let due = Set(acknowledged.filter { $0.value <= v }.keys)
                if due.isEmpty { continue }
                let missing = due.subtracting(Self.updates(in: cib))
                if !missing.isEmpty {
                    violations.append("\(nodes[Int(id) - 1].name)'s synced copy \(v) lacks acknowledged change(s) \(missing.sorted())")
                }
            }
        }
    }

    // MARK: - Convergence

    /// Why the cluster has not settled yet (nil: it has).
    var unsettled: String? {
        let live = ids.filter { nodes[Int($0) - 1].alive }
        guard live.count == ids.count else { return "nodes down: \(ids.filter { !nodes[Int($0) - 1].alive })" }
        let rings = Set(live.map { nodes[Int($0) - 1].engine!.membership?.ring })
        guard rings.count == 1, live.allSatisfy({ nodes[Int($0) - 1].engine!.membership?.members == ids }) else { return "more than one ring" }
        let all = ids.map { member($0) }
        if let down = live.first(where: { !nodes[Int($0) - 1].crmdAlive }) { return "\(nodes[Int(down) - 1].name)'s crmd is down" }
        for id in live {
            let c = nodes[Int(id) - 1].crmd
            guard c.core.election.members == all else {
                let waiting = c.waiting.map { " (waiting for its CIB request \($0); the cib copy is \(nodes[Int(id) - 1].cib.replica.isSynced ? "synced" : "not synced"), members \(nodes[Int(id) - 1].cib.members))" } ?? ""
                return "\(nodes[Int(id) - 1].name)'s controller sees \(c.core.election.members.map(\.name))\(waiting), \(c.inbox.count) event(s) unread"
            }
            guard c.inbox.isEmpty, c.work.isEmpty, c.waiting == nil else { return "\(nodes[Int(id) - 1].name)'s controller is busy" }
        }
        guard let dc = live.first(where: { nodes[Int($0) - 1].crmd.core.isDC }) else { return "no DC" }
        let d = nodes[Int(dc) - 1].crmd
        guard d.core.joinedOnce, !d.core.join.active, !d.core.busy, !d.core.quorumPending, d.core.failedTransitions == 0,
              d.lastGraph >= 0 else {
            return "the DC is not idle (graph of \(d.lastGraph), busy \(d.core.busy))"
        }
        let copies = Set(live.map { nodes[Int($0) - 1].cib.replica.cib.digest })
        guard live.allSatisfy({ nodes[Int($0) - 1].cib.replica.isSynced }), copies.count == 1 else { return "the CIB copies differ" }
        // Every resource runs exactly once (unless failures banned it everywhere), where the CIB says.
        let cib = nodes[Int(dc) - 1].cib.replica.cib
        let ws = Simulator.workingSet(SchedulerInput(cib: cib, now: wallSeconds))
        for rsc in Self.resources {
            let there = where_(rsc)
            let recorded = ws.resources.first { $0.id == rsc }?.activeOn ?? []
            guard there.sorted() == recorded.sorted() else { return "\(rsc) runs on \(there), the CIB says \(recorded)" }
            if there.count != 1 && !bannedEverywhere(rsc, cib: cib) { return "\(rsc) runs on \(there)" }
        }
        return nil
    }

    /// Whether failures have banned a resource from every node (fail-count INFINITY).
    func bannedEverywhere(_ rsc: String, cib: CIB) -> Bool {
        ids.allSatisfy { id in
            let xs = (try? cib.root.xpathElements("/cib/status/node_state[@id='\(id)']/transient_attributes//nvpair[starts-with(@name,'fail-count-\(rsc)#')]")) ?? []
            return xs.contains { $0["value"] == "INFINITY" }
        }
    }

    /// How to replay this run: the environment and the test that runs it.
    var replay = ""

    var report: String {
        "seed \(seed) (replay: SWIFTHA_SIM_SEED=\(seed) \(replay)), \(ids.count) nodes, at \(Double(now) / 1_000_000) s:\n  "
            + violations.prefix(5).joined(separator: "\n  ") + "\nlast events:\n" + trace.suffix(120).joined(separator: "\n")
    }
}
