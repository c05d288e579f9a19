//! Giving freed memory back to the system.
//!
//! A backlog is read in batches, and each batch's messages, readings and staged
//! rows are freed when it commits; glibc keeps what was freed in each thread's
//! arena for reuse, so the daemon's RSS grew to the high-water mark of every
//! arena at once (about 90 MiB anonymous at 100,000 messages, of which under 50
//! were live). `malloc_trim` returns the free pages of every arena: a few
//! milliseconds per batch of hundreds of messages.

/// Returns the heap's free pages to the system (glibc only; elsewhere nothing).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only walks the allocator's own
    // free lists, under its own locks; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
