package io.nexusstore

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

class LifetimeTest {
    private class Payload

    /** Makes a store holding 3 objects and drops it without closing; returns its handle. */
    private fun abandonStore(reclaimer: Reclaimer?): Long {
        val store = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        for (i in 0 until 3) store.putObject("o$i", Payload(), cost = 10)
        if (reclaimer != null) {
            // Swap in the reclaimer under test: close() the default registration's twin later.
            reclaimer.register(store, store.handleForTesting())
        }
        return store.handleForTesting()
    }

    private fun assertReclaimed(base: Long, handle: Long) {
        assertTrue(gcUntil { NativeBridge.liveObjectRefs() == base }, "the unclosed store's objects were released")
        // The handle is stale now: the store was freed.
        val e = assertThrows<NexusException> { NativeBridge.pressureLevel(handle) }
        assertEquals(NexusStatus.INVALID_HANDLE, e.status)
    }

    @Test
    fun `the Cleaner frees a store nobody closed`() {
        val base = NativeBridge.liveObjectRefs()
        val handle = abandonStore(null)
        assertEquals(base + 3, NativeBridge.liveObjectRefs())
        assertReclaimed(base, handle)
    }

    @Test
    fun `the phantom-reference fallback (Android below API 33) frees a store nobody closed`() {
        assertTrue(Reclaimer.default is CleanerReclaimer)
        val base = NativeBridge.liveObjectRefs()
        // Both reclaimers watch the store; the phantom one may win, and the second free is a no-op.
        val handle = abandonStore(PhantomReclaimer())
        assertReclaimed(base, handle)
    }

    @Test
    fun `the phantom fallback alone frees an unreachable owner's store, once`() {
        val reclaimer = PhantomReclaimer()
        val handle = MemoryConfig().createStore()
        val reclaimable = reclaimer.register(Any(), handle) // the owner is unreachable at once
        assertTrue(gcUntil {
            try {
                NativeBridge.pressureLevel(handle); false
            } catch (e: NexusException) {
                e.status == NexusStatus.INVALID_HANDLE
            }
        })
        reclaimable.reclaim() // already done: nothing happens
    }

    @Test
    fun `close from 8 threads at once frees once and every later call is IllegalStateException`() {
        repeat(20) {
            val base = NativeBridge.liveObjectRefs()
            val store = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
            store.putObject("o", Payload(), cost = 10)
            val barrier = CyclicBarrier(8)
            val pool = Executors.newFixedThreadPool(8)
            val done = (0 until 8).map { pool.submit { barrier.await(); store.close() } }
            done.forEach { it.get(30, TimeUnit.SECONDS) }
            pool.shutdown()
            assertEquals(base, NativeBridge.liveObjectRefs())
            assertThrows<IllegalStateException> { store.pin("o") }
        }
    }

    @Test
    fun `calls racing a close end in a value or IllegalStateException, nothing else`() {
        val store = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        val barrier = CyclicBarrier(5)
        val pool = Executors.newFixedThreadPool(5)
        val workers = (0 until 4).map { t ->
            pool.submit<Int> {
                barrier.await()
                var closedSeen = 0
                for (i in 0 until 2000) {
                    try {
                        store.put("k$t-$i", ByteArray(8))
                        store["k$t-$i"]
                    } catch (_: IllegalStateException) {
                        closedSeen++
                    }
                }
                closedSeen
            }
        }
        pool.submit { barrier.await(); Thread.sleep(1); store.close() }.get(30, TimeUnit.SECONDS)
        workers.forEach { it.get(30, TimeUnit.SECONDS) }
        pool.shutdown()
        assertTrue(store.isClosed)
    }
}
