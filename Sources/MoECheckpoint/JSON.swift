/// A minimal, strict JSON reader and writer for the safetensors header.
///
/// Foundation's `JSONSerialization` loses key order and silently merges duplicate keys; the
/// checkpoint reader needs both (tensor order, duplicate-name detection), so the header is
/// parsed here. Every failure is a thrown `JSONError`, never a trap, whatever the input bytes.
///
/// (The explicit `Sendable` matters: with implicit Sendable inference, Swift 6.3's incremental
/// builds report a spurious "circular reference" through the recursive tuple payload.)
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// Integers that fit in `Int64` are kept exact; anything else is `.number`.
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Members in file order; duplicates are rejected while parsing.
    case object([(key: String, value: JSONValue)])

    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

struct JSONError: Error, CustomStringConvertible {
    var message: String
    var offset: Int
    var description: String { "\(message) at byte \(offset) of the JSON header" }
}

struct JSONParser {
    static let maxDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    /// Parses one JSON value spanning `bytes` (surrounding whitespace allowed).
    /// The bytes must already be known to be valid UTF-8.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.index != bytes.count { throw parser.error("unexpected data after the JSON value") }
        return value
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func error(_ message: String) -> JSONError { JSONError(message: message, offset: index) }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { index += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws(JSONError) {
        let n = literal.utf8CodeUnitCount
        guard bytes.count - index >= n else { throw error("unexpected end of JSON") }
        let p = literal.utf8Start
        for i in 0..<n where bytes[index + i] != p[i] { throw error("invalid literal") }
        index += n
    }

    private mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        guard depth < Self.maxDepth else { throw error("JSON nested too deeply") }
        guard let b = peek else { throw error("unexpected end of JSON") }
        switch b {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONError) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        try parseItems(closedBy: UInt8(ascii: "}")) { (parser: inout JSONParser) throws(JSONError) in
            guard parser.peek == UInt8(ascii: "\"") else { throw parser.error("expected a string key") }
            let keyOffset = parser.index
            let key = try parser.parseString()
            guard seen.insert(key).inserted else {
                throw JSONError(message: "duplicate key \"\(key)\"", offset: keyOffset)
            }
            parser.skipWhitespace()
            guard parser.peek == UInt8(ascii: ":") else { throw parser.error("expected ':'") }
            parser.index += 1
            parser.skipWhitespace()
            members.append((key, try parser.parseValue(depth: depth + 1)))
        }
        return .object(members)
    }

    private mutating func parseArray(depth: Int) throws(JSONError) -> JSONValue {
        var elements: [JSONValue] = []
        try parseItems(closedBy: UInt8(ascii: "]")) { (parser: inout JSONParser) throws(JSONError) in
            elements.append(try parser.parseValue(depth: depth + 1))
        }
        return .array(elements)
    }

    /// Skips the opening bracket, then calls `parseItem` on each comma-separated item (with
    /// the whitespace around it skipped) up to and including `close`.
    private mutating func parseItems(
        closedBy close: UInt8, _ parseItem: (inout JSONParser) throws(JSONError) -> Void
    ) throws(JSONError) {
        index += 1  // the opening bracket
        skipWhitespace()
        if peek == close {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            try parseItem(&self)
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case close:
                index += 1
                return
            default: throw error("expected ',' or '\(Character(Unicode.Scalar(close)))'")
            }
        }
    }

    private mutating func parseHex4() throws(JSONError) -> UInt16 {
        guard bytes.count - index >= 4 else { throw error("unexpected end of JSON in \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    private mutating func parseString() throws(JSONError) -> String {
        index += 1  // opening quote
        var utf8: [UInt8] = []
        var runStart = index
        while true {
            guard let b = peek else { throw error("unterminated string") }
            switch b {
            case UInt8(ascii: "\""):
                utf8.append(contentsOf: bytes[runStart..<index])
                index += 1
                // The whole header was validated as UTF-8 and escapes produce valid scalars.
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                utf8.append(contentsOf: bytes[runStart..<index])
                index += 1
                guard let e = peek else { throw error("unterminated escape") }
                index += 1
                switch e {
                case UInt8(ascii: "\""): utf8.append(0x22)
                case UInt8(ascii: "\\"): utf8.append(0x5C)
                case UInt8(ascii: "/"): utf8.append(0x2F)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    let unit = try parseHex4()
                    var scalarValue = UInt32(unit)
                    if (0xD800...0xDBFF).contains(unit) {
                        guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw error("unpaired surrogate in \\u escape") }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw error("unpaired surrogate in \\u escape")
                        }
                        scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(unit) {
                        throw error("unpaired surrogate in \\u escape")
                    }
                    guard let scalar = Unicode.Scalar(scalarValue) else {
                        throw error("invalid \\u escape")
                    }
                    utf8.append(contentsOf: String(Character(scalar)).utf8)
                default: throw error("invalid escape")
                }
                runStart = index
            case 0x00..<0x20:
                throw error("control character in string")
            default:
                index += 1
            }
        }
    }

    private mutating func parseNumber() throws(JSONError) -> JSONValue {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        func digits(_ p: inout JSONParser) -> Int {
            var n = 0
            while let b = p.peek, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") {
                p.index += 1
                n += 1
            }
            return n
        }
        let intStart = index
        let intDigits = digits(&self)
        guard intDigits > 0 else { throw error("invalid number") }
        if intDigits > 1 && bytes[intStart] == UInt8(ascii: "0") {
            throw error("leading zero in number")
        }
        var isInteger = true
        if peek == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard digits(&self) > 0 else { throw error("invalid number") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw error("invalid number") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if isInteger, let value = Int64(text) { return .integer(value) }
        guard let value = Double(text) else { throw JSONError(message: "invalid number", offset: start) }
        return .number(value)
    }
}

enum JSONWriter {
    /// Appends `string` as a JSON string literal (UTF-8, escaping only what JSON requires).
    static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in string.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func appendInteger(_ value: Int, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }
}
