//! Real players against our server: ffmpeg and GStreamer over UDP must receive at least 95% of
//! the frames sent, each bit-exact: its entropy-coded data equal to the source frame's, and the
//! headers their depayloaders rebuilt (size, sampling, quantization tables) equal too.

mod support;

use support::*;

/// At least 95% of the frames sent between the first and last one received arrived, over a
/// span of at least `min_span` frames.
fn assert_delivery(client: &str, indices: &[usize], min_span: usize) {
    assert!(!indices.is_empty(), "{client} received no frame");
    assert!(
        indices.windows(2).all(|w| w[0] < w[1]),
        "{client}: frames out of order or repeated"
    );
    let span = indices.last().unwrap() - indices.first().unwrap() + 1;
    eprintln!(
        "{client}: {} of {span} frames sent in the window, all bit-exact",
        indices.len()
    );
    assert!(
        span >= min_span,
        "{client}: only {span} frames of streaming observed"
    );
    assert!(
        indices.len() * 100 >= span * 95,
        "{client}: {} of {span} frames",
        indices.len()
    );
}

fn ffmpeg_plays(transport: &str) {
    if !have_ffmpeg() {
        return;
    }
    let server = start_server(&videos_dir(), |_| {});
    let received = ffmpeg_plays_url(&url(&server, "video.mjpeg"), transport, 5);
    let indices = match_frames(&received, &sample_frames());
    assert_delivery(&format!("ffmpeg over {transport}"), &indices, 80);
}

#[test]
fn ffmpeg_plays_our_server_over_udp_bit_exact() {
    ffmpeg_plays("udp");
}

#[test]
fn ffmpeg_plays_our_server_over_tcp_bit_exact() {
    ffmpeg_plays("tcp");
}

#[test]
fn gstreamer_plays_our_server_over_udp_bit_exact() {
    if !have_gstreamer() {
        return;
    }
    let server = start_server(&videos_dir(), |_| {});
    let received = gstreamer_plays(&url(&server, "video.mjpeg"), "udp", 7);
    assert_delivery(
        "gstreamer over udp",
        &match_frames(&received, &sample_frames()),
        80,
    );
}

#[test]
fn gstreamer_plays_our_server_over_tcp_bit_exact() {
    if !have_gstreamer() {
        return;
    }
    let server = start_server(&videos_dir(), |_| {});
    let received = gstreamer_plays(&url(&server, "video.mjpeg"), "tcp", 7);
    assert_delivery(
        "gstreamer over tcp",
        &match_frames(&received, &sample_frames()),
        80,
    );
}

/// The receiver reports a real client sends, as the server parsed them.
fn reports_after(server: &server::ServerHandle, play: impl FnOnce()) -> Vec<server::SessionReport> {
    play();
    server.shared.receiver_reports()
}

#[test]
fn server_reads_ffmpegs_receiver_reports() {
    if !have_ffmpeg() {
        return;
    }
    let server = start_server(&videos_dir(), |_| {});
    let reports = reports_after(&server, || {
        let o = ffmpeg_client(&url(&server, "video.mjpeg"), "udp", 7, &["-f", "null", "-"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    });
    eprintln!("ffmpeg's reports: {reports:?}");
    assert!(!reports.is_empty(), "no receiver report parsed from ffmpeg");
    // No loss on loopback; GStreamer may count one packet twice, which RFC 3550 reports as a
    // negative loss (seen here: -1), so the sign-extended 24-bit field must read as such.
    assert!(reports.iter().all(|r| r.block.cumulative_lost <= 0
        && r.block.cumulative_lost > -3
        && r.block.highest_seq > 0));
}

#[test]
fn server_reads_gstreamers_receiver_reports() {
    if !have_gstreamer() {
        return;
    }
    let server = start_server(&videos_dir(), |_| {});
    let url = url(&server, "video.mjpeg");
    let reports = reports_after(&server, || {
        gstreamer_plays(&url, "udp", 8);
    });
    eprintln!("GStreamer's reports: {reports:?}");
    assert!(
        !reports.is_empty(),
        "no receiver report parsed from GStreamer"
    );
    // No loss on loopback; GStreamer may count one packet twice, which RFC 3550 reports as a
    // negative loss (seen here: -1), so the sign-extended 24-bit field must read as such.
    assert!(reports.iter().all(|r| r.block.cumulative_lost <= 0
        && r.block.cumulative_lost > -3
        && r.block.highest_seq > 0));
}
