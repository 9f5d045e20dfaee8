package io.nexusstore

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class BytesApiTest {
    @Test
    fun `put get contains remove and clear`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            store.put("greeting", "hello".encodeToByteArray())
            store.put(byteArrayOf(0, 1, 2), ByteArray(0))
            assertArrayEquals("hello".encodeToByteArray(), store["greeting"])
            assertArrayEquals(ByteArray(0), store[byteArrayOf(0, 1, 2)])
            assertNull(store["absent"])
            assertTrue("greeting" in store)
            assertFalse("absent" in store)
            store.put("greeting", "hi".encodeToByteArray())
            assertArrayEquals("hi".encodeToByteArray(), store["greeting"])
            assertTrue(store.remove("greeting"))
            assertFalse(store.remove("greeting"))
            assertEquals(1L, store.clear())
            assertEquals(0L, store.memoryMetrics.entryCount)
        }
    }

    @Test
    fun `long keys and values cross whole (past the shim's stack buffers)`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 22)).use { store ->
            val key = ByteArray(1000) { (it * 7).toByte() }
            val value = ByteArray(100_000) { (it * 31).toByte() }
            store.put(key, value)
            assertArrayEquals(value, store[key])
            assertArrayEquals(value, store.getOrLoad(key) { error("cached: no load") })
            assertEquals(key.size + value.size + OVERHEAD, store.memoryMetrics.currentUsage)
        }
    }

    @Test
    fun `a value bigger than the budget is TOO_LARGE with the library's message`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1000)).use { store ->
            val e = assertThrows<NexusException> { store.put("big", ByteArray(5000)) }
            assertEquals(NexusStatus.TOO_LARGE, e.status)
            assertTrue(e.message!!.isNotEmpty())
            assertEquals(0L, store.memoryMetrics.entryCount)
        }
    }

    @Test
    fun `metrics count hits misses inserts and usage, and reset`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            store.put("a", ByteArray(10))
            store.put("bb", ByteArray(20))
            store["a"]
            store["zz"]
            val m = store.memoryMetrics
            assertEquals(2L, m.entryCount)
            assertEquals(charge("a", 10) + charge("bb", 20), m.currentUsage)
            assertEquals(1L, m.hitCount)
            assertEquals(1L, m.missCount)
            assertEquals(2L, m.insertCount)
            assertEquals(1L shl 20, m.maxCacheBytes)
            assertEquals(MemoryPressureLevel.NONE, m.pressureLevel)
            assertTrue(store.metricsJson.contains("\"entry_count\":2"), store.metricsJson)
            store.resetMetrics()
            assertEquals(0L, store.memoryMetrics.hitCount)
        }
    }

    @Test
    fun `the config is validated with the broken rule named`() {
        MemoryConfig().validate()
        val e = assertThrows<NexusException> { MemoryConfig(moderateThreshold = 0.95, criticalThreshold = 0.9).validate() }
        assertEquals(NexusStatus.INVALID_ARGUMENT, e.status)
        assertTrue(e.message!!.contains("moderate"), e.message)
        val created = assertThrows<NexusException> { NexusStore(MemoryConfig(evictionBatchSize = 0)) }
        assertEquals(NexusStatus.INVALID_ARGUMENT, created.status)
        val negative = assertThrows<NexusException> { NexusStore(MemoryConfig(maxCacheBytes = -1)) }
        assertEquals(NexusStatus.INVALID_ARGUMENT, negative.status)
        assertTrue(negative.message!!.contains("maxCacheBytes"))
    }

    /** Every bad value of a field gets the same words with the Kotlin name (0 used to come back in
     *  the C library's words, with the C field's name). */
    @Test
    fun `a bad count field is named the same way whatever the bad value`() {
        for (bad in listOf(0L, -1L)) {
            val batch = assertThrows<NexusException> { NexusStore(MemoryConfig(evictionBatchSize = bad)) }
            assertEquals("evictionBatchSize must be >= 1 (got $bad)", batch.message)
            val queue = assertThrows<NexusException> { NexusStore(MemoryConfig(eventQueueCapacity = bad)) }
            assertEquals("eventQueueCapacity must be >= 1 (got $bad)", queue.message)
            NexusStore().use { store ->
                val ttl = assertThrows<NexusException> { store.put("k", ByteArray(1), ttlMs = bad) }
                assertEquals(NexusStatus.INVALID_ARGUMENT, ttl.status)
                assertEquals("ttlMs must be >= 1 (got $bad)", ttl.message)
                assertFalse(store.contains("k"))
            }
        }
    }

    @Test
    fun `use after close is IllegalStateException and close twice is fine`() {
        val store = NexusStore()
        store.put("k", ByteArray(1))
        store.close()
        store.close()
        assertTrue(store.isClosed)
        assertThrows<IllegalStateException> { store["k"] }
        assertThrows<IllegalStateException> { store.put("k", ByteArray(1)) }
        assertThrows<IllegalStateException> { store.memoryMetrics }
        assertThrows<IllegalStateException> { store.setEvictionListener(null) }
    }

    @Test
    fun `a panic inside the library is PANIC and the store stays usable`() {
        NexusStore().use { store ->
            store.put("k", ByteArray(3))
            val e = assertThrows<NexusException> { NativeBridge.debugPanic(store.handleForTesting()) }
            assertEquals(NexusStatus.PANIC, e.status)
            assertArrayEquals(ByteArray(3), store["k"])
        }
    }

    @Test
    fun `the version is the library's`() {
        assertTrue(Regex("""\d+\.\d+\.\d+""").matches(NexusStore.version))
    }
}
