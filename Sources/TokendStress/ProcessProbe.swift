import Glibc
import TokendTesting

/// What /proc says about a process: memory, CPU time, descriptors.
public struct ProcessProbe {
    public let pid: pid_t

    public init(pid: pid_t) {
        self.pid = pid
    }

    /// Resident set size in bytes (VmRSS).
    public var residentBytes: UInt64 {
        guard let text = TestFiles.read("/proc/\(pid)/status") else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kb = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { UInt64($0) } ?? 0
            return kb * 1024
        }
        return 0
    }

    /// CPU time of every thread, in nanoseconds (schedstat: nanosecond resolution,
    /// unlike the 10 ms ticks of /proc/PID/stat).
    public var cpuNanoseconds: UInt64 {
        var total: UInt64 = 0
        for task in ProcessProbe.list("/proc/\(pid)/task") {
            if let text = TestFiles.read("/proc/\(pid)/task/\(task)/schedstat"),
               let first = text.split(separator: " ").first, let ns = UInt64(first) {
                total += ns
            }
        }
        return total
    }

    /// Open file descriptors.
    public var openDescriptors: Int { ProcessProbe.list("/proc/\(pid)/fd").count }

    public static func list(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }
}
