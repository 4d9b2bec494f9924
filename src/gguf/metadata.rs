//! The key-value section: values are walked, not collected, and only the
//! few keys that size a model are kept.

use std::io::Read;

use super::reader::Reader;
use super::types::{GgufError, GgufInfo};
use super::MAX_ARRAY_DEPTH;

// GGUF metadata value types.
pub(super) const GGUF_U8: u32 = 0;
pub(super) const GGUF_I8: u32 = 1;
pub(super) const GGUF_U16: u32 = 2;
pub(super) const GGUF_I16: u32 = 3;
pub(super) const GGUF_U32: u32 = 4;
pub(super) const GGUF_I32: u32 = 5;
pub(super) const GGUF_F32: u32 = 6;
pub(super) const GGUF_BOOL: u32 = 7;
pub(super) const GGUF_STRING: u32 = 8;
pub(super) const GGUF_ARRAY: u32 = 9;
pub(super) const GGUF_U64: u32 = 10;
pub(super) const GGUF_I64: u32 = 11;
pub(super) const GGUF_F64: u32 = 12;

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
pub(super) struct Metadata {
    architecture: Option<String>,
    name: Option<String>,
    file_type: Option<u32>,
    pub alignment: Option<u64>,
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

    pub(super) fn into_info(
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

pub(super) fn read_kv<R: Read>(r: &mut Reader<R>, meta: &mut Metadata) -> Result<(), GgufError> {
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
