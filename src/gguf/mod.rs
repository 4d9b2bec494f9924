//! GGUF header reading and the memory estimate built on it.
//!
//! This module owns two things:
//!
//! * [`read_path`] / [`read_from`]: a reader for the header of a GGUF model
//!   file (versions 2 and 3, little-endian). It reads the metadata it needs to
//!   size a model (architecture, layer and head counts, vocabulary size), walks
//!   the tensor table to add up the bytes of tensor data, and stops where the
//!   tensor data starts. It never reads the weights themselves, so it also works
//!   on the first few megabytes of a remote file fetched with an HTTP Range
//!   request; [`GgufError::Truncated`] tells such a caller to fetch more.
//! * [`estimate_memory`]: a KV-cache-aware estimate of the peak RSS of
//!   llama-server running the model on CPU at a given context size, next to
//!   [`seed_estimate_bytes`], the cruder size-times-factor formula it replaces.
//!
//! Model files come from the network, so the reader treats every length and
//! count in them as hostile: nothing is allocated from an untrusted length
//! without a cap, long arrays (tokenizer vocabularies and merges) are skipped
//! element by element without being collected, array nesting is bounded, and all
//! arithmetic on sizes is checked. A malformed file gives an error naming what
//! was wrong and the byte offset where it was found; it never panics.
//!
//! `types` holds what a read yields (and ggml's tensor type table), `reader`
//! the walk over the header and tensor table, `metadata` the key-value
//! section, `estimate` the sizing.

mod estimate;
mod metadata;
mod reader;
mod types;

pub use estimate::*;
pub use reader::{read_from, read_path};
pub use types::{ggml_type_name, GgufError, GgufInfo};

/// "GGUF" as it appears in the first four bytes of the file.
const MAGIC: [u8; 4] = *b"GGUF";

/// Longest metadata string (key, value or tensor name) we accept. Real files
/// stay far below this (the longest are chat templates of a few tens of KiB);
/// the cap is what keeps a forged length from becoming a giant allocation.
pub const MAX_STRING_BYTES: u64 = 1 << 20;

/// Most metadata entries a header may declare. Real models have a few dozen.
pub const MAX_KV: u64 = 1 << 20;

/// Most tensors a header may declare. The largest MoE models have a few
/// thousand; the cap bounds the time spent walking a forged tensor table.
pub const MAX_TENSORS: u64 = 1 << 20;

/// Most dimensions a tensor may have. ggml itself stops at 4; accepting up to 8
/// keeps us from rejecting a file a newer ggml might load, while still bounding
/// how much a single tensor record can make us read.
pub const MAX_DIMS: u32 = 8;

/// Deepest nesting of metadata arrays we follow. ggml does not write nested
/// arrays at all, but the format allows them; without a bound a file of nested
/// array headers would recurse until the stack overflows.
pub const MAX_ARRAY_DEPTH: u32 = 8;

/// Alignment of the tensor data section when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;

/// Read buffer size. Tokenizer arrays are hundreds of thousands of tiny
/// strings, so reads must not go to the OS one field at a time.
const READ_BUFFER_BYTES: usize = 64 * 1024;

#[cfg(test)]
use {
    metadata::*,
    serde::{Deserialize, Serialize},
    std::path::Path,
    types::GGML_TYPES,
};

#[cfg(test)]
mod tests;
