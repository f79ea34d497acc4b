/// Finds the line of a key in TOML text. TOMLKit reports lines only for
/// syntax errors, so for "wrong type" or "unknown key" this index, built from
/// the table headers and `key =` lines of the text, supplies the line.
/// It is a best effort: a key it cannot place is reported without a line.
struct KeyLineIndex {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var table: [String] = []
        var number = 0
        var arrayCounts: [String: Int] = [:]
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[") {
                let inner = line.drop { $0 == "[" }.prefix { $0 != "]" }
                table = KeyLineIndex.splitKey(Substring(inner))
                // `[[a.b]]` opens element N of the array of tables `a.b`: `a.b[N]`.
                if line.hasPrefix("[["), !table.isEmpty {
                    let array = table.joined(separator: ".")
                    let index = arrayCounts[array, default: 0]
                    arrayCounts[array] = index + 1
                    table[table.count - 1] += "[\(index)]"
                }
                let path = table.joined(separator: ".")
                if lines[path] == nil { lines[path] = number }
                continue
            }
            guard let equals = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
            let key = KeyLineIndex.splitKey(line[..<equals])
            guard !key.isEmpty else { continue }
            let path = (table + key).joined(separator: ".")
            if lines[path] == nil { lines[path] = number }
        }
    }

    /// The line of `path`, or of its nearest enclosing key that has one.
    func line(of path: [String]) -> Int? {
        var path = path
        while !path.isEmpty {
            if let line = lines[path.joined(separator: ".")] { return line }
            path.removeLast()
        }
        return nil
    }

    private static func splitKey(_ text: Substring) -> [String] {
        text.split(separator: ".").map { part in
            var p = part.trimmingCharacters(in: " \t")
            if p.count >= 2, let f = p.first, f == "\"" || f == "'", p.last == f { p = String(p.dropFirst().dropLast()) }
            return p
        }
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
