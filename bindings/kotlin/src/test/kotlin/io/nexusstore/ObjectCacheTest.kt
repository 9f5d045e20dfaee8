package io.nexusstore

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.lang.ref.WeakReference
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

class ObjectCacheTest {
    private class Bitmap(val id: Int)

    @Test
    fun `objects come back as the same instance and are charged their cost`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val bitmap = Bitmap(1)
            store.putObject("b", bitmap, cost = 4096)
            assertSame(bitmap, store.getObject("b"))
            assertNull(store.getObject("absent"))
            assertEquals(4096L, store.memoryMetrics.currentUsage)
            store.put("bytes", ByteArray(1))
            assertEquals(NexusStatus.INVALID_ARGUMENT, assertThrows<NexusException> { store.getObject("bytes") }.status)
            assertEquals(NexusStatus.INVALID_ARGUMENT, assertThrows<NexusException> { store["b"] }.status)
        }
    }

    /**
     * getObject of a bytes value throws INVALID_ARGUMENT even when releasing its read handle
     * evicts the entry on this thread (another thread signalled meanwhile) and runs the
     * listener: the shim sets its exception aside across the release. Before, the listener ran
     * with it pending and the read returned null (hundreds of times in a few seconds), and
     * -Xcheck:jni reported each one.
     */
    @Test
    fun `a read that throws keeps its exception when its release runs the listener`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val inRead = ThreadLocal.withInitial { false }
            val listenedDuringRead = AtomicInteger()
            store.setEvictionListener { _, _, _ -> if (inRead.get()) listenedDuringRead.incrementAndGet() }
            val stop = java.util.concurrent.atomic.AtomicBoolean(false)
            val signaller = Thread {
                var i = 0
                while (!stop.get()) {
                    store.signalPressure(MemoryPressureLevel.NONE)
                    store.put("k", ByteArray(600_000))
                    store.signalPressure(if (i++ % 2 == 0) MemoryPressureLevel.CRITICAL else MemoryPressureLevel.EMERGENCY)
                }
            }
            signaller.start()
            var lost = 0
            val deadline = System.nanoTime() + 1_500_000_000L
            try {
                while (System.nanoTime() < deadline) {
                    val before = listenedDuringRead.get()
                    inRead.set(true)
                    try {
                        assertNull(store.getObject("k"))
                        // Null is right only if the key was absent; a listener run by this
                        // read's own release means it was there.
                        if (listenedDuringRead.get() != before) lost++
                    } catch (e: NexusException) {
                        assertEquals(NexusStatus.INVALID_ARGUMENT, e.status)
                    } finally {
                        inRead.set(false)
                    }
                }
            } finally {
                stop.set(true)
                signaller.join()
            }
            assertEquals(0, lost, "reads that lost their exception")
        }
    }

    /** Figures past Long.MAX_VALUE (u64 in the library) read as Long.MAX_VALUE, never negative. */
    @Test
    fun `a usage past Long MAX_VALUE reads as Long MAX_VALUE`() {
        NexusStore().use { store ->
            store.putObject("a", Bitmap(1), cost = Long.MAX_VALUE)
            store.putObject("b", Bitmap(2), cost = Long.MAX_VALUE)
            assertEquals(Long.MAX_VALUE, store.memoryMetrics.currentUsage)
            assertEquals(Long.MAX_VALUE, store.memoryMetrics.maxUsage)
        }
    }

    @Test
    fun `a pressure level from a newer library reads as EMERGENCY`() {
        assertEquals(MemoryPressureLevel.EMERGENCY, MemoryPressureLevel.fromCode(4))
        assertEquals(MemoryPressureLevel.EMERGENCY, MemoryPressureLevel.fromCode(99))
        assertEquals(MemoryPressureLevel.CRITICAL, MemoryPressureLevel.fromCode(2))
    }

    @Test
    fun `every way out releases the global reference exactly once`() {
        val base = NativeBridge.liveObjectRefs()
        val store = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        for (i in 0 until 6) store.putObject("o$i", Bitmap(i), cost = 100)
        assertEquals(base + 6, NativeBridge.liveObjectRefs())
        store.putObject("o0", Bitmap(10), cost = 100) // replace
        assertEquals(base + 6, NativeBridge.liveObjectRefs())
        store.remove("o1")
        store.evictLeastRecentlyUsed(1)
        assertEquals(base + 4, NativeBridge.liveObjectRefs())
        // Released on a thread the shim attaches (the signal runs on a new pthread).
        assertEquals(0, NativeBridge.signalPressureFromNativeThread(store.handleForTesting(), MemoryPressureLevel.EMERGENCY.ordinal))
        assertEquals(base, NativeBridge.liveObjectRefs())
        store.signalPressure(MemoryPressureLevel.NONE)
        store.putObject("kept", Bitmap(20), cost = 100)
        store.close() // the free releases the rest
        assertEquals(base, NativeBridge.liveObjectRefs())
    }

    @Test
    fun `a failed put takes no reference`() {
        val base = NativeBridge.liveObjectRefs()
        NexusStore(MemoryConfig(maxCacheBytes = 1000)).use { store ->
            assertEquals(NexusStatus.TOO_LARGE, assertThrows<NexusException> { store.putObject("x", Bitmap(0), cost = 5000) }.status)
            assertThrows<NexusException> { store.putObject("x", Bitmap(0), cost = -1) }
            // Cost 0 would ask a size estimator, which a Kotlin store has not: the message says
            // what to pass instead (not the C config's estimator).
            val zero = assertThrows<NexusException> { store.putObject("x", Bitmap(0), cost = 0) }
            assertEquals(NexusStatus.INVALID_ARGUMENT, zero.status)
            assertTrue(zero.message!!.contains("pass its size in bytes as cost"), zero.message)
            assertFalse(zero.message!!.contains("NexusMemoryConfig"), zero.message)
            assertEquals(base, NativeBridge.liveObjectRefs())
        }
    }

    @Test
    fun `an object let go by the store can be collected`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            var bitmap: Bitmap? = Bitmap(7)
            val weak = WeakReference(bitmap)
            store.putObject("b", bitmap!!, cost = 10)
            bitmap = null
            System.gc()
            assertTrue(weak.get() != null, "the store holds it")
            store.remove("b")
            assertTrue(gcUntil { weak.get() == null }, "released after remove")
        }
    }

    @Test
    fun `getOrLoadObject loads one object for 8 threads and caches it at its cost`() {
        val base = NativeBridge.liveObjectRefs()
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val calls = AtomicInteger()
            val arrived = CountDownLatch(8)
            val pool = Executors.newFixedThreadPool(8)
            val results = (0 until 8).map {
                pool.submit<Any?> {
                    arrived.countDown()
                    store.getOrLoadObject("bitmap:1") {
                        calls.incrementAndGet()
                        arrived.await(10, TimeUnit.SECONDS)
                        CostedObject(Bitmap(1), cost = 2048)
                    }
                }
            }.map { it.get(30, TimeUnit.SECONDS) }
            pool.shutdown()
            assertEquals(1, calls.get())
            results.forEach { assertSame(results[0], it) }
            assertSame(results[0], store.getObject("bitmap:1"))
            assertEquals(2048L, store.memoryMetrics.currentUsage)
            assertEquals(base + 1, NativeBridge.liveObjectRefs())
            assertNull(store.getOrLoadObject("none") { null })
            val bad = assertThrows<NexusException> { store.getOrLoadObject("bad") { CostedObject(Bitmap(2), cost = -1) } }
            assertEquals("cost must be >= 0 (got -1)", bad.message)
            // Cost 0 with no size estimator: the library refuses it, with its message, to the caller.
            val zero = assertThrows<NexusException> { store.getOrLoadObject("zero") { CostedObject(Bitmap(3), cost = 0) } }
            assertEquals(NexusStatus.INVALID_ARGUMENT, zero.status)
            assertTrue(zero.message!!.contains("pass its size in bytes as cost"), zero.message)
            store.put("bytes", ByteArray(1))
            assertThrows<NexusException> { store.getOrLoadObject("bytes") { error("cached") } }
            store.remove("bitmap:1")
            assertEquals(base, NativeBridge.liveObjectRefs())
        }
    }
}
