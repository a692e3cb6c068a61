import MoETensor

/// Where `GroupedLinear` finds the experts' input rows x when the MoE layer gathers them from
/// its tokens block by block, each just before its first product: `gather(rows, into)` writes
/// grouped rows `rows` of x to `into`, the claiming worker's own rows (`workerRows`) when
/// they are given and fit, else `grouped + rows.lowerBound·D`.
///
/// Training keeps x in `grouped` for the weight gradients. Inference needs it only for the
/// block's first product, so a worker's rows, which stay in L2, serve: a layer-wide buffer
/// went back to memory (26 MB a layer at batch 256), the inference step 5 % slower. Gathering
/// x again in the backward instead of keeping it measured as slow as reading it back.
struct ExpertGather {
    let grouped: UnsafeMutablePointer<Float>
    let workerRows: WorkerRows?
    let gather: (_ rows: Range<Int>, _ into: UnsafeMutablePointer<Float>) -> Void

    /// Grouped rows `rows` of x (D = `dim` floats each), gathered now on worker `worker`:
    /// a pointer to the first.
    func rows(_ rows: Range<Int>, worker: Int, dim: Int) -> UnsafePointer<Float> {
        let into = workerRows?.buffer(worker: worker, rows: rows.count, dim: dim) ?? grouped + rows.lowerBound * dim
        gather(rows, into)
        return UnsafePointer(into)
    }
}

/// One buffer of rows per worker thread (`Parallel.threads`), sized before a parallel region
/// so that the workers only read the list.
final class WorkerRows {
    /// Rows per worker: a block of `gemmRowBlock` rows.
    static var capacityRows: Int { gemmRowBlock }
    private var buffers: [ScratchBuffer] = []
    private var dim = 0

    /// Makes a buffer of `capacityRows` rows of `dim` floats for each of `workers` workers.
    func prepare(workers: Int, dim: Int) {
        while buffers.count < workers { buffers.append(ScratchBuffer()) }
        for buffer in buffers { buffer.resize(Self.capacityRows * dim) }
        self.dim = dim
    }

    /// Worker `worker`'s buffer, or nil when `rows` rows of `dim` floats do not fit it.
    func buffer(worker: Int, rows: Int, dim: Int) -> UnsafeMutablePointer<Float>? {
        guard worker < buffers.count, dim == self.dim, rows <= Self.capacityRows else { return nil }
        return buffers[worker].pointer
    }
}
