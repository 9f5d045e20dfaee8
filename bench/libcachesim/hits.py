"""Writes one libCacheSim algorithm's outcome at each request of an oracleGeneral
trace (one byte per request, 1 for a hit), to compare it request by request
with ours (nexus-w2-tune's NEXUS_W2_HITS).

usage: hits.py TRACE.oracleGeneral.bin CACHE_SIZE ALGO OUT
"""
import sys, numpy as np, libcachesim as lcs
path, size, alg, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
dt = np.dtype([('t','<u4'),('id','<u8'),('sz','<u4'),('nxt','<i8')])
a = np.fromfile(path, dtype=dt)
mk = {"S3-FIFO": lambda n: lcs.S3FIFO(n), "LRU": lambda n: lcs.LRU(n), "W-TinyLFU": lambda n: lcs.WTinyLFU(n), "ARC": lambda n: lcs.ARC(n)}[alg]
c = mk(size)
hits = np.zeros(len(a), dtype=np.uint8)
req = lcs.Request()
for i in range(len(a)):
    req.obj_id = int(a['id'][i]); req.obj_size = int(a['sz'][i]); req.clock_time = int(a['t'][i]); req.next_access_vtime = int(a['nxt'][i])
    hits[i] = 1 if c.get(req) else 0
hits.tofile(out)
print(alg, hits.mean())
