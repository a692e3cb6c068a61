import MoETensor
import MoETestSupport
import Testing

@testable import MoEModel

extension MoEModelSuites {
    /// `GroupedLinear.forwardMLP`/`backwardMLP` (each expert's MLP back to back on one
    /// thread) against the layer-by-layer order: a GEMM for every expert, GELU over all rows,
    /// a GEMM again. The design promises bit-identical results, so the check is
    /// equality, not a tolerance.
    @Suite struct ExpertMLPTests {
        struct Result {
            var out, hidden, activation, derivative: [Float]
            var dinp, dHidden, dw1, db1, dw2, db2: [Float]

            static var fields: [(String, KeyPath<Result, [Float]>)] {
                [
                    ("out", \.out), ("activation", \.activation), ("derivative", \.derivative),
                    ("dinp", \.dinp), ("dHidden", \.dHidden), ("dw1", \.dw1),
                    ("db1", \.db1), ("dw2", \.dw2), ("db2", \.db2),
                ]
            }
        }

        /// The reference: one linear layer at a time, each expert in turn on copies of its rows
        /// and weight slices (the same single GEMM per expert as the kernel under test).
        struct LayerByLayer {
            let offsets: [Int]
            let trainable: [Bool]?

            var experts: [Int] { (0..<offsets.count - 1).filter { offsets[$0 + 1] > offsets[$0] } }
            func rows(_ e: Int, width: Int) -> Range<Int> { offsets[e] * width..<offsets[e + 1] * width }

            func forward(out: inout [Float], inp: [Float], weight: [Float], bias: [Float], inDim: Int, outDim: Int) {
                for e in experts {
                    var y = [Float](repeating: 0, count: (offsets[e + 1] - offsets[e]) * outDim)
                    linearForward(
                        out: &y, inp: Array(inp[rows(e, width: inDim)]),
                        weight: Array(weight[e * inDim * outDim..<(e + 1) * inDim * outDim]),
                        bias: Array(bias[e * outDim..<(e + 1) * outDim]), rows: offsets[e + 1] - offsets[e],
                        inDim: inDim, outDim: outDim)
                    out.replaceSubrange(rows(e, width: outDim), with: y)
                }
            }

            func backward(
                dinp: inout [Float], dweight: inout [Float], dbias: inout [Float], dout: [Float], inp: [Float],
                weight: [Float], inDim: Int, outDim: Int
            ) {
                for e in experts {
                    let (w, b) = (e * inDim * outDim..<(e + 1) * inDim * outDim, e * outDim..<(e + 1) * outDim)
                    var (dx, dw, db) = (Array(dinp[rows(e, width: inDim)]), Array(dweight[w]), Array(dbias[b]))
                    let (dy, x, n) = (
                        Array(dout[rows(e, width: outDim)]), Array(inp[rows(e, width: inDim)]),
                        offsets[e + 1] - offsets[e]
                    )
                    if trainable?[e] ?? true {
                        linearBackward(
                            dinp: &dx, dweight: &dw, dbias: &db, dout: dy, inp: x, weight: Array(weight[w]), rows: n,
                            inDim: inDim, outDim: outDim)
                    } else {
                        linearBackward(
                            dinp: &dx, dweight: nil, dbias: nil, dout: dy, inp: x, weight: Array(weight[w]), rows: n,
                            inDim: inDim, outDim: outDim)
                    }
                    dinp.replaceSubrange(rows(e, width: inDim), with: dx)
                    dweight.replaceSubrange(w, with: dw)
                    dbias.replaceSubrange(b, with: db)
                }
            }
        }

        /// Experts' rows (by offsets) and widths. Experts 1 and 4 have no rows; expert 2 is
        /// frozen when `frozen`.
        struct Shape: Sendable, CustomTestStringConvertible {
            let offsets: [Int]
            let dim, hidden: Int
            var testDescription: String { "D \(dim), F \(hidden), rows \(offsets)" }
        }

        /// Small widths: every product on one thread, experts cut into blocks of 192 rows.
        /// bench-tiny's widths: an expert of 1,067 rows splits over two threads and each half
        /// into blocks; one of 100 rows would split C's columns, so it runs whole; 40 rows are
        /// too few to split at all. That expert holds more than half the rows, so the weight
        /// gradients come after all blocks; in the third shape no expert does, and each
        /// expert's weight gradients follow its blocks chunk by chunk (`gemmInnerChunks`). The
        /// last is `DenseMLPLayer`: one group of every row, hidden 4·D.
        static let shapes = [
            Shape(offsets: [0, 37, 37, 301, 320, 320, 517], dim: 16, hidden: 24),
            Shape(offsets: [0, 1067, 1067, 1167, 1207, 1207, 1607], dim: 128, hidden: 128),
            Shape(offsets: [0, 700, 700, 1340, 1725, 2055, 2100], dim: 128, hidden: 128),
            Shape(offsets: [0, 3203, 3203, 3203], dim: 128, hidden: 512),
        ]

        static func run(fused: Bool, frozen: Bool, shape: Shape) -> Result {
            let (offsets, d, f) = (shape.offsets, shape.dim, shape.hidden)
            let rows = offsets.last!
            let experts = offsets.count - 1
            let x = randomTensorValues(count: rows * d, seed: 11)
            let (w1, b1) = (
                randomTensorValues(count: experts * d * f, seed: 12), randomTensorValues(count: experts * f, seed: 13)
            )
            let (w2, b2) = (
                randomTensorValues(count: experts * f * d, seed: 14), randomTensorValues(count: experts * d, seed: 15)
            )
            let dout = randomTensorValues(count: rows * d, seed: 16)
            let trainable: [Bool]? = frozen ? (0..<experts).map { $0 != 2 } : nil
            var r = Result(
                out: .init(repeating: 0, count: rows * d), hidden: .init(repeating: 0, count: rows * f),
                activation: .init(repeating: 0, count: rows * f), derivative: .init(repeating: 0, count: rows * f),
                dinp: .init(repeating: 0, count: rows * d), dHidden: .init(repeating: 0, count: rows * f),
                dw1: randomTensorValues(count: w1.count, seed: 17),
                db1: .init(repeating: 0, count: b1.count), dw2: .init(repeating: 0, count: w2.count),
                db2: randomTensorValues(count: b2.count, seed: 18))
            if fused {
                // The backward overwrites these whole.
                for field in [\Result.dinp, \.dHidden] {
                    r[keyPath: field] = .init(repeating: .nan, count: r[keyPath: field].count)
                }
                GroupedLinear.forwardMLP(
                    out: &r.out, activation: &r.activation, derivative: &r.derivative, inp: x,
                    w1: w1, b1: b1, w2: w2, b2: b2, dim: d, hiddenDim: f, offsets: offsets)
                GroupedLinear.backwardMLP(
                    dinp: &r.dinp, dHidden: &r.dHidden, dw1: &r.dw1, db1: &r.db1,
                    dw2: &r.dw2, db2: &r.db2, dout: dout, inp: x, activation: r.activation, derivative: r.derivative,
                    w1: w1, w2: w2, dim: d, hiddenDim: f, offsets: offsets, trainable: trainable)
            } else {
                let layer = LayerByLayer(offsets: offsets, trainable: trainable)
                layer.forward(out: &r.hidden, inp: x, weight: w1, bias: b1, inDim: d, outDim: f)
                geluForward(out: &r.activation, derivative: &r.derivative, inp: r.hidden, count: rows * f)
                layer.forward(out: &r.out, inp: r.activation, weight: w2, bias: b2, inDim: f, outDim: d)
                var dActivation = [Float](repeating: 0, count: rows * f)
                layer.backward(
                    dinp: &dActivation, dweight: &r.dw2, dbias: &r.db2, dout: dout, inp: r.activation, weight: w2,
                    inDim: f, outDim: d)
                geluBackward(dinp: &r.dHidden, derivative: r.derivative, dout: dActivation, count: rows * f)
                layer.backward(
                    dinp: &r.dinp, dweight: &r.dw1, dbias: &r.db1, dout: r.dHidden, inp: x, weight: w1, inDim: d,
                    outDim: f)
            }
            return r
        }

        @Test(
            "an expert's MLP back to back equals the layer-by-layer order bit for bit",
            arguments: [false, true], shapes)
        func matchesLayerByLayer(frozen: Bool, shape: Shape) {
            let fused = Self.run(fused: true, frozen: frozen, shape: shape)
            let layered = Self.run(fused: false, frozen: frozen, shape: shape)
            for (name, field) in Result.fields {
                let (a, b) = (fused[keyPath: field], layered[keyPath: field])
                let first = a.indices.first { a[$0].bitPattern != b[$0].bitPattern }
                #expect(a.count == b.count && first == nil, "\(name) differs first at \(first ?? -1)")
            }
            // The frozen expert's weight gradients are left as they were.
            if frozen {
                let (d, f) = (shape.dim, shape.hidden)
                #expect(fused.dw2[2 * f * d..<3 * f * d].allSatisfy { $0 == 0 })
                #expect(
                    fused.dw1[2 * d * f..<3 * d * f]
                        == randomTensorValues(count: 6 * d * f, seed: 17)[2 * d * f..<3 * d * f])
            }
        }
    }
}
