import Foundation
import MoETensor
import MoETestSupport
import Testing

@Suite struct GELUTests {
    static func reference(_ x: Float) -> Float { Float(0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))) }

    /// Odd sizes exercise the SIMD tail; 70_001 the two-thread split. Inputs cover the
    /// erf approximation's branches (|x/√2| below 1, up to 4, and the saturated tail).
    @Test(arguments: [1, 7, 8, 19, 70_001], [KernelPath.automatic, .portable])
    func forwardMatchesErfReference(count: Int, path: KernelPath) {
        let x = randomTensorValues(count: count, seed: 30, scale: 9)
        var y = [Float](repeating: .nan, count: count)
        geluForward(out: &y, inp: x, count: count, path: path)
        // Absolute error: erf is approximated to ~1.5e-7, so y is off by at most ~|x|·1e-7.
        let worst = zip(y, x).map { abs($0 - Self.reference($1)) / max(1, abs($1)) }.max() ?? 0
        #expect(worst < 5e-7)
    }

    @Test(arguments: [KernelPath.automatic, .portable])
    func derivativeMatchesAnalyticFormulaOnDenseGrid(path: KernelPath) {
        let x = stride(from: Float(-8), through: 8, by: 0.01).map { $0 }
        var dx = [Float](repeating: 0, count: x.count)
        geluBackward(dinp: &dx, inp: x, dout: [Float](repeating: 1, count: x.count), count: x.count, path: path)
        let expected = x.map { v -> Float in
            let d = Double(v)
            return Float(0.5 * (1 + erf(d / 2.0.squareRoot())) + d * exp(-d * d / 2) / (2 * Double.pi).squareRoot())
        }
        let worst = zip(dx, expected).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-6)
    }

    /// The fused training forward gives the same activations and saves the derivative
    /// that the one-multiply backward uses; both agree with the plain pair.
    @Test(arguments: [5, 8, 70_001])
    func fusedForwardSavesTheDerivative(count: Int) {
        let x = randomTensorValues(count: count, seed: 33, scale: 9)
        var plain = [Float](repeating: .nan, count: count)
        geluForward(out: &plain, inp: x, count: count)
        var fused = [Float](repeating: .nan, count: count)
        var derivative = [Float](repeating: .nan, count: count)
        geluForward(out: &fused, derivative: &derivative, inp: x, count: count)
        #expect(zip(plain, fused).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($0)) })

        let dout = randomTensorValues(count: count, seed: 34, scale: 1)
        var fromInput = [Float](repeating: 0.5, count: count)
        geluBackward(dinp: &fromInput, inp: x, dout: dout, count: count)
        var fromSaved = [Float](repeating: 0.5, count: count)
        geluBackward(dinp: &fromSaved, derivative: derivative, dout: dout, count: count)
        #expect(zip(fromInput, fromSaved).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($0)) })
    }

    /// In place (`out` is `inp`, as the MLPs run it) both forwards give exactly what they
    /// give into separate memory: every vector is read before it is written.
    @Test(arguments: [5, 8, 70_001], [KernelPath.automatic, .portable])
    func inPlaceForwardEqualsOutOfPlace(count: Int, path: KernelPath) {
        let x = randomTensorValues(count: count, seed: 35, scale: 9)
        var apart = [Float](repeating: .nan, count: count)
        geluForward(out: &apart, inp: x, count: count, path: path)
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer {
            geluForward(out: $0.baseAddress!, inp: $0.baseAddress!, count: count, path: path)
        }
        #expect(inPlace.map(\.bitPattern) == apart.map(\.bitPattern))

        var derivativeApart = [Float](repeating: .nan, count: count)
        geluForward(out: &apart, derivative: &derivativeApart, inp: x, count: count, path: path)
        var derivative = [Float](repeating: .nan, count: count)
        inPlace = x
        inPlace.withUnsafeMutableBufferPointer {
            geluForward(out: $0.baseAddress!, derivative: &derivative, inp: $0.baseAddress!, count: count, path: path)
        }
        #expect(inPlace.map(\.bitPattern) == apart.map(\.bitPattern))
        #expect(derivative.map(\.bitPattern) == derivativeApart.map(\.bitPattern))
    }
    @Test(arguments: [KernelPath.automatic, .portable])
    func gradientMatchesFiniteDifferencesAndAccumulates(path: KernelPath) {
        expectGradientMatchesAndAccumulates(
            input: randomTensorValues(count: 37, seed: 31, scale: 3), seed: 32,
            forward: { x in
                var y = [Float](repeating: 0, count: x.count)
                geluForward(out: &y, inp: x, count: x.count, path: path)
                return y
            },
            backward: { dout, x, grad in geluBackward(dinp: &grad, inp: x, dout: dout, count: x.count, path: path) })
    }

    /// The AVX2/FMA kernels (when this CPU has them) against the portable Swift kernels on a
    /// dense grid over every erf branch, with tails: they differ by FMA rounding only.
    /// Measured on Zen 3, |Δ|/max(1, |portable|): y 1.2e-7, y' 1.2e-7, accumulated dx 2.0e-7.
    @Test(arguments: [8001, 8003])
    func avx2KernelsMatchThePortableOnes(count: Int) {
        let x = (0..<count).map { Float($0 - count / 2) * 0.003 }  // −12 … 12
        let dout = randomTensorValues(count: count, seed: 35)
        func run(_ path: KernelPath) -> (y: [Float], fused: [Float], derivative: [Float], dx: [Float]) {
            var y = [Float](repeating: .nan, count: count)
            var fused = y
            var derivative = y
            var dx = [Float](repeating: 0.25, count: count)
            geluForward(out: &y, inp: x, count: count, path: path)
            geluForward(out: &fused, derivative: &derivative, inp: x, count: count, path: path)
            geluBackward(dinp: &dx, inp: x, dout: dout, count: count, path: path)
            return (y, fused, derivative, dx)
        }
        let fast = run(.automatic)
        let portable = run(.portable)
        let worst = [
            (fast.y, portable.y), (fast.fused, portable.fused), (fast.derivative, portable.derivative),
            (fast.dx, portable.dx),
        ]
        .map { pair in zip(pair.0, pair.1).map { abs($0 - $1) / max(1, abs($1)) }.max()! }
        #expect(worst[0] < 1e-6 && worst[1] < 1e-6)
        #expect(worst[2] < 5e-7 && worst[3] < 5e-7)
    }

    /// The sixteen-lane forwards equal the eight-lane ones bit for bit: every erf branch, ±0,
    /// ±∞, NaN and the saturation bounds, with tails of 1 to 15 lanes.
    @Test(.enabled(if: KernelPath.hasAVX512, "the CPU has no AVX-512F"), arguments: [16, 8001, 8003, 8015])
    func avx512ForwardsMatchAVX2BitForBit(count: Int) {
        var x = (0..<count).map { Float($0 - count / 2) * 0.003 }  // −12 … 12
        let special: [Float] = [0, -0, .infinity, -.infinity, .nan, 4, -4, 1, -1, 200, -200, 1e-30, -1e-30]
        for (i, value) in special.enumerated() where i < count { x[(i * 613) % count] = value }
        func run(_ path: KernelPath) -> [[Float]] {
            var y = [Float](repeating: .nan, count: count)
            var fused = y
            var derivative = y
            geluForward(out: &y, inp: x, count: count, path: path)
            geluForward(out: &fused, derivative: &derivative, inp: x, count: count, path: path)
            return [y, fused, derivative]
        }
        for (wide, narrow) in zip(run(.automatic), run(.avx2)) {
            #expect(wide.indices.allSatisfy { wide[$0].bitPattern == narrow[$0].bitPattern })
        }
    }
}

@Suite struct SoftmaxTests {
    static func reference(_ x: [Float], rows: Int, cols: Int) -> [Float] {
        var y = x
        for r in 0..<rows {
            let row = x[r * cols..<(r + 1) * cols].map(Double.init)
            let m = row.max()!
            let e = row.map { exp($0 - m) }
            let s = e.reduce(0, +)
            for c in 0..<cols { y[r * cols + c] = Float(e[c] / s) }
        }
        return y
    }

    @Test(arguments: [(1, 1), (3, 5), (4, 8), (6, 19), (300, 33)])
    func forwardMatchesNaive(rows: Int, cols: Int) {
        let x = randomTensorValues(count: rows * cols, seed: 40, scale: 6)
        var y = [Float](repeating: .nan, count: rows * cols)
        softmaxForward(out: &y, inp: x, rows: rows, cols: cols)
        expectClose(y, Self.reference(x, rows: rows, cols: cols), tolerance: 1e-5, floor: 1e-6)
    }

    /// The AVX2 rows equal the portable ones bit for bit: row tails of every length, masked
    /// (−∞) entries, saturating and underflowing exponents, a NaN entry and an all-masked row
    /// (both rows of NaN).
    @Test(arguments: [1, 3, 8, 12, 13, 50, 145])
    func avx2MatchesPortableBitForBit(cols: Int) {
        let rows = 40
        var x = randomTensorValues(count: rows * cols, seed: 45, scale: 8)
        for i in stride(from: 3, to: x.count, by: 7) { x[i] = -.infinity }
        for i in stride(from: 5, to: x.count, by: 11) { x[i] *= 30 }
        x[2 * cols] = .nan
        for c in 0..<cols { x[cols + c] = -.infinity }
        var wide = [Float](repeating: 0, count: x.count)
        var portable = [Float](repeating: 0, count: x.count)
        softmaxForward(out: &wide, inp: x, rows: rows, cols: cols, path: .avx2)
        softmaxForward(out: &portable, inp: x, rows: rows, cols: cols, path: .portable)
        #expect(wide.indices.allSatisfy { wide[$0].bitPattern == portable[$0].bitPattern })
        #expect(wide[cols..<3 * cols].allSatisfy { $0.isNaN })
    }

    @Test func maskedEntriesGetExactlyZeroProbabilityAndGradient() {
        let rows = 3
        let cols = 11
        var x = randomTensorValues(count: rows * cols, seed: 41, scale: 3)
        let masked: Set<Int> = [0, 4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 32]  // row 1 keeps cols 9, 10
        for i in masked { x[i] = -.infinity }
        var y = [Float](repeating: .nan, count: rows * cols)
        softmaxForward(out: &y, inp: x, rows: rows, cols: cols)
        for i in masked { #expect(y[i] == 0) }
        for r in 0..<rows {
            let sum = y[r * cols..<(r + 1) * cols].reduce(0, +)
            #expect(abs(sum - 1) < 1e-5)
        }
        var finite = x
        for i in masked { finite[i] = -1e30 }
        expectClose(y, Self.reference(finite, rows: rows, cols: cols), tolerance: 1e-5, floor: 1e-6)
        var dx = [Float](repeating: 0, count: rows * cols)
        softmaxBackward(
            dinp: &dx, dout: randomTensorValues(count: rows * cols, seed: 42), out: y, rows: rows, cols: cols)
        for i in masked { #expect(dx[i] == 0) }
    }

    @Test(arguments: [(2, 5), (3, 12)])
    func gradientMatchesFiniteDifferencesAndAccumulates(rows: Int, cols: Int) {
        expectGradientMatchesAndAccumulates(
            input: randomTensorValues(count: rows * cols, seed: 43, scale: 2), seed: 44,
            forward: { x in
                var y = [Float](repeating: 0, count: x.count)
                softmaxForward(out: &y, inp: x, rows: rows, cols: cols)
                return y
            },
            backward: { dout, x, grad in
                var y = [Float](repeating: 0, count: x.count)
                softmaxForward(out: &y, inp: x, rows: rows, cols: cols)
                softmaxBackward(dinp: &grad, dout: dout, out: y, rows: rows, cols: cols)
            })
    }
}

@Suite struct LayerNormTests {
    @Test(arguments: [(1, 1), (2, 5), (3, 16), (5, 21), (300, 64)])
    func forwardMatchesNaive(rows: Int, dim: Int) {
        // An offset mean checks the variance does not cancel catastrophically.
        let x = randomTensorValues(count: rows * dim, seed: 50, scale: 2).map { $0 + 3 }
        let w = randomTensorValues(count: dim, seed: 51)
        let b = randomTensorValues(count: dim, seed: 52)
        var y = [Float](repeating: .nan, count: rows * dim)
        var mean = [Float](repeating: .nan, count: rows)
        var rstd = mean
        layerNormForward(out: &y, mean: &mean, rstd: &rstd, inp: x, weight: w, bias: b, rows: rows, dim: dim, eps: 1e-5)
        var expected = y
        var expectedMean = mean
        var expectedRstd = rstd
        for r in 0..<rows {
            let row = x[r * dim..<(r + 1) * dim].map(Double.init)
            let m = row.reduce(0, +) / Double(dim)
            let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(dim)
            let s = 1 / (v + 1e-5).squareRoot()
            expectedMean[r] = Float(m)
            expectedRstd[r] = Float(s)
            for i in 0..<dim { expected[r * dim + i] = Float((row[i] - m) * s * Double(w[i]) + Double(b[i])) }
        }
        expectClose(y, expected, tolerance: 1e-4, floor: 1e-2)
        expectClose(mean, expectedMean, tolerance: 1e-5)
        expectClose(rstd, expectedRstd, tolerance: 1e-4)
    }

    @Test(arguments: [(3, 5), (2, 16), (2, 19)])
    func gradientsMatchFiniteDifferencesAndAccumulate(rows: Int, dim: Int) {
        let sizes = [rows * dim, dim, dim]
        func run(_ p: [[Float]]) -> (y: [Float], mean: [Float], rstd: [Float]) {
            var y = [Float](repeating: 0, count: rows * dim)
            var mean = [Float](repeating: 0, count: rows)
            var rstd = mean
            layerNormForward(
                out: &y, mean: &mean, rstd: &rstd, inp: p[0], weight: p[1], bias: p[2], rows: rows, dim: dim)
            return (y, mean, rstd)
        }
        expectGradientMatchesAndAccumulates(
            input: randomTensorValues(count: sizes.reduce(0, +), seed: 53), seed: 54,
            forward: { run(split($0, sizes)).y },
            backward: { dout, all, grad in
                let p = split(all, sizes)
                let saved = run(p)
                let g = split(grad, sizes)
                var (dx, dw, db) = (g[0], g[1], g[2])
                layerNormBackward(
                    dinp: &dx, dweight: &dw, dbias: &db, dout: dout, inp: p[0], weight: p[1],
                    mean: saved.mean, rstd: saved.rstd, rows: rows, dim: dim)
                grad = dx + dw + db
            })
    }

    /// Many rows so the parameter gradients go through the per-chunk partial sums.
    @Test func parameterGradientsOverManyRowsMatchNaive() {
        let rows = 600
        let dim = 64
        let x = randomTensorValues(count: rows * dim, seed: 55)
        let w = randomTensorValues(count: dim, seed: 56)
        let dy = randomTensorValues(count: rows * dim, seed: 57)
        var y = x
        var mean = [Float](repeating: 0, count: rows)
        var rstd = mean
        layerNormForward(out: &y, mean: &mean, rstd: &rstd, inp: x, weight: w, bias: w, rows: rows, dim: dim)
        var dx = [Float](repeating: 0, count: rows * dim)
        var dw = [Float](repeating: 1, count: dim)
        var db = dw
        layerNormBackward(
            dinp: &dx, dweight: &dw, dbias: &db, dout: dy, inp: x, weight: w, mean: mean, rstd: rstd, rows: rows,
            dim: dim)
        var expectedW = [Double](repeating: 1, count: dim)
        var expectedB = expectedW
        for r in 0..<rows {
            for i in 0..<dim {
                let n = (Double(x[r * dim + i]) - Double(mean[r])) * Double(rstd[r])
                expectedW[i] += Double(dy[r * dim + i]) * n
                expectedB[i] += Double(dy[r * dim + i])
            }
        }
        expectClose(dw, expectedW.map { Float($0) }, tolerance: 1e-4)
        expectClose(db, expectedB.map { Float($0) }, tolerance: 1e-4)
    }

    /// The AVX2 rows are the portable kernel's bit for bit: forward outputs and statistics,
    /// and the accumulated input, weight and bias gradients (with and without the parameter
    /// gradients), over widths with and without a tail of < 8 and offset means.
    @Test(
        .enabled(if: KernelPath.hasAVX2FMA, "the CPU has no AVX2"),
        arguments: [(1, 1), (3, 7), (5, 21), (300, 128), (700, 64)])
    func avx2MatchesPortableBitForBit(rows: Int, dim: Int) {
        let x = randomTensorValues(count: rows * dim, seed: 58, scale: 2).map { $0 + 3 }
        let (w, b) = (randomTensorValues(count: dim, seed: 59), randomTensorValues(count: dim, seed: 60))
        let dy = randomTensorValues(count: rows * dim, seed: 61)
        var outputs: [[Float]] = []
        for path in [KernelPath.automatic, .portable] {
            var (y, mean, rstd) = (
                [Float](repeating: .nan, count: rows * dim), [Float](repeating: .nan, count: rows),
                [Float](repeating: .nan, count: rows)
            )
            layerNormForward(
                out: &y, mean: &mean, rstd: &rstd, inp: x, weight: w, bias: b, rows: rows, dim: dim, path: path)
            var (dx, dw, db) = (dy, b, w)
            layerNormBackward(
                dinp: &dx, dweight: &dw, dbias: &db, dout: dy, inp: x, weight: w, mean: mean, rstd: rstd, rows: rows,
                dim: dim, path: path)
            var dxOnly = x
            layerNormBackward(
                dinp: &dxOnly, dweight: nil, dbias: nil, dout: dy, inp: x, weight: w, mean: mean, rstd: rstd,
                rows: rows, dim: dim, path: path)
            outputs.append(y + mean + rstd + dx + dw + db + dxOnly)
        }
        let first = outputs[0].indices.first { outputs[0][$0].bitPattern != outputs[1][$0].bitPattern }
        #expect(first == nil, "differs first at \(first ?? -1)")
    }
}

@Suite struct CrossEntropyTests {
    @Test(arguments: [(1, 1), (4, 3), (5, 10), (2, 17)])
    func forwardMatchesNaiveAndIgnoresNegativeTargets(rows: Int, classes: Int) {
        let logits = randomTensorValues(count: rows * classes, seed: 60, scale: 4)
        let targets = (0..<rows).map { Int32($0 == 1 ? -1 : ($0 * 7) % classes) }
        var losses = [Float](repeating: .nan, count: rows)
        var probs = [Float](repeating: .nan, count: rows * classes)
        crossEntropyForward(
            losses: &losses, probs: &probs, logits: logits, targets: targets, rows: rows, classes: classes)
        let expectedProbs = SoftmaxTests.reference(logits, rows: rows, cols: classes)
        expectClose(probs, expectedProbs, tolerance: 1e-5, floor: 1e-6)
        for r in 0..<rows {
            let t = Int(targets[r])
            if t < 0 {
                #expect(losses[r] == 0)
            } else {
                let row = logits[r * classes..<(r + 1) * classes].map(Double.init)
                let m = row.max()!
                let lse = m + log(row.map { exp($0 - m) }.reduce(0, +))
                #expect(abs(Double(losses[r]) - (lse - row[t])) < 1e-5 * max(1, lse - row[t]))
            }
        }
    }

    @Test func gradientMatchesFiniteDifferencesAndSkipsIgnoredRows() {
        let rows = 4
        let classes = 5
        let targets: [Int32] = [2, -1, 0, 4]
        let scale: Float = 0.25
        expectGradientMatchesAndAccumulates(
            input: randomTensorValues(count: rows * classes, seed: 61, scale: 2), seed: 62,
            forward: { z in
                var losses = [Float](repeating: 0, count: rows)
                var probs = [Float](repeating: 0, count: rows * classes)
                crossEntropyForward(
                    losses: &losses, probs: &probs, logits: z, targets: targets, rows: rows, classes: classes)
                return [losses.reduce(0, +) * scale]  // mean-style loss: every row weighted by `scale`
            },
            backward: { dout, z, grad in
                var losses = [Float](repeating: 0, count: rows)
                var probs = [Float](repeating: 0, count: rows * classes)
                crossEntropyForward(
                    losses: &losses, probs: &probs, logits: z, targets: targets, rows: rows, classes: classes)
                crossEntropyBackward(
                    dlogits: &grad, probs: probs, targets: targets, scale: scale * dout[0], rows: rows, classes: classes
                )
            })
        var grad = [Float](repeating: 0, count: rows * classes)
        let probs = [Float](repeating: 0.2, count: rows * classes)
        crossEntropyBackward(dlogits: &grad, probs: probs, targets: targets, scale: 1, rows: rows, classes: classes)
        #expect(grad[5..<10].allSatisfy { $0 == 0 })
        #expect(grad[0..<5].contains { $0 != 0 })
    }
}
