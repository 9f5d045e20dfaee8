package io.nexusstore

import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

/** The README's Kotlin example, verbatim between the markers. */
class ReadmeExampleTest {
    private fun downloadThumbnail(url: String): ByteArray = url.encodeToByteArray()

    private class Texture(val bytes: Int)

    @Test
    fun `the README example runs`() = runBlocking {
        val evicted = mutableListOf<String>()
        // README-BEGIN
        NexusStore(MemoryConfig(maxCacheBytes = 64L shl 20, strategy = EvictionStrategy.LRU)).use { store ->
            store.setEvictionListener { key, reason, _ -> evicted += "${key.decodeToString()}:$reason" }

            store.put("logo", downloadThumbnail("logo.png"))
            store.pin("logo")                                    // never evicted, still counted
            store.putObject("tex:hero", Texture(4096), cost = 4096)   // a JVM object, charged 4 KiB

            // One load however many threads miss at once; a thrown exception reaches them all.
            val thumb = store.getOrLoad("thumb:42") { key -> downloadThumbnail(key) }

            store.signalPressure(MemoryPressureLevel.CRITICAL)   // what onTrimMemory does
            store.pressureLevels.first { it == MemoryPressureLevel.CRITICAL }   // suspends until then
            check(store["logo"] != null)                         // the pin held
            store.signalPressure(MemoryPressureLevel.NONE)       // the budget comes back

            println("${thumb?.size} bytes; ${store.memoryMetrics.entryCount} entries; evicted $evicted")
        }                                                        // close(): objects released
        // README-END
        // CRITICAL keeps half of the usage: the least recently used entry, the texture, went.
        assertEquals(listOf("tex:hero:PRESSURE"), evicted)
    }

    @Test
    fun `the README shows this test's example as it is`() {
        val source = File("src/test/kotlin/io/nexusstore/ReadmeExampleTest.kt").readText()
        val example = source.substringAfter("// README-BEGIN\n").substringBefore("        // README-END")
            .trimEnd('\n').lines().joinToString("\n") { it.removePrefix("        ") }
        val readme = File("../../README.md").readText()
        assertTrue(readme.contains("```kotlin\n$example\n```"), "README.md's Kotlin example differs from ReadmeExampleTest")
    }
}
