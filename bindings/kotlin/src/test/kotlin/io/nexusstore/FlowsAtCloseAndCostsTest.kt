package io.nexusstore

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/**
 * The level flow under concurrent signals, both flows at close, and negative costs (a loader's
 * result of the wrong type: LoaderResultTypeTest).
 */
class FlowsAtCloseAndCostsTest {
    // ---- pressureLevels must end on the store's level -----------------------------

    /**
     * 4 threads released together each signal one of the 4 levels, 30,000 rounds (about 2 s).
     * Before the fix a round ended with the flow on an older level now and then (1 of 3,000
     * rounds in one run here; the audit saw 5 of 100,000): the guard read the sequence with
     * getAndAccumulate, then set the value separately, so an older event's set could land last.
     */
    @Test
    fun `pressureLevels ends on the store's level after concurrent signals`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1_000_000)).use { store ->
            val pool = Executors.newFixedThreadPool(4)
            var stale = 0
            repeat(30_000) {
                val levels = MemoryPressureLevel.entries.shuffled()
                val barrier = CyclicBarrier(4)
                levels.map { l -> pool.submit { barrier.await(); store.signalPressure(l) } }
                    .forEach { it.get(10, TimeUnit.SECONDS) }
                if (store.pressureLevels.value != store.pressureLevel) stale++
            }
            pool.shutdown()
            assertEquals(0, stale, "rounds whose pressureLevels.value was not the store's level")
        }
    }

    // ---- the flows end when the store closes --------------------------------------

    @Test
    fun `events collectors complete and pressureLevels collectors throw when the store closes`() = runBlocking {
        val store = NexusStore(MemoryConfig(maxCacheBytes = 10_000))
        val events = store.events
        val levels = store.pressureLevels
        val collectedEvents = async(Dispatchers.Default) { events.collect { }; "completed" }
        val collectedLevels = async(Dispatchers.Default) { runCatching { levels.collect { } }.exceptionOrNull() }
        val critical = async(Dispatchers.Default) {
            runCatching { levels.first { it == MemoryPressureLevel.CRITICAL } }.exceptionOrNull()
        }
        delay(200)
        store.close()
        // Before the fix: all three were still suspended (and would stay so for good).
        assertEquals("completed", withTimeout(5_000) { collectedEvents.await() })
        val thrown = withTimeout(5_000) { collectedLevels.await() }
        assertTrue(thrown is IllegalStateException, "$thrown")
        assertTrue(withTimeout(5_000) { critical.await() } is IllegalStateException)
        // The value of a closed store is no more current than any other call.
        assertThrows<IllegalStateException> { levels.value }
        assertThrows<IllegalStateException> { store.pressureLevels }
        assertThrows<IllegalStateException> { store.events }
        // A collector that starts after close ends at once, too.
        assertEquals("completed", withTimeout(5_000) { events.collect { }; "completed" })
        assertThrows<IllegalStateException> { withTimeout(5_000) { levels.collect { } } }
        Unit
    }

    @Test
    fun `a closed store's flows keep the events delivered before close`() = runBlocking {
        val store = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        val seen = mutableListOf<NexusEvent>()
        val collector = async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) { store.events.collect { seen += it } }
        store.signalPressure(MemoryPressureLevel.CRITICAL)
        store.signalPressure(MemoryPressureLevel.NONE)
        store.close()
        withTimeout(5_000) { collector.await() }
        assertEquals(
            listOf(MemoryPressureLevel.CRITICAL, MemoryPressureLevel.NONE),
            seen.filterIsInstance<NexusEvent.PressureChanged>().map { it.level },
        )
    }

    @Test
    fun `a store reclaimed unclosed ends its flows too`() = runBlocking {
        val (events, levels) = run {
            val store = NexusStore(MemoryConfig(maxCacheBytes = 10_000))
            store.events to store.pressureLevels
        }
        val collectedEvents = async(Dispatchers.Default) { events.collect { }; "completed" }
        val collectedLevels = async(Dispatchers.Default) { runCatching { levels.collect { } }.exceptionOrNull() }
        // The store is unreachable: the Cleaner frees it, then ends its flows.
        assertTrue(gcUntil { collectedEvents.isCompleted && collectedLevels.isCompleted })
        assertEquals("completed", collectedEvents.await())
        assertTrue(collectedLevels.await() is IllegalStateException)
    }

    // ---- negative costs ----------------------------------------------------------

    @Test
    fun `a negative cost is a NexusException with the value`() {
        NexusStore(MemoryConfig(maxCacheBytes = 10_000)).use { s ->
            val put = assertThrows<NexusException> { s.putObject("o", Any(), -1) }
            assertEquals(NexusStatus.INVALID_ARGUMENT, put.status)
            assertEquals("cost must be >= 0 (got -1)", put.message)
            // Before the fix: IllegalArgumentException("cost must be >= 0").
            val costed = assertThrows<NexusException> { CostedObject(Any(), -1) }
            assertEquals(NexusStatus.INVALID_ARGUMENT, costed.status)
            assertEquals("cost must be >= 0 (got -1)", costed.message)
        }
    }
}
