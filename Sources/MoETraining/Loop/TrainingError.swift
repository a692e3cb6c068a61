/// Failures of a training run that the user can act on.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case nonFiniteLoss(step: Int, dataset: String, lastCheckpoint: String?)
    case cannotWrite(path: String)
    case unexpectedTensor(name: String, path: String)
    case missingState(path: String, key: String)
    case datasetMismatch(detail: String)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let step, let dataset, let last):
            "the loss became NaN or infinite at step \(step) (dataset '\(dataset)'); the run stopped. "
                + (last.map { "The last good checkpoint is intact at \($0)." }
                    ?? "No checkpoint was written yet.")
                + " hint: lower optimizer.lr, set optimizer.clip, or add schedule.warmup"
        case .cannotWrite(let path): "cannot write '\(path)' (hint: check the folder exists and is writable)"
        case .unexpectedTensor(let name, let path):
            "\(path): tensor '\(name)' belongs to no parameter of the saved model config "
                + "(hint: the file was edited or made by another tool)"
        case .missingState(let path, let key):
            "\(path) holds no '\(key)' and cannot be resumed (hint: it was saved without training state)"
        case .datasetMismatch(let detail): detail
        }
    }
}
