//! `loadgen stalls`: how often this machine's CPUs stop. A thread pinned to each CPU spins
//! reading the clock, and every gap over [`STALL`] is time its CPU ran something else (on a
//! virtual machine, mostly the host's other guests).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A gap in a spinning thread's clock readings longer than this counts as its CPU stopping.
const STALL: Duration = Duration::from_micros(500);

/// One stop of a CPU: its spinning thread's clock readings on either side of the gap.
#[derive(Debug, Clone, Copy)]
struct Stop {
    from: Instant,
    to: Instant,
}

impl Stop {
    fn length(&self) -> Duration {
        self.to - self.from
    }

    /// Whether the two stops share a moment (touching ends do not).
    fn overlaps(&self, other: &Stop) -> bool {
        other.from < self.to && self.from < other.to
    }
}

/// How many of CPU `i`'s stops overlap a stop of another CPU.
fn stopped_together(stops: &[Vec<Stop>], i: usize) -> usize {
    stops[i]
        .iter()
        .filter(|mine| {
            stops
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .any(|(_, theirs)| theirs.iter().any(|t| mine.overlaps(t)))
        })
        .count()
}

/// Spins on the current CPU until `end`, recording every stop.
fn watch(end: Instant) -> Vec<Stop> {
    let mut stops = Vec::new();
    let mut last = Instant::now();
    while last < end {
        let now = Instant::now();
        // A bound on memory: a machine stopped this often is answered anyway.
        if now - last > STALL && stops.len() < 1_000_000 {
            stops.push(Stop {
                from: last,
                to: now,
            });
        }
        last = now;
    }
    stops
}

/// `loadgen stalls`: per CPU, how often, how long, and whether another CPU was stopped too.
pub fn stalls(seconds: u64) -> anyhow::Result<()> {
    let cpus = server::pacer::allowed_cpus();
    if cpus.is_empty() {
        bail!("cannot tell which CPUs this process may use");
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let stops: Vec<Vec<Stop>> = std::thread::scope(|scope| {
        let watchers: Vec<_> = cpus
            .iter()
            .map(|&cpu| {
                scope.spawn(move || -> std::io::Result<Vec<Stop>> {
                    server::pacer::pin_to(cpu)?;
                    Ok(watch(end))
                })
            })
            .collect();
        watchers
            .into_iter()
            .map(|w| w.join().expect("a watcher panicked"))
            .collect::<std::io::Result<_>>()
    })
    .context("pinning a thread to its CPU")?;
    println!("| CPU | stops over 0.5 ms | longest | total | while another CPU was stopped too |");
    println!("|---|---|---|---|---|");
    for (i, mine) in stops.iter().enumerate() {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let longest = mine.iter().map(Stop::length).max().unwrap_or_default();
        let total: Duration = mine.iter().map(Stop::length).sum();
        let together = stopped_together(&stops, i);
        println!(
            "| {} | {} | {:.2} ms | {:.1} ms | {} |",
            cpus[i],
            mine.len(),
            ms(longest),
            ms(total),
            together
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_counts_as_together_only_where_another_cpu_was_stopped_at_the_same_time() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let stop = |a, b| Stop {
            from: ms(a),
            to: ms(b),
        };
        let stops = vec![
            vec![stop(0, 2), stop(10, 12), stop(20, 21)],
            vec![stop(1, 3), stop(12, 14)],
            vec![stop(20, 22)],
        ];
        // CPU 0's first stop overlaps CPU 1's, its third CPU 2's; its second only touches.
        assert_eq!(stopped_together(&stops, 0), 2);
        assert_eq!(stopped_together(&stops, 1), 1);
        assert_eq!(stopped_together(&stops, 2), 1);
        assert_eq!(stopped_together(&[vec![stop(0, 5)]], 0), 0);
    }
}
