/// Problems with a recipe file or an override, each naming the file, key or value.
public enum RecipeError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(String)
    case syntax(file: String, detail: String)
    case unknownKey(file: String, path: String, known: [String])
    case invalid(file: String, detail: String)
    case badValue(file: String, path: String, reason: String)
    case override(String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            "recipe file '\(path)' not found (hint: the shipped recipes are in recipes/)"
        case .syntax(let file, let detail): "\(file): not valid YAML: \(detail)"
        case .unknownKey(let file, let path, let known):
            "\(file): unknown key '\(path)'; expected one of: \(known.joined(separator: ", "))"
        case .invalid(let file, let detail): "\(file): \(detail)"
        case .badValue(let file, let path, let reason): "\(file): '\(path)' \(reason)"
        case .override(let text, let reason): "--set '\(text)': \(reason)"
        }
    }
}
