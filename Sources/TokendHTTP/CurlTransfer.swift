import CCurlShim
import Glibc
import TokendCore
import TokendProtocol

/// The raw outcome of one HTTP exchange.
public enum TransferOutcome: Sendable {
    /// The server answered. `sentAt` is when the request went out on the wire.
    case response(status: Int, retryAfter: String?, body: [UInt8], sentAt: Instant)
    /// No usable answer: connect/TLS/timeout/size errors, in curl's words.
    case failed(message: String, sentAt: Instant)
}

/// TLS and timing settings of one transfer.
public struct TransferOptions: Sendable, Equatable {
    public var timeout: TimeSpan
    public var caFile: String?
    public var clientCertFile: String?
    public var clientKeyFile: String?

    public init(timeout: TimeSpan, caFile: String? = nil, clientCertFile: String? = nil, clientKeyFile: String? = nil) {
        self.timeout = timeout
        self.caFile = caFile
        self.clientCertFile = clientCertFile
        self.clientKeyFile = clientKeyFile
    }
}

/// One libcurl easy handle, reused for every request of a profile so that a
/// TLS connection to the IdP is kept alive between renewals where the IdP
/// allows. `perform` blocks: call it only from a thread that serves no client.
/// Not thread-safe; a profile's transfers never overlap (single flight).
public final class CurlTransfer: @unchecked Sendable {  // used under TokenEndpointClient's lock only
    private let handle: UnsafeMutableRawPointer
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

    /// Call once, before any thread starts (libcurl's global init is not thread-safe).
    public static func globalInit() {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }

    public static var versionDescription: String { String(cString: curl_version()) }

    public init() {
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        self.handle = handle
    }

    deinit { curl_easy_cleanup(handle) }

    /// Sends `request` and waits for the answer, at most `options.timeout`.
    public func perform(_ request: TokenRequest, options: TransferOptions) -> TransferOutcome {
        let context = ResponseCollector()
        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }

        var headers: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers { headers = curl_slist_append(headers, "\(name): \(value)") }
        headers = curl_slist_append(headers, "Expect:")
        defer { curl_slist_free_all(headers) }

        var body = Array(request.body.utf8CString)
        defer { for i in body.indices { body[i] = 0 } }  // do not leave the secret in freed memory

        let timeoutMs = max(1, Int(options.timeout.milliseconds))
        var start = BootClock.now()
        let code: CURLcode = body.withUnsafeMutableBufferPointer { bodyPointer in
            errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
                errorPointer[0] = 0
                curl_easy_reset(handle)
                tokend_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorPointer.baseAddress)
                tokend_curl_setopt_string(handle, CURLOPT_URL, request.url)
                tokend_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
                tokend_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
                tokend_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
                tokend_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMs)
                tokend_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, timeoutMs)
                tokend_curl_setopt_off_t(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(maximumResponseBytes))
                tokend_curl_setopt_long(handle, CURLOPT_POST, 1)
                tokend_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyPointer.count - 1))
                tokend_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, bodyPointer.baseAddress)
                tokend_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers)
                tokend_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
                // One connection per token request. Renewals are minutes apart,
                // longer than any IdP keeps an idle connection, and libcurl
                // silently sends a request again when a reused connection turns
                // out dead: the IdP would see two requests for one attempt.
                tokend_curl_setopt_long(handle, CURLOPT_FORBID_REUSE, 1)
                if let ca = options.caFile { tokend_curl_setopt_string(handle, CURLOPT_CAINFO, ca) }
                if let cert = options.clientCertFile { tokend_curl_setopt_string(handle, CURLOPT_SSLCERT, cert) }
                if let key = options.clientKeyFile { tokend_curl_setopt_string(handle, CURLOPT_SSLKEY, key) }
                tokend_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, unmanaged.toOpaque())
                tokend_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, user in
                    let collector = Unmanaged<ResponseCollector>.fromOpaque(user!).takeUnretainedValue()
                    let length = size * count
                    guard collector.body.count + length <= maximumResponseBytes else {
                        collector.tooLarge = true
                        return 0  // makes curl stop with CURLE_WRITE_ERROR
                    }
                    if length > 0 {
                        collector.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
                    }
                    return length
                }
                tokend_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, unmanaged.toOpaque())
                tokend_curl_setopt_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, user in
                    let collector = Unmanaged<ResponseCollector>.fromOpaque(user!).takeUnretainedValue()
                    let length = size * count
                    collector.header(UnsafeRawBufferPointer(start: data, count: length))
                    return length
                }
                start = BootClock.now()
                let code = curl_easy_perform(handle)
                // Drop pointers into Swift memory that is about to go away.
                tokend_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil)
                tokend_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)
                return code
            }
        }
        var pretransfer: curl_off_t = 0
        tokend_curl_getinfo_off_t(handle, CURLINFO_PRETRANSFER_TIME_T, &pretransfer)
        let sentAt = start + TimeSpan(nanoseconds: Int64(pretransfer) * 1000)

        if code != CURLE_OK {
            if context.tooLarge || code == CURLE_FILESIZE_EXCEEDED {
                return .failed(message: "response body larger than \(maximumResponseBytes / 1024) KiB", sentAt: sentAt)
            }
            let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            return .failed(message: AnswerLine.oneLine(message), sentAt: sentAt)
        }
        var status = 0
        tokend_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .response(status: status, retryAfter: context.retryAfter, body: context.body, sentAt: sentAt)
    }
}

/// Collects the body and the interesting headers of the final response.
private final class ResponseCollector {
    var body: [UInt8] = []
    var tooLarge = false
    var retryAfter: String?

    func header(_ line: UnsafeRawBufferPointer) {
        // A new status line starts a new response (e.g. after a 100 Continue).
        if line.starts(with: "HTTP/".utf8) {
            retryAfter = nil
            return
        }
        let name = "retry-after:".utf8
        guard line.count > name.count,
              zip(line.prefix(name.count), name).allSatisfy({ ($0 | 0x20) == ($1 | 0x20) }) else { return }
        let value = String(decoding: line.dropFirst(name.count), as: UTF8.self)
        retryAfter = value.trimmingCharacters(whereIn: " \t\r\n")
    }
}

extension String {
    func trimmingCharacters(whereIn set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
