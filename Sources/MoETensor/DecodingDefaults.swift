extension KeyedDecodingContainer {
    /// Replaces `value` with the value at `key` when the key is present and not null, so a
    /// field keeps its default where a partial recipe or config leaves it out.
    public func decodeIfPresent<T: Decodable>(_ value: inout T, forKey key: Key) throws {
        if let decoded = try decodeIfPresent(T.self, forKey: key) { value = decoded }
    }
}
