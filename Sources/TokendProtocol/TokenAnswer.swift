/// The payloads of the answers that carry a token (SPEC §5), in both
/// directions: the daemon renders them, tokenctl reads them.
public enum TokenAnswer {
    /// `GET`/`REFRESH`: `OK TOKEN ` (the whole seconds left and LF follow).
    public static func getPrefix(token: String) -> [UInt8] {
        Array("OK \(token) ".utf8)
    }

    /// `HEADER`: `OK Authorization: TYPE TOKEN` and LF.
    public static func headerLine(type: String, token: String) -> [UInt8] {
        Array("OK \(headerText(type: type, token: token))\n".utf8)
    }

    /// `Authorization: TYPE TOKEN`: the `HEADER` answer's text, also what a
    /// `header` token file holds (with LF).
    public static func headerText(type: String, token: String) -> String {
        "Authorization: \(type) \(token)"
    }

    /// Reads a `GET`/`REFRESH` payload: `TOKEN EXPIRES_IN`; nil when malformed.
    public static func parseToken(_ payload: String) -> (token: String, expiresIn: Int)? {
        let words = payload.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 2, !words[0].isEmpty, let expiresIn = Int(words[1]), expiresIn >= 0 else { return nil }
        return (String(words[0]), expiresIn)
    }

    /// Reads a `HEADER` payload: `Authorization: TYPE TOKEN`; nil when malformed.
    public static func parseHeader(_ payload: String) -> (type: String, token: String)? {
        let prefix = "Authorization: "
        guard payload.hasPrefix(prefix) else { return nil }
        let words = payload.dropFirst(prefix.count).split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 2, !words[0].isEmpty, !words[1].isEmpty else { return nil }
        return (String(words[0]), String(words[1]))
    }
}
