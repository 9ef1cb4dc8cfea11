import CIB
import CIBClient
import Dispatch
import Foundation
import HASupport
import LocalIPC

/// The running cluster's CIB, through this node's cibd. Failures end the program with the
/// exit code the file mode uses for the same problem (102 when cibd cannot be reached).
public struct LiveCIB: Sendable {
    public let program: String
    public let root: String
    /// The exit status when cibd cannot be reached: Pacemaker's tools mostly say 102
    /// (not connected); crm_verify -L says 66 (no input).
    public let unreachable: CRMExit
    /// Put before the message when cibd cannot be reached (crm_mon -s: `CLUSTER CRIT: `).
    public let unreachableLead: String

    public init(program: String, root: String = NodeEnvironment().root, unreachable: CRMExit = .disconnect, unreachableLead: String = "") {
        self.program = program
        self.root = root
        self.unreachable = unreachable
        self.unreachableLead = unreachableLead
    }

    public func load() -> CIB {
        blocking { client in try await client.query() }
    }

    /// `force`: even without quorum (cibadmin --force).
    public func apply(_ operation: CIBReplica.Operation, force: Bool = false) {
        _ = blocking { client in try await client.change(operation, force: force) }
    }

    /// Writes the change from `original` (the copy the tool read) to `changed`, as a patch. When
    /// cibd refuses it because the version moved on in between, and only the status changed
    /// (the cluster records operation results all the time), the same change is made again on
    /// the current copy, as Pacemaker's tools' version-less requests apply; a configuration
    /// someone else changed in between is never overwritten (the tool says so and exits 103).
    public func save(_ changed: CIB, original: CIB) {
        do { try write(changed, original: original) } catch { ToolSupport.fail(program, error) }
    }

    /// `save`, with cibd's refusals thrown rather than ending the program.
    public func write(_ changed: CIB, original: CIB) throws(CIBError) {
        var patch = CIBPatch.diff(original, changed)
        for _ in 0..<20 {
            let attempt = patch
            let refusal: CIBError? = blocking { client in
                do {
                    _ = try await client.change(.patch(attempt))
                    return nil
                } catch let e as CIBError where e.kind == .versionMismatch {
                    return e
                }
            }
            guard refusal != nil else { return }
            patch = try CIBPatch.rebased(from: original, to: changed, onto: load())
        }
        throw CIBError(.versionMismatch, "the cluster's CIB kept changing while \(program) wrote to it (20 tries); nothing was written; try again")
    }

    private func blocking<T: Sendable>(_ body: @escaping @Sendable (CIBClient) async throws -> T) -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let root = self.root
        Task {
            do {
                let client = try await CIBClient.connect(root: root, timeout: .seconds(10))
                do {
                    box.result = .success(try await body(client))
                } catch {
                    box.result = .failure(error)
                }
                await client.close()
            } catch {
                box.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        switch box.result! {
        case .success(let v): return v
        case .failure(let e as CIBError): ToolSupport.fail(program, e)
        case .failure(let e as IPCError):
            if case .cannotConnect = e {
                ToolSupport.fail(program, unreachableLead + "cannot connect to the cluster's CIB at \(CIBAPI.socketPath(root: root)): cibd is not running on this node (start the cluster, set SWIFTHA_ROOT to the node's root, or set CIB_file=FILE to work on a file instead)", unreachable)
            }
            ToolSupport.fail(program, unreachableLead + e.description, unreachable)
        case .failure(let e): ToolSupport.fail(program, "\(e)", .error)
        }
    }
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
