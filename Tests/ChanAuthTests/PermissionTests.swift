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
        #expect(worker.may(.recv, channel: "jobs.a") && worker.may(.selectReceive, channel: "jobs.a"))
        #expect(!worker.may(.send, channel: "jobs.a") && !worker.may(.throw, channel: "jobs.a"))
        #expect(!worker.may(.selectSend, channel: "jobs.a") && !worker.may(.make, channel: "jobs.a"))
        #expect(!worker.may(.close, channel: "jobs.a") && !worker.may(.open, channel: "jobs.a"))
        for operation: Operation in [.send, .throw, .selectSend, .make, .close, .open] {
            #expect(worker.may(operation, channel: "results"), "\(operation) results")
        }
        // STAT needs either grant.
        #expect(worker.may(.stat, channel: "jobs.a") && worker.may(.stat, channel: "results"))
        #expect(!worker.may(.stat, channel: "other"))
        for operation: Operation in [.channels, .info, .delete] {
            #expect(!worker.may(operation, channel: nil) && !worker.may(operation, channel: "results"))
            #expect(user("root").may(operation, channel: nil))
        }
        for operation: Operation in [.ping, .hello, .auth, .quit] {
            #expect(user("idle").may(operation, channel: nil))
        }
    }

    @Test func adminMayDoEverythingEverywhere() {
        let root = user("root")
        for operation in Operation.allCases {
            #expect(root.may(operation, channel: "any.channel"))
            #expect(root.may(operation, channel: nil))
        }
    }

    @Test func wildcardIsNotAdmin() {
        let all = user("all")
        #expect(all.may(.send, channel: "x") && all.may(.receive, channel: "y") && all.may(.delete, channel: "x") == false)
        #expect(!all.may(.channels, channel: nil) && !all.may(.info, channel: nil))
    }

    @Test func userWithoutGrantsMayOnlyTheUnauthenticatedCommands() {
        let idle = user("idle")
        for operation in Operation.allCases {
            #expect(idle.may(operation, channel: "jobs") == operation.allowedBeforeAuth, "\(operation)")
        }
        #expect(Operation.allCases.filter(\.allowedBeforeAuth) == [.ping, .hello, .auth, .quit])
    }

    @Test func requirementsTable() {
        #expect(Operation.send.requirement == .access(.send))
        #expect(Operation.recv.requirement == .access(.receive))
        #expect(Operation.stat.requirement == .sendOrReceive)
        #expect(Operation.delete.requirement == .access(.admin))
        #expect(Operation.quit.requirement == .nothing)
    }
}
