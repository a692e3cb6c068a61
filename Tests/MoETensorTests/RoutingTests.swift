import MoETensor
import MoETestSupport
import Testing

@Suite struct TopKTests {
    static func run(_ x: [Float], allowed: [Bool]?, rows: Int, cols: Int, k: Int) -> (indices: [Int32], values: [Float])
    {
        var indices = [Int32](repeating: -7, count: rows * k)
        var values = [Float](repeating: .nan, count: rows * k)
        if let allowed {
            topKForward(indices: &indices, values: &values, inp: x, allowed: allowed, rows: rows, cols: cols, k: k)
        } else {
            topKForward(indices: &indices, values: &values, inp: x, allowed: nil, rows: rows, cols: cols, k: k)
        }
        return (indices, values)
    }

    /// Reference: stable sort of the allowed columns by value, descending.
    @Test(arguments: [(1, 1, 1), (4, 6, 2), (5, 8, 8), (3, 16, 3)])
    func matchesStableSortReference(rows: Int, cols: Int, k: Int) {
        let x = randomTensorValues(count: rows * cols, seed: 80)
        let result = Self.run(x, allowed: nil, rows: rows, cols: cols, k: k)
        for r in 0..<rows {
            let order = (0..<cols).sorted { a, b in
                x[r * cols + a] != x[r * cols + b] ? x[r * cols + a] > x[r * cols + b] : a < b
            }
            #expect(result.indices[r * k..<(r + 1) * k].map(Int.init) == Array(order.prefix(k)))
            #expect(result.values[r * k..<(r + 1) * k].elementsEqual(order.prefix(k).map { x[r * cols + $0] }))
        }
    }

    @Test func tiesGoToTheLowerIndex() {
        let x: [Float] = [1, 3, 3, 2, 3, 0, 5, 5, 5, 5, 5, 5]
        let result = Self.run(x, allowed: nil, rows: 2, cols: 6, k: 4)
        #expect(result.indices == [1, 2, 4, 3, 0, 1, 2, 3])
        #expect(result.values == [3, 3, 3, 2, 5, 5, 5, 5])
    }

    @Test func maskedColumnsAreNeverChosenAndIndicesAreDistinct() {
        let rows = 40
        let cols = 7
        let k = 3
        var x = randomTensorValues(count: rows * cols, seed: 81)
        for r in 0..<rows { x[r * cols + 2] = 100 }  // the best column, but masked
        let allowed = [true, true, false, true, false, true, true]
        let result = Self.run(x, allowed: allowed, rows: rows, cols: cols, k: k)
        for r in 0..<rows {
            let chosen = result.indices[r * k..<(r + 1) * k].map(Int.init)
            #expect(Set(chosen).count == k)
            #expect(chosen.allSatisfy { allowed[$0] })
            let best = (0..<cols).filter { allowed[$0] }.sorted { x[r * cols + $0] > x[r * cols + $1] }
            #expect(chosen == Array(best.prefix(k)))
        }
        // k equal to the allowed count selects exactly the allowed columns.
        let all = Self.run(x, allowed: allowed, rows: rows, cols: cols, k: 5)
        #expect(Set(all.indices[0..<5].map(Int.init)) == [0, 1, 3, 5, 6])
    }

    @Test func gradientMatchesFiniteDifferencesAndAccumulates() {
        let rows = 3
        let cols = 6
        let k = 2
        // Values spaced 0.1 apart so the finite-difference step never reorders them.
        var generator = SeededGenerator(seed: 82)
        let x = (0..<rows).flatMap { _ in generator.permutation(cols).map { Float($0) * 0.1 } }
        expectGradientMatchesAndAccumulates(
            input: x, seed: 83,
            forward: { Self.run($0, allowed: nil, rows: rows, cols: cols, k: k).values },
            backward: { dvalues, x, grad in
                let indices = Self.run(x, allowed: nil, rows: rows, cols: cols, k: k).indices
                topKBackward(dinp: &grad, dvalues: dvalues, indices: indices, rows: rows, cols: cols, k: k)
            })
    }
}

@Suite struct DispatchTests {
    let rowIndices: [Int32] = [3, 0, 3, 1, 4]  // repeats, and row 2 is never used
    let sourceRows = 5, dim = 6

    @Test func gatherCopiesRowsAndBackwardAddsThemBack() {
        let src = randomTensorValues(count: sourceRows * dim, seed: 90)
        var out = [Float](repeating: .nan, count: rowIndices.count * dim)
        gatherRowsForward(out: &out, src: src, rowIndices: rowIndices, count: rowIndices.count, dim: dim)
        for (i, r) in rowIndices.enumerated() {
            #expect(out[i * dim..<(i + 1) * dim].elementsEqual(src[Int(r) * dim..<(Int(r) + 1) * dim]))
        }
        expectGradientMatchesAndAccumulates(
            input: src, seed: 91,
            forward: { src in
                var out = [Float](repeating: 0, count: rowIndices.count * dim)
                gatherRowsForward(out: &out, src: src, rowIndices: rowIndices, count: rowIndices.count, dim: dim)
                return out
            },
            backward: { dout, _, grad in
                gatherRowsBackward(dsrc: &grad, dout: dout, rowIndices: rowIndices, count: rowIndices.count, dim: dim)
            })
    }

    @Test(arguments: [true, false])
    func scatterAddMatchesNaive(withScale: Bool) {
        let n = rowIndices.count
        let src = randomTensorValues(count: n * dim, seed: 92)
        let scale = randomTensorValues(count: n, seed: 93)
        let start = randomTensorValues(count: sourceRows * dim, seed: 94)
        var dst = start
        scatterAddRowsForward(
            dst: &dst, src: src, rowIndices: rowIndices, scale: withScale ? scale : nil, count: n, dim: dim)
        var expected = start.map(Double.init)
        for i in 0..<n {
            for j in 0..<dim {
                expected[Int(rowIndices[i]) * dim + j] += Double(withScale ? scale[i] : 1) * Double(src[i * dim + j])
            }
        }
        expectClose(dst, expected.map { Float($0) }, tolerance: 1e-6)
    }

    /// Gradients with respect to both the rows and the per-row scales.
    @Test func scatterAddGradientsMatchFiniteDifferencesAndAccumulate() {
        let n = rowIndices.count
        let sizes = [n * dim, n]
        expectGradientMatchesAndAccumulates(
            input: randomTensorValues(count: sizes.reduce(0, +), seed: 95), seed: 96,
            forward: { all in
                let p = split(all, sizes)
                var dst = [Float](repeating: 0, count: sourceRows * dim)
                scatterAddRowsForward(dst: &dst, src: p[0], rowIndices: rowIndices, scale: p[1], count: n, dim: dim)
                return dst
            },
            backward: { ddst, all, grad in
                let p = split(all, sizes)
                let g = split(grad, sizes)
                var (dsrc, dscale) = (g[0], g[1])
                scatterAddRowsBackward(
                    dsrc: &dsrc, dscale: &dscale, ddst: ddst, src: p[0], rowIndices: rowIndices,
                    scale: p[1], count: n, dim: dim)
                grad = dsrc + dscale
            })
    }

    /// Writing (`accumulating: false`) over garbage gives, bit for bit, accumulating into zeros.
    @Test func scatterAddBackwardWritesAsIntoZeros() {
        let n = rowIndices.count
        let (ddst, src) = (
            randomTensorValues(count: sourceRows * dim, seed: 97), randomTensorValues(count: n * dim, seed: 98)
        )
        var scale = randomTensorValues(count: n, seed: 99)
        scale[1] = -0.0  // −0 · g must come out +0, as 0 + (−0 · g) does
        var (dsrc, dscale) = ([Float](repeating: 0, count: n * dim), [Float](repeating: 0, count: n))
        scatterAddRowsBackward(
            dsrc: &dsrc, dscale: &dscale, ddst: ddst, src: src, rowIndices: rowIndices, scale: scale, count: n, dim: dim
        )
        var (written, writtenScale) = ([Float](repeating: .nan, count: n * dim), [Float](repeating: .nan, count: n))
        scatterAddRowsBackward(
            dsrc: &written, dscale: &writtenScale, ddst: ddst, src: src, rowIndices: rowIndices, scale: scale,
            count: n, dim: dim, accumulating: false)
        #expect(written.map(\.bitPattern) == dsrc.map(\.bitPattern))
        #expect(writtenScale.map(\.bitPattern) == dscale.map(\.bitPattern))
    }

    /// The wide rows (AVX-512 copies and scaled adds, AVX2 dot products) are the portable
    /// kernels' bit for bit: the gather, all three accumulating kernels and the writing
    /// backward, at a width with a tail of < 8 and at 128, over enough routed rows (2,000,
    /// indices repeating) to run threaded.
    @Test(.enabled(if: KernelPath.hasAVX512, "the CPU has no AVX-512F"), arguments: [21, 128])
    func wideRowsMatchPortableBitForBit(dim: Int) {
        let (n, tokens) = (2_000, 600)
        let indices = (0..<n).map { Int32(($0 * 7919) % tokens) }
        let (src, ddst) = (
            randomTensorValues(count: n * dim, seed: 100), randomTensorValues(count: tokens * dim, seed: 101)
        )
        let scale = randomTensorValues(count: n, seed: 102)
        var results: [[Float]] = []
        for path in [KernelPath.automatic, .portable] {
            var copied = [Float](repeating: .nan, count: n * dim)
            gatherRowsForward(out: &copied, src: ddst, rowIndices: indices, count: n, dim: dim, path: path)
            var gathered = randomTensorValues(count: tokens * dim, seed: 103)
            gatherRowsBackward(dsrc: &gathered, dout: src, rowIndices: indices, count: n, dim: dim, path: path)
            var scattered = randomTensorValues(count: tokens * dim, seed: 104)
            scatterAddRowsForward(
                dst: &scattered, src: src, rowIndices: indices, scale: scale, count: n, dim: dim, path: path)
            var (dsrc, dscale) = (
                randomTensorValues(count: n * dim, seed: 105), randomTensorValues(count: n, seed: 106)
            )
            scatterAddRowsBackward(
                dsrc: &dsrc, dscale: &dscale, ddst: ddst, src: src, rowIndices: indices, scale: scale, count: n,
                dim: dim, path: path)
            var (written, writtenScale) = ([Float](repeating: .nan, count: n * dim), [Float](repeating: .nan, count: n))
            scatterAddRowsBackward(
                dsrc: &written, dscale: &writtenScale, ddst: ddst, src: src, rowIndices: indices, scale: scale,
                count: n,
                dim: dim, accumulating: false, path: path)
            results.append(copied + gathered + scattered + dsrc + dscale + written + writtenScale)
        }
        let first = results[0].indices.first { results[0][$0].bitPattern != results[1][$0].bitPattern }
        #expect(first == nil, "differs first at \(first ?? -1)")
    }

    /// Given each row's sources (`RowSources`: K routed rows per token, as the MoE layer lists
    /// them), the kernels add in the counting sort's order, bit for bit; the scatter-add
    /// overwriting (`accumulating: false`, over NaN) gives what adding into zeros gives.
    @Test(arguments: [KernelPath.automatic, .portable], [21, 128])
    func givenRowSourcesMatchTheCountingSort(path: KernelPath, dim: Int) {
        let (tokens, k) = (600, 4)
        let n = tokens * k
        let indices = (0..<n).map { Int32(($0 * 7919) % n % tokens) }
        var sources = [Int32]()
        for token in 0..<tokens { sources += (0..<n).filter { indices[$0] == token }.map(Int32.init) }
        #expect(sources.count == n)
        let (src, scale) = (randomTensorValues(count: n * dim, seed: 107), randomTensorValues(count: n, seed: 108))
        var (sorted, given) = (
            [Float](repeating: 0, count: tokens * dim), [Float](repeating: .nan, count: tokens * dim)
        )
        scatterAddRowsForward(
            dst: &sorted, src: src, rowIndices: indices, scale: scale, count: n, dim: dim, path: path)
        var (gatheredSorted, gatheredGiven) = (
            randomTensorValues(count: tokens * dim, seed: 109), randomTensorValues(count: tokens * dim, seed: 109)
        )
        gatherRowsBackward(dsrc: &gatheredSorted, dout: src, rowIndices: indices, count: n, dim: dim, path: path)
        sources.withUnsafeBufferPointer { list in
            let rows = RowSources(sources: list.baseAddress!, rows: tokens, perRow: k)
            scatterAddRowsForward(
                dst: &given, src: src, rowIndices: indices, scale: scale, count: n, dim: dim, sources: rows,
                accumulating: false, path: path)
            gatherRowsBackward(
                dsrc: &gatheredGiven, dout: src, rowIndices: indices, count: n, dim: dim, sources: rows, path: path)
        }
        #expect(given.map(\.bitPattern) == sorted.map(\.bitPattern))
        #expect(gatheredGiven.map(\.bitPattern) == gatheredSorted.map(\.bitPattern))
    }

    @Test func scatterAddBackwardWithoutScaleUsesOne() {
        let n = rowIndices.count
        let ddst = randomTensorValues(count: sourceRows * dim, seed: 97)
        var dsrc = [Float](repeating: 0, count: n * dim)
        scatterAddRowsBackward(
            dsrc: &dsrc, dscale: nil, ddst: ddst, src: dsrc, rowIndices: rowIndices, scale: nil,
            count: n, dim: dim)
        for (i, r) in rowIndices.enumerated() {
            #expect(dsrc[i * dim..<(i + 1) * dim].elementsEqual(ddst[Int(r) * dim..<(Int(r) + 1) * dim]))
        }
    }
}
