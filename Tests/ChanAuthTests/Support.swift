import Foundation

/// A new file in the temporary directory holding `contents`; its path.
func temporaryFile(_ contents: String) throws -> String {
    let path = NSTemporaryDirectory() + "chanauth-\(UInt64.random(in: 0 ... .max)).users"
    try contents.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
