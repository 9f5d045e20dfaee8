package io.nexusstore

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.Collections
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/** Every entry of these tests: a 3-byte key ("k00".."k99") and a 100-byte value. */
private val VALUE = ByteArray(100) { 7 }
private val E: Long = 3 + 100 + NexusStore.entryOverheadBytes

private fun key(i: Int) = "k%02d".format(i)

/** Puts entries [from, until) into [store]. */
private fun fill(store: NexusStore, until: Int, from: Int = 0) {
    for (i in from until until) store.put(key(i), VALUE)
}

/** An unbounded store: only the governor takes from it. */
private fun plainStore() = NexusStore(MemoryConfig())

private fun entries(store: NexusStore) = store.memoryMetrics.entryCount

class GovernorTest {
    @Test
    fun `the lowest priority store is shed first, whichever store went over`() {
        Governor(15 * E).use { gov ->
            plainStore().use { low ->
                plainStore().use { high ->
                    gov.join(low, priority = 1)
                    gov.join(high, priority = 10)
                    fill(low, 10)
                    fill(high, 10) // the puts into high take the total over: low pays
                    assertEquals(5L, entries(low))
                    assertEquals(10L, entries(high))
                    assertEquals(15 * E, gov.metrics.totalUsage)
                    assertEquals(5 * E, gov.memberMetrics(low)!!.shedBytesOverBudget)
                    assertEquals(0L, gov.memberMetrics(high)!!.shedEntries)
                    // Least recently used first, reason GOVERNOR.
                    assertNull(low["k00"])
                    assertNotNull(low["k09"])
                }
            }
        }
    }

    @Test
    fun `entries the governor takes leave with reason GOVERNOR`() {
        Governor(2 * E).use { gov ->
            plainStore().use { store ->
                val heard = Collections.synchronizedList(mutableListOf<Pair<String, EvictionReason>>())
                store.setEvictionListener { k, reason, _ -> heard += k.decodeToString() to reason }
                gov.join(store)
                fill(store, 3)
                assertEquals(listOf("k00" to EvictionReason.GOVERNOR), heard.toList())
            }
        }
    }

    @Test
    fun `a floor holds and the next priority gives the rest`() {
        Governor(15 * E).use { gov ->
            plainStore().use { low ->
                plainStore().use { high ->
                    gov.join(low, priority = 1, floorBytes = 8 * E)
                    gov.join(high, priority = 10)
                    fill(low, 10)
                    fill(high, 10)
                    assertEquals(8L, entries(low))
                    assertEquals(7L, entries(high))
                    assertEquals(2 * E, gov.memberMetrics(low)!!.shedBytesOverBudget)
                    assertEquals(3 * E, gov.memberMetrics(high)!!.shedBytesOverBudget)
                    val m = gov.metrics
                    assertEquals(15 * E, m.totalUsage)
                    assertEquals(5L, m.shedEntries)
                    assertEquals(5 * E, m.shedBytes)

                    // EMERGENCY takes every member to its floor, and no lower.
                    gov.signalPressure(MemoryPressureLevel.EMERGENCY)
                    assertEquals(8L, entries(low))
                    assertEquals(0L, entries(high))
                    assertEquals(7 * E, gov.memberMetrics(high)!!.shedBytesPressure)
                    assertEquals(MemoryPressureLevel.EMERGENCY, gov.metrics.level)
                    // The members' own levels do not change.
                    assertEquals(MemoryPressureLevel.NONE, low.signalledLevel)
                }
            }
        }
    }

    @Test
    fun `a ceiling caps a store under a roomy budget`() {
        Governor(1L shl 20).use { gov ->
            plainStore().use { store ->
                gov.join(store, priority = 5, ceilingBytes = 3 * E)
                fill(store, 10)
                assertEquals(3L, entries(store))
                val m = gov.memberMetrics(store)!!
                assertEquals(3 * E, m.usageBytes)
                assertEquals(7 * E, m.shedBytesCeiling)
                assertEquals(0L, m.shedBytesOverBudget)
                assertEquals(3 * E, m.ceilingBytes)
                assertEquals(5, m.priority)
                assertEquals(store.id, m.storeId)
                val sheds = gov.drainEvents().filter { it.kind == GovernorEventKind.SHED }
                assertEquals(7, sheds.size)
                assertTrue(sheds.all { it.cause == ShedCause.CEILING && it.storeId == store.id && it.bytes == E })

                // A new ceiling applies at once; 0 removes it.
                gov.setMember(store, priority = 5, ceilingBytes = 1 * E)
                assertEquals(1L, entries(store))
                gov.setMember(store, priority = 5)
                fill(store, 10)
                assertEquals(10L, entries(store))
            }
        }
    }

    @Test
    fun `events come as joined, shed, level changed, left, numbered from 1`() {
        Governor(GovernorConfig(budgetBytes = 4 * E)).use { gov ->
            plainStore().use { store ->
                gov.join(store)
                fill(store, 4)
                gov.signalPressure(MemoryPressureLevel.MODERATE) // keeps 0.75: 3 of 4 entries
                assertTrue(gov.leave(store))
                val events = gov.drainEvents()
                assertEquals((1L..events.size).toList(), events.map { it.sequence })
                assertEquals(GovernorEventKind.JOINED, events.first().kind)
                assertEquals(store.id, events.first().storeId)
                val level = events.single { it.kind == GovernorEventKind.LEVEL_CHANGED }
                assertEquals(MemoryPressureLevel.NONE, level.previousLevel)
                assertEquals(MemoryPressureLevel.MODERATE, level.level)
                val shed = events.single { it.kind == GovernorEventKind.SHED }
                assertEquals(ShedCause.PRESSURE, shed.cause)
                assertEquals(1L, shed.count)
                assertEquals(3 * E, shed.storeUsage)
                assertEquals(3 * E, shed.budgetInForce) // floor(4E x 0.75)
                assertEquals(GovernorEventKind.LEFT, events.last().kind)
                assertEquals(store.id, events.last().storeId)
                assertNull(gov.pollEvent())
                assertEquals(3L, entries(store))
            }
        }
    }

    @Test
    fun `setBudget sheds at once and signals hold a lower budget until NONE`() {
        Governor(10 * E).use { gov ->
            plainStore().use { store ->
                gov.join(store)
                fill(store, 10)
                gov.setBudget(6 * E)
                assertEquals(6L, entries(store))
                assertEquals(6 * E, gov.metrics.budgetBytes)
                gov.signalPressure(MemoryPressureLevel.CRITICAL) // 0.5
                assertEquals(3L, entries(store))
                assertEquals(3 * E, gov.metrics.budgetInForce)
                fill(store, 20, from = 10)
                assertEquals(3L, entries(store))
                gov.signalPressure(MemoryPressureLevel.NONE)
                assertEquals(6 * E, gov.metrics.budgetInForce)
                fill(store, 30, from = 20)
                assertEquals(6L, entries(store))
            }
        }
    }

    @Test
    fun `enforce takes what pins held once they are gone`() {
        Governor(5 * E).use { gov ->
            plainStore().use { store ->
                gov.join(store)
                for (i in 0 until 10) store.pin(key(i))
                fill(store, 10)
                assertEquals(10L, entries(store))
                assertEquals(5 * E, gov.metrics.unmetBytes)
                val unmet = gov.drainEvents().filter { it.kind == GovernorEventKind.UNMET }
                assertEquals(1, unmet.size) // reported once until met
                assertEquals(E, unmet.single().bytes) // the first put over the budget
                for (i in 0 until 10) store.unpin(key(i))
                assertEquals(10L, entries(store)) // an unpin is no trigger
                gov.enforce()
                assertEquals(5L, entries(store))
                assertEquals(0L, gov.metrics.unmetBytes)
            }
        }
    }

    @Test
    fun `a store that leaves is governed no more and may join again`() {
        Governor(5 * E).use { gov ->
            plainStore().use { store ->
                gov.join(store)
                assertEquals(1L, gov.metrics.memberCount)
                assertTrue(gov.leave(store))
                assertFalse(gov.leave(store))
                assertNull(gov.memberMetrics(store))
                assertEquals(0L, gov.metrics.memberCount)
                fill(store, 10)
                assertEquals(10L, entries(store))
                assertThrows<NexusException> { gov.setMember(store, 1) }.also {
                    assertEquals(NexusStatus.NOT_FOUND, it.status)
                }
                gov.join(store) // enforces at once
                assertEquals(5L, entries(store))
            }
        }
    }

    @Test
    fun `a closed member leaves the governor`() {
        Governor(5 * E).use { gov ->
            val store = plainStore()
            gov.join(store)
            fill(store, 3)
            val id = store.id
            store.close()
            assertEquals(0L, gov.metrics.memberCount)
            assertEquals(0L, gov.metrics.totalUsage)
            val left = gov.drainEvents().last()
            assertEquals(GovernorEventKind.LEFT, left.kind)
            assertEquals(id, left.storeId)
            assertThrows<IllegalStateException> { gov.join(store) }
            assertThrows<IllegalStateException> { gov.memberMetrics(store) }
        }
    }

    @Test
    fun `a closed governor's members go on as plain stores`() {
        plainStore().use { store ->
            val gov = Governor(2 * E)
            gov.join(store)
            gov.close()
            gov.close() // a second close does nothing
            assertTrue(gov.isClosed)
            fill(store, 10)
            assertEquals(10L, entries(store))
            Governor(5 * E).use { other ->
                other.join(store) // in no governor any more
                assertEquals(5L, entries(store))
            }
        }
    }

    @Test
    fun `a closed governor's calls throw IllegalStateException`() {
        plainStore().use { store ->
            val gov = Governor(10 * E)
            gov.join(store)
            gov.close()
            assertThrows<IllegalStateException> { gov.join(store) }
            assertThrows<IllegalStateException> { gov.setMember(store, 1) }
            assertThrows<IllegalStateException> { gov.leave(store) }
            assertThrows<IllegalStateException> { gov.setBudget(E) }
            assertThrows<IllegalStateException> { gov.signalPressure(MemoryPressureLevel.MODERATE) }
            assertThrows<IllegalStateException> { gov.enforce() }
            assertThrows<IllegalStateException> { gov.metrics }
            assertThrows<IllegalStateException> { gov.memberMetrics(store) }
            assertThrows<IllegalStateException> { gov.pollEvent() }
        }
    }

    @Test
    fun `a store is in one governor at most`() {
        Governor(10 * E).use { a ->
            Governor(10 * E).use { b ->
                plainStore().use { store ->
                    a.join(store)
                    assertEquals(NexusStatus.BUSY, assertThrows<NexusException> { a.join(store) }.status)
                    assertEquals(NexusStatus.BUSY, assertThrows<NexusException> { b.join(store) }.status)
                    assertFalse(b.leave(store))
                    assertNull(b.memberMetrics(store))
                }
            }
        }
    }

    @Test
    fun `bad arguments are INVALID_ARGUMENT`() {
        fun invalid(block: () -> Unit) =
            assertEquals(NexusStatus.INVALID_ARGUMENT, assertThrows<NexusException> { block() }.status)

        invalid { Governor(0) }
        invalid { Governor(-1) }
        invalid { Governor(GovernorConfig(budgetBytes = 100, signalModerateKeep = 0.5, signalCriticalKeep = 0.75)) }
        invalid { Governor(GovernorConfig(budgetBytes = 100, signalCriticalKeep = 0.0)) }
        invalid { Governor(GovernorConfig(budgetBytes = 100, signalModerateKeep = 1.5)) }
        invalid { Governor(GovernorConfig(budgetBytes = 100, eventQueueCapacity = 0)) }
        invalid { Governor(GovernorConfig(budgetBytes = 100, eventQueueCapacity = -1)) }
        Governor(10 * E).use { gov ->
            plainStore().use { a ->
                plainStore().use { b ->
                    invalid { gov.join(a, floorBytes = 2 * E, ceilingBytes = E) } // ceiling below floor
                    invalid { gov.join(a, floorBytes = 11 * E) } // floors above the budget
                    invalid { gov.join(a, priority = -1) }
                    invalid { gov.join(a, floorBytes = -1) }
                    invalid { gov.join(a, ceilingBytes = -1) }
                    assertNull(gov.memberMetrics(a)) // refused joins left nothing behind
                    gov.join(a, floorBytes = 6 * E)
                    invalid { gov.join(b, floorBytes = 5 * E) } // 6E + 5E > 10E
                    invalid { gov.setBudget(5 * E) } // below the floors
                    invalid { gov.setBudget(0) }
                    invalid { gov.setBudget(-1) }
                    invalid { gov.setMember(a, 1, floorBytes = 11 * E) }
                    assertEquals(6 * E, gov.memberMetrics(a)!!.floorBytes)
                    assertEquals(10 * E, gov.metrics.budgetBytes)
                }
            }
        }
    }

    @Test
    fun `an unreachable governor is freed and its members go on`() {
        plainStore().use { store ->
            fun abandon() {
                Governor(2 * E).join(store)
            }
            abandon()
            // The Cleaner frees it: the store leaves (joining another governor stops being BUSY).
            val freed = gcUntil {
                Governor(100 * E).use { other ->
                    try {
                        other.join(store)
                        true
                    } catch (e: NexusException) {
                        if (e.status != NexusStatus.BUSY) throw e
                        false
                    }
                }
            }
            assertTrue(freed, "the unclosed governor was freed")
        }
    }

    /** README.md's Kotlin governor example, as written there (the lines between the braces of use). */
    @Test
    fun `the README's governor example runs`() {
        NexusStore().use { thumbnails ->
            NexusStore().use { audio ->
                Governor(GovernorConfig(budgetBytes = 48L shl 20)).use { governor ->
                    governor.join(thumbnails, priority = 1, floorBytes = 4L shl 20)   // shed first, never below 4 MB
                    governor.join(audio, priority = 9, ceilingBytes = 32L shl 20)     // kept longest, never above 32 MB
                    governor.signalPressure(MemoryPressureLevel.CRITICAL)             // the total to half, until NONE
                    println("${governor.metrics.totalUsage} ${governor.memberMetrics(audio)?.shedBytesCeiling}")
                    governor.drainEvents().forEach { println("${it.kind} ${it.storeId} ${it.bytes}") }
                    assertEquals(2L, governor.metrics.memberCount)
                    assertEquals(24L shl 20, governor.metrics.budgetInForce)
                }
            }
        }
    }

    @Test
    fun `puts from 4 threads into 4 members end within the budget with exact accounting`() {
        Governor(100 * E).use { gov ->
            val stores = (0 until 4).map { plainStore() }
            try {
                stores.forEachIndexed { i, store -> gov.join(store, priority = i + 1) }
                val barrier = CyclicBarrier(4)
                val pool = Executors.newFixedThreadPool(4)
                val done = stores.map { store ->
                    pool.submit {
                        barrier.await()
                        for (i in 0 until 300) store.put("%03d".format(i), VALUE) // every entry charged E
                    }
                }
                done.forEach { it.get(60, TimeUnit.SECONDS) }
                pool.shutdown()
                val m = gov.metrics
                val usages = stores.map { it.memoryMetrics.currentUsage }
                assertEquals(usages.sum(), m.totalUsage)
                assertTrue(m.totalUsage <= 100 * E, "total ${m.totalUsage} over the budget ${100 * E}")
                assertEquals(0L, m.unmetBytes)
                // Everything put is either still there or was taken by the governor.
                assertEquals(1200 * E - m.totalUsage, m.shedBytes)
                assertEquals(1200L - stores.sumOf { entries(it) }, m.shedEntries)
                val members = stores.map { gov.memberMetrics(it)!! }
                assertEquals(m.shedBytes, members.sumOf { it.shedBytesOverBudget })
                assertEquals(usages, members.map { it.usageBytes })
            } finally {
                stores.forEach { it.close() }
            }
        }
    }

    @Test
    fun `the phantom fallback frees an unreachable governor`() {
        plainStore().use { store ->
            val handle = NativeBridge.governorNew(2 * E, 0.75, 0.5, 16)
            NativeBridge.governorJoin(handle, store.handleForTesting(), 0, 0, 0)
            val reclaimable = PhantomReclaimer().register(Any(), handle, NativeKind.GOVERNOR) // unreachable at once
            assertTrue(gcUntil {
                try {
                    NativeBridge.governorEnforce(handle); false
                } catch (e: NexusException) {
                    e.status == NexusStatus.INVALID_HANDLE
                }
            })
            reclaimable.reclaim() // already done: nothing happens
            fill(store, 10)
            assertEquals(10L, entries(store)) // its member is governed no more
        }
    }
}
