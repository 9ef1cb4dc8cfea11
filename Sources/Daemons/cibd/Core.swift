import CIB
import CIBClient
import CSystemd
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import EssentialsExtras
import HASupport
import LocalIPC
import Logging
import Messaging

/// The shell around `CIBGroupMember` (a `CIBReplica` with its group's numbering and resync):
/// feeds it CPG's events, clients' requests and a tick about once a second, and performs what
/// it asks (multicast, write, reply, notify).
actor CIBCore {
    private var group: CIBGroupMember
    private var replica: CIBReplica { group.replica }
    private let store: CIBStore
    private let writer: CIBWriter
    private let outbox: AsyncStream<Data>.Continuation
    private let logger: Logger
    private var server: IPCServer<CIBAPI>?
    private var subscribers: Set<UInt64> = []
    private var pending: [UInt64: CheckedContinuation<Result<CIBVersion, CIBError>, Never>] = [:]
    private var nextRequest: UInt64 = 1
    private var readySent = false
    /// Times the copy was replaced by another member's (`CIBDaemonStatus.replacements`).
    private var replacements = 0
    /// This node's name, stamped on changes made here as `update-origin`.
    private let nodeName: String
    /// The member whose copy replaced this one, for the notification that follows (the group
    /// hands over the replica's directives one at a time).
    private var replacedBy: String?

    /// `onDisk`: the version of the copy read from disk (nil: none).
    init(member: String, nodeName: String, cib: CIB, onDisk: CIBVersion?, store: CIBStore, outbox: AsyncStream<Data>.Continuation, logger: Logger) {
        group = CIBGroupMember(member: member, cib: cib)
        self.nodeName = nodeName
        self.store = store
        self.outbox = outbox
        self.logger = logger
        writer = CIBWriter(store: store, onDisk: onDisk) { [logger, store] error in
            logger.critical("cannot write the CIB to \(store.cibPath): \(error.description); free space or fix permissions on \(store.directory); exiting")
            HASupport.exit(.ioError)
        }
    }

    /// Writes a status change still waiting to be written behind (cibd is stopping).
    func flushWrites() {
        writer.flush()
    }

    func attach(_ server: IPCServer<CIBAPI>) {
        self.server = server
    }

    // MARK: CPG

    func onEvent(_ event: CPGEvent) {
        switch event {
        case .configurationChange(let members, let joined, let left):
            let names = members.map(\.description)
            logger.info("CPG group 'cib' now has \(names.count) member(s) [\(names.joined(separator: " "))]; joined [\(joined.map(\.member.description).joined(separator: " "))], left [\(left.map { "\($0.member) (\($0.reason))" }.joined(separator: " "))]; agreeing on the newest copy")
            perform(group.onConfigurationChange(names))
        case .message(let sender, let payload):
            do {
                let e = try XElement.parse(payload, source: "CPG message from \(sender)")
                perform(try group.onMessage(e, from: sender.description))
            } catch {
                logger.error("dropped a message from \(sender) that is not a CIB message: \(error)")
                return
            }
        }
        if replica.isSynced && !readySent {
            readySent = true
            logger.info("the copy is the cluster's agreed one (version \(replica.cib.version)); ready")
            _ = sd_notify(0, "READY=1\nSTATUS=CIB \(replica.cib.version), \(replica.members.count) member(s)")
        }
    }

    /// corosync's quorum for this node's partition: without it, configuration changes are
    /// refused (see `CIBReplica.onQuorum`).
    func onQuorum(_ quorate: Bool) {
        guard quorate != replica.quorate else { return }
        logger.notice(quorate ? "the partition has quorum: configuration changes are taken again"
                              : "the partition has no quorum: configuration changes are refused unless forced or no-quorum-policy=ignore")
        group.onQuorum(quorate)
    }

    /// Called about once a second: asks for a new round of agreement when this copy has been
    /// unsynced for `CIBGroupMember.resyncTicks` ticks.
    func tick() {
        perform(group.tick())
    }

    private func perform(_ directives: [CIBGroupMember.Directive]) {
        for d in directives {
            switch d {
            case .replica(let r):
                perform([r])
            case .multicastRaw(let e):
                logger.warning("the members have not agreed on a copy for \(CIBGroupMember.resyncTicks) s; asking for a new round")
                outbox.yield(Data(e.xmlBytes(.compact)))
            case .resyncing(let sender, let n):
                logger.info("\(sender) asked for a new round of agreement (\(n)); agreeing on the newest copy again")
            }
        }
    }

    private func perform(_ directives: [CIBReplica.Directive]) {
        for d in directives {
            switch d {
            case .multicast(let m):
                outbox.yield(Data(m.xml.xmlBytes(.compact)))
            case .persist(let cib):
                do {
                    // A status-only change is written behind (see CIBWriter).
                    try writer.save(cib)
                } catch {
                    // A configuration change must never be acknowledged unless it is on disk: stop here.
                    logger.critical("cannot write the CIB to \(store.cibPath): \(error.description); free space or fix permissions on \(store.directory); exiting without acknowledging the change")
                    HASupport.exit(.ioError)
                }
            case .reply(let request, let result):
                pending.removeValue(forKey: request)?.resume(returning: result)
            case .notify(let patch):
                guard let server, !subscribers.isEmpty else { continue }
                let subs = subscribers
                let text = patch.xml.xmlString(.compact)
                let event: CIBEvent = replacedBy.map { .replaced(patch: text, from: $0) } ?? .changed(patch: text)
                replacedBy = nil
                server.broadcast(event) { subs.contains($0.id) }
            case .synced(let from, let version):
                replacedBy = from
                replacements += 1
                logger.info("took the cluster's newest copy, version \(version), from \(from)")
            }
        }
    }

    // MARK: Clients

    func handle(_ request: CIBRequest, from connection: IPCConnection<CIBAPI>) async -> CIBReply {
        switch request {
        case .query(let section, let xpath):
            do {
                return .xml(try Self.query(replica.cib, section: section, xpath: xpath))
            } catch {
                return Self.failure(error)
            }
        case .change(let text, let force):
            let op: CIBReplica.Operation
            do {
                op = try CIBReplica.Operation(xml: try XElement.parse(text, source: "the change request"))
            } catch let e as CIBError {
                return Self.failure(e)
            } catch {
                return Self.failure(CIBError(.malformed, "the change request is not well-formed XML: \(error)"))
            }
            let id = nextRequest
            nextRequest += 1
            let stamp = Self.stamp(origin: nodeName, peer: connection.peer, now: time(nil))
            let result = await withCheckedContinuation { (c: CheckedContinuation<Result<CIBVersion, CIBError>, Never>) in
                self.assumeIsolated { core in
                    core.pending[id] = c
                    core.perform(core.group.onRequest(id, op, stamp: stamp, quorumOverride: force ?? false))
                }
            }
            switch result {
            case .success(let v): return .version(adminEpoch: v.adminEpoch, epoch: v.epoch, numUpdates: v.numUpdates)
            case .failure(let e): return Self.failure(e)
            }
        case .subscribe:
            let id = connection.id
            subscribers.insert(id)
            connection.onClose { [weak self] in Task { await self?.unsubscribe(id) } }
            return .done
        case .unsubscribe:
            subscribers.remove(connection.id)
            return .done
        case .status:
            return .status(CIBDaemonStatus(member: replica.localName, members: replica.members, synced: replica.isSynced,
                                           version: replica.cib.version.description, digest: replica.cib.digest,
                                           replacements: replacements))
        }
    }

    /// Answers every change still waiting: cibd is stopping and cannot know their outcome.
    func failPending() {
        let waiting = pending
        pending = [:]
        for (_, c) in waiting {
            c.resume(returning: .failure(CIBError(.io, "cibd stopped before the change was delivered; it may or may not have been applied: query the CIB before trying again")))
        }
    }

    private func unsubscribe(_ id: UInt64) {
        subscribers.remove(id)
    }

    static func query(_ cib: CIB, section: String?, xpath: String?) throws(CIBError) -> String {
        if let xpath {
            let elements = try cib.query(xpath: xpath).compactMap { cib.root.element(at: $0.path) }
            guard !elements.isEmpty else { throw CIBError(.notFound, "nothing in the CIB matches the XPath \(xpath)") }
            if elements.count == 1 { return elements[0].xmlString() }
            return XElement("xpath-query", attributes: [], children: elements.map { .element($0) }).xmlString()
        }
        var s: CIBSection?
        if let section {
            guard let known = CIBSection(rawValue: section) else {
                throw CIBError(.badRequest, "unknown section '\(section)'; use one of \(CIBSection.names)")
            }
            s = known
        }
        return try cib.query(section: s).xmlString()
    }

    /// Who is making a change: the client is the peer's program name (/proc/PID/comm:
    /// cibadmin, crmd, crm_attribute...), else "cib-client"; the user is the peer's user name
    /// (its uid when it has none); the time is in the form crm_mon reads.
    static func stamp(origin: String, peer: PeerCredentials, now: time_t) -> CIBReplica.Stamp {
        var client = "cib-client"
        if let comm = try? String(contentsOfFile: "/proc/\(peer.pid)/comm", encoding: .utf8) {
            let name = comm.trimmingWhitespace()
            if !name.isEmpty { client = name }
        }
        var user = String(peer.uid)
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        if getpwuid_r(peer.uid, &pw, &buffer, buffer.count, &result) == 0, result != nil, let name = pw.pw_name {
            user = String(cString: name)
        }
        var t = now
        var tm = tm()
        localtime_r(&t, &tm)
        var out = [CChar](repeating: 0, count: 64)
        let n = strftime(&out, out.count, "%a %b %e %H:%M:%S %Y", &tm)
        let written = String(decoding: out.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return CIBReplica.Stamp(written: written, origin: origin, client: client, user: user)
    }

    private static func failure(_ error: any Error) -> CIBReply {
        if let e = error as? CIBError { return .failure(kind: e.kind.name, message: e.message) }
        return .failure(kind: CIBError.Kind.badRequest.name, message: "\(error)")
    }
}
