//! The shape every enum that crosses the C ABI shares, written once: a
//! `#[repr(u32)]` enum with its variants in C order (`ALL`), a stable name
//! for each (`as_str`, and `c_name` with its NUL), and the checked conversion from the `uint32_t` the
//! C side passes (`TryFrom<u32>`: a value no variant has is
//! `InvalidArgument`, never undefined behaviour).

/// Declares a C-facing enum. Each variant is written
/// `Name = discriminant => "name"`, in C order.
macro_rules! c_enum {
    (
        $(#[$attr:meta])*
        pub enum $name:ident ($what:literal) {
            $(
                $(#[$vattr:meta])*
                $variant:ident = $value:literal => $text:literal,
            )+
        }
    ) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum $name {
            $(
                $(#[$vattr])*
                $variant = $value,
            )+
        }

        impl $name {
            /// Every value, in C order.
            pub const ALL: [$name; [$($value),+].len()] = [$($name::$variant),+];

            /// A short, stable name (the one the C API's `*_str` function
            /// returns).
            pub fn as_str(self) -> &'static str {
                let name = self.c_name();
                &name[..name.len() - 1]
            }

            /// The same name with a terminating NUL, for the C API.
            #[allow(dead_code)] // not every enum's name crosses the ABI
            pub(crate) fn c_name(self) -> &'static str {
                match self {
                    $($name::$variant => concat!($text, "\0"),)+
                }
            }
        }

        impl $name {
            /// The value for `value`, if any; allocates nothing (the C
            /// names and statuses must work when allocations fail).
            #[allow(dead_code)] // not every enum's value crosses the ABI
            pub(crate) fn from_u32(value: u32) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| *v as u32 == value)
            }
        }

        impl TryFrom<u32> for $name {
            type Error = $crate::error::Error;

            fn try_from(value: u32) -> ::std::result::Result<Self, Self::Error> {
                Self::from_u32(value)
                    .ok_or_else(|| {
                        $crate::error::Error::invalid(format!(
                            "{} {value} is out of range {}..={}",
                            $what,
                            Self::ALL[0] as u32,
                            Self::ALL[Self::ALL.len() - 1] as u32,
                        ))
                    })
            }
        }
    };
}

pub(crate) use c_enum;
