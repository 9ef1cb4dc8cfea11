#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras

/// The fence-agent protocol: options as `key=value` lines on stdin, the action among them.
///
/// The same protocol every agent of Debian's fence-agents speaks (and Pacemaker's
/// pacemaker-fenced uses): `action=reboot`, `ip=...`, `plug=...`, one per line, and the exit
/// status 0 for success. For `status`, 2 means the target is powered off.
public enum FenceProtocol {
    /// The text written to a fence agent's stdin.
    ///
    /// Parameters are written sorted by name, after the action; values containing a newline are
    /// cut at it (a value cannot span lines in this protocol). Pacemaker's own `pcmk_*` device
    /// options are not agent options and are left out.
    public static func standardInput(action: AgentAction, parameters: [String: String]) -> String {
        var text = "action=\(action == .metaData ? "metadata" : action.rawValue)\n"
        for (key, value) in parameters.sorted(by: { $0.key < $1.key }) where key != "action" && !key.hasPrefix("pcmk_") {
            let line = value.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            text += "\(key)=\(line)\n"
        }
        return text
    }

    /// The OCF meaning of a fence agent's exit status.
    public static func ocfCode(exitStatus: Int32, action: AgentAction) -> OCFExitCode {
        switch (exitStatus, action) {
        case (0, _): .success
        case (2, .status): .notRunning
        default: .errGeneric
        }
    }

    /// One target a device can fence, from the output of `list`: `port[,alias]` per line.
    public struct Target: Sendable, Hashable {
        public var port: String
        public var alias: String?

        public init(port: String, alias: String? = nil) {
            self.port = port
            self.alias = alias
        }
    }

    /// Parses the output of the `list` action.
    public static func parseList(_ output: String) -> [Target] {
        output.split(separator: "\n").compactMap { raw in
            let line = raw.trimmingSpaces()
            guard !line.isEmpty else { return nil }
            let parts = line.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
            guard let port = parts.first, !port.isEmpty else { return nil }
            let alias = parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil
            return Target(port: port, alias: alias)
        }
    }
}
