import CCryptoShim

/// SHA-256, from OpenSSL's libcrypto (see `CCryptoShim`).
public enum SHA256 {
    public static func hash(_ bytes: [UInt8]) -> [UInt8] { digest(bytes, length: 32, name: "SHA-256", tokend_sha256) }

    /// Lower-case hex of the digest.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in hash(bytes) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// SHA-1, for certificate thumbprints (`x5t`) only.
public enum SHA1 {
    public static func hash(_ bytes: [UInt8]) -> [UInt8] { digest(bytes, length: 20, name: "SHA-1", tokend_sha1) }
}

/// `bytes` through one of the shim's digest functions.
private func digest(_ bytes: [UInt8], length: Int, name: String,
                    _ function: (UnsafeRawPointer?, Int, UnsafeMutablePointer<UInt8>?) -> Int32) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: length)
    let status = bytes.withUnsafeBytes { input in
        digest.withUnsafeMutableBytes { function(input.baseAddress, input.count, $0.baseAddress?.assumingMemoryBound(to: UInt8.self)) }
    }
    precondition(status == 0, "libcrypto refused \(name)")
    return digest
}

/// AES-256-GCM with a 96-bit nonce and a 128-bit tag.
public enum AESGCM {
    public static let keyLength = 32
    public static let nonceLength = 12
    public static let tagLength = 16

    public enum Failure: Error, Equatable {
        /// The key, the bytes or the associated data are not those it was sealed with.
        case authenticationFailed
        case invalidInput
    }

    /// `plaintext` encrypted and authenticated with `associatedData`: `ciphertext ‖ tag`.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws(Failure) -> [UInt8] {
        guard key.count == keyLength, nonce.count == nonceLength else { throw .invalidInput }
        var output = [UInt8](repeating: 0, count: plaintext.count + tagLength)
        let status = output.withUnsafeMutableBytes { out in
            plaintext.withUnsafeBytes { plain in
                associatedData.withUnsafeBytes { aad in
                    tokend_aes256gcm_seal(key, nonce, aad.baseAddress, aad.count, plain.baseAddress, plain.count,
                                          out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                          out.baseAddress!.assumingMemoryBound(to: UInt8.self) + plain.count)
                }
            }
        }
        guard status == 0 else { throw .invalidInput }
        return output
    }

    /// The plaintext of `sealed` (`ciphertext ‖ tag`), or `.authenticationFailed`.
    public static func open(_ sealed: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws(Failure) -> [UInt8] {
        guard key.count == keyLength, nonce.count == nonceLength, sealed.count >= tagLength else { throw .invalidInput }
        let length = sealed.count - tagLength
        var plain = [UInt8](repeating: 0, count: max(length, 1))
        let status = sealed.withUnsafeBytes { input in
            associatedData.withUnsafeBytes { aad in
                plain.withUnsafeMutableBytes { out in
                    tokend_aes256gcm_open(key, nonce, aad.baseAddress, aad.count, input.baseAddress, length,
                                          input.baseAddress!.assumingMemoryBound(to: UInt8.self) + length,
                                          out.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        guard status == 0 else { throw .authenticationFailed }
        return Array(plain.prefix(length))
    }

    /// Zeroes key or plaintext bytes before they are freed.
    public static func cleanse(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { tokend_cleanse($0.baseAddress, $0.count) }
    }
}
