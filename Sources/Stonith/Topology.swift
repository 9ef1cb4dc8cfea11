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

/// A fence device: a stonith-class primitive of the CIB.
public struct FenceDevice: Sendable, Equatable {
    public var id: String
    /// The fence agent (`fence_ipmilan`, `fence_swiftha`...).
    public var agent: String
    /// The agent's parameters (pcmk_* ones included; the shell leaves those out when it
    /// calls the agent).
    public var parameters: [String: String]
    /// The primitive's meta attributes (`target-role`...).
    public var meta: [String: String] = [:]

    public init(id: String, agent: String, parameters: [String: String] = [:]) {
        self.id = id
        self.agent = agent
        self.parameters = parameters
    }

    /// The fence devices a CIB configures (stonith primitives, in clones and groups too).
    public static func all(in cib: CIB) -> [FenceDevice] {
        var out: [FenceDevice] = []
        cib.configuration.element.firstElement(named: "resources")?.walk { e in
            guard e.name == "primitive", e["class"] == "stonith", let id = e.id, let type = e["type"] else { return }
            var params: [String: String] = [:]
            for set in e.elements(named: "instance_attributes") {
                for nv in set.elements(named: "nvpair") { if let n = nv["name"], let v = nv["value"], params[n] == nil { params[n] = v } }
            }
            var meta: [String: String] = [:]
            for set in e.elements(named: "meta_attributes") {
                for nv in set.elements(named: "nvpair") { if let n = nv["name"], let v = nv["value"], meta[n] == nil { meta[n] = v } }
            }
            var device = FenceDevice(id: id, agent: type, parameters: params)
            device.meta = meta
            out.append(device)
        }
        return out
    }

    /// pcmk_host_map: `node:plug;node2:plug2` (`=` is accepted for `:`, commas and spaces
    /// for `;`).
    public var hostMap: [String: String] {
        guard let text = parameters["pcmk_host_map"] else { return [:] }
        var map: [String: String] = [:]
        for entry in text.split(whereSeparator: { $0 == ";" || $0 == "," || $0 == " " }) {
            let parts = entry.split(maxSplits: 1, whereSeparator: { $0 == ":" || $0 == "=" })
            if parts.count == 2 { map[String(parts[0])] = String(parts[1]) }
        }
        return map
    }

    /// pcmk_host_list, split on commas and spaces.
    public var hostList: [String]? {
        parameters["pcmk_host_list"].map { $0.split(whereSeparator: { $0 == "," || $0 == " " || $0 == ";" }).map(String.init) }
    }

    /// Whether the device can fence a node, when the configuration alone says so; nil when
    /// the agent must be asked (pcmk_host_check dynamic-list or status).
    public func canFence(_ node: String) -> Bool? {
        let check = parameters["pcmk_host_check"] ?? ((hostList != nil || !hostMap.isEmpty) ? "static-list" : "dynamic-list")
        switch check {
        case "none": return true
        case "static-list": return (hostList?.contains(node) ?? false) || hostMap[node] != nil
        default: return nil
        }
    }

    /// What the agent is told to fence: the host map's plug, else the node's name.
    public func plug(for node: String) -> String { hostMap[node] ?? node }
}

/// Which devices fence a node, in which order: the fencing topology's levels for that node
/// (by name, name pattern or node attribute), lowest index first; without levels, each
/// capable device on its own, in configuration order.
public enum FencingTopology {
    public static func levels(for target: String, levels: [FencingLevel], attributes: [String: String] = [:],
                              devices: [FenceDevice], canFence: (FenceDevice) -> Bool) -> [[String]] {
        let matching = levels.filter { level in
            if let t = level.target { return t == target }
            if let pattern = level.targetPattern {
                guard let re = try? Regex(pattern) else { return false }
                return (try? re.firstMatch(in: target)) != nil
            }
            if let a = level.targetAttribute { return attributes[a] == level.targetValue }
            return false
        }.sorted { (Int($0.index ?? "") ?? 0) < (Int($1.index ?? "") ?? 0) }
        if !matching.isEmpty { return matching.map(\.devices).filter { !$0.isEmpty } }
        return devices.filter(canFence).map { [$0.id] }
    }
}

/// One fencing request, carried out level by level: every device of a level must succeed;
/// a level that fails hands over to the next; when none is left, fencing failed. A reboot
/// through several devices of one level (two power supplies) switches them all off, then
/// all on, so the node is never powered through one while the other cycles.
///
/// An instance: the shell runs the agents and reports each result.
public struct FencingOperation: Sendable {
    public struct Step: Sendable, Equatable {
        public var device: String
        public var action: String
    }

    public enum Directive: Sendable, Equatable {
        /// Run a device's agent with this action against the target.
        case run(device: String, action: String, target: String, timeout: Duration)
        /// Done: the target is fenced, or it could not be (and why).
        case finished(success: Bool, detail: String)
    }

    public let target: String
    public let action: String
    public let levels: [[String]]
    public let timeout: Duration
    private var level = 0
    private var steps: [Step] = []
    private var step = 0
    private var failures: [String] = []
    private var ignored: [String] = []
    public private(set) var isFinished = false

    public init(target: String, action: String, levels: [[String]], timeout: Duration = .seconds(60)) {
        self.target = target
        self.action = action
        self.levels = levels
        self.timeout = timeout
    }

    private func plan(_ devices: [String]) -> [Step] {
        if action == "reboot" && devices.count > 1 {
            return devices.map { Step(device: $0, action: "off") } + devices.map { Step(device: $0, action: "on") }
        }
        return devices.map { Step(device: $0, action: action) }
    }

    public mutating func start() -> [Directive] {
        guard !levels.isEmpty else {
            isFinished = true
            return [.finished(success: false, detail: "no fence device can fence \(target); configure one (a stonith primitive with pcmk_host_list, or a fencing-topology level)")]
        }
        level = 0
        steps = plan(levels[0])
        step = 0
        return runStep()
    }

    private func runStep() -> [Directive] {
        let s = steps[step]
        return [.run(device: s.device, action: s.action, target: target, timeout: timeout)]
    }

    /// The result of the step in progress.
    public mutating func onResult(success: Bool, output: String = "") -> [Directive] {
        guard !isFinished else { return [] }
        let s = steps[step]
        if !success && s.action == "on" && action == "reboot" {
            // The "on" half of a reboot through several devices: the target is off already,
            // which is what fencing needs; as Pacemaker does, the failure is only noted.
            ignored.append("\(s.device) on: \(output.isEmpty ? "failed" : output)")
        }
        if success || (s.action == "on" && action == "reboot") {
            step += 1
            if step < steps.count { return runStep() }
            isFinished = true
            let devices = levels[level].joined(separator: ",")
            let note = ignored.isEmpty ? "" : " (switching it back on failed: " + ignored.joined(separator: "; ") + ")"
            return [.finished(success: true, detail: "\(target) fenced (\(action)) by \(devices) at level \(level + 1)" + note)]
        }
        failures.append("\(s.device) \(s.action): \(output.isEmpty ? "failed" : output)")
        level += 1
        guard level < levels.count else {
            isFinished = true
            return [.finished(success: false, detail: "could not fence \(target): " + failures.joined(separator: "; "))]
        }
        steps = plan(levels[level])
        step = 0
        return runStep()
    }
}

/// How stonithd finds out whether a device can fence a node (`pcmk_host_check`).
public enum HostCheck: String, Sendable, Equatable {
    /// pcmk_host_list / pcmk_host_map say (the default when either is set).
    case staticList = "static-list"
    /// The agent's `list` output names the node's plug (the default otherwise).
    case dynamicList = "dynamic-list"
    /// The agent's `status` of the node's plug answers (on or off).
    case status
    /// Every node.
    case none
}

extension FenceDevice {
    public var hostCheck: HostCheck {
        if let v = parameters["pcmk_host_check"], let c = HostCheck(rawValue: v.lowercased()) { return c }
        return (hostList != nil || !hostMap.isEmpty) ? .staticList : .dynamicList
    }

    /// A device stopped by `target-role=Stopped` is not used.
    public var isDisabled: Bool { meta["target-role"]?.lowercased() == "stopped" }

    /// Whether the agent's `list` output (`port[,alias]` lines) names the node.
    public func listNames(_ node: String, output: String) -> Bool {
        let plug = plug(for: node).lowercased()
        return StonithAdminOutput.parseTargets(output).contains { $0.lowercased() == plug }
    }

    /// The action the agent is given for a fencing action (`pcmk_reboot_action` may rename it).
    public func agentAction(for action: String) -> String {
        parameters["pcmk_\(action)_action"].flatMap { $0.isEmpty ? nil : $0 } ?? action
    }

    /// The agent's parameters for an action against a node, as Pacemaker's fencer passes them:
    /// the device's own (the shell's fence protocol leaves pcmk_* out), `nodename=NODE`, and
    /// the node's plug under the host argument (`pcmk_host_argument`, else the agent's default:
    /// `plug` when its meta-data has it, else `port`; `none` passes no plug).
    public func agentParameters(target: String, defaultHostArgument: String = "port") -> [String: String] {
        var p = parameters
        p["nodename"] = target
        let arg = parameters["pcmk_host_argument"] ?? defaultHostArgument
        if arg.lowercased() != "none" {
            let configured = parameters[arg]
            if configured == nil || configured?.lowercased() == "dynamic" { p[arg] = plug(for: target) }
        }
        return p
    }

    /// How long one action may take: `pcmk_<action>_timeout`, else the cluster's.
    public func timeout(for action: String, default fallback: Duration) -> Duration {
        guard let text = parameters["pcmk_\(action)_timeout"], let d = Self.parseDuration(text) else { return fallback }
        return d
    }

    /// `60`, `60s`, `90000ms`, `2min`.
    public static func parseDuration(_ text: String) -> Duration? {
        let t = text.trimmingSpaces().lowercased()
        let units: [(String, Int64)] = [("ms", 1), ("msec", 1), ("min", 60_000), ("m", 60_000), ("s", 1000), ("sec", 1000), ("h", 3_600_000), ("hr", 3_600_000)]
        for (unit, factor) in units.sorted(by: { $0.0.count > $1.0.count }) where t.hasSuffix(unit) {
            guard let n = Int64(t.dropLast(unit.count).trimmingSpaces()), n >= 0 else { return nil }
            let (ms, overflow) = n.multipliedReportingOverflow(by: factor)
            return overflow ? nil : .milliseconds(ms)
        }
        guard let n = Int64(t), n >= 0 else { return nil }
        return .seconds(n)
    }
}

/// Which levels of devices one node can run against a target. Pure: the agents' answers for
/// devices that must be asked (`questions`) come in as `answers`.
public enum FenceCapability {
    /// The devices whose agent must be asked (list or status) whether it can fence the target.
    public static func questions(target: String, devices: [FenceDevice], installed: (String) -> Bool) -> [(device: FenceDevice, check: HostCheck)] {
        devices.filter { !$0.isDisabled && installed($0.agent) }.compactMap { d in
            switch d.hostCheck {
            case .dynamicList, .status: (d, d.hostCheck)
            case .staticList, .none: nil
            }
        }
    }

    /// The levels this node can run: the topology's levels for the target whose every
    /// device is registered, enabled and installed here; without levels, each device that
    /// can fence the target on its own, in configuration order.
    public static func levels(target: String, devices: [FenceDevice], topology: [FencingLevel], attributes: [String: String] = [:],
                              installed: (String) -> Bool, answers: [String: Bool]) -> [[String]] {
        let usable = devices.filter { !$0.isDisabled && installed($0.agent) }
        let byID = Dictionary(usable.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let all = FencingTopology.levels(for: target, levels: topology, attributes: attributes, devices: usable) { d in
            d.canFence(target) ?? answers[d.id] ?? false
        }
        return all.filter { level in level.allSatisfy { byID[$0] != nil } }
    }
}

extension FenceDevice {
    /// The devices this node may use: those not banned from it by a location constraint
    /// (`rsc_location` of the device with `node=THIS` and score -INFINITY), as Pacemaker's
    /// fencer does not register a device the cluster keeps off a node. Rules are not read.
    public static func usable(on node: String, in cib: CIB) -> [FenceDevice] {
        let banned = bans(in: cib)
        return all(in: cib).filter { !(banned[$0.id]?.contains(node.lowercased()) ?? false) }
    }

    /// Device id to the nodes (lowercased) it is banned from.
    static func bans(in cib: CIB) -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        cib.configuration.element.firstElement(named: "constraints")?.walk { e in
            guard e.name == "rsc_location", let rsc = e["rsc"], let node = e["node"], let score = e["score"] else { return }
            let s = score.lowercased()
            if s == "-infinity" || s == "-inf" { out[rsc, default: []].insert(node.lowercased()) }
        }
        return out
    }

    /// The permanent attributes of each node of the configuration (for topology levels by
    /// target-attribute), by node name.
    public static func nodeAttributes(in cib: CIB) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for n in cib.configuration.nodes {
            var attrs: [String: String] = [:]
            for set in n.element.elements(named: "instance_attributes") {
                for nv in set.elements(named: "nvpair") { if let k = nv["name"], let v = nv["value"], attrs[k] == nil { attrs[k] = v } }
            }
            out[n.uname] = attrs
        }
        return out
    }
}

extension FenceDevice {
    /// The longest fencing delay, in seconds, requested or configured (pcmk_delay_base,
    /// pcmk_delay_max): longer ones are cut to it (and requests asking for more are refused).
    public static let maxDelaySeconds = 3600

    /// Why a client's requested delay (`stonith_admin --delay`) is refused, nil when it is fine.
    public static func delayProblem(_ seconds: Int?) -> String? {
        guard let s = seconds, s > maxDelaySeconds else { return nil }
        return "the fencing delay must be at most \(maxDelaySeconds) seconds (got \(s)); give a smaller --delay"
    }

    /// The delay before a fencing action (off, reboot) of this device against `target`, as
    /// Pacemaker's fencer computes it: pcmk_delay_base (a duration, or a map
    /// `node1:5s;node2:0s` naming each target's), plus a random part up to pcmk_delay_max.
    /// Whole seconds, as Pacemaker counts them. Zero for other actions.
    ///
    /// `requested` is the client's delay (`stonith_admin --delay`) in seconds: added to the
    /// device's; negative disables every delay.
    public func delay(action: String, target: String, requested: Int? = nil, using rng: inout some RandomNumberGenerator) -> Duration {
        if let r = requested, r < 0 { return .zero }
        let total = Swift.min(Int64(requested ?? 0), Int64(Self.maxDelaySeconds)) + deviceDelay(action: action, target: target, using: &rng)
        return .seconds(Swift.min(total, Int64(Self.maxDelaySeconds)))
    }

    /// Whole seconds, each part at most `maxDelaySeconds`.
    private func deviceDelay(action: String, target: String, using rng: inout some RandomNumberGenerator) -> Int64 {
        guard action == "off" || action == "reboot" else { return 0 }
        let cap = Int64(Self.maxDelaySeconds)
        let max = Swift.min(cap, parameters["pcmk_delay_max"].flatMap(Self.parseDuration).map { $0.components.seconds } ?? 0)
        var base: Int64 = 0
        if let text = parameters["pcmk_delay_base"] {
            var value: String? = text
            if text.contains(":") {
                value = nil
                for entry in text.split(whereSeparator: { $0 == ";" || $0 == " " || $0 == "\t" }) {
                    let kv = entry.split(separator: ":", maxSplits: 1)
                    if kv.count == 2, kv[0].lowercased() == target.lowercased() { value = String(kv[1]); break }
                }
            }
            base = Swift.min(cap, value.flatMap(Self.parseDuration).map { $0.components.seconds } ?? 0)
        }
        var top = max == 0 ? base : max
        if top < base { base = top }
        top = Swift.max(top, base)
        guard top > 0 else { return 0 }
        let extra = top != base ? Int64.random(in: 0..<(top - base), using: &rng) : 0
        return base + extra
    }
}
