import Glibc

/// The store directory's files and the few system calls the store makes.
///
/// `seg-<seq>.log` are segments, written in order; `snap-<seq>.log` holds
/// the live state after segments up to `<seq>`, which it replaces;
/// `*.tmp` is a snapshot being written (never read, removed at open);
/// `lock` keeps a second process out of the directory.
enum Files {
    enum Kind { case segment, snapshot }

    static func name(_ kind: Kind, _ seq: UInt64) -> String {
        let digits = String(seq)
        let padded = String(repeating: "0", count: max(0, 16 - digits.count)) + digits
        return (kind == .segment ? "seg-" : "snap-") + padded + ".log"
    }

    /// The kind and sequence number of a store file name, nil for any other name.
    static func parse(_ name: String) -> (Kind, UInt64)? {
        guard name.hasSuffix(".log") else { return nil }
        let stem = name.dropLast(4)
        for (prefix, kind) in [("seg-", Kind.segment), ("snap-", Kind.snapshot)] where stem.hasPrefix(prefix) {
            let digits = stem.dropFirst(prefix.count)
            if digits.count == 16, let seq = UInt64(digits) { return (kind, seq) }
        }
        return nil
    }

    static func list(_ dir: String) throws -> [String] {
        guard let d = opendir(dir) else { throw StoreError.system("opendir", dir, errno: errno) }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func ensureDirectory(_ dir: String) throws {
        if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw StoreError.system("mkdir", dir, errno: errno) }
    }

    /// Takes an exclusive lock on `<dir>/lock` for the life of the returned descriptor.
    static func lockDirectory(_ dir: String) throws -> Int32 {
        let path = dir + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw StoreError.system("open", path, errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw StoreError("\(dir): in use by another process (\(path) is locked)") }
            throw StoreError.system("flock", path, errno: code)
        }
        return fd
    }

    static func readAll(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw StoreError.system("open", path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw StoreError.system("fstat", path, errno: errno) }
        let size = Int(st.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        try bytes.withUnsafeMutableBytes { raw in
            while done < size {
                let n = read(fd, raw.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw StoreError.system("read", path, errno: errno) }
                if n == 0 { break }
                done += n
            }
        }
        return done == size ? bytes : Array(bytes[..<done])
    }

    /// Opens a file for appending, creating it.
    static func openAppend(_ path: String, create: Bool) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0o644)
        if fd < 0 { throw StoreError.system("open", path, errno: errno) }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw StoreError.system("write", path, errno: errno) }
            done += n
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }

    static func sync(_ fd: Int32, path: String) throws {
        if fdatasync(fd) != 0 { throw StoreError.system("fdatasync", path, errno: errno) }
    }

    /// Makes a created, renamed or removed directory entry durable.
    static func syncDirectory(_ dir: String) throws {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw StoreError.system("open", dir, errno: errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw StoreError.system("fsync", dir, errno: errno) }
    }

    static func truncate(_ path: String, to length: Int) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw StoreError.system("open", path, errno: errno) }
        defer { close(fd) }
        if ftruncate(fd, off_t(length)) != 0 { throw StoreError.system("ftruncate", path, errno: errno) }
        try sync(fd, path: path)
    }

    static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw StoreError.system("unlink", path, errno: errno) }
    }

    static func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw StoreError.system("rename", from, errno: errno) }
    }

    /// Creates a file holding only the header, synced, with its directory entry synced.
    static func createWithHeader(_ dir: String, _ name: String) throws -> Int32 {
        let path = dir + "/" + name
        let fd = try openAppend(path, create: true)
        do {
            try writeAll(fd, FileFormat.header(), path: path)
            try sync(fd, path: path)
            try syncDirectory(dir)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }
}

/// Monotonic time in nanoseconds.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
