/// The "did you mean" of a usage error: the candidate nearest to a mistyped
/// word, if it is near enough to be a likely typo.
enum Suggestion {
    static func nearest(to word: String, among candidates: [String]) -> String? {
        let typed = Array(word.lowercased().utf8)
        guard typed.count >= 2 else { return nil }
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let target = Array(candidate.utf8)
            var distance = editDistance(typed, target)
            // A cut-short option ("--time") is as good a match as a typo.
            if typed.count >= 3 && target.starts(with: typed) { distance = min(distance, 1) }
            if distance <= 2, distance <= target.count / 2, distance < best?.distance ?? .max {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// Levenshtein distance: insertions, deletions and substitutions.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
