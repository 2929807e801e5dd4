//! The memory allocator Kiln's binaries run on. Linking this crate makes mimalloc the global
//! allocator: the model server allocates and frees small buffers on every request, which
//! mimalloc does several times faster than the system allocator under threads. Call
//! [`keep_freed_memory`] first thing in `main`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_t`, the same in mimalloc 2
/// and 3; the bindings do not name it): milliseconds before freed memory goes back to the
/// operating system, -1 for never.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The environment variable through which a user sets the purge delay themselves.
const PURGE_DELAY_VARIABLE: &str = "MIMALLOC_PURGE_DELAY";

/// Keeps freed memory for reuse instead of handing it back to the operating system, unless the
/// user set `MIMALLOC_PURGE_DELAY`. Training allocates the same large activation buffers batch
/// after batch; with mimalloc's default purge delay each one came back as fresh pages the kernel
/// had to zero again (the 2-conv CNN benchmark on 5,000 images, two epochs and four inference
/// passes: 15,072 page faults, 484 without; ~4% more training samples/s).
pub fn keep_freed_memory() {
    if std::env::var_os(PURGE_DELAY_VARIABLE).is_none() {
        // SAFETY: setting an option is a plain store into mimalloc's option table, valid at
        // any time from any thread.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_set_to_never() {
        // SAFETY: reading an option is a plain load from mimalloc's option table.
        let before = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        keep_freed_memory();
        let after = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        if std::env::var_os(PURGE_DELAY_VARIABLE).is_none() {
            assert!(
                before > 0,
                "mimalloc purges after a delay by default, not {before}"
            );
            assert_eq!(after, -1);
        } else {
            assert_eq!(after, before);
        }
    }
}
