import CIB

/// What the PolicyEngine decides from: a CIB snapshot and the time to decide at.
///
/// The engine never reads a clock: `now` is the CIB's `execution-date` when it has one, the
/// caller's time otherwise (crm_simulate's `-t`, the DC's clock in the cluster).
public struct SchedulerInput: Sendable {
    public var cib: CIB
    /// Seconds since the epoch.
    public var now: Int

    /// The `-t` value as given, when the time was set by the caller rather than taken from
    /// the CIB (crm_simulate says "Setting effective cluster time" then).
    public var effectiveTimeText: String?

    /// Read the cluster options by their Pacemaker 2.1.5 names only (stonith-enabled,
    /// stop-orphan-resources, stop-orphan-actions), as 2.1.5's tools do: a CIB that says
    /// fencing-enabled=false (Pacemaker 3's name) still has fencing on for them.
    public var pacemaker2OptionNames = false

    public init(cib: CIB, now: Int, effectiveTimeText: String? = nil) {
        self.cib = cib
        self.now = now
        self.effectiveTimeText = effectiveTimeText
    }

    /// The CIB's own `execution-date`, when it records one (saved scheduler inputs do).
    public static func executionDate(of cib: CIB) -> Int? {
        cib.root["execution-date"].flatMap { Int($0) }
    }
}

/// Cluster options (`crm_config`), with Pacemaker's defaults.
public struct ClusterOptions: Sendable, Equatable {
    public var fencingEnabled = true
    public var symmetricCluster = true
    public var noQuorumPolicy = "stop"
    public var maintenanceMode = false
    public var stopAllResources = false
    public var startupFencing = true
    public var stopOrphanResources = true
    public var stopOrphanActions = true
    public var startFailureIsFatal = true
    public var placementStrategy = "default"
    public var haveWatchdog = false
    public var concurrentFencing = true
    public var nodeHealthStrategy = "none"
    public var shutdownLock = false
    /// Whether resources are probed on nodes where their state is unknown.
    public var startupProbes = true
    public var raw: [String: String] = [:]
    /// The status is read as Pacemaker 2.1.5 reads it (its crm_mon): `in_ccm` a boolean and
    /// `crmd` "online" or not (not the times later versions record), and a `node_state`
    /// without both an id and a uname ignored.
    public var pacemaker2Status = false

    public init() {}

    /// Reads the options from `crm_config`: the first value each name has among the sets
    /// that apply at `now` (rule-less ones and those whose rule passes).
    public init(_ config: Configuration, now: Int = 0, pacemaker2Names: Bool = false) {
        let values = NVSets.flatten(config.clusterPropertySets, context: RuleContext(now: now))
        raw = values
        pacemaker2Status = pacemaker2Names
        let renamed: Set<String> = ["fencing-enabled", "stop-removed-resources", "cancel-removed-actions"]
        func bool(_ names: String..., default d: Bool) -> Bool {
            for n in names where !(pacemaker2Names && renamed.contains(n)) { if let v = values[n] { return CIBValue.isTrue(v) } }
            return d
        }
        fencingEnabled = bool("fencing-enabled", "stonith-enabled", default: true)
        symmetricCluster = bool("symmetric-cluster", default: true)
        noQuorumPolicy = values["no-quorum-policy"] ?? "stop"
        maintenanceMode = bool("maintenance-mode", default: false)
        stopAllResources = bool("stop-all-resources", default: false)
        startupFencing = bool("startup-fencing", default: true)
        // Pacemaker 3 renamed these; both spellings are read, the new one first.
        stopOrphanResources = bool("stop-removed-resources", "stop-orphan-resources", default: true)
        stopOrphanActions = bool("cancel-removed-actions", "stop-orphan-actions", default: true)
        startFailureIsFatal = bool("start-failure-is-fatal", default: true)
        placementStrategy = values["placement-strategy"] ?? "default"
        haveWatchdog = bool("have-watchdog", default: false)
        concurrentFencing = bool("concurrent-fencing", default: true)
        nodeHealthStrategy = values["node-health-strategy"] ?? "none"
        shutdownLock = bool("shutdown-lock", default: false)
        startupProbes = bool("enable-startup-probes", default: true)
    }
}
