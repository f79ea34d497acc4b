/// Rules for profile names: `[A-Za-z0-9._-]{1,64}` (SPEC §2).
public enum ProfileName {
    public static let maximumLength = 64

    /// Whether `byte` may appear in a profile name.
    @inlinable
    public static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// Whether `name` is a valid profile name.
    public static func isValid(_ name: String) -> Bool {
        let utf8 = name.utf8
        return (1...maximumLength).contains(utf8.count) && utf8.allSatisfy(isAllowed)
    }
}
