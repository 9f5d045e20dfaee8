package io.nexusstore

import java.util.concurrent.atomic.AtomicLong

/**
 * Runs [block] with [owner]'s live native handle (NexusStore, Governor): a closed owner (handle 0)
 * is IllegalStateException([closed]), and so is a call whose handle went stale because close()
 * on another thread won the race; [owner] stays reachable (no Cleaner frees it) until [block]
 * returns.
 */
internal inline fun <T> callLive(owner: Any, handle: AtomicLong, closed: String, block: (Long) -> T): T {
    val h = handle.get()
    check(h != 0L) { closed }
    try {
        return block(h)
    } catch (e: NexusException) {
        if (e.status == NexusStatus.INVALID_HANDLE && handle.get() == 0L) throw IllegalStateException(closed, e)
        throw e
    } finally {
        Fence.keepAlive(owner)
    }
}
