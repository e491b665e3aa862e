#if canImport(Glibc)
import Glibc
#endif

/// Prometheus's standard process metrics (resident memory, open descriptors,
/// CPU time, start time), read from /proc like its client libraries do.
enum ProcessMetrics {
    /// The process's start, seconds since the epoch, taken when the server starts.
    static func text(startTime: Int) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        // statm: size resident shared ... in pages.
        if let statm = read("/proc/self/statm")?.split(separator: " "), statm.count > 1, let rss = Int(statm[1]) {
            metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", "\(rss * pageSize)")
        }
        if let stat = read("/proc/self/stat"), let end = stat.lastIndex(of: ")") {
            // Fields after the command name; utime and stime are the 14th and 15th of the whole line.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) {
                metric("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.",
                       "\((user + system) / ticks)")
            }
        }
        metric("process_open_fds", "gauge", "Number of open file descriptors.", "\(OpenFiles.inUse())")
        if let limit = OpenFiles.softLimit() {
            metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", "\(limit)")
        }
        metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
               "\(startTime)")
        return out
    }

    private static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 1024)
        let count = fread(&buffer, 1, buffer.count - 1, file)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
