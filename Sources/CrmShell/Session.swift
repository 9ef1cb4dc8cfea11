import CIB

/// What the shell needs from the world; the `crm` executable provides the real one, tests
/// may provide their own.
public protocol CrmHost {
    /// The CIB (CIB_file or the live cluster's).
    func loadCIB() throws(CrmError) -> CIB
    /// Writes a changed CIB back, as a patch from `original` on a live cluster.
    func saveCIB(_ cib: CIB, original: CIB) throws(CrmError)
    /// Runs another tool of ours (crm_resource, crm_mon...), its output passing through; its
    /// exit status.
    func run(_ tool: String, _ arguments: [String]) -> Int32
    /// Lets the user edit a text ($EDITOR); the edited text.
    func edit(_ text: String) throws(CrmError) -> String
    func readFile(_ path: String) throws(CrmError) -> String
    /// A yes/no answer from the user, or nil when there is no terminal to ask on.
    func confirm(_ question: String) -> Bool?
    /// The levels the executable serves itself (ra, cluster, status, history): true when done
    /// without error, nil when it does not know the level.
    func external(_ level: String, _ words: [String], _ session: inout CrmSession) -> Bool?
    /// What is wrong with a new primitive, from its agent: not installed here, unknown
    /// parameters or actions (warnings), a required parameter missing (refuses the
    /// definition, as crmsh does, unless forced).
    func checkPrimitive(_ primitive: XElement) -> [CrmCheck]
    /// Which of these resources are active in the CIB's status (delete refuses them).
    func active(_ ids: [String], in cib: CIB) -> [String]
    /// This node's name (for `node standby` without a node).
    var localNode: String? { get }
    func out(_ text: String)
    func err(_ text: String)
}

extension CrmHost {
    public func checkPrimitive(_ primitive: XElement) -> [CrmCheck] { [] }
    public func active(_ ids: [String], in cib: CIB) -> [String] { [] }
}

/// One finding about a definition: a warning, or an error that refuses it.
public struct CrmCheck: Equatable, Sendable {
    public var refuses: Bool
    public var message: String
    public init(refuses: Bool = false, _ message: String) {
        self.refuses = refuses
        self.message = message
    }
}

/// The shell: levels, the configure level's shadow copy, and each command. Lines go in one at
/// a time (`execute`); nothing reaches the CIB before `commit` (or the implicit commit when a
/// one-shot command or a batch ends, as in crmsh).
public struct CrmSession {
    public var level: [String] = []
    /// The configure level's working copy, and the CIB it was made from.
    public var shadow: CIB?
    public var original: CIB?
    public var host: any CrmHost
    public var failures = 0
    /// `crm -F`: commit even when verification finds errors, delete running resources.
    public var force = false
    /// The history level's window, excludes and detail (`limit`, `exclude`, `detail`).
    public var history = CrmHistory.Settings()

    public init(host: any CrmHost) { self.host = host }

    public var pending: Bool {
        guard let shadow, var original else { return false }
        CrmShow.sanitize(&original)
        return shadow.root.firstElement(named: "configuration") != original.root.firstElement(named: "configuration")
    }

    public static let levels = ["configure", "resource", "node", "ra", "cluster", "status", "history", "help"]

    public mutating func error(_ message: String) {
        host.err("ERROR: \(message)")
        failures += 1
    }

    /// Runs one command line (already split in words). False when it failed.
    @discardableResult
    public mutating func execute(_ words: [String]) -> Bool {
        guard let w = words.first else { return true }
        let before = failures
        switch w {
        case "quit", "exit", "bye", "q":
            noteAlias(w)
            return leave(all: true)
        case "end", "up", "back":
            noteAlias(w)
            return leave(all: false)
        case "cd":
            if words.count == 1 || words[1] == ".." { return leave(all: false) }
            if words[1] == "/" { return leave(all: true) }
            return execute(Array(words.dropFirst()))
        case "help", "?":
            host.out(help())
            return true
        default: break
        }
        if level.isEmpty {
            let w = resolve(w, level: "")
            guard CrmSession.levels.contains(w) else {
                error("\(w): No such command")
                return false
            }
            if words.count == 1 && !["status", "help"].contains(w) {
                level = [w]
                return true
            }
            return run(level: w, Array(words.dropFirst()))
        }
        // A level name from inside another level goes there first (crmsh allows `configure` within `resource`).
        // (configure has a node command of its own, history node and resource commands.)
        let own: Set<String> = level[0] == "configure" ? ["node"] : level[0] == "history" ? ["node", "resource"] : []
        if CrmSession.levels.contains(w) && w != level[0] && !own.contains(w) {
            if words.count == 1 && !["status", "help"].contains(w) {
                if level[0] == "configure" && !leave(all: false) { return false }
                level = [w]
                return true
            }
            return run(level: w, Array(words.dropFirst()))
        }
        _ = run(level: level[0], words)
        return failures == before
    }

    /// crmsh 4.4's aliases of quit and up, and its notice when one is used.
    static let aliases = ["exit": "quit", "bye": "quit", "end": "up", "back": "up"]

    /// What crmsh says when a command is typed by an alias (`exit`, `end`...): deprecated.
    public func noteAlias(_ word: String) {
        guard let name = CrmSession.aliases[word] else { return }
        host.out("WARNING: This command '\(word)' is deprecated, please use '\(name)'")
        host.out("INFO: \"\(word)\" is accepted as \"\(name)\"")
    }

    mutating func run(level name: String, _ words: [String]) -> Bool {
        let before = failures
        var words = words
        if let w = words.first, CrmSession.commandNames[name] != nil { words[0] = resolve(w, level: name) }
        switch name {
        case "configure": configure(words)
        case "resource": resource(words)
        case "node": node(words)
        default:
            let h = host
            if let ok = h.external(name, words, &self) {
                if !ok { failures += 1 }
            } else {
                error("\(name): No such command")
            }
        }
        return failures == before
    }

    /// crmsh's command words of each level, an alias written `alias>command` (for its matching
    /// of misspelt commands).
    static let commandNames: [String: [String]] = [
        "": "bye>quit cd cib cibstatus cluster configure corosync exit>quit help history ls maintenance node options quit ra report resource script site status verify",
        "resource": "back>up ban bye>quit cd cleanup clear constraints demote end>up exit>quit failcount help list>status locate ls maintenance manage meta migrate>move move operations param promote quit refresh reprobe>refresh restart scores secret show>status start status stop trace unban>clear unmanage unmigrate>clear unmove>clear untrace up utilization",
        "node": "attribute back>up bye>quit cd clearstate delete end>up exit>quit fence help list>show ls maintenance online quit ready server show standby status-attr up utilization",
        "configure": "acl_target alert assist back>up bundle bye>quit cd cib cibstatus clone collocation>colocation colocation commit default-timeouts default_timeouts>default-timeouts delete edit end>up erase exit>quit fencing_topology filter get-property>get_property get_property graph group help history load location ls master>ms modgroup monitor ms node op_defaults order primitive property ptest quit ra refresh rename resource>primitive rm>delete role rsc_defaults rsc_template rsc_ticket rsctest save schema set show simulate>ptest tag template up upgrade user validate-all validate_all>validate-all verify xml",
    ].mapValues { $0.split(separator: " ").map(String.init) }

    /// What crmsh takes a command word for: the word itself, else the one command it is a
    /// prefix of, else the one command that starts with its first letter and has its letters
    /// in order ("standy" is standby). An alias stands for its command, and using one (or a
    /// corrected word) is said, as crmsh says it. A word matching none or several is left as
    /// it is (and is then no command).
    static func match(_ word: String, level: String) -> (command: String, alias: Bool)? {
        guard let names = commandNames[level] else { return nil }
        let entries = names.map { n -> (key: String, command: String) in
            let parts = n.split(separator: ">").map(String.init)
            return (parts[0], parts.count == 2 ? parts[1] : parts[0])
        }
        if let e = entries.first(where: { $0.key == word }) { return (e.command, e.key != e.command) }
        let w = Array(word.lowercased())
        guard !w.isEmpty else { return nil }
        func unique(_ test: ([Character]) -> Bool) -> (String, Bool)? {
            let found = entries.filter { test(Array($0.key.lowercased())) }
            return found.count == 1 ? (found[0].command, found[0].key != found[0].command) : nil
        }
        if let m = unique({ $0.starts(with: w) }) { return m }
        return unique { key in
            guard key.first == w.first else { return false }
            var i = key.startIndex
            for c in w {
                guard let k = key[i...].firstIndex(of: c) else { return false }
                i = key.index(after: k)
            }
            return true
        }
    }

    mutating func resolve(_ word: String, level: String) -> String {
        guard let (command, alias) = CrmSession.match(word, level: level), command != word else { return word }
        // quit, up and friends are the shell's own, said nothing about.
        if ["quit", "up"].contains(command) { return word }
        if alias { host.out("WARNING: This command '\(word)' is deprecated, please use '\(command)'") }
        host.out("INFO: \"\(word)\" is accepted as \"\(command)\"")
        return command
    }

    /// Leaves the current level (or every level). Leaving configure with pending changes asks
    /// first on a terminal; without one, the changes are committed, as crmsh does in batch mode.
    public mutating func leave(all: Bool) -> Bool {
        if level.first == "configure" || (all && pending) {
            if pending {
                switch host.confirm("There are changes pending. Do you want to commit them (y/n)?") {
                case .some(true), .none:
                    if !commit(force: force) { return false }
                case .some(false):
                    shadow = nil
                    original = nil
                }
            }
            shadow = nil
            original = nil
        }
        if all { level = [] } else if !level.isEmpty { level.removeLast() }
        return true
    }

    /// The end of input or of a one-shot command: an implicit commit of pending changes.
    public mutating func finish() -> Bool {
        if pending { return commit(force: force) }
        return true
    }

    // MARK: configure

    mutating func workingCopy() -> CIB? {
        if let shadow { return shadow }
        do {
            let cib = try host.loadCIB()
            // Worked on as crmsh holds it (defaults dropped...); written back from the CIB as read.
            var working = cib
            CrmShow.sanitize(&working)
            shadow = working
            original = cib
            return working
        } catch {
            self.error(error.message)
            return nil
        }
    }

    public mutating func commit(force: Bool) -> Bool {
        guard var cib = shadow, let original, pending else {
            host.out("INFO: apparently there is nothing to commit")
            host.out("INFO: try changing something first")
            return true
        }
        let report = CIBValidator.validate(cib)
        // With no resources (after erase), nothing can start wrongly: fencing settings do not
        // block it, and are said as warnings.
        let noResources = cib.root.firstElement(named: "configuration")?.firstElement(named: "resources")?.elements.isEmpty ?? true
        let blocking = report.errors.filter { !(noResources && $0.element == "crm_config") }
        printProblems(report, asWarnings: noResources ? ["crm_config"] : [])
        if !blocking.isEmpty && !force {
            error("configure.commit: the configuration is not valid; fix it, or commit force to write it anyway")
            return false
        }
        cib.root["cib-last-written"] = nil
        // One new epoch for the whole commit, as a replace through cibadmin gives.
        cib.version = original.version
        cib.bumpVersion(for: .configuration)
        do {
            try host.saveCIB(cib, original: original)
            self.original = cib
            self.shadow = cib
            return true
        } catch {
            self.error(error.message)
            return false
        }
    }

    /// `ERROR: primitive 'vip': ...` on stderr / `WARNING: ...` on stdout (where crmsh's log
    /// puts everything but errors), one line each.
    func printProblems(_ report: ValidationReport, asWarnings: Set<String> = []) {
        for p in report.problems {
            let text = p.description.hasPrefix(p.severity.rawValue + ": ") ? String(p.description.dropFirst(p.severity.rawValue.count + 2)) : p.description
            if p.severity == .error && !asWarnings.contains(p.element) { host.err("ERROR: \(text)") } else { host.out("WARNING: \(text)") }
        }
    }

    /// Whether a stop of the resource was ordered: its target-role, or one of its
    /// parents', is Stopped.
    static func stopOrdered(_ id: String, in cib: CIB) -> Bool {
        guard var path = CrmConfig.find(id, in: cib) else { return false }
        while !path.isEmpty {
            if let e = cib.root.element(at: path), ["primitive", "group", "clone", "master", "bundle"].contains(e.name) {
                let roles = e.elements(named: "meta_attributes").flatMap { $0.elements(named: "nvpair") }.filter { $0["name"] == "target-role" }
                if roles.contains(where: { $0["value"]?.lowercased() == "stopped" }) { return true }
            }
            path.removeLast()
        }
        return false
    }

    static let configureUsage = "configure {<definition> | show [xml] [<id>...] | delete <id>... | verify | commit [force] | erase [nodes] | load [xml] update|replace <file> | edit [<id>] | refresh}"

    mutating func configure(_ words: [String]) {
        guard let w = words.first else { return }
        let args = Array(words.dropFirst())
        if CrmParser.isDefinition(w) {
            guard var cib = workingCopy() else { return }
            do {
                let d = try CrmConfig.define(words, in: &cib)
                for warning in d.warnings { host.out("WARNING: \(warning)") }
                if d.kind == .primitive {
                    let checks = host.checkPrimitive(d.element)
                    for c in checks where !c.refuses || force { host.out("WARNING: \(c.message)") }
                    let refusals = force ? [] : checks.filter(\.refuses)
                    if !refusals.isEmpty {
                        for c in refusals { host.err("ERROR: \(c.message)") }
                        failures += 1
                        return
                    }
                }
                shadow = cib
            } catch {
                self.error(error.message)
            }
            return
        }
        switch w {
        case "show":
            guard let cib = workingCopy() else { return }
            if args.first == "xml" {
                let (text, missing) = CrmShow.xmlDocument(cib, only: Array(args.dropFirst()))
                if let missing { error("object \(missing) does not exist") }
                host.out(text)
                return
            }
            do {
                let text = try CrmShow.render(cib, only: args.filter { $0 != "changed" })
                if !text.isEmpty { host.out(String(text.dropLast())) }
            } catch {
                self.error(error.message)
            }
        case "delete", "rm":
            guard !args.isEmpty else { error("configure.delete: name the objects to delete; usage: delete <id> [<id>...]"); return }
            guard var cib = workingCopy() else { return }
            let names = args.filter { $0 != "force" }
            if !force && !args.contains("force"), let running = host.active(names, in: cib).first {
                let stopping = CrmSession.stopOrdered(running, in: cib)
                error(stopping
                      ? "resource \(running) is still stopping (target-role=Stopped), can't delete it yet; wait until crm status shows it Stopped, then delete it again, or delete ... force"
                      : "resource \(running) is running, can't delete it; stop it first (crm resource stop \(running)), or delete ... force")
                return
            }
            do {
                try CrmConfig.delete(names, from: &cib)
                shadow = cib
            } catch {
                self.error(error.message)
            }
        case "verify":
            guard let cib = workingCopy() else { return }
            let report = CIBValidator.validate(cib)
            printProblems(report)
            if !report.isValid { failures += 1 }
        case "commit":
            if let a = args.first, a != "force" {
                error("configure.commit: unknown keyword \"\(a)\"; usage: commit [force]")
                return
            }
            _ = commit(force: force || args.first == "force")
        case "erase":
            guard var cib = workingCopy() else { return }
            if let a = args.first, a != "nodes" { error("configure.erase: unknown keyword \"\(a)\"; usage: erase [nodes]"); return }
            CrmConfig.erase(&cib, nodes: args.first == "nodes")
            shadow = cib
        case "refresh":
            shadow = nil
            original = nil
            _ = workingCopy()
        case "load":
            var a = args[...]
            let xml = a.first == "xml"
            if xml { a.removeFirst() }
            guard a.count == 2, let method = a.first, method == "update" || method == "replace" || method == "push" else {
                error("configure.load: usage: load [xml] {replace|update|push} <file>")
                return
            }
            guard var cib = workingCopy() else { return }
            do throws(CrmError) {
                let text = try host.readFile(a.last!)
                if xml {
                    let loaded = try? CIB.parse(text, source: a.last!)
                    let element: XElement
                    if let loaded, let c = loaded.root.firstElement(named: "configuration") { element = c } else {
                        guard let e = try? XElement.parse(Array(text.utf8), source: a.last!), e.name == "configuration" else {
                            throw CrmError("configure.load: \(a.last!) is not a CIB or a <configuration> element")
                        }
                        element = e
                    }
                    if method == "update" {
                        var copy = cib
                        for section in element.elements {
                            let path = copy.ensureSection(CIBSection(rawValue: section.name) ?? .configuration)
                            copy.root.modifyElement(at: path) { s in
                                for child in section.elements {
                                    if let i = s.children.firstIndex(where: { $0.element?.name == child.name && $0.element?.id == child.id && child.id != nil }) {
                                        s.children[i] = .element(child)
                                    } else {
                                        s.append(child)
                                    }
                                }
                            }
                        }
                        cib = copy
                    } else {
                        cib.root.setFirstElement(named: "configuration", to: element)
                    }
                } else {
                    try CrmConfig.load(text, into: &cib, replace: method != "update")
                }
                shadow = cib
            } catch {
                self.error(error.message)
            }
        case "edit":
            guard var cib = workingCopy() else { return }
            do {
                let before = try CrmShow.render(cib, only: args, obscure: false)
                let after = try host.edit(before)
                guard after != before else { return }
                try CrmConfig.applyEdit(before: before, after: after, to: &cib)
                shadow = cib
            } catch {
                self.error(error.message)
            }
        default:
            error("configure.\(w): No such command")
        }
    }

    // MARK: resource

    static let resourceUsage = "resource {start|stop|restart|promote|demote|manage|unmanage|maintenance|locate|why|cleanup|refresh|move|ban|clear|failcount|param|meta|utilization} <rsc> ..."

    /// Loads, changes and writes the CIB at once (the resource and node levels do not use the
    /// shadow copy, as in crmsh).
    mutating func change(_ body: (inout CIB) throws(CrmError) -> Void) {
        do {
            let cib = try host.loadCIB()
            var changed = cib
            try body(&changed)
            try host.saveCIB(changed, original: cib)
        } catch {
            self.error(error.message)
        }
    }

    /// What start, stop, manage, unmanage and maintenance do, as crmsh does it: the meta
    /// attribute goes on the resource itself when it is a primitive in a group, else on the
    /// topmost resource holding it (a clone's, not its member's). A clone's members lose their
    /// own value of it; empty attribute sets go; an existing value is changed in place, else
    /// the pair is added to each meta_attributes set (one is made at the end when there is
    /// none), with crmsh's ids.
    static func setDeepMeta(_ name: String, _ value: String, resource: String, in cib: inout CIB) throws(CrmError) {
        let kinds: Set<String> = ["primitive", "group", "clone", "master", "bundle"]
        let containers: Set<String> = ["group", "clone", "master", "bundle"]
        guard let r = cib.sectionPath(.resources) else { throw CrmError("Resource not found: \(resource)") }
        var found: [Int]?
        cib.root.element(at: r)!.walkWithPath { e, p in
            if found == nil, e.id == resource, kinds.contains(e.name) { found = r + p }
        }
        guard var target = found else { throw CrmError("Resource not found: \(resource)") }
        let e = cib.root.element(at: target)!
        if !(e.name == "primitive" && cib.root.element(at: target.dropLast())?.name == "group") {
            while target.count > r.count + 1, let parent = cib.root.element(at: target.dropLast()), containers.contains(parent.name) {
                target.removeLast()
            }
        }
        var ids = IDAllocator(cib: cib)
        cib.root.modifyElement(at: target) { top in
            func dropOwn(_ e: inout XElement, parentIsGroup: Bool) {
                let isGroup = e.name == "group"
                e.updateElements { c in
                    if c.name == "meta_attributes" {
                        c.removeElements { $0.name == "nvpair" && $0["name"] == name }
                    } else if (c.name == "group" || c.name == "primitive") && !parentIsGroup {
                        dropOwn(&c, parentIsGroup: isGroup)
                    }
                }
            }
            if top.name == "clone" || top.name == "master" {
                top.updateElements { c in
                    if c.name == "group" || c.name == "primitive" { dropOwn(&c, parentIsGroup: false) }
                }
            }
            func dropEmptySets(_ e: inout XElement) {
                e.removeElements { ["meta_attributes", "instance_attributes", "utilization"].contains($0.name) && $0.children.allSatisfy { $0.element == nil } && $0["id-ref"] == nil }
                e.updateElements { dropEmptySets(&$0) }
            }
            dropEmptySets(&top)
            let existing = top.elements(named: "meta_attributes").contains { $0.elements(named: "nvpair").contains { $0["name"] == name } }
            if existing {
                top.updateElements { set in
                    guard set.name == "meta_attributes" else { return }
                    set.updateElements { if $0.name == "nvpair" && $0["name"] == name { $0["value"] = value } }
                }
                return
            }
            if top.elements(named: "meta_attributes").isEmpty {
                top.append(XElement("meta_attributes", ["id": ids.make("\(top.id ?? resource)-meta_attributes")]))
            }
            top.updateElements { set in
                guard set.name == "meta_attributes" else { return }
                set.append(XElement("nvpair", ["id": ids.make("\(set.id ?? "")-\(name)"), "name": name, "value": value]))
            }
        }
        cib.bumpVersion(for: .configuration)
    }

    /// Sets (or with nil removes) a meta attribute of a resource, with crm_resource's ids.
    @discardableResult
    static func setMeta(_ name: String, _ value: String?, resource: String, in cib: inout CIB) throws(CrmError) -> String? {
        try setAttribute(name, value, set: "meta_attributes", resource: resource, in: &cib)
    }

    /// The value of a resource's parameter, meta attribute or utilization.
    static func attribute(_ name: String, set tag: String, resource: String, in cib: CIB) throws(CrmError) -> String? {
        guard let p = CrmConfig.find(resource, in: cib, nodes: false), let e = cib.root.element(at: p),
              ["primitive", "group", "clone", "master", "bundle"].contains(e.name) else { throw CrmError("resource \(resource) does not exist") }
        return e.elements(named: tag).flatMap { $0.elements(named: "nvpair") }.first { $0["name"] == name }?["value"]
    }

    /// Sets (or with nil removes) a resource's parameter, meta attribute or utilization, with
    /// crm_resource's ids (`<rsc>-meta_attributes-<name>`).
    /// Sets (or with nil deletes) an attribute of a resource; what crm_resource says about it
    /// (`Set 'd1' option: id=... set=... name=... value=...`, `Deleted 'd1' option: ...`).
    @discardableResult
    static func setAttribute(_ name: String, _ value: String?, set tag: String, resource: String, in cib: inout CIB) throws(CrmError) -> String? {
        guard let r = cib.sectionPath(.resources) else { throw CrmError("resource \(resource) does not exist") }
        var path: [Int]?
        cib.root.element(at: r)!.walkWithPath { e, p in
            if path == nil, e.id == resource, ["primitive", "group", "clone", "master", "bundle"].contains(e.name) { path = r + p }
        }
        guard let path else { throw CrmError("resource \(resource) does not exist") }
        var message: String?
        cib.root.modifyElement(at: path) { e in
            let setIndex = e.children.firstIndex { $0.element?.name == tag }
            var set = setIndex.flatMap { e.children[$0].element } ?? XElement(tag, ["id": "\(resource)-\(tag)"])
            if let k = set.children.firstIndex(where: { $0.element?["name"] == name }), case .element(var pair) = set.children[k] {
                if let value {
                    pair["value"] = value
                    set.children[k] = .element(pair)
                    message = "Set '\(resource)' option: id=\(pair.id ?? "") name=\(name) value=\(value)"
                } else {
                    set.children.remove(at: k)
                    message = "Deleted '\(resource)' option: id=\(pair.id ?? "") name=\(name)"
                }
            } else if let value {
                let id = "\(set.id ?? resource)-\(name)"
                set.append(XElement("nvpair", ["id": id, "name": name, "value": value]))
                message = "Set '\(resource)' option: id=\(id) set=\(set.id ?? "") name=\(name) value=\(value)"
            }
            if let setIndex { e.children[setIndex] = .element(set) } else if value != nil {
                // crm_resource adds a new set at the end.
                e.append(set)
            }
        }
        cib.bumpVersion(for: .configuration)
        return message
    }

    mutating func resource(_ words: [String]) {
        guard let w = words.first else { return }
        let args = Array(words.dropFirst())
        func need(_ usage: String) -> String? {
            guard let r = args.first else { error("resource.\(w): name the resource; usage: \(usage)"); return nil }
            return r
        }
        func meta(_ name: String, _ value: String?, usage: String) {
            guard let r = need(usage) else { return }
            change { (cib: inout CIB) throws(CrmError) in
                // crmsh commits the configuration as it holds it (defaults dropped, sets first).
                CrmShow.sanitize(&cib)
                try CrmSession.setDeepMeta(name, value ?? "", resource: r, in: &cib)
            }
        }
        func tool(_ name: String, _ arguments: [String]) {
            if host.run(name, arguments) != 0 { failures += 1 }
        }
        /// `<rsc> [<node>] [<lifetime>] [force]` of move and ban, passed as crmsh passes them.
        func placement(_ option: String) {
            let usage = "\(w) <rsc> [<node>] [<lifetime>] [force]"
            guard let r = need(usage) else { return }
            var rest = Array(args.dropFirst())
            let force = rest.contains("force") || self.force
            rest.removeAll { $0 == "force" }
            guard rest.count <= 2 else { error("resource.\(w): too many arguments; usage: \(usage)"); return }
            let nodes = (try? host.loadCIB()).map(CrmConfig.nodeNames) ?? []
            // As crmsh reads them: <node> <lifetime>, or one of them; a lifetime is reboot,
            // forever or what starts like an ISO 8601 duration or time (others are ignored).
            func lifetimeWord(_ x: String) -> String? {
                if x == "reboot" || x == "forever" { return x }
                return x.range(of: #"^(PT?[0-9]|[0-9]+.*[:-])"#, options: .regularExpression) != nil ? x : nil
            }
            var node: String?, lifetime: String?
            if rest.count == 2 {
                guard nodes.contains(where: { $0.lowercased() == rest[0].lowercased() }) else { error("resource.\(w): Not our node: \(rest[0]); usage: \(usage) (<node> one of \(nodes.joined(separator: ", ")))"); return }
                node = rest[0]
                lifetime = lifetimeWord(rest[1])
            } else if let x = rest.first {
                if nodes.contains(where: { $0.lowercased() == x.lowercased() }) { node = x } else { lifetime = lifetimeWord(x) }
            }
            if option == "--move" && node == nil && !force {
                error("resource.\(w): No target node: Move requires either a target node or 'force'")
                return
            }
            var a = (option == "--move" ? ["--quiet"] : []) + [option, "--resource", r]
            if let node { a += ["--node", node] }
            if let lifetime { a += ["--lifetime", lifetime] }
            if force { a.append("--force") }
            let before = failures
            tool("crm_resource", a)
            if failures == before {
                let action = option == "--move" ? "Move" : "Ban"
                host.out("INFO: \(action) constraint created for \(r)\(node.map { " to \($0)" } ?? "")")
                host.out("INFO: Use `crm resource clear \(r)` to remove this constraint")
            }
        }
        /// `param|meta|utilization <rsc> set|delete|show <name> [<value>]`.
        func attributeCommand(_ tag: String) {
            let usage = "\(w) <rsc> set|delete|show <name> [<value>]"
            guard args.count >= 3 else { error("resource.\(w): usage: \(usage)"); return }
            let (r, verb, name) = (args[0], args[1], args[2])
            switch verb {
            case "set", "delete":
                guard args.count == (verb == "set" ? 4 : 3) else { error("resource.\(w): usage: \(w) <rsc> \(verb) <name>\(verb == "set" ? " <value>" : "")"); return }
                let before = failures
                var said: String?
                change { (cib: inout CIB) throws(CrmError) in said = try CrmSession.setAttribute(name, verb == "set" ? args[3] : nil, set: tag, resource: r, in: &cib) }
                if failures == before, let said { host.out(said) }
            case "show", "get":
                do {
                    guard let v = try CrmSession.attribute(name, set: tag, resource: r, in: try host.loadCIB()) else {
                        // crm_resource's words, and its exit status 0.
                        host.err("Attribute '\(name)' not found for '\(r)'")
                        return
                    }
                    host.out(v)
                } catch {
                    self.error(error.message)
                }
            default: error("resource.\(w): unknown keyword \"\(verb)\"; usage: \(usage)")
            }
        }
        switch w {
        case "start": meta("target-role", "Started", usage: "start <rsc>")
        case "stop": meta("target-role", "Stopped", usage: "stop <rsc>")
        case "restart":
            guard let r = need("restart <rsc>") else { return }
            do {
                guard CrmConfig.find(r, in: try host.loadCIB()) != nil else { error("resource \(r) does not exist"); return }
            } catch {
                self.error(error.message)
                return
            }
            let before = failures
            host.out("INFO: ordering \(r) to stop")
            meta("target-role", "Stopped", usage: "restart <rsc>")
            guard failures == before else { return }
            let h = host
            _ = h.external("wait-stopped", [r], &self)
            host.out("INFO: ordering \(r) to start")
            meta("target-role", "Started", usage: "restart <rsc>")
        case "promote", "demote":
            guard let r = need("\(w) <rsc>") else { return }
            let before = failures
            var said: String?
            change { (cib: inout CIB) throws(CrmError) in
                guard let p = CrmConfig.find(r, in: cib), let e = cib.root.element(at: p),
                      e.name == "master" || (e.name == "clone" && e.elements(named: "meta_attributes").flatMap { $0.elements(named: "nvpair") }
                        .contains { $0["name"] == "promotable" && CIBValue.isTrue($0["value"] ?? "") }) else {
                    throw CrmError("\(r) is not a promotable resource")
                }
                // crmsh 4.4's words for the roles (it uses the OCF 1.1 ones only when told to).
                said = try CrmSession.setMeta("target-role", w == "promote" ? "Master" : "Slave", resource: r, in: &cib)
            }
            if failures == before, let said { host.out(said) }
        case "manage": meta("is-managed", "true", usage: "manage <rsc>")
        case "unmanage": meta("is-managed", "false", usage: "unmanage <rsc>")
        case "maintenance":
            let on = args.count < 2 || args[1] == "on" || args[1] == "true"
            meta("maintenance", on ? "true" : "false", usage: "maintenance <rsc> [on|off]")
        case "locate":
            guard let r = need("locate <rsc>") else { return }
            tool("crm_resource", ["--resource", r, "--locate"])
        case "why":
            // crm_resource --why, with the plain-words explanation (-V asks for it off a terminal).
            guard let r = need("why <rsc>") else { return }
            tool("crm_resource", ["--resource", r, "--why", "-V"])
        case "move", "migrate": placement("--move")
        case "ban": placement("--ban")
        case "clear", "unmove", "unmigrate", "unban":
            guard let r = need("clear <rsc>") else { return }
            let before = failures
            tool("crm_resource", ["--quiet", "--clear", "--resource", r])
            if failures == before { host.out("INFO: Removed migration constraints for \(r)") }
        case "cleanup", "refresh":
            var a = ["--\(w)"]
            for (i, x) in args.enumerated() {
                if x == "force" { a.append("--force") } else if i == 0 { a += ["--resource", x] } else { a += ["--node", x] }
            }
            tool("crm_resource", a)
        case "failcount":
            guard args.count >= 3 else { error("resource.failcount: usage: failcount <rsc> set|delete|show <node> [<value>]"); return }
            switch args[1] {
            case "show": tool("crm_failcount", ["-G", "-r", args[0], "-N", args[2]])
            case "delete": tool("crm_failcount", ["-D", "-r", args[0], "-N", args[2]])
            case "set":
                guard args.count >= 4 else { error("resource.failcount: usage: failcount <rsc> set <node> <value> [<operation> [<interval>]]"); return }
                // As crmsh: the node's fail counts of the resource (fail-count-<rsc>#<op>_<ms>);
                // with none there is nothing to set (a failure unless the value is 0); with one,
                // that one is set; with several, the operation (and interval) must be named.
                guard let cib = try? host.loadCIB() else { error("resource.failcount: cannot read the CIB"); return }
                let nodes = cib.root.firstElement(named: "configuration")?.firstElement(named: "nodes")?.elements(named: "node") ?? []
                guard let nodeID = nodes.first(where: { $0["uname"] == args[2] })?.id else { error("resource.failcount: Node \(args[2]) not in this cluster"); return }
                var counts: [(op: String, interval: String)] = []
                let prefix = "fail-count-\(args[0])#"
                for state in (cib.root.firstElement(named: "status")?.elements(named: "node_state") ?? []) where state.id == nodeID {
                    state.walk { e in
                        guard e.name == "nvpair", let n = e["name"], n.hasPrefix(prefix), let u = n.lastIndex(of: "_") else { return }
                        let op = String(n[n.index(n.startIndex, offsetBy: prefix.count)..<u]), interval = String(n[n.index(after: u)...])
                        if !op.isEmpty, !interval.isEmpty, interval.allSatisfy(\.isNumber) { counts.append((op, interval)) }
                    }
                }
                let value = args[3]
                guard !counts.isEmpty else {
                    if Int(value) != 0 { failures += 1 }
                    return
                }
                let operation = args.count > 4 ? args[4] : nil
                let interval = args.count > 5 ? args[5] + "000" : nil
                var chosen: (String, String)?
                if let operation, let interval { chosen = counts.contains { $0 == (operation, interval) } ? (operation, interval) : nil }
                else if counts.count == 1 { chosen = counts[0] }
                else if let operation, counts.filter({ $0.op == operation }).count == 1 { chosen = counts.first { $0.op == operation } }
                guard let (op, ms) = chosen else {
                    error("resource.failcount: Should specify (operation, interval) between \(counts.map { "('\($0.op)', '\($0.interval.dropLast(3))')" }.joined(separator: ", "))")
                    return
                }
                tool("crm_attribute", ["-t", "status", "-n", "fail-count-\(args[0])#\(op)_\(ms)", "-N", args[2], "-v", value])
            default: error("resource.failcount: unknown keyword \"\(args[1])\"; usage: failcount <rsc> set|delete|show <node> [<value>]")
            }
        case "param": attributeCommand("instance_attributes")
        case "meta": attributeCommand("meta_attributes")
        case "utilization": attributeCommand("utilization")
        case "status", "show", "list":
            tool("crm_resource", args.isEmpty ? ["--list"] : ["--resource", args[0], "--locate"])
        default:
            error("resource.\(w): No such command; usage: \(CrmSession.resourceUsage)")
        }
    }

    // MARK: node

    static let nodeUsage = "node {standby|online|maintenance|ready} [<node>] | attribute <node> set|delete|show <name> [<value>] | utilization <node> set|delete|show <name> [<value>] | status-attr <node> set|delete|show <name> [<value>]"

    mutating func node(_ words: [String]) {
        guard let w = words.first else { return }
        let args = Array(words.dropFirst())
        func target() -> String? {
            if let n = args.first, n != "forever", n != "reboot", n != "lifetime=forever", n != "lifetime=reboot" { return n }
            guard let local = host.localNode else { error("node.\(w): name the node (this node's name is not known); usage: \(w) <node>"); return nil }
            return local
        }
        func lifetime() -> CIBAttributeScope {
            args.contains { $0 == "reboot" || $0 == "lifetime=reboot" } ? .status : .nodes
        }
        func set(_ name: String, _ value: String?, node: String, scope: CIBAttributeScope) {
            change { (cib: inout CIB) throws(CrmError) in
                guard CrmConfig.nodeNames(cib).contains(node) || cib.status.nodeStates.contains(where: { $0.uname == node }) else {
                    throw CrmError("node.\(w): node \(node) does not exist")
                }
                do throws(CIBError) {
                    if let value { try cib.setAttribute(name, to: value, scope: scope, node: node) } else { try cib.deleteAttribute(name, scope: scope, node: node) }
                } catch { throw CrmError(error.message) }
            }
        }
        switch w {
        case "standby", "online", "maintenance", "ready":
            guard let n = target() else { return }
            let name = (w == "standby" || w == "online") ? "standby" : "maintenance"
            // crmsh's values: standby on|off, maintenance true|off.
            let value = w == "standby" ? "on" : w == "maintenance" ? "true" : "off"
            let before = failures
            if w == "standby" || w == "online" {
                change { (cib: inout CIB) throws(CrmError) in
                    guard CrmConfig.nodeNames(cib).contains(n) else { throw CrmError("node.\(w): Node \"\(n)\" is not a cluster node") }
                    CrmSession.standby(n, on: w == "standby", reboot: lifetime() == .status, in: &cib)
                }
                if failures == before { host.out("INFO: \(w) node \(n)") }
                return
            }
            if w == "maintenance" {
                // crmsh writes this one itself, on the configuration as it holds it.
                change { (cib: inout CIB) throws(CrmError) in
                    guard let nodes = cib.sectionPath(.nodes),
                          let k = cib.root.element(at: nodes)!.children.firstIndex(where: { $0.element?.name == "node" && $0.element?["uname"] == n }) else {
                        throw CrmError("CIB is not valid!")
                    }
                    CrmShow.sanitize(&cib)
                    var ids = IDAllocator(cib: cib)
                    cib.root.modifyElement(at: nodes + [k]) { node in
                        let has = node.elements(named: "instance_attributes").contains { $0.elements(named: "nvpair").contains { $0["name"] == name } }
                        if !has && node.elements(named: "instance_attributes").isEmpty {
                            // (crmsh names this new set as crm_attribute would, unchecked.)
                            node.append(XElement("instance_attributes", ["id": "nodes-\(node.id ?? n)"]))
                        }
                        node.updateElements { set in
                            guard set.name == "instance_attributes" else { return }
                            if has {
                                set.updateElements { if $0.name == "nvpair" && $0["name"] == name { $0["value"] = value } }
                            } else if let j = set.children.firstIndex(where: { $0.element?["name"] == name }), case .element(var pair) = set.children[j] {
                                pair["value"] = value
                                set.children[j] = .element(pair)
                            } else {
                                set.append(XElement("nvpair", ["id": ids.make("\(set.id ?? "")-\(name)"), "name": name, "value": value]))
                            }
                        }
                    }
                    cib.bumpVersion(for: .configuration)
                }
                return
            }
            set(name, value, node: n, scope: lifetime())
        case "attribute", "status-attr", "utilization":
            guard args.count >= 3 else { error("node.\(w): usage: \(w) <node> set|delete|show <name> [<value>]"); return }
            let (n, verb, name) = (args[0], args[1], args[2])
            let scope: CIBAttributeScope = w == "status-attr" ? .status : .nodes
            switch verb {
            case "set":
                guard args.count == 4 else { error("node.\(w): usage: \(w) <node> set <name> <value>"); return }
                if w == "utilization" {
                    change { (cib: inout CIB) throws(CrmError) in try CrmSession.setUtilization(name, args[3], node: n, in: &cib) }
                } else {
                    set(name, args[3], node: n, scope: scope)
                }
            case "delete":
                guard args.count == 3 else { error("node.\(w): usage: \(w) <node> delete <name>"); return }
                // What crm_attribute says: `Deleted nodes attribute: id=nodes-1-site name=site`.
                let existing: String? = (try? host.loadCIB()).flatMap { cib in
                    w == "utilization" ? CrmSession.utilizationID(name, node: n, in: cib) : (try? cib.attribute(name, scope: scope, node: n))?.id
                }
                let before = failures
                if w == "utilization" {
                    change { (cib: inout CIB) throws(CrmError) in try CrmSession.setUtilization(name, nil, node: n, in: &cib) }
                } else {
                    set(name, nil, node: n, scope: scope)
                }
                if failures == before, let existing { host.out("Deleted \(scope.rawValue) attribute: id=\(existing) name=\(name)") }
            case "show":
                // crm_attribute answers, as in crmsh (its words when there is no such attribute).
                if host.run("crm_attribute", (w == "utilization" ? ["-z"] : []) + ["-G", "-t", scope.rawValue, "-N", n, "-n", name]) != 0 { failures += 1 }
            default: error("node.\(w): unknown keyword \"\(verb)\"; usage: \(w) <node> set|delete|show <name> [<value>]")
            }
        case "show", "list", "status":
            do {
                // crmsh's listing: `uname(id): type` (member when none; "(offline)" when its
                // controller is), then its other attributes and attribute sets, by name.
                let cib = try host.loadCIB()
                let nodes = cib.root.firstElement(named: "configuration")?.firstElement(named: "nodes")?.elements(named: "node") ?? []
                let states = cib.root.firstElement(named: "status")?.elements(named: "node_state") ?? []
                let names = Set((nodes + states).compactMap { $0["uname"] }).sorted()
                for uname in args.isEmpty ? names : [args[0]] {
                    let state = states.first { $0["uname"] == uname }
                    guard let n = nodes.first(where: { $0["uname"] == uname }) ?? state else { continue }
                    let offline = state?["crmd"] == "offline" ? "(offline)" : ""
                    let id = n.id ?? "", type = n["type"] ?? "member"
                    host.out(uname == id ? "\(uname): \(type)\(offline)" : "\(uname)(\(id)): \(type)\(offline)")
                    for a in n.attributes where !["type", "uname", "id"].contains(a.name) { host.out("\t\(a.name): \(a.value)") }
                    for set in n.elements(named: "instance_attributes") { host.out("\t" + CrmShow.pairs(set).joined(separator: " ")) }
                }
            } catch {
                self.error(error.message)
            }
        default:
            error("node.\(w): No such command; usage: \(CrmSession.nodeUsage)")
        }
    }

    /// crmsh's standby and online (which it writes itself, not through crm_attribute): standby
    /// sets standby=on in the node's attributes (reboot: its status attributes), taking out
    /// the other lifetime's; online sets every standby of the node to off. New sets and pairs
    /// get crmsh's ids (a number-only id gets "num-" before it).
    static func standby(_ node: String, on: Bool, reboot: Bool, in cib: inout CIB) {
        guard let nodes = cib.sectionPath(.nodes),
              let k = cib.root.element(at: nodes)!.children.firstIndex(where: { $0.element?.name == "node" && $0.element?["uname"] == node }),
              let nodeID = cib.root.element(at: nodes + [k])!.id else { return }
        var ids = IDAllocator(cib: cib)
        cib.root.walk { e in if let id = e.id { ids.used.insert(id) } }
        func prefix(_ id: String) -> String { id.allSatisfy(\.isNumber) && !id.isEmpty ? "num-\(id)" : id }
        func standbyPairs(_ e: inout XElement, _ body: (inout XElement) -> Void) {
            e.updateElements { set in
                guard set.name == "instance_attributes" else { return }
                set.updateElements { if $0.name == "nvpair" && $0["name"] == "standby" { body(&$0) } }
            }
        }
        func statusPath() -> [Int]? {
            guard let st = cib.sectionPath(.status) else { return nil }
            return cib.root.element(at: st)!.children.firstIndex { $0.element?.name == "node_state" && $0.element?.id == nodeID }.map { st + [$0] }
        }
        if !on {
            cib.root.modifyElement(at: nodes + [k]) { n in standbyPairs(&n) { if $0["value"] != "off" { $0["value"] = "off" } } }
            if let sp = statusPath() {
                cib.root.modifyElement(at: sp) { state in
                    state.updateElements { t in if t.name == "transient_attributes" { standbyPairs(&t) { if $0["value"] != "off" { $0["value"] = "off" } } } }
                }
            }
            return
        }
        // The other lifetime's standby goes.
        if reboot {
            cib.root.modifyElement(at: nodes + [k]) { n in n.updateElements { set in if set.name == "instance_attributes" { set.removeElements { $0.name == "nvpair" && $0["name"] == "standby" } } } }
        } else if let sp = statusPath() {
            cib.root.modifyElement(at: sp) { state in
                state.updateElements { t in
                    guard t.name == "transient_attributes" else { return }
                    t.updateElements { set in if set.name == "instance_attributes" { set.removeElements { $0.name == "nvpair" && $0["name"] == "standby" } } }
                }
            }
        }
        func setOn(_ holder: inout XElement) {
            if !holder.children.contains(where: { $0.element?.name == "instance_attributes" }) {
                holder.append(XElement("instance_attributes", ["id": ids.make("\(prefix(holder.id ?? ""))-instance_attributes")]))
            }
            guard let i = holder.children.firstIndex(where: { $0.element?.name == "instance_attributes" }), case .element(var set) = holder.children[i] else { return }
            if let j = set.children.firstIndex(where: { $0.element?.name == "nvpair" && $0.element?["name"] == "standby" }), case .element(var pair) = set.children[j] {
                pair["value"] = "on"
                set.children[j] = .element(pair)
            } else {
                set.append(XElement("nvpair", ["id": ids.make("\(prefix(set.id ?? ""))-standby"), "name": "standby", "value": "on"]))
            }
            holder.children[i] = .element(set)
        }
        if !reboot {
            cib.root.modifyElement(at: nodes + [k]) { setOn(&$0) }
        } else if let sp = statusPath() {
            cib.root.modifyElement(at: sp) { state in
                if !state.children.contains(where: { $0.element?.name == "transient_attributes" }) {
                    state.append(XElement("transient_attributes", ["id": ids.make(prefix(state.id ?? ""))]))
                }
                state.updateElements { if $0.name == "transient_attributes" && !$0.children.contains(where: { _ in false }) { setOn(&$0) } }
            }
        }
    }

    static func nodePath(_ node: String, in cib: CIB) throws(CrmError) -> [Int] {
        guard let p = cib.sectionPath(.nodes),
              let k = cib.root.element(at: p)!.children.firstIndex(where: { $0.element?.name == "node" && ($0.element?["uname"] == node || $0.element?.id == node) }) else {
            throw CrmError("node \(node) does not exist")
        }
        return p + [k]
    }

    static func setUtilization(_ name: String, _ value: String?, node: String, in cib: inout CIB) throws(CrmError) {
        let path = try nodePath(node, in: cib)
        cib.root.modifyElement(at: path) { n in
            let i = n.children.firstIndex { $0.element?.name == "utilization" }
            var set = i.flatMap { n.children[$0].element } ?? XElement("utilization", ["id": "nodes-\(n.id ?? node)-utilization"])
            set.removeElements { $0["name"] == name && value == nil }
            if let value {
                if let k = set.children.firstIndex(where: { $0.element?["name"] == name }), case .element(var p) = set.children[k] {
                    p["value"] = value
                    set.children[k] = .element(p)
                } else {
                    set.append(XElement("nvpair", ["id": "\(set.id!)-\(name)", "name": name, "value": value]))
                }
            }
            if let i { n.children[i] = .element(set) } else { n.append(set) }
        }
        cib.bumpVersion(for: .configuration)
    }

    static func utilizationID(_ name: String, node: String, in cib: CIB) -> String? {
        guard let p = try? nodePath(node, in: cib) else { return nil }
        return cib.root.element(at: p)!.elements(named: "utilization").flatMap { $0.elements(named: "nvpair") }.first { $0["name"] == name }?.id
    }

    static func utilization(_ name: String, node: String, in cib: CIB) -> String? {
        guard let p = try? nodePath(node, in: cib) else { return nil }
        return cib.root.element(at: p)!.elements(named: "utilization").flatMap { $0.elements(named: "nvpair") }.first { $0["name"] == name }?["value"]
    }

    func help() -> String {
        switch level.first {
        case "configure": "usage: \(CrmSession.configureUsage)\ndefinitions:\n" + CrmParser.usage.keys.sorted().map { "  " + CrmParser.usage[$0]! }.joined(separator: "\n")
        case "resource": "usage: \(CrmSession.resourceUsage)"
        case "node": "usage: \(CrmSession.nodeUsage)"
        case "history": "usage: \(CrmHistory.usage)"
        case "cluster": "usage: cluster {start|stop|restart|status} (this node)"
        default: "levels: configure, resource, node, ra, status, cluster, history; quit to leave"
        }
    }
}
