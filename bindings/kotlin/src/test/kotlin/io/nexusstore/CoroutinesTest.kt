package io.nexusstore

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.concurrent.atomic.AtomicLong

class CoroutinesTest {
    @Test
    fun `8 coroutines on one store keep pins and accounting exact`() {
        val store = NexusStore(MemoryConfig(maxCacheBytes = 64 * 1024))
        store.use {
            for (c in 0 until 8) store.pin("pinned-$c")
            val loads = AtomicLong()
            runBlocking(Dispatchers.Default) {
                for (c in 0 until 8) launch {
                    store.put("pinned-$c", ByteArray(64) { c.toByte() })
                    for (i in 0 until 3000) {
                        val key = "k${(i * 7 + c) % 500}"
                        when (i % 6) {
                            0, 1 -> store.put(key, ByteArray(i % 200))
                            2 -> store[key]
                            3 -> store.getOrLoad(key) { loads.incrementAndGet(); ByteArray(32) }
                            4 -> if (i % 60 == 4) store.evictLeastRecentlyUsed(5) else store.remove(key)
                            else -> if (i % 300 == 5) store.signalPressure(MemoryPressureLevel.MODERATE) else store.contains(key)
                        }
                    }
                }
            }
            store.signalPressure(MemoryPressureLevel.NONE)
            for (c in 0 until 8) assertArrayEquals(ByteArray(64) { c.toByte() }, store["pinned-$c"])
            // Usage is exactly the sum of the present entries' charges.
            var sum = 0L
            var present = 0L
            for (k in (0 until 500).map { "k$it" } + (0 until 8).map { "pinned-$it" }) {
                val v = store[k] ?: continue
                sum += charge(k, v.size)
                present++
            }
            val m = store.memoryMetrics
            assertEquals(present, m.entryCount)
            assertEquals(sum, m.currentUsage)
            assertTrue(m.currentUsage <= 64 * 1024)
            assertEquals(8L, m.pinnedCount)
            assertTrue(loads.get() > 0)
        }
    }
}
