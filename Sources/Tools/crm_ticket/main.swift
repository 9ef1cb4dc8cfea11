import ArgumentParser
import CIB
import Foundation
import HASupport
import ToolSupport

/// crm_ticket: show, grant, revoke, put in standby and activate tickets (multi-site
/// clusters), and their attributes, as Pacemaker 2.1.5's crm_ticket does, on CIB_file or the
/// live cluster's CIB through cibd.
struct CrmTicket: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crm_ticket",
        abstract: "Perform tasks related to cluster tickets.",
        discussion: """
        Allows ticket attributes to be queried, modified and deleted.
        Examples:
          crm_ticket --info
          crm_ticket --details
          crm_ticket --ticket ticketA --grant --force
          crm_ticket --ticket ticketA --standby
          crm_ticket --ticket ticketA --get-attr granted
          crm_ticket --ticket ticketA --constraints
        EXIT STATUS: 0 ok; 4 a grant or revoke needs --force; 64 usage; 102 no cluster; 105 no such ticket.
        """)

    @Flag(name: [.customShort("l"), .customLong("info")], help: "Display the information of ticket(s).") var info = false
    @Flag(name: [.customShort("L"), .customLong("details")], help: "Display the details of ticket(s).") var details = false
    @Flag(name: [.customShort("w"), .customLong("raw")], help: "Display the IDs of ticket(s).") var raw = false
    @Flag(name: [.customShort("q"), .customLong("query-xml")], help: "Query the XML of ticket(s).") var queryXML = false
    @Flag(name: [.customShort("c"), .customLong("constraints")], help: "Display the rsc_ticket constraints that apply to ticket(s).") var constraints = false
    @Flag(name: [.customShort("g"), .customLong("grant")], help: "Grant a ticket to this cluster site.") var grant = false
    @Flag(name: [.customShort("r"), .customLong("revoke")], help: "Revoke a ticket from this cluster site.") var revoke = false
    @Flag(name: [.customShort("s"), .customLong("standby")], help: "Tell this cluster site this ticket is standby.") var standby = false
    @Flag(name: [.customShort("a"), .customLong("activate")], help: "Tell this cluster site this ticket is active.") var activate = false
    @Option(name: [.customShort("G"), .customLong("get-attr")], help: "Display the named attribute for a ticket.") var getAttr: String?
    @Option(name: [.customShort("S"), .customLong("set-attr")], help: "Set the named attribute for a ticket.") var setAttr: String?
    @Option(name: [.customShort("D"), .customLong("delete-attr")], help: "Delete the named attribute for a ticket.") var deleteAttr: [String] = []
    @Flag(name: [.customShort("C"), .customLong("cleanup")], help: "Delete all state of a ticket at this cluster site.") var cleanup = false
    @Option(name: [.customShort("v"), .customLong("attr-value")], help: "Attribute value to use with -S.") var attrValue: String?
    @Option(name: [.customShort("d"), .customLong("default")], help: "(Advanced) Default attribute value to display if none is found (for use with -G).") var defaultValue: String?
    @Flag(name: [.customShort("f"), .customLong("force")], help: "(Advanced) Force the action to be performed.") var force = false
    @Option(name: [.customShort("t"), .customLong("ticket")], help: "Ticket ID.") var ticket: String?
    @Option(name: [.customShort("n"), .customLong("set-name")], help: ArgumentHelp("(Advanced) ID of the instance_attributes object to change.", visibility: .hidden)) var setName: String?
    @Option(name: [.customShort("i"), .customLong("nvpair")], help: ArgumentHelp("(Advanced) ID of the nvpair object to change/delete.", visibility: .hidden)) var nvpair: String?
    @Flag(name: [.customShort("Q"), .customLong("quiet")], help: "Print only the value on stdout.") var quiet = false
    @Option(help: "The node's root directory (default: $SWIFTHA_ROOT, else /).") var root: String?

    func run() throws {
        throw ExitCode(execute().rawValue)
    }

    func say(_ s: String) { print(s) }
    func fail(_ code: CRMExit, _ message: String) -> CRMExit {
        FileHandle.standardError.write(Data("crm_ticket: \(message)\n".utf8))
        return code
    }

    func warning(_ id: String, _ action: String) {
        if action == "grant" {
            say("This command cannot help you verify whether '\(id)' has been already granted elsewhere.")
        } else {
            say("Revoking '\(id)' can trigger the specified 'loss-policy'(s) relating to '\(id)'.\n\nYou can check that with:\ncrm_ticket --ticket \(id) --constraints\n\nOtherwise before revoking '\(id)', you may want to make '\(id)' standby with:\ncrm_ticket --ticket \(id) --standby\n")
        }
        say("If you really want to \(action) '\(id)' \(action == "grant" ? "to" : "from") this site now, and you know what you are doing,\nplease specify --force.")
    }

    func execute() -> CRMExit {
        let location = CIBLocation.fromEnvironment()
        var cib = location.load(program: "crm_ticket", root: root)
        let original = cib
        let tickets = cib.tickets
        let listing = [info, details, raw].contains(true)
        if listing {
            var chosen = tickets
            if let id = ticket {
                guard let t = tickets.first(where: { $0.id == id }) else { return fail(.noSuchObject, "No such ticket '\(id)'") }
                chosen = [t]
            }
            for t in chosen { say(raw ? t.id : TicketText.line(t, details: details, date: TicketText.asctime)) }
            return .ok
        }
        if queryXML {
            // Nothing to show is Pacemaker's "No such device or address" (105).
            if let id = ticket {
                guard let s = cib.ticketState(id) else { return fail(.noSuchObject, "Could not query ticket XML: No such device or address") }
                print("State XML:\n\n" + s.xmlString(), terminator: s.xmlString().hasSuffix("\n") ? "" : "\n")
            } else if let all = cib.root.firstElement(named: "status")?.firstElement(named: "tickets") {
                print("State XML:\n\n" + all.xmlString(), terminator: all.xmlString().hasSuffix("\n") ? "" : "\n")
            } else {
                return fail(.noSuchObject, "Could not query ticket XML: No such device or address")
            }
            return .ok
        }
        if constraints {
            let list = cib.constraintElements.filter { $0.name == "rsc_ticket" && (ticket == nil || $0["ticket"] == ticket) }
            guard !list.isEmpty else { return fail(.noSuchObject, "Could not show ticket constraints: No such device or address") }
            let text = list.count == 1 ? list[0].xmlString() : XElement("xpath-query", attributes: [], children: list.map { .element($0) }).xmlString()
            print("Constraints XML:\n\n" + text, terminator: text.hasSuffix("\n") ? "" : "\n")
            return .ok
        }
        if let name = getAttr {
            guard let id = ticket else { return fail(.noSuchObject, "Must supply ticket ID with -t") }
            if let v = tickets.first(where: { $0.id == id })?.state.first(where: { $0.name == name })?.value {
                say(v)
            } else if let d = defaultValue {
                say(d)
            } else {
                return .noSuchObject
            }
            return .ok
        }
        if cleanup {
            guard let id = ticket else { return fail(.usage, "Must supply ticket ID with -t") }
            if !force {
                guard let t = tickets.first(where: { $0.id == id }) else { return fail(.noSuchObject, "No such ticket '\(id)'") }
                if t.granted {
                    warning(id, "revoke")
                    return .insufficientPrivileges
                }
            }
            if cib.deleteTicketState(id) {
                location.save(cib, original: original, program: "crm_ticket", root: root)
                say("Cleaned up \(id)")
            }
            return .ok
        }
        var set: [(String, String)] = []
        if grant { set.append(("granted", "true")) }
        if revoke { set.append(("granted", "false")) }
        if standby { set.append(("standby", "true")) }
        if activate { set.append(("standby", "false")) }
        let modified = !set.isEmpty || (attrValue != nil && setAttr != nil) || !deleteAttr.isEmpty
        if modified {
            guard let id = ticket else { return fail(.usage, "Must supply ticket ID with -t") }
            if let v = attrValue, (setAttr ?? "").isEmpty { return fail(.usage, "Must supply attribute name with -S for -v \(v)") }
            if let name = setAttr {
                guard let v = attrValue, !v.isEmpty else { return fail(.usage, "Must supply attribute value with -v for -S \(name)") }
                set.append((name, v))
            }
            if !force {
                if let g = set.last(where: { $0.0 == "granted" }) {
                    warning(id, CIBValue.isTrue(g.1) ? "grant" : "revoke")
                    return fail(.insufficientPrivileges, "Ticket modification not allowed")
                }
                if deleteAttr.contains(where: { $0.lowercased() == "granted" }) {
                    warning(id, "revoke")
                    return fail(.insufficientPrivileges, "Ticket modification not allowed")
                }
            }
            if location.refusesChanges(to: cib) { return fail(.protocolError, "Could not modify ticket: Protocol not supported") }
            cib.modifyTicket(id, set: set, delete: deleteAttr, now: Int(Date().timeIntervalSince1970))
            location.save(cib, original: original, program: "crm_ticket", root: root)
            return .ok
        }
        guard let name = setAttr else { return fail(.usage, "Must supply a command") }
        guard ticket != nil else { return fail(.usage, "Must supply ticket ID with -t") }
        return fail(.usage, "Must supply value with -v for -S \(name)")
    }
}

ToolSupport.main(CrmTicket.self, program: "crm_ticket")
