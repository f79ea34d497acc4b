import Glibc
import Histogram
import TokendStress
import TokendTesting

/// Formats figures for the tables the bench prints (Markdown, so they can
/// be pasted into the README as they are).
enum Report {
    static func microseconds(_ nanoseconds: UInt64) -> String { Format.microseconds(nanoseconds) }
    static func mebibytes(_ bytes: UInt64) -> String { Format.mebibytes(bytes) }
    static func fixed(_ value: Double, _ digits: Int) -> String { Format.fixed(value, digits) }
    static func thousands(_ value: Double) -> String { Format.thousands(value) }

    static func latencies(_ h: Histogram<UInt64>) -> String {
        "\(microseconds(h.valueAtPercentile(50))) / \(microseconds(h.valueAtPercentile(99))) / \(microseconds(h.valueAtPercentile(99.9))) / \(microseconds(h.max))"
    }

    /// One line about the machine: CPU model and count, kernel, date.
    static func machine() -> String {
        let cpuinfo = TestFiles.read("/proc/cpuinfo") ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingSpaces } ?? "unknown CPU"
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        strftime(&buffer, 32, "%Y-%m-%d %H:%M UTC", &parts)
        let date = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(sysconf(Int32(_SC_NPROCESSORS_ONLN))) × \(model), Linux \(kernel), \(date)"
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
