//! The renditions a video is offered in (`--renditions`): by default the source size and,
//! when the source is taller, one at most 360 lines high, as players on phones and slow links
//! want. Each has a name (`720p`), a size with the source's shape, and a target bitrate.

use std::fmt;
use std::str::FromStr;

/// Lines of the lower rendition of the default ladder.
pub const DEFAULT_LOW: usize = 360;
/// The bitrate of a rendition whose bitrate is not given, for `width` x `height` at `fps`:
/// 800 kbit/s for the sample's 384x288 at 20 fps, where every frame of it measures at least
/// 38 dB PSNR against the source (tests/hls.rs; at 600 kbit/s 11 of its 400 frames are
/// below, at 450 half of them), growing with the area to the power 0.75 (larger pictures
/// need fewer bits a pixel: 3.9 Mbit/s at 1280x720, 1.4 at 640x360) and with the frame rate.
pub fn default_bitrate(width: usize, height: usize, fps: f64) -> u32 {
    let area = (width * height) as f64 / (384.0 * 288.0);
    (800_000.0 * area.powf(0.75) * fps / 20.0).round() as u32
}

/// One entry of `--renditions`: a height (or the source's) and maybe a bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenditionSpec {
    /// Lines high; `None` is the source's height.
    pub height: Option<usize>,
    /// Target bitrate in bits per second; `None` is [`default_bitrate`].
    pub bitrate: Option<u32>,
}

/// The parsed `--renditions` list: `source,360`, `720:2500,360:600` (kbit/s after the colon).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenditionList(pub Vec<RenditionSpec>);

impl FromStr for RenditionList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut list = Vec::new();
        for item in s.split(',').map(str::trim) {
            let (height, rate) = match item.split_once(':') {
                Some((h, r)) => (h, Some(r)),
                None => (item, None),
            };
            let height = match height {
                "source" => None,
                h => match h.trim_end_matches('p').parse::<usize>() {
                    Ok(n) if (16..=4320).contains(&n) => Some(n),
                    _ => {
                        return Err(format!(
                            "{item:?}: a height of 16 to 4320 lines, or 'source'"
                        ))
                    }
                },
            };
            let bitrate = match rate {
                None => None,
                Some(r) => match r.trim_end_matches('k').parse::<u32>() {
                    Ok(k) if (50..=100_000).contains(&k) => Some(k * 1000),
                    _ => return Err(format!("{item:?}: a bitrate of 50 to 100000 kbit/s")),
                },
            };
            list.push(RenditionSpec { height, bitrate });
        }
        Ok(RenditionList(list))
    }
}

impl fmt::Display for RenditionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|s| {
                let h = s.height.map_or("source".to_string(), |h| h.to_string());
                match s.bitrate {
                    Some(b) => format!("{h}:{}", b / 1000),
                    None => h,
                }
            })
            .collect();
        f.write_str(&items.join(","))
    }
}

/// OpenH264 encodes nothing smaller than a macroblock on a side: a smaller picture is
/// scaled up to it, keeping its shape as closely as even sizes allow.
const MIN_SIDE: usize = 16;

fn at_least_min_side((w, h): (usize, usize)) -> (usize, usize) {
    if w >= MIN_SIDE && h >= MIN_SIDE {
        return (w, h);
    }
    let k = (MIN_SIDE as f64 / w.max(1) as f64).max(MIN_SIDE as f64 / h.max(1) as f64);
    let up = |v: usize| ((v as f64 * k).ceil() as usize + 1) & !1;
    (up(w).max(MIN_SIDE), up(h).max(MIN_SIDE))
}

/// A rendition of one video.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rendition {
    /// What URLs call it: its height and `p`.
    pub id: String,
    pub width: usize,
    pub height: usize,
    pub bitrate: u32,
}

/// The renditions of a `source` (width, height) video at `fps`: `list`'s, or the default
/// ladder when it is empty; never taller than the source, no two the same height, tallest
/// first (the order players list them in).
pub fn ladder(source: (usize, usize), fps: f64, list: &RenditionList) -> Vec<Rendition> {
    let default;
    let specs = match list.0.is_empty() {
        false => &list.0,
        true => {
            let mut d = vec![RenditionSpec {
                height: None,
                bitrate: None,
            }];
            if source.1 > DEFAULT_LOW {
                d.push(RenditionSpec {
                    height: Some(DEFAULT_LOW),
                    bitrate: None,
                });
            }
            default = d;
            &default
        }
    };
    let mut out: Vec<Rendition> = Vec::new();
    for spec in specs {
        let (width, height) = at_least_min_side(h264::size_at_height(
            source,
            spec.height.unwrap_or(source.1),
        ));
        if out.iter().any(|r| r.height == height) {
            continue;
        }
        let bitrate = spec
            .bitrate
            .unwrap_or_else(|| default_bitrate(width, height, fps));
        out.push(Rendition {
            id: format!("{height}p"),
            width,
            height,
            bitrate: bitrate.max(50_000),
        });
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.height));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_ladder_adds_360_lines_only_under_a_taller_source() {
        let none = RenditionList::default();
        let hd: Vec<_> = ladder((1280, 720), 20.0, &none);
        let sizes: Vec<_> = hd
            .iter()
            .map(|r| (r.id.as_str(), r.width, r.height))
            .collect();
        assert_eq!(sizes, [("720p", 1280, 720), ("360p", 640, 360)]);
        let lab = ladder((384, 288), 20.0, &none);
        assert_eq!(lab.len(), 1);
        assert_eq!(
            (lab[0].width, lab[0].height, lab[0].id.as_str()),
            (384, 288, "288p")
        );
        // An odd source loses its last column and row, as H.264 4:2:0 must.
        let odd = ladder((641, 479), 20.0, &none);
        assert_eq!((odd[0].width, odd[0].height), (640, 478));
        assert_eq!((odd[1].width, odd[1].height), (482, 360));
        assert_eq!(lab[0].bitrate, 800_000);
        // Below a macroblock, scaled up to one.
        let tiny = ladder((8, 8), 20.0, &none);
        assert_eq!((tiny[0].width, tiny[0].height), (16, 16));
        let wide = ladder((17, 9), 20.0, &none);
        assert_eq!((wide[0].width, wide[0].height), (28, 16));
        assert_eq!((hd[0].bitrate / 1000, hd[1].bitrate / 1000), (3923, 1387));
    }

    #[test]
    fn renditions_parse_heights_and_rates_and_refuse_nonsense() {
        let l: RenditionList = "source:2500,360:600, 240".parse().unwrap();
        assert_eq!(l.to_string(), "source:2500,360:600,240");
        let r = ladder((1280, 720), 25.0, &l);
        let got: Vec<_> = r.iter().map(|r| (r.height, r.bitrate)).collect();
        assert_eq!(got[..2], [(720, 2_500_000), (360, 600_000)]);
        assert_eq!(got[2].0, 240);
        // Taller than the source is the source; the same height twice is once.
        let r = ladder((384, 288), 20.0, &"1080,source".parse().unwrap());
        assert_eq!(r.len(), 1);
        for bad in ["", "abc", "10", "720:1", "720:x", "99999"] {
            assert!(bad.parse::<RenditionList>().is_err(), "{bad:?}");
        }
    }
}
