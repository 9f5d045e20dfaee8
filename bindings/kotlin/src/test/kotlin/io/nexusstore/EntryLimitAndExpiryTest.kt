package io.nexusstore

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.Collections

private data class Heard(val key: String, val reason: EvictionReason)

/** Registers a listener that records every key that leaves [store] and why. */
private fun listen(store: NexusStore): MutableList<Heard> {
    val heard = Collections.synchronizedList(mutableListOf<Heard>())
    store.setEvictionListener { key, reason, _ -> heard += Heard(key.decodeToString(), reason) }
    return heard
}

private fun v(s: String) = s.encodeToByteArray()

class EntryLimitTest {
    @Test
    fun `defaults have no limit and no expiry`() {
        val config = MemoryConfig()
        assertEquals(0L, config.maxEntries)
        assertEquals(0L, config.ttlMs)
        assertEquals(0L, config.ttiMs)
    }

    @Test
    fun `the limit evicts by count in strategy order`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20, maxEntries = 3)).use { store ->
            val heard = listen(store)
            for (key in listOf("a", "b", "c")) store.put(key, v("v"))
            assertArrayEquals(v("v"), store["a"]) // "b" is now the least recently used
            store.put("d", v("v"))
            store.put("e", v("v"))
            assertEquals(listOf(Heard("b", EvictionReason.CAPACITY), Heard("c", EvictionReason.CAPACITY)), heard.toList())
            assertEquals(3L, store.memoryMetrics.entryCount)
            assertEquals(2L, store.memoryMetrics.evictionCount)
            // Replacing a key's value never changes the count: nothing evicted.
            store.put("a", v("vv"))
            assertEquals(Heard("a", EvictionReason.REPLACED), heard.last())
            assertEquals(3, heard.size)
            assertEquals(3L, store.memoryMetrics.entryCount)
        }
    }

    @Test
    fun `pinned entries are never evicted for the limit`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20, maxEntries = 2)).use { store ->
            val heard = listen(store)
            store.pin("pinned")
            store.put("pinned", v("p")) // the oldest entry, and pinned
            store.put("x", v("v"))
            for (i in 0 until 4) store.put("n$i", v("v"))
            assertEquals(listOf("x", "n0", "n1", "n2"), heard.map { it.key })
            assertTrue(heard.all { it.reason == EvictionReason.CAPACITY })
            assertArrayEquals(v("p"), store["pinned"])
            assertEquals(2L, store.memoryMetrics.entryCount)

            // Pinned entries alone fill it: a new key is OVER_BUDGET and nothing changes.
            store.pin("n3")
            val e = assertThrows<NexusException> { store.put("y", v("v")) }
            assertEquals(NexusStatus.OVER_BUDGET, e.status)
            assertFalse("y" in store)
            assertTrue("pinned" in store && "n3" in store)
            assertEquals(4, heard.size)
            store.put("pinned", v("q")) // a replace needs no room
            assertArrayEquals(v("q"), store["pinned"])
        }
    }

    @Test
    fun `a negative limit or one below the shards is INVALID_ARGUMENT`() {
        val negative = assertThrows<NexusException> { MemoryConfig(maxEntries = -1).validate() }
        assertEquals(NexusStatus.INVALID_ARGUMENT, negative.status)
        assertTrue(negative.message!!.contains("maxEntries"), negative.message)
        assertEquals(NexusStatus.INVALID_ARGUMENT, assertThrows<NexusException> { NexusStore(MemoryConfig(maxEntries = -1)) }.status)
        val shards = MemoryConfig(maxCacheBytes = 1 shl 20, shards = 4, maxEntries = 3)
        assertEquals(NexusStatus.INVALID_ARGUMENT, assertThrows<NexusException> { shards.validate() }.status)
        assertEquals(NexusStatus.INVALID_ARGUMENT, assertThrows<NexusException> { NexusStore(shards) }.status)
        shards.copy(maxEntries = 4).validate()
    }
}

/**
 * The C API runs expiry on the monotonic clock (no virtual clock reaches it): entries meant to
 * expire get [BRIEF] ms and the test waits four times that before looking; entries meant to live
 * get an hour. Nothing here asserts how fast anything ran.
 */
class ExpiryTest {
    private companion object {
        const val BRIEF = 50L
        const val HOUR = 3_600_000L
        fun waitPastBrief() = Thread.sleep(4 * BRIEF)
    }

    @Test
    fun `an entry put with a TTL is gone after it`() {
        // No expiry configured: the first put with a TTL turns it on.
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            store.put("plain", v("1"))
            store.put("long", v("2"), ttlMs = HOUR)
            store.put("brief", v("3"), ttlMs = BRIEF)
            store.put("renewed", v("4"), ttlMs = BRIEF)
            store.put("renewed", v("5")) // without a TTL: the store's own (none)
            store.put(v("bytes key"), v("6"), ttlMs = BRIEF)
            waitPastBrief()
            assertNull(store["brief"])
            assertFalse("brief" in store)
            assertNull(store[v("bytes key")])
            assertArrayEquals(v("1"), store["plain"])
            assertArrayEquals(v("2"), store["long"])
            assertArrayEquals(v("5"), store["renewed"])
        }
    }

    @Test
    fun `the sweep counts, and the listener and events say EXPIRED`() = runBlocking {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val heard = listen(store)
            val event = async(start = CoroutineStart.UNDISPATCHED) {
                store.events.filterIsInstance<NexusEvent.Eviction>().first()
            }
            for (i in 0 until 3) store.put("e$i", v("v"), ttlMs = BRIEF)
            store.put("kept", v("v"), ttlMs = HOUR)
            waitPastBrief()
            // Nothing read them: the sweep removes all three itself.
            assertEquals(3L, store.sweepExpired())
            assertEquals(listOf("e0", "e1", "e2"), heard.map { it.key }.sorted())
            assertTrue(heard.all { it.reason == EvictionReason.EXPIRED }, heard.toString())
            assertEquals(0L, store.sweepExpired())
            assertEquals(1L, store.memoryMetrics.entryCount)
            assertEquals(charge("kept", 1), store.memoryMetrics.currentUsage)
            val eviction = withTimeout(10_000) { event.await() }
            assertEquals(EvictionReason.EXPIRED, eviction.reason)
            assertEquals(3L, eviction.count)
            assertEquals(3 * charge("e0", 1), eviction.bytes)
        }
    }

    @Test
    fun `a read of an expired entry is a miss and the next call removes it`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20, ttlMs = BRIEF)).use { store ->
            val heard = listen(store)
            store.put("a", v("a")) // the store's TTL
            store.put("b", v("b"), ttlMs = HOUR) // its own
            waitPastBrief()
            assertNull(store["a"])
            assertArrayEquals(v("b"), store["b"])
            store.put("c", v("c"), ttlMs = HOUR) // the next call removes what the read saw
            assertEquals(listOf(Heard("a", EvictionReason.EXPIRED)), heard.toList())
            assertEquals(0L, store.sweepExpired())
            assertEquals(2L, store.memoryMetrics.entryCount)
        }
    }

    @Test
    fun `time to idle`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20, ttiMs = BRIEF)).use { store ->
            store.put("idle", v("v"))
            store.put("long", v("v"), ttlMs = HOUR) // a TTL caps the TTI, never extends it
            waitPastBrief()
            assertNull(store["idle"])
            assertNull(store["long"])
        }
    }

    @Test
    fun `a pinned entry expires only once unpinned`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20, ttlMs = BRIEF)).use { store ->
            val heard = listen(store)
            store.put("p", v("p"))
            store.pin("p")
            waitPastBrief()
            assertArrayEquals(v("p"), store["p"])
            assertEquals(0L, store.sweepExpired())
            store.unpin("p")
            assertEquals(1L, store.sweepExpired())
            assertNull(store["p"])
            assertEquals(listOf(Heard("p", EvictionReason.EXPIRED)), heard.toList())
        }
    }

    @Test
    fun `an expired object is released once`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20, ttlMs = BRIEF)).use { store ->
            val before = NativeBridge.liveObjectRefs()
            store.putObject("o", Any(), cost = 100)
            assertEquals(before + 1, NativeBridge.liveObjectRefs())
            waitPastBrief()
            assertEquals(1L, store.sweepExpired()) // nothing read it: the sweep removes it
            assertEquals(before, NativeBridge.liveObjectRefs())
            assertNull(store.getObject("o"))
            assertEquals(0L, store.sweepExpired())
            assertEquals(before, NativeBridge.liveObjectRefs())
        }
    }

    @Test
    fun `bad TTLs are INVALID_ARGUMENT and change nothing`() {
        for ((ttl, tti) in listOf(-1L to 0L, 0L to -1L, Long.MIN_VALUE to 0L)) {
            val config = MemoryConfig(ttlMs = ttl, ttiMs = tti)
            val e = assertThrows<NexusException> { config.validate() }
            assertEquals(NexusStatus.INVALID_ARGUMENT, e.status)
            assertTrue(e.message!!.contains(if (ttl < 0) "ttlMs" else "ttiMs"), e.message)
            assertEquals(NexusStatus.INVALID_ARGUMENT, assertThrows<NexusException> { NexusStore(config) }.status)
        }
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            for (ttl in listOf(0L, -1L, Long.MIN_VALUE)) {
                val e = assertThrows<NexusException> { store.put("k", v("v"), ttlMs = ttl) }
                assertEquals(NexusStatus.INVALID_ARGUMENT, e.status)
                assertTrue(e.message!!.isNotEmpty())
            }
            assertFalse("k" in store)
            assertEquals(0L, store.memoryMetrics.entryCount)
            // The largest: far beyond any clock, still a TTL (no overflow).
            store.put("forever", v("v"), ttlMs = Long.MAX_VALUE)
            assertArrayEquals(v("v"), store["forever"])
        }
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20, ttlMs = Long.MAX_VALUE, ttiMs = Long.MAX_VALUE)).use { store ->
            store.put("k", v("v"))
            assertArrayEquals(v("v"), store["k"])
        }
    }

    @Test
    fun `calls after close are IllegalStateException`() {
        val store = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        store.close()
        assertThrows<IllegalStateException> { store.put("k", v("v"), ttlMs = BRIEF) }
        assertThrows<IllegalStateException> { store.sweepExpired() }
    }
}
