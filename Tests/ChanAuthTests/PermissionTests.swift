import ChanAuth
import Testing

/// Which user may do what on which channel.
@Suite struct PermissionTests {
    static let users = try! Users(parsing: """
        worker plain:w recv:jobs.* send:results
        dash plain:d recv:results send:jobs.urgent
        root plain:r admin
        all plain:a send:* recv:*
        idle plain:i
        """)

    func user(_ name: String) -> User { Self.users.user(named: name)! }

    @Test func patterns() {
        let prefix = ChannelPattern("jobs.*")!
        #expect(prefix.isPrefix && prefix.stem == "jobs.")
        #expect(prefix.matches("jobs.a") && prefix.matches("jobs.") && prefix.matches("jobs.a.b"))
        #expect(!prefix.matches("jobs") && !prefix.matches("Jobs.a") && !prefix.matches("xjobs.a"))
        let exact = ChannelPattern("jobs")!
        #expect(exact.matches("jobs") && !exact.matches("jobs.a") && !exact.matches("job"))
        let everything = ChannelPattern("*")!
        #expect(everything.matches("a") && everything.matches("jobs.x"))
        for bad in ["", "a*b", "**", "*a", "a b", "é", String(repeating: "a", count: 256)] {
            #expect(ChannelPattern(bad) == nil, "pattern \"\(bad)\"")
        }
        #expect(ChannelPattern(String(repeating: "a", count: 255) + "*") != nil)
    }

    @Test func sendAndReceiveGrants() {
        let worker = user("worker")
        #expect(worker.may(.receive, channel: "jobs.1"))
        #expect(!worker.may(.send, channel: "jobs.1"))
        #expect(worker.may(.send, channel: "results"))
        #expect(!worker.may(.receive, channel: "results"))
        #expect(!worker.may(.send, channel: "results.x"))
        #expect(!worker.may(.admin, channel: "jobs.1"))
    }

    @Test func operationsNeedTheirGrant() {
        let worker = user("worker")
        #expect(worker.allows(.recv, on: "jobs.a") && worker.allows(.selectReceive, on: "jobs.a"))
        #expect(!worker.allows(.send, on: "jobs.a") && !worker.allows(.throw, on: "jobs.a"))
        #expect(!worker.allows(.selectSend, on: "jobs.a") && !worker.allows(.make, on: "jobs.a"))
        #expect(!worker.allows(.close, on: "jobs.a") && !worker.allows(.open, on: "jobs.a"))
        for operation: CommandKind in [.send, .throw, .selectSend, .make, .close, .open] {
            #expect(worker.allows(operation, on: "results"), "\(operation) results")
        }
        // STAT needs either grant.
        #expect(worker.allows(.stat, on: "jobs.a") && worker.allows(.stat, on: "results"))
        #expect(!worker.allows(.stat, on: "other"))
        for operation: CommandKind in [.channels, .info, .delete] {
            #expect(!worker.allows(operation, on: nil) && !worker.allows(operation, on: "results"))
            #expect(user("root").allows(operation, on: nil))
        }
        for operation: CommandKind in [.ping, .hello, .auth, .quit] {
            #expect(user("idle").allows(operation, on: nil))
        }
    }

    @Test func adminMayDoEverythingEverywhere() {
        let root = user("root")
        for operation in CommandKind.allCases {
            #expect(root.allows(operation, on: "any.channel"))
            #expect(root.allows(operation, on: nil))
        }
    }

    @Test func wildcardIsNotAdmin() {
        let all = user("all")
        #expect(all.may(.send, channel: "x") && all.may(.receive, channel: "y") && !all.may(.admin, channel: "x"))
        #expect(!all.allows(.delete, on: "x") && !all.allows(.channels, on: nil) && !all.allows(.info, on: nil))
    }

    @Test func userWithoutGrantsMayOnlyTheUnauthenticatedCommands() {
        let idle = user("idle")
        for operation in CommandKind.allCases {
            #expect(idle.allows(operation, on: "jobs") == operation.allowedBeforeAuth, "\(operation)")
        }
        #expect(CommandKind.allCases.filter(\.allowedBeforeAuth) == [.ping, .hello, .auth, .quit])
    }

    @Test func requirementsTable() {
        #expect(CommandKind.send.requirement == .access(.send))
        #expect(CommandKind.recv.requirement == .access(.receive))
        #expect(CommandKind.stat.requirement == .sendOrReceive)
        #expect(CommandKind.delete.requirement == .access(.admin))
        #expect(CommandKind.quit.requirement == .nothing)
    }
}
