import CLibUV

/// Serves `GET /metrics` in the Prometheus text exposition format (0.0.4)
/// from the server's own loop. Minimal HTTP/1.1: one request per connection,
/// answered and closed; requests are capped in size and number.
final class MetricsEndpoint {
    /// Unowned(unsafe): the server outlives every connection (it closes them all before it goes).
    unowned(unsafe) let server: Server
    private let listener: UnsafeMutablePointer<uv_tcp_t>
    let port: Int
    private var open: [ObjectIdentifier: Scrape] = [:]
    static let maxRequestBytes = 8192
    static let maxScrapes = 16

    init(server: Server, port: Int) throws {
        self.server = server
        listener = try UV.listen(server.loop, host: server.config.host, port: port, context: server) { l, status in
            guard status >= 0 else { return }
            UV.object(l!.pointee.data, as: Server.self).metricsEndpoint?.accept()
        }
        self.port = UV.boundPort(listener)
    }

    func stop() {
        UV.closeAndFree(listener)
        for scrape in Array(open.values) { scrape.close() }
    }

    private func accept() {
        let tcp = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        uv_tcp_init(server.loop, tcp)
        guard uv_accept(UV.stream(listener), UV.stream(tcp)) == 0, open.count < MetricsEndpoint.maxScrapes else {
            UV.closeAndFree(tcp)
            return
        }
        let scrape = Scrape(endpoint: self, handle: tcp)
        open[ObjectIdentifier(scrape)] = scrape
        scrape.start()
    }

    fileprivate func forget(_ scrape: Scrape) {
        open[ObjectIdentifier(scrape)] = nil
    }

    /// The response to a request whose head is `head`.
    fileprivate func respond(to head: [UInt8]) -> [UInt8] {
        let requestLine = String(decoding: head.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = requestLine.split(separator: " ")
        let status: String, body: String
        if parts.count != 3 || !parts[2].hasPrefix("HTTP/1.") {
            (status, body) = ("400 Bad Request", "bad request\n")
        } else if parts[0] != "GET" && parts[0] != "HEAD" {
            (status, body) = ("405 Method Not Allowed", "GET /metrics\n")
        } else if parts[1] != "/metrics" && !parts[1].hasPrefix("/metrics?") {
            (status, body) = ("404 Not Found", "GET /metrics\n")
        } else {
            (status, body) = ("200 OK", server.state.metricsText())
        }
        var out = Array("HTTP/1.1 \(status)\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n".utf8)
        if parts.first != "HEAD" { out += Array(body.utf8) }
        return out
    }
}

/// One HTTP request/response on the metrics port.
private final class Scrape {
    unowned(unsafe) let endpoint: MetricsEndpoint
    let handle: UnsafeMutablePointer<uv_tcp_t>
    var request: [UInt8] = []
    var closed = false
    var response: UnsafeMutableRawBufferPointer?

    init(endpoint: MetricsEndpoint, handle: UnsafeMutablePointer<uv_tcp_t>) {
        self.endpoint = endpoint
        self.handle = handle
        UV.handle(handle).pointee.data = UV.context(self, retained: true)
    }

    func start() {
        uv_read_start(UV.stream(handle), { h, _, buf in
            buf!.pointee = UV.buffer(UV.object(h!.pointee.data, as: Scrape.self).endpoint.server.readBuffer)
        }, { stream, nread, buf in
            UV.object(stream!.pointee.data, as: Scrape.self).didRead(nread, buf!.pointee)
        })
    }

    private func didRead(_ nread: Int, _ buf: uv_buf_t) {
        guard nread > 0 else {
            if nread < 0 { close() }
            return
        }
        request += UnsafeRawBufferPointer(start: buf.base, count: nread)
        if let end = headEnd() {
            uv_read_stop(UV.stream(handle))
            write(endpoint.respond(to: Array(request[..<end])))
        } else if request.count > MetricsEndpoint.maxRequestBytes {
            uv_read_stop(UV.stream(handle))
            write(Array("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
        }
    }

    /// Where the request head ends (a blank line), if it has.
    private func headEnd() -> Int? {
        guard request.count >= 4 else { return nil }
        for i in 0...(request.count - 4) where request[i] == 13 && request[i + 1] == 10 && request[i + 2] == 13 && request[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func write(_ bytes: [UInt8]) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        copy.copyBytes(from: bytes)
        response = copy
        let req = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
        var buf = UV.buffer(copy)
        uv_write(req, UV.stream(handle), &buf, 1) { req, _ in
            let scrape = UV.object(req!.pointee.handle!.pointee.data, as: Scrape.self)
            req!.deallocate()
            scrape.close()
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        endpoint.forget(self)
        uv_close(UV.handle(handle)) { h in
            let scrape = UV.release(h!.pointee.data, as: Scrape.self)
            scrape.response?.deallocate()
            h!.deallocate()
        }
    }
}
