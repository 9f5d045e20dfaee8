package io.nexusstore

/** A pressure level, NONE < MODERATE < CRITICAL < EMERGENCY (NEXUS_PRESSURE_LEVEL_*). */
enum class MemoryPressureLevel {
    NONE, MODERATE, CRITICAL, EMERGENCY;

    internal val code: Int get() = ordinal

    companion object {
        /** A level from the library; one a newer library adds (above EMERGENCY) reads as EMERGENCY. */
        internal fun fromCode(code: Int): MemoryPressureLevel =
            entries.getOrNull(code) ?: if (code > EMERGENCY.ordinal) EMERGENCY else NONE

        /**
         * The level for an Android `ComponentCallbacks2.onTrimMemory` level, by ranges so that
         * values Android adds later land sensibly: [5,10) RUNNING_MODERATE -> MODERATE;
         * [10,15) RUNNING_LOW -> CRITICAL; [15,20) RUNNING_CRITICAL -> EMERGENCY;
         * [20,40) UI_HIDDEN -> MODERATE; [40,80) BACKGROUND and MODERATE -> CRITICAL;
         * >= 80 COMPLETE -> EMERGENCY; below 5 NONE.
         */
        @JvmStatic
        fun fromTrimLevel(level: Int): MemoryPressureLevel = when {
            level >= 80 -> EMERGENCY
            level >= 40 -> CRITICAL
            level >= 20 -> MODERATE
            level >= 15 -> EMERGENCY
            level >= 10 -> CRITICAL
            level >= 5 -> MODERATE
            else -> NONE
        }
    }
}
