import ChanTLS
import TestCertificates
import Testing

/// A server made with a client CA requires a certificate signed by it.
@Suite struct ClientCertificateTests {
    let certificates = TestCertificates.shared

    @Test(arguments: [TLSVersion.tls1_2, .tls1_3])
    func certificateSignedByTheCAIsAccepted(_ version: TLSVersion) throws {
        let client = try TLSClientContext(caFile: certificates.ca, certificateFile: certificates.clientCertificate,
                                          keyFile: certificates.clientKey, maximumVersion: version)
        var pair = try Pair(client: client, server: certificates.server(clientCA: certificates.ca))
        pair.handshake()
        #expect(pair.serverError == nil && pair.clientError == nil)
        pair.clientSends(Array("PING\r\n".utf8))
        #expect(pair.receivedByServer == Array("PING\r\n".utf8))
    }

    @Test(arguments: [TLSVersion.tls1_2, .tls1_3])
    func missingCertificateIsRefused(_ version: TLSVersion) throws {
        var pair = try Pair(client: TLSClientContext(caFile: certificates.ca, maximumVersion: version),
                            server: certificates.server(clientCA: certificates.ca))
        pair.handshake()
        // TLS 1.3: the client believes it is done before the server has read its (empty) certificate.
        pair.clientSends(Array("PING\r\n".utf8))
        #expect(pair.serverError?.kind == .handshake)
        #expect(pair.serverError?.reason?.contains("peer did not return a certificate") == true)
        #expect(pair.receivedByServer.isEmpty)
        #expect(pair.server.state != .established)
    }

    @Test(arguments: [TLSVersion.tls1_2, .tls1_3])
    func certificateFromAnotherCAIsRefused(_ version: TLSVersion) throws {
        let client = try TLSClientContext(caFile: certificates.ca, certificateFile: certificates.otherClientCertificate,
                                          keyFile: certificates.otherClientKey, maximumVersion: version)
        var pair = try Pair(client: client, server: certificates.server(clientCA: certificates.ca))
        pair.handshake()
        pair.clientSends(Array("PING\r\n".utf8))
        #expect(pair.serverError?.kind == .handshake)
        #expect(pair.serverError?.reason?.contains("certificate verification") == true)
        #expect(pair.receivedByServer.isEmpty)
    }
}
