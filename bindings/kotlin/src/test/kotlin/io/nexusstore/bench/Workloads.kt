package io.nexusstore.bench

/** SplitMix64 and the scrambled Zipf streams of bench/src/rng.rs, ported: the same key streams. */
class Rng(private var state: Long) {
    fun nextLong(): Long {
        state += -0x61c8864680b583ebL // 0x9e3779b97f4a7c15
        return mix64(state)
    }

    /** Uniform in [0, 1). */
    fun nextDouble(): Double = (nextLong() ushr 11).toDouble() * (1.0 / (1L shl 53).toDouble())

    fun shuffle(a: IntArray) {
        for (i in a.size - 1 downTo 1) {
            val j = below(i.toLong() + 1).toInt()
            val t = a[i]; a[i] = a[j]; a[j] = t
        }
    }

    /** Uniform in [0, n): ((u128(next) * n) >> 64), next taken as unsigned, n >= 0. */
    fun below(n: Long): Long {
        val x = nextLong()
        val hi = Math.multiplyHigh(x, n)
        return if (x < 0) hi + n else hi
    }
}

fun mix64(z0: Long): Long {
    var z = z0
    z = (z xor (z ushr 30)) * -0x40a7b892e31b1a47L // 0xbf58476d1ce4e5b9
    z = (z xor (z ushr 27)) * -0x6b2fb644ecceee15L // 0x94d049bb133111eb
    return z xor (z ushr 31)
}

/** Zipf(s) over ranks 0..n, each rank mapped to a key id by a fixed random permutation. */
class ScrambledZipf(n: Int, s: Double, permSeed: Long) {
    private val perm = IntArray(n) { it }.also { Rng(permSeed).shuffle(it) }
    private val cdf = DoubleArray(n).also { c ->
        var sum = 0.0
        for (r in 1..n) {
            sum += 1.0 / Math.pow(r.toDouble(), s)
            c[r - 1] = sum
        }
        for (i in c.indices) c[i] /= sum
    }

    private fun sample(rng: Rng): Int {
        val u = rng.nextDouble()
        var lo = 0
        var hi = cdf.size
        while (lo < hi) { // partition_point(c <= u)
            val mid = (lo + hi) ushr 1
            if (cdf[mid] <= u) lo = mid + 1 else hi = mid
        }
        return minOf(lo, cdf.size - 1)
    }

    fun stream(len: Int, seed: Long): IntArray {
        val rng = Rng(seed)
        return IntArray(len) { perm[sample(rng)] }
    }
}

fun median(xs: List<Double>): Double {
    val s = xs.sorted()
    return if (s.size % 2 == 1) s[s.size / 2] else (s[s.size / 2 - 1] + s[s.size / 2]) / 2
}
