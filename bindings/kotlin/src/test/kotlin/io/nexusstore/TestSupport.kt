package io.nexusstore

/** Entry charge under the default estimator: key + value + NEXUS_ENTRY_OVERHEAD_BYTES. */
val OVERHEAD: Long = NexusStore.entryOverheadBytes

fun charge(key: String, valueLen: Int): Long = key.encodeToByteArray().size + valueLen + OVERHEAD

/** Runs the GC until [condition] holds (reclaiming is asynchronous); false if it never did. */
fun gcUntil(condition: () -> Boolean): Boolean {
    repeat(500) {
        if (condition()) return true
        System.gc()
        Thread.sleep(10)
    }
    return condition()
}
