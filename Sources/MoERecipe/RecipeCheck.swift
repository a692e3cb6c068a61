/// One recipe check: throws `RecipeError.badValue` naming the file, the key path, the
/// value and what is allowed.
struct RecipeCheck {
    let source: String

    func callAsFunction(_ ok: Bool, _ path: String, _ why: String) throws {
        if !ok { throw RecipeError.badValue(file: source, path: path, reason: why) }
    }

    /// `value` must lie in `allowed` (and, for floating point, be finite).
    func range<T: Comparable>(_ value: T, _ allowed: ClosedRange<T>, _ path: String) throws {
        let upper = "\(allowed.upperBound)"
        let bound = upper == "\(Int.max)" ? "at least \(allowed.lowerBound)" : "in \(allowed.lowerBound)...\(upper)"
        try self(allowed.contains(value), path, "must be \(bound), got \(value)")
    }
}
