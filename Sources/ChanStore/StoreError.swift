import Glibc

/// Why the store cannot open or cannot go on; the text names the file and,
/// for damage, the byte offset.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) {
        self.description = description
    }

    static func damaged(_ path: String, offset: Int, _ why: String) -> StoreError {
        StoreError("\(path): damaged record at offset \(offset): \(why)")
    }

    static func system(_ what: String, _ path: String, errno code: Int32) -> StoreError {
        StoreError("\(path): \(what) failed: \(String(cString: strerror(code)))")
    }
}
