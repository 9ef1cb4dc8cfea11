#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras

/// A parsed `corosync.conf`: the totem, nodelist, quorum, logging and system sections, typed,
/// with corosync's defaults filled in, and the warnings found on the way.
///
/// ```swift
/// let config = try CorosyncConfig.parse(text, file: "/etc/corosync/corosync.conf")
/// let timing = config.totem.timing(nodeCount: config.nodes.count)
/// for w in config.warnings { logger.warning("\(w)") }
/// ```
///
/// Errors (`ConfigError`) name the file, the line and the fix; unknown sections and keys are
/// warnings, collected in ``warnings`` and never printed by the library.
public struct CorosyncConfig: Sendable, Equatable {
    public var totem: TotemConfig
    /// The `nodelist { node { ... } }` entries, in file order.
    public var nodes: [NodeEntry]
    public var quorum: QuorumConfig
    public var logging: LoggingConfig
    public var system: SystemConfig
    /// What was accepted but should be looked at (unknown keys, encryption off, ...).
    public var warnings: [ConfigWarning]

    /// The node with this nodelist `name`, if any.
    public func node(named name: String) -> NodeEntry? {
        nodes.first { $0.name == name }
    }

    /// The node with this id, if any.
    public func node(id: UInt32) -> NodeEntry? {
        nodes.first { $0.nodeID == id }
    }

    /// The expected votes votequorum starts with: `quorum.expected_votes` when given, else the sum
    /// of the nodelist's votes (man votequorum(5)); nil when neither exists (votequorum is then off).
    public var expectedVotes: Int? {
        if let e = quorum.expectedVotes { return e }
        if nodes.isEmpty { return nil }
        return nodes.reduce(0) { $0 + ($1.quorumVotes ?? quorum.votes ?? 1) }
    }
}

/// The `totem` section: the ring protocol's timers and constants, the transport and the crypto.
///
/// Every duration is in milliseconds in the file and a `Duration` here. The defaults are
/// corosync 3.1's (totemconfig.c and corosync.conf(5)).
public struct TotemConfig: Sendable, Equatable {
    public enum Transport: String, Sendable, Equatable, CaseIterable {
        /// UDP unicast to every nodelist address.
        case udpu
        /// corosync 3's default; SwiftHA runs it over the same UDP unicast code.
        case knet
        /// Multicast UDP (corosync 2); accepted and run as udpu.
        case udp
    }

    public enum Cipher: String, Sendable, Equatable, CaseIterable {
        case none, aes256, aes192, aes128
    }

    public enum Hash: String, Sendable, Equatable, CaseIterable {
        case none, md5, sha1, sha256, sha384, sha512
    }

    /// One `interface { }` subsection.
    public struct Interface: Sendable, Equatable {
        public var linkNumber: Int
        public var bindNetAddress: String?
        public var multicastPort: Int?
        public var knetLinkPriority: Int?
        /// The line of the `interface {`.
        public var line: Int

        public init(linkNumber: Int = 0, bindNetAddress: String? = nil, multicastPort: Int? = nil,
                    knetLinkPriority: Int? = nil, line: Int = 0) {
            self.linkNumber = linkNumber
            self.bindNetAddress = bindNetAddress
            self.multicastPort = multicastPort
            self.knetLinkPriority = knetLinkPriority
            self.line = line
        }
    }

    /// `version`; only 2 exists.
    public var version: Int = 2
    public var clusterName: String?
    /// Default `knet`, as in corosync 3.
    public var transport: Transport = .knet
    /// `token`: how long without the token before it is declared lost. Default 3000 ms. The
    /// effective value also depends on the node count, see ``timing(nodeCount:)``.
    public var token: Duration = .milliseconds(3000)
    /// `token_coefficient`: added to the token timeout for every node past the second, when the
    /// nodelist has 3 or more nodes. Default 650 ms; 0 switches it off.
    public var tokenCoefficient: Duration = .milliseconds(650)
    /// `token_retransmits_before_loss_const`: token retransmissions before a new configuration
    /// is formed. Default 4.
    public var tokenRetransmitsBeforeLossConst: Int = 4
    /// `token_retransmit`, when given; otherwise token / (retransmits + 0.2).
    public var tokenRetransmit: Duration?
    /// `hold`, when given; otherwise token_retransmit * 0.8 - 10 ms.
    public var hold: Duration?
    /// `join`: how long to wait for join messages. Default 50 ms.
    public var join: Duration = .milliseconds(50)
    /// `send_join`: a join is delayed by a random time in [0, send_join]. Default 0.
    public var sendJoin: Duration = .zero
    /// `consensus` when given; otherwise 1.2 * the effective token.
    public var consensus: Duration?
    /// `merge`: how often to look for other rings. Default 200 ms.
    public var merge: Duration = .milliseconds(200)
    /// `downcheck`. Default 1000 ms.
    public var downcheck: Duration = .milliseconds(1000)
    /// `fail_recv_const`: token rotations without receiving a message that should have been
    /// received before a new configuration is formed. Default 2500.
    public var failRecvConst: Int = 2500
    /// `seqno_unchanged_const`. Default 30.
    public var seqnoUnchangedConst: Int = 30
    /// `max_messages`: messages one node may send per token visit. Default 17.
    public var maxMessages: Int = 17
    /// `window_size`: messages the whole ring may send per token rotation. Default 50.
    public var windowSize: Int = 50
    /// `miss_count_const`. Default 5.
    public var missCountConst: Int = 5
    /// `max_network_delay`. Default 50 ms.
    public var maxNetworkDelay: Duration = .milliseconds(50)
    /// `netmtu`. Default 1500 (for transport udpu and udp).
    public var netMTU: Int = 1500
    /// Whether `netmtu` was set. Without it, knet (which fragments for the network itself)
    /// takes packets of up to ``TotemTiming/knetPacketSize`` from totem, as corosync does.
    public var netMTUConfigured = false
    /// `crypto_cipher` after `secauth` and the defaults: aes256 unless turned off.
    public var cryptoCipher: Cipher = .aes256
    /// `crypto_hash` after `secauth` and the defaults: sha256 unless turned off.
    public var cryptoHash: Hash = .sha256
    /// `keyfile`, when given (default: `etc/corosync/authkey` under the node root).
    public var keyFile: String?
    /// `link_mode` (knet): passive, active or rr.
    public var linkMode: String = "passive"
    /// `config_version`. Default 0.
    public var configVersion: UInt64 = 0
    /// `ip_version`: ipv4, ipv6, ipv4-6 or ipv6-4.
    public var ipVersion: String?
    /// The `interface { }` subsections, in file order.
    public var interfaces: [Interface] = []

    public init() {}

    /// Whether packets are encrypted and authenticated (false only when both crypto_cipher and
    /// crypto_hash are `none`).
    public var isSecure: Bool { cryptoCipher != .none || cryptoHash != .none }

    /// The timers the ring runs with for a nodelist of `nodeCount` nodes.
    public func timing(nodeCount: Int) -> TotemTiming {
        TotemTiming(config: self, nodeCount: nodeCount)
    }
}

/// The effective totem timers for a given cluster size: what corosync stores under
/// `runtime.config.totem.*`.
///
/// Failure detection: a node that stops is noticed when the token it should have passed on does
/// not come back within ``token`` (`token + (nodes - 2) * token_coefficient` for 3 or more
/// nodes, `token` otherwise). The survivors then gather and agree on the new membership, which
/// takes at most ``consensus``. So a crashed node is out of the membership within
/// ``failureDetectionBound`` = token + consensus (plus the network delay), which with the
/// defaults and 3 nodes is 3650 + 4380 = 8030 ms, and with `token: 300`,
/// `token_coefficient: 0` is 300 + 360 = 660 ms.
public struct TotemTiming: Sendable, Equatable {
    /// The effective token timeout.
    public var token: Duration
    /// The token retransmission timer: token / (token_retransmits_before_loss_const + 0.2).
    public var tokenRetransmit: Duration
    /// The hold timer: token_retransmit * 0.8 - 10 ms (as configured, but never longer than
    /// token_retransmit).
    public var hold: Duration
    public var join: Duration
    public var sendJoin: Duration
    /// The consensus timeout: as configured, or 1.2 * the effective token.
    public var consensus: Duration
    public var merge: Duration
    public var downcheck: Duration
    public var failRecvConst: Int
    public var tokenRetransmitsBeforeLossConst: Int
    public var maxMessages: Int
    public var windowSize: Int
    /// `netmtu`: the largest datagram, IP and UDP headers included. With transport knet and no
    /// `netmtu`, ``knetPacketSize``: corosync hands knet packets of up to 64 KiB and knet
    /// fragments them for the link; SwiftHA's knet leaves that to the kernel's IP
    /// fragmentation, so a ring message carries up to ~64 KB and a busy ring moves large
    /// messages in few packets.
    public var netMTU: Int

    /// The largest packet totem hands the knet transport when `netmtu` is not set (a UDP
    /// datagram's limit, less room for the headers).
    public static let knetPacketSize = 65_000

    /// Bytes one datagram carries besides a fragment's data: IPv6 and UDP headers (48), the
    /// packet header and GCM tag (24 + 16), the ring message header (29), the wrapper of a
    /// message recovered into the next ring (25) and the fragment header (9).
    public static let fragmentOverhead = 48 + 24 + 16 + 29 + 25 + FragmentHeader.size

    /// The largest payload sent as one ring message; longer ones are fragmented. With the
    /// default netmtu of 1500 this is 1349 bytes.
    public var maxFragmentPayload: Int { max(64, netMTU - Self.fragmentOverhead) }

    public init(config: TotemConfig, nodeCount: Int) {
        var token = config.token
        if nodeCount > 2 {
            token += config.tokenCoefficient * (nodeCount - 2)
        }
        self.token = token
        let tokenMs = Self.ms(token)
        let retransmit = config.tokenRetransmit
            ?? .milliseconds(Int(Double(tokenMs) / (Double(config.tokenRetransmitsBeforeLossConst) + 0.2)))
        self.tokenRetransmit = retransmit
        // Held longer than token_retransmit, the token would look lost to the others.
        self.hold = min(config.hold ?? .milliseconds(max(0, Int(Double(Self.ms(retransmit)) * 0.8) - 10)), retransmit)
        self.join = config.join
        self.sendJoin = config.sendJoin
        self.consensus = config.consensus ?? .milliseconds(Int(1.2 * Double(tokenMs)))
        self.merge = config.merge
        self.downcheck = config.downcheck
        self.failRecvConst = config.failRecvConst
        self.tokenRetransmitsBeforeLossConst = config.tokenRetransmitsBeforeLossConst
        self.maxMessages = config.maxMessages
        self.windowSize = config.windowSize
        self.netMTU = config.transport == .knet && !config.netMTUConfigured ? Self.knetPacketSize : config.netMTU
    }

    /// The longest time from a node's crash to the survivors' new membership, not counting the
    /// network delay: token + consensus.
    public var failureDetectionBound: Duration { token + consensus }

    static func ms(_ d: Duration) -> Int64 {
        let (s, a) = d.components
        return s * 1000 + a / 1_000_000_000_000_000
    }
}

/// One `node { }` of the nodelist.
public struct NodeEntry: Sendable, Equatable {
    /// `nodeid`; for udpu without one, derived from ring0_addr's IPv4 address as corosync does.
    public var nodeID: UInt32
    /// `name`, used by Pacemaker and to pick the local node.
    public var name: String?
    /// `ringX_addr` by link number X.
    public var addresses: [Int: String]
    /// `quorum_votes`, when given.
    public var quorumVotes: Int?
    /// The line of the `node {`.
    public var line: Int

    public init(nodeID: UInt32, name: String?, addresses: [Int: String], quorumVotes: Int? = nil, line: Int = 0) {
        self.nodeID = nodeID
        self.name = name
        self.addresses = addresses
        self.quorumVotes = quorumVotes
        self.line = line
    }

    /// `ring0_addr`.
    public var ring0: String? { addresses[0] }
}

/// The `quorum` section (votequorum(5)).
public struct QuorumConfig: Sendable, Equatable {
    public enum TieBreaker: Sendable, Equatable {
        case lowest
        case highest
        /// A list of node ids, evaluated in order.
        case nodes([UInt32])
    }

    /// `provider`: nil (no quorum) or `corosync_votequorum`.
    public var provider: String?
    public var expectedVotes: Int?
    /// `votes` (deprecated; nodelist `quorum_votes` wins).
    public var votes: Int?
    public var twoNode: Bool = false
    /// `wait_for_all` as written; nil when absent (then it follows two_node).
    public var waitForAllSetting: Bool?
    public var lastManStanding: Bool = false
    /// `last_man_standing_window`. Default 10000 ms.
    public var lastManStandingWindow: Duration = .milliseconds(10_000)
    public var autoTieBreaker: Bool = false
    /// `auto_tie_breaker_node`. Default lowest.
    public var autoTieBreakerNode: TieBreaker = .lowest
    public var allowDownscale: Bool = false
    public var expectedVotesTracking: Bool = false

    public init() {}

    /// Whether votequorum runs at all.
    public var isEnabled: Bool { provider == "corosync_votequorum" }

    /// wait_for_all in effect: as written, else on exactly when two_node is.
    public var waitForAll: Bool { waitForAllSetting ?? twoNode }
}

/// The `logging` section.
public struct LoggingConfig: Sendable, Equatable {
    public enum Timestamp: String, Sendable, Equatable { case off, on, hires }
    public enum Debug: String, Sendable, Equatable { case off, on, trace }

    /// One `logger_subsys { subsys: X ... }`.
    public struct Subsystem: Sendable, Equatable {
        public var subsys: String
        public var debug: Debug?
        public var line: Int

        public init(subsys: String, debug: Debug? = nil, line: Int = 0) {
            self.subsys = subsys
            self.debug = debug
            self.line = line
        }
    }

    public var toStderr: Bool = true
    public var toLogfile: Bool = false
    public var toSyslog: Bool = true
    public var logfile: String?
    public var timestamp: Timestamp = .hires
    public var debug: Debug = .off
    public var fileline: Bool = false
    public var functionName: Bool = false
    public var syslogFacility: String = "daemon"
    public var logfilePriority: String = "info"
    public var syslogPriority: String = "info"
    public var subsystems: [Subsystem] = []

    public init() {}
}

/// The `system` section.
public struct SystemConfig: Sendable, Equatable {
    public var qbIPCType: String?
    public var schedRR: Bool = true
    /// A nice value (-20 to 19), "max" or "min"; used only with `sched_rr: no` (nil: unchanged).
    public var priority: String?
    public var moveToRootCgroup: String = "auto"
    public var allowKnetHandleFallback: Bool = false
    public var stateDir: String?

    public init() {}
}

// MARK: - Parsing

extension CorosyncConfig {
    /// Reads a corosync.conf from disk. Errors name the file and line.
    public static func load(path: String) throws(ConfigError) -> CorosyncConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, line: 0,
                              "cannot read the file (\(failureReason(error))); check the path, or pass another with -c FILE")
        }
        return try parse(text, file: path)
    }

    /// Parses the text of a corosync.conf. `file` names the input in errors and warnings.
    public static func parse(_ text: String, file: String = "corosync.conf") throws(ConfigError) -> CorosyncConfig {
        let tree = try ConfigSection.parse(text, file: file)
        var reader = Reader(file: file)
        return try reader.read(tree)
    }
}

/// Turns the syntax tree into typed sections, checking every value.
struct Reader {
    let file: String
    var warnings: [ConfigWarning] = []

    init(file: String) { self.file = file }

    mutating func read(_ top: ConfigSection) throws(ConfigError) -> CorosyncConfig {
        for item in top.items {
            warn(item.line, "'\(item.key)' outside any section is ignored; move it into the section it belongs to (totem, quorum, logging, ...)")
        }
        var totemSection: ConfigSection?, nodelist: ConfigSection?, quorumSection: ConfigSection?
        var loggingSection: ConfigSection?, systemSection: ConfigSection?
        for s in top.sections {
            func once(_ slot: inout ConfigSection?) {
                if let first = slot {
                    // corosync merges repeated sections; we do the same, and say so.
                    warn(s.line, "a second '\(s.name)' section (the first is on line \(first.line)); their settings are merged, later ones win")
                    var merged = first
                    merged.items += s.items
                    merged.sections += s.sections
                    slot = merged
                } else {
                    slot = s
                }
            }
            switch s.name {
            case "totem": once(&totemSection)
            case "nodelist": once(&nodelist)
            case "quorum": once(&quorumSection)
            case "logging": once(&loggingSection)
            case "system": once(&systemSection)
            case "resources", "nozzle", "qb", "uidgid", "service", "aisexec", "amf", "event", "evs":
                warn(s.line, "section '\(s.name)' is not used by SwiftHA and is ignored")
            default:
                warn(s.line, "unknown section '\(s.name)' is ignored; the known ones are totem, nodelist, quorum, logging and system")
            }
        }
        var totem = try readTotem(totemSection)
        let nodes = try readNodes(nodelist, transport: totem.transport)
        let quorum = try readQuorum(quorumSection, nodes: nodes)
        let logging = try readLogging(loggingSection)
        let system = try readSystem(systemSection)
        try checkTotem(&totem, nodes: nodes, line: totemSection?.line ?? 0)
        return CorosyncConfig(totem: totem, nodes: nodes, quorum: quorum, logging: logging,
                              system: system, warnings: warnings)
    }

    mutating func warn(_ line: Int, _ message: String) {
        warnings.append(ConfigWarning(file: file, line: line, message))
    }

    func fail(_ line: Int, _ message: String) -> ConfigError {
        ConfigError(file: file, line: line, message)
    }

    // MARK: value readers

    func uint(_ item: ConfigSection.Item, max: UInt64 = UInt64(UInt32.max)) throws(ConfigError) -> UInt64 {
        guard let v = UInt64(item.value), v <= max else {
            throw fail(item.line, "\(item.key) must be a whole number from 0 to \(max), not '\(item.value)'")
        }
        return v
    }

    func int(_ item: ConfigSection.Item, min: Int = 0, max: Int = Int(Int32.max)) throws(ConfigError) -> Int {
        guard let v = Int(item.value), v >= min, v <= max else {
            throw fail(item.line, "\(item.key) must be a whole number from \(min) to \(max), not '\(item.value)'")
        }
        return v
    }

    func milliseconds(_ item: ConfigSection.Item, min: Int = 0) throws(ConfigError) -> Duration {
        guard let v = Int(item.value), v >= min, v <= Int(Int32.max) else {
            throw fail(item.line, "\(item.key) is a time in milliseconds and must be a whole number of at least \(min), not '\(item.value)' (write `\(item.key): 3000` for 3 seconds)")
        }
        return .milliseconds(v)
    }

    func bool(_ item: ConfigSection.Item) throws(ConfigError) -> Bool {
        switch item.value.lowercased() {
        case "yes", "on", "1", "true": return true
        case "no", "off", "0", "false": return false
        default:
            throw fail(item.line, "\(item.key) must be yes or no (or 1 or 0), not '\(item.value)'")
        }
    }

    func choice<T: RawRepresentable & CaseIterable>(_ item: ConfigSection.Item, _: T.Type) throws(ConfigError) -> T where T.RawValue == String {
        guard let v = T(rawValue: item.value.lowercased()) else {
            let all = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw fail(item.line, "\(item.key) must be one of \(all), not '\(item.value)'")
        }
        return v
    }

    func word(_ item: ConfigSection.Item, _ allowed: [String]) throws(ConfigError) -> String {
        let v = item.value.lowercased()
        guard allowed.contains(v) else {
            throw fail(item.line, "\(item.key) must be one of \(allowed.joined(separator: ", ")), not '\(item.value)'")
        }
        return v
    }

    func nonEmpty(_ item: ConfigSection.Item) throws(ConfigError) -> String {
        guard !item.value.isEmpty else {
            throw fail(item.line, "\(item.key) has no value; write `\(item.key): VALUE` or remove the line")
        }
        return item.value
    }

    // MARK: totem

    mutating func readTotem(_ section: ConfigSection?) throws(ConfigError) -> TotemConfig {
        var t = TotemConfig()
        guard let section else {
            warn(0, "there is no totem section; corosync's defaults are used (token 3000 ms, transport knet, encryption on)")
            return t
        }
        var cipher: TotemConfig.Cipher?, hash: TotemConfig.Hash?, secauth: Bool?
        var cipherLine = section.line, hashLine = section.line
        for item in section.items {
            switch item.key {
            case "version":
                let v = try int(item)
                guard v == 2 else { throw fail(item.line, "totem version must be 2, not \(v); write `version: 2`") }
                t.version = v
            case "cluster_name":
                let v = try nonEmpty(item)
                guard v.utf8.count <= 255 else { throw fail(item.line, "cluster_name is longer than 255 bytes; shorten it") }
                t.clusterName = v
            case "transport": t.transport = try choice(item, TotemConfig.Transport.self)
            case "token": t.token = try milliseconds(item, min: 1)
            case "token_coefficient": t.tokenCoefficient = try milliseconds(item)
            case "token_retransmits_before_loss_const": t.tokenRetransmitsBeforeLossConst = try int(item, min: 1, max: 1000)
            case "token_retransmit": t.tokenRetransmit = try milliseconds(item, min: 1)
            case "hold": t.hold = try milliseconds(item)
            case "join": t.join = try milliseconds(item, min: 1)
            case "send_join": t.sendJoin = try milliseconds(item)
            case "consensus": t.consensus = try milliseconds(item, min: 1)
            case "merge": t.merge = try milliseconds(item, min: 1)
            case "downcheck": t.downcheck = try milliseconds(item, min: 1)
            case "fail_recv_const": t.failRecvConst = try int(item, min: 1)
            case "seqno_unchanged_const": t.seqnoUnchangedConst = try int(item, min: 1)
            case "max_messages": t.maxMessages = try int(item, min: 1, max: 1000)
            case "window_size": t.windowSize = try int(item, min: 1, max: 10000)
            case "miss_count_const": t.missCountConst = try int(item, min: 1)
            case "max_network_delay": t.maxNetworkDelay = try milliseconds(item)
            case "netmtu": t.netMTU = try int(item, min: 576, max: 65_535); t.netMTUConfigured = true
            case "crypto_cipher": cipher = try choice(item, TotemConfig.Cipher.self); cipherLine = item.line
            case "crypto_hash": hash = try choice(item, TotemConfig.Hash.self); hashLine = item.line
            case "secauth": secauth = try bool(item)
            case "keyfile": t.keyFile = try nonEmpty(item)
            case "key":
                warn(item.line, "a key written in corosync.conf is not supported by SwiftHA; keep it in the authkey file (corosync-keygen) and remove this line")
            case "link_mode": t.linkMode = try word(item, ["passive", "active", "rr"])
            case "config_version": t.configVersion = try uint(item, max: UInt64.max)
            case "ip_version": t.ipVersion = try word(item, ["ipv4", "ipv6", "ipv4-6", "ipv6-4"])
            case "crypto_model":
                _ = try word(item, ["nss", "openssl"])
                warn(item.line, "crypto_model is ignored: SwiftHA always uses swift-crypto (AES-256-GCM)")
            case "clear_node_high_bit", "threads", "vsftype", "rrp_mode", "token_warning", "heartbeat_failures_allowed",
                 "knet_pmtud_interval", "knet_mtu", "knet_compression_model", "knet_compression_threshold",
                 "knet_compression_level", "block_unlisted_ips", "cancel_token_hold_on_retransmit", "nodeid",
                 "max_network_delay_factor":
                warn(item.line, "totem.\(item.key) is accepted for compatibility and has no effect in SwiftHA")
            default:
                warn(item.line, "unknown key 'totem.\(item.key)' is ignored; check its spelling in corosync.conf(5)")
            }
        }
        for sub in section.sections {
            guard sub.name == "interface" else {
                warn(sub.line, "unknown section 'totem.\(sub.name)' is ignored; only `interface { }` belongs in totem")
                continue
            }
            var iface = TotemConfig.Interface(line: sub.line)
            for item in sub.items {
                switch item.key {
                case "linknumber", "ringnumber": iface.linkNumber = try int(item, max: 7)
                case "bindnetaddr": iface.bindNetAddress = try nonEmpty(item)
                case "mcastport": iface.multicastPort = try int(item, min: 1, max: 65_535)
                case "knet_link_priority": iface.knetLinkPriority = try int(item, max: 255)
                case "mcastaddr", "broadcast", "ttl", "knet_ping_interval", "knet_ping_timeout", "knet_ping_precision",
                     "knet_pong_count", "knet_transport":
                    warn(item.line, "interface.\(item.key) is accepted for compatibility and has no effect in SwiftHA")
                default:
                    warn(item.line, "unknown key 'totem.interface.\(item.key)' is ignored; check its spelling in corosync.conf(5)")
                }
            }
            if let other = t.interfaces.first(where: { $0.linkNumber == iface.linkNumber }) {
                throw fail(sub.line, "a second interface for linknumber \(iface.linkNumber) (the first is on line \(other.line)); give each interface its own linknumber")
            }
            t.interfaces.append(iface)
        }
        // Crypto: secauth implies aes256/sha256 unless the two are set; the default is on.
        if let secauth, cipher == nil, hash == nil, !secauth {
            t.cryptoCipher = .none
            t.cryptoHash = .none
        }
        if let cipher { t.cryptoCipher = cipher }
        if let hash { t.cryptoHash = hash }
        if cipher != nil && hash == nil && cipher != TotemConfig.Cipher.none && secauth != true {
            t.cryptoHash = .sha256
        }
        if t.cryptoCipher != .none && t.cryptoHash == .none {
            throw fail(cipherLine, "crypto_cipher \(t.cryptoCipher.rawValue) needs crypto_hash too; set `crypto_hash: sha256`, or set both to none")
        }
        if t.cryptoCipher == .none && t.cryptoHash == .none {
            warn(min(cipherLine, hashLine), "ENCRYPTION IS OFF (crypto_cipher and crypto_hash are none): every cluster packet travels in clear text and anyone on the network can join or forge messages; set `crypto_cipher: aes256` and `crypto_hash: sha256` and create a key with corosync-keygen")
        } else if t.cryptoCipher == .none {
            warn(cipherLine, "crypto_cipher none with crypto_hash \(t.cryptoHash.rawValue): SwiftHA encrypts and authenticates every packet with AES-256-GCM anyway")
        } else if t.cryptoHash == .md5 || t.cryptoHash == .sha1 || t.cryptoCipher != .aes256 {
            warn(hashLine, "SwiftHA protects every packet with AES-256-GCM whatever cipher and hash are named (here \(t.cryptoCipher.rawValue)/\(t.cryptoHash.rawValue)); all nodes must run SwiftHA")
        }
        return t
    }

    mutating func checkTotem(_ t: inout TotemConfig, nodes: [NodeEntry], line: Int) throws(ConfigError) {
        let timing = t.timing(nodeCount: nodes.count)
        if timing.consensus < t.join {
            throw fail(line, "consensus (\(TotemTiming.ms(timing.consensus)) ms) may not be less than join (\(TotemTiming.ms(t.join)) ms); raise consensus or remove it to get 1.2 * token")
        }
        if t.consensus != nil, TotemTiming.ms(timing.consensus) * 10 < TotemTiming.ms(timing.token) * 12, nodes.count > 2 {
            warn(line, "consensus (\(TotemTiming.ms(timing.consensus)) ms) is less than 1.2 * token (\(TotemTiming.ms(timing.token)) ms); with 3 or more nodes this risks needless membership changes")
        }
        if let hold = t.hold, hold > timing.tokenRetransmit {
            warn(line, "hold (\(TotemTiming.ms(hold)) ms) is longer than token_retransmit (\(TotemTiming.ms(timing.tokenRetransmit)) ms) and is cut to it; remove hold to get token_retransmit * 0.8 - 10 ms")
        }
        if t.transport == .udp {
            warn(line, "transport udp (multicast) runs as udpu (unicast to the nodelist) in SwiftHA")
        }
        if nodes.isEmpty {
            warn(line, "the nodelist is empty; SwiftHA needs a nodelist to know whom to talk to")
        }
        if t.transport != .knet && t.interfaces.contains(where: { $0.linkNumber != 0 }) {
            throw fail(t.interfaces.first { $0.linkNumber != 0 }!.line, "transport \(t.transport.rawValue) has a single link; only linknumber 0 is allowed, or use `transport: knet`")
        }
    }

    // MARK: nodelist

    mutating func readNodes(_ section: ConfigSection?, transport: TotemConfig.Transport) throws(ConfigError) -> [NodeEntry] {
        guard let section else { return [] }
        for item in section.items {
            warn(item.line, "'\(item.key)' directly in nodelist is ignored; settings belong inside `node { }`")
        }
        var nodes: [NodeEntry] = []
        for sub in section.sections {
            guard sub.name == "node" else {
                warn(sub.line, "unknown section 'nodelist.\(sub.name)' is ignored; the nodelist holds `node { }` sections")
                continue
            }
            var nodeID: UInt32?
            var name: String?
            var addresses: [Int: String] = [:]
            var votes: Int?
            for item in sub.items {
                if item.key.hasPrefix("ring"), item.key.hasSuffix("_addr"),
                   let n = Int(item.key.dropFirst(4).dropLast(5)), (0...7).contains(n) {
                    addresses[n] = try nonEmpty(item)
                    continue
                }
                switch item.key {
                case "nodeid":
                    let v = try uint(item)
                    guard v != 0 else { throw fail(item.line, "nodeid 0 is reserved; give this node an id from 1 to \(UInt32.max)") }
                    nodeID = UInt32(v)
                case "name": name = try nonEmpty(item)
                case "quorum_votes": votes = try int(item, max: 1_000_000)
                default:
                    warn(item.line, "unknown key 'nodelist.node.\(item.key)' is ignored; a node has ringX_addr, nodeid, name and quorum_votes")
                }
            }
            guard let ring0 = addresses[0] else {
                throw fail(sub.line, "this node has no ring0_addr; add `ring0_addr: ADDRESS` (its IP address or host name)")
            }
            if nodeID == nil {
                if transport == .knet {
                    throw fail(sub.line, "this node (\(name ?? ring0)) has no nodeid, which transport knet requires; add `nodeid: N` with a unique N from 1 up")
                }
                guard let derived = Self.ipv4(ring0) else {
                    throw fail(sub.line, "this node (\(name ?? ring0)) has no nodeid and its ring0_addr is not an IPv4 address to derive one from; add `nodeid: N` with a unique N from 1 up")
                }
                nodeID = derived
            }
            let entry = NodeEntry(nodeID: nodeID!, name: name, addresses: addresses, quorumVotes: votes, line: sub.line)
            if let other = nodes.first(where: { $0.nodeID == entry.nodeID }) {
                throw fail(sub.line, "nodeid \(entry.nodeID) is already used by the node on line \(other.line); every node needs its own nodeid")
            }
            if let name, let other = nodes.first(where: { $0.name == name }) {
                throw fail(sub.line, "name '\(name)' is already used by the node on line \(other.line); every node needs its own name")
            }
            for (link, addr) in addresses {
                if let other = nodes.first(where: { $0.addresses[link] == addr }) {
                    throw fail(sub.line, "ring\(link)_addr \(addr) is already used by the node on line \(other.line); every node needs its own address")
                }
            }
            if let first = nodes.first, Set(first.addresses.keys) != Set(addresses.keys) {
                let want = first.addresses.keys.sorted().map { "ring\($0)_addr" }.joined(separator: ", ")
                throw fail(sub.line, "every node must have the same links as the first one (line \(first.line): \(want)); add or remove ringX_addr here")
            }
            nodes.append(entry)
        }
        return nodes
    }

    /// An IPv4 dotted quad as corosync turns it into a nodeid (network byte order read as a number).
    static func ipv4(_ s: String) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard let b = UInt8(p) else { return nil }
            v = v << 8 | UInt32(b)
        }
        return v == 0 ? nil : v
    }

    // MARK: quorum

    mutating func readQuorum(_ section: ConfigSection?, nodes: [NodeEntry]) throws(ConfigError) -> QuorumConfig {
        var q = QuorumConfig()
        guard let section else { return q }
        var atbNodeLine = section.line
        for item in section.items {
            switch item.key {
            case "provider":
                guard item.value == "corosync_votequorum" else {
                    throw fail(item.line, "quorum provider '\(item.value)' is not supported; use `provider: corosync_votequorum` or remove the line")
                }
                q.provider = item.value
            case "expected_votes": q.expectedVotes = try int(item, min: 1, max: 1_000_000)
            case "votes": q.votes = try int(item, max: 1_000_000)
            case "two_node": q.twoNode = try bool(item)
            case "wait_for_all": q.waitForAllSetting = try bool(item)
            case "last_man_standing": q.lastManStanding = try bool(item)
            case "last_man_standing_window": q.lastManStandingWindow = try milliseconds(item, min: 1)
            case "auto_tie_breaker": q.autoTieBreaker = try bool(item)
            case "auto_tie_breaker_node":
                atbNodeLine = item.line
                switch item.value.lowercased() {
                case "lowest": q.autoTieBreakerNode = .lowest
                case "highest": q.autoTieBreakerNode = .highest
                default:
                    var ids: [UInt32] = []
                    for word in item.value.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                        guard let id = UInt32(word), id != 0 else {
                            throw fail(item.line, "auto_tie_breaker_node must be lowest, highest or a space-separated list of node ids, not '\(item.value)'")
                        }
                        ids.append(id)
                    }
                    guard !ids.isEmpty else {
                        throw fail(item.line, "auto_tie_breaker_node is empty; write lowest, highest or a list of node ids")
                    }
                    q.autoTieBreakerNode = .nodes(ids)
                }
            case "allow_downscale":
                q.allowDownscale = try bool(item)
                if q.allowDownscale { warn(item.line, "allow_downscale is incomplete and unsupported in corosync, and not implemented by SwiftHA; it has no effect") }
            case "expected_votes_tracking": q.expectedVotesTracking = try bool(item)
            case "device":
                warn(item.line, "quorum devices (qdevice) are not supported by SwiftHA; this setting has no effect")
            default:
                warn(item.line, "unknown key 'quorum.\(item.key)' is ignored; check its spelling in votequorum(5)")
            }
        }
        for sub in section.sections {
            warn(sub.line, sub.name == "device"
                 ? "quorum devices (qdevice) are not supported by SwiftHA; the device section is ignored"
                 : "unknown section 'quorum.\(sub.name)' is ignored")
        }
        if q.provider == nil && (q.twoNode || q.waitForAllSetting != nil || q.lastManStanding || q.autoTieBreaker || q.expectedVotes != nil) {
            warn(section.line, "quorum options are set but there is no `provider: corosync_votequorum`, so quorum is off and they have no effect")
        }
        if q.twoNode && q.autoTieBreaker {
            throw fail(section.line, "two_node and auto_tie_breaker cannot both be on (two_node decides by a fencing race, auto_tie_breaker by node id); turn one off")
        }
        if q.twoNode && nodes.count > 2 {
            warn(section.line, "two_node is set but the nodelist has \(nodes.count) nodes; two_node only takes effect while 2 or fewer nodes are members")
        }
        if q.lastManStanding, nodes.contains(where: { ($0.quorumVotes ?? 1) != 1 }) {
            throw fail(section.line, "last_man_standing needs every node to have exactly 1 vote; remove the quorum_votes settings or turn last_man_standing off")
        }
        if q.autoTieBreaker, !q.waitForAll {
            let expected = q.expectedVotes ?? nodes.reduce(0) { $0 + ($1.quorumVotes ?? q.votes ?? 1) }
            if expected % 2 == 1 {
                if q.lastManStanding {
                    throw fail(section.line, "auto_tie_breaker and last_man_standing with an odd number of votes (\(expected)) need wait_for_all; add `wait_for_all: 1` or turn last_man_standing off")
                }
                warn(section.line, "auto_tie_breaker with an odd number of votes (\(expected)) needs wait_for_all, so it is turned off (as corosync does); add `wait_for_all: 1` to keep it")
                q.autoTieBreaker = false
            }
        }
        if case .nodes(let ids) = q.autoTieBreakerNode, !nodes.isEmpty {
            for id in ids where !nodes.contains(where: { $0.nodeID == id }) {
                warn(atbNodeLine, "auto_tie_breaker_node names node id \(id), which is not in the nodelist")
            }
        }
        return q
    }

    // MARK: logging

    mutating func readLogging(_ section: ConfigSection?) throws(ConfigError) -> LoggingConfig {
        var l = LoggingConfig()
        guard let section else { return l }
        for item in section.items {
            switch item.key {
            case "to_stderr": l.toStderr = try bool(item)
            case "to_logfile": l.toLogfile = try bool(item)
            case "to_syslog": l.toSyslog = try bool(item)
            case "logfile": l.logfile = try nonEmpty(item)
            case "timestamp":
                guard let v = LoggingConfig.Timestamp(rawValue: item.value.lowercased()) else {
                    throw fail(item.line, "timestamp must be on, off or hires, not '\(item.value)'")
                }
                l.timestamp = v
            case "debug": l.debug = try debug(item)
            case "fileline": l.fileline = try bool(item)
            case "function_name": l.functionName = try bool(item)
            case "syslog_facility":
                l.syslogFacility = try word(item, ["daemon", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"])
            case "logfile_priority": l.logfilePriority = try priority(item)
            case "syslog_priority": l.syslogPriority = try priority(item)
            case "blackbox", "logger_subsys_priority", "syslog_level", "logfile_level":
                warn(item.line, "logging.\(item.key) is accepted for compatibility and has no effect in SwiftHA")
            default:
                warn(item.line, "unknown key 'logging.\(item.key)' is ignored; check its spelling in corosync.conf(5)")
            }
        }
        if l.toLogfile && l.logfile == nil {
            throw fail(section.line, "to_logfile is yes but no logfile is named; add `logfile: /var/log/corosync/corosync.log`")
        }
        for sub in section.sections {
            guard sub.name == "logger_subsys" else {
                warn(sub.line, "unknown section 'logging.\(sub.name)' is ignored")
                continue
            }
            guard let name = sub.value("subsys") else {
                throw fail(sub.line, "logger_subsys needs `subsys: NAME` (for example QUORUM or TOTEM)")
            }
            var s = LoggingConfig.Subsystem(subsys: name, debug: nil, line: sub.line)
            for item in sub.items where item.key == "debug" { s.debug = try debug(item) }
            l.subsystems.append(s)
        }
        return l
    }

    func debug(_ item: ConfigSection.Item) throws(ConfigError) -> LoggingConfig.Debug {
        guard let v = LoggingConfig.Debug(rawValue: item.value.lowercased()) else {
            throw fail(item.line, "debug must be on, off or trace, not '\(item.value)'")
        }
        return v
    }

    func priority(_ item: ConfigSection.Item) throws(ConfigError) -> String {
        try word(item, ["alert", "crit", "debug", "emerg", "err", "info", "notice", "warning"])
    }

    // MARK: system

    mutating func readSystem(_ section: ConfigSection?) throws(ConfigError) -> SystemConfig {
        var s = SystemConfig()
        guard let section else { return s }
        for item in section.items {
            switch item.key {
            case "qb_ipc_type": s.qbIPCType = try word(item, ["native", "shm", "socket"])
            case "sched_rr": s.schedRR = try bool(item)
            case "priority":
                let v = item.value.lowercased()
                guard v == "max" || v == "min" || Int(v).map({ (-20...19).contains($0) }) == true else {
                    throw fail(item.line, "priority must be max, min or a nice value from -20 to 19, not '\(item.value)'")
                }
                s.priority = v
            case "move_to_root_cgroup": s.moveToRootCgroup = try word(item, ["yes", "no", "auto"])
            case "allow_knet_handle_fallback": s.allowKnetHandleFallback = try bool(item)
            case "state_dir": s.stateDir = try nonEmpty(item)
            default:
                warn(item.line, "unknown key 'system.\(item.key)' is ignored; check its spelling in corosync.conf(5)")
            }
        }
        for sub in section.sections {
            warn(sub.line, "unknown section 'system.\(sub.name)' is ignored")
        }
        if s.schedRR, s.priority != nil, let line = section.items.last(where: { $0.key == "priority" })?.line {
            warn(line, "system.priority has no effect while sched_rr is yes (corosync runs with realtime scheduling then); add `sched_rr: no` to use it")
        }
        return s
    }
}
