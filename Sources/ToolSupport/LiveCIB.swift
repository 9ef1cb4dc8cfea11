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

    public init(program: String, root: String = NodeEnvironment().root, unreachable: CRMExit = .disconnect) {
        self.program = program
        self.root = root
        self.unreachable = unreachable
    }

    public func load() -> CIB {
        blocking { client in try await client.query() }
    }

    /// `force`: even without quorum (cibadmin --force).
    public func apply(_ operation: CIBReplica.Operation, force: Bool = false) {
        _ = blocking { client in try await client.change(operation, force: force) }
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
                ToolSupport.fail(program, "cannot connect to the cluster's CIB at \(CIBAPI.socketPath(root: root)): cibd is not running on this node (start the cluster, set SWIFTHA_ROOT to the node's root, or set CIB_file=FILE to work on a file instead)", unreachable)
            }
            ToolSupport.fail(program, e.description, unreachable)
        case .failure(let e): ToolSupport.fail(program, "\(e)", .error)
        }
    }
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
