package io.nexusstore

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

class LoaderTest {
    @Test
    fun `getOrLoad loads a miss once and caches it`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val calls = AtomicInteger()
            val loader = { key: String -> calls.incrementAndGet(); "v:$key".encodeToByteArray() }
            assertArrayEquals("v:a".encodeToByteArray(), store.getOrLoad("a", loader))
            assertArrayEquals("v:a".encodeToByteArray(), store.getOrLoad("a", loader))
            assertEquals(1, calls.get())
            assertArrayEquals("v:a".encodeToByteArray(), store["a"])
            assertNull(store.getOrLoad("none") { null })
            assertTrue("none" !in store)
            assertEquals(2L, store.memoryMetrics.loadCount)
        }
    }

    @Test
    fun `single flight - 8 threads missing one key share one load`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val calls = AtomicInteger()
            val arrived = CountDownLatch(8)
            val pool = Executors.newFixedThreadPool(8)
            val results = (0 until 8).map {
                pool.submit<ByteArray?> {
                    arrived.countDown()
                    store.getOrLoad("shared") {
                        calls.incrementAndGet()
                        arrived.await(10, TimeUnit.SECONDS) // every thread has asked before it ends
                        "loaded".encodeToByteArray()
                    }
                }
            }.map { it.get(30, TimeUnit.SECONDS) }
            pool.shutdown()
            assertEquals(1, calls.get())
            results.forEach { assertArrayEquals("loaded".encodeToByteArray(), it) }
        }
    }

    @Test
    fun `a loader's exception reaches every waiter with the loader's message`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val started = CountDownLatch(1)
            val release = CountDownLatch(1)
            val waiters = 7
            val pool = Executors.newFixedThreadPool(waiters + 1)
            val failing = { _: String ->
                started.countDown()
                release.await(10, TimeUnit.SECONDS)
                throw IllegalStateException("backend down: ünïcode ✓")
            }
            val first = pool.submit<Throwable> { assertThrows<NexusException> { store.getOrLoad("k", failing) } }
            started.await(10, TimeUnit.SECONDS)
            val others = (0 until waiters).map {
                pool.submit<Throwable> { assertThrows<NexusException> { store.getOrLoad("k", failing) } }
            }
            Thread.sleep(50) // let the waiters reach the library; they get the message either way
            release.countDown()
            val all = listOf(first.get(30, TimeUnit.SECONDS)) + others.map { it.get(30, TimeUnit.SECONDS) }
            pool.shutdown()
            for (e in all) {
                e as NexusException
                assertEquals(NexusStatus.CALLBACK, e.status)
                assertEquals("backend down: ünïcode ✓", e.message)
            }
            assertTrue(all[0].cause is IllegalStateException, "the loader's own thread keeps the cause")
            assertTrue("k" !in store)
            assertTrue(store.memoryMetrics.loadFailureCount >= 1)
        }
    }

    @Test
    fun `a loader may use the store, but not load its own key`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val value = store.getOrLoad("outer") {
                store.put("side", ByteArray(2))
                store.getOrLoad("inner") { "in".encodeToByteArray() }
                "out".encodeToByteArray()
            }
            assertArrayEquals("out".encodeToByteArray(), value)
            assertArrayEquals("in".encodeToByteArray(), store["inner"])
            var inner: NexusException? = null
            store.getOrLoad("self") {
                inner = assertThrows<NexusException> { store.getOrLoad("self") { ByteArray(0) } }
                ByteArray(1)
            }
            assertEquals(NexusStatus.BUSY, inner!!.status)
        }
    }

    @Test
    fun `a loader that throws without a message reports its type`() {
        NexusStore().use { store ->
            val e = assertThrows<NexusException> { store.getOrLoad("k") { throw UnsupportedOperationException() } }
            assertTrue(e.message!!.contains("UnsupportedOperationException"), e.message)
            assertSame(UnsupportedOperationException::class.java, e.cause!!.javaClass)
        }
    }
}
