import Controller
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Stonith

/// Fencing through the node's stonithd: each request connects, asks, and waits for the
/// cluster-wide result (stonithd picks the device and the node that runs it).
struct StonithdFencer: NodeFencer {
    let root: String

    func fence(target: String, action: String, timeout: Duration) async -> FencingResult {
        let how = FenceAction(rawValue: action) ?? .reboot
        do {
            let client = try await StonithClient.connect(root: root, name: "crmd", timeout: .seconds(10))
            defer { Task { await client.close() } }
            let r = try await client.fence(target: target, action: how, timeout: timeout)
            return r.succeeded ? .done : .failed(r.reason ?? "stonithd could not fence \(target)")
        } catch {
            return .failed("cannot ask stonithd to fence \(target): \(error)")
        }
    }
}
