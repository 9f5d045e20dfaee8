package io.nexusstore.android

import android.app.Activity
import android.app.ActivityManager
import android.app.ActivityManager.RunningAppProcessInfo
import android.app.Application
import android.content.Context
import android.os.Process
import android.content.ComponentCallbacks2
import io.nexusstore.MemoryConfig
import io.nexusstore.MemoryPressureLevel
import io.nexusstore.NexusStore
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config

/** The Android glue driven through a real Application, on a real native store, offline. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34])
class AndroidMemoryPressureTest {
    private val app: Application get() = RuntimeEnvironment.getApplication()

    private fun filledStore(): NexusStore {
        val store = NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20))
        for (i in 0 until 50) store.put("k$i", ByteArray(100))
        store.pin("k0")
        return store
    }

    @Test
    fun trimMemoryCompleteShedsEveryUnpinnedEntryAndTheForegroundEndsIt() {
        filledStore().use { store ->
            val pressure = AndroidMemoryPressure.install(app) { store.signalPressure(it) }
            try {
                app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_COMPLETE)
                assertEquals(MemoryPressureLevel.EMERGENCY, store.pressureLevel)
                assertEquals(1L, store.memoryMetrics.entryCount)
                assertArrayEquals(ByteArray(100), store["k0"])
                assertEquals(MemoryPressureLevel.EMERGENCY, pressure.signalled)

                // The app comes back to the foreground: Android says nothing, the hook ends the signal.
                Robolectric.buildActivity(Activity::class.java).setup()
                assertEquals(MemoryPressureLevel.NONE, store.pressureLevel)
                assertEquals(MemoryPressureLevel.NONE, pressure.signalled)
                store.put("again", ByteArray(10))
            } finally {
                pressure.close()
            }
        }
    }

    @Test
    fun api34LevelsUiHiddenAndBackgroundShedInSteps() {
        filledStore().use { store ->
            val pressure = AndroidMemoryPressure.install(app) { store.signalPressure(it) }
            try {
                val full = store.memoryMetrics.currentUsage
                app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_UI_HIDDEN)
                assertEquals(MemoryPressureLevel.MODERATE, store.pressureLevels.value)
                val afterHidden = store.memoryMetrics.currentUsage
                assertTrue("UI_HIDDEN kept $afterHidden of $full", afterHidden <= full * 3 / 4)
                app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_BACKGROUND)
                assertEquals(MemoryPressureLevel.CRITICAL, store.pressureLevels.value)
                assertTrue(store.memoryMetrics.currentUsage <= afterHidden / 2)
            } finally {
                pressure.close()
            }
            // Unregistered: later callbacks reach nobody.
            store.signalPressure(MemoryPressureLevel.NONE)
            app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_COMPLETE)
            assertEquals(MemoryPressureLevel.NONE, store.pressureLevel)
        }
    }

    @Test
    @Suppress("DEPRECATION")
    fun lowMemoryIsCompleteAndTheDefaultHookSignalsEveryStore() {
        val a = filledStore()
        val b = filledStore()
        val pressure = AndroidMemoryPressure.install(app)
        try {
            app.onLowMemory()
            assertEquals(1L, a.memoryMetrics.entryCount)
            assertEquals(1L, b.memoryMetrics.entryCount)
            Robolectric.buildActivity(Activity::class.java).setup()
            assertEquals(MemoryPressureLevel.NONE, a.pressureLevel)
            assertEquals(MemoryPressureLevel.NONE, b.pressureLevel)
        } finally {
            pressure.close()
            NexusStore.signalPressureAll(MemoryPressureLevel.NONE)
            a.close()
            b.close()
        }
    }

    /** RunningAppProcessInfo.IMPORTANCE_CACHED (API 26; the stubs compiled against are older). */
    private val IMPORTANCE_CACHED = 400

    /** Makes `getMyMemoryState` report [trimLevel] and [importance] for this process. */
    private fun processState(trimLevel: Int, importance: Int) {
        val info = RunningAppProcessInfo(app.packageName, Process.myPid(), arrayOf(app.packageName))
        info.lastTrimLevel = trimLevel
        info.importance = importance
        val manager = app.getSystemService(Context.ACTIVITY_SERVICE) as ActivityManager
        shadowOf(manager).setProcesses(listOf(info))
    }

    @Test
    fun aHookInstalledInTheBackgroundStartsAtTheProcesssLastTrimLevel() {
        filledStore().use { store ->
            processState(ComponentCallbacks2.TRIM_MEMORY_BACKGROUND, IMPORTANCE_CACHED)
            val full = store.memoryMetrics.currentUsage
            val pressure = AndroidMemoryPressure.install(app) { store.signalPressure(it) }
            try {
                assertEquals(MemoryPressureLevel.CRITICAL, pressure.signalled)
                assertEquals(MemoryPressureLevel.CRITICAL, store.pressureLevel)
                assertTrue(store.memoryMetrics.currentUsage <= full / 2)
                // Back in the foreground: the start-up level ends like any other.
                Robolectric.buildActivity(Activity::class.java).setup()
                assertEquals(MemoryPressureLevel.NONE, store.pressureLevel)
            } finally {
                pressure.close()
            }
        }
    }

    @Test
    fun inTheForegroundOnlyARunningTrimLevelApplies() {
        filledStore().use { store ->
            val seen = mutableListOf<MemoryPressureLevel>()
            // UI_HIDDEN while visible is stale: the app came back since.
            processState(ComponentCallbacks2.TRIM_MEMORY_UI_HIDDEN, RunningAppProcessInfo.IMPORTANCE_FOREGROUND)
            AndroidMemoryPressure.install(app) { seen += it }.close()
            assertEquals(emptyList<MemoryPressureLevel>(), seen)
            // RUNNING_LOW arrives in the foreground (before API 34): it applies.
            processState(ComponentCallbacks2.TRIM_MEMORY_RUNNING_LOW, RunningAppProcessInfo.IMPORTANCE_FOREGROUND)
            val pressure = AndroidMemoryPressure.install(app) { seen += it; store.signalPressure(it) }
            try {
                assertEquals(listOf(MemoryPressureLevel.CRITICAL), seen)
                assertEquals(MemoryPressureLevel.CRITICAL, store.pressureLevel)
            } finally {
                pressure.close()
            }
            assertEquals(MemoryPressureLevel.NONE, store.pressureLevel)
            // Never asked to trim: nothing.
            seen.clear()
            processState(0, IMPORTANCE_CACHED)
            AndroidMemoryPressure.install(app) { seen += it }.close()
            assertEquals(emptyList<MemoryPressureLevel>(), seen)
        }
    }
}
