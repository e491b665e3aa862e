/// A server address as people write it, one grammar for every flag and CHAND_ADDR:
/// `host`, `:port`, `host:port`, `[v6]:port`, `[v6]` or a bare IPv6 address (`::1`).
/// Any of them may start with `tls://`: the server speaks TLS.
public struct ServerAddress: Equatable, Sendable {
    /// nil when the text gives only a port.
    public var host: String?
    /// nil when the text gives only a host.
    public var port: Int?
    /// Written with `tls://`.
    public var isTLS: Bool

    public init(host: String?, port: Int?, isTLS: Bool = false) {
        self.host = host
        self.port = port
        self.isTLS = isTLS
    }

    public static let tlsPrefix = "tls://"

    /// Reads an address; a port is 1-65535.
    public static func parse(_ text: String) throws(ChanError) -> ServerAddress {
        if text.lowercased().hasPrefix(tlsPrefix) {
            var address = try parse(String(text.dropFirst(tlsPrefix.count)))
            address.isTLS = true
            return address
        }
        func bad() -> ChanError {
            .invalidArgument("\"\(text)\" is not an address: host, :port, host:port or [v6]:port")
        }
        func port(_ digits: Substring) throws(ChanError) -> Int {
            guard let port = Int(digits), digits.allSatisfy(\.isNumber), (1...65535).contains(port) else {
                throw .invalidArgument("\"\(text)\": a port is 1-65535")
            }
            return port
        }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw bad() }
            let host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard !host.isEmpty, rest.isEmpty || rest.hasPrefix(":") else { throw bad() }
            return ServerAddress(host: String(host), port: rest.isEmpty ? nil : try port(rest.dropFirst()))
        }
        let colons = text.filter { $0 == ":" }.count
        if colons > 1 { return ServerAddress(host: text, port: nil) }  // a bare IPv6 address
        guard let colon = text.firstIndex(of: ":") else {
            guard !text.isEmpty else { throw bad() }
            return ServerAddress(host: text, port: nil)
        }
        let host = text[..<colon]
        return ServerAddress(host: host.isEmpty ? nil : String(host), port: try port(text[text.index(after: colon)...]))
    }

    /// `host:port`, an IPv6 host in brackets.
    public static func display(host: String, port: Int) -> String {
        (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }
}
