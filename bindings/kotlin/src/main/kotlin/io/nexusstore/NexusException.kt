package io.nexusstore

/** The C library's statuses (NEXUS_STATUS_*), by code. */
enum class NexusStatus(val code: Int) {
    OK(0), NOT_FOUND(1), EMPTY(2), NULL_ARGUMENT(3), INVALID_ARGUMENT(4), INVALID_HANDLE(5),
    TOO_LARGE(6), OVER_BUDGET(7), CALLBACK(8), BUFFER_TOO_SMALL(9), BUSY(10), OUT_OF_MEMORY(11),
    PANIC(12),

    /** A code this wrapper does not know (a newer library). */
    UNKNOWN(-1);

    companion object {
        fun fromCode(code: Int): NexusStatus = entries.firstOrNull { it.code == code } ?: UNKNOWN
    }
}

/**
 * A failed call: the C library's [status] and its message (for a loader that threw, the
 * loader's message, on every thread that waited for that load).
 */
class NexusException(val status: NexusStatus, message: String) : RuntimeException(message) {
    /** Thrown by the JNI shim: the status code and the message in UTF-8. */
    internal constructor(code: Int, utf8Message: ByteArray) :
        this(NexusStatus.fromCode(code), utf8Message.decodeToString())
}
