package io.nexusstore

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class PinsAndPressureTest {
    private fun filled(n: Int): NexusStore {
        val store = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        for (i in 0 until n) store.put("k$i", ByteArray(100))
        return store
    }

    @Test
    fun `pins survive every eviction and are listed in pin order`() {
        filled(10).use { store ->
            store.pin("k7")
            store.pin("k2")
            store.pin("not-yet")
            assertEquals(listOf("k7", "k2", "not-yet"), store.pinnedKeys)
            assertTrue(store.isPinned("k2"))
            assertEquals(8L, store.clearUnpinnedCache())
            assertNotNull(store["k7"])
            assertNotNull(store["k2"])
            assertTrue(store.unpin("k2"))
            assertFalse(store.unpin("k2"))
            assertEquals(listOf("k7", "not-yet"), store.pinnedKeys)
            val m = store.memoryMetrics
            assertEquals(1L, m.pinnedCount)
            assertEquals(charge("k7", 100), m.pinnedBytes)
        }
    }

    @Test
    fun `evictLeastRecentlyUsed takes the least recently used first`() {
        filled(5).use { store ->
            store["k0"] // k0 becomes the most recent
            assertEquals(2L, store.evictLeastRecentlyUsed(2))
            assertNull(store["k1"])
            assertNull(store["k2"])
            assertNotNull(store["k0"])
            assertEquals(1L, store.evict(1))
            assertEquals(2L, store.memoryMetrics.entryCount)
            assertThrows<NexusException> { store.evict(-1) }
        }
    }

    @Test
    fun `signals shed, EMERGENCY refuses unpinned puts, NONE ends it`() {
        filled(20).use { store ->
            store.pin("k3")
            store.signalPressure(MemoryPressureLevel.EMERGENCY)
            assertEquals(MemoryPressureLevel.EMERGENCY, store.pressureLevel)
            assertEquals(1L, store.memoryMetrics.entryCount)
            val refused = assertThrows<NexusException> { store.put("new", ByteArray(1)) }
            assertEquals(NexusStatus.OVER_BUDGET, refused.status)
            store.signalPressure(MemoryPressureLevel.NONE)
            assertEquals(MemoryPressureLevel.NONE, store.pressureLevel)
            store.put("new", ByteArray(1))
        }
    }

    @Test
    fun `a CRITICAL signal sheds to half of usage and holds the budget`() {
        filled(100).use { store ->
            val before = store.memoryMetrics.currentUsage
            store.signalPressure(MemoryPressureLevel.CRITICAL)
            val m = store.memoryMetrics
            assertTrue(m.currentUsage <= before / 2, "usage ${m.currentUsage} of $before")
            assertTrue(m.effectiveBudget < m.maxCacheBytes)
            assertTrue(m.evictionCount > 0)
        }
    }

    @Test
    fun `maxCacheBytes can be lowered at run time and evicts down to it`() {
        filled(50).use { store ->
            assertEquals(1L shl 20, store.maxCacheBytes)
            store.maxCacheBytes = 2000
            assertEquals(2000L, store.maxCacheBytes)
            assertTrue(store.memoryMetrics.currentUsage <= 2000)
            assertThrows<NexusException> { store.maxCacheBytes = -5 }
        }
    }

    @Test
    fun `signalPressureAll reaches every store`() {
        val a = filled(10)
        val b = filled(10)
        try {
            NexusStore.signalPressureAll(MemoryPressureLevel.EMERGENCY)
            assertEquals(0L, a.memoryMetrics.entryCount)
            assertEquals(0L, b.memoryMetrics.entryCount)
        } finally {
            NexusStore.signalPressureAll(MemoryPressureLevel.NONE)
            a.close()
            b.close()
        }
    }
}
