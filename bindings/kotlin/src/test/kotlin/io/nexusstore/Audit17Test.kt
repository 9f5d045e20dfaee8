package io.nexusstore

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.runInterruptible
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import java.lang.ref.WeakReference
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger

/**
 * Audit 17K: the Kotlin wrapper as a careless or hostile JVM user would use it. The first two
 * tests are findings (they failed before their fix); the others pin down what the audit checked
 * and found as documented.
 */
@Timeout(60)
class Audit17Test {
    /**
     * Finding 1: two threads setting the listener at once. The field is written before the
     * native registration; a thread that wrote null first but registered last left the listener
     * set last (the field's) unregistered: never called again.
     */
    @Test
    fun `the listener set last is the one called, however two setEvictionListener calls interleave`() {
        NexusStore().use { store ->
            val heard = AtomicInteger()
            val paused = CountDownLatch(1)
            val resume = CountDownLatch(1)
            val first = AtomicBoolean(true)
            store.beforeListenerRegistration = {
                // Only the clearing thread's first registration waits, after its write.
                if (Thread.currentThread().name == "clearer" && first.getAndSet(false)) {
                    paused.countDown()
                    resume.await()
                }
            }
            val clearer = Thread({ store.setEvictionListener(null) }, "clearer")
            clearer.start()
            paused.await()
            store.setEvictionListener { _, _, _ -> heard.incrementAndGet() } // set last
            resume.countDown()
            clearer.join()
            store.beforeListenerRegistration = null
            store.put("a", ByteArray(1))
            store.remove("a")
            assertEquals(1, heard.get(), "the listener set last hears the removal")
        }
    }

    /** Finding 2: a closed store's StateFlow answered replayCache with an empty list. */
    @Test
    fun `pressureLevels replayCache is the value, and after close IllegalStateException as the value`() {
        val store = NexusStore()
        val levels = store.pressureLevels
        assertEquals(listOf(MemoryPressureLevel.NONE), levels.replayCache)
        store.close()
        assertThrows<IllegalStateException> { levels.value }
        val e = assertThrows<IllegalStateException> { levels.replayCache }
        assertEquals(STORE_CLOSED, e.message)
    }

    @Test
    fun `nonsense numbers are NexusException naming the rule, or accepted and harmless`() {
        fun refused(block: () -> Unit): String {
            val e = assertThrows<NexusException>(block)
            assertEquals(NexusStatus.INVALID_ARGUMENT, e.status)
            return e.message!!
        }
        assertTrue(refused { MemoryConfig(moderateThreshold = Double.NaN).validate() }.contains("finite"))
        assertTrue(refused { MemoryConfig(signalModerateKeep = Double.POSITIVE_INFINITY).validate() }.contains("keep"))
        assertTrue(refused { MemoryConfig(shards = Int.MAX_VALUE).validate() }.contains("shards"))
        assertTrue(refused { Governor(GovernorConfig(budgetBytes = 10, signalModerateKeep = Double.NaN)) }.contains("keep"))
        Governor(GovernorConfig(budgetBytes = 10)).use { g ->
            NexusStore().use { s -> assertTrue(refused { g.join(s, priority = Int.MIN_VALUE) }.contains("priority")) }
        }
        // The largest times and capacities: accepted, and nothing overflows.
        NexusStore(MemoryConfig(ttlMs = Long.MAX_VALUE, ttiMs = Long.MAX_VALUE, signalDecayMs = Long.MAX_VALUE,
            eventQueueCapacity = Long.MAX_VALUE, maxEntries = Long.MAX_VALUE, evictionBatchSize = Long.MAX_VALUE)).use { s ->
            s.put("a", ByteArray(1))
            s.put("b", ByteArray(2), Long.MAX_VALUE)
            s.signalPressure(MemoryPressureLevel.MODERATE)
            assertEquals(MemoryPressureLevel.MODERATE, s.signalledLevel)
            s.signalPressure(MemoryPressureLevel.NONE)
            assertEquals(0L, s.sweepExpired())
            assertEquals(2, s["b"]?.size)
        }
    }

    @Test
    fun `keys of every shape, and a usage that would overflow, are refused with nothing lost`() {
        val base = NativeBridge.liveObjectRefs()
        NexusStore().use { s ->
            s.put(ByteArray(0), byteArrayOf(1))
            s.put("a\u0000b", ByteArray(2))
            assertArrayEquals(byteArrayOf(1), s[ByteArray(0)])
            assertEquals(2, s["a\u0000b"]?.size)
            assertNull(s["a"])
        }
        NexusStore().use { s ->
            s.putObject("x1", Any(), Long.MAX_VALUE)
            s.putObject("x2", Any(), Long.MAX_VALUE) // 2^64 - 2 charged
            val e = assertThrows<NexusException> { s.putObject("x3", Any(), Long.MAX_VALUE) }
            assertTrue(e.message!!.contains("overflows"), e.message)
            assertThrows<NexusException> { s.put("b", ByteArray(1)) } // any put would overflow it
            assertEquals(2, s.memoryMetrics.entryCount)
            assertEquals(Long.MAX_VALUE, s.memoryMetrics.currentUsage) // past 2^63 - 1: reads as the largest Long
            assertEquals(base + 2, NativeBridge.liveObjectRefs())
            assertTrue(s.remove("x1"))
            s.put("b", ByteArray(1))
            assertTrue(s.remove("x2"))
            assertEquals(1, s.memoryMetrics.entryCount)
            assertEquals(1, s["b"]?.size)
        }
        assertEquals(base, NativeBridge.liveObjectRefs())
    }

    @Test
    fun `a loader that closes its store returns its value and lets everything go`() {
        val base = NativeBridge.liveObjectRefs()
        val s = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        assertArrayEquals(byteArrayOf(1, 2), s.getOrLoad("k") { s.close(); byteArrayOf(1, 2) })
        assertThrows<IllegalStateException> { s["k"] }
        val o = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        val value = Any()
        assertTrue(o.getOrLoadObject("k") { o.close(); CostedObject(value, 10) } === value)
        assertTrue(gcUntil { NativeBridge.liveObjectRefs() == base })
        // A loader that uses its store after closing it fails the load (CALLBACK), the
        // IllegalStateException as the cause.
        val c = NexusStore()
        val e = assertThrows<NexusException> { c.getOrLoad("k") { c.close(); c["x"] } }
        assertEquals(NexusStatus.CALLBACK, e.status)
        assertTrue(e.cause is IllegalStateException)
    }

    @Test
    fun `a store closed while a loader runs and another thread waits gives both the value`() {
        val s = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        val inLoader = CountDownLatch(1)
        val release = CountDownLatch(1)
        val pool = Executors.newFixedThreadPool(2)
        try {
            val a = pool.submit<ByteArray?> { s.getOrLoad("k") { inLoader.countDown(); release.await(); byteArrayOf(7) } }
            inLoader.await()
            val b = pool.submit<ByteArray?> { s.getOrLoad("k") { byteArrayOf(9) } }
            Thread.sleep(100) // b waits in the single flight
            s.close()
            release.countDown()
            assertArrayEquals(byteArrayOf(7), a.get(10, TimeUnit.SECONDS))
            assertArrayEquals(byteArrayOf(7), b.get(10, TimeUnit.SECONDS))
        } finally {
            pool.shutdown()
        }
    }

    @Test
    fun `a closed store's callbacks object is let go (its JNI global references deleted)`() {
        fun closedStoresCallbacks(): WeakReference<Any> {
            val s = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
            s.setEvictionListener { _, _, _ -> }
            s.put("a", ByteArray(1))
            val field = NexusStore::class.java.getDeclaredField("callbacks").apply { isAccessible = true }
            val ref = WeakReference(field.get(s))
            s.close()
            return ref
        }
        val ref = closedStoresCallbacks()
        assertTrue(gcUntil { ref.get() == null })
    }

    @Test
    fun `64 coroutines missing one key share one load`() {
        NexusStore().use { s ->
            val calls = AtomicInteger()
            val sizes = runBlocking {
                (0 until 64).map {
                    async(Dispatchers.IO) { s.getOrLoad("k") { calls.incrementAndGet(); Thread.sleep(200); ByteArray(3) }?.size }
                }.map { it.await() }
            }
            assertEquals(1, calls.get())
            assertEquals(setOf(3), sizes.toSet())
        }
    }

    /**
     * Finding 3 (documented now): a getOrLoad waiting for another thread's load cannot be
     * interrupted or cancelled; it waits for the loader, however long it takes.
     */
    @Test
    fun `a waiter cancelled in getOrLoad still waits for the loader`() {
        NexusStore().use { s ->
            val inLoader = CountDownLatch(1)
            val release = CountDownLatch(1)
            val loader = Thread { s.getOrLoad("k") { inLoader.countDown(); release.await(); ByteArray(1) } }
            loader.start()
            inLoader.await()
            Thread { Thread.sleep(1000); release.countDown() }.start()
            val start = System.nanoTime()
            val result = runBlocking {
                withTimeoutOrNull(100) { runInterruptible(Dispatchers.IO) { s.getOrLoad("k") { ByteArray(2) } } }
            }
            val waitedMs = (System.nanoTime() - start) / 1_000_000
            loader.join()
            assertNull(result) // the timeout won
            assertTrue(waitedMs >= 900, "cancelled at 100 ms, yet waited $waitedMs ms: until the loader returned")
        }
    }

    /**
     * A loader whose caller was cancelled (kotlinx's CancellationException, as `ensureActive()`
     * throws it, or an InterruptedException) abandons its load: its caller gets that exception
     * as is, and the callers that joined the load look the key up again (one loads) instead of
     * failing with it.
     */
    @Test
    fun `a cancelled loader fails only its own caller and the waiters load again`() {
        for (cancel in listOf<() -> Throwable>(
            { kotlinx.coroutines.CancellationException("my coroutine was cancelled") },
            { InterruptedException("my thread was interrupted") },
        )) {
            NexusStore().use { s ->
                val inLoader = CountDownLatch(1)
                val calls = AtomicInteger()
                val thrown = cancel()
                var first: Throwable? = null
                val loader = Thread {
                    first = runCatching {
                        s.getOrLoad("k") {
                            calls.incrementAndGet()
                            inLoader.countDown()
                            val deadline = System.nanoTime() + 10_000_000_000
                            while (s.memoryMetrics.missCount < 4 && System.nanoTime() < deadline) Thread.sleep(1)
                            Thread.sleep(50) // the three others wait for this load
                            throw thrown
                        }
                    }.exceptionOrNull()
                }
                loader.start()
                inLoader.await()
                val results = Collections.synchronizedList(mutableListOf<Result<ByteArray?>>())
                val waiters = List(3) {
                    Thread { results.add(runCatching { s.getOrLoad("k") { calls.incrementAndGet(); byteArrayOf(7) } }) }
                }
                waiters.forEach { it.start() }
                waiters.forEach { it.join() }
                loader.join()
                assertTrue(first === thrown, "the cancelled caller gets its own exception as is, got $first")
                assertEquals(3, results.size)
                for (r in results) assertArrayEquals(byteArrayOf(7), r.getOrThrow())
                assertEquals(2, calls.get(), "one waiter ran its own loader")
                val m = s.memoryMetrics
                assertEquals(2, m.loadCount)
                assertEquals(1, m.loadFailureCount)
                assertArrayEquals(byteArrayOf(7), s["k"])
            }
        }
    }

    @Test
    fun `a loader recursing without end fails with CALLBACK and the store goes on`() {
        NexusStore().use { s ->
            fun load(i: Int): ByteArray? = s.getOrLoad("e$i") { load(i + 1) }
            val e = assertThrows<NexusException> { load(0) }
            assertEquals(NexusStatus.CALLBACK, e.status)
            s.put("z", ByteArray(1))
            assertEquals(1, s["z"]?.size)
            assertEquals(1, s.memoryMetrics.entryCount)
        }
    }

    @Test
    fun `an Unconfined events collector and a listener may call into the store, 100 deep, then close it`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1000)).use { s ->
            val seen = AtomicInteger()
            val job = CoroutineScope(Dispatchers.Unconfined).launch {
                s.events.collect { if (seen.incrementAndGet() < 20) s.put("r${seen.get()}", ByteArray(100)) }
            }
            repeat(20) { s.put("k$it", ByteArray(100)) }
            job.cancel()
            assertTrue(seen.get() >= 20)
        }
        val s = NexusStore()
        val depth = AtomicInteger()
        val heard = Collections.synchronizedList(mutableListOf<Int>())
        s.setEvictionListener { _, _, _ ->
            val d = depth.incrementAndGet()
            heard += d
            if (d < 100) { s.put("n$d", ByteArray(1)); s.remove("n$d") } else s.close()
        }
        s.put("a", ByteArray(1))
        s.remove("a")
        assertEquals(100, depth.get())
        assertTrue(s.isClosed)
    }

    private fun reclaimedWithin(ms: Long, handle: Long, alive: WeakReference<NexusStore>): Boolean {
        val end = System.nanoTime() + ms * 1_000_000
        while (System.nanoTime() < end) {
            System.gc()
            val freed = try { NativeBridge.pressureLevel(handle); false } catch (e: NexusException) { e.status == NexusStatus.INVALID_HANDLE }
            if (freed && alive.get() == null) return true
            Thread.sleep(10)
        }
        return false
    }

    /**
     * Finding 5 (documented now): a coroutine collecting a store's flows that captures the store
     * keeps it reachable (the native store holds its callbacks, and so the flows and their
     * collectors, through JNI global references): never reclaimed. A loader that captures its
     * store does not (it is held only during its call), which the README said it did.
     */
    @Test
    fun `a flow collector capturing its store keeps it unreclaimed, a loader does not`() {
        fun withLoader(): Pair<Long, WeakReference<NexusStore>> {
            val s = NexusStore()
            s.getOrLoad("k") { s.memoryMetrics; ByteArray(1) }
            return s.handleForTesting() to WeakReference(s)
        }
        val (h1, w1) = withLoader()
        assertTrue(reclaimedWithin(5000, h1, w1), "a loader that captured its store is not kept")
        val scope = CoroutineScope(Dispatchers.Default)
        try {
            for (levels in listOf(false, true)) {
                val ended = CountDownLatch(1)
                val seen = AtomicInteger()
                fun withCollector(): Pair<Long, WeakReference<NexusStore>> {
                    val s = NexusStore()
                    scope.launch {
                        try {
                            if (levels) s.pressureLevels.collect { seen.incrementAndGet(); s.memoryMetrics }
                            else s.events.collect { seen.incrementAndGet(); s.memoryMetrics }
                        } finally {
                            ended.countDown()
                        }
                    }
                    return s.handleForTesting() to WeakReference(s)
                }
                val (h, w) = withCollector()
                assertTrue(!reclaimedWithin(1500, h, w), "a collector that captures its store keeps it")
                assertTrue(ended.count == 1L)
                w.get()!!.close() // what the README asks for
                assertTrue(ended.await(5, TimeUnit.SECONDS), "close ends the collector")
            }
        } finally {
            scope.coroutineContext[kotlinx.coroutines.Job]?.cancel()
        }
    }

    /**
     * Finding 6: the phantom-reference fallback (Android below API 33) drained its queue on one
     * thread that caught only InterruptedException: one reclaim that threw (an OutOfMemoryError
     * while memory is short, when stores get reclaimed) ended the thread, and no unclosed store
     * was freed again. java.lang.ref.Cleaner's own thread ignores what an action throws.
     */
    @Test
    fun `the phantom fallback goes on reclaiming after an action throws`() {
        fun freed(handle: Long) = try {
            NativeBridge.pressureLevel(handle); false
        } catch (e: NexusException) {
            e.status == NexusStatus.INVALID_HANDLE
        }
        val reclaimer = PhantomReclaimer()
        val first = MemoryConfig().createStore()
        reclaimer.register(Any(), first, then = Runnable { throw OutOfMemoryError("simulated, in a reclaim") })
        assertTrue(gcUntil { freed(first) })
        val second = MemoryConfig().createStore()
        reclaimer.register(Any(), second)
        assertTrue(gcUntil { freed(second) }, "the store abandoned after the throw is freed too")
    }

    @Test
    fun `pinned objects survive every way of shedding, and an object read stays valid after close`() {
        val base = NativeBridge.liveObjectRefs()
        val pinned = StringBuilder("pinned")
        val s = NexusStore(MemoryConfig(maxCacheBytes = 10_000, maxEntries = 4))
        s.pin("p")
        s.putObject("p", pinned, cost = 3000)
        for (i in 0 until 10) s.putObject("o$i", Any(), cost = 500)
        s.signalPressure(MemoryPressureLevel.EMERGENCY)
        s.evict(Long.MAX_VALUE)
        s.evictLeastRecentlyUsed(Long.MAX_VALUE)
        s.clearUnpinnedCache()
        assertThrows<NexusException> { s.maxCacheBytes = 100 } // the pin alone is over it: OVER_BUDGET
        s.maxCacheBytes = 3100
        Governor(GovernorConfig(budgetBytes = 1)).use { g ->
            g.join(s)
            g.signalPressure(MemoryPressureLevel.EMERGENCY)
            g.enforce()
        }
        assertTrue(s.getObject("p") === pinned)
        assertEquals(1, s.memoryMetrics.entryCount)
        assertEquals(base + 1, NativeBridge.liveObjectRefs())
        val read = s.getObject("p")
        s.close()
        assertEquals("pinned", read.toString()) // a JVM reference of its own: valid after close
        assertEquals(base, NativeBridge.liveObjectRefs())
        assertThrows<IllegalStateException> { s.getObject("p") }
    }
}
