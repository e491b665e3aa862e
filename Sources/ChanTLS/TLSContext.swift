import COpenSSL

/// A TLS protocol version. TLS 1.1 is here only so that a client can offer
/// it and be refused; the server speaks 1.2 and 1.3.
public enum TLSVersion: Int, Sendable, Comparable {
    case tls1_1, tls1_2, tls1_3

    var openSSL: Int32 {
        switch self {
        case .tls1_1: TLS1_1_VERSION
        case .tls1_2: TLS1_2_VERSION
        case .tls1_3: TLS1_3_VERSION
        }
    }

    public static func < (a: TLSVersion, b: TLSVersion) -> Bool { a.rawValue < b.rawValue }
}

/// The configuration every server connection is made from: certificate chain,
/// key, TLS 1.2-1.3, and optionally client certificates required and
/// verified against a CA file.
///
/// Immutable once made; OpenSSL's SSL_CTX may be shared across threads then,
/// which is what makes the `@unchecked Sendable` safe.
public final class TLSServerContext: @unchecked Sendable {
    let context: OpaquePointer
    public let requiresClientCertificate: Bool

    /// - Parameters:
    ///   - certificateFile: PEM, the server certificate followed by any intermediates.
    ///   - keyFile: PEM, the private key of that certificate.
    ///   - clientCAFile: PEM; when given, a client must present a certificate
    ///     signed by one of these CAs or the handshake fails.
    public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) throws(TLSError) {
        context = try makeContext(method: TLS_server_method(), minimum: .tls1_2, maximum: .tls1_3)
        requiresClientCertificate = clientCAFile != nil
        try check(SSL_CTX_use_certificate_chain_file(context, certificateFile), "cannot load the certificate \(certificateFile)")
        try check(SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM), "cannot load the private key \(keyFile)")
        try check(SSL_CTX_check_private_key(context), "the private key \(keyFile) does not match the certificate \(certificateFile)")
        // Resumption through stateless tickets only: a server-side session
        // cache would grow with the number of clients.
        chand_SSL_CTX_set_session_cache_mode(context, Int(SSL_SESS_CACHE_OFF))
        let sessionContext = Array("chand".utf8)
        try check(SSL_CTX_set_session_id_context(context, sessionContext, UInt32(sessionContext.count)), "cannot set the session context")
        if let clientCAFile {
            try check(SSL_CTX_load_verify_locations(context, clientCAFile, nil), "cannot load the client CA file \(clientCAFile)")
            guard let names = SSL_load_client_CA_file(clientCAFile) else {
                throw TLSError(.configuration, "no CA certificate in \(clientCAFile)", openSSLReason())
            }
            SSL_CTX_set_client_CA_list(context, names)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
    }

    /// Also runs when an initializer throws after `context` was set: it is freed once, here.
    deinit { SSL_CTX_free(context) }
}

/// A client's configuration: which server certificates to trust, an optional
/// client certificate, and the versions offered. The server's certificate is
/// always verified: against `caFile` when given, else the system store.
public final class TLSClientContext: @unchecked Sendable {
    let context: OpaquePointer

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
                minimumVersion: TLSVersion = .tls1_2, maximumVersion: TLSVersion = .tls1_3) throws(TLSError) {
        context = try makeContext(method: TLS_client_method(), minimum: minimumVersion, maximum: maximumVersion)
        if let caFile {
            try check(SSL_CTX_load_verify_locations(context, caFile, nil), "cannot load the CA file \(caFile)")
        } else {
            try check(SSL_CTX_set_default_verify_paths(context), "cannot load the system's CA certificates")
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let certificateFile {
            try check(SSL_CTX_use_certificate_chain_file(context, certificateFile), "cannot load the certificate \(certificateFile)")
            try check(SSL_CTX_use_PrivateKey_file(context, keyFile ?? certificateFile, SSL_FILETYPE_PEM),
                      "cannot load the private key \(keyFile ?? certificateFile)")
            try check(SSL_CTX_check_private_key(context), "the private key does not match the certificate \(certificateFile)")
        }
        if minimumVersion < .tls1_2 {
            // OpenSSL 3 refuses TLS 1.1 at the default security level; lower it so the offer is really made.
            SSL_CTX_set_security_level(context, 0)
        }
    }

    /// Also runs when an initializer throws after `context` was set: it is freed once, here.
    deinit { SSL_CTX_free(context) }
}

private func makeContext(method: OpaquePointer?, minimum: TLSVersion, maximum: TLSVersion) throws(TLSError) -> OpaquePointer {
    ERR_clear_error()
    guard let context = SSL_CTX_new(method) else {
        throw TLSError(.configuration, "cannot make a TLS context", openSSLReason())
    }
    guard chand_SSL_CTX_set_min_proto_version(context, minimum.openSSL) == 1,
          chand_SSL_CTX_set_max_proto_version(context, maximum.openSSL) == 1 else {
        SSL_CTX_free(context)
        throw TLSError(.configuration, "cannot limit the TLS versions", openSSLReason())
    }
    // Client-initiated renegotiation costs the server a handshake for nothing.
    _ = SSL_CTX_set_options(context, chand_SSL_OP_NO_RENEGOTIATION() | chand_SSL_OP_NO_COMPRESSION())
    // Read and write buffers are freed whenever they are empty: an idle
    // connection then holds no 16 KiB record buffers.
    chand_SSL_CTX_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS))
    return context
}

private func check(_ result: Int32, _ what: String) throws(TLSError) {
    guard result == 1 else { throw TLSError(.configuration, what, openSSLReason()) }
}

/// The oldest error on this thread's OpenSSL error queue, emptied.
func openSSLReason() -> String? {
    let code = ERR_get_error()
    ERR_clear_error()
    guard code != 0 else { return nil }
    var buffer = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buffer, buffer.count)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
