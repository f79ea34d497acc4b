/// The version of tokend and tokenctl, reported by `VERSION` and `--version`.
public enum TokendVersion {
    public static let string = "0.1.0"
}
