//! `nexus-profile`: one operation in a loop, for an instruction count under
//! callgrind (speed is measured by `nexus-bench`; this only shows where the
//! instructions of one call go).
//!
//! ```text
//! cargo build --release -p nexus-store-bench
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/nexus-profile get-copy 1048576
//! callgrind_annotate --inclusive=yes cg.out | grep nexus_store_get_copy
//! ```
//!
//! Every mode fills a store (or an `lru` cache) with 32768 u64 keys, then
//! runs `ops` calls on keys drawn from a fixed skewed stream, all hits:
//!
//! - `get-copy`: `nexus_store_get_copy` (C ABI, 8-byte keys and values);
//! - `put-copy`: `nexus_store_put` replacing present keys (C ABI, 8-byte
//!   keys and values, default estimator);
//! - `get`: `Store::get_cloned` (native, u64 -> u64);
//! - `put`: `Store::put` replacing present keys (native);
//! - `put-governed`: `put` as above, the store in a governor with two other
//!   stores (4 shards each) under a budget that holds them all;
//! - `put-new`: `Store::put` of new keys into a store full at 32768
//!   entries, so each put also evicts one (native);
//! - `get-copy-str24`: `get-copy` with 24-byte keys ("user:" and 19
//!   digits, as in W1);
//! - `load-miss`: `nexus_store_get_or_load` of an absent key (C ABI,
//!   8-byte keys): the loader gives an 8-byte value through its sink
//!   (`nexus_load_sink_put_bytes`), which is cached; the key is removed
//!   again outside the measured call, so every call misses;
//! - `load-hit`: `nexus_store_get_or_load` of a present key (C ABI, 8-byte
//!   keys and values; the loader registered, never called);
//! - `lru-get`: `lru::LruCache::get` behind a `parking_lot::Mutex`;
//! - `lru-get-str24`: `lru-get` with those 24-byte keys (`Box<[u8]>`).
//!
//! Divide the inclusive count of the call by `ops` (the fill is outside it),
//! or count only inside `measured` (what `nexus-bench` does for its
//! instruction-count table):
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --toggle-collect='nexus_profile::measured*' \
//!     target/release/nexus-profile put-copy 100000
//! ```
//! The native modes take the strategy as a third argument (`lru`, `lfu`,
//! `size`, `tiny_lfu`; default `lru`), to compare strategies' costs:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=cg.tiny \
//!     target/release/nexus-profile get 1048576 tiny_lfu
//! callgrind_annotate --inclusive=yes cg.tiny | grep 'Store<K,V>>::get_cloned'
//! ```
//!
//! Every mode's store has one shard, or `NEXUS_PROFILE_SHARDS` of them
//! (16 in W1's sharded contender: there an LRU read is noted and applied
//! later, in batches of 8, which callgrind shows as `apply_reads`).

use std::hint::black_box;
use std::process::ExitCode;

use nexus_store::ffi::{
    NEXUS_STATUS_OK, NexusLoadSink, NexusMemoryConfig, NexusStatus, nexus_load_sink_put_bytes,
    nexus_memory_config_init, nexus_store_free, nexus_store_get_copy, nexus_store_get_or_load,
    nexus_store_new, nexus_store_put, nexus_store_remove, nexus_store_set_loader,
    nexus_value_release,
};
use nexus_store::{EvictionStrategy, Governor, GovernorConfig, MemberConfig, MemoryConfig, Store};

const KEYS: u64 = 32768;

/// One measured call: `nexus-bench` counts the instructions inside this
/// function only (`valgrind --tool=callgrind
/// --toggle-collect=nexus_profile::measured*`), so the fill and the loop
/// are left out.
#[inline(never)]
fn measured<R>(call: impl FnOnce() -> R) -> R {
    call()
}

fn keys(ops: usize) -> Vec<u64> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..ops)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Cubing a uniform draw skews it toward low keys.
            let r = (x >> 11) as f64 / (1u64 << 53) as f64;
            (r * r * r * KEYS as f64) as u64
        })
        .collect()
}

/// The 24-byte key of `k` in the `-str24` modes: "user:" and 19 digits, as
/// in `nexus-bench`'s W1.
fn str24(k: u64) -> [u8; 24] {
    let s = format!(
        "user:{:019}",
        k.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 10_000_000_000_000_000_000
    );
    s.into_bytes().try_into().expect("24 bytes")
}

/// The stores' shard count, if `NEXUS_PROFILE_SHARDS` sets one.
fn profile_shards() -> Option<u32> {
    std::env::var("NEXUS_PROFILE_SHARDS")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// A C ABI store (default estimator, 1 GiB) filled with `KEYS` 8-byte keys.
fn c_store() -> *mut nexus_store::ffi::NexusStore {
    c_store_of(|k| k.to_le_bytes().to_vec())
}

/// A C ABI store (default estimator, 1 GiB) filled with the `KEYS` keys
/// `key` makes, each with an 8-byte value.
fn c_store_of(key: impl Fn(u64) -> Vec<u8>) -> *mut nexus_store::ffi::NexusStore {
    let mut config = std::mem::MaybeUninit::<NexusMemoryConfig>::uninit();
    nexus_memory_config_init(config.as_mut_ptr());
    // SAFETY: nexus_memory_config_init wrote every field.
    let mut config = unsafe { config.assume_init() };
    config.max_cache_bytes = 1 << 30;
    if let Some(n) = profile_shards() {
        config.shards = n;
    }
    let mut store = std::ptr::null_mut();
    assert_eq!(nexus_store_new(&config, &mut store), NEXUS_STATUS_OK);
    for k in 0..KEYS {
        let key = key(k);
        let value = k.to_le_bytes();
        let status = nexus_store_put(store, key.as_ptr(), key.len(), value.as_ptr(), 8);
        assert_eq!(status, NEXUS_STATUS_OK);
    }
    store
}

/// `get-copy` and `get-copy-str24`: hits through `nexus_store_get_copy`
/// on a store filled with the `KEYS` keys `key` makes (its length is a
/// constant, as a caller's usually is).
fn get_copy<const N: usize>(stream: &[u64], key: impl Fn(u64) -> [u8; N]) {
    let store = c_store_of(|k| key(k).to_vec());
    let keys: Vec<[u8; N]> = stream.iter().map(|&k| key(k)).collect();
    for key in &keys {
        let mut buf = [0u8; 8];
        let mut len = 0usize;
        let status = measured(|| {
            nexus_store_get_copy(
                store,
                key.as_ptr(),
                N,
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
            )
        });
        assert_eq!(status, NEXUS_STATUS_OK);
        black_box(buf);
    }
    assert_eq!(nexus_store_free(store), NEXUS_STATUS_OK);
}

fn put_copy(stream: &[u64]) {
    let store = c_store();
    for &k in stream {
        let key = k.to_le_bytes();
        let value = (k + 1).to_le_bytes();
        let status = measured(|| nexus_store_put(store, key.as_ptr(), 8, value.as_ptr(), 8));
        assert_eq!(status, NEXUS_STATUS_OK);
    }
    assert_eq!(nexus_store_free(store), NEXUS_STATUS_OK);
}

/// The `load-*` modes' loader: the key's 8 bytes as its value.
unsafe extern "C" fn load_key(
    _ctx: *mut std::ffi::c_void,
    key: *const u8,
    key_len: usize,
    sink: *mut NexusLoadSink,
) -> NexusStatus {
    nexus_load_sink_put_bytes(sink, key, key_len)
}

/// `load-miss` (`miss`) and `load-hit`: `nexus_store_get_or_load` on the
/// filled C ABI store with `load_key` registered.
fn get_or_load(stream: &[u64], miss: bool) {
    let store = c_store();
    let status = nexus_store_set_loader(store, Some(load_key), std::ptr::null_mut(), None);
    assert_eq!(status, NEXUS_STATUS_OK);
    for &k in stream {
        // Absent keys for the misses: beyond the filled ones.
        let key = if miss { KEYS + k } else { k }.to_le_bytes();
        let mut value = std::ptr::null_mut();
        let status = measured(|| nexus_store_get_or_load(store, key.as_ptr(), 8, &mut value));
        assert_eq!(status, NEXUS_STATUS_OK);
        nexus_value_release(value);
        if miss {
            assert_eq!(nexus_store_remove(store, key.as_ptr(), 8), NEXUS_STATUS_OK);
        }
    }
    assert_eq!(nexus_store_free(store), NEXUS_STATUS_OK);
}

/// A store of `KEYS` entries charged 1. `full`: its budget's working size
/// holds exactly `KEYS` (a put of a new key evicts one), else 1 GiB.
fn native(strategy: EvictionStrategy, full: bool) -> Store<u64, u64> {
    // Working size ceil(0.7 x max) = KEYS + 1 (see nexus-bench's W2).
    let max = if full {
        ((KEYS + 1) as f64 / 0.7).floor() as u64
    } else {
        1 << 30
    };
    let config = MemoryConfig {
        strategy,
        shards: profile_shards().unwrap_or(1),
        ..MemoryConfig::with_max_bytes(max)
    };
    let store = Store::with_estimator(config, |_: &u64, _: &u64| 1u64).expect("a valid config");
    for k in 0..KEYS {
        store.put(k, k).expect("room for every key");
    }
    store
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let ops: usize = match args.next().map(|a| a.parse()) {
        None => 1 << 20,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!(
                "usage: nexus-profile get-copy|get-copy-str24|put-copy|load-miss|load-hit|get|put|put-governed|put-new|clear|lru-get|lru-get-str24 [ops] [strategy]"
            );
            return ExitCode::FAILURE;
        }
    };
    let strategy = match args.next().as_deref() {
        None | Some("lru") => EvictionStrategy::Lru,
        Some("lfu") => EvictionStrategy::Lfu,
        Some("size") => EvictionStrategy::Size,
        Some("tiny_lfu") => EvictionStrategy::TinyLfu,
        Some(other) => {
            eprintln!("unknown strategy {other}: lru, lfu, size or tiny_lfu");
            return ExitCode::FAILURE;
        }
    };
    let stream = keys(ops);
    match mode.as_str() {
        "get-copy" => get_copy(&stream, u64::to_le_bytes),
        "get-copy-str24" => get_copy(&stream, str24),
        "put-copy" => put_copy(&stream),
        "load-miss" => get_or_load(&stream, true),
        "load-hit" => get_or_load(&stream, false),
        "get" => {
            let store = native(strategy, false);
            for k in &stream {
                assert!(black_box(measured(|| store.get_cloned(k))).is_some());
            }
        }
        "put" => {
            let store = native(strategy, false);
            for &k in &stream {
                measured(|| store.put(k, k + 1)).expect("a replace fits");
            }
        }
        "put-governed" => {
            // The store and two others (4 shards each, 100 entries each)
            // in one governor whose budget holds them all: a put sheds
            // nothing, the governor only checks.
            let governor = Governor::new(GovernorConfig::with_budget(1 << 40)).expect("valid");
            let store = native(strategy, false);
            let others: Vec<Store<u64, u64>> = (0..2)
                .map(|_| {
                    let config = MemoryConfig {
                        shards: 4,
                        ..MemoryConfig::with_max_bytes(1 << 30)
                    };
                    let s = Store::with_estimator(config, |_: &u64, _: &u64| 1u64).expect("valid");
                    for k in 0..100 {
                        s.put(k, k).expect("room");
                    }
                    s
                })
                .collect();
            for (i, s) in std::iter::once(&store).chain(&others).enumerate() {
                governor
                    .join(s, MemberConfig::with_priority(i as u32))
                    .expect("joins");
            }
            for &k in &stream {
                measured(|| store.put(k, k + 1)).expect("a replace fits");
            }
        }
        "put-new" => {
            let store = native(strategy, true);
            assert_eq!(store.metrics().entry_count, KEYS);
            for (i, &k) in stream.iter().enumerate() {
                // New keys, mostly (a skewed stream over a growing range).
                measured(|| store.put(KEYS + k + i as u64 / 4, k)).expect("a put evicts to fit");
            }
            assert_eq!(store.metrics().entry_count, KEYS);
        }
        "clear" => {
            // `ops` entries read once in a scrambled order (no recency
            // follows allocation), 1% pinned, then one clear_unpinned:
            // divide by the entries it evicts.
            let config = MemoryConfig {
                strategy,
                ..MemoryConfig::with_max_bytes(1 << 40)
            };
            let store = Store::with_estimator(config, |_: &u64, _: &u64| 1u64).expect("valid");
            let n = ops as u64;
            for k in 0..n {
                store.put(k, k).expect("room");
            }
            for i in 0..n {
                let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % n;
                black_box(store.get_cloned(&k));
            }
            for k in (0..n).step_by(100) {
                store.pin(&k);
            }
            let evicted = measured(|| store.clear_unpinned());
            println!("clear: {evicted} evicted");
        }
        "lru-get" => {
            let cache = parking_lot::Mutex::new(lru::LruCache::<u64, u64>::unbounded());
            for k in 0..KEYS {
                cache.lock().put(k, k);
            }
            for k in &stream {
                assert!(black_box(measured(|| cache.lock().get(k).copied())).is_some());
            }
        }
        "lru-get-str24" => {
            // As the W1 peer: `Box<[u8]>` keys, looked up by `&[u8]`.
            let cache = parking_lot::Mutex::new(lru::LruCache::<Box<[u8]>, u64>::unbounded());
            for k in 0..KEYS {
                cache.lock().put(Box::from(&str24(k)[..]), k);
            }
            let keys: Vec<[u8; 24]> = stream.iter().map(|&k| str24(k)).collect();
            for key in &keys {
                let key: &[u8] = key;
                assert!(black_box(measured(|| cache.lock().get(key).copied())).is_some());
            }
        }
        _ => {
            eprintln!(
                "usage: nexus-profile get-copy|get-copy-str24|put-copy|load-miss|load-hit|get|put|put-governed|put-new|clear|lru-get|lru-get-str24 [ops] [strategy]"
            );
            return ExitCode::FAILURE;
        }
    }
    println!("{mode}: {ops} calls");
    ExitCode::SUCCESS
}
