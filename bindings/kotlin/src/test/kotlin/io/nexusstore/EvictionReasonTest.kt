package io.nexusstore

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

class EvictionReasonTest {
    @Test
    fun `codes map to the C constants and an unknown code to UNKNOWN`() {
        // NEXUS_EVICTION_REASON_CAPACITY .. NEXUS_EVICTION_REASON_EXPIRED are 0..6.
        val expected = listOf(
            EvictionReason.CAPACITY, EvictionReason.PRESSURE, EvictionReason.MANUAL, EvictionReason.REPLACED,
            EvictionReason.REMOVED, EvictionReason.GOVERNOR, EvictionReason.EXPIRED,
        )
        assertEquals(expected, (0..6).map { EvictionReason.fromCode(it) })
        assertEquals(EvictionReason.UNKNOWN, EvictionReason.fromCode(7))
        assertEquals(EvictionReason.UNKNOWN, EvictionReason.fromCode(-1))
        assertEquals(EvictionReason.UNKNOWN, EvictionReason.entries.last())
    }
}
