import ArgumentParser

/// Throws `ValidationError("<option> must be at least <minimum>, got <value>")` when `value`
/// is given and below `minimum`: the one message every command uses for a number too small.
func requireAtLeast<Value: Comparable>(_ minimum: Value, _ value: Value?, for option: String) throws {
    if let value, value < minimum { throw ValidationError("\(option) must be at least \(minimum), got \(value)") }
}

/// Throws a `ValidationError` when `value` of `option` is outside `range`: "--steps must be
/// at least 1, got 0" or "--threads must be at most 256, got 100000".
func requireIn<Value: Comparable>(_ range: ClosedRange<Value>, _ value: Value?, for option: String) throws {
    try requireAtLeast(range.lowerBound, value, for: option)
    if let value, value > range.upperBound {
        throw ValidationError("\(option) must be at most \(range.upperBound), got \(value)")
    }
}
