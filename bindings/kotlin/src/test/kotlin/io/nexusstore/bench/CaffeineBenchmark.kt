package io.nexusstore.bench

import com.github.benmanes.caffeine.cache.Cache
import com.github.benmanes.caffeine.cache.Caffeine
import io.nexusstore.EvictionStrategy
import io.nexusstore.MemoryConfig
import io.nexusstore.NexusStore
import java.io.File
import java.util.concurrent.CyclicBarrier
import kotlin.math.ceil

/**
 * nexus_store through the Kotlin wrapper (JNI) beside Caffeine, on the W1 and W2 workloads of
 * bench/ (make bench-kotlin). W1: 2^15 keys, scrambled Zipf(0.99) streams, every read a hit,
 * mixes 100/0, 75/25, 0/100, 1 and 2 threads, u64 keys (8-byte arrays for nexus, boxed Longs for
 * Caffeine) and 24-byte String keys; 8-byte values. Reported per cell: the median over rounds of
 * nexus Mops/s / Caffeine Mops/s, each ratio within one round (order rotated per round). W2: hit
 * ratios of get-then-put-on-miss over scrambled Zipf traces and a looping scan, caches of 1% and
 * 10% of the keys, nexus's budget chosen so that it holds exactly that many entries. nexus runs
 * with one shard and with 16 (MemoryConfig.shards) in W1; LRU, LFU, LFU with history and TINY_LFU in W2.
 */
fun main(args: Array<String>) {
    val quick = "--quick" in args || System.getenv("NEXUS_BENCH_QUICK") == "1"
    val out = StringBuilder()
    fun say(line: String) {
        println(line)
        out.append(line).append('\n')
    }
    say("# nexus_store (Kotlin/JNI) beside Caffeine ${Caffeine::class.java.`package`.implementationVersion ?: ""}")
    say("")
    say("JVM ${System.getProperty("java.version")}, ${Runtime.getRuntime().availableProcessors()} CPUs; nexus ${NexusStore.version}.")
    say("")
    w1(if (quick) 100_000 else 400_000, if (quick) 3 else 7, ::say)
    say("")
    w2(if (quick) 10_000 else 100_000, if (quick) 100_000 else 1_000_000, ::say)
    File("target/bench-kotlin.md").writeText(out.toString())
}

// ---- W1 ----------------------------------------------------------------------------------

private const val SLOTS = 1 shl 15
private const val WRITE = 1 shl 31

private interface Contender {
    fun get(i: Int): Boolean
    fun put(i: Int)
}

private class NexusBytes(private val store: NexusStore, private val keys: Array<ByteArray>, private val values: Array<ByteArray>) : Contender {
    override fun get(i: Int) = store[keys[i]] != null
    override fun put(i: Int) = store.put(keys[i], values[i])
}

private class NexusStrings(private val store: NexusStore, private val keys: Array<String>, private val values: Array<ByteArray>) : Contender {
    override fun get(i: Int) = store[keys[i]] != null
    override fun put(i: Int) = store.put(keys[i], values[i])
}

private class CaffeineOf<K : Any>(private val cache: Cache<K, ByteArray>, private val keys: Array<K>, private val values: Array<ByteArray>) : Contender {
    override fun get(i: Int) = cache.getIfPresent(keys[i]) != null
    override fun put(i: Int) = cache.put(keys[i], values[i])
}

@Volatile
private var sink = 0L

/** Runs each thread's ops at once; Mops/s. */
private fun runOnce(c: Contender, streams: List<IntArray>): Double {
    val barrier = CyclicBarrier(streams.size + 1)
    val threads = streams.map { ops ->
        Thread {
            barrier.await()
            var misses = 0L
            for (op in ops) {
                val i = op and WRITE.inv()
                if (op and WRITE != 0) c.put(i) else if (!c.get(i)) misses++
            }
            sink += misses
        }.also { it.start() }
    }
    barrier.await()
    val t0 = System.nanoTime()
    threads.forEach { it.join() }
    val seconds = (System.nanoTime() - t0) / 1e9
    return streams.sumOf { it.size } / seconds / 1e6
}

private fun w1(opsPerThread: Int, rounds: Int, say: (String) -> Unit) {
    val zipf = ScrambledZipf(SLOTS, 0.99, 0x5EED)
    val keyStreams = (0 until 2).map { zipf.stream(opsPerThread, 1000L + it) }
    val values = Array(SLOTS) { ByteArray(8) { b -> (it ushr (8 * b)).toByte() } }
    val u64Keys = Array(SLOTS) { slot -> mix64(slot + 1L) }
    val u64Bytes = Array(SLOTS) { slot -> ByteArray(8) { b -> (u64Keys[slot] ushr (8 * b)).toByte() } }
    val strKeys = Array(SLOTS) { slot -> "user:" + java.lang.Long.remainderUnsigned(mix64(slot.toLong()), 10_000_000_000_000_000_000uL.toLong()).toString().padStart(19, '0') }
    say("## W1 throughput: nexus / Caffeine (median of $rounds rounds, $opsPerThread ops per thread)")
    say("")
    say("| keys | mix (read/write) | threads | nexus Mops/s | nexus 16 shards | Caffeine Mops/s | nexus / Caffeine | 16 shards / Caffeine |")
    say("|---|---|---|---|---|---|---|---|")
    for (kind in listOf("u64", "str24")) {
        for (reads in listOf(100, 75, 0)) {
            for (threads in listOf(1, 2)) {
                val streams = (0 until threads).map { t ->
                    val rng = Rng(0x3D1L xor ((t + 1L) * 0x51))
                    IntArray(opsPerThread) { i -> keyStreams[t][i] or (if (rng.below(100) < reads) 0 else WRITE) }
                }
                // Budgets with room to spare: every key stays (every read hits).
                val stores = listOf(1, 16).map { NexusStore(MemoryConfig(maxCacheBytes = 6L * SLOTS * 200, shards = it)) }
                val contenders: List<Contender> = if (kind == "u64") {
                    val boxed = Array(SLOTS) { u64Keys[it] }
                    stores.map { NexusBytes(it, u64Bytes, values) } +
                        CaffeineOf(Caffeine.newBuilder().maximumSize(2L * SLOTS).build(), boxed, values)
                } else {
                    stores.map { NexusStrings(it, strKeys, values) } +
                        CaffeineOf(Caffeine.newBuilder().maximumSize(2L * SLOTS).build(), strKeys, values)
                }
                for (c in contenders) {
                    for (i in 0 until SLOTS) c.put(i)
                    check((0 until SLOTS).all { c.get(it) }) { "a read missed after the fill" }
                    runOnce(c, streams) // warm-up (JIT)
                }
                val mops = contenders.map { ArrayList<Double>() }
                repeat(rounds) { r ->
                    // Rotate the order each round, so drift on a shared machine hits all alike.
                    for (k in contenders.indices) {
                        val c = (k + r) % contenders.size
                        mops[c] += runOnce(contenders[c], streams)
                    }
                }
                for (store in stores) {
                    check(store.memoryMetrics.entryCount == SLOTS.toLong()) { "nexus lost keys" }
                    store.close()
                }
                val caffeine = mops[2]
                val ratio = { m: List<Double> -> median(m.zip(caffeine) { a, b -> a / b }) }
                say(
                    "| $kind | $reads/${100 - reads} | $threads | ${"%.2f".format(median(mops[0]))} | ${"%.2f".format(median(mops[1]))} | " +
                        "${"%.2f".format(median(caffeine))} | ${"%.2f".format(ratio(mops[0]))} | ${"%.2f".format(ratio(mops[1]))} |",
                )
            }
        }
    }
}

// ---- W2 ----------------------------------------------------------------------------------

/** The smallest budget whose working size (ceil(0.7 x max)) holds exactly [capacity] entries of [charge] bytes. */
private fun nexusMaxFor(capacity: Int, charge: Long): Long {
    val working = { max: Long -> ceil(max * 0.7).toLong() }
    var max = (capacity * charge / 0.7).toLong() - 2 * charge
    while ((working(max) + charge - 1) / charge - 1 < capacity) max++ // entries held: ceil(working/charge) - 1
    return max
}

private fun w2(keys: Int, traceLen: Int, say: (String) -> Unit) {
    say("## W2 hit ratio (get, then put on a miss; $keys keys, $traceLen accesses)")
    say("")
    say("| trace | cache | nexus LRU | nexus LFU | nexus LFU+history | nexus TINY_LFU | Caffeine (W-TinyLFU) | best nexus / Caffeine |")
    say("|---|---|---|---|---|---|---|---|")
    val keyBytes = Array(keys) { k -> ByteArray(8) { b -> (mix64(k + 0xABCDL) ushr (8 * b)).toByte() } }
    val boxed = Array(keys) { mix64(it + 0xABCDL) }
    val value = ByteArray(8)
    val charge = 8L + 8 + NexusStore.entryOverheadBytes // key + value + overhead
    // As bench/src/w2_hit_ratio.rs: the same seeds, and a loop over a fifth of the keys in a
    // fixed shuffled order (larger than both caches).
    val traces = listOf(0.7, 0.9, 0.99, 1.2).mapIndexed { i, s -> "Zipf $s" to ScrambledZipf(keys, s, 77L + i).stream(traceLen, 99L + i) } +
        listOf("loop scan (${keys / 5} keys)" to IntArray(keys / 5) { it }.also { Rng(5).shuffle(it) }.let { order -> IntArray(traceLen) { order[it % order.size] } })
    for ((name, trace) in traces) {
        for (pct in listOf(1, 10)) {
            val capacity = keys * pct / 100
            val configs = listOf(
                EvictionStrategy.LRU to false,
                EvictionStrategy.LFU to false,
                EvictionStrategy.LFU to true,
                EvictionStrategy.TINY_LFU to false,
            )
            val ratios = configs.map { (strategy, history) ->
                NexusStore(MemoryConfig(maxCacheBytes = nexusMaxFor(capacity, charge), strategy = strategy, lfuHistory = history)).use { store ->
                    var hits = 0
                    for (id in trace) {
                        if (store[keyBytes[id]] != null) hits++ else store.put(keyBytes[id], value)
                    }
                    check(store.memoryMetrics.entryCount == capacity.toLong()) {
                        "nexus held ${store.memoryMetrics.entryCount}, not $capacity"
                    }
                    hits.toDouble() / trace.size
                }
            }
            val cache: Cache<Long, ByteArray> = Caffeine.newBuilder().maximumSize(capacity.toLong()).executor(Runnable::run).build()
            var hits = 0
            for (id in trace) {
                if (cache.getIfPresent(boxed[id]) != null) hits++ else cache.put(boxed[id], value)
            }
            val caffeine = hits.toDouble() / trace.size
            val best = if (caffeine > 0) "%.3f".format(ratios.max() / caffeine) else "-"
            say("| $name | $pct% ($capacity) | ${ratios.joinToString(" | ") { "%.4f".format(it) }} | ${"%.4f".format(caffeine)} | $best |")
        }
    }
}
