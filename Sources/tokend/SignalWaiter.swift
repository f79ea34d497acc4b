import CEarlySignals
import CProcessShim
import Glibc
import TokendPlatform

/// SIGHUP, SIGTERM and SIGINT as an async sequence. The C handler only
/// writes the signal's number to a pipe (the self-pipe pattern); a thread of
/// its own reads the pipe and hands each signal to the daemon's task. This
/// works whatever thread the kernel picks: under an async `main`, Dispatch
/// parks the main thread in `sigsuspend` with an empty mask, so a mask set
/// in `main` with `sigwait` elsewhere would let SIGTERM kill the process.
enum SignalWaiter {
    /// Installs the handlers and starts the reading thread. It lives until
    /// the process exits and holds nothing but the stream's continuation.
    static func signals() throws -> AsyncStream<Int32> {
        // The handlers went in before main (CEarlySignals); signals that came
        // since then wait in the pipe.
        let early = tokend_early_signal_pipe()
        let fd = early >= 0 ? early : tokend_signal_pipe_open()
        guard fd >= 0 else { throw StartupError("cannot install the signal handlers: \(errnoText(errno))") }
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let context = Unmanaged.passRetained(Reader(fd: fd, continuation: continuation)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { context in
            let reader = Unmanaged<Reader>.fromOpaque(context!).takeRetainedValue()
            while true {
                let signal = tokend_signal_pipe_next(reader.fd)
                if signal < 0 { break }
                reader.continuation.yield(signal)
            }
            reader.continuation.finish()
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<Reader>.fromOpaque(context).release()
            throw StartupError("cannot start the signal thread: \(errnoText(created))")
        }
        pthread_detach(thread)
        return stream
    }

    private final class Reader {
        let fd: Int32
        let continuation: AsyncStream<Int32>.Continuation
        init(fd: Int32, continuation: AsyncStream<Int32>.Continuation) {
            self.fd = fd
            self.continuation = continuation
        }
    }
}
