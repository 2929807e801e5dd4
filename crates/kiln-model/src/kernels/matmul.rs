//! Single-threaded matrix products on strided views through the `gemm` crate (the GEMM that
//! burn-flex itself uses); the kernels run one product per image and parallelise over images.

use std::mem::MaybeUninit;

/// A read-only matrix: `rows × cols` values of `data`, element (r, c) at `r * row + c * col`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row: usize,
    col: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows × cols` matrix.
    pub(crate) fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row: cols,
            col: 1,
        }
    }

    /// The transposed matrix (no copy).
    pub(super) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row: self.col,
            col: self.row,
            ..self
        }
    }

    /// Whether every element lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row + (self.cols - 1) * self.col < self.data.len()
    }
}

/// `dst` (row-major, `a.rows × b.cols`) becomes `a × b`, or `dst + a × b` when `accumulate`.
pub(crate) fn matmul(dst: &mut [f32], a: View, b: View, accumulate: bool) {
    // SAFETY: `dst` is initialised, so reading it to accumulate is sound.
    unsafe { gemm_into(dst.as_mut_ptr(), dst.len(), a, b, accumulate) }
}

/// `dst` (row-major, `a.rows × b.cols`, uninitialised) becomes `a × b`: for outputs the GEMM
/// overwrites, which need no zeroing first. Returns `dst`, now initialised.
pub(super) fn matmul_into<'d>(dst: &'d mut [MaybeUninit<f32>], a: View, b: View) -> &'d mut [f32] {
    // SAFETY: without `accumulate` the GEMM never reads `dst`, and it writes every element
    // (zero when `k` is 0).
    unsafe {
        gemm_into(dst.as_mut_ptr().cast(), dst.len(), a, b, false);
        &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32])
    }
}

/// The product into the `len` values at `dst`, which must be initialised when `accumulate`.
///
/// # Safety
/// `dst` points to `len` writable f32 slots that alias neither `a` nor `b`, initialised when
/// `accumulate` is set.
unsafe fn gemm_into(dst: *mut f32, len: usize, a: View, b: View, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && len == m * n && a.in_bounds() && b.in_bounds(),
        "matmul: {m}×{k} by {}×{n} into {len} values",
        b.rows,
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            // SAFETY: the caller hands over `len` writable slots.
            unsafe { std::ptr::write_bytes(dst, 0, len) };
        }
        return;
    }
    // SAFETY: the assertion above keeps every element the strides reach inside `a.data`,
    // `b.data` and `dst` (row-major m × n), and the caller guarantees `dst` aliases neither
    // input and is initialised when it is read (`accumulate`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col as isize,
            a.row as isize,
            b.data.as_ptr(),
            b.col as isize,
            b.row as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        (0..m * n)
            .map(|i| (0..k).map(|p| a[i / n * k + p] * b[p * n + i % n]).sum())
            .collect()
    }

    #[test]
    fn products_of_plain_and_transposed_views_match_the_definition() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 5) as f32 - 2.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 3) as f32 * 0.5).collect();
        let mut dst = vec![9.0; m * n];
        matmul(&mut dst, View::new(&a, m, k), View::new(&b, k, n), false);
        assert_eq!(dst, naive(&a, &b, m, k, n));
        // aᵀ stored as k × m, read through its transposed view; accumulating adds.
        let at: Vec<f32> = (0..k * m).map(|i| a[i % m * k + i / m]).collect();
        matmul(
            &mut dst,
            View::new(&at, k, m).t(),
            View::new(&b, k, n),
            true,
        );
        let twice: Vec<f32> = naive(&a, &b, m, k, n).iter().map(|v| 2.0 * v).collect();
        assert_eq!(dst, twice);
    }

    #[test]
    fn a_product_into_uninitialised_values_overwrites_them() {
        let (m, k, n) = (4, 6, 5);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 4) as f32 * 0.25).collect();
        let mut dst = vec![MaybeUninit::new(f32::NAN); m * n];
        let out = matmul_into(&mut dst, View::new(&a, m, k), View::new(&b, k, n));
        assert_eq!(out, naive(&a, &b, m, k, n).as_slice());
        let mut empty = vec![MaybeUninit::new(f32::NAN); m * n];
        let zeros = matmul_into(&mut empty, View::new(&[], m, 0), View::new(&[], 0, n));
        assert!(zeros.iter().all(|&v| v == 0.0));
    }

    #[test]
    #[should_panic(expected = "matmul")]
    fn a_view_past_its_data_is_refused() {
        let a = vec![1.0; 6];
        let mut dst = vec![0.0; 4];
        matmul(
            &mut dst,
            View::new(&a, 2, 3),
            View::new(&a, 3, 2).t().t(),
            false,
        );
        matmul(&mut dst, View::new(&a, 2, 4), View::new(&a, 4, 2), false);
    }
}
