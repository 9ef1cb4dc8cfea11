import CSystemd
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EssentialsExtras

#if canImport(Glibc)
import Glibc
#endif

/// Makes a daemon stop when the process that started it exits, when that process asks for it
/// by putting a PID in `SWIFTHA_DIE_WITH_PARENT`: its own (tests do, so that a killed test run
/// leaves no daemon behind), or the one it was itself told to watch (pacemakerd passes its
/// own value on, so that the daemons of a test's pacemakerd stop with the test too).
///
/// `prctl(PR_SET_PDEATHSIG)` is not used: it fires when the *thread* that forked the child
/// exits, and both the test runner and pacemakerd spawn from pool threads that come and go.
/// A pidfd of the process reports the exit of the whole process instead.
public enum ParentWatch {
    public static let variable = "SWIFTHA_DIE_WITH_PARENT"

    /// The process being watched, once `start` found the variable.
    public private(set) nonisolated(unsafe) static var watched: pid_t?
    private nonisolated(unsafe) static var sources: [any DispatchSourceProtocol] = []

    /// Reads (and removes, so that agents do not inherit it) `SWIFTHA_DIE_WITH_PARENT`. The
    /// exit of the process it names sends this process SIGTERM (its normal shutdown), and
    /// SIGKILL 30 s later if that shutdown hangs. When that process is already gone, this
    /// process exits at once. Call it first thing in a daemon's `run()`.
    public static func start(program: String) {
        guard let raw = getenv(variable) else { return }
        let value = String(cString: raw)
        unsetenv(variable)
        guard let expected = pid_t(value), expected > 0 else {
            say("\(program): ignoring \(variable)=\(value): it must be the PID of the process that started \(program)")
            return
        }
        // The pidfd is opened first: when `expected` is the parent and getppid() still says
        // so afterwards, the pidfd refers to it and reports its exit however soon it comes.
        // (Another process, named by a parent that was told to watch it, is taken by its PID.)
        let fd = pidfd_open(expected, 0)
        guard getppid() == expected || fd >= 0 else {
            say("\(program): the process it was to stop with (PID \(expected)) has already exited; not starting")
            exit(0)
        }
        watched = expected
        let queue = DispatchQueue(label: "parent-watch")
        if fd >= 0 {
            let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            source.setEventHandler {
                source.cancel()
                parentExited(program: program, parent: expected, queue: queue)
            }
            source.setCancelHandler { close(fd) }
            source.resume()
            sources.append(source)
        } else {
            // No pidfd (a kernel before 5.3): look at the parent once a second.
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now() + .seconds(1), repeating: .seconds(1))
            timer.setEventHandler {
                guard getppid() != expected else { return }
                timer.cancel()
                parentExited(program: program, parent: expected, queue: queue)
            }
            timer.resume()
            sources.append(timer)
        }
    }

    private static func parentExited(program: String, parent: pid_t, queue: DispatchQueue) {
        say("\(program): the process it stops with (PID \(parent)) exited: stopping")
        kill(getpid(), SIGTERM)
        queue.asyncAfter(deadline: .now() + .seconds(30)) {
            say("\(program): still running 30 s after its parent exited: killing itself")
            kill(getpid(), SIGKILL)
        }
    }

    private static func say(_ line: String) {
        writeStandardError(line + "\n")
    }
}
