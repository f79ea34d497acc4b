/// Renders a number of seconds for people reading the status table: two units
/// at most ("42m 10s", "1h 2m", "3d 4h"), because a token's lifetime matters
/// to the minute, not to the second, once it is counted in hours.
enum DurationText {
    static func render(_ seconds: Int?) -> String {
        guard let seconds else { return "-" }
        if seconds < 0 { return "-" + render(-seconds) }
        switch seconds {
        case ..<60: return "\(seconds)s"
        case ..<3600: return "\(seconds / 60)m \(seconds % 60)s"
        case ..<86_400: return "\(seconds / 3600)h \(seconds % 3600 / 60)m"
        default: return "\(seconds / 86_400)d \(seconds % 86_400 / 3600)h"
        }
    }
}
