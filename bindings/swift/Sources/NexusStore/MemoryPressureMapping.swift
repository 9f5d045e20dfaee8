import Foundation

/// What Dispatch's memory pressure source reports (Darwin's
/// `DispatchSource.MemoryPressureEvent`), as a platform-neutral value.
public enum DispatchMemoryPressure: Equatable, Sendable {
    case normal, warning, critical
}

/// How OS memory signals become pressure levels: plain functions, the same
/// on every platform (the Darwin glue in `MemoryPressureMonitor` calls them).
public enum MemoryPressureMapping {
    /// Dispatch's flag values (`DISPATCH_MEMORYPRESSURE_NORMAL/WARN/CRITICAL`).
    public static let dispatchNormalFlag: UInt = 0x01
    public static let dispatchWarningFlag: UInt = 0x02
    public static let dispatchCriticalFlag: UInt = 0x04

    /// `.warning` -> MODERATE, `.critical` -> CRITICAL, `.normal` -> NONE.
    public static func level(for pressure: DispatchMemoryPressure) -> MemoryPressureLevel {
        switch pressure {
        case .normal: return .none
        case .warning: return .moderate
        case .critical: return .critical
        }
    }

    /// The pressure of a memory pressure source's data (its raw flags): the
    /// most severe flag set; nil when none of the three is.
    public static func dispatchPressure(rawFlags: UInt) -> DispatchMemoryPressure? {
        if rawFlags & dispatchCriticalFlag != 0 { return .critical }
        if rawFlags & dispatchWarningFlag != 0 { return .warning }
        if rawFlags & dispatchNormalFlag != 0 { return .normal }
        return nil
    }

    /// The level `UIApplication.didReceiveMemoryWarningNotification` gives
    /// `elapsed` seconds after it arrived. No "normal" notification follows
    /// a warning, so its CRITICAL decays: CRITICAL for `decay` seconds, then
    /// MODERATE for `decay` more, then NONE.
    public static func levelAfterMemoryWarning(elapsed: TimeInterval, decay: TimeInterval) -> MemoryPressureLevel {
        if elapsed < decay { return .critical }
        if elapsed < 2 * decay { return .moderate }
        return .none
    }

    /// The level of a headroom reading, as the Linux monitor's headroom
    /// source maps it: MODERATE when at most 10% of the limit is left,
    /// CRITICAL at 5%, EMERGENCY at 2%; NONE above 10%, and for a reading
    /// with no limit (0).
    public static func level(for headroom: MemoryHeadroom) -> MemoryPressureLevel {
        guard headroom.limit > 0 else { return .none }
        // available / limit <= p / 100, in integers (no overflow: both fit in
        // 64 bits and the products in 128).
        func atMost(_ percent: UInt64) -> Bool {
            let left = headroom.available.multipliedFullWidth(by: 100)
            let bound = headroom.limit.multipliedFullWidth(by: percent)
            return left.high < bound.high || (left.high == bound.high && left.low <= bound.low)
        }
        if atMost(2) { return .emergency }
        if atMost(5) { return .critical }
        if atMost(10) { return .moderate }
        return .none
    }

    /// The moments (seconds after a memory warning) at which its level
    /// changes, with the level from then on: `decay` -> MODERATE,
    /// `2 * decay` -> NONE.
    public static func memoryWarningSteps(decay: TimeInterval) -> [(after: TimeInterval, level: MemoryPressureLevel)] {
        [(decay, levelAfterMemoryWarning(elapsed: decay, decay: decay)),
         (2 * decay, levelAfterMemoryWarning(elapsed: 2 * decay, decay: decay))]
    }
}

/// What the process may still allocate before the OS stops it, and the
/// limit that is measured against, in bytes. On iOS, tvOS and visionOS:
/// `os_proc_available_memory()` and that plus the process's footprint
/// (`phys_footprint`), i.e. the jetsam limit.
public struct MemoryHeadroom: Equatable, Sendable {
    public var available: UInt64
    public var limit: UInt64

    public init(available: UInt64, limit: UInt64) {
        self.available = available
        self.limit = limit
    }
}
