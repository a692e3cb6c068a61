import MoETensor

/// Encoding and strict decoding of the safetensors layout used inside a checkpoint:
/// an 8-byte little-endian header length N, N bytes of UTF-8 JSON padded with spaces so that
/// 8 + N is a multiple of 8, then the raw little-endian tensor bytes laid out contiguously.
enum Safetensors {
    static let metadataKey = "__metadata__"

    /// One tensor's header entry as found in a file.
    private struct Entry {
        var name: String
        var shape: [Int]
        var begin: Int
        var end: Int
        var position: Int
    }

    // MARK: Encoding

    /// Serialises `tensors` (in order) and `metadata` (keys sorted, for deterministic bytes).
    /// Fails, with a message, on duplicate or reserved names and on inconsistent tensors.
    static func encode(tensors: [NamedTensor], metadata: [String: String]) throws(EncodeFailure)
        -> [UInt8]
    {
        var header: [UInt8] = []
        header.reserveCapacity(128 + 96 * tensors.count)
        header.append(UInt8(ascii: "{"))
        JSONWriter.appendString(metadataKey, to: &header)
        header.append(contentsOf: Array(":{".utf8))
        for (i, key) in metadata.keys.sorted().enumerated() {
            if i > 0 { header.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(key, to: &header)
            header.append(UInt8(ascii: ":"))
            JSONWriter.appendString(metadata[key]!, to: &header)
        }
        header.append(UInt8(ascii: "}"))

        var seen = Set<String>()
        var offset = 0
        for named in tensors {
            let name = named.name
            guard name != metadataKey else {
                throw EncodeFailure(detail: "a tensor may not be named \"\(metadataKey)\"")
            }
            guard seen.insert(name).inserted else {
                throw EncodeFailure(detail: "tensor name \"\(name)\" appears more than once")
            }
            let shape = named.tensor.shape
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw EncodeFailure(detail: "tensor \"\(name)\" has a negative extent in shape \(shape)")
            }
            guard let count = elementCount(shape), count == named.tensor.storage.count else {
                throw EncodeFailure(
                    detail: "tensor \"\(name)\" has \(named.tensor.storage.count) values, "
                        + "which does not match its shape \(shape)")
            }
            let end = offset + count * MemoryLayout<Float>.size
            header.append(UInt8(ascii: ","))
            JSONWriter.appendString(name, to: &header)
            header.append(contentsOf: Array(":{\"dtype\":\"F32\",\"shape\":[".utf8))
            for (j, extent) in shape.enumerated() {
                if j > 0 { header.append(UInt8(ascii: ",")) }
                JSONWriter.appendInteger(extent, to: &header)
            }
            header.append(contentsOf: Array("],\"data_offsets\":[".utf8))
            JSONWriter.appendInteger(offset, to: &header)
            header.append(UInt8(ascii: ","))
            JSONWriter.appendInteger(end, to: &header)
            header.append(contentsOf: Array("]}".utf8))
            offset = end
        }
        header.append(UInt8(ascii: "}"))
        while (8 + header.count) % 8 != 0 { header.append(UInt8(ascii: " ")) }

        let dataLength = offset
        let total = 8 + header.count + dataLength
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            raw.storeBytes(of: UInt64(header.count).littleEndian, as: UInt64.self)
            header.withUnsafeBytes {
                raw.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }
            var cursor = 8 + header.count
            for named in tensors {
                named.tensor.storage.withUnsafeBytes { src in
                    guard src.count > 0 else { return }
                    let dst = raw.baseAddress!.advanced(by: cursor)
                    dst.copyMemory(from: src.baseAddress!, byteCount: src.count)
                    #if _endian(big)
                    let floats = dst.bindMemory(to: UInt32.self, capacity: src.count / 4)
                    for k in 0..<(src.count / 4) { floats[k] = floats[k].byteSwapped }
                    #endif
                }
                cursor += named.tensor.storage.count * MemoryLayout<Float>.size
            }
            initialized = total
        }
    }

    struct EncodeFailure: Error { var detail: String }

    /// `shape.reduce(1, *)`, or nil if it overflows (checked in the same order `Tensor` uses),
    /// or if the byte size would overflow.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for extent in shape {
            guard extent >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            if overflow { return nil }
            count = product
        }
        if count.multipliedReportingOverflow(by: MemoryLayout<Float>.size).overflow { return nil }
        return count
    }

    // MARK: Decoding

    /// Parses and validates a safetensors buffer. `path` is used for error messages.
    /// Checks the checkpoint format keys before validating tensors, so a file from a newer
    /// format version reports `.unsupportedVersion` rather than a layout error.
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError)
        -> (tensors: [NamedTensor], metadata: [String: String])
    {
        let (members, headerLength) = try header(bytes, path: path)
        // Metadata first: it tells us whether we can read the rest.
        let metadata = try checkpointMetadata(members, path: path)
        let dataStart = 8 + headerLength
        let dataLength = bytes.count - dataStart
        var entries: [Entry] = []
        var names = Set<String>()
        entries.reserveCapacity(members.count)
        for (position, member) in members.enumerated() where member.key != metadataKey {
            guard names.insert(member.key).inserted else {
                throw .corrupt(path: path, detail: "tensor \"\(member.key)\" appears more than once")
            }
            entries.append(
                try entry(
                    member.key, member.value, position: position, dataLength: dataLength, path: path))
        }
        try checkContiguous(&entries, dataLength: dataLength, path: path)
        return (tensors(entries, data: bytes.baseAddress!.advanced(by: dataStart)), metadata)
    }

    /// The header's JSON members, in file order, and the header's byte length.
    private static func header(_ bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError)
        -> (members: [(key: String, value: JSONValue)], length: Int)
    {
        func corrupt(_ detail: String) -> CheckpointError { .corrupt(path: path, detail: detail) }
        guard bytes.count >= 8 else {
            throw corrupt("the safetensors data is \(bytes.count) bytes, shorter than its 8-byte header length")
        }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(bytes.count - 8) else {
            throw corrupt(
                "the safetensors header length \(declared) exceeds the \(bytes.count - 8) bytes that follow it")
        }
        let headerLength = Int(declared)
        let headerBytes = UnsafeBufferPointer(
            rebasing: bytes.assumingMemoryBound(to: UInt8.self)[8..<(8 + headerLength)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw corrupt("the safetensors header is not valid UTF-8")
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(headerBytes)
        } catch {
            throw corrupt("the safetensors header is not valid JSON: \(error)")
        }
        guard case .object(let members) = root else {
            throw corrupt("the safetensors header is \(root.kindName), expected a JSON object")
        }
        return (members, headerLength)
    }

    /// The `__metadata__` strings, after checking the format name and version.
    private static func checkpointMetadata(
        _ members: [(key: String, value: JSONValue)], path: String
    ) throws(CheckpointError) -> [String: String] {
        func corrupt(_ detail: String) -> CheckpointError { .corrupt(path: path, detail: detail) }
        var metadata: [String: String] = [:]
        if let entry = members.first(where: { $0.key == metadataKey }) {
            guard case .object(let pairs) = entry.value else {
                throw corrupt("\"\(metadataKey)\" is \(entry.value.kindName), expected an object of strings")
            }
            for (key, value) in pairs {
                guard case .string(let string) = value else {
                    throw corrupt(
                        "metadata value for \"\(key)\" is \(value.kindName); safetensors metadata values must be strings"
                    )
                }
                guard metadata.updateValue(string, forKey: key) == nil else {
                    throw corrupt("duplicate metadata key \"\(key)\"")
                }
            }
        }
        guard let format = metadata[Checkpoint.formatKey] else {
            throw .missingMetadata(key: Checkpoint.formatKey, path: path)
        }
        guard format == Checkpoint.formatName else {
            throw corrupt(
                "metadata \"\(Checkpoint.formatKey)\" is \"\(format)\", expected \"\(Checkpoint.formatName)\"")
        }
        guard let version = metadata[Checkpoint.formatVersionKey] else {
            throw .missingMetadata(key: Checkpoint.formatVersionKey, path: path)
        }
        guard version == String(Checkpoint.formatVersion) else {
            throw .unsupportedVersion(path: path, found: version, supported: Checkpoint.formatVersion)
        }
        return metadata
    }

    /// One tensor's header entry, validated against the data section's length.
    private static func entry(
        _ name: String, _ value: JSONValue, position: Int, dataLength: Int, path: String
    ) throws(CheckpointError) -> Entry {
        func corrupt(_ detail: String) -> CheckpointError { .corrupt(path: path, detail: detail) }
        guard case .object(let fields) = value else {
            throw corrupt("the entry for tensor \"\(name)\" is \(value.kindName), expected an object")
        }
        var dtype: String?
        var shapeValue: [JSONValue]?
        var offsetsValue: [JSONValue]?
        for (key, value) in fields {
            switch (key, value) {
            case ("dtype", .string(let s)): dtype = s
            case ("shape", .array(let a)): shapeValue = a
            case ("data_offsets", .array(let a)): offsetsValue = a
            case ("dtype", _), ("shape", _), ("data_offsets", _):
                throw corrupt("\"\(key)\" of tensor \"\(name)\" is \(value.kindName)")
            default:
                throw corrupt("unexpected field \"\(key)\" in the entry for tensor \"\(name)\"")
            }
        }
        guard let dtype else { throw corrupt("tensor \"\(name)\" has no \"dtype\"") }
        guard let shapeValue else { throw corrupt("tensor \"\(name)\" has no \"shape\"") }
        guard let offsetsValue else { throw corrupt("tensor \"\(name)\" has no \"data_offsets\"") }
        guard dtype == "F32" else { throw .unsupportedDType(name: name, dtype: dtype) }

        func nonNegativeInt(_ value: JSONValue, _ what: String) throws(CheckpointError) -> Int {
            guard case .integer(let v) = value, v >= 0, let i = Int(exactly: v) else {
                throw corrupt("\(what) of tensor \"\(name)\" must be non-negative integers")
            }
            return i
        }
        var shape: [Int] = []
        shape.reserveCapacity(shapeValue.count)
        for v in shapeValue { shape.append(try nonNegativeInt(v, "the shape")) }
        guard offsetsValue.count == 2 else {
            throw corrupt("\"data_offsets\" of tensor \"\(name)\" must have 2 elements, found \(offsetsValue.count)")
        }
        let begin = try nonNegativeInt(offsetsValue[0], "the data_offsets")
        let end = try nonNegativeInt(offsetsValue[1], "the data_offsets")
        guard begin <= end, end <= dataLength else {
            throw corrupt(
                "data_offsets [\(begin), \(end)] of tensor \"\(name)\" are outside the \(dataLength)-byte data section")
        }
        guard let count = elementCount(shape) else {
            throw corrupt("the shape \(shape) of tensor \"\(name)\" is too large")
        }
        guard end - begin == count * MemoryLayout<Float>.size else {
            throw corrupt(
                "tensor \"\(name)\" with shape \(shape) needs \(count * 4) bytes but data_offsets [\(begin), \(end)] span \(end - begin)"
            )
        }
        return Entry(name: name, shape: shape, begin: begin, end: end, position: position)
    }

    /// Sorts `entries` into the writer's order (by offsets, ties by header order) and checks
    /// that they cover the whole data section without gaps.
    private static func checkContiguous(_ entries: inout [Entry], dataLength: Int, path: String)
        throws(CheckpointError)
    {
        entries.sort { ($0.begin, $0.end, $0.position) < ($1.begin, $1.end, $1.position) }
        var expected = 0
        for entry in entries {
            guard entry.begin == expected else {
                throw .corrupt(
                    path: path,
                    detail:
                        "tensor \"\(entry.name)\" starts at byte \(entry.begin) of the data section, expected \(expected) (tensors must be contiguous)"
                )
            }
            expected = entry.end
        }
        guard expected == dataLength else {
            throw .corrupt(
                path: path, detail: "the tensors cover \(expected) bytes but the data section has \(dataLength)")
        }
    }

    /// Bulk copy of the validated entries' bytes into tensors.
    private static func tensors(_ entries: [Entry], data: UnsafeRawPointer) -> [NamedTensor] {
        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(entries.count)
        for entry in entries {
            let count = (entry.end - entry.begin) / MemoryLayout<Float>.size
            let storage = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 {
                    UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(
                        from: data.advanced(by: entry.begin), byteCount: count * MemoryLayout<Float>.size)
                    #if _endian(big)
                    for k in 0..<count {
                        buffer[k] = Float(bitPattern: buffer[k].bitPattern.byteSwapped)
                    }
                    #endif
                }
                initialized = count
            }
            tensors.append(NamedTensor(entry.name, Tensor(shape: entry.shape, storage: storage)))
        }
        return tensors
    }
}
