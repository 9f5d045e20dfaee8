// The Android library module of the Kotlin wrapper (an AAR: the Kotlin sources of ../src/main/kotlin,
// the JNI shim of ../src/main/c built per ABI by CMake, each ABI linking its own Rust static library).
// Needs the Android SDK (API 36) and NDK 28.2; neither exists on the machines that build the JVM
// side, so this module is not built by `make test` (see the README).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "nexus-store-android"
