//! Why a frame's coefficients could not be read or written. Offsets are from the start of
//! the frame, so a corrupt frame can be found with a hex dump.

use rtsp_proto::jpeg::JpegError;

use crate::classify::Unrecodable;

/// Why [`crate::decode`], [`crate::encode_baseline`] or [`crate::transcode`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecodeError {
    #[error("cannot read the frame: {0}")]
    Parse(#[from] JpegError),
    #[error("cannot be re-coded without loss: {0}")]
    Unrecodable(#[from] Unrecodable),
    #[error("corrupt entropy-coded data near byte {at}: {fault}")]
    Corrupt { at: usize, fault: EntropyFault },
    #[error("segment at byte {at}: {fault}")]
    Structure { at: usize, fault: StructureFault },
    /// Only coefficients carry no offsets; a DQT with a 0 would have been refused on decoding.
    #[error("a quantization table has a quantizer of 0")]
    ZeroQuantizer,
    /// Coefficient `coefficient` (zig-zag index) of a block is `value` (after exact
    /// re-quantization, say), more than baseline coding can write: a DC difference above
    /// category 11, an AC value above category 10.
    #[error("coefficient {coefficient} is {value}, too large for baseline coding")]
    TooLargeForBaseline { coefficient: usize, value: i32 },
}

/// What is wrong in entropy-coded data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntropyFault {
    #[error("no Huffman code matches")]
    NoHuffmanCode,
    #[error("Huffman value out of range")]
    HuffmanValueOutOfRange,
    #[error("restart marker missing")]
    RestartMissing,
    #[error("DC magnitude category above 11")]
    DcCategory,
    #[error("AC run past the block")]
    AcRunPastBlock,
    #[error("refinement magnitude is not 1")]
    RefinementMagnitude,
    #[error("refinement past the block")]
    RefinementPastBlock,
    #[error("scan runs to the end of the data")]
    Unterminated,
}

/// What is wrong in the segments around the entropy-coded data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StructureFault {
    #[error("sampling factors out of range")]
    SamplingFactors,
    #[error("component {0} has no quantization table")]
    NoQuantTable(u8),
    #[error("expected a marker")]
    NoMarker,
    #[error("segment runs past the end of the data")]
    SegmentPastEnd,
    #[error("DHT runs past its segment")]
    DhtOverrun,
    #[error("Huffman table id above 3")]
    HuffmanTableId,
    #[error("SOS header does not match its component count")]
    BadSos,
    #[error("scan names an unknown component {0}")]
    UnknownComponent(u8),
    #[error("bad spectral selection or successive approximation")]
    SpectralSelection,
    #[error("block outside the grid")]
    BlockOutsideGrid,
    #[error("scan uses an undefined DC table")]
    UndefinedDcTable,
    #[error("scan uses an undefined AC table")]
    UndefinedAcTable,
}
