// game_loop: a texture cache in a frame loop, with nexus_store's C++ API.
//
//   - textures are cached as objects with a custom deleter (a pretend GPU
//     frees them), loaded on a miss by the store's loader;
//   - the current level's assets are pinned: no pressure level sheds them;
//   - pressure events are polled once per frame;
//   - at frame 4 the "OS" sends a memory warning (CRITICAL); the loop shows
//     what the cache shed, and at frame 7 the pressure is over.
//
// Deterministic: the same output on every run.
#include <nexus/store.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr std::size_t KiB = 1024;

struct Texture {
    std::string name;
    std::size_t bytes;
};

// A pretend GPU: it uploads textures and knows how much it holds.
struct Gpu {
    std::size_t resident = 0;
};

// The custom deleter: frees the texture on the "GPU". The store calls it
// exactly once, when the texture is evicted and no frame still holds it.
struct GpuDeleter {
    Gpu* gpu;
    void operator()(Texture* texture) const noexcept {
        gpu->resident -= texture->bytes;
        delete texture;
    }
};
using TexturePtr = std::unique_ptr<Texture, GpuDeleter>;

TexturePtr upload(Gpu& gpu, std::string_view name) {
    const std::size_t bytes = (64 + 64 * (name.size() % 4)) * KiB;  // 64-256 KiB
    gpu.resident += bytes;
    return TexturePtr(new Texture{std::string(name), bytes}, GpuDeleter{&gpu});
}

std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
    return out;
}

const char* level_name(nexus::PressureLevel level) {
    static const char* const names[] = {"none", "moderate", "critical", "emergency"};
    return names[static_cast<unsigned>(level)];
}

}  // namespace

int main() {
    Gpu gpu;
    {
        nexus::Store cache(nexus::MemoryConfig().max_bytes(2048 * KiB));

        // A miss uploads the texture; the store owns it from then on.
        cache.set_loader([&gpu](std::string_view name, nexus::LoadSink& sink) {
            TexturePtr texture = upload(gpu, name);
            const std::size_t cost = texture->bytes;
            return sink.put_object(std::move(texture), cost).code();
        });
        // Remember which textures pressure shed, to show them.
        std::vector<std::string> shed;
        cache.on_evict([&shed](std::string_view name, nexus::EvictionReason reason, std::uint64_t) {
            if (reason == nexus::EvictionReason::pressure) shed.emplace_back(name);
        });

        const std::vector<std::string> level = {"level1/terrain", "level1/sky", "level1/hero"};
        for (const std::string& asset : level) cache.pin(asset);

        for (int frame = 1; frame <= 8; ++frame) {
            if (frame == 4) {
                std::printf("frame %d: OS memory warning\n", frame);
                cache.signal_pressure(nexus::PressureLevel::critical);
            }
            if (frame == 7) cache.signal_pressure(nexus::PressureLevel::none);  // pressure over

            // Draw the level and the props in view this frame.
            std::vector<std::string> visible = level;
            for (int i = 0; i < 4; ++i) visible.push_back("prop/" + std::to_string(frame * 2 + i));
            std::size_t drawn_bytes = 0;
            for (const std::string& name : visible) {
                if (std::optional<nexus::Value> texture = cache.get_or_load(name))
                    drawn_bytes += texture->object<Texture>()->bytes;  // "draw" it
            }

            // Once per frame: what did the cache do?
            std::uint64_t capacity_evictions = 0;
            while (std::optional<nexus::Event> event = cache.poll_event()) {
                if (event->kind == nexus::EventKind::eviction && event->reason == nexus::EvictionReason::capacity) {
                    capacity_evictions += event->count;
                } else if (event->kind == nexus::EventKind::eviction) {
                    std::printf("  shed %llu textures (%llu KiB) for pressure: %s\n",
                                static_cast<unsigned long long>(event->count),
                                static_cast<unsigned long long>(event->bytes / KiB), join(shed).c_str());
                    shed.clear();
                } else if (event->kind == nexus::EventKind::pressure_changed &&
                           (event->level >= nexus::PressureLevel::critical ||
                            event->previous_level >= nexus::PressureLevel::critical)) {
                    std::printf("  pressure %s -> %s\n", level_name(event->previous_level), level_name(event->level));
                }
            }
            const nexus::Metrics m = cache.metrics();
            std::printf("frame %d: drew %4zu KiB | cache %2llu textures, %4llu / %4llu KiB | GPU %4zu KiB | %llu evicted\n",
                        frame, drawn_bytes / KiB, static_cast<unsigned long long>(m.entry_count),
                        static_cast<unsigned long long>(m.current_usage / KiB),
                        static_cast<unsigned long long>(m.effective_budget / KiB), gpu.resident / KiB,
                        static_cast<unsigned long long>(capacity_evictions));
        }

        for (const std::string& asset : level) {
            if (!cache.contains(asset)) {
                std::printf("pinned asset %s was lost\n", asset.c_str());
                return 1;
            }
        }
        std::printf("pinned level assets kept through the warning; %llu loads, %llu hits\n",
                    static_cast<unsigned long long>(cache.metrics().load_count),
                    static_cast<unsigned long long>(cache.metrics().hit_count));
    }  // the store is freed: every texture goes back to the GPU
    std::printf("GPU after shutdown: %zu KiB\n", gpu.resident / KiB);
    return gpu.resident == 0 ? 0 : 1;
}
