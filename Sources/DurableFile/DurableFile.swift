#if canImport(Glibc)
import Glibc
#endif

/// Writing a file so that a crash leaves either the old content or the new, never a mix:
/// a temporary file in the same directory, written in full, given its exact mode, flushed to
/// disk, then moved into place, and the directory flushed.
public enum DurableFile {
    /// Why a durable write failed; the target file is unchanged in every case.
    public enum Failure: Error, Sendable, Equatable {
        /// The temporary file could not be created (the directory is missing or not writable).
        case cannotCreateTemporary(directory: String, reason: String)
        /// Writing, setting the mode or flushing failed.
        case cannotWrite(reason: String)
        /// The new file could not be moved into place.
        case cannotReplace(reason: String)
        /// The target exists and replacing was not allowed.
        case exists
    }

    /// Writes `bytes` to `path` with exactly `mode`. With `replace` false, an existing file is
    /// never replaced, not even one created meanwhile (link(2) refuses an existing name).
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t, replace: Bool = true) throws(Failure) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let tmp = "\(directory)/.\(name).tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .cannotCreateTemporary(directory: directory, reason: errorText()) }
        var failure: String?
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errorText()
                    return
                }
                offset += n
            }
        }
        // The mode given to open() is masked by the umask; set it exactly.
        if failure == nil && fchmod(fd, mode) != 0 { failure = errorText() }
        if failure == nil && fsync(fd) != 0 { failure = errorText() }
        close(fd)
        if let failure {
            unlink(tmp)
            throw .cannotWrite(reason: failure)
        }
        if replace {
            guard rename(tmp, path) == 0 else {
                let why = errorText()
                unlink(tmp)
                throw .cannotReplace(reason: why)
            }
        } else {
            guard link(tmp, path) == 0 else {
                let code = errno
                let why = errorText()
                unlink(tmp)
                if code == EEXIST { throw .exists }
                throw .cannotReplace(reason: why)
            }
            unlink(tmp)
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
