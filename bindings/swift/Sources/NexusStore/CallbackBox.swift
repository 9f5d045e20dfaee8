/// A closure handed to C as a callback's `ctx`: retained with
/// `Unmanaged.passRetained` when registered, released by the C destroy
/// callback (`releaseCallbackBox`) exactly once.
final class CallbackBox<Body> {
    let body: Body
    init(_ body: Body) { self.body = body }

    /// The box behind a `ctx` (not retained: the store holds it).
    static func from(_ ctx: UnsafeMutableRawPointer?) -> CallbackBox<Body> {
        Unmanaged<CallbackBox<Body>>.fromOpaque(ctx!).takeUnretainedValue()
    }

    /// A retained `ctx` for C.
    func retainedContext() -> UnsafeMutableRawPointer {
        Unmanaged.passRetained(self).toOpaque()
    }
}

/// The C destroy callback of every `CallbackBox` context.
let releaseCallbackBox: @convention(c) (UnsafeMutableRawPointer?) -> Void = { ctx in
    guard let ctx else { return }
    Unmanaged<AnyObject>.fromOpaque(ctx).release()
}
