//! Runs the estimator's number crunching compiled for the widest vector instructions the CPU
//! has (AVX-512 or AVX2 on x86-64, detected at run time), so that one portable binary gets
//! them. Every version computes each number with the same IEEE operations (Rust never fuses
//! a multiply and an add on its own), so results do not depend on the CPU.

/// `fn NAME(ARGS) -> RET` that calls `INNER(ARGS)` (which must be `#[inline(always)]`, so
/// that it is compiled into each copy) in a copy built for the widest vectors the CPU has.
macro_rules! widest {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $inner:path) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) -> $ret {
                    $inner($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret {
                    $inner($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F, checked just above.
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $inner($($arg),*)
        }
    };
}

pub(super) use widest;
