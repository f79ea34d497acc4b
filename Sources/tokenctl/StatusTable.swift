import TokendProtocol

/// The human form of a `STATUS` answer: one aligned row per profile. Scripts
/// are meant to use `status --json`; this table is for an operator's eyes, so
/// long error messages are cut to keep one row per line.
enum StatusTable {
    static let headers = ["PROFILE", "STATE", "SOURCE", "EXPIRES-IN", "RENEWS-IN", "FETCHES", "FAILURES", "LAST-ERROR"]
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
                // A token file that cannot be written shows when the token is fine.
                (profile.lastError ?? profile.fileErrors.first.map { "file: " + $0 }).map(shorten) ?? "-",
            ])
        }
        return layout(rows)
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
