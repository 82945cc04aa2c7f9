//! Ranges with an end, Scale and Speed, driven by a fake clock like the other playout tests:
//! which frames go out, in which order, when, and with which RTP times.

use super::tests::{ms, play_out, timeline, ORIGIN};
use super::*;

/// One frame period at 90 kHz, at the 20 fps of [`timeline`].
const TICKS: u32 = 4500;

fn playout(frames: u64, looping: bool) -> Playout {
    Playout::new(timeline(frames, looping), ORIGIN)
}

fn request(from: Option<f64>, to: Option<f64>, scale: f64, speed: f64) -> PlayRequest {
    PlayRequest {
        from,
        to,
        trick: Trick::nearest(scale, speed),
    }
}

/// What an on-time driver sends until `until` or the end: each frame with its deadline.
fn run(p: &mut Playout, until: Instant) -> (Vec<(Instant, DueFrame)>, bool) {
    play_out(p, until, 3)
}

fn indexes(sent: &[(Instant, DueFrame)]) -> Vec<usize> {
    sent.iter().map(|(_, f)| f.index).collect()
}

/// Every frame's RTP time and deadline follow the one before by `ticks` and `gap`.
fn evenly_spaced(sent: &[(Instant, DueFrame)], ticks: u32, gap: Duration) -> bool {
    sent.windows(2)
        .all(|w| w[1].1.rtptime.wrapping_sub(w[0].1.rtptime) == ticks && w[1].0 - w[0].0 == gap)
}

#[test]
fn scale_2_and_4_send_every_other_and_every_fourth_frame_at_the_normal_rate() {
    let t0 = Instant::now();
    let mut p = playout(100, false);
    let started = p.play_request(t0, request(None, None, 2.0, 1.0)).unwrap();
    assert_eq!(started.trick.scale(), 2.0);
    assert_eq!((started.npt_start, started.npt_end), (0.0, Some(5.0)));
    assert_eq!(started.rtptime, ORIGIN.rtptime);
    let (sent, ended) = run(&mut p, t0 + ms(10_000));
    assert!(ended);
    assert_eq!(indexes(&sent), (0..100).step_by(2).collect::<Vec<_>>());
    assert!(evenly_spaced(&sent, TICKS, ms(50)));

    let started = p
        .play_request(t0, request(Some(1.0), None, 4.0, 1.0))
        .unwrap();
    assert_eq!(started.rtptime, ORIGIN.rtptime.wrapping_add(50 * TICKS));
    let (sent, _) = run(&mut p, t0 + ms(10_000));
    assert_eq!(indexes(&sent), (20..100).step_by(4).collect::<Vec<_>>());
    assert!(evenly_spaced(&sent, TICKS, ms(50)));
}

#[test]
fn scale_half_sends_every_frame_held_for_two_periods_of_time_and_rtp_time() {
    let t0 = Instant::now();
    let mut p = playout(10, false);
    let started = p.play_request(t0, request(None, None, 0.5, 1.0)).unwrap();
    assert_eq!(started.trick.scale(), 0.5);
    let (sent, ended) = run(&mut p, t0 + ms(10_000));
    assert!(ended);
    assert_eq!(indexes(&sent), (0..10).collect::<Vec<_>>());
    assert!(evenly_spaced(&sent, 2 * TICKS, ms(100)));
}

#[test]
fn scale_minus_1_plays_backwards_to_the_start_with_rtp_time_still_growing() {
    let t0 = Instant::now();
    let mut p = playout(100, false);
    let started = p
        .play_request(t0, request(Some(2.0), None, -1.0, 1.0))
        .unwrap();
    assert_eq!(started.trick.scale(), -1.0);
    assert_eq!((started.npt_start, started.npt_end), (2.0, Some(0.0)));
    let (sent, ended) = run(&mut p, t0 + ms(10_000));
    assert!(
        ended,
        "the start of the file ends backward play as its end ends forward play"
    );
    assert_eq!(indexes(&sent), (0..40).rev().collect::<Vec<_>>());
    assert!(evenly_spaced(&sent, TICKS, ms(50)));
    assert_eq!(p.poll_frame(t0 + ms(20_000)), None, "BYE once");

    // From the very end, and a range down to 1 s at Scale -2: the frames of [1 s, 5 s).
    p.play_request(t0, request(Some(5.0), Some(1.0), -2.0, 1.0))
        .unwrap();
    let (sent, ended) = run(&mut p, t0 + ms(10_000));
    assert!(ended);
    assert_eq!(
        indexes(&sent),
        (21..100).rev().step_by(2).collect::<Vec<_>>()
    );
}

#[test]
fn a_range_with_an_end_sends_its_frames_then_ends_and_a_plain_play_goes_on_from_there() {
    let t0 = Instant::now();
    let mut p = playout(100, false);
    // One frame: npt=T-T+1/fps.
    let started = p
        .play_request(t0, request(Some(1.0), Some(1.05), 1.0, 1.0))
        .unwrap();
    assert_eq!((started.npt_start, started.npt_end), (1.0, Some(1.05)));
    let (sent, ended) = run(&mut p, t0 + ms(10_000));
    assert_eq!((indexes(&sent), ended), (vec![20], true));
    assert!(
        p.is_playing() && !p.is_sending(),
        "PLAYING, as at the end of the file"
    );
    // Shorter than a frame still shows one; the next step starts after it.
    p.play_request(t0, request(Some(1.05), Some(1.06), 1.0, 1.0))
        .unwrap();
    assert_eq!(indexes(&run(&mut p, t0 + ms(10_000)).0), [21]);
    // A PLAY without a range resumes normal play from where the range ended.
    p.pause();
    let started = p.play(t0 + ms(20_000), None).unwrap();
    assert_eq!(started.npt_start, 1.1);
    assert_eq!(started.rtptime, ORIGIN.rtptime.wrapping_add(2 * TICKS));
    let (sent, _) = run(&mut p, t0 + ms(20_100));
    assert_eq!(indexes(&sent), [22, 23, 24]);
    // A range end past the file's stops at the file's.
    let started = p
        .play_request(t0, request(Some(4.9), Some(99.0), 1.0, 1.0))
        .unwrap();
    assert_eq!(started.npt_end, Some(5.0));
    assert_eq!(indexes(&run(&mut p, t0 + ms(10_000)).0), [98, 99]);
}

#[test]
fn speed_delivers_the_same_frames_and_rtp_times_faster_than_real_time() {
    let t0 = Instant::now();
    let mut p = playout(100, false);
    let started = p
        .play_request(t0, request(None, Some(1.0), 1.0, 2.0))
        .unwrap();
    assert_eq!(started.trick.speed, 2.0);
    let (sent, ended) = run(&mut p, t0 + ms(10_000));
    assert!(ended);
    assert_eq!(indexes(&sent), (0..20).collect::<Vec<_>>());
    assert!(evenly_spaced(&sent, TICKS, ms(25)));
    // The sender report maps the wall clock to the RTP time on the wire: 2 s of it per second.
    p.play_request(t0, request(None, None, 1.0, 2.0)).unwrap();
    let sr = p.sender_report(t0 + ms(1000), 0);
    let expected = ORIGIN.rtptime.wrapping_add(20 * TICKS + 180_000);
    assert_eq!(sr.rtp_timestamp, expected);
}

#[test]
fn a_seek_with_a_new_scale_while_playing_takes_effect_at_once_and_rtp_time_goes_on() {
    let t0 = Instant::now();
    let mut p = playout(100, false);
    p.play(t0, None).unwrap();
    let (before, _) = run(&mut p, t0 + ms(100));
    assert_eq!(indexes(&before), [0, 1, 2]);
    let t1 = t0 + ms(120);
    let started = p
        .play_request(t1, request(Some(3.0), None, -1.0, 1.0))
        .unwrap();
    assert_eq!(started.seq, before[2].1.seq.wrapping_add(3));
    assert_eq!(started.rtptime, ORIGIN.rtptime.wrapping_add(3 * TICKS));
    assert_eq!(
        p.poll_timeout(),
        Some(t1),
        "the first frame of the seek is due at once"
    );
    let (after, _) = run(&mut p, t1 + ms(100));
    assert_eq!(indexes(&after), [59, 58, 57]);
    assert_eq!(after[0].1.rtptime, started.rtptime);
}

#[test]
fn frames_too_late_are_skipped_in_steps_of_the_scale() {
    let t0 = Instant::now();
    let mut p = playout(1000, false);
    p.play_request(t0, request(None, None, 4.0, 1.0)).unwrap();
    // 1 s late: 21 frames were due, those of the last 200 ms go out; position 4 per frame.
    let now = t0 + ms(1000);
    assert_eq!(p.poll_frame(now), Some(Poll::Skipped(16)));
    assert_eq!(p.position(), 64);
    match p.poll_frame(now) {
        Some(Poll::Frame(f)) => {
            assert_eq!(f.index, 64);
            assert_eq!(f.rtptime, ORIGIN.rtptime.wrapping_add(16 * TICKS));
        }
        other => panic!("{other:?}"),
    }
    // Backwards, skipping stops at the start of the file.
    let mut q = playout(100, false);
    q.play_request(t0, request(Some(1.0), None, -1.0, 1.0))
        .unwrap();
    assert_eq!(q.poll_frame(t0 + ms(60_000)), Some(Poll::Skipped(20)));
    assert_eq!(q.poll_frame(t0 + ms(60_000)), Some(Poll::End));
}

#[test]
fn backwards_on_a_loop_goes_round_the_file() {
    let t0 = Instant::now();
    let mut p = playout(5, true);
    let started = p
        .play_request(t0, request(Some(0.1), None, -1.0, 1.0))
        .unwrap();
    assert_eq!(started.npt_end, None);
    let (sent, _) = run(&mut p, t0 + ms(50 * 7));
    assert_eq!(indexes(&sent), [1, 0, 4, 3, 2, 1, 0, 4]);
}

#[test]
fn ranges_against_the_direction_of_play_and_nothing_to_play_backwards_are_refused() {
    let t0 = Instant::now();
    let mut p = playout(100, false);
    p.play(t0, Some(2.0)).unwrap();
    let refused = [
        (
            request(Some(0.0), None, -1.0, 1.0),
            PlayError::NothingBefore,
        ),
        (
            request(Some(5.1), None, -1.0, 1.0),
            PlayError::PastTheEnd {
                start: 5.1,
                duration: 5.0,
            },
        ),
        (
            request(None, Some(1.0), 1.0, 1.0),
            PlayError::EndBeforeStart {
                start: 2.0,
                end: 1.0,
            },
        ),
        (
            request(None, Some(3.0), -1.0, 1.0),
            PlayError::EndBeforeStart {
                start: 2.0,
                end: 3.0,
            },
        ),
        (
            request(Some(1.0), Some(f64::NAN), 1.0, 1.0),
            PlayError::NotATime { start: f64::NAN },
        ),
    ];
    for (asked, error) in refused {
        let got = p.play_request(t0, asked).unwrap_err();
        // NaN is not equal to itself: compare what the error says.
        assert_eq!(got.to_string(), error.to_string(), "{asked:?}");
    }
    assert_eq!(p.position(), 40, "a refused PLAY changes nothing");
    assert_eq!(p.trick, Trick::NORMAL);
}
