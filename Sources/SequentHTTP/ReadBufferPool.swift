import Foundation

/// Read buffers lent to connections for one wake-up each: an idle connection holds none, and a busy server reuses
/// a few instead of allocating 64 KB per read event.
final class ReadBufferPool: @unchecked Sendable {
    // @unchecked: `free` is only touched under `lock`.
    private let lock = NSLock()
    private var free: [UnsafeMutableRawBufferPointer] = []
    private let bufferBytes: Int
    private let keep: Int

    init(bufferBytes: Int, keep: Int) {
        self.bufferBytes = bufferBytes
        self.keep = keep
    }

    deinit {
        for buffer in free { buffer.deallocate() }
    }

    func take() -> UnsafeMutableRawBufferPointer {
        if let buffer = lock.withLock({ free.popLast() }) { return buffer }
        return .allocate(byteCount: bufferBytes, alignment: 16)
    }

    func give(_ buffer: UnsafeMutableRawBufferPointer) {
        let kept = lock.withLock {
            guard free.count < keep else { return false }
            free.append(buffer)
            return true
        }
        if !kept { buffer.deallocate() }
    }
}

/// A counter of interchangeable slots that never waits: `take` fails when none is free.
final class Slots: @unchecked Sendable {
    // @unchecked: `available` is only touched under `lock`.
    private let lock = NSLock()
    private var available: Int

    init(_ count: Int) {
        available = max(0, count)
    }

    func take() -> Bool {
        lock.withLock {
            guard available > 0 else { return false }
            available -= 1
            return true
        }
    }

    func give() {
        lock.withLock { available += 1 }
    }
}
