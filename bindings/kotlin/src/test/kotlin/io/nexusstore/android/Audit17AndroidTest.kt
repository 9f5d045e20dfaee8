package io.nexusstore.android

import android.app.Application
import android.content.ComponentCallbacks2
import android.content.Context
import android.content.ContextWrapper
import android.os.Looper
import io.nexusstore.MemoryConfig
import io.nexusstore.MemoryPressureLevel
import io.nexusstore.NexusStore
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config

/** Audit 17K, finding 4: install() from a context whose applicationContext is no Application. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34])
class Audit17AndroidTest {
    /** An Application being attached (attachBaseContext): its applicationContext is still null. */
    private class AttachingApplication : Application() {
        override fun getApplicationContext(): Context? = null
    }

    @Test
    fun installInAttachBaseContextTakesTheApplicationItself() {
        val app = AttachingApplication()
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            for (i in 0 until 4) store.put("k$i", ByteArray(10))
            // Before the fix: NullPointerException "null cannot be cast to non-null type android.app.Application".
            val pressure = AndroidMemoryPressure.install(app) { store.signalPressure(it) }
            app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_COMPLETE)
            assertEquals(MemoryPressureLevel.EMERGENCY, store.signalledLevel)
            assertEquals(0L, store.memoryMetrics.entryCount)
            pressure.close()
            assertEquals(MemoryPressureLevel.NONE, store.signalledLevel)
        }
    }

    /**
     * Finding 7: close() on another thread while an onTrimMemory runs on the main thread. The
     * callback's level must not outlast the close: the NONE is posted to the main thread, after it.
     */
    @Test
    fun closeOffTheMainThreadEndsTheSignalAfterATrimInFlight() {
        val app = RuntimeEnvironment.getApplication()
        NexusStore(MemoryConfig(maxCacheBytes = 1 shl 20)).use { store ->
            val pressure = AndroidMemoryPressure.install(app) { store.signalPressure(it) }
            app.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_RUNNING_LOW)
            assertEquals(MemoryPressureLevel.CRITICAL, store.signalledLevel)
            Thread { pressure.close() }.apply { start(); join() }
            // The main thread was inside onTrimMemory when close() ran (dispatched before the
            // unregistration): its level lands now.
            pressure.onTrimMemory(ComponentCallbacks2.TRIM_MEMORY_COMPLETE)
            assertEquals(MemoryPressureLevel.EMERGENCY, store.signalledLevel)
            shadowOf(Looper.getMainLooper()).idle()
            // Before the fix the close's NONE came first, and EMERGENCY stayed for good.
            assertEquals(MemoryPressureLevel.NONE, store.signalledLevel)
            pressure.close() // a second close, on the main thread: nothing more
            assertEquals(MemoryPressureLevel.NONE, store.signalledLevel)
        }
    }

    @Test
    fun installFromAContextWithNoApplicationIsIllegalArgumentWithAMessage() {
        val orphan = object : ContextWrapper(null) {
            override fun getApplicationContext(): Context? = null
        }
        val e = assertThrows(IllegalArgumentException::class.java) { AndroidMemoryPressure.install(orphan) }
        assertTrue(e.message, e.message!!.contains("Application"))
    }
}
