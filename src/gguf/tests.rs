use super::*;
use std::io::Write;

/// A value to write into a test file's metadata.
enum V {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(&'static str),
    U64(u64),
    I64(i64),
    F64(f64),
    /// Element type id and elements, which must all be of that type.
    Arr(u32, Vec<V>),
}

impl V {
    fn type_id(&self) -> u32 {
        match self {
            V::U8(_) => GGUF_U8,
            V::I8(_) => GGUF_I8,
            V::U16(_) => GGUF_U16,
            V::I16(_) => GGUF_I16,
            V::U32(_) => GGUF_U32,
            V::I32(_) => GGUF_I32,
            V::F32(_) => GGUF_F32,
            V::Bool(_) => GGUF_BOOL,
            V::Str(_) => GGUF_STRING,
            V::U64(_) => GGUF_U64,
            V::I64(_) => GGUF_I64,
            V::F64(_) => GGUF_F64,
            V::Arr(..) => GGUF_ARRAY,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            V::U8(v) => out.push(*v),
            V::I8(v) => out.extend(v.to_le_bytes()),
            V::U16(v) => out.extend(v.to_le_bytes()),
            V::I16(v) => out.extend(v.to_le_bytes()),
            V::U32(v) => out.extend(v.to_le_bytes()),
            V::I32(v) => out.extend(v.to_le_bytes()),
            V::F32(v) => out.extend(v.to_le_bytes()),
            V::Bool(v) => out.push(u8::from(*v)),
            V::Str(s) => put_str(out, s),
            V::U64(v) => out.extend(v.to_le_bytes()),
            V::I64(v) => out.extend(v.to_le_bytes()),
            V::F64(v) => out.extend(v.to_le_bytes()),
            V::Arr(elem, items) => {
                out.extend(elem.to_le_bytes());
                out.extend((items.len() as u64).to_le_bytes());
                for item in items {
                    assert_eq!(item.type_id(), *elem);
                    item.write(out);
                }
            }
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

/// A GGUF file under construction.
struct Gguf {
    version: u32,
    alignment: u64,
    kvs: Vec<(&'static str, V)>,
    /// Name, shape, ggml type id.
    tensors: Vec<(&'static str, Vec<u64>, u32)>,
}

/// A written file and where its parts are.
struct Built {
    bytes: Vec<u8>,
    /// End of the tensor table: everything the reader has to see.
    infos_end: u64,
    /// Start of the tensor data section.
    data_start: u64,
    tensor_bytes: u64,
}

impl Gguf {
    fn new(version: u32) -> Self {
        Gguf { version, alignment: 32, kvs: Vec::new(), tensors: Vec::new() }
    }

    fn kv(mut self, key: &'static str, value: V) -> Self {
        self.kvs.push((key, value));
        self
    }

    fn tensor(mut self, name: &'static str, shape: &[u64], ty: u32) -> Self {
        self.tensors.push((name, shape.to_vec(), ty));
        self
    }

    fn build(&self) -> Built {
        let mut out = Vec::new();
        out.extend(MAGIC);
        out.extend(self.version.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.kvs.len() as u64).to_le_bytes());
        for (key, value) in &self.kvs {
            put_str(&mut out, key);
            out.extend(value.type_id().to_le_bytes());
            value.write(&mut out);
        }
        // Sizes computed independently of the reader's table, from the
        // block layouts in ggml-common.h.
        // Shapes too large to exist get no data, so hostile shapes can be written.
        let size_of = |shape: &[u64], ty: u32| -> u64 {
            let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let size = match ty {
                0 => n.and_then(|n| n.checked_mul(4)),
                1 => n.and_then(|n| n.checked_mul(2)),
                2 => n.map(|n| n / 32 * (2 + 16)),
                8 => n.map(|n| n / 32 * (2 + 32)),
                12 => n.map(|n| n / 256 * (2 + 2 + 12 + 128)),
                _ => None,
            };
            size.filter(|&s| s <= 1 << 24).unwrap_or(0)
        };
        let mut offset: u64 = 0;
        let mut tensor_bytes = 0;
        for (name, shape, ty) in &self.tensors {
            put_str(&mut out, name);
            out.extend((shape.len() as u32).to_le_bytes());
            for d in shape {
                out.extend(d.to_le_bytes());
            }
            out.extend(ty.to_le_bytes());
            out.extend(offset.to_le_bytes());
            let size = size_of(shape, *ty);
            tensor_bytes += size;
            offset += size.div_ceil(self.alignment) * self.alignment;
        }
        let infos_end = out.len() as u64;
        if !self.tensors.is_empty() {
            while !(out.len() as u64).is_multiple_of(self.alignment) {
                out.push(0);
            }
        }
        let data_start = out.len() as u64;
        out.resize(out.len() + offset as usize, 0xAB);
        Built { bytes: out, infos_end, data_start, tensor_bytes }
    }
}

fn strs(items: &[&'static str]) -> V {
    V::Arr(GGUF_STRING, items.iter().map(|s| V::Str(s)).collect())
}

const TOKENS: [&str; 10] = ["<s>", "</s>", "a", "b", "c", "d", "e", "f", "g", "h"];

/// A llama-like file: every metadata type, a nested array, and tensors of
/// four ggml types.
fn llama_like() -> Gguf {
    Gguf::new(3)
        .kv("general.architecture", V::Str("llama"))
        .kv("general.name", V::Str("Tiny Test Llama"))
        .kv("general.file_type", V::U32(2))
        .kv("general.quantization_version", V::U32(2))
        .kv("llama.block_count", V::U32(2))
        .kv("llama.context_length", V::U32(2048))
        .kv("llama.embedding_length", V::U32(64))
        .kv("llama.feed_forward_length", V::U32(172))
        .kv("llama.attention.head_count", V::U32(4))
        .kv("llama.attention.head_count_kv", V::U32(2))
        .kv("llama.rope.freq_base", V::F32(10000.0))
        .kv("llama.attention.layer_norm_rms_epsilon", V::F32(1e-5))
        .kv("tokenizer.ggml.model", V::Str("llama"))
        .kv("tokenizer.ggml.tokens", strs(&TOKENS))
        .kv("tokenizer.ggml.scores", V::Arr(GGUF_F32, (0..10).map(|i| V::F32(i as f32)).collect()))
        .kv("tokenizer.ggml.token_type", V::Arr(GGUF_I32, (0..10).map(V::I32).collect()))
        .kv("tokenizer.ggml.merges", strs(&["a b", "c d"]))
        .kv("tokenizer.ggml.bos_token_id", V::U32(0))
        .kv("tokenizer.ggml.add_bos_token", V::Bool(true))
        .kv("test.u8", V::U8(7))
        .kv("test.i8", V::I8(-7))
        .kv("test.u16", V::U16(700))
        .kv("test.i16", V::I16(-700))
        .kv("test.u64", V::U64(1 << 40))
        .kv("test.i64", V::I64(-1))
        .kv("test.f64", V::F64(0.5))
        .kv(
            "test.nested",
            V::Arr(
                GGUF_ARRAY,
                vec![
                    V::Arr(GGUF_U16, vec![V::U16(1), V::U16(2)]),
                    V::Arr(GGUF_U16, vec![]),
                    V::Arr(GGUF_U16, vec![V::U16(3)]),
                ],
            ),
        )
        .kv("test.nested_strings", V::Arr(GGUF_ARRAY, vec![strs(&["x", "yz"]), strs(&[])]))
        .kv("test.empty_string", V::Str(""))
        .tensor("token_embd.weight", &[64, 10], 8)
        .tensor("blk.0.attn_norm.weight", &[64], 0)
        .tensor("blk.0.attn_q.weight", &[64, 64], 2)
        .tensor("output.weight", &[64, 10], 1)
        .tensor("blk.0.ffn_up.weight", &[256, 2, 3], 12)
}

fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}

fn parse(bytes: &[u8]) -> Result<GgufInfo, GgufError> {
    read_from(bytes, Some(bytes.len() as u64))
}

#[test]
fn reads_llama_like_file() {
    let gguf = llama_like();
    let built = gguf.build();
    let file = write_temp(&built.bytes);
    let info = read_path(file.path()).unwrap();

    // Q8_0 64x10: 2 blocks of 34 bytes per row. F32 64. Q4_0 64x64: 2
    // blocks of 18 per row. F16 64x10. Q4_K 256x2x3: one 144-byte block per row.
    let expected_tensor_bytes = 2 * 34 * 10 + 4 * 64 + 2 * 18 * 64 + 2 * 64 * 10 + 144 * 6;
    assert_eq!(built.tensor_bytes, expected_tensor_bytes);
    assert_eq!(
        info,
        GgufInfo {
            version: 3,
            architecture: Some("llama".into()),
            name: Some("Tiny Test Llama".into()),
            file_type: Some(2),
            n_layer: Some(2),
            n_embd: Some(64),
            n_head: Some(4),
            n_head_kv: Some(2),
            n_ctx_train: Some(2048),
            key_length: Some(16),
            value_length: Some(16),
            n_vocab: Some(10),
            n_tensors: 5,
            n_kv: gguf.kvs.len() as u64,
            tensor_data_bytes: expected_tensor_bytes,
            header_bytes: built.data_start,
            file_size: Some(built.bytes.len() as u64),
        }
    );
    assert!(info.header_bytes.is_multiple_of(32));
    assert!(info.header_bytes >= built.infos_end);

    // The same from a plain reader without a known size.
    let from_reader = read_from(&built.bytes[..], None).unwrap();
    assert_eq!(from_reader.file_size, None);
    assert_eq!(from_reader.tensor_data_bytes, expected_tensor_bytes);
    assert_eq!(from_reader.header_bytes, built.data_start);
}

#[test]
fn results_are_serializable() {
    // The daemon puts both into JSON; this fails to compile if they stop being serializable.
    fn serializable<T: Serialize + for<'de> Deserialize<'de>>() {}
    serializable::<GgufInfo>();
    serializable::<MemoryEstimate>();
}

#[test]
fn head_count_kv_defaults_to_head_count() {
    let built = Gguf::new(3)
        .kv("general.architecture", V::Str("llama"))
        .kv("llama.block_count", V::U32(3))
        .kv("llama.embedding_length", V::U32(96))
        .kv("llama.attention.head_count", V::U32(8))
        .build();
    let info = parse(&built.bytes).unwrap();
    assert_eq!(info.n_head, Some(8));
    assert_eq!(info.n_head_kv, Some(8));
    assert_eq!(info.key_length, Some(12));
    assert_eq!(info.value_length, Some(12));
    assert_eq!(info.n_tensors, 0);
    assert_eq!(info.tensor_data_bytes, 0);
    // No tensors, so no padding after the metadata.
    assert_eq!(info.header_bytes, built.bytes.len() as u64);
    assert_eq!(info.n_vocab, None);
    assert_eq!(info.n_ctx_train, None);
}

#[test]
fn explicit_key_and_value_lengths_win_over_the_default() {
    let built = Gguf::new(3)
        .kv("general.architecture", V::Str("gemma"))
        .kv("gemma.embedding_length", V::U32(2048))
        .kv("gemma.attention.head_count", V::U32(8))
        .kv("gemma.attention.key_length", V::U32(256))
        .kv("gemma.attention.value_length", V::U32(128))
        .build();
    let info = parse(&built.bytes).unwrap();
    assert_eq!((info.key_length, info.value_length), (Some(256), Some(128)));
}

#[test]
fn architecture_may_come_after_its_keys_and_other_prefixes_are_ignored() {
    let built = Gguf::new(3)
        .kv("qwen2.block_count", V::U32(24))
        .kv("clip.vision.block_count", V::U32(99))
        .kv("llama.block_count", V::U32(5))
        .kv("qwen2.embedding_length", V::U64(896))
        .kv("qwen2.attention.head_count", V::I32(14))
        .kv("general.architecture", V::Str("qwen2"))
        .build();
    let info = parse(&built.bytes).unwrap();
    assert_eq!(info.architecture.as_deref(), Some("qwen2"));
    assert_eq!(info.n_layer, Some(24));
    assert_eq!(info.n_embd, Some(896));
    assert_eq!(info.n_head, Some(14));
}

#[test]
fn per_layer_head_counts_give_their_maximum() {
    let built = Gguf::new(3)
        .kv("general.architecture", V::Str("openelm"))
        .kv("openelm.embedding_length", V::U32(1280))
        .kv("openelm.attention.head_count", V::Arr(GGUF_I32, vec![V::I32(12), V::I32(20), V::I32(16)]))
        .kv("openelm.attention.head_count_kv", V::Arr(GGUF_U32, vec![V::U32(3), V::U32(5), V::U32(4)]))
        .build();
    let info = parse(&built.bytes).unwrap();
    assert_eq!(info.n_head, Some(20));
    assert_eq!(info.n_head_kv, Some(5));
    assert_eq!(info.key_length, Some(64));
}

#[test]
fn reads_version_2() {
    let mut gguf = llama_like();
    gguf.version = 2;
    let built = gguf.build();
    let info = parse(&built.bytes).unwrap();
    assert_eq!(info.version, 2);
    assert_eq!(info.n_layer, Some(2));
    assert_eq!(info.header_bytes, built.data_start);
    assert_eq!(info.tensor_data_bytes, built.tensor_bytes);
}

#[test]
fn honours_general_alignment() {
    let mut gguf = llama_like().kv("general.alignment", V::U32(256));
    gguf.alignment = 256;
    let built = gguf.build();
    let info = parse(&built.bytes).unwrap();
    assert!(info.header_bytes.is_multiple_of(256));
    assert_eq!(info.header_bytes, built.data_start);

    let bad = Gguf::new(3).kv("general.alignment", V::U32(48)).build();
    let err = parse(&bad.bytes).unwrap_err();
    assert!(matches!(err, GgufError::BadAlignment { value: 48, .. }), "{err}");
}

#[test]
fn every_cut_of_the_header_is_a_truncation_error() {
    let built = llama_like().build();
    let full = built.bytes.len() as u64;
    for cut in 0..built.infos_end as usize {
        let prefix = &built.bytes[..cut];
        // As after a Range request: the first bytes, and the real size.
        match read_from(prefix, Some(full)) {
            Err(GgufError::Truncated { offset }) => assert_eq!(offset, cut as u64),
            other => panic!("cut at {cut}: expected truncation, got {other:?}"),
        }
        // Without a size.
        assert!(matches!(read_from(prefix, None), Err(GgufError::Truncated { .. })));
        // As a file that really is that short: any error, never a panic.
        assert!(parse(prefix).is_err(), "cut at {cut} parsed");
    }
    // Once the tensor table is complete, the tensor data is not needed.
    for cut in built.infos_end as usize..built.bytes.len() {
        let info = read_from(&built.bytes[..cut], Some(full)).unwrap();
        assert_eq!(info.header_bytes, built.data_start);
    }
}

#[test]
fn truncated_files_on_disk_are_errors() {
    let built = llama_like().build();
    let cuts = [0, 3, 4, 8, 20, 24, 100, built.infos_end as usize - 1, built.bytes.len() - 1];
    for cut in cuts {
        let file = write_temp(&built.bytes[..cut]);
        let err = read_path(file.path()).unwrap_err();
        // The message names a byte offset or the file size.
        assert!(err.to_string().contains("byte"), "cut at {cut}: {err}");
    }
    let file = write_temp(&built.bytes[..built.bytes.len() - 1]);
    assert!(matches!(read_path(file.path()), Err(GgufError::TensorDataPastEnd { .. })));
}

#[test]
fn missing_file_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_path(&dir.path().join("absent.gguf")).unwrap_err();
    assert!(matches!(err, GgufError::Open { .. }));
    assert!(err.to_string().starts_with("cannot open"), "{err}");
}

#[test]
fn rejects_bad_magic() {
    let mut bytes = llama_like().build().bytes;
    bytes[..4].copy_from_slice(b"\x7fELF");
    let err = parse(&bytes).unwrap_err();
    assert!(matches!(err, GgufError::BadMagic { .. }));
    let msg = err.to_string();
    assert!(msg.starts_with("not a GGUF file: magic is 0x7f454c46"), "{msg}");
    assert!(msg.contains("?ELF"), "{msg}");
}

#[test]
fn rejects_unsupported_versions() {
    for version in [0u32, 1, 4, 1000] {
        let mut bytes = llama_like().build().bytes;
        bytes[4..8].copy_from_slice(&version.to_le_bytes());
        let err = parse(&bytes).unwrap_err();
        assert!(matches!(err, GgufError::UnsupportedVersion { version: v } if v == version));
        assert_eq!(err.to_string(), format!("unsupported GGUF version {version}"));
    }
    let mut bytes = llama_like().build().bytes;
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    let err = parse(&bytes).unwrap_err();
    assert!(matches!(err, GgufError::BigEndian { raw: 0x0300_0000 }), "{err}");
}

/// A header up to and including the metadata count, for hand-made bodies.
fn header(n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(MAGIC);
    out.extend(3u32.to_le_bytes());
    out.extend(n_tensors.to_le_bytes());
    out.extend(n_kv.to_le_bytes());
    out
}

#[test]
fn rejects_absurd_string_length() {
    let mut bytes = header(0, 1);
    bytes.extend((u64::MAX - 3).to_le_bytes());
    bytes.extend(b"general.name");
    let err = parse(&bytes).unwrap_err();
    assert!(matches!(err, GgufError::StringTooLong { len, offset: 24, .. } if len == u64::MAX - 3), "{err}");
    assert!(err.to_string().starts_with("metadata string of 18446744073709551612 bytes at byte 24 exceeds limit"));

    // Under the cap but past the end of the file: caught before reading.
    let mut bytes = header(0, 1);
    bytes.extend(1000u64.to_le_bytes());
    bytes.extend(b"short");
    let err = parse(&bytes).unwrap_err();
    assert!(matches!(err, GgufError::PastEndOfFile { len: 1000, offset: 24, .. }), "{err}");

    // A string value, not just a key.
    let mut bytes = header(0, 1);
    put_str(&mut bytes, "general.name");
    bytes.extend(GGUF_STRING.to_le_bytes());
    bytes.extend((MAX_STRING_BYTES + 1).to_le_bytes());
    assert!(matches!(parse(&bytes), Err(GgufError::StringTooLong { .. })));
}

#[test]
fn rejects_absurd_counts() {
    let err = parse(&header(u64::MAX, 0)).unwrap_err();
    assert!(matches!(err, GgufError::TooMany { what: "tensors", count: u64::MAX, offset: 8, .. }), "{err}");
    let err = parse(&header(MAX_TENSORS + 1, 0)).unwrap_err();
    assert!(matches!(err, GgufError::TooMany { what: "tensors", .. }), "{err}");
    let err = parse(&header(0, 1 << 40)).unwrap_err();
    assert!(matches!(err, GgufError::TooMany { what: "metadata entries", offset: 16, .. }), "{err}");
    // Within the caps but more than the bytes present.
    assert!(matches!(parse(&header(1000, 1000)), Err(GgufError::Truncated { offset: 24 })));
}

#[test]
fn rejects_absurd_arrays_without_reading_them() {
    for elem in [GGUF_U8, GGUF_U64, GGUF_STRING, GGUF_ARRAY] {
        let mut bytes = header(0, 1);
        put_str(&mut bytes, "tokenizer.ggml.tokens");
        bytes.extend(GGUF_ARRAY.to_le_bytes());
        bytes.extend(elem.to_le_bytes());
        bytes.extend((u64::MAX / 2).to_le_bytes());
        let err = parse(&bytes).unwrap_err();
        assert!(matches!(err, GgufError::PastEndOfFile { .. }), "{err}");
        // With no file size: an overflow or a truncation, promptly.
        let err = read_from(&bytes[..], None).unwrap_err();
        assert!(matches!(err, GgufError::ArrayTooLong { .. } | GgufError::Truncated { .. }), "{err}");
    }
}

#[test]
fn rejects_deeply_nested_arrays() {
    let mut bytes = header(0, 1);
    put_str(&mut bytes, "test.deep");
    bytes.extend(GGUF_ARRAY.to_le_bytes());
    for _ in 0..10_000 {
        bytes.extend(GGUF_ARRAY.to_le_bytes());
        bytes.extend(1u64.to_le_bytes());
    }
    let err = parse(&bytes).unwrap_err();
    assert!(matches!(err, GgufError::ArrayTooDeep { .. }), "{err}");
}

#[test]
fn rejects_unknown_value_types() {
    let mut bytes = header(0, 1);
    put_str(&mut bytes, "test.weird");
    bytes.extend(13u32.to_le_bytes());
    bytes.extend([0; 16]);
    let err = parse(&bytes).unwrap_err();
    assert!(matches!(err, GgufError::BadValueType { type_id: 13, offset: 42 }), "{err}");
}

#[test]
fn rejects_unknown_tensor_types() {
    for type_id in [4u32, 31, 43, 9999] {
        let built = Gguf::new(3).tensor("bad.weight", &[32], type_id).build();
        let err = parse(&built.bytes).unwrap_err();
        assert!(
            matches!(&err, GgufError::UnknownTensorType { type_id: t, name, .. } if *t == type_id && name == "bad.weight"),
            "{err}"
        );
        assert!(err.to_string().contains(&format!("ggml type {type_id}")), "{err}");
    }
}

#[test]
fn rejects_bad_tensor_shapes() {
    let built = Gguf::new(3).tensor("odd.weight", &[33, 2], 2).build();
    let err = parse(&built.bytes).unwrap_err();
    assert!(matches!(err, GgufError::RowNotBlockMultiple { row: 33, block: 32, .. }), "{err}");

    let built = Gguf::new(3).tensor("deep.weight", &[1; 9], 0).build();
    let err = parse(&built.bytes).unwrap_err();
    assert!(matches!(err, GgufError::TooManyDims { n_dims: 9, .. }), "{err}");

    let built = Gguf::new(3).tensor("neg.weight", &[u64::MAX], 0).build();
    let err = parse(&built.bytes).unwrap_err();
    assert!(matches!(err, GgufError::BadDimension { .. }), "{err}");

    let built = Gguf::new(3).tensor("huge.weight", &[1 << 40, 1 << 40], 0).build();
    let err = read_from(&built.bytes[..], None).unwrap_err();
    assert!(matches!(err, GgufError::TensorTooLarge { .. }), "{err}");

    // Data that would lie beyond the end of the file.
    let built = Gguf::new(3).tensor("big.weight", &[1 << 20], 0).build();
    let err = parse(&built.bytes[..built.data_start as usize]).unwrap_err();
    assert!(matches!(err, GgufError::TensorDataPastEnd { .. }), "{err}");
}

#[test]
fn rejects_misaligned_tensor_data() {
    let built = Gguf::new(3).tensor("a", &[8], 0).build();
    let mut bytes = built.bytes;
    // The data offset is the last field of the tensor table.
    let end = built.infos_end as usize;
    bytes[end - 8..end].copy_from_slice(&4u64.to_le_bytes());
    let err = parse(&bytes).unwrap_err();
    assert!(matches!(err, GgufError::MisalignedTensor { data_offset: 4, .. }), "{err}");
}

/// Flips and overwrites bytes of a valid file many times: every variant
/// must give a result, never a panic or a hang.
#[test]
fn survives_corrupted_headers() {
    let built = llama_like().build();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let mut bytes = built.bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % built.infos_end) as usize;
            bytes[at] = match next() % 3 {
                0 => bytes[at] ^ (1 << (next() % 8)),
                1 => 0xFF,
                _ => next() as u8,
            };
        }
        let _ = parse(&bytes);
        let _ = read_from(&bytes[..], None);
    }
}

#[test]
fn type_table_matches_ggml_bits_per_weight() {
    // Bits per weight quoted in ggml-common.h for the block layouts.
    let bpw = |name: &str| {
        let t = GGML_TYPES.iter().find(|t| t.name == name).unwrap();
        t.size as f64 * 8.0 / t.block as f64
    };
    assert_eq!(bpw("Q4_0"), 4.5);
    assert_eq!(bpw("Q8_0"), 8.5);
    assert_eq!(bpw("Q2_K"), 2.625);
    assert_eq!(bpw("Q3_K"), 3.4375);
    assert_eq!(bpw("Q4_K"), 4.5);
    assert_eq!(bpw("Q5_K"), 5.5);
    assert_eq!(bpw("Q6_K"), 6.5625);
    assert_eq!(bpw("IQ2_XXS"), 2.0625);
    assert_eq!(bpw("IQ2_XS"), 2.3125);
    assert_eq!(bpw("IQ2_S"), 2.5625);
    assert_eq!(bpw("IQ3_XXS"), 3.0625);
    assert_eq!(bpw("IQ3_S"), 3.4375);
    assert_eq!(bpw("IQ1_S"), 1.5625);
    assert_eq!(bpw("IQ1_M"), 1.75);
    assert_eq!(bpw("TQ1_0"), 1.6875);
    assert_eq!(bpw("TQ2_0"), 2.0625);
    assert_eq!(bpw("IQ4_XS"), 4.25);
    assert_eq!(ggml_type_name(30), Some("BF16"));
    assert_eq!(ggml_type_name(31), None);
    let mut ids: Vec<u32> = GGML_TYPES.iter().map(|t| t.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), GGML_TYPES.len());
}

fn known_info() -> GgufInfo {
    GgufInfo {
        version: 3,
        architecture: Some("llama".into()),
        name: None,
        file_type: Some(2),
        n_layer: Some(32),
        n_embd: Some(4096),
        n_head: Some(32),
        n_head_kv: Some(8),
        n_ctx_train: Some(8192),
        key_length: Some(128),
        value_length: Some(128),
        n_vocab: Some(128_256),
        n_tensors: 291,
        n_kv: 30,
        tensor_data_bytes: 4_000_000_000,
        header_bytes: 8_000_000,
        file_size: Some(4_008_000_000),
    }
}

#[test]
fn estimate_memory_arithmetic() {
    let info = known_info();
    let est = estimate_memory(&info, 4096);
    assert_eq!(est.n_ctx, 4096);
    // 32 layers × 4096 cells × 8 heads × (128 + 128) × 2 bytes = 512 MiB,
    // the figure llama.cpp prints for Llama 3 8B at this context.
    assert_eq!(est.kv_cache_bytes, 32 * 4096 * 8 * 256 * 2);
    assert_eq!(est.kv_cache_bytes, 512 * MIB);
    assert_eq!(est.weights_bytes, 4_000_000_000);
    assert_eq!(est.compute_bytes, 512 * 12 * 4096 * 4 + 4 * 128_256 * 4 + 4096 * 512 * 2);
    assert_eq!(est.overhead_bytes, 15 * MIB + 300 * 128_256);
    assert_eq!(est.total_bytes, est.weights_bytes + est.kv_cache_bytes + est.compute_bytes + est.overhead_bytes);

    // The context is rounded up to 256 as llama.cpp does.
    let est = estimate_memory(&info, 1000);
    assert_eq!(est.n_ctx, 1024);
    assert_eq!(est.kv_cache_bytes, 32 * 1024 * 8 * 256 * 2);

    // 0 means the training context.
    assert_eq!(estimate_memory(&info, 0).n_ctx, 8192);

    // KV grows linearly with the context, nothing else but the mask does.
    let a = estimate_memory(&info, 2048);
    let b = estimate_memory(&info, 4096);
    assert_eq!(b.kv_cache_bytes, 2 * a.kv_cache_bytes);
    assert_eq!(b.compute_bytes - a.compute_bytes, 2048 * 512 * 2);

    // Missing metadata counts as zero instead of failing.
    let bare = GgufInfo { n_layer: None, n_vocab: None, n_embd: None, ..info };
    let est = estimate_memory(&bare, 4096);
    assert_eq!(est.kv_cache_bytes, 0);
    assert_eq!(est.compute_bytes, 4096 * 512 * 2);
    assert_eq!(est.overhead_bytes, BASE_OVERHEAD_BYTES);

    // Absurd values saturate rather than overflow.
    let absurd = GgufInfo {
        n_layer: Some(u32::MAX),
        n_head_kv: Some(u32::MAX),
        key_length: Some(u32::MAX),
        value_length: Some(u32::MAX),
        tensor_data_bytes: u64::MAX,
        ..known_info()
    };
    let est = estimate_memory(&absurd, u32::MAX);
    assert_eq!(est.total_bytes, u64::MAX);
    assert_eq!(est.n_ctx, u32::MAX);
}

#[test]
fn estimate_of_a_parsed_file() {
    let built = llama_like().build();
    let info = parse(&built.bytes).unwrap();
    let est = estimate_memory(&info, 512);
    // 2 layers × 512 × 2 heads × (16 + 16) × 2 bytes.
    assert_eq!(est.kv_cache_bytes, 2 * 512 * 2 * 32 * 2);
    assert_eq!(est.weights_bytes, built.tensor_bytes);
}

#[test]
fn seed_estimate() {
    const GIB: u64 = 1 << 30;
    assert_eq!(seed_estimate_bytes(0, 1.2, 1.0), GIB);
    assert_eq!(seed_estimate_bytes(10 * GIB, 1.2, 0.5), 12 * GIB + GIB / 2);
    assert_eq!(seed_estimate_bytes(1000, 1.5, 0.0), 1500);
    assert_eq!(seed_estimate_bytes(1000, -5.0, 0.0), 0);
    assert_eq!(seed_estimate_bytes(1000, f64::NAN, 0.0), 0);
    assert_eq!(seed_estimate_bytes(u64::MAX, 2.0, 0.0), u64::MAX);
}

/// Reads the real models another part of the project downloads, when they
/// are there; the test passes (with a note) when they are not.
#[test]
fn reads_real_models_if_present() {
    let Some(home) = std::env::var_os("HOME") else {
        eprintln!("skip: HOME is not set");
        return;
    };
    let dir = Path::new(&home).join(".cache/arw/models");
    for name in ["tiny-llama-random.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf"] {
        let path = dir.join(name);
        if !path.exists() {
            eprintln!("skip: {} not present", path.display());
            continue;
        }
        let info = read_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("{}: {info:#?}", path.display());
        for n_ctx in [512, 2048, 8192] {
            eprintln!("  estimate at n_ctx {n_ctx}: {:?}", estimate_memory(&info, n_ctx));
        }
        let file_size = info.file_size.unwrap();
        assert!(info.architecture.is_some());
        assert!(info.n_layer.is_some_and(|n| n > 0));
        assert!(info.n_vocab.is_some_and(|n| n > 0));
        assert!(info.header_bytes + info.tensor_data_bytes <= file_size);
    }
}
