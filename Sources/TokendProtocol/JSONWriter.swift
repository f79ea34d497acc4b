/// Writes JSON text. Used for `STATUS` answers and `tokenctl get --json`,
/// whose output must stay on one line.
public enum JSONWriter {
    /// `text` as a JSON string literal, quotes included. Every control
    /// character is escaped, so the result never contains a line break.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        return out
    }

    /// The compact JSON text of `value`.
    public static func write(_ value: JSONValue) -> String {
        var out = ""
        write(value, into: &out)
        return out
    }

    private static func write(_ value: JSONValue, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d, let text):
            if !text.isEmpty { out += text }
            else if d.isFinite, d == d.rounded(), abs(d) < 9.0e15 { out += String(Int(d)) }
            else if d.isFinite { out += String(d) }
            else { out += "null" }
        case .string(let s): out += quoted(s)
        case .array(let elements):
            out += "["
            for (i, element) in elements.enumerated() {
                if i > 0 { out += "," }
                write(element, into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, member)) in members.enumerated() {
                if i > 0 { out += "," }
                out += quoted(key)
                out += ":"
                write(member, into: &out)
            }
            out += "}"
        }
    }
}

extension JSONValue {
    /// An integer number value.
    public static func int(_ value: Int) -> JSONValue { .number(Double(value), text: String(value)) }
}
