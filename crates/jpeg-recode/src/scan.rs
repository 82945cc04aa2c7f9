//! Decoding one scan's entropy-coded data into coefficient blocks: sequential scans
//! (T.81 F.2) and the four kinds of progressive scan (T.81 G.1.2).

use crate::decode::ComponentCoefficients;
use crate::error::{EntropyFault, RecodeError, StructureFault};
use crate::huffman::{extend, BitReader, HuffmanDecoder};

/// One component of a scan: its index in the frame and its table ids.
pub(crate) struct ScanComponent {
    pub index: usize,
    pub dc: usize,
    pub ac: usize,
}

/// What the SOS header and the frame say about how a scan is laid out.
pub(crate) struct ScanParams {
    /// Offset of the scan's SOS marker, for errors about the scan's header.
    pub at: usize,
    pub ss: usize,
    pub se: usize,
    pub ah: u8,
    pub al: u8,
    pub progressive: bool,
    pub mcux: usize,
    pub mcuy: usize,
    pub width: usize,
    pub height: usize,
    pub hmax: usize,
    pub vmax: usize,
    pub restart_interval: Option<u16>,
}

/// The Huffman tables defined so far, by id.
pub(crate) struct Tables {
    pub dc: [Option<HuffmanDecoder>; 4],
    pub ac: [Option<HuffmanDecoder>; 4],
}

/// What carries from block to block within a scan, reset at each restart marker.
struct ScanState {
    pred: Vec<i32>,
    eobrun: u32,
}

/// Decodes the entropy-coded data of one scan (`data`, which starts at byte `base` of the
/// frame) into the blocks of `comps`.
pub(crate) fn decode_scan(
    data: &[u8],
    base: usize,
    scan: &[ScanComponent],
    p: &ScanParams,
    tables: &Tables,
    comps: &mut [ComponentCoefficients],
) -> Result<(), RecodeError> {
    let mut r = BitReader::new(data, base);
    let mut st = ScanState {
        pred: vec![0; scan.len()],
        eobrun: 0,
    };
    // A non-interleaved scan's MCU is one block, over the component's own (unpadded) grid.
    let single = (scan.len() == 1).then(|| {
        let c = &comps[scan[0].index];
        let cw = (p.width * c.h as usize).div_ceil(p.hmax).div_ceil(8);
        let ch = (p.height * c.v as usize).div_ceil(p.vmax).div_ceil(8);
        (cw, ch)
    });
    let total_mcus = single.map_or(p.mcux * p.mcuy, |(cw, ch)| cw * ch);
    let mut blocks = Vec::with_capacity(10);
    for mcu in 0..total_mcus {
        if let Some(ri) = p.restart_interval {
            if mcu > 0 && mcu % ri as usize == 0 {
                r.restart()?;
                st.pred.iter_mut().for_each(|p| *p = 0);
                st.eobrun = 0;
            }
        }
        blocks.clear();
        match single {
            Some((cw, _)) => blocks.push((0, mcu % cw, mcu / cw)),
            None => interleaved_blocks(mcu, scan, p, comps, &mut blocks),
        }
        for &(si, bx, by) in &blocks {
            let sc = &scan[si];
            let c = &mut comps[sc.index];
            let bw = c.blocks_w;
            let block = c
                .blocks
                .get_mut(by * bw + bx)
                .ok_or(RecodeError::Structure {
                    at: p.at,
                    fault: StructureFault::BlockOutsideGrid,
                })?;
            decode_block(&mut r, &mut st, si, sc, p, tables, block)?;
        }
    }
    Ok(())
}

/// The blocks of interleaved MCU `mcu`: (scan component, block column, block row).
fn interleaved_blocks(
    mcu: usize,
    scan: &[ScanComponent],
    p: &ScanParams,
    comps: &[ComponentCoefficients],
    out: &mut Vec<(usize, usize, usize)>,
) {
    let (mx, my) = (mcu % p.mcux, mcu / p.mcux);
    for (si, sc) in scan.iter().enumerate() {
        let c = &comps[sc.index];
        for v in 0..c.v as usize {
            for h in 0..c.h as usize {
                out.push((si, mx * c.h as usize + h, my * c.v as usize + v));
            }
        }
    }
}

fn decode_block(
    r: &mut BitReader,
    st: &mut ScanState,
    si: usize,
    sc: &ScanComponent,
    p: &ScanParams,
    tables: &Tables,
    block: &mut [i16; 64],
) -> Result<(), RecodeError> {
    let structure = |fault| RecodeError::Structure { at: p.at, fault };
    let dc = || {
        tables.dc[sc.dc]
            .as_ref()
            .ok_or(structure(StructureFault::UndefinedDcTable))
    };
    let ac = || {
        tables.ac[sc.ac]
            .as_ref()
            .ok_or(structure(StructureFault::UndefinedAcTable))
    };
    if !p.progressive {
        st.pred[si] = st.pred[si].wrapping_add(dc_diff(r, dc()?)?);
        block[0] = st.pred[si] as i16;
        sequential_ac(r, ac()?, block)
    } else if p.ss == 0 {
        if p.ah == 0 {
            st.pred[si] = st.pred[si].wrapping_add(dc_diff(r, dc()?)?);
            block[0] = (st.pred[si] << p.al) as i16;
        } else if r.bit() == 1 {
            block[0] |= 1 << p.al;
        }
        Ok(())
    } else if p.ah == 0 {
        ac_first(r, ac()?, block, p, &mut st.eobrun)
    } else {
        ac_refine(r, ac()?, block, p, &mut st.eobrun)
    }
}

/// A DC difference (T.81 F.2.2.1).
fn dc_diff(r: &mut BitReader, t: &HuffmanDecoder) -> Result<i32, RecodeError> {
    let s = r.decode(t)? as u32;
    if s > 11 {
        return Err(r.corrupt(EntropyFault::DcCategory));
    }
    Ok(extend(r.bits(s), s))
}

/// The 63 AC coefficients of a sequential block (T.81 F.2.2.2).
fn sequential_ac(
    r: &mut BitReader,
    t: &HuffmanDecoder,
    block: &mut [i16; 64],
) -> Result<(), RecodeError> {
    let mut k = 1;
    while k < 64 {
        let rs = r.decode(t)?;
        let (run, size) = ((rs >> 4) as usize, (rs & 15) as u32);
        if size == 0 {
            if run == 15 {
                k += 16;
                continue;
            }
            break;
        }
        k += run;
        if k > 63 {
            return Err(r.corrupt(EntropyFault::AcRunPastBlock));
        }
        block[k] = extend(r.bits(size), size) as i16;
        k += 1;
    }
    Ok(())
}

/// Progressive AC first pass (T.81 G.1.2.2), with end-of-band runs.
fn ac_first(
    r: &mut BitReader,
    t: &HuffmanDecoder,
    block: &mut [i16; 64],
    p: &ScanParams,
    eobrun: &mut u32,
) -> Result<(), RecodeError> {
    if *eobrun > 0 {
        *eobrun -= 1;
        return Ok(());
    }
    let mut k = p.ss;
    while k <= p.se {
        let rs = r.decode(t)?;
        let (run, size) = ((rs >> 4) as u32, (rs & 15) as u32);
        if size == 0 {
            if run < 15 {
                *eobrun = (1 << run) - 1 + r.bits(run);
                break;
            }
            k += 16;
            continue;
        }
        k += run as usize;
        if k > 63 {
            return Err(r.corrupt(EntropyFault::AcRunPastBlock));
        }
        block[k] = (extend(r.bits(size), size) << p.al) as i16;
        k += 1;
    }
    Ok(())
}

/// Progressive AC refinement (T.81 G.1.2.3), as libjpeg's decode_mcu_AC_refine does it.
fn ac_refine(
    r: &mut BitReader,
    t: &HuffmanDecoder,
    block: &mut [i16; 64],
    p: &ScanParams,
    eobrun: &mut u32,
) -> Result<(), RecodeError> {
    let p1: i16 = 1 << p.al;
    let m1: i16 = -1 << p.al;
    let mut k = p.ss;
    let refine = |r: &mut BitReader, coef: &mut i16| {
        if r.bit() == 1 && (*coef & p1) == 0 {
            // Corrupt data can refine a coefficient past i16 (found by fuzzing): it wraps, as
            // libjpeg's short arithmetic does, and the picture is garbage either way.
            *coef = coef.wrapping_add(if *coef >= 0 { p1 } else { m1 });
        }
    };
    if *eobrun == 0 {
        while k <= p.se {
            let rs = r.decode(t)?;
            let (mut run, size) = ((rs >> 4) as i32, rs & 15);
            let mut value = 0i16;
            if size != 0 {
                if size != 1 {
                    return Err(r.corrupt(EntropyFault::RefinementMagnitude));
                }
                value = if r.bit() == 1 { p1 } else { m1 };
            } else if run != 15 {
                *eobrun = (1 << run) + r.bits(run as u32);
                break;
            }
            while k <= p.se {
                if block[k] != 0 {
                    refine(r, &mut block[k]);
                } else {
                    if run == 0 {
                        break;
                    }
                    run -= 1;
                }
                k += 1;
            }
            if value != 0 {
                if k > 63 {
                    return Err(r.corrupt(EntropyFault::RefinementPastBlock));
                }
                block[k] = value;
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        while k <= p.se {
            if block[k] != 0 {
                refine(r, &mut block[k]);
            }
            k += 1;
        }
        *eobrun -= 1;
    }
    Ok(())
}
