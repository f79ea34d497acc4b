import TokendPlatform

/// Parses configuration durations: a number of seconds (`30`, `2.5`, or
/// the same digits as a string), or a string of one or more number-unit
/// pairs (`"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1m30s"`). Only plain decimal
/// digits are numbers: no exponent, sign, `inf`, `nan` or hex float, which
/// `Double(_:)` would accept. The range is the caller's, one for every spelling.
public enum DurationParser {
    public static func parse(_ text: String) -> TimeSpan? {
        let trimmed = Substring(text.trimmingSpaces)
        guard !trimmed.isEmpty else { return nil }
        if let seconds = decimal(trimmed) { return checked(seconds) }
        var total: Double = 0
        var rest = trimmed
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard let value = decimal(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            case "d": scale = 86_400
            default: return nil
            }
            total += value * scale
        }
        return checked(total)
    }

    /// Seconds as a `TimeSpan`, when finite and below a billion seconds
    /// (far beyond any key's range, and far from `Int64` nanoseconds' end).
    public static func checked(_ seconds: Double) -> TimeSpan? {
        guard seconds.isFinite, seconds >= 0, seconds < 1e9 else { return nil }
        return .seconds(seconds)
    }

    /// `digits[.digits]`, nothing else.
    static func decimal(_ text: Substring) -> Double? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.utf8.count <= 12,
              whole.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].utf8.count <= 9, parts[1].utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        }
        return Double(text)
    }
}

/// The range of values each duration key accepts, whatever its spelling.
public enum DurationRange {
    public static let idleTimeout = TimeSpan.milliseconds(100)...TimeSpan.seconds(86_400 as Int64)
    public static let retry = TimeSpan.milliseconds(10)...TimeSpan.seconds(86_400 as Int64)
    public static let timeout = TimeSpan.milliseconds(100)...TimeSpan.seconds(3600 as Int64)
    public static let defaultTTL = TimeSpan.seconds(1 as Int64)...maximumTokenLifetime
    public static let assertionLifetime = TimeSpan.seconds(10 as Int64)...TimeSpan.seconds(300 as Int64)

    /// "from 100ms to 1d"-style words for error messages.
    public static func describe(_ range: ClosedRange<TimeSpan>) -> String {
        "from \(range.lowerBound) to \(range.upperBound)"
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
