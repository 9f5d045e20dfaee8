package io.nexusstore

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.Collections
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicLong

class CallbacksTest {
    private data class Evicted(val key: String, val reason: EvictionReason, val bytes: Long)

    @Test
    fun `the eviction listener hears every way out with its reason and charge`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val heard = Collections.synchronizedList(mutableListOf<Evicted>())
            store.setEvictionListener { key, reason, bytes -> heard += Evicted(key.decodeToString(), reason, bytes) }
            store.put("a", ByteArray(10))
            store.put("a", ByteArray(11))
            store.put("b", ByteArray(10))
            store.put("c", ByteArray(10))
            store.remove("b")
            store.evictLeastRecentlyUsed(1)
            store.signalPressure(MemoryPressureLevel.EMERGENCY)
            assertEquals(
                listOf(
                    Evicted("a", EvictionReason.REPLACED, charge("a", 10)),
                    Evicted("b", EvictionReason.REMOVED, charge("b", 10)),
                    Evicted("a", EvictionReason.MANUAL, charge("a", 11)),
                    Evicted("c", EvictionReason.PRESSURE, charge("c", 10)),
                ),
                heard.toList(),
            )
            store.signalPressure(MemoryPressureLevel.NONE)
            store.setEvictionListener(null)
            store.put("d", ByteArray(1))
            store.remove("d")
            assertEquals(4, heard.size)
        }
    }

    @Test
    fun `a listener that throws is caught in the shim and the store goes on`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            var calls = 0
            store.setEvictionListener { _, _, _ -> calls++; throw IllegalStateException("listener bug") }
            store.put("a", ByteArray(1))
            store.remove("a")
            store.put("b", ByteArray(1))
            store.remove("b")
            assertEquals(2, calls)
            assertFalse("a" in store)
        }
    }

    @Test
    fun `callbacks from a native thread attach it, and it is detached when it ends`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            for (i in 0 until 5) store.put("k$i", ByteArray(10))
            val threads = Collections.synchronizedList(mutableListOf<Thread>())
            store.setEvictionListener { _, reason, _ ->
                assertEquals(EvictionReason.PRESSURE, reason)
                threads += Thread.currentThread()
            }
            val status = NativeBridge.signalPressureFromNativeThread(store.handleForTesting(), MemoryPressureLevel.EMERGENCY.ordinal)
            assertEquals(0, status)
            assertEquals(5, threads.size)
            val native = threads.first()
            assertNotSame(Thread.currentThread(), native)
            assertTrue(threads.all { it === native }, "one attachment for the thread's whole life")
            assertFalse(native.isAlive, "detached when the pthread ended")
            assertEquals(MemoryPressureLevel.EMERGENCY, store.pressureLevels.value)
        }
    }

    @Test
    fun `a listener may close its own store`() {
        val store = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        store.put("a", ByteArray(1))
        store.put("b", ByteArray(1))
        store.setEvictionListener { _, _, _ -> store.close() }
        store.remove("a")
        assertTrue(store.isClosed)
        assertThrows<IllegalStateException> { store["b"] }
    }

    @Test
    fun `a listener may call into the store, and unregister itself`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val seen = mutableListOf<String>()
            store.setEvictionListener { key, _, _ ->
                val k = key.decodeToString()
                seen += "$k:${store.contains(k)}:${store.memoryMetrics.entryCount}"
                store.put("side-effect-of-$k", ByteArray(1))
                store.setEvictionListener(null)
            }
            store.put("a", ByteArray(1))
            store.remove("a")
            store.remove("side-effect-of-a") // unregistered: not heard
            assertEquals(listOf("a:false:0"), seen)
            assertFalse("side-effect-of-a" in store)
        }
    }

    @Test
    fun `listeners replaced while 4 threads evict are each let go once`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val heard = AtomicLong()
            val barrier = CyclicBarrier(5)
            val pool = Executors.newFixedThreadPool(5)
            val workers = (0 until 4).map { t ->
                pool.submit {
                    barrier.await()
                    for (i in 0 until 2000) {
                        store.put("k$t-${i % 50}", ByteArray(8))
                        store.remove("k$t-${(i + 25) % 50}")
                    }
                }
            }
            val toggler = pool.submit {
                barrier.await()
                repeat(300) { n ->
                    store.setEvictionListener(if (n % 3 == 2) null else EvictionListener { _, _, _ -> heard.incrementAndGet() })
                }
            }
            (workers + toggler).forEach { it.get(60, TimeUnit.SECONDS) }
            pool.shutdown()
            // Every replaced registration's global reference was deleted once (-Xcheck:jni would
            // report a double delete), and the last registration still hears.
            store.setEvictionListener { _, _, _ -> heard.incrementAndGet() }
            val before = heard.get()
            store.put("after", ByteArray(1))
            store.remove("after")
            assertEquals(before + 1, heard.get())
        }
    }
}
