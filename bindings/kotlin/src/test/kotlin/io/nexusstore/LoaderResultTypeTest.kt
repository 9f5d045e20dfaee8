package io.nexusstore

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/**
 * A loader whose result is neither what its call
 * takes nor null (an unchecked cast, Java raw types). Before the fix the shim took anything but a
 * byte[] for a CostedObject: under -Xcheck:jni (this build's setting, and Android's CheckJNI in
 * debuggable builds) the JVM aborted.
 */
class LoaderResultTypeTest {
    // ---- a loader result of the wrong type (unchecked cast, Java raw types) -------

    /** [load] as a bytes loader: the cast is unchecked, nothing checks what it returns. */
    @Suppress("UNCHECKED_CAST")
    private fun bytesLoaderOf(load: (ByteArray) -> Any): (ByteArray) -> ByteArray? =
        (load as Any) as (ByteArray) -> ByteArray?

    private fun bytesLoader(result: Any): (ByteArray) -> ByteArray? = bytesLoaderOf { result }

    @Suppress("UNCHECKED_CAST")
    private fun objectLoader(result: Any): (ByteArray) -> CostedObject? =
        ({ _: ByteArray -> result } as Any) as (ByteArray) -> CostedObject?

    @Test
    fun `a bytes loader returning a String fails the load with INVALID_ARGUMENT naming its class`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1_000_000)).use { s ->
            val base = NativeBridge.liveObjectRefs()
            // Before the fix: under -Xcheck:jni the JVM aborted here (the shim read CostedObject's
            // fields out of a String); without it, OUT_OF_MEMORY with an empty message.
            val e = assertThrows<NexusException> { s.getOrLoad("k".encodeToByteArray(), bytesLoader("not bytes")) }
            assertEquals(NexusStatus.INVALID_ARGUMENT, e.status)
            assertTrue(e.message!!.contains("java.lang.String"), e.message)
            assertFalse("k" in s)
            assertEquals(0L, s.memoryMetrics.currentUsage)
            // A CostedObject is not a bytes loader's result either (it would be cached as an object).
            val o = assertThrows<NexusException> { s.getOrLoad("k".encodeToByteArray(), bytesLoader(CostedObject(Any(), 10))) }
            assertEquals(NexusStatus.INVALID_ARGUMENT, o.status)
            assertTrue(o.message!!.contains("io.nexusstore.CostedObject"), o.message)
            assertFalse("k" in s)
            // The key still loads with a proper loader.
            assertEquals(3, s.getOrLoad("k") { ByteArray(3) }!!.size)
            assertEquals(base, NativeBridge.liveObjectRefs())
        }
    }

    @Test
    fun `an object loader returning something else than a CostedObject fails the load`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1_000_000)).use { s ->
            val base = NativeBridge.liveObjectRefs()
            val str = assertThrows<NexusException> { s.getOrLoadObject("k".encodeToByteArray(), objectLoader("a String")) }
            assertEquals(NexusStatus.INVALID_ARGUMENT, str.status)
            assertTrue(str.message!!.contains("java.lang.String"), str.message)
            val boxed = assertThrows<NexusException> { s.getOrLoadObject("k".encodeToByteArray(), objectLoader(42)) }
            assertEquals(NexusStatus.INVALID_ARGUMENT, boxed.status)
            assertTrue(boxed.message!!.contains("java.lang.Integer"), boxed.message)
            // Bytes from an object loader were cached as bytes before (then refused as "the value is bytes").
            val bytes = assertThrows<NexusException> { s.getOrLoadObject("k".encodeToByteArray(), objectLoader(ByteArray(4))) }
            assertEquals(NexusStatus.INVALID_ARGUMENT, bytes.status)
            assertTrue(bytes.message!!.contains("byte[]"), bytes.message)
            assertFalse("k" in s)
            assertEquals(base, NativeBridge.liveObjectRefs())
            assertEquals("v", s.getOrLoadObject("k") { CostedObject("v", 10) })
        }
    }

    /** The String-key overloads (the README example's) report it the same way (audit 8: CALLBACK). */
    @Test
    fun `with a String key a loader result of the wrong type is INVALID_ARGUMENT too`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1_000_000)).use { s ->
            @Suppress("UNCHECKED_CAST")
            val bytes = ({ _: String -> "not bytes" } as Any) as (String) -> ByteArray?
            val b = assertThrows<NexusException> { s.getOrLoad("k", bytes) }
            assertEquals(NexusStatus.INVALID_ARGUMENT, b.status)
            assertTrue(b.message!!.contains("java.lang.String"), b.message)
            @Suppress("UNCHECKED_CAST")
            val objects = ({ _: String -> 42 } as Any) as (String) -> CostedObject?
            val o = assertThrows<NexusException> { s.getOrLoadObject("k", objects) }
            assertEquals(NexusStatus.INVALID_ARGUMENT, o.status)
            assertTrue(o.message!!.contains("java.lang.Integer"), o.message)
            assertFalse("k" in s)
            // The String key still loads, and its loader sees the key.
            assertEquals("k", s.getOrLoad("k") { key -> key.encodeToByteArray() }!!.decodeToString())
            assertEquals("v:j", s.getOrLoadObject("j") { key -> CostedObject("v:$key", 10) })
        }
    }

    @Test
    fun `waiters of a load whose result has the wrong type get the same failure`() {
        NexusStore(MemoryConfig(maxCacheBytes = 1_000_000)).use { s ->
            val pool = Executors.newFixedThreadPool(4)
            val started = java.util.concurrent.CountDownLatch(1)
            val slow = bytesLoaderOf { started.countDown(); Thread.sleep(200); Any() }
            val first = pool.submit<Any?> { s.getOrLoad("w".encodeToByteArray(), slow) }
            started.await(10, TimeUnit.SECONDS)
            val waiters = (0 until 3).map { pool.submit<Any?> { s.getOrLoad("w") { ByteArray(1) } } }
            assertTrue(runCatching { first.get(10, TimeUnit.SECONDS) }.isFailure, "the loading caller failed")
            for (f in waiters + first) {
                val failure = runCatching { f.get(10, TimeUnit.SECONDS) }.exceptionOrNull()
                // A waiter that arrived after the failed load ran its own loader (1 byte).
                if (failure == null) continue
                val e = failure.cause as NexusException
                assertEquals(NexusStatus.INVALID_ARGUMENT, e.status)
                assertTrue(e.message!!.contains("java.lang.Object"), e.message)
            }
            pool.shutdown()
        }
    }
}
