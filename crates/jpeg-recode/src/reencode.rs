//! The lossy fallback: frames that cannot be re-coded without loss (4:4:4, 4:4:0, 4:1:1, RGB,
//! CMYK...) are decoded to pixels and encoded again as baseline 4:2:0 with the source's own
//! quantization tables, so quality stays where it was.

use rtsp_proto::jpeg::tables::{q_tables, ZIGZAG};
use rtsp_proto::jpeg::{JpegError, JpegInfo};

/// Why a frame could not be decoded and encoded again.
#[derive(Debug, thiserror::Error)]
pub enum ReencodeError {
    #[error("cannot read the frame: {0}")]
    Parse(#[from] JpegError),
    #[error("decoding as YCbCr: {0}")]
    Decode(#[source] zune_jpeg::errors::DecodeErrors),
    #[error("decoding as RGB: {0}")]
    DecodeRgb(#[source] image::ImageError),
    #[error("the decoder gave no picture size")]
    NoPictureSize,
    #[error("encoding: {0}")]
    Encode(#[source] jpeg_encoder::EncodingError),
}

/// The quantization table of `component` in natural order, as jpeg-encoder takes it.
fn natural_table(info: &JpegInfo, component: usize) -> Box<[u16; 64]> {
    let q = info
        .components
        .get(component)
        .and_then(|c| info.quant_tables.get(c.tq as usize))
        .and_then(|t| t.clone())
        .or_else(|| info.quant_tables.iter().flatten().next().cloned())
        .unwrap_or_else(|| q_tables(75).0.to_vec());
    // DQT is zig-zag order, jpeg-encoder takes natural order; 16-bit values are clamped
    // to what an 8-bit table (RFC 2435's only kind) can hold.
    let mut natural = [0u16; 64];
    for k in 0..64 {
        let v = if q.len() == 128 {
            u16::from_be_bytes([q[2 * k], q[2 * k + 1]])
        } else {
            q[k] as u16
        };
        natural[ZIGZAG[k]] = v.clamp(1, 255);
    }
    Box::new(natural)
}

/// Decoded pixels ready for the encoder.
struct Picture {
    pixels: Vec<u8>,
    width: u16,
    height: u16,
    color: jpeg_encoder::ColorType,
}

/// Three YCbCr components are kept so, and only the chroma is resampled. Anything else (RGB,
/// CMYK, YCCK) goes through RGB, which the encoder turns into YCbCr.
fn decode_picture(jpeg: &[u8], info: &JpegInfo) -> Result<Picture, ReencodeError> {
    if info.components.len() == 3 && !info.is_rgb() {
        use zune_core::colorspace::ColorSpace;
        use zune_core::options::DecoderOptions;
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::YCbCr);
        let mut d = zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(jpeg), options);
        let pixels = d.decode().map_err(ReencodeError::Decode)?;
        let i = d.info().ok_or(ReencodeError::NoPictureSize)?;
        return Ok(Picture {
            pixels,
            width: i.width,
            height: i.height,
            color: jpeg_encoder::ColorType::Ycbcr,
        });
    }
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .map_err(ReencodeError::DecodeRgb)?
        .to_rgb8();
    let (width, height) = (img.width() as u16, img.height() as u16);
    Ok(Picture {
        pixels: img.into_raw(),
        width,
        height,
        color: jpeg_encoder::ColorType::Rgb,
    })
}

/// Decodes a frame and encodes it again as baseline 4:2:0 with standard Huffman tables and the
/// source's own quantization tables (luma for luma, the first chroma table for chroma).
pub fn reencode(jpeg: &[u8]) -> Result<Vec<u8>, ReencodeError> {
    let info = JpegInfo::parse(jpeg)?;
    let (luma, chroma) = (natural_table(&info, 0), natural_table(&info, 1));
    let picture = decode_picture(jpeg, &info)?;
    let mut out = Vec::with_capacity(jpeg.len());
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 100);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    // Its default takes one chroma sample of four; averaging them is what libjpeg does and
    // keeps about 1.5 dB more of the picture.
    enc.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    enc.set_quantization_tables(
        jpeg_encoder::QuantizationTableType::Custom(luma),
        jpeg_encoder::QuantizationTableType::Custom(chroma),
    );
    enc.set_optimized_huffman_tables(false);
    if let Some(ri) = info.restart_interval {
        enc.set_restart_interval(ri);
    }
    enc.encode(
        &picture.pixels,
        picture.width,
        picture.height,
        picture.color,
    )
    .map_err(ReencodeError::Encode)?;
    Ok(out)
}
