// What the libraries and daemons need beyond FoundationEssentials (README, "Benchmarks", memory):
// the few helpers of Foundation proper they used (trimming, padding, paths, printf-style
// numbers, standard error, a plain thread). Foundation proper loads libFoundation,
// FoundationInternationalization and ICU into every process that links it, several MB of
// resident memory per daemon; FoundationEssentials alone does not.
//
// Names differ from Foundation's on purpose: code that imports Foundation too (tools, tests)
// sees both without ambiguity. Each helper behaves as the Foundation call it replaces.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Unicode.Scalar {
    /// A member of Foundation's `CharacterSet.whitespaces` (CoreFoundation's set): tab, space,
    /// no-break space, U+1680, U+2000 to U+200B, U+202F, U+205F and U+3000.
    @inlinable
    public var isSpaceOrTab: Bool {
        switch value {
        case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// A member of Foundation's `CharacterSet.whitespacesAndNewlines`: the above, U+000A to
    /// U+000D, U+0085, U+2028 and U+2029.
    @inlinable
    public var isWhitespaceOrNewline: Bool {
        switch value {
        case 0x0A...0x0D, 0x85, 0x2028, 0x2029: return true
        default: return isSpaceOrTab
        }
    }
}

extension StringProtocol {
    /// `trimmingCharacters(in: .whitespacesAndNewlines)`.
    public func trimmingWhitespace() -> String {
        trimmingScalars(where: \.isWhitespaceOrNewline)
    }

    /// `trimmingCharacters(in: .whitespaces)`: spaces and tabs, not newlines.
    public func trimmingSpaces() -> String {
        trimmingScalars(where: \.isSpaceOrTab)
    }

    /// Drops the leading and trailing Unicode scalars that match, as Foundation's trimming does.
    public func trimmingScalars(where drop: (Unicode.Scalar) -> Bool) -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !drop($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !drop($0) })!
        var kept = String.UnicodeScalarView()
        kept.append(contentsOf: scalars[first...last])
        return String(kept)
    }

    /// `replacingOccurrences(of: target, with: replacement)`, matched byte for byte in UTF-8 (as
    /// Foundation matches UTF-16 units), so "\n" is found inside "\r\n" too.
    public func replacingEvery(_ target: String, with replacement: String) -> String {
        let text = Array(utf8), needle = Array(target.utf8)
        guard !needle.isEmpty, text.count >= needle.count else { return String(self) }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if i + needle.count <= text.count && text[i] == needle[0] && text[i..<i + needle.count].elementsEqual(needle) {
                out.append(contentsOf: replacement.utf8)
                i += needle.count
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `padding(toLength: length, withPad: " ", startingAt: 0)`: cut or filled with spaces to
    /// exactly `length` characters.
    public func padded(toLength length: Int) -> String {
        let n = count
        if n >= length { return String(prefix(length)) }
        return String(self) + String(repeating: " ", count: length - n)
    }
}

/// NSString's `deletingLastPathComponent`: "/a/b/c" and "/a/b/c/" give "/a/b", "/a" gives "/",
/// "a" gives "".
public func deletingLastPathComponent(_ path: String) -> String {
    var s = Substring(path)
    while s.count > 1 && s.hasSuffix("/") { s = s.dropLast() }
    guard let slash = s.lastIndex(of: "/") else { return "" }
    var head = s[..<slash]
    while head.hasSuffix("/") { head = head.dropLast() }
    if head.isEmpty { return s.hasPrefix("/") ? "/" : "" }
    return String(head)
}

/// `String(format: "%.<decimals>f", value)`.
public func fixedPoint(_ value: Double, decimals: Int) -> String {
    var buffer = [CChar](repeating: 0, count: 512)
    let n = withVaList([Int32(decimals), value]) { vsnprintf(&buffer, buffer.count, "%.*f", $0) }
    if n >= 0 && Int(n) < buffer.count {
        return String(decoding: buffer[..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    return "\(value)"
}

/// `String(format: "%0<width>d", value)` (and "%02X" with `radix: 16, uppercase: true`).
public func zeroPadded<T: BinaryInteger>(_ value: T, width: Int, radix: Int = 10, uppercase: Bool = false) -> String {
    let digits = String(value.magnitude, radix: radix, uppercase: uppercase)
    let sign = value < 0 ? "-" : ""
    let fill = max(0, width - sign.count - digits.count)
    return sign + String(repeating: "0", count: fill) + digits
}

/// `writeStandardError(text)`: one unbuffered write(2), repeated on a
/// short write or an interruption.
public func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + done, $0.count - done) }
        if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { return }
    }
}

/// `Thread.detachNewThread(body)`: a detached thread of its own, for a blocking call (a
/// waitpid, a D-Bus wait) that must not hold a cooperative thread of Swift's pool.
public func detachThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    if rc != 0 {
        Unmanaged<Box>.fromOpaque(box).release()
        fatalError("pthread_create failed: \(String(cString: strerror(rc)))")
    }
    pthread_detach(thread)
}

/// `NSLock`: a plain (non-recursive) pthread mutex.
public final class ThreadLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// Why a file operation failed, for a message, where `error.localizedDescription` was used: the
/// system's text for the errno under a FileManager or Data error ("Permission denied"), else
/// the error's own description.
public func failureReason(_ error: any Error) -> String {
    if let e = error as? POSIXError { return String(cString: strerror(e.code.rawValue)) }
    if let e = error as? CocoaError, let u = e.underlying as? POSIXError {
        return String(cString: strerror(u.code.rawValue))
    }
    return "\(error)"
}
