/// Row gather and scatter-add: moving tokens to their experts and the weighted expert
/// outputs back.
///
///     gather:      out[i] = src[r_i]                    backward: dsrc[r_i] += dout[i]
///     scatter-add: dst[r_i] += s_i · src[i]             backward: dsrc[i] += s_i · ddst[r_i],
///                                                                 ds_i += ddst[r_i] · src[i]
///
/// Shapes: M rows of the token buffer (B·N), n = `count` routed rows, D = `dim`;
/// r = `rowIndices` [n] with values in 0..<M; s = `scale` [n] (router weights, nil = 1).
/// Indices may repeat, so the kernels that add into the M-row buffer go by destination row:
/// the i of each row are listed in ascending order (a stable counting sort), and blocks of
/// destination rows run on the threads. Every row gets its additions in the serial order,
/// so results do not depend on the thread count. The ones writing n distinct rows split
/// the n rows. `path: .automatic` scales and adds rows sixteen lanes wide on CPUs with
/// AVX-512F and takes the dot products in AVX2 (CKernels/dispatch_avx.c), bit for bit.

import CKernels

/// `out[i, :] = src[rowIndices[i], :]`.
public func gatherRowsForward(
    out: UnsafeMutablePointer<Float>, src: UnsafePointer<Float>,
    rowIndices: UnsafePointer<Int32>, count: Int, dim: Int, path: KernelPath = .automatic
) {
    precondition(count >= 0 && dim > 0, "gatherRows: bad shape")
    let wide = path.usesAVX512
    Profiler.measure(.dispatch, "gather forward") {
        Parallel.forEachChunk(count: count, minimumPerThread: max(1, 16384 / dim)) { range in
            if wide {
                for i in range { precondition(rowIndices[i] >= 0, "gatherRows: negative row index") }
                let first = range.lowerBound
                return moe_gather_rows_avx512(out + first * dim, src, rowIndices + first, range.count, dim)
            }
            for i in range {
                let r = Int(rowIndices[i])
                precondition(r >= 0, "gatherRows: negative row index")
                (out + i * dim).update(from: src + r * dim, count: dim)
            }
        }
    }
}

/// The routed rows of every destination row when each has the same number of them (a
/// router's top K): row r's are `sources[r·perRow ..< (r + 1)·perRow]`, ascending. The MoE
/// layer lists them while it groups its assignments, so the kernels that add into the token
/// buffer skip their counting sort (serial, 0.3 % of a bench-tiny step each).
public struct RowSources {
    public let sources: UnsafePointer<Int32>
    public let rows: Int
    public let perRow: Int

    public init(sources: UnsafePointer<Int32>, rows: Int, perRow: Int) {
        (self.sources, self.rows, self.perRow) = (sources, rows, perRow)
    }
}

/// `dsrc[rowIndices[i], :] += dout[i, :]`; `sources`, when given, lists the i of each row.
public func gatherRowsBackward(
    dsrc: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
    rowIndices: UnsafePointer<Int32>, count: Int, dim: Int, sources: RowSources? = nil,
    path: KernelPath = .automatic
) {
    precondition(count >= 0 && dim > 0, "gatherRows: bad shape")
    let wide = path.usesAVX512
    Profiler.measure(.dispatch, "gather backward") {
        forEachByDestination(rowIndices: rowIndices, count: count, dim: dim, sources: sources) { i, r, _ in
            addRow(dsrc + r * dim, dout + i * dim, scale: 1, dim: dim, wide: wide)
        }
    }
}

/// `dst[rowIndices[i], :] += scale[i] · src[i, :]` (scale nil means 1); `sources`, when
/// given, lists the i of each row. With `accumulating` false (only with `sources`) each row
/// is written as if it held zeros, bit for bit zeroing `dst` first, without the pass.
public func scatterAddRowsForward(
    dst: UnsafeMutablePointer<Float>, src: UnsafePointer<Float>,
    rowIndices: UnsafePointer<Int32>, scale: UnsafePointer<Float>?, count: Int, dim: Int,
    sources: RowSources? = nil, accumulating: Bool = true, path: KernelPath = .automatic
) {
    precondition(count >= 0 && dim > 0, "scatterAddRows: bad shape")
    precondition(accumulating || sources != nil, "scatterAddRows: overwriting needs the rows' sources")
    let wide = path.usesAVX512
    Profiler.measure(.dispatch, "scatter-add forward") {
        forEachByDestination(rowIndices: rowIndices, count: count, dim: dim, sources: sources) { i, r, first in
            addRow(
                dst + r * dim, src + i * dim, scale: scale?[i] ?? 1, dim: dim, accumulating: accumulating || !first,
                wide: wide)
        }
    }
}

/// Accumulates `dsrc[i] += scale[i] · ddst[rowIndices[i]]` and
/// `dscale[i] += ddst[rowIndices[i]] · src[i]`; either output may be nil. With `accumulating`
/// false both are written as if they held zeros (what they held is ignored), bit for bit
/// zeroing them first, without the pass.
public func scatterAddRowsBackward(
    dsrc: UnsafeMutablePointer<Float>?, dscale: UnsafeMutablePointer<Float>?,
    ddst: UnsafePointer<Float>, src: UnsafePointer<Float>,
    rowIndices: UnsafePointer<Int32>, scale: UnsafePointer<Float>?, count: Int, dim: Int,
    accumulating: Bool = true, path: KernelPath = .automatic
) {
    precondition(count >= 0 && dim > 0, "scatterAddRows: bad shape")
    let wide = path.usesAVX512
    Profiler.measure(.dispatch, "scatter-add backward") {
        Parallel.forEachChunk(count: count, minimumPerThread: max(1, 16384 / dim)) { range in
            for i in range {
                let r = Int(rowIndices[i])
                precondition(r >= 0, "scatterAddRows: negative row index")
                let g = ddst + r * dim
                if let dsrc {
                    addRow(dsrc + i * dim, g, scale: scale?[i] ?? 1, dim: dim, accumulating: accumulating, wide: wide)
                }
                if let dscale {
                    let dot = wide ? moe_row_dot_avx2(g, src + i * dim, dim) : vectorDot(g, src + i * dim, count: dim)
                    dscale[i] = (accumulating ? dscale[i] : 0) + dot
                }
            }
        }
    }
}

/// `body(i, r_i, first)` for every i: grouped by destination row r (ascending), each row's i
/// in ascending order, blocks of rows on the threads; serial for small work. `sources`, when
/// given, lists each row's i (`count` = rows · perRow); `first` marks a row's first i then
/// (always false without them).
private func forEachByDestination(
    rowIndices: UnsafePointer<Int32>, count: Int, dim: Int, sources given: RowSources? = nil,
    _ body: (_ i: Int, _ r: Int, _ first: Bool) -> Void
) {
    if let given {
        precondition(
            given.rows * given.perRow == count,
            "dispatch: \(count) routed rows, but the sources list \(given.rows)×\(given.perRow)")
        return Parallel.forEachChunk(count: given.rows, minimumPerThread: max(1, 16384 / dim)) { block in
            for r in block {
                for j in 0..<given.perRow { body(Int(given.sources[r * given.perRow + j]), r, j == 0) }
            }
        }
    }
    var rows = 0
    for i in 0..<count {
        precondition(rowIndices[i] >= 0, "dispatch: negative row index")
        rows = max(rows, Int(rowIndices[i]) + 1)
    }
    guard count * dim >= 32768, Parallel.threads > 1 else {
        for i in 0..<count { body(i, Int(rowIndices[i]), false) }
        return
    }
    // Counting sort of i by r: row r's sources are sources[starts[r]..<starts[r + 1]]. Through
    // buffer pointers: array subscripts checked bounds and uniqueness per index (0.3 % of a
    // bench-tiny step, serial, with the other thread idle).
    var starts = [Int](repeating: 0, count: rows + 1)
    var sources = [Int](repeating: 0, count: count)
    starts.withUnsafeMutableBufferPointer { starts in
        sources.withUnsafeMutableBufferPointer { sources in
            for i in 0..<count { starts[Int(rowIndices[i]) + 1] += 1 }
            for r in 0..<rows { starts[r + 1] += starts[r] }
            withUnsafeTemporaryAllocation(of: Int.self, capacity: rows) { next in
                _ = next.initialize(from: starts[0..<rows])
                for i in 0..<count {
                    let r = Int(rowIndices[i])
                    sources[next[r]] = i
                    next[r] += 1
                }
            }
            Parallel.forEachChunk(count: rows, minimumPerThread: max(1, 16384 / dim)) { block in
                for r in block {
                    for j in starts[r]..<starts[r + 1] { body(sources[j], r, false) }
                }
            }
        }
    }
}

/// `dst[0..<dim] += scale · src[0..<dim]`, or with `accumulating` false
/// `dst[0..<dim] = 0 + scale · src[0..<dim]` (adding into zeros: a −0 product stored as +0);
/// sixteen lanes wide (`moe_row_add_scaled_avx512`) when `wide`.
@inline(__always)
private func addRow(
    _ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, scale: Float, dim: Int,
    accumulating: Bool = true, wide: Bool
) {
    if wide { return moe_row_add_scaled_avx512(dst, src, scale, dim, accumulating ? 1 : 0) }
    var j = 0
    while j + simdWidth <= dim {
        let base = accumulating ? loadVector(dst + j) : SIMD8()
        storeVector(base + scale * loadVector(src + j), dst + j)
        j += simdWidth
    }
    while j < dim {
        dst[j] = (accumulating ? dst[j] : 0) + scale * src[j]
        j += 1
    }
}
