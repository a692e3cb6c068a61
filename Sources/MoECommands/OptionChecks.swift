import ArgumentParser

/// Throws `ValidationError("<option> must be at least <minimum>, got <value>")` when `value`
/// is given and below `minimum`: the one message every command uses for a number too small.
func requireAtLeast<Value: Comparable>(_ minimum: Value, _ value: Value?, for option: String) throws {
    if let value, value < minimum { throw ValidationError("\(option) must be at least \(minimum), got \(value)") }
}
