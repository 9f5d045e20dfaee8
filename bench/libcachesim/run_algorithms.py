"""Runs libCacheSim's algorithms (from the libcachesim wheel, installed only in
the bench's own venv) on one trace that nexus-bench wrote in libCacheSim's
oracleGeneral format, and prints one line per algorithm: `NAME HIT_RATIO`
(object hits / requests, cold misses counted; with sizes, the byte hit ratio
too: `NAME HIT_RATIO BYTE_HIT_RATIO`).

usage: run_algorithms.py TRACE.oracleGeneral.bin CACHE_SIZE [ALGO...]
CACHE_SIZE is in the trace's size unit (entries when every size is 1).
"""
import sys

import libcachesim as lcs

ALGORITHMS = {
    "LRU": lambda n: lcs.LRU(n),
    "ARC": lambda n: lcs.ARC(n),
    "LIRS": lambda n: lcs.LIRS(n),
    "2Q": lambda n: lcs.TwoQ(n),
    "W-TinyLFU": lambda n: lcs.WTinyLFU(n),
    "S3-FIFO": lambda n: lcs.S3FIFO(n),
    "SIEVE": lambda n: lcs.Sieve(n),
    "Belady": lambda n: lcs.Belady(n),
}


def main():
    path, size = sys.argv[1], int(sys.argv[2])
    names = sys.argv[3:] or list(ALGORITHMS)
    for name in names:
        reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
        cache = ALGORITHMS[name](size)
        miss, byte_miss = cache.process_trace(reader)
        print(f"{name} {1.0 - miss:.6f} {1.0 - byte_miss:.6f}", flush=True)


if __name__ == "__main__":
    main()
