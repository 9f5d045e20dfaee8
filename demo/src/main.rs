//! The main demo of nexus_store (`make demo`, i.e.
//! `cargo run --release -p nexus-store-demo`). Its own crate, so running it
//! builds the library and nothing of the tests' dependencies.
//!
//! It simulates an app's image cache for 60 seconds of simulated time: a
//! catalogue of 10,000 images of varied sizes, read with a Zipf-skewed
//! popularity through `get_or_load` (a loader "decodes" an image on a miss),
//! under a 64 MiB budget, with five pinned "UI chrome" images and the OS
//! signalling memory pressure at set moments. It prints a live timeline, a
//! summary, and writes an SVG chart of the usage to `target/demo/usage.svg`.
//!
//! Everything is deterministic: the random numbers come from a seeded
//! splitmix64 generator and the store runs on a `ManualClock`, so the same
//! seed gives byte-identical output and SVG on every run.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use nexus_store::{
    Clock, Error, ErrorKind, Event, EventKind, EventMask, EvictionReason, Loaded, ManualClock,
    MemoryConfig, MemoryMetrics, MemoryPressureLevel, Store, ValueHandle,
};

// ---- the scenario -----------------------------------------------------------

const SEED: u64 = 0x6E65_7875_735F_7374; // "nexus_st"
const IMAGE_COUNT: u32 = 10_000;
const MEDIAN_IMAGE_BYTES: f64 = 64.0 * 1024.0;
const IMAGE_SIZE_SIGMA: f64 = 1.1;
const MIN_IMAGE_BYTES: f64 = 4.0 * 1024.0;
const MAX_IMAGE_BYTES: f64 = 2.0 * 1024.0 * 1024.0;
const ZIPF_EXPONENT: f64 = 0.9;

const BUDGET_BYTES: u64 = 64 << 20;
const CHROME_IMAGES: u32 = 5;
const CHROME_IMAGE_BYTES: u32 = 256 * 1024;
/// How many of the most recently shown images the "screen" holds handles on.
const ON_SCREEN: usize = 8;

const TICK_MS: u64 = 100;
const TICKS_PER_LINE: u64 = 10;
const SIMULATED_MS: u64 = 60_000;
const REQUESTS_PER_TICK: usize = 50;

/// When the OS signals which level (simulated milliseconds).
const PRESSURE_SCHEDULE: [(u64, MemoryPressureLevel); 4] = [
    (15_000, MemoryPressureLevel::Moderate),
    (25_000, MemoryPressureLevel::Critical),
    (35_000, MemoryPressureLevel::Emergency),
    (45_000, MemoryPressureLevel::None),
];

const MIB: f64 = 1024.0 * 1024.0;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// The working size and the critical threshold of the demo's budget, in
/// bytes, rounded up as the store rounds them.
fn thresholds() -> (u64, u64) {
    let config = MemoryConfig::with_max_bytes(BUDGET_BYTES);
    let at = |fraction: f64| (BUDGET_BYTES as f64 * fraction).ceil() as u64;
    (at(config.moderate_threshold), at(config.critical_threshold))
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

// ---- deterministic randomness -------------------------------------------------

/// splitmix64: tiny, fast, and good enough for a simulation.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Log-normal sizes around the median, clamped to 4 KiB..2 MiB.
fn image_sizes(rng: &mut SplitMix64) -> Vec<u32> {
    (0..IMAGE_COUNT)
        .map(|_| {
            let size = MEDIAN_IMAGE_BYTES * (IMAGE_SIZE_SIGMA * rng.next_normal()).exp();
            size.clamp(MIN_IMAGE_BYTES, MAX_IMAGE_BYTES) as u32
        })
        .collect()
}

/// Zipf popularity over image ids: id `k` has weight `1 / (k + 1)^s`.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u32, exponent: f64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|rank| {
                total += 1.0 / f64::from(rank).powf(exponent);
                total
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= total);
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut SplitMix64) -> u32 {
        let u = rng.next_f64();
        let index = self.cdf.partition_point(|&c| c < u);
        index.min(self.cdf.len() - 1) as u32
    }
}

// ---- the cache --------------------------------------------------------------

/// A "decoded image". To keep the demo fast it holds only its size instead
/// of the pixels: the store charges `bytes` through the estimator closure
/// (see `build_store`), so the accounting is that of real pixel buffers.
#[derive(Debug)]
struct DecodedImage {
    bytes: u32,
}

type ImageStore = Store<u32, DecodedImage>;

fn chrome_ids() -> impl Iterator<Item = u32> {
    IMAGE_COUNT..IMAGE_COUNT + CHROME_IMAGES
}

fn build_store(clock: &Arc<ManualClock>) -> Result<ImageStore, Error> {
    let config = MemoryConfig::with_max_bytes(BUDGET_BYTES);
    let charge_pixels = |_: &u32, image: &DecodedImage| u64::from(image.bytes);
    let clock: Arc<dyn Clock> = clock.clone();
    Store::builder(config, charge_pixels).clock(clock).build()
}

/// The loader: "decodes" catalogue images on a miss.
fn install_loader(store: &ImageStore, sizes: Arc<Vec<u32>>) {
    store.set_loader(Some(Arc::new(move |id: &u32| {
        match sizes.get(*id as usize) {
            Some(&bytes) => Ok(Loaded::new(DecodedImage { bytes })),
            None => Err(Error::new(ErrorKind::NotFound, format!("no image {id}"))),
        }
    })));
}

/// Puts and pins the UI chrome (icons, tab bar, placeholders).
fn pin_chrome(store: &ImageStore) -> Result<(), Error> {
    for id in chrome_ids() {
        store.pin(&id);
        store.put(
            id,
            DecodedImage {
                bytes: CHROME_IMAGE_BYTES,
            },
        )?;
    }
    Ok(())
}

// ---- events -----------------------------------------------------------------

/// What the event callback saw.
#[derive(Clone, Copy, Debug, Default)]
struct EventTally {
    evicted_by_reason: [u64; EvictionReason::ALL.len()],
    eviction_runs: u64,
    level_changes: u64,
    signal_changes: u64,
}

impl EventTally {
    fn record(&mut self, event: &Event) {
        match event.kind {
            EventKind::Eviction => {
                self.evicted_by_reason[event.reason as usize] += event.count;
                self.eviction_runs += 1;
            }
            EventKind::PressureChanged => self.level_changes += 1,
            EventKind::SignalChanged => self.signal_changes += 1,
            EventKind::Dropped => {}
        }
    }

    fn evicted(&self) -> u64 {
        self.evicted_by_reason.iter().sum()
    }

    fn evicted_for(&self, reason: EvictionReason) -> u64 {
        self.evicted_by_reason[reason as usize]
    }
}

type SharedTally = Arc<Mutex<EventTally>>;

fn install_event_counter(store: &ImageStore) -> SharedTally {
    let tally = SharedTally::default();
    let sink = Arc::clone(&tally);
    store.set_event_mask(EventMask::ALL);
    store.set_event_callback(Some(Arc::new(move |event: &Event| {
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(event);
    })));
    tally
}

fn read_tally(tally: &SharedTally) -> EventTally {
    *tally.lock().unwrap_or_else(PoisonError::into_inner)
}

fn reason_name(reason: EvictionReason) -> &'static str {
    match reason {
        EvictionReason::Capacity => "capacity",
        EvictionReason::Pressure => "pressure",
        EvictionReason::Manual => "manual",
        EvictionReason::Replaced => "replaced",
        EvictionReason::Removed => "removed",
        EvictionReason::Governor => "governor",
        EvictionReason::Expired => "expired",
    }
}

// ---- the simulation -----------------------------------------------------------

/// One point of the usage chart.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at_ms: u64,
    usage: u64,
    budget_in_force: u64,
}

/// Counters at the start of a timeline line, to print what changed since.
#[derive(Clone, Copy, Debug)]
struct Mark {
    evicted: u64,
    hits: u64,
    reads: u64,
    served_uncached: u64,
}

struct Simulation {
    store: ImageStore,
    clock: Arc<ManualClock>,
    tally: SharedTally,
    rng: SplitMix64,
    popularity: Zipf,
    on_screen: VecDeque<ValueHandle<DecodedImage>>,
    served_uncached: u64,
    requests: u64,
    samples: Vec<Sample>,
    over_budget_samples: u64,
}

impl Simulation {
    fn now_ms(&self) -> u64 {
        self.clock.now_ns() / 1_000_000
    }

    fn sample(&mut self) -> MemoryMetrics {
        let m = self.store.metrics();
        if m.current_usage > m.effective_budget {
            self.over_budget_samples += 1;
        }
        self.samples.push(Sample {
            at_ms: self.now_ms(),
            usage: m.current_usage,
            budget_in_force: m.effective_budget,
        });
        m
    }

    fn mark(&self, m: &MemoryMetrics) -> Mark {
        Mark {
            evicted: read_tally(&self.tally).evicted(),
            hits: m.hit_count,
            reads: m.hit_count + m.miss_count,
            served_uncached: self.served_uncached,
        }
    }

    /// One request: the app shows image `id`, decoding it on a miss.
    fn show_image(&mut self, id: u32) {
        self.requests += 1;
        let handle = self
            .store
            .get_or_load(&id)
            .unwrap_or_else(|e| panic!("image {id} failed to load: {e}"));
        // Under EMERGENCY the decoded image is returned but not cached.
        if !self.store.contains(&id) {
            self.served_uncached += 1;
        }
        self.on_screen.push_back(handle);
        if self.on_screen.len() > ON_SCREEN {
            self.on_screen.pop_front();
        }
    }

    fn run_tick(&mut self) {
        for _ in 0..REQUESTS_PER_TICK {
            let id = self.popularity.sample(&mut self.rng);
            self.show_image(id);
        }
        self.clock.advance_ms(TICK_MS);
    }

    fn signal(&mut self, level: MemoryPressureLevel) {
        let before = self.store.metrics();
        let tally_before = read_tally(&self.tally);
        self.store.signal_pressure(level);
        let after = self.sample();
        let shed = read_tally(&self.tally).evicted_for(EvictionReason::Pressure)
            - tally_before.evicted_for(EvictionReason::Pressure);
        print_signal_line(self.now_ms(), level, &before, &after, shed);
    }

    fn run(&mut self) {
        let mut schedule = PRESSURE_SCHEDULE.iter().peekable();
        let start = self.sample();
        let mut mark = self.mark(&start);
        while self.now_ms() < SIMULATED_MS {
            while let Some(&(_, level)) = schedule.next_if(|(at, _)| *at <= self.now_ms()) {
                self.signal(level);
                // The signal line reported its evictions: the next timeline
                // line counts from here.
                let after_signal = self.store.metrics();
                mark = self.mark(&after_signal);
            }
            self.run_tick();
            let m = self.sample();
            if (self.now_ms() / TICK_MS).is_multiple_of(TICKS_PER_LINE) {
                let now = self.mark(&m);
                print_timeline_line(self.now_ms(), &m, &mark, &now);
                mark = now;
            }
        }
    }
}

// ---- the printed timeline -------------------------------------------------------

const BAR_CELLS: u64 = 32;

/// A text bar of the usage against the budget: `#` is used, `|` marks the
/// working size and the critical threshold.
fn usage_bar(usage: u64) -> String {
    let cell = BUDGET_BYTES / BAR_CELLS;
    let (working, critical) = thresholds();
    let (working_cell, critical_cell) = (working / cell, critical / cell);
    (0..BAR_CELLS)
        .map(|i| {
            if usage >= i * cell + cell / 2 {
                '#'
            } else if i == working_cell || i == critical_cell {
                '|'
            } else {
                '.'
            }
        })
        .collect()
}

fn print_header(sizes: &[u32]) {
    let total: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    let config = MemoryConfig::with_max_bytes(BUDGET_BYTES);
    println!("nexus_store demo: an app's image cache on simulated time");
    println!(
        "  catalogue  {IMAGE_COUNT} images, {:.0} KiB median, {:.0} KiB mean, {:.1} MiB max, {:.0} MiB in all",
        f64::from(sorted[sorted.len() / 2]) / 1024.0,
        total as f64 / sizes.len() as f64 / 1024.0,
        f64::from(sorted[sorted.len() - 1]) / MIB,
        mib(total),
    );
    println!(
        "  reads      Zipf s={ZIPF_EXPONENT}, {REQUESTS_PER_TICK} per {TICK_MS} ms tick through get_or_load; \
         the last {ON_SCREEN} stay on screen (held)"
    );
    println!(
        "  budget     {:.1} MiB; working size {:.1} MiB (moderate {}), critical at {:.1} MiB ({})",
        mib(BUDGET_BYTES),
        mib(BUDGET_BYTES) * config.moderate_threshold,
        config.moderate_threshold,
        mib(BUDGET_BYTES) * config.critical_threshold,
        config.critical_threshold,
    );
    println!(
        "  pinned     {CHROME_IMAGES} UI chrome images of {} KiB",
        CHROME_IMAGE_BYTES / 1024
    );
    println!(
        "  bar        one cell per {} MiB of the budget; '|' marks the working size and the critical threshold",
        (BUDGET_BYTES / BAR_CELLS) >> 20
    );
    println!();
    println!(
        "  time  usage MiB  {:<width$}  budget  level      evicted  uncached  hit% 1s  hit% all",
        "0 .. 64 MiB",
        width = BAR_CELLS as usize + 2
    );
}

fn print_timeline_line(at_ms: u64, m: &MemoryMetrics, from: &Mark, to: &Mark) {
    println!(
        "{:5.1}s  {:8.1}  [{}]  {:6.1}  {:<9}  {:7}  {:8}  {:7.1}  {:8.1}",
        at_ms as f64 / 1000.0,
        mib(m.current_usage),
        usage_bar(m.current_usage),
        mib(m.effective_budget),
        m.pressure_level.as_str(),
        to.evicted - from.evicted,
        to.served_uncached - from.served_uncached,
        percent(to.hits - from.hits, to.reads - from.reads),
        percent(to.hits, to.reads),
    );
}

fn print_signal_line(
    at_ms: u64,
    level: MemoryPressureLevel,
    before: &MemoryMetrics,
    after: &MemoryMetrics,
    shed: u64,
) {
    let what = match level {
        MemoryPressureLevel::None => format!(
            "pressure over: budget back to {:.1} MiB, the cache regrows",
            mib(after.effective_budget)
        ),
        MemoryPressureLevel::Emergency => format!(
            "shed {shed} images, {:.1} -> {:.1} MiB (pinned and on-screen only); \
             unpinned puts refused",
            mib(before.current_usage),
            mib(after.current_usage),
        ),
        _ => format!(
            "shed {shed} images, {:.1} -> {:.1} MiB; budget held at {:.1} MiB",
            mib(before.current_usage),
            mib(after.current_usage),
            mib(after.effective_budget),
        ),
    };
    println!(
        "------ {:4.1}s  OS signals {:<9}  {what}",
        at_ms as f64 / 1000.0,
        level.as_str()
    );
}

fn print_summary(sim: &Simulation, chart: &std::path::Path) {
    let m = sim.store.metrics();
    let tally = read_tally(&sim.tally);
    let chrome_ok = chrome_ids().all(|id| sim.store.contains(&id) && sim.store.is_pinned(&id))
        && sim.store.pinned_ids() == chrome_ids().collect::<Vec<_>>();
    let yes_no = |ok: bool| if ok { "yes" } else { "NO" };
    println!();
    println!(
        "summary after {:.0} simulated seconds, {} requests",
        sim.now_ms() as f64 / 1000.0,
        sim.requests
    );
    println!(
        "  peak usage        {:.1} MiB of a {:.1} MiB budget ({:.1}%)",
        mib(m.max_usage),
        mib(BUDGET_BYTES),
        percent(m.max_usage, BUDGET_BYTES)
    );
    println!(
        "  within budget     {} (usage <= budget in force at all {} samples)",
        yes_no(sim.over_budget_samples == 0),
        sim.samples.len()
    );
    println!(
        "  pinned survived   {} ({} of {CHROME_IMAGES} UI chrome images cached and pinned)",
        yes_no(chrome_ok),
        m.pinned_count
    );
    println!(
        "  hit ratio         {:.1}% ({} hits, {} misses); {} decodes, {} served uncached",
        100.0 * m.hit_ratio(),
        m.hit_count,
        m.miss_count,
        m.load_count,
        sim.served_uncached
    );
    let by_reason: Vec<String> = [
        EvictionReason::Capacity,
        EvictionReason::Pressure,
        EvictionReason::Manual,
    ]
    .iter()
    .map(|&r| format!("{} {}", reason_name(r), tally.evicted_for(r)))
    .collect();
    println!(
        "  evictions         {} in {} runs: {}",
        tally.evicted(),
        tally.eviction_runs,
        by_reason.join(", "),
    );
    println!(
        "  level changes     {} of the reported level (usage or signal), {} of the signalled level",
        tally.level_changes, tally.signal_changes
    );
    println!("  metrics_json      {}", sim.store.metrics_json());
    println!("  chart             {}", chart.display());
}

// ---- the SVG chart ------------------------------------------------------------

const SVG_WIDTH: f64 = 960.0;
const SVG_HEIGHT: f64 = 460.0;
const PLOT_LEFT: f64 = 70.0;
const PLOT_RIGHT: f64 = 930.0;
const PLOT_TOP: f64 = 80.0;
const PLOT_BOTTOM: f64 = 400.0;
const CHART_MAX_MIB: f64 = 72.0;

fn x_of(at_ms: u64) -> f64 {
    PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * at_ms as f64 / SIMULATED_MS as f64
}

fn y_of(bytes: u64) -> f64 {
    PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * mib(bytes) / CHART_MAX_MIB
}

fn band_colour(level: MemoryPressureLevel) -> &'static str {
    match level {
        MemoryPressureLevel::None => "none",
        MemoryPressureLevel::Moderate => "#fef08a",
        MemoryPressureLevel::Critical => "#fdba74",
        MemoryPressureLevel::Emergency => "#fca5a5",
    }
}

fn svg_level_bands(svg: &mut String) {
    for (i, &(start, level)) in PRESSURE_SCHEDULE.iter().enumerate() {
        if level == MemoryPressureLevel::None {
            continue;
        }
        let end = PRESSURE_SCHEDULE
            .get(i + 1)
            .map_or(SIMULATED_MS, |&(at, _)| at);
        let (x0, x1) = (x_of(start), x_of(end));
        let _ = writeln!(
            svg,
            r#"<rect x="{x0:.1}" y="{PLOT_TOP:.1}" width="{:.1}" height="{:.1}" fill="{}" opacity="0.6"/>"#,
            x1 - x0,
            PLOT_BOTTOM - PLOT_TOP,
            band_colour(level)
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#7c2d12">signal {}</text>"##,
            (x0 + x1) / 2.0,
            PLOT_TOP + 14.0,
            level.as_str()
        );
    }
}

fn svg_axes(svg: &mut String) {
    for mib_mark in (0..=CHART_MAX_MIB as u64).step_by(8) {
        let y = y_of(mib_mark << 20);
        let _ = writeln!(
            svg,
            r##"<line x1="{PLOT_LEFT:.1}" y1="{y:.1}" x2="{PLOT_RIGHT:.1}" y2="{y:.1}" stroke="#e5e7eb"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{mib_mark}</text>"#,
            PLOT_LEFT - 6.0,
            y + 4.0
        );
    }
    for second in (0..=SIMULATED_MS / 1000).step_by(5) {
        let x = x_of(second * 1000);
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11">{second}</text>"#,
            PLOT_BOTTOM + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{PLOT_LEFT:.1}" y="{PLOT_TOP:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#374151"/>"##,
        PLOT_RIGHT - PLOT_LEFT,
        PLOT_BOTTOM - PLOT_TOP
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">simulated time (s)</text>"#,
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        PLOT_BOTTOM + 36.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="18" y="{:.1}" text-anchor="middle" font-size="12" transform="rotate(-90 18 {:.1})">charged usage (MiB)</text>"#,
        (PLOT_TOP + PLOT_BOTTOM) / 2.0,
        (PLOT_TOP + PLOT_BOTTOM) / 2.0
    );
}

/// A horizontal threshold line with its label at the right end.
fn svg_threshold(svg: &mut String, bytes: u64, colour: &str, dash: &str, label: &str) {
    let y = y_of(bytes);
    let _ = writeln!(
        svg,
        r#"<line x1="{PLOT_LEFT:.1}" y1="{y:.1}" x2="{PLOT_RIGHT:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="{dash}"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11" fill="{colour}">{label}</text>"#,
        PLOT_RIGHT - 6.0,
        y - 4.0
    );
}

fn svg_polyline(svg: &mut String, points: &[(u64, u64)], colour: &str, width: f64, dash: &str) {
    let mut coords = String::new();
    for &(at_ms, bytes) in points {
        let _ = write!(coords, "{:.1},{:.1} ", x_of(at_ms), y_of(bytes));
    }
    let _ = writeln!(
        svg,
        r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}" stroke-linejoin="round"/>"#,
        coords.trim_end()
    );
}

fn svg_legend(svg: &mut String) {
    let lines = [
        ("#1d4ed8", "none", "usage"),
        ("#6b7280", "2 3", "budget in force"),
        ("#111827", "none", "budget 64 MiB"),
        ("#dc2626", "6 4", "critical threshold"),
        ("#d97706", "6 4", "working size"),
    ];
    let mut x = PLOT_LEFT;
    let y = 52.0;
    for (colour, dash, label) in lines {
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
            x + 22.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{label}</text>"#,
            x + 27.0,
            y + 4.0
        );
        x += 34.0 + 6.5 * label.len() as f64;
    }
    for level in [
        MemoryPressureLevel::Moderate,
        MemoryPressureLevel::Critical,
        MemoryPressureLevel::Emergency,
    ] {
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{:.1}" width="16" height="12" fill="{}" opacity="0.6"/>"#,
            y - 6.0,
            band_colour(level)
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            x + 21.0,
            y + 4.0,
            level.as_str()
        );
        x += 40.0 + 7.0 * level.as_str().len() as f64;
    }
}

fn render_svg(samples: &[Sample]) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" height="{SVG_HEIGHT}" viewBox="0 0 {SVG_WIDTH} {SVG_HEIGHT}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{SVG_WIDTH}" height="{SVG_HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{PLOT_LEFT:.1}" y="26" font-size="16" font-weight="bold">nexus_store demo: image cache usage under OS memory pressure</text>"#
    );
    svg_level_bands(&mut svg);
    svg_axes(&mut svg);
    let (working, critical) = thresholds();
    svg_threshold(&mut svg, BUDGET_BYTES, "#111827", "none", "budget 64 MiB");
    svg_threshold(
        &mut svg,
        critical,
        "#dc2626",
        "6 4",
        &format!("critical {:.1} MiB", mib(critical)),
    );
    svg_threshold(
        &mut svg,
        working,
        "#d97706",
        "6 4",
        &format!("working size {:.1} MiB", mib(working)),
    );
    let budget: Vec<(u64, u64)> = samples
        .iter()
        .map(|s| (s.at_ms, s.budget_in_force))
        .collect();
    svg_polyline(&mut svg, &budget, "#6b7280", 1.5, "2 3");
    let usage: Vec<(u64, u64)> = samples.iter().map(|s| (s.at_ms, s.usage)).collect();
    svg_polyline(&mut svg, &usage, "#1d4ed8", 2.0, "none");
    svg_legend(&mut svg);
    svg.push_str("</svg>\n");
    svg
}

fn write_chart(samples: &[Sample]) -> std::io::Result<PathBuf> {
    // The repository's target/ (this crate lives in demo/).
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest_dir
        .parent()
        .unwrap_or(manifest_dir)
        .join("target/demo");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("usage.svg");
    std::fs::write(&path, render_svg(samples))?;
    Ok(path)
}

// ---- main -------------------------------------------------------------------

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = SplitMix64::new(SEED);
    let sizes = Arc::new(image_sizes(&mut rng));
    let clock = Arc::new(ManualClock::new(0));
    let store = build_store(&clock)?;
    install_loader(&store, Arc::clone(&sizes));
    let tally = install_event_counter(&store);
    pin_chrome(&store)?;

    print_header(&sizes);
    let mut sim = Simulation {
        store,
        clock,
        tally,
        rng,
        popularity: Zipf::new(IMAGE_COUNT, ZIPF_EXPONENT),
        on_screen: VecDeque::with_capacity(ON_SCREEN + 1),
        served_uncached: 0,
        requests: 0,
        samples: Vec::new(),
        over_budget_samples: 0,
    };
    sim.run();
    let chart = write_chart(&sim.samples)?;
    print_summary(&sim, &chart);
    Ok(())
}
