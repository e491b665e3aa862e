import ChanAuth
import Foundation
import Testing

/// The users file as an operator writes it, good and bad, and what each line grants.
@Suite struct UsersFileTests {
    /// One hash made once (each costs tens of milliseconds): the secret is "s3cret".
    static let hashed = try! SecretHash.make(secret: Array("s3cret".utf8), log2N: 10)

    @Test func goodFileWithCommentsBlankLinesAndTabs() throws {
        let users = try Users(parsing: """
            # workers and the dashboard
            alice \(Self.hashed.encoded) send:jobs.* recv:results

              \t# an indented comment
            bob\tplain:hunter2\trecv:jobs.*\tsend:results
            root plain:toor admin\r
            nobody \(Self.hashed.encoded)
            """)
        #expect(users.all.map(\.name) == ["alice", "bob", "root", "nobody"])
        #expect(users.all.map(\.line) == [2, 5, 6, 7])
        #expect(users.user(named: "alice")?.grants.map(\.description) == ["send:jobs.*", "recv:results"])
        #expect(users.user(named: "root")?.isAdmin == true)
        #expect(users.warnings == [
            "line 5: user bob has a plain: secret; replace it with the line chan passwd prints",
            "line 6: user root has a plain: secret; replace it with the line chan passwd prints",
            "line 7: user nobody has no grants and may only PING, HELLO, AUTH and QUIT",
        ])
    }

    @Test func badLinesNameTheirLineNumber() {
        let cases: [(String, String)] = [
            ("alice plain:x send:a\nalice plain:y", "line 2: user alice is already defined on line 1"),
            ("# c\n\nalice", "line 3: user alice has no secret"),
            ("alice plain:", "line 1: user alice has an empty plain: secret"),
            ("alice hunter2 admin", "line 1: the secret of user alice is neither plain:<text> nor a scrypt$N$r$p$salt$key hash from chan passwd"),
            ("alice scrypt$16384$8$1$AAAA$BBBB", "line 1: the secret of user alice is neither plain:<text> nor a scrypt$N$r$p$salt$key hash from chan passwd"),
            ("a plain:x\nb plain:y write:jobs", "line 2: grant 1 of user b is not send:<pattern>, recv:<pattern> or admin; a pattern is a channel name or a prefix ending in *"),
            ("a plain:x send:", "line 1: grant 1 of user a is not send:<pattern>, recv:<pattern> or admin; a pattern is a channel name or a prefix ending in *"),
            ("a plain:x send:ok recv:jo*bs", "line 1: grant 2 of user a is not send:<pattern>, recv:<pattern> or admin; a pattern is a channel name or a prefix ending in *"),
            ("a plain:x Admin", "line 1: grant 1 of user a is not send:<pattern>, recv:<pattern> or admin; a pattern is a channel name or a prefix ending in *"),
            ("\n\nélise plain:x", "line 3: bad user name \"élise\": 1-255 bytes 0x21-0x7E"),
        ]
        for (text, expected) in cases {
            #expect(throws: UsersFileError.self) { try Users(parsing: text) }
            do {
                _ = try Users(parsing: text)
            } catch {
                #expect(error.description == expected)
            }
        }
    }

    @Test func errorsNeverShowTheSecret() {
        // A secret without its plain: prefix, and a plain secret with a space in it.
        for text in ["alice hunter2-typo admin", "alice plain:correct horse admin"] {
            do {
                _ = try Users(parsing: text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(!error.description.contains("hunter2") && !error.description.contains("horse"))
            }
        }
    }

    @Test func hashParametersOutOfBoundsAreRefused() {
        let salt = "AAAAAAAAAAAAAAAAAAAAAA==", key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        for secret in ["scrypt$2097152$8$1$\(salt)$\(key)",  // 2^21: over the 2^20 bound
                       "scrypt$1048576$8$1$\(salt)$\(key)",  // 1 GiB of memory
                       "scrypt$1000$8$1$\(salt)$\(key)",     // not a power of two
                       "scrypt$16384$8$17$\(salt)$\(key)",
                       "scrypt$16384$8$1$\(salt)",
                       "bcrypt$16384$8$1$\(salt)$\(key)"] {
            #expect(throws: UsersFileError.self) { try Users(parsing: "alice \(secret)") }
        }
        #expect(SecretHash("scrypt$16384$8$1$\(salt)$\(key)") != nil)
    }

    @Test func loadNamesThePathAndLine() throws {
        let missing = "/nonexistent/users-\(UInt64.random(in: 0 ... .max))"
        do {
            _ = try Users.load(path: missing)
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.line == nil)
            #expect(error.description.hasPrefix("\(missing): cannot read the users file"))
        }
        let path = try temporaryFile("ok plain:pw admin\nbad plain:pw send:\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try Users.load(path: path)
            Issue.record("loaded a malformed file")
        } catch {
            #expect(error.line == 2)
            #expect(error.description.hasPrefix("\(path):2: grant 1 of user bad is not send:<pattern>"))
        }
    }

    @Test func emptyFileHasNoUsersAndSaysSo() throws {
        let users = try Users(parsing: "# nobody yet\n\n")
        #expect(users.isEmpty)
        #expect(users.warnings == ["the users file has no users: nobody can authenticate"])
        #expect(users.authenticate(name: "alice", secret: "pw") == nil)
    }
}
