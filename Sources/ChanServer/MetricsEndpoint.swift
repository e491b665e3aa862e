import CLibUV

/// Serves `GET /metrics` in the Prometheus text exposition format (0.0.4)
/// from the server's own loop. Minimal HTTP/1.1: one request per connection,
/// answered and closed; requests are capped in size, number and time, so
/// idle or half-sent connections cannot lock a scraper out.
final class MetricsEndpoint {
    /// Unowned(unsafe): the server outlives every connection (it closes them all before it goes).
    unowned(unsafe) let server: Server
    private let listener: UnsafeMutablePointer<uv_tcp_t>
    let port: Int
    /// Open scrapes, oldest first.
    private var open: [Scrape] = []
    /// Closes scrapes whose request did not arrive in time.
    private let timer: UnsafeMutablePointer<uv_timer_t>
    static let maxRequestBytes = 8192
    static let maxScrapes = 16
    /// Milliseconds a connection has to send its whole request.
    static let requestTimeout: UInt64 = 5000

    init(server: Server, port: Int) throws {
        self.server = server
        listener = try UV.listen(server.loop, host: server.config.metricsHost, port: port, context: server) { l, status in
            guard status >= 0 else { return }
            UV.object(l!.pointee.data, as: Server.self).metricsEndpoint?.accept()
        }
        self.port = UV.boundPort(listener)
        timer = .allocate(capacity: 1)
        uv_timer_init(server.loop, timer)
        UV.handle(timer).pointee.data = UV.context(server)
    }

    func stop() {
        UV.closeAndFree(listener)
        UV.closeAndFree(timer)
        for scrape in open { scrape.close() }
    }

    /// At the limit, the oldest connection still sending its request makes
    /// room (an idle socket must not keep a scraper out); refused either way
    /// counts in `chand_metrics_refused_total`.
    private func accept() {
        let tcp = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        uv_tcp_init(server.loop, tcp)
        guard uv_accept(UV.stream(listener), UV.stream(tcp)) == 0 else {
            UV.closeAndFree(tcp)
            return
        }
        if open.count >= MetricsEndpoint.maxScrapes {
            server.state.stats.metricsRefused += 1
            guard let idle = open.first(where: \.isReading) else {
                UV.closeAndFree(tcp)
                return
            }
            idle.close()
        }
        let scrape = Scrape(endpoint: self, handle: tcp, openedAt: uv_now(server.loop))
        open.append(scrape)
        scrape.start()
        if uv_is_active(UV.handle(timer)) == 0 {
            uv_timer_start(timer, { h in
                UV.object(h!.pointee.data, as: Server.self).metricsEndpoint?.closeLateRequests()
            }, 1000, 1000)
        }
    }

    private func closeLateRequests() {
        let now = uv_now(server.loop)
        for scrape in open where scrape.isReading && now - scrape.openedAt >= MetricsEndpoint.requestTimeout {
            server.state.stats.metricsRefused += 1
            scrape.close()
        }
        if open.isEmpty { uv_timer_stop(timer) }
    }

    fileprivate func forget(_ scrape: Scrape) {
        open.removeAll { $0 === scrape }
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
            (status, body) = ("200 OK", server.state.metricsText() + ProcessMetrics.text(startTime: server.startTime))
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
    let openedAt: UInt64
    var request: [UInt8] = []
    var closed = false
    var response: UnsafeMutableRawBufferPointer?
    /// Still waiting for the whole request (not yet answering).
    var isReading: Bool { response == nil && !closed }

    init(endpoint: MetricsEndpoint, handle: UnsafeMutablePointer<uv_tcp_t>, openedAt: UInt64) {
        self.endpoint = endpoint
        self.handle = handle
        self.openedAt = openedAt
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

    /// Where the request head ends (at its blank line), if it has: lines
    /// end with CRLF or, as RFC 9112 lets a server accept, a bare LF.
    private func headEnd() -> Int? {
        var lineStart = 0
        for (i, byte) in request.enumerated() where byte == 10 {
            let line = request[lineStart..<i]
            if line.isEmpty || line == [13] { return lineStart }
            lineStart = i + 1
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
