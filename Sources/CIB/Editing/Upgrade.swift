/// Upgrading old syntax to the newest model, as Pacemaker does when it loads a CIB written for
/// an older schema (`cibadmin --upgrade`).
///
/// - `<master>` becomes `<clone>` with the meta attribute `promotable=true`, and its
///   `master-max`/`master-node-max` become `promoted-max`/`promoted-node-max`;
/// - the roles Master and Slave become Promoted and Unpromoted wherever a role is named
///   (constraints, resource sets, rules, operations, target-role);
/// - the cluster-wide defaults `default-resource-stickiness` and `is-managed-default` move to
///   `<rsc_defaults>`, their home since Pacemaker 1.1;
/// - node type `normal` becomes `member`; an ordering's `score` becomes its `kind`
///   (positive: Mandatory, zero: Optional);
/// - `validate-with` becomes the newest schema (or the given one).
extension CIB {
    /// The upgraded CIB; the input is unchanged. Bumps the epoch when anything changed.
    public func upgraded(to schema: String = CIBSchema.newestInstalled ?? "pacemaker-3.9") -> CIB {
        var out = self
        if var config = out.root.firstElement(named: "configuration") {
            CIB.upgradeRoles(&config)
            CIB.upgradeMasters(&config)
            CIB.moveLegacyDefaults(&config)
            CIB.upgradeNodesAndOrders(&config)
            out.root.setFirstElement(named: "configuration", to: config)
        }
        let current = validateWith.flatMap(CIBSchema.version(of:))
        let target = CIBSchema.version(of: schema)
        if let target, current.map({ $0 < target }) ?? true { out.validateWith = schema }
        if out != self { out.bumpVersion(for: .configuration) }
        return out
    }

    static let roleAttributes: Set<String> = ["role", "rsc-role", "with-rsc-role", "first-role", "then-role", "target-role"]

    static func upgradeRoles(_ e: inout XElement) {
        for i in e.attributes.indices where roleAttributes.contains(e.attributes[i].name) {
            e.attributes[i].value = newRoleName(e.attributes[i].value)
        }
        if e.name == "nvpair", e["name"] == "target-role", let v = e["value"] { e["value"] = newRoleName(v) }
        // Rule expressions on #role compare against the role name too.
        if e.name == "expression", e["attribute"] == "#role", let v = e["value"] { e["value"] = newRoleName(v) }
        e.updateElements { upgradeRoles(&$0) }
    }

    static func newRoleName(_ role: String) -> String {
        switch role {
        case "Master": "Promoted"
        case "Slave": "Unpromoted"
        default: role
        }
    }

    static func upgradeMasters(_ e: inout XElement) {
        e.updateElements { upgradeMasters(&$0) }
        guard e.name == "master" else { return }
        e.name = "clone"
        let id = e.id ?? "clone"
        var done = false
        e.updateElements { child in
            guard child.name == "meta_attributes" else { return }
            child.updateElements { pair in
                guard pair.name == "nvpair" else { return }
                if pair["name"] == "master-max" { pair["name"] = "promoted-max" }
                if pair["name"] == "master-node-max" { pair["name"] = "promoted-node-max" }
            }
            if !done {
                child.removeElements { $0.name == "nvpair" && $0["name"] == "promotable" }
                child.append(XElement("nvpair", ["id": "\(child.id ?? id)-promotable", "name": "promotable", "value": "true"]))
                done = true
            }
        }
        if !done {
            let meta = XElement("meta_attributes", ["id": "\(id)-meta_attributes"],
                                children: [XElement("nvpair", ["id": "\(id)-meta_attributes-promotable", "name": "promotable", "value": "true"])])
            e.children.insert(.element(meta), at: 0)
        }
    }

    static func upgradeNodesAndOrders(_ config: inout XElement) {
        config.updateElements { section in
            switch section.name {
            case "nodes":
                section.updateElements { node in
                    if node.name == "node", node["type"] == "normal" { node["type"] = "member" }
                }
            case "constraints":
                section.updateElements { c in
                    guard c.name == "rsc_order", c["kind"] == nil, let s = c["score"], let score = CIBValue.score(s) else { return }
                    c["score"] = nil
                    c["kind"] = score > 0 ? "Mandatory" : score == 0 ? "Optional" : "Mandatory"
                }
            default:
                break
            }
        }
    }

    static func moveLegacyDefaults(_ config: inout XElement) {
        let legacy = ["default-resource-stickiness": "resource-stickiness", "is-managed-default": "is-managed"]
        var moved: [XElement] = []
        config.updateElements { section in
            guard section.name == "crm_config" else { return }
            section.updateElements { set in
                set.removeElements { pair in
                    guard pair.name == "nvpair", let n = pair["name"], let new = legacy[n] else { return false }
                    var p = pair
                    p["name"] = new
                    moved.append(p)
                    return true
                }
            }
        }
        guard !moved.isEmpty else { return }
        var defaults = config.firstElement(named: "rsc_defaults") ?? XElement("rsc_defaults")
        var set = defaults.firstElement(named: "meta_attributes") ?? XElement("meta_attributes", ["id": "rsc-options"])
        for p in moved where !set.elements.contains(where: { $0["name"] == p["name"] }) { set.append(p) }
        defaults.setFirstElement(named: "meta_attributes", to: set)
        config.setFirstElement(named: "rsc_defaults", to: defaults)
    }
}
