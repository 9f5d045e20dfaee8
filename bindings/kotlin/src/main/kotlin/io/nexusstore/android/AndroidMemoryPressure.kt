package io.nexusstore.android

import android.app.Activity
import android.app.Application
import android.content.ComponentCallbacks2
import android.content.Context
import android.content.res.Configuration
import android.os.Bundle
import io.nexusstore.MemoryPressureLevel
import io.nexusstore.NexusStore

/**
 * Connects Android's memory callbacks to nexus_store: `onTrimMemory(level)` becomes
 * [MemoryPressureLevel.fromTrimLevel] (by ranges), `onLowMemory` is TRIM_MEMORY_COMPLETE, and
 * the signal ends (NONE) when the app comes back to the foreground (its first activity starts
 * again): since API 34 Android sends only UI_HIDDEN and BACKGROUND and never says pressure is
 * over. By default every store hears it ([NexusStore.signalPressureAll]); pass [signal] to aim
 * at one store. [close] unregisters.
 *
 * ```
 * val pressure = AndroidMemoryPressure.install(application)
 * ```
 */
class AndroidMemoryPressure private constructor(
    private val application: Application,
    private val signal: (MemoryPressureLevel) -> Unit,
) : ComponentCallbacks2, Application.ActivityLifecycleCallbacks, AutoCloseable {
    private var startedActivities = 0

    /** The level this hook signalled last (NONE once it ended). */
    @Volatile
    var signalled: MemoryPressureLevel = MemoryPressureLevel.NONE
        private set

    override fun onTrimMemory(level: Int) {
        val mapped = MemoryPressureLevel.fromTrimLevel(level)
        if (mapped == MemoryPressureLevel.NONE) return
        signalled = mapped
        signal(mapped)
    }

    @Deprecated("Deprecated in Android; no longer delivered since API 34")
    override fun onLowMemory() = onTrimMemory(TRIM_MEMORY_COMPLETE)

    override fun onConfigurationChanged(newConfig: Configuration) = Unit

    override fun onActivityStarted(activity: Activity) {
        startedActivities++
        if (startedActivities == 1 && signalled != MemoryPressureLevel.NONE) {
            signalled = MemoryPressureLevel.NONE
            signal(MemoryPressureLevel.NONE)
        }
    }

    override fun onActivityStopped(activity: Activity) {
        if (startedActivities > 0) startedActivities--
    }

    override fun onActivityCreated(activity: Activity, savedInstanceState: Bundle?) = Unit
    override fun onActivityResumed(activity: Activity) = Unit
    override fun onActivityPaused(activity: Activity) = Unit
    override fun onActivitySaveInstanceState(activity: Activity, outState: Bundle) = Unit
    override fun onActivityDestroyed(activity: Activity) = Unit

    /** Unregisters both callbacks. */
    override fun close() {
        application.unregisterComponentCallbacks(this)
        application.unregisterActivityLifecycleCallbacks(this)
    }

    companion object {
        private const val TRIM_MEMORY_COMPLETE = 80

        /** Registers on [context]'s application; callbacks arrive on the main thread. */
        @JvmStatic
        @JvmOverloads
        fun install(
            context: Context,
            signal: (MemoryPressureLevel) -> Unit = { NexusStore.signalPressureAll(it) },
        ): AndroidMemoryPressure {
            val application = context.applicationContext as Application
            return AndroidMemoryPressure(application, signal).also {
                application.registerComponentCallbacks(it)
                application.registerActivityLifecycleCallbacks(it)
            }
        }
    }
}
