import CIB
import Foundation
import HostProcesses
import Messaging

#if canImport(Glibc)
import Glibc
#endif

/// The files of a test cluster on one machine: nodes node1...nodeN on 127.0.0.1...N, each with
/// a root of its own under one scratch directory, one corosync.conf and authkey for all, and
/// UDP ports reserved for this cluster alone (``TestPorts``).
public final class TestClusterFiles: @unchecked Sendable {
    public let scratch: String
    public let size: Int
    public let key: AuthKey
    /// Whether packets are sealed (false: crypto_cipher and crypto_hash none).
    public let secure: Bool
    /// 1, or 2 for knet with ring1_addr on 127.0.1.x (port + 1).
    public let links: Int
    /// The totem timer lines of corosync.conf; empty: corosync's defaults.
    public let timers: String
    /// Lines added to the quorum section (`two_node: 1`, ...).
    public let quorumOptions: [String]
    private let ports: PortReservation

    /// token 300 ms, token_coefficient 0: a crash is detected after about 300 + 360 ms.
    public static let token = 300
    public static let defaultTimers = "token: \(token)\n    token_coefficient: 0"

    public init(label: String, nodes: Int = 3, secure: Bool = true, links: Int = 1, timers: String = TestClusterFiles.defaultTimers,
                quorumOptions: [String] = []) throws {
        size = nodes
        self.secure = secure
        self.links = links
        self.timers = timers
        self.quorumOptions = quorumOptions
        let addresses = (1...nodes).map { "127.0.0.\($0)" } + (links > 1 ? (1...nodes).map { "127.0.1.\($0)" } : [])
        ports = try TestPorts.reserve(count: links, addresses: addresses)
        key = try AuthKey.generate()
        scratch = scratchDirectory(label)
        do {
            for i in 1...nodes {
                try FileManager.default.createDirectory(atPath: "\(root(i))/etc/corosync", withIntermediateDirectories: true)
                try config.write(toFile: "\(root(i))/etc/corosync/corosync.conf", atomically: true, encoding: .utf8)
                try key.write(to: "\(root(i))/etc/corosync/authkey")
            }
        } catch {
            tearDown()
            throw error
        }
    }

    /// Link 0's port (link 1 has the next one).
    public var port: Int { ports.port }
    public func name(_ i: Int) -> String { "node\(i)" }
    public func root(_ i: Int) -> String { "\(scratch)/node\(i)" }

    public var config: String {
        var text = """
        totem {
            version: 2
            cluster_name: swiftha-test
            transport: knet
            \(timers)
            \(secure ? "" : "crypto_cipher: none\n    crypto_hash: none")
            interface {
                linknumber: 0
                mcastport: \(port)
            }
            \(links > 1 ? "interface {\n        linknumber: 1\n        mcastport: \(port + 1)\n    }" : "")
        }
        quorum {
            provider: corosync_votequorum
        \(quorumOptions.map { "    \($0)\n" }.joined())}
        logging {
            to_stderr: yes
        }
        nodelist {

        """
        for i in 1...size {
            let ring1 = links > 1 ? "        ring1_addr: 127.0.1.\(i)\n" : ""
            text += "    node {\n        ring0_addr: 127.0.0.\(i)\n\(ring1)        name: node\(i)\n        nodeid: \(i)\n    }\n"
        }
        return text + "}\n"
    }

    /// Gives the ports back and removes the scratch directory (the caller has stopped its
    /// processes first).
    /// Releases the ports and removes the files; with SWIFTHA_KEEP_TEST_FILES set, the files
    /// stay (their path is printed) for a look after a failure.
    public func tearDown() {
        ports.release()
        if ProcessInfo.processInfo.environment["SWIFTHA_KEEP_TEST_FILES"] != nil {
            print("SWIFTHA_KEEP_TEST_FILES: kept \(scratch)")
            return
        }
        try? FileManager.default.removeItem(atPath: scratch)
    }
}

/// One node of a real-process test cluster: its pacemakerd (which starts the node's daemons)
/// and what an operator would look at: its log, its CIB through cibadmin, its processes.
public final class PacemakerNode: @unchecked Sendable {
    public let name: String
    public let root: String
    public private(set) var process: Process?
    public let out: String
    /// A command that runs pacemakerd elsewhere (`ip netns exec NS`), or empty.
    public var launcher: [String] = []

    public init(name: String, root: String) {
        self.name = name
        self.root = root
        out = root + "/pacemakerd.out"
    }

    /// `poweredByRoot`: pacemakerd itself carries SWIFTHA_ROOT, so that fencing the node
    /// (fence_swiftha) takes it down too, as a power-off would; by default it survives a
    /// fencing and starts the node's daemons again.
    public func start(daemons: String = "corosyncd,cibd,lrmd,crmd", poweredByRoot: Bool = false) throws {
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let p = Process()
        let pacemakerd = Tool.binDir.appendingPathComponent("pacemakerd")
        let arguments = ["--root", root, "--node", name, "--daemons", daemons]
        if let first = launcher.first {
            p.executableURL = URL(fileURLWithPath: first)
            p.arguments = Array(launcher.dropFirst()) + [pacemakerd.path] + arguments
        } else {
            p.executableURL = pacemakerd
            p.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        for key in ["SWIFTHA_ROOT", "SWIFTHA_NODE", "NOTIFY_SOCKET", "CIB_file"] { env.removeValue(forKey: key) }
        if poweredByRoot { env["SWIFTHA_ROOT"] = root }
        p.environment = TestDaemon.tied(env)
        exitStatus = nil
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = FileHandle(forWritingAtPath: out)
        try p.run()
        process = p
    }

    public var log: String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
    public var started: Bool { log.contains("all daemons started") }
    /// The Dummy's state file: it exists while the resource runs here.
    public var stateFile: String { root + "/run/resource-agents/Dummy-d1.state" }
    public var runsDummy: Bool { FileManager.default.fileExists(atPath: stateFile) }

    public func cibadmin(_ args: [String]) -> Tool.Result? {
        try? Tool.run("cibadmin", args, env: ["SWIFTHA_ROOT": root])
    }

    /// Runs a tool (crm_mon, corosync-quorumtool, stonith_admin, ...) on this node.
    public func tool(_ name: String, _ args: [String]) throws -> Tool.Result {
        try Tool.run(name, args, env: ["SWIFTHA_ROOT": root])
    }

    /// The elements an XPath selects in this node's CIB (through its cibd).
    public func query(_ xpath: String) -> [XElement] {
        guard let r = cibadmin(["--query", "--xpath", xpath]), r.status == 0,
              let e = try? XElement.parse(Array(r.stdout.utf8)) else { return [] }
        return e.name == "xpath-query" ? e.elements : [e]
    }

    /// The pids of this node's processes whose program is `program` (/proc/PID/comm).
    public func pids(of program: String) -> [Int32] {
        NodeProcesses.find(root: root).filter { pid in
            !NodeProcesses.isZombie(pid)
                && (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) == program
        }
    }

    /// Whether none of the node's processes runs any more (zombies aside).
    public var isDown: Bool { hasExited && NodeProcesses.find(root: root).allSatisfy(NodeProcesses.isZombie) }

    /// pacemakerd's exit status, once it has exited (reaped here with waitpid: Foundation
    /// does not always notice the exit of a child started from an async test).
    public private(set) var exitStatus: Int32?

    public var hasExited: Bool {
        if exitStatus != nil { return true }
        guard let p = process else { return true }
        var status: Int32 = 0
        let r = waitpid(p.processIdentifier, &status, WNOHANG)
        if r == p.processIdentifier {
            exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            return true
        }
        if r < 0 && errno == ECHILD && !p.isRunning {
            exitStatus = p.terminationStatus
            return true
        }
        return false
    }

    public func stop() {
        guard let p = process, !hasExited else { return }
        kill(p.processIdentifier, SIGTERM)
    }

    /// A power cut: SIGKILL to pacemakerd and every process of the node at once. The node's
    /// volatile state goes with it, as a reboot empties /run (a tmpfs): the agents' state and
    /// pid files, the sockets (left there, the probes of the node started again would find the
    /// resources it ran before the cut still "active", or failed; scripts/failover.py does
    /// the same).
    public func killAll() {
        if let p = process, !hasExited { kill(p.processIdentifier, SIGKILL) }
        NodeProcesses.killAll(root: root)
        for _ in 0..<100 where !hasExited { usleep(50_000) }
        try? FileManager.default.removeItem(atPath: root + "/run")
    }

    public func cleanUp() {
        if let p = process, !hasExited {
            kill(p.processIdentifier, SIGKILL)
            for _ in 0..<100 where !hasExited { usleep(50_000) }
        }
        for pid in NodeProcesses.find(root: root) { kill(pid, SIGKILL) }
    }
}

/// A real cluster of pacemakerd processes on 127.0.0.1...N (``TestClusterFiles``), with what
/// the process tests do with one: start it and wait until it has formed, configure a fence
/// device and a service through cibadmin, report the nodes' logs, clean up.
public final class PacemakerCluster: @unchecked Sendable {
    public let files: TestClusterFiles
    public let nodes: [PacemakerNode]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public init(nodes: Int = 3, quorumOptions: [String] = []) throws {
        let files = try TestClusterFiles(label: "cluster", nodes: nodes, quorumOptions: quorumOptions)
        self.files = files
        self.nodes = (1...nodes).map { PacemakerNode(name: files.name($0), root: files.root($0)) }
    }

    public var scratch: String { files.scratch }
    public subscript(_ i: Int) -> PacemakerNode { nodes[i - 1] }

    /// Stops every process the test started (SIGKILL, by PID and by the nodes' roots) and
    /// removes the files.
    public func tearDown() {
        for n in nodes { n.cleanUp() }
        files.tearDown()
    }

    public static let allDaemons = "corosyncd,cibd,stonithd,lrmd,crmd"

    /// Starts `which` nodes (all by default), waits until their daemons run and they have
    /// formed one cluster with node1 as the DC (``formed(_:dc:)``); throws with the nodes'
    /// logs otherwise.
    public func start(_ which: [PacemakerNode]? = nil, daemons: String = "corosyncd,cibd,lrmd,crmd", poweredByRoot: Bool = false) async throws {
        let starting = which ?? nodes
        for n in starting { try n.start(daemons: daemons, poweredByRoot: poweredByRoot) }
        guard await Self.waitFor(90, { starting.allSatisfy(\.started) }) else {
            throw Failure("not every node started:\n\(Self.report(starting))")
        }
        guard await Self.waitFor(60, { Self.formed(self.nodes.filter { !$0.hasExited }) }) else {
            throw Failure("the nodes did not form one cluster: \(nodes.map { n in "\(n.name): dc \(n.query("/cib").first?["dc-uuid"] ?? "-") states \(n.query("/cib/status/node_state").map { "\($0["uname"] ?? "?")/\($0["in_ccm"] ?? "?")/\($0["crmd"] ?? "?")/\($0["join"] ?? "?")" })" })\n\(Self.report(nodes))")
        }
    }

    /// Every node's copy of the CIB names `dc` as the DC and shows all nodes as members
    /// (node_state in_ccm, crmd online, join member): the cluster has formed. The tests act only
    /// then, so a node whose corosyncd merged late is not fenced as an unseen node (startup
    /// fencing) in the middle of a test's first commands.
    /// `dc` nil: any one node, as long as every copy names the same.
    public static func formed(_ nodes: [PacemakerNode], dc: String? = "1") -> Bool {
        guard let dc = dc ?? nodes.first?.query("/cib").first?["dc-uuid"] else { return false }
        return nodes.allSatisfy { n in
            n.query("/cib[@dc-uuid='\(dc)']").count == 1
                && n.query("/cib/status/node_state[@in_ccm='true'][@crmd='online'][@join='member']").count == nodes.count
        }
    }

    public static func waitFor(_ seconds: Double, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return await condition()
    }

    /// The last 60 lines of each node's pacemakerd output (its daemons log there).
    public static func report(_ nodes: [PacemakerNode]) -> String {
        nodes.map { "--- \($0.name):\n\($0.log.split(separator: "\n").suffix(60).joined(separator: "\n"))" }.joined(separator: "\n")
    }

    public var report: String { Self.report(nodes) }

    /// Runs a CIB-writing tool again while it exits 103 (CRM_EX_OLD: its change kept
    /// conflicting with the DC's status writes), at most 10 times.
    public static func retrying(_ body: () -> Tool.Result?) -> Tool.Result? {
        var r = body()
        for _ in 0..<10 where r?.status == 103 {
            usleep(500_000)
            r = body()
        }
        return r
    }

    /// `cibadmin --create --scope SCOPE --xml-text XML` through node1's cibd (the DC's: a
    /// change through another node's cibd can be refused with 103 when the DC's status writes
    /// keep getting in first), retried as ``retrying(_:)`` does; throws unless it succeeds.
    public func create(_ scope: String, _ xml: String) throws {
        let r = Self.retrying { nodes[0].cibadmin(["--create", "--scope", scope, "--xml-text", xml]) }
        guard r?.status == 0 else { throw Failure("cibadmin --create --scope \(scope): \(r?.status ?? -1) \(r?.stderr ?? "")\n\(xml)") }
    }

    /// `node1:/root1;node2:/root2;...`: fence_swiftha's `roots`.
    public var fenceRoots: String { nodes.map { "\($0.name):\($0.root)" }.joined(separator: ";") }

    /// A fence_swiftha device for every node of the cluster.
    public var fenceDevice: String {
        """
        <primitive id="fence" class="stonith" type="fence_swiftha"><instance_attributes id="fence-ia">\
        <nvpair id="fence-roots" name="roots" value="\(fenceRoots)"/></instance_attributes></primitive>
        """
    }

    /// The recording service (``RecordingService``) as resource `svc`: ocf:heartbeat:anything,
    /// with a monitor every 2 s; `meta`: its meta attributes.
    public func serviceXML(meta: [String: String] = [:]) -> String {
        let metaXML = meta.isEmpty ? "" : "<meta_attributes id=\"svc-meta\">"
            + meta.sorted { $0.key < $1.key }.map { "<nvpair id=\"svc-\($0.key)\" name=\"\($0.key)\" value=\"\($0.value)\"/>" }.joined()
            + "</meta_attributes>"
        return """
            <primitive id="svc" class="ocf" provider="heartbeat" type="anything"><instance_attributes id="svc-ia">\
            <nvpair id="svc-binfile" name="binfile" value="/usr/bin/env"/>\
            <nvpair id="svc-cmdline" name="cmdline_options" value="SWIFTHA_ROOT=$SWIFTHA_ROOT /usr/bin/python3 \(service.script) \(service.records)"/>\
            </instance_attributes>\(metaXML)<operations><op id="svc-monitor-2s" name="monitor" interval="2s" timeout="20s"/></operations></primitive>
            """
    }

    /// The service's script and records, in the scratch directory (written by
    /// ``configureFencedService(preferring:)``).
    public var service: RecordingService { RecordingService(directory: scratch) }

    /// Fencing through fence_swiftha for every node, and the recording service `svc`
    /// preferring `node` (score 100) when one is named.
    public func configureFencedService(preferring node: String? = nil) throws {
        try service.install()
        try create("resources", fenceDevice)
        try create("resources", serviceXML())
        if let node {
            try create("constraints", #"<rsc_location id="svc-prefers-\#(node)" rsc="svc" node="\#(node)" score="100"/>"#)
        }
    }

    /// Why the recording service cannot run here, or nil.
    public static var serviceUnavailable: String? {
        FileManager.default.isExecutableFile(atPath: "/usr/lib/ocf/resource.d/heartbeat/anything")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
            ? nil : "needs resource-agents (ocf:heartbeat:anything) and /usr/bin/python3"
    }
}

/// The service of the failover tests: ocf:heartbeat:anything, unchanged, runs this script
/// (through /usr/bin/env, which puts the node's SWIFTHA_ROOT back after the agent's `su -`,
/// so fence_swiftha finds it). Every 50 ms it appends "<root> <pid> <time>" to a file all
/// nodes share: each instance of the service says itself where and when it ran.
public struct RecordingService: Sendable {
    public let script: String
    public let records: String

    public init(directory: String) {
        script = directory + "/service.py"
        records = directory + "/service.records"
    }

    public static let source = """
        import os, sys, time
        root = os.environ.get("SWIFTHA_ROOT", "?")
        while True:
            with open(sys.argv[1], "a") as f:
                f.write("%s %d %.3f\\n" % (root, os.getpid(), time.time()))
            time.sleep(0.05)

        """

    public func install() throws {
        try Self.source.write(toFile: script, atomically: true, encoding: .utf8)
    }

    /// One run of the service: where (the node's root), its pid, its first and last record.
    public struct Run: Equatable, CustomStringConvertible, Sendable {
        public var root: String
        public var pid: Int
        public var first: Double
        public var last: Double
        public var description: String { "\((root as NSString).lastPathComponent) pid \(pid) \(first)...\(last)" }
    }

    /// The service's runs, in the order they began.
    public var runs: [Run] { Self.runs(records) }

    public static func runs(_ file: String) -> [Run] {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        var runs: [Run] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 3, let pid = Int(f[1]), let t = Double(f[2]) else { continue }
            if let i = runs.firstIndex(where: { $0.root == String(f[0]) && $0.pid == pid }) {
                runs[i].last = max(runs[i].last, t)
            } else {
                runs.append(Run(root: String(f[0]), pid: pid, first: t, last: t))
            }
        }
        return runs.sorted { $0.first < $1.first }
    }

    /// Whether the runs never overlapped, and the last one runs now (recorded within 1 s).
    public var runsOnceNow: Bool {
        let runs = self.runs
        guard let last = runs.last, Date().timeIntervalSince1970 - last.last < 1 else { return false }
        return Self.neverTwice(runs)
    }

    /// Whether each run ended before the next began: never on two nodes at once.
    public static func neverTwice(_ runs: [Run]) -> Bool {
        zip(runs, runs.dropFirst()).allSatisfy { $0.last < $1.first }
    }
}
