// TEMPORARY: signatures only, replaced by the kernels branch.
public typealias MP = UnsafeMutablePointer<Float>
public typealias CP = UnsafePointer<Float>
public func linearForward(out: MP, inp: CP, weight: CP, bias: CP?, rows: Int, inDim: Int, outDim: Int) {}
public func linearBackward(dinp: MP?, dweight: MP?, dbias: MP?, dout: CP, inp: CP, weight: CP, rows: Int, inDim: Int, outDim: Int) {}
public func biasForward(out: MP, bias: CP, rows: Int, cols: Int) {}
public func biasBackward(dbias: MP, dout: CP, rows: Int, cols: Int) {}
public func geluForward(out: MP, inp: CP, count: Int) {}
public func geluBackward(dinp: MP, inp: CP, dout: CP, count: Int) {}
public func layerNormForward(out: MP, mean: MP, rstd: MP, inp: CP, weight: CP, bias: CP, rows: Int, dim: Int, eps: Float = 1e-6) {}
public func layerNormBackward(dinp: MP, dweight: MP?, dbias: MP?, dout: CP, inp: CP, weight: CP, mean: CP, rstd: CP, rows: Int, dim: Int) {}
public func softmaxForward(out: MP, inp: CP, rows: Int, cols: Int) {}
public func softmaxBackward(dinp: MP, dout: CP, out: CP, rows: Int, cols: Int) {}
public func attentionForward(out: MP, att: MP, qkv: CP, batch: Int, tokens: Int, dim: Int, heads: Int) {}
public func attentionBackward(dqkv: MP, datt: MP, dout: CP, qkv: CP, att: CP, batch: Int, tokens: Int, dim: Int, heads: Int) {}
public func crossEntropyForward(losses: MP, probs: MP, logits: CP, targets: UnsafePointer<Int32>, rows: Int, classes: Int) {}
public func crossEntropyBackward(dlogits: MP, probs: CP, targets: UnsafePointer<Int32>, scale: Float, rows: Int, classes: Int) {}
public func patchifyForward(out: MP, img: CP, batch: Int, channels: Int, height: Int, width: Int, patch: Int) {}
public func patchifyBackward(dimg: MP, dout: CP, batch: Int, channels: Int, height: Int, width: Int, patch: Int) {}
public func topKForward(indices: UnsafeMutablePointer<Int32>, values: MP, inp: CP, allowed: UnsafePointer<Bool>?, rows: Int, cols: Int, k: Int) {}
public func topKBackward(dinp: MP, dvalues: CP, indices: UnsafePointer<Int32>, rows: Int, cols: Int, k: Int) {}
public func gatherRowsForward(out: MP, src: CP, rowIndices: UnsafePointer<Int32>, count: Int, dim: Int) {}
public func gatherRowsBackward(dsrc: MP, dout: CP, rowIndices: UnsafePointer<Int32>, count: Int, dim: Int) {}
public func scatterAddRowsForward(dst: MP, src: CP, rowIndices: UnsafePointer<Int32>, scale: CP?, count: Int, dim: Int) {}
public func scatterAddRowsBackward(dsrc: MP?, dscale: MP?, ddst: CP, src: CP, rowIndices: UnsafePointer<Int32>, scale: CP?, count: Int, dim: Int) {}
public func bilinearResizeForward(out: MP, inp: CP, channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int) {}
public func bilinearResizeBackward(dinp: MP, dout: CP, channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int) {}
