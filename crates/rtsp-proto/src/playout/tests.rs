//! Every rule of the playout driven by a fake clock: an `Instant` the tests move by hand, so an
//! hour of playback takes milliseconds.

use super::*;

const FPS: f64 = 20.0;
pub(super) const ORIGIN: RtpOrigin = RtpOrigin {
    ssrc: 0x1234_5678,
    seq: 65_530,
    rtptime: 4_000_000_000,
};

pub(super) fn timeline(frames: u64, looping: bool) -> Timeline {
    Timeline {
        frames,
        fps: FPS,
        looping,
    }
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Plays as an on-time driver would until `until`: at each deadline, takes every frame due,
/// reporting `packets` packets sent for each.
fn drain(p: &mut Playout, until: Instant, packets: u16) -> Vec<DueFrame> {
    let (sent, _) = play_out(p, until, packets);
    sent.into_iter().map(|(_, f)| f).collect()
}

/// [`drain`], with each frame's deadline, and whether the stream ended.
pub(super) fn play_out(
    p: &mut Playout,
    until: Instant,
    packets: u16,
) -> (Vec<(Instant, DueFrame)>, bool) {
    let mut out = Vec::new();
    while let Some(now) = p.poll_timeout().filter(|&t| t <= until) {
        while let Some(poll) = p.poll_frame(now) {
            match poll {
                Poll::Frame(f) => {
                    p.frame_sent(Sent {
                        next_seq: f.seq.wrapping_add(packets),
                        packets: packets as u32,
                        octets: 1000 * packets as u32,
                    });
                    out.push((now, f));
                }
                Poll::End => return (out, true),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    (out, false)
}

#[test]
fn frames_are_due_at_their_deadlines_and_not_before() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(100, false), ORIGIN);
    assert_eq!(p.poll_timeout(), None, "paused: nothing is due");
    assert_eq!(p.poll_frame(t0), None);
    p.play(t0, None).unwrap();
    for n in 0..10u64 {
        let due = t0 + ms(50 * n);
        assert_eq!(p.poll_timeout(), Some(due));
        if n > 0 {
            assert_eq!(p.poll_frame(due - Duration::from_micros(1)), None);
        }
        let frames = drain(&mut p, due, 3);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].index, n as usize);
        assert_eq!(
            frames[0].rtptime,
            ORIGIN.rtptime.wrapping_add(4500 * n as u32)
        );
        // Three packets a frame: sequence numbers go on from the origin, through the wrap.
        assert_eq!(frames[0].seq, ORIGIN.seq.wrapping_add(3 * n as u16));
    }
}

#[test]
fn pause_and_resume_continue_where_they_stopped() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(100, false), ORIGIN);
    p.play(t0, None).unwrap();
    let first = drain(&mut p, t0 + ms(450), 1);
    assert_eq!(first.len(), 10);
    let generation = p.generation();
    p.pause();
    assert!(
        p.generation() > generation,
        "a pacer's old deadline must die"
    );
    assert!(!p.is_playing());
    assert_eq!(p.poll_timeout(), None);
    assert_eq!(p.poll_frame(t0 + ms(10_000)), None, "paused: nothing sent");

    // Resumed 5 s later: frame 10 is due at once, its RTP time follows frame 9's.
    let t1 = t0 + ms(5_450);
    let started = p.play(t1, None).unwrap();
    assert_eq!(started.npt_start, 0.5);
    assert_eq!(started.rtptime, p.rtptime(10));
    assert_eq!(started.seq, first[9].seq.wrapping_add(1));
    assert_eq!(p.poll_timeout(), Some(t1));
    let resumed = drain(&mut p, t1, 1);
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].index, 10);
    assert_eq!(resumed[0].rtptime.wrapping_sub(first[9].rtptime), 4500);
}

#[test]
fn a_seek_starts_at_the_nearest_frame_and_refuses_a_start_past_the_end() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(100, false), ORIGIN);
    let started = p.play(t0, Some(2.0)).unwrap();
    assert_eq!(started.npt_start, 2.0);
    assert_eq!(started.npt_end, Some(5.0));
    // RTP time counts the stream's time, not the file's: the first frame's is the origin's.
    assert_eq!(started.rtptime, ORIGIN.rtptime);
    assert_eq!(drain(&mut p, t0, 1)[0].index, 40);

    // A seek while playing restarts the clock at the new frame; RTP time goes on.
    let t1 = t0 + ms(1000);
    let started = p.play(t1, Some(1.02)).unwrap();
    assert_eq!(started.rtptime, p.rtptime(1));
    assert_eq!(p.poll_timeout(), Some(t1));
    assert_eq!(drain(&mut p, t1, 1)[0].index, 20);

    assert_eq!(
        p.play(t1, Some(5.0)),
        Err(PlayError::PastTheEnd {
            start: 5.0,
            duration: 5.0
        })
    );
    assert!(matches!(
        p.play(t1, Some(-1.0)),
        Err(PlayError::NotATime { .. })
    ));
    assert!(matches!(
        p.play(t1, Some(f64::NAN)),
        Err(PlayError::NotATime { .. })
    ));
    // A refused seek leaves the stream as it was.
    assert!(p.is_playing());
    assert_eq!(p.position(), 21);
}

#[test]
fn a_looping_file_starts_over_and_its_rtp_time_keeps_growing() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(5, true), ORIGIN);
    let started = p.play(t0, None).unwrap();
    assert_eq!(started.npt_end, None, "a loop has no end");
    let frames = drain(&mut p, t0 + ms(50 * 11), 1);
    let indexes: Vec<usize> = frames.iter().map(|f| f.index).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]);
    assert!(frames
        .windows(2)
        .all(|w| w[1].rtptime.wrapping_sub(w[0].rtptime) == 4500));
}

#[test]
fn the_end_of_a_file_says_bye_once_and_only_a_new_start_plays_again() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(3, false), ORIGIN);
    p.play(t0, None).unwrap();
    assert_eq!(drain_until_end(&mut p, t0 + ms(1000)), 3);
    assert!(
        p.is_playing() && !p.is_sending(),
        "still PLAYING: RFC 2326 A.2"
    );
    assert_eq!(p.poll_timeout(), None);
    assert_eq!(p.poll_frame(t0 + ms(2000)), None, "BYE is said once");

    // PLAY without a range after the end: still the end. PAUSE keeps it there.
    p.pause();
    p.play(t0 + ms(3000), None).unwrap();
    assert_eq!(p.poll_frame(t0 + ms(3000)), None);
    // From the start: plays again.
    p.play(t0 + ms(4000), Some(0.0)).unwrap();
    assert_eq!(drain_until_end(&mut p, t0 + ms(5000)), 3);
}

fn drain_until_end(p: &mut Playout, until: Instant) -> usize {
    let mut sent = 0;
    while let Some(now) = p.poll_timeout().filter(|&t| t <= until) {
        loop {
            match p.poll_frame(now) {
                Some(Poll::Frame(_)) => sent += 1,
                Some(Poll::End) => return sent,
                None => break,
                other => panic!("unexpected {other:?} after {sent} frames"),
            }
        }
    }
    panic!("no end after {sent} frames")
}

#[test]
fn an_empty_file_ends_at_once() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(0, true), ORIGIN);
    p.play(t0, Some(0.0)).unwrap();
    assert_eq!(p.poll_frame(t0), Some(Poll::End));
    assert_eq!(p.poll_frame(t0), None);
}

#[test]
fn frames_more_than_max_late_behind_are_skipped_not_sent_at_once() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(1000, false), ORIGIN);
    p.play(t0, None).unwrap();
    // Nothing sent for 5 s: 101 frames are due, those of the last 200 ms go out.
    let now = t0 + ms(5000);
    assert_eq!(p.poll_frame(now), Some(Poll::Skipped(96)));
    let sent = drain(&mut p, now, 1);
    assert!(p.poll_timeout().unwrap() > now);
    assert_eq!(sent.len(), 5);
    assert_eq!(sent[0].index, 96, "the first frame due after the cutoff");
    assert_eq!(sent[0].rtptime, p.rtptime(96));
    assert_eq!(p.poll_timeout(), Some(t0 + ms(50 * 101)));
    // Exactly MAX_LATE late is still sent.
    let mut q = Playout::new(timeline(1000, false), ORIGIN);
    q.play(t0, None).unwrap();
    assert_eq!(drain(&mut q, t0 + MAX_LATE, 1).len(), 5);
}

#[test]
fn a_non_looping_file_skips_no_further_than_its_end() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(10, false), ORIGIN);
    p.play(t0, None).unwrap();
    assert_eq!(p.poll_frame(t0 + ms(60_000)), Some(Poll::Skipped(10)));
    assert_eq!(p.poll_frame(t0 + ms(60_000)), Some(Poll::End));
}

#[test]
fn the_sender_report_maps_now_to_the_rtp_time_being_played() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(100, false), ORIGIN);
    p.play(t0, None).unwrap();
    drain(&mut p, t0 + ms(1500), 2);
    let sr = p.sender_report(t0 + ms(1500), 0xAABB_CCDD_0000_0000);
    // 1.5 s after PLAY at 90 kHz, wherever the frames are.
    assert_eq!(sr.rtp_timestamp, ORIGIN.rtptime.wrapping_add(135_000));
    assert_eq!(sr.ssrc, ORIGIN.ssrc);
    assert_eq!(sr.ntp, 0xAABB_CCDD_0000_0000);
    assert_eq!(sr.packet_count, 31 * 2);
    assert_eq!(sr.octet_count, 31 * 2000);
    // Between frames it is still the clock's time, not the last frame's.
    let mid = p.sender_report(t0 + ms(1525), 0);
    assert_eq!(mid.rtp_timestamp, ORIGIN.rtptime.wrapping_add(137_250));
    // Paused: the position stands still.
    p.pause();
    let paused = p.sender_report(t0 + ms(9000), 0);
    assert_eq!(paused.rtp_timestamp, p.rtptime(31));
    let compound = p.rtcp_report(t0, 0, "test", true);
    let parsed = crate::rtcp::parse_compound(&compound).unwrap();
    assert_eq!(parsed.len(), 3, "SR, SDES, BYE");
}

#[test]
fn sender_reports_are_due_at_play_then_every_interval_while_playing() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(10_000, false), ORIGIN);
    assert!(!p.poll_report(t0), "nothing to report before PLAY");
    assert_eq!(p.report_timeout(t0), None);
    p.play(t0, None).unwrap();
    assert_eq!(p.report_timeout(t0), Some(t0));
    assert!(p.poll_report(t0));
    assert!(!p.poll_report(t0 + ms(4999)));
    assert_eq!(p.report_timeout(t0 + ms(100)), Some(t0 + REPORT_INTERVAL));
    assert!(p.poll_report(t0 + REPORT_INTERVAL));
    p.pause();
    assert!(!p.poll_report(t0 + ms(60_000)));
}

#[test]
fn an_hour_of_playback_does_not_drift() {
    // 29.97 fps: a rate with no exact binary fraction, the worst case for accumulated error.
    let fps = 30_000.0 / 1001.0;
    let t0 = Instant::now();
    let frames = (3600.0 * fps) as u64;
    let mut p = Playout::new(
        Timeline {
            frames,
            fps,
            looping: false,
        },
        ORIGIN,
    );
    p.play(t0, None).unwrap();
    let mut worst = Duration::ZERO;
    for n in 0..frames {
        let due = p.poll_timeout().unwrap();
        let exact = t0 + Duration::from_nanos((n as u128 * 1001 * 1_000_000_000 / 30_000) as u64);
        worst = worst.max(if due > exact {
            due - exact
        } else {
            exact - due
        });
        // Sent late by a varying amount, which must not move the next deadline.
        let now = due + Duration::from_micros(n % 7 * 300);
        assert!(matches!(p.poll_frame(now), Some(Poll::Frame(_))));
    }
    assert!(worst < Duration::from_micros(1), "worst error {worst:?}");
    let last = p.rtptime(frames).wrapping_sub(ORIGIN.rtptime);
    assert_eq!(last, (frames as f64 * 90_000.0 / fps).round() as u32);
}

#[test]
fn a_new_timeline_waits_for_play_with_the_same_rtp_origin_and_position() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(100, false), ORIGIN);
    p.play(t0, None).unwrap();
    drain(&mut p, t0 + ms(100), 1);
    let generation = p.generation();
    p.set_timeline(timeline(7, true));
    assert!(p.generation() > generation);
    assert!(!p.is_playing());
    assert_eq!(p.position(), 3);
    assert_eq!(p.ssrc(), ORIGIN.ssrc);
    assert!(p.has_started(), "packets went out: a teardown must say BYE");
}

#[test]
fn the_clock_starts_when_the_driver_begins_unless_a_frame_went_out() {
    let t0 = Instant::now();
    let mut p = Playout::new(timeline(100, false), ORIGIN);
    p.play(t0, None).unwrap();
    // The response took 3 ms to go out: the first frame is due then, the rest from there.
    p.start_clock(t0 + ms(3));
    assert_eq!(p.poll_timeout(), Some(t0 + ms(3)));
    assert_eq!(drain(&mut p, t0 + ms(53), 1).len(), 2);
    // Once frames went out, the clock stays: no deadline moves.
    p.start_clock(t0 + ms(60));
    assert_eq!(p.poll_timeout(), Some(t0 + ms(103)));
}
