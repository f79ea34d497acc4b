import TokendCore

/// Decides the answer to one request at the token path: a pure function of
/// the request, a settings snapshot, the fault in force and the clock, so
/// the NIO handler only has to carry the result out.
struct TokenResponder {
    let settings: TestIdP.Settings
    /// Wall-clock now, for JWT `exp`.
    let unixNow: Double

    struct Outcome {
        var reply: Reply
        /// The token handed out, if the answer carries one.
        var issued: TestIdP.IssuedToken?
    }

    static let realm = "test-idp"

    func respond(to request: TestIdP.RecordedRequest, fault: TestIdP.Fault?) -> Outcome {
        switch fault {
        case nil:
            return normal(request)
        // Faults that only alter a successful answer still validate, so a
        // client with a wrong secret keeps getting 401 as from a real server.
        case .delay(let seconds)?:
            var outcome = normal(request)
            outcome.reply.delay += max(0, seconds)
            return outcome
        case .missingField(let name)?:
            return normal(request, omitting: name)
        case .hugeBody(let bytes)?:
            return normal(request, paddedTo: bytes)
        // Faults that replace the answer outright, as a broken server or proxy would.
        case .status(let status, let body, let headers)?:
            return answer(HTTPAnswer(status: status, headers: headers, body: body))
        case .oauthError(let status, let error, let description)?:
            let challenge = status == 401 ? [Self.challengeHeader] : []
            return answer(.oauthError(status: status, error: error, description: description, headers: challenge))
        case .retryAfter(let status, let value)?:
            return answer(.oauthError(status: status, error: "temporarily_unavailable", description: "Retry later",
                                      headers: [("Retry-After", value)]))
        case .malformedBody?:
            return answer(HTTPAnswer(status: 200, headers: [("Content-Type", "application/json")], body: #"{"access_token": "abc"#))
        case .closeConnection?:
            return Outcome(reply: Reply(action: .closeConnection), issued: nil)
        case .redirect(let location, let status)?:
            return answer(.plain(status: status, "Redirecting to \(location)", headers: [("Location", location)]))
        case .html500?:
            let html = "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>"
                + "<body><h1>Internal Server Error</h1><p>The upstream server failed.</p></body></html>\n"
            return answer(HTTPAnswer(status: 500, headers: [("Content-Type", "text/html; charset=utf-8")], body: html))
        }
    }

    // MARK: - The real endpoint

    private static let challengeHeader = ("WWW-Authenticate", #"Basic realm="\#(realm)""#)

    private func answer(_ answer: HTTPAnswer) -> Outcome {
        Outcome(reply: Reply(action: .answer(answer)), issued: nil)
    }

    private func invalidRequest(_ description: String) -> Outcome {
        answer(.oauthError(status: 400, error: "invalid_request", description: description))
    }

    private var invalidClient: Outcome {
        answer(.oauthError(status: 401, error: "invalid_client", description: "Client authentication failed",
                           headers: [Self.challengeHeader]))
    }

    /// RFC 6749 §4.4 with §2.3.1 client authentication: syntax first, then
    /// who the client is, then whether it may use this grant.
    private func normal(_ request: TestIdP.RecordedRequest, omitting omitted: String? = nil, paddedTo padding: Int? = nil) -> Outcome {
        guard request.method == "POST" else {
            return answer(.plain(status: 405, "Method Not Allowed", headers: [("Allow", "POST")]))
        }
        let mediaType = request.header("Content-Type")?
            .split(separator: ";", maxSplits: 1).first?
            .trimmingSpaces().lowercased()
        guard mediaType == "application/x-www-form-urlencoded" else {
            return invalidRequest("Content-Type must be application/x-www-form-urlencoded")
        }
        guard let fields = FormDecoder.body(request.body) else {
            return invalidRequest("Malformed form body")
        }
        // RFC 6749 §3.2: parameters must not be repeated.
        var seen = Set<String>()
        for field in fields where !seen.insert(field.name).inserted {
            return invalidRequest("Parameter \(field.name) is repeated")
        }
        let form = request.form
        guard let grantType = form["grant_type"] else {
            return invalidRequest("Missing grant_type")
        }

        let clientID: String
        let exchange = grantType == TestIdP.tokenExchangeGrant
        if form["client_assertion_type"] != nil || form["client_assertion"] != nil {
            // RFC 7523 §2.2 with an issuer it trusts (SPEC §13).
            guard request.header("Authorization") == nil, form["client_secret"] == nil else {
                return invalidRequest("More than one client authentication method")
            }
            guard form["client_assertion_type"] == ClientAssertion.assertionType, let assertion = form["client_assertion"],
                  let id = form["client_id"], let federation = settings.federation, federation.clientIDs.contains(id),
                  federation.accepts(assertion, unixNow: unixNow) else { return invalidClient }
            clientID = id
        } else if let authorization = request.header("Authorization") {
            // RFC 6749 §2.3: one authentication method per request.
            if form["client_secret"] != nil {
                return invalidRequest("More than one client authentication method")
            }
            guard let credentials = Self.basicCredentials(authorization) else { return invalidClient }
            if let bodyID = form["client_id"], bodyID != credentials.id {
                return invalidRequest("client_id does not match the authenticated client")
            }
            guard settings.clients.contains(where: { $0.id == credentials.id && $0.secret == credentials.secret }) else { return invalidClient }
            clientID = credentials.id
        } else if let bodyID = form["client_id"], let bodySecret = form["client_secret"] {
            guard settings.clients.contains(where: { $0.id == bodyID && $0.secret == bodySecret }) else { return invalidClient }
            clientID = bodyID
        } else if exchange, settings.tokenExchangeWithoutAuthentication {
            clientID = form["client_id"] ?? "anonymous"
        } else {
            return invalidClient
        }

        if exchange {
            // RFC 8693 §2.1: both are required.
            guard let subject = form["subject_token"], !subject.isEmpty, let type = form["subject_token_type"], !type.isEmpty else {
                return invalidRequest("subject_token and subject_token_type are required")
            }
            var outcome = success(for: clientID, scope: form["scope"], receivedAt: request.receivedAt, omitting: omitted, paddedTo: padding,
                                  issuedTokenType: form["requested_token_type"] ?? "urn:ietf:params:oauth:token-type:access_token")
            outcome.issued?.subjectToken = subject
            return outcome
        }
        guard grantType == "client_credentials" else {
            return answer(.oauthError(status: 400, error: "unsupported_grant_type",
                                      description: "Only client_credentials and token exchange are supported"))
        }
        return success(for: clientID, scope: form["scope"], receivedAt: request.receivedAt, omitting: omitted, paddedTo: padding)
    }

    private func success(for clientID: String, scope: String?, receivedAt: UInt64, omitting omitted: String?, paddedTo padding: Int?,
                         issuedTokenType: String? = nil) -> Outcome {
        let token = TokenMinter.mint(format: settings.tokenFormat, clientID: clientID, lifetime: settings.lifetime, unixNow: unixNow)
        var members: [(String, String)] = [
            ("access_token", JSONText.string(token)),
            ("token_type", JSONText.string(settings.tokenType)),
        ]
        switch settings.expiresInStyle {
        case .number: members.append(("expires_in", JSONText.number(settings.lifetime)))
        case .string: members.append(("expires_in", JSONText.string(JSONText.number(settings.lifetime))))
        case .omitted: break
        }
        if let scope { members.append(("scope", JSONText.string(scope))) }
        if let issuedTokenType { members.append(("issued_token_type", JSONText.string(issuedTokenType))) }
        for (name, value) in settings.extraResponseFields.sorted(by: { $0.key < $1.key }) {
            let json = JSONText.isNumber(value) ? value : JSONText.string(value)
            if let index = members.firstIndex(where: { $0.0 == name }) {
                members[index].1 = json
            } else {
                members.append((name, json))
            }
        }
        if let omitted { members.removeAll { $0.0 == omitted } }
        if let padding {
            let bare = JSONText.object(members + [("padding", "\"\"")]).utf8.count
            members.append(("padding", JSONText.string(String(repeating: "x", count: max(0, padding - bare)))))
        }

        // A token left out of the body was never handed out.
        let delivered = members.contains { $0.0 == "access_token" }
        let issued = delivered
            ? TestIdP.IssuedToken(token: token, clientID: clientID, issuedAt: receivedAt,
                                  expiresAt: IdPClock.offset(receivedAt, bySeconds: settings.lifetime))
            : nil
        return Outcome(reply: Reply(action: .answer(.json(status: 200, JSONText.object(members)))), issued: issued)
    }

    /// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
    /// Split at the first colon, because an encoded id never contains one.
    static func basicCredentials(_ header: String) -> (id: String, secret: String)? {
        let parts = header.trimmingSpaces().split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let bytes = Base64.decode(parts[1].trimmingSpaces()),
              let text = String(validating: bytes, as: UTF8.self),
              let colon = text.firstIndex(of: ":"),
              let id = FormDecoder.component(text[..<colon]),
              let secret = FormDecoder.component(text[text.index(after: colon)...])
        else { return nil }
        return (id, secret)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP optional whitespace).
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
