import NIOConcurrencyHelpers

/// Formats figures for the tables the runs print (Markdown, so they can be
/// pasted into the README as they are).
public enum Format {
    public static func microseconds(_ nanoseconds: UInt64) -> String {
        let us = Double(nanoseconds) / 1000
        return us < 1000 ? fixed(us, 0) + " µs" : fixed(us / 1000, 2) + " ms"
    }

    public static func mebibytes(_ bytes: UInt64) -> String { fixed(Double(bytes) / 1_048_576, 1) + " MiB" }

    public static func fixed(_ value: Double, _ digits: Int) -> String {
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

    public static func thousands(_ value: Double) -> String {
        let whole = String(Int(value.rounded()))
        var out = ""
        for (i, c) in whole.reversed().enumerated() {
            if i > 0, i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }
}

/// The lines a run reports: printed as they come (tokend-bench) and kept,
/// so that the test suite can read them after an in-process run.
public final class RunReport: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    private let echo: Bool

    public init(echo: Bool = true) {
        self.echo = echo
    }

    public func line(_ text: String) {
        if echo { print(text) }
        lines.withLockedValue { $0.append(text) }
    }

    public var text: String { lines.withLockedValue { $0.joined(separator: "\n") } }
}
