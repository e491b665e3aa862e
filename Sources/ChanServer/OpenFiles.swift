#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit, against the connections it must carry.
enum OpenFiles {
    /// Descriptors the daemon needs besides its clients': the listeners,
    /// libuv's signal pipe, async handle and accept reserve, the descriptor
    /// an over-limit client is accepted on to be refused, and metrics scrapes.
    static func reserve(metrics: Bool) -> Int {
        inUse() + 8 + (metrics ? MetricsEndpoint.maxScrapes : 0)
    }

    /// Raises the soft limit toward the hard one as far as `connections`
    /// clients need; returns how many clients the limit then allows, and the
    /// soft limit.
    static func fit(connections: Int, reserve: Int) -> (allowed: Int, limit: Int) {
        var limit = rlimit()
        guard getrlimit(resourceNoFile, &limit) == 0 else { return (connections, -1) }
        let wanted = rlim_t(connections + reserve)
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = min(wanted, limit.rlim_max)
            if setrlimit(resourceNoFile, &raised) == 0 { limit = raised }
        }
        let soft = Int(clamping: limit.rlim_cur)  // RLIM_INFINITY is the largest value: no bound
        return (max(1, min(connections, soft - reserve)), soft)
    }

    #if os(Linux)
    private static let resourceNoFile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resourceNoFile = RLIMIT_NOFILE
    #endif

    /// The soft open-file limit now, nil if it cannot be read.
    static func softLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(resourceNoFile, &limit) == 0 else { return nil }
        return Int(clamping: limit.rlim_cur)
    }

    /// Descriptors open now (the entries of /proc/self/fd, less the one reading it).
    static func inUse() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 16 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { count += 1 }
        }
        return count - 1
    }
}
