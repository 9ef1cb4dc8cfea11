import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Turns signals into calls of a handler, for the daemons' shells: each signal's default
/// action is switched off (`SIG_IGN`) and a dispatch source reports it instead, so the shell
/// can shut down in order. Keep the value for as long as the signals should be watched;
/// `cancel()` stops watching.
public final class SignalWatch {
    private let sources: [DispatchSourceSignal]

    public init(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        sources = signals.map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { handler(sig) }
            source.resume()
            return source
        }
    }

    public func cancel() {
        for s in sources { s.cancel() }
    }
}
