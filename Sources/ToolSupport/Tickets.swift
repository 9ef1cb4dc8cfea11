import CIB
import Foundation

/// A ticket as crm_ticket shows it: from the status section's `ticket_state`, or only named
/// by an `rsc_ticket` constraint (then revoked, with no state).
public struct TicketInfo: Sendable, Equatable {
    public var id: String
    public var granted: Bool
    public var standby: Bool
    /// The ticket_state's attributes but its id, in document order.
    public var state: [(name: String, value: String)]

    public static func == (a: TicketInfo, b: TicketInfo) -> Bool {
        a.id == b.id && a.granted == b.granted && a.standby == b.standby
            && a.state.map(\.name) == b.state.map(\.name) && a.state.map(\.value) == b.state.map(\.value)
    }

    public init(id: String, granted: Bool, standby: Bool, state: [(name: String, value: String)]) {
        self.id = id
        self.granted = granted
        self.standby = standby
        self.state = state
    }

    public var lastGranted: Int? { state.first { $0.name == "last-granted" }.flatMap { Int($0.value) } }
}

extension CIB {
    /// The `tickets` element of the status section, if any.
    var ticketsElement: XElement? { root.firstElement(named: "status")?.firstElement(named: "tickets") }

    /// The ticket_state of a ticket.
    public func ticketState(_ id: String) -> XElement? {
        ticketsElement?.elements(named: "ticket_state").first { $0.id == id }
    }

    /// Every ticket: those with a state, and those only constraints name, sorted by id.
    public var tickets: [TicketInfo] {
        var out: [String: TicketInfo] = [:]
        for s in ticketsElement?.elements(named: "ticket_state") ?? [] {
            guard let id = s.id else { continue }
            let state = s.attributes.filter { $0.name != "id" }.map { ($0.name, $0.value) }
            out[id] = TicketInfo(id: id, granted: CIBValue.isTrue(s["granted"] ?? "false"),
                                 standby: CIBValue.isTrue(s["standby"] ?? "false"), state: state)
        }
        for c in constraintElements where c.name == "rsc_ticket" {
            if let t = c["ticket"], out[t] == nil { out[t] = TicketInfo(id: t, granted: false, standby: false, state: []) }
        }
        return out.values.sorted { $0.id < $1.id }
    }

    /// Sets and removes attributes of a ticket's state, creating it when something is set;
    /// granting a ticket that was not granted records `last-granted` (`now`, in seconds).
    public mutating func modifyTicket(_ id: String, set: [(String, String)], delete: [String], now: Int) {
        let wasGranted = tickets.first { $0.id == id }?.granted ?? false
        if ticketState(id) == nil && set.isEmpty { return }
        let statusPath = ensureSection(.status)
        root.modifyElement(at: statusPath) { status in
            if status.firstElement(named: "tickets") == nil { status.append(XElement("tickets")) }
            status.updateElements { tickets in
                guard tickets.name == "tickets" else { return }
                if !tickets.elements(named: "ticket_state").contains(where: { $0.id == id }) {
                    tickets.append(XElement("ticket_state", ["id": id]))
                }
                tickets.updateElements { s in
                    guard s.name == "ticket_state", s.id == id else { return }
                    for d in delete { s[d] = nil }
                    for (k, v) in set {
                        s[k] = v
                        if k == "granted" && !wasGranted && CIBValue.isTrue(v) { s["last-granted"] = String(now) }
                    }
                }
            }
        }
        bumpVersion(for: .status)
    }

    /// Removes a ticket's state; true when there was one.
    @discardableResult
    public mutating func deleteTicketState(_ id: String) -> Bool {
        guard ticketState(id) != nil, let statusPath = sectionPath(.status) else { return false }
        root.modifyElement(at: statusPath) { status in
            status.updateElements { t in
                if t.name == "tickets" { t.removeElements { $0.name == "ticket_state" && $0.id == id } }
            }
        }
        bumpVersion(for: .status)
        return true
    }
}

/// crm_ticket's text: `ID\tgranted|revoked [standby]|(9 spaces)` and either the last grant or,
/// with details, every attribute of the state.
public enum TicketText {
    public static func line(_ t: TicketInfo, details: Bool, date: (Int) -> String) -> String {
        var s = "\(t.id)\t\(t.granted ? "granted" : "revoked") \(t.standby ? "[standby]" : "         ")"
        if details && !t.state.isEmpty {
            s += " (" + t.state.map { a in
                "\(a.name)=" + (["last-granted", "expires"].contains(a.name) ? "'\(date(Int(a.value) ?? 0))'" : a.value)
            }.joined(separator: ", ") + ")"
        } else if let g = t.lastGranted {
            s += " last-granted='\(date(g))'"
        }
        return s
    }

    /// The date as asctime prints it, in local time: `Tue Nov 14 22:13:20 2023`.
    public static func asctime(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var tm = tm()
        localtime_r(&t, &tm)
        var buffer = [CChar](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S %Y", &tm)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
