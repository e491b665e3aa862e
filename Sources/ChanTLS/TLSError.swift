/// Why a TLS context could not be made or a connection failed.
public struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A certificate, key or CA file could not be used.
        case configuration
        /// The handshake failed: bad input, no common version, a certificate refused or missing.
        case handshake
        /// Bad input or an alert after the handshake.
        case connection
        /// `write` after the connection was closed or failed.
        case closed
    }

    public let kind: Kind
    /// What failed, in our words.
    public let message: String
    /// OpenSSL's reason (its error string, or the certificate verification result), when it gave one.
    public let reason: String?

    init(_ kind: Kind, _ message: String, _ reason: String? = nil) {
        self.kind = kind
        self.message = message
        self.reason = reason
    }

    public var description: String { reason.map { "\(message): \($0)" } ?? message }
}
