/// One answer line of the protocol: `OK ...` or `ERR CODE MESSAGE` (SPEC §5).
public enum AnswerLine: Equatable, Sendable {
    case ok(String)
    case err(code: String, message: String)

    /// Parses an answer line as a client receives it (without its LF).
    public static func parse(_ line: String) -> AnswerLine? {
        var text = Substring(line)
        if text.hasSuffix("\r") { text = text.dropLast() }
        if text == "OK" { return .ok("") }
        if text.hasPrefix("OK ") { return .ok(String(text.dropFirst(3))) }
        guard text.hasPrefix("ERR ") else { return nil }
        let rest = text.dropFirst(4)
        if let space = rest.firstIndex(of: " ") {
            return .err(code: String(rest[..<space]), message: String(rest[rest.index(after: space)...]))
        }
        return .err(code: String(rest), message: "")
    }

    /// The wire form of the line, LF included. Error messages are made safe to
    /// put on one line: control characters become spaces and the message is
    /// cut at 300 characters.
    public var rendered: String {
        switch self {
        case .ok(let payload):
            return payload.isEmpty ? "OK\n" : "OK \(payload)\n"
        case .err(let code, let message):
            let safe = AnswerLine.oneLine(message)
            return safe.isEmpty ? "ERR \(code)\n" : "ERR \(code) \(safe)\n"
        }
    }

    public static func error(_ code: ErrorCode, _ message: String) -> AnswerLine {
        .err(code: code.rawValue, message: message)
    }

    /// `text` with every control character replaced by a space, at most `limit` characters.
    public static func oneLine(_ text: String, limit: Int = 300) -> String {
        var out = ""
        out.reserveCapacity(min(text.utf8.count, limit))
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit { break }
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value)
                || scalar == "\u{2028}" || scalar == "\u{2029}" {
                out.unicodeScalars.append(" ")
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
