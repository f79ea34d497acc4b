/// The percent-encoding of form parameters and of the client id and secret
/// inside HTTP Basic authentication (RFC 6749 §2.3.1, Appendix B), in the
/// conservative form SPEC §3 prescribes: only `A-Z a-z 0-9 - . _ ~` stay,
/// every other byte (a space included) becomes `%XX`. Servers that decode
/// with form rules (`+` is a space) and servers that decode with plain
/// percent-decoding (`+` stays `+`, as Authlib does for Basic credentials)
/// then read the same bytes; `+` for a space would split them.
public enum FormEncoding {
    /// Percent-encodes `text` as UTF-8 with upper-case hex digits.
    public static func encode(_ text: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The body `name=value&name=value`.
    public static func body(_ fields: [FormField]) -> String {
        fields.map { encode($0.name) + "=" + encode($0.value) }.joined(separator: "&")
    }
}
