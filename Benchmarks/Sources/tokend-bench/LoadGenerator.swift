import Foundation
import Glibc
import TokendTesting
import Histogram

/// What a load run measured.
struct LoadResult {
    var completed: UInt64 = 0
    /// Answers that were not `OK ...`, and connections lost mid-run.
    var errors: UInt64 = 0
    var seconds: Double = 0
    /// Latency of each request in nanoseconds, from writing it to reading its answer.
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    var perSecond: Double { seconds > 0 ? Double(completed) / seconds : 0 }

    mutating func merge(_ other: LoadResult) {
        completed += other.completed
        errors += other.errors
        seconds = max(seconds, other.seconds)
        latency.add(other.latency)
    }
}

/// A closed-loop load generator: every connection keeps `depth` requests
/// outstanding, writing a new one for each answer it reads. One poll(2)
/// loop per thread (Glibc's Swift module has no epoll; for a few dozen
/// connections poll costs the same); the measuring loop allocates nothing.
enum LoadGenerator {
    struct Plan {
        var socket: String
        var requestLine: String = "GET demo\n"
        var connections: Int
        var depth: Int
        var threads: Int = 1
        /// Stop after this many answers in all (split across threads)...
        var requests: UInt64? = nil
        /// ...or after this long, whichever comes first.
        var seconds: Double? = nil
    }

    static func run(_ plan: Plan) -> LoadResult {
        let threads = max(1, min(plan.threads, plan.connections))
        let storage = UnsafeMutableBufferPointer<LoadResult>.allocate(capacity: threads)
        storage.initialize(repeating: LoadResult())
        defer { storage.deallocate() }
        nonisolated(unsafe) let results = storage  // each thread writes its own slot
        let group = DispatchGroup()
        for t in 0..<threads {
            let share = plan.connections / threads + (t < plan.connections % threads ? 1 : 0)
            let quota = plan.requests.map { $0 / UInt64(threads) }
            group.enter()
            let thread = Thread {
                results[t] = runLoop(plan, connections: share, quota: quota)
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        var total = LoadResult()
        for r in results { total.merge(r) }
        return total
    }

    private struct Connection {
        var fd: Int32
        var head = 0
        var outstanding = 0
        var atLineStart = true
        var lineIsOK = true
        var open = true
    }

    private static func runLoop(_ plan: Plan, connections count: Int, quota: UInt64?) -> LoadResult {
        var result = LoadResult()
        let depth = plan.depth
        let request = Array(plan.requestLine.utf8)
        let batch = UnsafeMutableRawBufferPointer.allocate(byteCount: request.count * depth, alignment: 1)
        defer { batch.deallocate() }
        for i in 0..<depth { (batch.baseAddress! + i * request.count).copyMemory(from: request, byteCount: request.count) }
        let sentAt = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: count * depth)
        defer { sentAt.deallocate() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        var conns: [Connection] = []
        conns.reserveCapacity(count)
        for _ in 0..<count {
            guard let fd = LineClient.connectDescriptor(plan.socket) else { result.errors += 1; continue }
            conns.append(Connection(fd: fd))
        }
        var polled = conns.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        defer { for c in conns { close(c.fd) } }
        let started = Clocks.monotonic()
        let deadline = plan.seconds.map { started + UInt64($0 * 1e9) } ?? UInt64.max
        var active = conns.count
        var stopping = false

        func refill(_ index: Int, now: UInt64) {
            let k = depth - conns[index].outstanding
            guard k > 0 else { return }
            let base = index * depth
            var slot = (conns[index].head + conns[index].outstanding) % depth
            for _ in 0..<k {
                sentAt[base + slot] = now
                slot = slot + 1 == depth ? 0 : slot + 1
            }
            conns[index].outstanding = depth
            if !LineClient.writeAll(conns[index].fd, UnsafeRawBufferPointer(rebasing: batch[0..<(k * request.count)])) {
                conns[index].open = false
            }
        }

        let now0 = Clocks.monotonic()
        for i in conns.indices { refill(i, now: now0) }
        while active > 0 {
            let n = polled.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), 1000) }
            if n < 0, errno == EINTR { continue }
            let now = Clocks.monotonic()
            if !stopping, now >= deadline || (quota.map { result.completed >= $0 } ?? false) {
                stopping = true
                for i in conns.indices where conns[i].open && conns[i].outstanding == 0 {
                    conns[i].open = false
                    polled[i].fd = -1
                    active -= 1
                }
            }
            if n <= 0 { continue }
            for index in polled.indices where polled[index].revents != 0 {
                polled[index].revents = 0
                guard conns[index].open else { continue }
                let got = recv(conns[index].fd, buffer.baseAddress, buffer.count, 0)
                if got <= 0 {
                    result.errors += UInt64(conns[index].outstanding)
                    conns[index].open = false
                    polled[index].fd = -1
                    active -= 1
                    continue
                }
                var c = conns[index]
                let base = index * depth
                for i in 0..<got {
                    let byte = buffer[i]
                    if c.atLineStart {
                        c.lineIsOK = byte == UInt8(ascii: "O")
                        c.atLineStart = false
                    }
                    if byte == 10 {
                        result.latency.record(now &- sentAt[base + c.head])
                        c.head = c.head + 1 == depth ? 0 : c.head + 1
                        c.outstanding -= 1
                        result.completed += 1
                        if !c.lineIsOK { result.errors += 1 }
                        c.atLineStart = true
                    }
                }
                conns[index] = c
                if stopping {
                    if c.outstanding == 0 {
                        conns[index].open = false
                        polled[index].fd = -1
                        active -= 1
                    }
                } else {
                    refill(index, now: now)
                    if !conns[index].open { polled[index].fd = -1; active -= 1 }
                }
            }
        }
        result.seconds = Double(Clocks.monotonic() - started) / 1e9
        return result
    }
}

