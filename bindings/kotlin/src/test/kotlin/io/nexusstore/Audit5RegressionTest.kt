package io.nexusstore

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Regression tests for audit 5's Kotlin findings (/work/audit5/REPORT.md: 11; 1 is in Audit5LoaderResultTest). */
class Audit5RegressionTest {
    // ---- finding 11: negative costs ----------------------------------------------------------

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
