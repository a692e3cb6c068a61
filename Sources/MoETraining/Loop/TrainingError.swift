/// Failures of a training run that the user can act on.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case nonFiniteLoss(step: Int, dataset: String, lastCheckpoint: String?)
    case cannotWrite(path: String)
    case cannotCreateFolder(path: String, reason: String)
    case unexpectedTensor(name: String, path: String)
    case nonFiniteWeights(name: String, path: String)
    case missingState(path: String, key: String)
    case datasetMismatch(detail: String)
    case invalidState(path: String, field: String, detail: String)
    /// Data-parallel training cannot run as asked (a batch N ranks cannot split, a bad rank).
    case distribution(detail: String)
    /// Ctrl-C stopped the run after saving it.
    case interrupted(checkpoint: String)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let step, let dataset, let last):
            "the loss became NaN or infinite at step \(step) (dataset '\(dataset)'); the run stopped. "
                + (last.map { "The last good checkpoint is intact at \($0)." }
                    ?? "No checkpoint was written yet.")
                + " hint: lower optimizer.lr, set optimizer.clip, or add schedule.warmup"
        case .cannotCreateFolder(let path, let reason): "cannot create the folder '\(path)': \(reason)"
        case .cannotWrite(let path): "cannot write '\(path)' (hint: check the folder exists and is writable)"
        case .nonFiniteWeights(let name, let path):
            "\(path): parameter '\(name)' holds NaN or infinite values (hint: the run diverged before this "
                + "checkpoint was written, or the file was edited; use an earlier checkpoint)"
        case .unexpectedTensor(let name, let path):
            "\(path): tensor '\(name)' belongs to no parameter of the saved model config "
                + "(hint: the file was edited or made by another tool)"
        case .missingState(let path, let key):
            "\(path) holds no '\(key)' and cannot be resumed (hint: it was saved without training state)"
        case .datasetMismatch(let detail): detail
        case .distribution(let detail): "data-parallel training: \(detail)"
        case .interrupted(let checkpoint):
            "interrupted; the run so far is saved in \(checkpoint) (continue it with `moe pretrain --resume \(checkpoint)`)"
        case .invalidState(let path, let field, let detail):
            "\(path): training_state.\(field) \(detail); the run cannot resume from it "
                + "(hint: the file was edited or damaged, or the data changed; start a fresh run or use another checkpoint)"
        }
    }
}
