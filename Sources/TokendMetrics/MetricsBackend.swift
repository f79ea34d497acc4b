import CoreMetrics
import Glibc
import Prometheus
import Synchronization
import TokendCore
import TokendPlatform
import TokendTelemetry

/// swift-metrics' backend when `metrics_listen` is set: swift-prometheus.
public enum MetricsBackend {
    /// Makes the Prometheus registry the backend of every swift-metrics
    /// object made from now on (call it before the engine and the server
    /// exist), and records `tokend_build_info`.
    public static func bootstrap(version: String) -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            Telemetry.tokenRequestDuration: Telemetry.durationBuckets.map { Duration.nanoseconds(Int64($0 * 1e9)) },
            Telemetry.fleetLockWait: Telemetry.lockWaitBuckets.map { Duration.nanoseconds(Int64($0 * 1e9)) },
        ]
        MetricsSystem.bootstrap(factory)
        Telemetry.build(version: version)
        return registry
    }
}

/// The standard `process_*` series, read from /proc at each scrape.
final class ProcessMetrics: Sendable {
    private let resident = Gauge(label: "process_resident_memory_bytes")
    private let virtualMemory = Gauge(label: "process_virtual_memory_bytes")
    private let openFDs = Gauge(label: "process_open_fds")
    private let maxFDs = Gauge(label: "process_max_fds")
    private let startTime = Gauge(label: "process_start_time_seconds")
    private let cpu = FloatingPointCounter(label: "process_cpu_seconds_total")
    /// The CPU seconds already added to the counter.
    private let lastCPU = Mutex(0.0)

    func update() {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = read("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            // Fields after "(comm)": state is field 3; utime 14, stime 15, starttime 22, vsize 23, rss 24.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 22, let utime = Double(fields[11]), let stime = Double(fields[12]),
               let start = Double(fields[19]), let vsize = Double(fields[20]), let rss = Double(fields[21]) {
                let seconds = (utime + stime) / ticks
                let delta = lastCPU.withLock { last in
                    let delta = seconds - last
                    if delta > 0 { last = seconds }
                    return delta
                }
                if delta > 0 { cpu.increment(by: delta) }
                virtualMemory.record(vsize)
                resident.record(rss * page)
                // starttime counts clock ticks since boot, on CLOCK_BOOTTIME's
                // timeline: no /proc/stat needed (ProcSubset=pid hides it).
                startTime.record(BootClock.unixTime() - (Double(BootClock.now().nanoseconds) / 1e9 - start / ticks))
            }
        }
        if let directory = opendir("/proc/self/fd") {
            var count = 0
            while let entry = readdir(directory) {
                if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
            }
            closedir(directory)
            openFDs.record(max(0, count - 1))  // less the descriptor of the listing itself
        }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFDs.record(Double(limit.rlim_cur)) }
    }

    private func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
