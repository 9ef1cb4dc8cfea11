import CIB

/// Building the scheduler's resource tree from the configuration.
enum Resources {

    static func unpack(config: Configuration, into ws: inout WorkingSet) {
        // Defaults whose rules test the resource (rsc_expression) are resolved per primitive below.
        let defaults = NVSets.flatten(config.resourceDefaults, context: RuleContext(now: ws.now))
        ws.resourceDefaultSets = config.resourceDefaults
        let templates = Dictionary(config.templates.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for r in config.resources {
            let i = add(r, parent: nil, defaults: defaults, templates: templates, into: &ws)
            ws.topLevel.append(i)
        }
        // Guest nodes (remote-node meta) are reached through an implicit, hidden connection.
        for n in ws.nodes where n.kind == .guest && !n.isBundleNode {
            guard ws.index(of: n.name) == nil else { continue }
            let containerMeta = n.container.flatMap { c in ws.resources.first { $0.id == c }?.meta } ?? [:]
            var r = SchedulerResource(id: n.name, configuredID: n.name,
                                      variant: .primitive(ResourceAgentName(standard: "ocf", provider: "pacemaker", type: "remote")),
                                      parent: nil, element: guestConnectionElement(n.name, containerMeta: containerMeta))
            r.meta = ["internal_rsc": "true"]
            if let c = n.container { r.meta["container"] = c }
            if let v = containerMeta["remote-allow-migrate"] { r.meta["allow-migrate"] = v }
            if let v = containerMeta["is-managed"] { r.meta["is-managed"] = v }
            if let v = containerMeta["remote-addr"] { r.parameters["addr"] = v }
            if let v = containerMeta["remote-port"] { r.parameters["port"] = v }
            ws.resources.append(r)
            ws.topLevel.append(ws.resources.count - 1)
        }
        // Higher priority first; equal priorities keep the configuration's order.
        ws.topLevel = ws.topLevel.enumerated().sorted { a, b in
            let pa = priority(ws.resources[a.element]), pb = priority(ws.resources[b.element])
            return pa != pb ? pa > pb : a.offset < b.offset
        }.map(\.element)
    }

    /// The implicit connection of a guest node: monitored every 30s, started within the
    /// container's remote-connect-timeout (60s by default).
    static func guestConnectionElement(_ name: String, containerMeta: [String: String]) -> XElement {
        let timeout = containerMeta["remote-connect-timeout"] ?? "60s"
        let ops = XElement("operations", [:], children: [
            XElement("op", ["id": "\(name)-monitor-interval-30s", "name": "monitor", "interval": "30s", "timeout": "30s"]),
            XElement("op", ["id": "\(name)-start-interval-0", "name": "start", "interval": "0", "timeout": timeout]),
        ])
        return XElement("primitive", ["id": name, "class": "ocf", "provider": "pacemaker", "type": "remote"], children: [ops])
    }

    /// The `priority` meta attribute as Pacemaker reads a score: the leading integer.
    static func priority(_ r: SchedulerResource) -> Int {
        guard let v = r.meta["priority"] else { return 0 }
        if let s = CIBValue.score(v) { return s }
        let digits = v.prefix { $0.isNumber || $0 == "-" || $0 == "+" }
        return Int(digits) ?? 0
    }

    /// Adds a configured resource (and, for a clone, its instances); returns its index.
    @discardableResult
    static func add(_ r: Resource, parent: Int?, defaults: [String: String], templates: [String: Primitive],
                    suffix: String = "", into ws: inout WorkingSet) -> Int {
        var meta = defaults
        if case .primitive(let p) = r, ws.resourceDefaultSets.contains(where: { $0.rule != nil }) {
            var ctx = RuleContext(now: ws.now)
            ctx.resourceAgent = p.agent
            meta = NVSets.flatten(ws.resourceDefaultSets, context: ctx)
        }
        if let parent { meta.merge(ws.resources[parent].meta) { _, p in p } }
        meta.merge(NVSets.flatten(r.metaAttributes, context: RuleContext(now: ws.now))) { _, own in own }
        let index = ws.resources.count
        switch r {
        case .primitive(var p):
            if let t = p.template, let template = templates[t] {
                p = merge(template: template, into: p)
                // The template's meta attributes are the primitive's own, below its explicit ones.
                let own = NVSets.flatten(r.metaAttributes, context: RuleContext(now: ws.now))
                for (name, value) in NVSets.flatten(template.metaAttributes, context: RuleContext(now: ws.now)) where own[name] == nil {
                    meta[name] = value
                }
            }
            // Operations may be defined once and referred to by id.
            if let ref = p.element.firstElement(named: "operations")?["id-ref"],
               let shared = ws.cib.configuration.element.descendants().first(where: { $0.name == "operations" && $0.id == ref }) {
                p.element.setFirstElement(named: "operations", to: shared)
            }
            var res = SchedulerResource(id: p.id + suffix, configuredID: p.id, variant: .primitive(p.agent),
                                        parent: parent, element: p.element)
            res.meta = meta
            res.parameters = NVSets.flatten(p.instanceAttributes)
            ws.resources.append(res)
        case .group(let g):
            var res = SchedulerResource(id: g.id + suffix, configuredID: g.id, variant: .group, parent: parent, element: g.element)
            res.meta = meta
            ws.resources.append(res)
            for m in g.members {
                let c = add(.primitive(m), parent: index, defaults: defaults, templates: templates,
                            suffix: suffix, into: &ws)
                ws.resources[index].children.append(c)
            }
        case .clone(let c):
            let promotable = c.isPromotable
            // LSB, systemd and the like cannot tell instances apart: they are cloned anonymously.
            let ocfOnly = c.child.map { $0.primitives.allSatisfy { ["ocf", "stonith"].contains($0.agent.standard) } } ?? true
            let unique = ocfOnly && (meta["globally-unique"].map(CIBValue.isTrue) ?? false)
            var res = SchedulerResource(id: c.id, configuredID: c.id, variant: .clone(promotable: promotable, unique: unique),
                                        parent: parent, element: c.element)
            res.meta = meta
            ws.resources.append(res)
            guard let child = c.child else { break }
            let max = cloneMax(meta, nodeCount: max(1, ws.nodes.count))
            for n in 0..<max {
                let ci = add(child, parent: index, defaults: defaults, templates: templates,
                             suffix: ":\(n)", into: &ws)
                ws.resources[index].children.append(ci)
            }
        case .bundle(let b):
            var res = SchedulerResource(id: b.id, configuredID: b.id, variant: .bundle, parent: parent, element: b.element)
            res.meta = meta
            ws.resources.append(res)
            Bundles.build(b, at: index, defaults: defaults, templates: templates, into: &ws)
        }
        return index
    }

    /// clone-max, defaulting to the number of nodes.
    static func cloneMax(_ meta: [String: String], nodeCount: Int) -> Int {
        if let v = meta["clone-max"], let n = Int(v) { return max(0, n) }
        return nodeCount
    }

    /// A primitive that names a template takes the template's definition, its own settings
    /// taking precedence.
    static func merge(template: Primitive, into p: Primitive) -> Primitive {
        var out = p
        for attr in ["class", "provider", "type"] where out.element[attr] == nil {
            out.element[attr] = template.element[attr]
        }
        // The template's name/value sets apply after the primitive's own (which win); its
        // operations apply when the primitive defines none.
        for child in template.element.elements {
            if ["meta_attributes", "instance_attributes", "utilization"].contains(child.name) {
                out.element.append(child)
            } else if out.element.firstElement(named: child.name) == nil {
                out.element.append(child)
            }
        }
        return out
    }

    /// The clone a resource belongs to, if any.
    static func enclosingClone(_ i: Int, in ws: WorkingSet) -> Int? {
        var p = ws.resources[i].parent
        while let j = p {
            if case .clone = ws.resources[j].variant { return j }
            p = ws.resources[j].parent
        }
        return nil
    }

    /// The on-fail configured for an operation of a resource (by name and interval).
    static func configuredOnFail(_ r: SchedulerResource, task: String, intervalMS: Int) -> FailurePolicy? {
        for op in Primitive(r.element).operations where op.name == task {
            guard (CIBValue.milliseconds(op.interval) ?? 0) == intervalMS else { continue }
            if let v = op.onFail { return FailurePolicy(name: v) }
        }
        if let v = r.meta["on-fail"] { return FailurePolicy(name: v) }
        return nil
    }
}

/// Name/value sets, flattened the way Pacemaker reads them.
enum NVSets {
    /// The values of the sets that apply (rule-less ones, and those whose rule passes in
    /// `context`), higher `score` first; the first value of a name wins.
    static func flatten(_ sets: [NVSet], context: RuleContext? = nil) -> [String: String] {
        var out: [String: String] = [:]
        let ordered = sets.enumerated().sorted { a, b in
            let sa = a.element.score.flatMap(CIBValue.score) ?? 0
            let sb = b.element.score.flatMap(CIBValue.score) ?? 0
            return sa != sb ? sa > sb : a.offset < b.offset
        }.map(\.element)
        for set in ordered {
            if let rule = set.rule {
                guard let context, RuleEvaluator.passes(rule.element, context) else { continue }
            }
            for pair in set.pairs {
                // "#default" leaves the name unset (as in Pacemaker's older CIBs).
                if out[pair.name] == nil, let v = pair.value, v.lowercased() != "#default" { out[pair.name] = v }
            }
        }
        return out
    }
}
