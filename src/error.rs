//! The one error type of the core. Its kinds mirror the C API's statuses one
//! to one, so the FFI layer maps them without a table of special cases.

use std::borrow::Cow;
use std::fmt;

/// What went wrong, as a category. Each kind has a C status of the same name
/// (`NEXUS_STATUS_<KIND>` in `nexus_store.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorKind {
    /// The key is absent (or, for `unpin`, not pinned).
    NotFound = 1,
    /// Nothing to return (an empty event queue).
    Empty = 2,
    /// A required pointer was NULL (C API only).
    NullArgument = 3,
    /// A parameter is out of range: thresholds, keeps, enum values, sizes.
    InvalidArgument = 4,
    /// A store handle that was freed (C API only).
    InvalidHandle = 5,
    /// The entry's charge exceeds the configured budget or overflows a sum.
    TooLarge = 6,
    /// The entry cannot fit even after evicting every evictable entry, or
    /// the store refuses unpinned puts under an EMERGENCY signal.
    OverBudget = 7,
    /// A user callback failed or broke its contract.
    Callback = 8,
    /// The caller's buffer is too small (C API only).
    BufferTooSmall = 9,
    /// The call would deadlock or destroy something in use (re-entrant load
    /// of the same key, freeing a store from its own callback).
    Busy = 10,
    /// An allocation failed.
    OutOfMemory = 11,
    /// A panic was caught.
    Panic = 12,
}

impl ErrorKind {
    /// Every kind, in status order.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::NotFound,
        ErrorKind::Empty,
        ErrorKind::NullArgument,
        ErrorKind::InvalidArgument,
        ErrorKind::InvalidHandle,
        ErrorKind::TooLarge,
        ErrorKind::OverBudget,
        ErrorKind::Callback,
        ErrorKind::BufferTooSmall,
        ErrorKind::Busy,
        ErrorKind::OutOfMemory,
        ErrorKind::Panic,
    ];

    /// A short, stable, human-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::Empty => "empty",
            ErrorKind::NullArgument => "null argument",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::InvalidHandle => "invalid handle",
            ErrorKind::TooLarge => "too large",
            ErrorKind::OverBudget => "over budget",
            ErrorKind::Callback => "callback failed",
            ErrorKind::BufferTooSmall => "buffer too small",
            ErrorKind::Busy => "busy",
            ErrorKind::OutOfMemory => "out of memory",
            ErrorKind::Panic => "panic",
        }
    }
}

/// An error with its kind and a message that says what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    /// Borrowed for the library's fixed messages, so that common outcomes
    /// (a miss is `NotFound`) allocate nothing.
    message: Cow<'static, str>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: Cow::Owned(message.into()),
        }
    }

    /// An error with a fixed message (no allocation).
    pub(crate) const fn fixed(kind: ErrorKind, message: &'static str) -> Self {
        Error {
            kind,
            message: Cow::Borrowed(message),
        }
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
