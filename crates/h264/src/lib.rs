//! JPEG frames to H.264, the first step of HLS and DASH (issue 17): browsers play H.264 in
//! `<video>`, never Motion-JPEG.
//!
//! Each JPEG is decoded to YCbCr (never through RGB), its chroma averaged 2x2 into 4:2:0
//! planes ([`Yuv420::from_jpeg`]), and handed to OpenH264 at a constant frame rate. Every
//! `gop` frames start with an IDR and nothing refers across it, so a segment of whole GOPs
//! decodes on its own. JPEG's YCbCr is full-range BT.601 (JFIF), and the stream says so in its
//! VUI: unsignalled, Chromium shows it as limited-range BT.709 with shifted colours.
//!
//! H.264 4:2:0 needs even sizes: an odd width or height loses its last column or row.

pub mod check;
pub mod cmaf;
mod run;
mod scale;

pub use run::{codecs_string, encode_run, first_access_unit, parameter_sets, EncodedRun};
pub use scale::size_at_height;

use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode,
    VuiConfig,
};
use openh264::formats::YUVSlices;
use openh264::OpenH264API;

/// Why a frame could not be made into H.264.
#[derive(Debug, thiserror::Error)]
pub enum H264Error {
    #[error("decoding the JPEG as YCbCr: {0}")]
    Decode(#[from] zune_jpeg::errors::DecodeErrors),
    #[error("the JPEG decoder gave no picture size")]
    NoSize,
    #[error("a {width}x{height} picture is too small for H.264 4:2:0 (2x2 at least)")]
    TooSmall { width: usize, height: usize },
    #[error("frame {frame} is {got:?}, the stream is {want:?}")]
    SizeChanged {
        frame: u64,
        got: (usize, usize),
        want: (usize, usize),
    },
    #[error("OpenH264: {0}")]
    Encoder(#[from] openh264::Error),
}

/// A picture as 4:2:0 planes, even-sized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Yuv420 {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Yuv420 {
    /// Decodes `jpeg` to YCbCr and subsamples its chroma 2x2 by averaging (what libjpeg does
    /// when it downsamples); an odd last column or row is left out. YCbCr comes out of the
    /// decoder as it is; grayscale gets neutral chroma; RGB, CMYK and YCCK, which the
    /// decoder can only give as RGB, are converted with JFIF's full-range BT.601 equations.
    pub fn from_jpeg(jpeg: &[u8]) -> Result<Yuv420, H264Error> {
        use zune_core::colorspace::ColorSpace;
        use zune_core::options::DecoderOptions;
        let mut probe = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg));
        probe.decode_headers()?;
        let out = match probe.input_colorspace() {
            Some(ColorSpace::YCbCr) => ColorSpace::YCbCr,
            Some(ColorSpace::Luma) => ColorSpace::Luma,
            _ => ColorSpace::RGB,
        };
        let options = DecoderOptions::default().jpeg_set_out_colorspace(out);
        let mut d = zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(jpeg), options);
        let pixels = d.decode()?;
        let info = d.info().ok_or(H264Error::NoSize)?;
        let (w, h) = (usize::from(info.width), usize::from(info.height));
        let ycbcr = match out {
            ColorSpace::RGB => Planes::Ycbcr(rgb_to_ycbcr(&pixels)),
            ColorSpace::Luma => Planes::Luma(pixels),
            _ => Planes::Ycbcr(pixels),
        };
        ycbcr.subsampled(w, h)
    }
}

/// Decoded pixels before subsampling.
enum Planes {
    /// Interleaved Y, Cb, Cr.
    Ycbcr(Vec<u8>),
    Luma(Vec<u8>),
}

/// JFIF's RGB to YCbCr (full range, BT.601 coefficients), interleaved in and out.
fn rgb_to_ycbcr(rgb: &[u8]) -> Vec<u8> {
    let clamp = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    let mut out = Vec::with_capacity(rgb.len());
    for p in rgb.chunks_exact(3) {
        let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
        out.push(clamp(0.299 * r + 0.587 * g + 0.114 * b));
        out.push(clamp(128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b));
        out.push(clamp(128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b));
    }
    out
}

impl Planes {
    /// 4:2:0 planes of a `full_w` x `full_h` picture, cut to even sizes.
    fn subsampled(&self, full_w: usize, full_h: usize) -> Result<Yuv420, H264Error> {
        let (width, height) = (full_w & !1, full_h & !1);
        if width < 2 || height < 2 {
            return Err(H264Error::TooSmall {
                width: full_w,
                height: full_h,
            });
        }
        let at = |x: usize, y: usize, c: usize| match self {
            Planes::Ycbcr(p) => p[(y * full_w + x) * 3 + c],
            Planes::Luma(p) if c == 0 => p[y * full_w + x],
            Planes::Luma(_) => 128,
        };
        let mut y = Vec::with_capacity(width * height);
        for row in 0..height {
            y.extend((0..width).map(|x| at(x, row, 0)));
        }
        let (cw, ch) = (width / 2, height / 2);
        let chroma = |c: usize| -> Vec<u8> {
            let mut plane = Vec::with_capacity(cw * ch);
            for row in 0..ch {
                for col in 0..cw {
                    let (x, yy) = (2 * col, 2 * row);
                    let sum: u32 = [(x, yy), (x + 1, yy), (x, yy + 1), (x + 1, yy + 1)]
                        .iter()
                        .map(|&(a, b)| u32::from(at(a, b, c)))
                        .sum();
                    plane.push(((sum + 2) / 4) as u8);
                }
            }
            plane
        };
        let (u, v) = (chroma(1), chroma(2));
        Ok(Yuv420 {
            width,
            height,
            y,
            u,
            v,
        })
    }
}

/// How a rendition is encoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub fps: f64,
    /// Frames per closed GOP: a segment boundary may fall at any multiple of it.
    pub gop: u32,
    /// Target bitrate in bits per second.
    pub bitrate: u32,
}

/// One access unit: Annex B NAL units (start codes included), and whether it is an IDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    pub annex_b: Vec<u8>,
    pub idr: bool,
}

/// An H.264 stream being encoded, frame by frame.
pub struct H264Encoder {
    encoder: Encoder,
    settings: Settings,
    size: Option<(usize, usize)>,
    frames: u64,
}

impl H264Encoder {
    pub fn new(settings: Settings) -> Result<H264Encoder, H264Error> {
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(settings.bitrate))
            .max_frame_rate(FrameRate::from_hz(settings.fps as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .intra_frame_period(IntraFramePeriod::from_num_frames(settings.gop))
            // Constant frame rate: a frame the rate control would skip is still sent. (OpenH264
            // then says it cannot hold the bitrate strictly: it is a target, not a cap.)
            .skip_frames(false)
            // OpenH264's background detection (for static video-call backgrounds) costs PSNR
            // at the same bitrate on every clip of benches/h264_vs_x264.sh, static background
            // included: off, 1-9% fewer bits for the same PSNR, at a CPU cost within the noise
            // (at most 5%; BENCHMARKS.md, History 2026-12-01 23:41).
            .background_detection(false)
            .vui(VuiConfig::bt601().full_range(true));
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)?;
        Ok(H264Encoder {
            encoder,
            settings,
            size: None,
            frames: 0,
        })
    }

    /// Makes the next frame an IDR, whatever `gop` says: a live stream's segments start
    /// where its timing cuts them, and one encoder keeps its rate control across them.
    pub fn force_idr(&mut self) {
        self.encoder.force_intra_frame();
    }

    /// Encodes the next frame; every `gop`-th (from the first) is an IDR.
    pub fn encode(&mut self, picture: &Yuv420) -> Result<AccessUnit, H264Error> {
        let size = (picture.width, picture.height);
        match self.size {
            Some(want) if want != size => {
                return Err(H264Error::SizeChanged {
                    frame: self.frames,
                    got: size,
                    want,
                })
            }
            _ => self.size = Some(size),
        }
        if self
            .frames
            .is_multiple_of(u64::from(self.settings.gop.max(1)))
        {
            self.encoder.force_intra_frame();
        }
        let source = YUVSlices::new(
            (&picture.y, &picture.u, &picture.v),
            size,
            (picture.width, picture.width / 2, picture.width / 2),
        );
        let ms = (self.frames as f64 * 1000.0 / self.settings.fps) as u64;
        let stream = self
            .encoder
            .encode_at(&source, openh264::Timestamp::from_millis(ms))?;
        self.frames += 1;
        Ok(AccessUnit {
            idr: matches!(stream.frame_type(), FrameType::IDR),
            annex_b: stream.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests;
