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

    /// The moments (seconds after a memory warning) at which its level
    /// changes, with the level from then on: `decay` -> MODERATE,
    /// `2 * decay` -> NONE.
    public static func memoryWarningSteps(decay: TimeInterval) -> [(after: TimeInterval, level: MemoryPressureLevel)] {
        [(decay, levelAfterMemoryWarning(elapsed: decay, decay: decay)),
         (2 * decay, levelAfterMemoryWarning(elapsed: 2 * decay, decay: decay))]
    }
}
