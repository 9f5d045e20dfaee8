package io.nexusstore

import java.lang.ref.Reference

/**
 * Keeps an object reachable up to this point, so a Cleaner cannot free its native store while
 * a native call on it runs. Reference.reachabilityFence exists from Java 9 and Android API 28;
 * below that a synchronized block on the object does the same job.
 */
internal object Fence {
    private val hasReachabilityFence = try {
        Reference::class.java.getMethod("reachabilityFence", Any::class.java)
        true
    } catch (_: NoSuchMethodException) {
        false
    }

    @JvmStatic
    fun keepAlive(o: Any) {
        if (hasReachabilityFence) Reference.reachabilityFence(o) else synchronized(o) {}
    }
}
