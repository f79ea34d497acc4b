import Glibc

/// Takes SIGHUP, SIGTERM and SIGINT synchronously with `sigwait` on the main
/// thread. The signals are blocked before any thread starts, so every
/// thread inherits the mask and no code ever runs in a signal handler.
enum SignalWaiter {
    static let handled: [Int32] = [SIGHUP, SIGTERM, SIGINT]

    /// Call first thing in main, before any thread exists.
    static func blockSignals() {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// Waits for the next handled signal.
    static func next() -> Int32 {
        var set = signalSet()
        var signal: Int32 = 0
        while sigwait(&set, &signal) != 0 {}
        return signal
    }

    static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handled { sigaddset(&set, signal) }
        return set
    }
}
