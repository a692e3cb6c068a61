import MoETensor

/// A dataset's head: classification on the class token, or a dense head on every patch
/// token (detection and segmentation).
enum TaskHead {
    case classification(ClassificationHead)
    case dense(DenseTokenHead)

    /// The head `spec.task` needs, named `heads.<dataset>.{norm,fc}`.
    init(_ store: ParameterStore, spec: DatasetSpec, config: ModelConfig,
         rng: inout SeededGenerator) {
        switch spec.task {
        case .classification:
            self = .classification(ClassificationHead(
                store, dataset: spec.name, config: config, classes: spec.classes, rng: &rng))
        case .detection, .segmentation:
            self = .dense(DenseTokenHead(
                store, dataset: spec.name, config: config, outputs: spec.outputChannels,
                rng: &rng))
        }
    }

    /// Activations of both head kinds (only the one in use is filled).
    final class Cache {
        let classification = ClassificationHead.Cache()
        let dense = DenseTokenHead.Cache()
    }

    /// Output values per image (classification) or per patch cell (dense).
    var outputChannels: Int {
        switch self {
        case .classification(let head): head.fc.outDim
        case .dense(let head): head.fc.outDim
        }
    }

    /// [B, C] for classification, [B, Np, O] for dense heads.
    func outputShape(batch: Int, patches: Int) -> [Int] {
        switch self {
        case .classification: [batch, outputChannels]
        case .dense: [batch, patches, outputChannels]
        }
    }

    /// Matrix FLOPs of the head for one image with `patches` patch tokens.
    func flops(width: Int, patches: Int) -> Double {
        switch self {
        case .classification: 2 * Double(width) * Double(outputChannels)
        case .dense: 2 * Double(width) * Double(outputChannels) * Double(patches)
        }
    }

    /// Runs the head on `tokens[B, N, D]`; the result is in `output(cache)`.
    func forward(
        _ store: ParameterStore, tokens: UnsafePointer<Float>, batch: Int, tokensPerImage: Int,
        cache: Cache
    ) {
        switch self {
        case .classification(let head):
            head.forward(
                store, tokens: tokens, batch: batch, tokensPerImage: tokensPerImage,
                cache: cache.classification)
        case .dense(let head):
            head.forward(
                store, tokens: tokens, batch: batch, tokensPerImage: tokensPerImage,
                cache: cache.dense)
        }
    }

    /// The buffer holding the last forward's output.
    func output(_ cache: Cache) -> ScratchBuffer {
        switch self {
        case .classification: cache.classification.logits
        case .dense: cache.dense.outputs
        }
    }

    /// Accumulates head gradients from `doutput` (laid out as the output) and adds ∂L/∂tokens
    /// into `dtokens[B, N, D]`.
    func backward(
        _ store: ParameterStore, dtokens: UnsafeMutablePointer<Float>,
        doutput: UnsafePointer<Float>, batch: Int, tokensPerImage: Int, cache: Cache,
        scratch: BackwardScratch
    ) {
        switch self {
        case .classification(let head):
            head.backward(
                store, dtokens: dtokens, dlogits: doutput, batch: batch,
                tokensPerImage: tokensPerImage, cache: cache.classification, scratch: scratch)
        case .dense(let head):
            head.backward(
                store, dtokens: dtokens, doutputs: doutput, batch: batch,
                tokensPerImage: tokensPerImage, cache: cache.dense, scratch: scratch)
        }
    }
}
