#if canImport(Glibc)
import Glibc
#endif
import HostProcesses

// fence_swiftha: the fence agent for SwiftHA test clusters whose nodes share one machine.
// It fences a node by killing every process that carries that node's SWIFTHA_ROOT, as
// fence_xvm destroys a virtual machine. It speaks the fence-agent protocol: options as
// key=value lines on stdin (what stonithd sends) or on the command line. It links the C
// library only (no Foundation): a fencing waits for its start.

let metadata = """
<?xml version="1.0" ?>
<resource-agent name="fence_swiftha" shortdesc="Fence agent for SwiftHA nodes sharing one machine">
<longdesc>Fences a SwiftHA node that runs on this machine beside others by killing all of its processes (every process whose environment has SWIFTHA_ROOT set to the node's root directory), as fence_xvm destroys a virtual machine. A reboot leaves the node off, like a power cut: it comes back when it is started again, or powered on (action on), which starts its pacemakerd.</longdesc>
<vendor-url>https://github.com/swiftha</vendor-url>
<parameters>
	<parameter name="action" unique="0" required="1">
		<getopt mixed="-o, --action=[action]" />
		<content type="string" default="reboot" />
		<shortdesc lang="en">Fencing action</shortdesc>
	</parameter>
	<parameter name="plug" unique="0" required="1" obsoletes="port">
		<getopt mixed="-n, --plug=[node]" />
		<content type="string" />
		<shortdesc lang="en">The node to fence</shortdesc>
	</parameter>
	<parameter name="port" unique="0" required="0" deprecated="1">
		<getopt mixed="-n, --plug=[node]" />
		<content type="string" />
		<shortdesc lang="en">The node to fence</shortdesc>
	</parameter>
	<parameter name="roots" unique="0" required="1">
		<getopt mixed="--roots=[node:/path;...]" />
		<content type="string" />
		<shortdesc lang="en">Each node and its root directory: node1:/path1;node2:/path2</shortdesc>
	</parameter>
	<parameter name="delay" unique="0" required="0">
		<getopt mixed="--delay=[seconds]" />
		<content type="second" default="0" />
		<shortdesc lang="en">Wait X seconds before fencing is started (off and reboot only), as every agent of fence-agents</shortdesc>
	</parameter>
	<parameter name="pacemakerd" unique="0" required="0">
		<getopt mixed="--pacemakerd=[path]" />
		<content type="string" />
		<shortdesc lang="en">The program that powers a node on (action on), run as PROGRAM --root ROOT --node NODE; default: the pacemakerd beside fence_swiftha, else /usr/sbin/pacemakerd</shortdesc>
	</parameter>
</parameters>
<actions>
	<action name="on" automatic="0"/>
	<action name="off" />
	<action name="reboot" />
	<action name="status" />
	<action name="list" />
	<action name="monitor" />
	<action name="metadata" />
	<action name="validate-all" />
</actions>
</resource-agent>
"""

func fail(_ message: String, code: Int32 = 1) -> Never {
    let bytes = Array("fence_swiftha: \(message)\n".utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

/// `s` without leading and trailing white space.
func stripped(_ s: some StringProtocol) -> String {
    guard let first = s.firstIndex(where: { !$0.isWhitespace }), let last = s.lastIndex(where: { !$0.isWhitespace }) else { return "" }
    return String(s[first...last])
}

/// Everything on stdin.
func readStandardInput() -> String {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        bytes.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Options from the command line, else from stdin (key=value per line, # comments).
func readOptions() -> [String: String] {
    var options: [String: String] = [:]
    var args = CommandLine.arguments.dropFirst()
    if args.isEmpty {
        let input = readStandardInput()
        for line in input.split(whereSeparator: \.isNewline) {
            let l = stripped(line)
            guard !l.isEmpty, !l.hasPrefix("#"), let eq = l.firstIndex(of: "=") else { continue }
            options[String(l[..<eq])] = String(l[l.index(after: eq)...])
        }
        return options
    }
    let short = ["-o": "action", "-n": "plug"]
    while let a = args.popFirst() {
        if let key = short[a] {
            guard let v = args.popFirst() else { fail("\(a) needs a value", code: 1) }
            options[key] = v
        } else if a.hasPrefix("--") {
            let body = a.dropFirst(2)
            if let eq = body.firstIndex(of: "=") {
                options[String(body[..<eq])] = String(body[body.index(after: eq)...])
            } else if let v = args.first, !v.hasPrefix("-") {
                options[String(body)] = v
                args.removeFirst()
            } else {
                options[String(body)] = "1"
            }
        } else {
            fail("unexpected argument '\(a)'; use -o ACTION -n NODE --roots=node:/path;... or key=value lines on stdin")
        }
    }
    return options
}

/// A program in the directory of this executable, if it is there.
func besideMe(_ name: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    let me = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = me.lastIndex(of: "/") else { return nil }
    let path = String(me[..<slash]) + "/" + name
    return access(path, X_OK) == 0 ? path : nil
}

let options = readOptions()
let action = (options["action"] ?? options["option"] ?? "reboot").lowercased()
if action == "metadata" {
    print(metadata)
    exit(0)
}
guard let rootsText = options["roots"] else { fail("the roots parameter is missing; give roots=node1:/path1;node2:/path2") }
let roots: NodeRoots
do { roots = try NodeRoots(rootsText) } catch { fail(error.description) }
let plug = options["plug"] ?? options["port"] ?? options["nodename"]

func target() -> (node: String, root: String) {
    guard let plug, !plug.isEmpty else { fail("no node given: set plug (or port, or nodename)") }
    guard let root = roots.root(of: plug) else {
        fail("node '\(plug)' is not in roots (\(roots.roots.map(\.node).joined(separator: ", ")))")
    }
    return (plug, root)
}

switch action {
case "list", "list-status":
    for (node, root) in roots.roots {
        if action == "list" { print("\(node),") } else { print("\(node),,\(NodeProcesses.find(root: root).isEmpty ? "off" : "on")") }
    }
case "monitor", "validate-all":
    for (node, root) in roots.roots where access(root, F_OK) != 0 {
        fail("the root of \(node), \(root), does not exist")
    }
case "status":
    let t = target()
    let on = !NodeProcesses.find(root: t.root).isEmpty
    print("Status: \(on ? "ON" : "OFF")")
    exit(on ? 0 : 2)
case "off", "reboot":
    let t = target()
    // fence-agents' delay: a wait before the power switch is touched (not for status...).
    if let text = options["delay"], !text.isEmpty {
        guard let seconds = UInt32(stripped(text)), seconds <= 3600 else {
            fail("delay '\(text)' is not a number of seconds from 0 to 3600; give delay=SECONDS")
        }
        var left = seconds
        while left > 0 { left = sleep(left) }
    }
    let left = NodeProcesses.killAll(root: t.root)
    guard left.isEmpty else { fail("could not kill every process of \(t.node): still alive: \(left.map(String.init).joined(separator: " "))") }
    print("Success: \(t.node) fenced (\(action))")
case "on":
    let t = target()
    if !NodeProcesses.find(root: t.root).isEmpty {
        print("Success: \(t.node) is already on")
        break
    }
    let launcher = options["pacemakerd"] ?? besideMe("pacemakerd") ?? "/usr/sbin/pacemakerd"
    let log = NodeProcesses.normalized(t.root) + "/var/log/pacemaker/pacemakerd.log"
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/sbin:/usr/bin:/sbin:/bin"
    switch NodeProcesses.powerOn(node: t.node, root: t.root, launcher: launcher, log: log, path: path) {
    case .failure(let e):
        fail("cannot power \(t.node) on: \(e.message)")
    case .success(let pid):
        // On once its launcher is running; a launcher that exits at once failed.
        usleep(200_000)
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            fail("cannot power \(t.node) on: \(launcher) exited at once (see \(log))")
        }
        print("Success: \(t.node) powered on (\(launcher) pid \(pid))")
    }
default:
    fail("unknown action '\(action)'; use on, off, reboot, status, list, list-status, monitor, metadata or validate-all")
}
exit(0)
