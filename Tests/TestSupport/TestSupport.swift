import Foundation

/// What the test suites share: where ../shared is, a repeatable random generator, and a way
/// to run the built tools as an operator would.

/// SplitMix64: a small deterministic generator, so that random tests repeat exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The shared data beside the project (../shared), or where SWIFTHA_SHARED points.
public enum SharedData {
    public static var directory: String? {
        let env = ProcessInfo.processInfo.environment["SWIFTHA_SHARED"]
        let beside = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared").path
        for d in [env, beside].compactMap({ $0 })
        where FileManager.default.fileExists(atPath: d + "/conformance") || FileManager.default.fileExists(atPath: d + "/peer") {
            return d
        }
        return nil
    }

    /// The text of a file under ../shared, or nil (with a printed reason) when it is absent.
    public static func text(_ relative: String) -> String? {
        guard let dir = directory,
              let text = try? String(contentsOfFile: dir + "/" + relative, encoding: .utf8) else {
            print("SKIPPED: ../shared/\(relative) is not present (set SWIFTHA_SHARED); that sample was not checked")
            return nil
        }
        return text
    }

    /// Pacemaker's scheduler regression suite.
    public static var schedulerSuite: String? {
        directory.map { $0 + "/conformance/pacemaker-scheduler" }
    }

    /// The suite's input CIBs, sorted; empty (with a printed reason) when ../shared is absent.
    public static var conformanceFiles: [String] {
        guard let dir = schedulerSuite.map({ $0 + "/xml" }),
              let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            print("SKIPPED: ../shared/conformance is not present (set SWIFTHA_SHARED); the conformance inputs were not checked")
            return []
        }
        return names.filter { $0.hasSuffix(".xml") }.sorted().map { dir + "/" + $0 }
    }
}

/// Runs a built tool (found beside the test bundle) with arguments, environment and input.
public enum Tool {
    public static var binDir: URL {
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        return dir
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public static func run(_ name: String, _ args: [String], env: [String: String] = [:], stdin: String? = nil) throws -> Result {
        try run(executable: binDir.appendingPathComponent(name).path, args, env: env, stdin: stdin)
    }

    /// Runs any executable (Pacemaker's tools, for a side-by-side test) the same way.
    public static func run(executable: String, _ args: [String], env: [String: String] = [:], stdin: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        // The tool sees only what the test gives it of SwiftHA's own settings.
        var environment = ProcessInfo.processInfo.environment
        for key in ["CIB_file", "SWIFTHA_ROOT", "SWIFTHA_NODE"] { environment.removeValue(forKey: key) }
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

/// A fresh scratch directory, removed by the caller.
public func scratchDirectory(_ label: String) -> String {
    let d = NSTemporaryDirectory() + "swiftha-\(label)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// Simulated events in time order: a binary min-heap on (time, order of scheduling).
public struct EventQueue<Payload> {
    public struct Entry {
        public var time: Int64
        public var order: Int
        public var payload: Payload

        public init(time: Int64, order: Int, payload: Payload) {
            self.time = time
            self.order = order
            self.payload = payload
        }
    }

    public var heap: [Entry] = []

    public init() {}

    public static func less(_ a: Entry, _ b: Entry) -> Bool { (a.time, a.order) < (b.time, b.order) }

    public mutating func push(_ e: Entry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard Self.less(heap[i], heap[p]) else { break }
            heap.swapAt(i, p)
            i = p
        }
    }

    public mutating func pop() -> Entry? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && Self.less(heap[l], heap[m]) { m = l }
            if r < heap.count && Self.less(heap[r], heap[m]) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return top
    }
}

/// What a test puts in the environment of a daemon it starts, so that the daemon stops when
/// the test process exits, killed included (HASupport's ParentWatch): no daemon outlives a
/// test run that was interrupted.
public enum TestDaemon {
    public static let dieWithParent = ("SWIFTHA_DIE_WITH_PARENT", String(ProcessInfo.processInfo.processIdentifier))

    /// `environment` with the entry that ties the daemon to this test process.
    public static func tied(_ environment: [String: String]) -> [String: String] {
        var e = environment
        e[dieWithParent.0] = dieWithParent.1
        return e
    }
}
