// Android Gradle Plugin 9 (built-in Kotlin: no kotlin-android plugin), Gradle 9.1+, JDK 17.
plugins {
    id("com.android.library") version "9.0.0"
}

// The Rust triples per Android ABI; build_rust_libs.sh puts each library in
// build/rust/<abi>/libnexus_store.a, where src/main/cpp/CMakeLists.txt links it.
val rustAbis = mapOf(
    "arm64-v8a" to "aarch64-linux-android",
    "armeabi-v7a" to "armv7-linux-androideabi",
    "x86_64" to "x86_64-linux-android",
)
val rustOut = layout.buildDirectory.dir("rust")

android {
    namespace = "io.nexusstore"
    compileSdk = 36
    ndkVersion = "28.2.13676358"

    defaultConfig {
        // Below 33 the Cleaner fallback (phantom references) frees unclosed stores; below 28
        // Fence uses a synchronized block instead of Reference.reachabilityFence.
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += rustAbis.keys
        }
        externalNativeBuild {
            cmake {
                arguments += "-DNEXUS_RUST_LIB_DIR=${rustOut.get().asFile.absolutePath}"
            }
        }
    }

    externalNativeBuild {
        cmake {
            path = file("src/main/cpp/CMakeLists.txt")
            version = "3.22.1"
        }
    }

    sourceSets {
        getByName("main") {
            kotlin.srcDir("../src/main/kotlin")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

dependencies {
    // StateFlow and Flow are in the public API.
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.11.0")
}

// cargo builds the Rust static library for each ABI with the NDK's clang before CMake links it.
val buildRustLibs by tasks.registering(Exec::class) {
    val ndkDir = androidComponents.sdkComponents.ndkDirectory
    inputs.dir("../../../src")
    inputs.file("../../../Cargo.toml")
    outputs.dir(rustOut)
    doFirst {
        commandLine(
            "bash", file("build_rust_libs.sh").absolutePath, ndkDir.get().asFile.absolutePath,
            rustOut.get().asFile.absolutePath, *rustAbis.map { "${it.key}=${it.value}" }.toTypedArray(),
        )
    }
}

tasks.named("preBuild") {
    dependsOn(buildRustLibs)
}
