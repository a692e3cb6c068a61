import MoETensor

/// Expert-parallel dispatch (DESIGN §11.2). Group rank g of P runs experts
/// `[g·E/P, (g+1)·E/P)` of the bank `[E, …]` on the rows every group rank routed to them.
///
/// Forward, after routing and the local counting sort (rows grouped by expert, so the rows
/// for one owner are contiguous because owners hold contiguous expert ranges):
///
///     to owner d:   [count of each of d's E/P experts] ++ rows [n_d, D]      (all-to-all)
///     owner:        h = x·W1[e] + b1[e], a = GELU(h), o = a·W2[e] + b2[e]    per source, per expert
///     back to r:    o rows [n_r, D] in the order r sent them                  (all-to-all)
///
/// and the gates g stay where the token is: y = Σ_k g_k·o_k is summed locally, as without
/// expert parallelism. Backward mirrors it: ∂L/∂o [n_d, D] goes to the owner, which
/// accumulates its experts' weight gradients and returns ∂L/∂x rows [n_r, D]; ∂L/∂g =
/// ⟨∂L/∂y, o⟩ and the router backward stay local.
///
/// The store may hold the full bank `[E, …]` or only this rank's slice `[E/P, …]` (the
/// sharded expert store): expert e then sits at row e − g·E/P of the local bank.
extension MoELayer {
    /// Runs this rank's experts on the group's rows and writes `cache.expertOutput` [T·K, D]
    /// (ungated, expert-sorted as `cache.expertInput`). On a failed exchange the output is
    /// zero and the failure stays in `parallel` for `throwIfFailed()`.
    func runExpertsExchanged(
        _ store: ParameterStore, parallel: ExpertParallelism, assignments: Int, training: Bool, cache: Cache
    ) {
        let remote = cache.remote
        let (p, g) = (parallel.groupSize, parallel.groupRank)
        cache.expertOutput.resize(assignments * dim)
        cache.expertOutput.zero()
        guard experts % p == 0 else {
            parallel.fail(ExpertExchangeError(detail: "\(p) ranks per group cannot split \(experts) experts evenly"))
            return
        }
        remote.parallel = parallel
        let per = experts / p
        let local = cache.expertOffsets
        func localOffset(_ e: Int) -> Int { local[min(e, local.count - 1)] }
        remote.sentRows = (0..<p).map { d in localOffset((d + 1) * per) - localOffset(d * per) }

        // Header (counts of the owner's experts) and rows to every owner.
        var send: [Float] = []
        send.reserveCapacity(p * per + assignments * dim)
        var sendCounts: [Int] = []
        for d in 0..<p {
            for e in d * per..<(d + 1) * per { send.append(Float(localOffset(e + 1) - localOffset(e))) }
            let start = localOffset(d * per)
            send.append(
                contentsOf: UnsafeBufferPointer(
                    start: cache.expertInput.readPointer + start * dim, count: remote.sentRows[d] * dim))
            sendCounts.append(per + remote.sentRows[d] * dim)
        }
        guard let received = parallel.allToAll(send, sendCounts: sendCounts),
            readSegments(received, per: per, parallel: parallel, remote: remote)
        else { return }
        guard let first = localBankStart(store, per: per, groupRank: g, parallel: parallel) else { return }

        let rows = remote.receivedRows
        remote.activation.resize(rows * hidden)
        remote.derivative.resize(rows * hidden)
        remote.output.resize(rows * dim)
        withOwnedExpertWeights(store, first: first) { w1, b1, w2, b2 in
            for segment in remote.segments {
                GroupedLinear.forwardMLP(
                    out: remote.output.pointer + segment.start * dim,
                    activation: remote.activation.pointer + segment.start * hidden,
                    derivative: remote.derivative.pointer + segment.start * hidden,
                    inp: remote.input.readPointer + segment.start * dim, w1: w1, b1: b1, w2: w2, b2: b2, dim: dim,
                    hiddenDim: hidden, offsets: segment.offsets)
            }
        }
        _ = returnRows(remote.output.readPointer, into: cache.expertOutput.pointer, remote: remote)
    }

    /// Backward of `runExpertsExchanged`: sends ∂L/∂o (`dOutputs` [T·K, D]) to the owners,
    /// accumulates this rank's experts' weight gradients, and writes ∂L/∂(expert inputs)
    /// into `dInputs` [T·K, D] (zero on a failed exchange).
    func expertsBackwardExchanged(
        _ store: ParameterStore, dOutputs: UnsafePointer<Float>, dInputs: UnsafeMutablePointer<Float>,
        cache: Cache
    ) {
        let remote = cache.remote
        guard let parallel = remote.parallel else { return }
        var send: [Float] = []
        let sentTotal = remote.sentRows.reduce(0, +)
        send.append(contentsOf: UnsafeBufferPointer(start: dOutputs, count: sentTotal * dim))
        guard let received = parallel.allToAll(send, sendCounts: remote.sentRows.map { $0 * dim }) else { return }
        let expected = remote.segments.indices.map { remote.rows(from: $0) * dim }
        guard received.counts == expected else {
            parallel.fail(
                ExpertExchangeError(detail: "received \(received.counts) gradient values, expected \(expected)"))
            return
        }
        let rows = remote.receivedRows
        remote.dOutput.resize(rows * dim)
        if rows > 0 {
            received.values.withUnsafeBufferPointer {
                remote.dOutput.pointer.update(from: $0.baseAddress!, count: rows * dim)
            }
        }
        // backwardMLP overwrites these.
        remote.dHidden.resize(rows * hidden)
        remote.dInput.resize(rows * dim)
        let per = experts / parallel.groupSize
        guard let first = localBankStart(store, per: per, groupRank: parallel.groupRank, parallel: parallel) else {
            return
        }
        let trainable = trainableExperts(store).map { Array($0[first..<first + per]) }
        withOwnedExpertWeights(store, first: first) { w1, _, w2, _ in
            withOwnedExpertGradients(store, first: first) { dw1, db1, dw2, db2 in
                for segment in remote.segments {
                    let (rowsAt, hiddenAt) = (segment.start * dim, segment.start * hidden)
                    GroupedLinear.backwardMLP(
                        dinp: remote.dInput.pointer + rowsAt, dHidden: remote.dHidden.pointer + hiddenAt,
                        dw1: dw1, db1: db1, dw2: dw2, db2: db2,
                        dout: remote.dOutput.readPointer + rowsAt, inp: remote.input.readPointer + rowsAt,
                        activation: remote.activation.readPointer + hiddenAt,
                        derivative: remote.derivative.readPointer + hiddenAt, w1: w1, w2: w2, dim: dim,
                        hiddenDim: hidden, offsets: segment.offsets, trainable: trainable)
                }
            }
        }
        _ = returnRows(remote.dInput.readPointer, into: dInputs, remote: remote)
    }

    /// Splits the forward exchange into per-source segments (header of E/P counts, then the
    /// rows; offsets `[E/P + 1]` by local expert) and copies the rows into `remote.input`.
    /// False (failure recorded) when a segment's size does not match its header.
    private func readSegments(
        _ received: (values: [Float], counts: [Int]), per: Int, parallel: ExpertParallelism,
        remote: RemoteExpertCache
    ) -> Bool {
        var segments: [(start: Int, offsets: [Int])] = []
        var cursor = 0
        var rowsSoFar = 0
        for (s, count) in received.counts.enumerated() {
            guard count >= per else {
                parallel.fail(
                    ExpertExchangeError(detail: "rank \(s) of the group sent \(count) values, fewer than \(per) counts")
                )
                return false
            }
            var offsets = [Int](repeating: 0, count: per + 1)
            for j in 0..<per {
                let n = received.values[cursor + j]
                guard n >= 0, n == n.rounded() else {
                    parallel.fail(ExpertExchangeError(detail: "rank \(s) of the group sent the row count \(n)"))
                    return false
                }
                offsets[j + 1] = offsets[j] + Int(n)
            }
            let rows = offsets[per]
            guard count == per + rows * dim else {
                parallel.fail(
                    ExpertExchangeError(
                        detail: "rank \(s) of the group sent \(count) values for \(rows) rows of \(dim)"))
                return false
            }
            segments.append((rowsSoFar, offsets))
            rowsSoFar += rows
            cursor += count
        }
        remote.segments = segments
        remote.input.resize(rowsSoFar * dim)
        received.values.withUnsafeBufferPointer { values in
            var from = 0
            for segment in segments {
                let n = (segment.offsets.last ?? 0) * dim
                (remote.input.pointer + segment.start * dim).update(from: values.baseAddress! + from + per, count: n)
                from += per + n
            }
        }
        return true
    }

    /// Sends each source's rows of `values` [R, D] back to it and writes what the owners
    /// return (this rank's rows, in the order it sent them) into `destination` [T·K, D].
    private func returnRows(
        _ values: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, remote: RemoteExpertCache
    ) -> Bool {
        guard let parallel = remote.parallel else { return false }
        let total = remote.receivedRows * dim
        let send = Array(UnsafeBufferPointer(start: values, count: total))
        let counts = remote.segments.indices.map { remote.rows(from: $0) * dim }
        guard let back = parallel.allToAll(send, sendCounts: counts) else { return false }
        let expected = remote.sentRows.map { $0 * dim }
        guard back.counts == expected else {
            parallel.fail(ExpertExchangeError(detail: "received \(back.counts) values back, expected \(expected)"))
            return false
        }
        if !back.values.isEmpty {
            back.values.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: $0.count) }
        }
        return true
    }

    /// Row of the local bank where group rank g's experts start: g·E/P for a full bank
    /// `[E, …]`, 0 for an owned slice `[E/P, …]`; nil (failure recorded) for any other shape.
    private func localBankStart(
        _ store: ParameterStore, per: Int, groupRank g: Int, parallel: ExpertParallelism
    ) -> Int? {
        switch store[w1].value.shape.first ?? 0 {
        case experts: return g * per
        case per: return 0
        case let rows:
            parallel.fail(
                ExpertExchangeError(detail: "the expert bank holds \(rows) experts, neither \(experts) nor \(per)"))
            return nil
        }
    }

    /// The bank's values from local expert row `first` on.
    private func withOwnedExpertWeights(
        _ store: ParameterStore, first: Int,
        _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) -> Void
    ) {
        store.withValues(w1, b1, w2, b2) { w1, b1, w2, b2 in
            body(w1 + first * dim * hidden, b1 + first * hidden, w2 + first * hidden * dim, b2 + first * dim)
        }
    }

    /// The bank's gradients (nil when frozen) from local expert row `first` on.
    private func withOwnedExpertGradients(
        _ store: ParameterStore, first: Int,
        _ body: (
            UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?,
            UnsafeMutablePointer<Float>?
        ) -> Void
    ) {
        store.withGradsIfTrainable(w1, b1, w2, b2) { dw1, db1, dw2, db2 in
            body(
                dw1.map { $0 + first * dim * hidden }, db1.map { $0 + first * hidden },
                dw2.map { $0 + first * hidden * dim }, db2.map { $0 + first * dim })
        }
    }
}
