import CIB
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras

/// Writes this node's copy of the CIB to disk for cibd.
///
/// A change of the configuration (a new `epoch` or `admin_epoch`) is on disk before it is
/// acknowledged. A change of the status alone (only `num_updates` moves: operation results,
/// node states, transient attributes) is written behind: acknowledged at once and written by a
/// background thread right after, several of them coalesced into one write when they come
/// faster than the disk takes them. Pacemaker's CIB manager never writes a status-only change
/// at all (it writes the whole CIB, in the background, when the configuration changed): the
/// status is rebuilt from the live cluster (the DC's join reads every node's history again)
/// and, after a restart of one node, taken from the others. Waiting for two fsyncs per file
/// on every status change put the disk's latency (tens of milliseconds on a busy disk) into
/// every step of a failover: the DC's records of the lost node, of its fencing and of each
/// result, each awaited before the next action.
final class CIBWriter: @unchecked Sendable {
    private let store: CIBStore
    /// Called on the writer's thread when a written-behind copy cannot be saved.
    private let onFailure: @Sendable (CIBError) -> Void
    private let state = ThreadLock()
    /// One save at a time, in version order.
    private let disk = ThreadLock()
    private let queue = DispatchQueue(label: "cibd.cib-writer")
    // Guarded by `state`:
    /// The version on disk (nil: none yet; the first save is always immediate).
    private var onDisk: CIBVersion?
    /// The newest copy waiting to be written behind.
    private var waiting: CIB?
    private var flushQueued = false

    init(store: CIBStore, onDisk: CIBVersion?, onFailure: @escaping @Sendable (CIBError) -> Void) {
        self.store = store
        self.onDisk = onDisk
        self.onFailure = onFailure
    }

    /// Whether a copy with version `v` differs from the one on disk by its status alone.
    private static func statusOnly(_ v: CIBVersion, since disk: CIBVersion?) -> Bool {
        guard let disk else { return false }
        return v.adminEpoch == disk.adminEpoch && v.epoch == disk.epoch && v.numUpdates >= disk.numUpdates
    }

    /// Saves `cib`: at once when its configuration changed (throws when it could not be
    /// written), else behind.
    func save(_ cib: CIB) throws(CIBError) {
        let later: Bool = state.withLock {
            let base = waiting?.version ?? onDisk
            guard Self.statusOnly(cib.version, since: base) else { return false }
            waiting = cib
            if flushQueued { return true }
            flushQueued = true
            queue.async { [self] in flush() }
            return true
        }
        if later { return }
        try write(cib)
    }

    /// Writes what is waiting now (on the caller's thread): when cibd stops, and from the
    /// background thread. The copy is taken under the disk lock, so that a flush when cibd
    /// stops also waits for a write the background thread has begun: cibd must not exit
    /// between writing cib.xml and its digest (the node could not start again: "cib.xml does
    /// not match its digest").
    func flush() {
        disk.lock()
        defer { disk.unlock() }
        let next: CIB? = state.withLock {
            flushQueued = false
            defer { waiting = nil }
            return waiting
        }
        guard let next else { return }
        do {
            try writeLocked(next)
        } catch {
            onFailure(error)
        }
    }

    /// Writes `cib` unless a newer copy is on disk already (a copy written behind that lost
    /// the race with a configuration change written at once).
    private func write(_ cib: CIB) throws(CIBError) {
        disk.lock()
        defer { disk.unlock() }
        try writeLocked(cib)
    }

    /// `write`, the disk lock held.
    private func writeLocked(_ cib: CIB) throws(CIBError) {
        let current: CIBVersion? = state.withLock { onDisk }
        if let current, cib.version < current { return }
        try store.save(cib)
        state.withLock {
            onDisk = cib.version
            // A copy waiting behind that is not newer than this one is written already.
            if let w = waiting, w.version <= cib.version { waiting = nil }
        }
    }
}
