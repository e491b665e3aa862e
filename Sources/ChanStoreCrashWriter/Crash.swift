/// The crash test's 16-byte payloads: "v" and the sequence number in 15 digits.
enum Crash {
    static func payload(_ seq: Int) -> [UInt8] {
        let digits = String(seq)
        return Array(("v" + String(repeating: "0", count: 15 - digits.count) + digits).utf8)
    }

    static func seq(_ payload: [UInt8]) -> Int? {
        guard payload.count == 16, payload[0] == UInt8(ascii: "v"),
              let n = Int(String(decoding: payload[1...], as: UTF8.self)), payload == Crash.payload(n)
        else { return nil }
        return n
    }
}
