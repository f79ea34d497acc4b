/// Parses one request line (without its LF; a trailing CR is ignored) into a `Request`.
///
/// It works on raw bytes so that the server can call it on the bytes it
/// received without building a `String` for the whole line first. Verbs are
/// ASCII and compared case-insensitively; words are separated by runs of
/// spaces or tabs. Anything else (control bytes, invalid UTF-8, unknown
/// verbs, wrong argument counts) is a `RequestSyntaxError`.
public enum RequestLineParser {
    public static func parse(_ line: String) -> Result<Request, RequestSyntaxError> {
        var copy = line
        return copy.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    public static func parse(_ bytes: some Collection<UInt8>) -> Result<Request, RequestSyntaxError> {
        let array = Array(bytes)
        return array.withUnsafeBytes { parse($0) }
    }

    public static func parse(_ line: UnsafeRawBufferPointer) -> Result<Request, RequestSyntaxError> {
        var end = line.count
        if end > 0, line[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        if end > ProtocolLimits.maximumLineLength {
            return .failure(RequestSyntaxError("request line longer than \(ProtocolLimits.maximumLineLength) bytes"))
        }

        // Split into at most three words, remembering byte ranges (in a
        // fixed-size value: no allocation per request).
        var words = Words()
        var index = 0
        while index < end {
            let byte = line[index]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                index += 1
                continue
            }
            let start = index
            while index < end, line[index] != UInt8(ascii: " "), line[index] != UInt8(ascii: "\t") {
                let b = line[index]
                if b < 0x20 || b == 0x7F {
                    return .failure(RequestSyntaxError("control character in request"))
                }
                index += 1
            }
            if words.count == 3 {
                return .failure(RequestSyntaxError("too many words in request"))
            }
            words.append(start..<index)
        }
        guard words.count > 0 else {
            return .failure(RequestSyntaxError("empty request"))
        }
        let verbRange = words[0]
        guard let verb = Verb(line, verbRange) else {
            return .failure(RequestSyntaxError(unknownVerbMessage(line, verbRange)))
        }
        let arguments = words.arguments

        switch verb {
        case .get, .header:
            guard (1...2).contains(arguments.count) else {
                return .failure(RequestSyntaxError("usage: \(verb.label) PROFILE [MIN_TTL]"))
            }
            let profile: String
            switch profileName(line, arguments[arguments.startIndex]) {
            case .success(let p): profile = p
            case .failure(let e): return .failure(e)
            }
            var minTTL: Int?
            if arguments.count == 2 {
                guard let value = decimal(line, arguments[arguments.startIndex + 1]) else {
                    return .failure(RequestSyntaxError("MIN_TTL must be a whole number of seconds from 0 to \(ProtocolLimits.maximumMinTTL)"))
                }
                minTTL = value
            }
            return .success(verb == .get ? .get(profile: profile, minTTL: minTTL) : .header(profile: profile, minTTL: minTTL))
        case .refresh:
            guard arguments.count == 1 else { return .failure(RequestSyntaxError("usage: REFRESH PROFILE")) }
            return profileName(line, arguments[arguments.startIndex]).map { .refresh(profile: $0) }
        case .status:
            guard arguments.count <= 1 else { return .failure(RequestSyntaxError("usage: STATUS [PROFILE]")) }
            if let range = arguments.first {
                return profileName(line, range).map { .status(profile: $0) }
            }
            return .success(.status(profile: nil))
        case .list, .ping, .version, .quit:
            guard arguments.isEmpty else {
                return .failure(RequestSyntaxError("\(verb.label) takes no argument"))
            }
            switch verb {
            case .list: return .success(.list)
            case .ping: return .success(.ping)
            case .version: return .success(.version)
            default: return .success(.quit)
            }
        case .invalid:
            return .failure(RequestSyntaxError(unknownVerbMessage(line, verbRange)))
        }
    }

    /// Up to three word ranges of a line, without an array.
    private struct Words {
        private var ranges: (Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0)
        private(set) var count = 0

        mutating func append(_ range: Range<Int>) {
            switch count {
            case 0: ranges.0 = range
            case 1: ranges.1 = range
            default: ranges.2 = range
            }
            count += 1
        }

        subscript(_ i: Int) -> Range<Int> {
            switch i {
            case 0: return ranges.0
            case 1: return ranges.1
            default: return ranges.2
            }
        }

        /// The words after the verb.
        var arguments: Arguments { Arguments(words: self) }
    }

    /// The words after the verb, indexed from `startIndex`.
    private struct Arguments {
        let words: Words
        var count: Int { words.count - 1 }
        var isEmpty: Bool { count <= 0 }
        var startIndex: Int { 1 }
        var first: Range<Int>? { count > 0 ? words[1] : nil }
        subscript(_ i: Int) -> Range<Int> { words[i] }
    }

    private static func unknownVerbMessage(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        let printable = range.count <= 16 && line[range].allSatisfy { $0 > 0x20 && $0 < 0x7F }
        if printable {
            return "unknown verb \(String(decoding: line[range], as: UTF8.self))"
        }
        return "unknown verb"
    }

    private static func profileName(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> Result<String, RequestSyntaxError> {
        guard range.count <= ProfileName.maximumLength, line[range].allSatisfy(ProfileName.isAllowed) else {
            return .failure(RequestSyntaxError("invalid profile name (allowed: A-Z a-z 0-9 . _ -, at most 64)"))
        }
        return .success(String(decoding: line[range], as: UTF8.self))
    }

    private static func decimal(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard range.count <= 6 else { return nil }
        var value = 0
        for byte in line[range] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value <= ProtocolLimits.maximumMinTTL ? value : nil
    }
}

extension Verb {
    /// The verb a request line begins with, case-insensitively; nil for none
    /// (never `.invalid`: that is for the counters).
    init?(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) {
        // By length first, then bytes: no String per request.
        func matches(_ name: StaticString) -> Bool {
            guard name.utf8CodeUnitCount == range.count else { return false }
            for offset in 0..<range.count {
                // ASCII upper-casing: only letters are in verbs.
                var byte = line[range.lowerBound + offset]
                if byte >= UInt8(ascii: "a"), byte <= UInt8(ascii: "z") { byte -= 32 }
                if byte != name.utf8Start[offset] { return false }
            }
            return true
        }
        switch range.count {
        case 3 where matches("GET"): self = .get
        case 4 where matches("PING"): self = .ping
        case 4 where matches("LIST"): self = .list
        case 4 where matches("QUIT"): self = .quit
        case 6 where matches("HEADER"): self = .header
        case 6 where matches("STATUS"): self = .status
        case 7 where matches("REFRESH"): self = .refresh
        case 7 where matches("VERSION"): self = .version
        default: return nil
        }
    }
}
