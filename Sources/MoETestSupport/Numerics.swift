import MoETensor
import Testing

// Shared helpers for kernel and model tests: seeded random data, finite-difference
// gradients and tolerant comparisons.

/// `count` values drawn uniformly from `[-scale, scale)` by a `SeededGenerator(seed:)`,
/// so a test's inputs are the same on every run and machine.
public func randomTensorValues(count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in (2 * generator.uniform() - 1) * scale }
}

/// Numerical gradient of `loss` at `input` by central differences:
/// `(loss(x + h·eᵢ) − loss(x − h·eᵢ)) / 2h` for every coordinate `i`.
///
/// `loss` receives the perturbed input as a private mutable copy it may use freely (e.g.
/// pass `&input` to a kernel). The default step suits float32 kernels: small enough for
/// smooth ops, large enough that float32 rounding inside the loss stays small.
public func numericalGradient(
    at input: [Float], step: Float = 1e-2, loss: (inout [Float]) -> Double
) -> [Float] {
    var gradient = [Float](repeating: 0, count: input.count)
    var probe = input
    for i in input.indices {
        probe[i] = input[i] + step
        var plus = probe
        let lossPlus = loss(&plus)
        probe[i] = input[i] - step
        var minus = probe
        let lossMinus = loss(&minus)
        probe[i] = input[i]
        // The actual perturbation after float rounding, not the nominal 2h.
        let width = Double(input[i] + step) - Double(input[i] - step)
        gradient[i] = Float((lossPlus - lossMinus) / width)
    }
    return gradient
}

/// `Σ values[i] · weights[i]` in Double: the usual probe loss `L = Σ out ⊙ R`, whose
/// gradient with respect to `out` is exactly `R`.
public func weightedSum(_ values: [Float], _ weights: [Float]) -> Double {
    precondition(values.count == weights.count, "weightedSum: \(values.count) vs \(weights.count)")
    var sum = 0.0
    for i in values.indices { sum += Double(values[i]) * Double(weights[i]) }
    return sum
}

/// Largest `|a − b| / max(|a|, |b|, floor)` over all elements; the floor keeps entries
/// that should be ~0 from turning rounding noise into huge relative errors.
/// Arrays of different length, or any NaN, compare as `.infinity`.
public func maxRelativeError(_ a: [Float], _ b: [Float], floor: Float = 1e-3) -> Float {
    guard a.count == b.count else { return .infinity }
    var worst: Float = 0
    for i in a.indices {
        let error = relativeError(a[i], b[i], floor: floor)
        if error.isNaN { return .infinity }
        worst = max(worst, error)
    }
    return worst
}

/// Records a test issue unless `maxRelativeError(a, b, floor:) <= tolerance`; the message
/// names the worst element.
public func expectClose(
    _ a: [Float], _ b: [Float], tolerance: Float, floor: Float = 1e-3,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let error = maxRelativeError(a, b, floor: floor)
    var detail = "sizes \(a.count) vs \(b.count)"
    if a.count == b.count, !a.isEmpty {
        let worst = a.indices.max {
            relativeError(a[$0], b[$0], floor: floor) < relativeError(a[$1], b[$1], floor: floor)
        }!
        detail = "worst at [\(worst)]: \(a[worst]) vs \(b[worst])"
    }
    #expect(
        error <= tolerance,
        "max relative error \(error) > \(tolerance); \(detail)",
        sourceLocation: sourceLocation)
}

private func relativeError(_ a: Float, _ b: Float, floor: Float) -> Float {
    abs(a - b) / max(abs(a), abs(b), floor)
}
