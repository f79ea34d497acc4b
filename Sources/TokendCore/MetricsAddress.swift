import Glibc

/// `metrics_listen` (SPEC §10): a loopback address and port, or a Unix
/// socket. Profile names are not for the network: nothing else is accepted.
public enum MetricsAddress: Equatable, Sendable, CustomStringConvertible {
    /// An IPv4 address in 127.0.0.0/8 or `::1`, and a port from 1 to 65535.
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// Why a `metrics_listen` value is refused.
    public struct Refusal: Error, Equatable {
        public let message: String
        init(_ message: String) { self.message = message }
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    /// The address `text` names, or why it is refused.
    public static func parse(_ text: String) -> Result<MetricsAddress, Refusal> {
        let refusal = "must be a loopback address and port (\"127.0.0.1:9464\", any of 127.0.0.0/8, or \"[::1]:9464\") or \"unix:/ABSOLUTE/PATH\", not \"\(text.prefix(80))\""
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/"), path.utf8.count <= 107, !path.hasSuffix("/"),
                  !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                return .failure(Refusal("unix: needs an absolute socket path of at most 107 bytes"))
            }
            return .success(.unix(path: path))
        }
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return .failure(Refusal(refusal)) }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(Refusal(refusal)) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = Int(portText), (1...65535).contains(port), portText.allSatisfy(\.isNumber) else {
            return .failure(Refusal(refusal + " (the port must be from 1 to 65535)"))
        }
        let literal = String(host)
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            guard UInt32(bigEndian: v4.s_addr) >> 24 == 127 else { return .failure(Refusal(refusal)) }
            return .success(.tcp(host: literal, port: port))
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            guard bytes == [UInt8](repeating: 0, count: 15) + [1] else { return .failure(Refusal(refusal)) }
            return .success(.tcp(host: "::1", port: port))
        }
        return .failure(Refusal(refusal))
    }
}
