//! The walk over a GGUF header: fixed fields, the key-value section (see
//! `metadata`) and the tensor table, stopping where the tensor data starts.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::metadata::{read_kv, Metadata};
use super::types::{ggml_type, GgufError, GgufInfo};
use super::{DEFAULT_ALIGNMENT, MAGIC, MAX_DIMS, MAX_KV, MAX_STRING_BYTES, MAX_TENSORS, READ_BUFFER_BYTES};

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
pub(super) struct Reader<R> {
    inner: BufReader<R>,
    pub pos: u64,
    pub file_size: Option<u64>,
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

    pub(super) fn u8(&mut self) -> Result<u8, GgufError> {
        let mut b = [0u8; 1];
        self.fill(&mut b)?;
        Ok(b[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16, GgufError> {
        let mut b = [0u8; 2];
        self.fill(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    pub(super) fn u32(&mut self) -> Result<u32, GgufError> {
        let mut b = [0u8; 4];
        self.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub(super) fn u64(&mut self) -> Result<u64, GgufError> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Fails early when `len` bytes starting at `offset` cannot fit in the file,
    /// so a forged length does not make us read a large file to its end first.
    pub(super) fn check_fits(&self, what: &'static str, len: u64, offset: u64) -> Result<(), GgufError> {
        match self.file_size {
            Some(file_size) if self.pos.checked_add(len).is_none_or(|end| end > file_size) => {
                Err(GgufError::PastEndOfFile { what, len, offset, file_size })
            }
            _ => Ok(()),
        }
    }

    /// Discards `n` bytes straight out of the read buffer, without copying.
    pub(super) fn skip(&mut self, mut n: u64) -> Result<(), GgufError> {
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

    pub(super) fn string(&mut self) -> Result<String, GgufError> {
        let len = self.string_len()?;
        // Bounded by MAX_STRING_BYTES, so the allocation is safe.
        let mut buf = vec![0u8; len as usize];
        self.fill(&mut buf)?;
        // Names are only displayed; a stray invalid byte should not fail the read.
        Ok(String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    pub(super) fn skip_string(&mut self) -> Result<(), GgufError> {
        let len = self.string_len()?;
        self.skip(len)
    }
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
