/// Small dense helpers over flat gradient buffers (Double accumulation).
public enum GradientMath {
    public static func dot(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "dot of \(a.count) and \(b.count) values")
        var s: Double = 0
        a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                var acc = SIMD8<Double>()
                var i = 0
                while i + 8 <= x.count {
                    let u = SIMD8<Double>(UnsafeRawPointer(x.baseAddress! + i).loadUnaligned(as: SIMD8<Float>.self))
                    let v = SIMD8<Double>(UnsafeRawPointer(y.baseAddress! + i).loadUnaligned(as: SIMD8<Float>.self))
                    acc += u * v
                    i += 8
                }
                s = acc.sum()
                while i < x.count {
                    s += Double(x[i]) * Double(y[i])
                    i += 1
                }
            }
        }
        return s
    }

    public static func norm(_ a: [Float]) -> Float { Float(dot(a, a).squareRoot()) }

    /// G = J·Jᵀ of the rows.
    public static func gramian(_ rows: [[Float]]) -> [[Double]] {
        let t = rows.count
        var g = Array(repeating: Array(repeating: 0.0, count: t), count: t)
        for i in 0..<t {
            for j in i..<t {
                g[i][j] = dot(rows[i], rows[j])
                g[j][i] = g[i][j]
            }
        }
        return g
    }

    /// Σ_t coefficients[t] · rows[t].
    public static func combine(_ rows: [[Float]], coefficients: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: rows.first?.count ?? 0)
        for (t, row) in rows.enumerated() {
            for i in row.indices { out[i] += coefficients[t] * row[i] }
        }
        return out
    }
}
