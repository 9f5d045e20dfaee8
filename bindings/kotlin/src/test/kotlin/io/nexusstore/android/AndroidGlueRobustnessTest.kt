package io.nexusstore.android

import android.app.Activity
import android.app.Application
import android.content.ComponentCallbacks2
import android.content.res.Configuration
import io.nexusstore.MemoryConfig
import io.nexusstore.MemoryPressureLevel
import io.nexusstore.NexusStore
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.annotation.Config

/** The Android glue: a target that throws, a rotation, and close() while a signal is held. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34])
class AndroidGlueRobustnessTest {
    private val app: Application get() = RuntimeEnvironment.getApplication()

    /** Finding 2: the README's one-store hook once its store is closed. */
    @Test
    fun oneStoreHookAfterTheStoreIsClosedThrowsNothing() {
        val store = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        val other = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        val pressure = AndroidMemoryPressure.install(app) { store.signalPressure(it) }
        val second = AndroidMemoryPressure.install(app) { other.signalPressure(it) }
        try {
            store.close()
            // Before the fix: IllegalStateException("the store is closed") out of onTrimMemory (on a
            // device, the main thread: the app ends), then out of onActivityStarted.
            assertNull(runCatching { app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_UI_HIDDEN) }.exceptionOrNull())
            assertEquals(MemoryPressureLevel.MODERATE, pressure.signalled)
            // The other hook still heard it.
            assertEquals(MemoryPressureLevel.MODERATE, other.pressureLevel)
            @Suppress("DEPRECATION")
            assertNull(runCatching { app.onLowMemory() }.exceptionOrNull())
            assertEquals(MemoryPressureLevel.EMERGENCY, other.pressureLevel)
            assertNull(runCatching { Robolectric.buildActivity(Activity::class.java).setup() }.exceptionOrNull())
            assertEquals(MemoryPressureLevel.NONE, other.pressureLevel)
            assertEquals(MemoryPressureLevel.NONE, pressure.signalled)
            app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_COMPLETE)
        } finally {
            // close() ends the signal through the target too: nothing comes out of it either.
            assertNull(runCatching { pressure.close() }.exceptionOrNull())
            second.close()
            other.close()
        }
    }

    /**
     * Audit 10: an Error the target throws (an OutOfMemoryError while memory is short, an
     * UnsatisfiedLinkError) is dropped too, not only an Exception.
     */
    @Test
    fun aTargetThrowingAnErrorThrowsNothingOutOfTheCallbacks() {
        var heard = 0
        val pressure = AndroidMemoryPressure.install(app) {
            heard++
            throw AssertionError("target error")
        }
        try {
            assertNull(runCatching { app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_COMPLETE) }.exceptionOrNull())
            assertEquals(MemoryPressureLevel.EMERGENCY, pressure.signalled)
        } finally {
            assertNull(runCatching { pressure.close() }.exceptionOrNull())
        }
        assertEquals(2, heard) // the signal, then close() ending it
    }

    /** Finding 4: a rotation in the foreground is not leaving it. */
    @Test
    fun rotationKeepsTheSignalAndLeavingAndComingBackEndsIt() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val pressure = AndroidMemoryPressure.install(app) { store.signalPressure(it) }
            try {
                val controller = Robolectric.buildActivity(Activity::class.java).setup()
                app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL)
                assertEquals(MemoryPressureLevel.EMERGENCY, store.pressureLevel)
                val landscape = Configuration(app.resources.configuration).apply {
                    orientation = Configuration.ORIENTATION_LANDSCAPE
                }
                controller.configurationChange(landscape)
                // Before the fix: NONE (the started count went 1 -> 0 -> 1: "back in the foreground").
                assertEquals(MemoryPressureLevel.EMERGENCY, store.pressureLevel)
                assertEquals(MemoryPressureLevel.EMERGENCY, pressure.signalled)
                // Leaving the foreground and coming back still ends it.
                controller.pause().stop()
                assertEquals(MemoryPressureLevel.EMERGENCY, store.pressureLevel)
                controller.start()
                assertEquals(MemoryPressureLevel.NONE, store.pressureLevel)
                assertEquals(MemoryPressureLevel.NONE, pressure.signalled)
            } finally {
                pressure.close()
            }
        }
    }

    /** Finding 9: close() ends the signal this hook holds. */
    @Test
    fun closeEndsTheSignalItHolds() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val pressure = AndroidMemoryPressure.install(app) { store.signalPressure(it) }
            app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_COMPLETE)
            assertEquals(MemoryPressureLevel.EMERGENCY, store.pressureLevel)
            pressure.close()
            // Before the fix: EMERGENCY for good (only pinned keys may be put).
            assertEquals(MemoryPressureLevel.NONE, store.pressureLevel)
            assertEquals(MemoryPressureLevel.NONE, pressure.signalled)
            store.put("after", ByteArray(10))
            // Unregistered: nothing more reaches the store.
            app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_COMPLETE)
            assertEquals(MemoryPressureLevel.NONE, store.pressureLevel)
            pressure.close() // a second close does nothing
        }
    }

    /** A hook that signalled nothing signals nothing on close (a signal of another's is left alone). */
    @Test
    fun closeWithoutASignalSignalsNothing() {
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val calls = mutableListOf<MemoryPressureLevel>()
            val pressure = AndroidMemoryPressure.install(app) { calls += it; store.signalPressure(it) }
            store.signalPressure(MemoryPressureLevel.CRITICAL)
            pressure.close()
            assertEquals(emptyList<MemoryPressureLevel>(), calls)
            assertEquals(MemoryPressureLevel.CRITICAL, store.pressureLevel)
        }
    }
}
