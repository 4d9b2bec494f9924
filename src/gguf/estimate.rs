//! The memory estimate. Every constant the lead may calibrate against
//! measured peak RSS of llama-server is here.

use super::types::GgufInfo;

pub(super) const MIB: u64 = 1024 * 1024;

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

pub use crate::protocol::smoke::MemoryEstimate;

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
