//! Giving freed memory back to the system.
//!
//! A backlog is read in batches, and each batch's messages, readings and staged
//! rows are freed when it commits; glibc keeps what was freed in each thread's
//! arena for reuse, so the daemon's RSS grew to the high-water mark of every
//! arena at once. Measured by `scripts/bench` on the 100,000-message backlog:
//! peak RSS 105–109 MiB without `malloc_trim` after each batch, 91–92 MiB with
//! it (a live heap of about 49 MB at its peak, by massif at 10,000). Most of
//! the rest was sqlx's cache of prepared statements, bounded since
//! (`store::statement_chunks`): 55 MiB.

/// Returns the heap's free pages to the system (glibc only; elsewhere nothing).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only walks the allocator's own
    // free lists, under its own locks; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
