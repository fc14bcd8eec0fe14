// SPDX-License-Identifier: MIT OR Apache-2.0
//! Triton model repositories for the models of gst-ghost (`ghost-models triton-repo`):
//! `DIR/<name>/config.pbtxt` and `DIR/<name>/1/model.onnx` per model.
//!
//! The declared tensors mirror the ONNX file: a model whose inputs and outputs all start with the same
//! symbolic dimension gets `max_batch_size` N (dims without the batch dimension) and Triton's dynamic
//! batcher, which merges the requests of many pipelines; any other model `max_batch_size: 0` and its
//! whole shape. Free dimensions are -1. The file's `gst_ghost_family` metadata becomes a config
//! parameter, so a served model names its family as the file does.
//!
//! Two variants: `onnxruntime` (the deployment: Triton's ONNX Runtime backend, CPU or GPU instances,
//! and with `--gpu` the TensorRT execution accelerator) and `python` (Triton's python backend with a
//! `model.py` that runs the same file with onnxruntime on the CPU: the variant the tests serve with the
//! `tritonserver` of the nvidia-pytriton wheel, which ships no other backend).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use prost::Message;

/// Just enough of onnx.proto to read a model's declared inputs and outputs and its metadata; every
/// other field (the weights) is skipped by the decoder.
mod onnx {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "14")]
        pub metadata_props: Vec<StringStringEntryProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StringStringEntryProto {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorName>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
    }

    /// A TensorProto's name only (older files list their weights among the graph inputs).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorName {
        #[prost(string, tag = "8")]
        pub name: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<TypeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProto {
        #[prost(message, optional, tag = "1")]
        pub tensor_type: Option<TensorType>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorType {
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShapeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<Dimension>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        #[prost(int64, optional, tag = "1")]
        pub dim_value: Option<i64>,
        #[prost(string, optional, tag = "2")]
        pub dim_param: Option<String>,
    }
}

/// One dimension as the file declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    /// A named free dimension (`N`, `batch`, ...).
    Symbol(String),
    /// A free dimension without a name.
    Free,
}

/// A declared tensor: name, Triton data type (`TYPE_FP32` ...), shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    pub name: String,
    pub data_type: &'static str,
    pub dims: Vec<Dim>,
}

/// What the repository needs of a model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
    /// The file's `gst_ghost_family` metadata, if any.
    pub family: Option<String>,
}

/// ONNX TensorProto.DataType → Triton's config data type.
fn triton_type(elem_type: i32) -> Option<&'static str> {
    Some(match elem_type {
        1 => "TYPE_FP32",
        2 => "TYPE_UINT8",
        3 => "TYPE_INT8",
        4 => "TYPE_UINT16",
        5 => "TYPE_INT16",
        6 => "TYPE_INT32",
        7 => "TYPE_INT64",
        9 => "TYPE_BOOL",
        10 => "TYPE_FP16",
        11 => "TYPE_FP64",
        12 => "TYPE_UINT32",
        13 => "TYPE_UINT64",
        16 => "TYPE_BF16",
        _ => return None,
    })
}

/// Reads the declared inputs, outputs and family of an ONNX file.
pub fn read_signature(path: &Path) -> Result<Signature, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let model = onnx::ModelProto::decode(bytes.as_slice())
        .map_err(|e| format!("{} is not an ONNX model: {e}", path.display()))?;
    let graph = model.graph.ok_or_else(|| format!("{} has no graph", path.display()))?;
    let weights: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let tensor = |v: &onnx::ValueInfoProto| -> Result<Tensor, String> {
        let t = v
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .ok_or_else(|| format!("{}: {} is not a tensor", path.display(), v.name))?;
        let data_type = triton_type(t.elem_type)
            .ok_or_else(|| format!("{}: tensor {} has ONNX type {}", path.display(), v.name, t.elem_type))?;
        let dims = t
            .shape
            .as_ref()
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match (d.dim_value, &d.dim_param) {
                        (Some(n), _) if n > 0 => Dim::Fixed(n),
                        (_, Some(p)) if !p.is_empty() => Dim::Symbol(p.clone()),
                        _ => Dim::Free,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Tensor { name: v.name.clone(), data_type, dims })
    };
    let inputs =
        graph.input.iter().filter(|v| !weights.contains(v.name.as_str())).map(tensor).collect::<Result<_, _>>()?;
    let outputs = graph.output.iter().map(tensor).collect::<Result<_, _>>()?;
    let family = model.metadata_props.into_iter().find(|p| p.key == "gst_ghost_family").map(|p| p.value);
    Ok(Signature { inputs, outputs, family })
}

/// Which Triton backend runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Triton's ONNX Runtime backend (deployment).
    #[default]
    OnnxRuntime,
    /// Triton's python backend running onnxruntime in `model.py` (tests, CPU only).
    Python,
}

/// How the repository is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoOptions {
    pub backend: Backend,
    /// GPU instances (KIND_GPU); else CPU instances.
    pub gpu: bool,
    /// With `gpu`: the TensorRT execution accelerator (engines cached per model).
    pub tensorrt: bool,
    /// With `tensorrt`: FP16 precision.
    pub fp16: bool,
    /// `max_batch_size` of batchable models.
    pub max_batch: u32,
    /// The dynamic batcher's `max_queue_delay_microseconds`: each request may wait this long for others
    /// (and a lone stream's latency grows by it).
    pub queue_delay_us: u32,
    /// Instances per model.
    pub instances: u32,
    /// ONNX Runtime intra-op threads per instance.
    pub threads: u32,
    /// Symlink `model.onnx` instead of copying it.
    pub link: bool,
}

impl Default for RepoOptions {
    fn default() -> Self {
        Self {
            backend: Backend::OnnxRuntime,
            gpu: false,
            tensorrt: true,
            fp16: false,
            max_batch: 8,
            queue_delay_us: 100,
            instances: 1,
            threads: 1,
            link: false,
        }
    }
}

/// Whether every input and output starts with one and the same named free dimension.
pub fn is_batchable(sig: &Signature) -> bool {
    let mut firsts = sig.inputs.iter().chain(&sig.outputs).map(|t| t.dims.first());
    match firsts.next() {
        Some(Some(Dim::Symbol(s))) => firsts.all(|d| matches!(d, Some(Dim::Symbol(o)) if o == s)),
        _ => false,
    }
}

/// The config.pbtxt of one model.
pub fn config_text(name: &str, sig: &Signature, o: &RepoOptions) -> String {
    let batched = o.max_batch > 0 && is_batchable(sig);
    let skip = usize::from(batched);
    let tensors = |list: &[Tensor]| {
        let items: Vec<String> = list
            .iter()
            .map(|t| {
                let dims: Vec<String> = t.dims[skip..]
                    .iter()
                    .map(|d| match d {
                        Dim::Fixed(n) => n.to_string(),
                        _ => "-1".into(),
                    })
                    .collect();
                format!(
                    "  {{\n    name: \"{}\"\n    data_type: {}\n    dims: [ {} ]\n  }}",
                    t.name,
                    t.data_type,
                    dims.join(", ")
                )
            })
            .collect();
        items.join(",\n")
    };
    let backend = match o.backend {
        Backend::OnnxRuntime => "onnxruntime",
        Backend::Python => "python",
    };
    let mut s = String::new();
    let _ = writeln!(s, "name: \"{name}\"\nbackend: \"{backend}\"");
    let _ = writeln!(s, "max_batch_size: {}", if batched { o.max_batch } else { 0 });
    let _ = writeln!(s, "input [\n{}\n]\noutput [\n{}\n]", tensors(&sig.inputs), tensors(&sig.outputs));
    if batched {
        let _ = writeln!(s, "dynamic_batching {{\n  max_queue_delay_microseconds: {}\n}}", o.queue_delay_us);
    }
    let kind = if o.gpu && o.backend == Backend::OnnxRuntime { "KIND_GPU" } else { "KIND_CPU" };
    let _ = writeln!(s, "instance_group [\n  {{\n    count: {}\n    kind: {kind}\n  }}\n]", o.instances.max(1));
    if o.backend == Backend::OnnxRuntime && o.gpu && o.tensorrt {
        // Keys of the onnxruntime backend's TensorRT accelerator. Engines are cached in a writable folder:
        // the repository is often mounted read-only.
        let params = [
            ("precision_mode", if o.fp16 { "FP16" } else { "FP32" }.to_string()),
            ("max_workspace_size_bytes", (1u64 << 30).to_string()),
            ("trt_engine_cache_enable", "1".into()),
            ("trt_engine_cache_path", format!("/tmp/triton-trt-cache/{name}")),
        ];
        let p: Vec<String> =
            params.iter().map(|(k, v)| format!("      parameters {{ key: \"{k}\" value: \"{v}\" }}")).collect();
        let _ = writeln!(
            s,
            "optimization {{\n  execution_accelerators {{\n    gpu_execution_accelerator: [\n    {{\n      name: \"tensorrt\"\n{}\n    }}\n    ]\n  }}\n}}",
            p.join("\n")
        );
    }
    let _ = writeln!(
        s,
        "parameters {{\n  key: \"intra_op_thread_count\"\n  value: {{ string_value: \"{}\" }}\n}}",
        o.threads.max(1)
    );
    if let Some(family) = &sig.family {
        let _ =
            writeln!(s, "parameters {{\n  key: \"gst_ghost_family\"\n  value: {{ string_value: \"{family}\" }}\n}}");
    }
    s
}

/// The python-backend model: runs the model.onnx beside it with onnxruntime on the CPU. Requests that the
/// dynamic batcher hands over together are concatenated into one run when their shapes allow.
pub const PYTHON_MODEL: &str = r#"# SPDX-License-Identifier: MIT OR Apache-2.0
"""Triton python-backend model written by `ghost-models triton-repo --backend python`: runs the model.onnx beside
this file with onnxruntime on the CPU (the test variant of a gst-ghost model repository)."""
import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(params.get("intra_op_thread_count", "1"))
        opts.inter_op_num_threads = 1
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.inputs = [t["name"] for t in config["input"]]
        self.outputs = [t["name"] for t in config["output"]]
        self.batched = config.get("max_batch_size", 0) > 0

    def execute(self, requests):
        feeds = [{n: pb_utils.get_input_tensor_by_name(r, n).as_numpy() for n in self.inputs} for r in requests]
        results = [None] * len(requests)
        groups = {}
        for i, f in enumerate(feeds):
            key = tuple(f[n].shape[1:] for n in self.inputs) if self.batched else i
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            if len(members) == 1:
                results[members[0]] = self.session.run(self.outputs, feeds[members[0]])
                continue
            outs = self.session.run(
                self.outputs, {n: np.concatenate([feeds[i][n] for i in members]) for n in self.inputs}
            )
            start = 0
            for i in members:
                rows = feeds[i][self.inputs[0]].shape[0]
                results[i] = [o[start : start + rows] for o in outs]
                start += rows
        return [
            pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(n, o) for n, o in zip(self.outputs, outs)])
            for outs in results
        ]
"#;

/// A model to put into the repository: its name on the server and its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoModel {
    pub name: String,
    pub file: PathBuf,
}

/// The served models of a model path: a file is served under its stem; an MTCNN folder (pnet.onnx,
/// rnet.onnx, onet.onnx) as `<folder>_pnet`, `<folder>_rnet`, `<folder>_onet` (what a detector value
/// `mtcnn_pnet,mtcnn_rnet,mtcnn_onet` asks for); any other folder as each of its .onnx files.
pub fn repo_models(path: &Path) -> Result<Vec<RepoModel>, String> {
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if path.is_file() {
        return Ok(vec![RepoModel { name: stem(path), file: path.to_path_buf() }]);
    }
    if !path.is_dir() {
        return Err(format!("{} does not exist", path.display()));
    }
    let nets = ["pnet", "rnet", "onet"];
    if nets.iter().all(|n| path.join(format!("{n}.onnx")).is_file()) {
        let folder = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let folder = folder.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "mtcnn".into());
        return Ok(nets
            .iter()
            .map(|n| RepoModel { name: format!("{folder}_{n}"), file: path.join(format!("{n}.onnx")) })
            .collect());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    files.sort();
    Ok(files.iter().map(|f| RepoModel { name: stem(f), file: f.clone() }).collect())
}

/// What was written for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub name: String,
    pub max_batch: u32,
}

/// Writes `DIR/<name>/config.pbtxt` and `DIR/<name>/1/model.onnx` (plus `model.py` for the python
/// backend) for every model; an existing model folder of the same name is replaced.
pub fn write_repository(dir: &Path, models: &[RepoModel], options: &RepoOptions) -> Result<Vec<Written>, String> {
    let io = |what: &Path, e: std::io::Error| format!("cannot write {}: {e}", what.display());
    let mut seen = std::collections::HashSet::new();
    let mut written = Vec::new();
    for m in models {
        if !seen.insert(m.name.clone()) {
            return Err(format!("two models are named '{}' ({})", m.name, m.file.display()));
        }
        let sig = read_signature(&m.file)?;
        let text = config_text(&m.name, &sig, options);
        let folder = dir.join(&m.name);
        let version = folder.join("1");
        std::fs::create_dir_all(&version).map_err(|e| io(&version, e))?;
        let target = version.join("model.onnx");
        if target.exists() || target.is_symlink() {
            std::fs::remove_file(&target).map_err(|e| io(&target, e))?;
        }
        if options.link {
            let source = m.file.canonicalize().map_err(|e| io(&m.file, e))?;
            std::os::unix::fs::symlink(source, &target).map_err(|e| io(&target, e))?;
        } else {
            std::fs::copy(&m.file, &target).map_err(|e| io(&target, e))?;
        }
        let py = version.join("model.py");
        match options.backend {
            Backend::Python => std::fs::write(&py, PYTHON_MODEL).map_err(|e| io(&py, e))?,
            Backend::OnnxRuntime if py.exists() => std::fs::remove_file(&py).map_err(|e| io(&py, e))?,
            Backend::OnnxRuntime => {}
        }
        let config = folder.join("config.pbtxt");
        std::fs::write(&config, &text).map_err(|e| io(&config, e))?;
        let batched = options.max_batch > 0 && is_batchable(&sig);
        written.push(Written { name: m.name.clone(), max_batch: if batched { options.max_batch } else { 0 } });
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, dims: Vec<Dim>) -> Tensor {
        Tensor { name: name.into(), data_type: "TYPE_FP32", dims }
    }

    fn generator() -> Signature {
        let n = || Dim::Symbol("N".into());
        let image = || vec![n(), Dim::Fixed(3), Dim::Fixed(256), Dim::Fixed(256)];
        Signature {
            inputs: vec![t("target", image()), t("source", vec![n(), Dim::Fixed(512)])],
            outputs: vec![t("output", image())],
            family: Some("ghost-swapper".into()),
        }
    }

    #[test]
    fn a_batchable_model_gets_the_dynamic_batcher_and_dims_without_the_batch() {
        let text = config_text("gen", &generator(), &RepoOptions { max_batch: 4, ..Default::default() });
        assert!(text.contains("name: \"gen\"\nbackend: \"onnxruntime\"\nmax_batch_size: 4\n"), "{text}");
        assert!(text.contains("name: \"target\"\n    data_type: TYPE_FP32\n    dims: [ 3, 256, 256 ]"), "{text}");
        assert!(text.contains("name: \"source\"\n    data_type: TYPE_FP32\n    dims: [ 512 ]"), "{text}");
        assert!(text.contains("dynamic_batching {\n  max_queue_delay_microseconds: 100\n}"), "{text}");
        assert!(text.contains("kind: KIND_CPU") && !text.contains("tensorrt"), "{text}");
        assert!(text.contains("key: \"gst_ghost_family\"\n  value: { string_value: \"ghost-swapper\" }"), "{text}");
    }

    #[test]
    fn fixed_batch_or_unnamed_leading_dims_keep_the_whole_shape() {
        let mut sig = generator();
        sig.outputs[0].dims[0] = Dim::Fixed(1);
        assert!(!is_batchable(&sig));
        let text = config_text("g", &sig, &RepoOptions::default());
        assert!(text.contains("max_batch_size: 0") && !text.contains("dynamic_batching"), "{text}");
        assert!(text.contains("dims: [ -1, 3, 256, 256 ]") && text.contains("dims: [ 1, 3, 256, 256 ]"), "{text}");
        // SCRFD-like: outputs whose first dimension counts anchors, not images.
        let scrfd = Signature {
            inputs: vec![t("input.1", vec![Dim::Fixed(1), Dim::Fixed(3), Dim::Symbol("H".into()), Dim::Free])],
            outputs: vec![t("448", vec![Dim::Symbol("A".into()), Dim::Fixed(1)])],
            family: None,
        };
        assert!(!is_batchable(&scrfd));
        let text = config_text("scrfd", &scrfd, &RepoOptions::default());
        assert!(text.contains("dims: [ 1, 3, -1, -1 ]") && text.contains("dims: [ -1, 1 ]"), "{text}");
        assert!(!text.contains("gst_ghost_family"));
    }

    #[test]
    fn gpu_repositories_get_gpu_instances_and_the_tensorrt_accelerator() {
        let o = RepoOptions { gpu: true, fp16: true, instances: 2, ..Default::default() };
        let text = config_text("gen", &generator(), &o);
        assert!(text.contains("count: 2\n    kind: KIND_GPU"), "{text}");
        assert!(text.contains("name: \"tensorrt\""), "{text}");
        assert!(text.contains("parameters { key: \"precision_mode\" value: \"FP16\" }"), "{text}");
        assert!(text.contains("trt_engine_cache_path\" value: \"/tmp/triton-trt-cache/gen\""), "{text}");
        let plain = config_text("gen", &generator(), &RepoOptions { gpu: true, tensorrt: false, ..Default::default() });
        assert!(plain.contains("KIND_GPU") && !plain.contains("tensorrt"), "{plain}");
        let python = config_text("gen", &generator(), &RepoOptions { backend: Backend::Python, ..Default::default() });
        assert!(python.contains("backend: \"python\"") && python.contains("KIND_CPU"), "{python}");
    }
}
