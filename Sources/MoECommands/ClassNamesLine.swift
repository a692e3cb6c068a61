import MoEModel

/// "name: 10 classes (T-shirt, Trouser, …)" for datasets whose checkpoint stores class
/// names (own-data sources); nil otherwise.
func classNamesLine(_ spec: DatasetSpec, limit: Int = 10) -> String? {
    guard let names = spec.classNames else { return nil }
    let shown = names.prefix(limit).joined(separator: ", ") + (names.count > limit ? ", …" : "")
    return "\(spec.name): \(names.count) classes (\(shown))"
}
