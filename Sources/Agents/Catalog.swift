import CIB
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// What agents a node has: the classes, the OCF providers, the agents of each, and where each
/// agent's executable is. `crm ra classes`, `crm ra list` and `crm ra info` read it.
public struct AgentCatalog: Sendable {
    public var host: AgentHost

    public init(host: AgentHost) {
        self.host = host
    }

    /// The classes this node can run, in the order `crm ra classes` prints them.
    public func standards() -> [AgentStandard] {
        var out: [AgentStandard] = [.lsb, .ocf, .service, .stonith]
        if Systemd.isAvailable() { out.append(.systemd) }
        return out
    }

    /// The class list as `crm ra classes` prints it: one class a line, OCF followed by its
    /// providers (`ocf / heartbeat pacemaker`).
    public func classesListing() -> String {
        standards().map { standard in
            standard == .ocf ? "ocf / " + providers().joined(separator: " ") : standard.rawValue
        }.joined(separator: "\n") + "\n"
    }

    /// The OCF providers (the directories of `$OCF_ROOT/resource.d`), sorted.
    public func providers() -> [String] {
        let dir = host.ocfRoot + "/resource.d"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { !$0.hasPrefix(".") && isDirectory(dir + "/" + $0) }.sorted()
    }

    /// The agents of a class (and, for OCF, of one provider or of all), sorted.
    ///
    /// systemd units are listed only where systemd runs; elsewhere the list is empty.
    public func agents(standard: AgentStandard, provider: String? = nil) -> [String] {
        switch standard {
        case .ocf:
            let providers = provider.map { [$0] } ?? self.providers()
            var names = Set<String>()
            for p in providers {
                names.formUnion(executables(in: host.ocfRoot + "/resource.d/" + p))
            }
            return names.sorted()
        case .lsb:
            let skip: Set<String> = ["README", "skeleton", "rc", "rcS", "functions", "halt", "reboot", "single"]
            return Set(host.lsbDirectories.flatMap(executables(in:))).filter { !skip.contains($0) }.sorted()
        case .stonith:
            return executables(in: host.fenceDirectory).filter { $0.hasPrefix("fence_") && !$0.hasSuffix(".py") }.sorted()
        case .systemd:
            return (try? Systemd.listUnits()) ?? []
        case .service:
            return Set(agents(standard: .lsb)).union(agents(standard: .systemd)).sorted()
        }
    }

    /// The executable that runs `agent`, or `notInstalled` naming where it was looked for.
    ///
    /// Types may not contain a slash or start with a dot: an agent name never reaches outside
    /// its class's directory.
    public func executable(for agent: ResourceAgentName) throws(AgentError) -> String {
        let standard = try AgentStandard(of: agent)
        let type = agent.type
        guard !type.isEmpty, !type.contains("/"), !type.hasPrefix(".") else {
            throw AgentError.invalidName(agent.description, "the type may not be empty, contain '/' or start with '.'")
        }
        let candidates: [String]
        switch standard {
        case .ocf:
            let provider = agent.provider ?? ""
            guard !provider.contains("/"), !provider.hasPrefix(".") else {
                throw AgentError.invalidName(agent.description, "the provider may not contain '/' or start with '.'")
            }
            candidates = [host.ocfRoot + "/resource.d/" + provider + "/" + type]
        case .lsb, .service:
            candidates = host.lsbDirectories.map { $0 + "/" + type }
        case .stonith:
            candidates = [host.fenceDirectory + "/" + type]
        case .systemd:
            throw AgentError.unsupportedAction(agent: agent.description, action: "exec (systemd units are driven over D-Bus, not executed)")
        }
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) && !isDirectory(c) {
            return c
        }
        throw AgentError.notInstalled(agent: agent.description, searched: candidates)
    }

    private func executables(in dir: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { name in
            let path = dir + "/" + name
            return !name.hasPrefix(".") && !isDirectory(path) && FileManager.default.isExecutableFile(atPath: path)
        }
    }

    private func isDirectory(_ path: String) -> Bool {
        var isDir = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir
    }
}
