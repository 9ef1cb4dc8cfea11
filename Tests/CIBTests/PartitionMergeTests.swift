import CIB
import Testing
import TestSupport

/// cibd's group members through a partition and its merge: configuration changes need quorum,
/// and each node keeps its own transient attributes when the other side's copy wins.
@Suite struct PartitionMergeTests {
    static let base = """
    <cib validate-with="pacemaker-3.9" epoch="5" num_updates="0" admin_epoch="0">
      <configuration><crm_config/><nodes><node id="1" uname="node1"/><node id="2" uname="node2"/><node id="3" uname="node3"/></nodes>\
    <resources/><constraints/></configuration><status/>
    </cib>
    """

    /// Members of one or more partitions; each partition has its own totally ordered channel.
    struct Group {
        var members: [String: CIBGroupMember] = [:]
        var channels: [[String]: [XElement]] = [:]
        var partitionOf: [String: [String]] = [:]
        var replies: [UInt64: Result<CIBVersion, CIBError>] = [:]

        init(_ names: [String]) throws {
            for n in names { members[n] = CIBGroupMember(member: n, cib: try CIB.parse(PartitionMergeTests.base)) }
            partition([names])
        }

        mutating func handle(_ name: String, _ ds: [CIBGroupMember.Directive]) {
            for d in ds {
                switch d {
                case .replica(.multicast(let m)): channels[partitionOf[name]!, default: []].append(m.xml)
                case .multicastRaw(let e): channels[partitionOf[name]!, default: []].append(e)
                case .replica(.reply(let r, let result)): replies[r] = result
                default: break
                }
            }
        }

        /// New configurations: each list of members is a partition.
        mutating func partition(_ parts: [[String]]) {
            channels = [:]
            for p in parts {
                for n in p {
                    partitionOf[n] = p
                    var m = members[n]!
                    let ds = m.onConfigurationChange(p)
                    members[n] = m
                    handle(n, ds)
                }
            }
            deliverAll()
        }

        mutating func deliverAll() {
            var rounds = 0
            while let key = channels.first(where: { !$0.value.isEmpty })?.key, rounds < 10_000 {
                rounds += 1
                let e = channels[key]!.removeFirst()
                let sender = e["origin"] ?? e["from"] ?? key[0]
                for n in key.sorted() {
                    var m = members[n]!
                    let ds = try! m.onMessage(e, from: sender)
                    members[n] = m
                    handle(n, ds)
                }
            }
        }

        mutating func quorum(_ names: [String], _ q: Bool) {
            for n in names { members[n]!.onQuorum(q) }
        }

        mutating func request(_ name: String, _ id: UInt64, _ op: CIBReplica.Operation, force: Bool = false) {
            var m = members[name]!
            let ds = m.onRequest(id, op, quorumOverride: force)
            members[name] = m
            handle(name, ds)
            deliverAll()
        }

        func cib(_ name: String) -> CIB { members[name]!.replica.cib }
    }

    static func attribute(node: String, name: String, value: String) -> CIBReplica.Operation {
        var state = XElement("node_state", ["id": node, "uname": "node\(node)"])
        var ta = XElement("transient_attributes", ["id": node])
        var set = XElement("instance_attributes", ["id": "status-\(node)"])
        set.append(XElement("nvpair", ["id": "status-\(node)-\(name)", "name": name, "value": value]))
        ta.append(set)
        state.append(ta)
        return .modify(state, section: .status, allowCreate: true)
    }

    static func value(_ cib: CIB, node: String, name: String) -> String? {
        (try? cib.root.xpathElements("/cib/status/node_state[@id='\(node)']/transient_attributes//nvpair[@name='\(name)']"))?.first?["value"]
    }

    static let primitive = XElement("primitive", ["id": "web", "class": "ocf", "provider": "heartbeat", "type": "Dummy"])

    /// Found by the whole-cluster simulation (seed 1209 of the soak): a configuration change
    /// acknowledged by a partition without quorum was lost at the merge, or outbid the quorate
    /// partition's. Without quorum a configuration change is now refused with a clear error
    /// (unless forced or no-quorum-policy=ignore); status changes are still taken.
    @Test func withoutQuorumConfigurationChangesAreRefusedStatusChangesTaken() throws {
        var g = try Group(["1:10", "2:20", "3:30"])
        g.partition([["1:10"], ["2:20", "3:30"]])
        g.quorum(["1:10"], false)
        g.request("1:10", 1, .create(Self.primitive, section: .resources))
        guard case .failure(let e)? = g.replies[1] else { Issue.record("not refused: \(String(describing: g.replies[1]))"); return }
        #expect(e.kind == .noQuorum && e.message.contains("no quorum") && e.message.contains("quorate partition"), "\(e)")
        #expect(g.cib("1:10").configuration.resources.isEmpty && g.cib("1:10").version.epoch == 5)
        // A status change (a transient attribute) is taken.
        g.request("1:10", 2, Self.attribute(node: "1", name: "pingd", value: "100"))
        guard case .success? = g.replies[2] else { Issue.record("status change refused: \(String(describing: g.replies[2]))"); return }
        // Forced (cibadmin --force), or with no-quorum-policy=ignore, it is taken.
        g.request("1:10", 3, .create(Self.primitive, section: .resources), force: true)
        guard case .success? = g.replies[3] else { Issue.record("forced change refused: \(String(describing: g.replies[3]))"); return }
        var ignore = try Group(["1:10"])
        var set = XElement("cluster_property_set", ["id": "opts"])
        set.append(XElement("nvpair", ["id": "opts-nqp", "name": "no-quorum-policy", "value": "ignore"]))
        ignore.request("1:10", 1, .create(set, section: .crmConfig))
        ignore.quorum(["1:10"], false)
        ignore.request("1:10", 2, .create(Self.primitive, section: .resources))
        guard case .success? = ignore.replies[2] else { Issue.record("refused under no-quorum-policy=ignore: \(String(describing: ignore.replies[2]))"); return }
        // The quorate side changes its configuration as usual.
        g.request("2:20", 4, .create(Self.primitive, section: .resources))
        guard case .success? = g.replies[4] else { Issue.record("quorate change refused: \(String(describing: g.replies[4]))"); return }
    }

    /// When partitions merge, the newest copy is kept whole; the transient attributes of the
    /// nodes of the other side are put back by their own members (as Pacemaker's attrd writes
    /// them again), so each node keeps its own. A member that never was synced since it started
    /// (a node booting with the copy on its disk) puts nothing back.
    @Test func eachNodeKeepsItsTransientAttributesWhenPartitionsMerge() throws {
        var g = try Group(["1:10", "2:20", "3:30"])
        g.request("1:10", 1, Self.attribute(node: "1", name: "before", value: "1"))
        g.partition([["1:10"], ["2:20", "3:30"]])
        g.quorum(["1:10"], false)
        // Each side sets attributes of its own nodes; the majority changes its configuration,
        // so its copy is the newest at the merge.
        g.request("1:10", 2, Self.attribute(node: "1", name: "pingd", value: "100"))
        g.request("1:10", 3, Self.attribute(node: "1", name: "before", value: "2"))
        g.request("2:20", 4, Self.attribute(node: "2", name: "pingd", value: "200"))
        g.request("2:20", 5, .create(Self.primitive, section: .resources))
        for r in UInt64(2)...5 { guard case .success? = g.replies[r] else { Issue.record("request \(r): \(String(describing: g.replies[r]))"); return } }
        g.quorum(["1:10"], true)
        g.partition([["1:10", "2:20", "3:30"]])
        let copies = Set(["1:10", "2:20", "3:30"].map { g.cib($0).digest })
        #expect(copies.count == 1, "the copies differ after the merge")
        for n in ["1:10", "2:20", "3:30"] {
            let cib = g.cib(n)
            #expect(cib.configuration.resources.map(\.id) == ["web"], "\(n): the quorate side's change is lost")
            #expect(Self.value(cib, node: "1", name: "pingd") == "100" && Self.value(cib, node: "1", name: "before") == "2",
                    "\(n): node1's attributes are lost: \(cib.root.firstElement(named: "status")?.xmlString() ?? "")")
            #expect(Self.value(cib, node: "2", name: "pingd") == "200")
        }
        // No reply is handed out for the members' own rewrites.
        #expect(g.replies.keys.allSatisfy { $0 < 1000 })

        // node1 reboots with its disk copy (an old attribute of node1 in it) and joins: it
        // takes the cluster's copy and puts nothing back.
        var disk = try CIB.parse(Self.base)
        disk = try CIBReplica.apply(Self.attribute(node: "1", name: "stale", value: "x"), to: disk)
        g.members["1:11"] = CIBGroupMember(member: "1:11", cib: disk)
        g.members["1:10"] = nil
        g.partition([["1:11", "2:20", "3:30"]])
        #expect(Self.value(g.cib("2:20"), node: "1", name: "stale") == nil)
        #expect(Self.value(g.cib("1:11"), node: "1", name: "stale") == nil)
    }

    /// A node that starts while its ring has not merged yet agrees on its disk copy alone
    /// first: what that copy held for the node (an old `shutdown` request, which would stop the
    /// node again) is a leftover and is not put back when it merges; what the node set while
    /// alone is.
    @Test func aNodeThatStartsAloneFirstPutsNoLeftoverBack() throws {
        var g = try Group(["1:10", "2:20", "3:30"])
        var disk = try CIB.parse(Self.base)
        disk = try CIBReplica.apply(Self.attribute(node: "3", name: "shutdown", value: "1795556967"), to: disk)
        disk = try CIBReplica.apply(Self.attribute(node: "3", name: "pingd", value: "5"), to: disk)
        g.members["3:31"] = CIBGroupMember(member: "3:31", cib: disk)
        g.members["3:30"] = nil
        g.partition([["1:10", "2:20"], ["3:31"]])
        #expect(Self.value(g.cib("3:31"), node: "3", name: "shutdown") == "1795556967", "alone, it agrees on its disk copy")
        // While alone, node3 sets an attribute again, and a new one.
        g.request("3:31", 1, Self.attribute(node: "3", name: "pingd", value: "7"))
        g.request("3:31", 2, Self.attribute(node: "3", name: "fresh", value: "1"))
        // The majority changes its configuration: its copy is the newest at the merge.
        g.request("1:10", 3, .create(Self.primitive, section: .resources))
        g.partition([["1:10", "2:20", "3:31"]])
        for n in ["1:10", "2:20", "3:31"] {
            let cib = g.cib(n)
            #expect(Self.value(cib, node: "3", name: "shutdown") == nil, "\(n): node3's old shutdown request came back")
            #expect(Self.value(cib, node: "3", name: "pingd") == "7" && Self.value(cib, node: "3", name: "fresh") == "1",
                    "\(n): what node3 set while alone is lost: \(cib.root.firstElement(named: "status")?.xmlString() ?? "")")
        }
    }
}
