package io.nexusstore

import java.lang.ref.PhantomReference
import java.lang.ref.ReferenceQueue
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicBoolean

/** Frees the native store (or governor) of an owner that became unreachable without being closed. */
internal interface Reclaimer {
    /**
     * [Reclaimable.reclaim] frees [handle] (a store, or a governor for [NativeKind.GOVERNOR]) at
     * most once: on close, or after [owner] is gone; [then] (which must not hold [owner]) runs
     * after the free.
     */
    fun register(owner: Any, handle: Long, kind: NativeKind = NativeKind.STORE, then: Runnable? = null): Reclaimable

    companion object {
        /** java.lang.ref.Cleaner where it exists (JVM 9+, Android API 33+), else a phantom queue. */
        val default: Reclaimer by lazy {
            val hasCleaner = try {
                Class.forName("java.lang.ref.Cleaner")
                true
            } catch (_: ClassNotFoundException) {
                false
            }
            if (hasCleaner) CleanerReclaimer() else PhantomReclaimer()
        }
    }
}

internal fun interface Reclaimable {
    fun reclaim()
}

/** What a handle is: the free call differs. */
internal enum class NativeKind { STORE, GOVERNOR }

/** The static clean action: it holds only the handle, never its owner. */
private class FreeHandle(private val handle: Long, private val kind: NativeKind, private val then: Runnable?) : Runnable {
    override fun run() {
        try {
            when (kind) {
                NativeKind.STORE -> NativeBridge.storeFreeDeferred(handle)
                NativeKind.GOVERNOR -> NativeBridge.governorFreeDeferred(handle)
            }
        } finally {
            then?.run()
        }
    }
}

/** java.lang.ref.Cleaner (only loaded where that class exists). */
internal class CleanerReclaimer : Reclaimer {
    private val cleaner = java.lang.ref.Cleaner.create()

    override fun register(owner: Any, handle: Long, kind: NativeKind, then: Runnable?): Reclaimable {
        val cleanable = cleaner.register(owner, FreeHandle(handle, kind, then))
        return Reclaimable { cleanable.clean() }
    }
}

/** The fallback below Android API 33: phantom references drained by one daemon thread. */
internal class PhantomReclaimer : Reclaimer {
    private val queue = ReferenceQueue<Any>()
    private val live: MutableSet<StorePhantom> = ConcurrentHashMap.newKeySet()

    private inner class StorePhantom(owner: Any, private val handle: Long, private val kind: NativeKind, private val then: Runnable?) :
        PhantomReference<Any>(owner, queue), Reclaimable {
        private val done = AtomicBoolean(false)

        override fun reclaim() {
            if (done.compareAndSet(false, true)) {
                live.remove(this)
                clear()
                FreeHandle(handle, kind, then).run()
            }
        }
    }

    init {
        Thread({
            while (true) {
                try {
                    (queue.remove() as? Reclaimable)?.reclaim()
                } catch (_: Throwable) {
                    // Keep draining, whatever a reclaim threw (an OutOfMemoryError while memory is
                    // short, an interrupt): the thread lives as long as the process, as
                    // java.lang.ref.Cleaner's ignores what its actions throw.
                }
            }
        }, "nexus-store-reclaimer").apply {
            isDaemon = true
            start()
        }
    }

    override fun register(owner: Any, handle: Long, kind: NativeKind, then: Runnable?): Reclaimable =
        StorePhantom(owner, handle, kind, then).also { live.add(it) }
}
