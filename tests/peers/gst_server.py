#!/usr/bin/python3
"""Real RTSP server (gst-rtsp-server via python3-gi) streaming RFC 2435 JPEG/RTP.

Copied from the team's proven peers/ scripts and adapted: PORT may be 0 (the bound port is
printed in the "listening" line).

Usage: /usr/bin/python3 peers/gst_server.py PORT FILE_OR_PATTERN [options]

  FILE_OR_PATTERN is one of
    FILE.mjpeg       plain concatenated JPEGs or lab format (auto-detected); frames are
                     split in Python and pushed by appsrc with PTS = n/fps (no jpegparse
                     needed); mounted at /test and at /BASENAME (e.g. /small_420.mjpeg)
    DIR              every *.mjpeg in DIR at /BASENAME; /test = the first one
    PATTERN with %   numbered JPEG files from index 0 (like multifilesrc), e.g. f/%05d.jpg
    videotestsrc     videotestsrc is-live=true ! jpegenc ! rtpjpegpay (--size WxH)
  Options:
    --fps N            frame rate for timestamps (default 25)
    --loop             restart the file at EOF instead of sending EOS
    --duration S       exit by itself after S seconds (default: run until SIGINT/SIGTERM)
    --mtu N            rtpjpegpay mtu (default 1400)
    --udp-ports LO-HI  server-side RTP/RTCP UDP ports, bound on 127.0.0.1 (default 41000-41199)
    --transports L     udp,tcp (default) | udp | tcp
    --jpegparse        insert jpegparse after appsrc
    --shared           one media shared by all clients (default: a fresh media per client)
    --launch "( ... )" custom gst-rtsp-server launch line (must contain name=pay0)
    --quiet            do not log each RTSP request/response

Binds 127.0.0.1 only. Runs with Debian's /usr/bin/python3 (python3-gi); pyenv python
has no gi. Prints "gst_server: listening url=..." once ready (scripts wait for it), one
line per RTSP request/response, and on exit a machine-readable last line:
  gst_server: ok port=P clients=N medias=N frames_pushed=N rtp_frames=N rtp_packets=N warnings=N
"""
import argparse
import os
import signal
import sys
import time

try:
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402
except (ImportError, ValueError) as _e:
    print("gst_server: FAIL reason=no-gi-or-typelib python=%s error=%r (run with /usr/bin/python3; "
          "peers/install.sh installs python3-gi gir1.2-gst-rtsp-server-1.0)" % (sys.executable, str(_e)))
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mjpeg_tool  # noqa: E402

STATS = {"clients": 0, "medias": 0, "frames_pushed": 0, "rtp_frames": 0,
         "rtp_packets": 0, "warnings": 0, "errors": 0}
T0 = time.monotonic()
QUIET = False


def log(msg):
    sys.stdout.write("[%7.3f] %s\n" % (time.monotonic() - T0, msg))
    sys.stdout.flush()


def msg_summary(m):
    """One-line summary of a GstRtsp.RTSPMessage (request or response) with key headers."""
    try:
        mtype = m.get_type()
    except Exception:
        return "?"
    parts = []
    if mtype == GstRtsp.RTSPMsgType.REQUEST:
        res, method, uri, _ver = m.parse_request()
        parts.append("%s %s" % (GstRtsp.rtsp_method_as_text(method), uri))
    elif mtype == GstRtsp.RTSPMsgType.RESPONSE:
        res, code, reason, _ver = m.parse_response()
        parts.append("%d %s" % (int(code), reason))
    else:
        return str(mtype)
    for field in (GstRtsp.RTSPHeaderField.CSEQ, GstRtsp.RTSPHeaderField.SESSION,
                  GstRtsp.RTSPHeaderField.TRANSPORT, GstRtsp.RTSPHeaderField.RANGE,
                  GstRtsp.RTSPHeaderField.RTP_INFO):
        res, val = m.get_header(field, 0)
        if res == GstRtsp.RTSPResult.OK and val:
            parts.append("%s: %s" % (GstRtsp.rtsp_header_as_text(field), val))
    return " | ".join(parts)


class FileFeeder:
    """Per-media appsrc feeder: pushes frames[i] with PTS i/fps."""

    def __init__(self, name, frames, fps, loop):
        self.name, self.frames, self.fps, self.loop = name, frames, fps, loop
        self.i = 0
        self.dur = Gst.util_uint64_scale_int(Gst.SECOND, 1, fps)

    def need_data(self, src, _length):
        n = len(self.frames)
        if self.i >= n and not self.loop:
            src.emit("end-of-stream")
            log("media %s: EOS after %d frames" % (self.name, self.i))
            return
        fr = self.frames[self.i % n]
        buf = Gst.Buffer.new_wrapped(fr)
        buf.pts = self.i * self.dur
        buf.duration = self.dur
        src.emit("push-buffer", buf)
        self.i += 1
        STATS["frames_pushed"] += 1


def jpeg_caps(frame, fps):
    h = mjpeg_tool.parse_frame(frame)
    return "image/jpeg,width=%d,height=%d,framerate=%d/1" % (h["width"], h["height"], fps)


def make_factory(args, launch, frames=None, label=""):
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(args.shared)
    lt = GstRtsp.RTSPLowerTrans(0)
    if "udp" in args.transports:
        lt |= GstRtsp.RTSPLowerTrans.UDP
    if "tcp" in args.transports:
        lt |= GstRtsp.RTSPLowerTrans.TCP
    factory.set_protocols(lt)
    factory.set_address_pool(POOL)

    def on_configure(_factory, media):
        STATS["medias"] += 1
        mid = STATS["medias"]
        el = media.get_element()
        if frames is not None:
            src = el.get_child_by_name("src")
            feeder = FileFeeder("%s#%d" % (label, mid), frames, args.fps, args.loop)
            src.connect("need-data", feeder.need_data)
            media._feeder = feeder  # keep alive with the media
        pay = el.get_child_by_name("pay0")
        if pay is not None:
            def count(buf):
                STATS["rtp_packets"] += 1
                if buf.has_flags(Gst.BufferFlags.MARKER):
                    STATS["rtp_frames"] += 1

            def on_rtp(_pad, info):
                if info.type & Gst.PadProbeType.BUFFER_LIST:
                    bl = info.get_buffer_list()
                    for k in range(bl.length()):
                        count(bl.get(k))
                else:
                    count(info.get_buffer())
                return Gst.PadProbeReturn.OK
            # rtpjpegpay pushes one buffer list per frame
            pay.get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, on_rtp)
        pipe = el.get_parent()
        if pipe is not None:
            bus = pipe.get_bus()
            bus.enable_sync_message_emission()

            def on_sync(_bus, m):
                if m.type == Gst.MessageType.WARNING:
                    STATS["warnings"] += 1
                    err, dbg = m.parse_warning()
                    if STATS["warnings"] <= 5 or STATS["warnings"] % 100 == 0:
                        log("media %s#%d WARNING from %s: %s (total %d)" % (
                            label, mid, m.src.get_name(), err.message, STATS["warnings"]))
                elif m.type == Gst.MessageType.ERROR:
                    STATS["errors"] += 1
                    err, dbg = m.parse_error()
                    log("media %s#%d ERROR from %s: %s" % (label, mid, m.src.get_name(), err.message))
            bus.connect("sync-message", on_sync)
        log("media %s#%d configured" % (label, mid))
    factory.connect("media-configure", on_configure)
    return factory


def on_client(_server, client):
    STATS["clients"] += 1
    cid = STATS["clients"]
    conn = client.get_connection()
    ip = conn.get_ip() if conn else "?"
    log("client %d connected from %s" % (cid, ip))
    if not QUIET:
        # pre-*-request signals fire before the server handles the request (the plain
        # *-request ones fire after the response for some methods); return OK to go on.
        def on_req(_c, ctx, what):
            try:
                req = msg_summary(ctx.request)
            except Exception as e:  # pragma: no cover - introspection differences
                req = "%s (%s)" % (what, e)
            log("client %d: request  %s" % (cid, req))
            return GstRtsp.RTSPStatusCode.OK
        for sig in ("options", "describe", "setup", "play", "pause", "teardown",
                    "get-parameter", "set-parameter", "announce", "record"):
            client.connect("pre-%s-request" % sig, on_req, sig)

        def on_send(_c, _ctx, resp):
            log("client %d: response %s" % (cid, msg_summary(resp)))
        client.connect("send-message", on_send)
    client.connect("closed", lambda _c: log("client %d closed" % cid))


POOL = None


def main():
    global POOL, QUIET
    ap = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].split("\n")[0][7:])
    ap.add_argument("port", type=int)
    ap.add_argument("source")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--mtu", type=int, default=1400)
    ap.add_argument("--udp-ports", default="41000-41199")
    ap.add_argument("--transports", default="udp,tcp")
    ap.add_argument("--jpegparse", action="store_true")
    ap.add_argument("--shared", action="store_true")
    ap.add_argument("--launch")
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    QUIET = args.quiet
    Gst.init(None)

    lo, hi = (int(x) for x in args.udp_ports.split("-"))
    POOL = GstRtspServer.RTSPAddressPool()
    # ttl 0 => unicast range: the server binds its RTP/RTCP sockets to 127.0.0.1:LO..HI
    if not POOL.add_range("127.0.0.1", "127.0.0.1", lo, hi, 0):
        print("gst_server: FAIL reason=bad-udp-port-range")
        return 1

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    pay = "rtpjpegpay name=pay0 pt=26 mtu=%d" % args.mtu
    parse = " ! jpegparse" if args.jpegparse else ""
    names = []

    def add_file(mount, path):
        try:
            fmt, frames = mjpeg_tool.frames_of(open(path, "rb").read())
        except (OSError, mjpeg_tool.JpegError) as e:
            print("gst_server: FAIL reason=bad-file file=%s error=%r" % (path, str(e)))
            sys.exit(1)
        if not frames:
            print("gst_server: FAIL reason=no-frames file=%s" % path)
            sys.exit(1)
        caps = jpeg_caps(frames[0], args.fps)
        launch = ('( appsrc name=src is-live=false format=time max-bytes=4000000 '
                  'caps="%s"%s ! %s )' % (caps, parse, pay))
        mounts.add_factory(mount, make_factory(args, launch, frames, os.path.basename(path)))
        names.append(mount)
        log("mount %s <- %s (%s, %d frames, %s)" % (mount, path, fmt, len(frames), caps))

    src = args.source
    if args.launch:
        mounts.add_factory("/test", make_factory(args, args.launch, None, "launch"))
        names.append("/test")
    elif src == "videotestsrc":
        w, h = args.size.split("x")
        # format=I420: unconstrained, videotestsrc/jpegenc negotiate 4:4:4, which
        # rtpjpegpay rejects ("Invalid component")
        launch = ("( videotestsrc is-live=true pattern=smpte ! video/x-raw,format=I420,width=%s,"
                  "height=%s,framerate=%d/1 ! jpegenc ! %s )" % (w, h, args.fps, pay))
        mounts.add_factory("/test", make_factory(args, launch, None, "videotestsrc"))
        names.append("/test")
    elif "%" in src:
        # like multifilesrc location=PATTERN index=0, but read here and pushed by appsrc:
        # multifilesrc ! jpegparse does not timestamp from caps (frames go out at once)
        files = []
        while os.path.isfile(src % len(files)):
            files.append(src % len(files))
        if not files:
            print("gst_server: FAIL reason=no-file-for-pattern pattern=%s" % src)
            return 1
        tmp = os.path.join(os.environ.get("PEERS_SCRATCH", os.path.join(os.environ.get("TMPDIR", "/tmp"), "peers")), "pattern-%d.mjpeg" % os.getpid())
        os.makedirs(os.path.dirname(tmp), exist_ok=True)
        with open(tmp, "wb") as f:
            for fn in files:
                f.write(open(fn, "rb").read())
        add_file("/test", tmp)
        os.unlink(tmp)
    elif os.path.isdir(src):
        files = sorted(f for f in os.listdir(src) if f.lower().endswith((".mjpeg", ".mjpg")))
        if not files:
            print("gst_server: FAIL reason=no-mjpeg-in-dir dir=%s" % src)
            return 1
        add_file("/test", os.path.join(src, files[0]))
        for f in files:
            add_file("/" + f, os.path.join(src, f))
    elif os.path.isfile(src):
        add_file("/test", src)
        add_file("/" + os.path.basename(src), src)
    else:
        print("gst_server: FAIL reason=no-such-source source=%s" % src)
        return 1

    server.connect("client-connected", on_client)
    if server.attach(None) == 0:
        print("gst_server: FAIL reason=cannot-bind port=%d" % args.port)
        return 1
    # Port 0 lets the kernel pick a free port, so tests can run in parallel.
    args.port = server.get_bound_port()
    loop = GLib.MainLoop()
    rc = {"code": 0}

    def stop(*_a):
        loop.quit()
        return False
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, stop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, stop)
    if args.duration > 0:
        GLib.timeout_add(int(args.duration * 1000), stop)
    log("gst_server: listening url=rtsp://127.0.0.1:%d/test mounts=%s transports=%s udp_ports=%s"
        % (args.port, ",".join(names), args.transports, args.udp_ports))
    loop.run()
    print("gst_server: %s port=%d %s" % ("ok" if rc["code"] == 0 else "FAIL", args.port,
                                         " ".join("%s=%d" % kv for kv in STATS.items())))
    sys.stdout.flush()
    return rc["code"]


if __name__ == "__main__":
    sys.exit(main())
