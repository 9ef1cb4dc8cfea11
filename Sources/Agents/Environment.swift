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

/// Where a node's agents live and where they keep their state.
///
/// Every node has a root directory (`--root DIR` or `SWIFTHA_ROOT`, `/` in production). Agents of
/// that node get their scratch directories under it: `HA_RSCTMP=<root>/run/resource-agents` and
/// `HA_VARRUN=<root>/run`, which resource-agents' ocf-shellfuncs honour. Two nodes sharing one
/// machine therefore never share an agent's state file.
///
/// LSB init scripts of a node with a root of its own are looked up in `<root>/etc/init.d`
/// first, then in ``lsbDirectory`` (`/etc/init.d`): a node root can bring its own `lsb:NAME`
/// scripts (a test cluster on one machine does) without touching the machine's /etc/init.d.
/// With the root `/` only /etc/init.d is read, as Pacemaker does.
public struct AgentHost: Sendable, Hashable {
    /// The node's root directory.
    public var root: String
    /// The OCF root, where `resource.d/PROVIDER/TYPE` agents and `lib/heartbeat` live.
    public var ocfRoot: String
    /// Where LSB init scripts are (after `<root>/etc/init.d` for a node root other than `/`).
    public var lsbDirectory: String
    /// Where fence agents (`fence_*`) are.
    public var fenceDirectory: String
    /// The variables every agent starts from (before the OCF ones are added).
    public var baseEnvironment: [String: String]

    /// The standard search PATH agents get.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public init(root: String = "/",
                ocfRoot: String = "/usr/lib/ocf",
                lsbDirectory: String = "/etc/init.d",
                fenceDirectory: String = "/usr/sbin",
                baseEnvironment: [String: String] = ["PATH": AgentHost.defaultPath, "LC_ALL": "C"]) {
        self.root = root
        self.ocfRoot = ocfRoot
        self.lsbDirectory = lsbDirectory
        self.fenceDirectory = fenceDirectory
        self.baseEnvironment = baseEnvironment
    }

    /// `<root>/<relative>`, without a doubled slash.
    public func underRoot(_ relative: String) -> String {
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        return base + "/" + relative
    }

    /// The directories searched for `lsb:NAME`, in order: `<root>/etc/init.d` (only when the
    /// root is not `/`), then ``lsbDirectory``.
    public var lsbDirectories: [String] {
        let own = underRoot("etc/init.d")
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        return base.isEmpty || own == lsbDirectory ? [lsbDirectory] : [own, lsbDirectory]
    }

    /// `HA_RSCTMP`: `<root>/run/resource-agents`.
    public var resourceTemporaryDirectory: String { underRoot("run/resource-agents") }
    /// `HA_VARRUN`: `<root>/run`.
    public var runDirectory: String { underRoot("run") }
    /// `OCF_FUNCTIONS_DIR`: `<ocfRoot>/lib/heartbeat`.
    public var ocfFunctionsDirectory: String { ocfRoot + "/lib/heartbeat" }

    /// Creates the node's agent scratch directories (idempotent).
    public func prepareDirectories() throws(AgentError) {
        // Nearly always both exist already (HA_RSCTMP is under HA_VARRUN): one stat per
        // operation, not a walk of both paths.
        var info = stat()
        if stat(resourceTemporaryDirectory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { return }
        for dir in [runDirectory, resourceTemporaryDirectory] {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw AgentError.directory(path: dir, reason: failureReason(error))
            }
        }
    }

    /// The variables that tell an agent which node it works for, shared by every standard.
    public var nodeEnvironment: [String: String] {
        var env = baseEnvironment
        env["HA_RSCTMP"] = resourceTemporaryDirectory
        env["HA_VARRUN"] = runDirectory
        env["SWIFTHA_ROOT"] = root
        return env
    }
}

/// One action to run on one resource's agent.
public struct AgentRequest: Sendable, Hashable {
    /// The resource's id (`OCF_RESOURCE_INSTANCE`), e.g. `db` or `web:1` for a clone instance.
    public var resource: String
    /// The agent, e.g. `ocf:heartbeat:Dummy`, `lsb:nginx`, `stonith:fence_dummy`.
    public var agent: ResourceAgentName
    public var action: AgentAction
    /// Instance attributes (`OCF_RESKEY_<name>`; key=value lines for fence agents).
    public var parameters: [String: String]
    /// Meta attributes (`OCF_RESKEY_CRM_meta_<name>`, dashes written as underscores).
    public var meta: [String: String]
    /// How long the action may take before its process group is killed.
    public var timeout: Duration
    /// The interval of a recurring monitor (zero for one-shot actions).
    public var interval: Duration
    /// `OCF_CHECK_LEVEL` (depth) of a monitor, when the operation sets one.
    public var checkLevel: Int?
    /// Run the agent with `OCF_TRACE_RA=1` (resource-agents then traces it with `set -x`).
    public var trace: Bool
    /// lrmd's call id of the operation (recorded with the agent's process, see `OperationJournal`).
    public var callID: Int?

    public init(resource: String, agent: ResourceAgentName, action: AgentAction,
                parameters: [String: String] = [:], meta: [String: String] = [:],
                timeout: Duration = .seconds(20), interval: Duration = .zero,
                checkLevel: Int? = nil, trace: Bool = false, callID: Int? = nil) {
        self.resource = resource
        self.agent = agent
        self.action = action
        self.parameters = parameters
        self.meta = meta
        self.timeout = timeout
        self.interval = interval
        self.checkLevel = checkLevel
        self.trace = trace
        self.callID = callID
    }
}

extension Duration {
    /// Whole milliseconds (rounded down), as Pacemaker passes times to agents.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// `20s` or `500ms`, the way durations are written in a CIB, for messages.
    public var cibText: String {
        let ms = wholeMilliseconds
        return ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }
}

/// The environment of OCF 1.1 agents.
public enum OCFEnvironment {
    /// The OCF version SwiftHA implements, passed as `OCF_RA_VERSION_MAJOR/MINOR`.
    public static let version = (major: 1, minor: 1)

    /// The complete environment for running `request` on `host`.
    ///
    /// Parameters become `OCF_RESKEY_<name>`; meta attributes `OCF_RESKEY_CRM_meta_<name>` with
    /// dashes as underscores; the timeout and interval are always given in milliseconds
    /// (`OCF_RESKEY_CRM_meta_timeout`, `OCF_RESKEY_CRM_meta_interval`). A parameter named
    /// `OCF_CHECK_LEVEL` (how Pacemaker configurations set a monitor's depth) is exported as
    /// `OCF_CHECK_LEVEL` unless the request sets `checkLevel`.
    public static func variables(for request: AgentRequest, on host: AgentHost) -> [String: String] {
        var env = host.nodeEnvironment
        env["OCF_ROOT"] = host.ocfRoot
        env["OCF_FUNCTIONS_DIR"] = host.ocfFunctionsDirectory
        env["OCF_RA_VERSION_MAJOR"] = String(version.major)
        env["OCF_RA_VERSION_MINOR"] = String(version.minor)
        env["OCF_RESOURCE_INSTANCE"] = request.resource
        env["OCF_RESOURCE_TYPE"] = request.agent.type
        if let provider = request.agent.provider { env["OCF_RESOURCE_PROVIDER"] = provider }
        var checkLevel = request.checkLevel.map(String.init)
        for (name, value) in request.parameters {
            if name == "OCF_CHECK_LEVEL" {
                if checkLevel == nil { checkLevel = value }
                continue
            }
            env["OCF_RESKEY_" + name] = value
        }
        for (name, value) in request.meta {
            env["OCF_RESKEY_CRM_meta_" + name.replacingEvery("-", with: "_")] = value
        }
        env["OCF_RESKEY_CRM_meta_timeout"] = String(request.timeout.wholeMilliseconds)
        env["OCF_RESKEY_CRM_meta_interval"] = String(request.interval.wholeMilliseconds)
        if let checkLevel { env["OCF_CHECK_LEVEL"] = checkLevel }
        if request.trace { env["OCF_TRACE_RA"] = "1" }
        return env
    }
}
