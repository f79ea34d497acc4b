import Atomics
import CCurlShim
import Glibc
import TokendCore
import TokendPlatform
import TokendProtocol

/// The raw outcome of one HTTP exchange.
public enum TransferOutcome: Sendable {
    /// The server answered. `sentAt` is when the request went out on the wire.
    /// `limitHeaders`: the rate-limit and quota headers (`IdPLimits.headerNames`).
    case response(status: Int, retryAfter: String?, body: [UInt8], sentAt: Instant, limitHeaders: [(name: String, value: String)])
    /// No usable answer: connect/TLS/timeout/size errors, in curl's words.
    case failed(message: String, sentAt: Instant)
}

/// TLS and timing settings of one transfer.
public struct TransferOptions: Sendable, Equatable {
    public var timeout: TimeSpan
    public var caFile: String?
    public var clientCertFile: String?
    public var clientKeyFile: String?
    /// Never through a proxy: set for a loopback `token_url`, whose secret
    /// would otherwise travel to a proxy from the environment in clear.
    public var direct: Bool

    public init(timeout: TimeSpan, caFile: String? = nil, clientCertFile: String? = nil, clientKeyFile: String? = nil,
                direct: Bool = false) {
        self.timeout = timeout
        self.direct = direct
        self.caFile = caFile
        self.clientCertFile = clientCertFile
        self.clientKeyFile = clientKeyFile
    }
}

/// One libcurl easy handle per profile. Each request opens a connection of
/// its own (`CURLOPT_FORBID_REUSE`, below). `perform` blocks: call it only
/// from a thread that serves no client. Not thread-safe; a profile's
/// transfers never overlap (single flight).
public final class CurlTransfer: @unchecked Sendable {  // used under TokenEndpointClient's lock only
    private let handle: UnsafeMutableRawPointer
    /// Set from any thread to end the transfer under way (within about a
    /// second: libcurl calls the progress function at least that often).
    public let abort = ManagedAtomic(false)
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

    /// Call once, before any thread starts (libcurl's global init is not thread-safe).
    public static func globalInit() {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }

    public static var versionDescription: String { String(cString: curl_version()) }

    /// "8.14.1": libcurl's own version number.
    public static var versionNumber: String {
        String(cString: curl_version()).split(separator: " ").first.map { String($0.drop { $0 != "/" }.dropFirst()) } ?? "?"
    }

    private enum PerformResult {
        case performed(CURLcode)
        case refusedOption(String)
    }

    public init() {
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        self.handle = handle
    }

    deinit { curl_easy_cleanup(handle) }

    /// Sends `request` and waits for the answer, at most `options.timeout`.
    public func perform(_ request: TokenRequest, options: TransferOptions) -> TransferOutcome {
        let context = ResponseCollector(abort: abort)
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
        let result: PerformResult = body.withUnsafeMutableBufferPointer { bodyPointer in
            errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
                errorPointer[0] = 0
                curl_easy_reset(handle)
                // Every option's result is checked: a libcurl that silently
                // ignored one (an old one drops CURLOPT_PROTOCOLS_STR) would
                // send the request with weaker guarantees than configured.
                var refused: String?
                func set(_ name: String, _ code: CURLcode) {
                    if code != CURLE_OK, refused == nil { refused = "\(name) (\(String(cString: curl_easy_strerror(code))))" }
                }
                set("CURLOPT_ERRORBUFFER", tokend_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorPointer.baseAddress))
                set("CURLOPT_URL", tokend_curl_setopt_string(handle, CURLOPT_URL, request.url))
                set("CURLOPT_PROTOCOLS_STR", tokend_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
                set("CURLOPT_FOLLOWLOCATION", tokend_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
                set("CURLOPT_NOSIGNAL", tokend_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
                set("CURLOPT_TIMEOUT_MS", tokend_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMs))
                set("CURLOPT_CONNECTTIMEOUT_MS", tokend_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, timeoutMs))
                set("CURLOPT_MAXFILESIZE_LARGE", tokend_curl_setopt_off_t(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(maximumResponseBytes)))
                set("CURLOPT_POST", tokend_curl_setopt_long(handle, CURLOPT_POST, 1))
                set("CURLOPT_POSTFIELDSIZE_LARGE", tokend_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyPointer.count - 1)))
                set("CURLOPT_POSTFIELDS", tokend_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, bodyPointer.baseAddress))
                set("CURLOPT_HTTPHEADER", tokend_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers))
                set("CURLOPT_TCP_KEEPALIVE", tokend_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1))
                // One connection per token request. Renewals are minutes apart,
                // longer than any IdP keeps an idle connection, and libcurl
                // silently sends a request again when a reused connection turns
                // out dead: the IdP would see two requests for one attempt.
                set("CURLOPT_FORBID_REUSE", tokend_curl_setopt_long(handle, CURLOPT_FORBID_REUSE, 1))
                if options.direct {
                    // "*" matches every host: no proxy variable applies.
                    set("CURLOPT_NOPROXY", tokend_curl_setopt_string(handle, CURLOPT_NOPROXY, "*"))
                }
                if let ca = options.caFile {
                    // Only the configured CAs: libcurl's default CA directory
                    // would otherwise stay trusted beside the file.
                    set("CURLOPT_CAINFO", tokend_curl_setopt_string(handle, CURLOPT_CAINFO, ca))
                    set("CURLOPT_CAPATH", tokend_curl_setopt_pointer(handle, CURLOPT_CAPATH, nil))
                }
                if let cert = options.clientCertFile { set("CURLOPT_SSLCERT", tokend_curl_setopt_string(handle, CURLOPT_SSLCERT, cert)) }
                if let key = options.clientKeyFile { set("CURLOPT_SSLKEY", tokend_curl_setopt_string(handle, CURLOPT_SSLKEY, key)) }
                set("CURLOPT_WRITEDATA", tokend_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, unmanaged.toOpaque()))
                set("CURLOPT_WRITEFUNCTION", tokend_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, user in
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
                })
                set("CURLOPT_HEADERDATA", tokend_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, unmanaged.toOpaque()))
                set("CURLOPT_HEADERFUNCTION", tokend_curl_setopt_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, user in
                    let collector = Unmanaged<ResponseCollector>.fromOpaque(user!).takeUnretainedValue()
                    let length = size * count
                    collector.header(UnsafeRawBufferPointer(start: data, count: length))
                    return length
                })
                set("CURLOPT_XFERINFODATA", tokend_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, unmanaged.toOpaque()))
                set("CURLOPT_XFERINFOFUNCTION", tokend_curl_setopt_xferinfo(handle) { user, _, _, _, _ in
                    let collector = Unmanaged<ResponseCollector>.fromOpaque(user!).takeUnretainedValue()
                    return collector.abort.load(ordering: .relaxed) ? 1 : 0
                })
                if let refused {
                    tokend_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil)
                    tokend_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)
                    return .refusedOption(refused)
                }
                start = BootClock.now()
                let code = curl_easy_perform(handle)
                // Drop pointers into Swift memory that is about to go away.
                tokend_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil)
                tokend_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)
                return .performed(code)
            }
        }
        guard case .performed(let code) = result else {
            if case .refusedOption(let option) = result {
                return .failed(message: "libcurl \(CurlTransfer.versionNumber) refused the option \(option); tokend needs libcurl 7.85 or later", sentAt: BootClock.now())
            }
            return .failed(message: "internal error", sentAt: BootClock.now())
        }
        var pretransfer: curl_off_t = 0
        tokend_curl_getinfo_off_t(handle, CURLINFO_PRETRANSFER_TIME_T, &pretransfer)
        let sentAt = start + TimeSpan(nanoseconds: Int64(pretransfer) * 1000)

        if code != CURLE_OK {
            if code == CURLE_ABORTED_BY_CALLBACK {
                return .failed(message: "the request was abandoned (the profile was changed or removed, or tokend stops)", sentAt: sentAt)
            }
            if context.tooLarge || code == CURLE_FILESIZE_EXCEEDED {
                return .failed(message: "response body larger than \(maximumResponseBytes / 1024) KiB", sentAt: sentAt)
            }
            let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            return .failed(message: AnswerLine.oneLine(message), sentAt: sentAt)
        }
        var status = 0
        tokend_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .response(status: status, retryAfter: context.retryAfter, body: context.body, sentAt: sentAt,
                         limitHeaders: context.limitHeaders)
    }
}

/// Collects the body and the interesting headers of the final response.
private final class ResponseCollector {
    let abort: ManagedAtomic<Bool>
    var body: [UInt8] = []

    init(abort: ManagedAtomic<Bool>) { self.abort = abort }

    var tooLarge = false
    var retryAfter: String?
    var limitHeaders: [(name: String, value: String)] = []

    func header(_ line: UnsafeRawBufferPointer) {
        // A new status line starts a new response (e.g. after a 100 Continue).
        if line.starts(with: "HTTP/".utf8) {
            retryAfter = nil
            limitHeaders = []
            return
        }
        if let colon = line.firstIndex(of: UInt8(ascii: ":")), colon < 64, limitHeaders.count < 16 {
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            if IdPLimits.headerNames.contains(name) {
                let value = String(decoding: line[(colon + 1)...].prefix(512), as: UTF8.self)
                limitHeaders.append((name, value.trimmingCharacters(whereIn: " \t\r\n")))
            }
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
