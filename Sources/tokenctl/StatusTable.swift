import TokendProtocol

/// The human form of a `STATUS` answer: one aligned row per profile. Scripts
/// are meant to use `status --json`; this table is for an operator's eyes, so
/// long error messages are cut to keep one row per line.
enum StatusTable {
    static let headers = ["PROFILE", "STATE", "SOURCE", "EXPIRES-IN", "RENEWS-IN", "FETCHES", "FAILURES", "IDP-LIMIT", "LAST-ERROR"]
    /// Longest LAST-ERROR shown; the full text is in `status --json` and the log.
    static let maximumErrorLength = 60

    /// The table for a `STATUS` document.
    static func render(_ status: StatusDocument) -> String {
        var rows = [headers]
        for profile in status.profiles {
            rows.append([
                profile.name,
                profile.state,
                profile.source ?? "-",
                DurationText.render(profile.expiresIn),
                DurationText.render(profile.renewIn),
                String(profile.fetches),
                String(profile.failures),
                limit(profile.idpLimits),
                // A token file that cannot be written shows when the token is fine.
                (profile.lastError ?? profile.fileErrors.first.map { "file: " + $0 }).map(shorten) ?? "-",
            ])
        }
        return layout(rows)
    }

    /// The IdP's rate limit as "remaining/limit", else its tightest Auth0 quota, else "-".
    private static func limit(_ limits: JSONValue?) -> String {
        guard let limits else { return "-" }
        if let remaining = limits["ratelimit_remaining"]?.intValue, let limit = limits["ratelimit_limit"]?.intValue {
            return "\(remaining)/\(limit)"
        }
        let quotas = (limits["auth0_client_quota"]?.arrayValue ?? []) + (limits["auth0_organization_quota"]?.arrayValue ?? [])
        let tightest = quotas.compactMap { q -> (Int, Int, String)? in
            guard let r = q["r"]?.intValue, let l = q["q"]?.intValue, l > 0 else { return nil }
            return (r, l, q["b"]?.stringValue ?? "")
        }.min { Double($0.0) / Double($0.1) < Double($1.0) / Double($1.1) }
        return tightest.map { "\($0.0)/\($0.1) \($0.2)" } ?? "-"
    }

    /// Pads every column but the last to its widest cell, two spaces apart.
    private static func layout(_ rows: [[String]]) -> String {
        var widths = [Int](repeating: 0, count: headers.count)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        var out = ""
        for row in rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                line += cell
                if i < row.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count + 2) }
            }
            out += line + "\n"
        }
        return out
    }

    /// `text` on one line and at most `maximumErrorLength` characters, marked with … when cut.
    private static func shorten(_ text: String) -> String {
        let flat = AnswerLine.oneLine(text, limit: maximumErrorLength + 1)
        guard flat.count > maximumErrorLength else { return flat }
        return String(flat.prefix(maximumErrorLength - 1)) + "…"
    }
}
