import Glibc

/// Waits until `fd` has something to read (or is closed) or `deadline`
/// (CLOCK_MONOTONIC nanoseconds) passes; true when readable.
func waitReadable(_ fd: Int32, until deadline: UInt64) -> Bool {
    let now = Clocks.monotonic()
    guard now < deadline else { return false }
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&p, 1, Int32((deadline - now) / 1_000_000) + 1) > 0
}
