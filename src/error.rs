//! The one error type of the core. Its kinds mirror the C API's statuses one
//! to one, so the FFI layer maps them without a table of special cases.

use std::borrow::Cow;
use std::fmt;

use crate::c_enum::c_enum;

c_enum! {
    /// What went wrong, as a category. Each kind has a C status of the same
    /// name (`NEXUS_STATUS_<KIND>` in `nexus_store.h`).
    pub enum ErrorKind ("error kind") {
        /// The key is absent (or, for `unpin`, not pinned).
        NotFound = 1 => "not found",
        /// Nothing to return (an empty event queue).
        Empty = 2 => "empty",
        /// A required pointer was NULL (C API only).
        NullArgument = 3 => "null argument",
        /// A parameter is out of range: thresholds, keeps, enum values, sizes.
        InvalidArgument = 4 => "invalid argument",
        /// A store handle that was freed (C API only).
        InvalidHandle = 5 => "invalid handle",
        /// The entry's charge exceeds the configured budget or overflows a sum.
        TooLarge = 6 => "too large",
        /// The entry cannot fit even after evicting every evictable entry, or
        /// the store refuses unpinned puts under an EMERGENCY signal.
        OverBudget = 7 => "over budget",
        /// A user callback failed or broke its contract.
        Callback = 8 => "callback failed",
        /// The caller's buffer is too small (C API only).
        BufferTooSmall = 9 => "buffer too small",
        /// The call would deadlock or destroy something in use (re-entrant
        /// load of the same key, freeing a store from its own callback).
        Busy = 10 => "busy",
        /// An allocation failed.
        OutOfMemory = 11 => "out of memory",
        /// A panic was caught.
        Panic = 12 => "panic",
    }
}

/// An error with its kind and a message that says what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    /// Borrowed for the library's fixed messages, so that common outcomes
    /// (a miss is `NotFound`) allocate nothing.
    message: Cow<'static, str>,
    /// A loader gave up its load without failing the key
    /// ([`Error::load_abandoned`]).
    abandoned: bool,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: Cow::Owned(message.into()),
            abandoned: false,
        }
    }

    /// An error with a fixed message (no allocation).
    pub(crate) const fn fixed(kind: ErrorKind, message: &'static str) -> Self {
        Error {
            kind,
            message: Cow::Borrowed(message),
            abandoned: false,
        }
    }

    /// What a loader returns to give up its load without failing the key,
    /// typically because the caller it runs for was cancelled (a Swift
    /// task, a Kotlin coroutine): that caller's `get_or_load` gets this
    /// error (kind `Callback`, `message`), and every caller that joined the
    /// load looks the key up again instead of getting an error: one of them
    /// runs its own loader. Nothing is cached.
    pub fn load_abandoned(message: impl Into<String>) -> Self {
        Error {
            abandoned: true,
            ..Error::new(ErrorKind::Callback, message)
        }
    }

    /// Whether this is a [`Error::load_abandoned`] error.
    pub fn is_load_abandoned(&self) -> bool {
        self.abandoned
    }

    /// The category, which maps to a C status.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message alone (without the kind).
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) const fn not_found(what: &'static str) -> Self {
        Error::fixed(ErrorKind::NotFound, what)
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, what)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

/// The result type of the store's fallible calls.
pub type Result<T> = std::result::Result<T, Error>;
