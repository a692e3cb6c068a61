import MoETestSupport
import Testing

/// Checks a kernel's backward against central differences of `L = Σ forward(x) ⊙ R`
/// (R fixed random), then checks that backward accumulates: starting from a pre-filled
/// gradient G0 it must produce G0 + g.
///
/// `backward(R, x, &grad)` must ADD dL/dx into `grad`. Several kernel inputs are tested at
/// once by concatenating them into `input` and slicing inside the closures.
/// Tolerance: max relative error < `tolerance` with denominator floor `floor`.
func expectGradientMatchesAndAccumulates(
    input: [Float], seed: UInt64, tolerance: Float = 2e-2, floor: Float = 1e-2,
    step: Float = 1e-2,
    forward: ([Float]) -> [Float],
    backward: (_ dout: [Float], _ input: [Float], _ grad: inout [Float]) -> Void,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let probe = randomTensorValues(count: forward(input).count, seed: seed)
    let numeric = numericalGradient(at: input, step: step) { x in weightedSum(forward(x), probe) }
    var analytic = [Float](repeating: 0, count: input.count)
    backward(probe, input, &analytic)
    #expect(analytic.contains { $0 != 0 }, "gradient is all zero", sourceLocation: sourceLocation)
    expectClose(analytic, numeric, tolerance: tolerance, floor: floor, sourceLocation: sourceLocation)

    let prefill = randomTensorValues(count: input.count, seed: seed &+ 101)
    var accumulated = prefill
    backward(probe, input, &accumulated)
    expectClose(
        accumulated, zip(prefill, analytic).map(+), tolerance: 1e-5, floor: 1e-3,
        sourceLocation: sourceLocation)
}

/// Splits `values` into consecutive pieces of the given sizes.
func split(_ values: [Float], _ sizes: [Int]) -> [[Float]] {
    precondition(sizes.reduce(0, +) == values.count, "split sizes do not add up")
    var pieces: [[Float]] = []
    var start = 0
    for size in sizes {
        pieces.append(Array(values[start..<start + size]))
        start += size
    }
    return pieces
}
