/// The dotted names of the model's parameters (DESIGN §2.5), built and parsed in this one place.
///
///     patch_embed.{weight,bias}   cls_token   pos_embed
///     blocks.<l>.{norm1,norm2}.{weight,bias}   blocks.<l>.attn.{qkv,proj}.{weight,bias}
///     blocks.<l>.mlp.{fc1,fc2}.{weight,bias}    dense block
///     blocks.<l>.moe.experts.{w1,b1,w2,b2}      MoE block: expert banks [E, ...]
///     blocks.<l>.moe.routers.<dataset>          MoE block: one router [D, E_t] per dataset
///     heads.<dataset>.{norm,fc}.{weight,bias}
///
/// `<l>` is the block index (0..<depth), not the MoE-layer index.
public enum ParameterName {
    public static let patchEmbedding = "patch_embed"
    public static let classToken = "cls_token"
    public static let positionEmbedding = "pos_embed"

    /// One of an expert bank's four tensors.
    public enum ExpertPart: String, CaseIterable, Sendable {
        case w1, b1, w2, b2
    }

    /// `blocks.<l>`
    public static func block(_ l: Int) -> String { "blocks.\(l)" }
    /// `blocks.<l>.moe`
    public static func moe(block l: Int) -> String { "\(block(l)).moe" }
    /// `blocks.<l>.mlp`
    public static func denseMLP(block l: Int) -> String { "\(block(l)).mlp" }
    /// `blocks.<l>.moe.experts.<part>`
    public static func experts(block l: Int, _ part: ExpertPart) -> String {
        "\(moe(block: l)).experts.\(part.rawValue)"
    }
    /// `blocks.<l>.moe.routers.<dataset>`
    public static func router(block l: Int, dataset: String) -> String {
        "\(moe(block: l)).routers.\(dataset)"
    }
    /// `<moe layer name>.routers.<dataset>`, for a layer that knows only its own prefix.
    public static func router(moeLayer prefix: String, dataset: String) -> String {
        "\(prefix).routers.\(dataset)"
    }
    /// `heads.<dataset>`
    public static func head(_ dataset: String) -> String { "heads.\(dataset)" }

    /// Whether `name` is one of `dataset`'s head parameters (`heads.<dataset>.*`).
    public static func isHead(_ name: String, of dataset: String) -> Bool {
        name.hasPrefix("\(head(dataset)).")
    }

    /// Whether `name` is one of `dataset`'s routers.
    public static func isRouter(_ name: String, of dataset: String) -> Bool {
        name.hasPrefix("blocks.") && name.hasSuffix(".moe.routers.\(dataset)")
    }

    /// Whether `name` is one of the expert banks.
    public static func isExpertBank(_ name: String) -> Bool { name.contains(".moe.experts.") }

    /// The index in `datasets` of the dataset that owns `name` (its head or one of its
    /// routers), or nil for a shared parameter.
    public static func owner(of name: String, datasets: [String]) -> Int? {
        datasets.firstIndex { isHead(name, of: $0) || isRouter(name, of: $0) }
    }

    /// `blocks.<l>.moe.<rest>` → (l, rest).
    public static func moeParameter(_ name: String) -> (block: Int, rest: String)? {
        let parts = name.split(separator: ".", maxSplits: 3).map(String.init)
        guard parts.count == 4, parts[0] == "blocks", parts[2] == "moe", let l = Int(parts[1]) else {
            return nil
        }
        return (l, parts[3])
    }

    /// The group a parameter belongs to in per-layer reports: `blocks.<l>`, `embed` (patch
    /// embedding, class token, positions) or `norm` (anything else).
    public static func layerGroup(of name: String) -> String {
        let parts = name.split(separator: ".")
        if parts.first == "blocks", parts.count > 1 { return "blocks.\(parts[1])" }
        if name.hasPrefix(patchEmbedding) || name == classToken || name == positionEmbedding {
            return "embed"
        }
        return "norm"
    }
}
