//! Number buffers that a thread reuses from one call to the next. The estimators of a long
//! study need buffers of hundreds of kilobytes on every call, a little larger each time; taken
//! fresh from the allocator, they were mapped and zeroed by the kernel on every call (13% of
//! the sampler's time at 5,000 trials).

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Buffers a thread keeps for its next calls.
const KEEP: usize = 8;

thread_local! {
    static FREE: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

/// A `Vec<f64>` that goes back to its thread's free list when dropped.
#[derive(Debug, Default)]
pub(super) struct Buffer(Vec<f64>);

impl Buffer {
    /// An empty buffer with room for at least `capacity` numbers: the smallest kept one that
    /// is large enough, else the largest kept one, grown.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        let mut v = FREE
            .try_with(|free| {
                let mut free = free.borrow_mut();
                let fits = (0..free.len())
                    .filter(|&i| free[i].capacity() >= capacity)
                    .min_by_key(|&i| free[i].capacity());
                let pick = fits.or_else(|| (0..free.len()).max_by_key(|&i| free[i].capacity()));
                pick.map(|i| free.swap_remove(i))
            })
            .ok()
            .flatten()
            .unwrap_or_default();
        v.clear();
        v.reserve(capacity);
        Self(v)
    }

    /// `len` copies of `value`.
    pub(super) fn filled(value: f64, len: usize) -> Self {
        let mut b = Self::with_capacity(len);
        b.resize(len, value);
        b
    }
}

impl Deref for Buffer {
    type Target = Vec<f64>;
    fn deref(&self) -> &Vec<f64> {
        &self.0
    }
}

impl DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut Vec<f64> {
        &mut self.0
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if self.0.capacity() == 0 {
            return;
        }
        let v = std::mem::take(&mut self.0);
        // During the thread's exit the list may be gone; the buffer is then simply freed.
        let _ = FREE.try_with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < KEEP {
                free.push(v);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_reused_and_comes_back_empty() {
        let mut a = Buffer::with_capacity(1000);
        a.extend([1.0, 2.0]);
        let ptr = a.as_ptr();
        drop(a);
        let b = Buffer::with_capacity(10);
        assert_eq!(b.as_ptr(), ptr);
        assert!(b.is_empty() && b.capacity() >= 1000);
        assert_eq!(*Buffer::filled(3.0, 2), vec![3.0, 3.0]);
    }
}
