package io.nexusstore

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class FlowTest {
    @Test
    fun `pressureLevels starts at the current level and follows signals`() = runBlocking {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            assertEquals(MemoryPressureLevel.NONE, store.pressureLevels.value)
            val critical = async(start = CoroutineStart.UNDISPATCHED) {
                store.pressureLevels.first { it == MemoryPressureLevel.CRITICAL }
            }
            store.signalPressure(MemoryPressureLevel.CRITICAL)
            assertEquals(MemoryPressureLevel.CRITICAL, withTimeout(10_000) { critical.await() })
            store.signalPressure(MemoryPressureLevel.NONE)
            assertEquals(MemoryPressureLevel.NONE, store.pressureLevels.value)
        }
    }

    @Test
    fun `usage crossing a threshold shows in pressureLevels`() {
        NexusStore(MemoryConfig(maxCacheBytes = 10_000)).use { store ->
            store.put("big", ByteArray(8000)) // above 0.7 of the budget: MODERATE
            assertEquals(MemoryPressureLevel.MODERATE, store.pressureLevels.value)
        }
    }

    @Test
    fun `events deliver pressure changes and eviction runs in sequence`() = runBlocking {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            for (i in 0 until 10) store.put("k$i", ByteArray(100))
            val collected = async(start = CoroutineStart.UNDISPATCHED) { store.events.take(3).toList() }
            store.signalPressure(MemoryPressureLevel.EMERGENCY)
            store.clearUnpinnedCache() // nothing left: no event
            store.signalPressure(MemoryPressureLevel.NONE)
            val events = withTimeout(10_000) { collected.await() }
            val changed = events.filterIsInstance<NexusEvent.PressureChanged>()
            val evicted = events.filterIsInstance<NexusEvent.Eviction>().single()
            assertEquals(listOf(MemoryPressureLevel.EMERGENCY, MemoryPressureLevel.NONE), changed.map { it.level })
            assertEquals(MemoryPressureLevel.EMERGENCY, changed[1].previous)
            assertEquals(EvictionReason.PRESSURE, evicted.reason)
            assertEquals(10L, evicted.count)
            assertEquals(10 * charge("k0", 100), evicted.bytes)
            assertEquals(0L, evicted.usageBytes)
            assertEquals(events.map { it.sequence }.sorted(), events.map { it.sequence })
        }
    }

    @Test
    fun `events from a native thread reach a collector`() = runBlocking {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            store.put("k", ByteArray(1))
            val first = async(start = CoroutineStart.UNDISPATCHED) {
                store.events.filterIsInstance<NexusEvent.Eviction>().first()
            }
            NativeBridge.signalPressureFromNativeThread(store.handleForTesting(), MemoryPressureLevel.CRITICAL.ordinal)
            val e = withTimeout(10_000) { first.await() }
            assertTrue(e.count >= 1)
            assertEquals(MemoryPressureLevel.CRITICAL, store.pressureLevels.value)
        }
    }

    @Test
    fun `SIGNAL_CHANGED is opt-in and the signalled level is apart from the usage level`() = runBlocking {
        NexusStore(MemoryConfig(maxCacheBytes = 10_000)).use { store ->
            store.put("big", ByteArray(8000)) // usage: MODERATE
            assertEquals(MemoryPressureLevel.MODERATE, store.pressureLevel)
            assertEquals(MemoryPressureLevel.NONE, store.signalledLevel)
            store.setEventKinds(setOf(NexusEventKind.SIGNAL_CHANGED))
            val collected = async(start = CoroutineStart.UNDISPATCHED) { store.events.take(2).toList() }
            store.signalPressure(MemoryPressureLevel.CRITICAL) // sheds "big": an eviction, not delivered
            store.signalPressure(MemoryPressureLevel.NONE)
            val events = withTimeout(10_000) { collected.await() }
            assertEquals(
                listOf(MemoryPressureLevel.CRITICAL to MemoryPressureLevel.NONE, MemoryPressureLevel.NONE to MemoryPressureLevel.CRITICAL),
                events.map { (it as NexusEvent.SignalChanged).level to it.previous },
            )
            assertEquals(MemoryPressureLevel.NONE, store.pressureLevels.value, "the StateFlow still follows")
            assertEquals(MemoryPressureLevel.NONE, store.signalledLevel)
        }
    }
}
