package io.nexusstore.android

import android.app.Activity
import android.app.ActivityManager
import android.app.Application
import android.content.ComponentCallbacks2
import android.content.Context
import android.content.res.Configuration
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.util.Log
import io.nexusstore.MemoryPressureLevel
import io.nexusstore.NexusStore

/**
 * Connects Android's memory callbacks to nexus_store: `onTrimMemory(level)` becomes
 * [MemoryPressureLevel.fromTrimLevel] (by ranges), `onLowMemory` is TRIM_MEMORY_COMPLETE, and
 * the signal ends (NONE) when the app comes back to the foreground (its first activity starts
 * again; an activity recreated for a configuration change, such as a rotation, is not a return):
 * since API 34 Android sends only UI_HIDDEN and BACKGROUND and never says pressure is over. By
 * default every store hears it ([NexusStore.signalPressureAll]); pass [signal] to aim at one
 * store. An exception [signal] throws (the one-store target `{ store.signalPressure(it) }` once
 * that store is closed: IllegalStateException) is logged (tag `NexusStore`) and dropped: it never
 * leaves an Android callback, which runs on the main thread. [close] unregisters and ends the
 * signal this hook holds.
 *
 * At [install] the hook also signals the level Android last asked this process to trim to
 * (`ActivityManager.getMyMemoryState(...).lastTrimLevel`), so a hook installed late (a cache made
 * while the process runs in the background, after its `onTrimMemory` went by) starts where the
 * process stands: a RUNNING_* level always, UI_HIDDEN and the background levels only while the
 * process is not in the foreground (importance above IMPORTANCE_VISIBLE; in the foreground they
 * are stale). A process that was never asked to trim signals nothing.
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

    /**
     * Whether the activity stopped last was changing configurations: the activity that
     * replaces it starting is not the app coming back to the foreground.
     */
    private var changingConfigurations = false

    /** The level this hook signalled last (NONE once it ended). */
    @Volatile
    var signalled: MemoryPressureLevel = MemoryPressureLevel.NONE
        private set

    /** Signals the process's last trim level, if any applies (see the class doc). */
    private fun signalLastTrimLevel() {
        val state = ActivityManager.RunningAppProcessInfo()
        try {
            ActivityManager.getMyMemoryState(state)
        } catch (t: Throwable) {
            Log.w(TAG, "getMyMemoryState failed; no start-up level", t)
            return
        }
        val mapped = MemoryPressureLevel.fromTrimLevel(state.lastTrimLevel)
        if (mapped == MemoryPressureLevel.NONE) return
        val foreground = state.importance <= ActivityManager.RunningAppProcessInfo.IMPORTANCE_VISIBLE
        if (foreground && state.lastTrimLevel >= TRIM_MEMORY_UI_HIDDEN) return
        send(mapped)
    }

    override fun onTrimMemory(level: Int) {
        val mapped = MemoryPressureLevel.fromTrimLevel(level)
        if (mapped == MemoryPressureLevel.NONE) return
        send(mapped)
    }

    /**
     * Signals [level] through the target; whatever the target throws is logged and dropped, an
     * Error too (an OutOfMemoryError while memory is short, an UnsatisfiedLinkError where the
     * native library is missing for the device's ABI): it would otherwise crash the app from a
     * system callback.
     */
    private fun send(level: MemoryPressureLevel) {
        signalled = level
        try {
            signal(level)
        } catch (t: Throwable) {
            Log.w(TAG, "the memory pressure target threw on $level (dropped)", t)
        }
    }

    @Deprecated("Deprecated in Android; no longer delivered since API 34")
    override fun onLowMemory() = onTrimMemory(TRIM_MEMORY_COMPLETE)

    override fun onConfigurationChanged(newConfig: Configuration) = Unit

    override fun onActivityStarted(activity: Activity) {
        startedActivities++
        if (startedActivities == 1) {
            if (!changingConfigurations && signalled != MemoryPressureLevel.NONE) send(MemoryPressureLevel.NONE)
            changingConfigurations = false
        }
    }

    override fun onActivityStopped(activity: Activity) {
        if (startedActivities > 0) startedActivities--
        changingConfigurations = activity.isChangingConfigurations
    }

    override fun onActivityCreated(activity: Activity, savedInstanceState: Bundle?) = Unit
    override fun onActivityResumed(activity: Activity) = Unit
    override fun onActivityPaused(activity: Activity) = Unit
    override fun onActivitySaveInstanceState(activity: Activity, outState: Bundle) = Unit
    override fun onActivityDestroyed(activity: Activity) = Unit

    /**
     * Unregisters both callbacks, then ends the signal this hook holds, if any: the target hears
     * NONE when this hook's last signal was above NONE (with the default target, every store,
     * whoever else signalled them). A second close does nothing. On the main thread, where the
     * callbacks run, the NONE is sent before close returns; from another thread it is posted to
     * the main thread, so that it comes after an `onTrimMemory` running at that moment (sent at
     * once, that callback's level would come after the NONE and stay).
     */
    override fun close() {
        application.unregisterComponentCallbacks(this)
        application.unregisterActivityLifecycleCallbacks(this)
        val main = Looper.getMainLooper()
        if (main == null || Looper.myLooper() == main) {
            endSignal()
        } else {
            Handler(main).post { endSignal() }
        }
    }

    /** Ends the signal this hook holds, if any (on the main thread: see [close]). */
    private fun endSignal() {
        if (signalled != MemoryPressureLevel.NONE) send(MemoryPressureLevel.NONE)
    }

    companion object {
        private const val TRIM_MEMORY_COMPLETE = 80
        private const val TRIM_MEMORY_UI_HIDDEN = 20
        private const val TAG = "NexusStore"

        /**
         * [context]'s application. `getApplicationContext()` is null while the Application itself
         * is being attached (`attachBaseContext`, before `onCreate`), so an Application passed
         * then is taken as it is; any other context without an Application is refused with a
         * message (not a NullPointerException or ClassCastException from a cast).
         */
        private fun applicationOf(context: Context): Application =
            context.applicationContext as? Application
                ?: context as? Application
                ?: throw IllegalArgumentException(
                    "AndroidMemoryPressure.install needs a context of an Application: " +
                        "${context.javaClass.name}'s applicationContext is ${context.applicationContext?.javaClass?.name}",
                )

        /**
         * Registers on [context]'s application (callbacks arrive on the main thread), then
         * signals the process's last trim level where one applies (see the class doc). Call it on
         * the main thread too (in `Application.onCreate`): from another thread, its start-up level
         * could reach the stores after a newer `onTrimMemory`.
         */
        @JvmStatic
        @JvmOverloads
        fun install(
            context: Context,
            signal: (MemoryPressureLevel) -> Unit = { NexusStore.signalPressureAll(it) },
        ): AndroidMemoryPressure {
            val application = applicationOf(context)
            return AndroidMemoryPressure(application, signal).also {
                application.registerComponentCallbacks(it)
                application.registerActivityLifecycleCallbacks(it)
                it.signalLastTrimLevel()
            }
        }
    }
}
