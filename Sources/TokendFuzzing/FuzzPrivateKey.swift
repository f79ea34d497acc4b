import TokendCrypto

/// libFuzzer entry point: a client assertion key file's bytes (SPEC §12),
/// through libcrypto's PEM reader and tokend's checks; a key that loads
/// signs. Either a key or a one-line problem that names no key bytes.
public func fuzzPrivateKey(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let key = try SigningKey(pem: bytes)
        for algorithm in key.kind.algorithms {
            precondition((try? key.sign([1, 2, 3], algorithm: algorithm)) != nil, "a loaded key cannot sign with \(algorithm)")
        }
    } catch {
        precondition(!error.description.utf8.contains(10), "a problem spans lines")
        // No line of the key's body (base64) appears in the message.
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.count >= 16 && !line.hasPrefix("-----") {
            precondition(!error.description.contains(line.prefix(16)), "a problem quotes the key")
        }
    }
    return 0
}
