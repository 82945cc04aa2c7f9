//! Keeping pacer threads on their own CPUs, and the cache hint that saves a miss per session.

/// The CPUs this thread may run on, in order; empty where that cannot be asked.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is an empty set; the kernel fills it for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Keeps the calling thread on `cpu`: a standby's timer must not be on the same stopped CPU
/// as the lead's (and `loadgen stalls` watches each CPU from a thread of its own).
pub fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: as in `allowed_cpus`; the set outlives the call.
    let refused = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0
    };
    if refused {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Starts loading `*state` into the cache, without waiting for it.
pub(crate) fn prefetch<T>(state: *const T) {
    #[cfg(target_arch = "x86_64")]
    for line in (0..std::mem::size_of::<T>()).step_by(64) {
        // SAFETY: a prefetch is a hint: it never faults and changes no memory, and the
        // pointer is in bounds of `*state` (or one past it).
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>((state as *const i8).wrapping_add(line));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = state;
}
