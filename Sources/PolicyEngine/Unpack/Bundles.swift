import CIB

/// One replica of a bundle: its container, its address, its connection and its copy of the
/// bundled resource (indexes into the working set's resources).
public struct BundleReplica: Sendable {
    public var number: Int
    public var container: Int
    public var ip: Int?
    public var ipAddress: String?
    public var connection: Int?
    public var child: Int?
    /// The guest node the replica's resource runs on (when the bundle has a resource).
    public var node: String?
}

/// Bundles: a container image run `replicas` times, each replica with its own container
/// resource, optionally an IP address, and (when the bundle holds a resource) a remote
/// connection and a guest node on which that resource's copy runs.
enum Bundles {
    /// Builds the replicas of the bundle at index `b`.
    static func build(_ bundle: Bundle, at b: Int, defaults: [String: String], templates: [String: Primitive], into ws: inout WorkingSet) {
        guard let container = bundle.container else { return }
        let kind = container.name
        let meta = ws.resources[b].meta
        var promotedMax = Int(container["promoted-max"] ?? container["masters"] ?? meta["promoted-max"] ?? "") ?? 0
        if promotedMax == 0, meta["promotable"].map(CIBValue.isTrue) == true { promotedMax = 1 }
        let replicas = Int(container["replicas"] ?? "") ?? max(1, promotedMax)
        ws.resources[b].variant = .bundle
        ws.resources[b].bundleImage = container["image"]
        ws.resources[b].bundlePromotable = promotedMax > 0
        let ipStart = bundle.network?["ip-range-start"]
        var list: [BundleReplica] = []
        for i in 0..<replicas {
            var meta = ws.resources[b].meta
            meta.removeValue(forKey: "priority")
            let containerID = "\(bundle.id)-\(kind)-\(i)"
            let c = addPrimitive(id: containerID, configuredID: containerID,
                                 agent: ResourceAgentName(standard: "ocf", provider: "heartbeat", type: kind),
                                 parent: b, meta: meta, element: implicit(containerID, monitor: "60s"), into: &ws)
            var replica = BundleReplica(number: i, container: c)
            if let ipStart, let address = increment(ipStart, by: i) {
                let ipID = "\(bundle.id)-ip-\(address)"
                replica.ip = addPrimitive(id: ipID, configuredID: ipID,
                                          agent: ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "IPaddr2"),
                                          parent: b, meta: meta, element: implicit(ipID, monitor: "60s"), into: &ws)
                replica.ipAddress = address
            }
            if var p = bundle.primitive {
                if let t = p.template, let template = templates[t] { p = Resources.merge(template: template, into: p) }
                let nodeName = "\(bundle.id)-\(i)"
                var connMeta = meta
                connMeta["internal_rsc"] = "true"
                replica.connection = addPrimitive(id: nodeName, configuredID: nodeName,
                                                  agent: ResourceAgentName(standard: "ocf", provider: "pacemaker", type: "remote"),
                                                  parent: b, meta: connMeta, element: implicit(nodeName, monitor: "30s"), into: &ws)
                var childMeta = defaults
                childMeta.merge(ws.resources[b].meta) { _, m in m }
                childMeta.merge(NVSets.flatten(p.metaAttributes)) { _, own in own }
                childMeta.removeValue(forKey: "priority")
                let child = addPrimitive(id: "\(p.id):\(i)", configuredID: p.id, agent: p.agent, parent: b, meta: childMeta,
                                         element: p.element, into: &ws)
                ws.resources[child].parameters = NVSets.flatten(p.instanceAttributes)
                replica.child = child
                replica.node = nodeName
                if let n = ws.nodes.firstIndex(where: { $0.name == nodeName }) {
                    // A node entry left in the configuration for the replica.
                    ws.nodes[n].kind = .guest
                    ws.nodes[n].container = containerID
                    ws.nodes[n].isBundleNode = true
                    ws.nodes[n].unclean = false
                } else {
                    var node = SchedulerNode(id: nodeName, name: nodeName)
                    node.kind = .guest
                    node.container = containerID
                    node.isBundleNode = true
                    ws.nodes.append(node)
                }
            }
            list.append(replica)
        }
        ws.bundleReplicas[b] = list
    }

    /// The definition Pacemaker gives a replica's part: a primitive with one recurring
    /// monitor (60 s for containers and addresses, 30 s for connections).
    static func implicit(_ id: String, monitor interval: String) -> XElement {
        let op = XElement("op", ["id": "\(id)-monitor-\(interval)", "name": "monitor", "interval": interval])
        return XElement("primitive", ["id": id], children: [XElement("operations", ["id": "\(id)-operations"], children: [op])])
    }

    @discardableResult
    static func addPrimitive(id: String, configuredID: String, agent: ResourceAgentName, parent: Int, meta: [String: String],
                             element: XElement? = nil, into ws: inout WorkingSet) -> Int {
        var r = SchedulerResource(id: id, configuredID: configuredID, variant: .primitive(agent), parent: parent,
                                  element: element ?? XElement("primitive", ["id": id]))
        r.meta = meta
        ws.resources.append(r)
        let i = ws.resources.count - 1
        ws.resources[parent].children.append(i)
        return i
    }

    /// The IPv4 address `n` after `start`.
    static func increment(_ start: String, by n: Int) -> String? {
        let parts = start.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 4 else { return nil }
        var value = parts.reduce(0) { $0 * 256 + $1 } + n
        var out: [Int] = []
        for _ in 0..<4 {
            out.insert(value % 256, at: 0)
            value /= 256
        }
        return out.map(String.init).joined(separator: ".")
    }

    /// The id of the orderings inside a replica.
    static let replicaOrder = "#bundle-replica"

    /// Inside each replica, the connection and the bundled resource start after the
    /// container, the resource after the connection too (what cannot start for want of its
    /// container is "unrunnable").
    static func orderings(_ ws: WorkingSet) -> [Ordering] {
        var out: [Ordering] = []
        for b in ws.bundleReplicas.keys.sorted() {
            for rep in ws.bundleReplicas[b] ?? [] {
                for then in [rep.connection, rep.child].compactMap({ $0 }) {
                    out.append(Ordering(id: replicaOrder, first: rep.container, then: then, firstAction: "start", thenAction: "start", mandatory: true))
                }
                // The copy also starts after the connection to its guest node (and stops
                // before it).
                if let conn = rep.connection, let child = rep.child {
                    out.append(Ordering(id: replicaOrder, first: conn, then: child, firstAction: "start", thenAction: "start", mandatory: true))
                }
            }
        }
        return out
    }

    /// The connection resource of a bundle's guest node.
    static func connection(ofGuest node: String, in ws: WorkingSet) -> Int? {
        for (_, reps) in ws.bundleReplicas { if let rep = reps.first(where: { $0.node == node }) { return rep.connection } }
        return nil
    }

    /// The replica whose guest node is `node`, for a bundle's resource history found there.
    static func replica(onNode node: String, of bundle: Int, in ws: WorkingSet) -> BundleReplica? {
        ws.bundleReplicas[bundle]?.first { $0.node == node }
    }
}
