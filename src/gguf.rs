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

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

/// Reads the GGUF header of the file at `path`.
///
/// Knowing the file's size lets the reader reject lengths that run past its end
/// without reading to the end first, and check that the tensor data fits.
pub fn read_path(path: &Path) -> Result<GgufInfo, GgufError> {
    let open_err = |source| GgufError::Open { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(open_err)?;
    let size = file.metadata().map_err(open_err)?.len();
    read_from(file, Some(size))
}

/// Reads a GGUF header from `reader`, which must start at the file's first
/// byte. It reads up to the end of the tensor table and no further.
///
/// `file_size` is the size of the whole file when known, even if `reader`
/// yields only its first bytes (as after an HTTP Range request): it is used to
/// reject lengths that run past the end of the file and to check that the
/// tensor data fits. If `reader` ends before the header does, the error is
/// [`GgufError::Truncated`] with the offset where the input ran out.
pub fn read_from<R: Read>(reader: R, file_size: Option<u64>) -> Result<GgufInfo, GgufError> {
    let mut r = Reader { inner: BufReader::with_capacity(READ_BUFFER_BYTES, reader), pos: 0, file_size };

    let mut magic = [0u8; 4];
    r.fill(&mut magic)?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic { magic });
    }

    let version = r.u32()?;
    // A big-endian file's small version number reads with its low half zero.
    if version & 0xFFFF == 0 && version != 0 {
        return Err(GgufError::BigEndian { raw: version });
    }
    // Version 1 used 32-bit counts and string lengths, which the rest of the
    // reader does not handle; llama.cpp dropped it too.
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion { version });
    }

    let count_at = r.pos;
    let n_tensors = r.u64()?;
    if n_tensors > MAX_TENSORS {
        return Err(GgufError::TooMany { what: "tensors", count: n_tensors, limit: MAX_TENSORS, offset: count_at });
    }
    let count_at = r.pos;
    let n_kv = r.u64()?;
    if n_kv > MAX_KV {
        return Err(GgufError::TooMany { what: "metadata entries", count: n_kv, limit: MAX_KV, offset: count_at });
    }

    let mut meta = Metadata::default();
    for _ in 0..n_kv {
        read_kv(&mut r, &mut meta)?;
    }
    let alignment = meta.alignment.unwrap_or(DEFAULT_ALIGNMENT);

    let mut tensor_data_bytes: u64 = 0;
    // The tensor whose data reaches furthest, to check it against the file size.
    let mut data_end: Option<(u64, String)> = None;
    for _ in 0..n_tensors {
        let t = read_tensor_info(&mut r, alignment)?;
        tensor_data_bytes = tensor_data_bytes.checked_add(t.bytes).ok_or_else(|| t.too_large())?;
        let end = t.data_offset.checked_add(t.bytes).ok_or_else(|| t.too_large())?;
        if data_end.as_ref().is_none_or(|(e, _)| end > *e) {
            data_end = Some((end, t.name));
        }
    }

    // gguf.cpp pads to the alignment only when there is tensor data to align.
    let header_bytes =
        if n_tensors > 0 { align_up(r.pos, alignment).ok_or(GgufError::Truncated { offset: r.pos })? } else { r.pos };
    if let (Some(file_size), Some((end, name))) = (file_size, data_end) {
        let end = header_bytes.saturating_add(end);
        if end > file_size {
            return Err(GgufError::TensorDataPastEnd { name, end, file_size });
        }
    }

    Ok(meta.into_info(version, n_tensors, n_kv, tensor_data_bytes, header_bytes, file_size))
}

fn align_up(value: u64, alignment: u64) -> Option<u64> {
    Some(value.checked_add(alignment - 1)? / alignment * alignment)
}

/// A byte-counting reader, so every error can say where it happened.
struct Reader<R> {
    inner: BufReader<R>,
    pos: u64,
    file_size: Option<u64>,
}

impl<R: Read> Reader<R> {
    fn io_err(&self, source: io::Error) -> GgufError {
        GgufError::Io { offset: self.pos, source }
    }

    /// Fills `buf` completely. Unlike `read_exact`, it counts partial reads, so
    /// a short input reports the exact offset where it ended.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), GgufError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => return Err(GgufError::Truncated { offset: self.pos }),
                Ok(n) => {
                    filled += n;
                    self.pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_err(e)),
            }
        }
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, GgufError> {
        let mut b = [0u8; 1];
        self.fill(&mut b)?;
        Ok(b[0])
    }

    fn u16(&mut self) -> Result<u16, GgufError> {
        let mut b = [0u8; 2];
        self.fill(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        let mut b = [0u8; 4];
        self.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Fails early when `len` bytes starting at `offset` cannot fit in the file,
    /// so a forged length does not make us read a large file to its end first.
    fn check_fits(&self, what: &'static str, len: u64, offset: u64) -> Result<(), GgufError> {
        match self.file_size {
            Some(file_size) if self.pos.checked_add(len).is_none_or(|end| end > file_size) => {
                Err(GgufError::PastEndOfFile { what, len, offset, file_size })
            }
            _ => Ok(()),
        }
    }

    /// Discards `n` bytes straight out of the read buffer, without copying.
    fn skip(&mut self, mut n: u64) -> Result<(), GgufError> {
        while n > 0 {
            let available = match self.inner.fill_buf() {
                Ok(buf) => buf.len(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_err(e)),
            };
            if available == 0 {
                return Err(GgufError::Truncated { offset: self.pos });
            }
            let take = available.min(usize::try_from(n).unwrap_or(usize::MAX));
            self.inner.consume(take);
            self.pos += take as u64;
            n -= take as u64;
        }
        Ok(())
    }

    /// Reads a string's length prefix and checks it against the cap and the file.
    fn string_len(&mut self) -> Result<u64, GgufError> {
        let offset = self.pos;
        let len = self.u64()?;
        if len > MAX_STRING_BYTES {
            return Err(GgufError::StringTooLong { len, offset, limit: MAX_STRING_BYTES });
        }
        self.check_fits("metadata string", len, offset)?;
        Ok(len)
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let len = self.string_len()?;
        // Bounded by MAX_STRING_BYTES, so the allocation is safe.
        let mut buf = vec![0u8; len as usize];
        self.fill(&mut buf)?;
        // Names are only displayed; a stray invalid byte should not fail the read.
        Ok(String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn skip_string(&mut self) -> Result<(), GgufError> {
        let len = self.string_len()?;
        self.skip(len)
    }
}

// GGUF metadata value types.
const GGUF_U8: u32 = 0;
const GGUF_I8: u32 = 1;
const GGUF_U16: u32 = 2;
const GGUF_I16: u32 = 3;
const GGUF_U32: u32 = 4;
const GGUF_I32: u32 = 5;
const GGUF_F32: u32 = 6;
const GGUF_BOOL: u32 = 7;
const GGUF_STRING: u32 = 8;
const GGUF_ARRAY: u32 = 9;
const GGUF_U64: u32 = 10;
const GGUF_I64: u32 = 11;
const GGUF_F64: u32 = 12;

/// Size of one value of a fixed-size type; `None` for strings and arrays.
fn fixed_size(ty: u32) -> Option<u64> {
    match ty {
        GGUF_U8 | GGUF_I8 | GGUF_BOOL => Some(1),
        GGUF_U16 | GGUF_I16 => Some(2),
        GGUF_U32 | GGUF_I32 | GGUF_F32 => Some(4),
        GGUF_U64 | GGUF_I64 | GGUF_F64 => Some(8),
        _ => None,
    }
}

fn is_integer(ty: u32) -> bool {
    matches!(ty, GGUF_U8 | GGUF_I8 | GGUF_U16 | GGUF_I16 | GGUF_U32 | GGUF_I32 | GGUF_U64 | GGUF_I64)
}

/// The part of a metadata value the reader keeps.
enum Value {
    /// A non-negative integer; `None` for negative numbers, floats and bools,
    /// none of which any field we read can hold.
    Num(Option<u64>),
    /// A string, when the caller asked to keep it.
    Str(Option<String>),
    /// An array's length and, when asked for, its largest non-negative integer.
    Array { len: u64, max: Option<u64> },
}

impl Value {
    fn as_u32(&self) -> Option<u32> {
        match self {
            Value::Num(n) | Value::Array { max: n, .. } => n.and_then(|n| u32::try_from(n).ok()),
            Value::Str(_) => None,
        }
    }
}

/// What to keep of a value while reading it.
#[derive(Clone, Copy, Default)]
struct Keep {
    string: bool,
    array_max: bool,
}

fn read_value<R: Read>(r: &mut Reader<R>, ty: u32, ty_at: u64, keep: Keep, depth: u32) -> Result<Value, GgufError> {
    Ok(match ty {
        GGUF_U8 => Value::Num(Some(r.u8()?.into())),
        GGUF_I8 => Value::Num(u64::try_from(r.u8()? as i8).ok()),
        GGUF_U16 => Value::Num(Some(r.u16()?.into())),
        GGUF_I16 => Value::Num(u64::try_from(r.u16()? as i16).ok()),
        GGUF_U32 => Value::Num(Some(r.u32()?.into())),
        GGUF_I32 => Value::Num(u64::try_from(r.u32()? as i32).ok()),
        GGUF_U64 => Value::Num(Some(r.u64()?)),
        GGUF_I64 => Value::Num(u64::try_from(r.u64()? as i64).ok()),
        GGUF_F32 | GGUF_BOOL | GGUF_F64 => {
            r.skip(fixed_size(ty).unwrap_or(0))?;
            Value::Num(None)
        }
        GGUF_STRING if keep.string => Value::Str(Some(r.string()?)),
        GGUF_STRING => {
            r.skip_string()?;
            Value::Str(None)
        }
        GGUF_ARRAY => read_array(r, keep, depth)?,
        _ => return Err(GgufError::BadValueType { type_id: ty, offset: ty_at }),
    })
}

/// Reads an array's header and walks its elements without collecting them.
fn read_array<R: Read>(r: &mut Reader<R>, keep: Keep, depth: u32) -> Result<Value, GgufError> {
    let array_at = r.pos;
    if depth >= MAX_ARRAY_DEPTH {
        return Err(GgufError::ArrayTooDeep { offset: array_at, limit: MAX_ARRAY_DEPTH });
    }
    let elem_at = r.pos;
    let elem = r.u32()?;
    let len_at = r.pos;
    let len = r.u64()?;

    // Every element takes at least this many bytes (a string's length prefix,
    // a nested array's type and count), which lets a forged count fail at once.
    let min_elem = match elem {
        GGUF_STRING => 8,
        GGUF_ARRAY => 12,
        _ => fixed_size(elem).ok_or(GgufError::BadValueType { type_id: elem, offset: elem_at })?,
    };
    let min_bytes = len.checked_mul(min_elem);
    match (min_bytes, r.file_size) {
        (Some(bytes), _) => r.check_fits("metadata array", bytes, len_at)?,
        (None, Some(file_size)) => {
            return Err(GgufError::PastEndOfFile { what: "metadata array", len: u64::MAX, offset: len_at, file_size })
        }
        (None, None) => return Err(GgufError::ArrayTooLong { len, offset: len_at }),
    }

    let mut max = None;
    if keep.array_max && is_integer(elem) {
        for _ in 0..len {
            if let Value::Num(Some(n)) = read_value(r, elem, elem_at, Keep::default(), depth + 1)? {
                max = max.max(Some(n));
            }
        }
    } else if let (Some(_), Some(bytes)) = (fixed_size(elem), min_bytes) {
        r.skip(bytes)?;
    } else {
        for _ in 0..len {
            read_value(r, elem, elem_at, Keep::default(), depth + 1)?;
        }
    }
    Ok(Value::Array { len, max })
}

/// The `{arch}.*` keys we read, by the suffix after the architecture name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ArchKey {
    BlockCount,
    EmbeddingLength,
    HeadCount,
    HeadCountKv,
    ContextLength,
    KeyLength,
    ValueLength,
}

const ARCH_KEYS: [(&str, ArchKey); 7] = [
    (".block_count", ArchKey::BlockCount),
    (".embedding_length", ArchKey::EmbeddingLength),
    (".attention.head_count", ArchKey::HeadCount),
    (".attention.head_count_kv", ArchKey::HeadCountKv),
    (".context_length", ArchKey::ContextLength),
    (".attention.key_length", ArchKey::KeyLength),
    (".attention.value_length", ArchKey::ValueLength),
];

/// Keys longer than this cannot be `{arch}.*` keys of a real architecture; not
/// remembering them bounds what a hostile file can make us keep.
const MAX_ARCH_KEY_BYTES: usize = 128;

/// Most `{arch}.*` candidates remembered; a real file has one per key we read.
const MAX_ARCH_CANDIDATES: usize = 256;

/// Metadata collected while reading the key-value section.
#[derive(Default)]
struct Metadata {
    architecture: Option<String>,
    name: Option<String>,
    file_type: Option<u32>,
    alignment: Option<u64>,
    n_vocab: Option<u32>,
    /// `{arch}.*` values by prefix: the architecture is only known for sure at
    /// the end, since nothing forces `general.architecture` to come first.
    arch_values: Vec<(String, ArchKey, u32)>,
}

impl Metadata {
    fn arch_value(&self, key: ArchKey) -> Option<u32> {
        let arch = self.architecture.as_deref()?;
        // The last occurrence wins, as a writer appending an override would expect.
        self.arch_values.iter().rev().find(|(prefix, k, _)| *k == key && prefix == arch).map(|(_, _, v)| *v)
    }

    fn into_info(
        self,
        version: u32,
        n_tensors: u64,
        n_kv: u64,
        tensor_data_bytes: u64,
        header_bytes: u64,
        file_size: Option<u64>,
    ) -> GgufInfo {
        let n_embd = self.arch_value(ArchKey::EmbeddingLength);
        let n_head = self.arch_value(ArchKey::HeadCount);
        let head_dim = match (n_embd, n_head) {
            (Some(e), Some(h)) if h > 0 => Some(e / h),
            _ => None,
        };
        GgufInfo {
            version,
            file_type: self.file_type,
            n_layer: self.arch_value(ArchKey::BlockCount),
            n_embd,
            n_head,
            n_head_kv: self.arch_value(ArchKey::HeadCountKv).or(n_head),
            n_ctx_train: self.arch_value(ArchKey::ContextLength),
            key_length: self.arch_value(ArchKey::KeyLength).or(head_dim),
            value_length: self.arch_value(ArchKey::ValueLength).or(head_dim),
            n_vocab: self.n_vocab,
            n_tensors,
            n_kv,
            tensor_data_bytes,
            header_bytes,
            file_size,
            architecture: self.architecture,
            name: self.name,
        }
    }
}

fn read_kv<R: Read>(r: &mut Reader<R>, meta: &mut Metadata) -> Result<(), GgufError> {
    let key = r.string()?;
    let ty_at = r.pos;
    let ty = r.u32()?;

    let arch_key = if key.len() <= MAX_ARCH_KEY_BYTES {
        ARCH_KEYS.iter().find_map(|(suffix, k)| {
            let prefix = key.strip_suffix(suffix)?;
            (!prefix.is_empty()).then(|| (prefix.to_owned(), *k))
        })
    } else {
        None
    };
    let keep = Keep {
        string: matches!(key.as_str(), "general.architecture" | "general.name"),
        array_max: matches!(arch_key, Some((_, ArchKey::HeadCount | ArchKey::HeadCountKv))),
    };
    let value = read_value(r, ty, ty_at, keep, 0)?;

    match key.as_str() {
        "general.architecture" => {
            if let Value::Str(s) = value {
                meta.architecture = s;
            }
        }
        "general.name" => {
            if let Value::Str(s) = value {
                meta.name = s;
            }
        }
        "general.file_type" => meta.file_type = value.as_u32(),
        "general.alignment" => {
            let alignment = match value {
                Value::Num(Some(n)) if n.is_power_of_two() && n <= u64::from(u32::MAX) => n,
                Value::Num(n) => return Err(GgufError::BadAlignment { value: n.unwrap_or(0), offset: ty_at }),
                _ => return Err(GgufError::BadValueType { type_id: ty, offset: ty_at }),
            };
            meta.alignment = Some(alignment);
        }
        "tokenizer.ggml.tokens" => {
            if let Value::Array { len, .. } = value {
                meta.n_vocab = u32::try_from(len).ok();
            }
        }
        _ => {
            if let (Some((prefix, k)), Some(v)) = (arch_key, value.as_u32()) {
                if meta.arch_values.len() < MAX_ARCH_CANDIDATES {
                    meta.arch_values.push((prefix, k, v));
                }
            }
        }
    }
    Ok(())
}

/// One tensor record of the tensor table.
struct TensorInfo {
    name: String,
    /// Where the record starts, for errors.
    at: u64,
    shape: Vec<u64>,
    data_offset: u64,
    bytes: u64,
}

impl TensorInfo {
    fn too_large(&self) -> GgufError {
        GgufError::TensorTooLarge { name: self.name.clone(), offset: self.at, shape: self.shape.clone() }
    }
}

fn read_tensor_info<R: Read>(r: &mut Reader<R>, alignment: u64) -> Result<TensorInfo, GgufError> {
    let at = r.pos;
    let name = r.string()?;
    let dims_at = r.pos;
    let n_dims = r.u32()?;
    if n_dims > MAX_DIMS {
        return Err(GgufError::TooManyDims { name, n_dims, offset: dims_at, limit: MAX_DIMS });
    }
    let mut shape = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        let dim_at = r.pos;
        let dim = r.u64()?;
        if dim > i64::MAX as u64 {
            return Err(GgufError::BadDimension { name, value: dim, offset: dim_at });
        }
        shape.push(dim);
    }
    let type_at = r.pos;
    let type_id = r.u32()?;
    let data_offset = r.u64()?;

    let Some(ty) = ggml_type(type_id) else {
        return Err(GgufError::UnknownTensorType { name, type_id, offset: type_at });
    };
    let mut info = TensorInfo { name, at, shape, data_offset, bytes: 0 };
    let row = info.shape.first().copied().unwrap_or(1);
    if !row.is_multiple_of(ty.block) {
        return Err(GgufError::RowNotBlockMultiple { name: info.name, type_name: ty.name, row, block: ty.block });
    }
    // Same as ggml_nbytes for a contiguous tensor: whole blocks per row, times rows.
    let mut bytes = Some(row / ty.block * ty.size);
    for &dim in info.shape.iter().skip(1) {
        bytes = bytes.and_then(|b| b.checked_mul(dim));
    }
    info.bytes = bytes.ok_or_else(|| info.too_large())?;
    if !data_offset.is_multiple_of(alignment) {
        return Err(GgufError::MisalignedTensor { name: info.name, offset: at, data_offset, alignment });
    }
    Ok(info)
}

/// Storage of one ggml tensor type: `size` bytes hold `block` elements.
struct GgmlType {
    id: u32,
    name: &'static str,
    block: u64,
    size: u64,
}

const fn t(id: u32, name: &'static str, block: u64, size: u64) -> GgmlType {
    GgmlType { id, name, block, size }
}

/// ggml's `type_traits` table (ggml/src/ggml.c; block layouts in
/// ggml-common.h). Ids 4, 5 and 31-33, 36-38 are types ggml has removed, so
/// files using them no longer load and are reported as unknown.
const GGML_TYPES: &[GgmlType] = &[
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

fn ggml_type(id: u32) -> Option<&'static GgmlType> {
    GGML_TYPES.iter().find(|t| t.id == id)
}

/// Name of a ggml tensor type id (`"Q4_K"`), if ggml still knows it.
pub fn ggml_type_name(id: u32) -> Option<&'static str> {
    ggml_type(id).map(|t| t.name)
}

// ---------------------------------------------------------------------------
// Memory estimate. Every constant the lead may calibrate against measured peak
// RSS of llama-server is here.
// ---------------------------------------------------------------------------

const MIB: u64 = 1024 * 1024;

/// llama.cpp rounds the context up to a multiple of this before sizing the KV
/// cache and the attention mask (`GGML_PAD(n_ctx, 256)` in llama-context.cpp).
pub const N_CTX_PAD: u64 = 256;

/// Bytes per KV cache element: llama-server's default cache type is f16.
pub const KV_BYTES_PER_ELEMENT: u64 = 2;

/// Tokens per micro-batch, llama-server's default `--ubatch-size`. The compute
/// graph is reserved for a full micro-batch against the whole context.
pub const N_UBATCH: u64 = 512;

/// Bytes per f32 activation or logit.
pub const F32_BYTES: u64 = 4;

/// How many `n_embd`-wide f32 rows per micro-batch token are alive at the
/// compute graph's peak: residual stream, normed input, Q/K/V, attention
/// output and the feed-forward gate, up and product (each 2.5-4x `n_embd`).
/// Measured: 11.3 for SmolLM2-135M, 8 for a 64-wide test model.
pub const COMPUTE_ACTIVATION_ROWS: u64 = 12;

/// Rows of logits the compute graph holds. llama-server caps a batch's outputs
/// at one per slot (4 slots with the default `-np auto`), so unlike llama-cli
/// it does not reserve `n_vocab × n_ubatch` logits.
pub const LOGIT_ROWS: u64 = 4;

/// Bytes per cell of the attention mask (`n_ctx × n_ubatch`). With flash
/// attention, which llama-server enables on CPU by default (`-fa auto`), the
/// mask is f16 and the attention scores are never materialised. Measured: the
/// compute buffer grows by exactly this per context cell and micro-batch token.
pub const MASK_BYTES_PER_CELL: u64 = 2;

/// Resident memory of llama-server beyond the model's buffers: code, libraries,
/// threads, HTTP server. Measured at about 15 MiB with a tiny model.
pub const BASE_OVERHEAD_BYTES: u64 = 15 * MIB;

/// Heap per vocabulary entry for the tokenizer: token text, the text-to-id map
/// and the BPE merge table (about as many merges as tokens). Fitted to
/// SmolLM2-135M (49152 tokens), whose RSS exceeds the other terms by 12-17 MiB.
pub const VOCAB_BYTES_PER_TOKEN: u64 = 300;

/// An estimate of llama-server's peak resident memory, broken down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    /// Context size the estimate is for, as llama.cpp will allocate it: the
    /// requested size rounded up to a multiple of [`N_CTX_PAD`].
    pub n_ctx: u32,
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub compute_bytes: u64,
    pub overhead_bytes: u64,
    pub total_bytes: u64,
}

/// Estimates the peak RSS of llama-server running `info`'s model on CPU with
/// a context of `n_ctx` tokens (0 means the training context, as in
/// llama-server), with default settings: f16 KV cache, micro-batch 512, flash
/// attention on, 4 slots sharing one unified KV cache.
///
/// With `n_ctx` rounded up to a multiple of 256, all in bytes:
///
/// ```text
/// weights  = tensor_data_bytes
/// kv_cache = n_layer × n_ctx × n_head_kv × (key_length + value_length) × 2
/// compute  = 512 × 12 × n_embd × 4       activations of a full micro-batch
///          + 4 × n_vocab × 4             logits, one row per slot
///          + n_ctx × 512 × 2             f16 attention mask
/// overhead = 15 MiB + 300 × n_vocab      process base + tokenizer tables
/// total    = weights + kv_cache + compute + overhead
/// ```
///
/// * Weights: llama-server mmaps the file; on CPU every page is touched, so
///   all of the tensor data ends up counted in RSS.
/// * KV cache: one K and one V row per layer and context cell. This matches
///   the KV buffer size llama.cpp reports exactly.
/// * Compute: ggml reserves one buffer for the worst-case graph, a full
///   micro-batch attending to the whole context; its pages count once a
///   prompt longer than a micro-batch has been processed. The activation term
///   is approximate (it really depends on the feed-forward width); the mask
///   is the only part that grows with the context once flash attention is on.
///
/// Checked against llama-server with SmolLM2-135M Q4_1: 182 MiB estimated vs
/// 186 MiB peak at n_ctx 2048, 323 vs 321 MiB at 8192.
///
/// Missing metadata counts as zero, so a file without attention metadata gets
/// no KV cache. Not modelled: sliding-window layers (which need less KV), MLA
/// or recurrent architectures, speculative decoding, and weights llama.cpp
/// repacks into a second copy on CPU for some quantisations. The named
/// constants above are the knobs for calibration.
pub fn estimate_memory(info: &GgufInfo, n_ctx: u32) -> MemoryEstimate {
    let requested = if n_ctx == 0 { info.n_ctx_train.unwrap_or(0) } else { n_ctx };
    let n_ctx = u64::from(requested).div_ceil(N_CTX_PAD) * N_CTX_PAD;
    let get = |v: Option<u32>| u64::from(v.unwrap_or(0));

    let kv_row = get(info.n_head_kv).saturating_mul(get(info.key_length) + get(info.value_length));
    let kv_cache_bytes =
        get(info.n_layer).saturating_mul(n_ctx).saturating_mul(kv_row).saturating_mul(KV_BYTES_PER_ELEMENT);

    // No overflow: every term is at most a u32 times a modest constant.
    let n_vocab = get(info.n_vocab);
    let activations = N_UBATCH * COMPUTE_ACTIVATION_ROWS * get(info.n_embd) * F32_BYTES;
    let logits = LOGIT_ROWS * n_vocab * F32_BYTES;
    let mask = n_ctx * N_UBATCH * MASK_BYTES_PER_CELL;
    let compute_bytes = activations + logits + mask;

    let weights_bytes = info.tensor_data_bytes;
    let overhead_bytes = BASE_OVERHEAD_BYTES + VOCAB_BYTES_PER_TOKEN * n_vocab;
    MemoryEstimate {
        n_ctx: u32::try_from(n_ctx).unwrap_or(u32::MAX),
        weights_bytes,
        kv_cache_bytes,
        compute_bytes,
        overhead_bytes,
        total_bytes: weights_bytes
            .saturating_add(kv_cache_bytes)
            .saturating_add(compute_bytes)
            .saturating_add(overhead_bytes),
    }
}

/// The seed's estimate: `file_size × factor + overhead_gb` GiB (1 GB taken as
/// 1024³ bytes). Negative or NaN results count as 0; huge ones saturate.
pub fn seed_estimate_bytes(file_size: u64, factor: f64, overhead_gb: f64) -> u64 {
    const GIB: f64 = (1u64 << 30) as f64;
    // `as` saturates at the bounds and maps NaN to 0, which is what we want.
    (file_size as f64 * factor + overhead_gb * GIB).round() as u64
}

#[cfg(test)]
mod tests;
