#if canImport(Glibc)
import Glibc
#endif

// The processes of the SwiftHA nodes that share one machine, read from /proc with the C
// library only: `fence_swiftha` links nothing else, so that it starts in a few milliseconds
// (a fencing waits for it; Foundation's libraries alone took 15-20 ms to load on a busy
// machine). Stonith re-exports this module.

/// The processes of one SwiftHA node on a machine that runs several: every process of a
/// node (its daemons, its agents and their children) carries SWIFTHA_ROOT=<the node's root>
/// in its environment. This is how `fence_swiftha` fences a node, the way fence_xvm destroys
/// a virtual machine: it kills all of them.
public enum NodeProcesses {
    /// The ids of the processes whose environment has SWIFTHA_ROOT equal to `root` (the
    /// caller excluded). Processes that end while being read are skipped.
    public static func find(root: String, proc: String = "/proc") -> [Int32] {
        let me = getpid()
        let wanted = Array("SWIFTHA_ROOT=\(normalized(root))".utf8)
        let slashed = wanted + [UInt8(ascii: "/")]
        var found: [Int32] = []
        for name in directoryEntries(proc) {
            guard let pid = Int32(name), pid != me, pid > 1 else { continue }
            guard let env = readFile("\(proc)/\(name)/environ") else { continue }
            for entry in env.split(separator: 0) where entry.elementsEqual(wanted) || entry.elementsEqual(slashed) {
                found.append(pid)
                break
            }
        }
        return found.sorted()
    }

    /// Kills every process of the node with SIGKILL, again and again while new ones appear
    /// (a dying daemon's child may still fork), until none is left or `attempts` rounds
    /// have passed. Returns the processes still alive (empty on success).
    @discardableResult
    public static func killAll(root: String, attempts: Int = 50, pause: useconds_t = 20_000) -> [Int32] {
        var left = find(root: root)
        var round = 0
        while !left.isEmpty && round < attempts {
            round += 1
            for pid in left { kill(pid, SIGKILL) }
            usleep(pause)
            // A killed process lingers as a zombie until its parent reaps it; a zombie runs
            // nothing, so it does not count.
            left = find(root: root).filter { !isZombie($0) }
        }
        return left
    }

    public static func isZombie(_ pid: Int32) -> Bool {
        guard let bytes = readFile("/proc/\(pid)/stat"), let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return true }
        let state = bytes[bytes.index(after: close)...].first { $0 != UInt8(ascii: " ") }
        return state == UInt8(ascii: "Z") || state == UInt8(ascii: "X")
    }

    /// A root without a trailing slash (but "/" stays "/").
    public static func normalized(_ root: String) -> String {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        return r
    }

    /// Powers a node on: starts `launcher --root ROOT --node NODE` (the node's pacemakerd) in
    /// a session of its own, detached from the caller, with SWIFTHA_ROOT and SWIFTHA_NODE set
    /// and its output appended to `log`. Returns the launcher's pid, or an error in words.
    public static func powerOn(node: String, root: String, launcher: String, log: String, path: String) -> Result<Int32, PowerOnError> {
        guard access(launcher, X_OK) == 0 else { return .failure(PowerOnError(message: "\(launcher) is not an executable program")) }
        // The log's directory, made as `mkdir -p` would.
        var dir = ""
        for part in log.split(separator: "/").dropLast() {
            dir += "/" + part
            if mkdir(dir, 0o755) != 0 && errno != EEXIST { return .failure(PowerOnError(message: "cannot create \(dir): \(String(cString: strerror(errno)))")) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of the caller's: a caller waiting for the end of its pipes or sockets
        // (stonithd reading the agent's output) must not wait for the node.
        for name in directoryEntries("/proc/self/fd") {
            if let fd = Int32(name), fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A session of its own: the node outlives the fencer that powered it on.
        // (POSIX_SPAWN_SETSID is glibc's 0x80; Swift does not see the GNU-only macro.)
        let setsid: Int32 = 0x80
        posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        let argv = [launcher, "--root", root, "--node", node]
        let envp = ["SWIFTHA_ROOT=\(root)", "SWIFTHA_NODE=\(node)", "PATH=\(path)"]
        var cArgs = argv.map { strdup($0) } + [nil]
        var cEnv = envp.map { strdup($0) } + [nil]
        defer { for p in cArgs + cEnv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, launcher, &actions, &attributes, &cArgs, &cEnv)
        guard rc == 0 else { return .failure(PowerOnError(message: "cannot start \(launcher): \(String(cString: strerror(rc)))")) }
        return .success(pid)
    }

    /// The names in a directory ([] when it cannot be read).
    static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A whole file's bytes (nil when it cannot be opened).
    public static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
        }
    }
}

/// Why a node could not be powered on.
public struct PowerOnError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The `roots` parameter of fence_swiftha: `node1:/path1;node2:/path2`.
public struct NodeRoots: Sendable, Equatable {
    public var roots: [(node: String, root: String)]

    public static func == (a: NodeRoots, b: NodeRoots) -> Bool {
        a.roots.map(\.node) == b.roots.map(\.node) && a.roots.map(\.root) == b.roots.map(\.root)
    }

    /// Parses the parameter; an error names the part that is wrong and the right form.
    public init(_ text: String) throws(NodeRootsError) {
        var out: [(String, String)] = []
        for part in text.split(separator: ";", omittingEmptySubsequences: true) {
            let p = trimmed(part)
            guard let colon = p.firstIndex(of: ":") else {
                throw NodeRootsError(message: "roots: '\(p)' has no ':'; write node:/path, separated by ';' (node1:/srv/n1;node2:/srv/n2)")
            }
            let node = String(p[..<colon]), root = String(p[p.index(after: colon)...])
            guard !node.isEmpty, root.hasPrefix("/") else {
                throw NodeRootsError(message: "roots: '\(p)' needs a node name and an absolute path (node1:/srv/n1)")
            }
            if out.contains(where: { $0.0 == node }) { throw NodeRootsError(message: "roots: node '\(node)' is listed twice") }
            out.append((node, root))
        }
        guard !out.isEmpty else { throw NodeRootsError(message: "roots is empty; write node:/path, separated by ';'") }
        roots = out
    }

    public func root(of node: String) -> String? { roots.first { $0.node == node }?.root }
}

public struct NodeRootsError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// `s` without leading and trailing spaces and tabs.
func trimmed(_ s: some StringProtocol) -> String {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
    guard let first = s.firstIndex(where: { !isSpace($0) }), let last = s.lastIndex(where: { !isSpace($0) }) else { return "" }
    return String(s[first...last])
}
