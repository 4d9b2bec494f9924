//! What reading a GGUF header yields, and ggml's tensor type table.

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What the header says about a model, as far as sizing it is concerned.
///
/// Fields named after `{arch}.*` keys are read with the prefix taken from
/// `general.architecture`; without an architecture they stay `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GgufInfo {
    /// GGUF format version (2 or 3).
    pub version: u32,
    /// `general.architecture`, e.g. `llama`.
    pub architecture: Option<String>,
    /// `general.name`.
    pub name: Option<String>,
    /// `general.file_type`: llama.cpp's `LLAMA_FTYPE_*` (2 = mostly Q4_0, ...).
    pub file_type: Option<u32>,
    /// `{arch}.block_count`: number of transformer layers.
    pub n_layer: Option<u32>,
    /// `{arch}.embedding_length`.
    pub n_embd: Option<u32>,
    /// `{arch}.attention.head_count`. Models that give one count per layer
    /// store an array; this is its largest element.
    pub n_head: Option<u32>,
    /// `{arch}.attention.head_count_kv`; when the key is absent this defaults
    /// to `n_head` (no grouped-query attention), as llama.cpp does. Per-layer
    /// arrays give their largest element, so the KV estimate errs high.
    pub n_head_kv: Option<u32>,
    /// `{arch}.context_length`: the context the model was trained for.
    pub n_ctx_train: Option<u32>,
    /// `{arch}.attention.key_length`: size of one attention head's key;
    /// defaults to `n_embd / n_head` when absent, as in llama.cpp.
    pub key_length: Option<u32>,
    /// `{arch}.attention.value_length`; defaults to `n_embd / n_head` when
    /// absent, as in llama.cpp.
    pub value_length: Option<u32>,
    /// Number of elements of the `tokenizer.ggml.tokens` array.
    pub n_vocab: Option<u32>,
    /// Number of tensors in the file.
    pub n_tensors: u64,
    /// Number of metadata key-value pairs in the file.
    pub n_kv: u64,
    /// Sum of the tensors' sizes in bytes, computed from their shapes and ggml
    /// types (without the alignment padding between tensors).
    pub tensor_data_bytes: u64,
    /// Offset of the tensor data section: the header's length rounded up to
    /// `general.alignment` (32 when absent).
    pub header_bytes: u64,
    /// Size of the whole file, when the caller knew it.
    pub file_size: Option<u64>,
}

/// Why a GGUF header could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("i/o error reading GGUF header at byte {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
    /// The input ended inside the header. A caller holding only the first
    /// bytes of a file can fetch more (at least past `offset`) and retry.
    #[error("truncated GGUF header at byte {offset}")]
    Truncated { offset: u64 },
    #[error("not a GGUF file: magic is {}, expected \"GGUF\"", describe_magic(.magic))]
    BadMagic { magic: [u8; 4] },
    #[error("unsupported GGUF version {version}")]
    UnsupportedVersion { version: u32 },
    #[error(
        "unsupported big-endian GGUF file (version field reads {raw:#010x}); only little-endian files are supported"
    )]
    BigEndian { raw: u32 },
    #[error("header claims {count} {what} at byte {offset}, more than the limit of {limit}")]
    TooMany { what: &'static str, count: u64, limit: u64, offset: u64 },
    #[error("metadata string of {len} bytes at byte {offset} exceeds limit of {limit} bytes")]
    StringTooLong { len: u64, offset: u64, limit: u64 },
    #[error("metadata array of {len} elements at byte {offset} is larger than any file")]
    ArrayTooLong { len: u64, offset: u64 },
    #[error("metadata arrays nested more than {limit} deep at byte {offset}")]
    ArrayTooDeep { offset: u64, limit: u32 },
    #[error("unknown metadata value type {type_id} at byte {offset}")]
    BadValueType { type_id: u32, offset: u64 },
    #[error("{what} of {len} bytes at byte {offset} runs past the end of the {file_size}-byte file")]
    PastEndOfFile { what: &'static str, len: u64, offset: u64, file_size: u64 },
    #[error("general.alignment at byte {offset} is {value}, not a power of two")]
    BadAlignment { value: u64, offset: u64 },
    #[error("tensor {name:?} at byte {offset} has {n_dims} dimensions, more than the limit of {limit}")]
    TooManyDims { name: String, n_dims: u32, offset: u64, limit: u32 },
    #[error("tensor {name:?} has a dimension of {value} at byte {offset}, beyond ggml's int64 range")]
    BadDimension { name: String, value: u64, offset: u64 },
    #[error("tensor {name:?} at byte {offset} has unknown or removed ggml type {type_id}")]
    UnknownTensorType { name: String, type_id: u32, offset: u64 },
    #[error(
        "tensor {name:?} of type {type_name} has rows of {row} elements, not a multiple of its block size {block}"
    )]
    RowNotBlockMultiple { name: String, type_name: &'static str, row: u64, block: u64 },
    #[error("tensor {name:?} at byte {offset} is too large to address (shape {shape:?})")]
    TensorTooLarge { name: String, offset: u64, shape: Vec<u64> },
    #[error(
        "tensor {name:?} at byte {offset} has data offset {data_offset}, not a multiple of the alignment {alignment}"
    )]
    MisalignedTensor { name: String, offset: u64, data_offset: u64, alignment: u64 },
    #[error("tensor {name:?} data ends at byte {end}, past the end of the {file_size}-byte file")]
    TensorDataPastEnd { name: String, end: u64, file_size: u64 },
}

fn describe_magic(magic: &[u8; 4]) -> String {
    let text: String = magic.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '?' }).collect();
    format!("{:#010x} ({text:?})", u32::from_be_bytes(*magic))
}

/// Storage of one ggml tensor type: `size` bytes hold `block` elements.
pub(super) struct GgmlType {
    pub id: u32,
    pub name: &'static str,
    pub block: u64,
    pub size: u64,
}

const fn t(id: u32, name: &'static str, block: u64, size: u64) -> GgmlType {
    GgmlType { id, name, block, size }
}

/// ggml's `type_traits` table (ggml/src/ggml.c; block layouts in
/// ggml-common.h). Ids 4, 5 and 31-33, 36-38 are types ggml has removed, so
/// files using them no longer load and are reported as unknown.
pub(super) const GGML_TYPES: &[GgmlType] = &[
    t(0, "F32", 1, 4),
    t(1, "F16", 1, 2),
    t(2, "Q4_0", 32, 18),
    t(3, "Q4_1", 32, 20),
    t(6, "Q5_0", 32, 22),
    t(7, "Q5_1", 32, 24),
    t(8, "Q8_0", 32, 34),
    t(9, "Q8_1", 32, 36),
    t(10, "Q2_K", 256, 84),
    t(11, "Q3_K", 256, 110),
    t(12, "Q4_K", 256, 144),
    t(13, "Q5_K", 256, 176),
    t(14, "Q6_K", 256, 210),
    t(15, "Q8_K", 256, 292),
    t(16, "IQ2_XXS", 256, 66),
    t(17, "IQ2_XS", 256, 74),
    t(18, "IQ3_XXS", 256, 98),
    t(19, "IQ1_S", 256, 50),
    t(20, "IQ4_NL", 32, 18),
    t(21, "IQ3_S", 256, 110),
    t(22, "IQ2_S", 256, 82),
    t(23, "IQ4_XS", 256, 136),
    t(24, "I8", 1, 1),
    t(25, "I16", 1, 2),
    t(26, "I32", 1, 4),
    t(27, "I64", 1, 8),
    t(28, "F64", 1, 8),
    t(29, "IQ1_M", 256, 56),
    t(30, "BF16", 1, 2),
    t(34, "TQ1_0", 256, 54),
    t(35, "TQ2_0", 256, 66),
    t(39, "MXFP4", 32, 17),
    t(40, "NVFP4", 64, 36),
    t(41, "Q1_0", 128, 18),
    t(42, "Q2_0", 64, 18),
];

pub(super) fn ggml_type(id: u32) -> Option<&'static GgmlType> {
    GGML_TYPES.iter().find(|t| t.id == id)
}

/// Name of a ggml tensor type id (`"Q4_K"`), if ggml still knows it.
pub fn ggml_type_name(id: u32) -> Option<&'static str> {
    ggml_type(id).map(|t| t.name)
}
