package io.nexusstore

import io.nexusstore.MemoryPressureLevel.CRITICAL
import io.nexusstore.MemoryPressureLevel.EMERGENCY
import io.nexusstore.MemoryPressureLevel.MODERATE
import io.nexusstore.MemoryPressureLevel.NONE
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.CsvSource

class TrimLevelTest {
    /** The product contract's mapping (issue 13), with the named ComponentCallbacks2 levels and the values around each edge. */
    @ParameterizedTest(name = "trim level {0} -> {1}")
    @CsvSource(
        "-1, NONE", "0, NONE", "4, NONE",
        "5, MODERATE", "9, MODERATE", // RUNNING_MODERATE
        "10, CRITICAL", "14, CRITICAL", // RUNNING_LOW
        "15, EMERGENCY", "19, EMERGENCY", // RUNNING_CRITICAL
        "20, MODERATE", "39, MODERATE", // UI_HIDDEN
        "40, CRITICAL", "60, CRITICAL", "79, CRITICAL", // BACKGROUND, MODERATE
        "80, EMERGENCY", "100, EMERGENCY", "2147483647, EMERGENCY", // COMPLETE and beyond
    )
    fun `trim levels map by ranges`(trim: Int, expected: MemoryPressureLevel) {
        assertEquals(expected, MemoryPressureLevel.fromTrimLevel(trim))
    }

    @org.junit.jupiter.api.Test
    fun `every value from 0 to 200 lands in its range`() {
        for (level in 0..200) {
            val expected = when (level) {
                in 0 until 5 -> NONE
                in 5 until 10 -> MODERATE
                in 10 until 15 -> CRITICAL
                in 15 until 20 -> EMERGENCY
                in 20 until 40 -> MODERATE
                in 40 until 80 -> CRITICAL
                else -> EMERGENCY
            }
            assertEquals(expected, MemoryPressureLevel.fromTrimLevel(level), "level $level")
        }
    }
}
