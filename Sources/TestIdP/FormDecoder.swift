/// The test IdP's own decoder of `application/x-www-form-urlencoded` (the
/// WHATWG form rules: `+` is a space, `%XX` a byte), written apart from
/// tokend's `FormEncoding` so that a bug in one is not hidden by the same
/// bug in the other. It also decodes the id and secret inside Basic
/// credentials (RFC 6749 §2.3.1), the way form-rule servers do.
enum FormDecoder {
    /// One encoded component; nil when a `%` escape is malformed or the bytes are not UTF-8.
    static func component(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var rest = text.utf8[...]
        while let byte = rest.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                guard rest.count >= 2, let value = UInt8(String(decoding: rest.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
                rest = rest.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// A body's `name=value` pairs, in order; nil when any is malformed.
    static func body(_ text: String) -> [(name: String, value: String)]? {
        var fields: [(name: String, value: String)] = []
        for pair in text.split(separator: "&") {
            let equals = pair.firstIndex(of: "=") ?? pair.endIndex
            guard let name = component(pair[..<equals]),
                  let value = component(equals == pair.endIndex ? "" : pair[pair.index(after: equals)...]) else { return nil }
            fields.append((name, value))
        }
        return fields
    }
}
