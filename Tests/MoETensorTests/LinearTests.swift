import MoETensor
import MoETestSupport
import Testing

@Suite struct LinearTests {
    static func naiveLinear(_ x: [Float], _ w: [Float], _ b: [Float]?, rows: Int, inDim: Int, outDim: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outDim)
        for r in 0..<rows {
            for o in 0..<outDim {
                var sum = Double(b?[o] ?? 0)
                for i in 0..<inDim { sum += Double(x[r * inDim + i]) * Double(w[i * outDim + o]) }
                y[r * outDim + o] = Float(sum)
            }
        }
        return y
    }

    @Test(arguments: [(1, 1, 1), (3, 4, 5), (17, 9, 6), (0, 3, 2)])
    func forwardMatchesNaive(rows: Int, inDim: Int, outDim: Int) {
        let x = randomTensorValues(count: rows * inDim, seed: 10)
        let w = randomTensorValues(count: inDim * outDim, seed: 11)
        let b = randomTensorValues(count: outDim, seed: 12)
        var y = [Float](repeating: .nan, count: rows * outDim)
        linearForward(out: &y, inp: x, weight: w, bias: b, rows: rows, inDim: inDim, outDim: outDim)
        expectClose(y, Self.naiveLinear(x, w, b, rows: rows, inDim: inDim, outDim: outDim), tolerance: 1e-5)
        // Without bias the stale output (NaN here) must be overwritten, not added to.
        var noBias = [Float](repeating: .nan, count: rows * outDim)
        linearForward(out: &noBias, inp: x, weight: w, bias: nil, rows: rows, inDim: inDim, outDim: outDim)
        expectClose(noBias, Self.naiveLinear(x, w, nil, rows: rows, inDim: inDim, outDim: outDim), tolerance: 1e-5)
    }

    @Test func gradientsMatchFiniteDifferencesAndAccumulate() {
        let rows = 4
        let inDim = 3
        let outDim = 5
        let sizes = [rows * inDim, inDim * outDim, outDim]
        expectGradientMatchesAndAccumulates(
            input: randomTensorValues(count: sizes.reduce(0, +), seed: 13), seed: 14,
            forward: { all in
                let p = split(all, sizes)
                var y = [Float](repeating: 0, count: rows * outDim)
                linearForward(out: &y, inp: p[0], weight: p[1], bias: p[2], rows: rows, inDim: inDim, outDim: outDim)
                return y
            },
            backward: { dout, all, grad in
                let p = split(all, sizes)
                let g = split(grad, sizes)
                var (dx, dw, db) = (g[0], g[1], g[2])
                linearBackward(
                    dinp: &dx, dweight: &dw, dbias: &db, dout: dout, inp: p[0], weight: p[1],
                    rows: rows, inDim: inDim, outDim: outDim)
                grad = dx + dw + db
            })
    }

    @Test func nilGradientsAreSkipped() {
        let rows = 3
        let inDim = 2
        let outDim = 4
        let x = randomTensorValues(count: rows * inDim, seed: 15)
        let w = randomTensorValues(count: inDim * outDim, seed: 16)
        let dy = randomTensorValues(count: rows * outDim, seed: 17)
        var dw = [Float](repeating: 0, count: inDim * outDim)
        linearBackward(
            dinp: nil, dweight: &dw, dbias: nil, dout: dy, inp: x, weight: w, rows: rows, inDim: inDim, outDim: outDim)
        var expected = [Float](repeating: 0, count: inDim * outDim)
        for r in 0..<rows {
            for i in 0..<inDim {
                for o in 0..<outDim { expected[i * outDim + o] += x[r * inDim + i] * dy[r * outDim + o] }
            }
        }
        expectClose(dw, expected, tolerance: 1e-5)
    }

    @Test(arguments: [(1, 1), (5, 3), (70, 9)])
    func biasForwardAddsAndBackwardSumsColumns(rows: Int, cols: Int) {
        let x = randomTensorValues(count: rows * cols, seed: 18)
        let b = randomTensorValues(count: cols, seed: 19)
        var y = x
        biasForward(out: &y, bias: b, rows: rows, cols: cols)
        expectClose(y, (0..<rows * cols).map { x[$0] + b[$0 % cols] }, tolerance: 1e-6)

        let start = randomTensorValues(count: cols, seed: 20)
        var db = start
        biasBackward(dbias: &db, dout: x, rows: rows, cols: cols)
        let expected = (0..<cols).map { c in
            Float((0..<rows).reduce(Double(start[c])) { $0 + Double(x[$1 * cols + c]) })
        }
        expectClose(db, expected, tolerance: 1e-5)
    }

    /// The AVX-512 column sums keep the portable kernel's order bit for bit: row blocks of
    /// `biasBackwardRowBlock` (a partial one last), widths over and under 16 and 64 columns,
    /// the threads' column ranges.
    @Test(
        .enabled(if: KernelPath.hasAVX512, "the CPU has no AVX-512F"),
        arguments: [(1, 1), (70, 9), (200, 128), (384, 384), (3200, 12), (130, 77)])
    func biasBackwardWideMatchesPortableBitForBit(rows: Int, cols: Int) {
        let dout = randomTensorValues(count: rows * cols, seed: 21)
        let start = randomTensorValues(count: cols, seed: 22)
        var (wide, portable) = (start, start)
        biasBackward(dbias: &wide, dout: dout, rows: rows, cols: cols)
        biasBackward(dbias: &portable, dout: dout, rows: rows, cols: cols, path: .portable)
        #expect(wide.map(\.bitPattern) == portable.map(\.bitPattern))
    }
}
