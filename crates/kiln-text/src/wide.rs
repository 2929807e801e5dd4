//! Runs a loop compiled for the widest vector instructions the CPU has (AVX-512 or AVX2 on
//! x86-64, chosen at run time through pulp), so that one portable binary uses them.

/// A closure to run inside pulp's dispatch.
struct Inlined<F>(F);

impl<R, F: FnOnce() -> R> pulp::WithSimd for Inlined<F> {
    type Output = R;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> R {
        (self.0)()
    }
}

/// Calls `f` (small enough to be inlined) from a copy compiled for the widest vectors.
#[inline(always)]
pub(crate) fn widest<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(Inlined(f))
}
