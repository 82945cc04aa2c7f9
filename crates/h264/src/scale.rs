//! Pictures at a rendition's size: each plane resized on its own (Catmull-Rom for shrinking,
//! which keeps the burned-in text of a lower rendition legible), so the ladder never goes
//! through RGB either.

use image::imageops::{self, FilterType};
use image::GrayImage;

use crate::Yuv420;

impl Yuv420 {
    /// This picture at `width` x `height` (both even, at least 2). The same size is a copy.
    pub fn scaled(&self, width: usize, height: usize) -> Yuv420 {
        let (width, height) = (width.max(2) & !1, height.max(2) & !1);
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let plane = |data: &[u8], w: usize, h: usize, to_w: usize, to_h: usize| -> Vec<u8> {
            let image = GrayImage::from_raw(w as u32, h as u32, data.to_vec())
                .expect("a plane's length is its width times its height");
            imageops::resize(&image, to_w as u32, to_h as u32, FilterType::CatmullRom).into_raw()
        };
        let (cw, ch) = (self.width / 2, self.height / 2);
        Yuv420 {
            width,
            height,
            y: plane(&self.y, self.width, self.height, width, height),
            u: plane(&self.u, cw, ch, width / 2, height / 2),
            v: plane(&self.v, cw, ch, width / 2, height / 2),
        }
    }
}

/// The even size `height` lines high with the source's shape (`source` = width, height).
pub fn size_at_height(source: (usize, usize), height: usize) -> (usize, usize) {
    let (w, h) = source;
    let height = height.min(h).max(2) & !1;
    let width = ((w as f64 * height as f64 / h.max(1) as f64).round() as usize).max(2) & !1;
    (width, height)
}
