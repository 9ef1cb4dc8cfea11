/// SwiftHA's own semantic rules for a CIB, applied whatever its schema version.
///
/// They catch what the schemas cannot (references, durations, duplicate operations) and say
/// in plain words what to change. They are stricter than Pacemaker where Pacemaker is silent:
/// an interval that is not a duration, for instance, is an error here.
public enum CIBRules {
    /// Runs every rule and returns the problems in document order.
    /// `operational` adds the checks about whether the cluster can run resources at all
    /// (fencing configured), which are not about the integrity of the document.
    public static func check(_ cib: CIB, operational: Bool = true) -> [ValidationProblem] {
        var checker = Checker(cib: cib)
        checker.operational = operational
        checker.run()
        return checker.problems
    }

    static let resourceClasses: Set<String> = ["ocf", "lsb", "service", "systemd", "stonith", "nagios", "upstart", "heartbeat"]
    /// Role names, compared without regard to case as Pacemaker does.
    static let roles: Set<String> = ["started", "stopped", "promoted", "unpromoted", "master", "slave"]
    static func isRole(_ v: String) -> Bool { roles.contains(v.lowercased()) }
    static let orderKinds: Set<String> = ["Mandatory", "Optional", "Serialize"]
    static let actions: Set<String> = ["start", "stop", "promote", "demote"]
    static let onFail: Set<String> = ["ignore", "block", "demote", "stop", "restart", "standby", "fence", "restart-container"]
    static let noQuorumPolicies: Set<String> = ["stop", "freeze", "ignore", "demote", "suicide"]

    /// Options whose values must be durations.
    static let durationOptions: Set<String> = [
        "cluster-recheck-interval", "dc-deadtime", "election-timeout", "shutdown-escalation",
        "stonith-timeout", "fencing-timeout", "join-integration-timeout", "join-finalization-timeout",
        "transition-delay", "priority-fencing-delay", "failure-timeout", "timeout", "interval",
        "start-delay", "record-pending-timeout", "stonith-watchdog-timeout", "fencing-watchdog-timeout",
        "node-pending-timeout", "pcmk_monitor_timeout", "pcmk_reboot_timeout", "pcmk_off_timeout",
        "pcmk_on_timeout", "pcmk_list_timeout", "pcmk_status_timeout", "pcmk_delay_max", "pcmk_delay_base",
    ]
    /// Options whose values must be booleans.
    static let booleanOptions: Set<String> = [
        "stonith-enabled", "fencing-enabled", "symmetric-cluster", "maintenance-mode", "start-failure-is-fatal",
        "stop-orphan-resources", "stop-orphan-actions", "enable-startup-probes", "startup-fencing",
        "concurrent-fencing", "stop-removed-resources", "cancel-removed-actions", "is-managed", "maintenance", "notify", "globally-unique", "interleave",
        "ordered", "promotable", "remove-after-stop", "stop-all-resources", "enable-acl", "critical",
    ]
    /// Options whose values must be scores.
    static let scoreOptions: Set<String> = ["resource-stickiness", "default-resource-stickiness", "priority"]
    /// Options whose values must be non-negative integers (or INFINITY for migration-threshold).
    static let countOptions: Set<String> = ["clone-max", "clone-node-max", "promoted-max", "promoted-node-max",
                                            "master-max", "master-node-max", "batch-limit", "migration-limit",
                                            "node-action-limit", "pe-error-series-max", "pe-warn-series-max",
                                            "pe-input-series-max", "cluster-ipc-limit", "stonith-max-attempts"]

    private struct Checker {
        let cib: CIB
        let config: Configuration
        var problems: [ValidationProblem] = []
        var resourceIDs: Set<String> = []
        var templateIDs: Set<String> = []
        var tagIDs: Set<String> = []
        var allIDs: [String: String] = [:]
        var nodeNames: Set<String> = []
        var operational = true

        init(cib: CIB) {
            self.cib = cib
            self.config = cib.configuration
        }

        mutating func error(_ e: XElement, _ message: String) {
            problems.append(ValidationProblem(.error, element: e.name, id: e.id, message))
        }

        mutating func warning(_ e: XElement, _ message: String) {
            problems.append(ValidationProblem(.warning, element: e.name, id: e.id, message))
        }

        mutating func run() {
            guard cib.root.firstElement(named: "configuration") != nil else {
                error(cib.root, "there is no <configuration> section; add <configuration> with <crm_config/>, <nodes/>, <resources/> and <constraints/>")
                return
            }
            collectIDs()
            checkOptions()
            checkNodes()
            for r in config.resources { checkResource(r) }
            for t in config.templates { checkPrimitive(t, isTemplate: true) }
            checkConstraints()
            checkFencingTopology()
            checkReferences()
            if operational {
                checkFencingConfigured()
                checkTicketLossPolicies()
            }
        }

        /// Element names whose `id` refers to something defined elsewhere, or (node) lives in
        /// its own namespace: a remote node's id is the id of the resource that connects it.
        static let referenceElements: Set<String> = ["resource_ref", "obj_ref", "role", "node"]

        mutating func collectIDs() {
            var duplicates: [(XElement, String)] = []
            config.element.walk { e in
                guard let id = e.id, !Self.referenceElements.contains(e.name) else { return }
                if let first = allIDs[id] {
                    duplicates.append((e, first))
                } else {
                    allIDs[id] = e.name
                }
            }
            for (e, first) in duplicates {
                error(e, "the id is already used by a <\(first)>; every id in the configuration must be unique, so rename one of them")
            }
            for r in config.resources.flatMap(\.allResources) { resourceIDs.insert(r.id) }
            for t in config.templates { templateIDs.insert(t.id) }
            for t in config.tags { tagIDs.insert(t.id) }
            for n in config.nodes {
                nodeNames.insert(n.uname)
            }
        }

        mutating func checkOptions() {
            for set in config.clusterPropertySets { checkNVSet(set) }
            if let v = config.clusterOption("no-quorum-policy"), !CIBRules.noQuorumPolicies.contains(v) {
                let set = config.clusterPropertySets.first { $0.value(of: "no-quorum-policy") != nil }!
                error(set.pairs.first { $0.name == "no-quorum-policy" }!.element,
                      "no-quorum-policy '\(v)' is not a policy; use stop, freeze, ignore, demote or suicide")
            }
            for set in config.resourceDefaults + config.operationDefaults { checkNVSet(set) }
        }

        /// Checks each pair whose name has a known value syntax.
        mutating func checkNVSet(_ set: NVSet) {
            if let s = set.score, CIBValue.score(s) == nil {
                error(set.element, "score '\(s)' is not a score; use an integer, INFINITY or -INFINITY")
            }
            for pair in set.pairs {
                guard let v = pair.value else {
                    if pair.idRef == nil { error(pair.element, "nvpair '\(pair.name)' has no value; add value=\"...\"") }
                    continue
                }
                checkValue(name: pair.name, value: v, in: pair.element)
            }
        }

        mutating func checkValue(name: String, value v: String, in e: XElement) {
            if name == "pcmk_delay_base", v.contains(":") {
                // A node map, as Pacemaker's fencer takes it: "node1:1s;node2:5s" (entries
                // separated by ';' or spaces), each target's delay a duration.
                for entry in v.split(whereSeparator: { $0 == ";" || $0 == " " || $0 == "\t" }) {
                    let kv = entry.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                    guard kv.count == 2, !kv[0].isEmpty, CIBValue.milliseconds(String(kv[1])) != nil else {
                        error(e, "pcmk_delay_base '\(v)': '\(entry)' is not NODE:DURATION; write a duration like 5s, or a node map like node1:1s;node2:5s")
                        return
                    }
                }
            } else if CIBRules.durationOptions.contains(name) {
                // stonith-watchdog-timeout may be negative (auto) or 0.
                let isWatchdogAuto = name.hasSuffix("watchdog-timeout") && (v.hasPrefix("-") || v == "0")
                if !isWatchdogAuto && CIBValue.milliseconds(v) == nil {
                    error(e, "\(name) '\(v)' is not a duration; write it like 10s, 500ms, 2min, 1h or PT30S")
                }
            } else if CIBRules.booleanOptions.contains(name) {
                if !CIBValue.isBoolean(v) { error(e, "\(name) '\(v)' is not a boolean; use true or false") }
            } else if CIBRules.scoreOptions.contains(name) {
                if CIBValue.score(v) == nil { error(e, "\(name) '\(v)' is not a score; use an integer, INFINITY or -INFINITY") }
            } else if CIBRules.countOptions.contains(name) {
                // The *-series-max options take -1 for "no limit".
                let least = name.hasSuffix("-series-max") ? -1 : 0
                if Int(v).map({ $0 < least }) ?? true {
                    error(e, "\(name) '\(v)' is not a count; use a whole number, \(least) or more")
                }
            } else if name == "migration-threshold" {
                if CIBValue.score(v).map({ $0 < 0 }) ?? true { error(e, "migration-threshold '\(v)' must be a whole number or INFINITY") }
            } else if name == "target-role" {
                if !CIBRules.isRole(v) { error(e, "target-role '\(v)' is not a role; use Started, Stopped, Promoted or Unpromoted") }
            }
        }

        mutating func checkNodes() {
            var unames: [String: String] = [:]
            for n in config.nodes {
                if let other = unames[n.uname] {
                    error(n.element, "node name '\(n.uname)' is also used by node '\(other)'; node names must be unique")
                }
                unames[n.uname] = n.id
                if !["member", "remote", "ping", "normal"].contains(n.type) {
                    error(n.element, "node type '\(n.type)' is unknown; use member, remote or ping")
                }
                for s in n.attributes + n.utilization { checkNVSet(s) }
            }
        }

        mutating func checkResource(_ r: Resource) {
            for s in r.metaAttributes { checkNVSet(s) }
            switch r {
            case .primitive(let p):
                checkPrimitive(p, isTemplate: false)
            case .group(let g):
                if g.members.isEmpty { error(g.element, "the group has no members; add at least one primitive or delete the group") }
                for m in g.members { checkResource(.primitive(m)) }
            case .clone(let c):
                guard let child = c.child else {
                    error(c.element, "the \(c.element.name) has nothing to clone; put one primitive or group inside it")
                    return
                }
                let extra = c.element.elements.filter { $0.name == "primitive" || $0.name == "group" }.count
                if extra > 1 { error(c.element, "the \(c.element.name) holds \(extra) resources; a clone holds exactly one primitive or group") }
                checkResource(child)
            case .bundle(let b):
                if b.container == nil { error(b.element, "the bundle has no <docker>, <podman> or <rkt> element; say which container image to run") }
                if let p = b.primitive { checkPrimitive(p, isTemplate: false) }
            }
        }

        mutating func checkPrimitive(_ p: Primitive, isTemplate: Bool) {
            for s in p.instanceAttributes + p.metaAttributes + p.utilization { checkNVSet(s) }
            if let t = p.template {
                if !templateIDs.contains(t) { error(p.element, "template '\(t)' does not exist; define <template id=\"\(t)\"> or fix the name") }
            } else {
                let agent = p.agent
                if agent.standard.isEmpty {
                    error(p.element, "the resource has no class; add class=\"ocf\" (or lsb, systemd, service, stonith)")
                } else if !CIBRules.resourceClasses.contains(agent.standard) {
                    error(p.element, "class '\(agent.standard)' is unknown; use ocf, lsb, systemd, service or stonith")
                } else if agent.standard == "ocf" && (agent.provider ?? "").isEmpty {
                    error(p.element, "an ocf resource needs a provider; add provider=\"heartbeat\" (or pacemaker, or your own)")
                }
                if agent.type.isEmpty { error(p.element, "the resource has no type; add type=\"...\" naming its agent") }
            }
            var seen: [String: String] = [:]
            for op in p.operations {
                checkOperation(op)
                guard let ms = CIBValue.milliseconds(op.interval) else { continue }
                let key = "\(op.name)/\(ms)/\(op.role ?? "")"
                if let other = seen[key] {
                    let message = "operation '\(op.name)' with interval \(op.interval) is defined twice (also as '\(other)'); delete one or give them different intervals"
                    if ms > 0 { error(op.element, message) } else { warning(op.element, message) }
                }
                seen[key] = op.id
            }
        }

        mutating func checkOperation(_ op: Operation) {
            let e = op.element
            if op.name.isEmpty { error(e, "the operation has no name; add name=\"monitor\" (or start, stop...)") }
            if CIBValue.milliseconds(op.interval) == nil {
                error(e, "interval '\(op.interval)' is not a duration; write it like 10s, 500ms, 2min or PT30S")
            }
            for attr in ["timeout", "start-delay"] {
                if let v = e[attr], CIBValue.milliseconds(v) == nil {
                    error(e, "\(attr) '\(v)' is not a duration; write it like 20s, 500ms, 2min or PT30S")
                }
            }
            if let v = op.onFail, !CIBRules.onFail.contains(v) {
                error(e, "on-fail '\(v)' is not a policy; use ignore, block, demote, stop, restart, standby or fence")
            }
            if let v = op.role, !CIBRules.isRole(v) {
                error(e, "role '\(v)' is not a role; use Started, Stopped, Promoted or Unpromoted")
            }
            if let v = op.enabled, !CIBValue.isBoolean(v) {
                error(e, "enabled '\(v)' is not a boolean; use true or false")
            }
            for s in op.metaAttributes + op.instanceAttributes { checkNVSet(s) }
        }

        func isResourceLike(_ id: String) -> Bool {
            resourceIDs.contains(id) || templateIDs.contains(id) || tagIDs.contains(id)
        }

        mutating func checkConstraints() {
            for c in config.constraints {
                let e = c.element
                guard let kind = c.kind else { continue }
                if let s = c.score, CIBValue.score(s) == nil {
                    error(e, "score '\(s)' is not a score; use an integer, INFINITY or -INFINITY")
                }
                for attr in ["rsc", "with-rsc", "first", "then"] {
                    if let id = e[attr], !isResourceLike(id) {
                        error(e, "\(attr) '\(id)' names no resource; define it first or correct the name")
                    }
                }
                for attr in ["rsc-role", "with-rsc-role", "role"] {
                    if let v = e[attr], !CIBRules.isRole(v) {
                        error(e, "\(attr) '\(v)' is not a role; use Started, Stopped, Promoted or Unpromoted")
                    }
                }
                for attr in ["first-action", "then-action"] {
                    if let v = e[attr], !CIBRules.actions.contains(v) {
                        error(e, "\(attr) '\(v)' is not an action; use start, stop, promote or demote")
                    }
                }
                switch kind {
                case .location:
                    if let node = e["node"], !nodeNames.contains(node), !config.nodes.isEmpty {
                        warning(e, "node '\(node)' is not in the nodes section; the constraint does nothing until a node of that name joins")
                    }
                    if e["rsc"] == nil && e["rsc-pattern"] == nil && c.resourceSets.isEmpty {
                        error(e, "the location constraint names no resource; add rsc=\"...\", rsc-pattern=\"...\" or a resource_set")
                    }
                    if e["node"] != nil && c.score == nil && e["score-attribute"] == nil {
                        error(e, "a location constraint with node=\"...\" needs a score; add score=\"INFINITY\" (or any integer)")
                    }
                    for r in c.rules { checkRule(r) }
                case .colocation:
                    if let a = e["rsc"], a == e["with-rsc"] {
                        error(e, "the resource is colocated with itself; name two different resources")
                    }
                case .order:
                    if let a = e["first"], a == e["then"] {
                        error(e, "the resource is ordered after itself; name two different resources")
                    }
                    if let k = e["kind"], !CIBRules.orderKinds.contains(k) {
                        error(e, "kind '\(k)' is not an ordering kind; use Mandatory, Optional or Serialize")
                    }
                case .ticket:
                    if e["ticket"] == nil { error(e, "the ticket constraint names no ticket; add ticket=\"...\"") }
                }
                for set in c.resourceSets {
                    for id in set.resources where !isResourceLike(id) {
                        error(set.element, "resource_ref '\(id)' names no resource; define it first or correct the name")
                    }
                    if let v = set.role, !CIBRules.isRole(v) {
                        error(set.element, "role '\(v)' is not a role; use Started, Stopped, Promoted or Unpromoted")
                    }
                    if let v = set.action, !CIBRules.actions.contains(v) {
                        error(set.element, "action '\(v)' is not an action; use start, stop, promote or demote")
                    }
                }
            }
        }

        mutating func checkRule(_ r: Rule) {
            if let s = r.score, CIBValue.score(s) == nil {
                error(r.element, "score '\(s)' is not a score; use an integer, INFINITY or -INFINITY")
            }
            if !["and", "or"].contains(r.booleanOperator) {
                error(r.element, "boolean-op '\(r.booleanOperator)' is unknown; use and or or")
            }
            for e in r.expressions where e.name == "rule" { checkRule(Rule(e)) }
        }

        mutating func checkFencingTopology() {
            var seen: [String: String] = [:]
            for level in config.fencingLevels {
                let target = level.target ?? level.targetPattern ?? "\(level.targetAttribute ?? "")=\(level.targetValue ?? "")"
                if let idx = level.index {
                    if Int(idx).map({ $0 < 1 || $0 > 9 }) ?? true {
                        error(level.element, "index '\(idx)' must be a whole number from 1 to 9")
                    }
                    let key = target + "#" + idx
                    if let other = seen[key] {
                        error(level.element, "level \(idx) for \(target) is defined twice (also by '\(other)'); give each level its own index")
                    }
                    seen[key] = level.id
                }
                for d in level.devices where !resourceIDs.contains(d) {
                    error(level.element, "device '\(d)' is not a configured fence device; add a stonith primitive with id '\(d)' or fix the list")
                }
            }
        }

        /// id-ref attributes must name an element of the right kind.
        mutating func checkReferences() {
            var bad: [(XElement, String)] = []
            config.element.walk { e in
                if let ref = e["id-ref"], allIDs[ref] == nil {
                    bad.append((e, ref))
                }
            }
            for (e, ref) in bad {
                error(e, "id-ref '\(ref)' refers to nothing; define an element with id '\(ref)' or fix the reference")
            }
            for t in config.tags {
                for ref in t.references where allIDs[ref] == nil {
                    error(t.element, "obj_ref '\(ref)' refers to nothing; define it or remove the reference")
                }
            }
        }

        /// A ticket whose loss would fence the nodes needs fencing: without it Pacemaker falls
        /// back to stopping the resources (and crm_verify counts that an error), so say so here.
        mutating func checkTicketLossPolicies() {
            let enabled = (config.clusterOption("fencing-enabled") ?? config.clusterOption("stonith-enabled")).map(CIBValue.isTrue) ?? true
            guard !enabled else { return }
            for c in config.constraints where c.kind == .ticket && c.element["loss-policy"] == "fence" {
                let ticket = c.element["ticket"] ?? "?"
                error(c.element, "loss-policy 'fence' for ticket '\(ticket)' needs fencing, which is disabled (stonith-enabled=false): the cluster would stop the resources instead; enable fencing with a fence device, or use loss-policy=stop")
            }
        }

        /// Pacemaker refuses to start resources when fencing is enabled and no fence device
        /// exists; say so here, before the cluster does.
        mutating func checkFencingConfigured() {
            let enabled = (config.clusterOption("fencing-enabled") ?? config.clusterOption("stonith-enabled")).map(CIBValue.isTrue) ?? true
            guard enabled, !config.resources.isEmpty || !config.nodes.isEmpty else { return }
            let hasDevice = config.resources.flatMap(\.primitives).contains { $0.agent.standard == "stonith" }
            // With a watchdog (sbd), nodes fence themselves: no device is needed.
            let watchdog = config.clusterOption("have-watchdog").map(CIBValue.isTrue) ?? false
            if !hasDevice && !watchdog {
                problems.append(ValidationProblem(.error, element: "crm_config", id: nil,
                    "fencing is enabled (stonith-enabled=true) but no fence device is configured, so no resource will be started; add a stonith resource, or set stonith-enabled=false on a cluster without shared data"))
            }
        }
    }
}
