import ArgumentParser
import ChanAuth

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `chan passwd [<user> [<grant> ...]]`: hashes a secret for chand's users file.
struct Passwd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Hash a secret for chand's users file (--users).",
        discussion: """
            Reads the secret from standard input (its first line), or on a terminal \
            asks for it twice without echo, and prints the users-file field: \
            scrypt$N$r$p$salt$key. With a user name (and grants), prints the whole line.
            A secret is 1-\(Passwd.maxSecret) bytes without spaces or control characters.
            Example:  chan passwd alice send:'jobs.*' recv:results >> users
            Exit codes: 0 printed, 64 usage error or a refused secret.
            """)

    static let maxSecret = 1024

    @Argument(help: "The user's name; omit it to print only the hash.")
    var user: String?

    @Argument(help: "Grants for the line: send:<pattern>, recv:<pattern> or admin.")
    var grants: [String] = []

    @Option(help: ArgumentHelp("scrypt cost as log2 N (N = 2^cost).", valueName: "log2-n"))
    var cost: Int = SecretHash.defaultLog2N

    func validate() throws {
        if let user {
            guard !user.isEmpty, user.utf8.count <= 255, user.utf8.allSatisfy({ (0x21...0x7E).contains($0) }), !user.hasPrefix("#") else {
                throw ValidationError("bad user name \"\(user)\": 1-255 printable ASCII characters, no spaces, not starting with #")
            }
            guard Grant(user) == nil else { throw ValidationError("\"\(user)\" is a grant: the user name comes first") }
        } else if !grants.isEmpty {
            throw ValidationError("grants need a user name before them")
        }
        for grant in grants where Grant(grant) == nil {
            throw ValidationError("bad grant \"\(grant)\": send:<pattern>, recv:<pattern> or admin; a pattern is a channel name or a prefix ending in *")
        }
    }

    func run() throws {
        do {
            let secret = try isatty(0) == 1 ? promptTwice() : firstLineOfStandardInput()
            try check(secret)
            let hash: SecretHash
            do {
                hash = try SecretHash.make(secret: secret, log2N: cost)
            } catch {
                throw PasswdError("--cost \(cost) is out of bounds: 1-20, with 128 * 2^cost * 8 bytes at most 256 MiB")
            }
            print(([user].compactMap { $0 } + [hash.encoded] + grants).joined(separator: " "))
        } catch let error as PasswdError {
            toStandardError(error.description + "\n")
            throw ExitCode(ExitStatus.usage)
        }
    }

    private func check(_ secret: [UInt8]) throws {
        guard !secret.isEmpty else { throw PasswdError("the secret is empty") }
        guard secret.count <= Passwd.maxSecret else { throw PasswdError("the secret is longer than \(Passwd.maxSecret) bytes") }
        // AUTH carries the secret as one word of a command line.
        guard !secret.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw PasswdError("the secret contains a space or a control character")
        }
    }

    private func promptTwice() throws -> [UInt8] {
        let first = try readWithoutEcho(prompt: "Secret: ")
        let second = try readWithoutEcho(prompt: "Again: ")
        guard first == second else { throw PasswdError("the two secrets differ") }
        return first
    }

    private func readWithoutEcho(prompt: String) throws -> [UInt8] {
        toStandardError(prompt)
        var saved = termios()
        guard tcgetattr(0, &saved) == 0 else { throw PasswdError("cannot read the terminal's settings") }
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        guard tcsetattr(0, TCSAFLUSH, &silent) == 0 else { throw PasswdError("cannot turn the terminal's echo off") }
        defer {
            _ = tcsetattr(0, TCSAFLUSH, &saved)
            toStandardError("\n")
        }
        return readLine(strippingNewline: true).map { Array($0.utf8) } ?? []
    }

    /// The first line, without its line end; more lines after it are refused,
    /// so that a file of several secrets is not silently cut.
    private func firstLineOfStandardInput() throws -> [UInt8] {
        var input: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while input.count <= Passwd.maxSecret + 2 {
            let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            input += chunk.prefix(count)
        }
        var lines = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard lines.count <= 1 else { throw PasswdError("standard input has more than one line") }
        var line = Array(lines.first ?? [])
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return line
    }
}

/// A refused secret: the message on stderr, exit 64. It never repeats the secret.
struct PasswdError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = "chan passwd: " + description }
}

/// Prompts and refusals; the terminal is the only reader, so a short write is not retried.
private func toStandardError(_ text: String) {
    _ = Array(text.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
