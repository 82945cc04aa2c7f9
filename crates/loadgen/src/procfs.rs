//! The CPU time and memory of a process, read from /proc, for the figures of the server
//! measured and of the generator itself.
//!
//! Reads are best effort: a process that is gone, or a /proc that says nothing readable,
//! counts as 0, so that a measurement still prints its other columns.

/// CPU seconds (user + system) of a process or thread, from a /proc `stat` file such as
/// `/proc/PID/stat`, `/proc/self/stat` or `/proc/thread-self/stat`.
pub fn cpu_seconds(stat_path: &str) -> f64 {
    std::fs::read_to_string(stat_path).map_or(0.0, |stat| stat_cpu_seconds(&stat))
}

/// CPU seconds (utime + stime, proc(5)) in the text of a `stat` file.
fn stat_cpu_seconds(stat: &str) -> f64 {
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let after_name = stat.rfind(')').map_or(0, |i| i + 2);
    let fields: Vec<&str> = stat
        .get(after_name..)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|t| t.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

/// CPU seconds every CPU of the machine spent busy (all of /proc/stat's `cpu` line but idle
/// and iowait): with a process's own seconds, what the rest of a shared machine took.
pub fn machine_busy_seconds() -> f64 {
    std::fs::read_to_string("/proc/stat").map_or(0.0, |s| stat_busy_seconds(&s))
}

/// Busy seconds in the text of /proc/stat: user, nice, system, irq, softirq and steal
/// (guest time is already in user, proc(5)).
fn stat_busy_seconds(stat: &str) -> f64 {
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().unwrap_or(0.0))
        .collect();
    [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| ticks.get(i).copied().unwrap_or(0.0))
        .sum::<f64>()
        / 100.0
}

/// Resident set size of process `pid` in KiB (`VmRSS` in /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status")).map_or(0, |s| status_rss_kib(&s))
}

/// `VmRSS` in the text of a `status` file, in KiB.
fn status_rss_kib(status: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime ...: utime 250 and stime 125 ticks.
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 10 0 0 0 250 125 0 0 20 0 3";
        assert_eq!(stat_cpu_seconds(stat), 3.75);
        assert_eq!(stat_cpu_seconds("garbage"), 0.0);
        assert_eq!(stat_cpu_seconds("4242 (cut short)"), 0.0);
    }

    #[test]
    fn machine_busy_time_is_all_but_idle_and_iowait() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let stat = "cpu  100 20 30 5000 70 1 2 3 40 0\ncpu0 50 10 15 2500 35 0 1 1 20 0\n";
        assert_eq!(stat_busy_seconds(stat), 1.56);
        assert_eq!(stat_busy_seconds("intr 1 2 3"), 0.0);
    }

    #[test]
    fn rss_is_the_vmrss_line_in_kib() {
        let status = "Name:\tserver\nVmPeak:\t  99999 kB\nVmRSS:\t   28672 kB\nThreads:\t5\n";
        assert_eq!(status_rss_kib(status), 28672);
        assert_eq!(status_rss_kib("Name:\tserver\n"), 0);
    }
}
