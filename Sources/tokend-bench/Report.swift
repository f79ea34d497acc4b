import Glibc
import Histogram

/// Formats figures for the tables the bench prints (Markdown, so they can
/// be pasted into the README as they are).
enum Report {
    static func microseconds(_ nanoseconds: UInt64) -> String {
        let us = Double(nanoseconds) / 1000
        return us < 1000 ? fixed(us, 0) + " µs" : fixed(us / 1000, 2) + " ms"
    }

    static func mebibytes(_ bytes: UInt64) -> String { fixed(Double(bytes) / 1_048_576, 1) + " MiB" }

    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "n/a" }
        var factor = 1.0
        for _ in 0..<digits { factor *= 10 }
        let rounded = (value * factor).rounded() / factor
        var text = String(rounded)
        if digits == 0, text.hasSuffix(".0") { text.removeLast(2) }
        if digits > 0 {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            let fraction = parts.count > 1 ? String(parts[1]) : ""
            text = String(parts[0]) + "." + fraction + String(repeating: "0", count: max(0, digits - fraction.count))
        }
        return text
    }

    static func thousands(_ value: Double) -> String {
        let whole = String(Int(value.rounded()))
        var out = ""
        for (i, c) in whole.reversed().enumerated() {
            if i > 0, i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    static func latencies(_ h: Histogram<UInt64>) -> String {
        "\(microseconds(h.valueAtPercentile(50))) / \(microseconds(h.valueAtPercentile(99))) / \(microseconds(h.valueAtPercentile(99.9))) / \(microseconds(h.max))"
    }

    /// One line about the machine: CPU model and count, kernel, date.
    static func machine() -> String {
        let cpuinfo = ProcessProbe.read("/proc/cpuinfo") ?? ""
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
