// SPDX-License-Identifier: MIT OR Apache-2.0
//! Native MTCNN R-Net and O-Net (stages 2 and 3) for x86-64 CPUs with AVX2 and FMA, with the weights
//! read from `rnet.onnx` / `onet.onnx`. Like the native P-Net (`super::pnet`), they exist because ONNX
//! Runtime runs every PReLU as a separate pass and spends more time on layout than on these tiny
//! convolutions; here a crop goes through the whole network in cache, PReLU applied in registers, and
//! the batch is split over threads.
//!
//! The graph is read as a chain: transposed NHWC input → (Conv → PRelu → [MaxPool])* → Transpose →
//! Flatten → MatMul+Add → PRelu → heads (MatMul+Add, [Softmax]). Anything else is refused and the
//! caller keeps ONNX Runtime. The Keras conversion sees crops transposed, so kernels are transposed at
//! load time (see `pnet`), and the flatten order is that of the transposed map.

use std::collections::HashMap;

use super::parallel::run_all;
use super::pnet::transpose_kernel;
use super::weights::{Attribute, Graph, Node};

/// A convolution (or a dense layer written as one) with optional PReLU, output channels padded to a
/// multiple of 16 (two 8-lane vectors) with zero weights.
struct ConvLayer {
    k: usize,
    ic: usize,
    oc_pad: usize,
    /// `[ky][kx][ic][oc_pad]`.
    w: Vec<f32>,
    b: Vec<f32>,
    slope: Option<Vec<f32>>,
}

/// Max-pool k×k, stride s; `same_upper` pads at the end (padding never wins), else VALID.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pool {
    k: usize,
    s: usize,
    same_upper: bool,
}

impl Pool {
    fn out(&self, n: usize) -> usize {
        if self.same_upper {
            n.div_ceil(self.s)
        } else {
            (n - self.k) / self.s + 1
        }
    }

    fn pad_begin(&self, n: usize) -> usize {
        if self.same_upper {
            ((self.out(n) - 1) * self.s + self.k).saturating_sub(n) / 2
        } else {
            0
        }
    }
}

/// One named output of the network: a slice of the heads' channels, with the softmax applied when
/// the graph has one.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HeadOutput {
    pub(crate) name: String,
    pub(crate) offset: usize,
    pub(crate) len: usize,
    softmax: bool,
}

/// A loaded R-Net or O-Net.
pub(crate) struct StageNet {
    size: usize,
    convs: Vec<(ConvLayer, Option<Pool>)>,
    /// Side of the last feature map (the dense layer's kernel).
    last: usize,
    /// Floats in the largest intermediate map.
    max_map: usize,
    dense: ConvLayer,
    heads: ConvLayer,
    outputs: Vec<HeadOutput>,
    /// Values per crop in [`StageNet::run`]'s result.
    pub(crate) width: usize,
}

/// Per-thread buffers.
#[derive(Default)]
pub(crate) struct StageScratch {
    maps: [Vec<f32>; 2],
    feats: Vec<f32>,
    dense: Vec<f32>,
    heads: Vec<f32>,
}

fn pad16(n: usize) -> usize {
    n.div_ceil(16) * 16
}

fn consumers(graph: &Graph) -> HashMap<&str, Vec<&Node>> {
    let mut map: HashMap<&str, Vec<&Node>> = HashMap::new();
    for n in &graph.nodes {
        for i in &n.inputs {
            map.entry(i.as_str()).or_default().push(n);
        }
    }
    map
}

impl StageNet {
    /// Reads the chain starting at input `input` (crops of `size`×`size`); see the module comment.
    pub(crate) fn from_graph(graph: &Graph, input: &str, size: usize) -> Result<StageNet, String> {
        let users = consumers(graph);
        let next = |t: &str, op: &str| -> Result<&Node, String> {
            match users.get(t).map(Vec::as_slice) {
                Some([n]) if n.op_type == op => Ok(*n),
                Some([n]) => Err(format!("{t} feeds a {}, expected a {op}", n.op_type)),
                _ => Err(format!("{t} does not feed exactly one node")),
            }
        };
        let first = next(input, "Transpose")?;
        if first.ints("perm") != Some(&[0, 3, 1, 2]) {
            return Err("the input is not transposed NHWC→NCHW".into());
        }
        let mut t = first.outputs[0].as_str();
        let (mut side, mut channels) = (size, 3);
        let mut convs = Vec::new();
        loop {
            let node = users.get(t).and_then(|v| v.first()).ok_or_else(|| format!("{t} feeds nothing"))?;
            if node.op_type == "Transpose" {
                if node.ints("perm") != Some(&[0, 2, 3, 1]) {
                    return Err(format!("{}: not a transpose back to NHWC", node.name));
                }
                t = next(&node.outputs[0], "Flatten")?.outputs[0].as_str();
                break;
            }
            let conv = next(t, "Conv")?;
            let w =
                graph.weight(conv, 1).ok_or_else(|| format!("{}: weights are not a float initializer", conv.name))?;
            let b = graph.weight(conv, 2).ok_or_else(|| format!("{}: bias is not a float initializer", conv.name))?;
            let (oc, k) = (w.dims[0], w.dims.get(2).copied().unwrap_or(0));
            if !conv.is_plain_conv()
                || w.dims.len() != 4
                || w.dims[1] != channels
                || w.dims[3] != k
                || k > side
                || b.data.len() != oc
            {
                return Err(format!("{}: not a plain {channels}-channel convolution fitting {side}x{side}", conv.name));
            }
            let prelu = next(&conv.outputs[0], "PRelu")?;
            let slope = graph.weight(prelu, 1).filter(|a| a.data.len() == oc);
            let slope = slope.ok_or_else(|| format!("{}: expected {oc} slopes", prelu.name))?;
            let oc_pad = pad16(oc);
            let layer = ConvLayer {
                k,
                ic: channels,
                oc_pad,
                w: transpose_kernel(w, oc_pad),
                b: padded(&b.data, oc_pad),
                slope: Some(padded(&slope.data, oc_pad)),
            };
            side = side - k + 1;
            channels = oc;
            t = prelu.outputs[0].as_str();
            let mut pool = None;
            if let Some([p]) = users.get(t).map(Vec::as_slice) {
                if p.op_type == "MaxPool" {
                    let (ks, st) = (p.ints("kernel_shape"), p.ints("strides"));
                    let same_upper = match p.string("auto_pad") {
                        Some("SAME_UPPER") => true,
                        Some("VALID") => false,
                        None | Some("NOTSET") if p.ints("pads").is_none_or(|v| v.iter().all(|&x| x == 0)) => false,
                        _ => return Err(format!("{}: unsupported padding", p.name)),
                    };
                    let ceil = matches!(p.attribute("ceil_mode"), Some(Attribute::Int(c)) if *c != 0);
                    match (ks, st) {
                        (Some(&[a, b]), Some(&[c, d]))
                            if a == b && c == d && a > 0 && c > 0 && !ceil && (a as usize) <= side =>
                        {
                            let pl = Pool { k: a as usize, s: c as usize, same_upper };
                            side = pl.out(side);
                            pool = Some(pl);
                            t = p.outputs[0].as_str();
                        }
                        _ => return Err(format!("{}: not a square max-pool", p.name)),
                    }
                }
            }
            convs.push((layer, pool));
        }
        if convs.is_empty() {
            return Err("no convolution before the flatten".into());
        }
        // Dense: MatMul [F, D] + Add [D] + PRelu [D], F = side*side*channels in the transposed order.
        let mm = next(t, "MatMul")?;
        let w = graph.weight(mm, 1).ok_or("the dense weights are not a float initializer")?;
        let features = side * side * channels;
        if w.dims.len() != 2 || w.dims[0] != features {
            return Err(format!("dense weights {:?}, expected [{features}, _]", w.dims));
        }
        let d = w.dims[1];
        let add = next(&mm.outputs[0], "Add")?;
        let bias = graph.weight(add, 1).filter(|b| b.data.len() == d).ok_or("the dense bias is missing")?;
        let prelu = next(&add.outputs[0], "PRelu")?;
        let slope = graph.weight(prelu, 1).filter(|a| a.data.len() == d).ok_or("the dense PReLU slopes are missing")?;
        let d_pad = pad16(d);
        let mut dw = vec![0f32; side * side * channels * d_pad];
        for i in 0..side {
            for j in 0..side {
                for c in 0..channels {
                    for o in 0..d {
                        // Flatten index (i = transposed row = upright x, j = upright y).
                        dw[((j * side + i) * channels + c) * d_pad + o] =
                            w.data[((i * side + j) * channels + c) * d + o];
                    }
                }
            }
        }
        let dense = ConvLayer {
            k: side,
            ic: channels,
            oc_pad: d_pad,
            w: dw,
            b: padded(&bias.data, d_pad),
            slope: Some(padded(&slope.data, d_pad)),
        };
        // Heads: every consumer of the dense output is MatMul [D, h] + Add [h] (+ Softmax).
        let t = prelu.outputs[0].as_str();
        let heads_nodes = users.get(t).cloned().unwrap_or_default();
        if heads_nodes.is_empty() || heads_nodes.iter().any(|n| n.op_type != "MatMul") {
            return Err("the dense layer does not feed only MatMul heads".into());
        }
        let mut outputs = Vec::new();
        let mut parts = Vec::new();
        let mut offset = 0;
        for h in heads_nodes {
            let w = graph
                .weight(h, 1)
                .filter(|w| w.dims.len() == 2 && w.dims[0] == d)
                .ok_or_else(|| format!("{}: weights are not [{d}, _]", h.name))?;
            let n = w.dims[1];
            let add = next(&h.outputs[0], "Add")?;
            let b = graph
                .weight(add, 1)
                .filter(|b| b.data.len() == n)
                .ok_or_else(|| format!("{}: bias missing", add.name))?;
            let (name, softmax) = match users.get(add.outputs[0].as_str()).map(Vec::as_slice) {
                None | Some([]) => (add.outputs[0].clone(), false),
                Some([s])
                    if s.op_type == "Softmax" && matches!(s.attribute("axis"), Some(Attribute::Int(1 | -1)) | None) =>
                {
                    (s.outputs[0].clone(), true)
                }
                _ => return Err(format!("{} feeds something other than a softmax", add.name)),
            };
            outputs.push(HeadOutput { name, offset, len: n, softmax });
            parts.push((w, b));
            offset += n;
        }
        let h_pad = pad16(offset);
        let mut hw = vec![0f32; d * h_pad];
        let mut hb = vec![0f32; h_pad];
        for (out, (w, b)) in outputs.iter().zip(&parts) {
            for c in 0..d {
                for o in 0..out.len {
                    hw[c * h_pad + out.offset + o] = w.data[c * out.len + o];
                }
            }
            hb[out.offset..out.offset + out.len].copy_from_slice(&b.data);
        }
        let heads = ConvLayer { k: 1, ic: d, oc_pad: h_pad, w: hw, b: hb, slope: None };
        let mut max_map = 0;
        let mut n = size;
        for (layer, pool) in &convs {
            n = n - layer.k + 1;
            max_map = max_map.max(n * n * layer.oc_pad);
            if let Some(p) = pool {
                n = p.out(n);
            }
        }
        Ok(StageNet { size, convs, last: side, max_map, dense, heads, outputs, width: offset })
    }

    /// Where output `name` lies in each crop's values.
    pub(crate) fn output(&self, name: &str) -> Option<&HeadOutput> {
        self.outputs.iter().find(|o| o.name == name)
    }

    /// Runs `n` crops (`input`: n × size × size × 3, upright, normalised) into `out` (n × `width`),
    /// splitting the batch over up to `scratch.len()` threads. Only call when `pnet::supported()`.
    pub(crate) fn run(&self, input: &[f32], n: usize, scratch: &mut [StageScratch], out: &mut Vec<f32>) {
        assert!(super::pnet::supported(), "native R-Net/O-Net need AVX2 and FMA");
        let per = self.size * self.size * 3;
        assert!(input.len() >= n * per && !scratch.is_empty());
        out.clear();
        out.resize(n * self.width, 0.0);
        let threads = scratch.len().min(n.div_ceil(8)).max(1);
        let mut rest_out = &mut out[..];
        run_all(scratch[..threads].iter_mut().enumerate().map(|(t, sc)| {
            let (a, b) = (n * t / threads, n * (t + 1) / threads);
            let (mine, r) = std::mem::take(&mut rest_out).split_at_mut((b - a) * self.width);
            rest_out = r;
            let crops = &input[a * per..b * per];
            move || self.run_part(crops, b - a, sc, mine)
        }));
    }

    fn run_part(&self, input: &[f32], n: usize, sc: &mut StageScratch, out: &mut [f32]) {
        let per = self.size * self.size * 3;
        let last = self.convs.last().expect("a convolution").0.oc_pad;
        let feat_len = self.last * self.last * last;
        sc.feats.resize(n * feat_len, 0.0);
        for m in &mut sc.maps {
            m.resize(self.max_map, 0.0);
        }
        let bufs = [sc.maps[0].as_mut_ptr(), sc.maps[1].as_mut_ptr()];
        let feats = sc.feats.as_mut_ptr();
        // SAFETY: AVX2/FMA were checked in `run`; `maps` hold the largest intermediate map, `feats` the
        // last map of each crop, and each kernel stays inside the map sizes it is given.
        unsafe {
            for k in 0..n {
                let mut src = input.as_ptr().add(k * per);
                let (mut side, mut stride, mut free) = (self.size, 3, 0);
                for (i, (layer, pool)) in self.convs.iter().enumerate() {
                    let last_layer = i + 1 == self.convs.len();
                    let o = side - layer.k + 1;
                    let dst = if last_layer && pool.is_none() { feats.add(k * feat_len) } else { bufs[free] };
                    avx2::conv(layer, src, side, stride, o, dst);
                    (side, stride, src, free) = (o, layer.oc_pad, dst, 1 - free);
                    if let Some(p) = pool {
                        let po = p.out(side);
                        let dst = if last_layer { feats.add(k * feat_len) } else { bufs[free] };
                        let from = std::slice::from_raw_parts(src, side * side * stride);
                        max_pool(p, from, side, stride, std::slice::from_raw_parts_mut(dst, po * po * stride));
                        (side, src, free) = (po, dst, 1 - free);
                    }
                }
            }
        }
        // Dense then heads, over the crops of this thread.
        sc.dense.resize(n * self.dense.oc_pad, 0.0);
        sc.heads.resize(n * self.heads.oc_pad, 0.0);
        // SAFETY: AVX2/FMA were checked in `run`; `feats` holds `n` maps of `feat_len` floats and the
        // outputs were resized to `n` rows of each layer's padded width just above.
        unsafe {
            avx2::dense(&self.dense, sc.feats.as_ptr(), feat_len, self.last, last, n, sc.dense.as_mut_ptr());
            avx2::dense(
                &self.heads,
                sc.dense.as_ptr(),
                self.dense.oc_pad,
                1,
                self.dense.oc_pad,
                n,
                sc.heads.as_mut_ptr(),
            );
        }
        for k in 0..n {
            let h = &sc.heads[k * self.heads.oc_pad..];
            let o = &mut out[k * self.width..(k + 1) * self.width];
            for head in &self.outputs {
                let (src, dst) = (&h[head.offset..head.offset + head.len], &mut o[head.offset..head.offset + head.len]);
                if head.softmax {
                    let m = src.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let sum: f32 = src.iter().map(|v| (v - m).exp()).sum();
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d = (s - m).exp() / sum;
                    }
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
}

fn padded(v: &[f32], n: usize) -> Vec<f32> {
    let mut a = vec![0f32; n];
    a[..v.len()].copy_from_slice(v);
    a
}

/// Max-pool of a side×side map with `stride` floats per pixel.
fn max_pool(p: &Pool, src: &[f32], side: usize, stride: usize, dst: &mut [f32]) {
    let (o, pad) = (p.out(side), p.pad_begin(side));
    for oy in 0..o {
        let y0 = (oy * p.s).saturating_sub(pad);
        let y1 = (oy * p.s + p.k - pad).min(side);
        for ox in 0..o {
            let x0 = (ox * p.s).saturating_sub(pad);
            let x1 = (ox * p.s + p.k - pad).min(side);
            let d = &mut dst[(oy * o + ox) * stride..(oy * o + ox + 1) * stride];
            d.copy_from_slice(&src[(y0 * side + x0) * stride..(y0 * side + x0 + 1) * stride]);
            for y in y0..y1 {
                for x in x0..x1 {
                    for (m, &v) in d.iter_mut().zip(&src[(y * side + x) * stride..(y * side + x + 1) * stride]) {
                        *m = m.max(v);
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! Helpers are `#[inline(always)]` without `target_feature`: inlined into the `target_feature`
    //! kernels, they get AVX2/FMA there; plain `#[inline]` helpers stayed calls in the dev profile
    //! and cost twice the time.

    use std::arch::x86_64::*;

    use super::ConvLayer;
    use crate::models::mtcnn::pnet::avx2::prelu;

    /// Output channels `16*ob .. 16*ob+16` of `P` output pixels whose receptive fields start at
    /// `src[p]` (input rows `iw` pixels of `stride` floats) into `dst[p]`.
    ///
    /// # Safety
    /// AVX2 and FMA; every `src[p]` is valid for the `k`×`k` receptive field and every `dst[p]` for
    /// `oc_pad` floats.
    #[inline(always)]
    unsafe fn block<const P: usize>(
        l: &ConvLayer,
        ob: usize,
        src: [*const f32; P],
        iw: usize,
        stride: usize,
        dst: [*mut f32; P],
    ) {
        let b = l.b.as_ptr().add(ob * 16);
        let mut acc = [[_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8))]; P];
        for ky in 0..l.k {
            for kx in 0..l.k {
                let off = (ky * iw + kx) * stride;
                let w = l.w.as_ptr().add((ky * l.k + kx) * l.ic * l.oc_pad + ob * 16);
                for c in 0..l.ic {
                    let w0 = _mm256_loadu_ps(w.add(c * l.oc_pad));
                    let w1 = _mm256_loadu_ps(w.add(c * l.oc_pad + 8));
                    for (p, a) in acc.iter_mut().enumerate() {
                        let v = _mm256_broadcast_ss(&*src[p].add(off + c));
                        a[0] = _mm256_fmadd_ps(v, w0, a[0]);
                        a[1] = _mm256_fmadd_ps(v, w1, a[1]);
                    }
                }
            }
        }
        if let Some(slope) = &l.slope {
            let s = slope.as_ptr().add(ob * 16);
            let (s0, s1) = (_mm256_loadu_ps(s), _mm256_loadu_ps(s.add(8)));
            for a in &mut acc {
                a[0] = prelu(a[0], s0);
                a[1] = prelu(a[1], s1);
            }
        }
        for (p, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(dst[p].add(ob * 16), a[0]);
            _mm256_storeu_ps(dst[p].add(ob * 16 + 8), a[1]);
        }
    }

    /// Valid convolution of an `iw`×`iw` map (`stride` floats per pixel) into `o`×`o` pixels of
    /// `oc_pad` floats.
    ///
    /// # Safety
    /// AVX2 and FMA; `src` is valid for `iw * iw * stride` floats and `dst` for `o * o * oc_pad`,
    /// with `o = iw - k + 1`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn conv(l: &ConvLayer, src: *const f32, iw: usize, stride: usize, o: usize, dst: *mut f32) {
        const P: usize = 6;
        for y in 0..o {
            for ob in 0..l.oc_pad / 16 {
                let mut x = 0;
                while x + P <= o {
                    let s = std::array::from_fn(|p| src.add((y * iw + x + p) * stride));
                    let d = std::array::from_fn(|p| dst.add((y * o + x + p) * l.oc_pad));
                    block::<P>(l, ob, s, iw, stride, d);
                    x += P;
                }
                while x < o {
                    block::<1>(l, ob, [src.add((y * iw + x) * stride)], iw, stride, [dst.add((y * o + x) * l.oc_pad)]);
                    x += 1;
                }
            }
        }
    }

    /// A layer whose kernel covers the whole `side`×`side` map, for `n` maps `map_len` floats apart:
    /// one output pixel each (`oc_pad` floats), crops blocked like pixels.
    ///
    /// # Safety
    /// AVX2 and FMA; `src` is valid for `n` maps `map_len` floats apart (each `side * side * stride`
    /// floats) and `dst` for `n * oc_pad` floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dense(
        l: &ConvLayer,
        src: *const f32,
        map_len: usize,
        side: usize,
        stride: usize,
        n: usize,
        dst: *mut f32,
    ) {
        const P: usize = 6;
        for ob in 0..l.oc_pad / 16 {
            let mut k = 0;
            while k + P <= n {
                let s = std::array::from_fn(|p| src.add((k + p) * map_len));
                let d = std::array::from_fn(|p| dst.add((k + p) * l.oc_pad));
                block::<P>(l, ob, s, side, stride, d);
                k += P;
            }
            while k < n {
                block::<1>(l, ob, [src.add(k * map_len)], side, stride, [dst.add(k * l.oc_pad)]);
                k += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_geometry_follows_onnx() {
        let same = Pool { k: 3, s: 2, same_upper: true };
        let valid = Pool { k: 3, s: 2, same_upper: false };
        let two = Pool { k: 2, s: 2, same_upper: true };
        // R-Net 22 → 11 → (conv) 9 → 4; O-Net 46 → 23, 21 → 10, 8 → 4.
        assert_eq!((same.out(22), same.pad_begin(22)), (11, 0));
        assert_eq!((valid.out(9), valid.out(21)), (4, 10));
        assert_eq!((same.out(46), two.out(8), two.pad_begin(8)), (23, 4, 0));
        // 5 → 3 needs two pixels of padding, one before and one after (the odd one would go after):
        // windows [0,2) [1,4) [3,5) in both directions over the map v = 5y + x.
        assert_eq!(same.pad_begin(5), 1);
        let src: Vec<f32> = (0..25).map(|v| v as f32).collect();
        let mut dst = vec![0f32; 9];
        max_pool(&same, &src, 5, 1, &mut dst);
        assert_eq!(dst, vec![6.0, 8.0, 9.0, 16.0, 18.0, 19.0, 21.0, 23.0, 24.0]);
        let mut dst = vec![0f32; 4];
        max_pool(&valid, &src, 5, 1, &mut dst);
        assert_eq!(dst, vec![12.0, 14.0, 22.0, 24.0]);
    }
}
