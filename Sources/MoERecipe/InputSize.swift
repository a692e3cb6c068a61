/// A dataset's input size in a recipe: `size: 64` (square) or `size: [48, 64]` (height, width).
public struct InputSize: Codable, Sendable, Equatable, Hashable {
    public var height: Int
    public var width: Int

    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    public init(from decoder: any Decoder) throws {
        if let side = try? decoder.singleValueContainer().decode(Int.self) {
            self.init(height: side, width: side)
            return
        }
        var list = try decoder.unkeyedContainer()
        let count = list.count ?? 0
        guard count == 2 else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "size must be N or [height, width], got \(count) values"))
        }
        let height = try list.decode(Int.self)
        let width = try list.decode(Int.self)
        self.init(height: height, width: width)
    }

    public func encode(to encoder: any Encoder) throws {
        var list = encoder.unkeyedContainer()
        try list.encode(height)
        try list.encode(width)
    }
}
